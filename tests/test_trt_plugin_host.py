"""The WinogradConv TensorRT plugin (runtime/plugin) as far as it runs without TensorRT or a GPU.

1. Host tests (cmake and any C++17 compiler): the TensorRT-free parts, plugin_fields.cpp and
   plugin_rules.cpp, through runtime/plugin/test/host_api.cpp (CMake target
   wno_trt_plugin_host) and ctypes: field parsing (errors as statuses, never exceptions), the
   serialisation round trip, shape, type and workspace arithmetic, the weight-buffer layout.
2. Header tests, one per TensorRT include/ directory named in $WNO_EDGE_TENSORRT_INCLUDE
   (several separated by os.pathsep; skipped without it): every plugin source compiled against
   those headers, linked with runtime/plugin/test/plugin_harness.cpp's fakes for libnvinfer, the
   CUDA runtime and the kernel (CMake target wno_trt_plugin_harness) and run; weight_cast.cu
   through nvcc; the CMake skip message. Building an engine needs TensorRT and a GPU: not here.
   Headers of a release: the public NVIDIA/TensorRT repository's include/ at its tag, e.g.
       git clone --bare https://github.com/NVIDIA/TensorRT trt.git && mkdir -p trt-10.3 &&
       git --git-dir=trt.git archive v10.3.0 include | tar -x -C trt-10.3
       WNO_EDGE_TENSORRT_INCLUDE=$PWD/trt-10.3/include pytest tests/test_trt_plugin_host.py
   runtime/plugin/README.md lists the versions the plugin is checked against (10.3, the newest
   10.x, 11.x).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from golden import load_cases, relative_error
from native_build import PLUGIN, ROOT, build_native, cmake_build

from wno_edge.native.abi import ConvDesc  # wno_conv_desc (test_native_abi.py checks it)

TRT_INCLUDE_ENV = "WNO_EDGE_TENSORRT_INCLUDE"
TRT_INCLUDES = [Path(p) for p in os.environ.get(TRT_INCLUDE_ENV, "").split(os.pathsep) if p.strip()]
HOW_TO_GET_HEADERS = (
    f"set {TRT_INCLUDE_ENV} to a TensorRT include/ directory (several: separated by "
    f"{os.pathsep!r}); the public NVIDIA/TensorRT repository's include/ at a release tag, "
    "e.g. git archive v10.3.0 include"
)

# nvinfer1::PluginFieldType values (mirrored by wno::trt::FieldType).
FLOAT32, INT8, INT16, INT32, CHAR, INT64 = 1, 3, 4, 5, 6, 10
# wno::trt::FieldStatus
OK, NULL_COLLECTION, MISSING, WRONG_TYPE, WRONG_LENGTH, OUT_OF_RANGE, DUPLICATE = range(7)
# nvinfer1::DataType
T_FLOAT, T_HALF, T_INT8 = 0, 1, 2
# wno::trt::DescStatus
DESC_OK, DESC_EMPTY, DESC_INVALID = 0, 1, 2
WNO_FLOAT32, WNO_FLOAT16 = 0, 1


def _cxx() -> str | None:
    return os.environ.get("CXX") or shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")


def _compile(args: list[str], what: str) -> None:
    r = subprocess.run(args, capture_output=True, text=True)
    assert r.returncode == 0, f"{what} failed:\n{' '.join(args)}\n{r.stdout}{r.stderr}"


# ---------------------------------------------------------------------------------- ctypes view


class FieldView(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("data", ctypes.c_void_p),
        ("type", ctypes.c_int32),
        ("length", ctypes.c_int32),
    ]


class ConvParams(ctypes.Structure):
    _fields_ = [("tile", ctypes.c_int32), ("padding", ctypes.c_int32)]


class WeightKey(ctypes.Structure):
    _fields_ = [
        ("weight", ctypes.c_void_p),
        ("bias", ctypes.c_void_p),
        ("in_channels", ctypes.c_int32),
        ("out_channels", ctypes.c_int32),
        ("tile", ctypes.c_int32),
        ("padding", ctypes.c_int32),
        ("dtype", ctypes.c_int),
        ("weight_half", ctypes.c_bool),
        ("bias_half", ctypes.c_bool),
        ("kernel", ctypes.c_int32),
        ("dims", ctypes.c_int32),
    ]


class Layout(ctypes.Structure):
    _fields_ = [
        (n, ctypes.c_size_t)
        for n in (
            "transformed_offset",
            "transformed_bytes",
            "bias_offset",
            "bias_bytes",
            "weight_offset",
            "weight_bytes",
            "total_bytes",
        )
    ]


I64P = ctypes.POINTER(ctypes.c_int64)


@pytest.fixture(scope="module")
def lib():
    if _cxx() is None:
        pytest.skip("no C++ compiler")
    h = ctypes.CDLL(str(build_native(("wno_trt_plugin_host",)) / "libwno_trt_plugin_host.so"))
    sig = {
        "wno_trt_parse_fields": (
            ctypes.c_int32,
            [
                ctypes.POINTER(FieldView),
                ctypes.c_int32,
                ctypes.POINTER(ConvParams),
                ctypes.c_char_p,
                ctypes.c_size_t,
                ctypes.c_char_p,
                ctypes.c_size_t,
            ],
        ),
        "wno_trt_serialize_fields": (
            ctypes.c_int32,
            [ctypes.POINTER(ConvParams), ctypes.POINTER(FieldView), ctypes.c_int32],
        ),
        "wno_trt_describe": (ctypes.c_int32, [ctypes.POINTER(ConvParams), ctypes.c_char_p, ctypes.c_size_t]),
        "wno_trt_field_status_name": (ctypes.c_char_p, [ctypes.c_int32]),
        "wno_trt_supports_io": (
            ctypes.c_int32,
            [ctypes.c_int32, ctypes.POINTER(ctypes.c_int32), ctypes.POINTER(ctypes.c_int32)],
        ),
        "wno_trt_output_extent": (ctypes.c_int64, [ctypes.c_int64, ctypes.c_int32]),
        "wno_trt_check_shapes": (
            ctypes.c_int32,
            [
                I64P,
                ctypes.c_int32,
                I64P,
                ctypes.c_int32,
                I64P,
                ctypes.c_int32,
                ctypes.POINTER(ConvParams),
                ctypes.c_char_p,
                ctypes.c_size_t,
            ],
        ),
        "wno_trt_make_desc": (
            ctypes.c_int32,
            [I64P, ctypes.c_int32, I64P, ctypes.c_int32, ctypes.POINTER(ConvParams), ctypes.POINTER(ConvDesc)],
        ),
        "wno_trt_to_wno_dtype": (ctypes.c_int32, [ctypes.c_int32, ctypes.POINTER(ctypes.c_int32)]),
        "wno_trt_profile_workspace": (
            ctypes.c_size_t,
            [
                I64P,
                ctypes.c_int32,
                ctypes.c_int32,
                I64P,
                ctypes.POINTER(ConvParams),
                ctypes.c_int32,
                ctypes.POINTER(ctypes.c_int32),
            ],
        ),
        "wno_trt_weight_keys_equal": (ctypes.c_int32, [ctypes.POINTER(WeightKey), ctypes.POINTER(WeightKey)]),
        "wno_trt_plan_weight_buffer": (
            ctypes.c_int32,
            [ctypes.c_size_t] + [ctypes.c_int32] * 5 + [ctypes.POINTER(Layout)],
        ),
        "wno_trt_make_weight_key": (
            None,
            [ctypes.POINTER(ConvDesc)] + [ctypes.c_int32] * 4 + [ctypes.POINTER(WeightKey)],
        ),
        "wno_trt_choose_kernel": (ctypes.c_int32, [ctypes.c_char_p, ctypes.c_int32, ctypes.c_int32]),
        "wno_trt_section_alignment": (ctypes.c_size_t, []),
    }
    for name, (restype, argtypes) in sig.items():
        fn = getattr(h, name)
        fn.restype, fn.argtypes = restype, argtypes
    return h


class Fields:
    """A field collection as TensorRT's ONNX parser builds it; keeps its buffers alive."""

    CTYPE = {
        INT8: ctypes.c_int8,
        INT16: ctypes.c_int16,
        INT32: ctypes.c_int32,
        INT64: ctypes.c_int64,
        FLOAT32: ctypes.c_float,
    }

    def __init__(self, *fields):
        self._keep = []
        views = []
        for name, value, ftype, *length in fields:
            if value is None:
                data = None
            elif ftype == CHAR:
                buf = ctypes.create_string_buffer(value.encode())
                data, length = buf, length or [len(value)]
            else:
                values = value if isinstance(value, (list, tuple)) else [value]
                buf = (self.CTYPE[ftype] * len(values))(*values)
                data, length = buf, length or [len(values)]
            self._keep.append(data)
            views.append(
                FieldView(
                    name.encode() if name is not None else None,
                    ctypes.cast(data, ctypes.c_void_p) if data is not None else None,
                    ftype,
                    length[0] if length else 1,
                )
            )
        self.array = (FieldView * max(1, len(views)))(*views)
        self.count = len(views)


