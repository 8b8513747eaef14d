"""ONNX export: exact DFT folding, graph structure, every option, and the export command."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
import torch.nn.functional as F
from onnx import TensorProto

from wno_edge.checkpoint import save_model
from wno_edge.cli import main as cli_main
from wno_edge.contract import COMBINE_COMPLEX as CONTRACT_COMBINE
from wno_edge.contract import DEFAULT_OPSET, EXPORT_OPS, MAX_OPSET, Initializer
from wno_edge.errors import WNOEdgeError
from wno_edge.model import SpectralConv2d, WNO2d, WNOConfig
from wno_edge.onnx import TOLERANCE, ExportError, build_model_proto, check_model_proto, export_onnx
from wno_edge.onnx import verify as onnx_verify
from wno_edge.onnx.graph import DOMAIN, OP_TYPE
from wno_edge.onnx.spectral import COMBINE_COMPLEX, dft_bases, mixing_matrix
from wno_edge.onnx.verify import graph_stats, random_inputs, run_onnxruntime, run_reference
from wno_edge.util.shapes import parse_resolution
from wno_edge.winograd import conv3x3_cost

RES = (20, 18)  # padded to 22 x 20 by the default domain padding


def make_model(seed: int = 0, **overrides) -> WNO2d:
    """A small WNO with trained-looking weights: the spectral path and the 3x3 kernel matter
    (the default init makes both tiny) and the normalisation is not the identity."""
    torch.manual_seed(seed)
    cfg = dict(in_channels=2, out_channels=2, width=8, modes=(4, 5), n_layers=2, projection_width=16, winograd_tile=4)
    cfg.update(overrides)
    model = WNO2d(WNOConfig(**cfg))
    with torch.no_grad():
        for layer in model.layers:
            w = cfg["width"]
            layer.spectral.weights1.copy_(torch.randn_like(layer.spectral.weights1) / w)
            layer.spectral.weights2.copy_(torch.randn_like(layer.spectral.weights2) / w)
            if layer.kernel is not None:
                layer.kernel.normal_(0, 1 / (3 * w**0.5))
    c_in, c_out = cfg["in_channels"], cfg["out_channels"]
    model.set_normalization(
        torch.linspace(-1, 2, c_in),
        torch.linspace(0.5, 3, c_in),
        torch.linspace(1, -2, c_out),
        torch.linspace(0.2, 4, c_out),
    )
    return model.eval()


def torch_output(model: WNO2d, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


def rel_err(y, ref) -> float:
    return float(np.max(np.abs(np.asarray(y, np.float64) - ref)) / np.max(np.abs(ref)))


def all_nodes(model: onnx.ModelProto):
    yield from model.graph.node
    for f in model.functions:
        yield from f.node


@pytest.fixture(scope="module")
def model() -> WNO2d:
    return make_model()


@pytest.fixture(scope="module")
def exported(model) -> onnx.ModelProto:
    return check_model_proto(build_model_proto(model, resolution=RES))


# ----------------------------------------------------------------------------- spectral math


@pytest.mark.parametrize(
    "h,w,m1,m2",
    [
        (22, 20, 4, 5),  # ordinary
        (16, 16, 8, 9),  # m1 = H/2 (corners meet), m2 reaches the Nyquist column of an even W
        (15, 17, 7, 9),  # odd H and W: no Nyquist column, m2 = (W+1)/2
        (12, 10, 3, 6),  # Nyquist column again, non-square
    ],
)
def test_truncated_dft_equals_rfft2_path(h, w, m1, m2):
    """The real bases + block mixing reproduce SpectralConv2d (torch.fft) to float64 rounding."""
    torch.manual_seed(1)
    sc = SpectralConv2d(3, 4, (m1, m2))
    # Complex weights everywhere, so column 0 and the Nyquist column get imaginary parts
    # that irfft2 drops: the bases must drop them too.
    w1 = torch.randn(3, 4, m1, m2, dtype=torch.cdouble)
    w2 = torch.randn(3, 4, m1, m2, dtype=torch.cdouble)
    sc.weights1, sc.weights2 = torch.nn.Parameter(w1), torch.nn.Parameter(w2)
    x = torch.randn(2, 3, h, w, dtype=torch.double)
    expected = sc(x).detach().numpy()

    b = dft_bases(h, w, m1, m2)
    mix = mixing_matrix(w1, w2)
    n, c, o, k1 = 2, 3, 4, 2 * m1
    a = (x.numpy() @ b.fwd_w).reshape(n, c, h, 2, m2).transpose(0, 1, 3, 2, 4).reshape(n, c, 2 * h, m2)
    xs = (b.fwd_h @ a).reshape(n, c, 2, k1 * m2).transpose(3, 0, 2, 1)  # (modes, n, 2, c)
    ys = (xs @ mix[:, None]).reshape(k1 * m2, n, 4, o).transpose(0, 1, 3, 2) @ COMBINE_COMPLEX
    ys = ys.transpose(1, 2, 3, 0).reshape(n, o, 2 * k1, m2)
    z = (b.inv_h @ ys).reshape(n, o, 2, h, m2).transpose(0, 1, 3, 2, 4).reshape(n, o, h, 2 * m2)
    y = z @ b.inv_w
    assert np.max(np.abs(y - expected)) <= 1e-12 * np.max(np.abs(expected))


# ----------------------------------------------------------------------------- graph structure


def test_graph_is_fft_free_and_real(exported):
    ops = {n.op_type for n in all_nodes(exported)}
    assert not ops & {"DFT", "STFT"}
    complex_types = {TensorProto.COMPLEX64, TensorProto.COMPLEX128}
    g = exported.graph
    for vi in [*g.input, *g.output, *g.value_info]:
        assert vi.type.tensor_type.elem_type not in complex_types, vi.name
    assert all(t.data_type not in complex_types for t in g.initializer)
    assert ops <= {*EXPORT_OPS, OP_TYPE}  # the native engine refuses any other op
    assert "Gelu" not in ops  # opset 17: GELU is Div, Erf, Add, Mul


def test_initializers_carry_the_contract_names(model, exported):
    """The names the native engine reads back (contract.Initializer, contract.h) are the ones
    written; this model has statistics, a 3x3 kernel per layer and no neuraloperator MLPs."""
    names = {t.name for t in exported.graph.initializer}
    n = Initializer
    fixed = [v for k, v in vars(n).items() if not k.startswith("_") and "{i}" not in v]
    optional = {n.LIFT2_WEIGHT, n.LIFT2_BIAS}
    assert set(fixed) - optional <= names and not optional & names
    for i in range(model.config.n_layers):
        assert {n.LAYER_BIAS.format(i=i), n.LAYER_KERNEL.format(i=i), n.LAYER_MIXING.format(i=i)} <= names
        assert n.LAYER_POINTWISE.format(i=i) not in names  # W is folded into the kernel
    combine = next(t for t in exported.graph.initializer if t.name == n.COMBINE_COMPLEX)
    np.testing.assert_array_equal(onnx.numpy_helper.to_array(combine), np.array(CONTRACT_COMBINE, np.float32))


def test_one_winograd_conv_per_layer_with_fallback_function(model, exported):
    nodes = [n for n in exported.graph.node if n.op_type == OP_TYPE]
    assert len(nodes) == model.config.n_layers
    for i, node in enumerate(nodes):
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        assert node.domain == DOMAIN
        assert attrs == {"tile": 4, "padding": 1, "plugin_version": b"1", "plugin_namespace": b""}
        weight = onnx.numpy_helper.to_array(next(t for t in exported.graph.initializer if t.name == node.input[1]))
        np.testing.assert_array_equal(weight, model.layers[i].real_space_weight().detach().numpy())
    imports = {o.domain: o.version for o in exported.opset_import}
    assert imports == {"": DEFAULT_OPSET, DOMAIN: 1}
    assert exported.ir_version == 8  # set explicitly: the lowest that carries opset 17 and local functions
    (fn,) = exported.functions
    assert (fn.domain, fn.name) == (DOMAIN, OP_TYPE)
    assert set(fn.attribute) == {"tile", "padding", "plugin_version", "plugin_namespace"}
    (conv,) = fn.node
    assert conv.op_type == "Conv"
    assert onnx.helper.get_attribute_value(next(a for a in conv.attribute if a.name == "pads")) == [1, 1, 1, 1]


def test_interface_dynamic_batch_and_metadata(model, exported):
    (inp,), (out,) = exported.graph.input, exported.graph.output
    dims = lambda vi: [d.dim_param or d.dim_value for d in vi.type.tensor_type.shape.dim]  # noqa: E731
    assert dims(inp) == ["batch", 2, *RES] and dims(out) == ["batch", 2, *RES]
    assert inp.type.tensor_type.elem_type == out.type.tensor_type.elem_type == TensorProto.FLOAT
    props = {p.key: p.value for p in exported.metadata_props}
    assert props["wno_edge.resolution"] == "20x18" and props["wno_edge.batch"] == "dynamic"
    assert WNOConfig.from_dict(json.loads(props["wno_edge.config"])) == model.config
    for batch in (1, 3):
        x = random_inputs(model, RES, batch, seed=batch)
        assert rel_err(run_onnxruntime(exported, {"input": x}), torch_output(model, x)) < 1e-5


def test_inlining_the_function_gives_a_standard_model(model, exported):
    """What TensorRT without the plugin, or any function-aware tool, sees."""
    from onnx import inliner

    plain = inliner.inline_local_functions(exported)
    assert not plain.functions and all(n.domain == "" for n in plain.graph.node)
    assert [n.op_type for n in plain.graph.node].count("Conv") == 3 + model.config.n_layers
    onnx.checker.check_model(plain, full_check=True)
    x = random_inputs(model, RES, 2, seed=7)
    assert rel_err(run_onnxruntime(plain, {"input": x}), torch_output(model, x)) < 1e-5


def test_reference_evaluator_runs_the_local_function(model, exported):
    x = random_inputs(model, RES, 2, seed=5)
    expected = torch_output(model, x)
    assert rel_err(run_reference(exported, {"input": x}, winograd_kernel=False), expected) < 1e-5
    assert rel_err(run_reference(exported, {"input": x}, winograd_kernel=True), expected) < 1e-5


def test_normalisation_is_in_graph_and_skipped_when_identity():
    ops = lambda m: [n.op_type for n in build_model_proto(m, resolution=RES).graph.node]  # noqa: E731
    with_stats = ops(make_model())
    assert with_stats[:2] == ["Sub", "Div"] and with_stats[-3:] == ["Conv", "Mul", "Add"]
    plain = make_model()
    plain.set_normalization([0, 0], [1, 1], [0, 0], [1, 1])
    assert ops(plain)[0] == "Pad" and ops(plain)[-2:] == ["Mul", "Conv"]  # GELU ends in Mul; project2 last


# ----------------------------------------------------------------------------- options


@pytest.mark.parametrize("conv,tile", [("winograd", 2), ("winograd", 4), ("winograd", 6), ("direct", None)])
def test_conv_and_tile_options_match_pytorch(model, conv, tile):
    report = export_onnx(model, None, resolution=RES, conv=conv, tile=tile)
    assert report.ok and len(report.comparisons) == 2
    for c in report.comparisons:
        assert c.error is None and c.relative < 1e-5, c.summary()
    wino = report.stats.node_counts.get(f"{DOMAIN}::{OP_TYPE}", 0)
    if conv == "direct":
        assert wino == 0 and report.stats.node_counts["Conv"] == 3 + model.config.n_layers
        assert report.stats.function_node_counts == {}
    else:
        assert wino == model.config.n_layers and report.options.tile == tile


def test_tile_defaults_to_the_model_config():
    proto = build_model_proto(make_model(winograd_tile=2), resolution=RES)
    tiles = {a.i for n in proto.graph.node if n.op_type == OP_TYPE for a in n.attribute if a.name == "tile"}
    assert tiles == {2}


def test_fixed_batch(model):
    proto = check_model_proto(build_model_proto(model, resolution=RES, batch=3))
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_value == 3
    x = random_inputs(model, RES, 3)
    assert rel_err(run_onnxruntime(proto, {"input": x}), torch_output(model, x)) < 1e-5
    from onnxruntime.capi.onnxruntime_pybind11_state import InvalidArgument

    with pytest.raises(InvalidArgument, match="dimension"):
        run_onnxruntime(proto, {"input": random_inputs(model, RES, 2)})


@pytest.mark.parametrize("opset", [18, 20, MAX_OPSET])
def test_opsets(model, opset):
    report = export_onnx(model, None, resolution=RES, opset=opset)
    assert report.ok, [c.summary() for c in report.comparisons]
    counts = report.stats.node_counts
    n_gelu = model.config.n_layers  # between layers (n - 1) and inside the projection (1)
    assert (counts.get("Gelu", 0), counts.get("Erf", 0)) == ((n_gelu, 0) if opset >= 20 else (0, n_gelu))
    assert 8 <= report.ir_version <= 13  # ORT 1.31 reads at most IR 13


def test_fp16(model):
    report = export_onnx(model, None, resolution=RES, fp16=True)
    assert report.ok and report.tolerance == TOLERANCE["fp16"]
    fp32 = export_onnx(model, None, resolution=RES)
    for half, full in zip(report.comparisons, fp32.comparisons, strict=False):
        assert 1e-5 < half.relative < TOLERANCE["fp16"]  # really computed in half precision
        assert half.relative > 10 * full.relative
    proto = build_model_proto(model, resolution=RES, fp16=True)
    types = {t.data_type for t in proto.graph.initializer if t.data_type != TensorProto.INT64}
    assert types == {TensorProto.FLOAT16}
    assert "Cast" not in {n.op_type for n in proto.graph.node}
    for vi in (proto.graph.input[0], proto.graph.output[0]):
        assert vi.type.tensor_type.elem_type == TensorProto.FLOAT16
    assert report.stats.parameter_bytes < 0.6 * fp32.stats.parameter_bytes


def test_fno_special_case_exports_a_pointwise_conv():
    model = make_model(real_space_kernel=False)
    report = export_onnx(model, None, resolution=RES)
    assert report.ok, [c.summary() for c in report.comparisons]
    proto = build_model_proto(model, resolution=RES)
    assert OP_TYPE not in {n.op_type for n in proto.graph.node} and not proto.functions
    assert {o.domain for o in proto.opset_import} == {""}
    kernels = [n for n in proto.graph.node if n.op_type == "Conv" and ".pointwise" in n.output[0]]
    assert len(kernels) == 2 and all(a.ints == [1, 1] for n in kernels for a in n.attribute if a.name == "kernel_shape")


@pytest.mark.parametrize(
    "overrides,resolution",
    [
        (dict(grid=False), (16, 24)),
        (dict(domain_padding=0), (16, 24)),
        (dict(in_channels=1, out_channels=3), (16, 24)),
        (dict(modes=(8, 9)), (14, 14)),  # padded 16x16: row corners meet, m2 reaches the Nyquist column
        (dict(modes=(3, 7)), (11, 11)),  # padded 13x13: odd, no Nyquist column, m2 = (W + 1) / 2
    ],
)
def test_config_variants(overrides, resolution):
    model = make_model(**overrides)
    report = export_onnx(model, None, resolution=resolution)
    assert report.ok, [c.summary() for c in report.comparisons]
    if overrides.get("domain_padding") == 0:
        assert "Pad" not in report.stats.node_counts and "Slice" not in report.stats.node_counts


def test_resolution_from_config_and_parsing():
    model = make_model(resolution=(16, 20))
    proto = build_model_proto(model)
    assert [d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim][2:] == [16, 20]
    assert parse_resolution("64x48") == (64, 48) and parse_resolution("32") == (32, 32)
    for bad in ("64x", "ax4", "0x8", "1x2x3"):
        with pytest.raises(WNOEdgeError):
            parse_resolution(bad)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(), "pass --resolution"),
        (dict(resolution=(5, 20)), "too small"),  # padded H = 7 < 2 * m1 = 8
        (dict(resolution=(20, 18), conv="direct", tile=6), "--tile applies to --conv winograd only"),
        (dict(resolution=(20, 18), tile=3), "--tile must be one of"),
        (dict(resolution=(20, 18), conv="fft"), "--conv must be one of"),
        (dict(resolution=(20, 18), opset=16), "--opset must be between"),
        (dict(resolution=(20, 18), opset=MAX_OPSET + 1), "--opset must be between"),
        (dict(resolution=(20, 18), batch=0), "--batch must be a positive"),
    ],
)
def test_bad_options(model, kwargs, message):
    with pytest.raises(WNOEdgeError, match=message.replace("-", r"\-")):
        build_model_proto(model, **kwargs)


# ----------------------------------------------------------------------------- statistics


def test_graph_stats_count_macs(model, exported):
    s = graph_stats(exported)
    cfg, (h, w) = model.config, RES
    hp, wp, (m1, m2), c = h + 2, w + 2, cfg.modes, cfg.width
    conv = cfg.n_layers * c * c * 9 * hp * wp
    dft = 2 * (hp * wp * 2 * m2 + 2 * (2 * m1) * 2 * hp * m2)  # per channel, forward + inverse
    mixing = 2 * m1 * m2 * ((2 * c) * (2 * c) + c * 4 * 2)  # four real products, then combined
    pointwise = h * w * cfg.projection_width * (c + cfg.out_channels) + hp * wp * c * cfg.in_channels
    assert s.winograd_direct_macs == conv
    assert s.macs == conv + cfg.n_layers * (c * dft + mixing) + pointwise
    assert s.winograd_multiplies == cfg.n_layers * conv3x3_cost(c, c, hp, wp, 4).multiplies
    assert s.parameter_bytes == sum(t.nbytes for t in map(onnx.numpy_helper.to_array, exported.graph.initializer))


# ----------------------------------------------------------------------------- writing, failure, CLI


def test_export_writes_a_loadable_file(tmp_path, model):
    path = tmp_path / "m.onnx"
    report = export_onnx(model, path, resolution=RES)
    assert report.written and not report.forced and report.file_bytes == path.stat().st_size
    assert os.stat(path).st_mode & 0o044  # readable by others, unlike mkstemp's 0600
    loaded = onnx.load(path)
    onnx.checker.check_model(loaded, full_check=True)
    x = random_inputs(model, RES, 2)
    assert rel_err(run_onnxruntime(loaded, {"input": x}), torch_output(model, x)) < 1e-5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]


def test_accuracy_failure_writes_nothing_unless_forced(tmp_path, model, monkeypatch):
    real = onnx_verify.run_onnxruntime
    monkeypatch.setattr(onnx_verify, "run_onnxruntime", lambda proto, feeds: real(proto, feeds) * 1.01)
    path = tmp_path / "m.onnx"
    with pytest.raises(ExportError, match="does not match PyTorch") as info:
        export_onnx(model, path, resolution=RES)
    ort_cmp, ref_cmp = info.value.report.comparisons
    assert not ort_cmp.ok and ref_cmp.ok
    assert list(tmp_path.iterdir()) == []
    report = export_onnx(model, path, resolution=RES, force=True)
    assert report.written and report.forced and path.is_file()


def test_export_from_checkpoint_and_bad_inputs(tmp_path, model):
    ckpt = tmp_path / "model.pt"
    save_model(model, ckpt)
    report = export_onnx(ckpt, tmp_path / "out.onnx", resolution=RES)
    assert report.ok and (tmp_path / "out.onnx").is_file()
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(WNOEdgeError):
        export_onnx(junk, tmp_path / "junk.onnx", resolution=RES)
    with pytest.raises(WNOEdgeError, match="does not exist"):
        export_onnx(ckpt, tmp_path / "missing" / "m.onnx", resolution=RES)
    with pytest.raises(WNOEdgeError, match="is a directory"):
        export_onnx(ckpt, tmp_path, resolution=RES)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junk.pt", "model.pt", "out.onnx"]


def test_cli_export(tmp_path, capsys):
    ckpt = tmp_path / "model.pt"
    save_model(make_model(resolution=RES), ckpt)
    assert cli_main(["export", str(ckpt), "--tile", "2", "--fp16"]) == 0
    out = capsys.readouterr().out
    assert "ONNX export" in out and "onnxruntime CPU" in out and "onnx.reference" in out and "WinogradConv" in out
    proto = onnx.load(tmp_path / "model.onnx")
    assert {a.i for n in proto.graph.node if n.op_type == OP_TYPE for a in n.attribute if a.name == "tile"} == {2}

    out_path = tmp_path / "bad.onnx"
    for argv in (["--conv", "direct", "--tile", "6"], ["--resolution", "4x4"], ["--opset", "12"]):
        assert cli_main(["export", str(ckpt), "-o", str(out_path), *argv]) == 1
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and "\n" not in err
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x00" * 64)
    assert cli_main(["export", str(junk), "-o", str(out_path), "-r", "16x16"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "junk.pt" in err and "\n" not in err
    assert cli_main(["export", str(ckpt), "-o", str(tmp_path / "nodir" / "m.onnx")]) == 1
    assert not out_path.exists() and not (tmp_path / "nodir").exists()


@pytest.mark.skipif(importlib.util.find_spec("polygraphy") is None, reason="polygraphy not installed")
def test_polygraphy_runs_the_file_unchanged(tmp_path, exported):
    path = tmp_path / "m.onnx"
    onnx.save(exported, path)
    exe = Path(sys.executable).with_name("polygraphy")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "polygraphy"]
    result = subprocess.run([*cmd, "run", str(path), "--onnxrt"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "PASSED" in result.stdout + result.stderr


def test_winograd_conv_node_equals_conv2d_in_the_exported_graph(model, exported):
    """The first layer's WinogradConv output, read out of ORT, equals F.conv2d of its input."""
    first = next(n for n in exported.graph.node if n.op_type == OP_TYPE)
    probe = onnx.ModelProto()
    probe.CopyFrom(exported)
    for name in first.input[:1] + first.output[:1]:
        vi = next(v for v in exported.graph.value_info if v.name == name)
        probe.graph.output.append(vi)
    x = random_inputs(model, RES, 1)
    _, v, y = onnx_verify.ort_session(probe).run(None, {"input": x})
    layer = model.layers[0]
    expected = (
        F.conv2d(
            torch.from_numpy(v).double(), layer.real_space_weight().double(), layer.pointwise.bias.double(), padding=1
        )
        .detach()
        .numpy()
    )
    assert math.isclose(rel_err(y, expected), 0, abs_tol=1e-6)


