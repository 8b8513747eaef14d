"""TensorRT backend: an engine with the WinogradConv plugin, run on its own CUDA stream.

Device and pinned host buffers are allocated once; each run is H2D copy, enqueue (or a
CUDA graph replay), D2H copy, synchronise: nothing is allocated in the steady state.
CUDA events around each stage give trtexec's H2D / GPU compute / D2H split.
"""

from __future__ import annotations

import ctypes
import os
from typing import Any

import numpy as np

from ..errors import WNOEdgeError
from .session import Session
from .stats import LatencyRecorder, latency_summary


def _cudart() -> Any:
    try:
        from cuda.bindings import runtime as cudart
    except ImportError:
        raise WNOEdgeError("the TensorRT backend needs cuda-python: pip install 'wno-edge[tensorrt]'") from None
    return cudart


def _check(result: Any) -> Any:
    """cuda-python returns (error, *values): raise on error, return the values."""
    err, *values = result if isinstance(result, tuple) else (result,)
    if int(err) != 0:
        from cuda.bindings import runtime as cudart

        name = cudart.cudaGetErrorString(err)[1].decode() if int(err) else ""
        raise WNOEdgeError(f"CUDA error {int(err)}: {name}")
    return values[0] if len(values) == 1 else values


def _stream_handle(stream: object) -> int:
    """The cudaStream_t value TensorRT's execute_async_v3 takes, read from cuda-python's handle
    object through getPtr() (the address of the handle) rather than the deprecated int(obj)
    conversion; plain integers pass through."""
    if isinstance(stream, int):
        return stream
    get_ptr = getattr(stream, "getPtr", None)
    if get_ptr is None:
        raise WNOEdgeError(f"not a CUDA stream handle: {type(stream).__name__}")
    return ctypes.c_void_p.from_address(int(get_ptr())).value or 0


def _pinned_array(cudart: Any, shape: tuple[int, ...], dtype: np.dtype) -> tuple[int, np.ndarray]:
    nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    ptr = _check(cudart.cudaMallocHost(nbytes))
    buf = (ctypes.c_byte * nbytes).from_address(int(ptr))
    # numpy's stubs list no ctypes array as a buffer, though it exports the buffer protocol
    return int(ptr), np.frombuffer(buf, dtype=dtype).reshape(shape)  # type: ignore[call-overload]


