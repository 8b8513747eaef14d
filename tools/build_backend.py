"""wno-edge's PEP 517 build backend: setuptools (setup.py runs CMake), plus cmake and ninja
as build requirements where the system lacks them.

scikit-build-core does the same injection; setuptools is kept because setup.py's build_ext
puts every shared library the CMake project builds into wno_edge/_native/ (wheel and
editable alike, no install rules needed) and falls back to a pure-Python install, loudly,
when the build fails.

Environment (read here and by setup.py):
  WNO_EDGE_SKIP_NATIVE=1     pure-Python install: no native build, no cmake/ninja needed
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

from setuptools import build_meta as _setuptools
from setuptools.build_meta import *  # noqa: F401,F403  (the PEP 517 hooks)

MIN_CMAKE = (3, 18)  # runtime/CMakeLists.txt's cmake_minimum_required


def _cmake_version(cmake: str) -> tuple[int, ...] | None:
    try:
        out = subprocess.run([cmake, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"version (\d+)\.(\d+)", out)
    return tuple(int(g) for g in match.groups()) if match else None


def native_build_requires() -> list[str]:
    """What the native build needs from PyPI: nothing when the system has it, or when skipped."""
    if os.environ.get("WNO_EDGE_SKIP_NATIVE") == "1":
        return []
    requires = []
    cmake = shutil.which("cmake")
    if cmake is None or (_cmake_version(cmake) or (0,)) < MIN_CMAKE:
        requires.append(f"cmake>={'.'.join(map(str, MIN_CMAKE))}")
    if shutil.which("ninja") is None:
        requires.append("ninja>=1.10")
    return requires


def get_requires_for_build_wheel(config_settings=None):
    return _setuptools.get_requires_for_build_wheel(config_settings) + native_build_requires()


def get_requires_for_build_editable(config_settings=None):
    return _setuptools.get_requires_for_build_editable(config_settings) + native_build_requires()
