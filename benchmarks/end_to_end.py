#!/usr/bin/env python3
"""Batch-1 latency of one operator size, four ways, in one process:

  (a) neuraloperator's FNO in PyTorch eager  (the anchor users would pick today)
  (b) our WNO in PyTorch eager
  (c) our WNO exported to FFT-free ONNX, run by wno_edge.runtime on ONNX Runtime CPU
  (d) the same .onnx file on the native engine (runtime/engine, libwno_engine.so), 1 and 2 threads

64x64 grid, width 32, 12x12 modes, 4 layers, batch 1 (the anchor the README quotes).
Runs are interleaved in blocks (a x n, b x n, c x n, d x n, repeated) so machine noise hits all
alike; medians and p99 over all iterations. Goals: (c) >= 5x faster than (a) at the median with
p99 <= 1.5x its median; (d) >= 2x faster than (c), >= 5x faster than (a), p99/p50 <= 1.3, and a
fresh process running (d) under 60 MB resident (measured in a child process: Python + numpy +
wno_edge.runtime + the engine, and the C++ example examples/cpp/control_loop.cpp, built here against
the installed CMake package).

    pip install neuraloperator      # benchmark-only dependency; without it (a) is skipped
    python benchmarks/end_to_end.py [--iterations 2000] [--threads 2] [--engine-lib PATH]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from wno_edge import runtime
from wno_edge.model import WNO2d, WNOConfig
from wno_edge.onnx import export_onnx

ROOT = Path(__file__).resolve().parents[1]
A, B, C = (
    "(a) neuraloperator FNO, PyTorch eager",
    "(b) wno-edge WNO, PyTorch eager",
    "(c) wno-edge WNO, ONNX Runtime CPU",
)
D1, D2 = "(d) same .onnx, native engine, 1 thread", "(d) same .onnx, native engine, 2 threads"


def neuraloperator_fno(width, modes, layers):
    try:
        from neuralop.models import FNO
    except ImportError:
        print("neuraloperator is not installed (pip install neuraloperator): row (a) skipped")
        return None
    return FNO(n_modes=(modes, modes), in_channels=1, out_channels=1, hidden_channels=width, n_layers=layers).eval()


def engine_library(given: Path | None) -> Path | None:
    """libwno_engine.so: --engine-lib, else $WNO_EDGE_ENGINE_LIB / wno_edge/_native, else a build
    tree of this checkout (cmake -S runtime -B build/native)."""
    from wno_edge.runtime.native_backend import library_path

    for candidate in (given, library_path(), ROOT / "build" / "native" / "engine" / "libwno_engine.so"):
        if candidate is not None and Path(candidate).is_file():
            return Path(candidate)
    return None


_RSS_CHILD = """
import sys, numpy as np
from wno_edge import runtime
s = runtime.load(sys.argv[1], backend="native", threads=int(sys.argv[2]), check_finite=False)
x = np.random.default_rng(0).random(s.input_shape, dtype=np.float32)
out = np.empty(s.output_shape, np.float32)
for _ in range(200):
    s.run(x, out=out)
