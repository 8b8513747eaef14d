"""Wheels for robots (issue #24 item 4): `make wheels` (tools/build_wheels.py) builds an sdist and,
from it, py3-none-manylinux_2_31 wheels for x86_64 and aarch64 with zig (the dev extra's ziglang).

Checked here: the tags (auditwheel show: manylinux_2_31 or older), each library's architecture
and the glibc symbol versions it needs, what a wheel holds (the package and the libraries, no tests,
no CUDA emulation), an install of the host's wheel into a fresh venv whose PATH has no compiler
(the native engine runs an export equal to ONNX Runtime), the other architecture's engine under
qemu (equal to the host's), and that the sdist holds runtime/ and builds with the host's compiler.
All heavy (`make check`): two zig builds, a venv and a host build take minutes.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import struct
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from native_build import ROOT, require_cmake
from test_cmake_package import CONSUMER_C  # one run through the C API: shape on stdout, ISA on stderr

from wno_edge.native import library

pytestmark = pytest.mark.heavy

VERSION = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M).group(1)  # type: ignore[union-attr]
ARCHS = ("x86_64", "aarch64")
HOST = platform.machine()
FOREIGN = next((a for a in ARCHS if a != HOST), "aarch64")
GLIBC = (2, 31)
# ELF e_machine and readelf -h's name of each architecture.
MACHINE = {"x86_64": (62, "Advanced Micro Devices X86-64"), "aarch64": (183, "AArch64")}
# The only libraries a wheel's .so may need: glibc's (manylinux's whitelist); no libstdc++/libgcc_s.
GLIBC_LIBRARIES = re.compile(r"^(libc\.so\.6|libm\.so\.6|libpthread\.so\.0|libdl\.so\.2|librt\.so\.1|ld-linux-.*)$")
ENGINE = library.ENGINE_LIBRARY_FILE  # libwno_engine.so.<ABI>: each library under its SONAME
LIBRARIES = (ENGINE, library.CPU_LIBRARY_FILE)
NATIVE = "wno_edge/_native/"
# What a wheel's wno_edge/_native holds besides the libraries (the C/C++ consumer's files).
DEV_FILES = {
    "include/wno/engine.h",
    "include/wno/winograd.h",
    "cmake/wno_edge/wno_edgeConfig.cmake",
    "cmake/wno_edge/wno_edgeConfigVersion.cmake",
    "cmake/wno_edge/wno_edgeTargets.cmake",
    "cmake/wno_edge/wno_edgeTargets-release.cmake",
    "pkgconfig/wno_edge.pc",
    "pkgconfig/wno_edge_winograd.pc",
}

# Run in the fresh venv: the installed package's native engine on an export.
RUN_PY = """
import sys
import numpy as np
import wno_edge
from wno_edge.runtime import load
path, x_file, y_file = sys.argv[1:]
with load(path, backend="native") as s:
    np.save(y_file, s.run(np.load(x_file)))
print(wno_edge.__file__)
print(",".join(sorted(m for m in ("torch", "onnx", "onnxruntime") if m in sys.modules)) or "-")
"""


def host_isa() -> str | None:
    """The engine's loops a correct run-time probe picks on this CPU (None: $WNO_CPU_ISA caps it)."""
    if os.environ.get("WNO_CPU_ISA"):
        return None
    if HOST == "aarch64":
        return "neon"
    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    flags = set(next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), []))
    return "avx512" if "avx512f" in flags else "avx2" if {"avx2", "fma"} <= flags else "generic"


def run(cmd, timeout: int = 1800, **kw) -> subprocess.CompletedProcess:
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, check=False, timeout=timeout, **kw)
    assert r.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{r.stdout[-4000:]}{r.stderr[-4000:]}"
    return r


def rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / np.abs(b).max())


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> dict[str, Path]:
    """`tools/build_wheels.py --out <tmp>`: {"sdist": ..., "x86_64": wheel, "aarch64": wheel}."""
    pytest.importorskip("ziglang", reason="ziglang is not installed (the dev extra): no wheels to check")
    require_cmake()
    out = tmp_path_factory.mktemp("dist")
    r = run([sys.executable, ROOT / "tools" / "build_wheels.py", "--out", out])
    print(r.stdout)
    found = {"sdist": out / f"wno_edge-{VERSION}.tar.gz"}
    found |= {arch: out / f"wno_edge-{VERSION}-py3-none-manylinux_2_31_{arch}.whl" for arch in ARCHS}
    for path in found.values():
        assert path.is_file(), f"{path.name} not built: {sorted(p.name for p in out.iterdir())}"
    return found


