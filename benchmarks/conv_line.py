#!/usr/bin/env python3
"""The 1-D 3-tap conv of a WNO1d layer on the CPU: our Winograd kernel (desc.dims 1) vs torch.

Times, interleaved as in benchmarks/conv.py (median over all calls), for each batch and
thread count: torch.nn.functional.conv1d (torch.set_num_threads) and libwno_winograd.so's
F(m, 3) through its C ABI, weights transformed once beforehand. $WNO_CPU_ISA=avx2|generic
runs the kernel's lower ISA builds. Then ours at 1 and 2 threads interleaved with each other
and nothing else: in the table's rounds torch's OpenMP threads, spinning after their calls,
take the second core from ours (as in benchmarks/conv.py). On a shared machine set
WNO_POOL_ADAPT=0, or the pool runs alone while another process holds a core.

    pip install -e .                          # builds the native library
    python benchmarks/conv_line.py            # N 1 and 64, C = K = 64, W = 1024, F(4, 3)
    WNO_CPU_ISA=avx2 python benchmarks/conv_line.py --tiles 2 4 6
"""

from __future__ import annotations

import argparse
import ctypes
import os
import time

import numpy as np
import torch
import torch.nn.functional as F
from conv import interleaved_medians  # benchmarks/conv.py, beside this script

from wno_edge import native
from wno_edge.native.abi import ConvDesc


class NativeLineConv:
    """wno_cpu_conv2d with desc.dims 1, everything prepared (no per-call allocation)."""

    def __init__(self, lib, x, w, b, tile, threads):
        n, c, width = x.shape
        k = w.shape[0]
        self.lib, self.keep = lib, (x, b)
        self.desc = ConvDesc(n, c, k, 1, width, 1, tile, 1)
        d = ctypes.byref(self.desc)
        self.u = np.empty(lib.wno_cpu_weight_size(d) // 4, np.float32)
        assert lib.wno_cpu_transform_weights(d, w.ctypes.data, self.u.ctypes.data, self.u.nbytes) == 0
        self.ws = np.empty(lib.wno_cpu_workspace_size(d, threads), np.uint8)
        self.y = np.empty((n, k, width), np.float32)
        self.args = (d, x.ctypes.data, self.u.ctypes.data, b.ctypes.data, self.y.ctypes.data)
        self.tail = (self.ws.ctypes.data, self.ws.nbytes, threads)

    def __call__(self):
        status = self.lib.wno_cpu_conv2d(*self.args, *self.tail)
        if status:
            raise RuntimeError(self.lib.wno_status_string(status).decode())
        return self.y


def problem(n: int, c: int, width: int):
    rng = np.random.default_rng(n)
    x = rng.standard_normal((n, c, width), dtype=np.float32)
    w = (rng.standard_normal((c, c, 3)) / np.sqrt(3 * c)).astype(np.float32)
    return x, w, rng.standard_normal(c, dtype=np.float32)


def block_size(fn, min_time: float) -> int:
    """Calls per block so that a block takes about min_time."""
    t0 = time.perf_counter()
    fn()
    return max(1, min(200, int(min_time / max(time.perf_counter() - t0, 1e-5))))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, nargs="+", default=[1, 64])
    p.add_argument("--channels", type=int, default=64)
    p.add_argument("--width", type=int, default=1024)
    p.add_argument("--tiles", type=int, nargs="+", default=[4])
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--min-time", type=float, default=0.05, help="seconds per implementation and round")
    a = p.parse_args(argv)
    ok, why = native.available()
    if not ok:
        raise SystemExit(f"native library not available: {why}")
    lib = native.load()
    load = os.getloadavg()[0]
    print(f"{why}; torch {torch.__version__}; load average {load:.2f} (compare within a run)")
    c, width = a.channels, a.width
    print(f"C = K = {c}, W = {width}, padding 1; ms (median); x = torch ms / ours ms")
    print(f"{'thr':>3} {'N':>3} | {'torch':>8} | " + " ".join(f"{'F' + str(t):>8} {'x':>5}" for t in a.tiles))
    for threads in a.threads:
        torch.set_num_threads(threads)
        for n in a.batch:
            x, w, b = problem(n, c, width)
            xt, wt, bt = (torch.from_numpy(v) for v in (x, w, b))
            fns = {"torch": lambda xt=xt, wt=wt, bt=bt: F.conv1d(xt, wt, bt, padding=1)}
            for tile in a.tiles:
                fns[tile] = NativeLineConv(lib, x, w, b, tile, threads)
            ref = fns["torch"]().numpy()
            for tile in a.tiles:  # a benchmark of a wrong answer is worthless
                err = np.abs(fns[tile]() - ref).max() / np.abs(ref).max()
                assert err < 1e-4, (tile, err)
            med = interleaved_medians(fns, a.rounds, block_size(fns["torch"], a.min_time))
            cells = " ".join(f"{med[t] * 1e3:8.3f} {med['torch'] / med[t]:5.2f}" for t in a.tiles)
            print(f"{threads:>3} {n:>3} | {med['torch'] * 1e3:8.3f} | {cells}", flush=True)
    print("ours alone, 1 and 2 threads interleaved: ms at 1 thread -> ms at 2 threads")
    for n in a.batch:
        x, w, b = problem(n, c, width)
        for tile in a.tiles:
            fns = {t: NativeLineConv(lib, x, w, b, tile, t) for t in (1, 2)}
            med = interleaved_medians(fns, a.rounds, block_size(fns[1], a.min_time))
            print(f"  N={n} F{tile}: {med[1] * 1e3:.3f} -> {med[2] * 1e3:.3f} = {med[1] / med[2]:.2f}x", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
