"""The TensorRT path as far as it runs without TensorRT or a GPU: argument handling,
parser preparation per TensorRT version, and one-line errors saying what to install."""

import importlib.util

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from wno_edge import runtime
from wno_edge.cli import main
from wno_edge.errors import WNOEdgeError
from wno_edge.tensorrt.build import (
    check_plugin_layers,
    format_parser_errors,
    needs_plugin_override,
    parse_shape,
    prepare_onnx,
    profile_shapes,
)
from wno_edge.tensorrt.plugin import find_plugin_library

HAVE_TRT = importlib.util.find_spec("tensorrt") is not None


def winograd_model(batch="batch"):
    """One WinogradConv node with its local-function fallback, as the exporter writes it."""
    fn = helper.make_function(
        "wno_edge",
        "WinogradConv",
        ["X", "W", "B"],
        ["Y"],
        [helper.make_node("Conv", ["X", "W", "B"], ["Y"], pads=[1, 1, 1, 1])],
        [helper.make_opsetid("", 17)],
        attributes=["tile", "padding", "plugin_version", "plugin_namespace"],
    )
    node = helper.make_node(
        "WinogradConv",
        ["x", "w", "b"],
        ["y"],
        domain="wno_edge",
        tile=4,
        padding=1,
        plugin_version="1",
        plugin_namespace="",
    )
    w = numpy_helper.from_array(np.zeros((2, 2, 3, 3), np.float32), "w")
    b = numpy_helper.from_array(np.zeros(2, np.float32), "b")
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 2, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 2, 8, 8])],
        [w, b],
    )
    return helper.make_model(
        graph,
        functions=[fn],
        ir_version=10,
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("wno_edge", 1)],
    )


def test_parser_preparation_per_tensorrt_version():
    model = winograd_model()
    # <= 10.6 would inline the fallback whatever is registered: the function must go.
    assert len(prepare_onnx(model, (10, 6)).functions) == 0
    for version in ((10, 7), (10, 15), (11, 1)):
        assert len(prepare_onnx(model, version).functions) == 1
    assert len(model.functions) == 1  # the caller's model is untouched
    node = prepare_onnx(model, (10, 6)).graph.node[0]
    assert {a.name: helper.get_attribute_value(a) for a in node.attribute}["plugin_namespace"] == b""


def test_profile_shapes():
    model = winograd_model()
    assert profile_shapes(model, None, None, None)["opt"] == (1, 2, 8, 8)
    s = profile_shapes(model, (1, 2, 8, 8), (4, 2, 8, 8), (8, 2, 8, 8))
    assert (s["min"], s["opt"], s["max"]) == ((1, 2, 8, 8), (4, 2, 8, 8), (8, 2, 8, 8))
    with pytest.raises(WNOEdgeError, match="does not fit"):
        profile_shapes(model, None, (1, 2, 16, 8), None)
    with pytest.raises(WNOEdgeError, match="min <= opt <= max"):
        profile_shapes(model, (4, 2, 8, 8), (2, 2, 8, 8), None)
    assert parse_shape("1x2x8x8") == (1, 2, 8, 8)
    with pytest.raises(WNOEdgeError, match="shape must look like"):
        parse_shape("1xbx8")


def test_a_1d_model_is_prepared_for_the_plugin_like_a_2d_one(tmp_path):
    """A 1-D model's WinogradConv nodes (rank-3 X, (K, C, 3) weights: the plugin's 1-D path) go to
    the parser as the 2-D ones do; the profile is rank 3."""
    import torch

    from wno_edge.model import WNO2d, WNOConfig
    from wno_edge.onnx import export_onnx

    torch.manual_seed(0)
    model = WNO2d(WNOConfig(1, 1, width=8, modes=(6,), n_layers=2, resolution=(40,))).eval()
    export_onnx(model, tmp_path / "m.onnx", tile=4)
    onnx_model = onnx.load(tmp_path / "m.onnx")
    weights = {t.name: t.dims for t in onnx_model.graph.initializer}
    nodes = [n for n in onnx_model.graph.node if n.domain == "wno_edge"]
    assert len(nodes) == 2 and all(list(weights[n.input[1]]) == [8, 8, 3] for n in nodes)
    s = profile_shapes(onnx_model, None, (2, 1, 40), (4, 1, 40))
    assert (s["min"], s["opt"], s["max"]) == ((2, 1, 40), (2, 1, 40), (4, 1, 40))
    with pytest.raises(WNOEdgeError, match="does not fit"):
        profile_shapes(onnx_model, None, (1, 1, 8, 40), None)
    assert len(prepare_onnx(onnx_model, (10, 6)).functions) == 0
    assert len(prepare_onnx(onnx_model, (11, 1)).functions) == 1


@pytest.mark.skipif(HAVE_TRT, reason="TensorRT is installed here")
def test_build_without_tensorrt_says_what_to_install(tmp_path, capsys):
    onnx.save(winograd_model(), tmp_path / "m.onnx")
    assert main(["build", str(tmp_path / "m.onnx"), "-o", str(tmp_path / "m.trt")]) == 1
    err = capsys.readouterr().err.strip()
    assert "TensorRT is not installed" in err and "pip install" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "m.trt").exists()
    with pytest.raises(WNOEdgeError, match="TensorRT is not installed"):
        runtime.load(_touch(tmp_path / "m.trt"))


