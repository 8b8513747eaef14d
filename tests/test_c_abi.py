"""The C ABI of runtime/ (docs/c-api.md, issue #24 item 2).

* The public headers, include/wno/engine.h and winograd.h, compile as C99 and as C++17 with
  -Wall -Wextra -Werror -pedantic, each alone, in a unit that takes every declared function's
  address. The other headers of include/wno/ are C++ internals of the kernels: not installed.
* Each library exports exactly the functions the headers declare for it (`nm -D --defined-only`),
  under its version node: libwno_winograd.so every function of winograd.h but the CUDA kernel's,
  libwno_engine.so engine.h's and wno_status_string. The kernel objects inside the engine stay
  local: a program that links both libraries gets one kernel, libwno_winograd's.
* The SONAMEs carry the ABI versions of the headers (libwno_engine.so.2, libwno_winograd.so.2),
  and the Python loaders name the same files.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from native_build import ROOT, RUNTIME, build_native, cmake_build, require_cmake

INCLUDE = RUNTIME / "include"
CUDA_ABI_BUILD = ROOT / "build" / "cuda-abi"  # the CUDA library for one architecture (heavy test)
HEADERS = INCLUDE / "wno"
PUBLIC_HEADERS = ("engine.h", "winograd.h")  # C, installed, docs/c-api.md
# C++ only (namespaces, templates, constexpr), shared by the CPU and CUDA kernels and the engine;
# they declare no exported function and are not installed.
INTERNAL_HEADERS = ("contract.h", "half.h", "host_device.h", "winograd_tile.h", "winograd_transforms.h")
STRICT = ("-Wall", "-Wextra", "-Werror", "-pedantic")
LANGUAGES = {  # name: (compiler, flags, file suffix)
    "c99": (os.environ.get("CC", "cc"), ("-std=c99", "-Wstrict-prototypes"), ".c"),
    "c++17": (os.environ.get("CXX", "c++"), ("-std=c++17",), ".cpp"),
}


def declared(header: str) -> list[str]:
    """The functions a public header declares (every one is marked WNO_API)."""
    text = re.sub(r"/\*.*?\*/", "", (HEADERS / header).read_text(), flags=re.S)
    names = re.findall(r"\bWNO_API\b[^;(]*?\b(wno_\w+)\s*\(", text)
    assert len(names) == text.count("WNO_API") - text.count("#define WNO_API"), f"{header}: a WNO_API not parsed"
    return names


def abi_version(header: str, macro: str) -> int:
    found = re.search(rf"^#define {macro} (\d+)$", (HEADERS / header).read_text(), re.M)
    assert found, f"no #define {macro} in {header}"
    return int(found.group(1))


WNO_ABI_VERSION = abi_version("winograd.h", "WNO_ABI_VERSION")
WNO_ENGINE_ABI_VERSION = abi_version("engine.h", "WNO_ENGINE_ABI_VERSION")
# What each library exports, and under which symbol version node (runtime/CMakeLists.txt's
# wno_exports calls): (build-tree path under build/native, version node, functions).
KERNEL_SHARED = ("wno_abi_version", "wno_status_string", "wno_conv_output_size")
LIBRARIES = {
    "libwno_winograd": (
        Path(f"libwno_winograd.so.{WNO_ABI_VERSION}"),
        f"WNO_WINOGRAD_{WNO_ABI_VERSION}",
        {f for f in declared("winograd.h") if f in KERNEL_SHARED or f.startswith("wno_cpu_")},
    ),
    "libwno_engine": (
        Path("engine") / f"libwno_engine.so.{WNO_ENGINE_ABI_VERSION}",
        f"WNO_ENGINE_{WNO_ENGINE_ABI_VERSION}",
        {*declared("engine.h"), "wno_status_string"},
    ),
}


def run(cmd, **kw) -> subprocess.CompletedProcess:
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, check=False, timeout=300, **kw)
    assert r.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{r.stdout[-4000:]}{r.stderr[-4000:]}"
    return r


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} not found")
    return path


@pytest.fixture(scope="module")
def build() -> Path:
    """build/native with both libraries (tests/native_build.py)."""
    return build_native(("wno_winograd", "wno_engine"))


def unit(headers: tuple[str, ...], functions: list[str] | set[str], main: str = "return 0;") -> str:
    """A translation unit that includes `headers` (twice: the include guards) and takes the address
    of every function in `functions` (so each declaration is seen and, when linked, resolved)."""
    includes = "".join(f'#include "wno/{h}"\n' for h in headers * 2)
    table = "".join(f"    (wno_any_fn)&{f},\n" for f in sorted(functions))
    return (
        f"{includes}#include <stdio.h>\n\n"
        "typedef void (*wno_any_fn)(void);\n"
        f"static const wno_any_fn wno_functions[] = {{\n{table}}};\n\n"
        "int main(void) {\n"
        "  for (size_t i = 0; i < sizeof wno_functions / sizeof wno_functions[0]; ++i)\n"
        "    if (!wno_functions[i]) return 1;\n"
        f"  {main}\n}}\n"
    )


def compile_unit(tmp_path: Path, language: str, source: str, *args) -> subprocess.CompletedProcess:
    compiler, flags, suffix = LANGUAGES[language]
    compiler = tool(compiler)
    src = tmp_path / f"unit_{language.replace('+', 'p')}{suffix}"
    src.write_text(source)
    r = run([compiler, *flags, *STRICT, f"-I{INCLUDE}", src, *args])
    assert "warning" not in r.stderr, r.stderr
    return r


def test_every_header_under_include_wno_is_public_c_or_internal_cpp():
    assert sorted(p.name for p in HEADERS.iterdir()) == sorted(PUBLIC_HEADERS + INTERNAL_HEADERS)
    for name in INTERNAL_HEADERS:  # C++: never part of the C ABI, nothing of theirs is exported
        text = (HEADERS / name).read_text()
        assert "#pragma once" in text and "WNO_API" not in text and 'extern "C"' not in text, name
    for name in PUBLIC_HEADERS:
        text = (HEADERS / name).read_text()
        assert 'extern "C" {' in text and "#include <stddef.h>" in text, name
        assert "docs/c-api.md" in text, f"{name} should point at docs/c-api.md"


@pytest.mark.parametrize("language", sorted(LANGUAGES))
@pytest.mark.parametrize("header", PUBLIC_HEADERS)
def test_public_header_compiles_alone_strictly_with_every_function_referenced(header, language, tmp_path):
    functions = declared(header)
    assert len(functions) >= 10, functions
    compile_unit(tmp_path, language, unit((header,), functions), "-c", "-o", tmp_path / "unit.o")


def nm_exports(path: Path) -> dict[str, str]:
    """{symbol: version} of the library's defined dynamic symbols; version nodes as {node: "A"}."""
    out = run([tool("nm"), "-D", "--defined-only", path]).stdout
    exports = {}
    for line in out.splitlines():
        fields = line.split()
        kind, name = fields[-2], fields[-1]
        symbol, _, version = name.partition("@@") if "@@" in name else name.partition("@")
        exports[symbol] = "A" if kind == "A" else version
    return exports


