"""3-D imports (issue 23, item 5): neuraloperator 3-D FNO/TFNO files through import-neuralop
become the rank-3 WNO2d (modes=(m1, m2, m3), an FNO: no real-space kernel), checked against
neuraloperator's own forward within 1e-5 of max|y|; what 3-D does not support is one line."""

from __future__ import annotations

import json

import pytest
import torch

from wno_edge.checkpoint import load_model, save_model
from wno_edge.cli import main
from wno_edge.contract import WNOConfig
from wno_edge.errors import WNOEdgeError
from wno_edge.model import WNO2d, check_state_dict, count_parameters
from wno_edge.reports.flops import grid_cost

neuralop_models = pytest.importorskip("neuralop.models")
from wno_edge.importers.neuralop import NeuralopImportError, from_neuralop, import_neuralop  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

# Small 3-D FNOs over the supported options: odd and even n_modes, dense / Tucker / CP weights,
# every fno_skip, channel MLP with and without its skip, grid or no embedding, padding.
CONFIGS = {
    "dense-default": dict(n_modes=(4, 4, 4)),
    "tucker-odd-softgating-pad": dict(
        n_modes=(5, 3, 5), factorization="tucker", rank=0.5, fno_skip="soft-gating", domain_padding=0.25
    ),
    "cp-identity-nomlp-nogrid": dict(
        n_modes=(4, 5, 3),
        factorization="cp",
        rank=0.4,
        fno_skip="identity",
        use_channel_mlp=False,
        positional_embedding=None,
    ),
    "linear-mlpskip-1lift-pad3": dict(
        n_modes=(3, 4, 6), channel_mlp_skip="linear", lifting_channel_ratio=0, domain_padding=[0.25, 0.125, 0.25]
    ),
    "tfno-noskip": dict(n_modes=(4, 4, 4), channel_mlp_skip=None, fno_skip=None, tfno=True),
}
GRIDS = ((8, 8, 8), (8, 6, 10))  # a cube, and D != H != W with an even W


