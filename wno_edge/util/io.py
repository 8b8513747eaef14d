"""Atomic file writes: a reader never sees a half-written file, and no output replaces an input."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from ..errors import WNOEdgeError


def same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """True when a and b are one file: the same path, a symlink to it, or a hard link (same
    device and inode). A path that does not exist yet is no existing file."""
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return False


def refuse_overwrite(output: str | os.PathLike[str], *inputs: str | os.PathLike[str] | None) -> None:
    """One-line WNOEdgeError when `output` is the same file as any of `inputs` (None skipped):
    writing it would destroy what the command reads."""
    for source in inputs:
        if source is not None and same_file(output, source):
            raise WNOEdgeError(f"refusing to write {output}: it is the input {source} (choose another output path)")


def refuse_same_outputs(*outputs: str | os.PathLike[str] | None) -> None:
    """One-line WNOEdgeError when two of `outputs` (None skipped) name one file: the second
    write would replace the first. Unlike inputs, outputs may not exist yet, so the resolved
    paths are compared too (same_file only knows existing files)."""
    given = [Path(p) for p in outputs if p is not None]
    for i, a in enumerate(given):
        for b in given[i + 1 :]:
            if a.resolve() == b.resolve() or same_file(a, b):
                raise WNOEdgeError(f"refusing to write {b}: it is also the output {a} (choose different output paths)")


@contextlib.contextmanager
def atomic_path(
    path: str | os.PathLike[str],
    before_commit: Callable[[], None] | None = None,
    inputs: tuple[str | os.PathLike[str] | None, ...] = (),
) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it over `path` only if the block succeeds
    (and `before_commit`, called just before the rename, does not raise). Refuses, before
    anything is written, a `path` that is one of `inputs` (refuse_overwrite)."""
    refuse_overwrite(path, *inputs)
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
