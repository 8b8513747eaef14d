"""The native CPU Winograd kernel (runtime/src/cpu) against F.conv2d, F.conv1d (its 1-D path,
desc.dims 1) and the golden vectors.

Built from source by the session fixture (tests/native_build.py); every ISA path the
machine supports is run (AVX-512, AVX2, generic), and an aarch64 build is compiled, and
run under qemu where the cross toolchain and qemu-user are installed.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from golden import U_FP32, assert_within_bound, load_cases, relative_error, winograd_error_bound
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from native_build import (
    AARCH64_BUILD,
    AARCH64_OPTIONS,
    ROOT,
    RUNTIME,
    build_native,
    build_sanitized_check,
    cmake_build,
    run_sanitized_check,
)

from wno_edge import native
from wno_edge.native.abi import PARALLEL_FOR, ConvDesc, CpuParallel, declare
from wno_edge.native.library import CPU_LIBRARY
from wno_edge.reports.backends import backends_report
from wno_edge.winograd import winograd_conv2d

# float32, C = 64, N(0,1) data: max |y - y64| / max |y64|, the golden vectors' tolerances.
TOL_C64 = {2: 1e-6, 4: 5e-6, 6: 2e-5}
# Any shape up to C = 40 (hypothesis): the same bounds with headroom for ragged tiles.
TOL_ANY = {2: 2e-6, 4: 1e-5, 6: 4e-5}


@pytest.fixture(scope="module")
def build_dir() -> Path:
    return build_native()


@pytest.fixture(scope="module")
def lib(build_dir):
    return native.load(build_dir / CPU_LIBRARY)


def reference(x, w, b, padding):
    conv = F.conv1d if x.dim() == 3 else F.conv2d
    return conv(x.double(), w.double(), None if b is None else b.double(), padding=padding)


def rel_err(y, ref):
    return ((y.double() - ref).abs().max() / ref.abs().max()).item()


def random_conv(seed, n, c, k, h, w):
    """x (N, C, H, W), weight (K, C, 3, 3), bias; h None: a 1-D conv, x (N, C, W), weight (K, C, 3)."""
    g = torch.Generator().manual_seed(seed)
    grid, taps = ((w,), (3,)) if h is None else ((h, w), (3, 3))
    return (torch.randn(n, c, *grid, generator=g), torch.randn(k, c, *taps, generator=g), torch.randn(k, generator=g))


# ------------------------------------------------------------------ accuracy


@pytest.mark.parametrize("name,case", load_cases(), ids=[n for n, _ in load_cases()])
def test_golden_vectors(lib, name, case):
    x, w, b = (torch.from_numpy(case[key]).float() for key in ("x", "weight", "bias"))
    if x.dim() == 3:  # a line: the C ABI with desc.dims 1 (the torch op is 2-D only)
        y = torch.from_numpy(_run_raw(lib, *(t.numpy() for t in (x, w, b)), case["padding"], case["tile"]))
    else:
        y = native.winograd_conv2d(x, w, b, padding=case["padding"], tile=case["tile"])
    assert relative_error(y.numpy(), case["y"]) <= case["tolerance"], name


@pytest.mark.parametrize("tile", [2, 4, 6])
@pytest.mark.parametrize("padding", [0, 1])
def test_matches_conv2d_c64(lib, tile, padding):
    x, w, b = random_conv(tile + 10 * padding, 2, 64, 64, 37, 30)
    y = native.winograd_conv2d(x, w, b, padding=padding, tile=tile)
    ref = reference(x, w, b, padding)
    assert y.shape == ref.shape and y.dtype == torch.float32
    assert rel_err(y, ref) <= TOL_C64[tile]
    # The native kernel is as accurate as the PyTorch Winograd path.
    y_torch = winograd_conv2d(x, w, b, padding=padding, tile=tile)
    assert rel_err(y, ref) <= 2 * max(rel_err(y_torch, ref), 1e-7)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    n=st.integers(1, 3),
    c=st.integers(1, 40),
    k=st.integers(1, 40),
    h=st.integers(1, 40),
    w=st.integers(1, 40),
    padding=st.sampled_from([0, 1]),
    tile=st.sampled_from([2, 4, 6]),
    threads=st.integers(1, 3),
    bias=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_property_any_shape(lib, n, c, k, h, w, padding, tile, threads, bias, seed):
    if h + 2 * padding < 3 or w + 2 * padding < 3:
        with pytest.raises(ValueError):
            native.winograd_conv2d(torch.zeros(n, c, h, w), torch.zeros(k, c, 3, 3), padding=padding)
        return
    x, wt, b = random_conv(seed, n, c, k, h, w)
    b = b if bias else None
    native.set_num_threads(threads)
    try:
        y = native.winograd_conv2d(x, wt, b, padding=padding, tile=tile)
        native.set_num_threads(1)
        y1 = native.winograd_conv2d(x, wt, b, padding=padding, tile=tile)
    finally:
        native.set_num_threads(None)
    assert torch.equal(y, y1)  # blocks are independent: threads never change a bit
    ref = reference(x, wt, b, padding).numpy()
    args = (x.numpy(), wt.numpy(), None if b is None else b.numpy(), padding, tile)
    assert_within_bound(y.numpy(), ref, winograd_error_bound(*args, U_FP32))


def test_noncontiguous_input_and_no_bias(lib):
    x, w, _ = random_conv(3, 2, 8, 5, 20, 17)
    xt = x.transpose(2, 3)  # a strided view
    y = native.winograd_conv2d(xt, w, None, padding=1, tile=4)
    assert rel_err(y, reference(xt, w, None, 1)) <= TOL_ANY[4]


def test_edge_tiles_and_thread_counts_agree(lib):
    # Many blocks, a ragged last block and ragged tiles: every thread count, same bits.
    x, w, b = random_conv(5, 3, 20, 24, 61, 45)
    outs = []
    for threads in (1, 2, 3, 8):
        native.set_num_threads(threads)
        outs.append(native.winograd_conv2d(x, w, b, padding=1, tile=6))
    native.set_num_threads(None)
    assert all(torch.equal(outs[0], o) for o in outs[1:])
    assert rel_err(outs[0], reference(x, w, b, 1)) <= TOL_ANY[6]


# ------------------------------------------------------------------ every ISA path


def _isa_library(build_dir: Path, isa: str, tmp: Path) -> ctypes.CDLL:
    """A private copy of the library (its own static ISA choice) loaded with $WNO_CPU_ISA."""
    copy = tmp / f"libwno_winograd_{isa}.so"
    shutil.copy(build_dir / CPU_LIBRARY, copy)
    old = os.environ.get("WNO_CPU_ISA")
    os.environ["WNO_CPU_ISA"] = isa
    try:
        lib = ctypes.CDLL(str(copy))
        declare(lib)
        lib.wno_cpu_isa()  # fixes the choice while the variable is set
    finally:
        if old is None:
            del os.environ["WNO_CPU_ISA"]
        else:
            os.environ["WNO_CPU_ISA"] = old
    return lib


def _run_raw(lib, x, w, b, padding, tile, threads=2):
    """wno_cpu_conv2d straight from numpy: transform, workspace, run."""
    return _run_c_abi(lib, x, w, b, padding, tile, threads)


def _conv_desc(x_shape, k, padding, tile):
    """wno_conv_desc of x (N, C, H, W), or of a line x (N, C, W): dims 1, height 1."""
    if len(x_shape) == 3:
        n, c, w = x_shape
        return ConvDesc(n, c, k, 1, w, padding, tile, 1)
    n, c, h, w = x_shape
    return ConvDesc(n, c, k, h, w, padding, tile, 2)


def _out_shape(x_shape, k, padding):
    return (x_shape[0], k, *(size + 2 * padding - 2 for size in x_shape[2:]))


def _run_c_abi(lib, x, w, b, padding, tile, threads, fused=None, workspace=True, on=None):
    """The C ABI from numpy: wno_cpu_conv2d, or with fused=(addend, act) wno_cpu_conv2d_fused,
    or with on=CpuParallel (its num_threads: threads) wno_cpu_conv2d_on. x (N, C, W): dims 1."""
    k = w.shape[0]
    d = _conv_desc(x.shape, k, padding, tile)
    u = np.empty(lib.wno_cpu_weight_size(ctypes.byref(d)) // 4, np.float32)
    assert lib.wno_cpu_transform_weights(ctypes.byref(d), w.ctypes.data, u.ctypes.data, u.nbytes) == 0
    ws = np.empty(lib.wno_cpu_workspace_size(ctypes.byref(d), threads), np.uint8)
    y = np.full(_out_shape(x.shape, k, padding), np.nan, np.float32)
    head = (ctypes.byref(d), x.ctypes.data, u.ctypes.data, None if b is None else b.ctypes.data)
    tail = (y.ctypes.data, ws.ctypes.data if workspace else None, ws.nbytes if workspace else 0, threads)
    if on is not None:
        addend, act = fused or (None, 0)
        status = lib.wno_cpu_conv2d_on(
            *head, None if addend is None else addend.ctypes.data, act, *tail[:3], ctypes.byref(on)
        )
    elif fused is None:
        status = lib.wno_cpu_conv2d(*head, *tail)
    else:
        addend, act = fused
        status = lib.wno_cpu_conv2d_fused(*head, None if addend is None else addend.ctypes.data, act, *tail)
    assert status == 0, lib.wno_status_string(status)
    return y


def _cpu_has(flag: str) -> bool:
    try:
        return flag in Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False


def _isa_library_or_skip(build_dir: Path, isa: str, tmp: Path) -> ctypes.CDLL:
    """_isa_library, or a skip where this machine cannot run that ISA."""
    import platform

    if platform.machine() not in ("x86_64", "AMD64") and isa != "generic":
        pytest.skip("x86 ISA")
    if (isa == "avx2" and not _cpu_has("avx2")) or (isa == "avx512" and not _cpu_has("avx512f")):
        pytest.skip(f"this CPU has no {isa}")
    lib = _isa_library(build_dir, isa, tmp)
    assert lib.wno_cpu_isa().decode() == isa
    return lib


@pytest.mark.parametrize("isa", ["generic", "avx2", "avx512"])
def test_every_isa_path(build_dir, tmp_path, isa):
    lib = _isa_library_or_skip(build_dir, isa, tmp_path)
    for tile in (2, 4, 6):
        for padding in (0, 1):
            x, w, b = (t.numpy() for t in random_conv(tile, 2, 13, 11, 29, 38))
            y = _run_raw(lib, x, w, b, padding, tile)
            ref = reference(*(torch.from_numpy(t) for t in (x, w, b)), padding)
            assert rel_err(torch.from_numpy(y), ref) <= TOL_ANY[tile], (isa, tile, padding)
            x, w, b, addend = _fused_case(tile + 20, 2, 13, 11, 29, 38, padding)
            outs = [_run_fused(lib, x, w, b, addend, ACT_GELU, padding, tile, t) for t in (1, 2, 3)]
            assert all(np.array_equal(outs[0], o) for o in outs[1:]), (isa, tile, padding)
            _check_fused(outs[0], x, w, b, addend, ACT_GELU, padding, tile)


@pytest.mark.heavy
@pytest.mark.parametrize("isa", ["generic", "avx2", "avx512"])
def test_every_isa_under_sanitizers(isa):
    """AddressSanitizer + UBSan over fixed and random shapes (runtime/tests/conv_check.cpp):
    no access outside x, y, weights or workspace, no undefined behaviour, right values."""
    if isa != "generic" and not _cpu_has({"avx2": "avx2", "avx512": "avx512f"}[isa]):
        pytest.skip(f"this CPU has no {isa}")
    out = run_sanitized_check("cpu", WNO_CPU_ISA=isa)
    assert f"isa {isa}" in out or isa == "generic"


# ------------------------------------------------------------------ fused epilogue

ACT_NONE, ACT_GELU = 0, 1


def _run_fused(lib, x, w, b, addend, act, padding, tile, threads, workspace=True):
    """wno_cpu_conv2d_fused straight from numpy: y = act(conv(x, w) + b + addend)."""
    return _run_c_abi(lib, x, w, b, padding, tile, threads, fused=(addend, act), workspace=workspace)


def _fused_reference(x, w, b, addend, act, padding):
    """float64 conv + bias + addend, then torch's float32 F.gelu (the function users compare to)."""
    t = torch.from_numpy
    pre = reference(t(x), t(w), None if b is None else t(b), padding)
    if addend is not None:
        pre = pre + t(addend).double()
    return pre, (F.gelu(pre.float()).double() if act == ACT_GELU else pre)


