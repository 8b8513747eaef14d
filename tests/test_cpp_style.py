"""Every C, C++ and CUDA file in runtime/ is formatted as runtime/.clang-format says.

tools/cpp_format.py holds the file list and the check (`make lint` runs it as well) with the
clang-format pinned in pyproject.toml's dev and test extras; a different major version may
format differently, and then this test says which one it found. Generated files are listed
in runtime/.clang-format-ignore. Fix a failure with `make format`.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUNTIME = ROOT / "runtime"
PINNED = re.compile(r'"clang-format==([\d.]+)"')
_spec = importlib.util.spec_from_file_location("cpp_format", ROOT / "tools" / "cpp_format.py")
cpp_format = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cpp_format)


def test_ignore_file_names_existing_generated_files():
    for pattern in cpp_format.ignored():
        assert list(RUNTIME.glob(pattern)), f".clang-format-ignore: {pattern} matches nothing"


def test_runtime_cpp_is_clang_formatted():
    exe = cpp_format.clang_format()
    if exe is None:
        pytest.skip("clang-format not installed (pip install clang-format, pinned in pyproject.toml's dev extra)")
    version = subprocess.run([exe, "--version"], capture_output=True, text=True, check=True).stdout.strip()
    pinned = PINNED.search((ROOT / "pyproject.toml").read_text())
    assert cpp_format.cpp_files(), "no C++ files found under runtime/"
    wrong, stderr = cpp_format.check(exe)
    assert not wrong, (
        f"{version} (pinned: {pinned.group(1) if pinned else '?'}) would reformat {len(wrong)} file(s):\n"
        + "\n".join(wrong)
        + "\nrun: make format (tools/cpp_format.py, runtime/.clang-format)\n"
        + stderr[-3000:]
    )
