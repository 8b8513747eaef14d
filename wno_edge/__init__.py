"""wno-edge: Winograd Neural Operators from PyTorch to edge devices.

Importing the package never imports tensorrt or cuda; heavy stages (export, TensorRT
build, profiling) live in their own modules and import their dependencies lazily.
"""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("wno-edge")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+source"

from .checkpoint import load_model, save_model
from .errors import WNOEdgeError
from .model import WNO2d, WNOConfig
from .winograd import winograd_conv2d

__all__ = ["__version__", "WNOEdgeError", "WNO2d", "WNOConfig", "winograd_conv2d", "load_model", "save_model"]
