"""Builds runtime/ with CMake into build/ for the tests (incremental: a no-op rebuild takes
about a second), so `pytest` on a fresh clone tests the current source, not an old install."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUNTIME = ROOT / "runtime"
BUILD = ROOT / "build" / "native"
ASAN_BUILD = ROOT / "build" / "asan"


def build_native() -> Path:
    """Configure (once) and build the CPU library and the CUDA emulation; the build dir."""
    if shutil.which("cmake") is None:
        pytest.skip("cmake not found: the native kernels cannot be built here")
    if not (BUILD / "CMakeCache.txt").exists():
        subprocess.run(["cmake", "-S", str(RUNTIME), "-B", str(BUILD), "-DCMAKE_BUILD_TYPE=Release",
                        "-DWNO_BUILD_CUDA=OFF", "-DWNO_BUILD_CUDA_EMULATION=ON"],
                       check=True, capture_output=True, text=True)
    jobs = str(min(4, os.cpu_count() or 1))
    out = subprocess.run(["cmake", "--build", str(BUILD), "-j", jobs], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    warnings = [line for line in (out.stdout + out.stderr).splitlines() if "warning:" in line]
    assert not warnings, "\n".join(warnings)  # the build is -Wall -Wextra clean
    return BUILD


def build_sanitized_check() -> Path:
    """runtime/tests/conv_check built with AddressSanitizer + UBSan (cached in build/asan)."""
    if shutil.which("cmake") is None:
        pytest.skip("cmake not found")
    if not (ASAN_BUILD / "CMakeCache.txt").exists():
        subprocess.run(["cmake", "-S", str(RUNTIME), "-B", str(ASAN_BUILD), "-DCMAKE_BUILD_TYPE=Release",
                        "-DWNO_BUILD_CUDA=OFF", "-DWNO_SANITIZE=ON", "-DWNO_BUILD_TESTS=ON"],
                       check=True, capture_output=True, text=True)
    out = subprocess.run(["cmake", "--build", str(ASAN_BUILD), "-j", str(min(4, os.cpu_count() or 1))],
                         capture_output=True, text=True, check=False)
    if out.returncode != 0 and "asan" in (out.stdout + out.stderr).lower():
        pytest.skip("the compiler has no AddressSanitizer runtime")
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    warnings = [line for line in (out.stdout + out.stderr).splitlines() if "warning:" in line]
    assert not warnings, "\n".join(warnings)
    return ASAN_BUILD / "wno_conv_check"


def run_sanitized_check(mode: str, **env) -> str:
    """Runs conv_check under the sanitizers; any finding or wrong value fails."""
    exe = build_sanitized_check()
    run = subprocess.run([str(exe), mode], capture_output=True, text=True, timeout=300, check=False,
                         env={**os.environ, "ASAN_OPTIONS": "abort_on_error=0:detect_leaks=1", **env})
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    assert " 0 failed" in run.stdout, run.stdout
    return run.stdout
