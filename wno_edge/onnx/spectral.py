"""The spectral convolution as real matrices: truncated rfft2/irfft2 (1-D: rfft/irfft, 3-D:
rfftn/irfftn over D, H, W) bases and the per-mode complex channel mixing, so the exported graph
needs no DFT op."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .. import contract
from ..contract import Initializer
from .graph import GraphBuilder


@dataclass(frozen=True)
class DFTBases:
    """Real bases of the truncated rfft2 / irfft2 on an H x W grid, float64.

    Forward:  A = v @ fwd_w                   (.., H, 2*m2)  = [Re | Im] of the row DFT
              X = fwd_h @ [A_re; A_im]        (.., 2*K1, m2) = [Re; Im] at the kept rows
    Inverse:  Z = inv_h @ [O_re; O_im]        (.., 2*H, m2)  = complex ifft along H
              y = [Z_re | Z_im] @ inv_w       (.., H, W)     = Hermitian C2R along W
    K1 = 2*m1 kept rows (0..m1-1, H-m1..H-1). 'ortho' scaling (1/sqrt(N) each way)
    keeps fp16 spectra in range; the product is still irfft2's 1/(H*W).
    """

    fwd_w: np.ndarray
    fwd_h: np.ndarray
    inv_h: np.ndarray
    inv_w: np.ndarray


def line_bases(w: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    """The truncated rfft / irfft along one axis of w points, m lowest frequencies, 'ortho' scaled:
    fwd (w, 2m) = [cos | -sin] / sqrt(w): v @ fwd = [Re | Im] of rfft(v)[:m] / sqrt(w);
    inv (2m, w): [Re | Im] @ inv = irfft of those m frequencies (the rest zero) * sqrt(w).
    The W direction of the 2-D bases and the whole transform of a 1-D model."""
    aw = 2 * np.pi * np.outer(np.arange(w), np.arange(m)) / w  # (W, m)
    # irfft counts column 0 (and the Nyquist column of an even W) once, every other column
    # twice (its conjugate twin is implied); imaginary parts of those columns drop out
    # because sin vanishes there, exactly as C2R transforms ignore them.
    count = np.full(m, 2.0)
    count[0] = 1.0
    if w % 2 == 0 and m == w // 2 + 1:
        count[-1] = 1.0
    fwd = np.concatenate([np.cos(aw), -np.sin(aw)], axis=1) / math.sqrt(w)
    inv = np.concatenate([count[:, None] * np.cos(aw.T), -count[:, None] * np.sin(aw.T)], axis=0) / math.sqrt(w)
    return fwd, inv


def row_bases(h: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    """The complex DFT along a non-last axis of h points, keeping K = 2m rows (frequencies
    0..m-1 and -m..-1), on [Re; Im] stacked over that axis, 'ortho' scaled:
    fwd (2K, 2h) = (c - i s) / sqrt(h), inv (2h, 2K) = (c + i s) / sqrt(h)."""
    rows = np.r_[np.arange(m), np.arange(h - m, h)]
    ah = 2 * np.pi * np.outer(rows, np.arange(h)) / h  # (K, h)
    c, s = np.cos(ah), np.sin(ah)
    fwd = np.block([[c, s], [-s, c]]) / math.sqrt(h)  # (c - i s)(A_re + i A_im)
    inv = np.block([[c.T, -s.T], [s.T, c.T]]) / math.sqrt(h)  # (c + i s)(O_re + i O_im)
    return fwd, inv


def dft_bases(h: int, w: int, m1: int, m2: int) -> DFTBases:
    fwd_h, inv_h = row_bases(h, m1)
    fwd_w, inv_w = line_bases(w, m2)
    return DFTBases(fwd_w=fwd_w, fwd_h=fwd_h, inv_h=inv_h, inv_w=inv_w)


def mixing_matrix(weights1: torch.Tensor, weights2: torch.Tensor | None = None) -> np.ndarray:
    """Complex [in, out, m1, m2] corner weights -> real (K1*m2, in, 2*out) = [W_re | W_im]
    per mode, each weight stored once. With X_re and X_im as two rows, X @ M gives the
    four products X_re W_re, X_re W_im, X_im W_re, X_im W_im; COMBINE_COMPLEX adds them up.
    (A block matrix [[W_re, W_im], [-W_im, W_re]] would do it in one MatMul, storing it twice.)
    1-D: weights1 complex [in, out, m] alone -> (m, in, 2*out)."""
    parts = [weights1] if weights2 is None else [weights1, weights2]
    wc = np.concatenate([w.detach().cpu().numpy() for w in parts], axis=2).astype(np.complex128)
    wc = np.moveaxis(wc, (0, 1), (-2, -1))  # (K1, m2, in, out) or (m, in, out)
    m = np.concatenate([wc.real, wc.imag], axis=-1)
    return m.reshape(-1, *m.shape[-2:])


def volume_mixing_matrix(corners: list[torch.Tensor]) -> np.ndarray:
    """SpectralConv3d's four corners (corner_slices() order) -> real (2*m1 * 2*m2 * m3, in, 2*out),
    modes in the order the 3-D graph flattens them: D rows then H rows as row_bases keeps them
    (0..m-1, then -m..-1), then the m3 rfft columns."""
    w1, w2, w3, w4 = (w.detach().cpu() for w in corners)
    full = torch.cat([torch.cat([w1, w2], dim=2), torch.cat([w3, w4], dim=2)], dim=3)  # (in, out, 2m1, 2m2, m3)
    return mixing_matrix(full)


# 3-D only: the D axis's bases (the 2-D names serve H and W). The native engine reads these by
# name for its fused 2-D path alone, so they are not part of contract.Initializer.
DFT_FWD_D, DFT_INV_D = "dft.fwd_d", "dft.inv_d"


# [Xr Wr, Xr Wi, Xi Wr, Xi Wi] @ COMBINE_COMPLEX = [Xr Wr - Xi Wi, Xr Wi + Xi Wr] = [O_re, O_im]
# (contract.COMBINE_COMPLEX: the native engine checks the stored matrix against the same values)
COMBINE_COMPLEX = np.array(contract.COMBINE_COMPLEX)


def spectral_graph(
    g: GraphBuilder, v: str, mix: np.ndarray, bases: dict, hp: int, m2: int, c: int, o: int, i: int
) -> str:
    k1m2 = mix.shape[0]
    n = f"l{i}.spectral"
    a = g.op("MatMul", [v, bases["fwd_w"]], f"{n}.dft_w")  # (B, C, H, 2*m2)
    a = g.op("Reshape", [a, g.ints("shape_re_im_rows", [0, 0, hp, 2, m2])], f"{n}.dft_w_split")
    a = g.op("Transpose", [a], f"{n}.dft_w_stacked", perm=[0, 1, 3, 2, 4])  # (B, C, 2, H, m2): Re over Im
    a = g.op("Reshape", [a, g.ints("shape_stacked_rows", [0, 0, 2 * hp, m2])], f"{n}.dft_w_rows")
    x = g.op("MatMul", [bases["fwd_h"], a], f"{n}.dft_h")  # (B, C, 2*K1, m2)
    x = g.op("Reshape", [x, g.ints("shape_modes_split", [0, 0, 2, k1m2])], f"{n}.modes_split")
    x = g.op("Transpose", [x], f"{n}.modes_first", perm=[3, 0, 2, 1])  # (modes, B, 2, C)
    y = _mix_modes(g, x, mix, o, i, n)  # (B, O, 2, modes)
    y = g.op("Reshape", [y, g.ints("shape_stacked_modes", [0, 0, -1, m2])], f"{n}.mix_rows")  # (B, O, 2*K1, m2)
    z = g.op("MatMul", [bases["inv_h"], y], f"{n}.idft_h")  # (B, O, 2*H, m2)
    z = g.op("Reshape", [z, g.ints("shape_re_im_split", [0, 0, 2, hp, m2])], f"{n}.idft_h_split")
    z = g.op("Transpose", [z], f"{n}.idft_h_interleaved", perm=[0, 1, 3, 2, 4])  # (B, O, H, 2, m2)
    z = g.op("Reshape", [z, g.ints("shape_re_im_cols", [0, 0, hp, 2 * m2])], f"{n}.idft_h_cols")
    return g.op("MatMul", [z, bases["inv_w"]], f"{n}.idft_w")  # (B, O, H, W)


def spectral_graph_1d(g: GraphBuilder, v: str, mix: np.ndarray, bases: dict, o: int, i: int) -> str:
    """The truncated rfft -> per-mode mixing -> irfft of layer i on (B, C, X): the 2-D graph's
    W direction and mixing, with no H direction."""
    m = mix.shape[0]
    n = f"l{i}.spectral"
    x = g.op("MatMul", [v, bases["fwd_w"]], f"{n}.dft")  # (B, C, 2m) = [Re | Im]
    x = g.op("Reshape", [x, g.ints("shape_re_im_split", [0, 0, 2, m])], f"{n}.modes_split")  # (B, C, 2, m)
    x = g.op("Transpose", [x], f"{n}.modes_first", perm=[3, 0, 2, 1])  # (m, B, 2, C)
    y = g.op("MatMul", [x, g.const(Initializer.LAYER_MIXING.format(i=i), mix[:, None])], f"{n}.mix")  # (m, B, 2, 2*O)
    y = g.op("Reshape", [y, g.ints(f"shape_modes_products_{o}", [0, 0, 4, o])], f"{n}.mix_split")
    y = g.op("Transpose", [y], f"{n}.products_last", perm=[0, 1, 3, 2])  # (m, B, O, 4)
    y = g.op("MatMul", [y, g.const(Initializer.COMBINE_COMPLEX, COMBINE_COMPLEX, shared=True)], f"{n}.complex")
    y = g.op("Transpose", [y], f"{n}.modes_last", perm=[1, 2, 3, 0])  # (B, O, 2, m)
    y = g.op("Reshape", [y, g.ints("shape_re_im_joined", [0, 0, 2 * m])], f"{n}.mix_cols")  # (B, O, 2m)
    return g.op("MatMul", [y, bases["inv_w"]], f"{n}.idft")  # (B, O, X)


def _mix_modes(g: GraphBuilder, x: str, mix: np.ndarray, o: int, i: int, n: str) -> str:
    """(modes, B, 2, C) [Re; Im] -> (B, O, 2, modes): the per-mode complex channel mixing."""
    y = g.op(
        "MatMul", [x, g.const(Initializer.LAYER_MIXING.format(i=i), mix[:, None])], f"{n}.mix"
    )  # (modes, B, 2, 2*O)
    y = g.op("Reshape", [y, g.ints(f"shape_modes_products_{o}", [0, 0, 4, o])], f"{n}.mix_split")
    y = g.op("Transpose", [y], f"{n}.products_last", perm=[0, 1, 3, 2])  # (modes, B, O, 4)
    y = g.op("MatMul", [y, g.const(Initializer.COMBINE_COMPLEX, COMBINE_COMPLEX, shared=True)], f"{n}.complex")
    return g.op("Transpose", [y], f"{n}.modes_last", perm=[1, 2, 3, 0])  # (B, O, 2, modes)


def _swap_re_im(g: GraphBuilder, x: str, shape: list[int], merged: list[int], name: str) -> str:
    """Reshape to `shape` (rank 5, the two middle axes to swap: [Re|Im] <-> the axis beside it),
    swap them, reshape to `merged`: how [Re | Im] halves move between axes at rank <= 5."""
    x = g.op("Reshape", [x, g.ints("shape_" + "_".join(map(str, shape)).replace("-", "m"), shape)], f"{name}.split")
    x = g.op("Transpose", [x], f"{name}.swapped", perm=[0, 1, 3, 2, 4])
    return g.op("Reshape", [x, g.ints("shape_" + "_".join(map(str, merged)).replace("-", "m"), merged)], name)


def spectral_graph_3d(
    g: GraphBuilder,
    v: str,
    mix: np.ndarray,
    bases: dict,
    padded: tuple[int, int, int],
    m2: int,
    m3: int,
    o: int,
    i: int,
) -> str:
    """The truncated rfftn -> per-mode mixing -> irfftn of layer i on (B, C, D, H, W), one axis
    at a time (W, then H, then D, and back), never above rank 5: the 2-D graph with the D
    axis folded into the channels while H is transformed, and H x m3 folded while D is.
    `bases`: fwd_w/inv_w (W), fwd_h/inv_h (H, K2 = 2*m2 rows), fwd_d/inv_d (D, K1 rows)."""
    dp, hp, _ = padded
    k2m3 = 2 * m2 * m3
    n = f"l{i}.spectral"
    a = g.op("MatMul", [v, bases["fwd_w"]], f"{n}.dft_w")  # (B, C, D, H, 2*m3) = [Re | Im] along W
    a = _swap_re_im(g, a, [0, -1, hp, 2, m3], [0, 0, 2 * hp, m3], f"{n}.dft_w_rows")  # (B, C*D, 2H, m3)
    a = g.op("MatMul", [bases["fwd_h"], a], f"{n}.dft_h")  # (B, C*D, 2*K2, m3)
    a = _swap_re_im(g, a, [0, -1, dp, 2, k2m3], [0, 0, 2 * dp, k2m3], f"{n}.dft_h_rows")  # (B, C, 2D, K2*m3)
    x = g.op("MatMul", [bases["fwd_d"], a], f"{n}.dft_d")  # (B, C, 2*K1, K2*m3)
    x = g.op("Reshape", [x, g.ints("shape_modes_split", [0, 0, 2, mix.shape[0]])], f"{n}.modes_split")
    x = g.op("Transpose", [x], f"{n}.modes_first", perm=[3, 0, 2, 1])  # (modes, B, 2, C)
    y = _mix_modes(g, x, mix, o, i, n)  # (B, O, 2, modes)
    y = g.op("Reshape", [y, g.ints("shape_stacked_modes", [0, 0, -1, k2m3])], f"{n}.mix_rows")  # (B, O, 2*K1, K2*m3)
    z = g.op("MatMul", [bases["inv_d"], y], f"{n}.idft_d")  # (B, O, 2D, K2*m3)
    z = _swap_re_im(g, z, [0, 0, 2, dp, k2m3], [0, -1, 4 * m2, m3], f"{n}.idft_d_rows")  # (B, O*D, 2*K2, m3)
    z = g.op("MatMul", [bases["inv_h"], z], f"{n}.idft_h")  # (B, O*D, 2H, m3)
    z = _swap_re_im(g, z, [0, 0, 2, hp, m3], [0, 0, hp, 2 * m3], f"{n}.idft_h_cols")  # (B, O*D, H, 2*m3)
    z = g.op("MatMul", [z, bases["inv_w"]], f"{n}.idft_w")  # (B, O*D, H, W)
    return g.op("Reshape", [z, g.ints("shape_volume", [0, -1, *padded])], f"{n}.volume")  # (B, O, D, H, W)
