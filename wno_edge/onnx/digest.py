"""Metadata.STRUCTURE_CHECKSUM: a CRC-32 of an ONNX model's structure, not of its weight values.

The native engine (runtime/engine/graph.cpp, structure_digest) builds the same canonical bytes
and compares the digest with the file's: equal digests and a weights-checksum mismatch mean only
weight bytes changed (a corrupt file, refused); a different digest means a tool edited the graph
after export (the stale weights checksum is not applied; the engine computes the graph as it is).

Canonical bytes (every integer little-endian int64; a string is its byte length, then its bytes):
  the string STRUCTURE_TAG;
  model.opset_import: count; each: domain, version;
  graph.input, then graph.output: count; each: name, elem_type, rank (-1 without a shape), each
    dim's dim_value (-1 for a symbolic or unknown dim);
  graph.initializer: count; each: name, data_type, rank, each dim;
  graph.node: count; each node (node_bytes): op_type, domain, input count, each input, output
    count, each output, attribute count, each attribute: name, type, then FLOAT: the float32 bit
    pattern; INT: i; STRING: s; FLOATS: count, each bit pattern; INTS: count, each; other types
    nothing more;
  model.functions: count; each: domain, name, its nodes as graph.node.
Node names, doc strings, value_info and metadata are not covered (writing the digest into the
metadata does not change it). Digest: CHECKSUM_PREFIX + "%08x" of zlib.crc32 of those bytes.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ..contract import CHECKSUM_PREFIX

if TYPE_CHECKING:
    import onnx

STRUCTURE_TAG = "wno-structure-1"
# onnx.AttributeProto.AttributeType values the digest reads further than name and type
_FLOAT, _INT, _STRING, _FLOATS, _INTS = 1, 2, 3, 6, 7


class _Writer:
    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def int(self, value: int) -> None:
        self.parts.append(struct.pack("<q", value))

    def bytes(self, value: bytes) -> None:
        self.int(len(value))
        self.parts.append(value)

    def str(self, value: str) -> None:
        self.bytes(value.encode("utf-8"))

    def float_bits(self, value: float) -> None:
        self.int(struct.unpack("<I", struct.pack("<f", value))[0])

    def value_infos(self, infos: Iterable[Any]) -> None:
        infos = list(infos)
        self.int(len(infos))
        for info in infos:
            tensor = info.type.tensor_type
            self.str(info.name)
            self.int(tensor.elem_type)
            if not tensor.HasField("shape"):
                self.int(-1)
                continue
            self.int(len(tensor.shape.dim))
            for dim in tensor.shape.dim:
                self.int(dim.dim_value if dim.HasField("dim_value") else -1)

    def nodes(self, nodes: Iterable[Any]) -> None:
        nodes = list(nodes)
        self.int(len(nodes))
        for node in nodes:
            self.str(node.op_type)
            self.str(node.domain)
            for names in (node.input, node.output):
                self.int(len(names))
                for name in names:
                    self.str(name)
            self.int(len(node.attribute))
            for a in node.attribute:
                self.str(a.name)
                self.int(a.type)
                if a.type == _FLOAT:
                    self.float_bits(a.f)
                elif a.type == _INT:
                    self.int(a.i)
                elif a.type == _STRING:
                    self.bytes(a.s)
                elif a.type == _FLOATS:
                    self.int(len(a.floats))
                    for f in a.floats:
                        self.float_bits(f)
                elif a.type == _INTS:
                    self.int(len(a.ints))
                    for i in a.ints:
                        self.int(i)


def structure_bytes(model: onnx.ModelProto) -> bytes:
    """The canonical bytes the digest is the CRC-32 of (module docstring)."""
    w = _Writer()
    w.str(STRUCTURE_TAG)
    w.int(len(model.opset_import))
    for opset in model.opset_import:
        w.str(opset.domain)
        w.int(opset.version)
    w.value_infos(model.graph.input)
    w.value_infos(model.graph.output)
    w.int(len(model.graph.initializer))
    for t in model.graph.initializer:
        w.str(t.name)
        w.int(t.data_type)
        w.int(len(t.dims))
        for d in t.dims:
            w.int(d)
    w.nodes(model.graph.node)
    w.int(len(model.functions))
    for f in model.functions:
        w.str(f.domain)
        w.str(f.name)
        w.nodes(f.node)
    return b"".join(w.parts)


def structure_digest(model: onnx.ModelProto) -> str:
    """Metadata.STRUCTURE_CHECKSUM of `model`: CHECKSUM_PREFIX + 8 lowercase hex digits."""
    return f"{CHECKSUM_PREFIX}{zlib.crc32(structure_bytes(model)):08x}"
