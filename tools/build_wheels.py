"""Wheels for robots: `make wheels` (python tools/build_wheels.py [--out dist] [ARCH ...]).

Writes into --out (default dist/) the sdist and, from that sdist, one wheel per architecture
(x86_64 and aarch64 by default), tagged py3-none-manylinux_2_31_<arch>: the native libraries are
loaded with ctypes, so one wheel serves every Python 3. Each is compiled by zig's clang (the
`ziglang` package of the dev extra: `python -m ziglang c++ -target <arch>-linux-gnu.2.31`) through
runtime/cmake/zig.cmake. zig cross-compiles both architectures against glibc 2.31's symbols
without a sysroot, and links libc++, libunwind and compiler-rt statically (what
-static-libstdc++ -static-libgcc do for GCC), so the libraries need only glibc: Ubuntu 20.04 and
22.04, JetPack 5 and 6, Raspberry Pi OS 64 (bullseye and newer). Linked with --strip-all.

A wheel holds the wno_edge package, libwno_engine.so.<ABI> and libwno_winograd.so.<ABI> (the
versioned files, no symlinks; the CMake package and the .pc files name them), the public headers,
the CMake package and the .pc files: no tests, no CUDA emulation, no test drivers.

Each architecture is built in build/wheels/<arch>/ (the sdist unpacked, only changed files
rewritten), so a second run recompiles only what changed. tests/test_wheels.py checks the wheels
(auditwheel, architectures, symbol versions, an install without a compiler, qemu-aarch64).
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "build" / "wheels"
ARCHS = ("x86_64", "aarch64")
GLIBC = "2.31"  # manylinux_2_31: Ubuntu 20.04 (glibc 2.31), Debian 11, JetPack 5 (Ubuntu 20.04)


def zig() -> Path:
    """The zig executable of the `ziglang` package (pip install 'wno-edge[dev]')."""
    try:
        import ziglang  # type: ignore[import-not-found]
    except ModuleNotFoundError:
        sys.exit("build_wheels: ziglang is not installed: pip install -e '.[dev]' (or pip install ziglang)")
    path = Path(ziglang.__file__).parent / "zig"
    if not path.is_file():
        sys.exit(f"build_wheels: {path} not found: reinstall ziglang")
    return path


def platform_tag(arch: str, glibc: str = GLIBC) -> str:
    return f"manylinux_{glibc.replace('.', '_')}_{arch}"


def build_sdist(out: Path) -> Path:
    """The sdist, through the project's PEP 517 backend (as `python -m build --sdist` would)."""
    out.mkdir(parents=True, exist_ok=True)
    code = "import sys; sys.path.insert(0, 'tools'); import build_backend as b; print(b.build_sdist(sys.argv[1]))"
    r = subprocess.run(
        [sys.executable, "-c", code, str(out)],
        cwd=ROOT,
        env={**os.environ, "WNO_EDGE_SKIP_NATIVE": "1"},
        capture_output=True,
        text=True,
        check=False,
    )
    if r.returncode != 0:
        sys.exit(f"build_wheels: the sdist failed:\n{r.stdout[-3000:]}{r.stderr[-3000:]}")
    return out / r.stdout.strip().splitlines()[-1]


def sync_sdist(sdist: Path, dest: Path) -> None:
    """Unpacks `sdist` into `dest`, rewriting only the files whose bytes changed (their mtimes stay,
    so the CMake tree in dest/build rebuilds only what changed) and removing the files it no longer
    has. dest/build/lib.* (setuptools' staging copy of the package) is cleared: no stale module or
    library of an earlier build goes into the wheel."""
    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(sdist) as tar:
            if hasattr(tarfile, "data_filter"):  # Python >= 3.10.12
                tar.extractall(tmp, filter="data")
            else:
                tar.extractall(tmp)  # noqa: S202 (our own sdist)
        (top,) = Path(tmp).iterdir()
        wanted = set()
        for src in sorted(p for p in top.rglob("*") if p.is_file()):
            rel = src.relative_to(top)
            wanted.add(rel)
            target = dest / rel
            if not target.is_file() or target.read_bytes() != src.read_bytes():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, target)
    for path in sorted(dest.rglob("*"), reverse=True):
        rel = path.relative_to(dest)
        if rel.parts[0] == "build" or rel.parts[0].endswith(".egg-info"):
            continue
        if path.is_file() and rel not in wanted:
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()
    for staged in (dest / "build").glob("lib.*"):
        shutil.rmtree(staged)
    for staged in (dest / "build").glob("bdist.*"):
        shutil.rmtree(staged)


def build_wheel(sdist: Path, arch: str, out: Path, zig_path: Path, glibc: str = GLIBC) -> Path:
    """One wheel of `sdist` for `arch`, compiled by zig for <arch>-linux-gnu.<glibc>."""
    src = WORK / arch / "src"
    sync_sdist(sdist, src)
    cmake_args = [
        f"-DCMAKE_TOOLCHAIN_FILE={src / 'runtime' / 'cmake' / 'zig.cmake'}",
        f"-DWNO_ZIG_TARGET={arch}-linux-gnu.{glibc}",
        f"-DWNO_ZIG={zig_path}",
        "-DCMAKE_SHARED_LINKER_FLAGS=-Wl,--strip-all",  # zig's static libc++ carries debug info
        # ccache cannot wrap a compiler given as `zig c++ -target ...`; zig caches libc++ itself
        "-DCMAKE_C_COMPILER_LAUNCHER=",
        "-DCMAKE_CXX_COMPILER_LAUNCHER=",
    ]
    env = {
        **os.environ,
        "WNO_EDGE_REQUIRE_NATIVE": "1",  # no pure-Python wheel by accident
        "WNO_EDGE_PLAT_NAME": platform_tag(arch, glibc),
        "WNO_EDGE_CMAKE_ARGS": shlex.join(cmake_args),
    }
    env.pop("WNO_EDGE_SKIP_NATIVE", None)
    with tempfile.TemporaryDirectory(dir=WORK) as tmp:
        cmd = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", tmp, str(src)]
        print(f"build_wheels: {arch}: {shlex.join(cmd)}", flush=True)
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        if r.returncode != 0:
            sys.exit(f"build_wheels: the {arch} wheel failed:\n{r.stdout[-6000:]}{r.stderr[-6000:]}")
        (wheel,) = Path(tmp).glob("*.whl")
        out.mkdir(parents=True, exist_ok=True)
        target = out / wheel.name
        shutil.move(wheel, target)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("archs", nargs="*", metavar="ARCH", help=f"{' or '.join(ARCHS)} (default: both)")
    parser.add_argument("--out", type=Path, default=ROOT / "dist", help="where the sdist and wheels go (dist/)")
    parser.add_argument("--glibc", default=GLIBC, help=f"the oldest glibc the libraries run on ({GLIBC})")
    args = parser.parse_args(argv)
    if unknown := sorted(set(args.archs) - set(ARCHS)):
        parser.error(f"unknown architecture {', '.join(unknown)}: choose from {', '.join(ARCHS)}")
    zig_path = zig()
    version = subprocess.run([zig_path, "version"], capture_output=True, text=True, check=True).stdout.strip()
    WORK.mkdir(parents=True, exist_ok=True)
    out = args.out.resolve()
    sdist = build_sdist(out)
    print(f"build_wheels: {sdist.name}; zig {version}", flush=True)
    archs = dict.fromkeys(args.archs or ARCHS)  # once each, in order
    built = [sdist] + [build_wheel(sdist, arch, out, zig_path, args.glibc) for arch in archs]
    for path in built:
        print(f"{path.stat().st_size / 1e6:6.2f} MB  {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
