"""An allow-list scan of a pickle's globals, run before any unpickler sees it.

A pickle names the callables it will call by GLOBAL opcodes; reading the opcodes with
pickletools runs nothing. A file whose pickle names anything outside the importer's allow-list,
or names objects in a way the scan cannot read (STACK_GLOBAL, INST, OBJ, the extension
registry), is refused in one line before torch's weights-only unpickler (the second fence)
is reached.
"""

from __future__ import annotations

import pickletools
from collections.abc import Callable, Container

from ..errors import WNOEdgeError, one_line, preview

# Opcodes that name or build objects without a GLOBAL the scan can read.
UNREADABLE_OPS = frozenset({"STACK_GLOBAL", "INST", "OBJ", "EXT1", "EXT2", "EXT4"})


def refuse_foreign_globals(
    data: bytes,
    where: str,
    allowed: Container[str],
    error: type[WNOEdgeError],
    writer: str,
    why: Callable[[str], str] = lambda name: "",
) -> None:
    """Raise `error` (one line naming `where`) when the pickle `data` names a global outside
    `allowed` ("module.name"), uses an opcode in UNREADABLE_OPS, or cannot be read at all.
    `writer` names what writes such files ("a PhysicsNeMo checkpoint"); `why(name)` says what
    a refused global most likely is ("" for nothing)."""
    try:
        for op, arg, _ in pickletools.genops(data):
            if op.name in UNREADABLE_OPS:
                raise error(
                    f"{where}: refused: the pickle uses {op.name}, which {writer} never does (nothing was executed)"
                )
            if op.name == "GLOBAL":
                name = str(arg).replace(" ", ".")
                if name not in allowed:
                    shown = preview(name, 120) if not name.isprintable() or len(name) > 100 else name
                    reason = why(name) or f"which {writer} never holds"
                    raise error(
                        f"{where}: refused: the file asks for the global {shown}, {reason} (nothing was executed)"
                    )
    except WNOEdgeError:
        raise
    except Exception as e:  # truncated, or not a pickle at all
        raise error(f"{where}: not a readable pickle ({one_line(str(e)) or type(e).__name__})") from None