def parse(lib, fields: Fields | None, count: int | None = None):
    params = ConvParams(-7, -7)
    msg, ignored = ctypes.create_string_buffer(256), ctypes.create_string_buffer(256)
    array = fields.array if fields is not None else None
    n = count if count is not None else fields.count
    status = lib.wno_trt_parse_fields(array, n, ctypes.byref(params), msg, 256, ignored, 256)
    return status, (params.tile, params.padding), msg.value.decode(), ignored.value.decode()


def onnx_fields(tile=4, padding=1, *extra):
    """What the ONNX parser passes for a WinogradConv node (INT attributes as kINT32)."""
    return Fields(("tile", tile, INT32), ("padding", padding, INT32), *extra)


# ---------------------------------------------------------------------------------- fields


@pytest.mark.parametrize("tile", [2, 4, 6])
@pytest.mark.parametrize("padding", [0, 1])
def test_parse_onnx_fields(lib, tile, padding):
    status, params, msg, ignored = parse(
        lib, onnx_fields(tile, padding, ("plugin_version", "1", CHAR), ("plugin_namespace", "", CHAR))
    )
    assert (status, params, msg, ignored) == (OK, (tile, padding), "", "")


def test_parse_ignores_unknown_fields_and_order(lib):
    f = Fields(("future", 3.5, FLOAT32), ("padding", 0, INT32), (None, 1, INT32), ("tile", 6, INT32))
    assert parse(lib, f) == (OK, (6, 0), "", "future,(unnamed)")


