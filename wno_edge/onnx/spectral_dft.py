"""The spectral convolution with the standard ONNX DFT op (`export --spectral dft`), for runtimes
that have an FFT (TensorRT >= 11.2, ONNX Runtime CPU, OpenVINO): per layer, on (B, C, *grid),

  real rfft along the last axis (DFT onesided=1), the m_last lowest bins sliced, a complex DFT
  along each other axis; per corner of kept modes (low and high rows of each non-last axis, as
  the model's weights1..4) a Slice, the complex mixing as MatMuls on [re, im] and a Pad back to
  the full axes; the corners added, inverse DFTs along the non-last axes, the bins padded to the
  full last axis, an inverse complex DFT along it, and its real part.

The last step is irfft without the IRFFT form of DFT (onesided=1 with inverse=1), which older
runtimes lack and ONNX Runtime computes only for exactly n/2+1 bins: irfft of bins X_k is the
real part of the inverse complex DFT of c_k X_k (zeros above), c_k = 2 but 1 for k = 0 and the
Nyquist bin, so c_k is folded into the mixing weights. Only DFT features of opset 17 are used:
onesided on real input, inverse on complex input, the axis as an attribute (opset 17..19) or an
input (opset 20+); no dft_length.
"""

from __future__ import annotations

import numpy as np
import torch

from ..contract import Initializer
from .graph import GraphBuilder
from .spectral import COMBINE_COMPLEX

DFT_MIN_OPSET = 17


def bin_counts(n: int, m: int) -> np.ndarray:
    """c_k of the irfft of n points from its m lowest bins: 1 for bin 0 and the Nyquist bin."""
    count = np.full(m, 2.0)
    count[0] = 1.0
    if n % 2 == 0 and m == n // 2 + 1:
        count[-1] = 1.0
    return count


def corner_weights(spectral, rank: int) -> list[tuple[torch.Tensor, tuple[bool, ...]]]:
    """Each complex weight (in, out, *modes) with, per non-last axis, whether it holds the high
    (negative-frequency) rows: 1-D one corner, 2-D weights1 low and weights2 high rows, 3-D
    weights1..4 in the model's corner_slices() order (D low/high, then H)."""
    if rank == 1:
        return [(spectral.weights1, ())]
    if rank == 2:
        return [(spectral.weights1, (False,)), (spectral.weights2, (True,))]
    highs = [(False, False), (True, False), (False, True), (True, True)]
    return list(zip(spectral.corners(), highs, strict=True))


