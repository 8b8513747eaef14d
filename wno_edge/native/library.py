"""Finding and loading the native CPU library (libwno_winograd.so.2), torch-free.

Built by `pip install .` / `pip install -e .` into wno_edge/_native/ when CMake and a C++
compiler are found; $WNO_EDGE_NATIVE_LIB names another copy. Nothing is loaded until
first use. wno_edge/_native/ holds each library under its SONAME (libwno_winograd.so.<ABI>,
libwno_engine.so.<ABI>) and no unversioned symlink: wheels cannot carry symlinks (docs/c-api.md).
"""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Callable
from pathlib import Path

from . import abi

LIBRARY_ENV = "WNO_EDGE_NATIVE_LIB"  # path of libwno_winograd.so to use instead
NATIVE_DIR = Path(__file__).resolve().parents[1] / "_native"
CPU_LIBRARY = "libwno_winograd.so"  # the link name (a symlink in CMake build trees)
CPU_LIBRARY_FILE = f"{CPU_LIBRARY}.{abi.ABI_VERSION}"  # its SONAME: the file in NATIVE_DIR


class NativeUnavailable(RuntimeError):
    """The native library is not built or cannot be loaded here."""


_lock = threading.Lock()
_lib: ctypes.CDLL | None = None
_lib_path: Path | None = None
_on_reload: list[Callable[[], None]] = []  # callbacks run when another library replaces the loaded one


def library_path() -> Path:
    """Where the CPU library is looked for: $WNO_EDGE_NATIVE_LIB, else wno_edge/_native/."""
    env = os.environ.get(LIBRARY_ENV)
    return Path(env) if env else NATIVE_DIR / CPU_LIBRARY_FILE


def load(path: str | os.PathLike[str] | None = None) -> ctypes.CDLL:
    """The CPU library, loaded once (thread-safe). Raises NativeUnavailable with the reason.

    `path` (or $WNO_EDGE_NATIVE_LIB) replaces the library loaded so far, for tests that
    build runtime/ into build/.
    """
    global _lib, _lib_path
    with _lock:
        target = Path(path) if path is not None else library_path()
        if _lib is not None and (path is None or target == _lib_path):
            return _lib
        if not target.exists():
            raise NativeUnavailable(
                f"{target} not found: build it with `pip install -e .` "
                "(needs CMake and a C++17 compiler) or see runtime/README.md"
            )
        try:
            lib = abi.declare(ctypes.CDLL(str(target)))
        except (OSError, AttributeError) as exc:
            raise NativeUnavailable(f"cannot load {target}: {exc}") from exc
        if lib.wno_abi_version() != abi.ABI_VERSION:
            raise NativeUnavailable(
                f"{target} has C ABI {lib.wno_abi_version()}, this wno_edge needs {abi.ABI_VERSION}"
            )
        _lib, _lib_path = lib, target
        for callback in _on_reload:
            callback()
        return lib


def available() -> tuple[bool, str]:
    """(True, what was loaded) or (False, why not)."""
    try:
        lib = load()
    except NativeUnavailable as exc:
        return False, str(exc)
    path = _lib_path
    assert path is not None  # load() sets it with _lib
    return True, (
        f"{path.name}: {lib.wno_cpu_isa().decode()}, {lib.wno_cpu_default_threads()} hardware threads, at {path.parent}"
    )


def check(lib: ctypes.CDLL, status: int, what: str) -> None:
    """Raise RuntimeError with the library's message for a failing status."""
    if status != abi.SUCCESS:
        raise RuntimeError(f"{what} failed: {lib.wno_status_string(status).decode()}")


# Files setup.py's native build installs next to the libraries for C/C++ consumers of a pip
# install (runtime/CMakeLists.txt's wno_edge_dev component): find_package(wno_edge CONFIG) with
# wno_edge_DIR = cmake_dir(), or pkg-config with PKG_CONFIG_PATH = NATIVE_DIR / "pkgconfig".
ENGINE_ABI_VERSION = 2  # WNO_ENGINE_ABI_VERSION (include/wno/engine.h): wno_edge.runtime.native_backend's
ENGINE_LIBRARY = "libwno_engine.so"  # the link name (a symlink in CMake build trees)
ENGINE_LIBRARY_FILE = f"{ENGINE_LIBRARY}.{ENGINE_ABI_VERSION}"  # its SONAME: the file in NATIVE_DIR


def _built(path: Path, what: str) -> Path:
    if not path.exists():
        raise NativeUnavailable(
            f"{what} not found at {path}: this install has no native build; build it with "
            "`pip install -e .` (needs CMake and a C++17 compiler) or see runtime/README.md"
        )
    return path


def cmake_dir() -> Path:
    """The folder of wno_edgeConfig.cmake (for wno_edge_DIR); NativeUnavailable if not built."""
    return _built(NATIVE_DIR / "cmake" / "wno_edge", "the CMake package (wno_edgeConfig.cmake)")


def include_dir() -> Path:
    """The folder holding wno/engine.h and wno/winograd.h; NativeUnavailable if not built."""
    _built(NATIVE_DIR / "include" / "wno" / "engine.h", "the C headers (wno/engine.h)")
    return NATIVE_DIR / "include"


def lib_dir() -> Path:
    """The folder of libwno_engine.so.2 and libwno_winograd.so.2; NativeUnavailable if not built."""
    _built(NATIVE_DIR / ENGINE_LIBRARY_FILE, f"the native engine ({ENGINE_LIBRARY_FILE})")
    return NATIVE_DIR
