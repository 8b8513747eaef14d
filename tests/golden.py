"""Loader for the WinogradConv golden vectors in export/golden (the op contract)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

GOLDEN_DIR = Path(__file__).resolve().parents[1] / "export" / "golden"


def load_cases() -> list[tuple[str, dict]]:
    """[(case name, {x, weight, bias, y, tile, padding, tolerance})], sorted by name: rank 4
    (N, C, H, W) cases and rank 3 (N, C, X) ones (line_*, a (K, C, 3) weight)."""
    cases = []
    for path in sorted(GOLDEN_DIR.glob("*.npz")):
        with np.load(path) as f:
            case = {k: f[k] for k in f.files}
        for key in ("tile", "padding"):
            case[key] = int(case[key])
        case["tolerance"] = float(case["tolerance"])
        cases.append((path.stem, case))
    if not cases:
        raise FileNotFoundError(f"no golden vectors in {GOLDEN_DIR}")
    return cases


def skip_line_case(case: dict, implementation: str) -> None:
    """Skip a rank-3 (1-D) golden case for an implementation that has no 1-D path yet."""
    if case["x"].ndim == 3:
        pytest.skip(f"{implementation} has no 1-D (rank-3 WinogradConv) path yet (issue 23, item 4)")


def relative_error(y: np.ndarray, expected: np.ndarray) -> float:
    """max |y - expected| / max |expected|, the contract's error measure."""
    return float(np.max(np.abs(np.asarray(y, np.float64) - expected)) / np.max(np.abs(expected)))


# Unit roundoffs: float64, float32, float16, and the 3xTF32 split product of kernel v2 (a tf32 product
# of the high parts plus two cross terms: the dropped low x low term is ~2^-22 relative).
U_FP64, U_FP32, U_FP16, U_3XTF32 = 2.0**-53, 2.0**-24, 2.0**-11, 2.0**-21


def winograd_error_bound(x, weight, bias, padding: int, tile: int, unit: float, storage: float = 0.0) -> np.ndarray:
    """A componentwise bound on |y - conv(x, weight)| for Winograd F(m x m, 3 x 3) (x of rank 4) or
    F(m, 3) on a line (x of rank 3) computed with unit roundoff `unit` and with U, V and y stored
    at unit roundoff `storage` (float16: U_FP16).

    The standard forward-error bound of a Winograd convolution (Higham's gamma_n over the
    transform's linear maps): |err| <= (n u + 3 u_storage) * S, where S is the same Winograd
    conv of absolute values, AT (|G||g||GT| . |BT||d||B|) A (a line: AT (|G||g| . |BT||d|))
    summed over input channels, and n = 2 D a + C + 8 bounds the roundings any one term passes
    through on D spatial axes (a D-pass a-term input sum, the 3-term weight transform, the
    C-term channel sum, a D-pass a-term output sum).
    """
    from numpy.lib.stride_tricks import sliding_window_view

    from wno_edge.winograd import MATRICES

    m, a = tile, tile + 2
    BT, G, AT = (np.abs(np.asarray(M, np.float64)) for M in (MATRICES[tile].BT, MATRICES[tile].G, MATRICES[tile].AT))
    x = np.abs(np.asarray(x, np.float64))
    dims = x.ndim - 2
    n, c, *size = x.shape
    out = [s + 2 * padding - 2 for s in size]
    tiles = [-(-o // m) for o in out]
    pads = [(padding, t * m + 2 - s - padding) for s, t in zip(size, tiles, strict=True)]
    xp = np.pad(x, ((0, 0), (0, 0), *pads))
    axes = tuple(range(2, 2 + dims))
    d = sliding_window_view(xp, (a,) * dims, axis=axes)[(slice(None), slice(None), *(slice(None, None, m),) * dims)]
    w = np.abs(np.asarray(weight, np.float64))
    if dims == 2:
        V = BT @ d @ BT.T  # n, c, th, tw, a, a
        S = AT @ np.einsum("kcij,ncxyij->nkxyij", G @ w @ G.T, V) @ AT.T  # n, k, th, tw, m, m
        S = S.transpose(0, 1, 2, 4, 3, 5).reshape(n, -1, tiles[0] * m, tiles[1] * m)
    else:
        S = np.einsum("kcj,nctj->nktj", w @ G.T, d @ BT.T) @ AT.T  # n, k, t, m
        S = S.reshape(n, -1, tiles[0] * m)
    S = S[(slice(None), slice(None), *(slice(0, o) for o in out))]
    if bias is not None:
        S = S + np.abs(np.asarray(bias, np.float64)).reshape(-1, *(1,) * dims)
    return ((2 * dims * a + c + 8) * unit + 3 * storage) * S


def assert_within_bound(y, expected, bound: np.ndarray) -> float:
    """Every element of y within its bound of expected; returns the largest error/bound."""
    err = np.abs(np.asarray(y, np.float64) - np.asarray(expected, np.float64))
    ratio = float(np.max(err / np.maximum(bound, np.finfo(np.float64).tiny)))
    assert ratio <= 1.0, f"error {err.max():.3g} exceeds the Winograd error bound (worst error/bound {ratio:.3g})"
    return ratio
