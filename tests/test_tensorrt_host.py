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
from wno_edge.tensorrt.build import parse_shape, prepare_onnx, profile_shapes
from wno_edge.tensorrt.plugin import find_plugin_library

HAVE_TRT = importlib.util.find_spec("tensorrt") is not None


def winograd_model(batch="batch"):
    """One WinogradConv node with its local-function fallback, as the exporter writes it."""
    fn = helper.make_function(
        "wno_edge", "WinogradConv", ["X", "W", "B"], ["Y"],
        [helper.make_node("Conv", ["X", "W", "B"], ["Y"], pads=[1, 1, 1, 1])],
        [helper.make_opsetid("", 17)], attributes=["tile", "padding", "plugin_version", "plugin_namespace"])
    node = helper.make_node("WinogradConv", ["x", "w", "b"], ["y"], domain="wno_edge", tile=4, padding=1,
                            plugin_version="1", plugin_namespace="")
    w = numpy_helper.from_array(np.zeros((2, 2, 3, 3), np.float32), "w")
    b = numpy_helper.from_array(np.zeros(2, np.float32), "b")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 2, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 2, 8, 8])], [w, b])
    return helper.make_model(graph, functions=[fn], ir_version=10,
                             opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("wno_edge", 1)])


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
