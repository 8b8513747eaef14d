"""Hostile edits of an exported graph for tests/test_engine_graph.py: each family yields
(label, edited copy) pairs. An edit may give a model ONNX Runtime rejects; the test skips those
(it compares the native engine with ONNX Runtime only where ONNX Runtime runs the file).

The edits keep the export's metadata (config, checksums) as it was: a file a tool or a person
changed after export, which the engine must compute as it is or refuse, never run as the
metadata says."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

Edit = tuple[str, onnx.ModelProto]
BINARY = ("Add", "Sub", "Mul", "Div")
SMALL = 16  # initializers with at most this many elements count as constants


def copy(proto: onnx.ModelProto) -> onnx.ModelProto:
    out = onnx.ModelProto()
    out.CopyFrom(proto)
    return out


def _edited(proto: onnx.ModelProto, change: Callable[[onnx.ModelProto], None]) -> onnx.ModelProto:
    out = copy(proto)
    change(out)
    return out


def _with(proto: onnx.ModelProto, name: str, array: np.ndarray) -> onnx.ModelProto:
    """`proto` with initializer `name` holding `array` (in the initializer's data type)."""
    return _edited(proto, lambda p: _replace(p, name, array))


def _initializer(proto: onnx.ModelProto, name: str) -> onnx.TensorProto | None:
    return next((t for t in proto.graph.initializer if t.name == name), None)


def _replace(proto: onnx.ModelProto, name: str, array: np.ndarray) -> None:
    t = _initializer(proto, name)
    assert t is not None, name
    t.CopyFrom(numpy_helper.from_array(np.asarray(array, helper.tensor_dtype_to_np_dtype(t.data_type)), name))


def _attribute(node: onnx.NodeProto, name: str) -> onnx.AttributeProto | None:
    return next((a for a in node.attribute if a.name == name), None)


def _graph_outputs(proto: onnx.ModelProto) -> set[str]:
    return {o.name for o in proto.graph.output}


def _consumers_rewired(proto: onnx.ModelProto, old: str, new: str, skip: onnx.NodeProto | None = None) -> None:
    for node in proto.graph.node:
        if node is skip:
            continue
        for i, name in enumerate(node.input):
            if name == old:
                node.input[i] = new


# ---- families ----------------------------------------------------------------------------


def op_swaps(proto: onnx.ModelProto) -> Iterator[Edit]:
    """Every binary Add/Sub/Mul/Div node turned into each of the other three."""
    for i, node in enumerate(proto.graph.node):
        if node.op_type in BINARY and len(node.input) == 2:
            for op in BINARY:
                if op != node.op_type:

                    def change(p, i=i, op=op):
                        p.graph.node[i].op_type = op

                    yield f"node {i} ({node.name or node.output[0]}) {node.op_type} -> {op}", _edited(proto, change)


def constant_perturbations(proto: onnx.ModelProto) -> Iterator[Edit]:
    """Every small initializer (constants: sqrt2, half, one, combine_complex, statistics, crop
    start/end, the Pad's pads, Reshape shapes) changed; Transpose perms with two axes swapped;
    WinogradConv's tile and padding attributes changed."""
    for t in proto.graph.initializer:
        a = numpy_helper.to_array(t)
        if a.size > SMALL:
            continue
        flat = a.reshape(-1)
        if a.dtype.kind == "f":
            yield f"{t.name} * 1.5 + 0.25", _with(proto, t.name, a * 1.5 + 0.25)
            if a.size > 1:
                last = flat.copy()
                last[-1] = 1 - last[-1]
                yield f"{t.name}[-1] changed", _with(proto, t.name, last.reshape(a.shape))
        elif a.dtype.kind in "iu":
            for k in range(a.size):
                bumped = flat.copy()
                bumped[k] += 1
                yield f"{t.name}[{k}] + 1", _with(proto, t.name, bumped.reshape(a.shape))
            if len(set(flat.tolist())) > 1:
                yield f"{t.name} reversed", _with(proto, t.name, flat[::-1].reshape(a.shape))
    for i, node in enumerate(proto.graph.node):
        perm = _attribute(node, "perm")
        if node.op_type == "Transpose" and perm is not None:
            n = len(perm.ints)
            for j, k in ((0, 1), (n - 2, n - 1), (1, n - 1)):

                def swap(p, i=i, j=j, k=k):
                    ints = _attribute(p.graph.node[i], "perm").ints
                    ints[j], ints[k] = ints[k], ints[j]

                yield f"node {i} Transpose perm swap {j},{k}", _edited(proto, swap)
        if node.op_type == "WinogradConv":
            for name, value in (("tile", 2), ("tile", 6), ("padding", 0)):

                def set_attribute(p, i=i, name=name, value=value):
                    _attribute(p.graph.node[i], name).i = value

                yield f"node {i} WinogradConv {name}={value}", _edited(proto, set_attribute)
        if node.op_type == "Gelu":

            def approximate(p, i=i):
                node = p.graph.node[i]
                kept = [a for a in node.attribute if a.name != "approximate"]
                del node.attribute[:]
                node.attribute.extend([*kept, helper.make_attribute("approximate", "tanh")])

            yield f"node {i} Gelu approximate=tanh", _edited(proto, approximate)


def named_edits(proto: onnx.ModelProto) -> Iterator[Edit]:
    """The crop shifted, the GELU constants changed, input_mean renamed, an initializer
    duplicated (same and other value), an Add/MatMul/Sub/Mul/Div's two inputs swapped, an
    Identity and a Mul by 1 inserted."""
    names = {t.name for t in proto.graph.initializer}
    if {"crop_start", "crop_end"} <= names:

        def shift(p):
            for name in ("crop_start", "crop_end"):
                _replace(p, name, numpy_helper.to_array(_initializer(p, name)) + 1)

        yield "crop shifted by one", _edited(proto, shift)
    for name, value in (("sqrt2", 2.0), ("half", 0.4), ("one", 1.1)):
        if name in names:
            yield f"gelu {name} = {value}", _edited(proto, lambda p, n=name, v=value: _replace(p, n, np.array(v)))
    if "input_mean" in names:

        def rename(p):
            _initializer(p, "input_mean").name = "input_mean_renamed"
            _consumers_rewired(p, "input_mean", "input_mean_renamed")

        yield "input_mean renamed", _edited(proto, rename)
    for what, factor in (("same value", 1.0), ("other value", 3.0)):
        for name in ("input_std", "layers.0.bias", "combine_complex"):
            if name in names:

                def duplicate(p, name=name, factor=factor):
                    t = _initializer(p, name)
                    p.graph.initializer.append(numpy_helper.from_array(numpy_helper.to_array(t) * factor, name))

                yield f"{name} duplicated ({what})", _edited(proto, duplicate)
    for i, node in enumerate(proto.graph.node):
        if node.op_type in ("Add", "MatMul", *BINARY) and len(node.input) == 2:

            def swap(p, i=i):
                inputs = p.graph.node[i].input
                inputs[0], inputs[1] = inputs[1], inputs[0]

            yield f"node {i} {node.op_type} inputs swapped", _edited(proto, swap)
    outputs = _graph_outputs(proto)
    for i, node in enumerate(proto.graph.node):
        out = node.output[0]
        if out in outputs:
            continue

        def identity(p, i=i, out=out):
            _consumers_rewired(p, out, out + "/identity")
            p.graph.node.insert(i + 1, helper.make_node("Identity", [out], [out + "/identity"]))

        def times_one(p, i=i, out=out):
            if _initializer(p, "inserted_one") is None:
                p.graph.initializer.append(numpy_helper.from_array(np.array(1.0, np.float32), "inserted_one"))
            _consumers_rewired(p, out, out + "/times_one")
            p.graph.node.insert(i + 1, helper.make_node("Mul", [out, "inserted_one"], [out + "/times_one"]))

        yield f"Identity after node {i} ({node.op_type})", _edited(proto, identity)
        yield f"Mul by 1.0 after node {i} ({node.op_type})", _edited(proto, times_one)


def node_removals(proto: onnx.ModelProto) -> Iterator[Edit]:
    """Each node removed, its consumers reading the node's first input instead."""
    outputs = _graph_outputs(proto)
    for i, node in enumerate(proto.graph.node):
        if len(node.output) != 1 or node.output[0] in outputs or not node.input:
            continue

        def remove(p, i=i):
            gone = p.graph.node[i]
            _consumers_rewired(p, gone.output[0], gone.input[0], skip=gone)
            del p.graph.node[i]

        yield f"node {i} ({node.op_type}) removed", _edited(proto, remove)


FAMILIES: dict[str, Callable[[onnx.ModelProto], Iterator[Edit]]] = {
    "op-swaps": op_swaps,
    "constants": constant_perturbations,
    "edits": named_edits,
    "removals": node_removals,
}


def foreign_graph(proto: onnx.ModelProto) -> onnx.ModelProto:
    """y = 2 x in place of the export's graph, with its metadata, its inputs and outputs (the
    same names and shapes: the export must have as many output channels as input channels) and
    all its initializers, unused."""
    (inp,), (out,) = proto.graph.input, proto.graph.output
    dims = lambda vi: [d.dim_param or d.dim_value for d in vi.type.tensor_type.shape.dim]  # noqa: E731
    assert dims(inp) == dims(out), "the foreign graph y = 2x needs an export with C_in == C_out"
    foreign = copy(proto)
    del foreign.graph.node[:]
    del foreign.functions[:]
    keep = [o for o in foreign.opset_import if o.domain == ""]
    del foreign.opset_import[:]
    foreign.opset_import.extend(keep)
    foreign.graph.initializer.append(numpy_helper.from_array(np.array(2.0, np.float32), "foreign_two"))
    foreign.graph.node.append(helper.make_node("Mul", [inp.name, "foreign_two"], [out.name]))
    assert inp.type.tensor_type.elem_type == TensorProto.FLOAT
    return foreign
