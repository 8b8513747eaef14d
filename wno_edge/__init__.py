"""wno-edge: Winograd Neural Operators from PyTorch to edge devices.

Importing the package is cheap and never imports tensorrt or cuda; heavy stages
(export, TensorRT build, profiling) live in their own modules.
"""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("wno-edge")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+source"

from .errors import WNOEdgeError

__all__ = ["__version__", "WNOEdgeError"]
