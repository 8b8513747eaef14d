"""runtime/ as a package for C and C++ consumers (issue #24 item 1): `cmake --install` writes a
relocatable CMake package (find_package(wno_edge CONFIG), targets wno_edge::engine and
wno_edge::winograd) and pkg-config files; a pip install carries the same files
(`wno-edge info --cmake-dir`); runtime/package.xml makes runtime/ a colcon package.

Each consumer is a project of its own in tmp_path (outside the repository): a C program that opens
an export with include/wno/engine.h's API, runs one input and writes the output, which must equal
the Python runtime's (wno_edge.runtime.load(path, backend="native")).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from native_build import ROOT, RUNTIME, cmake_build, compiler_cache, require_cmake

PACKAGE_BUILD = ROOT / "build" / "cmake-package"
# The libraries only (no CUDA, no emulation, no test drivers): what a consumer gets.
PACKAGE_OPTIONS = (
    "-DCMAKE_BUILD_TYPE=Release",
    "-DWNO_BUILD_CUDA=OFF",
    "-DWNO_BUILD_CUDA_EMULATION=OFF",
    "-DWNO_BUILD_TESTS=OFF",
)
VERSION = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M).group(1)  # type: ignore[union-attr]

CONSUMER_C = r"""
/* consumer model.onnx input.f32 output.f32: one run of the engine through its C API, as a robot's
   program would; prints the output shape (stdout) and the engine's ISA (stderr). */
#include <stdio.h>
#include <stdlib.h>
#include <wno/engine.h>

int main(int argc, char** argv) {
  if (argc != 4) return 2;
  if (wno_engine_abi_version() != WNO_ENGINE_ABI_VERSION) return 3;
  wno_engine_options o;
  wno_engine_default_options(&o);
  o.num_threads = 1;
  wno_engine* e;
  char err[256];
  if (wno_engine_open(argv[1], &o, &e, err, sizeof err) != WNO_SUCCESS) {
    fprintf(stderr, "%s\n", err);
    return 4;
  }
  int in[4], out[4];
  wno_engine_shape(e, 0, in);
  wno_engine_shape(e, 1, out);
  size_t n_in = (size_t)in[0] * in[1] * in[2] * in[3], n_out = (size_t)out[0] * out[1] * out[2] * out[3];
  float* x = malloc(n_in * sizeof(float));
  float* y = malloc(n_out * sizeof(float));
  FILE* f = fopen(argv[2], "rb");
  if (!f || fread(x, sizeof(float), n_in, f) != n_in) return 5;
  fclose(f);
  if (wno_engine_run(e, x, y) != WNO_SUCCESS) return 6;
  f = fopen(argv[3], "wb");
  if (!f || fwrite(y, sizeof(float), n_out, f) != n_out) return 7;
  fclose(f);
  printf("%d %d %d %d\n", out[0], out[1], out[2], out[3]);
  fprintf(stderr, "%s\n", wno_engine_isa()); /* the loops the engine picked */
  free(x);
  free(y);
  wno_engine_close(e);
  return 0;
}
"""

CONSUMER_CMAKE = """cmake_minimum_required(VERSION 3.18)
project(wno_consumer LANGUAGES C)
find_package(wno_edge {version} CONFIG REQUIRED)
add_executable(consumer consumer.c)
target_compile_options(consumer PRIVATE -Wall -Wextra)
target_link_libraries(consumer PRIVATE wno_edge::engine)
install(TARGETS consumer RUNTIME DESTINATION bin)
"""


def run(cmd, **kw) -> subprocess.CompletedProcess:
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, check=False, timeout=600, **kw)
    assert r.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{r.stdout[-4000:]}{r.stderr[-4000:]}"
    return r


def install_runtime(prefix: Path) -> Path:
    """runtime/ built (cached in build/cmake-package) and installed into `prefix`."""
    cmake_build(PACKAGE_BUILD, RUNTIME, PACKAGE_OPTIONS, ("wno_engine", "wno_winograd"), "package build")
    run([require_cmake(), "--install", PACKAGE_BUILD, "--prefix", prefix])
    return prefix


@pytest.fixture(scope="module")
def prefix(tmp_path_factory) -> Path:
    """An installed prefix moved elsewhere after the install: every path in it must be relative."""
    installed = install_runtime(tmp_path_factory.mktemp("installed") / "prefix")
    moved = tmp_path_factory.mktemp("moved") / "prefix"
    shutil.copytree(installed, moved, symlinks=True)
    shutil.rmtree(installed)
    return moved


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> tuple[Path, np.ndarray, np.ndarray]:
    """A small export, an input and the Python runtime's output for it."""
    import torch

    from wno_edge.model import WNO2d, WNOConfig
    from wno_edge.onnx.export import build_model_proto
    from wno_edge.runtime import load

    torch.manual_seed(0)
    cfg = WNOConfig(2, 3, width=8, modes=(4, 4), n_layers=2, winograd_tile=4, projection_width=16, resolution=(20, 18))
    path = tmp_path_factory.mktemp("model") / "tiny.onnx"
    path.write_bytes(build_model_proto(WNO2d(cfg).eval()).SerializeToString())
    x = np.random.default_rng(1).standard_normal((1, 2, 20, 18)).astype(np.float32)
    session = load(path, backend="native")
    try:
        y = np.asarray(session.run(x))
    finally:
        close = getattr(session, "close", None)
        if close is not None:
            close()
    return path, x, y


