"""`wno-edge profile`: trtexec-shaped report, JSON, plot, and the conv comparison table."""

import json

import numpy as np
import pytest
import torch

from wno_edge.checkpoint import save_model
from wno_edge.cli import main
from wno_edge.model import WNO2d, WNOConfig
from wno_edge.reports.conv_compare import ConvShape, compare_conv, fft_conv, im2col_conv
from wno_edge.reports.flops import model_cost
from wno_edge.runtime.stats import latency_summary

CFG = WNOConfig(1, 1, width=6, modes=(3, 3), n_layers=2, resolution=(16, 16))


@pytest.fixture
def checkpoint(tmp_path):
    torch.manual_seed(0)
    return save_model(WNO2d(CFG), tmp_path / "m.pt")


def test_profile_report_json_and_plot(checkpoint, tmp_path, capsys):
    args = [
        "profile",
        "--engine",
        str(checkpoint),
        "-n",
        "40",
        "--warmup",
        "2",
        "--batch",
        "2",
        "--report",
        str(tmp_path / "p.json"),
        "--plot",
        str(tmp_path / "p.png"),
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    for text in (
        "Throughput:",
        " qps",
        "Latency: min = ",
        "median = ",
        "percentile(90%) = ",
        "percentile(99%) = ",
        "Jitter (p99 / p50)",
        "Peak resident memory",
        "GFLOP/s",
    ):
        assert text in out, text
    result = json.loads((tmp_path / "p.json").read_text())
    assert result["iterations"] == 40 and len(result["latencies_ms"]) == 40 and result["input_shape"] == [2, 1, 16, 16]
    assert result["macs"] == model_cost(CFG, 16, 16, batch=2).total_direct_macs
    lat = result["latency"]
    assert lat["min_ms"] <= lat["median_ms"] <= lat["p90_ms"] <= lat["p95_ms"] <= lat["p99_ms"] <= lat["max_ms"]
    assert lat["median_ms"] == pytest.approx(np.median(result["latencies_ms"]))
    assert result["peak_rss_mib"] > 10
    assert (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_profile_of_a_1d_export_counts_its_macs(tmp_path, capsys):
    """An exported 1-D model (B, C, X): the MAC count is the model's on its grid (profile once
    unpacked four axes and failed on it)."""
    from wno_edge.onnx import export_onnx
    from wno_edge.reports.flops import grid_cost

    cfg = WNOConfig(1, 1, width=6, modes=(4,), n_layers=2, resolution=(32,))
    torch.manual_seed(0)
    path = export_onnx(WNO2d(cfg).eval(), tmp_path / "line.onnx", batch=3).path
    args = ["profile", "--engine", str(path), "-n", "5", "--warmup", "1", "--report", str(tmp_path / "p.json")]
    assert main(args) == 0
    result = json.loads((tmp_path / "p.json").read_text())
    assert result["input_shape"] == [3, 1, 32]
    assert result["macs"] == grid_cost(cfg, (32,), 3).total_direct_macs > 0


def test_latency_summary_matches_numpy():
    s = np.random.default_rng(0).gamma(2.0, 1e-3, 1000)
    summary = latency_summary(s)
    assert summary["p99_ms"] == pytest.approx(np.percentile(s, 99) * 1e3)
    assert summary["jitter_p99_over_p50"] == pytest.approx(np.percentile(s, 99) / np.median(s))


def test_profile_errors_are_one_line(checkpoint, tmp_path, capsys):
    assert main(["profile", "--engine", str(tmp_path / "none.onnx")]) == 1
    assert main(["profile", "--engine", str(checkpoint), "--device", "tpu"]) == 1
    assert main(["profile", "--engine", str(checkpoint), "--report", str(tmp_path / "no" / "p.json")]) == 1
    assert main(["profile", "--engine", str(checkpoint), "--plot", str(tmp_path), "-n", "100000000"]) == 1  # at once
    err = capsys.readouterr().err
    assert err.count("error:") == 4 and "Traceback" not in err and "is a directory" in err


def test_profile_json_on_stdout(checkpoint, capsys):
    assert main(["profile", "--engine", str(checkpoint), "-n", "5", "--warmup", "1", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["iterations"] == 5 and result["input_shape"] == [1, 1, 16, 16] and "latencies_ms" not in result


def test_conv_reference_methods_match_conv2d():
    g = torch.Generator().manual_seed(0)
    x, w, b = torch.randn(2, 3, 9, 7, generator=g), torch.randn(4, 3, 3, 3, generator=g), torch.randn(4, generator=g)
    expected = torch.nn.functional.conv2d(x, w, b, padding=1)
    torch.testing.assert_close(im2col_conv(x, w, b), expected, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(fft_conv(x, w, b), expected, rtol=1e-4, atol=1e-4)


def test_compare_conv_table(checkpoint, capsys):
    rows = compare_conv(ConvShape(1, 8, 18, 18), threads=1, repeats=3)
    names = [r["method"] for r in rows]
    assert names[:4] == ["direct (torch conv2d)", "direct (ONNX Runtime Conv)", "im2col + GEMM", "FFT convolution"]
    assert {"Winograd F(2,3) (PyTorch)", "Winograd F(4,3) (PyTorch)", "Winograd F(6,3) (PyTorch)"} <= set(names)
    assert sum(r["fastest"] for r in rows) == 1
    assert all(r["rel_error"] < 1e-4 for r in rows)
    assert main(["profile", "--engine", str(checkpoint), "--compare-conv"]) == 0
    assert "1x6x18x18" in capsys.readouterr().out


def _counted_macs(model, x) -> tuple[int, int]:
    """(MACs of every Linear and 1x1 Conv2d that ran, MACs of the 3x3 convs as direct convs),
    from the tensors the modules actually saw: padding and MLPs as the forward pass did them."""
    pointwise, conv3 = [0], [0]

    def linear(mod, args, out):
        pointwise[0] += out.numel() * mod.in_features

    def conv1x1(mod, args, out):
        pointwise[0] += out.numel() * mod.in_channels

    def layer(mod, args, out):
        if mod.kernel is not None:  # one 3x3 conv (W folded in) over the padded field
            conv3[0] += out.numel() * mod.kernel.shape[1] * 9

    hooks = []
    for mod in model.modules():
        if isinstance(mod, torch.nn.Linear):
            hooks.append(mod.register_forward_hook(linear))
        elif isinstance(mod, torch.nn.Conv2d) and mod.kernel_size == (1, 1):
            hooks.append(mod.register_forward_hook(conv1x1))
        elif hasattr(mod, "real_space_weight"):
            hooks.append(mod.register_forward_hook(layer))
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return pointwise[0], conv3[0]


@pytest.mark.parametrize(
    "config",
    [
        CFG,
        WNOConfig(1, 1, width=6, modes=(3, 3), n_layers=2, real_space_kernel=False),
        WNOConfig(
            2,
            1,
            width=8,
            modes=(3, 4),
            n_layers=3,
            block="neuralop",
            lifting_width=12,
            channel_mlp_width=5,
            channel_mlp_skip=True,
            domain_padding=0,
            domain_padding_fraction=(0.25, 0.125),
        ),
        WNOConfig(
            2,
            1,
            width=8,
            modes=(3, 4),
            n_layers=2,
            block="neuralop",
            real_space_kernel=False,
            lifting_width=10,
            channel_mlp_width=4,
            domain_padding=0,
            domain_padding_fraction=(0.2, 0.0),
        ),
    ],
    ids=["wno", "fno", "neuralop-k", "neuralop-fno"],
)
def test_model_cost_counts_what_the_forward_pass_runs(config):
    """Lifting MLP, channel MLPs with skip, fractional domain padding: the analytic count
    equals the modules' own (hooks), the W 1x1 of an FNO included."""
    torch.manual_seed(0)
    model = WNO2d(config).eval()
    x = torch.randn(2, config.in_channels, 20, 24)
    pointwise, conv3 = _counted_macs(model, x)
    cost = model_cost(config, 20, 24, batch=2)
    assert cost.pointwise_macs == pointwise
    assert cost.conv_direct.multiplies == conv3