@pytest.fixture(scope="module")
def unpacked(dist, tmp_path_factory) -> dict[str, Path]:
    """Each wheel unzipped: arch -> its wno_edge/_native directory."""
    dirs = {}
    for arch in ARCHS:
        where = tmp_path_factory.mktemp(f"whl-{arch}")
        with zipfile.ZipFile(dist[arch]) as z:
            z.extractall(where)
        dirs[arch] = where / NATIVE
    return dirs


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> tuple[Path, np.ndarray, np.ndarray]:
    """A small export (the default flavour), an input and ONNX Runtime's output for it."""
    import onnxruntime as ort
    import torch

    from wno_edge.model import WNO2d, WNOConfig
    from wno_edge.onnx.export import build_model_proto

    torch.manual_seed(0)
    cfg = WNOConfig(2, 3, width=8, modes=(6, 6), n_layers=2, winograd_tile=4, projection_width=16, resolution=(33, 30))
    path = tmp_path_factory.mktemp("model") / "tiny.onnx"
    path.write_bytes(build_model_proto(WNO2d(cfg).eval()).SerializeToString())
    x = (np.random.default_rng(1).standard_normal((1, 2, 33, 30)) * 2 + 0.3).astype(np.float32)
    y = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    return path, x, y


def zig_cc(arch: str, source: Path, native: Path, exe: Path) -> Path:
    """`source` compiled by zig for <arch>-linux-gnu.2.31 against a wheel's headers and engine
    (rpath: the unpacked wheel)."""
    import ziglang  # type: ignore[import-not-found]

    zig = Path(ziglang.__file__).parent / "zig"
    target = f"{arch}-linux-gnu.{GLIBC[0]}.{GLIBC[1]}"
    lib = native / ENGINE
    run([zig, "cc", "-target", target, "-std=c99", "-Wall", "-Wextra", "-Werror", "-O1"]
        + [f"-I{native / 'include'}", source, lib, f"-Wl,-rpath,{native}", "-o", exe])  # fmt: skip
    return exe


def readelf() -> str:
    tool = shutil.which("readelf")
    if tool is None:
        pytest.skip("readelf (binutils) is missing")
    return tool


def test_the_wheels_hold_the_package_and_the_libraries_only(dist):
    for arch in ARCHS:
        with zipfile.ZipFile(dist[arch]) as z:
            names = [n for n in z.namelist() if not n.endswith("/")]
            wheel_meta = z.read(f"wno_edge-{VERSION}.dist-info/WHEEL").decode()
        assert f"Tag: py3-none-manylinux_2_31_{arch}\n" in wheel_meta
        assert "Root-Is-Purelib: false" in wheel_meta
        outside = [n for n in names if not n.startswith(("wno_edge/", f"wno_edge-{VERSION}.dist-info/"))]
        assert not outside, outside
        native = {n[len(NATIVE) :] for n in names if n.startswith(NATIVE)}
        assert native == {*LIBRARIES, *DEV_FILES}, native ^ {*LIBRARIES, *DEV_FILES}
        # nothing a robot does not run: tests, test drivers, the CUDA emulation, examples
        unwanted = [n for n in names if re.search(r"(^|/)(tests?|examples)/|test_|_emu|cuda_emu|\.o$|\.a$", n)]
        assert not unwanted, unwanted
        size = dist[arch].stat().st_size
        print(f"{dist[arch].name}: {size / 1e6:.2f} MB")
        assert size < 3e6, f"{dist[arch].name} is {size / 1e6:.1f} MB"


