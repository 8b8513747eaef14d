"""Winograd F(m x m, 3 x 3) minimal filtering for 3x3, stride-1 convolution, and its 1-D
form F(m, 3) for 3-tap convolution on a line.

The transform matrices below are the single Python source of truth; the C++/CUDA
header in runtime/ is generated from them. Convention (cross-correlation, as
torch.nn.functional.conv2d / conv1d):  2-D  Y = A^T [ (G g G^T) . (B^T d B) ] A,
1-D  y = A^T [ (G g) . (B^T d) ]: the same matrices, applied along one axis.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np
import torch
import torch.nn.functional as F

from .contract import PADDINGS, TILES

_S = math.sqrt(2.0)


@dataclass(frozen=True)
class WinogradMatrices:
    """F(m, 3): output tile m, input tile a = m + 2; BT (a x a), G (a x 3), AT (m x a)."""

    m: int
    BT: np.ndarray
    G: np.ndarray
    AT: np.ndarray
    points: str

    @property
    def a(self) -> int:
        return self.m + 2


def _f(rows) -> np.ndarray:
    return np.array(rows, dtype=np.float64)


# F(2,3), points 0, +-1, inf.
_F2 = WinogradMatrices(
    m=2,
    BT=_f([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]),
    G=_f([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]]),
    AT=_f([[1, 1, 1, 0], [0, 1, -1, -1]]),
    points="0, +-1, inf",
)

# F(4,3), points 0, +-sqrt2, +-sqrt2/2, inf (as ncnn): about 2x lower error than 0, +-1, +-2.
_F4 = WinogradMatrices(
    m=4,
    BT=_f(
        [
            [1, 0, -2.5, 0, 1, 0],
            [0, -_S, -2, _S / 2, 1, 0],
            [0, _S, -2, -_S / 2, 1, 0],
            [0, -_S / 2, -0.5, _S, 1, 0],
            [0, _S / 2, -0.5, -_S, 1, 0],
            [0, 1, 0, -2.5, 0, 1],
        ]
    ),
    G=_f(
        [
            [1, 0, 0],
            [-2 / 3, -_S / 3, -1 / 3],
            [-2 / 3, _S / 3, -1 / 3],
            [1 / 6, _S / 6, 1 / 3],
            [1 / 6, -_S / 6, 1 / 3],
            [0, 0, 1],
        ]
    ),
    AT=_f(
        [
            [1, 1, 1, 1, 1, 0],
            [0, _S / 2, -_S / 2, _S, -_S, 0],
            [0, 0.5, 0.5, 2, 2, 0],
            [0, _S / 4, -_S / 4, 2 * _S, -2 * _S, 1],
        ]
    ),
    points="0, +-sqrt2, +-sqrt2/2, inf",
)

# F(6,3), points 0, +-1, +-2, +-1/2, inf (as ncnn, NNPACK).
_F6 = WinogradMatrices(
    m=6,
    BT=_f(
        [
            [1, 0, -5.25, 0, 5.25, 0, -1, 0],
            [0, 1, 1, -4.25, -4.25, 1, 1, 0],
            [0, -1, 1, 4.25, -4.25, -1, 1, 0],
            [0, 0.5, 0.25, -2.5, -1.25, 2, 1, 0],
            [0, -0.5, 0.25, 2.5, -1.25, -2, 1, 0],
            [0, 2, 4, -2.5, -5, 0.5, 1, 0],
            [0, -2, 4, 2.5, -5, -0.5, 1, 0],
            [0, -1, 0, 5.25, 0, -5.25, 0, 1],
        ]
    ),
    G=_f(
        [
            [1, 0, 0],
            [-2 / 9, -2 / 9, -2 / 9],
            [-2 / 9, 2 / 9, -2 / 9],
            [1 / 90, 1 / 45, 2 / 45],
            [1 / 90, -1 / 45, 2 / 45],
            [1 / 45, 1 / 90, 1 / 180],
            [1 / 45, -1 / 90, 1 / 180],
            [0, 0, 1],
        ]
    ),
    AT=_f(
        [
            [1, 1, 1, 1, 1, 32, 32, 0],
            [0, 1, -1, 2, -2, 16, -16, 0],
            [0, 1, 1, 4, 4, 8, 8, 0],
            [0, 1, -1, 8, -8, 4, -4, 0],
            [0, 1, 1, 16, 16, 2, 2, 0],
            [0, 1, -1, 32, -32, 1, -1, 1],
        ]
    ),
    points="0, +-1, +-2, +-1/2, inf",
)

MATRICES: dict[int, WinogradMatrices] = {2: _F2, 4: _F4, 6: _F6}


def matrices(tile: int) -> WinogradMatrices:
    if tile not in MATRICES:
        raise ValueError(f"Winograd tile must be one of {TILES}, got {tile!r}")
    return MATRICES[tile]


@cache
def _filter_matrix(tile: int, dtype: torch.dtype, device: str) -> torch.Tensor:
    # Cached tensors are made outside inference mode: one made inside it could never be
    # saved for backward by a later training call in the same process.
    with torch.inference_mode(False):
        return torch.tensor(matrices(tile).G, dtype=dtype, device=device)


@cache
def _line_operators(tile: int, dtype: torch.dtype, device: str):
    """The 1-D transforms as whole-tensor operators: input (a, 1, a) conv kernels, kernel i = BT[i]
    (a stride-m correlation with them is B^T d for every tile at once); output AT (m, a)."""
    mats = matrices(tile)
    inp = mats.BT.reshape(mats.a, 1, mats.a)
    with torch.inference_mode(False):  # cached: see _filter_matrix
        return (torch.tensor(inp, dtype=dtype, device=device), torch.tensor(mats.AT, dtype=dtype, device=device))


@cache
def _tile_operators(tile: int, dtype: torch.dtype, device: str):
    """The 2-D transforms as whole-tensor operators (built in float64, rounded once):
    input  (a*a, 1, a, a) conv kernels, kernel (i, j) = outer(BT[i], BT[j]): a stride-m
           correlation with them is B^T d B for every tile at once, with no tile copies;
    output (m*m, a*a) = kron(AT, AT): one matmul applies A^T M A to every tile."""
    mats = matrices(tile)
    a = mats.a
    inp = np.einsum("iu,jv->ijuv", mats.BT, mats.BT).reshape(a * a, 1, a, a)
    out = np.kron(mats.AT, mats.AT)
    with torch.inference_mode(False):  # cached: see _filter_matrix
        return (torch.tensor(inp, dtype=dtype, device=device), torch.tensor(out, dtype=dtype, device=device))


def transform_weight(weight: torch.Tensor, tile: int) -> torch.Tensor:
    """U = G g G^T for every (out, in) filter: (K, C, 3, 3) -> (K, C, a, a).

    Done once per layer at deployment; here it is differentiable so training sees it.
    """
    G = _filter_matrix(tile, weight.dtype, str(weight.device))
    return G @ weight @ G.T


def transform_weight_1d(weight: torch.Tensor, tile: int) -> torch.Tensor:
    """U = G g for every (out, in) 3-tap filter: (K, C, 3) -> (K, C, a); differentiable."""
    G = _filter_matrix(tile, weight.dtype, str(weight.device))
    return weight @ G.T


def _check_channels_padding_tile(x: torch.Tensor, weight: torch.Tensor, padding: int, tile: int) -> None:
    """What a 3x3 and a 3-tap call share: matching channels, a padding and a tile of the contract."""
    if weight.shape[1] != x.shape[1]:
        raise ValueError(f"weight has {weight.shape[1]} input channels, x has {x.shape[1]}")
    if padding not in PADDINGS:
        raise ValueError(f"padding must be one of {PADDINGS}, got {padding!r}")
    matrices(tile)  # raises for an unsupported tile


def check_conv_args(x: torch.Tensor, weight: torch.Tensor, padding: int, tile: int) -> tuple[int, ...]:
    """check_conv3_args for a line (x of rank 3), else check_conv3x3_args; the output size."""
    return (
        (check_conv3_args(x, weight, padding, tile),) if x.dim() == 3 else check_conv3x3_args(x, weight, padding, tile)
    )


def check_conv3x3_args(x: torch.Tensor, weight: torch.Tensor, padding: int, tile: int) -> tuple[int, int]:
    """Validate a 3x3 stride-1 conv call (every backend's contract); returns the output H, W."""
    if x.dim() != 4 or weight.dim() != 4 or tuple(weight.shape[2:]) != (3, 3):
        raise ValueError(f"expected x (N,C,H,W) and weight (K,C,3,3), got {tuple(x.shape)} and {tuple(weight.shape)}")
    _check_channels_padding_tile(x, weight, padding, tile)
    h, w = x.shape[2:]
    ho, wo = h + 2 * padding - 2, w + 2 * padding - 2
    if ho < 1 or wo < 1:
        raise ValueError(f"input {h}x{w} is too small for a 3x3 convolution with padding {padding}")
    return ho, wo


def winograd_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    padding: int = 1,
    tile: int = 4,
) -> torch.Tensor:
    """3x3, stride-1 convolution by Winograd F(tile x tile, 3 x 3).

    Equals F.conv2d(x, weight, bias, padding=padding) up to rounding, for any batch,
    channel counts and spatial size (edge tiles are zero-padded and cropped).
    Any device and dtype, differentiable; wno_edge.native.winograd_conv2d is the same
    contract computed by the fused C++ kernel of runtime/ (CPU float32).
    """
    ho, wo = check_conv3x3_args(x, weight, padding, tile)
    mats = matrices(tile)
    m, a = mats.m, mats.a
    n, c, h, w = x.shape
    k = weight.shape[0]
    th, tw = -(-ho // m), -(-wo // m)
    # Zero-pad: `padding` on the top/left, enough on the bottom/right to fill whole tiles.
    d = F.pad(x, (padding, tw * m + 2 - w - padding, padding, th * m + 2 - h - padding))
    to_winograd, from_winograd = _tile_operators(tile, x.dtype, str(x.device))

    # Input transform of all overlapping a x a tiles (stride m): (N*C, a*a, th, tw).
    V = F.conv2d(d.reshape(n * c, 1, *d.shape[2:]), to_winograd, stride=m)
    U = transform_weight(weight, tile)
    # One GEMM per Winograd position: (a*a, K, C) x (a*a, C, N*th*tw).
    V = V.reshape(n, c, a * a, th * tw).permute(2, 1, 0, 3).reshape(a * a, c, n * th * tw)
    U = U.permute(2, 3, 0, 1).reshape(a * a, k, c)
    M = torch.bmm(U, V)  # (a*a, K, N*th*tw)
    Y = from_winograd @ M.reshape(a * a, -1)  # output transform: (m*m, K*N*th*tw)
    Y = Y.reshape(m, m, k, n, th, tw).permute(3, 2, 4, 0, 5, 1)  # (N, K, th, m, tw, m)
    y = Y.reshape(n, k, th * m, tw * m)[:, :, :ho, :wo]
    if bias is not None:
        y = y + bias.view(1, -1, 1, 1)
    return y


def check_conv3_args(x: torch.Tensor, weight: torch.Tensor, padding: int, tile: int) -> int:
    """Validate a 1-D 3-tap stride-1 conv call; returns the output length."""
    if x.dim() != 3 or weight.dim() != 3 or weight.shape[2] != 3:
        raise ValueError(f"expected x (N,C,X) and weight (K,C,3), got {tuple(x.shape)} and {tuple(weight.shape)}")
    _check_channels_padding_tile(x, weight, padding, tile)
    xo = x.shape[2] + 2 * padding - 2
    if xo < 1:
        raise ValueError(f"input of length {x.shape[2]} is too short for a 3-tap convolution with padding {padding}")
    return xo


def winograd_conv1d(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    padding: int = 1,
    tile: int = 4,
) -> torch.Tensor:
    """3-tap, stride-1 convolution on a line by Winograd F(tile, 3): y = A^T [(G g) . (B^T d)]
    per tile, with the matrices of the 2-D transform.

    Equals F.conv1d(x, weight, bias, padding=padding) up to rounding, for any batch, channel
    counts and length (the last tile is zero-padded and cropped). Any device and dtype,
    differentiable.
    """
    xo = check_conv3_args(x, weight, padding, tile)
    mats = matrices(tile)
    m, a = mats.m, mats.a
    n, c, length = x.shape
    k = weight.shape[0]
    t = -(-xo // m)
    d = F.pad(x, (padding, t * m + 2 - length - padding))  # `padding` on the left, whole tiles on the right
    to_winograd, from_winograd = _line_operators(tile, x.dtype, str(x.device))

    V = F.conv1d(d.reshape(n * c, 1, d.shape[2]), to_winograd, stride=m)  # (N*C, a, t): B^T d per tile
    V = V.reshape(n, c, a, t).permute(2, 1, 0, 3).reshape(a, c, n * t)
    U = transform_weight_1d(weight, tile).permute(2, 0, 1)  # (a, K, C)
    M = torch.bmm(U, V)  # (a, K, N*t): one GEMM per Winograd position
    Y = (from_winograd @ M.reshape(a, -1)).reshape(m, k, n, t)  # output transform
    y = Y.permute(2, 1, 3, 0).reshape(n, k, t * m)[:, :, :xo]
    if bias is not None:
        y = y + bias.view(1, -1, 1)
    return y


# ---------------------------------------------------------------- operation counts


def _matmul_cost(M: np.ndarray, cols: int) -> tuple[int, int]:
    """(multiplies, adds) of M @ X for an X with `cols` columns, skipping zeros and +-1 factors."""
    nz = M != 0
    mults = int(np.sum(nz & (np.abs(M) != 1))) * cols
    adds = int(np.sum(np.maximum(nz.sum(axis=1) - 1, 0))) * cols
    return mults, adds


@dataclass(frozen=True)
class ConvCost:
    """Arithmetic of one 3x3 conv layer; the filter transform is excluded (done once, offline)."""

    method: str
    multiplies: int
    adds: int
    gemm_multiplies: int  # the part that scales with C*K

    @property
    def flops(self) -> int:
        return self.multiplies + self.adds


def conv_cost(
    in_channels: int,
    out_channels: int,
    grid: Sequence[int],
    tile: int | None = None,
    batch: int = 1,
    padding: int = 1,
) -> ConvCost:
    """Multiply/add count of a stride-1 conv layer with 3 taps per axis on `grid` (1-D or 2-D),
    direct (tile=None) or Winograd F(tile, 3) along every axis."""
    c, k, rank = in_channels, out_channels, len(grid)
    out = [n + 2 * padding - 2 for n in grid]
    if tile is None:
        macs = batch * k * math.prod(out) * c * 3**rank
        return ConvCost("direct", macs, macs, macs)
    mats = matrices(tile)
    m, a = mats.m, mats.a
    tiles = batch * math.prod(-(-n // m) for n in out)
    gemm = tiles * a**rank * c * k
    # Transforms one axis at a time: pass j of the input transform (BT along axis j) acts on
    # a^(rank-1) vectors; pass j of the output transform (AT) on m^j a^(rank-1-j), as the axes
    # already done are m long.
    inp = [_matmul_cost(mats.BT, a ** (rank - 1)) for _ in range(rank)]
    outp = [_matmul_cost(mats.AT, m**j * a ** (rank - 1 - j)) for j in range(rank)]
    mults = gemm + tiles * (c * sum(x for x, _ in inp) + k * sum(x for x, _ in outp))
    adds = tiles * a**rank * (c - 1) * k + tiles * (c * sum(y for _, y in inp) + k * sum(y for _, y in outp))
    return ConvCost(f"F({'x'.join([str(m)] * rank)},{'x'.join(['3'] * rank)})", mults, adds, gemm)


def conv3x3_cost(
    in_channels: int,
    out_channels: int,
    height: int,
    width: int,
    tile: int | None = None,
    batch: int = 1,
    padding: int = 1,
) -> ConvCost:
    """Multiply/add count of a 3x3 stride-1 conv layer, direct (tile=None) or Winograd F(tile,3)."""
    return conv_cost(in_channels, out_channels, (height, width), tile, batch, padding)


def conv3_cost(
    in_channels: int,
    out_channels: int,
    length: int,
    tile: int | None = None,
    batch: int = 1,
    padding: int = 1,
) -> ConvCost:
    """Multiply/add count of a 1-D 3-tap stride-1 conv layer, direct (tile=None) or Winograd F(tile, 3)."""
    return conv_cost(in_channels, out_channels, (length,), tile, batch, padding)
