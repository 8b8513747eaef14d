"""Parsing shapes typed by users: '64', '64x48', '1x1x64x64' (',' works as 'x' too)."""

from __future__ import annotations

from typing import overload

from ..errors import WNOEdgeError


def parse_dims(text: str, what: str = "shape", example: str = "1x1x64x64") -> tuple[int, ...]:
    try:
        dims = tuple(int(p) for p in str(text).lower().replace(",", "x").split("x"))
    except ValueError:
        dims = ()
    if not dims or min(dims) < 1:
        raise WNOEdgeError(f"{what} must look like {example} with positive integers, got {text!r}")
    return dims


@overload
def parse_resolution(text: str) -> tuple[int, int]: ...
@overload
def parse_resolution(text: None) -> None: ...
@overload
def parse_resolution(text: str | None) -> tuple[int, int] | None: ...


def parse_resolution(text: str | None) -> tuple[int, int] | None:
    """'64' -> (64, 64), '64x48' -> (64, 48); None stays None."""
    if text is None:
        return None
    dims = parse_dims(text, "resolution", "64 or 64x48")
    if len(dims) > 2:
        raise WNOEdgeError(f"resolution must look like 64 or 64x48 with positive integers, got {text!r}")
    return (dims[0], dims[0]) if len(dims) == 1 else (dims[0], dims[1])