class DFTGraph:
    """Writes DFT nodes at the builder's opset (axis attribute below 20, input from 20)."""

    def __init__(self, g: GraphBuilder, opset: int):
        self.g, self.opset = g, opset

    def along(
        self, x: str, shape: list[int] | None, name: str, *, inverse: bool = False, onesided: bool = False
    ) -> str:
        """DFT along axis 1 of x reshaped to `shape` ([-1, n, ..., 1 or 2]: the leading axes folded
        into one). Axis 1 always, because OpenVINO 2026.4 ignores opset 20's axis input and uses
        1; the Reshape that follows each rfft also absorbs the extra unit axis OpenVINO leaves."""
        g = self.g
        if shape is not None:  # None: x is already (lines, n, 2)
            x = g.op("Reshape", [x, g.ints("shape_dft", shape)], f"{name}.lines")
        attrs = {"inverse": 1} if inverse else {}
        if onesided:
            attrs["onesided"] = 1
        if self.opset >= 20:
            return g.op("DFT", [x, "", g.ints("dft_axis", 1)], name, **attrs)
        return g.op("DFT", [x], name, axis=1, **attrs)

    def spectral(self, v: str, spectral, grid: tuple[int, ...], out_channels: int, i: int) -> str:
        """Layer i's spectral convolution of v (B, C, *grid) -> (B, out_channels, *grid)."""
        g, r, n = self.g, len(grid), f"l{i}.spectral"
        corners = corner_weights(spectral, r)
        c_in = corners[0][0].shape[0]
        modes = tuple(corners[0][0].shape[2:])
        kept = [*grid[:-1], modes[-1]]  # (.., m_last): the axes after the rfft and the bins' Slice
        x = self.along(v, [-1, grid[-1], 1], f"{n}.rfft", onesided=True)  # (B*C*.., W/2+1, 2)
        x = _slice(g, x, [1], [0], [modes[-1]], f"{n}.bins")
        for a in range(r - 2, -1, -1):  # the other axes, last to first, each as axis 1
            x = self.along(x, [-1, *kept[a:], 2], f"{n}.dft{a}")
        x = g.op("Reshape", [x, g.ints("shape_spectrum", [-1, c_in, *kept, 2])], f"{n}.spectrum")
        counts = bin_counts(grid[-1], modes[-1])
        placed = []
        for k, (weight, highs) in enumerate(corners):
            starts = [grid[a] - modes[a] if high else 0 for a, high in enumerate(highs)]
            axes = list(range(2, 2 + len(highs)))
            c = _slice(g, x, axes, starts, [s + m for s, m in zip(starts, modes, strict=False)], f"{n}.corner{k}")
            c = self._mix(c, weight, counts, r, out_channels, f"{n}.corner{k}", f"l{i}.spectral.mix{k}")
            before = [0, 0, *starts, 0, 0]
            after = [0, 0, *(grid[a] - starts[a] - modes[a] for a in range(len(highs))), 0, 0]
            if any(before + after):
                c = g.op("Pad", [c, g.ints("pads_corner", before + after)], f"{n}.corner{k}.placed")
            placed.append(c)
        y = placed[0]
        for k, c in enumerate(placed[1:], 1):
            y = g.op("Add", [y, c], f"{n}.corners{k}")  # (B, O, .., m_last, 2)
        for a in range(r - 1):
            y = self.along(y, [-1, *kept[a:], 2], f"{n}.idft{a}", inverse=True)
        y = g.op("Reshape", [y, g.ints("shape_bins", [-1, modes[-1], 2])], f"{n}.bins_lines")
        y = g.op("Pad", [y, g.ints("pads_bins", [0, 0, 0, 0, grid[-1] - modes[-1], 0])], f"{n}.bins_placed")
        y = self.along(y, None, f"{n}.irfft", inverse=True)  # (B*O*.., W, 2)
        y = _slice(g, y, [2], [0], [1], f"{n}.real_part")
        return g.op("Reshape", [y, g.ints("shape_grid", [-1, out_channels, *grid])], n)

    def _mix(self, c: str, weight: torch.Tensor, counts: np.ndarray, r: int, o: int, name: str, init: str) -> str:
        """(B, C, *modes, 2) -> (B, O, *modes, 2): sum_c x[b, c, k] w[c, o, k] c_k, on [re, im]."""
        g = self.g
        w = weight.detach().cpu().numpy().astype(np.complex128) * counts  # c_k over the last mode axis
        w = np.moveaxis(w, (0, 1), (-2, -1))[..., None, :, :]  # (*modes, 1, C, O)
        x = g.op("Transpose", [c], f"{name}.modes_first", perm=[*range(2, 2 + r), 0, 2 + r, 1])  # (*modes, B, 2, C)
        y = g.op("MatMul", [x, g.const(init, np.concatenate([w.real, w.imag], -1))], f"{name}.mix")  # (.., B, 2, 2*O)
        y = g.op("Reshape", [y, g.ints(f"shape_products_{r}d_{o}", [0] * (r + 1) + [4, o])], f"{name}.products")
        y = g.op("Transpose", [y], f"{name}.products_last", perm=[*range(r + 1), r + 2, r + 1])  # (.., B, O, 4)
        y = g.op("MatMul", [y, g.const(Initializer.COMBINE_COMPLEX, COMBINE_COMPLEX, shared=True)], f"{name}.complex")
        return g.op("Transpose", [y], f"{name}.modes_last", perm=[r, r + 1, *range(r), r + 2])  # (B, O, *modes, 2)


def _slice(g: GraphBuilder, x: str, axes: list[int], starts: list[int], ends: list[int], name: str) -> str:
    if not axes:  # a 1-D model's one corner is every kept bin
        return x
    return g.op(
        "Slice", [x, g.ints("slice_starts", starts), g.ints("slice_ends", ends), g.ints("slice_axes", axes)], name
    )
