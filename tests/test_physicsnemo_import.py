"""PhysicsNeMo FNOs mapped onto wno-edge's model (issue 26, items 1 and 2): every fixture
PhysicsNeMo 2.2.2 wrote (tests/fixtures/physicsnemo) that wno-edge can express imports equal to
PhysicsNeMo's stored eager output within 1e-5 of max|y|, and its ONNX export runs equal to it in
ONNX Runtime and the native engine within 1e-4 (OpenVINO on the --conv direct file); what
cannot be expressed is refused in one line. The new model pieces (SiLU, decoder depth, padding
by values, per-axis padding) are checked against independent references (F.pad, PyTorch)."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
import torch.nn.functional as F
from onnx import TensorProto, helper
from test_engine import engine_library

from wno_edge import runtime
from wno_edge.checkpoint import load_model
from wno_edge.cli import main
from wno_edge.contract import EXPORT_OPS, WNOConfig
from wno_edge.errors import WNOEdgeError
from wno_edge.importers.physicsnemo import (
    PhysicsNemoImportError,
    from_physicsnemo,
    import_physicsnemo,
    physicsnemo_config,
    read_checkpoint,
)
from wno_edge.model import WNO2d
from wno_edge.onnx import export_onnx
from wno_edge.onnx.graph import GraphBuilder, ir_version_for, pad_axes
from wno_edge.onnx.verify import run_onnxruntime

# make physicsnemo-check points this at fixtures PhysicsNeMo has just written (the live comparison)
FIXTURES = Path(os.environ.get("WNO_PHYSICSNEMO_FIXTURES") or Path(__file__).parent / "fixtures" / "physicsnemo")
MANIFEST = json.loads((FIXTURES / "manifest.json").read_text())["fixtures"]
REFUSED = {"fno2d_replicate_prelu": "activation_fn='prelu'", "fno1d_circular_capped": "activation_fn='capped_gelu'"}
SUPPORTED = sorted(set(MANIFEST) - set(REFUSED))
TORCH_TOLERANCE, ONNX_TOLERANCE = 1e-5, 1e-4  # of max|y| of PhysicsNeMo's output

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def lib() -> Path:
    return engine_library()


def rel(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.abs(a - b).max() / np.abs(b).max())


def fixture(name: str):
    data = np.load(FIXTURES / f"{name}.npz")
    return FIXTURES / MANIFEST[name]["file"], data["x"], data["y"]


def one_line(e: pytest.ExceptionInfo) -> str:
    text = str(e.value)
    assert "\n" not in text and len(text) < 400, text
    return text


# ---- exactness against PhysicsNeMo -----------------------------------------------------------------


@pytest.mark.parametrize("name", SUPPORTED)
def test_import_equals_physicsnemo_in_pytorch(name, tmp_path):
    path, x, y = fixture(name)
    report = import_physicsnemo(path, tmp_path / "m.pt", resolution=x.shape[2:])
    model = load_model(tmp_path / "m.pt")  # the checkpoint as written, not the object in memory
    assert model.config == report.config and model.config.resolution == x.shape[2:]
    assert not model.config.real_space_kernel and model.config.rank == MANIFEST[name]["args"]["dimension"]
    with torch.no_grad():
        assert rel(model(torch.from_numpy(x)), y) <= TORCH_TOLERANCE


@pytest.mark.parametrize("name", SUPPORTED)
def test_export_equals_physicsnemo_in_onnxruntime_and_the_engine(name, tmp_path, lib):
    path, x, y = fixture(name)
    model = from_physicsnemo(read_checkpoint(path))
    out = tmp_path / "m.onnx"
    report = export_onnx(model, out, resolution=x.shape[2:], inputs=x)
    assert report.ok, report.comparisons
    proto = onnx.load(out)
    ops = {n.op_type for n in proto.graph.node}
    assert ops <= set(EXPORT_OPS) - {"Gelu"}, ops  # opset 17: standard ops the engine reads
    assert ("Sigmoid" in ops) == ("silu" in (model.config.activation, model.config.projection_activation))
    assert rel(run_onnxruntime(proto, {"input": x}), y) <= ONNX_TOLERANCE
    with runtime.load(out, backend="native", library=lib, batch=len(x)) as session:
        assert rel(session.run(x), y) <= ONNX_TOLERANCE


@pytest.mark.parametrize("name", SUPPORTED)
def test_direct_export_equals_physicsnemo_in_openvino(name, tmp_path):
    pytest.importorskip("openvino", reason="openvino is not installed (pip install 'wno-edge[openvino]')")
    path, x, y = fixture(name)
    out = tmp_path / "m.onnx"
    export_onnx(from_physicsnemo(read_checkpoint(path)), out, resolution=x.shape[2:], conv="direct", batch=len(x))
    with runtime.load(out, backend="openvino", threads=1) as session:
        assert rel(session.run(x), y) <= ONNX_TOLERANCE


# ---- refusals, each one line ---------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_an_unsupported_activation_is_refused_naming_it(name, tmp_path, capsys):
    path, _, _ = fixture(name)
    with pytest.raises(PhysicsNemoImportError) as e:
        import_physicsnemo(path, tmp_path / "m.pt")
    assert REFUSED[name] in one_line(e) and "gelu, silu" in str(e.value)
    assert main(["import-physicsnemo", str(path), "-o", str(tmp_path / "m.pt")]) == 1
    err = capsys.readouterr().err.strip()
    assert REFUSED[name] in err and len(err.splitlines()) == 1, err
    assert not list(tmp_path.iterdir())  # nothing written


def _with_args(name: str, **changes):
    ckpt = read_checkpoint(fixture(name)[0])
    return dataclasses.replace(ckpt, args=dataclasses.replace(ckpt.args, **changes))


@pytest.mark.parametrize(
    "ckpt, words",
    [
        (
            lambda: _with_args("fno2d_circular_nocoord", decoder_activation_fn=("silu", "gelu")),
            ["decoder_activation_fn", "one activation for every layer"],
        ),
        (lambda: _with_args("fno2d_gelu", decoder_activation_fn=("tanh",)), ["decoder_activation_fn", "gelu, silu"]),
        (lambda: _with_args("fno2d_gelu", activation_fn="relu"), ["activation_fn", "gelu, silu"]),
    ],
)
def test_other_unmappable_arguments_are_refused_naming_them(ckpt, words):
    with pytest.raises(PhysicsNemoImportError) as e:
        physicsnemo_config(ckpt())
    assert all(w in one_line(e) for w in words), str(e.value)


@pytest.mark.parametrize(
    "name, resolution, words",
    [
        ("fno2d_reflect", (2, 12), ["resolution 2x12", "reflect padding of 2 cells needs at least 3 points"]),
        ("fno2d_gelu", (4, 16), ["resolution 4x16", "too small for 4x4 Fourier modes"]),  # corners would overlap
        ("fno2d_gelu", (16, 16, 16), ["resolution must be two integers"]),
    ],
)
def test_a_grid_the_model_cannot_run_is_refused_at_import(name, resolution, words, tmp_path):
    with pytest.raises(PhysicsNemoImportError) as e:
        import_physicsnemo(fixture(name)[0], tmp_path / "m.pt", resolution=resolution)
    assert all(w in one_line(e) for w in words), str(e.value)
    assert not (tmp_path / "m.pt").exists()


def test_the_input_is_never_overwritten(tmp_path):
    src = tmp_path / "m.mdlus"
    src.write_bytes(fixture("fno2d_gelu")[0].read_bytes())
    with pytest.raises(WNOEdgeError, match="refusing to write") as e:
        import_physicsnemo(src, src)
    one_line(e)
    assert src.read_bytes() == fixture("fno2d_gelu")[0].read_bytes()


# ---- the CLI -------------------------------------------------------------------------------------


def test_cli_writes_a_checkpoint_and_reports_the_mapping(tmp_path, capsys):
    path, x, y = fixture("fno2d_reflect")
    src = tmp_path / "fno.mdlus"
    src.write_bytes(path.read_bytes())
    assert main(["import-physicsnemo", str(src), "-r", "16x12"]) == 0
    out = capsys.readouterr().out
    for words in ("physicsnemo.models.fno.fno.FNO (zip): a 2-D FNO", "padding: 2x1 cells at the end, reflect"):
        assert words in out, out
    assert "decoder: 1 hidden layer(s) of 16, silu" in out and "wrote " in out
    model = load_model(tmp_path / "fno.wno.pt")  # the default output name
    assert model.config.resolution == (16, 12) and model.config.domain_padding_axes == (2, 1)
    with torch.no_grad():
        assert rel(model(torch.from_numpy(x)), y) <= TORCH_TOLERANCE
    assert main(["import-physicsnemo", str(src), "-r", "16x12x4x4"]) == 1
    assert "resolution must look like" in capsys.readouterr().err


# ---- the new model pieces against independent references ---------------------------------------


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize("grid, pads", [((7,), ((0, 3),)), ((6, 5), ((0, 2), (1, 4))), ((4, 5, 6), ((0, 3),) * 3)])
def test_padding_by_matmul_equals_f_pad(mode, grid, pads):
    g = GraphBuilder()
    pad_axes(g, "x", grid, pads, mode, "y")
    g.nodes[-1].output[0] = "y"
    shape = [2, 3, *grid]
    graph = g.graph(
        "pad",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=ir_version_for(17))
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    flat = tuple(p for pair in reversed(pads) for p in pair)
    expected = F.pad(torch.from_numpy(x), flat, mode=mode).numpy()
    assert np.array_equal(run_onnxruntime(proto, {"x": x}), expected)  # exact: one product of 1 per cell


@pytest.mark.parametrize(
    "changes",
    [
        dict(projection_layers=0, activation="silu", padding_mode="replicate"),
        dict(projection_layers=3, projection_activation="silu", padding_mode="circular", lifting_width=0),
        dict(domain_padding=0, domain_padding_axes=(3, 0), padding_mode="reflect", real_space_kernel=True),
    ],
)
def test_new_pieces_export_equal_to_pytorch_on_onnxruntime_and_the_engine(changes, tmp_path, lib):
    config = WNOConfig(2, 1, width=6, modes=(3, 3), n_layers=2, projection_width=5, lifting_width=4)
    torch.manual_seed(0)
    model = WNO2d(dataclasses.replace(config, **{"real_space_kernel": False, **changes})).eval()
    out = tmp_path / "m.onnx"
    x = np.random.default_rng(1).standard_normal((2, 2, 12, 10)).astype(np.float32)
    assert export_onnx(model, out, resolution=(12, 10), inputs=x).ok
    with torch.no_grad():
        y = model(torch.from_numpy(x)).numpy()
    with runtime.load(out, backend="native", library=lib, batch=2) as session:
        assert rel(session.run(x), y) <= ONNX_TOLERANCE


def test_defaults_leave_configs_and_state_dicts_as_before():
    config = WNOConfig(1, 1)
    assert not {"activation", "projection_layers", "projection_activation", "padding_mode"} & set(config.to_dict())
    assert "domain_padding_axes" not in config.to_dict()
    assert not any(k.startswith("project_hidden") for k in WNO2d(config).state_dict())
    changed = WNOConfig(1, 1, activation="silu", domain_padding=0, domain_padding_axes=(1, 2), projection_layers=2)
    assert WNOConfig.from_dict(json.loads(json.dumps(changed.to_dict()))) == changed


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(activation="relu"), "activation must be one of gelu, silu"),
        (dict(projection_activation="tanh"), "projection_activation must be one of gelu, silu"),
        (dict(padding_mode="zeros"), "padding_mode must be one of constant, reflect, replicate, circular"),
        (dict(projection_layers=-1), r"projection_layers must be in \[0, 256\]"),
        (dict(domain_padding_axes=(1,)), "domain_padding_axes must be two integers"),
        (dict(domain_padding_axes=(1, 1)), "domain_padding and domain_padding_axes exclude each other"),
        (dict(block="neuralop", activation="silu"), 'block "neuralop" is GELU throughout'),
    ],
)
def test_new_config_fields_are_checked_in_one_line(changes, message):
    with pytest.raises(WNOEdgeError, match=message) as e:
        WNOConfig(1, 1, **changes)
    one_line(e)


def test_graph_macs_are_the_flops_count():
    """The export's MatMul/Conv MACs (circular padding as MatMuls, a 2-layer decoder) are
    grid_cost's, plus the complex combine's 8 per mode and output channel (flops counts the four
    products only)."""
    from wno_edge.onnx.export import build_model_proto, check_model_proto
    from wno_edge.onnx.verify import graph_stats
    from wno_edge.reports.flops import grid_cost

    model = from_physicsnemo(read_checkpoint(fixture("fno2d_circular_nocoord")[0]))  # no grid channels
    grid, cfg = (12, 16), model.config
    proto = check_model_proto(build_model_proto(model, resolution=grid, batch=1))
    cost = grid_cost(cfg, grid)
    combine = cfg.n_layers * 2 * cfg.modes[0] * cfg.modes[1] * cfg.width * 4 * 2
    assert graph_stats(proto).macs == cost.pointwise_macs + cost.spectral_macs + combine


def test_python_and_cpp_read_the_new_config_keys_alike(tmp_path):
    """The engine's config reader (runtime/engine/config.cpp) accepts exactly the texts
    WNOConfig accepts, for the keys PhysicsNeMo's FNO added."""
    from test_config_grammar import BUILD as GRAMMAR_BUILD
    from test_config_grammar import NATIVE_OPTIONS as GRAMMAR_OPTIONS
    from test_config_grammar import assert_agree, build_probe, python_reads

    probe = build_probe(GRAMMAR_BUILD, GRAMMAR_OPTIONS)
    imported = from_physicsnemo(read_checkpoint(fixture("fno2d_reflect")[0])).config
    base = '{"in_channels": 1, "out_channels": 2, '
    accepted = [
        json.dumps(imported.to_dict()),
        json.dumps(from_physicsnemo(read_checkpoint(fixture("fno3d_gelu")[0])).config.to_dict()),
        base + '"activation": "silu", "projection_activation": "silu", "projection_layers": 0}',
        base + '"padding_mode": "circular", "domain_padding": 0, "domain_padding_axes": [3, 0]}',
        base + '"domain_padding_axes": []}',
        base + '"modes": [4], "domain_padding": 0, "domain_padding_axes": [5]}',
    ]
    refused = [
        base + '"activation": "relu"}',
        base + '"projection_activation": 1}',
        base + '"projection_layers": -1}',
        base + '"projection_layers": 1.5}',
        base + '"projection_layers": true}',
        base + '"padding_mode": "zeros"}',
        base + '"domain_padding": 0, "domain_padding_axes": [1]}',
        base + '"domain_padding_axes": [1, 2]}',  # domain_padding defaults to 2
        base + '"domain_padding": 0, "domain_padding_axes": [-1, 0]}',
        base + '"domain_padding": 0, "domain_padding_axes": [1.0, 2]}',
        base + '"domain_padding_axes": null}',
        base + '"block": "neuralop", "activation": "silu"}',
        base + '"domain_padding": 0, "domain_padding_axes": [1, 1], "domain_padding_fraction": [0.1, 0.1]}',
    ]
    assert all(python_reads(tmp_path, t)[0] is not None for t in accepted)
    assert all(python_reads(tmp_path, t)[0] is None for t in refused)
    assert_agree(tmp_path, probe, [t.encode() for t in accepted + refused])
