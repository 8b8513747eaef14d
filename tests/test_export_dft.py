"""`wno-edge export --spectral dft` (issue 26, item 5): the spectral path written with the standard
ONNX DFT op (wno_edge/onnx/spectral_dft.py) for 1-D, 2-D and 3-D models, WNOs (--conv winograd
and direct) and FNOs, at opsets 17 (axis attribute) and 20 (axis input). ONNX Runtime, OpenVINO
and the native engine (its DFT reference kernel) each equal the PyTorch model within 1e-4 of
max|y|; the engine runs 1-D and 2-D ones fused (its plan covers every node, the DFTs with the
MatMul form's GEMMs); the file has DFT nodes and no DFT basis; bad --spectral values are
refused in one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from test_engine import engine_library
from test_export import make_model
from test_export_1d import make_line_model

from wno_edge import runtime
from wno_edge.checkpoint import save_model
from wno_edge.cli import main
from wno_edge.contract import INPUT_NAME
from wno_edge.errors import WNOEdgeError
from wno_edge.model import WNO2d, WNOConfig
from wno_edge.onnx import build_model_proto, export_onnx
from wno_edge.onnx.export import check_model_proto
from wno_edge.onnx.verify import run_onnxruntime

TOLERANCE = 1e-4  # of max|y|


def volume_model(seed: int = 0) -> WNO2d:
    """A small 3-D FNO whose four spectral corners all matter."""
    torch.manual_seed(seed)
    cfg = WNOConfig(2, 1, width=6, modes=(3, 3, 3), n_layers=2, projection_width=8, real_space_kernel=False)
    model = WNO2d(cfg)
    with torch.no_grad():
        for layer in model.layers:
            for w in layer.spectral.corners():
                w.copy_(torch.randn_like(w) / 6)
    return model.eval()


MODELS = {
    "2d-winograd": (lambda: make_model(), (20, 18), "winograd"),  # padded to 22 x 20
    "2d-direct-odd": (lambda: make_model(1), (15, 17), "direct"),  # odd padded sizes
    "2d-fno": (lambda: make_model(2, real_space_kernel=False), (16, 16), "winograd"),
    "1d": (lambda: make_line_model(), (30,), "winograd"),
    "1d-nyquist": (lambda: make_line_model(3, modes=(6,)), (8,), "direct"),  # 6 = all bins of 10 padded points
    "3d": (volume_model, (8, 10, 9), "winograd"),  # an odd W
}


@pytest.fixture(scope="module")
def lib() -> Path:
    return engine_library()


def rel(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.abs(a - b.reshape(a.shape)).max() / np.abs(b).max())


@pytest.mark.parametrize("opset", [17, 20])
@pytest.mark.parametrize("name", list(MODELS))
def test_dft_export_equals_pytorch_on_every_runtime(lib, tmp_path, name, opset):
    make, grid, conv = MODELS[name]
    model = make()
    path = tmp_path / "m.onnx"
    report = export_onnx(model, path, resolution=grid, opset=opset, conv=conv, spectral="dft")
    assert report.ok and report.written, [c.summary() for c in report.comparisons]
    proto = onnx.load(str(path))
    ops = [n.op_type for n in proto.graph.node]
    assert ops.count("DFT") == 2 * len(grid) * len(model.layers)  # per layer: each axis forward and back
    assert not any(t.name.startswith("dft.") for t in proto.graph.initializer)  # no MatMul DFT basis

    x = np.random.default_rng(opset).standard_normal((2, model.config.in_channels, *grid)).astype(np.float32)
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()
    y_ort = run_onnxruntime(proto, {INPUT_NAME: x})
    assert rel(y_ort, want) <= TOLERANCE
    with runtime.load(path, backend="native", library=lib, batch=2) as session:
        y = session.run(x)
        assert rel(y, want) <= TOLERANCE and rel(y, y_ort) <= 1e-5  # the engine equals ORT on the file
        if len(grid) < 3:  # the fused stages take the DFT nodes (3-D runs on reference kernels)
            assert session.plan.startswith(f"plan: fused WNO pipeline, {len(model.layers)} layers"), session.plan
            assert "all covered by fusion patterns" in session.plan and "(DFT)" in session.plan
    pytest.importorskip("openvino")
    with runtime.load(path, backend="openvino", batch=2) as session:
        assert rel(session.run(x), want) <= TOLERANCE


def test_dft_export_in_fp16():
    model = make_model()
    report = export_onnx(model, None, resolution=(20, 18), fp16=True, spectral="dft")
    assert report.ok, [c.summary() for c in report.comparisons]


def test_dft_and_matmul_forms_compute_the_same():
    model = make_model(4)
    x = np.random.default_rng(0).standard_normal((3, 2, 20, 18)).astype(np.float32)
    ys = [
        run_onnxruntime(check_model_proto(build_model_proto(model, resolution=(20, 18), spectral=s)), {INPUT_NAME: x})
        for s in ("matmul", "dft")
    ]
    assert rel(ys[1], ys[0]) <= TOLERANCE


def test_bad_spectral_is_refused():
    with pytest.raises(WNOEdgeError, match="--spectral must be one of matmul, dft, got 'fft'"):
        build_model_proto(make_model(), resolution=(20, 18), spectral="fft")


def test_cli_export_spectral_dft(tmp_path, capsys):
    ckpt = tmp_path / "m.pt"
    save_model(make_model(), ckpt)
    out = tmp_path / "m.onnx"
    assert main(["export", str(ckpt), "-o", str(out), "-r", "20x18", "--spectral", "dft", "--conv", "direct"]) == 0
    printed = capsys.readouterr().out
    assert "--spectral dft runs on:" in printed and "TensorRT 11.2" in printed
    assert "DFT" in {n.op_type for n in onnx.load(str(out)).graph.node}
    assert main(["export", str(ckpt), "-o", str(tmp_path / "x.onnx"), "-r", "20x18", "--spectral", "fft"]) != 0
    err = capsys.readouterr().err.strip()
    assert "--spectral must be one of matmul, dft" in err and "\n" not in err and "Traceback" not in err
    assert not (tmp_path / "x.onnx").exists()


def _edit(proto: onnx.ModelProto, output: str, edit) -> onnx.ModelProto:
    edited = onnx.ModelProto()
    edited.CopyFrom(proto)
    (node,) = [n for n in edited.graph.node if n.output[0] == output]
    edit(edited, node)
    del edited.metadata_props[:]  # the checksums no longer hold
    return edited


def _set_attr(name: str, value: int):
    def edit(_, node):
        for a in node.attribute:
            if a.name == name:
                a.i = value
                return
        node.attribute.append(onnx.helper.make_attribute(name, value))

    return edit


def _scale_mixing(proto, node):
    init = next(t for t in proto.graph.initializer if t.name == node.input[1])
    init.CopyFrom(onnx.numpy_helper.from_array(2 * onnx.numpy_helper.to_array(init), init.name))


@pytest.mark.parametrize(
    "output, edit, fused",
    [
        ("l1.spectral.corner1.mix", _scale_mixing, True),  # other weights, the same pattern
        ("l0.spectral.rfft", _set_attr("onesided", 0), False),  # the full spectrum: not the stage's
        ("l1.spectral.idft0", _set_attr("inverse", 0), False),  # a forward DFT on the way back
    ],
)
def test_edited_dft_export_equals_onnxruntime(lib, tmp_path, output, edit, fused):
    """The engine fuses a DFT-form layer only as the exporter writes it; edited, it equals ONNX
    Runtime either way (the layers no pattern takes run on the reference kernels)."""
    model = make_model(5, real_space_kernel=False)
    proto = _edit(build_model_proto(model, resolution=(16, 16), opset=17, spectral="dft"), output, edit)
    path = tmp_path / "edited.onnx"
    path.write_bytes(proto.SerializeToString())
    x = np.random.default_rng(2).standard_normal((2, 2, 16, 16)).astype(np.float32)
    with runtime.load(path, backend="native", library=lib, batch=2, verify_checksum=False) as session:
        assert rel(session.run(x), run_onnxruntime(proto, {INPUT_NAME: x})) <= 1e-5
        assert ("all covered by fusion patterns" in session.plan) == fused, session.plan


@pytest.mark.parametrize("name", ["dense-default", "tucker-odd-softgating-pad", "linear-mlpskip-1lift-pad2"])
def test_neuralop_import_in_dft_form_runs_fused(lib, tmp_path, name):
    """A neuraloperator FNO, imported and exported with DFT nodes: ONNX Runtime equals
    neuraloperator within 1e-4, the engine runs it fused and equals ONNX Runtime within 1e-5."""
    pytest.importorskip("neuralop.models")
    from test_neuralop import make_fno

    from wno_edge.importers.neuralop import from_neuralop

    fno = make_fno(name)
    torch.save(fno.state_dict(), tmp_path / "fno.pt")
    path = tmp_path / "fno.onnx"
    report = export_onnx(from_neuralop(tmp_path / "fno.pt"), path, resolution=(16, 16), spectral="dft", reference=fno)
    assert report.ok, [c.summary() for c in report.comparisons]
    x = np.random.default_rng(3).standard_normal((2, 2, 16, 16)).astype(np.float32)
    with torch.no_grad():
        want = fno(torch.from_numpy(x)).numpy()
    y_ort = run_onnxruntime(onnx.load(str(path)), {INPUT_NAME: x})
    assert rel(y_ort, want) <= TOLERANCE
    with runtime.load(path, backend="native", library=lib, batch=2) as session:
        assert rel(session.run(x), y_ort) <= 1e-5
        assert "all covered by fusion patterns" in session.plan, session.plan