def check_consumer(exe: Path, model, tmp_path: Path, env: dict | None = None) -> None:
    path, x, want = model
    (tmp_path / "x.f32").write_bytes(x.tobytes())
    r = run([exe, path, tmp_path / "x.f32", tmp_path / "y.f32"], env=env)
    assert r.stdout.split() == [str(d) for d in want.shape]
    got = np.fromfile(tmp_path / "y.f32", dtype=np.float32).reshape(want.shape)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)


def cmake_consumer(tmp_path: Path, *configure_args: str, version: str = VERSION) -> subprocess.CompletedProcess:
    src = tmp_path / "consumer"
    src.mkdir(exist_ok=True)
    (src / "consumer.c").write_text(CONSUMER_C)
    (src / "CMakeLists.txt").write_text(CONSUMER_CMAKE.format(version=version))
    return subprocess.run(
        [require_cmake(), "-S", str(src), "-B", str(tmp_path / "consumer-build"), *configure_args, *compiler_cache()],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


def build_cmake_consumer(tmp_path: Path, *configure_args: str) -> Path:
    r = cmake_consumer(tmp_path, *configure_args)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    out = run([require_cmake(), "--build", tmp_path / "consumer-build"])
    assert "warning:" not in out.stdout + out.stderr, out.stdout
    return tmp_path / "consumer-build" / "consumer"


def test_install_puts_the_libraries_headers_cmake_package_and_pkg_config_files(prefix):
    for name in (
        "lib/libwno_engine.so",
        "lib/libwno_winograd.so",
        "include/wno/engine.h",
        "include/wno/winograd.h",
        "lib/cmake/wno_edge/wno_edgeConfig.cmake",
        "lib/cmake/wno_edge/wno_edgeConfigVersion.cmake",
        "lib/cmake/wno_edge/wno_edgeTargets.cmake",
        "lib/pkgconfig/wno_edge.pc",
        "lib/pkgconfig/wno_edge_winograd.pc",
    ):
        assert (prefix / name).is_file(), name
    # the version is pyproject.toml's, in the CMake version file and the .pc files
    version_file = prefix / "lib/cmake/wno_edge/wno_edgeConfigVersion.cmake"
    assert f'set(PACKAGE_VERSION "{VERSION}")' in version_file.read_text()
    assert f"Version: {VERSION}\n" in (prefix / "lib/pkgconfig/wno_edge.pc").read_text()
    assert "-lwno_engine" in (prefix / "lib/pkgconfig/wno_edge.pc").read_text()
    assert "-lwno_winograd" in (prefix / "lib/pkgconfig/wno_edge_winograd.pc").read_text()
    # no absolute path of the build machine in the package files (the prefix was moved anyway)
    for f in [*(prefix / "lib/cmake/wno_edge").iterdir(), *(prefix / "lib/pkgconfig").iterdir()]:
        assert str(ROOT) not in f.read_text(), f


def test_package_xml_is_a_colcon_cmake_package_of_the_project_version():
    root = ET.parse(RUNTIME / "package.xml").getroot()
    assert root.get("format") == "3"
    assert root.findtext("name") == "wno_edge"
    assert root.findtext("version") == VERSION
    assert root.findtext("license") == "Apache-2.0"
    assert root.findtext("buildtool_depend") == "cmake"
    assert root.findtext("export/build_type") == "cmake"


def test_find_package_consumer_output_equals_the_python_runtime(prefix, model, tmp_path):
    exe = build_cmake_consumer(tmp_path, f"-DCMAKE_PREFIX_PATH={prefix}")
    check_consumer(exe, model, tmp_path)  # CMake's build RPATH finds the imported library


def test_find_package_refuses_a_newer_version(prefix, tmp_path):
    major, minor, _ = VERSION.split(".", 2)
    r = cmake_consumer(tmp_path, f"-DCMAKE_PREFIX_PATH={prefix}", version=f"{major}.{int(minor) + 1}")
    assert r.returncode != 0
    assert f"wno_edgeConfig.cmake, version: {VERSION}" in r.stderr, r.stderr


def test_pkg_config_consumer_output_equals_the_python_runtime(prefix, model, tmp_path):
    pkg_config, cc = shutil.which("pkg-config"), shutil.which(os.environ.get("CC", "cc"))
    if pkg_config is None or cc is None:
        pytest.skip("pkg-config or a C compiler is missing")
    env = {**os.environ, "PKG_CONFIG_PATH": str(prefix / "lib/pkgconfig")}
    flags = run([pkg_config, "--cflags", "--libs", "wno_edge"], env=env).stdout.split()
    assert run([pkg_config, "--modversion", "wno_edge"], env=env).stdout.strip() == VERSION
    (tmp_path / "consumer.c").write_text(CONSUMER_C)
    exe = tmp_path / "consumer"
    out = run([cc, "-std=c99", "-Wall", "-Wextra", tmp_path / "consumer.c", "-o", exe, *flags])
    assert "warning:" not in out.stderr, out.stderr
    check_consumer(exe, model, tmp_path, env={**os.environ, "LD_LIBRARY_PATH": str(prefix / "lib")})


def test_the_pip_installed_package_is_a_cmake_package(model, tmp_path):
    from wno_edge.native import library

    if not (library.NATIVE_DIR / library.ENGINE_LIBRARY_FILE).exists():
        pytest.skip("this install has no native build (pip install -e . builds it)")
    info = [sys.executable, "-m", "wno_edge.cli", "info"]
    cmake_dir = Path(run([*info, "--cmake-dir"]).stdout.strip())
    assert (cmake_dir / "wno_edgeConfig.cmake").is_file()
    assert (Path(run([*info, "--include-dir"]).stdout.strip()) / "wno" / "engine.h").is_file()
    assert (Path(run([*info, "--lib-dir"]).stdout.strip()) / library.ENGINE_LIBRARY_FILE).is_file()
    exe = build_cmake_consumer(tmp_path, f"-Dwno_edge_DIR={cmake_dir}")
    check_consumer(exe, model, tmp_path)


def test_info_paths_say_in_one_line_when_there_is_no_native_build(tmp_path, monkeypatch, capsys):
    from wno_edge.cli import main
    from wno_edge.native import library

    monkeypatch.setattr(library, "NATIVE_DIR", tmp_path)
    for option in ("--cmake-dir", "--include-dir", "--lib-dir"):
        assert main(["info", option]) == 1
        captured = capsys.readouterr()
        assert captured.out == ""
        lines = captured.err.strip().splitlines()
        assert len(lines) == 1 and "no native build" in lines[0] and "Traceback" not in captured.err, captured.err


@pytest.mark.heavy
def test_colcon_builds_runtime_and_a_consumer_package(model, tmp_path):
    """A colcon workspace of runtime/ (symlinked) and a consumer package that depends on it."""
    tools = tmp_path / "colcon"
    r = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--target", str(tools)]
        + ["colcon-core", "colcon-cmake", "colcon-ros", "catkin_pkg"],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if r.returncode != 0:
        pytest.skip(f"colcon could not be installed: {(r.stderr.strip().splitlines() or ['?'])[-1][:200]}")
    ws = tmp_path / "ws"
    (ws / "src").mkdir(parents=True)
    (ws / "src" / "wno_edge").symlink_to(RUNTIME)
    consumer = ws / "src" / "wno_consumer"
    consumer.mkdir()
    (consumer / "consumer.c").write_text(CONSUMER_C)
    (consumer / "CMakeLists.txt").write_text(CONSUMER_CMAKE.format(version=VERSION))
    (consumer / "package.xml").write_text(
        '<?xml version="1.0"?>\n<package format="3">\n  <name>wno_consumer</name>\n  <version>0.0.1</version>\n'
        "  <description>find_package(wno_edge) from another colcon package</description>\n"
        '  <maintainer email="test@example.com">test</maintainer>\n  <license>Apache-2.0</license>\n'
        "  <buildtool_depend>cmake</buildtool_depend>\n  <depend>wno_edge</depend>\n"
        "  <export>\n    <build_type>cmake</build_type>\n  </export>\n</package>\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tools), os.environ.get("PYTHONPATH", "")])}
    cmake_args = ["-DWNO_BUILD_CUDA=OFF", "-DWNO_BUILD_CUDA_EMULATION=OFF", *compiler_cache()]
    run(
        [sys.executable, tools / "bin" / "colcon", "build", "--base-paths", "src", "--cmake-args", *cmake_args],
        cwd=ws,
        env=env,
    )
    install = ws / "install"
    assert (install / "wno_edge" / "lib" / "cmake" / "wno_edge" / "wno_edgeConfig.cmake").is_file()
    exe = install / "wno_consumer" / "bin" / "consumer"
    lib = install / "wno_edge" / "lib"
    check_consumer(exe, model, tmp_path, env={**os.environ, "LD_LIBRARY_PATH": str(lib)})


@pytest.mark.heavy
def test_a_wheel_carries_the_cmake_package_and_it_works_where_unpacked(model, tmp_path):
    """pyproject.toml's package-data and setup.py's install step: the wheel holds the headers,
    the CMake package and the .pc files next to the libraries, relocatable (used from an unzip)."""
    import zipfile

    from wno_edge.native import library

    if shutil.which("cmake") is None or shutil.which(os.environ.get("CXX", "c++")) is None:
        pytest.skip("cmake or a C++ compiler is missing: a wheel would have no native build")
    run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", ROOT]
        + ["-w", tmp_path / "dist"],
        env={**os.environ, "WNO_EDGE_REQUIRE_NATIVE": "1"},
    )
    (wheel,) = (tmp_path / "dist").glob("wno_edge-*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        z.extractall(tmp_path / "unpacked")
    native = "wno_edge/_native/"
    # each library once, under its SONAME (no symlink, no unversioned copy)
    assert sorted(n for n in names if n.startswith(native + "libwno_")) == sorted(
        native + f for f in (library.CPU_LIBRARY_FILE, library.ENGINE_LIBRARY_FILE)
    )
    for name in (
        "include/wno/engine.h",
        "cmake/wno_edge/wno_edgeConfig.cmake",
        "cmake/wno_edge/wno_edgeTargets.cmake",
        "pkgconfig/wno_edge.pc",
    ):
        assert native + name in names, name
    exe = build_cmake_consumer(tmp_path, f"-Dwno_edge_DIR={tmp_path / 'unpacked' / native / 'cmake/wno_edge'}")
    check_consumer(exe, model, tmp_path)


def test_the_package_version_is_read_from_pyproject_else_package_xml(tmp_path):
    """Typed once (pyproject.toml); a copy of runtime/ without the repository takes package.xml's."""

    def configured_version(source: Path) -> str:
        build = tmp_path / f"build-{source.parent.name}"
        run([require_cmake(), "-S", source, "-B", build, "-DWNO_BUILD_CUDA=OFF", "-DWNO_BUILD_CUDA_EMULATION=OFF"])
        text = (build / "wno_edgeConfigVersion.cmake").read_text()
        return re.search(r'set\(PACKAGE_VERSION "([^"]+)"\)', text).group(1)  # type: ignore[union-attr]

    repo = tmp_path / "repo"
    shutil.copytree(RUNTIME, repo / "runtime", ignore=shutil.ignore_patterns("build*"))
    (repo / "pyproject.toml").write_text('[project]\nname = "wno-edge"\nversion = "9.8.7"\n')
    assert configured_version(repo / "runtime") == "9.8.7"
    alone = tmp_path / "alone"
    shutil.copytree(RUNTIME, alone / "runtime", ignore=shutil.ignore_patterns("build*"))
    (alone / "pyproject.toml").write_text('[project]\nname = "other"\nversion = "5.5.5"\n')  # not ours
    assert configured_version(alone / "runtime") == VERSION  # package.xml's
