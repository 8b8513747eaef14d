#!/usr/bin/env python3
"""The native engine with one competing busy process: 1 and 2 threads, quiet and busy, in one run.

Issue 22's "busy core" goal: with one competing busy process (an unpinned
`python -c "while True: pass"`) on the machine, the 2-thread median is at most 1.1x the 1-thread
median under the same load, and the 2-thread p99 at most 1.3x that median; quiet-machine speed
at 2 threads must not drop.

Model: the WNO of benchmarks/end_to_end.py (64x64, width 32, 12x12 modes, 4 layers, F(4,3)),
batch 1, driven through the bare C ABI (benchmarks/engine_ab.py's Engine). One busy process is
started at the beginning and stopped (SIGSTOP) for the quiet phases, continued (SIGCONT) for the
busy ones, and killed at the end. Each round runs a quiet phase and a busy phase; in each phase
every engine (this build, and `--base LIB` if given, at 1 and 2 threads) runs one block of
`--block` runs, in turn, after `--warmup` unrecorded ones: the load changes at every phase
switch, and the engine's pool needs its first couple of load readings (a millisecond) to see
the change, which a deployed engine goes through once per change of load, not once per block.
Medians and p99 over all recorded runs of a row. Other people's work on the machine shows in
the line "other runnable threads": the machine's runnable threads other than this benchmark's
(and its busy process), read before every block (Linux).

Each engine's output is checked to be bitwise the same at the start of every block, quiet or
busy (the pool may run regions on fewer workers under load; it must not change a bit).
`WNO_CPU_ISA=avx2` measures the AVX2 path on an AVX-512 machine.

    python benchmarks/busy_core.py [--base /tmp/p_base/libwno_engine.so] [--lib PATH]
        [--rounds 20] [--block 100] [--warmup 5]
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, os.fspath(Path(__file__).resolve().parent))
from engine_ab import Engine  # noqa: E402

from wno_edge.model import WNO2d, WNOConfig  # noqa: E402
from wno_edge.onnx import export_onnx  # noqa: E402
from wno_edge.runtime.native_backend import library_path  # noqa: E402

CONDITIONS = ("quiet", "busy")


@contextlib.contextmanager
def busy_process() -> Iterator[subprocess.Popen]:
    """One competing busy process (an unpinned `python -c "while True: pass"`), killed on exit."""
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        yield busy
    finally:
        busy.kill()
        busy.wait()


def wno_model(tmp: Path, grid: int) -> Path:
    """The end_to_end WNO (engine_ab.py's first model), exported at batch 1."""
    torch.manual_seed(0)
    wno = WNO2d(WNOConfig(1, 1, width=32, modes=(12, 12), n_layers=4, winograd_tile=4, resolution=(grid, grid)))
    path = tmp / "wno.onnx"
    export_onnx(wno.eval(), path, batch=1)
    return path


def isa(lib_path: Path) -> str:
    lib = ctypes.CDLL(os.fspath(lib_path))
    lib.wno_engine_isa.restype = ctypes.c_char_p
    return lib.wno_engine_isa().decode()


def runnable_others(busy: bool) -> float | None:
    """Runnable threads on the machine besides this one (and the busy process), or None."""
    try:
        with open("/proc/loadavg") as f:
            runnable = int(f.read().split()[3].split("/")[0])
    except (OSError, ValueError, IndexError):
        return None
    return max(0, runnable - 1 - int(busy))


def stats(v: list[float]) -> tuple[float, float]:
    """(median, p99) in milliseconds."""
    return 1e3 * float(np.median(v)), 1e3 * float(np.percentile(v, 99))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lib", type=Path, default=None, help="the build to measure (default: the package's)")
    p.add_argument("--base", type=Path, default=None, help="a baseline libwno_engine.so, measured in the same run")
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--block", type=int, default=100)
    p.add_argument("--warmup", type=int, default=5, help="unrecorded runs at the start of each block")
    p.add_argument("--grid", type=int, default=64)
    a = p.parse_args()
    libs = {"new": a.lib or library_path()}
    if a.base is not None:
        libs["base"] = a.base
    x = np.random.default_rng(0).random((1, 1, a.grid, a.grid), dtype=np.float32)
    print(f"ISA {isa(libs['new'])}, {os.cpu_count()} CPUs, batch 1, {a.grid}x{a.grid}")
    for k, v in libs.items():
        print(f"{k:4s} {v}")
    print(f"{a.rounds} rounds x {a.block} runs per engine and condition, quiet and busy phases interleaved")
    with busy_process() as busy:
        os.kill(busy.pid, signal.SIGSTOP)
        with tempfile.TemporaryDirectory() as tmp:
            path = wno_model(Path(tmp), a.grid)
            engines = {(k, t): Engine(lib, path, t) for k, lib in libs.items() for t in (1, 2)}
            first = {key: e.run(x).copy() for key, e in engines.items()}
            changed: set[tuple[str, int]] = set()  # engines whose output changed between blocks
            for e in engines.values():
                for _ in range(20):
                    e.run(x)
            times = {(c, key): [] for c in CONDITIONS for key in engines}
            others: dict[str, list[float]] = {c: [] for c in CONDITIONS}
            for _ in range(a.rounds):
                for cond in CONDITIONS:
                    os.kill(busy.pid, signal.SIGCONT if cond == "busy" else signal.SIGSTOP)
                    time.sleep(0.05)
                    for key, e in engines.items():
                        seen = runnable_others(cond == "busy")
                        if seen is not None:
                            others[cond].append(seen)
                        if not np.array_equal(e.run(x), first[key]):
                            changed.add(key)
                        for _ in range(a.warmup):
                            e.run(x)
                        t = times[(cond, key)]
                        for _ in range(a.block):
                            t0 = time.perf_counter()
                            e.run(x)
                            t.append(time.perf_counter() - t0)
            for e in engines.values():
                e.close()
    s = {k: stats(v) for k, v in times.items()}
    ref = first[("new", 1)]
    scale = max(1e-30, float(np.abs(ref).max()))
    print(
        "outputs: "
        + ", ".join(f"{k} {t}t {float(np.abs(y - ref).max()) / scale:.1e}" for (k, t), y in first.items())
        + " of the scale from new 1-thread; each engine's bits the same in every block, quiet or busy: "
        + ("yes" if not changed else "NO: " + ", ".join(f"{k} {t}t" for k, t in sorted(changed)))
    )
    if others["quiet"]:
        print(
            "other runnable threads before a block (mean): "
            + ", ".join(f"{c} phases {np.mean(v):.2f}" for c, v in others.items())
        )
    print(f"\n{'build':5s} {'threads':>7s} {'quiet ms':>9s} {'quiet p99':>9s} {'busy ms':>9s} {'busy p99':>9s}")
    for k, t in engines:
        (qm, qp), (bm, bp) = s[("quiet", (k, t))], s[("busy", (k, t))]
        print(f"{k:5s} {t:7d} {qm:9.3f} {qp:9.3f} {bm:9.3f} {bp:9.3f}")
    print("\ngoal ratios under load (goal: median <= 1.1, p99 <= 1.3; both over the 1-thread median):")
    for k in libs:
        one, one_p99 = s[("busy", (k, 1))]
        two_med, two_p99 = s[("busy", (k, 2))]
        print(
            f"{k:5s} 2-thread median / 1-thread median {two_med / one:6.3f}   "
            f"2-thread p99 / 1-thread median {two_p99 / one:6.3f}   "
            f"(2-thread p99 / 1-thread p99 {two_p99 / one_p99:6.3f})"
        )
    if "base" in libs:
        print("\nnew / base, quiet (speed must not drop at 2 threads):")
        for t in (1, 2):
            ratio = s[("quiet", ("new", t))][0] / s[("quiet", ("base", t))][0]
            print(f"  {t} thread{'s' if t > 1 else ''}: median {ratio:6.3f}")


if __name__ == "__main__":
    main()
