"""Finding and loading the WinogradConv TensorRT plugin library.

The library registers its creator statically (REGISTER_TENSORRT_PLUGIN), so loading it
with ctypes is all TensorRT needs; it is loaded once per process, never also through
IPluginRegistry::loadLibrary (that would register the creator twice).
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path
from typing import Any

from ..contract import OP_NAME as PLUGIN_NAME
from ..contract import PLUGIN_NAMESPACE, PLUGIN_VERSION
from ..errors import WNOEdgeError

LIBRARY = "libwno_trt_plugin.so"
_ROOT = Path(__file__).resolve().parents[1]  # the wno_edge package
_loaded: dict[Path, ctypes.CDLL] = {}


def require_tensorrt() -> Any:
    """The tensorrt module, or a one-line error saying how to get it."""
    try:
        import tensorrt
    except ImportError:
        raise WNOEdgeError(
            "TensorRT is not installed: on x86 `pip install 'wno-edge[tensorrt]'` (NVIDIA's wheels), "
            "on Jetson use JetPack's python3-libnvinfer, or run inside docker/ (see docker/README.md)"
        ) from None
    return tensorrt


def find_plugin_library(explicit: str | os.PathLike | None = None) -> Path:
    """The plugin: the given path, $WNO_EDGE_TRT_PLUGIN, the package's _native/, or a CMake build/ tree."""
    if explicit or os.environ.get("WNO_EDGE_TRT_PLUGIN"):
        path = Path(explicit or os.environ["WNO_EDGE_TRT_PLUGIN"])
        if not path.is_file():
            raise WNOEdgeError(f"TensorRT plugin library {path} does not exist")
        return path.resolve()
    candidates = [_ROOT / "_native" / LIBRARY, *sorted((_ROOT.parent / "build").glob(f"**/{LIBRARY}"))]
    for path in candidates:
        if path.is_file():
            return path.resolve()
    raise WNOEdgeError(
        f"{LIBRARY} not found: build it with TensorRT present (cmake -S runtime -B build -DTensorRT_ROOT=...; "
        "cmake --build build) and pass --plugin PATH or set WNO_EDGE_TRT_PLUGIN"
    )


def load_plugin(explicit: str | os.PathLike | None = None) -> Path:
    """Load the plugin library once and check that TensorRT now knows the creator."""
    trt = require_tensorrt()
    path = find_plugin_library(explicit)
    if path not in _loaded:
        try:
            _loaded[path] = ctypes.CDLL(str(path), mode=ctypes.RTLD_GLOBAL)
        except OSError as e:
            raise WNOEdgeError(f"cannot load {path}: {e}") from None
    if trt.get_plugin_registry().get_creator(PLUGIN_NAME, PLUGIN_VERSION, PLUGIN_NAMESPACE) is None:
        raise WNOEdgeError(f"{path} loaded but registered no {PLUGIN_NAME} v{PLUGIN_VERSION} creator")
    return path


def tensorrt_version(trt) -> tuple[int, int]:
    major, minor = trt.__version__.split(".")[:2]
    return int(major), int(minor)
