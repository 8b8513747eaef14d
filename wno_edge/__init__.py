"""wno-edge: Winograd Neural Operators from PyTorch to edge devices.

The package root imports nothing heavy: `import wno_edge.runtime` must stay free of
torch, and nothing here imports tensorrt or cuda. Public names load on first use.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("wno-edge")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+source"

from .errors import WNOEdgeError
from .util.lazy import lazy_exports

__getattr__, _lazy = lazy_exports(
    __name__,
    {
        ".model": ("WNO2d",),
        ".contract": ("WNOConfig",),
        ".winograd": ("winograd_conv2d",),
        ".checkpoint": ("load_model", "save_model"),
    },
)
__all__ = ["__version__", "WNOEdgeError", *_lazy]
