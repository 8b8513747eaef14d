"""OpenVINO backend: Intel CPUs, integrated GPUs and NPUs through the same API.

OpenVINO refuses a node in a custom domain and does not read ONNX local functions (2026.4), so
the session inlines the file's local functions itself before reading it: a default export's
WinogradConv nodes then run as their fallback bodies (plain 3x3 Convs), and a `--conv direct`
export runs as written. The precision hint is f32 unless asked otherwise: on a CPU with bf16,
OpenVINO's default precision is bf16, measured 3.7e-3 of the output scale off ONNX Runtime on a
wno-edge export, and exact with the f32 hint.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import WNOEdgeError, one_line, preview
from .onnx_metadata import read_config
from .session import Session

DEVICES = {"cpu": "CPU", "gpu": "GPU", "npu": "NPU"}
PRECISIONS = ("f32", "f16", "bf16", "default")


def import_openvino() -> Any:
    try:
        import openvino
    except ImportError:
        raise WNOEdgeError(
            "the openvino backend needs OpenVINO, which is not installed: pip install 'wno-edge[openvino]'"
        ) from None
    return openvino


def _inlined(path: Path) -> bytes:
    """The model with its local functions inlined (what OpenVINO can read)."""
    import onnx
    import onnx.inliner

    try:
        model = onnx.load(os.fspath(path))
    except Exception as e:  # onnx raises DecodeError and friends for a file that is not ONNX
        raise WNOEdgeError(f"{path}: not a readable ONNX file ({one_line(str(e), 160)})") from None
    if model.functions:
        model = onnx.inliner.inline_local_functions(model)
    return bytes(model.SerializeToString())


class OpenVINOSession(Session):
    """An .onnx file on OpenVINO: device cpu, gpu or npu; precision f32 (default), f16, bf16 or
    "default" (OpenVINO's own choice for the device)."""

    backend = "openvino"

    def __init__(
        self,
        path: str | os.PathLike[str],
        device: str = "cpu",
        threads: int | None = None,
        batch: int | None = None,
        check_finite: bool = True,
        check_output: bool = False,
        *,
        precision: str = "f32",
    ) -> None:
        super().__init__(check_finite, check_output)
        if device not in DEVICES:
            raise WNOEdgeError(f"the openvino backend runs on {', '.join(DEVICES)}, not {preview(device, 60)}")
        if precision not in PRECISIONS:
            raise WNOEdgeError(f"precision must be one of {', '.join(PRECISIONS)}, got {preview(precision, 60)}")
        ov = import_openvino()
        path = Path(path)
        core = ov.Core()
        with tempfile.TemporaryDirectory() as tmp:  # read_model takes ONNX from a file
            inlined = Path(tmp) / "model.onnx"
            inlined.write_bytes(_inlined(path))
            try:
                model = core.read_model(os.fspath(inlined))
            except Exception as e:
                raise WNOEdgeError(f"{path}: OpenVINO cannot read it: {one_line(str(e), 200)}") from None
        if len(model.inputs) != 1 or len(model.outputs) != 1:
            raise WNOEdgeError(f"{path}: expected one input and one output")
        shape = model.inputs[0].get_partial_shape()
        if shape.rank.is_dynamic or any(d.is_dynamic for d in list(shape)[1:]):
            raise WNOEdgeError(f"{path}: only the batch dimension may be dynamic, got {shape}")
        fixed = None if shape[0].is_dynamic else shape[0].get_length()
        n = self._batch_dim(path, fixed, batch)
        model.reshape({model.inputs[0]: [n] + [d.get_length() for d in list(shape)[1:]]})
        config: dict[str, Any] = {}
        if precision != "default":
            config["INFERENCE_PRECISION_HINT"] = precision
        if threads:
            config["INFERENCE_NUM_THREADS"] = int(threads)
        try:
            compiled = core.compile_model(model, DEVICES[device], config)
        except Exception as e:
            raise WNOEdgeError(f"{path}: OpenVINO cannot compile it for {device}: {one_line(str(e), 200)}") from None
        self._request = compiled.create_infer_request()
        self.input_shape = tuple(int(d) for d in compiled.inputs[0].shape)
        self.output_shape = tuple(int(d) for d in compiled.outputs[0].shape)
        self.dtype = np.dtype(np.float32)
        self.device = device
        self.precision = precision
        self.config = read_config(path)
        self._x = np.zeros(self.input_shape, self.dtype)
        # The input buffer is shared with the request: each run copies into it, nothing else.
        self._request.set_input_tensor(ov.Tensor(self._x, shared_memory=True))

    def _run(self, x: np.ndarray) -> np.ndarray:
        if x is not self._x:
            np.copyto(self._x, x)
        self._request.infer()
        y: np.ndarray = self._request.get_output_tensor().data
        return y

    def close(self) -> None:
        super().close()
        self._request = None
