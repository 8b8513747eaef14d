"""The ctypes declarations of the C ABI (wno_edge/native/abi.py) against the C compiler's view
of runtime/include/wno/winograd.h.

runtime/tests/abi_probe.c (CMake target wno_abi_probe, compiled as C99) prints WNO_ABI_VERSION,
sizeof(wno_conv_desc), the offset and size of each of its fields and the enumerator values as
JSON; the declarations must agree on every one. The function signatures are checked against the
header's prototypes (parameter count and kind) and the built CPU library's exports.
"""

from __future__ import annotations

import ctypes
import json
import re
import subprocess

import pytest
from native_build import RUNTIME, build_native

from wno_edge.native import abi

HEADER = RUNTIME / "include" / "wno" / "winograd.h"


@pytest.fixture(scope="module")
def probe() -> dict:
    exe = build_native(("wno_abi_probe",)) / "wno_abi_probe"
    r = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    return json.loads(r.stdout)


def test_abi_version(probe):
    assert probe["abi_version"] == abi.ABI_VERSION


def test_conv_desc_size(probe):
    assert ctypes.sizeof(abi.ConvDesc) == probe["conv_desc"]["size"]


def test_conv_desc_fields(probe):
    """Same fields in the same order, each at the C offset with the C size."""
    c_fields = [(f["name"], f["offset"], f["size"]) for f in probe["conv_desc"]["fields"]]
    py_fields = [
        (name, getattr(abi.ConvDesc, name).offset, getattr(abi.ConvDesc, name).size)
        for name, *_ in abi.ConvDesc._fields_
    ]
    assert py_fields == c_fields


def test_cpu_parallel_layout(probe):
    c = probe["cpu_parallel"]
    assert ctypes.sizeof(abi.CpuParallel) == c["size"]
    assert [
        (name, getattr(abi.CpuParallel, name).offset, getattr(abi.CpuParallel, name).size)
        for name, *_ in abi.CpuParallel._fields_
    ] == [(f["name"], f["offset"], f["size"]) for f in c["fields"]]


def test_enum_values(probe):
    """Each WNO_<NAME> enumerator the module declares as <NAME> has the C value."""
    c_values = {
        name.removeprefix("WNO_"): value
        for group in ("status", "dtype", "activation")
        for name, value in probe[group].items()
    }
    declared = {name: getattr(abi, name) for name in c_values if hasattr(abi, name)}
    if not declared:
        pytest.skip("wno_edge.native.abi declares none of the wno_status / wno_dtype / wno_activation values")
    assert declared == {name: c_values[name] for name in declared}


# ------------------------------------------------------------------ functions


def header_prototypes() -> dict[str, tuple[str, list[str]]]:
    """name -> (return type, [parameter declarations]) of every WNO_API function in winograd.h."""
    text = re.sub(r"/\*.*?\*/", " ", HEADER.read_text(), flags=re.DOTALL)
    protos = {}
    for ret, name, params in re.findall(r"WNO_API\s+([\w\s\*]+?)\s*\b(wno_\w+)\s*\(([^)]*)\)\s*;", text):
        params = " ".join(params.split())
        protos[name] = (" ".join(ret.split()), [] if params in ("", "void") else [p.strip() for p in params.split(",")])
    return protos


def _compatible(c_decl: str, ctype) -> bool:
    """Whether a ctypes type can stand for a C parameter or return type."""
    c = c_decl.replace("const ", "").strip()
    if "*" in c:
        if re.match(r"wno_conv_desc\s*\*", c):
            return ctype is ctypes.POINTER(abi.ConvDesc)
        if re.match(r"char\s*\*", c):
            return ctype in (ctypes.c_char_p, ctypes.c_void_p)
        return ctype is ctypes.c_void_p or (isinstance(ctype, type) and issubclass(ctype, ctypes._Pointer))
    base = c.split()[0]
    if base == "size_t":
        return ctype is ctypes.c_size_t
    if base in ("int", "wno_status", "wno_dtype", "wno_activation") or base.startswith("wno_"):
        return ctype is ctypes.c_int
    return False


def test_signatures_match_the_header():
    protos = header_prototypes()
    assert "wno_cpu_conv2d" in protos and "wno_abi_version" in protos, "prototype parsing broke"
    for name, (restype, argtypes) in abi.SIGNATURES.items():
        assert name in protos, f"{name} is not declared in {HEADER.name}"
        ret, params = protos[name]
        assert len(argtypes) == len(params), f"{name}: {len(argtypes)} argtypes for C ({', '.join(params)})"
        assert _compatible(ret, restype), f"{name}: restype {restype} for C {ret}"
        for i, (param, argtype) in enumerate(zip(params, argtypes, strict=False)):
            assert _compatible(param, argtype), f"{name} argument {i}: {argtype} for C {param}"


def test_cpu_library_exports_the_signatures(probe):
    """The built CPU library has every non-CUDA function and reports the header's ABI version."""
    lib = ctypes.CDLL(str(build_native() / "libwno_winograd.so"))
    missing = [name for name in abi.SIGNATURES if not name.startswith("wno_cuda_") and not hasattr(lib, name)]
    assert not missing, f"libwno_winograd.so lacks {missing}"
    abi_version = lib.wno_abi_version
    abi_version.restype, abi_version.argtypes = ctypes.c_int, []
    assert abi_version() == probe["abi_version"]
