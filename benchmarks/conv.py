#!/usr/bin/env python3
"""3x3 conv layers of a WNO on the CPU: our fused Winograd kernel vs PyTorch and ONNX Runtime.

For each WNO layer shape (batch 1 and 8; channels 20, 32, 64 in = out; grids 64x64 and
128x128 and their domain-padded 66x66 and 130x130; 1 and 2 threads) times, in one process:
  torch   torch.nn.functional.conv2d with torch.set_num_threads(threads) (oneDNN on x86)
  ort     ONNX Runtime's Conv (one-node model, intra-op threads set, spinning off)
  ncnn    ncnn's Convolution layer with Winograd on (its own F(2/4/6,3) kernels), built from a
          one-layer .param text and weights in memory, num_threads set; ncnn has no batch axis,
          so batch N is N extractions (optional: pip install ncnn; without it the column is "-")
  F2/F4/F6  libwno_winograd.so through its C ABI, weights transformed once beforehand;
          "ours" is the best of the three (the kernel takes the tile as an argument)
Runs are interleaved in blocks (each implementation `--block` calls, round after round)
so machine noise hits all alike; a time is the median over all calls. GFLOP/s are
direct-equivalent (2 * 9 * C * K * H * W * N / t), next to the machine's FP32 FMA peak measured
by a C probe for the kernel's ISA (benchmarks/machine.py; an estimate from /proc/cpuinfo if no C
compiler). It prints the CPU model and the ISA the kernel picked; WNO_CPU_ISA=avx2 measures our
AVX2 path on an AVX-512 machine, with torch's oneDNN capped to AVX2 too (ONNX Runtime and ncnn
cannot be capped: they keep their best ISA).
Per thread count a summary line gives the median and min of torch ms / ours ms (and of ONNX
Runtime's and ncnn's); at the end, how much faster 2 threads are than 1 for each batch-1 shape (ours, best tile each):
from the two phases of the table, and measured again with 1 and 2 threads interleaved
with each other and nothing else (torch's OpenMP threads, spinning after its calls, take
the second core from ours in the table's rounds; an application's kernel does not share
its cores with torch).

    pip install -e .                 # builds the native library
    python benchmarks/conv.py        # full table (a few minutes)
    python benchmarks/conv.py --quick --no-ort --no-ncnn
"""

from __future__ import annotations

import argparse
import ctypes
import itertools
import json
import os
import platform
import statistics
import struct
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from wno_edge import native
from wno_edge.contract import TILES
from wno_edge.native.abi import ConvDesc
from wno_edge.reports.conv_compare import ort_conv

sys.path.insert(0, os.fspath(Path(__file__).resolve().parent))
import machine  # noqa: E402

# ----------------------------------------------------------------- machine peak


def peak_gflops(threads: int) -> tuple[float, str]:
    """cores x GHz x FP32 FLOP/cycle of the vector FMA units (an estimate, stated)."""
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    flags = set(
        next((ln.split(":", 1)[1].split() for ln in info.splitlines() if ln.startswith(("flags", "Features"))), [])
    )
    mhz = [float(ln.split(":", 1)[1]) for ln in info.splitlines() if ln.startswith("cpu MHz")]
    ghz = (max(mhz) / 1000) if mhz else 2.0
    amd = "AuthenticAMD" in info
    if "avx512f" in flags:
        # Zen 4 runs 512-bit FMAs as two 256-bit halves: 2 x 8 lanes; Intel servers 2 x 16.
        per_cycle, isa = (32, "AVX-512 (Zen 4: 2x256-bit FMA)") if amd else (64, "AVX-512 (2 FMA units)")
    elif "avx2" in flags and "fma" in flags:
        per_cycle, isa = 32, "AVX2 (2 FMA units)"
    elif platform.machine() in ("aarch64", "arm64"):
        per_cycle, isa = 16, "NEON (2x128-bit FMA)"
    else:
        per_cycle, isa = 16, "SSE"
    return threads * ghz * per_cycle, f"{threads} core(s) x {ghz:.2f} GHz x {per_cycle} FLOP/cycle, {isa}"


# ----------------------------------------------------------------- implementations


