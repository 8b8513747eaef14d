"""Which runtimes read each export flavour (`--conv winograd|direct`): a direct file is standard
ops that the ONNX checker accepts and that TensorRT's ONNX parser supports without a plugin
(checked against its operator list, committed as data in export/tensorrt_onnx_ops.json with its
version and source); a winograd file needs only the WinogradConv plugin beyond that. A
`--spectral dft` file adds the DFT op alone, which that list (TensorRT 10.1) lacks: TensorRT parses
it from 11.2 on (issue 26), whose operator list is in no snapshot here (the TensorRT repository's
newest tag is v11.1 and its parser is a submodule; onnx-tensorrt's newest is 10.1-GA)."""

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


@pytest.mark.parametrize("conv", ["winograd", "direct"])
@pytest.mark.parametrize("opset", [17, 20])
def test_dft_file_needs_tensorrt_only_for_its_dft(conv, opset):
    """Every node of a --spectral dft file but DFT is in TensorRT 10.1's parser list, which lists
    DFT as unsupported; DFT's axis is an attribute or an initializer, as are Pad's and Slice's."""
    model = make_model(20, 18, width=8, modes=(3, 4), layers=2)
    proto = build_model_proto(model, opset=opset, conv=conv, spectral="dft")
    lo, hi = TRT["opsets"]
    assert lo <= opset <= hi
    standard = {n.op_type for n in proto.graph.node if n.domain in ("", "ai.onnx")}
    assert "DFT" in standard and "DFT" in TRT["not_supported"] and "DFT" not in TRT["supported"]
    assert standard - {"DFT"} <= set(TRT["supported"]), standard - set(TRT["supported"])
    assert "MatMul" in standard  # the complex mixing; no DFT basis initializer is left
    names = {t.name for t in proto.graph.initializer}
    assert not any(name.startswith("dft.") for name in names)
    for n in proto.graph.node:
        if n.op_type in ("Slice", "Pad", "DFT"):
            assert all(i in names for i in n.input[1:] if i), (n.name, list(n.input))
    onnx.checker.check_model(proto, full_check=True)
