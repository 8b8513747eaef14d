"""Every C, C++ and CUDA file in runtime/ is formatted as runtime/.clang-format says.

Uses the clang-format pinned in pyproject.toml's dev and test extras (a different major
version may format differently: then this test says which one it found). Generated files are
listed in runtime/.clang-format-ignore. Fix a failure with
    clang-format -i $(git ls-files 'runtime/*.h' 'runtime/*.c' 'runtime/*.cpp' 'runtime/*.cu' 'runtime/*.cuh')
(the ignore file keeps the generated headers out).
"""

from __future__ import annotations

import fnmatch
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUNTIME = ROOT / "runtime"
SUFFIXES = {".h", ".c", ".cpp", ".cu", ".cuh"}
PINNED = re.compile(r'"clang-format==([\d.]+)"')


def clang_format() -> str | None:
    """The clang-format next to this Python (the venv's pip package), else the one on PATH."""
    beside = Path(sys.executable).parent / "clang-format"
    return str(beside) if beside.is_file() else shutil.which("clang-format")


def ignored() -> list[str]:
    lines = (RUNTIME / ".clang-format-ignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def cpp_files() -> list[Path]:
    files = [p for p in RUNTIME.rglob("*") if p.suffix in SUFFIXES and p.is_file()]
    skip = ignored()
    return sorted(p for p in files if not any(fnmatch.fnmatch(p.relative_to(RUNTIME).as_posix(), pat) for pat in skip))


def test_ignore_file_names_existing_generated_files():
    for pattern in ignored():
        assert list(RUNTIME.glob(pattern)), f".clang-format-ignore: {pattern} matches nothing"


def test_runtime_cpp_is_clang_formatted():
    exe = clang_format()
    if exe is None:
        pytest.skip("clang-format not installed (pip install clang-format, pinned in pyproject.toml's dev extra)")
    version = subprocess.run([exe, "--version"], capture_output=True, text=True, check=True).stdout.strip()
    pinned = PINNED.search((ROOT / "pyproject.toml").read_text())
    files = cpp_files()
    assert files, "no C++ files found under runtime/"
    r = subprocess.run(
        [exe, "--dry-run", "--Werror", *map(str, files)], capture_output=True, text=True, cwd=RUNTIME, check=False
    )
    wrong = sorted({line.split(":")[0] for line in r.stderr.splitlines() if ": error:" in line})
    assert r.returncode == 0, (
        f"{version} (pinned: {pinned.group(1) if pinned else '?'}) would reformat {len(wrong)} file(s):\n"
        + "\n".join(wrong)
        + "\nrun: clang-format -i <file> (runtime/.clang-format)\n"
        + r.stderr[-3000:]
    )