@pytest.mark.parametrize("library", sorted(LIBRARIES))
def test_the_library_exports_exactly_what_the_public_headers_declare_for_it(build, library):
    path, node, functions = LIBRARIES[library]
    exports = nm_exports(build / path)
    nodes = {s for s, v in exports.items() if v == "A"}
    assert nodes == {node}, exports
    symbols = {s: v for s, v in exports.items() if v != "A"}
    undeclared = sorted(set(symbols) - functions)
    missing = sorted(functions - set(symbols))
    assert not undeclared, f"{path.name} exports symbols no public header declares for it: {undeclared}"
    assert not missing, f"{path.name} lacks declared functions: {missing}"
    assert {v for v in symbols.values()} == {node}, symbols


def test_every_declared_function_belongs_to_a_library():
    """winograd.h's wno_cuda_* are libwno_winograd_cuda.so's (built with nvcc: the CUDA tests)."""
    owned = set().union(*(functions for _, _, functions in LIBRARIES.values()))
    cuda = {f for f in declared("winograd.h") if f.startswith("wno_cuda_")}
    assert cuda and set(declared("winograd.h")) | set(declared("engine.h")) == owned | cuda


@pytest.mark.heavy
def test_the_cuda_library_exports_winograd_h_s_cuda_functions():
    """libwno_winograd_cuda.so (nvcc, one architecture: the exports do not depend on it): the CUDA
    kernel's functions and the shared ones, under the kernel's node; not versioned yet (SONAME
    libwno_winograd_cuda.so: wno_edge/native/cuda.py loads it by that name)."""
    if shutil.which("nvcc") is None:
        pytest.skip("no nvcc: the CUDA kernel library cannot be built here")
    options = ("-DCMAKE_BUILD_TYPE=Release", "-DWNO_BUILD_CUDA=ON", "-DWNO_BUILD_CUDA_EMULATION=OFF")
    build = cmake_build(CUDA_ABI_BUILD, RUNTIME, (*options, "-DCMAKE_CUDA_ARCHITECTURES=80"), ("wno_winograd_cuda",))[0]
    functions = {f for f in declared("winograd.h") if f in KERNEL_SHARED or f.startswith("wno_cuda_")}
    exports = nm_exports(build / "libwno_winograd_cuda.so")
    node = LIBRARIES["libwno_winograd"][1]
    assert exports == {node: "A", **{f: node for f in functions}}