def test_compares_on_the_test_samples_stored_in_the_checkpoint(tmp_path, monkeypatch):
    res = (16, 16)
    samples = torch.from_numpy(np.where(np.random.default_rng(0).standard_normal((2, 1, *res)) > 0, 1.0, 0.1)).float()
    model = make_model(in_channels=1, out_channels=1, resolution=res)
    ckpt = tmp_path / "m.pt"
    save_model(model, ckpt, {"sample_inputs": samples, "options": {"data": str(tmp_path / "darcy.h5")}})
    import h5py

    monkeypatch.setattr(h5py, "File", None)  # export never reopens the training data
    report = export_onnx(ckpt, None)
    assert report.ok and report.inputs == "2 test samples stored in the checkpoint"
    save_model(model, ckpt, {"sample_inputs": samples[:, :, :8]})  # another grid: not usable
    assert "random inputs" in export_onnx(ckpt, None).inputs
    save_model(model, ckpt)
    assert "random inputs" in export_onnx(ckpt, None).inputs


def test_cli_reports_a_failed_check_and_writes_nothing(tmp_path, capsys, monkeypatch):
    real = onnx_verify.run_reference
    monkeypatch.setattr(onnx_verify, "run_reference", lambda proto, feeds: real(proto, feeds) + 1.0)
    ckpt = tmp_path / "model.pt"
    save_model(make_model(), ckpt)
    out = tmp_path / "m.onnx"
    assert cli_main(["export", str(ckpt), "-o", str(out), "-r", "20x18"]) == 1
    captured = capsys.readouterr()
    assert "FAIL" in captured.out and "onnxruntime CPU" in captured.out  # the report is shown
    err = captured.err.strip()
    assert err.startswith("error: ONNX output does not match PyTorch") and "\n" not in err
    assert not out.exists()
    assert cli_main(["export", str(ckpt), "-o", str(out), "-r", "20x18", "--force"]) == 0
    assert out.is_file() and "written with --force" in capsys.readouterr().err
