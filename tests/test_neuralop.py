"""neuraloperator 2.x FNOs imported (wno_edge.importers.neuralop), exported and run: the same
function as neuraloperator's own forward, and a file is read without executing it."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys

import numpy as np
import onnx
import pytest
import torch

from wno_edge import runtime
from wno_edge.contract import EXPORT_OPS, Initializer, WNOConfig
from wno_edge.errors import WNOEdgeError
from wno_edge.model import WNO2d

neuralop_models = pytest.importorskip("neuralop.models")
from wno_edge.importers.neuralop import NeuralopImportError, from_neuralop, import_neuralop, read_neuralop  # noqa: E402
from wno_edge.onnx.export import build_model_proto, check_model_proto, export_onnx  # noqa: E402
from wno_edge.onnx.verify import run_onnxruntime  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

RESOLUTIONS = ((32, 32), (48, 40))
# At least six configurations over the supported options (odd and even n_modes, dense / Tucker /
# CP weights, every fno_skip, channel MLP on/off with each skip, grid or no embedding, padding).
CONFIGS = {
    "dense-default": dict(n_modes=(8, 6)),
    "tucker-odd-softgating-pad": dict(
        n_modes=(7, 5), factorization="tucker", rank=0.5, fno_skip="soft-gating", domain_padding=0.125
    ),
    "cp-identity-nomlp-nogrid": dict(
        n_modes=(6, 7),
        factorization="cp",
        rank=0.4,
        fno_skip="identity",
        use_channel_mlp=False,
        positional_embedding=None,
    ),
    "linear-mlpskip-1lift-pad2": dict(
        n_modes=(5, 8), channel_mlp_skip="linear", lifting_channel_ratio=0, domain_padding=[0.1, 0.2]
    ),
    "identity-mlpskip-noskip": dict(n_modes=(8, 8), channel_mlp_skip="identity", fno_skip=None),
    "tfno-nomlpskip-pad": dict(n_modes=(4, 4), channel_mlp_skip=None, domain_padding=0.25, tfno=True),
}


def make_fno(name: str, seed: int = 0):
    kw = dict(CONFIGS[name])
    cls = neuralop_models.TFNO if kw.pop("tfno", False) else neuralop_models.FNO
    torch.manual_seed(seed)
    m = cls(in_channels=2, out_channels=3, hidden_channels=8, n_layers=3, **kw).eval()
    with torch.no_grad():  # soft-gating weights start at 1: make them count
        for n, p in m.named_parameters():
            if n.endswith("skips.0.weight") or ".weight" in n and p.dim() == 4 and p.shape[0] == 1:
                p.copy_(torch.randn_like(p))
    return m


def rel(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.abs(a - b).max() / np.abs(b).max())


@pytest.fixture(scope="module")
def engine_lib():
    """The native engine of this checkout, built as tests/test_engine.py builds it."""
    from native_build import BUILD, NATIVE_OPTIONS, RUNTIME, cmake_build

    cmake_build(BUILD, RUNTIME, NATIVE_OPTIONS, ("wno_engine",))
    return BUILD / "engine" / "libwno_engine.so"


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_imported_exported_and_run_match_neuraloperator(name, tmp_path, engine_lib):
    fno = make_fno(name)
    path = tmp_path / "fno.pt"
    torch.save(fno.state_dict(), path)
    for real_space_kernel in (False, True):
        model = from_neuralop(path, real_space_kernel=real_space_kernel)
        assert model.config.real_space_kernel == real_space_kernel
        if real_space_kernel:
            assert all(float(layer.kernel.abs().max()) == 0 for layer in model.layers)  # k starts at 0
        for res in RESOLUTIONS:
            x = torch.randn(2, 2, *res, generator=torch.Generator().manual_seed(1))
            with torch.no_grad():
                ref = fno(x).numpy()
                assert rel(model.set_conv(None)(x), ref) <= 1e-5, (name, res)
                assert rel(model.set_conv(4)(x), ref) <= 1e-5, (name, res)
            proto = check_model_proto(build_model_proto(model, resolution=res))
            assert not any(n.op_type in ("DFT", "STFT") for n in proto.graph.node)
            y = run_onnxruntime(proto, {"input": x.numpy()})
            assert rel(y, ref) <= 1e-4, (name, res, "onnxruntime")
            path_onnx = tmp_path / f"m{res[0]}.onnx"
            path_onnx.write_bytes(proto.SerializeToString())
            with runtime.load(path_onnx, backend="native", library=engine_lib, batch=len(x)) as session:
                assert rel(session.run(x.numpy()), ref) <= 1e-4, (name, res, "native engine")


@pytest.mark.parametrize("name", ["dense-default", "tucker-odd-softgating-pad"])
def test_lifting_constant_as_row_and_column_terms_or_whole(name, tmp_path, engine_lib):
    """The lifting MLP's first constant (bias + the positional embedding's term) is a row term plus
    a column term per hidden channel, which the engine stores instead of the planes; an edited
    constant that is not runs from the planes. Both equal ONNX Runtime, without domain padding
    (the second map writes the field directly) and with it."""
    from wno_edge.contract import Metadata
    from wno_edge.onnx.export import weights_checksum

    proto = build_model_proto(from_neuralop(make_fno(name).state_dict()), resolution=(24, 20))
    bumped = onnx.ModelProto.FromString(proto.SerializeToString())
    t = next(t for t in bumped.graph.initializer if t.name == Initializer.LIFT_CONSTANT)
    a = onnx.numpy_helper.to_array(t).copy()
    a[..., 5:-5, 3:-3] += np.random.default_rng(0).standard_normal(a[..., 5:-5, 3:-3].shape).astype(np.float32)
    t.CopyFrom(onnx.numpy_helper.from_array(a, t.name))
    meta = next(p for p in bumped.metadata_props if p.key == Metadata.WEIGHTS_CHECKSUM)
    meta.value = weights_checksum(bumped.graph)
    x = np.random.default_rng(2).standard_normal((2, 2, 24, 20)).astype(np.float32)
    for model, separable in ((proto, True), (bumped, False)):
        path = tmp_path / f"{separable}.onnx"
        path.write_bytes(model.SerializeToString())
        with runtime.load(path, backend="native", library=engine_lib, batch=2, threads=2) as session:
            assert ("lifting MLP (GEMM, GELU) (its constant as row + column terms)" in session.plan) == separable
            assert rel(session.run(x), run_onnxruntime(model, {"input": x})) <= 1e-5


def test_engine_refuses_a_block_it_does_not_know(tmp_path, engine_lib):
    """A newer block kind is one 'unsupported model' line from the engine, never a wrong result."""
    model = from_neuralop(make_fno("dense-default").state_dict())
    proto = build_model_proto(model, resolution=(32, 32))
    for prop in proto.metadata_props:
        if prop.key == "wno_edge.config":
            prop.value = prop.value.replace('"block": "neuralop"', '"block": "uno"')
    (tmp_path / "m.onnx").write_bytes(proto.SerializeToString())
    with pytest.raises(WNOEdgeError, match="unsupported model: block") as e:
        runtime.load(tmp_path / "m.onnx", backend="native", library=engine_lib)
    assert "\n" not in str(e.value)


def test_default_config_and_its_files_are_unchanged():
    """The new WNOConfig fields leave today's model, its dict and its state dict as they were."""
    cfg = WNOConfig(1, 1)
    assert set(cfg.to_dict()) == {
        "in_channels",
        "out_channels",
        "width",
        "modes",
        "n_layers",
        "winograd_tile",
        "real_space_kernel",
        "domain_padding",
        "projection_width",
        "grid",
        "resolution",
    }
    sd = WNO2d(cfg).state_dict()
    assert not any(k.startswith("lift2") or ".mlp" in k for k in sd)
    assert cfg.paddings(64, 64) == (0, 2, 0, 2)