def _touch(path):
    path.write_bytes(b"\0")
    return path


def test_build_argument_errors(tmp_path, capsys):
    onnx.save(winograd_model(), tmp_path / "m.onnx")
    (tmp_path / "junk.onnx").write_text("junk")
    cases = [
        ["build", str(tmp_path / "none.onnx")],
        ["build", str(tmp_path / "junk.onnx")],
        ["build", str(tmp_path / "m.onnx"), "--opt", "4xax8"],
        ["build", str(tmp_path / "m.onnx"), "--opt", "1x3x8x8"],
        ["build", str(tmp_path / "m.onnx"), "-o", str(tmp_path / "no" / "m.trt")],
    ]
    for args in cases:
        assert main(args) == 1, args
    err = capsys.readouterr().err
    for text in ("no such file", "not a readable ONNX file", "shape must look like", "does not fit", "does not exist"):
        assert text in err
    assert "Traceback" not in err


def test_plugin_library_search(tmp_path, monkeypatch):
    monkeypatch.setenv("WNO_EDGE_TRT_PLUGIN", str(tmp_path / "missing.so"))
    with pytest.raises(WNOEdgeError, match="does not exist"):
        find_plugin_library()
    lib = _touch(tmp_path / "libwno_trt_plugin.so")
    assert find_plugin_library(lib) == lib.resolve()


def test_plugin_override_only_where_the_parser_needs_it():
    model = winograd_model()  # the exporter's node: has plugin_namespace
    for version in ((10, 3), (10, 7), (10, 15), (11, 1)):
        assert not needs_plugin_override(model, version)
    old = winograd_model()
    node = old.graph.node[0]
    keep = [a for a in node.attribute if a.name != "plugin_namespace"]
    del node.attribute[:]
    node.attribute.extend(keep)
    assert not needs_plugin_override(old, (10, 14))  # before 10.15 a registered plugin wins anyway
    assert needs_plugin_override(old, (10, 15)) and needs_plugin_override(old, (11, 1))


def test_fallback_to_conv_is_an_error_unless_allowed():
    check_plugin_layers(2, ["a", "b"], allow_fallback=False)
    check_plugin_layers(0, [], allow_fallback=False)  # a direct-conv export has no plugin layers
    with pytest.raises(WNOEdgeError, match="1 fell back.*--allow-fallback"):
        check_plugin_layers(2, ["a"], allow_fallback=False)
    said = []
    check_plugin_layers(2, ["a"], allow_fallback=True, log=said.append)
    assert len(said) == 1 and said[0].startswith("warning: 2 WinogradConv nodes but 1 plugin layers")


def test_parser_errors_whole_in_verbose_mode():
    errors = ["In node 3 (WinogradConv): " + "x" * 400, "second error"]
    short = format_parser_errors(errors, verbose=False)
    assert len(short) == 300 and "second" not in short
    full = format_parser_errors(errors, verbose=True)
    assert "x" * 400 in full and "second error" in full


def test_build_cli_has_verbose_and_allow_fallback(capsys):
    main(["build", "--help"])
    out = capsys.readouterr().out
    assert "--verbose" in out and "--allow-fallback" in out


def test_tensorrt_stream_handle_without_int_conversion():
    import ctypes

    from wno_edge.runtime.tensorrt_backend import _stream_handle

    class Handle:  # cuda-python's shape: getPtr() is the address of the cudaStream_t value
        def __init__(self, value):
            self.cell = ctypes.c_void_p(value)

        def getPtr(self):
            return ctypes.addressof(self.cell)

        def __int__(self):
            raise AssertionError("int() on the handle is the deprecated path")

    assert _stream_handle(Handle(0x7F00_1234)) == 0x7F00_1234
    assert _stream_handle(Handle(0)) == 0
    assert _stream_handle(42) == 42
    with pytest.raises(WNOEdgeError, match="not a CUDA stream"):
        _stream_handle(object())


def test_tensorrt_failing_enqueue_in_capture_reports_itself():
    """A failed enqueue inside graph capture raises the enqueue's error; ending the broken
    capture (which fails too) must not replace it."""
    from wno_edge.runtime.tensorrt_backend import TensorRTSession

    class FakeCudart:
        class cudaStreamCaptureMode:
            cudaStreamCaptureModeGlobal = 0

        def cudaStreamBeginCapture(self, stream, mode):
            return (0,)

        def cudaStreamEndCapture(self, stream):
            return (901, None)  # cudaErrorStreamCaptureInvalidated

    class FailingContext:
        def execute_async_v3(self, stream):
            return False

    session = TensorRTSession.__new__(TensorRTSession)
    session._cudart, session._context, session._stream, session._stream_ptr = FakeCudart(), FailingContext(), 1, 1
    with pytest.raises(WNOEdgeError, match="TensorRT enqueue failed"):
        session._capture()
