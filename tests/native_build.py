"""Builds runtime/ with CMake into build/ for the tests (incremental: a no-op rebuild takes
about a second), so `pytest` on a fresh clone tests the current source, not an old install.

Every C++ file a test runs is built through a target of runtime/CMakeLists.txt or
runtime/plugin/CMakeLists.txt (`cmake_build`); the tests keep no source lists of their own.
Compiler warnings fail the build check when the CI environment variable is set (CI=true in
CI), and are printed otherwise, so a newer compiler on a user's machine cannot fail `make test`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUNTIME = ROOT / "runtime"
PLUGIN = RUNTIME / "plugin"
BUILD = ROOT / "build" / "native"
ASAN_BUILD = ROOT / "build" / "asan"
JOBS = str(min(4, os.cpu_count() or 1))
# The aarch64 cross build (statically linked, run under qemu-aarch64) of the kernel's and the
# engine's tests: one tree, so both use the same options. WNO_FORCE_BUILTIN_SHUFFLE: the GCC 11
# code path (JetPack 6's compiler) on this GCC.
AARCH64_BUILD = ROOT / "build" / "aarch64"
AARCH64_OPTIONS = (
    f"-DCMAKE_TOOLCHAIN_FILE={RUNTIME / 'cmake' / 'aarch64-linux-gnu.cmake'}",
    "-DCMAKE_BUILD_TYPE=Release",
    "-DWNO_BUILD_CUDA=OFF",
    "-DWNO_BUILD_TESTS=ON",
    "-DWNO_FORCE_BUILTIN_SHUFFLE=ON",
    "-DCMAKE_EXE_LINKER_FLAGS=-static",
)
# The options of build/native: CPU library, CUDA emulation and the test drivers, no CUDA.
NATIVE_OPTIONS = (
    "-DCMAKE_BUILD_TYPE=Release",
    "-DWNO_BUILD_CUDA=OFF",
    "-DWNO_BUILD_CUDA_EMULATION=ON",
    "-DWNO_BUILD_TESTS=ON",
)


class CompilerWarning(UserWarning):
    """Warnings of a native build outside CI (in CI they fail the test)."""


def strict() -> bool:
    """True in CI (CI set and not false/0): compiler warnings are failures."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def check_warnings(output: str, what: str) -> None:
    """Compiler warnings in `output` fail under CI (the build is -Wall -Wextra clean there);
    elsewhere they are printed and reported as a pytest warning."""
    found = [line for line in output.splitlines() if "warning:" in line]
    if not found:
        return
    text = f"{what}: {len(found)} compiler warning(s)\n" + "\n".join(found)
    assert not strict(), text + "\n(fatal because CI is set)"
    print(text, file=sys.stderr)
    warnings.warn(CompilerWarning(text), stacklevel=2)


def require_cmake() -> str:
    cmake = shutil.which("cmake")
    if cmake is None:
        pytest.skip("cmake not found: the native code cannot be built here")
    return cmake


def compiler_cache() -> list[str]:
    """CMake options that compile through ccache when it is installed: a fresh clone (or a
    second build tree of the same sources) then reuses what any earlier build compiled."""
    ccache = shutil.which("ccache")
    if ccache is None or os.environ.get("WNO_EDGE_NO_CCACHE") == "1":
        return []
    return [f"-DCMAKE_{lang}_COMPILER_LAUNCHER={ccache}" for lang in ("C", "CXX")]


def configure(build: Path, source: Path, options: list[str] | tuple[str, ...], env: dict | None = None) -> str:
    """Runs CMake's configure step when `build` is new or was configured with other options;
    returns its output ("" when nothing had to be done)."""
    cmake = require_cmake()
    options = [*options, *compiler_cache()]
    stamp = build / "wno-test-options.txt"
    wanted = "\n".join([str(source), *options])
    if (build / "CMakeCache.txt").exists() and stamp.exists() and stamp.read_text() == wanted:
        return ""
    r = subprocess.run(
        [cmake, "-S", str(source), "-B", str(build), *options], capture_output=True, text=True, check=False, env=env
    )
    assert r.returncode == 0, f"cmake configure of {build} failed:\n{r.stdout[-4000:]}{r.stderr[-4000:]}"
    stamp.write_text(wanted)
    return r.stdout + r.stderr


def cmake_build(
    build: Path,
    source: Path,
    options: list[str] | tuple[str, ...],
    targets: list[str] | tuple[str, ...],
    what: str | None = None,
    env: dict | None = None,
) -> tuple[Path, str]:
    """Configures (if needed) and builds `targets`; checks the warnings; returns the build dir and
    the configure output."""
    configured = configure(build, source, options, env)
    r = subprocess.run(
        [require_cmake(), "--build", str(build), "-j", JOBS, "--target", *targets],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    out = r.stdout + r.stderr
    assert r.returncode == 0, f"build of {' '.join(targets)} in {build} failed:\n{out[-8000:]}"
    check_warnings(out, what or " ".join(targets))
    return build, configured


def build_native(targets: tuple[str, ...] = ("wno_winograd", "wno_cuda_emu")) -> Path:
    """build/native: the CPU library and the CUDA emulation by default, or any other target of
    runtime/ (test drivers included); the build dir."""
    return cmake_build(BUILD, RUNTIME, NATIVE_OPTIONS, targets)[0]


def build_sanitized_check() -> Path:
    """runtime/tests/conv_check built with AddressSanitizer + UBSan (cached in build/asan)."""
    require_cmake()
    options = ["-DCMAKE_BUILD_TYPE=Release", "-DWNO_BUILD_CUDA=OFF", "-DWNO_SANITIZE=ON", "-DWNO_BUILD_TESTS=ON"]
    configure(ASAN_BUILD, RUNTIME, options)
    out = subprocess.run(
        ["cmake", "--build", str(ASAN_BUILD), "-j", JOBS, "--target", "wno_conv_check"],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0 and "asan" in (out.stdout + out.stderr).lower():
        pytest.skip("the compiler has no AddressSanitizer runtime")
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    check_warnings(out.stdout + out.stderr, "wno_conv_check (sanitizers)")
    return ASAN_BUILD / "wno_conv_check"


def run_sanitized_check(mode: str, **env) -> str:
    """Runs conv_check under the sanitizers; any finding or wrong value fails."""
    exe = build_sanitized_check()
    run = subprocess.run(
        [str(exe), mode],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "ASAN_OPTIONS": "abort_on_error=0:detect_leaks=1", **env},
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    assert " 0 failed" in run.stdout, run.stdout
    return run.stdout