def test_save_checkpoint_pair_and_cli(tmp_path):
    from wno_edge.checkpoint import load_model
    from wno_edge.cli import main

    fno = make_fno("dense-default")
    fno.save_checkpoint(tmp_path, "fno")
    tensors, meta = read_neuralop(tmp_path / "fno_metadata.pkl")
    assert meta["_name"] == "FNO" and "fno_blocks.convs.0.bias" in tensors
    out = tmp_path / "imported.pt"
    assert main(["import-neuralop", str(tmp_path / "fno_state_dict.pt"), "-o", str(out), "-r", "32"]) == 0
    model = load_model(out)
    assert model.config.resolution == (32, 32) and model.config.block == "neuralop"
    x = torch.randn(1, 2, 32, 32)
    with torch.no_grad():
        assert rel(model.set_conv(None)(x), fno(x)) <= 1e-5
    from wno_edge.importers.neuralop import neuralop_model

    report = export_onnx(out, tmp_path / "imported.onnx", reference=neuralop_model(tmp_path / "fno_metadata.pkl"))
    assert report.written and report.ok  # at the recorded resolution, also against neuraloperator itself
    assert report.comparisons[-1].runtime == "onnxruntime CPU vs FNO" and report.comparisons[-1].relative <= 1e-5


def test_import_report_compares_with_neuraloperator(tmp_path):
    fno = make_fno("tucker-odd-softgating-pad")
    torch.save(fno.state_dict(), tmp_path / "t.pt")
    report = import_neuralop(tmp_path / "t.pt", tmp_path / "t.wno.pt", resolution=(32, 32))
    assert report.reference_error is not None and report.reference_error <= 1e-5
    assert (tmp_path / "t.wno.pt").is_file()


