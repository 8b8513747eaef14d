#!/usr/bin/env python3
"""Batch-1 latency of one operator size, three ways, in one process:

  (a) neuraloperator's FNO in PyTorch eager  (the anchor users would pick today)
  (b) our WNO in PyTorch eager
  (c) our WNO exported to FFT-free ONNX, run by wno_edge.runtime on ONNX Runtime CPU

64x64 grid, width 32, 12x12 modes, 4 layers, batch 1 (the anchor the README quotes).
Runs are interleaved in blocks (a x n, b x n, c x n, repeated) so machine noise hits all
three alike; medians and p99 over all iterations. Goal: (c) >= 5x faster than (a) at the
median, and (c)'s p99 <= 1.5x its own median.

    pip install neuraloperator      # benchmark-only dependency
    python benchmarks/end_to_end.py [--iterations 2000] [--threads 2]
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from wno_edge import runtime
from wno_edge.model import WNO2d, WNOConfig
from wno_edge.onnx import export_onnx


def neuraloperator_fno(width, modes, layers):
    try:
        from neuralop.models import FNO
    except ImportError:
        raise SystemExit("this benchmark needs neuraloperator: pip install neuraloperator") from None
    return FNO(n_modes=(modes, modes), in_channels=1, out_channels=1, hidden_channels=width, n_layers=layers).eval()


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
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)

    fno = neuraloperator_fno(a.width, a.modes, a.layers)
    wno = WNO2d(WNOConfig(1, 1, width=a.width, modes=(a.modes, a.modes), n_layers=a.layers,
                          winograd_tile=a.tile, resolution=(a.grid, a.grid))).eval()
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = Path(tmp) / "wno.onnx"
        export_onnx(wno, onnx_path, batch=1)
        session = runtime.load(onnx_path, threads=a.threads, check_finite=False)
        x_np = np.random.default_rng(0).random((1, 1, a.grid, a.grid), dtype=np.float32)
        x = torch.from_numpy(x_np)
        out = np.empty(session.output_shape, np.float32)
        with torch.inference_mode():
            np.testing.assert_allclose(session.run(x_np), wno(x).numpy(), rtol=1e-3, atol=1e-4)
            runs = {
                "(a) neuraloperator FNO, PyTorch eager": lambda: fno(x),
                "(b) wno-edge WNO, PyTorch eager": lambda: wno(x),
                "(c) wno-edge WNO, ONNX Runtime CPU": lambda: session.run(x_np, out=out),
            }
            times = {name: [] for name in runs}
            for fn in runs.values():  # warm up
                for _ in range(20):
                    fn()
            for _ in range(max(1, a.iterations // a.block)):
                for name, fn in runs.items():
                    timed(fn, a.block, times[name])

    anchor = np.median(times["(a) neuraloperator FNO, PyTorch eager"])
    print(f"batch 1, {a.grid}x{a.grid} grid, width {a.width}, {a.modes}x{a.modes} modes, {a.layers} layers, "
          f"{a.threads} threads, {a.iterations} iterations each (blocks of {a.block})")
    print(f"{'':42s} {'median ms':>10s} {'p99 ms':>10s} {'p99/p50':>8s} {'speedup vs (a)':>15s}")
    results = {}
    for name, t in times.items():
        t = np.asarray(t)
        med, p99 = np.median(t), np.percentile(t, 99)
        results[name] = {"median_ms": med * 1e3, "p99_ms": p99 * 1e3, "jitter": p99 / med, "speedup": anchor / med}
        print(f"{name:42s} {med * 1e3:10.3f} {p99 * 1e3:10.3f} {p99 / med:8.2f} {anchor / med:14.2f}x")
    c = results["(c) wno-edge WNO, ONNX Runtime CPU"]
    print(f"goal (c) >= 5x faster than (a): {'met' if c['speedup'] >= 5 else 'NOT met'} ({c['speedup']:.2f}x); "
          f"goal p99 <= 1.5x median: {'met' if c['jitter'] <= 1.5 else 'NOT met'} ({c['jitter']:.2f})")
    if a.json:
        a.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