print([int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")][0] / 1024)
"""


def control_loop_example(lib: Path, build: Path) -> Path | None:
    """The C++ example (examples/cpp) built into `build` as the consumer it is: find_package(wno_edge)
    from the CMake package beside `lib` (a `cmake --install` prefix's lib/, a pip install's
    wno_edge/_native), else the pip install's (`wno-edge info --cmake-dir`). None, said in one
    line, when there is no package or no CMake."""
    from wno_edge.native import library

    package = lib.parent / "cmake" / "wno_edge"
    if not (package / "wno_edgeConfig.cmake").is_file():
        try:
            package = library.cmake_dir()
        except library.NativeUnavailable as e:  # no pip-installed native build
            print(f"the C++ example needs an installed CMake package ({e}): its memory row skipped")
            return None
    for cmd in (
        ["cmake", "-S", str(ROOT / "examples" / "cpp"), "-B", str(build), f"-Dwno_edge_DIR={package}"],
        ["cmake", "--build", str(build)],
    ):
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, check=False)
        except FileNotFoundError:
            r = subprocess.CompletedProcess(cmd, 1, "", "cmake not found")
        if r.returncode != 0:
            why = (r.stderr.strip().splitlines() or ["?"])[-1][:200]
            print(f"the C++ example (examples/cpp) did not build ({why}): its memory row skipped")
            return None
    return build / "control_loop"


def fresh_process_rss(onnx_path: Path, lib: Path, threads: int) -> tuple[float | None, float | None]:
    """Peak RSS (MiB) of a fresh Python process running (d) 200 times, and of the C++ example."""
    env = {**os.environ, "WNO_EDGE_ENGINE_LIB": str(lib)}
    r = subprocess.run(
        [sys.executable, "-c", _RSS_CHILD, str(onnx_path), str(threads)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    py = float(r.stdout.split()[-1]) if r.returncode == 0 else None
    example = control_loop_example(lib, onnx_path.parent / "control_loop")
    cpp = None
    if example is not None:  # it prints its own peak (VmHWM: ru_maxrss would include this process's, kept over exec)
        r = subprocess.run(
            [str(example), str(onnx_path), "--rate", "1000", "--ticks", "200", "--threads", str(threads)],
            capture_output=True,
            text=True,
            env={**os.environ, "LD_LIBRARY_PATH": str(lib.parent)},  # `lib` itself, by its SONAME
            check=False,
        )
        found = [line.split()[-2] for line in r.stdout.splitlines() if line.startswith("peak resident memory")]
        cpp = float(found[0]) if r.returncode == 0 and found else None
    return py, cpp


def timed(fn, n, out):
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--iterations", type=int, default=2000)
    p.add_argument("--block", type=int, default=100)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--grid", type=int, default=64)
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--modes", type=int, default=12)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--tile", type=int, default=4)
    p.add_argument("--json", type=Path)
    p.add_argument("--engine-lib", type=Path, help="libwno_engine.so to use for (d)")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)

    fno = neuraloperator_fno(a.width, a.modes, a.layers)
    wno = WNO2d(
        WNOConfig(
            1,
            1,
            width=a.width,
            modes=(a.modes, a.modes),
            n_layers=a.layers,
            winograd_tile=a.tile,
            resolution=(a.grid, a.grid),
        )
    ).eval()
    lib = engine_library(a.engine_lib)
    if lib is None:
        print(
            "the native engine is not built (pip install -e . or cmake --build build/native --target wno_engine): "
            "row (d) skipped"
        )
    rss = (None, None)
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = Path(tmp) / "wno.onnx"
        export_onnx(wno, onnx_path, batch=1)
        session = runtime.load(onnx_path, threads=a.threads, check_finite=False, backend="onnxruntime")
        natives = {}
        if lib is not None:
            for name, t in ((D1, 1), (D2, 2)):
                natives[name] = runtime.load(onnx_path, threads=t, check_finite=False, backend="native", library=lib)
        x_np = np.random.default_rng(0).random((1, 1, a.grid, a.grid), dtype=np.float32)
        x = torch.from_numpy(x_np)
        out = np.empty(session.output_shape, np.float32)
        with torch.inference_mode():
            y_torch = wno(x).numpy()
            np.testing.assert_allclose(session.run(x_np), y_torch, rtol=1e-3, atol=1e-4)
            for s in natives.values():
                np.testing.assert_allclose(s.run(x_np), y_torch, rtol=1e-3, atol=1e-4)
            runs = {}
            if fno is not None:
                runs[A] = lambda: fno(x)
            runs[B] = lambda: wno(x)
            runs[C] = lambda: session.run(x_np, out=out)
            for name, s in natives.items():
                runs[name] = functools.partial(s.run, x_np, out=out)
            times = {name: [] for name in runs}
            for fn in runs.values():  # warm up
                for _ in range(20):
                    fn()
            for _ in range(max(1, a.iterations // a.block)):
                for name, fn in runs.items():
                    time.sleep(0.02)  # untimed: the previous row's spinning threads (torch's) go idle first
                    timed(fn, a.block, times[name])
        stages = {}
        for name, t in ((D1, 1), (D2, 2)):
            if name in natives:  # a short profiled run for the per-stage breakdown
                with runtime.load(
                    onnx_path, threads=t, check_finite=False, backend="native", library=lib, profile=True
                ) as s:
                    s.warmup(20)
                    s.reset_stage_times()
                    s.warmup(200)
                    stages[name] = s.timing_breakdown()["stages_ms"]
        if lib is not None:
            rss = fresh_process_rss(onnx_path, lib, a.threads)

    anchor = np.median(times[A]) if A in times else None
    ort = np.median(times[C])
    print(
        f"batch 1, {a.grid}x{a.grid} grid, width {a.width}, {a.modes}x{a.modes} modes, {a.layers} layers, "
        f"{a.threads} threads for (a)-(c), {a.iterations} iterations each (blocks of {a.block})"
    )
    print(f"{'':42s} {'median ms':>10s} {'p99 ms':>10s} {'p99/p50':>8s} {'vs (a)':>8s} {'vs (c)':>8s}")
    results = {}
    for name, t in times.items():
        t = np.asarray(t)
        med, p99 = np.median(t), np.percentile(t, 99)
        results[name] = {
            "median_ms": med * 1e3,
            "p99_ms": p99 * 1e3,
            "jitter": p99 / med,
            "speedup": anchor / med if anchor else None,
            "vs_c": ort / med,
        }
        va = f"{anchor / med:7.2f}x" if anchor else "    n/a"
        print(f"{name:42s} {med * 1e3:10.3f} {p99 * 1e3:10.3f} {p99 / med:8.2f} {va:>8s} {ort / med:7.2f}x")
    if A in results:
        c = results[C]
        print(
            f"goal (c) >= 5x faster than (a): {'met' if c['speedup'] >= 5 else 'NOT met'} ({c['speedup']:.2f}x); "
            f"goal p99 <= 1.5x median: {'met' if c['jitter'] <= 1.5 else 'NOT met'} ({c['jitter']:.2f})"
        )
    for name in (D1, D2):
        if name not in results:
            continue
        d = results[name]
        goals = [
            f"vs (c) {d['vs_c']:.2f}x (goal 2x: {'met' if d['vs_c'] >= 2 else 'NOT met'})",
            f"p99/p50 {d['jitter']:.2f} (goal 1.3: {'met' if d['jitter'] <= 1.3 else 'NOT met'})",
        ]
        if d["speedup"]:
            goals.insert(0, f"vs (a) {d['speedup']:.2f}x (goal 5x: {'met' if d['speedup'] >= 5 else 'NOT met'})")
        print(f"{name}: " + ", ".join(goals))
        if name in stages:
            total = sum(stages[name].values())
            print(
                "    stages (mean ms per run, profiled separately): "
                + ", ".join(f"{k} {v:.3f} ({100 * v / total:.0f}%)" for k, v in stages[name].items())
            )
            d["stages_ms"] = stages[name]
    py_rss, cpp_rss = rss
    if py_rss or cpp_rss:
        fmt = lambda v: f"{v:.1f} MiB" if v else "n/a"  # noqa: E731
        print(
            f"peak RSS of a fresh process running (d) 200x at {a.threads} threads: Python + numpy + engine "
            f"{fmt(py_rss)}, C++ example (examples/cpp/control_loop.cpp) {fmt(cpp_rss)} (goal < 60 MB)"
        )
        results["rss_mib"] = {"python": py_rss, "cpp_example": cpp_rss}
    if a.json:
        a.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
