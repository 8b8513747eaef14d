"""ctypes view of the C ABI in runtime/include/wno/winograd.h, written once.

tests/test_native_abi.py compiles a probe against the header and checks ABI_VERSION,
the struct's size and every field offset against these declarations.
"""

from __future__ import annotations

import ctypes
from collections.abc import Mapping

ABI_VERSION = 2  # WNO_ABI_VERSION

# wno_status
SUCCESS = 0
ERROR_INVALID_ARGUMENT = 1
ERROR_WORKSPACE_TOO_SMALL = 2
ERROR_OUT_OF_MEMORY = 3
ERROR_UNSUPPORTED = 4
ERROR_CUDA = 5
ERROR_INTERNAL = 6


class ConvDesc(ctypes.Structure):
    """wno_conv_desc."""

    _fields_ = [
        (name, ctypes.c_int)
        for name in ("batch", "in_channels", "out_channels", "height", "width", "padding", "tile", "dims")
    ]


# wno_task_fn and the parallel_for of wno_cpu_parallel (a caller's thread pool).
TASK_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_longlong, ctypes.c_int)
PARALLEL_FOR = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_longlong, TASK_FN, ctypes.c_void_p)


class CpuParallel(ctypes.Structure):
    """wno_cpu_parallel."""

    _fields_ = [("parallel_for", PARALLEL_FOR), ("pool", ctypes.c_void_p), ("num_threads", ctypes.c_int)]


_p, _sz, _i, _desc = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.POINTER(ConvDesc)

# The CPU library's functions: name -> (restype, argtypes).
SIGNATURES: dict[str, tuple[type | None, list[type]]] = {
    "wno_abi_version": (_i, []),
    "wno_status_string": (ctypes.c_char_p, [_i]),
    "wno_cpu_weight_size": (_sz, [_desc]),
    "wno_cpu_transform_weights": (_i, [_desc, _p, _p, _sz]),
    "wno_cpu_workspace_size": (_sz, [_desc, _i]),
    "wno_cpu_conv2d": (_i, [_desc, _p, _p, _p, _p, _p, _sz, _i]),
    "wno_cpu_conv2d_fused": (_i, [_desc, _p, _p, _p, _p, _i, _p, _p, _sz, _i]),
    "wno_cpu_conv2d_on": (_i, [_desc, _p, _p, _p, _p, _i, _p, _p, _sz, ctypes.POINTER(CpuParallel)]),
    "wno_cpu_isa": (ctypes.c_char_p, []),
    "wno_cpu_default_threads": (_i, []),
}


def declare(lib: ctypes.CDLL, signatures: Mapping[str, tuple[type | None, list[type]]] = SIGNATURES) -> ctypes.CDLL:
    """Set restype/argtypes of every function in `signatures` on `lib` (AttributeError if absent)."""
    for name, (restype, argtypes) in signatures.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = restype, argtypes
    return lib
