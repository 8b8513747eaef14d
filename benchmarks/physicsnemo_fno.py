#!/usr/bin/env python3
"""A PhysicsNeMo FNO deployed with wno-edge (issue 26), in two processes:

  (a) PhysicsNeMo's FNO in PyTorch eager, in PhysicsNeMo's own venv (a child process: it brings
      its own torch), which also writes the .mdlus checkpoint with Module.save
  (b) the same checkpoint imported (wno-edge import-physicsnemo), exported to FFT-free ONNX
      (--spectral matmul), on ONNX Runtime CPU, OpenVINO CPU and the native engine
  (c) the same import exported with --spectral dft (the standard DFT op), on ONNX Runtime and the
      native engine

The FNO of issue 26: dimension 2, latent 32, 12 modes, 4 layers, 64x64, batch 1 and 64; random
weights. Rows of (b) and (c) run interleaved in blocks; medians and p99 over all runs. (a)'s
time comes from its child (the same input, the same thread count). Every output is checked
against PhysicsNeMo's. Aim: the engine at 8x PhysicsNeMo eager.

    make physicsnemo-fixtures                       # once: the PhysicsNeMo venv (PNEMO_VENV)
    python benchmarks/physicsnemo_fno.py [--batch 1 64] [--threads 2] [--pnemo-python /tmp/pnemo-venv/bin/python]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from end_to_end import timed  # noqa: E402

from wno_edge import runtime  # noqa: E402
from wno_edge.errors import WNOEdgeError  # noqa: E402
from wno_edge.importers.physicsnemo import import_physicsnemo  # noqa: E402
from wno_edge.onnx import export_onnx  # noqa: E402

# Runs in PhysicsNeMo's venv: build, save, time eager, write the input and output.
_PNEMO_CHILD = """
import json, sys, time
import numpy as np, torch
from physicsnemo.models.fno import FNO
out, grid, batch, threads, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
torch.set_num_threads(threads)
torch.manual_seed(0)
model = FNO(in_channels=1, out_channels=1, dimension=2, latent_channels=32, num_fno_layers=4, num_fno_modes=12).eval()
model.save(out + "/fno.mdlus")
x = torch.from_numpy(np.random.default_rng(0).standard_normal((batch, 1, grid, grid)).astype(np.float32))
t = []
with torch.inference_mode():
    for _ in range(min(20, runs)):
        model(x)
    for _ in range(runs):
        t0 = time.perf_counter(); y = model(x); t.append(time.perf_counter() - t0)
np.save(out + "/x.npy", x.numpy()); np.save(out + "/y.npy", y.numpy())
import physicsnemo
print(json.dumps({"times": t, "version": physicsnemo.__version__, "torch": torch.__version__}))
"""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, nargs="+", default=[1, 64])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--grid", type=int, default=64)
    p.add_argument("--runs", type=int, default=300, help="timed runs per row at batch 1 (fewer at larger batches)")
    p.add_argument("--pnemo-python", default="/tmp/pnemo-venv/bin/python")
    a = p.parse_args()
    if not Path(a.pnemo_python).is_file():
        raise SystemExit(f"no PhysicsNeMo venv at {a.pnemo_python}: run `make physicsnemo-fixtures` once")
    for batch in a.batch:
        runs = max(20, a.runs // batch)
        with tempfile.TemporaryDirectory() as tmp:
            child = subprocess.run(
                [a.pnemo_python, "-c", _PNEMO_CHILD, tmp, str(a.grid), str(batch), str(a.threads), str(runs)],
                capture_output=True,
                text=True,
            )
            if child.returncode:
                raise SystemExit(f"PhysicsNeMo's child failed: {child.stderr.strip().splitlines()[-1]}")
            eager = json.loads(child.stdout.strip().splitlines()[-1])
            tmp_path = Path(tmp)
            x, ref = np.load(tmp_path / "x.npy"), np.load(tmp_path / "y.npy")
            import_physicsnemo(tmp_path / "fno.mdlus", tmp_path / "fno.pt", resolution=(a.grid, a.grid))
            sessions = {}
            for form in ("matmul", "dft"):
                path = tmp_path / f"fno_{form}.onnx"
                export_onnx(tmp_path / "fno.pt", path, batch=batch, spectral=form)
                backends = ("native", "onnxruntime", "openvino") if form == "matmul" else ("native", "onnxruntime")
                for backend in backends:
                    try:
                        sessions[f"{form} form, {backend}"] = runtime.load(
                            path, backend=backend, threads=a.threads, check_finite=False
                        )
                    except WNOEdgeError as e:
                        print(f"{form} form on {backend}: not run: {e}")
            scale = float(np.abs(ref).max())
            errors = {name: float(np.abs(s.run(x) - ref).max()) / scale for name, s in sessions.items()}
            times: dict[str, list[float]] = {name: [] for name in sessions}
            for s in sessions.values():
                s.warmup(10)
            block = max(5, runs // 10)
            for _ in range(max(1, runs // block)):
                for name, s in sessions.items():
                    time.sleep(0.02)
                    timed(lambda s=s, x=x: s.run(x), block, times[name])
            for s in sessions.values():
                s.close()
        anchor = float(np.median(eager["times"]))
        print(
            f"\nPhysicsNeMo {eager['version']} FNO (2-D, latent 32, 12 modes, 4 layers), {a.grid}x{a.grid}, "
            f"batch {batch}, {a.threads} threads; eager in its own venv (torch {eager['torch']}), {runs} runs a row"
        )
        print(f"{'':34s} {'median ms':>10s} {'p99 ms':>10s} {'vs eager':>9s} {'err/scale':>10s}")
        p99 = np.percentile(eager["times"], 99)
        print(f"{'PhysicsNeMo FNO, PyTorch eager':34s} {anchor * 1e3:10.3f} {p99 * 1e3:10.3f}")
        for name, t in times.items():
            med, p99 = float(np.median(t)), float(np.percentile(t, 99))
            print(f"{name:34s} {med * 1e3:10.3f} {p99 * 1e3:10.3f} {anchor / med:8.2f}x {errors[name]:10.1e}")
        engine = float(np.median(times.get("matmul form, native", [np.nan])))
        verdict = "met" if anchor / engine >= 8 else "NOT met"
        print(f"aim: the engine at 8x PhysicsNeMo eager: {verdict} ({anchor / engine:.2f}x)")


if __name__ == "__main__":
    main()
