"""The native Winograd kernels of runtime/ from Python: ctypes loader and a torch op.

The CPU library (libwno_winograd.so, C ABI in runtime/include/wno/winograd.h) is built by
`pip install .` / `pip install -e .` into wno_edge/_native/ when CMake and a C++ compiler
are found; without it the pure-PyTorch path is used. Nothing is loaded until first use:
importing wno_edge never imports this module, importing this module loads no library.

    from wno_edge import native
    native.available()                      # (True, "libwno_winograd.so: avx512, ...")
    y = native.winograd_conv2d(x, w, b, padding=1, tile=4)   # torch op, CPU float32

The op is "wno_edge::winograd_conv2d" (torch.library.custom_op, with a fake impl for
tracing). It is an inference kernel; its backward is the exact gradient of conv2d
computed by PyTorch (torch.nn.grad), which the Winograd forward equals up to rounding.
"""
from __future__ import annotations

import ctypes
import os
import threading
import weakref
from pathlib import Path

import torch
from torch import Tensor

from .winograd import check_conv3x3_args

LIBRARY_ENV = "WNO_EDGE_NATIVE_LIB"            # path of libwno_winograd.so to use instead
CUDA_LIBRARY_ENV = "WNO_EDGE_NATIVE_CUDA_LIB"  # path of libwno_winograd_cuda.so
NATIVE_DIR = Path(__file__).resolve().with_name("_native")
CPU_LIBRARY = "libwno_winograd.so"
CUDA_LIBRARY = "libwno_winograd_cuda.so"

WNO_SUCCESS = 0


class ConvDesc(ctypes.Structure):
    """wno_conv_desc of winograd.h."""

    _fields_ = [(name, ctypes.c_int) for name in (
        "batch", "in_channels", "out_channels", "height", "width", "padding", "tile")]


class NativeUnavailable(RuntimeError):
    """The native library is not built or cannot be loaded here."""


_lock = threading.Lock()
_lib: ctypes.CDLL | None = None
_lib_path: Path | None = None
_load_error: str | None = None
_num_threads: int | None = None


def library_path() -> Path:
    """Where the CPU library is looked for: $WNO_EDGE_NATIVE_LIB, else wno_edge/_native/."""
    env = os.environ.get(LIBRARY_ENV)
    return Path(env) if env else NATIVE_DIR / CPU_LIBRARY


def _declare(lib: ctypes.CDLL) -> None:
    p, sz, i, desc = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.POINTER(ConvDesc)
    signatures = {
        "wno_abi_version": (i, []),
        "wno_status_string": (ctypes.c_char_p, [i]),
        "wno_cpu_weight_size": (sz, [desc]),
        "wno_cpu_transform_weights": (i, [desc, p, p, sz]),
        "wno_cpu_workspace_size": (sz, [desc, i]),
        "wno_cpu_conv2d": (i, [desc, p, p, p, p, p, sz, i]),
        "wno_cpu_isa": (ctypes.c_char_p, []),
        "wno_cpu_default_threads": (i, []),
    }
    for name, (restype, argtypes) in signatures.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = restype, argtypes


def load(path: str | os.PathLike | None = None) -> ctypes.CDLL:
    """The CPU library, loaded once (thread-safe). Raises NativeUnavailable with the reason.

    `path` (or $WNO_EDGE_NATIVE_LIB) replaces the library loaded so far, for tests that
    build runtime/ into build/.
    """
    global _lib, _lib_path, _load_error
    with _lock:
        target = Path(path) if path is not None else library_path()
        if _lib is not None and (path is None or target == _lib_path):
            return _lib
        if not target.exists():
            _load_error = (f"{target} not found: build it with `pip install -e .` "
                           "(needs CMake and a C++17 compiler) or see runtime/README.md")
            raise NativeUnavailable(_load_error)
        try:
            lib = ctypes.CDLL(str(target))
            _declare(lib)
        except (OSError, AttributeError) as exc:
            _load_error = f"cannot load {target}: {exc}"
            raise NativeUnavailable(_load_error) from exc
        if lib.wno_abi_version() != 1:
            _load_error = f"{target} has C ABI {lib.wno_abi_version()}, this wno_edge needs 1"
            raise NativeUnavailable(_load_error)
        _lib, _lib_path, _load_error = lib, target, None
        _weight_cache.clear()
        return lib


