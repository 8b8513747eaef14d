"""wno-edge: Winograd Neural Operators from PyTorch to edge devices.

The package root imports nothing heavy: `import wno_edge.runtime` must stay free of
torch, and nothing here imports tensorrt or cuda. Public names load on first use.
"""

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("wno-edge")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+source"

from .errors import WNOEdgeError

_LAZY = {
    "WNO2d": "model",
    "WNOConfig": "contract",
    "winograd_conv2d": "winograd",
    "load_model": "checkpoint",
    "save_model": "checkpoint",
}


def __getattr__(name):
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'wno_edge' has no attribute {name!r}")


__all__ = ["__version__", "WNOEdgeError", *_LAZY]
