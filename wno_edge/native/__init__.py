"""The native kernels of runtime/ from Python.

    from wno_edge import native
    native.available()                      # (True, "libwno_winograd.so: avx512, ...")
    y = native.winograd_conv2d(x, w, b, padding=1, tile=4)   # torch op, CPU float32

abi (the ctypes declarations), library (the loader), and cuda (GPU probes) import
neither torch nor numpy; the torch op (torch_op) loads on first use of its names.
"""

from typing import TYPE_CHECKING

from ..util.lazy import lazy_exports
from .abi import ABI_VERSION, ConvDesc
from .cuda import cuda_device_count, cuda_kernel_status
from .library import LIBRARY_ENV, NativeUnavailable, available, library_path, load

if TYPE_CHECKING:  # what __getattr__ loads, for type checkers (nothing is imported at run time)
    from .torch_op import get_num_threads as get_num_threads
    from .torch_op import set_num_threads as set_num_threads
    from .torch_op import transform_weights as transform_weights
    from .torch_op import winograd_conv2d as winograd_conv2d
    from .torch_op import winograd_conv2d_op as winograd_conv2d_op

__getattr__, _lazy = lazy_exports(
    __name__,
    {".torch_op": ("winograd_conv2d", "winograd_conv2d_op", "transform_weights", "set_num_threads", "get_num_threads")},
)
__all__ = [
    "ABI_VERSION",
    "ConvDesc",
    "LIBRARY_ENV",
    "NativeUnavailable",
    "available",
    "library_path",
    "load",
    "cuda_device_count",
    "cuda_kernel_status",
    *_lazy,
]