class _Payload:
    def __init__(self, target: str):
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


@pytest.mark.parametrize("protocol", [2, 4])
def test_a_malicious_file_is_refused_and_never_runs(tmp_path, protocol):
    target = tmp_path / "pwned"
    sd = make_fno("dense-default").state_dict()
    sd["_metadata"]["evil"] = _Payload(str(target))
    path = tmp_path / "evil.pt"
    torch.save(sd, path, pickle_protocol=protocol)
    with pytest.raises(NeuralopImportError) as e:
        read_neuralop(path)
    assert "\n" not in str(e.value) and ("system" in str(e.value) or "STACK_GLOBAL" in str(e.value))
    assert not target.exists()
    raw = tmp_path / "raw.pkl"  # a bare pickle (not torch.save's zip) is refused before unpickling
    raw.write_bytes(pickle.dumps(_Payload(str(target))))
    with pytest.raises(NeuralopImportError, match="not a torch.save file"):
        read_neuralop(raw)
    assert not target.exists()
    # the command line too: one line, exit 1, nothing written
    out = subprocess.run(
        [sys.executable, "-m", "wno_edge.cli", "import-neuralop", str(path), "-o", str(tmp_path / "x.pt")],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 1 and out.stderr.count("\n") == 1 and "refused" in out.stderr
    assert not target.exists() and not (tmp_path / "x.pt").exists()


@pytest.mark.parametrize(
    "kwargs, option",
    [
        (dict(complex_data=True), "complex_data"),
        (dict(separable=True), "separable"),
        (dict(norm="group_norm"), "norm"),
        (dict(non_linearity=torch.nn.functional.silu), "non_linearity"),
        (dict(preactivation=True), "preactivation"),
        (dict(factorization="tt", rank=0.5), "factorization"),
    ],
)
def test_unsupported_options_are_refused_with_one_line(tmp_path, kwargs, option):
    fno = neuralop_models.FNO(n_modes=(4, 4), in_channels=1, out_channels=1, hidden_channels=4, n_layers=2, **kwargs)
    path = tmp_path / "m.pt"
    torch.save(fno.state_dict(), path)
    with pytest.raises(NeuralopImportError) as e:
        from_neuralop(path)
    assert f"option {option}=" in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize(
    "kwargs, option",
    [
        (dict(complex_data=True), "complex_data"),
        (dict(separable=True), "separable"),
        (dict(norm="group_norm"), "norm"),
        (dict(factorization="tt", rank=0.5), "factorization"),
    ],
)
def test_unsupported_3d_options_are_refused_with_one_line(tmp_path, kwargs, option):
    """A 3-D FNO is read with the same checks as a 2-D one: what it cannot reproduce is one line."""
    fno = neuralop_models.FNO(n_modes=(4, 4, 4), in_channels=1, out_channels=1, hidden_channels=4, n_layers=1, **kwargs)
    torch.save(fno.state_dict(), tmp_path / "m.pt")
    with pytest.raises(NeuralopImportError) as e:
        from_neuralop(tmp_path / "m.pt")
    assert f"option {option}=" in str(e.value) and "\n" not in str(e.value)


def test_four_mode_counts_are_refused_in_one_line(tmp_path):
    sd = make_fno("dense-default").state_dict()
    sd["_metadata"]["n_modes"] = (4, 4, 4, 4)
    torch.save(sd, tmp_path / "fno.pt")
    with pytest.raises(NeuralopImportError, match=r"n_modes=\(4, 4, 4, 4\).*: only 1-D, 2-D and 3-D FNOs") as e:
        import_neuralop(tmp_path / "fno.pt", None)
    assert "\n" not in str(e.value)


def test_odd_padded_height_is_refused_at_export():
    model = from_neuralop(make_fno("dense-default").state_dict())
    with pytest.raises(WNOEdgeError, match="even padded height"):
        build_model_proto(model, resolution=(33, 32))


@pytest.mark.parametrize("name", ["dense-default", "linear-mlpskip-1lift-pad2", "tfno-nomlpskip-pad"])
def test_initializers_carry_the_contract_names(name):
    """The lifting MLP, channel MLP and skip initializers are written under the names the native
    engine reads (contract.Initializer), exactly when the config has them."""
    model = from_neuralop(make_fno(name).state_dict())
    names = {t.name for t in build_model_proto(model, resolution=(32, 32)).graph.initializer}
    cfg, n = model.config, Initializer
    assert ({n.LIFT2_WEIGHT, n.LIFT2_BIAS} <= names) == bool(cfg.lifting_width)
    assert not {n.LIFT2_WEIGHT, n.LIFT2_BIAS} & names or cfg.lifting_width
    for i in range(cfg.n_layers):
        mlp = {f.format(i=i) for f in (n.LAYER_MLP1_WEIGHT, n.LAYER_MLP1_BIAS, n.LAYER_MLP2_WEIGHT, n.LAYER_MLP2_BIAS)}
        assert (mlp <= names) == bool(cfg.channel_mlp_width) and (not mlp & names or cfg.channel_mlp_width)
        assert (n.LAYER_MLP_SKIP_WEIGHT.format(i=i) in names) == cfg.channel_mlp_skip
        assert {n.LAYER_POINTWISE.format(i=i), n.LAYER_BIAS.format(i=i), n.LAYER_MIXING.format(i=i)} <= names


def test_exported_graph_uses_only_tensorrt_parser_ops():
    """No DFT, no complex tensors; 1x1 convolutions stay plain Conv nodes (what TensorRT parses)."""
    model = from_neuralop(make_fno("tucker-odd-softgating-pad").state_dict())
    proto = build_model_proto(model, resolution=(32, 32))
    ops = {n.op_type for n in proto.graph.node}
    assert ops <= set(EXPORT_OPS) - {"Gelu"}, ops  # what the native engine reads (opset 17: no Gelu)
    convs = [n for n in proto.graph.node if n.op_type == "Conv"]
    assert all(
        list(onnx.helper.get_attribute_value(a)) == [1, 1]
        for n in convs
        for a in n.attribute
        if a.name == "kernel_shape"
    )
    assert all(
        t.data_type == onnx.TensorProto.FLOAT for t in proto.graph.initializer if t.data_type != onnx.TensorProto.INT64
    )


def test_imported_fno_fine_tunes_its_3x3_kernel():
    """k starts at 0 (the same function) and gets a gradient: fine-tuning turns the FNO into a WNO."""
    fno = make_fno("dense-default")
    model = from_neuralop(fno.state_dict(), real_space_kernel=True).train().set_conv(None)
    x = torch.randn(2, 2, 32, 32)
    loss = model(x).square().mean()
    loss.backward()
    assert all(layer.kernel.grad is not None and float(layer.kernel.grad.abs().max()) > 0 for layer in model.layers)


def test_train_starts_from_an_imported_fno(tmp_path):
    """`wno-edge import-neuralop --wno` then `wno-edge train --init`: the 3x3 kernels train."""
    from wno_edge.checkpoint import load_model
    from wno_edge.cli import main
    from wno_edge.data import generate

    data = tmp_path / "darcy.h5"
    generate("darcy", data, n_samples=12, resolution=16, seed=1, progress=False)
    fno = neuralop_models.FNO(n_modes=(4, 4), in_channels=1, out_channels=1, hidden_channels=6, n_layers=2).eval()
    torch.save(fno.state_dict(), tmp_path / "fno.pt")
    assert (
        main(["import-neuralop", str(tmp_path / "fno.pt"), "-o", str(tmp_path / "wno0.pt"), "--wno", "-r", "16"]) == 0
    )
    assert (
        main(
            [
                "train",
                "--data",
                str(data),
                "-o",
                str(tmp_path / "wno1.pt"),
                "--init",
                str(tmp_path / "wno0.pt"),
                "--epochs",
                "2",
                "--batch-size",
                "4",
            ]
        )
        == 0
    )
    tuned = load_model(tmp_path / "wno1.pt")
    assert tuned.config == load_model(tmp_path / "wno0.pt").config
    assert any(float(layer.kernel.abs().max()) > 0 for layer in tuned.layers)  # k moved away from 0
    assert main(["train", "--data", str(data), "-o", str(tmp_path / "x.pt"), "--init", str(tmp_path / "none.pt")]) == 1


def test_module_objects_in_the_metadata_are_refused_by_name(tmp_path):
    """A custom embedding or an activation module pickles a class: refused before unpickling."""
    from neuralop.layers.embeddings import GridEmbedding2D

    for kwargs, what in (
        (dict(positional_embedding=GridEmbedding2D(1, [[0, 2], [0, 1]])), "positional_embedding"),
        (dict(non_linearity=torch.nn.ReLU()), "non_linearity"),
    ):
        fno = neuralop_models.FNO(n_modes=(4, 4), in_channels=1, out_channels=1, hidden_channels=4, **kwargs)
        torch.save(fno.state_dict(), tmp_path / "m.pt")
        with pytest.raises(NeuralopImportError, match=what):
            read_neuralop(tmp_path / "m.pt")


# ---- hostile _metadata: one line, bounded work ------------------------------------------------


def _import_in_child(path) -> str:
    """import_neuralop(path) in a child with a memory limit and a hang timeout: its one line."""
    from hostile_files import refused_in_child

    setup = "from wno_edge.importers.neuralop import import_neuralop"
    return refused_in_child(setup, f"import_neuralop({str(path)!r}, None)")


@pytest.mark.parametrize("build", ["list-bomb", "wide-bomb", "deep", "tuple-key"])
def test_shared_or_deep_metadata_is_refused_in_bounded_work(tmp_path, build):
    """A 2**60-item shared list as n_modes (a TypeError, or a repr that never returned), 8**20
    items, 100000 nested lists (RecursionError), a tuple key whose hash never returns."""
    from hostile_files import deep_list, dict_with_key, list_bomb, splice, tuple_bomb, wide_bomb

    sd = make_fno("dense-default").state_dict()
    path = tmp_path / "fno.pt"
    if build in ("list-bomb", "wide-bomb"):
        sd["_metadata"]["n_modes"] = list_bomb(60) if build == "list-bomb" else wide_bomb(20)
        torch.save(sd, path)
    else:
        sd["_metadata"]["extra"] = "PLACEHOLDER"
        torch.save(sd, tmp_path / "plain.pt")
        ops = deep_list(100_000) if build == "deep" else dict_with_key(tuple_bomb(60))
        splice(tmp_path / "plain.pt", path, "PLACEHOLDER", ops)
    line = _import_in_child(path)
    assert "deeper than" in line or "more than" in line, line


@pytest.mark.parametrize(
    "option, value, words",
    [
        ("n_modes", [[8], [6]], "two positive integers"),  # int([8]): TypeError
        ("n_modes", [8.5, 6], "two positive integers"),
        ("n_layers", "3", "a positive integer"),  # int("3") would have read it
        ("max_n_modes", 7, "max_n_modes=7"),  # list(7): TypeError
        ("complex_data", torch.ones(3), "complex_data="),  # a tensor's truth value: RuntimeError
        ("factorization", "x" * 100_000, "factorization='xxx"),  # echoed whole
        ("domain_padding", ["a", "b"], "domain_padding="),  # sum(["a", "b"]): TypeError
    ],
)
def test_malformed_options_are_one_line(tmp_path, option, value, words):
    sd = make_fno("dense-default").state_dict()
    sd["_metadata"][option] = value
    torch.save(sd, tmp_path / "fno.pt")
    with pytest.raises(NeuralopImportError, match=words) as e:
        import_neuralop(tmp_path / "fno.pt", None)
    assert "\n" not in str(e.value) and len(str(e.value)) < 400, str(e.value)[:1000]


def test_directory_and_fifo_are_named(tmp_path):
    (tmp_path / "dir.pt").mkdir()
    with pytest.raises(NeuralopImportError, match="is a directory"):
        read_neuralop(tmp_path / "dir.pt")
    os.mkfifo(tmp_path / "fifo.pt")  # never opened (that would block): in a child, with a timeout
    from hostile_files import run_bounded

    run = run_bounded(
        "from wno_edge.importers.neuralop import read_neuralop\n"
        f"try: read_neuralop({str(tmp_path / 'fifo.pt')!r})\n"
        "except Exception as e: print(type(e).__name__, e)\n"
    )
    assert run.stdout.startswith("NeuralopImportError") and "is a FIFO" in run.stdout, run.stdout + run.stderr


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda sd: sd.pop("fno_blocks.channel_mlp_skips.0.weight"), id="skip-weight-missing"),  # KeyError
        pytest.param(lambda sd: sd.update({"lifting.fcs.0.weight": torch.ones(3)}), id="lift-rank-1"),  # IndexError
        pytest.param(lambda sd: sd.update({"fno_blocks.convs.0.bias": torch.ones(8, 2)}), id="bias-shape"),  # reshape
        pytest.param(lambda sd: sd.update({"fno_blocks.fno_skips.0.conv.weight": torch.ones(5)}), id="skip-shape"),
    ],
)
def test_tensors_that_do_not_fit_are_one_line(tmp_path, edit):
    """Found by tests/test_loader_fuzz.py: a tensor missing or of another rank or shape than the
    _metadata's FNO raised KeyError / IndexError / RuntimeError out of from_neuralop."""
    sd = make_fno("dense-default").state_dict()
    edit(sd)
    torch.save(sd, tmp_path / "fno.pt")
    with pytest.raises(NeuralopImportError) as e:
        from_neuralop(tmp_path / "fno.pt")
    assert "\n" not in str(e.value) and len(str(e.value)) < 400, str(e.value)[:1000]