class NativeConv:
    """The C ABI with everything prepared: the deployment path, no per-call allocation."""

    def __init__(self, lib, x, w, b, tile, threads):
        self.lib, self.x, self.b, self.threads = lib, x, b, threads
        n, c, h, wd = x.shape
        self.desc = ConvDesc(n, c, w.shape[0], h, wd, 1, tile)
        d = ctypes.byref(self.desc)
        self.u = np.empty(lib.wno_cpu_weight_size(d) // 4, np.float32)
        assert lib.wno_cpu_transform_weights(d, w.ctypes.data, self.u.ctypes.data, self.u.nbytes) == 0
        self.ws = np.empty(lib.wno_cpu_workspace_size(d, threads), np.uint8)
        self.y = np.empty((n, w.shape[0], h, wd), np.float32)
        self.args = (
            d,
            x.ctypes.data,
            self.u.ctypes.data,
            b.ctypes.data,
            self.y.ctypes.data,
            self.ws.ctypes.data,
            self.ws.nbytes,
            threads,
        )

    def __call__(self):
        status = self.lib.wno_cpu_conv2d(*self.args)
        if status:
            raise RuntimeError(self.lib.wno_status_string(status).decode())
        return self.y


class NcnnConv:
    """ncnn's Convolution layer (Winograd on) on one image at a time, its input Mats made once."""

    def __init__(self, ncnn, x, w, b, threads):
        n, c, h, wd = x.shape
        k = w.shape[0]
        self.net = ncnn.Net()
        self.net.opt.num_threads = threads
        self.net.opt.use_winograd_convolution = True
        # 0=K 1/11=kernel w/h 3/13=stride 4/14=pad 5=bias 6=weight count; weights: a float32 tag, then raw
        param = (
            f"7767517\n2 2\nInput in0 0 1 in0 0={wd} 1={h} 2={c}\n"
            f"Convolution conv0 1 1 in0 out0 0={k} 1=3 11=3 3=1 13=1 4=1 14=1 5=1 6={k * c * 9}\n"
        )
        if self.net.load_param_mem(param) != 0:
            raise RuntimeError("ncnn refused the one-layer .param")
        self.net.load_model_mem(struct.pack("<I", 0) + w.tobytes() + b.tobytes())
        self.images = [ncnn.Mat(np.ascontiguousarray(x[i])) for i in range(n)]

    def __call__(self):
        out = []
        for image in self.images:  # a fresh extractor per image: an extractor caches its blobs
            ex = self.net.create_extractor()
            ex.input("in0", image)
            out.append(ex.extract("out0")[1])
        return out

    def result(self):
        return np.stack([np.array(m) for m in self()])


def import_ncnn(skip: bool):
    if skip:
        return None
    try:
        import ncnn
    except ImportError:
        print("ncnn is not installed (pip install ncnn): its column skipped")
        return None
    return ncnn


# ----------------------------------------------------------------- timing


def interleaved_medians(fns: dict, rounds: int, block: int, warmup: int = 3) -> dict:
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            for _ in range(block):
                t0 = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(ts) for name, ts in times.items()}