def test_the_engine_imports_no_kernel_symbol(build):
    """The engine's calls into its own copy of the kernel are bound inside it: no other
    libwno_winograd (or an LD_PRELOAD) can take them over."""
    path = build / LIBRARIES["libwno_engine"][0]
    undefined = run([tool("nm"), "-D", "--undefined-only", path]).stdout
    assert not [line for line in undefined.splitlines() if " wno_" in line], undefined


@pytest.mark.parametrize("library", sorted(LIBRARIES))
def test_the_soname_is_the_abi_version_and_the_link_name_a_symlink(build, library):
    path, _, _ = LIBRARIES[library]
    dynamic = run([tool("readelf"), "-d", build / path]).stdout
    assert re.search(rf"\(SONAME\)\s+Library soname: \[{re.escape(path.name)}\]", dynamic), dynamic
    link = build / path.parent / f"{library}.so"
    assert link.is_symlink() and os.readlink(link) == path.name


def test_the_python_loaders_name_the_versioned_files(monkeypatch):
    from wno_edge.native import abi, library
    from wno_edge.runtime import native_backend

    assert abi.ABI_VERSION == WNO_ABI_VERSION
    assert native_backend.ABI_VERSION == library.ENGINE_ABI_VERSION == WNO_ENGINE_ABI_VERSION
    assert LIBRARIES["libwno_winograd"][0].name == library.CPU_LIBRARY_FILE
    assert LIBRARIES["libwno_engine"][0].name == library.ENGINE_LIBRARY_FILE
    monkeypatch.delenv(library.LIBRARY_ENV, raising=False)
    monkeypatch.delenv(native_backend.LIBRARY_ENV, raising=False)
    assert library.library_path() == library.NATIVE_DIR / library.CPU_LIBRARY_FILE
    assert native_backend.library_path() == native_backend.NATIVE_DIR / library.ENGINE_LIBRARY_FILE


