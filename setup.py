"""Native build of wno-edge: the CPU Winograd kernel of runtime/ via CMake.

pyproject.toml holds the metadata; this file only adds a build_ext that runs CMake (with
Ninja when there is one; tools/build_backend.py adds cmake and ninja to the build
requirements where the system lacks them) and puts the libraries into wno_edge/_native/
(`pip install .` and `pip install -e .`). Without a C++ compiler, or if the build fails,
the package still installs without them and says so in a banner; pip hides build output
unless run with -v, so `make install` checks `wno_edge.native.available()` afterwards and
prints the result, and `wno-edge info --backends` says why at any time.

Environment:
  WNO_EDGE_SKIP_NATIVE=1     do not build the native library (a pure-Python install)
  WNO_EDGE_REQUIRE_NATIVE=1  fail the install instead of falling back
  WNO_EDGE_CMAKE_ARGS="..."  extra CMake arguments, e.g. -DWNO_BUILD_CUDA=ON
"""

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent


class CMakeExtension(Extension):
    def __init__(self, name: str, source_dir: Path):
        super().__init__(name, sources=[])
        self.source_dir = source_dir


class CMakeBuild(build_ext):
    def get_ext_filename(self, ext_name):
        # A plain shared library loaded with ctypes, not a CPython extension module.
        *package, name = ext_name.split(".")
        return os.path.join(*package, name + ".so")

    def run(self):
        if os.environ.get("WNO_EDGE_SKIP_NATIVE") == "1":
            self.announce("wno-edge: native build skipped (WNO_EDGE_SKIP_NATIVE=1)", level=3)
            return
        cxx = (shlex.split(os.environ.get("CXX", "")) or ["c++"])[0]
        missing = [tool for tool in ("cmake", cxx) if not shutil.which(tool)]
        if missing:
            return self._fallback(f"{', '.join(missing)} not found")
        try:
            super().run()
        except (subprocess.CalledProcessError, OSError) as exc:
            self._fallback(str(exc))

    def copy_extensions_to_source(self):
        # Editable installs copy the libraries into the source tree: make their folder first.
        for ext in self.extensions:
            (ROOT / Path(*ext.name.split(".")[:-1])).mkdir(parents=True, exist_ok=True)
        super().copy_extensions_to_source()

    def _fallback(self, why: str):
        if os.environ.get("WNO_EDGE_REQUIRE_NATIVE") == "1":
            raise RuntimeError(f"wno-edge: native build failed: {why}")
        rule = "*" * 78
        print(
            f"\n{rule}\nWARNING: wno-edge: the native library was NOT built ({why}).\n"
            "The package installs without it: the PyTorch path runs the Winograd convolutions.\n"
            "Needs a C++17 compiler (and CMake >= 3.18, fetched by pip when absent). Set\n"
            "WNO_EDGE_REQUIRE_NATIVE=1 to make this an error, WNO_EDGE_SKIP_NATIVE=1 to skip it.\n"
            f"{rule}\n",
            file=sys.stderr,
        )
        self.warn(f"wno-edge: native library not built ({why})")

    def build_extension(self, ext: CMakeExtension):
        # One CMake build writes every library of NATIVE_LIBRARIES: run it once.
        if getattr(self, "_cmake_done", False):
            return
        self._cmake_done = True
        out_dir = Path(self.get_ext_fullpath(ext.name)).resolve().parent
        build_dir = Path(self.build_temp).resolve() / "runtime"
        args = [
            f"-DCMAKE_LIBRARY_OUTPUT_DIRECTORY={out_dir}",
            "-DCMAKE_BUILD_TYPE=Release",
            "-DWNO_BUILD_CUDA=OFF",  # opt in: the CUDA build needs the target's own toolkit
            "-DWNO_BUILD_CUDA_EMULATION=OFF",
            *shlex.split(os.environ.get("WNO_EDGE_CMAKE_ARGS", "")),
        ]
        if shutil.which("ccache") and "COMPILER_LAUNCHER" not in " ".join(args):  # reuse earlier builds' objects
            args += [f"-DCMAKE_{lang}_COMPILER_LAUNCHER={shutil.which('ccache')}" for lang in ("C", "CXX")]
        if (
            shutil.which("ninja")
            and not os.environ.get("CMAKE_GENERATOR")
            and not (build_dir / "CMakeCache.txt").exists()
        ):  # an existing tree keeps its generator
            args = ["-G", "Ninja", *args]
        subprocess.run(["cmake", "-S", str(ext.source_dir), "-B", str(build_dir), *args], check=True)
        jobs = str(self.parallel or os.cpu_count() or 1)
        # All enabled targets: the CPU library, plus the CUDA one if WNO_EDGE_CMAKE_ARGS asks.
        subprocess.run(["cmake", "--build", str(build_dir), "-j", jobs], check=True)


# The shared libraries runtime/'s CMake build writes into wno_edge/_native (ctypes loads them):
# each is declared, so wheels and editable installs both carry it.
NATIVE_LIBRARIES = ("libwno_winograd", "libwno_engine")

setup(
    ext_modules=[CMakeExtension(f"wno_edge._native.{name}", ROOT / "runtime") for name in NATIVE_LIBRARIES],
    cmdclass={"build_ext": CMakeBuild},
)
