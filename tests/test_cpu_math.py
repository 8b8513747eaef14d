"""The CPU math layer shared by the Winograd kernel and the native engine (runtime/src/cpu:
isa.h, pool.h, simd.h, gelu.h): one ISA choice for both, and the one thread pool class behind
the kernel's standalone entry points (concurrent callers, changing thread counts, fork,
$WNO_SPIN_US).
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from native_build import build_native

from wno_edge.native.abi import ConvDesc

RANKS = ("generic", "avx2", "avx512")


@pytest.fixture(scope="module")
def build_dir() -> Path:
    return build_native(("wno_winograd", "wno_engine"))


def _cpu_ranks() -> int:
    """Index in RANKS of the best ISA this machine runs (as isa.cpp probes it)."""
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return 0
    if "avx2" in flags and "fma" in flags:
        return 2 if "avx512f" in flags else 1
    return 0


def _isas(lib_path: Path, kernel_path: Path, cap: str | None) -> tuple[str, str]:
    """(wno_engine_isa, wno_cpu_isa) of a fresh process loading the engine and the kernel library
    with $WNO_CPU_ISA (the engine keeps its copy of the kernel's isa.cpp local: docs/c-api.md)."""
    env = {k: v for k, v in os.environ.items() if k != "WNO_CPU_ISA"}
    if cap is not None:
        env["WNO_CPU_ISA"] = cap
    code = (
        "import ctypes, sys\n"
        f"lib = ctypes.CDLL({os.fspath(lib_path)!r})\n"
        f"kernel = ctypes.CDLL({os.fspath(kernel_path)!r})\n"
        "lib.wno_engine_isa.restype = kernel.wno_cpu_isa.restype = ctypes.c_char_p\n"
        "print(lib.wno_engine_isa().decode(), kernel.wno_cpu_isa().decode())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    engine, kernel = out.stdout.split()
    return engine, kernel


@pytest.mark.skipif(not sys.platform.startswith("linux") or os.uname().machine != "x86_64", reason="x86-64 ranks")
@pytest.mark.parametrize("cap", [None, "", "generic", "avx2", "avx512", "neon", "bogus"])
def test_engine_and_kernel_share_one_isa_choice(build_dir, cap):
    best = _cpu_ranks()
    want = RANKS[min(best, RANKS.index(cap))] if cap in RANKS else RANKS[best]
    assert _isas(build_dir / "engine" / "libwno_engine.so", build_dir / "libwno_winograd.so", cap) == (want, want)


def _conv_setup(lib, n=1, c=8, k=8, h=23, w=19, tile=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w), dtype=np.float32)
    wt = rng.standard_normal((k, c, 3, 3), dtype=np.float32)
    b = rng.standard_normal(k, dtype=np.float32)
    d = ConvDesc(n, c, k, h, w, 1, tile)
    u = np.empty(lib.wno_cpu_weight_size(ctypes.byref(d)) // 4, np.float32)
    assert lib.wno_cpu_transform_weights(ctypes.byref(d), wt.ctypes.data, u.ctypes.data, u.nbytes) == 0
    return d, x, u, b


def _conv(lib, d, x, u, b, threads):
    y = np.full((d.batch, d.out_channels, d.height, d.width), np.nan, np.float32)
    # GELU epilogue, library-owned workspace: the standalone path (the library's own pool).
    status = lib.wno_cpu_conv2d_fused(
        ctypes.byref(d), x.ctypes.data, u.ctypes.data, b.ctypes.data, None, 1, y.ctypes.data, None, 0, threads
    )
    assert status == 0
    return y


@pytest.fixture(scope="module")
def kernel(build_dir):
    from wno_edge import native
    from wno_edge.native.library import CPU_LIBRARY

    return native.load(build_dir / CPU_LIBRARY)


def test_pool_grows_and_caps_workers(kernel):
    d, x, u, b = _conv_setup(kernel)
    ref = _conv(kernel, d, x, u, b, 1)
    for threads in (2, 5, 2, 3, 1, 7, 2):  # grown to 6 helpers, then calls that use fewer
        np.testing.assert_array_equal(_conv(kernel, d, x, u, b, threads), ref)


def test_pool_concurrent_callers(kernel):
    """C ABI calls from several threads at once (ctypes drops the GIL): one call at a time on
    the library's pool, each bit-identical to a one-thread run."""
    setups = [_conv_setup(kernel, seed=s, h=17 + s, w=29 - s) for s in range(4)]
    refs = [_conv(kernel, *setup, 1) for setup in setups]
    errors: list[str] = []

    def caller(i: int) -> None:
        try:
            for rep in range(30):
                y = _conv(kernel, *setups[i], 1 + (i + rep) % 4)
                if not np.array_equal(y, refs[i]):
                    errors.append(f"caller {i} rep {rep} differs")
        except AssertionError as e:  # pragma: no cover - reported below
            errors.append(f"caller {i}: {e}")

    workers = [threading.Thread(target=caller, args=(i,)) for i in range(4)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    assert not errors, errors


_CHILD = r"""
import ctypes, os, sys
import numpy as np
sys.path.insert(0, {tests!r})
from test_cpu_math import _conv, _conv_setup
from wno_edge import native
lib = native.load({lib!r})
setup = _conv_setup(lib)
ref = _conv(lib, *setup, 1)
assert np.array_equal(_conv(lib, *setup, 3), ref)  # the pool has helpers now
pid = os.fork()
if pid == 0:  # the child has none of them: a fresh pool
    ok = all(np.array_equal(_conv(lib, *setup, t), ref) for t in (2, 3, 1, 3))
    os._exit(0 if ok else 3)
_, status = os.waitpid(pid, 0)
assert os.waitstatus_to_exitcode(status) == 0, status
assert np.array_equal(_conv(lib, *setup, 2), ref)
print("ok")
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
@pytest.mark.parametrize("spin_us", [None, "0"])
def test_pool_after_fork_and_spin(build_dir, spin_us):
    from wno_edge.native.library import CPU_LIBRARY

    env = {k: v for k, v in os.environ.items() if k != "WNO_SPIN_US"}
    if spin_us is not None:
        env["WNO_SPIN_US"] = spin_us
    code = _CHILD.format(tests=os.fspath(Path(__file__).parent), lib=os.fspath(build_dir / CPU_LIBRARY))
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stdout + out.stderr


# A helper stalled inside a task: $WNO_TEST_HELPER_STALL_US makes worker 1 sleep before each
# task it claims (as if preempted in the middle of it), so the caller waits for it at the end of
# regions. With $WNO_POOL_ADAPT=0 the helper takes part whatever the machine's load; with the
# default, fewer workers when the cores are busy. Either way: every task once, the same bits.
_STALLED_CHILD = r"""
import sys
import numpy as np
sys.path.insert(0, {tests!r})
from test_cpu_math import _conv, _conv_setup
from wno_edge import native
lib = native.load({lib!r})
for seed, h, w, c in ((0, 23, 19, 16), (1, 64, 64, 32)):
    setup = _conv_setup(lib, seed=seed, h=h, w=w, c=c, k=c)
    ref = _conv(lib, *setup, 1)
    for threads in (2, 3, 2, 3):
        assert np.array_equal(_conv(lib, *setup, threads), ref), (seed, threads)
print("ok")
"""


@pytest.mark.parametrize("adapt", ["0", "1"])
def test_pool_stalled_helper_kernel(build_dir, adapt):
    """The kernel's own pool (parallel_for) with a stalled helper: bit-identical to one thread."""
    from wno_edge.native.library import CPU_LIBRARY

    env = {**os.environ, "WNO_TEST_HELPER_STALL_US": "2000", "WNO_POOL_ADAPT": adapt}
    code = _STALLED_CHILD.format(tests=os.fspath(Path(__file__).parent), lib=os.fspath(build_dir / CPU_LIBRARY))
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stdout + out.stderr


def _engine_outputs(lib: Path, path: Path, x: np.ndarray, threads: int, runs: int) -> list[np.ndarray]:
    from wno_edge.runtime.native_backend import NativeSession

    with NativeSession(path, library=lib, threads=threads) as s:
        return [s.run(x).copy() for _ in range(runs)]


@pytest.mark.parametrize("adapt", ["0", "1"])
def test_pool_stalled_helper_engine(build_dir, tmp_path, monkeypatch, adapt):
    """The engine's pool (its own regions and the Winograd kernel's on it) with a stalled helper:
    each run bit-identical to the same engine without the stall."""
    from test_engine import make_model, write

    lib = build_dir / "engine" / "libwno_engine.so"
    path = write(make_model(24, 20, width=8, modes=(3, 4), layers=2), tmp_path / "m.onnx", batch=2)
    x = np.random.default_rng(3).standard_normal((2, 2, 24, 20)).astype(np.float32)
    monkeypatch.setenv("WNO_POOL_ADAPT", adapt)
    for threads in (2, 3):
        monkeypatch.delenv("WNO_TEST_HELPER_STALL_US", raising=False)
        ref = _engine_outputs(lib, path, x, threads, 1)[0]
        monkeypatch.setenv("WNO_TEST_HELPER_STALL_US", "2000")
        for y in _engine_outputs(lib, path, x, threads, 3):
            assert np.array_equal(y, ref), threads


def test_pool_fewer_workers_under_load_same_bits(build_dir, tmp_path):
    """Busy processes on every core, started and stopped while an engine runs: its regions move
    between the caller alone and every worker (the pool reads the load every millisecond); every run
    gives the bits of a run on a quiet machine."""
    from test_engine import make_model, write

    from wno_edge.runtime.native_backend import NativeSession

    lib = build_dir / "engine" / "libwno_engine.so"
    path = write(make_model(24, 20, width=8, modes=(3, 4), layers=2), tmp_path / "m.onnx", batch=1)
    x = np.random.default_rng(4).standard_normal((1, 2, 24, 20)).astype(np.float32)

    def runs(s, seconds: float) -> list[np.ndarray]:  # dozens of load readings
        end = time.perf_counter() + seconds
        out = [s.run(x).copy()]
        while time.perf_counter() < end:
            out.append(s.run(x).copy())
        return out

    with NativeSession(path, library=lib, threads=2) as s:
        ref = s.run(x).copy()
        outputs = runs(s, 0.1)
        busy = [
            subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(max(2, os.cpu_count() or 2))
        ]
        try:
            outputs += runs(s, 0.2)
        finally:
            for b in busy:
                b.kill()
                b.wait()
        outputs += runs(s, 0.1)
    assert all(np.array_equal(y, ref) for y in outputs)


# (ISA, compiler flags, whether the build contracts a * b + c to an FMA)
GELU_BUILDS = [
    ("generic", [], False),
    ("avx2", ["-mavx2", "-mfma"], True),
    ("avx512", ["-mavx512f", "-mavx512vl", "-mavx512dq", "-mavx512bw", "-mfma"], True),
]


@pytest.mark.skipif(not sys.platform.startswith("linux") or os.uname().machine != "x86_64", reason="x86-64 ranks")
@pytest.mark.parametrize("isa, flags, fma", GELU_BUILDS, ids=[b[0] for b in GELU_BUILDS])
def test_erf_forms_against_std_erf(tmp_path, isa, flags, fma):
    """gelu.h's erf_poly3 (the kernel's epilogue) and erf_rational (the engine's loops) against
    std::erf in double on [-10, 10], in each ISA's vectors; the rational form's GELU tails exact."""
    if RANKS.index(isa) > _cpu_ranks():
        pytest.skip(f"this CPU does not run {isa}")
    root = Path(__file__).resolve().parents[1] / "runtime"
    exe = tmp_path / f"gelu_probe_{isa}"
    subprocess.run(
        ["c++", "-O2", "-std=c++17", "-Wno-psabi", f"-DWNO_CPU_NS=gelu_{isa}", *flags,
         f"-I{root / 'include'}", f"-I{root / 'src' / 'cpu'}", str(root / "tests" / "gelu_probe.cpp"), "-o", str(exe)],
        check=True,
    )  # fmt: skip
    poly3, rational, tail = (
        float(v) for v in subprocess.run([exe], capture_output=True, text=True, check=True).stdout.split()
    )
    assert poly3 <= (7e-8 if fma else 8e-8), poly3  # gelu.h: 6.7e-8 with FMA (7.4e-8 without)
    assert rational <= 4e-7, rational  # gelu.h: 3.7e-7 (3.4e-7 without FMA)
    if fma:  # the ratio is exactly +-1 at the clamp with FMA rounding
        assert tail == 0.0, tail
    else:
        assert tail <= 1e-6, tail


def test_erf_rational_coefficients_are_the_fit():
    """gelu.h's kErfNum / kErfDen are what tools/fit_erf.py fits (printed to 10 digits)."""
    import re

    sys.path.insert(0, os.fspath(Path(__file__).resolve().parents[1] / "tools"))
    from fit_erf import fit

    text = (Path(__file__).resolve().parents[1] / "runtime" / "src" / "cpu" / "gelu.h").read_text()

    def stored(name: str) -> np.ndarray:
        body = re.search(name + r"\[\] = \{([^}]*)\}", text)
        assert body, name
        return np.array([float(v.strip().rstrip("f")) for v in body.group(1).split(",")])

    p, q, worst = fit()
    assert worst < 6e-8
    np.testing.assert_allclose(stored("kErfNum"), p[::-1], rtol=1e-9)
    np.testing.assert_allclose(stored("kErfDen"), q[::-1], rtol=1e-9)
