"""wno-edge: Winograd Neural Operators from PyTorch to edge devices.

The package root imports nothing heavy: `import wno_edge.runtime` must stay free of
torch, and nothing here imports tensorrt or cuda. Public names load on first use.
"""

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

try:
    __version__ = version("wno-edge")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+source"

from .errors import WNOEdgeError
from .util.lazy import lazy_exports

if TYPE_CHECKING:  # what __getattr__ loads, for type checkers (nothing is imported at run time)
    from .checkpoint import load_model as load_model
    from .checkpoint import save_model as save_model
    from .contract import WNOConfig as WNOConfig
    from .model import WNO2d as WNO2d
    from .winograd import winograd_conv2d as winograd_conv2d

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
