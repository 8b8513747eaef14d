"""What can run a WNO on this machine: `wno-edge info --backends`."""

from __future__ import annotations

from ..errors import WNOEdgeError
from ..native import available, cuda_kernel_status


def _tensorrt_plugin_status() -> tuple[bool, str]:
    from ..tensorrt.plugin import find_plugin_library

    try:
        path = find_plugin_library()
    except WNOEdgeError as exc:
        return False, f"not built: {exc}"
    try:
        import tensorrt
    except ImportError:
        return False, f"{path.name} built, but TensorRT is not installed"
    return True, f"{path} (TensorRT {tensorrt.__version__})"


def _native_engine_status() -> tuple[bool, str]:
    from ..runtime.native_backend import available as engine_available

    ok, why = engine_available()
    return ok, (why + "; the default for wno-edge .onnx exports on the CPU") if ok else why


def _torch_status() -> tuple[bool, str]:
    try:
        import torch
    except ImportError:
        return False, "PyTorch is not installed"
    return True, f"PyTorch {torch.__version__} (reference path, any device)"


def backends_report() -> list[tuple[str, bool, str]]:
    """[(backend, available, reason)]."""
    return [
        ("torch", *_torch_status()),
        ("cpu-kernel", *available()),
        ("native-engine", *_native_engine_status()),
        ("cuda-kernel", *cuda_kernel_status()),
        ("tensorrt-plugin", *_tensorrt_plugin_status()),
    ]
