"""Is there a CUDA GPU, and can the CUDA kernel library load? Torch-free probes."""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

from .library import NATIVE_DIR

CUDA_LIBRARY_ENV = "WNO_EDGE_NATIVE_CUDA_LIB"  # path of libwno_winograd_cuda.so
CUDA_LIBRARY = "libwno_winograd_cuda.so"


def cuda_device_count() -> tuple[int, str]:
    """(number of CUDA GPUs, how it was found or why none): cuda-python, else libcudart."""
    try:
        from cuda.bindings import runtime as cudart

        err, count = cudart.cudaGetDeviceCount()
        if int(err) != 0:
            return 0, f"cudaGetDeviceCount: {cudart.cudaGetErrorString(err)[1].decode()}"
        return count, "cuda-python"
    except ImportError:
        pass
    except Exception as exc:  # noqa: BLE001  (no driver, broken install: report, never raise)
        return 0, f"cuda-python: {exc}"
    for name in ("libcudart.so", "libcudart.so.13", "libcudart.so.12"):
        try:
            rt = ctypes.CDLL(name)
        except OSError:
            continue
        count = ctypes.c_int(0)
        err = rt.cudaGetDeviceCount(ctypes.byref(count))
        return (count.value, name) if err == 0 else (0, f"{name}: cudaGetDeviceCount error {err}")
    return 0, "no CUDA runtime (cuda-python or libcudart) found"


def cuda_kernel_status() -> tuple[bool, str]:
    """(True, what) if libwno_winograd_cuda.so loads and a GPU is present, else (False, why)."""
    env = os.environ.get(CUDA_LIBRARY_ENV)
    path = Path(env) if env else NATIVE_DIR / CUDA_LIBRARY
    if not path.exists():
        return False, ("not compiled: build runtime/ with nvcc (cmake -DWNO_BUILD_CUDA=ON, see runtime/README.md)")
    try:
        ctypes.CDLL(str(path))
    except OSError as exc:
        return False, f"{path.name} compiled but cannot load: {exc}"
    count, how = cuda_device_count()
    if count == 0:
        return False, f"{path.name} compiled, but no CUDA GPU here ({how})"
    return True, f"{path.name}, {count} GPU(s)"
