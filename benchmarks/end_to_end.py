#!/usr/bin/env python3
"""Batch-1 latency of one operator size on every engine, in one run: where wno-edge stands.

  (a) neuraloperator's FNO in PyTorch eager  (the anchor users would pick today)
  (b) our WNO in PyTorch eager
  (c) our WNO exported to FFT-free ONNX, run by wno_edge.runtime on ONNX Runtime CPU (spinning
      off), and the same file on ONNX Runtime with its default intra-op spinning on
  (d) the same .onnx file on the native engine (runtime/engine, libwno_engine.so), 1 and 2 threads
  (e) the same .onnx on OpenVINO CPU, local functions inlined (optional: pip install openvino)

64x64 grid, width 32, 12x12 modes, 4 layers, batch 1 (the anchor the README quotes). It prints:
- the CPU model, the ISA the engine picked, and this machine's FP32 FMA peak measured by a tiny C
  probe (benchmarks/machine.py), with each WNO row's GFLOP/s and fraction of that peak, counting the
  multiply-adds the WNO executes (wno_edge/reports/flops.py: F(tile,3) convs, DFT GEMMs, 1x1 maps);
- one line per route that would deploy neuraloperator's FNO without wno-edge (OpenVINO,
  torch.onnx dynamo, ExecuTorch; benchmarks/fno_routes.py), with the real error or "not installed";
- "alone": each engine timed alone in its own child process as deployed (benchmarks/alone.py: same
  file, same input, --alone-runs runs, median and p99), at 1 and --threads threads;
- "interleaved": all rows in this process, in blocks (a x n, b x n, ... repeated) so machine noise
  hits all alike; medians and p99 over all iterations.
- beside the p99/p50 goal, this machine's own p99/p50 for work as long as the native median: the
  FMA probe in as many timed rounds after each native row (a shared VM's stolen time shows there).
--busy runs the same rows with one competing busy process (benchmarks/busy_core.py's), and prints
the busy-core ratios of issue 22 (2-thread median and p99 over the 1-thread median). WNO_CPU_ISA=avx2
measures the engine's AVX2 path on an AVX-512 machine and caps OpenVINO to AVX2 too (ONNX Runtime
cannot be capped). Goals (issue 22): native >= 2x the faster of ONNX Runtime and OpenVINO at 1 and 2
threads, >= 5x (a) at 2 threads, >= 50% of the FMA peak; p99/p50 <= 1.3; and, from before, a fresh
process running (d) under 60 MB resident (a child process: Python + numpy + wno_edge.runtime + the
engine, and the C++ example examples/cpp/control_loop.cpp, built here against the installed CMake
package).

    pip install 'wno-edge[bench]'   # neuraloperator, openvino, ... : each row without its package is skipped
    python benchmarks/end_to_end.py [--iterations 2000] [--alone-runs 1000] [--threads 2] [--busy]
        [--rounds 1] [--no-alone] [--no-routes] [--engine-lib PATH]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, os.fspath(Path(__file__).resolve().parent))
import machine  # noqa: E402
from alone import open_engine  # noqa: E402
from busy_core import busy_process  # noqa: E402
from fno_routes import try_routes  # noqa: E402

from wno_edge import runtime  # noqa: E402
from wno_edge.model import WNO2d, WNOConfig  # noqa: E402
from wno_edge.onnx import export_onnx  # noqa: E402
from wno_edge.reports.flops import model_cost  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
A, B, C = (
    "(a) neuraloperator FNO, PyTorch eager",
    "(b) wno-edge WNO, PyTorch eager",
    "(c) wno-edge WNO, ONNX Runtime CPU",
)
C_SPIN = "(c) same, ONNX Runtime spinning on"
D1, D2 = "(d) same .onnx, native engine, 1 thread", "(d) same .onnx, native engine, 2 threads"
E = "(e) same .onnx, OpenVINO CPU"
# The child-process rows: engine name in benchmarks/alone.py -> label.
ALONE = {
    "fno-eager": "neuraloperator FNO, PyTorch eager",
    "ort": "ONNX Runtime, spinning off",
    "ort-spin": "ONNX Runtime, spinning on",
    "openvino": "OpenVINO, inlined file",
    "native": "wno-edge native engine",
}
PEERS = ("ort", "ort-spin", "openvino")


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


def wno_macs(config: WNOConfig, grid: int, tile: int) -> tuple[int, int]:
    """Multiply-adds of one batch-1 inference as the engine executes it (F(tile,3) convs with their
    transforms, DFT GEMMs, mode mixing, 1x1 maps), and with direct 3x3 convs."""
    cost = model_cost(config, grid, grid)
    return cost.pointwise_macs + cost.spectral_macs + cost.conv_winograd[tile].multiplies, cost.total_direct_macs


def rate(macs: int | None, ms: float, peak: float | None) -> str:
    """GFLOP/s (2 FLOP per multiply-add) and the fraction of the measured peak, as table columns."""
    if not macs:
        return f"{'-':>8s} {'-':>7s}"
    gflops = 2 * macs / ms / 1e6
    return f"{gflops:8.1f} {100 * gflops / peak:6.0f}%" if peak else f"{gflops:8.1f} {'-':>7s}"


def stats(t) -> tuple[float, float]:
    """(median, p99) in ms of times in seconds."""
    t = np.asarray(t)
    return 1e3 * float(np.median(t)), 1e3 * float(np.percentile(t, 99))


def run_alone(jobs, files: dict, lib: Path | None, runs: int, rounds: int, probe) -> tuple[dict, list[str], dict]:
    """Each (engine, threads) of `jobs` in its own child process (benchmarks/alone.py), in turn, for
    `rounds` rounds; per job the round with the lowest median, and the output of the first round.
    After each native row, `probe` (a machine.FmaProbe, or None) times as many rounds of FMAs as long
    as that row's median: this machine's own p99/p50 then.
    Returns ({(engine, threads): {median_ms, p99_ms, output}}, notes for the jobs that failed,
    {threads: [the probe's p99/p50 each round]})."""
    script = Path(__file__).resolve().parent / "alone.py"
    results: dict = {}
    failed: dict = {}
    floor: dict = {}
    for r in range(rounds):
        for engine, threads in jobs:
            if engine in failed:
                continue
            model, extra = files["onnx"], []
            if engine == "fno-eager":
                model, extra = files["fno"], ["--fno-args", json.dumps(files["fno_args"])]
            elif engine == "native" and lib is not None:
                extra = ["--lib", os.fspath(lib)]
            output = files["tmp"] / f"{engine}-{threads}.npy"
            cmd = [sys.executable, os.fspath(script), engine, os.fspath(model), os.fspath(files["x"])]
            cmd += ["--threads", str(threads), "--runs", str(runs), *extra]
            cmd += ["--output", os.fspath(output)] if r == 0 else []
            p = subprocess.run(cmd, capture_output=True, text=True, check=False)
            lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
            if p.returncode != 0 or not lines:
                failed[engine] = (p.stderr.strip().splitlines() or [f"exit {p.returncode}"])[-1][:200]
                continue
            row = json.loads(lines[-1])
            if engine == "native" and probe is not None:
                try:
                    p50, p99 = probe.jitter(threads, row["median_ms"], runs)
                    floor.setdefault(threads, []).append(p99 / p50)
                except RuntimeError as e:
                    failed["p99/p50 floor"], probe = str(e), None
            best = results.get((engine, threads))
            if best is None or row["median_ms"] < best["median_ms"]:
                row["output"] = best["output"] if best else np.load(output)
                results[(engine, threads)] = row
    notes = [f"alone: {ALONE.get(e, e)} not run: {why}" for e, why in failed.items()]
    return {k: v for k, v in results.items() if k[0] not in failed}, notes, floor


@contextlib.contextmanager
def jitter_probe(isa: str | None):
    """(machine.FmaProbe for `isa`, None), or (None, why not) when there is none (isa None: not asked)."""
    if isa is None:
        yield None, None
        return
    try:
        probe = machine.FmaProbe(isa)
    except RuntimeError as e:
        yield None, f"p99/p50 floor not measured: {e}"
        return
    try:
        yield probe, None
    finally:
        probe.close()


def interleaved(runs: dict, iterations: int, block: int) -> dict:
    """Times (s) of each row of `runs`, run in blocks in turn after a warm-up."""
    times = {name: [] for name in runs}
    for fn in runs.values():
        for _ in range(20):
            fn()
    for _ in range(max(1, iterations // block)):
        for name, fn in runs.items():
            time.sleep(0.02)  # untimed: the previous row's spinning threads (torch's, ORT's) go idle first
            timed(fn, block, times[name])
    return times


def spread(values: list[float]) -> str:
    return f"{min(values):.2f}-{max(values):.2f}" if len(values) > 1 else f"{values[0]:.2f}"


def print_alone(alone: dict, refs: dict, macs: int, peaks: dict, busy: bool, floor: dict) -> dict:
    """The child-process table and the goal lines (the p99/p50 goal beside this machine's own
    floor in the same rounds, `floor`: {threads: [p99/p50]}); returns the rows for --json."""
    print(
        f"\n{'alone, one child process per row':40s} {'thr':>3s} {'median ms':>10s} {'p99 ms':>9s} "
        f"{'p99/p50':>7s} {'GFLOP/s':>8s} {'% peak':>7s} {'err/scale':>9s}"
    )
    rows = {}
    for (engine, t), r in sorted(alone.items(), key=lambda kv: (list(ALONE).index(kv[0][0]), kv[0][1])):
        ref = refs["fno" if engine == "fno-eager" else "wno"]
        err = float(np.abs(r["output"] - ref).max() / np.abs(ref).max())
        wno_macs_ = None if engine == "fno-eager" else macs
        print(
            f"{ALONE[engine]:40s} {t:3d} {r['median_ms']:10.3f} {r['p99_ms']:9.3f} "
            f"{r['p99_ms'] / r['median_ms']:7.2f} {rate(wno_macs_, r['median_ms'], peaks.get(t))} {err:9.1e}"
        )
        rows[f"{engine}@{t}"] = {k: v for k, v in r.items() if k != "output"} | {"error": err}
    med = {k: v["median_ms"] for k, v in alone.items()}
    for t in sorted({t for _, t in alone}):
        if ("native", t) not in med:
            continue
        peers = {e: med[(e, t)] for e in PEERS if (e, t) in med}
        if peers:
            best = min(peers, key=peers.get)
            ratio = peers[best] / med[("native", t)]
            print(
                f"goal native >= 2x the faster peer at {t} thread(s): {'met' if ratio >= 2 else 'NOT met'} "
                f"({ratio:.3f}x {ALONE[best]})"
            )
        if peaks.get(t):
            frac = 2 * macs / med[("native", t)] / 1e6 / peaks[t]
            print(
                f"goal native >= 50% of the FMA peak at {t} thread(s): {'met' if frac >= 0.5 else 'NOT met'} "
                f"({100 * frac:.0f}%)"
            )
        if ("fno-eager", t) in med and t >= 2:
            ratio = med[("fno-eager", t)] / med[("native", t)]
            print(
                f"goal native >= 5x neuraloperator eager at {t} threads (aim 8x): "
                f"{'met' if ratio >= 5 else 'NOT met'} ({ratio:.3f}x)"
            )
        jitter = alone[("native", t)]["p99_ms"] / med[("native", t)]
        if not busy:
            beside = f"; this machine's floor in the same rounds {spread(floor[t])}" if floor.get(t) else ""
            print(
                f"goal native p99/p50 <= 1.3 at {t} thread(s): {'met' if jitter <= 1.3 else 'NOT met'} "
                f"({jitter:.3f}{beside})"
            )
    if busy:
        print("busy core (goal: 2-thread median <= 1.1x and 2-thread p99 <= 1.3x the 1-thread median):")
        for engine in ALONE:
            two = max((t for e, t in alone if e == engine and t > 1), default=None)
            if (engine, 1) in alone and two:
                one = med[(engine, 1)]
                print(
                    f"  {ALONE[engine]:40s} {two}-thread median / 1-thread median {med[(engine, two)] / one:5.2f}, "
                    f"{two}-thread p99 / 1-thread median {alone[(engine, two)]['p99_ms'] / one:5.2f}"
                )
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--iterations", type=int, default=2000, help="per row of the interleaved table")
    p.add_argument("--block", type=int, default=100)
    p.add_argument("--alone-runs", type=int, default=1000, help="per child process (0: no alone table)")
    p.add_argument("--rounds", type=int, default=1, help="alone: rounds of children; the lowest median counts")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--busy", action="store_true", help="run every row with one competing busy process")
    p.add_argument("--no-routes", action="store_true", help="skip trying the FNO's other deployment routes")
    p.add_argument("--grid", type=int, default=64)
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--modes", type=int, default=12)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--tile", type=int, default=4)
    p.add_argument("--json", type=Path)
    p.add_argument("--engine-lib", type=Path, help="libwno_engine.so to use for (d)")
    a = p.parse_args()
    capped = machine.cap_peers()  # before OpenVINO loads oneDNN, here or in a child
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    thread_counts = sorted({1, a.threads})
    lib = engine_library(a.engine_lib)
    isa_note = f"; WNO_CPU_ISA={os.environ['WNO_CPU_ISA']}" if os.environ.get("WNO_CPU_ISA") else ""
    print(machine.describe(lib) + isa_note)
    for line in capped:
        print(line)
    if lib is None:
        print(
            "the native engine is not built (pip install -e . or cmake --build build/native --target wno_engine): "
            "row (d) skipped"
        )
    has_openvino = importlib.util.find_spec("openvino") is not None
    if not has_openvino:
        print("openvino is not installed (pip install 'wno-edge[bench]'): the OpenVINO rows skipped")
    isa = machine.engine_isa(lib) if lib else None
    peaks, peak_line = machine.measured_peaks(isa or "", thread_counts)
    print(peak_line)
    config = WNOConfig(
        1,
        1,
        width=a.width,
        modes=(a.modes, a.modes),
        n_layers=a.layers,
        winograd_tile=a.tile,
        resolution=(a.grid, a.grid),
    )
    macs, direct = wno_macs(config, a.grid, a.tile)
    print(
        f"the WNO executes {macs / 1e6:.1f} M multiply-adds with F({a.tile},3) ({direct / 1e6:.1f} M with direct "
        "3x3 convs); GFLOP/s below count those for every engine on the .onnx"
    )
    routes = {}
    if not a.no_routes:
        routes = try_routes(a.grid, a.width, a.modes, a.layers)
        for label, outcome in routes.items():
            print(f"neuraloperator FNO via {label}: {outcome}")

    fno = neuraloperator_fno(a.width, a.modes, a.layers)
    wno = WNO2d(config).eval()
    rss = (None, None)
    results: dict = {"isa": isa, "peak_gflops": peaks, "routes": routes}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        onnx_path = tmp / "wno.onnx"
        export_onnx(wno, onnx_path, batch=1)
        x_np = np.random.default_rng(0).random((1, 1, a.grid, a.grid), dtype=np.float32)
        np.save(tmp / "x.npy", x_np)
        x = torch.from_numpy(x_np)
        with torch.inference_mode():
            refs = {"wno": wno(x).numpy(), "fno": fno(x).numpy() if fno is not None else None}
        files = {"onnx": onnx_path, "x": tmp / "x.npy", "tmp": tmp, "fno": tmp / "fno.pt"}
        if fno is not None:
            torch.save(fno.state_dict(), files["fno"])
            files["fno_args"] = {
                "n_modes": [a.modes] * 2,
                "in_channels": 1,
                "out_channels": 1,
                "hidden_channels": a.width,
                "n_layers": a.layers,
            }
        engines = [
            e
            for e in ALONE
            if (e != "fno-eager" or fno) and (e != "native" or lib) and (e != "openvino" or has_openvino)
        ]
        with busy_process() if a.busy else contextlib.nullcontext():
            if a.busy:
                print("busy: one competing busy process runs through every row below")
            alone, notes, floor = ({}, [], {})
            if a.alone_runs > 0:
                jobs = [(e, t) for e in engines for t in thread_counts]
                with jitter_probe(None if a.busy else isa) as (probe, why):
                    alone, notes, floor = run_alone(jobs, files, lib, a.alone_runs, a.rounds, probe)
                notes += [why] if why else []
            session = runtime.load(onnx_path, threads=a.threads, check_finite=False, backend="onnxruntime")
            runs = {}
            if fno is not None:
                runs[A] = lambda: fno(x)
            runs[B] = lambda: wno(x)
            out = np.empty(session.output_shape, np.float32)
            runs[C] = lambda: session.run(x_np, out=out)
            runs[C_SPIN] = open_engine("ort-spin", onnx_path, a.threads, x_np)
            if has_openvino:
                runs[E] = open_engine("openvino", onnx_path, a.threads, x_np)
            if lib is not None:
                runs[D1] = open_engine("native", onnx_path, 1, x_np, lib)
                runs[D2] = open_engine("native", onnx_path, 2, x_np, lib)
            with torch.inference_mode():
                for name, fn in runs.items():
                    if name not in (A, B):
                        np.testing.assert_allclose(fn(), refs["wno"], rtol=1e-3, atol=1e-4, err_msg=name)
                times = interleaved(runs, a.iterations, a.block)
        stages = {}
        for name, t in ((D1, 1), (D2, 2)):
            if name in runs:  # a short profiled run for the per-stage breakdown
                with runtime.load(
                    onnx_path, threads=t, check_finite=False, backend="native", library=lib, profile=True
                ) as s:
                    s.warmup(20)
                    s.reset_stage_times()
                    s.warmup(200)
                    stages[name] = s.timing_breakdown()["stages_ms"]
        if lib is not None:
            rss = fresh_process_rss(onnx_path, lib, a.threads)

    for line in notes:
        print(line)
    if alone:
        print(
            f"\n{a.alone_runs} runs per child"
            + (f", lowest median of {a.rounds} rounds" if a.rounds > 1 else "")
            + (" (busy)" if a.busy else "")
        )
        if floor:
            print(
                f"this machine's p99/p50 floor (the FMA probe, {a.alone_runs} rounds as long as the native "
                "median, after each native row): "
                + ", ".join(f"{t} thread{'s' if t > 1 else ''} {spread(f)}" for t, f in sorted(floor.items()))
            )
            results["p99_p50_floor"] = floor
        results["alone"] = print_alone(alone, refs, macs, peaks, a.busy, floor)
    anchor = stats(times[A])[0] if A in times else None
    ort = stats(times[C])[0]
    print(
        f"\ninterleaved, batch 1, {a.grid}x{a.grid} grid, width {a.width}, {a.modes}x{a.modes} modes, "
        f"{a.layers} layers, "
        f"{a.threads} threads for (a)-(c) and (e), {a.iterations} iterations each (blocks of {a.block})"
        + (", busy" if a.busy else "")
    )
    print(
        f"{'':42s} {'median ms':>10s} {'p99 ms':>10s} {'p99/p50':>8s} {'vs (a)':>8s} {'vs (c)':>8s} "
        f"{'GFLOP/s':>8s} {'% peak':>7s}"
    )
    table = {}
    for name, t in times.items():
        med, p99 = stats(t)
        table[name] = {
            "median_ms": med,
            "p99_ms": p99,
            "jitter": p99 / med,
            "speedup": anchor / med if anchor else None,
            "vs_c": ort / med,
        }
        va = f"{anchor / med:7.2f}x" if anchor else "    n/a"
        threads = 1 if name == D1 else 2 if name == D2 else a.threads
        print(
            f"{name:42s} {med:10.3f} {p99:10.3f} {p99 / med:8.2f} {va:>8s} {ort / med:7.2f}x "
            f"{rate(None if name == A else macs, med, peaks.get(threads))}"
        )
    results["interleaved"] = table
    if A in table:
        c = table[C]
        print(
            f"goal (c) >= 5x faster than (a): {'met' if c['speedup'] >= 5 else 'NOT met'} ({c['speedup']:.2f}x); "
            f"goal p99 <= 1.5x median: {'met' if c['jitter'] <= 1.5 else 'NOT met'} ({c['jitter']:.2f})"
        )
    for name in (D1, D2):
        if name not in table:
            continue
        d = table[name]
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
                "    stages (mean ms per run, profiled separately, quiet): "
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
        a.json.write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
