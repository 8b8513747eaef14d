#!/usr/bin/env python3
"""Can neuraloperator's FNO be deployed without wno-edge? Each route tried for real, one line each.

The routes a user would reach for: OpenVINO's convert_model on the nn.Module (TorchScript tracing)
and on a torch.export program, torch.onnx.export with the dynamo exporter (then ONNX Runtime), and
torch.export + ExecuTorch (XNNPACK). A route that converts is also run and compared with eager.
Every route runs in its own child process (a converter may print pages or crash), and reports the
line of its innermost error that names the cause (an unconverted op, complex dtypes, FFT), else
its first line; or "not installed".

    python benchmarks/fno_routes.py [--grid 64] [--width 32] [--modes 12] [--layers 4]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import warnings

ROUTES = {
    "openvino": "OpenVINO convert_model(nn.Module)",
    "openvino-export": "OpenVINO convert_model(torch.export)",
    "torch.onnx": "torch.onnx.export(dynamo=True)",
    "executorch": "torch.export + ExecuTorch (XNNPACK)",
}
# Lines that name the cause, preferred over an exception's generic first line.
SUMMARY = ("-- No conversion rule found", "-- Conversion is failed for")
CAUSE = re.compile(r"complex|fft|no conversion rule|not supported|unsupported|graphs differed", re.I)


def _innermost(e: BaseException) -> list[BaseException]:
    chain = [e]
    while (nxt := chain[-1].__cause__ or chain[-1].__context__) is not None and nxt not in chain:
        chain.append(nxt)
    return chain


def reason(e: BaseException) -> str:
    """OpenVINO's summary of unconverted ops, else the line of the error chain (innermost first)
    that names the cause, else the innermost error's first line."""
    chain = _innermost(e)
    for exc in reversed(chain):
        summary = [ln.strip(" -") for ln in str(exc).splitlines() if ln.startswith(SUMMARY)]
        if summary:
            return f"{type(exc).__name__}: {'; '.join(summary)[:220]}"
    for exc in reversed(chain):
        for line in str(exc).splitlines():
            if CAUSE.search(line):
                return f"{type(exc).__name__}: {line.strip()[:220]}"
    inner = chain[-1]
    first = next((ln.strip() for ln in str(inner).splitlines() if ln.strip()), "")
    return f"{type(inner).__name__}: {first[:220]}"


def _try(route: str, grid: int, width: int, modes: int, layers: int) -> str:
    """Run one route in this process; its outcome in one line."""
    import importlib.util

    needs = {"openvino": "openvino", "openvino-export": "openvino", "executorch": "executorch"}
    if route == "torch.onnx":
        needs[route] = "onnxscript"  # the dynamo exporter's dependency
    if route in needs and importlib.util.find_spec(needs[route]) is None:
        return f"not installed ({needs[route]})"
    import numpy as np
    import torch
    from neuralop.models import FNO

    torch.manual_seed(0)
    fno = FNO(n_modes=(modes, modes), in_channels=1, out_channels=1, hidden_channels=width, n_layers=layers).eval()
    x = torch.rand(1, 1, grid, grid)
    with torch.no_grad():
        ref = fno(x).numpy()
    try:
        if route.startswith("openvino"):
            import openvino as ov

            source = fno if route == "openvino" else torch.export.export(fno, (x,))
            model = ov.convert_model(source, example_input=x) if route == "openvino" else ov.convert_model(source)
            y = ov.Core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})(x.numpy())[0]
        elif route == "torch.onnx":
            import tempfile

            import onnxruntime as ort

            with tempfile.TemporaryDirectory() as tmp:
                torch.onnx.export(fno, (x,), f"{tmp}/fno.onnx", dynamo=True, verbose=False)
                session = ort.InferenceSession(f"{tmp}/fno.onnx", providers=["CPUExecutionProvider"])
                y = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
        else:
            from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
            from executorch.exir import to_edge_transform_and_lower
            from executorch.runtime import Runtime

            program = to_edge_transform_and_lower(
                torch.export.export(fno, (x,)), partitioner=[XnnpackPartitioner()]
            ).to_executorch()
            method = Runtime.get().load_program(program.buffer).load_method("forward")
            y = method.execute([x])[0].numpy()
    except Exception as e:
        return f"fails: {reason(e)}"
    err = float(np.abs(np.asarray(y) - ref).max() / np.abs(ref).max())
    return f"converts and runs: max error {err:.1e} of the output scale"


def try_routes(grid: int, width: int, modes: int, layers: int, timeout: float = 600) -> dict[str, str]:
    """{route label: one line}, each route in a child process."""
    out = {}
    for route, label in ROUTES.items():
        cmd = [sys.executable, __file__, "--route", route]
        cmd += ["--grid", str(grid), "--width", str(width), "--modes", str(modes), "--layers", str(layers)]
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
            lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
            if r.returncode == 0 and lines:
                out[label] = json.loads(lines[-1])["outcome"]
            else:  # killed or crashed: the converter's own last words
                tail = (r.stderr.strip().splitlines() or [f"exit {r.returncode}"])[-1]
                out[label] = f"fails: the converter died (exit {r.returncode}): {tail[:200]}"
        except subprocess.TimeoutExpired:
            out[label] = f"fails: no result in {timeout:.0f} s"
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--route", choices=ROUTES, help="try this one route here (the child's side)")
    p.add_argument("--grid", type=int, default=64)
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--modes", type=int, default=12)
    p.add_argument("--layers", type=int, default=4)
    a = p.parse_args()
    if a.route:
        warnings.filterwarnings("ignore")
        print(json.dumps({"outcome": _try(a.route, a.grid, a.width, a.modes, a.layers)}))
        return
    for label, outcome in try_routes(a.grid, a.width, a.modes, a.layers).items():
        print(f"neuraloperator FNO via {label}: {outcome}")


if __name__ == "__main__":
    main()
