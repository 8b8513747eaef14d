"""Atomic file writes: a reader never sees a half-written file."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from ..errors import WNOEdgeError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], before_commit: Callable[[], None] | None = None) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it over `path` only if the block succeeds
    (and `before_commit`, called just before the rename, does not raise)."""
    path = Path(path)
    if path.is_dir():
        raise WNOEdgeError(f"{path} is a directory, expected a file path")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise WNOEdgeError(f"cannot write {path}: directory {parent} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent)
    except OSError as e:
        raise WNOEdgeError(f"cannot write {path}: {e.strerror}") from None
    os.close(fd)
    try:
        yield Path(tmp)
        if before_commit is not None:
            before_commit()
        umask = os.umask(0)  # mkstemp creates 0600; give the file the mode open() would
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
