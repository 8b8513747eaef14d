"""The paper's Table 1 on this machine: one 3x3 conv layer computed every way we know.

Methods: direct (PyTorch conv2d, ONNX Runtime Conv), im2col + GEMM, FFT convolution,
and Winograd F(2,3), F(4,3), F(6,3) (PyTorch path; native kernel where built). Every
method's output is checked against conv2d before it is timed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..winograd import TILES, winograd_conv2d


@dataclass(frozen=True)
class ConvShape:
    batch: int
    channels: int
    height: int
    width: int

    def __str__(self):
        return f"{self.batch}x{self.channels}x{self.height}x{self.width}, 3x3, {self.channels}->{self.channels}"


def im2col_conv(x, w, b):
    n, c, h, wd = x.shape
    cols = F.unfold(x, 3, padding=1)  # (N, C*9, H*W)
    return (w.view(w.shape[0], -1) @ cols + b.view(1, -1, 1)).view(n, -1, h, wd)


def fft_conv(x, w, b):
    """Cross-correlation by zero-padded FFT (linear, not circular, convolution)."""
    n, c, h, wd = x.shape
    fh, fw = h + 2, wd + 2
    xf = torch.fft.rfft2(x, s=(fh, fw))
    kf = torch.fft.rfft2(torch.flip(w, (2, 3)), s=(fh, fw))
    # Channel mixing as one batched complex GEMM over frequencies: (F, N, C) @ (F, C, K).
    yf = (xf.flatten(2).permute(2, 0, 1) @ kf.flatten(2).permute(2, 1, 0)).permute(1, 2, 0)
    y = torch.fft.irfft2(yf.reshape(n, -1, *xf.shape[2:]), s=(fh, fw))
    return y[:, :, 1 : h + 1, 1 : wd + 1] + b.view(1, -1, 1, 1)


def ort_conv(x: np.ndarray, w: np.ndarray, b: np.ndarray, threads: int) -> Callable[[], np.ndarray]:
    """ONNX Runtime's direct Conv on fixed float32 numpy inputs, as a zero-argument call."""
    from onnx import TensorProto, helper, numpy_helper

    from ..onnx.verify import ort_session

    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w", "b"], ["y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1])],
        "conv3x3",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=10)
    session = ort_session(model, threads)
    feed = {"x": x}
    return lambda: session.run(None, feed)[0]


def _as_torch(fn: Callable[[], np.ndarray]) -> Callable[[], torch.Tensor]:
    return lambda: torch.from_numpy(fn())


def methods(x, w, b, threads: int) -> dict[str, Callable[[], torch.Tensor]]:
    table: dict[str, Callable[[], torch.Tensor]] = {
        "direct (torch conv2d)": lambda: F.conv2d(x, w, b, padding=1),
        "direct (ONNX Runtime Conv)": _as_torch(ort_conv(x.numpy(), w.numpy(), b.numpy(), threads)),
        "im2col + GEMM": lambda: im2col_conv(x, w, b),
        "FFT convolution": lambda: fft_conv(x, w, b),
    }
    for tile in TILES:
        table[f"Winograd F({tile},3) (PyTorch)"] = partial(winograd_conv2d, x, w, b, tile=tile)
    try:
        from .. import native

        ok, _ = native.available()
    except ImportError:
        ok = False
    if ok:
        for tile in TILES:
            table[f"Winograd F({tile},3) (native)"] = partial(native.winograd_conv2d, x, w, b, tile=tile)
    return table


def compare_conv(
    shape: ConvShape, threads: int = 1, repeats: int = 30, progress: Callable[[], object] | None = None
) -> list[dict[str, Any]]:
    """Median time of each method on `shape`; rows sorted as defined, fastest flagged."""
    torch.set_num_threads(threads)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(shape.batch, shape.channels, shape.height, shape.width, generator=g)
    w = torch.randn(shape.channels, shape.channels, 3, 3, generator=g) / (3 * shape.channels**0.5)
    b = torch.randn(shape.channels, generator=g)
    reference = F.conv2d(x.double(), w.double(), b.double(), padding=1)
    scale = reference.abs().max().item()
    rows: list[dict[str, Any]] = []
    with torch.inference_mode():
        for name, fn in methods(x, w, b, threads).items():
            err = (fn().double() - reference).abs().max().item() / scale
            for _ in range(3):
                fn()
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t0)
            rows.append({"method": name, "median_ms": 1e3 * float(np.median(times)), "rel_error": err})
            if progress is not None:
                progress()
    fastest = min(rows, key=lambda r: r["median_ms"])
    direct = rows[0]["median_ms"]
    for r in rows:
        r["fastest"] = r is fastest
        r["speedup_vs_torch_direct"] = direct / r["median_ms"]
    return rows
