"""ONNX building blocks: the WinogradConv custom op (node + fallback function) and a
small graph builder. The op contract is export/SPEC.md; keep the two in step.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import onnx
from onnx import TensorProto, helper, numpy_helper

from ..contract import OP_DOMAIN as DOMAIN
from ..contract import OP_NAME as OP_TYPE
from ..contract import OP_VERSION, PADDINGS, PLUGIN_NAMESPACE, PLUGIN_VERSION, TILES


def winograd_conv_function(padding: int, opset: int, rank: int = 2) -> onnx.FunctionProto:
    """The model-local fallback body of WinogradConv: one plain 3x3 Conv (rank 1: a 3-tap Conv
    on (N, C, X), for a 1-D model's rank-3 nodes; a model holds one rank, so one function).

    The body is fixed to the model's padding instead of referencing the attribute:
    Conv wants INTS `pads`, and an INT attribute reference can only feed it through a
    runtime Pad (Constant value_int -> Mul -> Pad), which hides every downstream shape
    from shape inference and leaves a data-dependent Pad for TensorRT. `tile` only
    changes rounding, so a direct Conv satisfies the contract for every tile.
    """
    if padding not in PADDINGS:
        raise ValueError(f"WinogradConv padding must be one of {PADDINGS}, got {padding!r}")
    if rank not in (1, 2):
        raise ValueError(f"WinogradConv is 1-D (rank-3 input) or 2-D (rank-4 input), got spatial rank {rank!r}")
    conv = helper.make_node(
        "Conv",
        ["X", "W", "B"],
        ["Y"],
        kernel_shape=[3] * rank,
        pads=[padding] * (2 * rank),
        strides=[1] * rank,
        dilations=[1] * rank,
        group=1,
    )
    return helper.make_function(
        DOMAIN,
        OP_TYPE,
        ["X", "W", "B"],
        ["Y"],
        [conv],
        [helper.make_opsetid("", opset)],
        attributes=["tile", "padding", "plugin_version", "plugin_namespace"],
        doc_string=f"Fallback for runtimes without the fused Winograd kernel: Y = Conv(X, W, B, pads={padding}"
        f"{', 1-D' if rank == 1 else ''}). "
        "Valid only for nodes whose `padding` attribute equals it (the exporter guarantees this).",
    )


def winograd_conv_node(
    x: str, weight: str, bias: str, y: str, *, tile: int, padding: int, name: str = ""
) -> onnx.NodeProto:
    if tile not in TILES:
        raise ValueError(f"WinogradConv tile must be one of {TILES}, got {tile!r}")
    return helper.make_node(
        OP_TYPE,
        [x, weight, bias],
        [y],
        name=name or None,
        domain=DOMAIN,
        tile=tile,
        padding=padding,
        plugin_version=PLUGIN_VERSION,
        plugin_namespace=PLUGIN_NAMESPACE,
    )


def ir_version_for(opset: int) -> int:
    """The lowest IR version that carries `opset` (local functions need IR >= 8): old readers
    (ORT 1.31 reads at most IR 13; onnx 1.23 would write 14) accept the oldest IR that works."""
    return max(8, helper.find_min_ir_version_for([helper.make_opsetid("", opset)]))


class GraphBuilder:
    """Appends nodes and initializers with unique, readable names."""

    def __init__(self, dtype: npt.DTypeLike = np.float32):
        self.dtype = np.dtype(dtype)
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._names: set[str] = set()
        self._shared: dict[tuple, str] = {}

    def name(self, base: str) -> str:
        n, i = base, 1
        while n in self._names:
            i += 1
            n = f"{base}_{i}"
        self._names.add(n)
        return n

    def const(self, base: str, array, dtype=None, shared: bool = False) -> str:
        """An initializer in the graph's dtype (callers compute in float64; rounded once here).
        shared=True returns the existing initializer of the same base name and value."""
        array = np.asarray(array, dtype=dtype or self.dtype)
        key = (base, array.dtype.str, array.shape, array.tobytes())
        if shared and key in self._shared:
            return self._shared[key]
        name = self.name(base)
        self.initializers.append(numpy_helper.from_array(array, name))
        if shared:
            self._shared[key] = name
        return name

    def ints(self, base: str, values) -> str:
        """An int64 constant (shapes, pads), shared by every node that needs the same one."""
        return self.const(base, np.asarray(values, dtype=np.int64), dtype=np.int64, shared=True)

    def op(self, op_type: str, inputs: list[str], base: str | None = None, **attrs) -> str:
        out = self.name(base or op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=self.name(f"{out}/{op_type}"), **attrs))
        return out

    def add_node(self, node: onnx.NodeProto) -> None:
        self.nodes.append(node)

    def graph(self, name: str, inputs, outputs) -> onnx.GraphProto:
        return helper.make_graph(self.nodes, name, inputs, outputs, self.initializers)


def gelu(g: GraphBuilder, x: str, opset: int, name: str) -> str:
    if opset >= 20:
        return g.op("Gelu", [x], name)
    # Exact (erf) GELU as torch.onnx writes it; ORT and TensorRT fuse this pattern.
    t = g.op("Div", [x, g.const("sqrt2", math.sqrt(2.0), shared=True)], f"{name}.scaled")
    t = g.op("Erf", [t], f"{name}.erf")
    t = g.op("Add", [t, g.const("one", 1.0, shared=True)], f"{name}.erf_plus_1")
    t = g.op("Mul", [x, t], f"{name}.twice")
    return g.op("Mul", [t, g.const("half", 0.5, shared=True)], name)


def activation(g: GraphBuilder, x: str, kind: str, opset: int, name: str) -> str:
    """WNOConfig.activation / projection_activation: GELU, or SiLU as x * Sigmoid(x) (opset 17
    has no SiLU; every runtime, the native engine's reference kernels included, has both ops)."""
    if kind == "gelu":
        return gelu(g, x, opset, name)
    if kind == "silu":
        return g.op("Mul", [x, g.op("Sigmoid", [x], f"{name}.sigmoid")], name)
    raise ValueError(f"no ONNX form for activation {kind!r}")


def padding_matrix(n: int, before: int, after: int, mode: str) -> np.ndarray:
    """(before + n + after, n) 0/1 matrix S: S @ x pads x along its axis as F.pad's reflect,
    replicate or circular mode (each row picks one source cell)."""
    j = np.arange(-before, n + after)
    if mode == "reflect":
        j = np.abs(j)
        j = np.where(j >= n, 2 * (n - 1) - j, j)
    elif mode == "replicate":
        j = np.clip(j, 0, n - 1)
    elif mode == "circular":
        j = j % n
    else:
        raise ValueError(f"no selection matrix for padding mode {mode!r}")
    s = np.zeros((len(j), n))
    s[np.arange(len(j)), j] = 1.0
    return s


def pad_axes(g: GraphBuilder, x: str, grid: tuple[int, ...], pads, mode: str, name: str) -> str:
    """x (N, C, *grid) padded by pads ((before, after) per spatial axis) with values of `mode`.

    constant: one Pad of zeros. reflect / replicate / circular: per padded axis a MatMul with
    padding_matrix, exact (one product of 1 per output), opset 17 and standard ops only (Pad's
    reflect/edge modes and opset 19's wrap are not run by every runtime, the native engine's
    reference Pad is zeros only). The last axis multiplies on the right, the others on the left,
    the first of a 3-D grid after merging the two axes after it."""
    r = len(grid)
    if mode == "constant":
        flat = [0, 0, *(before for before, _ in pads), 0, 0, *(after for _, after in pads)]
        return g.op("Pad", [x, g.ints("domain_padding", flat)], name)
    sizes = list(grid)
    for axis, (before, after) in enumerate(pads):
        if not before and not after:
            continue
        s = padding_matrix(sizes[axis], before, after, mode)
        base = f"{name}.axis{axis}"
        if axis == r - 1:
            x = g.op("MatMul", [x, g.const(f"padding.{mode}.axis{axis}", s.T)], base)
        elif axis == r - 2:
            x = g.op("MatMul", [g.const(f"padding.{mode}.axis{axis}", s), x], base)
        else:  # the first axis of a 3-D grid: (N, C, D, H*W)
            rest = sizes[axis + 1] * sizes[axis + 2]
            x = g.op("Reshape", [x, g.ints(f"{base}.merged_shape", [0, 0, sizes[axis], rest])], f"{base}.merged")
            x = g.op("MatMul", [g.const(f"padding.{mode}.axis{axis}", s), x], f"{base}.padded")
            x = g.op("Reshape", [x, g.ints(f"{base}.split_shape", [0, 0, s.shape[0], *sizes[1:]])], base)
        sizes[axis] += before + after
    return x


def single_winograd_conv_model(
    weight: np.ndarray,
    bias: np.ndarray,
    *,
    tile: int,
    padding: int,
    opset: int = 17,
    batch: int | str = "N",
    height: int | str = "H",
    width: int | str = "W",
    length: int | str = "X",
) -> onnx.ModelProto:
    """A one-node model: X -> WinogradConv(weight, bias) -> Y, with the local fallback function.
    Used for the golden-vector tests and as the smallest example of the op. The rank follows
    the weight: (K, C, 3, 3) on (N, C, height, width), (K, C, 3) on (N, C, length)."""
    k, c = weight.shape[:2]
    rank = weight.ndim - 2
    g = GraphBuilder(np.float32)
    w, b = g.const("weight", weight), g.const("bias", bias)
    g.add_node(winograd_conv_node("X", w, b, "Y", tile=tile, padding=padding, name="winograd_conv"))
    spatial = [height, width] if rank == 2 else [length]
    out = [d + 2 * padding - 2 if isinstance(d, int) else None for d in spatial]
    graph = g.graph(
        "winograd_conv",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [batch, c, *spatial])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [batch, k, *out])],
    )
    return helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", opset), helper.make_opsetid(DOMAIN, OP_VERSION)],
        functions=[winograd_conv_function(padding, opset, rank)],
        ir_version=ir_version_for(opset),
        producer_name="wno-edge",
    )
