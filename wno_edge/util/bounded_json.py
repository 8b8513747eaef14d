"""Strict, bounded JSON: RFC 8259 with limits, for texts from files nobody vetted (an ONNX file's
config metadata, a PhysicsNeMo checkpoint's args.json). No NaN / Infinity literals, no number that
overflows a double, no integer outside int64, no lone surrogate (\\ud800), no duplicate key, at
most `bytes` bytes, `depth` levels, `key_bytes` per key and `items` per object or array.
json.loads alone accepts NaN, duplicates (the last wins) and lone surrogates, and recurses once
per bracket (RecursionError at about 10**3 levels). The config's grammar (contract.CONFIG_JSON,
the same in C++: runtime/engine/config.cpp) is these rules with contract.py's limits.
"""

from __future__ import annotations

import json
import math
import re
from functools import partial
from typing import Any, NamedTuple

from ..errors import preview


class JsonLimits(NamedTuple):
    bytes: int
    depth: int
    items: int
    key_bytes: int


class _Refused(ValueError):
    """A text json.loads would accept that the grammar does not."""


_SURROGATE = re.compile("[\ud800-\udfff]")  # only a lone \uXXXX escape decodes to one
_INT64 = 1 << 63


def _json_depth(text: str, limit: int) -> int:
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
                if deepest > limit:  # no need to read on
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


def _object(limits: JsonLimits, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    if len(pairs) > limits.items:
        raise _Refused(f"an object has more than {limits.items} members")
    out: dict[str, Any] = {}
    for key, value in pairs:
        if len(key.encode("utf-8", "surrogatepass")) > limits.key_bytes:
            raise _Refused(f"a key is longer than {limits.key_bytes} bytes ({preview(key, 60)})")
        if key in out:
            raise _Refused(f"duplicate key {preview(key, 60)}")
        out[_string(key)] = value
    return out


def _check_values(value: Any, limits: JsonLimits) -> None:
    """Array lengths and string contents (keys and objects were checked as they were built)."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            _string(v)
        elif isinstance(v, list):
            if len(v) > limits.items:
                raise _Refused(f"an array has more than {limits.items} elements")
            stack.extend(v)
        elif isinstance(v, dict):
            stack.extend(v.values())


def parse_bounded_json(text: str, limits: JsonLimits) -> Any:
    """The JSON value of `text` under these rules and `limits`; ValueError (one line) if refused."""
    if len(text) > limits.bytes or len(text.encode("utf-8", "surrogatepass")) > limits.bytes:
        raise _Refused(f"larger than {limits.bytes} bytes")
    if _json_depth(text, limits.depth) > limits.depth:
        raise _Refused(f"nested deeper than {limits.depth} levels")
    value = json.loads(
        text,
        object_pairs_hook=partial(_object, limits),
        parse_constant=_no_constant,
        parse_float=_finite,
        parse_int=_int64,
    )
    _check_values(value, limits)
    return value