@pytest.mark.parametrize("ftype", [INT8, INT16, INT32, INT64])
def test_parse_accepts_every_integer_width(lib, ftype):
    assert parse(lib, Fields(("tile", 2, ftype), ("padding", 1, ftype)))[:2] == (OK, (2, 1))


def test_parse_reads_unaligned_data(lib):
    raw = ctypes.create_string_buffer(16)
    ctypes.memmove(ctypes.addressof(raw) + 1, (ctypes.c_int32 * 1)(6), 4)
    ctypes.memmove(ctypes.addressof(raw) + 9, (ctypes.c_int32 * 1)(1), 4)
    views = (FieldView * 2)(
        FieldView(b"tile", ctypes.addressof(raw) + 1, INT32, 1),
        FieldView(b"padding", ctypes.addressof(raw) + 9, INT32, 1),
    )
    params = ConvParams()
    assert lib.wno_trt_parse_fields(views, 2, ctypes.byref(params), None, 0, None, 0) == OK
    assert (params.tile, params.padding) == (6, 1)


PARSE_ERRORS = [
    (Fields(("tile", 4, INT32)), MISSING, "'padding' is missing"),
    (Fields(("padding", 1, INT32)), MISSING, "'tile' is missing"),
    (Fields(("plugin_version", "1", CHAR)), MISSING, "is missing"),
    (Fields(("tile", 4.0, FLOAT32), ("padding", 1, INT32)), WRONG_TYPE, "must be an integer (kINT32), got kFLOAT32"),
    (Fields(("tile", 4, INT32), ("padding", "1", CHAR)), WRONG_TYPE, "got kCHAR"),
    (Fields(("tile", [4, 4], INT32), ("padding", 1, INT32)), WRONG_LENGTH, "got 2 values"),
    (Fields(("tile", 4, INT32, 0), ("padding", 1, INT32)), WRONG_LENGTH, "got 0 values"),
    (Fields(("tile", None, INT32, 1), ("padding", 1, INT32)), WRONG_LENGTH, "no data"),
    (Fields(("tile", 8, INT32), ("padding", 1, INT32)), OUT_OF_RANGE, "tile must be 2, 4 or 6, got 8"),
    (Fields(("tile", 3, INT32), ("padding", 1, INT32)), OUT_OF_RANGE, "got 3"),
    (Fields(("tile", 0, INT32), ("padding", 1, INT32)), OUT_OF_RANGE, "got 0"),
    (Fields(("tile", -4, INT64), ("padding", 1, INT32)), OUT_OF_RANGE, "got -4"),
    (Fields(("tile", 2**32 + 4, INT64), ("padding", 1, INT32)), OUT_OF_RANGE, "got 4294967300"),
    (Fields(("tile", 4, INT32), ("padding", 2, INT32)), OUT_OF_RANGE, "padding must be 0 or 1, got 2"),
    (Fields(("tile", 4, INT32), ("padding", -1, INT8)), OUT_OF_RANGE, "got -1"),
    (Fields(("tile", 4, INT32), ("padding", 1, INT32), ("tile", 2, INT32)), DUPLICATE, "'tile' given twice"),
]


@pytest.mark.parametrize("fields,status,needle", PARSE_ERRORS, ids=[needle for _, _, needle in PARSE_ERRORS])
def test_parse_errors_are_statuses(lib, fields, status, needle):
    got, params, msg, _ = parse(lib, fields)
    assert got == status and needle in msg, msg
    assert params == (-7, -7)  # untouched on error
    assert lib.wno_trt_field_status_name(status).decode() not in ("", "unknown status")


def test_parse_null_and_empty_collections(lib):
    assert parse(lib, None, count=2)[0] == NULL_COLLECTION
    assert parse(lib, onnx_fields(), count=-1)[0] == NULL_COLLECTION
    assert parse(lib, None, count=0)[0] == MISSING