@pytest.mark.parametrize("arch", ARCHS)
def test_auditwheel_reports_manylinux_2_31_or_older(dist, arch):
    """auditwheel reads the ELF files themselves: it checks an aarch64 wheel on an x86_64 host."""
    pytest.importorskip("auditwheel", reason="auditwheel is not installed (the dev extra)")
    out = run([sys.executable, "-m", "auditwheel", "show", dist[arch]]).stdout
    print(out)
    tags = re.findall(r'platform tag:\s+"manylinux_(\d+)_(\d+)_(\w+)"', out.replace("\n", " "))
    assert tags, out
    for major, minor, tag_arch in tags:
        assert tag_arch == arch, out
        assert (int(major), int(minor)) <= GLIBC, out
    assert "libstdc++" not in out and "libgcc_s" not in out, out


@pytest.mark.parametrize("arch", ARCHS)
def test_every_library_has_the_wheels_architecture_and_needs_only_old_glibc(unpacked, arch):
    tool = readelf()
    code, name = MACHINE[arch]
    for lib in LIBRARIES:
        path = unpacked[arch] / lib
        head = path.read_bytes()[:20]
        assert head[:4] == b"\x7fELF" and head[4] == 2 and head[5] == 1, f"{lib}: not a 64-bit little-endian ELF"
        assert struct.unpack_from("<H", head, 18)[0] == code, lib
        assert re.search(rf"Machine:\s+{re.escape(name)}\n", run([tool, "-h", path]).stdout), lib
        # needed libraries: glibc's only (libc++ and the unwinder are linked in statically)
        dynamic = run([tool, "-d", "-W", path]).stdout
        needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", dynamic)
        assert needed and all(GLIBC_LIBRARIES.match(n) for n in needed), f"{lib}: {needed}"
        assert f"Library soname: [{lib}]" in dynamic
        # symbol versions: no GLIBC_ newer than the tag's
        symbol_versions = run([tool, "-V", "-W", path]).stdout
        versions = {(int(a), int(b)) for a, b in re.findall(r"GLIBC_(\d+)\.(\d+)", symbol_versions)}
        assert versions and max(versions) <= GLIBC, f"{lib}: GLIBC_{'.'.join(map(str, max(versions)))}"
        assert not re.search(r"GLIBCXX_|CXXABI_|GCC_\d", symbol_versions), lib


def test_the_host_wheel_installs_without_a_compiler_and_runs_an_export_equal_to_onnxruntime(dist, model, tmp_path):
    """A fresh venv, a PATH with only its bin/ and an empty folder (no cc, c++, g++, cmake), CC/CXX
    /bin/false and --only-binary: the wheel installs as it is, and `wno-edge info --backends` and
    runtime.load(..., backend="native") use its libraries."""
    if HOST not in ARCHS:
        pytest.skip(f"no wheel for this host's architecture ({HOST})")
    path, x, want = model
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", venv])
    empty = tmp_path / "no-tools"
    empty.mkdir()
    search = os.pathsep.join([str(venv / "bin"), str(empty)])
    for tool in ("cc", "gcc", "c++", "g++", "clang", "cmake", "ninja", "zig"):
        assert shutil.which(tool, path=search) is None, tool
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    env |= {"PATH": search, "CC": "/bin/false", "CXX": "/bin/false", "COLUMNS": "1000", "WNO_EDGE_REQUIRE_NATIVE": "1"}
    python = venv / "bin" / "python"
    run([python, "-m", "pip", "install", "-q", "--only-binary=:all:", dist[HOST]], env=env, cwd=tmp_path)

    info = run([venv / "bin" / "wno-edge", "info", "--backends"], env=env, cwd=tmp_path).stdout
    engine_row = next((line for line in info.splitlines() if "native-engine" in line), "")
    assert re.search(rf"native-engine\s*│\s*yes\s*│\s*{re.escape(ENGINE)}", engine_row), info
    assert str(venv) in info, info  # the venv's copy, not the repository's
    isa = host_isa()
    assert isa is None or f"{isa} loops" in re.sub(r"\s*│\s*", " ", engine_row), (isa, engine_row)

    np.save(tmp_path / "x.npy", x)
    (tmp_path / "run.py").write_text(RUN_PY)
    out = run([python, tmp_path / "run.py", path, tmp_path / "x.npy", tmp_path / "y.npy"], env=env, cwd=tmp_path)
    package, heavy = out.stdout.split()
    assert Path(package).is_relative_to(venv), package
    assert heavy == "-", f"the native engine imported {heavy}"
    got = np.load(tmp_path / "y.npy")
    assert got.shape == want.shape
    assert rel(got, want) <= 1e-5, rel(got, want)