def _fused_case(seed, n, c, k, h, w, padding, with_bias=True, with_addend=True):
    """x, weight, bias, addend of a 2-D conv, or of a 1-D one with h None."""
    x, wt, b = (t.numpy() for t in random_conv(seed, n, c, k, h, w))
    shape = _out_shape(x.shape, k, padding)
    addend = np.random.default_rng(seed).standard_normal(shape).astype(np.float32) if with_addend else None
    return x, wt, b if with_bias else None, addend


def _check_fused(y, x, w, b, addend, act, padding, tile):
    pre, ref = _fused_reference(x, w, b, addend, act, padding)
    scale = pre.abs().max().item()
    # The conv's own Winograd error (relative to its scale), then GELU (Lipschitz ~1.13) on top,
    # plus GELU's float32 rounding: torch's F.gelu and ours differ by ~1e-7 of the scale.
    err = (torch.from_numpy(y).double() - ref).abs().max().item() / scale
    assert err <= 1.2 * TOL_ANY[tile] + 1e-6, (tile, act, err)


def test_conv_on_a_callers_pool_matches_the_librarys_own(lib):
    """wno_cpu_conv2d_on hands every task to the caller's parallel_for (here Python: serial,
    in reverse order, workers round robin); the output is the library's own pool's, bit for
    bit, for whole-block and split (channel-group) plans alike."""
    threads, calls = 3, []

    def parallel_for(pool, n, task, ctx):
        calls.append(n)
        for t in reversed(range(n)):
            task(ctx, t, t % threads)

    par = CpuParallel(PARALLEL_FOR(parallel_for), None, threads)
    regions = set()  # parallel-fors per call: 1 for whole blocks, 2 for a split plan
    for tile in (2, 4, 6):
        for shape in (
            (1, 32, 32, 66, 66, 1),
            (3, 7, 5, 29, 38, 1),
            (1, 9, 10, 20, 20, 1),
            (3, 7, 5, None, 300, 1),  # lines: whole blocks
            (1, 9, 10, None, 20, 0),  # and a split plan
        ):
            x, w, b, addend = _fused_case(tile, *shape)
            before = len(calls)
            y_on = _run_c_abi(lib, x, w, b, shape[-1], tile, threads, fused=(addend, ACT_GELU), on=par)
            regions.add(len(calls) - before)
            y_own = _run_c_abi(lib, x, w, b, shape[-1], tile, threads, fused=(addend, ACT_GELU))
            assert np.array_equal(y_on, y_own), (tile, shape)
    assert regions == {1, 2}
    d = ConvDesc(1, 1, 1, 4, 4, 1, 4)
    for bad in (None, CpuParallel(PARALLEL_FOR(parallel_for), None, 0), CpuParallel()):
        assert (
            lib.wno_cpu_conv2d_on(
                ctypes.byref(d),
                x.ctypes.data,
                x.ctypes.data,
                None,
                None,
                0,
                x.ctypes.data,
                None,
                0,
                None if bad is None else ctypes.byref(bad),
            )
            == 1
        )