@pytest.mark.parametrize("tile", [2, 4, 6])
@pytest.mark.parametrize("padding", [0, 1])
def test_serialise_round_trip(lib, tile, padding):
    params = ConvParams(tile, padding)
    out = (FieldView * 4)()
    assert lib.wno_trt_serialize_fields(ctypes.byref(params), out, 4) == 2
    assert [(f.name, f.type, f.length) for f in out[:2]] == [(b"tile", INT32, 1), (b"padding", INT32, 1)]
    assert [ctypes.cast(f.data, ctypes.POINTER(ctypes.c_int32))[0] for f in out[:2]] == [tile, padding]
    back = ConvParams()
    assert lib.wno_trt_parse_fields(out, 2, ctypes.byref(back), None, 0, None, 0) == OK
    assert (back.tile, back.padding) == (tile, padding)
    text = ctypes.create_string_buffer(64)
    assert lib.wno_trt_describe(ctypes.byref(params), text, 64) == 0
    assert text.value.decode() == f"tile={tile},padding={padding}"


def test_serialise_needs_room(lib):
    params = ConvParams(4, 1)
    assert lib.wno_trt_serialize_fields(ctypes.byref(params), (FieldView * 1)(), 1) == 0
    assert lib.wno_trt_serialize_fields(ctypes.byref(params), None, 2) == 0


# ---------------------------------------------------------------------------------- shapes, types


def _i64(values):
    return (ctypes.c_int64 * max(1, len(values)))(*values)


def check_shapes(lib, x, w, b, padding=1, tile=4):
    msg = ctypes.create_string_buffer(512)
    status = lib.wno_trt_check_shapes(
        _i64(x), len(x), _i64(w), len(w), _i64(b), len(b), ctypes.byref(ConvParams(tile, padding)), msg, 512
    )
    return status, msg.value.decode()


@pytest.mark.parametrize(
    "h,padding,want",
    [(128, 1, 128), (128, 0, 126), (3, 0, 1), (1, 1, 1), (0, 1, 0), (2, 0, 0), (-1, 1, -1), (-1, 0, -1)],
)
def test_output_extent(lib, h, padding, want):
    assert lib.wno_trt_output_extent(h, padding) == want


@pytest.mark.parametrize(
    "x,w,b,padding",
    [
        ((1, 20, 64, 64), (32, 20, 3, 3), (32,), 1),
        ((-1, 20, -1, -1), (32, 20, 3, 3), (32,), 0),  # dynamic N, H, W
        ((-1, -1, -1, -1), (-1, -1, -1, -1), (-1,), 0),  # nothing known yet
        ((2, 3, 3, 3), (1, 3, 3, 3), (1,), 0),  # 1x1 output
        ((2, 3, 1, 1), (1, 3, 3, 3), (1,), 1),
        ((1, 20, 64), (32, 20, 3), (32,), 1),  # a line (1-D model)
        ((-1, 20, -1), (32, 20, 3), (32,), 0),
        ((2, 3, 3), (1, 3, 3), (1,), 0),  # output of length 1
        ((2, 3, 1), (1, 3, 3), (1,), 1),
    ],
)
def test_check_shapes_accepts(lib, x, w, b, padding):
    assert check_shapes(lib, x, w, b, padding) == (0, "")


@pytest.mark.parametrize(
    "x,w,b,padding,needle",
    [
        ((20, 64), (32, 20, 3, 3), (32,), 1, "X must be 4-D (N,C,H,W) or, for a 1-D conv, 3-D (N,C,W), got rank 2"),
        ((1, 20, 64, 64, 2), (32, 20, 3, 3), (32,), 1, "got rank 5"),
        ((20, 64, 64), (32, 20, 3, 3), (32,), 1, "weight must be 3-D (K,C,3) for a 3-D X, got rank 4"),
        ((1, 20, 64), (32, 20, 5), (32,), 1, "weight must be (K,C,3), got (32,20,5)"),
        ((1, 20, 64), (32, 16, 3), (32,), 1, "has 20 channels, weight (32,16,3) expects 16"),
        ((1, 20, 64), (32, 20, 3), (31,), 1, "bias (31) does not match"),
        ((1, 20, 2), (32, 20, 3), (32,), 0, "too small for a 3-tap kernel with padding 0"),
        ((1, 20, 0), (32, 20, 3), (32,), 1, "at least 1 long"),
        ((1, 20, 64, 64), (32, 20, 3), (32,), 1, "weight must be 4-D"),
        ((1, 20, 64, 64), (32, 20, 3, 3), (32, 1), 1, "bias must be 1-D"),
        ((1, 20, 64, 64), (32, 20, 5, 5), (32,), 1, "weight must be (K,C,3,3), got (32,20,5,5)"),
        ((1, 20, 64, 64), (32, 20, -1, 1), (32,), 1, "got (32,20,?,1)"),
        ((1, 20, 64, 64), (32, 16, 3, 3), (32,), 1, "has 20 channels, weight (32,16,3,3) expects 16"),
        ((1, 20, 64, 64), (32, 20, 3, 3), (31,), 1, "bias (31) does not match"),
        ((1, 20, 2, 64), (32, 20, 3, 3), (32,), 0, "too small"),
        ((1, 20, 64, 0), (32, 20, 3, 3), (32,), 1, "at least 1x1"),
    ],
)
def test_check_shapes_rejects(lib, x, w, b, padding, needle):
    status, msg = check_shapes(lib, x, w, b, padding)
    assert status == 1 and needle in msg, msg


