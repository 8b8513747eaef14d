#!/usr/bin/env python3
"""One engine, alone in this process, as deployed: open the file, run the input N times, print JSON.

benchmarks/end_to_end.py starts one of these per engine and thread count (same .onnx file, same
input), so no engine's threads or allocator share a process with another's. Engines:
  native      the .onnx on the native engine (libwno_engine.so)
  ort         ONNX Runtime CPU as wno_edge.runtime opens it (intra-op spinning off)
  ort-spin    ONNX Runtime CPU with its default intra-op spinning on
  openvino    OpenVINO CPU on the file with its local functions inlined (wno_edge.runtime)
  fno-eager   neuraloperator's FNO in PyTorch eager (MODEL: a state dict; --fno-args: its kwargs)
Prints {"engine", "threads", "runs", "median_ms", "p99_ms"} as the last line; --output saves one
result for the caller to check against its reference. Only fno-eager imports torch.

    python benchmarks/alone.py ENGINE MODEL INPUT.npy --threads 2 --runs 1000 [--lib PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ENGINES = ("native", "ort", "ort-spin", "openvino", "fno-eager")


def ort_spinning(path: Path, threads: int, x: np.ndarray) -> Callable[[], np.ndarray]:
    """ONNX Runtime as its users get it: the runtime's options but spinning on (the default)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "1")
    session = ort.InferenceSession(os.fspath(path), options, providers=["CPUExecutionProvider"])
    out_meta = session.get_outputs()[0]
    y = np.empty([x.shape[0], *out_meta.shape[1:]], np.float32)
    binding = session.io_binding()  # bound once, as the runtime's own session does
    binding.bind_input(session.get_inputs()[0].name, "cpu", 0, np.float32, x.shape, x.ctypes.data)
    binding.bind_output(out_meta.name, "cpu", 0, np.float32, y.shape, y.ctypes.data)

    def run(_bound: np.ndarray = x) -> np.ndarray:  # the default keeps the bound input alive
        session.run_with_iobinding(binding)
        return y

    return run


def fno_eager(state: Path, kwargs: dict, threads: int, x: np.ndarray) -> Callable[[], np.ndarray]:
    import torch
    from neuralop.models import FNO

    torch.set_num_threads(threads)
    kwargs = {**kwargs, "n_modes": tuple(kwargs["n_modes"])}
    fno = FNO(**kwargs).eval()
    fno.load_state_dict(torch.load(state, weights_only=False))  # the parent wrote it: neuralop keeps metadata
    xt = torch.from_numpy(x)

    def run() -> np.ndarray:
        with torch.inference_mode():
            return fno(xt).numpy()

    return run


def open_engine(
    engine: str, model: Path, threads: int, x: np.ndarray, lib: Path | None = None, fno_args: dict | None = None
) -> Callable[[], np.ndarray]:
    """A callable that runs `x` once on `engine` and returns the output (a buffer it reuses)."""
    if engine == "ort-spin":
        return ort_spinning(model, threads, x)
    if engine == "fno-eager":
        return fno_eager(model, fno_args or {}, threads, x)
    from wno_edge import runtime

    backend = {"native": "native", "ort": "onnxruntime", "openvino": "openvino"}[engine]
    extra: dict[str, Any] = {"library": lib} if engine == "native" and lib else {}
    session = runtime.load(model, threads=threads, check_finite=False, backend=backend, **extra)
    out = np.empty(session.output_shape, np.float32)
    return lambda: session.run(x, out=out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("engine", choices=ENGINES)
    p.add_argument("model", type=Path)
    p.add_argument("input", type=Path)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--runs", type=int, default=1000)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--lib", type=Path)
    p.add_argument("--fno-args", type=json.loads, default=None)
    p.add_argument("--output", type=Path, help="save one output here (.npy)")
    a = p.parse_args()
    from wno_edge.errors import WNOEdgeError

    x = np.load(a.input)
    try:
        run = open_engine(a.engine, a.model, a.threads, x, a.lib, a.fno_args)
    except WNOEdgeError as e:
        raise SystemExit(f"{a.engine}: {e}") from None
    if a.output:
        np.save(a.output, run())
    for _ in range(a.warmup):
        run()
    times = np.empty(a.runs)
    for i in range(a.runs):
        t0 = time.perf_counter()
        run()
        times[i] = time.perf_counter() - t0
    result = {"engine": a.engine, "threads": a.threads, "runs": a.runs}
    result.update(median_ms=1e3 * float(np.median(times)), p99_ms=1e3 * float(np.percentile(times, 99)))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