@pytest.mark.parametrize("tile", [2, 4, 6])
@pytest.mark.parametrize("act", [ACT_NONE, ACT_GELU])
@pytest.mark.parametrize("with_addend", [False, True])
def test_fused_matches_conv_bias_addend_gelu(lib, tile, act, with_addend):
    for n, c, k, h, w, padding in (
        (1, 32, 32, 66, 66, 1),
        (3, 7, 5, 29, 38, 1),
        (2, 13, 11, 17, 23, 0),
        (1, 3, 9, 5, 4, 1),
    ):
        x, wt, b, addend = _fused_case(tile + n + h, n, c, k, h, w, padding, with_addend=with_addend)
        outs = [_run_fused(lib, x, wt, b, addend, act, padding, tile, threads) for threads in (1, 2, 3)]
        for y in outs[1:]:
            np.testing.assert_array_equal(y, outs[0])  # threads never change a bit
        _check_fused(outs[0], x, wt, b, addend, act, padding, tile)


def test_fused_plain_equals_conv2d(lib):
    # wno_cpu_conv2d is the fused entry with no addend and no activation: the same bits.
    x, w, b, _ = _fused_case(11, 2, 9, 10, 31, 27, 1, with_addend=False)
    for tile in (2, 4, 6):
        np.testing.assert_array_equal(
            _run_fused(lib, x, w, b, None, ACT_NONE, 1, tile, 2), _run_raw(lib, x, w, b, 1, tile, threads=2)
        )
    # No bias, the call's own workspace.
    y = _run_fused(lib, x, w, None, None, ACT_GELU, 1, 4, 2, workspace=False)
    _check_fused(y, x, w, None, None, ACT_GELU, 1, 4)


