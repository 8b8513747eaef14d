"""wno_edge.runtime: a small inference API for control loops.

    from wno_edge import runtime
    with runtime.load("darcy.onnx", threads=2) as session:
        y = session.run(x)                # numpy in, numpy out
        session.run(x, out=y)             # reuse a buffer: no allocation per call

Backends by file: .onnx (ONNX Runtime, CPU or CUDA), .trt/.engine (TensorRT), .pt
(PyTorch). Importing this module, and running ONNX sessions, never imports torch.
"""
from __future__ import annotations

import os
from pathlib import Path

from ..errors import WNOEdgeError
from .loop import ControlLoop, LoopResult, rollout
from .session import Session
from .stats import latency_summary

__all__ = ["load", "Session", "ControlLoop", "LoopResult", "rollout", "latency_summary"]


def load(path: str | os.PathLike, device: str | None = None, threads: int | None = None, batch: int | None = None,
         check_finite: bool = True, check_output: bool = False, **options) -> Session:
    """Open an operator for inference; the backend is chosen by the file's suffix.

    device: "cpu" or "cuda"; by default cuda for TensorRT engines, cpu otherwise.
    batch: the batch size to allocate for when the file's batch dimension is dynamic (default
        1); a file exported with a fixed batch runs that batch, and asking for another is an error.
    check_finite: refuse inputs holding NaN or Inf (one pass over the input).
    check_output: also refuse predictions holding NaN or Inf (opt in: one pass over the output).
    A session runs one call at a time; threads sharing it take turns.
    """
    path = Path(path)
    if not path.is_file():
        raise WNOEdgeError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        from .onnxruntime_backend import OnnxRuntimeSession
        return OnnxRuntimeSession(path, device or "cpu", threads, batch, check_finite, check_output=check_output,
                                  **options)
    if suffix in (".trt", ".engine", ".plan"):
        from .tensorrt_backend import TensorRTSession
        return TensorRTSession(path, device or "cuda", threads, batch, check_finite, check_output=check_output,
                               **options)
    if suffix == ".pt":
        from .torch_backend import TorchSession
        return TorchSession(path, device or "cpu", threads, batch, check_finite=check_finite,
                            check_output=check_output, **options)
    raise WNOEdgeError(f"{path}: unknown model file type {suffix!r} (expected .onnx, .trt/.engine or .pt)")
