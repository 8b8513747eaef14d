#!/usr/bin/env python3
"""Two builds of the native engine on the same files, interleaved in one process: the speed check
of an engine change ("not slower than before"), per model and thread count.

Models: the WNO of benchmarks/end_to_end.py (64x64, width 32, 12x12 modes, 4 layers, F(4,3)) and
the neuraloperator 2.0 FNO of benchmarks/neuralop_fno.py (imported; skipped without neuralop),
batch 1 (or --batch). Each library is driven through the bare C ABI (open, run, close), so a baseline build
with an older Python wrapper measures the same way. Blocks of `--block` runs alternate between
the builds; medians and p99 over all runs, and the ratio new / base per row. --batch B exports the
models for batch B (iterations and blocks are divided by B).

    git worktree add /tmp/base <rev> && pip wheel ... (or: cmake --build) -> /tmp/base/libwno_engine.so
    python benchmarks/engine_ab.py --base /tmp/base/libwno_engine.so [--lib PATH] [--iterations 2000] [--batch B]
"""

from __future__ import annotations

import argparse
import ctypes
import os
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from wno_edge.model import WNO2d, WNOConfig
from wno_edge.onnx import export_onnx
from wno_edge.runtime.native_backend import library_path


class _Options(ctypes.Structure):  # the ABI's first six fields: every build has them
    _fields_ = [(name, ctypes.c_int) for name in ("batch", "threads", "pin", "first_cpu", "profile", "verify")]


class Engine:
    """One engine of one library, opened on one file (bare C ABI)."""

    def __init__(self, lib_path: Path, model: Path, threads: int) -> None:
        self.lib = ctypes.CDLL(os.fspath(lib_path))
        opts = _Options()
        self.lib.wno_engine_default_options(ctypes.byref(opts))
        opts.threads = threads
        self.handle = ctypes.c_void_p()
        err = ctypes.create_string_buffer(512)
        self.lib.wno_engine_open.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_char_p]
        status = self.lib.wno_engine_open(
            os.fsencode(model), ctypes.byref(opts), ctypes.byref(self.handle), err, ctypes.c_size_t(len(err))
        )
        if status != 0:
            raise RuntimeError(f"{lib_path}: {err.value.decode(errors='replace')}")
        dims = (ctypes.c_int * 4)()
        self.lib.wno_engine_shape(self.handle, 1, dims)
        self.y = np.zeros(tuple(dims), np.float32)
        self.lib.wno_engine_run.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]

    def run(self, x: np.ndarray) -> np.ndarray:
        self.lib.wno_engine_run(self.handle, x.ctypes.data, self.y.ctypes.data)
        return self.y

    def close(self) -> None:
        self.lib.wno_engine_close(self.handle)


def models(tmp: Path, grid: int, batch: int) -> dict[str, Path]:
    torch.manual_seed(0)
    out = {}
    wno = WNO2d(WNOConfig(1, 1, width=32, modes=(12, 12), n_layers=4, winograd_tile=4, resolution=(grid, grid)))
    out["WNO (end_to_end)"] = tmp / "wno.onnx"
    export_onnx(wno.eval(), out["WNO (end_to_end)"], batch=batch)
    try:
        from neuralop.models import FNO

        from wno_edge.importers.neuralop import import_neuralop
    except ImportError:
        return out
    warnings.filterwarnings("ignore", category=UserWarning)
    fno = FNO(n_modes=(16, 16), hidden_channels=32, in_channels=1, out_channels=1, n_layers=4).eval()
    torch.save(fno.state_dict(), tmp / "fno.pt")
    import_neuralop(tmp / "fno.pt", tmp / "fno.wno.pt", resolution=(grid, grid))
    out["FNO (neuralop_fno)"] = tmp / "fno.onnx"
    export_onnx(tmp / "fno.wno.pt", out["FNO (neuralop_fno)"], batch=batch)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--base", type=Path, required=True, help="the baseline libwno_engine.so")
    p.add_argument("--lib", type=Path, default=None, help="the new build (default: the package's)")
    p.add_argument("--iterations", type=int, default=2000)
    p.add_argument("--block", type=int, default=100)
    p.add_argument("--grid", type=int, default=64)
    p.add_argument("--batch", type=int, default=1, help="batch size (runs and blocks shrink by it)")
    a = p.parse_args()
    new = a.lib or library_path()
    x = np.random.default_rng(0).random((a.batch, 1, a.grid, a.grid), dtype=np.float32)
    iterations, block = max(2, a.iterations // a.batch), max(1, a.block // a.batch)
    print(f"base {a.base}\nnew  {new}\n{iterations} runs each, blocks of {block}, batch {a.batch}, {a.grid}x{a.grid}")
    heads = ("base ms", "new ms", "new/base", "base p99", "new p99")
    print(f"{'model':20s} {'threads':>7s} " + " ".join(f"{h:>9s}" for h in heads))
    with tempfile.TemporaryDirectory() as tmp:
        for name, path in models(Path(tmp), a.grid, a.batch).items():
            for threads in (1, 2):
                engines = {"base": Engine(a.base, path, threads), "new": Engine(new, path, threads)}
                ya, yb = (e.run(x).copy() for e in engines.values())
                diff = float(np.abs(ya - yb).max() / max(1e-30, float(np.abs(ya).max())))
                times: dict[str, list[float]] = {k: [] for k in engines}
                for e in engines.values():
                    for _ in range(max(2, 20 // a.batch)):
                        e.run(x)
                for _ in range(max(1, iterations // block)):
                    for k, e in engines.items():
                        time.sleep(0.01)
                        for _ in range(block):
                            t0 = time.perf_counter()
                            e.run(x)
                            times[k].append(time.perf_counter() - t0)
                for e in engines.values():
                    e.close()
                med = {k: 1e3 * float(np.median(v)) for k, v in times.items()}
                p99 = {k: 1e3 * float(np.percentile(v, 99)) for k, v in times.items()}
                print(
                    f"{name:20s} {threads:7d} {med['base']:9.3f} {med['new']:9.3f} {med['new'] / med['base']:9.3f} "
                    f"{p99['base']:9.3f} {p99['new']:9.3f}   (outputs differ by {diff:.1e} of the scale)"
                )


if __name__ == "__main__":
    main()