def test_supported_io_combinations(lib):
    """Exactly: all float; half X/Y with float weight/bias; all half. Linear only."""
    accepted = []
    types = (T_FLOAT, T_HALF, T_INT8)
    for combo in [(x, w, b, y) for x in types for w in types for b in types for y in types]:
        for linear in [(1, 1, 1, 1), (1, 1, 1, 0), (0, 1, 1, 1), (1, 0, 1, 1)]:
            t, lin = (ctypes.c_int32 * 4)(*combo), (ctypes.c_int32 * 4)(*linear)
            if all(lib.wno_trt_supports_io(pos, t, lin) for pos in range(4)):
                accepted.append((combo, linear))
    assert sorted(accepted) == sorted(
        [((T_FLOAT,) * 4, (1,) * 4), ((T_HALF, T_FLOAT, T_FLOAT, T_HALF), (1,) * 4), ((T_HALF,) * 4, (1,) * 4)]
    )


def test_supported_io_looks_only_at_earlier_positions(lib):
    """TensorRT fills inOut[pos+1:] with garbage while asking about pos."""
    lin = (ctypes.c_int32 * 4)(1, 1, 1, 1)
    for pos in range(4):
        base = [T_HALF, T_HALF, T_HALF, T_HALF]
        want = lib.wno_trt_supports_io(pos, (ctypes.c_int32 * 4)(*base), lin)
        for junk in (T_FLOAT, T_INT8, 77):
            noisy = base[: pos + 1] + [junk] * (3 - pos)
            noisy_lin = (ctypes.c_int32 * 4)(*([1] * (pos + 1) + [0] * (3 - pos)))
            assert lib.wno_trt_supports_io(pos, (ctypes.c_int32 * 4)(*noisy), noisy_lin) == want
    assert lib.wno_trt_supports_io(4, (ctypes.c_int32 * 4)(), lin) == 0
    assert lib.wno_trt_supports_io(-1, (ctypes.c_int32 * 4)(), lin) == 0


def make_desc(lib, x, w, tile=4, padding=1):
    desc = ConvDesc()
    status = lib.wno_trt_make_desc(
        _i64(x), len(x), _i64(w), len(w), ctypes.byref(ConvParams(tile, padding)), ctypes.byref(desc)
    )
    return status, desc


def test_make_desc(lib):
    status, d = make_desc(lib, (2, 20, 64, 48), (32, 20, 3, 3), tile=6, padding=0)
    assert status == DESC_OK
    assert (d.batch, d.in_channels, d.out_channels, d.height, d.width, d.padding, d.tile) == (2, 20, 32, 64, 48, 0, 6)
    assert d.dims == 2


def test_make_desc_of_a_line(lib):
    """Rank 3 (N,C,W) with (K,C,3): the kernel's 1-D descriptor, dims 1 and height 1."""
    status, d = make_desc(lib, (3, 20, 97), (32, 20, 3), tile=2, padding=1)
    assert status == DESC_OK
    got = (d.batch, d.in_channels, d.out_channels, d.height, d.width, d.padding, d.tile, d.dims)
    assert got == (3, 20, 32, 1, 97, 1, 2, 1)


@pytest.mark.parametrize(
    "x,w,padding,want",
    [
        ((0, 20, 64, 64), (32, 20, 3, 3), 1, DESC_EMPTY),  # zero-size batch: nothing to do
        ((2, 20, 64, 64), (0, 20, 3, 3), 1, DESC_EMPTY),
        ((-1, 20, 64, 64), (32, 20, 3, 3), 1, DESC_INVALID),  # unknown
        ((2, 20, 64, 64), (32, 16, 3, 3), 1, DESC_INVALID),  # C mismatch
        ((2, 20, 2, 64), (32, 20, 3, 3), 0, DESC_INVALID),  # empty output
        ((2, 20, 2**31, 64), (32, 20, 3, 3), 1, DESC_INVALID),  # beyond int
        ((2, 20, 64, 64), (32, 20, 1, 1), 1, DESC_INVALID),
        ((2, 20, 64), (32, 20, 3, 3), 1, DESC_INVALID),  # ranks differ
        ((2, 20, 64, 64), (32, 20, 3), 1, DESC_INVALID),
        ((2, 20), (32, 20), 1, DESC_INVALID),
        ((0, 20, 64), (32, 20, 3), 1, DESC_EMPTY),
        ((2, 20, 2), (32, 20, 3), 0, DESC_INVALID),  # empty output on a line
        ((2, 20, 64), (32, 20, 5), 1, DESC_INVALID),
        ((2, 20, 2**31), (32, 20, 3), 1, DESC_INVALID),
    ],
)
def test_make_desc_edge_cases(lib, x, w, padding, want):
    assert make_desc(lib, x, w, padding=padding)[0] == want


def test_make_desc_rejects_bad_params(lib):
    assert make_desc(lib, (1, 1, 8, 8), (1, 1, 3, 3), tile=8)[0] == DESC_INVALID
    assert make_desc(lib, (1, 1, 8, 8), (1, 1, 3, 3), padding=2)[0] == DESC_INVALID


