"""The FFT-free 1-D export (issue 23, item 4): a WNO2d with one Fourier mode count on (N, C, X)
written as MatMuls (the truncated rfft/irfft along X), WinogradConv on rank-3 input (a (K, C, 3)
kernel, export/SPEC.md) or a plain Conv (--conv direct), a 1x1 Conv for the FNO (k = 0).

Each export is checked as the 2-D one is (ONNX Runtime and onnx.reference against PyTorch, within
the export's tolerance), the native engine runs it on its reference kernels (its plan says so) and
equals ONNX Runtime within 1e-5 of max|y|, and what the exporter cannot do is refused in one line.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from test_engine import engine_library

from wno_edge import runtime
from wno_edge.checkpoint import save_model
from wno_edge.cli import main
from wno_edge.contract import EXPORT_OPS, FP16, FP32, SAMPLE_INPUTS_KEY, Initializer, Metadata
from wno_edge.errors import WNOEdgeError
from wno_edge.model import WNO2d, WNOConfig
from wno_edge.onnx import TOLERANCE, build_model_proto, export_onnx
from wno_edge.onnx.graph import DOMAIN, OP_TYPE
from wno_edge.onnx.spectral import line_bases, mixing_matrix
from wno_edge.onnx.verify import graph_stats, run_onnxruntime
from wno_edge.runtime.native_backend import LIBRARY_ENV
from wno_edge.winograd import conv3_cost

X = 48  # padded to 50 by the default domain padding
ENGINE_TOLERANCE = 1e-5  # of max |y_ort|: the engine computes the graph as ONNX Runtime does


def make_line_model(seed: int = 0, **overrides) -> WNO2d:
    """A small 1-D WNO whose spectral path and 3-tap kernel both matter (the default init makes
    them tiny), with statistics that are not the identity."""
    torch.manual_seed(seed)
    cfg = dict(in_channels=2, out_channels=2, width=8, modes=(6,), n_layers=3, projection_width=16, resolution=(X,))
    cfg.update(overrides)
    model = WNO2d(WNOConfig(**cfg))
    w = cfg["width"]
    with torch.no_grad():
        for layer in model.layers:
            layer.spectral.weights1.copy_(torch.randn_like(layer.spectral.weights1) / w)
            if layer.kernel is not None:
                layer.kernel.normal_(0, 1 / (3 * w) ** 0.5)
    c_in, c_out = cfg["in_channels"], cfg["out_channels"]
    model.set_normalization(
        torch.linspace(-1, 2, c_in),
        torch.linspace(0.5, 3, c_in),
        torch.linspace(0.1, -0.2, c_out),
        torch.linspace(0.5, 2, c_out),
    )
    return model.eval()


# name -> (model overrides, export options)
KINDS = {
    "wno-t2": ({}, {"tile": 2}),
    "wno-t4": ({}, {"tile": 4}),
    "wno-t6": ({}, {"tile": 6}),
    "fno": ({"real_space_kernel": False}, {}),
    "direct": ({}, {"conv": "direct"}),
}


@pytest.fixture(scope="module")
def lib() -> Path:
    return engine_library()


@pytest.fixture(scope="module")
def exports(tmp_path_factory) -> dict[str, tuple[WNO2d, Path, object]]:
    """Every kind exported once: (model, file, report)."""
    out = {}
    folder = tmp_path_factory.mktemp("exports_1d")
    for i, (name, (overrides, options)) in enumerate(KINDS.items()):
        model = make_line_model(seed=i, **overrides)
        path = folder / f"{name}.onnx"
        out[name] = (model, path, export_onnx(model, path, **options))
    return out


def _attrs(node: onnx.NodeProto) -> dict:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


# ---- the graph -----------------------------------------------------------------------------------


def test_line_bases_are_the_truncated_rfft_and_irfft():
    """fwd: [Re | Im] of rfft(v)[:m] / sqrt(n); inv: irfft of m kept frequencies * sqrt(n) (odd and
    even n, the Nyquist frequency of an even n counted once)."""
    rng = np.random.default_rng(0)
    for n, m in ((50, 6), (31, 16), (16, 9)):
        fwd, inv = line_bases(n, m)
        v = rng.standard_normal((3, n))
        spectrum = np.fft.rfft(v)[:, :m]
        np.testing.assert_allclose(v @ fwd, np.concatenate([spectrum.real, spectrum.imag], 1) / np.sqrt(n), atol=1e-12)
        z = rng.standard_normal((3, m)) + 1j * rng.standard_normal((3, m))
        full = np.zeros((3, n // 2 + 1), complex)
        full[:, :m] = z
        np.testing.assert_allclose(
            np.concatenate([z.real, z.imag], 1) @ inv, np.fft.irfft(full, n) * np.sqrt(n), atol=1e-12
        )


def test_mixing_matrix_of_a_line_is_modes_first():
    w = torch.randn(3, 4, 5, dtype=torch.cfloat)
    mix = mixing_matrix(w)
    assert mix.shape == (5, 3, 8)
    np.testing.assert_array_equal(mix[2, 1], np.concatenate([w[1, :, 2].real.numpy(), w[1, :, 2].imag.numpy()]))


@pytest.mark.parametrize("name", sorted(KINDS))
def test_export_equals_pytorch_and_has_the_1d_graph(exports, name):
    model, path, report = exports[name]
    assert report.written and report.ok and report.options.resolution == (X,)
    for c in report.comparisons:  # ORT (function inlined) and onnx.reference (the numpy Winograd kernel)
        assert c.relative <= TOLERANCE[FP32], c.summary()
    proto = onnx.load(path)
    onnx.checker.check_model(proto, full_check=True)
    dims = [
        [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
        for v in (*proto.graph.input, *proto.graph.output)
    ]
    assert dims == [["batch", 2, X], ["batch", 2, X]]
    ops = {n.op_type for n in proto.graph.node if n.domain != DOMAIN}
    assert ops <= set(EXPORT_OPS), ops - set(EXPORT_OPS)
    inits = {t.name: list(t.dims) for t in proto.graph.initializer}
    assert inits[Initializer.DFT_FWD_W] == [X + 2, 12] and inits[Initializer.DFT_INV_W] == [12, X + 2]
    assert Initializer.DFT_FWD_H not in inits and Initializer.DFT_INV_H not in inits
    assert inits[Initializer.LAYER_MIXING.format(i=0)] == [6, 1, 8, 16]
    assert inits[Initializer.INPUT_MEAN] == [1, 2, 1] and inits[Initializer.LIFT_CONSTANT] == [1, 8, X + 2]
    winograd = [n for n in proto.graph.node if n.domain == DOMAIN and n.op_type == OP_TYPE]
    convs = {n.name: _attrs(n) for n in proto.graph.node if n.op_type == "Conv"}
    assert all(len(a["kernel_shape"]) == 1 for a in convs.values()), convs
    props = {p.key: p.value for p in proto.metadata_props}
    assert props[Metadata.RESOLUTION] == str(X) and json.loads(props[Metadata.CONFIG])["modes"] == [6]
    if name.startswith("wno"):
        tile = int(name[-1])
        assert len(winograd) == 3 and all(_attrs(n)["tile"] == tile and _attrs(n)["padding"] == 1 for n in winograd)
        assert inits[Initializer.LAYER_KERNEL.format(i=0)] == [8, 8, 3]
        (fn,) = proto.functions
        (body,) = fn.node
        assert _attrs(body) == {"kernel_shape": [3], "pads": [1, 1], "strides": [1], "dilations": [1], "group": 1}
        assert props[Metadata.CONV] == "winograd" and props[Metadata.TILE] == str(tile)
        stats = graph_stats(onnx.shape_inference.infer_shapes(proto))
        cost = conv3_cost(8, 8, X + 2, tile)
        assert stats.winograd_multiplies == 3 * cost.multiplies and stats.winograd_direct_macs == 3 * 8 * 8 * 3 * (
            X + 2
        )
    else:
        assert not winograd and not proto.functions
        kernels = [tuple(a["kernel_shape"]) for a in convs.values()]
        assert kernels.count((3,)) == (3 if name == "direct" else 0)
        if name == "direct":
            assert all(a["pads"] == [1, 1] for a in convs.values() if a["kernel_shape"] == [3])
        else:
            assert props[Metadata.CONV] == "pointwise (FNO)"
            assert inits[Initializer.LAYER_POINTWISE.format(i=0)] == [8, 8, 1]


def test_export_is_the_model_not_a_constant(exports):
    """The comparison would pass for a model whose output ignored its input: it does not here, and
    the 3-tap kernel's direction changes the output well beyond the tolerance (a kernel exported
    reversed would be caught)."""
    model, path, _ = exports["wno-t4"]
    x = np.random.default_rng(1).standard_normal((2, 2, X)).astype(np.float32)
    y = run_onnxruntime(onnx.load(path), {"input": x})
    assert y.std(axis=-1).min() > 0.02 * np.abs(y).max()  # every channel varies along X
    mirrored = copy.deepcopy(model)
    with torch.no_grad():
        for layer in mirrored.layers:
            layer.kernel.copy_(layer.kernel.flip(-1))
        y_mirrored = mirrored(torch.from_numpy(x)).numpy()
    assert np.abs(y_mirrored - y).max() > 100 * TOLERANCE[FP32] * np.abs(y).max()


@pytest.mark.parametrize(
    "overrides, options",
    [
        ({}, {"fp16": True}),
        ({}, {"batch": 3, "opset": 20}),
        (
            {
                "domain_padding": 0,
                "domain_padding_fraction": (0.25,),
                "grid_points": "centers",
                "grid_domain": ((-1.0, 2.0),),
            },
            {},
        ),
        (
            {
                "block": "neuralop",
                "lifting_width": 16,
                "channel_mlp_width": 8,
                "channel_mlp_skip": True,
                "domain_padding": 0,
                "domain_padding_fraction": (0.125,),
            },
            {"opset": 20},
        ),
        ({"grid": False, "domain_padding": 0}, {"tile": 6}),
    ],
    ids=["fp16", "batch3-opset20", "symmetric-padding-centres", "neuralop-block", "no-grid-no-padding"],
)
def test_export_options_and_model_variants(overrides, options):
    model = make_line_model(seed=7, **overrides)
    report = export_onnx(model, None, **options)
    precision = FP16 if options.get("fp16") else FP32
    assert report.ok and all(c.relative <= TOLERANCE[precision] for c in report.comparisons), [
        c.summary() for c in report.comparisons
    ]


def test_checkpoint_sample_inputs_are_used(tmp_path):
    model = make_line_model()
    samples = torch.randn(2, 2, X) * 2
    path = save_model(model, tmp_path / "m.pt", {SAMPLE_INPUTS_KEY: samples})
    report = export_onnx(path, tmp_path / "m.onnx")
    assert report.ok and report.inputs == "2 test samples stored in the checkpoint"


# ---- the native engine ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(KINDS))
def test_engine_runs_a_1d_export_fused(lib, exports, name):
    """The fused pipeline covers the 1-D graph (its spectral chain has no H transform, the
    Winograd kernel runs F(m, 3) on the line) and computes what ONNX Runtime does."""
    _, path, _ = exports[name]
    x = (np.random.default_rng(3).standard_normal((2, 2, X)) * 2 + 0.3).astype(np.float32)
    y_ort = run_onnxruntime(onnx.load(path), {"input": x})
    with runtime.load(path, backend="native", threads=2, batch=2, library=lib) as s:
        plan = s.plan
        y = s.run(x).copy()
    assert plan.startswith("plan: fused WNO pipeline, 3 layers") and "all covered by fusion patterns" in plan
    assert "input (2, 2, 48) -> output (2, 2, 48)" in plan and "checksum verified" in plan
    kernel = {"fno": "1x1 conv GEMM", "direct": "Winograd F(4,3)"}.get(name, f"Winograd F({name[-1]},3)")
    assert kernel in plan, plan
    scale = float(np.abs(y_ort).max())
    assert np.abs(y - y_ort).max() <= ENGINE_TOLERANCE * scale, (float(np.abs(y - y_ort).max()), scale)


@pytest.mark.parametrize("kernel", [True, False], ids=["wno", "fno"])
def test_engine_line_groups_and_split_projection(lib, tmp_path, monkeypatch, kernel):
    """Rows (batch x channels) that are not a whole number of the line DFT's row groups, an odd
    padded length, a projection cut into column chunks (three rows for two threads), and the
    batch in passes of 2 images: the fused pipeline still equals ONNX Runtime, at 1 and 2
    threads."""
    model = make_line_model(seed=5, width=20, modes=(10,), resolution=(301,), real_space_kernel=kernel)
    path = tmp_path / "m.onnx"
    export_onnx(model, path, resolution=(301,))
    x = np.random.default_rng(4).standard_normal((3, 2, 301)).astype(np.float32)
    y_ort = run_onnxruntime(onnx.load(path), {"input": x})
    scale = float(np.abs(y_ort).max())
    for threads, passes in ((1, "3"), (2, "3"), (2, "2")):  # passes of 2 images: the last of 1
        monkeypatch.setenv("WNO_ENGINE_PASS_IMAGES", passes)
        with runtime.load(path, backend="native", threads=threads, batch=3, library=lib) as s:
            assert "all covered by fusion patterns" in s.plan.splitlines()[0]
            assert (passes == "2") == ("in passes of 2 images" in s.plan)
            err = float(np.abs(s.run(x) - y_ort).max())
        assert err <= ENGINE_TOLERANCE * scale, (threads, passes, err, scale)


def test_cli_export_info_and_plan(lib, tmp_path, capsys, monkeypatch):
    checkpoint = save_model(make_line_model(), tmp_path / "m.pt")
    out = tmp_path / "m.onnx"
    assert main(["export", str(checkpoint), "-o", str(out), "--tile", "2"]) == 0
    text = capsys.readouterr().out
    assert "48, dynamic" in text and "WinogradConv F(2,3)" in text and "3-tap conv" in text
    assert main(["info", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["grid"] == [X] and summary["metadata"][Metadata.RESOLUTION] == str(X)
    assert summary["architecture"] == "WNO1d"
    monkeypatch.setenv(LIBRARY_ENV, str(lib))
    assert main(["info", str(out), "--plan"]) == 0
    plan = capsys.readouterr().out
    assert "all covered by fusion patterns" in plan and "Winograd F(2,3)" in plan


# ---- refusals ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"resolution": "48x48"}, "a 1-D model's resolution is one length, like 1024, got '48x48'"),
        ({"resolution": (48, 48)}, "a 1-D model's resolution is one length, like 1024, got '48x48'"),
        ({"resolution": "forty"}, "resolution must look like 1024 (a 1-D model)"),
        ({"resolution": 0}, "resolution must be positive, got 0"),
        ({"resolution": 6}, "too small for 6 Fourier modes"),  # padded to 8 points: 5 frequencies
        ({"inputs": np.zeros((2, 2, 40), np.float32)}, "test inputs must have shape (2, 2, 48)"),
    ],
)
def test_refusals_are_one_line(kwargs, message, tmp_path):
    with pytest.raises(WNOEdgeError) as info:
        export_onnx(make_line_model(), tmp_path / "m.onnx", **kwargs)
    assert message in str(info.value) and len(str(info.value).splitlines()) == 1
    assert not (tmp_path / "m.onnx").exists()


def test_cli_refusal_is_one_line(tmp_path, capsys):
    checkpoint = save_model(make_line_model(), tmp_path / "m.pt")
    assert main(["export", str(checkpoint), "-o", str(tmp_path / "m.onnx"), "-r", "48x48"]) == 1
    err = capsys.readouterr().err.strip()
    assert "a 1-D model's resolution is one length" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "m.onnx").exists()


def test_a_model_without_a_recorded_grid_names_the_1d_form():
    model = make_line_model(resolution=None)
    with pytest.raises(WNOEdgeError, match=r"pass --resolution X \(e\.g\. 1024\)"):
        build_model_proto(model)
    assert build_model_proto(model, resolution=32).graph.input[0].type.tensor_type.shape.dim[2].dim_value == 32
