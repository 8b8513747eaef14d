"""Native build of wno-edge: the CPU Winograd kernel of runtime/ via CMake.

pyproject.toml holds the metadata; this file only adds a build_ext that runs CMake and
puts libwno_winograd.so into wno_edge/_native/ (`pip install .` and `pip install -e .`).
Without CMake or a C++ compiler, or if the build fails, the package still installs and
wno_edge uses its pure-PyTorch path (wno_edge.native.available() says why).

Environment:
  WNO_EDGE_SKIP_NATIVE=1     do not build the native library
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
        # Editable installs copy the library into the source tree: make its folder first.
        for ext in self.extensions:
            (ROOT / Path(*ext.name.split(".")[:-1])).mkdir(parents=True, exist_ok=True)
        super().copy_extensions_to_source()

    def _fallback(self, why: str):
        if os.environ.get("WNO_EDGE_REQUIRE_NATIVE") == "1":
            raise RuntimeError(f"wno-edge: native build failed: {why}")
        print(f"wno-edge: native CPU kernel not built ({why}); the PyTorch path will be used",
              file=sys.stderr)

    def build_extension(self, ext: CMakeExtension):
        out_dir = Path(self.get_ext_fullpath(ext.name)).resolve().parent
        build_dir = Path(self.build_temp).resolve() / "runtime"
        args = [
            f"-DCMAKE_LIBRARY_OUTPUT_DIRECTORY={out_dir}",
            "-DCMAKE_BUILD_TYPE=Release",
            "-DWNO_BUILD_CUDA=OFF",  # opt in: the CUDA build needs the target's own toolkit
            "-DWNO_BUILD_CUDA_EMULATION=OFF",
            *shlex.split(os.environ.get("WNO_EDGE_CMAKE_ARGS", "")),
        ]
        subprocess.run(["cmake", "-S", str(ext.source_dir), "-B", str(build_dir), *args], check=True)
        jobs = str(self.parallel or os.cpu_count() or 1)
        # All enabled targets: the CPU library, plus the CUDA one if WNO_EDGE_CMAKE_ARGS asks.
        subprocess.run(["cmake", "--build", str(build_dir), "-j", jobs], check=True)


setup(
    ext_modules=[CMakeExtension("wno_edge._native.libwno_winograd", ROOT / "runtime")],
    cmdclass={"build_ext": CMakeBuild},
)
