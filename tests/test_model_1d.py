"""The 1-D model (WNO2d with one Fourier mode count): its spectral conv against an FFT written
here, the whole model at k = 0 against PDEBench's FNO1d forward written here (and at k != 0 with
the 3-tap conv added), Winograd tiles against direct, the config's encoding of the rank, the
checkpoint round trip, `wno-edge info`'s MACs counted by hand, and the one-line refusals."""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from wno_edge.checkpoint import CheckpointError, load_model, save_model
from wno_edge.cli import main
from wno_edge.contract import TILES, WNOConfig
from wno_edge.errors import WNOEdgeError
from wno_edge.model import SpectralConv1d, WNO2d, count_parameters, state_dict_shapes

SMALL = dict(in_channels=3, out_channels=2, width=6, modes=(5,), n_layers=3, projection_width=16)


def reference_spectral(x: torch.Tensor, weights: torch.Tensor, modes: int) -> torch.Tensor:
    """rfft along X, keep the `modes` lowest frequencies, mix channels per mode, irfft (zeros above)."""
    x_ft = torch.fft.rfft(x.to(torch.float64))
    kept = x_ft[..., :modes]
    mixed = torch.stack(
        [
            sum(kept[:, i, k, None] * weights[i, :, k].to(torch.complex128) for i in range(x.shape[1]))
            for k in range(modes)
        ],
        dim=-1,
    )  # (B, out, modes), the sum written out per input channel
    full = torch.cat([mixed, torch.zeros(*mixed.shape[:2], x.shape[-1] // 2 + 1 - modes, dtype=mixed.dtype)], -1)
    return torch.fft.irfft(full, n=x.shape[-1])


@pytest.mark.parametrize("n, modes", [(32, 5), (31, 16), (16, 9)])  # all of 31's 16, and 16's Nyquist mode
def test_spectral_conv1d_is_the_truncated_fft(n, modes):
    torch.manual_seed(n)
    sc = SpectralConv1d(4, 3, (modes,))
    assert tuple(sc.weights1.shape) == (4, 3, modes) and sc.weights1.is_complex()
    x = torch.randn(2, 4, n, dtype=torch.float64)
    with torch.no_grad():
        y = sc(x)
    expected = reference_spectral(x, sc.weights1.detach(), modes)
    assert y.dtype == torch.float64
    torch.testing.assert_close(y, expected, rtol=0, atol=1e-12 * expected.abs().max().item())


def test_spectral_conv1d_refuses_a_grid_without_room_for_its_modes():
    with pytest.raises(WNOEdgeError, match=r"15 points .* too small for 9 Fourier modes: need X >= 16"):
        SpectralConv1d(1, 1, (9,))(torch.zeros(1, 1, 15))


class PDEBenchFNO1d(nn.Module):
    """PDEBench's FNO1d (pdebench/models/fno/fno.py), channels-last, as an independent reference:
    fc0, four (spectral conv + w (Conv1d)) with GELU between, padding 2 on the right, fc1, GELU, fc2.
    `kernels` adds a 3-tap conv to each layer's sum: the WNO layer written out."""

    def __init__(self, num_channels, modes, width, initial_step, kernels: bool = False):
        super().__init__()
        self.modes1, self.width, self.padding = modes, width, 2
        self.fc0 = nn.Linear(initial_step * num_channels + 1, width)
        scale = 1 / (width * width)
        for i in range(4):
            setattr(self, f"conv{i}", nn.Module())
            getattr(self, f"conv{i}").weights1 = nn.Parameter(
                scale * torch.rand(width, width, modes, dtype=torch.cfloat)
            )
            setattr(self, f"w{i}", nn.Conv1d(width, width, 1))
            if kernels:
                setattr(self, f"k{i}", nn.Parameter(0.05 * torch.randn(width, width, 3)))
        self.kernels = kernels
        self.fc1 = nn.Linear(width, 128)
        self.fc2 = nn.Linear(128, num_channels)

    def spectral(self, conv, x):
        x_ft = torch.fft.rfft(x)
        out_ft = torch.zeros(x.shape[0], self.width, x.size(-1) // 2 + 1, dtype=torch.cfloat)
        out_ft[:, :, : self.modes1] = torch.einsum("bix,iox->box", x_ft[:, :, : self.modes1], conv.weights1)
        return torch.fft.irfft(out_ft, n=x.size(-1))

    def forward(self, x, grid):  # x (B, X, initial_step * C), grid (B, X, 1)
        x = self.fc0(torch.cat((x, grid), dim=-1)).permute(0, 2, 1)
        x = F.pad(x, [0, self.padding])
        for i in range(4):
            s = self.spectral(getattr(self, f"conv{i}"), x) + getattr(self, f"w{i}")(x)
            if self.kernels:
                s = s + F.conv1d(x, getattr(self, f"k{i}"), padding=1)
            x = F.gelu(s) if i < 3 else s
        x = x[..., : -self.padding].permute(0, 2, 1)
        return self.fc2(F.gelu(self.fc1(x))).unsqueeze(-2)  # (B, X, 1, C)


def wno_from(fno: PDEBenchFNO1d, **config) -> WNO2d:
    """A WNO2d with the FNO1d's weights mapped by hand (item 3 of issue 23 adds the importer)."""
    c = WNOConfig(
        in_channels=fno.fc0.in_features - 1,
        out_channels=fno.fc2.out_features,
        width=fno.width,
        modes=(fno.modes1,),
        n_layers=4,
        grid_points="centers",  # PDEBench feeds the file's cell centres
        real_space_kernel=fno.kernels,
        **config,
    )
    sd = {
        "lift.weight": fno.fc0.weight,
        "lift.bias": fno.fc0.bias,
        "project1.weight": fno.fc1.weight,
        "project1.bias": fno.fc1.bias,
        "project2.weight": fno.fc2.weight,
        "project2.bias": fno.fc2.bias,
    }
    for i in range(4):
        sd[f"layers.{i}.spectral.weights1"] = getattr(fno, f"conv{i}").weights1
        sd[f"layers.{i}.pointwise.weight"] = getattr(fno, f"w{i}").weight
        sd[f"layers.{i}.pointwise.bias"] = getattr(fno, f"w{i}").bias
        if fno.kernels:
            sd[f"layers.{i}.kernel"] = getattr(fno, f"k{i}")
    model = WNO2d(c)
    missing, unexpected = model.load_state_dict({k: v.detach() for k, v in sd.items()}, strict=False)
    assert not unexpected and all(k.endswith(("_mean", "_std")) for k in missing)
    return model.eval()


def centres(n: int) -> torch.Tensor:
    return (torch.arange(n, dtype=torch.float64) + 0.5) / n


def relative(y: torch.Tensor, expected: torch.Tensor) -> float:
    return ((y.double() - expected.double()).abs().max() / expected.double().abs().max()).item()


@pytest.mark.parametrize("n", [64, 1024, 37])
def test_k0_is_pdebench_fno1d(n):
    torch.manual_seed(n)
    fno = PDEBenchFNO1d(num_channels=1, modes=16, width=20, initial_step=10)
    model = wno_from(fno)
    assert not model.config.real_space_kernel and model.config.rank == 1
    x = torch.randn(3, n, 10)  # PDEBench's layout: (B, X, initial_step * C)
    with torch.no_grad():
        expected = fno(x, centres(n).float().view(1, n, 1).expand(3, n, 1))[:, :, 0].permute(0, 2, 1)
        y = model(x.permute(0, 2, 1))  # ours: (B, C, X)
    assert y.shape == (3, 1, n)
    assert relative(y, expected) < 1e-5  # the import tolerance, of max |y|


@pytest.mark.parametrize("tile", [None, *TILES])
def test_wno1d_is_fno1d_plus_the_3_tap_conv(tile):
    torch.manual_seed(3)
    fno = PDEBenchFNO1d(num_channels=2, modes=8, width=12, initial_step=3, kernels=True)
    model = wno_from(fno).set_conv(tile)
    x = torch.randn(2, 50, 6)
    with torch.no_grad():
        expected = fno(x, centres(50).float().view(1, 50, 1).expand(2, 50, 1))[:, :, 0].permute(0, 2, 1)
        y = model(x.permute(0, 2, 1))
    assert relative(y, expected) < 1e-5


def test_every_tile_computes_the_direct_function_in_float64():
    torch.manual_seed(0)
    model = WNO2d(WNOConfig(**SMALL)).double().eval()
    x = torch.randn(2, 3, 45, dtype=torch.float64)
    with torch.no_grad():
        direct = model.set_conv(None)(x)
        for tile in TILES:
            assert relative(model.set_conv(tile)(x), direct) < 1e-12, tile


def test_native_backend_runs_the_line_kernel():
    """set_conv(tile, backend="native"): the CPU kernel's F(m, 3) path (float32) computes the
    model's function, and gradients flow through the op (conv1d's exact gradient)."""
    from wno_edge import native

    ok, why = native.available()
    if not ok:
        pytest.skip(f"the native kernel is not available: {why}")
    torch.manual_seed(1)
    model = WNO2d(WNOConfig(**SMALL)).eval()
    with torch.no_grad():
        for layer in model.layers:
            layer.kernel.normal_(0, 0.3)
    x = torch.randn(3, 3, 45)
    with torch.no_grad():
        direct = model.set_conv(None)(x)
        for tile in TILES:
            assert relative(model.set_conv(tile, backend="native")(x), direct) < 1e-5, tile
    x.requires_grad_(True)
    model.set_conv(4, backend="native")(x).square().sum().backward()
    grad_native = x.grad.clone()
    x.grad = None
    model.set_conv(None)(x).square().sum().backward()
    assert relative(grad_native, x.grad) < 1e-5
    with pytest.raises(WNOEdgeError, match="no 3-D path"):
        WNO2d(WNOConfig(1, 1, width=4, modes=(2, 2, 2), real_space_kernel=False)).set_conv(4, backend="native")


def test_resolution_independent_and_shapes_checked():
    model = WNO2d(WNOConfig(**SMALL)).eval()
    with torch.no_grad():
        for n in (9, 64, 200):
            assert model(torch.randn(1, 3, n)).shape == (1, 2, n)
    with pytest.raises(WNOEdgeError, match=r"expected input \(B, 3, X\)"):
        model(torch.randn(1, 3, 8, 8))
    with pytest.raises(WNOEdgeError, match=r"expected input \(B, 3, H, W\)"):
        WNO2d(WNOConfig(3, 2, width=4, modes=(2, 2), n_layers=1))(torch.randn(1, 3, 8))


def test_grid_channel_is_x_and_padding_is_on_the_right():
    cfg = WNOConfig(1, 1, width=4, modes=(3,), n_layers=1, grid_domain=((-1.0, 3.0),), grid_points="centers")
    model = WNO2d(cfg)
    assert model.lift.in_features == 2  # the input channel and x
    expected = -1 + 0.5 * (torch.arange(8, dtype=torch.float64) + 0.5)
    torch.testing.assert_close(model.line_grid(8, 2, torch.float64, "cpu")[1, 0], expected)
    default = WNO2d(WNOConfig(1, 1, width=4, modes=(3,), n_layers=1))
    torch.testing.assert_close(default.line_grid(5, 1, torch.float32, "cpu")[0, 0], torch.linspace(0, 1, 5))
    assert cfg.axis_paddings((10,)) == ((0, 2),)  # domain_padding: PDEBench FNO1d's 2 on the right
    fraction = WNOConfig(1, 1, modes=(3,), domain_padding=0, domain_padding_fraction=(0.25,))
    assert fraction.axis_paddings((10,)) == ((2, 2),)  # neuraloperator's: round(f * X) on both sides


def test_neuralop_block_options_run_in_1d():
    cfg = WNOConfig(
        2,
        1,
        width=6,
        modes=(4,),
        n_layers=2,
        block="neuralop",
        lifting_width=8,
        channel_mlp_width=5,
        channel_mlp_skip=True,
        domain_padding=0,
        domain_padding_fraction=(0.125,),
    )
    model = WNO2d(cfg).eval()
    sd = model.state_dict()
    assert {k: (tuple(v.shape), v.is_complex()) for k, v in sd.items()} == state_dict_shapes(cfg)
    assert tuple(sd["layers.0.mlp1.weight"].shape) == (5, 6, 1) and tuple(sd["layers.0.kernel"].shape) == (6, 6, 3)
    with torch.no_grad():
        assert model(torch.randn(2, 2, 32)).shape == (2, 1, 32)


def test_config_encodes_the_rank_in_modes():
    cfg = WNOConfig(1, 1, modes=(16,), resolution=(1024,))
    assert cfg.rank == 1 and cfg.grid_domain == ((0.0, 1.0),) and cfg.domain_padding_fraction == (0.0,)
    d = cfg.to_dict()
    assert d["modes"] == [16] and d["resolution"] == [1024]
    assert "grid_domain" not in d and "domain_padding_fraction" not in d  # defaults, as in 2-D files
    assert WNOConfig.from_dict(json.loads(json.dumps(d))) == cfg
    assert set(WNOConfig(1, 1).to_dict()) == set(d)  # the same keys as a 2-D file: no format change
    assert WNOConfig(1, 1).rank == 2 and WNOConfig(1, 1).modes == (12, 12)
    for kwargs, message in [
        (dict(modes=(4, 4, 4)), "a 3-D model is an FNO: real_space_kernel must be false"),
        (dict(modes=(4,), resolution=(64, 64)), r"resolution must be one integer \(a 1-D model\)"),
        (dict(modes=(4, 4), resolution=(64,)), "resolution must be two integers"),
        (dict(modes=(4,), grid_domain=((0, 1), (0, 2))), r"grid_domain must be \(\(x0, x1\),\)"),
        (dict(modes=(4,), domain_padding=0, domain_padding_fraction=(0.1, 0.1)), "domain_padding_fraction must be one"),
        (dict(modes=()), "modes must be two integers"),
    ]:
        with pytest.raises(WNOEdgeError, match=message) as e:
            WNOConfig(1, 1, **kwargs)
        assert "\n" not in str(e.value)


def test_checkpoint_round_trip(tmp_path):
    torch.manual_seed(0)
    cfg = WNOConfig(**SMALL, resolution=(40,), grid_points="left", grid_domain=((0.0, 6.5),))
    model = WNO2d(cfg)
    model.set_normalization([1, 2, 3], [2, 2, 2], [0.5, -1], [3, 4])
    path = save_model(model, tmp_path / "m1d.pt", {"task": "burgers", "sample_inputs": torch.randn(2, 3, 40)})
    loaded = load_model(path)
    assert loaded.config == cfg and loaded.metadata["task"] == "burgers"
    for k, v in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v), k
    x = torch.randn(2, 3, 40)
    with torch.no_grad():
        assert torch.equal(loaded(x), model.eval()(x))
    # a 1-D config over 2-D weights (or the reverse) is refused in one line, before building
    payload = torch.load(path, weights_only=True)
    payload["config"]["modes"] = [5, 5]
    payload["config"]["resolution"] = [40, 40]
    payload["config"]["grid_domain"] = [[0.0, 6.5], [0.0, 6.5]]
    torch.save(payload, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match="weights do not match the stored config") as e:
        load_model(tmp_path / "bad.pt")
    assert "\n" not in str(e.value)


def test_info_counts_macs_and_parameters_by_hand(tmp_path, capsys):
    # in 2, out 1, width 3, 2 modes, 1 layer, projection 4, 2 cells of padding: X = 6 -> 8 padded
    cfg = WNOConfig(2, 1, width=3, modes=(2,), n_layers=1, projection_width=4, winograd_tile=2, resolution=(6,))
    path = save_model(WNO2d(cfg), tmp_path / "tiny.pt")
    assert main(["info", str(path), "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["architecture"] == "WNO1d" and s["grid"] == [6]
    # lift (2 + x) * 3 + 3, spectral 3 * 3 * 2 complex, W 3 * 3 + 3, k 3 * 3 * 3, fc1 3 * 4 + 4, fc2 4 + 1
    assert s["parameters"] == 12 + 36 + 12 + 27 + 16 + 5 == count_parameters(WNO2d(cfg))
    pointwise = 6 * (3 * 3 + 3 * 4 + 4 * 1)  # per point: lift, fc1, fc2
    dft = 3 * (2 * 8 * 2) * 2  # per channel: real DFT of 8 points to 2 modes (2 MACs a term), and back
    mixing = 4 * 2 * 3 * 3  # a complex MAC (4 real) per mode and channel pair
    conv = 3 * 8 * 3 * 3  # out, padded points, in, taps
    assert s["macs"] == {
        "pointwise": pointwise,
        "spectral": dft + mixing,
        "conv3_direct": conv,
        "total_direct": pointwise + dft + mixing + conv,
    }
    # F(2,3): 4 tiles of 4 Winograd points, a 3 x 3 channel product each; its transforms have no multiplies
    assert s["winograd"]["2"] == {"multiplies": 4 * 4 * 3 * 3, "saving_vs_direct": conv / (4 * 4 * 3 * 3)}
    assert main(["info", str(path), "-r", "64", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["grid"] == [64]
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    for text in ("WNO1d", "3-tap kernel", "Winograd F(2,3)", "2 cells, right", "MACs per inference at 6,"):
        assert text in out
    assert main(["info", str(path), "-r", "64x64"]) == 1
    assert "a 1-D model's resolution is one length" in capsys.readouterr().err


def test_float64_parameters_and_gradients_flow():
    model = WNO2d(WNOConfig(**SMALL)).set_conv(4)
    x = torch.randn(2, 3, 30)
    loss = model(x).square().mean()
    loss.backward()
    grads = {n: p.grad for n, p in model.named_parameters()}
    assert all(g is not None and bool(torch.isfinite(g).all()) for g in grads.values())
    assert grads["layers.0.kernel"].abs().sum() > 0 and np.isfinite(loss.item())
