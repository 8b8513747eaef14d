"""wno_edge.runtime: a small inference API for control loops.

    from wno_edge import runtime
    with runtime.load("darcy.onnx", threads=2) as session:
        y = session.run(x)                # numpy in, numpy out
        session.run(x, out=y)             # reuse a buffer: no allocation per call

Backends by file: .onnx (the native engine, ONNX Runtime on CPU or CUDA, or OpenVINO),
.trt/.engine (TensorRT), .pt (PyTorch). Importing this module, and running ONNX sessions,
never imports torch.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import WNOEdgeError, not_a_file, preview
from .loop import ControlLoop, LoopResult, rollout
from .session import Session
from .stats import latency_summary

__all__ = ["load", "Session", "ControlLoop", "LoopResult", "rollout", "latency_summary", "ONNX_BACKENDS"]

ONNX_BACKENDS = ("native", "onnxruntime", "openvino")


def load(
    path: str | os.PathLike[str],
    device: str | None = None,
    threads: int | None = None,
    batch: int | None = None,
    check_finite: bool = True,
    check_output: bool = False,
    backend: str | None = None,
    **options: Any,
) -> Session:
    """Open an operator for inference; the backend is chosen by the file's suffix.

    device: "cpu" or "cuda"; by default cuda for TensorRT engines, cpu otherwise.
    batch: the batch size to allocate for when the file's batch dimension is dynamic (default
        1); a file exported with a fixed batch runs that batch, and asking for another is an error.
    check_finite: refuse inputs holding NaN or Inf (one pass over the input).
    check_output: also refuse predictions holding NaN or Inf (opt in: one pass over the output).
    A session runs one call at a time; threads sharing it take turns.
    backend (.onnx only): "native" (the C++ engine, libwno_engine.so), "onnxruntime" or
        "openvino" (device cpu, gpu or npu; option precision="f32" by default). The default is
        native for a wno-edge fp32 export with a weight checksum on the CPU when the engine is
        built (same file, faster, verifies the weights), else ONNX Runtime.
    """
    path = Path(path)
    problem = not_a_file(path)  # a directory or FIFO is named for what it is
    if problem is not None:
        raise problem
    suffix = path.suffix.lower()
    if backend not in (None, *ONNX_BACKENDS) or (backend and suffix != ".onnx"):
        names = ", ".join(f"'{b}'" for b in ONNX_BACKENDS)
        raise WNOEdgeError(f"backend must be one of {names} for an .onnx file, got {preview(backend, 60)}")
    if suffix == ".onnx":
        if backend is None and (device or "cpu") == "cpu":
            from .native_backend import default_backend

            backend = default_backend(path)
        if backend == "native":
            from .native_backend import NativeSession

            return NativeSession(path, device or "cpu", threads, batch, check_finite, check_output, **options)
        if backend == "openvino":
            from .openvino_backend import OpenVINOSession

            return OpenVINOSession(path, device or "cpu", threads, batch, check_finite, check_output, **options)
        from .onnxruntime_backend import OnnxRuntimeSession

        return OnnxRuntimeSession(
            path, device or "cpu", threads, batch, check_finite, check_output=check_output, **options
        )
    if suffix in (".trt", ".engine", ".plan"):
        from .tensorrt_backend import TensorRTSession

        return TensorRTSession(
            path, device or "cuda", threads, batch, check_finite, check_output=check_output, **options
        )
    if suffix == ".pt":
        from .torch_backend import TorchSession

        return TorchSession(
            path, device or "cpu", threads, batch, check_finite=check_finite, check_output=check_output, **options
        )
    raise WNOEdgeError(f"{path}: unknown model file type {suffix!r} (expected .onnx, .trt/.engine or .pt)")
