"""The native CPU Winograd kernel as a torch op: "wno_edge::winograd_conv2d", on (N, C, H, W) with a
(K, C, 3, 3) weight, or on a line, (N, C, X) with a (K, C, 3) weight (the kernel's dims 1 path).

A torch.library.custom_op with a fake impl for tracing. It is an inference kernel; its
backward is the exact gradient of conv2d computed by PyTorch (torch.nn.grad), which the
Winograd forward equals up to rounding.
"""

from __future__ import annotations

import ctypes
import threading
import weakref

import torch
from torch import Tensor

from ..winograd import check_conv_args
from . import library
from .abi import ConvDesc
from .library import check, load

_num_threads: int | None = None


def set_num_threads(n: int | None) -> None:
    """Threads of the CPU kernel; None follows torch.get_num_threads()."""
    global _num_threads
    if n is not None and n < 1:
        raise ValueError(f"thread count must be >= 1, got {n}")
    _num_threads = n


def get_num_threads() -> int:
    return _num_threads if _num_threads is not None else torch.get_num_threads()


def _desc(x_shape, k: int, padding: int, tile: int) -> ConvDesc:
    """The kernel's descriptor of x (N, C, H, W), or of a line x (N, C, X) (dims 1, height 1)."""
    if len(x_shape) == 3:
        n, c, w = x_shape
        return ConvDesc(n, c, k, 1, w, padding, tile, 1)
    n, c, h, w = x_shape
    return ConvDesc(n, c, k, h, w, padding, tile, 2)


def _output_shape(x_shape, k: int, padding: int) -> tuple[int, ...]:
    return (x_shape[0], k, *(s + 2 * padding - 2 for s in x_shape[2:]))


# Transformed weights, reused while the weight tensor is alive and unchanged (same object,
# same version counter): the transform is done once per layer, not once per call.
_weight_cache: dict[tuple[int, int], tuple[weakref.ref, int, Tensor]] = {}


def transform_weights(weight: Tensor, tile: int) -> Tensor:
    """Packed U = G g G^T (a line's (K, C, 3) weight: G g) for the CPU kernel (an opaque float32
    buffer), cached."""
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
    desc = _desc((1, c, 3) if weight.dim() == 3 else (1, c, 3, 3), k, 1, tile)
    w = weight.detach().to(torch.float32).contiguous()
    nbytes = lib.wno_cpu_weight_size(ctypes.byref(desc))
    packed = torch.empty(nbytes // 4, dtype=torch.float32)
    check(
        lib,
        lib.wno_cpu_transform_weights(ctypes.byref(desc), w.data_ptr(), packed.data_ptr(), nbytes),
        "wno_cpu_transform_weights",
    )
    if version is not None:
        if len(_weight_cache) > 64:
            for stale in [key for key, v in _weight_cache.items() if v[0]() is None]:
                del _weight_cache[stale]
        _weight_cache[key] = (weakref.ref(weight), version, packed)
    return packed


library._on_reload.append(_weight_cache.clear)  # a new library may pack weights differently


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
    k = weight.shape[0]
    desc = _desc(x.shape, k, padding, tile)
    packed = transform_weights(weight, tile)
    threads = get_num_threads()
    y = torch.empty(_output_shape(x.shape, k, padding), dtype=torch.float32)
    workspace = _workspace(lib.wno_cpu_workspace_size(ctypes.byref(desc), threads))
    b = bias.detach().to(torch.float32).contiguous() if bias is not None else None
    status = lib.wno_cpu_conv2d(
        ctypes.byref(desc),
        x.data_ptr(),
        packed.data_ptr(),
        b.data_ptr() if b is not None else None,
        y.data_ptr(),
        workspace.data_ptr(),
        workspace.numel(),
        threads,
    )
    check(lib, status, "wno_cpu_conv2d")
    return y


@torch.library.custom_op("wno_edge::winograd_conv2d", mutates_args=(), device_types="cpu")
def winograd_conv2d_op(x: Tensor, weight: Tensor, bias: Tensor | None, padding: int, tile: int) -> Tensor:
    """3x3 (a line: 3-tap) stride-1 conv by the native CPU Winograd kernel (float32)."""
    return _conv2d_cpu(x, weight, bias, padding, tile)


@winograd_conv2d_op.register_fake
def _(x, weight, bias, padding, tile):
    return x.new_empty(_output_shape(x.shape, weight.shape[0], padding))


def _setup_context(ctx, inputs, output):
    x, weight, bias, padding, _ = inputs
    ctx.save_for_backward(x, weight)
    ctx.padding = padding
    ctx.has_bias = bias is not None


def _backward(ctx, grad):
    x, weight = ctx.saved_tensors
    line = x.dim() == 3
    conv_input = torch.nn.grad.conv1d_input if line else torch.nn.grad.conv2d_input
    conv_weight = torch.nn.grad.conv1d_weight if line else torch.nn.grad.conv2d_weight
    gx = gw = gb = None
    if ctx.needs_input_grad[0]:
        gx = conv_input(x.shape, weight, grad, padding=ctx.padding)
    if ctx.needs_input_grad[1]:
        gw = conv_weight(x, weight.shape, grad, padding=ctx.padding)
    if ctx.has_bias and ctx.needs_input_grad[2]:
        gb = grad.sum(dim=(0, *range(2, grad.dim())))
    return gx, gw, gb, None, None


winograd_conv2d_op.register_autograd(_backward, setup_context=_setup_context)


def winograd_conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, padding: int = 1, tile: int = 4) -> Tensor:
    """Checked entry to the op: CPU float32 tensors, x (N,C,H,W) and weight (K,C,3,3), or a line:
    x (N,C,X) and weight (K,C,3)."""
    check_conv_args(x, weight, padding, tile)
    tensors = [t for t in (x, weight, bias) if t is not None]
    if any(t.device.type != "cpu" or t.dtype != torch.float32 for t in tensors):
        raise ValueError(
            "the native backend runs CPU float32 tensors; use backend='torch' for "
            f"{', '.join(sorted({f'{t.device.type} {t.dtype}' for t in tensors}))}"
        )
    load()  # raises NativeUnavailable with the reason
    return winograd_conv2d_op(x, weight, bias, padding, tile)
