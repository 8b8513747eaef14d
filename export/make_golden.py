#!/usr/bin/env python3
"""Regenerate export/golden/*.npz, the WinogradConv golden vectors (see SPEC.md): rank 4
(N, C, H, W) with a (K, C, 3, 3) kernel, and rank 3 (N, C, X) with a (K, C, 3) kernel (line_*).

Deterministic: inputs come from a seeded numpy generator, the expected output from a
float64 direct correlation written out here in numpy (independent of PyTorch and of
any Winograd code). tests/test_golden.py checks that the stored files equal a fresh run.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

GOLDEN_DIR = Path(__file__).resolve().parent / "golden"

# (name, N, C, K, H, W, padding): whole tiles, partial edge tiles, padding 0, a WNO-width layer.
SHAPES = [
    ("small", 1, 4, 4, 8, 8, 1),
    ("ragged", 2, 3, 5, 7, 9, 1),
    ("valid", 1, 8, 6, 13, 11, 0),
    ("wno20", 1, 20, 20, 16, 16, 1),
]
TILES = (2, 4, 6)
# Rank 3 (1-D), (name, N, C, K, X, padding): the same four kinds on a line, the last whole
# tiles of every tile size (24 = 2*12 = 4*6 = 6*4 outputs) or ragged (13), a WNO-width layer.
LINE_SHAPES = [
    ("line_small", 1, 4, 4, 24, 1),
    ("line_ragged", 2, 3, 5, 13, 1),
    ("line_valid", 1, 8, 6, 17, 0),
    ("line_wno20", 1, 20, 20, 64, 1),
]
# Max |y - expected| / max |expected| allowed for float32 evaluation of each tile (both ranks).
TOLERANCE = {2: 1e-6, 4: 5e-6, 6: 2e-5}


def direct_conv3x3(x: np.ndarray, w: np.ndarray, b: np.ndarray, padding: int) -> np.ndarray:
    """Cross-correlation in float64: y[n,k,i,j] = b[k] + sum_{c,u,v} w[k,c,u,v] x[n,c,i+u-p,j+v-p]."""
    x, w = x.astype(np.float64), w.astype(np.float64)
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    ho, wo = xp.shape[2] - 2, xp.shape[3] - 2
    y = np.zeros((x.shape[0], w.shape[0], ho, wo)) + b.astype(np.float64)[None, :, None, None]
    for u in range(3):
        for v in range(3):
            y += np.einsum("kc,ncij->nkij", w[:, :, u, v], xp[:, :, u : u + ho, v : v + wo])
    return y


def direct_conv3(x: np.ndarray, w: np.ndarray, b: np.ndarray, padding: int) -> np.ndarray:
    """Cross-correlation on a line in float64: y[n,k,i] = b[k] + sum_{c,u} w[k,c,u] x[n,c,i+u-p]."""
    x, w = x.astype(np.float64), w.astype(np.float64)
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding)))
    xo = xp.shape[2] - 2
    y = np.zeros((x.shape[0], w.shape[0], xo)) + b.astype(np.float64)[None, :, None]
    for u in range(3):
        y += np.einsum("kc,nci->nki", w[:, :, u], xp[:, :, u : u + xo])
    return y


def _inputs():
    """(name, x, weight, bias, y, padding) per shape: rank 4, then rank 3 (seeds 1000 + i, 2000 + i)."""
    for index, (name, n, c, k, h, w, padding) in enumerate(SHAPES):
        rng = np.random.default_rng(1000 + index)
        x = rng.standard_normal((n, c, h, w)).astype(np.float32)
        weight = (rng.standard_normal((k, c, 3, 3)) / (3 * np.sqrt(c))).astype(np.float32)
        bias = rng.standard_normal(k).astype(np.float32)
        yield name, x, weight, bias, direct_conv3x3(x, weight, bias, padding), padding
    for index, (name, n, c, k, length, padding) in enumerate(LINE_SHAPES):
        rng = np.random.default_rng(2000 + index)
        x = rng.standard_normal((n, c, length)).astype(np.float32)
        weight = (rng.standard_normal((k, c, 3)) / np.sqrt(3 * c)).astype(np.float32)
        bias = rng.standard_normal(k).astype(np.float32)
        yield name, x, weight, bias, direct_conv3(x, weight, bias, padding), padding


def cases():
    for name, x, weight, bias, y, padding in _inputs():
        for tile in TILES:
            yield (
                f"{name}_t{tile}",
                dict(
                    x=x,
                    weight=weight,
                    bias=bias,
                    y=y,
                    tile=np.int64(tile),
                    padding=np.int64(padding),
                    tolerance=np.float64(TOLERANCE[tile]),
                ),
            )


def main() -> int:
    GOLDEN_DIR.mkdir(exist_ok=True)
    for name, arrays in cases():
        np.savez(GOLDEN_DIR / f"{name}.npz", **arrays)
    print(f"wrote {(len(SHAPES) + len(LINE_SHAPES)) * len(TILES)} cases to {GOLDEN_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