def make_fno3d(name: str, seed: int = 0):
    kw = dict(CONFIGS[name])
    cls = neuralop_models.TFNO if kw.pop("tfno", False) else neuralop_models.FNO
    torch.manual_seed(seed)
    m = cls(in_channels=2, out_channels=3, hidden_channels=8, n_layers=2, **kw).eval()
    with torch.no_grad():  # soft-gating weights start at 1: make them count
        for n, p in m.named_parameters():
            if ".fno_skips." in n and p.dim() == 5 and p.shape[0] == 1:
                p.copy_(torch.randn_like(p))
    return m


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b.double()).abs().max() / b.double().abs().max())


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_imported_3d_fno_matches_neuraloperator(name):
    fno = make_fno3d(name)
    model = from_neuralop(fno.state_dict())
    n_modes = CONFIGS[name]["n_modes"]
    assert model.config.rank == 3 and not model.config.real_space_kernel
    assert model.config.modes == (-(-n_modes[0] // 2), -(-n_modes[1] // 2), n_modes[2] // 2 + 1)
    for grid in GRIDS:
        x = torch.randn(2, 2, *grid, generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            assert rel(model(x), fno(x)) <= 1e-5, (name, grid)


def test_3d_checkpoint_round_trip_and_info(tmp_path, capsys):
    """The checkpoint format holds a 3-D model unchanged (modes [m1, m2, m3], four corner weights)."""
    model = from_neuralop(make_fno3d("dense-default").state_dict())
    path = save_model(model, tmp_path / "m.pt")
    loaded = load_model(path)
    x = torch.randn(1, 2, 8, 8, 8)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))
    assert loaded.config == model.config and loaded.config.to_dict()["modes"] == [2, 2, 3]
    check_state_dict(model.config, model.state_dict())  # every corner, shaped as state_dict_shapes says
    assert {f"layers.0.spectral.weights{k}" for k in (1, 2, 3, 4)} <= set(model.state_dict())
    assert main(["info", str(path), "--json", "-r", "8x8x8"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["architecture"] == "FNO3d" and summary["grid"] == [8, 8, 8]
    assert summary["parameters"] == count_parameters(model)
    cost = grid_cost(model.config, (8, 8, 8))
    assert summary["macs"]["spectral"] == cost.spectral_macs and "conv3x3_direct" not in summary["macs"]
    assert main(["info", str(path), "-r", "8"]) == 0
    table = capsys.readouterr().out
    assert "FNO3d" in table and "1x1x1 W only" in table and "8x8x8" in table


def test_spectral_macs_by_hand():
    """grid_cost's 3-D spectral count, one axis at a time as the export transforms."""
    cfg = WNOConfig(1, 1, width=4, modes=(2, 3, 4), n_layers=2, real_space_kernel=False, domain_padding=0)
    d, h, w = 8, 10, 12
    per_channel = 2 * (2 * d * h * w * 4 + 4 * (2 * 3) * h * d * 4 + 4 * (2 * 2) * d * (2 * 3) * 4)
    mixing = 4 * (2 * 2) * (2 * 3) * 4 * 4 * 4
    assert grid_cost(cfg, (d, h, w)).spectral_macs == 2 * (4 * per_channel + mixing)


def test_cli_import_writes_a_checkpoint_that_matches(tmp_path, capsys):
    fno = make_fno3d("tucker-odd-softgating-pad")
    torch.save(fno.state_dict(), tmp_path / "fno3d.pt")
    assert main(["import-neuralop", str(tmp_path / "fno3d.pt"), "-r", "8x8x8"]) == 0
    out = capsys.readouterr().out
    assert "matches neuraloperator" in out and "at 8x8x8" in out
    model = load_model(tmp_path / "fno3d.wno.pt")
    assert model.config.resolution == (8, 8, 8)
    x = torch.randn(2, 2, 8, 8, 8)
    with torch.no_grad():
        assert rel(model(x), fno(x)) <= 1e-5


def test_import_report_defaults_to_a_16_cube(tmp_path):
    torch.save(make_fno3d("dense-default").state_dict(), tmp_path / "f.pt")
    report = import_neuralop(tmp_path / "f.pt", None)
    assert report.reference_error is not None and report.reference_error <= 1e-5
    assert report.reference_note == "2 random inputs at 16x16x16"


# ---- refusals ------------------------------------------------------------------------------------


def test_a_3d_real_space_kernel_is_refused_in_one_line(tmp_path, capsys):
    fno = make_fno3d("dense-default")
    with pytest.raises(NeuralopImportError, match="a 3x3x3 real-space kernel") as e:
        from_neuralop(fno.state_dict(), real_space_kernel=True)
    assert "\n" not in str(e.value)
    torch.save(fno.state_dict(), tmp_path / "f.pt")
    assert main(["import-neuralop", str(tmp_path / "f.pt"), "--wno"]) == 1
    err = capsys.readouterr().err.strip()
    assert "--wno" in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "f.wno.pt").exists()
    for build in (
        lambda: WNOConfig(1, 1, modes=(2, 2, 2)),  # real_space_kernel defaults to True
        lambda: WNO2d(WNOConfig(1, 1, modes=(2, 2, 2), real_space_kernel=True)),
    ):
        with pytest.raises(WNOEdgeError, match="a 3-D model is an FNO: real_space_kernel must be false") as e:
            build()
        assert "\n" not in str(e.value)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(resolution=(8, 8)), "resolution must be three integers"),
        (dict(grid_domain=((0, 1), (0, 2))), r"grid_domain must be \(\(x0, x1\), \(y0, y1\), \(z0, z1\)\)"),
        (dict(domain_padding=0, domain_padding_fraction=(0.1, 0.1)), "domain_padding_fraction must be three"),
        (dict(modes=(2, 2, 2, 2)), "modes must be two integers"),
    ],
)
def test_3d_config_refusals_are_one_line(kwargs, message):
    with pytest.raises(WNOEdgeError, match=message) as e:
        WNOConfig(1, 1, **{"modes": (2, 2, 2), "real_space_kernel": False, **kwargs})
    assert "\n" not in str(e.value)


def test_other_3d_refusals_are_one_line(tmp_path):
    model = from_neuralop(make_fno3d("dense-default").state_dict())
    with pytest.raises(WNOEdgeError, match="no 3-D path") as e:
        model.set_conv(4, backend="native")
    assert "\n" not in str(e.value)
    with pytest.raises(WNOEdgeError, match=r"expected input \(B, 2, D, H, W\)"):
        model(torch.zeros(1, 2, 8, 8))
    with pytest.raises(WNOEdgeError, match="too small for 2x2x3 Fourier modes"):
        model(torch.zeros(1, 2, 2, 8, 8))
    with pytest.raises(NeuralopImportError, match="resolution 8x8 does not fit a 3-D FNO: give DxHxW"):
        from_neuralop(make_fno3d("dense-default").state_dict(), resolution=(8, 8))


def test_training_a_3d_model_is_refused_in_one_line(tmp_path, capsys):
    """There is no 3-D training data reader: `train --init` of a 3-D import names the mismatch."""
    from wno_edge.data import generate

    data = tmp_path / "darcy.h5"
    generate("darcy", data, n_samples=10, resolution=8, seed=1, progress=False)
    save_model(from_neuralop(make_fno3d("dense-default").state_dict()), tmp_path / "fno3d.pt")
    args = ["train", "--data", str(data), "-o", str(tmp_path / "out.pt"), "--init", str(tmp_path / "fno3d.pt")]
    assert main([*args, "--epochs", "1"]) == 1
    err = capsys.readouterr().err.strip()
    assert "a 3-D model, the data is 2-D" in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "out.pt").exists()
