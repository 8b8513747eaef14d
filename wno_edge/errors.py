"""User-facing errors: the CLI prints these as one line and exits non-zero."""

from __future__ import annotations

import os
import stat


class WNOEdgeError(Exception):
    """A problem with the user's input (file, option, data), not a bug in wno-edge."""


# Which extra of `pip install wno-edge[...]` brings each optional import (pyproject.toml).
EXTRA_OF = {
    "torch": "train",
    "h5py": "data",
    "scipy": "data",
    "onnx": "export",
    "onnxruntime": "onnxruntime",
    "openvino": "openvino",
    "matplotlib": "plots",
    "tensorrt": "tensorrt",
    "cuda": "tensorrt",
}


def missing_dependency(exc: ImportError, what: str) -> WNOEdgeError | None:
    """The one-line error for `what` failing on an optional dependency that is not installed,
    or None when `exc` is about anything else (then it is a bug to report, not a user error)."""
    name = (getattr(exc, "name", None) or "").split(".")[0]
    if name not in EXTRA_OF:
        return None
    return WNOEdgeError(f"{what} needs {name}, which is not installed: pip install 'wno-edge[{EXTRA_OF[name]}]'")


# ---- messages about values and files from the user ------------------------------------------
_PREVIEW_ITEMS = 4  # container items shown per level
_PREVIEW_LEVELS = 3  # container levels shown
_PREVIEW_INT_BITS = 128  # larger ints are shown by size (str() of a 10**5000 int raises ValueError)


def one_line(text: str, limit: int = 120) -> str:
    """A message from elsewhere (torch, click, json, an exception) as one bounded line: control
    characters and line breaks become spaces, runs of white space one space, and the rest is cut
    at `limit` characters."""
    text = " ".join("".join(c if c.isprintable() else " " for c in text[: 4 * limit]).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def preview(value: object, limit: int = 200) -> str:
    """`value` (from a file or a caller) for a one-line message: a bounded text and its type name,
    "'3' (str)", "[[...], [...]] (list of 2 items)". Never repr()s the whole value: a pickled object
    can share references so that its full repr is 2**60 items long (repr() would never return);
    this looks at no more than _PREVIEW_ITEMS ** _PREVIEW_LEVELS items, and at no string past
    `limit` characters."""
    if value is None or isinstance(value, bool):
        return _shown(value, 0, limit)
    kind = type(value).__name__
    if isinstance(value, (dict, list, tuple, set, frozenset)):
        kind += f" of {len(value)} item" + ("" if len(value) == 1 else "s")
    elif isinstance(value, (str, bytes)) and len(value) > limit // 2:
        kind += f" of {len(value)} " + ("characters" if isinstance(value, str) else "bytes")
    text = _shown(value, _PREVIEW_LEVELS, max(limit - len(kind) - 3, 16))
    out = f"{text} ({kind})"
    return out if len(out) <= limit else out[: max(limit - 3, 0)] + "..."


def _shown(value: object, levels: int, limit: int) -> str:
    """The bounded text of preview(), without the type name."""
    if value is None or isinstance(value, bool):
        return "None" if value is None else ("True" if value else "False")
    if isinstance(value, int):
        if int.bit_length(value) > _PREVIEW_INT_BITS:
            return f"<{int.bit_length(value)}-bit integer>"
        return int.__repr__(value)
    if isinstance(value, float):
        return float.__repr__(value)
    if isinstance(value, (str, bytes)):  # repr() of a str escapes line breaks: one line
        head = (
            str.__getitem__(value, slice(limit)) if isinstance(value, str) else bytes.__getitem__(value, slice(limit))
        )
        text = repr(head)
        return text if len(text) <= limit else text[: max(limit - 4, 0)] + "..." + text[-1]
    if isinstance(value, (dict, list, tuple, set, frozenset)):
        if isinstance(value, dict):
            items: list[tuple[object, ...]] = []
            for pair in dict.items(value):
                if len(items) == _PREVIEW_ITEMS:
                    break
                items.append(pair)
        else:
            items = []
            for item in value:
                if len(items) == _PREVIEW_ITEMS:
                    break
                items.append((item,))
        if levels <= 0 or (items and limit < 8):
            inner = "..." if len(value) else ""
        else:
            shown = [": ".join(_shown(part, levels - 1, limit // 2) for part in item) for item in items]
            inner = ", ".join(shown + (["..."] if len(value) > len(items) else []))
        opening, closing = (
            "{}" if isinstance(value, (dict, set, frozenset)) else "()" if isinstance(value, tuple) else "[]"
        )
        if isinstance(value, tuple) and len(value) == 1:
            inner += ","
        text = opening + inner + closing
        return text if len(text) <= limit else text[: max(limit - 4, 0)] + "..." + closing
    # Anything else (a tensor, an object a pickle names) by its type and shape: its repr could
    # be anything, and as long as anything.
    shape = getattr(value, "shape", None) if type(value).__name__ in ("Tensor", "Parameter", "ndarray") else None
    if isinstance(shape, tuple) and len(shape) <= 8 and all(isinstance(d, int) for d in shape):
        return f"<shape {tuple(shape)}>"
    return f"<{type(value).__qualname__}>"


def not_a_file(path: str | os.PathLike[str]) -> WNOEdgeError | None:
    """The one-line error for a `path` that is not a regular file (missing, a directory, a FIFO,
    a device), or None for a regular file. Decided by stat() alone: opening a FIFO to look at it
    would block until something writes to it."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return WNOEdgeError(f"{path}: no such file")
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the path
        return WNOEdgeError(f"{path}: cannot be read ({getattr(exc, 'strerror', None) or type(exc).__name__})")
    if stat.S_ISREG(mode):
        return None
    kinds = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"))
    what = next((name for test, name in kinds if test(mode)), "a device or other special file")
    return WNOEdgeError(f"{path}: is {what}, not a regular file")