def available() -> tuple[bool, str]:
    """(True, what was loaded) or (False, why not)."""
    try:
        lib = load()
    except NativeUnavailable as exc:
        return False, str(exc)
    return True, (f"{_lib_path.name}: {lib.wno_cpu_isa().decode()}, "
                  f"{lib.wno_cpu_default_threads()} hardware threads, at {_lib_path.parent}")


def set_num_threads(n: int | None) -> None:
    """Threads of the CPU kernel; None follows torch.get_num_threads()."""
    global _num_threads
    if n is not None and n < 1:
        raise ValueError(f"thread count must be >= 1, got {n}")
    _num_threads = n


def get_num_threads() -> int:
    return _num_threads if _num_threads is not None else torch.get_num_threads()


def _check(lib: ctypes.CDLL, status: int, what: str) -> None:
    if status != WNO_SUCCESS:
        raise RuntimeError(f"{what} failed: {lib.wno_status_string(status).decode()}")


def _desc(x_shape, k: int, padding: int, tile: int) -> ConvDesc:
    n, c, h, w = x_shape
    return ConvDesc(n, c, k, h, w, padding, tile)


# Transformed weights, reused while the weight tensor is alive and unchanged (same object,
# same version counter): the transform is done once per layer, not once per call.
_weight_cache: dict[tuple[int, int], tuple[weakref.ref, int, Tensor]] = {}


def transform_weights(weight: Tensor, tile: int) -> Tensor:
    """Packed U = G g G^T for the CPU kernel (an opaque float32 buffer), cached."""
    lib = load()
    try:
        version = weight._version
    except RuntimeError:  # inference tensors have no version counter: do not cache
        version = None
    key = (id(weight), tile)
    hit = _weight_cache.get(key)
    if version is not None and hit and hit[0]() is weight and hit[1] == version:
        return hit[2]
    k, c = weight.shape[:2]
    desc = ConvDesc(1, c, k, 3, 3, 1, tile)
    w = weight.detach().to(torch.float32).contiguous()
    nbytes = lib.wno_cpu_weight_size(ctypes.byref(desc))
    packed = torch.empty(nbytes // 4, dtype=torch.float32)
    _check(lib, lib.wno_cpu_transform_weights(ctypes.byref(desc), w.data_ptr(), packed.data_ptr(),
                                              nbytes), "wno_cpu_transform_weights")
    if version is not None:
        if len(_weight_cache) > 64:
            for stale in [key for key, v in _weight_cache.items() if v[0]() is None]:
                del _weight_cache[stale]
        _weight_cache[key] = (weakref.ref(weight), version, packed)
    return packed


_scratch = threading.local()


def _workspace(nbytes: int) -> Tensor:
    """A per-thread scratch buffer, reused: a fresh large allocation per call would be
    page-faulted in again every time."""
    buf = getattr(_scratch, "buffer", None)
    if buf is None or buf.numel() < nbytes:
        buf = _scratch.buffer = torch.empty(nbytes, dtype=torch.uint8)
    return buf


def _conv2d_cpu(x: Tensor, weight: Tensor, bias: Tensor | None, padding: int, tile: int) -> Tensor:
    lib = load()
    x = x.contiguous()
    n, _, h, w = x.shape
    k = weight.shape[0]
    desc = _desc(x.shape, k, padding, tile)
    packed = transform_weights(weight, tile)
    threads = get_num_threads()
    y = torch.empty((n, k, h + 2 * padding - 2, w + 2 * padding - 2), dtype=torch.float32)
    workspace = _workspace(lib.wno_cpu_workspace_size(ctypes.byref(desc), threads))
    b = bias.detach().to(torch.float32).contiguous() if bias is not None else None
    status = lib.wno_cpu_conv2d(ctypes.byref(desc), x.data_ptr(), packed.data_ptr(),
                                b.data_ptr() if b is not None else None, y.data_ptr(),
                                workspace.data_ptr(), workspace.numel(), threads)
    _check(lib, status, "wno_cpu_conv2d")
    return y


@torch.library.custom_op("wno_edge::winograd_conv2d", mutates_args=(), device_types="cpu")
def winograd_conv2d_op(x: Tensor, weight: Tensor, bias: Tensor | None, padding: int,
                       tile: int) -> Tensor:
    """3x3 stride-1 conv by the native CPU Winograd kernel (float32)."""
    return _conv2d_cpu(x, weight, bias, padding, tile)


@winograd_conv2d_op.register_fake
def _(x, weight, bias, padding, tile):
    n, _, h, w = x.shape
    return x.new_empty((n, weight.shape[0], h + 2 * padding - 2, w + 2 * padding - 2))


def _setup_context(ctx, inputs, output):
    x, weight, bias, padding, _ = inputs
    ctx.save_for_backward(x, weight)
    ctx.padding = padding
    ctx.has_bias = bias is not None


def _backward(ctx, grad):
    x, weight = ctx.saved_tensors
    gx = gw = gb = None
    if ctx.needs_input_grad[0]:
        gx = torch.nn.grad.conv2d_input(x.shape, weight, grad, padding=ctx.padding)
    if ctx.needs_input_grad[1]:
        gw = torch.nn.grad.conv2d_weight(x, weight.shape, grad, padding=ctx.padding)
    if ctx.has_bias and ctx.needs_input_grad[2]:
        gb = grad.sum(dim=(0, 2, 3))
    return gx, gw, gb, None, None


winograd_conv2d_op.register_autograd(_backward, setup_context=_setup_context)


def winograd_conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, padding: int = 1,
                    tile: int = 4) -> Tensor:
    """Checked entry to the op: CPU float32 tensors, x (N,C,H,W), weight (K,C,3,3)."""
    check_conv3x3_args(x, weight, padding, tile)
    tensors = [t for t in (x, weight, bias) if t is not None]
    if any(t.device.type != "cpu" or t.dtype != torch.float32 for t in tensors):
        raise ValueError("the native backend runs CPU float32 tensors; use backend='torch' for "
                         f"{', '.join(sorted({f'{t.device.type} {t.dtype}' for t in tensors}))}")
    load()  # raises NativeUnavailable with the reason
    return winograd_conv2d_op(x, weight, bias, padding, tile)