def test_to_wno_dtype(lib):
    out = ctypes.c_int32()
    assert lib.wno_trt_to_wno_dtype(T_FLOAT, ctypes.byref(out)) == 1 and out.value == WNO_FLOAT32
    assert lib.wno_trt_to_wno_dtype(T_HALF, ctypes.byref(out)) == 1 and out.value == WNO_FLOAT16
    assert lib.wno_trt_to_wno_dtype(T_INT8, ctypes.byref(out)) == 0


def profile_workspace(lib, rows, w=(32, 20, 3, 3), dtype=WNO_FLOAT32):
    calls = ctypes.c_int32()
    flat = [v for row in rows for v in row]
    size = lib.wno_trt_profile_workspace(
        _i64(flat), len(rows), len(w), _i64(w), ctypes.byref(ConvParams(4, 1)), dtype, ctypes.byref(calls)
    )
    return size, calls.value


def test_workspace_is_the_kernels_largest_over_the_profile(lib):
    # The fake kernel size in host_api.cpp: N*C*H*W*elem + tile.
    rows = [(1, 20, 8, 8), (2, 20, 64, 64), (4, 20, 128, 96)]
    assert profile_workspace(lib, rows) == (4 * 20 * 128 * 96 * 4 + 4, 3)
    assert profile_workspace(lib, rows, dtype=WNO_FLOAT16) == (4 * 20 * 128 * 96 * 2 + 4, 3)
    # max need not be last: the largest of the three is taken
    assert profile_workspace(lib, [(8, 20, 8, 8), (1, 20, 8, 8), (2, 20, 8, 8)])[0] == 8 * 20 * 64 * 4 + 4
    # shapes without a valid descriptor (zero batch, unknown) are skipped, not sized
    assert profile_workspace(lib, [(0, 20, 8, 8), (-1, 20, 8, 8), (1, 20, 8, 8)]) == (20 * 64 * 4 + 4, 1)
    assert profile_workspace(lib, [(0, 20, 8, 8)]) == (0, 0)
    # a line: descriptors of height 1
    assert profile_workspace(lib, [(1, 20, 64), (4, 20, 512), (2, 20, 8)], w=(32, 20, 3)) == (4 * 20 * 512 * 4 + 4, 3)


def test_weight_key_equality(lib):
    base = dict(
        weight=0x1000,
        bias=0x2000,
        in_channels=20,
        out_channels=32,
        tile=4,
        padding=1,
        dtype=WNO_FLOAT16,
        weight_half=True,
        bias_half=True,
        kernel=1,
        dims=2,
    )
    a = WeightKey(**base)
    assert lib.wno_trt_weight_keys_equal(ctypes.byref(a), ctypes.byref(WeightKey(**base))) == 1
    changes = dict(
        weight=0x1100,
        bias=0x2100,
        in_channels=21,
        out_channels=31,
        tile=6,
        padding=0,
        dtype=WNO_FLOAT32,
        weight_half=False,
        bias_half=False,
        kernel=2,
        dims=1,  # a line's transformed weights have another layout
    )
    for field, value in changes.items():
        b = WeightKey(**{**base, field: value})
        assert lib.wno_trt_weight_keys_equal(ctypes.byref(a), ctypes.byref(b)) == 0, field


def plan(lib, transformed, c, k, weight_half, bias_half, dims=2):
    layout = Layout()
    ok = lib.wno_trt_plan_weight_buffer(transformed, c, k, weight_half, bias_half, dims, ctypes.byref(layout))
    return ok, layout


def test_weight_buffer_layout(lib):
    align = lib.wno_trt_section_alignment()
    assert align == 256
    ok, layout = plan(lib, 1000, 20, 32, 0, 0)
    sizes = (layout.transformed_offset, layout.transformed_bytes, layout.bias_bytes, layout.weight_bytes)
    assert ok and sizes == (0, 1000, 0, 0) and layout.total_bytes == 1024
    ok, layout = plan(lib, 1000, 20, 32, 1, 1)
    assert ok and layout.bias_offset == 1024 and layout.bias_bytes == 32 * 4
    assert layout.weight_offset == 1280 and layout.weight_bytes == 32 * 20 * 9 * 4
    assert layout.total_bytes == 1280 + 23040 and all(
        v % align == 0 for v in (layout.bias_offset, layout.weight_offset, layout.total_bytes)
    )
    ok, layout = plan(lib, 1000, 20, 32, 0, 1)
    assert ok and layout.bias_bytes == 128 and layout.weight_bytes == 0 and layout.total_bytes == 1280
    ok, layout = plan(lib, 1000, 20, 32, 1, 1, dims=1)  # a line: (K,C,3) float32 weights
    assert ok and layout.weight_offset == 1280 and layout.weight_bytes == 32 * 20 * 3 * 4
    assert layout.total_bytes == 1280 + 7680


