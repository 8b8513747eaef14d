#!/usr/bin/env python3
"""Regenerate export/golden/*.npz, the WinogradConv golden vectors (see SPEC.md).

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
# Max |y - expected| / max |expected| allowed for float32 evaluation of each tile.
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


def cases():
    for index, (name, n, c, k, h, w, padding) in enumerate(SHAPES):
        rng = np.random.default_rng(1000 + index)
        x = rng.standard_normal((n, c, h, w)).astype(np.float32)
        weight = (rng.standard_normal((k, c, 3, 3)) / (3 * np.sqrt(c))).astype(np.float32)
        bias = rng.standard_normal(k).astype(np.float32)
        y = direct_conv3x3(x, weight, bias, padding)
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
    print(f"wrote {len(SHAPES) * len(TILES)} cases to {GOLDEN_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