# ---------------------------------------------------------------------- backends

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


def _cuda_kernel_status() -> tuple[bool, str]:
    env = os.environ.get(CUDA_LIBRARY_ENV)
    path = Path(env) if env else NATIVE_DIR / CUDA_LIBRARY
    if not path.exists():
        return False, ("not compiled: build runtime/ with nvcc (cmake -DWNO_BUILD_CUDA=ON, "
                       "see runtime/README.md)")
    try:
        ctypes.CDLL(str(path))
    except OSError as exc:
        return False, f"{path.name} compiled but cannot load: {exc}"
    count, how = cuda_device_count()
    if count == 0:
        return False, f"{path.name} compiled, but no CUDA GPU here ({how})"
    return True, f"{path.name}, {count} GPU(s)"


def _tensorrt_plugin_status() -> tuple[bool, str]:
    from .errors import WNOEdgeError
    from .tensorrt_plugin import find_plugin_library

    try:
        path = find_plugin_library()
    except WNOEdgeError as exc:
        return False, f"not built: {exc}"
    try:
        import tensorrt
    except ImportError:
        return False, f"{path.name} built, but TensorRT is not installed"
    return True, f"{path} (TensorRT {tensorrt.__version__})"


def backends_report() -> list[tuple[str, bool, str]]:
    """[(backend, available, reason)] for `wno-edge info --backends`."""
    cpu_ok, cpu_reason = available()
    return [
        ("torch", True, f"PyTorch {torch.__version__} (reference path, any device)"),
        ("cpu-kernel", cpu_ok, cpu_reason),
        ("cuda-kernel", *_cuda_kernel_status()),
        ("tensorrt-plugin", *_tensorrt_plugin_status()),
    ]
