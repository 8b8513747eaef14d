#!/usr/bin/env python3
"""Latency of a neuraloperator 2.0 FNO, 2-D or 1-D, deployed with wno-edge, in one process:

  (a) neuraloperator's FNO in PyTorch eager            (what its users run today)
  (b) the same FNO imported (wno-edge import-neuralop), PyTorch eager
  (c) the import exported to FFT-free ONNX, ONNX Runtime CPU
  (d) the same .onnx on the native engine (runtime/engine); a file the engine does not run is
      reported with the engine's one-line refusal
  (e) the same .onnx on OpenVINO CPU (when openvino is installed)

The FNO of issue 14: FNO(n_modes=(16, 16), hidden_channels=32, in_channels=1, out_channels=1,
n_layers=4) with neuraloperator's defaults (MLP lifting, linear fno_skip, channel MLP with
soft-gating skip, grid embedding), random weights, 64x64 grid. --dims 1 is the 1-D row of issue 23
(n_modes=(16,), --width 64, --grid 1024, --batch 1 and 64). --kernel imports it as a WNO (a 3x3 or
3-tap Winograd kernel beside each spectral conv, random so that it counts): (a) then computes
another function, and the error column is against (b). The state dict goes through the file path
a user takes (torch.save -> import -> export). Rows run interleaved in blocks so machine noise
hits all alike; medians and p99 over all iterations. Target (2-D, batch 1): (d) >= 5x (a).

    pip install 'wno-edge[bench,openvino]'      # neuraloperator==2.0.0
    python benchmarks/neuralop_fno.py [--iterations 1000] [--threads 2] [--grid 64] [--engine-lib PATH]
    python benchmarks/neuralop_fno.py --dims 1 --grid 1024 --width 64 [--batch 64] [--kernel]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from end_to_end import engine_library, timed  # noqa: E402

from wno_edge import runtime  # noqa: E402
from wno_edge.checkpoint import load_model, save_model  # noqa: E402
from wno_edge.errors import WNOEdgeError  # noqa: E402
from wno_edge.importers.neuralop import import_neuralop  # noqa: E402
from wno_edge.onnx import export_onnx  # noqa: E402

A, B = "(a) neuraloperator FNO, PyTorch eager", "(b) the import, PyTorch eager"
C, D = "(c) exported .onnx, ONNX Runtime CPU", "(d) same .onnx, native engine"
E = "(e) same .onnx, OpenVINO CPU"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--iterations", type=int, default=1000)
    p.add_argument("--block", type=int, default=50)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--grid", type=int, default=64)
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--modes", type=int, default=16)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--dims", type=int, choices=(1, 2), default=2)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--kernel", action="store_true", help="import as a WNO: a Winograd kernel in every layer")
    p.add_argument("--json", type=Path)
    p.add_argument("--engine-lib", type=Path, help="libwno_engine.so to use for (d)")
    a = p.parse_args()
    warnings.filterwarnings("ignore", category=UserWarning)
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    from neuralop.models import FNO

    fno = FNO(
        n_modes=(a.modes,) * a.dims, hidden_channels=a.width, in_channels=1, out_channels=1, n_layers=a.layers
    ).eval()
    lib = engine_library(a.engine_lib)
    grid = (a.grid,) * a.dims
    x_np = np.random.default_rng(0).random((a.batch, 1, *grid), dtype=np.float32)
    x = torch.from_numpy(x_np)
    refused = None
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        torch.save(fno.state_dict(), tmp / "fno.pt")
        report = import_neuralop(tmp / "fno.pt", tmp / "fno.wno.pt", resolution=grid, real_space_kernel=a.kernel)
        wno = load_model(tmp / "fno.wno.pt")
        if a.kernel:  # the import's kernels start at zero: make them count
            with torch.no_grad():
                for layer in wno.layers:
                    layer.kernel.normal_(0, 0.3 / (a.width * 3**a.dims) ** 0.5)
            tmp.joinpath("fno.wno.pt").unlink()
            save_model(wno, tmp / "fno.wno.pt")
        export_onnx(tmp / "fno.wno.pt", tmp / "fno.onnx", batch=a.batch)
        session = runtime.load(tmp / "fno.onnx", threads=a.threads, check_finite=False, backend="onnxruntime")
        try:
            openvino = runtime.load(tmp / "fno.onnx", threads=a.threads, check_finite=False, backend="openvino")
        except WNOEdgeError as e:
            openvino, no_openvino = None, str(e)
        native = None
        if lib is None:
            refused = "the native engine is not built"
        else:
            try:
                native = runtime.load(
                    tmp / "fno.onnx", threads=a.threads, check_finite=False, backend="native", library=lib
                )
            except WNOEdgeError as e:
                refused = str(e).split(": ", 1)[-1]
        out = np.empty(session.output_shape, np.float32)
        with torch.inference_mode():
            ref = (wno if a.kernel else fno)(x).numpy()
            scale = float(np.abs(ref).max())
            errors = {C: float(np.abs(session.run(x_np) - ref).max()) / scale}
            if not a.kernel:
                errors[B] = float(np.abs(wno(x).numpy() - ref).max()) / scale
            if native is not None:
                errors[D] = float(np.abs(native.run(x_np) - ref).max()) / scale
            if openvino is not None:
                errors[E] = float(np.abs(openvino.run(x_np) - ref).max()) / scale
            runs = {A: lambda: fno(x), B: lambda: wno(x), C: lambda: session.run(x_np, out=out)}
            if native is not None:
                runs[D] = lambda: native.run(x_np, out=out)
            if openvino is not None:
                runs[E] = lambda: openvino.run(x_np, out=out)
            times = {name: [] for name in runs}
            for fn in runs.values():  # warm up
                for _ in range(20):
                    fn()
            for _ in range(max(1, a.iterations // a.block)):
                for name, fn in runs.items():
                    time.sleep(0.02)  # untimed: the previous row's spinning threads go idle first
                    timed(fn, a.block, times[name])
        for s in (native, openvino):
            if s is not None:
                s.close()

    anchor = np.median(times[A])
    print(
        f"neuraloperator {report.options}, batch {a.batch}, {'x'.join(map(str, grid))} grid, {a.threads} threads, "
        f"{a.iterations} iterations each (blocks of {a.block}); import vs neuraloperator "
        f"{report.reference_error:.1e} of the output scale"
        + (", imported as a WNO (Winograd kernels): errors against (b)" if a.kernel else "")
    )
    print(f"{'':40s} {'median ms':>10s} {'p99 ms':>10s} {'p99/p50':>8s} {'vs (a)':>8s} {'max err/scale':>14s}")
    results = {}
    for name, t in times.items():
        t = np.asarray(t)
        med, p99 = np.median(t), np.percentile(t, 99)
        results[name] = {
            "median_ms": med * 1e3,
            "p99_ms": p99 * 1e3,
            "jitter": p99 / med,
            "speedup": anchor / med,
            "error": errors.get(name),
        }
        err = (
            f"{errors[name]:14.1e}"
            if name in errors
            else f"{'(reference)' if name != A or not a.kernel else '(an FNO)':>14s}"
        )
        print(f"{name:40s} {med * 1e3:10.3f} {p99 * 1e3:10.3f} {p99 / med:8.2f} {anchor / med:7.2f}x {err}")
    if openvino is None:
        print(f"{E}: not run: {no_openvino}")
    if D in results:
        d = results[D]["speedup"]
        for other in (C, E):
            if other in results:
                print(f"(d) vs {other[:3]}: {results[other]['median_ms'] / results[D]['median_ms']:.2f}x")
        print(f"target (d) >= 5x (a) at {a.threads} threads: {'met' if d >= 5 else 'NOT met'} ({d:.2f}x)")
    else:
        c = results[C]["speedup"]
        print(f"{D}: not run: {refused}")
        print(f"target (d) >= 5x (a): not measurable; (c) ONNX Runtime is {c:.2f}x (a)")
        results[D] = {"refused": refused}
    if a.json:
        a.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
