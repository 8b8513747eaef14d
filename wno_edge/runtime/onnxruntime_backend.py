"""ONNX Runtime backend: CPU or CUDA provider, I/O bound to buffers allocated once."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import WNOEdgeError, preview
from .onnx_metadata import read_config
from .session import Session


def import_onnxruntime() -> Any:
    """onnxruntime, or one line saying how to install it (wno-edge does not pick CPU or GPU for you)."""
    try:
        import onnxruntime
    except ImportError:
        raise WNOEdgeError(
            "running .onnx files needs ONNX Runtime, which is not installed: "
            "pip install 'wno-edge[onnxruntime]' (CPU) or 'wno-edge[onnxruntime-gpu]' "
            "(CUDA; on a Jetson, NVIDIA's onnxruntime-gpu wheel)"
        ) from None
    return onnxruntime


_NP_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64}


class OnnxRuntimeSession(Session):
    backend = "onnxruntime"

    def __init__(
        self,
        path: str | os.PathLike[str],
        device: str = "cpu",
        threads: int | None = None,
        batch: int | None = None,
        check_finite: bool = True,
        check_output: bool = False,
    ) -> None:
        super().__init__(check_finite, check_output)
        ort = import_onnxruntime()

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # Spinning threads keep a core busy between control-loop ticks; a loop sleeps instead.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        providers = ["CPUExecutionProvider"]
        if device == "cuda":
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise WNOEdgeError(
                    "device cuda needs onnxruntime-gpu (pip install onnxruntime-gpu in place of onnxruntime)"
                )
            providers.insert(0, "CUDAExecutionProvider")
        elif device != "cpu":
            raise WNOEdgeError(f"device must be cpu or cuda, got {preview(device, 60)}")
        try:
            self._session = ort.InferenceSession(os.fspath(path), options, providers=providers)
        except Exception as e:  # ORT raises its own exception types for unreadable models
            raise WNOEdgeError(f"{path}: ONNX Runtime cannot load it: {str(e).splitlines()[0][:200]}") from None
        inputs, outputs = self._session.get_inputs(), self._session.get_outputs()
        if len(inputs) != 1 or len(outputs) != 1:
            raise WNOEdgeError(f"{path}: expected one input and one output, got {len(inputs)} and {len(outputs)}")
        self._input, self._output = inputs[0], outputs[0]
        if self._input.type not in _NP_TYPES:
            raise WNOEdgeError(f"{path}: unsupported input type {self._input.type}")
        self.dtype = np.dtype(_NP_TYPES[self._input.type])
        batch = self._batch_dim(path, self._input.shape[0] if self._input.shape else None, batch)
        self.input_shape = self._concrete(self._input.shape, batch)
        self.output_shape = self._concrete(self._output.shape, batch)
        self.device = device
        self.config = read_config(path)
        self._x = np.zeros(self.input_shape, self.dtype)
        self._y = np.zeros(self.output_shape, self.dtype)
        # Buffers stay put, so bind them once; each run copies into _x and out of _y.
        self._binding = self._session.io_binding()
        self._binding.bind_input(self._input.name, "cpu", 0, self.dtype, self.input_shape, self._x.ctypes.data)
        self._binding.bind_output(self._output.name, "cpu", 0, self.dtype, self.output_shape, self._y.ctypes.data)

    @staticmethod
    def _concrete(shape: Sequence[int | str | None], batch: int) -> tuple[int, ...]:
        dims = [batch if not isinstance(d, int) and i == 0 else d for i, d in enumerate(shape)]
        concrete = [d for d in dims if isinstance(d, int) and d > 0]
        if len(concrete) != len(dims):
            raise WNOEdgeError(f"only the batch dimension may be dynamic, got {shape}")
        return tuple(concrete)

    def _run(self, x: np.ndarray) -> np.ndarray:
        if x is not self._x:
            np.copyto(self._x, x)
        self._session.run_with_iobinding(self._binding)
        return self._y

    def close(self) -> None:
        super().close()
        self._binding = self._session = None
