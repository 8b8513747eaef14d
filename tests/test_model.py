"""WNO2d against independent references: a float64 numpy/FFT implementation of the
same layer, and PDEBench's FNO2d (the k = 0 special case)."""

import math

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from wno_edge.errors import WNOEdgeError
from wno_edge.model import WNO2d, WNOConfig, count_parameters

SMALL = dict(in_channels=2, out_channels=3, width=6, modes=(4, 5), n_layers=3, projection_width=16)


def gelu(x):
    erf = np.vectorize(math.erf)
    return 0.5 * x * (1 + erf(x / math.sqrt(2)))


def numpy_reference(model: WNO2d, x: np.ndarray) -> np.ndarray:
    """The WNO forward pass written out in float64 numpy, straight from the paper's layer:
    v <- gelu(W v + k * v + F^-1(R . F v)) with the 3x3 correlation as shifted sums."""
    p = {
        k: v.detach().numpy().astype(np.complex128 if v.is_complex() else np.float64)
        for k, v in model.state_dict().items()
    }
    c = model.config
    b, _, h, w = x.shape
    x = (x - p["input_mean"][None, :, None, None]) / p["input_std"][None, :, None, None]
    gx, gy = np.meshgrid(np.linspace(0, 1, h), np.linspace(0, 1, w), indexing="ij")
    x = np.concatenate([x, np.broadcast_to(gx, (b, 1, h, w)), np.broadcast_to(gy, (b, 1, h, w))], 1)
    v = np.einsum("bihw,oi->bohw", x, p["lift.weight"]) + p["lift.bias"][None, :, None, None]
    pad = c.domain_padding
    v = np.pad(v, ((0, 0), (0, 0), (0, pad), (0, pad)))
    hp, wp = v.shape[2:]
    m1, m2 = c.modes
    for i in range(c.n_layers):
        pre = f"layers.{i}."
        ft = np.fft.rfft2(v)
        out = np.zeros((b, c.width, hp, wp // 2 + 1), np.complex128)
        out[:, :, :m1, :m2] = np.einsum("bixy,ioxy->boxy", ft[:, :, :m1, :m2], p[pre + "spectral.weights1"])
        out[:, :, -m1:, :m2] = np.einsum("bixy,ioxy->boxy", ft[:, :, -m1:, :m2], p[pre + "spectral.weights2"])
        spectral = np.fft.irfft2(out, s=(hp, wp))
        pointwise = np.einsum("bihw,oi->bohw", v, p[pre + "pointwise.weight"][:, :, 0, 0])
        pointwise += p[pre + "pointwise.bias"][None, :, None, None]
        conv = np.zeros_like(v)
        if c.real_space_kernel:
            vp = np.pad(v, ((0, 0), (0, 0), (1, 1), (1, 1)))
            k = p[pre + "kernel"]
            for du in range(3):
                for dv in range(3):
                    conv += np.einsum("bihw,oi->bohw", vp[:, :, du : du + hp, dv : dv + wp], k[:, :, du, dv])
        v = pointwise + conv + spectral
        if i < c.n_layers - 1:
            v = gelu(v)
    v = v[:, :, :h, :w]
    hidden = gelu(np.einsum("bihw,oi->bohw", v, p["project1.weight"]) + p["project1.bias"][None, :, None, None])
    y = np.einsum("bihw,oi->bohw", hidden, p["project2.weight"]) + p["project2.bias"][None, :, None, None]
    return y * p["output_std"][None, :, None, None] + p["output_mean"][None, :, None, None]


def randomize(model: WNO2d, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for t in model.parameters():
            t.copy_(torch.randn(t.shape, generator=g, dtype=t.dtype) * 0.3)
        model.set_normalization(
            torch.rand(model.config.in_channels, generator=g),
            1 + torch.rand(model.config.in_channels, generator=g),
            torch.randn(model.config.out_channels, generator=g),
            1 + torch.rand(model.config.out_channels, generator=g),
        )
    return model


@pytest.mark.parametrize("tile", [2, 4, 6])
@pytest.mark.parametrize("real_space_kernel", [True, False])
def test_model_matches_float64_fft_reference(tile, real_space_kernel):
    model = randomize(WNO2d(WNOConfig(**SMALL, winograd_tile=tile, real_space_kernel=real_space_kernel)))
    x = np.random.default_rng(1).standard_normal((2, 2, 13, 17))
    expected = numpy_reference(model, x)
    with torch.no_grad():
        y64 = model.double()(torch.from_numpy(x)).numpy()
        y32 = model.float()(torch.from_numpy(x).float()).numpy()
    scale = np.abs(expected).max()
    assert np.abs(y64 - expected).max() / scale < 1e-10
    assert np.abs(y32 - expected).max() / scale < 1e-4


def test_resolution_independent():
    torch.manual_seed(0)  # the model's random init must not depend on which tests ran before
    model = WNO2d(WNOConfig(in_channels=1, out_channels=1, width=8, modes=(6, 6), n_layers=2)).eval()
    with torch.no_grad():
        assert model(torch.rand(2, 1, 64, 64)).shape == (2, 1, 64, 64)
        y128 = model(torch.rand(1, 1, 128, 128))
    assert y128.shape == (1, 1, 128, 128) and torch.isfinite(y128).all()

    # A smooth field sampled at two resolutions gives nearly the same smooth prediction.
    def field(n):
        s = torch.linspace(0, 1, n)
        return (torch.sin(2 * math.pi * s)[:, None] * torch.cos(2 * math.pi * s)[None, :]).view(1, 1, n, n)

    with torch.no_grad():
        coarse, fine = model(field(64)), model(field(128))
    assert (fine[..., ::2, ::2] - coarse).abs().max() < 0.2 * coarse.abs().max()


def test_conv_choice_does_not_change_the_function():
    model = randomize(WNO2d(WNOConfig(**SMALL)))
    x = torch.randn(1, 2, 20, 20)
    with torch.no_grad():
        direct = model.set_conv(None)(x)
        for tile in (2, 4, 6):
            torch.testing.assert_close(
                model.set_conv(tile)(x), direct, rtol=1e-4, atol=1e-4 * direct.abs().max().item()
            )
    with pytest.raises(WNOEdgeError):
        model.set_conv(3)


def test_gradients_reach_every_parameter():
    model = WNO2d(WNOConfig(**SMALL))
    model(torch.randn(2, 2, 16, 16)).square().mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_config_validation_and_round_trip():
    cfg = WNOConfig(**SMALL, resolution=(32, 48))
    assert WNOConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(WNOEdgeError, match="winograd_tile"):
        WNOConfig(1, 1, winograd_tile=3)
    with pytest.raises(WNOEdgeError, match="width"):
        WNOConfig(1, 1, width=0)
    with pytest.raises(WNOEdgeError, match="unknown"):
        WNOConfig.from_dict({**cfg.to_dict(), "depth": 3})


def test_grid_too_small_for_modes_is_a_clear_error():
    model = WNO2d(WNOConfig(1, 1, width=4, modes=(12, 12), n_layers=1))
    with pytest.raises(WNOEdgeError, match="Fourier modes"):
        model(torch.rand(1, 1, 8, 8))
    with pytest.raises(WNOEdgeError, match="expected input"):
        model(torch.rand(1, 3, 32, 32))


def test_normalisation_lives_in_the_model():
    model = randomize(WNO2d(WNOConfig(**SMALL)))
    state = model.state_dict()
    for name in ("input_mean", "input_std", "output_mean", "output_std"):
        assert name in state
    # Output statistics scale the output exactly.
    x = torch.randn(1, 2, 16, 16)
    with torch.no_grad():
        y = model(x)
        model.output_std.mul_(2)
        model.output_mean.add_(1)
        y2 = model(x)
    torch.testing.assert_close(
        y2, (y - (model.output_mean - 1).view(1, -1, 1, 1)) * 2 + model.output_mean.view(1, -1, 1, 1)
    )


def test_parameter_count_counts_complex_twice():
    cfg = WNOConfig(**SMALL)
    model = WNO2d(cfg)
    w, (m1, m2) = cfg.width, cfg.modes
    spectral = cfg.n_layers * 2 * (2 * w * w * m1 * m2)
    real_space = cfg.n_layers * (w * w * 9 + w * w + w)
    lift = (cfg.in_channels + 2) * w + w
    project = (
        w * cfg.projection_width + cfg.projection_width + cfg.projection_width * cfg.out_channels + cfg.out_channels
    )
    assert count_parameters(model) == spectral + real_space + lift + project


class PDEBenchFNO2d(nn.Module):
    """PDEBench's FNO2d (pdebench/models/fno/fno.py), channels-last, as an independent reference."""

    def __init__(self, num_channels, modes1, modes2, width, initial_step):
        super().__init__()
        self.modes1, self.modes2, self.width, self.padding = modes1, modes2, width, 2
        self.fc0 = nn.Linear(initial_step * num_channels + 2, width)
        scale = 1 / (width * width)
        for i in range(4):
            setattr(self, f"conv{i}", nn.Module())
            conv = getattr(self, f"conv{i}")
            conv.weights1 = nn.Parameter(scale * torch.rand(width, width, modes1, modes2, dtype=torch.cfloat))
            conv.weights2 = nn.Parameter(scale * torch.rand(width, width, modes1, modes2, dtype=torch.cfloat))
            setattr(self, f"w{i}", nn.Conv2d(width, width, 1))
        self.fc1 = nn.Linear(width, 128)
        self.fc2 = nn.Linear(128, num_channels)

    def spectral(self, conv, x):
        b = x.shape[0]
        x_ft = torch.fft.rfft2(x)
        out_ft = torch.zeros(b, self.width, x.size(-2), x.size(-1) // 2 + 1, dtype=torch.cfloat)
        out_ft[:, :, : self.modes1, : self.modes2] = torch.einsum(
            "bixy,ioxy->boxy", x_ft[:, :, : self.modes1, : self.modes2], conv.weights1
        )
        out_ft[:, :, -self.modes1 :, : self.modes2] = torch.einsum(
            "bixy,ioxy->boxy", x_ft[:, :, -self.modes1 :, : self.modes2], conv.weights2
        )
        return torch.fft.irfft2(out_ft, s=(x.size(-2), x.size(-1)))

    def forward(self, x, grid):
        x = self.fc0(torch.cat((x, grid), dim=-1)).permute(0, 3, 1, 2)
        x = F.pad(x, [0, self.padding, 0, self.padding])
        for i in range(4):
            x = self.spectral(getattr(self, f"conv{i}"), x) + getattr(self, f"w{i}")(x)
            if i < 3:
                x = F.gelu(x)
        x = x[..., : -self.padding, : -self.padding].permute(0, 2, 3, 1)
        return self.fc2(F.gelu(self.fc1(x)))


def cell_centres(lo, hi, n):
    """PDEBench's coordinates: the centres of n equal cells of [lo, hi] (as its files store them)."""
    return torch.tensor([lo + (i + 0.5) * (hi - lo) / n for i in range(n)], dtype=torch.float64).float()


@pytest.mark.parametrize("real_space_kernel", [True, False])
def test_from_fno_computes_pdebench_fno2d(real_space_kernel):
    torch.manual_seed(0)
    fno = PDEBenchFNO2d(num_channels=1, modes1=5, modes2=5, width=8, initial_step=1)
    model = WNO2d.from_fno(fno.state_dict(), real_space_kernel=real_space_kernel)
    assert model.config.width == 8 and model.config.modes == (5, 5) and model.config.n_layers == 4
    x = torch.rand(2, 24, 24, 1)
    s = cell_centres(0, 1, 24)  # PDEBench's Darcy files: cell centres of the unit square
    grid = torch.stack(torch.meshgrid(s, s, indexing="ij"), -1).expand(2, 24, 24, 2)
    with torch.no_grad():
        expected = fno(x, grid).permute(0, 3, 1, 2)
        y = model(x.permute(0, 3, 1, 2))
    torch.testing.assert_close(y, expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(WNOEdgeError, match="FNO2d"):
        WNO2d.from_fno({"weights": torch.zeros(1)})


@pytest.mark.parametrize(
    "domain, shape",
    [
        (((-2.5, 2.5), (-2.5, 2.5)), (24, 24)),  # PDEBench's radial dam break
        (((-1.0, 3.0), (2.0, 2.5)), (20, 26)),  # neither square nor unit, H != W
    ],
)
def test_from_fno_on_a_domain_that_is_not_the_unit_square(domain, shape):
    torch.manual_seed(1)
    fno = PDEBenchFNO2d(num_channels=1, modes1=4, modes2=4, width=8, initial_step=1)
    model = WNO2d.from_fno(fno.state_dict(), domain=domain)
    assert model.config.grid_domain == domain and model.config.grid_points == "centers"
    h, w = shape
    gx, gy = torch.meshgrid(cell_centres(*domain[0], h), cell_centres(*domain[1], w), indexing="ij")
    x = torch.rand(2, h, w, 1)
    with torch.no_grad():
        expected = fno(x, torch.stack([gx, gy], -1).expand(2, h, w, 2)).permute(0, 3, 1, 2)
        y = model(x.permute(0, 3, 1, 2))
        unit = WNO2d.from_fno(fno.state_dict())(x.permute(0, 3, 1, 2))  # the grid matters
    torch.testing.assert_close(y, expected, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(unit, expected, rtol=1e-5, atol=1e-5)


def test_grid_domain_travels_with_checkpoints_and_exports(tmp_path):
    from wno_edge import runtime
    from wno_edge.checkpoint import load_model, save_model
    from wno_edge.onnx import export_onnx

    cfg = WNOConfig(
        1,
        1,
        width=6,
        modes=(3, 3),
        n_layers=1,
        resolution=(12, 14),
        grid_domain=((-1.0, 3.0), (2.0, 2.5)),
        grid_points="centers",
    )
    model = randomize(WNO2d(cfg)).eval()
    save_model(model, tmp_path / "m.pt")
    loaded = load_model(tmp_path / "m.pt")
    assert loaded.config == cfg
    x = torch.rand(1, 1, 12, 14)
    with torch.no_grad():
        expected = model(x)
        torch.testing.assert_close(loaded(x), expected, rtol=0, atol=0)
    export_onnx(loaded, tmp_path / "m.onnx")
    with runtime.load(tmp_path / "m.onnx") as session:
        assert session.config == cfg
        np.testing.assert_allclose(session.run(x.numpy()), expected.numpy(), rtol=1e-4, atol=1e-4)


def test_files_without_grid_keys_keep_the_unit_linspace_grid(tmp_path):
    from wno_edge.checkpoint import load_model, save_model

    model = randomize(WNO2d(WNOConfig(**SMALL))).eval()
    assert "grid_domain" not in model.config.to_dict() and "grid_points" not in model.config.to_dict()
    save_model(model, tmp_path / "old.pt")  # the default writes no grid keys: the old layout
    loaded = load_model(tmp_path / "old.pt")
    assert loaded.config.grid_domain == ((0.0, 1.0), (0.0, 1.0)) and loaded.config.grid_points == "endpoints"
    x = np.random.default_rng(0).random((1, 2, 10, 12))
    with torch.no_grad():
        y = loaded.double()(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(y, numpy_reference(loaded, x), rtol=1e-9, atol=1e-9)  # linspace(0, 1) grid


@pytest.mark.parametrize(
    "domain, points, message",
    [
        (((0, 1),), "endpoints", "grid_domain must be"),
        (((1, 0), (0, 1)), "endpoints", r"grid_domain\[0\] must have start < end"),
        (((0, float("nan")), (0, 1)), "endpoints", "must be finite"),
        (((0, 1), ("a", 1)), "endpoints", "two numbers"),
        (((0, 1), (0, 1)), "corners", "grid_points must be one of"),
    ],
)
def test_grid_domain_validation(domain, points, message):
    with pytest.raises(WNOEdgeError, match=message):
        WNOConfig(1, 1, grid_domain=domain, grid_points=points)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU")
def test_runs_on_cuda():
    model = randomize(WNO2d(WNOConfig(**SMALL)))
    x = torch.randn(2, 2, 32, 32)
    with torch.no_grad():
        expected = model(x)
        y = model.cuda()(x.cuda()).cpu()
    torch.testing.assert_close(y, expected, rtol=1e-4, atol=1e-4)


def test_native_backend_computes_the_same_model():
    from wno_edge import native

    ok, why = native.available()
    if not ok:
        pytest.skip(why)
    model = randomize(WNO2d(WNOConfig(**SMALL))).eval()
    x = torch.randn(2, 2, 24, 20)
    with torch.no_grad():
        expected = model.set_conv(None)(x)
        for tile in (2, 4, 6):
            y = model.set_conv(tile, backend="native")(x)
            torch.testing.assert_close(y, expected, rtol=1e-4, atol=1e-4 * expected.abs().max().item())


def test_inference_fold_follows_parameter_updates():
    model = randomize(WNO2d(WNOConfig(**SMALL))).eval()
    x = torch.randn(1, 2, 16, 16)
    with torch.no_grad():
        before = model(x)
        layer = model.layers[0]
        folded = layer._inference_weight()
        assert layer._inference_weight() is folded  # folded once, reused
        layer.kernel.add_(0.5)
        after = model(x)
        torch.testing.assert_close(layer._inference_weight(), layer.real_space_weight())
    with torch.enable_grad():
        expected = model(x)
    torch.testing.assert_close(after, expected)
    assert not torch.allclose(before, after)


def test_model_built_under_inference_mode_runs():
    with torch.inference_mode():
        model = WNO2d(WNOConfig(**SMALL)).eval()
        assert model(torch.randn(1, 2, 16, 16)).shape == (1, 3, 16, 16)
