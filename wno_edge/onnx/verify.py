"""Checks of an exported WNO: run it in ONNX Runtime (CPU) and onnx.reference, compare
with PyTorch, and count what the graph computes."""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass

import numpy as np
import onnx
import torch
from onnx.reference import ReferenceEvaluator
from onnx.reference.op_run import OpRun

from ..contract import OP_DOMAIN as DOMAIN
from ..contract import OP_NAME as OP_TYPE
from ..contract import PADDINGS
from ..model import WNO2d
from ..winograd import conv_cost, matrices

# ----------------------------------------------------------------------------- runtimes


def ort_session(model: onnx.ModelProto | bytes, threads: int = 0):
    """A CPU session whose idle threads do not spin (spinning slows whatever runs next)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.add_session_config_entry("session.inter_op.allow_spinning", "0")
    so.log_severity_level = 3
    data = model if isinstance(model, bytes) else model.SerializeToString()
    return ort.InferenceSession(data, so, providers=["CPUExecutionProvider"])


def run_onnxruntime(model, feeds: dict[str, np.ndarray]) -> np.ndarray:
    return ort_session(model).run(None, feeds)[0]


def winograd_conv_numpy(x: np.ndarray, w: np.ndarray, b: np.ndarray, padding: int, tile: int) -> np.ndarray:
    """WinogradConv as the fused kernel computes it (F(tile,3), float32 accumulation), in
    numpy: a second implementation of the contract, independent of PyTorch and of ORT.
    Rank 4 (N, C, H, W) with a (K, C, 3, 3) weight, or rank 3 (N, C, X) with (K, C, 3)."""
    if padding not in PADDINGS:
        raise ValueError(f"WinogradConv padding must be one of {PADDINGS}, got {padding!r}")
    mats = matrices(tile)  # raises for a tile the contract does not define
    if x.ndim == 3:
        return _winograd_conv1d_numpy(x, w, b, padding, mats)
    m, a = mats.m, mats.a
    acc = np.float32
    n, c, h, wd = x.shape
    k = w.shape[0]
    ho, wo = h + 2 * padding - 2, wd + 2 * padding - 2
    th, tw = -(-ho // m), -(-wo // m)
    d = np.pad(
        x.astype(acc), ((0, 0), (0, 0), (padding, th * m + 2 - h - padding), (padding, tw * m + 2 - wd - padding))
    )
    tiles = np.lib.stride_tricks.sliding_window_view(d, (a, a), axis=(2, 3))[:, :, ::m, ::m]  # (n, c, th, tw, a, a)
    BT, G, AT = (M.astype(acc) for M in (mats.BT, mats.G, mats.AT))
    V = (BT @ tiles @ BT.T).transpose(4, 5, 1, 0, 2, 3).reshape(a * a, c, n * th * tw)
    U = (G @ w.astype(acc) @ G.T).transpose(2, 3, 0, 1).reshape(a * a, k, c)
    M = (U @ V).reshape(a, a, k, n, th, tw).transpose(3, 2, 4, 5, 0, 1)
    Y = (AT @ M @ AT.T).transpose(0, 1, 2, 4, 3, 5).reshape(n, k, th * m, tw * m)[:, :, :ho, :wo]
    return (Y + b.astype(acc)[None, :, None, None]).astype(x.dtype)


def _winograd_conv1d_numpy(x: np.ndarray, w: np.ndarray, b: np.ndarray, padding: int, mats) -> np.ndarray:
    """F(m, 3) on a line: y = A^T [(G g) . (B^T d)] per m-point tile, float32 accumulation."""
    m, a = mats.m, mats.a
    acc = np.float32
    n, c, length = x.shape
    k = w.shape[0]
    xo = length + 2 * padding - 2
    t = -(-xo // m)
    d = np.pad(x.astype(acc), ((0, 0), (0, 0), (padding, t * m + 2 - length - padding)))
    tiles = np.lib.stride_tricks.sliding_window_view(d, a, axis=2)[:, :, ::m]  # (n, c, t, a)
    BT, G, AT = (M.astype(acc) for M in (mats.BT, mats.G, mats.AT))
    V = (tiles @ BT.T).transpose(3, 1, 0, 2).reshape(a, c, n * t)  # B^T d per tile
    U = (w.astype(acc) @ G.T).transpose(2, 0, 1)  # (a, k, c): G g per filter
    M = (U @ V).reshape(a, k, n, t)
    Y = np.einsum("ia,aknt->nkti", AT, M).reshape(n, k, t * m)[:, :, :xo]
    return (Y + b.astype(acc)[None, :, None]).astype(x.dtype)


class WinogradConv(OpRun):
    """onnx.reference kernel for wno_edge::WinogradConv (overrides the model-local function)."""

    op_domain = DOMAIN

    def _run(self, X, W, B, tile=None, padding=None, plugin_version=None, plugin_namespace=None):  # noqa: N803
        return (winograd_conv_numpy(X, W, B, int(padding), int(tile)),)


def run_reference(model: onnx.ModelProto, feeds: dict[str, np.ndarray], winograd_kernel: bool = True) -> np.ndarray:
    """onnx.reference; WinogradConv runs the numpy Winograd kernel, or with
    winograd_kernel=False the model-local fallback function (the evaluator inlines it)."""
    new_ops: list[type[OpRun]] | None = [WinogradConv] if winograd_kernel else None
    outputs = ReferenceEvaluator(model, new_ops=new_ops).run(None, feeds)
    assert isinstance(outputs, list)  # a dict only with intermediate=True
    return outputs[0]


# ----------------------------------------------------------------------------- comparison


@dataclass(frozen=True)
class Comparison:
    runtime: str
    max_abs: float  # max |y_runtime - y_torch|
    scale: float  # max |y_torch|
    tolerance: float  # allowed max_abs / scale
    seconds: float
    error: str | None = None  # the runtime failed to load or run the model

    @property
    def relative(self) -> float:
        return self.max_abs / self.scale if self.scale > 0 else self.max_abs

    @property
    def ok(self) -> bool:
        return self.error is None and math.isfinite(self.max_abs) and self.relative <= self.tolerance

    def summary(self) -> str:
        if self.error is not None:
            return f"{self.runtime}: failed: {self.error}"
        return (
            f"{self.runtime}: max abs error {self.max_abs:.3g} = {self.relative:.3g} of output scale "
            f"{self.scale:.3g}, tolerance {self.tolerance:.0e}"
        )


def random_inputs(model: WNO2d, resolution: tuple[int, ...], batch: int, seed: int = 0) -> np.ndarray:
    """Inputs at the scale of the data the model was fitted to: mean + std * N(0, 1) per channel,
    on the grid `resolution` ((H, W), or (X,) for a 1-D model)."""
    rng = np.random.default_rng(seed)
    stat = (1, -1) + (1,) * len(resolution)
    mean = model.input_mean.detach().double().numpy().reshape(stat)
    std = model.input_std.detach().double().numpy().reshape(stat)
    return (mean + std * rng.standard_normal((batch, model.config.in_channels, *resolution))).astype(np.float32)


def compare_with_torch(proto: onnx.ModelProto, model: WNO2d, inputs: np.ndarray, tolerance: float) -> list[Comparison]:
    """Run `proto` through ORT CPU and onnx.reference on `inputs` (in the graph's input
    dtype) and compare with `model` evaluated in float32 on the same values."""
    with torch.no_grad():
        expected = model.eval()(torch.from_numpy(inputs.astype(np.float32))).double().numpy()
    scale = float(np.max(np.abs(expected)))
    feeds = {proto.graph.input[0].name: inputs}
    has_winograd = any(n.op_type == OP_TYPE and n.domain == DOMAIN for n in proto.graph.node)
    runtimes = [  # with WinogradConv nodes: ORT inlines the fallback function, onnx.reference runs Winograd
        ("onnxruntime CPU" + (" (function)" if has_winograd else ""), lambda: run_onnxruntime(proto, feeds)),
        ("onnx.reference" + (" (Winograd)" if has_winograd else ""), lambda: run_reference(proto, feeds)),
    ]
    results = []
    for name, run in runtimes:
        t0 = time.perf_counter()
        try:
            y = np.asarray(run(), dtype=np.float64)
        except Exception as e:  # noqa: BLE001  (any runtime failure is a finding to report)
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            results.append(Comparison(name, math.inf, scale, tolerance, time.perf_counter() - t0, first[:200]))
            continue
        seconds = time.perf_counter() - t0
        if y.shape != expected.shape:
            results.append(
                Comparison(
                    name, math.inf, scale, tolerance, seconds, f"output shape {y.shape}, expected {expected.shape}"
                )
            )
            continue
        max_abs = float(np.max(np.abs(y - expected))) if np.all(np.isfinite(y)) else math.inf
        results.append(Comparison(name, max_abs, scale, tolerance, seconds))
    return results


def compare_with_reference(
    proto: onnx.ModelProto, reference: torch.nn.Module, inputs: np.ndarray, tolerance: float
) -> Comparison:
    """ONNX Runtime against the model the checkpoint came from (e.g. a neuraloperator FNO)."""
    name = f"onnxruntime CPU vs {type(reference).__name__}"
    t0 = time.perf_counter()
    try:
        with torch.no_grad():
            expected = reference.eval()(torch.from_numpy(inputs.astype(np.float32))).double().numpy()
        y = np.asarray(run_onnxruntime(proto, {proto.graph.input[0].name: inputs}), dtype=np.float64)
    except Exception as e:  # noqa: BLE001
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        return Comparison(name, math.inf, 0.0, tolerance, time.perf_counter() - t0, first[:200])
    scale = float(np.max(np.abs(expected)))
    if y.shape != expected.shape:
        return Comparison(
            name,
            math.inf,
            scale,
            tolerance,
            time.perf_counter() - t0,
            f"output shape {y.shape}, expected {expected.shape}",
        )
    max_abs = float(np.max(np.abs(y - expected))) if np.all(np.isfinite(y)) else math.inf
    return Comparison(name, max_abs, scale, tolerance, time.perf_counter() - t0)


# ----------------------------------------------------------------------------- graph statistics


@dataclass(frozen=True)
class GraphStats:
    node_counts: dict[str, int]  # top-level nodes by op type (custom ops as domain::type)
    function_node_counts: dict[str, int]  # nodes inside model-local function bodies
    parameter_bytes: int  # all initializers (weights, DFT bases, shape constants)
    macs: int  # multiply-accumulates per sample; WinogradConv counted as a direct 3x3 conv
    winograd_multiplies: int  # what the WinogradConv nodes cost by Winograd (transforms included)
    winograd_direct_macs: int  # the same nodes computed directly

    @property
    def total_nodes(self) -> int:
        return sum(self.node_counts.values())


def _shapes(model: onnx.ModelProto) -> dict[str, list[int]]:
    """Static shapes from value_info (symbolic dims, i.e. the batch, count as 1)."""
    shapes = {}
    g = model.graph
    for vi in [*g.input, *g.value_info, *g.output]:
        t = vi.type.tensor_type
        if t.HasField("shape"):
            shapes[vi.name] = [d.dim_value if d.HasField("dim_value") else 1 for d in t.shape.dim]
    for init in g.initializer:
        shapes[init.name] = list(init.dims)
    return shapes


def graph_stats(model: onnx.ModelProto) -> GraphStats:
    """Counts for the summary; `model` should carry inferred value_info."""
    shapes = _shapes(model)
    counts = Counter((f"{n.domain}::{n.op_type}" if n.domain else n.op_type) for n in model.graph.node)
    fcounts = Counter(f"{f.name}: {n.op_type}" for f in model.functions for n in f.node)
    macs = wino = wino_direct = 0
    for n in model.graph.node:
        out = shapes.get(n.output[0])
        if out is None:
            continue
        if n.op_type == "MatMul":
            macs += math.prod(out) * shapes[n.input[0]][-1]
        elif n.op_type in ("Conv", OP_TYPE):
            k, c, *taps = shapes[n.input[1]]
            node_macs = math.prod(out) * c * math.prod(taps)
            macs += node_macs
            if n.op_type == OP_TYPE:
                attrs = {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
                tile, padding = int(attrs["tile"]), int(attrs["padding"])
                _, ci, *grid = shapes[n.input[0]]
                cost = conv_cost(ci, k, grid, tile, batch=out[0], padding=padding)  # rank 4 or 3
                wino += cost.multiplies
                wino_direct += node_macs
    params = sum(onnx.numpy_helper.to_array(t).nbytes for t in model.graph.initializer)
    return GraphStats(dict(sorted(counts.items())), dict(sorted(fcounts.items())), params, macs, wino, wino_direct)
