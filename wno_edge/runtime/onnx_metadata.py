"""The metadata of an .onnx file, read without onnx, torch or numpy.

A ModelProto's metadata_props is field 14, a repeated StringStringEntryProto (key = 1,
value = 2). Only those bytes are read: every other top-level field, the graph with its
weights included, is skipped by its length, so this is quick on any file size.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any, BinaryIO

from ..contract import CONFIG_JSON, Metadata, WNOConfig
from ..errors import WNOEdgeError, not_a_file, one_line
from ..util.bounded_json import parse_bounded_json

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


def parse_config_json(text: str) -> Any:
    """The JSON value of a config text under the config grammar (util.bounded_json with
    contract.CONFIG_JSON: one grammar in Python and C++, runtime/engine/config.cpp); ValueError
    if refused."""
    return parse_bounded_json(text, CONFIG_JSON)


def config_from_json(text: str, where: str) -> WNOConfig:
    """The validated WNOConfig of a config JSON text; one-line WNOEdgeError naming `where` if not."""
    try:
        value = parse_config_json(text)
    except ValueError as exc:  # json.JSONDecodeError, _Refused
        raise WNOEdgeError(f"{where}: malformed {Metadata.CONFIG} metadata ({one_line(str(exc), 160)})") from None
    return WNOConfig.from_dict(value)