@pytest.mark.parametrize("h", [21, None], ids=["2d", "line"])
def test_fused_addend_may_alias_output(lib, h):
    x, w, b, addend = _fused_case(12, 2, 6, 7, h, 19, 1)
    want = _run_fused(lib, x, w, b, addend, ACT_GELU, 1, 4, 2)
    d = _conv_desc(x.shape, 7, 1, 4)
    u = np.empty(lib.wno_cpu_weight_size(ctypes.byref(d)) // 4, np.float32)
    lib.wno_cpu_transform_weights(ctypes.byref(d), w.ctypes.data, u.ctypes.data, u.nbytes)
    y = addend.copy()  # y += conv, in place: the WNO layer's residual sum
    assert (
        lib.wno_cpu_conv2d_fused(
            ctypes.byref(d),
            x.ctypes.data,
            u.ctypes.data,
            b.ctypes.data,
            y.ctypes.data,
            ACT_GELU,
            y.ctypes.data,
            None,
            0,
            2,
        )
        == 0
    )
    np.testing.assert_array_equal(y, want)


def test_fused_gelu_matches_torch_gelu(lib):
    # The epilogue alone: GELU of the same conv bits (fused ACT_NONE) vs F.gelu, over the whole
    # range where erf is not yet +-1 in float (|x| <= 8), to ~1e-7 of max(|value|, 1).
    xs = np.linspace(-8, 8, 8 * 9 * 401, dtype=np.float32).reshape(1, 1, 72, 401)
    w = np.zeros((1, 1, 3, 3), np.float32)
    w[0, 0, 1, 1] = 1  # passes x through, up to the transforms' rounding
    for tile in (2, 4, 6):
        pre = torch.from_numpy(_run_fused(lib, xs, w, None, None, ACT_NONE, 1, tile, 2))
        y = torch.from_numpy(_run_fused(lib, xs, w, None, None, ACT_GELU, 1, tile, 2))
        # Exact GELU: measured 1.6e-7. torch's float32 F.gelu is itself 1.0e-6 off exact at x = -3.48.
        for want, tol in ((F.gelu(pre.double()), 5e-7), (F.gelu(pre).double(), 2e-6)):
            err = ((y.double() - want).abs() / want.abs().clamp(min=1)).max().item()
            assert err <= tol, (tile, err)


def test_fused_rejects_bad_activation(lib):
    x, w, _, _ = _fused_case(13, 1, 2, 3, 8, 8, 1, with_addend=False)
    d = ConvDesc(1, 2, 3, 8, 8, 1, 4)
    u = np.empty(lib.wno_cpu_weight_size(ctypes.byref(d)) // 4, np.float32)
    lib.wno_cpu_transform_weights(ctypes.byref(d), w.ctypes.data, u.ctypes.data, u.nbytes)
    y = np.zeros((1, 3, 8, 8), np.float32)
    assert (
        lib.wno_cpu_conv2d_fused(
            ctypes.byref(d), x.ctypes.data, u.ctypes.data, None, None, 2, y.ctypes.data, None, 0, 1
        )
        == 1
    )  # WNO_ERROR_INVALID_ARGUMENT
    assert (
        lib.wno_cpu_conv2d_fused(ctypes.byref(d), None, u.ctypes.data, None, None, ACT_GELU, y.ctypes.data, None, 0, 1)
        == 1
    )


FUSED_UNDER_SANITIZERS = r"""
# The fused entry (addend, GELU, 1 and 3 threads) of the ASan + UBSan library, on exact-size
# numpy buffers: an access outside x, y, addend, weights or workspace aborts.
import ctypes, math, sys
import numpy as np
from wno_edge.native.abi import PARALLEL_FOR, ConvDesc, CpuParallel, declare
lib = declare(ctypes.CDLL(sys.argv[1]))
erf = np.vectorize(math.erf)
rng = np.random.default_rng(0)
worst = 0.0
shapes = ((1, 9, 7, 33, 31, 1), (2, 5, 6, 17, 23, 0), (1, 3, 5, 66, 66, 1), (1, 2, 3, 4, 3, 1))
lines = ((3, 5, 6, None, 70, 1), (9, 3, 5, None, 4, 0), (1, 2, 3, None, 1, 1))  # dims 1: x (N, C, W)
for n, c, k, h, w, pad in shapes + lines:
    grid, taps = ((w,), (3,)) if h is None else ((h, w), (3, 3))
    x = rng.standard_normal((n, c, *grid), dtype=np.float32)
    wt = rng.standard_normal((k, c, *taps), dtype=np.float32)
    b = rng.standard_normal(k, dtype=np.float32)
    out = (n, k, *(size + 2 * pad - 2 for size in grid))
    add = rng.standard_normal(out, dtype=np.float32)
    for tile in (2, 4, 6):
        d = ConvDesc(n, c, k, 1, w, pad, tile, 1) if h is None else ConvDesc(n, c, k, h, w, pad, tile)
        u = np.empty(lib.wno_cpu_weight_size(ctypes.byref(d)) // 4, np.float32)
        assert lib.wno_cpu_transform_weights(ctypes.byref(d), wt.ctypes.data, u.ctypes.data, u.nbytes) == 0
        for threads in (1, 3):
            ws = np.empty(lib.wno_cpu_workspace_size(ctypes.byref(d), threads), np.uint8)
            plain = np.empty(out, np.float32)
            y = np.empty(out, np.float32)
            assert lib.wno_cpu_conv2d(ctypes.byref(d), x.ctypes.data, u.ctypes.data, b.ctypes.data,
                                      plain.ctypes.data, ws.ctypes.data, ws.nbytes, threads) == 0
            assert lib.wno_cpu_conv2d_fused(ctypes.byref(d), x.ctypes.data, u.ctypes.data, b.ctypes.data,
                                            add.ctypes.data, 1, y.ctypes.data, ws.ctypes.data, ws.nbytes,
                                            threads) == 0
            pre = plain.astype(np.float64) + add
            want = 0.5 * pre * (1 + erf(pre / math.sqrt(2)))
            worst = max(worst, float(np.abs(y - want).max() / np.abs(pre).max()))
print("isa", lib.wno_cpu_isa().decode(), "max error", worst)
assert worst < 1e-5, worst
"""


def _asan_runtime(build: Path) -> str | None:
    """The libasan the sanitizer build links, to LD_PRELOAD into Python (None if not found)."""
    cache = (build / "CMakeCache.txt").read_text()
    cxx = next((ln.split("=", 1)[1] for ln in cache.splitlines() if ln.startswith("CMAKE_CXX_COMPILER:")), "c++")
    out = subprocess.run([cxx, "-print-file-name=libasan.so"], capture_output=True, text=True, check=False)
    path = out.stdout.strip()
    return path if out.returncode == 0 and os.path.isabs(path) and os.path.exists(path) else None


@pytest.mark.heavy
@pytest.mark.parametrize("isa", ["generic", "avx2", "avx512"])
def test_fused_under_sanitizers(isa):
    """wno_cpu_conv2d_fused (addend + GELU, 1 and 3 threads, 2-D and 1-D) under AddressSanitizer and UBSan."""
    if isa != "generic" and not _cpu_has({"avx2": "avx2", "avx512": "avx512f"}[isa]):
        pytest.skip(f"this CPU has no {isa}")
    build = build_sanitized_check().parent
    asan = _asan_runtime(build)
    if asan is None:
        pytest.skip("cannot find the compiler's libasan.so to preload")
    run = subprocess.run(
        [sys.executable, "-c", FUSED_UNDER_SANITIZERS, str(build / CPU_LIBRARY)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={
            **os.environ,
            "LD_PRELOAD": asan,
            "ASAN_OPTIONS": "detect_leaks=0",
            "WNO_CPU_ISA": isa,
            "PYTHONPATH": str(ROOT),
        },
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    assert f"isa {isa}" in run.stdout


# ------------------------------------------------------------------ 1-D path (desc.dims 1)

# n, c, k, w of lines: one output, ragged last tiles, blocks spanning lines (many segments),
# C and K off the 4-row panel, a long line (several blocks).
LINE_SHAPES = ((1, 1, 1, 1), (2, 13, 11, 38), (3, 7, 5, 200), (9, 3, 9, 4), (1, 64, 64, 1024), (4, 5, 6, 3))


@pytest.mark.parametrize("isa", ["generic", "avx2", "avx512"])
def test_line_matches_conv1d_every_isa(build_dir, tmp_path, isa):
    lib = _isa_library_or_skip(build_dir, isa, tmp_path)
    for tile in (2, 4, 6):
        for padding in (0, 1):
            for n, c, k, w in LINE_SHAPES:
                if w + 2 * padding < 3:
                    continue
                x, wt, b, addend = _fused_case(tile + w, n, c, k, None, w, padding)
                y = _run_raw(lib, x, wt, b, padding, tile)
                ref = reference(*(torch.from_numpy(t) for t in (x, wt, b)), padding)
                assert y.shape == tuple(ref.shape)
                assert rel_err(torch.from_numpy(y), ref) <= TOL_ANY[tile], (isa, tile, padding, n, c, k, w)
                outs = [_run_fused(lib, x, wt, b, addend, ACT_GELU, padding, tile, t) for t in (1, 2, 3, 8)]
                assert all(np.array_equal(outs[0], o) for o in outs[1:]), (isa, tile, padding, n, c, k, w)
                _check_fused(outs[0], x, wt, b, addend, ACT_GELU, padding, tile)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    n=st.integers(1, 4),
    c=st.integers(1, 40),
    k=st.integers(1, 40),
    w=st.integers(1, 300),
    padding=st.sampled_from([0, 1]),
    tile=st.sampled_from([2, 4, 6]),
    threads=st.integers(2, 8),
    with_bias=st.booleans(),
    with_addend=st.booleans(),
    act=st.sampled_from([ACT_NONE, ACT_GELU]),
    seed=st.integers(0, 2**16),
)
def test_line_property_any_shape(lib, n, c, k, w, padding, tile, threads, with_bias, with_addend, act, seed):
    if w + 2 * padding < 3:  # no output: refused, like a 2-D conv without one
        d = _conv_desc((n, c, w), k, padding, tile)
        assert lib.wno_cpu_weight_size(ctypes.byref(d)) == 0 == lib.wno_cpu_workspace_size(ctypes.byref(d), 1)
        return
    x, wt, b, addend = _fused_case(seed, n, c, k, None, w, padding, with_bias, with_addend)
    y = _run_fused(lib, x, wt, b, addend, act, padding, tile, threads)
    assert np.array_equal(y, _run_fused(lib, x, wt, b, addend, act, padding, tile, 1))  # threads change no bit
    _check_fused(y, x, wt, b, addend, act, padding, tile)


def test_line_refuses_bad_descriptors(lib):
    """dims other than 0, 1, 2 and a line whose height is not 1 are invalid arguments at every entry."""
    x = np.zeros((1, 2, 3, 8), np.float32)
    w = np.zeros((3, 2, 3, 3), np.float32)
    y = np.zeros((1, 3, 3, 8), np.float32)
    u = np.zeros(4096, np.float32)
    par = CpuParallel(PARALLEL_FOR(lambda pool, n, task, ctx: None), None, 1)
    for bad in (
        ConvDesc(1, 2, 3, 1, 8, 1, 4, 3),
        ConvDesc(1, 2, 3, 1, 8, 1, 4, -1),
        ConvDesc(1, 2, 3, 3, 8, 1, 4, 1),
        ConvDesc(1, 2, 3, 0, 8, 1, 4, 1),
        ConvDesc(1, 2, 3, 1, 1, 0, 4, 1),
    ):
        d = ctypes.byref(bad)
        assert lib.wno_cpu_weight_size(d) == 0 == lib.wno_cpu_workspace_size(d, 2)
        assert lib.wno_cpu_transform_weights(d, w.ctypes.data, u.ctypes.data, u.nbytes) == 1
        assert lib.wno_cpu_conv2d(d, x.ctypes.data, u.ctypes.data, None, y.ctypes.data, None, 0, 1) == 1
        args = (d, x.ctypes.data, u.ctypes.data, None, None, ACT_NONE, y.ctypes.data, None, 0)
        assert lib.wno_cpu_conv2d_fused(*args, 1) == 1
        assert lib.wno_cpu_conv2d_on(*args, ctypes.byref(par)) == 1
    assert not y.any()
    assert lib.wno_status_string(1).decode() == "invalid argument"


# ------------------------------------------------------------------ C ABI contract


def test_c_abi_rejects_bad_arguments(lib):
    x = np.zeros((1, 2, 8, 8), np.float32)
    w = np.zeros((3, 2, 3, 3), np.float32)
    y = np.zeros((1, 3, 8, 8), np.float32)
    good = ConvDesc(1, 2, 3, 8, 8, 1, 4)
    u = np.zeros(lib.wno_cpu_weight_size(ctypes.byref(good)) // 4 + 1, np.float32)
    assert lib.wno_cpu_transform_weights(ctypes.byref(good), w.ctypes.data, u.ctypes.data, u.nbytes) == 0
    for bad in (
        ConvDesc(1, 2, 3, 8, 8, 1, 3),
        ConvDesc(1, 2, 3, 8, 8, 2, 4),
        ConvDesc(0, 2, 3, 8, 8, 1, 4),
        ConvDesc(1, 2, 3, 1, 1, 0, 4),
        ConvDesc(1, -2, 3, 8, 8, 1, 4),
    ):
        assert lib.wno_cpu_weight_size(ctypes.byref(bad)) == 0
        assert (
            lib.wno_cpu_conv2d(ctypes.byref(bad), x.ctypes.data, u.ctypes.data, None, y.ctypes.data, None, 0, 1) == 1
        )  # WNO_ERROR_INVALID_ARGUMENT
    assert lib.wno_cpu_conv2d(ctypes.byref(good), None, u.ctypes.data, None, y.ctypes.data, None, 0, 1) == 1
    assert lib.wno_cpu_transform_weights(ctypes.byref(good), w.ctypes.data, u.ctypes.data, 4) == 2
    ws = np.zeros(8, np.uint8)
    assert (
        lib.wno_cpu_conv2d(
            ctypes.byref(good), x.ctypes.data, u.ctypes.data, None, y.ctypes.data, ws.ctypes.data, ws.nbytes, 1
        )
        == 2
    )  # WNO_ERROR_WORKSPACE_TOO_SMALL
    # NULL workspace: the call allocates its own.
    assert lib.wno_cpu_conv2d(ctypes.byref(good), x.ctypes.data, u.ctypes.data, None, y.ctypes.data, None, 0, 0) == 0
    assert lib.wno_status_string(2).decode() == "workspace too small"
    h, w_ = ctypes.c_int(), ctypes.c_int()
    lib.wno_conv_output_size.argtypes = [ctypes.POINTER(ConvDesc), ctypes.c_void_p, ctypes.c_void_p]
    assert (
        lib.wno_conv_output_size(ctypes.byref(ConvDesc(1, 2, 3, 10, 7, 0, 2)), ctypes.byref(h), ctypes.byref(w_)) == 0
    )
    assert (h.value, w_.value) == (8, 5)


# ------------------------------------------------------------------ torch op


def test_custom_op_opcheck(lib):
    x, w, b = random_conv(1, 2, 5, 6, 11, 9)
    for args in ((x, w, b, 1, 4), (x, w, None, 0, 2)):
        torch.library.opcheck(
            native.winograd_conv2d_op, args, test_utils=("test_schema", "test_autograd_registration", "test_faketensor")
        )


def test_backward_is_conv2d_gradient(lib):
    x, w, b = random_conv(2, 2, 4, 3, 10, 12)
    leaves = [t.clone().requires_grad_() for t in (x, w, b)]
    ref_leaves = [t.clone().requires_grad_() for t in (x, w, b)]
    g = torch.randn(2, 3, 10, 12)
    (native.winograd_conv2d(*leaves, padding=1, tile=4) * g).sum().backward()
    (F.conv2d(*ref_leaves, padding=1) * g).sum().backward()
    for a, r in zip(leaves, ref_leaves, strict=False):
        torch.testing.assert_close(a.grad, r.grad, rtol=1e-5, atol=1e-5)


def test_weight_cache_follows_in_place_updates(lib):
    x, w, b = random_conv(4, 1, 3, 3, 9, 9)
    y0 = native.winograd_conv2d(x, w, b, tile=2)
    with torch.no_grad():
        w.mul_(2.0)  # bumps the version counter: the cached transform must not be reused
    y1 = native.winograd_conv2d(x, w, b, tile=2)
    assert rel_err(y1, reference(x, w, b, 1)) <= TOL_ANY[2]
    assert not torch.allclose(y0, y1)


def test_backend_argument(lib):
    from wno_edge import WNO2d, WNOEdgeError

    x, w, b = random_conv(6, 1, 4, 4, 12, 12)
    torch.testing.assert_close(native.winograd_conv2d(x, w, b), winograd_conv2d(x, w, b), rtol=1e-5, atol=1e-5)
    with pytest.raises(WNOEdgeError, match="backend"):
        WNO2d(in_channels=1, out_channels=1, width=4, modes=(2, 2), n_layers=1).set_conv(4, backend="cudnn")
    with pytest.raises(ValueError, match="CPU float32"):
        native.winograd_conv2d(x.double(), w.double(), b.double())


def test_backends_report(lib):
    rows = backends_report()
    names = [r[0] for r in rows]
    assert names == ["torch", "cpu-kernel", "native-engine", "cuda-kernel", "tensorrt-plugin"]
    assert all(isinstance(ok, bool) and isinstance(why, str) and why for _, ok, why in rows)
    assert {name: ok for name, ok, _ in rows}["cpu-kernel"] is True


def test_unavailable_library_reports_why(tmp_path, monkeypatch):
    monkeypatch.setenv(native.LIBRARY_ENV, str(tmp_path / "missing.so"))
    from wno_edge.native import library

    monkeypatch.setattr(library, "_lib", None)
    ok, why = native.available()
    assert not ok and "missing.so" in why


# ------------------------------------------------------------------ aarch64 (NEON)

AARCH64_CXX = shutil.which("aarch64-linux-gnu-g++")
QEMU = shutil.which("qemu-aarch64")


@pytest.mark.heavy
@pytest.mark.skipif(AARCH64_CXX is None, reason="no aarch64-linux-gnu-g++ (apt install g++-aarch64-linux-gnu)")
def test_aarch64_build():
    """The NEON build compiles warning-free; under qemu-aarch64 it computes the conv.

    runtime/tests/conv_stdio.cpp (the C ABI over stdin/stdout) with the CPU kernel linked in,
    statically, cross-built by CMake with runtime/cmake/aarch64-linux-gnu.cmake."""
    build, _ = cmake_build(
        AARCH64_BUILD,
        RUNTIME,
        AARCH64_OPTIONS,
        ["wno_conv_stdio"],
        "aarch64 cross build",
    )
    exe = build / "wno_conv_stdio"
    if QEMU is None:
        pytest.skip("compiled for aarch64; no qemu-aarch64 to run it (apt install qemu-user)")
    x, w, b = (t.numpy() for t in random_conv(9, 2, 7, 6, 19, 23))
    for tile in (2, 4, 6):
        d = ConvDesc(2, 7, 6, 19, 23, 1, tile)
        run = subprocess.run(
            [QEMU, str(exe)],
            input=bytes(d) + x.tobytes() + w.tobytes() + b.tobytes(),
            capture_output=True,
            timeout=120,
            check=False,
        )
        assert run.returncode == 0, run.stderr
        assert run.stderr.decode().strip() == "neon"
        y = torch.from_numpy(np.frombuffer(run.stdout, np.float32).reshape(2, 6, 19, 23).copy())
        ref = reference(*(torch.from_numpy(t) for t in (x, w, b)), 1)
        assert rel_err(y, ref) <= TOL_ANY[tile], tile
    for n, c, k, width in ((3, 7, 6, 70), (9, 3, 5, 4)):  # lines (dims 1), NEON
        x, w, b = (t.numpy() for t in random_conv(width, n, c, k, None, width))
        for tile in (2, 4, 6):
            d = _conv_desc(x.shape, k, 1, tile)
            run = subprocess.run(
                [QEMU, str(exe)],
                input=bytes(d) + x.tobytes() + w.tobytes() + b.tobytes(),
                capture_output=True,
                timeout=120,
                check=False,
            )
            assert run.returncode == 0, run.stderr
            y = torch.from_numpy(np.frombuffer(run.stdout, np.float32).reshape(n, k, width).copy())
            ref = reference(*(torch.from_numpy(t) for t in (x, w, b)), 1)
            assert rel_err(y, ref) <= TOL_ANY[tile], (tile, n, c, k, width)