def thread_scaling(lib, n: int, c: int, g: int, tile: int, rounds: int, min_time: float) -> float:
    """Median time at 1 thread / at 2 threads, the two interleaved and nothing else running."""
    rng = np.random.default_rng(c * g + n)
    x = rng.standard_normal((n, c, g, g), dtype=np.float32)
    w = (rng.standard_normal((c, c, 3, 3)) / np.sqrt(9 * c)).astype(np.float32)
    b = rng.standard_normal(c, dtype=np.float32)
    fns = {t: NativeConv(lib, x, w, b, tile, t) for t in (1, 2)}
    t0 = time.perf_counter()
    fns[1]()
    block = max(1, min(200, int(min_time / max(time.perf_counter() - t0, 1e-5))))
    med = interleaved_medians(fns, rounds, block)
    return med[1] / med[2]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer rounds (about a minute)")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    p.add_argument("--channels", type=int, nargs="+", default=[20, 32, 64])
    p.add_argument("--grid", type=int, nargs="+", default=[64, 66, 128, 130])
    p.add_argument("--rounds", type=int, default=None, help="interleaved rounds per shape")
    p.add_argument("--min-time", type=float, default=None, help="seconds per implementation and round")
    p.add_argument("--no-ort", action="store_true", help="skip ONNX Runtime")
    p.add_argument("--no-ncnn", action="store_true", help="skip ncnn")
    p.add_argument("--json", type=Path, help="also write the rows here")
    a = p.parse_args(argv)
    rounds = a.rounds or (3 if a.quick else 7)
    min_time = a.min_time or (0.02 if a.quick else 0.06)

    capped = machine.cap_peers("torch F.conv2d (oneDNN)", "ONNX Runtime and ncnn")  # before torch's first conv
    ok, why = native.available()
    if not ok:
        raise SystemExit(f"native library not available: {why}")
    lib = native.load()
    isa = lib.wno_cpu_isa().decode()
    print(f"wno-edge CPU kernel: {why}; ISA {isa}; CPU {machine.cpu_model()}")
    for line in capped:
        print(line)
    ncnn = import_ncnn(a.no_ncnn)
    measured, peak_line = machine.measured_peaks(isa, a.threads)
    print(peak_line)
    print(f"torch {torch.__version__}", end="")
    if not a.no_ort:
        import onnxruntime

        print(f", onnxruntime {onnxruntime.__version__}", end="")
    if ncnn is not None:
        print(f", ncnn {ncnn.__version__}", end="")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"; {platform.machine()}, {os.cpu_count()} CPUs, load average {load:.2f} "
        "(other processes share these cores: compare within a run)"
    )

    rows = []
    header = (
        f"{'thr':>3} {'N':>2} {'C':>3} {'grid':>7} | {'torch':>8} {'ort':>8} {'ncnn':>8} | "
        f"{'F2':>8} {'F4':>8} {'F6':>8} | {'ours':>8} {'tile':>4} {'x torch':>7} {'x ort':>6} {'x ncnn':>6} | "
        f"{'GFLOP/s':>7} {'% peak':>6}"
    )
    for threads in a.threads:
        torch.set_num_threads(threads)
        cpu0, wall0 = os.times(), time.perf_counter()
        peak, peak_how = peak_gflops(threads)
        if threads in measured:
            peak, peak_how = measured[threads], "measured"
        print(
            f"\n{threads} thread(s): peak {peak:.0f} GFLOP/s ({peak_how}); times in ms "
            "(median); x torch = torch ms / ours ms; GFLOP/s direct-equivalent, so Winograd can "
            "pass 100% of peak"
        )
        print(header)
        print("-" * len(header))
        for n, c, g in itertools.product(a.batch, a.channels, a.grid):
            rng = np.random.default_rng(c * g + n)
            x = rng.standard_normal((n, c, g, g), dtype=np.float32)
            w = (rng.standard_normal((c, c, 3, 3)) / np.sqrt(9 * c)).astype(np.float32)
            b = rng.standard_normal(c, dtype=np.float32)
            xt, wt, bt = (torch.from_numpy(v) for v in (x, w, b))
            fns = {"torch": lambda xt=xt, wt=wt, bt=bt: F.conv2d(xt, wt, bt, padding=1)}
            if not a.no_ort:
                fns["ort"] = ort_conv(x, w, b, threads)
            if ncnn is not None:
                fns["ncnn"] = NcnnConv(ncnn, x, w, b, threads)
            for tile in TILES:
                fns[f"F{tile}"] = NativeConv(lib, x, w, b, tile, threads)
            ref = fns["torch"]().numpy()
            for tile in TILES:  # a benchmark of a wrong answer is worthless
                err = np.abs(fns[f"F{tile}"]() - ref).max() / np.abs(ref).max()
                assert err < 1e-4, (tile, err)
            if "ncnn" in fns:
                err = np.abs(fns["ncnn"].result() - ref).max() / np.abs(ref).max()
                assert err < 1e-4, ("ncnn", err)
            t0 = time.perf_counter()
            fns["torch"]()
            one = max(time.perf_counter() - t0, 1e-5)
            block = max(1, min(200, int(min_time / one)))
            med = interleaved_medians(fns, rounds, block)
            best = min(TILES, key=lambda t: med[f"F{t}"])
            tb = med[f"F{best}"]
            gflops = 18.0 * c * c * g * g * n / tb / 1e9
            row = dict(
                threads=threads,
                batch=n,
                channels=c,
                grid=g,
                best_tile=best,
                ours_ms=tb * 1e3,
                speedup_torch=med["torch"] / tb,
                gflops=gflops,
                peak_gflops=peak,
                **{f"{k}_ms": v * 1e3 for k, v in med.items()},
            )
            for peer in ("ort", "ncnn"):
                if peer in med:
                    row[f"speedup_{peer}"] = med[peer] / tb
            rows.append(row)
            peer_ms = " ".join(f"{med[k] * 1e3:8.3f}" if k in med else f"{'-':>8}" for k in ("ort", "ncnn"))
            x_peers = " ".join(f"{row[f'speedup_{k}']:6.2f}" if k in med else f"{'-':>6}" for k in ("ort", "ncnn"))
            print(
                f"{threads:>3} {n:>2} {c:>3} {g:>3}x{g:<3} | {med['torch'] * 1e3:8.3f} {peer_ms} | "
                + " ".join(f"{med[f'F{t}'] * 1e3:8.3f}" for t in TILES)
                + f" | {tb * 1e3:8.3f} F{best:<3} {row['speedup_torch']:7.2f} {x_peers} | "
                f"{gflops:7.1f} {100 * gflops / peak:5.0f}%",
                flush=True,
            )
        cpu1, wall = os.times(), time.perf_counter() - wall0
        busy = (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / wall
        # Every implementation keeps `threads` cores busy while it runs: much less means
        # other processes took cores from this phase and its figures are disturbed.
        print(
            f"{threads} thread(s): this process used {busy:.2f} cores on average "
            f"({threads} expected on a quiet machine)"
        )
        mine = [r for r in rows if r["threads"] == threads]
        speedups = [r["speedup_torch"] for r in mine]
        print(
            f"{threads} thread(s), ours vs torch conv2d: median {statistics.median(speedups):.2f}x, "
            f"min {min(speedups):.2f}x, max {max(speedups):.2f}x over {len(mine)} shapes "
            "(goal at 2 threads: median >= 2x, min >= 1.0x)"
        )
        if any("speedup_ort" in r for r in mine):
            so = [r["speedup_ort"] for r in mine]
            print(
                f"{threads} thread(s), ours vs ONNX Runtime Conv: median {statistics.median(so):.2f}x, "
                f"min {min(so):.2f}x"
            )
        if any("speedup_ncnn" in r for r in mine):
            sn = [r["speedup_ncnn"] for r in mine]
            print(
                f"{threads} thread(s), ours vs ncnn Winograd Convolution: median {statistics.median(sn):.2f}x, "
                f"min {min(sn):.2f}x (goal at 2 threads: median >= 1.5x, min >= 1.0x)"
            )
        for r in mine:
            if r["speedup_torch"] < 1.0:
                print(
                    f"  slower than torch: N={r['batch']}, C={r['channels']}, {r['grid']}x{r['grid']}: "
                    f"{r['speedup_torch']:.2f}x"
                )

    by = {(r["threads"], r["batch"], r["channels"], r["grid"]): r for r in rows}
    if 1 in a.threads and 2 in a.threads:
        print("\nours, 1 -> 2 threads (best tile at 2 threads; goal >= 1.7x at N=1, C=K=32, 64x64):")
        print("  table phases | interleaved 1 and 2 threads, ours only")
        for (t, n, c, g), r in by.items():
            if t == 1 and (2, n, c, g) in by:
                two = by[(2, n, c, g)]
                alone = thread_scaling(lib, n, c, g, two["best_tile"], rounds, min_time)
                r["scaling_interleaved"] = alone
                print(
                    f"  N={n} C=K={c} {g}x{g}: {r['ours_ms']:.3f} ms -> {two['ours_ms']:.3f} ms = "
                    f"{r['ours_ms'] / two['ours_ms']:.2f}x | {alone:.2f}x",
                    flush=True,
                )
    if a.json:
        a.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