def test_weight_key_carries_the_rank(lib):
    key = WeightKey()
    lib.wno_trt_make_weight_key(
        ctypes.byref(ConvDesc(1, 20, 32, 1, 64, 1, 4, 1)), WNO_FLOAT16, 1, 0, 1, ctypes.byref(key)
    )
    assert (key.in_channels, key.out_channels, key.tile, key.dtype, key.kernel, key.dims) == (20, 32, 4, 1, 1, 1)
    assert key.weight_half and not key.bias_half
    for dims in (0, 2):  # 0 means 2 in wno_conv_desc
        lib.wno_trt_make_weight_key(ctypes.byref(ConvDesc(1, 20, 32, 8, 8, 1, 4, dims)), 0, 0, 0, 2, ctypes.byref(key))
        assert key.dims == 2 and key.kernel == 2


@pytest.mark.parametrize(
    "env,v2,dims,want",
    [
        (None, 1, 2, 2),
        (None, 0, 2, 1),
        (b"1", 1, 2, 1),
        (b"2", 1, 2, 2),
        (b"2", 0, 2, 1),
        (None, 1, 1, 1),  # a line: kernel v2 has no 1-D path
        (b"2", 1, 1, 1),
    ],
)
def test_kernel_choice(lib, env, v2, dims, want):
    assert lib.wno_trt_choose_kernel(env, v2, dims) == want


@pytest.mark.parametrize(
    "transformed,c,k,weight_half",
    [
        (0, 20, 32, 0),  # the kernel gave no size
        (1000, 0, 32, 0),
        (1000, 20, 0, 0),
        (2**64 - 10, 20, 32, 0),  # alignment would overflow
        (1000, 2**31 - 1, 2**31 - 1, 1),  # K*C*9*4 overflows 64 bits
    ],
)
def test_weight_buffer_layout_rejects(lib, transformed, c, k, weight_half):
    assert plan(lib, transformed, c, k, weight_half, 0)[0] == 0


# ---------------------------------------------------------------------------------- golden vectors


@pytest.fixture(scope="module")
def emu():
    h = ctypes.CDLL(str(build_native(("wno_cuda_emu",)) / "libwno_cuda_emu.so"))
    p, desc = ctypes.c_void_p, ctypes.POINTER(ConvDesc)
    for prefix in ("wno_emu_", "wno_emu_v2_"):
        getattr(h, prefix + "weight_size").restype = ctypes.c_size_t
        getattr(h, prefix + "weight_size").argtypes = [desc, ctypes.c_int]
        getattr(h, prefix + "transform_weights").argtypes = [desc, ctypes.c_int, p, p]
    h.wno_emu_conv2d.argtypes = [desc, ctypes.c_int, p, p, p, p, ctypes.c_int]
    h.wno_emu_v2_conv2d.argtypes = [desc, ctypes.c_int, ctypes.c_int, p, p, p, p] + [ctypes.c_int] * 3
    return h


def plugin_conv(lib, emu, x, weight, bias, tile, padding, v2_supported=True):
    """What the plugin does with X, weight, bias: its shape rules, descriptor and kernel choice
    (plugin_rules.cpp, through host_api.cpp), then that kernel in the host emulation."""
    params = ConvParams(tile, padding)
    assert check_shapes(lib, x.shape, weight.shape, bias.shape, padding) == (0, "")
    status, desc = make_desc(lib, x.shape, weight.shape, tile, padding)
    assert status == DESC_OK
    y_shape = (x.shape[0], weight.shape[0], *(lib.wno_trt_output_extent(d, params.padding) for d in x.shape[2:]))
    kernel = lib.wno_trt_choose_kernel(None, int(v2_supported), desc.dims)
    emu_ = "wno_emu_" if kernel == 1 else "wno_emu_v2_"
    w = np.ascontiguousarray(weight, np.float32)
    u = np.zeros(getattr(emu, emu_ + "weight_size")(ctypes.byref(desc), WNO_FLOAT32), np.uint8)
    assert u.size > 0
    assert getattr(emu, emu_ + "transform_weights")(ctypes.byref(desc), WNO_FLOAT32, w.ctypes.data, u.ctypes.data) == 0
    xs, b = np.ascontiguousarray(x, np.float32), np.ascontiguousarray(bias, np.float32)
    y = np.full(y_shape, np.nan, np.float32)
    args = (xs.ctypes.data, u.ctypes.data, b.ctypes.data, y.ctypes.data, 2)  # threads shuffled
    if kernel == 1:
        assert emu.wno_emu_conv2d(ctypes.byref(desc), WNO_FLOAT32, *args) == 0
    else:
        assert emu.wno_emu_v2_conv2d(ctypes.byref(desc), WNO_FLOAT32, 0, *args, 64, 0) == 0
    return y, kernel


