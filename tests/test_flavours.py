"""Which runtimes read each export flavour (`--conv winograd|direct`): a direct file is standard
ops that the ONNX checker accepts and that TensorRT's ONNX parser supports without a plugin
(checked against its operator list, committed as data in export/tensorrt_onnx_ops.json with its
version and source); a winograd file needs only the WinogradConv plugin beyond that."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import onnx
import pytest
from test_engine import make_model

from wno_edge.contract import OP_DOMAIN, OP_NAME
from wno_edge.onnx.export import build_model_proto

TRT = json.loads((Path(__file__).resolve().parents[1] / "export" / "tensorrt_onnx_ops.json").read_text())


@pytest.mark.parametrize("conv", ["winograd", "direct"])
@pytest.mark.parametrize("fno, opset", [(False, 17), (False, 20), (True, 17)], ids=["wno", "wno-opset20", "fno"])
def test_tensorrt_parser_covers_every_standard_node(conv, fno, opset):
    proto = build_model_proto(make_model(20, 18, width=8, modes=(3, 4), layers=2, fno=fno), opset=opset, conv=conv)
    lo, hi = TRT["opsets"]
    versions = {o.domain: o.version for o in proto.opset_import}
    assert lo <= versions[""] <= hi, f"opset {versions['']} outside TensorRT {TRT['tensorrt']}'s {lo}..{hi}"
    custom = {(n.domain, n.op_type) for n in proto.graph.node if n.domain not in ("", "ai.onnx")}
    standard = {n.op_type for n in proto.graph.node if n.domain in ("", "ai.onnx")}
    assert standard <= set(TRT["supported"]), standard - set(TRT["supported"])
    assert custom == (set() if conv == "direct" or fno else {(OP_DOMAIN, OP_NAME)})
    if conv == "direct":
        assert not proto.functions  # nothing a runtime must read beyond the graph
    names = {t.name for t in proto.graph.initializer}
    for n in proto.graph.node:  # TensorRT's restriction: Pad's and Slice's axes are initializers
        if n.op_type == "Slice" and len(n.input) > 3:
            assert n.input[3] in names
        if n.op_type == "Pad" and len(n.input) > 3:
            assert n.input[3] in names


@pytest.mark.parametrize("conv", ["winograd", "direct"])
def test_exports_pass_the_onnx_checker(conv):
    proto = build_model_proto(make_model(20, 18, width=8, modes=(3, 4), layers=2), conv=conv)
    onnx.checker.check_model(proto, full_check=True)


def test_direct_export_passes_polygraphy_lint(tmp_path):
    """polygraphy's lint (the checker, then ONNX Runtime on generated data, node by node)."""
    pytest.importorskip("onnx_graphsurgeon", reason="polygraphy's lint needs onnx_graphsurgeon")
    path = tmp_path / "d.onnx"
    path.write_bytes(
        build_model_proto(make_model(20, 18, width=8, modes=(3, 4), layers=2), conv="direct").SerializeToString()
    )
    polygraphy = Path(sys.executable).with_name("polygraphy")  # the console script beside this Python
    r = subprocess.run([str(polygraphy), "check", "lint", str(path)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "PASSED" in r.stdout + r.stderr, r.stdout + r.stderr