class TensorRTSession(Session):
    backend = "tensorrt"

    def __init__(
        self,
        path: str | os.PathLike[str],
        device: str = "cuda",
        threads: int | None = None,
        batch: int | None = None,
        check_finite: bool = True,
        plugin: str | None = None,
        cuda_graph: bool = True,
        check_output: bool = False,
    ) -> None:
        super().__init__(check_finite, check_output)
        from ..tensorrt.plugin import load_plugin, require_tensorrt

        if device != "cuda":
            raise WNOEdgeError("TensorRT engines run on cuda; use the .onnx file for cpu")
        trt = require_tensorrt()
        cudart = self._cudart = _cudart()
        if _check(cudart.cudaGetDeviceCount()) < 1:
            raise WNOEdgeError("no CUDA device")
        load_plugin(plugin)
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        with open(path, "rb") as f:
            self._engine = self._runtime.deserialize_cuda_engine(f.read())
        if self._engine is None:
            raise WNOEdgeError(f"{path}: TensorRT cannot deserialize it (built by another TensorRT version or GPU?)")
        names = [self._engine.get_tensor_name(i) for i in range(self._engine.num_io_tensors)]
        inputs = [n for n in names if self._engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        outputs = [n for n in names if n not in inputs]
        if len(inputs) != 1 or len(outputs) != 1:
            raise WNOEdgeError(f"{path}: expected one input and one output, got {inputs} and {outputs}")
        self._in_name, self._out_name = inputs[0], outputs[0]
        self._context = self._engine.create_execution_context()
        shape = list(self._engine.get_tensor_shape(self._in_name))
        shape[0] = self._batch_dim(path, shape[0] if shape[0] > 0 else None, batch)
        if min(shape) < 1:
            raise WNOEdgeError(f"{path}: only the batch dimension may be dynamic, got {shape}")
        if not self._context.set_input_shape(self._in_name, shape):
            raise WNOEdgeError(f"input shape {shape} is outside the engine's optimisation profile")
        self.input_shape = tuple(shape)
        self.output_shape = tuple(self._context.get_tensor_shape(self._out_name))
        self.dtype = np.dtype(trt.nptype(self._engine.get_tensor_dtype(self._in_name)))
        self.output_dtype = np.dtype(trt.nptype(self._engine.get_tensor_dtype(self._out_name)))
        self.device = device

        self._stream = _check(cudart.cudaStreamCreateWithFlags(cudart.cudaStreamNonBlocking))
        self._stream_ptr = _stream_handle(self._stream)
        self._events = [_check(cudart.cudaEventCreate()) for _ in range(4)]
        self._x_host_ptr, self._x_host = _pinned_array(cudart, self.input_shape, self.dtype)
        self._y_host_ptr, self._y_host = _pinned_array(cudart, self.output_shape, self.output_dtype)
        self._x_dev = int(_check(cudart.cudaMalloc(self._x_host.nbytes)))
        self._y_dev = int(_check(cudart.cudaMalloc(self._y_host.nbytes)))
        self._context.set_tensor_address(self._in_name, self._x_dev)
        self._context.set_tensor_address(self._out_name, self._y_dev)
        # One plain enqueue first: TensorRT may allocate or lazily initialise on it (and the
        # plugin transforms its weights), neither of which may happen inside graph capture.
        self._enqueue()
        _check(cudart.cudaStreamSynchronize(self._stream))
        self._graph: Any = None  # cudaGraph_t, cudaGraphExec_t once captured
        self._graph_exec: Any = None
        if cuda_graph:
            self._capture()
        self.timings = {k: LatencyRecorder() for k in ("h2d", "gpu_compute", "d2h")}

    def _enqueue(self) -> None:
        if not self._context.execute_async_v3(self._stream_ptr):
            raise WNOEdgeError("TensorRT enqueue failed (see the TensorRT log)")

    def _capture(self) -> None:
        cudart = self._cudart
        _check(cudart.cudaStreamBeginCapture(self._stream, cudart.cudaStreamCaptureMode.cudaStreamCaptureModeGlobal))
        try:
            self._enqueue()
        except BaseException:
            # The enqueue's own error is the one to report: ending a capture it broke fails
            # too (invalidated capture), and that error must not replace it.
            result = cudart.cudaStreamEndCapture(self._stream)
            graph = result[1] if isinstance(result, tuple) and len(result) > 1 else None
            if graph is not None and int(result[0]) == 0:
                cudart.cudaGraphDestroy(graph)
            raise
        self._graph = _check(cudart.cudaStreamEndCapture(self._stream))
        self._graph_exec = _check(cudart.cudaGraphInstantiate(self._graph, 0))

    def _run(self, x: np.ndarray) -> np.ndarray:
        cudart, s, ev = self._cudart, self._stream, self._events
        np.copyto(self._x_host, x)
        _check(cudart.cudaEventRecord(ev[0], s))
        _check(
            cudart.cudaMemcpyAsync(
                self._x_dev, self._x_host_ptr, self._x_host.nbytes, cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, s
            )
        )
        _check(cudart.cudaEventRecord(ev[1], s))
        if self._graph_exec is not None:
            _check(cudart.cudaGraphLaunch(self._graph_exec, s))
        else:
            self._enqueue()
        _check(cudart.cudaEventRecord(ev[2], s))
        _check(
            cudart.cudaMemcpyAsync(
                self._y_host_ptr, self._y_dev, self._y_host.nbytes, cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost, s
            )
        )
        _check(cudart.cudaEventRecord(ev[3], s))
        _check(cudart.cudaStreamSynchronize(s))
        for key, (a, b) in zip(("h2d", "gpu_compute", "d2h"), ((0, 1), (1, 2), (2, 3)), strict=True):
            self.timings[key].add(_check(cudart.cudaEventElapsedTime(ev[a], ev[b])) * 1e-3)
        return self._y_host

    def timing_breakdown(self) -> dict[str, dict[str, float]]:
        """trtexec's H2D Latency, GPU Compute Time and D2H Latency over the runs so far."""
        return {k: latency_summary(r.samples) for k, r in self.timings.items()}

    def close(self) -> None:
        if self._closed:
            return
        super().close()
        cudart = self._cudart
        if self._graph_exec is not None:
            cudart.cudaGraphExecDestroy(self._graph_exec)
            cudart.cudaGraphDestroy(self._graph)
        for ptr in (self._x_dev, self._y_dev):
            cudart.cudaFree(ptr)
        for ptr in (self._x_host_ptr, self._y_host_ptr):
            cudart.cudaFreeHost(ptr)
        for ev in self._events:
            cudart.cudaEventDestroy(ev)
        cudart.cudaStreamDestroy(self._stream)
        self._context = self._engine = self._runtime = None