def test_the_other_architectures_engine_under_qemu_equals_the_hosts(unpacked, model, tmp_path):
    """A C driver compiled by zig for each architecture against that wheel's headers and engine:
    the host's runs natively, the other under qemu with its glibc (qemu-aarch64 -L
    /usr/aarch64-linux-gnu: libc6-arm64-cross, which g++-aarch64-linux-gnu brings)."""
    qemu, sysroot = shutil.which(f"qemu-{FOREIGN}"), Path(f"/usr/{FOREIGN}-linux-gnu")
    if HOST not in ARCHS:
        pytest.skip(f"no wheel for this host's architecture ({HOST})")
    if qemu is None or not (sysroot / "lib" / "libc.so.6").is_file():
        pytest.skip(f"qemu-{FOREIGN} or {FOREIGN}'s glibc ({sysroot}/lib) is missing (.ci/run installs them)")
    path, x, want = model
    (tmp_path / "driver.c").write_text(CONSUMER_C)
    (tmp_path / "x.f32").write_bytes(x.tobytes())
    results = {}
    for arch, prefix in ((HOST, []), (FOREIGN, [qemu, "-L", sysroot])):
        exe = zig_cc(arch, tmp_path / "driver.c", unpacked[arch], tmp_path / f"driver-{arch}")
        y_file = tmp_path / f"y-{arch}.f32"
        r = run([*prefix, exe, path, tmp_path / "x.f32", y_file], timeout=600)
        isa = r.stderr.split()[-1]
        assert r.stdout.split() == [str(d) for d in want.shape], r.stdout
        print(f"{arch}: isa {isa}")
        if arch == HOST and host_isa() is not None:  # zig's compiler-rt reports no CPU feature: zig_cpu_model.c
            assert isa == host_isa(), f"the {arch} wheel's engine picked {isa} loops on a {host_isa()} CPU"
        results[arch] = np.fromfile(y_file, dtype=np.float32).reshape(want.shape)
    assert rel(results[HOST], want) <= 1e-5, rel(results[HOST], want)
    assert rel(results[FOREIGN], results[HOST]) <= 1e-5, rel(results[FOREIGN], results[HOST])


def test_the_sdist_holds_runtime_and_builds_a_wheel_with_the_host_compiler(dist, tmp_path):
    with tarfile.open(dist["sdist"]) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
        if hasattr(tarfile, "data_filter"):
            tar.extractall(tmp_path, filter="data")
        else:
            tar.extractall(tmp_path)  # noqa: S202 (our own sdist)
    for name in (
        "setup.py",
        "pyproject.toml",
        "tools/build_backend.py",
        "runtime/CMakeLists.txt",
        "runtime/engine/CMakeLists.txt",
        "runtime/engine/c_api.cpp",
        "runtime/src/cpu/cpu_api.cpp",
        "runtime/include/wno/engine.h",
        "runtime/cmake/wno_edgeConfig.cmake.in",
        "runtime/cmake/zig.cmake",
        "runtime/package.xml",
    ):
        assert name in names, name
    assert not [n for n in names if n.startswith(NATIVE) or n.endswith((".so", ".o"))]
    cxx = shutil.which(os.environ.get("CXX", "c++"))
    if cxx is None:
        pytest.skip("no host C++ compiler: the sdist's contents were checked, not its build")
    src = tmp_path / f"wno_edge-{VERSION}"
    env = {**os.environ, "WNO_EDGE_REQUIRE_NATIVE": "1", "CCACHE_BASEDIR": str(src)}
    for name in ("WNO_EDGE_SKIP_NATIVE", "WNO_EDGE_PLAT_NAME", "WNO_EDGE_CMAKE_ARGS"):
        env.pop(name, None)
    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", tmp_path / "out", src],
        env=env)  # fmt: skip
    (wheel,) = (tmp_path / "out").glob("*.whl")
    assert wheel.name == f"wno_edge-{VERSION}-py3-none-linux_{HOST}.whl"
    with zipfile.ZipFile(wheel) as z:
        assert {NATIVE + lib for lib in LIBRARIES} <= set(z.namelist())