@pytest.mark.parametrize("name,case", load_cases(), ids=[n for n, _ in load_cases()])
def test_plugin_path_on_the_golden_vectors(lib, emu, name, case):
    """Both ranks: a line (N,C,W) with a (K,C,3) weight runs kernel v1's 1-D path, a grid the
    kernel the plugin picks where v2 is supported (v2); Y within the contract's tolerance."""
    y, kernel = plugin_conv(lib, emu, case["x"], case["weight"], case["bias"], case["tile"], case["padding"])
    assert kernel == (1 if case["x"].ndim == 3 else 2)
    assert y.shape == case["y"].shape
    assert relative_error(y, case["y"]) <= case["tolerance"], name


# ---------------------------------------------------------------------------------- TensorRT headers


def header_version(include: Path) -> str:
    """ "major.minor.patch" from NvInferVersion.h (10.x: NV_TENSORRT_*; later: TRT_*_ENTERPRISE)."""
    text = (include / "NvInferVersion.h").read_text()

    def part(name: str) -> str:
        m = re.search(rf"#define\s+(?:NV_TENSORRT_{name}|TRT_{name}_ENTERPRISE)\s+(\d+)", text)
        assert m, f"no {name} version in {include / 'NvInferVersion.h'}"
        return m.group(1)

    return ".".join(part(p) for p in ("MAJOR", "MINOR", "PATCH"))


def _include_id(include: Path) -> str:
    return f"{include.name}-{hashlib.sha1(str(include.resolve()).encode()).hexdigest()[:10]}"


@pytest.mark.heavy
@pytest.mark.slow
@pytest.mark.parametrize("include", TRT_INCLUDES or [None], ids=[str(p) for p in TRT_INCLUDES] or ["no-headers"])
def test_plugin_against_tensorrt_headers(include):
    """Compiles every plugin source against the headers (CMake target wno_trt_plugin_harness;
    warnings fail under CI), links the harness (fake libnvinfer/CUDA runtime/kernel) and runs its
    checks: registration, fields, shapes, formats, workspace, weight lifetime and error paths of the
    real IPluginV3 code."""
    if include is None:
        pytest.skip(f"no TensorRT headers: {HOW_TO_GET_HEADERS}")
    if _cxx() is None:
        pytest.skip("needs a C++ compiler")
    assert (include / "NvInferRuntime.h").is_file(), f"{TRT_INCLUDE_ENV}: {include} has no NvInferRuntime.h"
    version = header_version(include)
    assert int(version.split(".")[0]) >= 10, f"{include}: TensorRT {version}; the plugin needs 10 or newer"
    build = ROOT / "build" / "trt-harness" / _include_id(include)
    build, configured = cmake_build(
        build,
        PLUGIN,
        ["-DCMAKE_BUILD_TYPE=Debug", "-DWNO_BUILD_TESTS=ON", f"-DWNO_TRT_HARNESS_INCLUDE_DIR={include}"],
        ["wno_trt_plugin_harness"],
        f"plugin + harness against TensorRT {version}",
    )
    skipped = re.search(r"wno: plugin harness skipped: (.*)", configured)
    if skipped:
        pytest.skip(skipped.group(1))
    r = subprocess.run([str(build / "wno_trt_plugin_harness")], capture_output=True, text=True, timeout=60, check=False)
    failures = [line for line in r.stdout.splitlines() if line.startswith("FAIL")]
    assert r.returncode == 0 and not failures, f"TensorRT {version}:\n" + "\n".join(failures) + r.stderr
    assert r.stdout.splitlines()[0] == f"TensorRT headers {version}", r.stdout.splitlines()[0]


@pytest.mark.slow
def test_weight_cast_compiles_with_nvcc(tmp_path):
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        pytest.skip("no nvcc")
    _compile(
        [
            nvcc,
            "-std=c++17",
            "-c",
            "-arch=sm_87",
            "-Werror",
            "all-warnings",
            "-Xcompiler=-Wall,-Wextra,-Wno-deprecated-declarations",
            str(PLUGIN / "weight_cast.cu"),
            "-o",
            str(tmp_path / "weight_cast.o"),
        ],
        "nvcc weight_cast.cu",
    )


@pytest.mark.slow
def test_cmake_says_why_it_skips(tmp_path):
    """Without TensorRT the plugin's CMakeLists.txt configures and names what is missing."""
    cmake = shutil.which("cmake")
    if cmake is None or _cxx() is None:
        pytest.skip("needs cmake and a C++ compiler")
    system = [
        Path(p) / "NvInferRuntime.h"
        for p in (
            "/usr/include",
            "/usr/include/x86_64-linux-gnu",
            "/usr/include/aarch64-linux-gnu",
            "/usr/local/TensorRT/include",
            "/opt/tensorrt/include",
        )
    ]
    if any(p.is_file() for p in system):
        pytest.skip("TensorRT is installed on this machine")
    empty = tmp_path / "no-tensorrt"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "TensorRT_ROOT"}
    r = subprocess.run(
        [cmake, "-S", str(PLUGIN), "-B", str(tmp_path / "build"), f"-DTensorRT_ROOT={empty}"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "wno: TensorRT plugin skipped: TensorRT headers (NvInferRuntime.h) not found" in r.stdout, r.stdout