@pytest.mark.parametrize("language", sorted(LANGUAGES))
def test_a_program_linking_both_libraries_gets_one_kernel(build, language, tmp_path):
    """C and C++ programs linked against both libraries: every function resolves, the kernel's
    from libwno_winograd (the engine exports none), and each library reports its header's ABI."""
    engine, winograd = (build / LIBRARIES[n][0] for n in ("libwno_engine", "libwno_winograd"))
    functions = LIBRARIES["libwno_engine"][2] | LIBRARIES["libwno_winograd"][2]
    main = (
        'printf("%d %d %s\\n", wno_engine_abi_version(), wno_abi_version(), wno_cpu_isa());\n'
        "  return wno_engine_abi_version() != WNO_ENGINE_ABI_VERSION || wno_abi_version() != WNO_ABI_VERSION;"
    )
    exe = tmp_path / "both"
    compile_unit(
        tmp_path,
        language,
        unit(("engine.h",), functions, main),
        f"-L{engine.parent}",
        f"-L{winograd.parent}",
        "-lwno_engine",
        "-lwno_winograd",
        "-o",
        exe,
    )
    needed = run([tool("readelf"), "-d", exe]).stdout
    assert f"[{engine.name}]" in needed and f"[{winograd.name}]" in needed, needed  # by SONAME
    versions = run([tool("objdump"), "-T", exe]).stdout
    for f in functions:
        want = LIBRARIES["libwno_engine" if f.startswith("wno_engine_") else "libwno_winograd"][1]
        if f == "wno_status_string":
            want = LIBRARIES["libwno_engine"][1]  # both define it (the same text): the first linked
        assert re.search(rf"\s\(?{want}\)?\s+{f}$", versions, re.M), f"{f} not bound to {want}:\n{versions}"
    env = {**os.environ, "LD_LIBRARY_PATH": f"{engine.parent}:{winograd.parent}"}
    out = run([exe], env=env).stdout.split()
    assert out[:2] == [str(WNO_ENGINE_ABI_VERSION), str(WNO_ABI_VERSION)]


def test_only_the_public_headers_are_installed(build, tmp_path):
    run([require_cmake(), "--install", build, "--prefix", tmp_path, "--component", "wno_edge_dev"])
    assert sorted(p.name for p in (tmp_path / "include" / "wno").iterdir()) == sorted(PUBLIC_HEADERS)


def test_the_pip_install_holds_versioned_files_only_and_its_pc_file_links(tmp_path):
    """setup.py's layout (wheels hold no symlinks): libwno_*.so.<ABI> files, no libwno_*.so; the
    CMake package and the .pc files name the versioned files, so a pkg-config consumer links."""
    from wno_edge.native import library

    native = library.NATIVE_DIR
    if not (native / library.ENGINE_LIBRARY_FILE).is_file():
        pytest.skip("this install has no native build (pip install -e . builds it)")
    libraries = sorted(p.name for p in native.glob("libwno_*"))
    assert libraries == sorted([library.CPU_LIBRARY_FILE, library.ENGINE_LIBRARY_FILE]), libraries
    assert not [p for p in native.rglob("*") if p.is_symlink()]
    targets = "".join(p.read_text() for p in (native / "cmake" / "wno_edge").glob("wno_edgeTargets-*.cmake"))
    assert f'/{library.ENGINE_LIBRARY_FILE}"' in targets and f'/{library.CPU_LIBRARY_FILE}"' in targets
    pkg_config = tool("pkg-config")
    env = {**os.environ, "PKG_CONFIG_PATH": str(native / "pkgconfig")}
    flags = run([pkg_config, "--cflags", "--libs", "wno_edge"], env=env).stdout.split()
    source = "#include <stdio.h>\n#include <wno/engine.h>\n"
    source += 'int main(void) { printf("%d\\n", wno_engine_abi_version()); }\n'
    (tmp_path / "abi.c").write_text(source)
    run([tool(os.environ.get("CC", "cc")), "-std=c99", tmp_path / "abi.c", "-o", tmp_path / "abi", *flags])
    out = run([tmp_path / "abi"], env={**os.environ, "LD_LIBRARY_PATH": str(native)}).stdout
    assert out.strip() == str(WNO_ENGINE_ABI_VERSION)
