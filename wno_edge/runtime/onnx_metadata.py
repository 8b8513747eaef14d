"""The metadata of an .onnx file, read without onnx, torch or numpy.

A ModelProto's metadata_props is field 14, a repeated StringStringEntryProto (key = 1,
value = 2). Only those bytes are read: every other top-level field, the graph with its
weights included, is skipped by its length, so this is quick on any file size.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
from pathlib import Path
from typing import Any, BinaryIO

from ..contract import MAX_CONFIG_BYTES, MAX_CONFIG_DEPTH, MAX_CONFIG_ITEMS, MAX_CONFIG_KEY_BYTES, Metadata, WNOConfig
from ..errors import WNOEdgeError, not_a_file, one_line, preview

_METADATA_PROPS = 14
_VARINT, _FIXED64, _LENGTH, _FIXED32 = 0, 1, 2, 5


def _varint(f: BinaryIO) -> int | None:
    """The next varint, or None at a clean end of file."""
    value = shift = 0
    while True:
        b = f.read(1)
        if not b:
            if shift:
                raise ValueError("truncated varint")
            return None
        value |= (b[0] & 0x7F) << shift
        if b[0] < 0x80:
            return value
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def _entry(data: bytes) -> tuple[str, str]:
    """key, value of a StringStringEntryProto."""
    f, out = io.BytesIO(data), {1: "", 2: ""}
    while (tag := _varint(f)) is not None:
        field, wire = tag >> 3, tag & 7
        if wire != _LENGTH:
            raise ValueError("unexpected wire type in a metadata entry")
        n = _varint(f)
        raw = f.read(n or 0)
        if n is None or len(raw) != n:
            raise ValueError("truncated metadata entry")
        out[field] = raw.decode("utf-8")
    return out[1], out[2]


def read_onnx_metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    """metadata_props of an .onnx file; WNOEdgeError if it is not a readable ONNX file."""
    path = Path(path)
    problem = not_a_file(path)  # before open(): opening a FIFO blocks
    if problem is not None:
        raise problem
    size = path.stat().st_size
    props: dict[str, str] = {}
    try:
        with open(path, "rb") as f:
            while (tag := _varint(f)) is not None:
                field, wire = tag >> 3, tag & 7
                if wire == _VARINT:
                    if _varint(f) is None:
                        raise ValueError("truncated field")
                elif wire in (_FIXED64, _FIXED32):
                    f.seek(8 if wire == _FIXED64 else 4, os.SEEK_CUR)
                elif wire == _LENGTH:
                    n = _varint(f)
                    if n is None or f.tell() + n > size:
                        raise ValueError("field runs past the end of the file")
                    if field == _METADATA_PROPS:
                        key, value = _entry(f.read(n))
                        props[key] = value
                    else:
                        f.seek(n, os.SEEK_CUR)
                else:
                    raise ValueError(f"wire type {wire}")
                if f.tell() > size:
                    raise ValueError("field runs past the end of the file")
    except (ValueError, UnicodeDecodeError) as exc:
        raise WNOEdgeError(f"{path}: not a readable ONNX file ({exc})") from None
    return props


def read_config(path: str | os.PathLike[str]) -> WNOConfig | None:
    """The WNOConfig a wno-edge export stores in its metadata; None for a foreign file."""
    meta = read_onnx_metadata(path)
    if Metadata.CONFIG not in meta:
        return None
    return config_from_json(meta[Metadata.CONFIG], str(path))


# ---- the config's JSON: one grammar in Python and C++ (runtime/engine/config.cpp) --------------
# Strict RFC 8259 JSON, with the limits of contract.py: no NaN / Infinity literals, no number
# that overflows a double, no integer outside int64, no lone surrogate (\ud800), no duplicate
# key, at most MAX_CONFIG_BYTES bytes, MAX_CONFIG_DEPTH levels, MAX_CONFIG_KEY_BYTES per key and
# MAX_CONFIG_ITEMS per object or array. json.loads alone accepts NaN, duplicates (the last wins)
# and lone surrogates, and recurses once per bracket (RecursionError at about 10**3 levels).


class _Refused(ValueError):
    """A text json.loads would accept that the config grammar does not."""


_SURROGATE = re.compile("[\ud800-\udfff]")  # only a lone \uXXXX escape decodes to one
_INT64 = 1 << 63


def _json_depth(text: str) -> int:
    """The deepest nesting of [ and { outside strings (unbalanced text is json.loads' to refuse)."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > MAX_CONFIG_DEPTH:  # no need to read on
                    break
        elif ch in "]}":
            depth -= 1
    return deepest


def _no_constant(name: str) -> Any:
    raise _Refused(f"{name} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Refused(f"the number {text[:40]} is out of range")
    return value


def _int64(text: str) -> int:
    value = int(text) if len(text) <= 21 else _INT64  # no 4300-digit conversion
    if not -_INT64 <= value < _INT64:
        raise _Refused(f"the integer {text[:40]}{'...' * (len(text) > 40)} is out of range")
    return value


def _string(text: str) -> str:
    if _SURROGATE.search(text):
        raise _Refused("a string holds a lone surrogate (\\ud800-\\udfff)")
    return text


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    if len(pairs) > MAX_CONFIG_ITEMS:
        raise _Refused(f"an object has more than {MAX_CONFIG_ITEMS} members")
    out: dict[str, Any] = {}
    for key, value in pairs:
        if len(key.encode("utf-8", "surrogatepass")) > MAX_CONFIG_KEY_BYTES:
            raise _Refused(f"a key is longer than {MAX_CONFIG_KEY_BYTES} bytes ({preview(key, 60)})")
        if key in out:
            raise _Refused(f"duplicate key {preview(key, 60)}")
        out[_string(key)] = value
    return out


def _check_values(value: Any) -> None:
    """Array lengths and string contents (keys and objects were checked as they were built)."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            _string(v)
        elif isinstance(v, list):
            if len(v) > MAX_CONFIG_ITEMS:
                raise _Refused(f"an array has more than {MAX_CONFIG_ITEMS} elements")
            stack.extend(v)
        elif isinstance(v, dict):
            stack.extend(v.values())


def parse_config_json(text: str) -> Any:
    """The JSON value of a config text under the config grammar (see above); ValueError if refused."""
    if len(text) > MAX_CONFIG_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_CONFIG_BYTES:
        raise _Refused(f"larger than {MAX_CONFIG_BYTES} bytes")
    if _json_depth(text) > MAX_CONFIG_DEPTH:
        raise _Refused(f"nested deeper than {MAX_CONFIG_DEPTH} levels")
    value = json.loads(
        text, object_pairs_hook=_object, parse_constant=_no_constant, parse_float=_finite, parse_int=_int64
    )
    _check_values(value)
    return value


def config_from_json(text: str, where: str) -> WNOConfig:
    """The validated WNOConfig of a config JSON text; one-line WNOEdgeError naming `where` if not."""
    try:
        value = parse_config_json(text)
    except ValueError as exc:  # json.JSONDecodeError, _Refused
        raise WNOEdgeError(f"{where}: malformed {Metadata.CONFIG} metadata ({one_line(str(exc), 160)})") from None
    return WNOConfig.from_dict(value)
