"""The CLI: one-line errors, non-zero exits, and the commands' real output."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from wno_edge import __version__
from wno_edge.checkpoint import save_model
from wno_edge.cli import main
from wno_edge.model import WNO2d, WNOConfig
from wno_edge.reports.flops import model_cost


@pytest.fixture
def model_file(tmp_path):
    torch.manual_seed(0)
    cfg = WNOConfig(in_channels=1, out_channels=1, width=8, modes=(4, 4), n_layers=2, resolution=(32, 32))
    return save_model(WNO2d(cfg), tmp_path / "m.pt", {"task": "darcy"})


def test_console_script_version_and_help():
    exe = [sys.executable, "-m", "wno_edge.cli"]
    out = subprocess.run(exe + ["--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"wno-edge {__version__}"
    out = subprocess.run(exe + ["--help"], capture_output=True, text=True, check=True)
    assert "info" in out.stdout and "demo" in out.stdout


def test_info_json_matches_the_analytic_cost(model_file, capsys):
    assert main(["info", str(model_file), "--json", "--resolution", "48x40"]) == 0
    summary = json.loads(capsys.readouterr().out)
    cost = model_cost(WNOConfig.from_dict(summary["config"]), 48, 40)
    assert summary["grid"] == [48, 40]
    assert summary["macs"]["spectral"] == cost.spectral_macs
    assert summary["macs"]["conv3x3_direct"] == cost.conv_direct.multiplies
    assert summary["winograd"]["4"]["saving_vs_direct"] == pytest.approx(cost.winograd_saving(4))
    assert summary["winograd"]["4"]["multiplies"] < cost.conv_direct.multiplies
    assert summary["metadata"] == {"task": "darcy"}


def test_info_tables(model_file, capsys):
    assert main(["info", str(model_file)]) == 0
    out = capsys.readouterr().out
    for text in ("WNO2d", "parameters", "spectral", "F(4x4,3x3)", "saving", "32x32"):
        assert text in out


def test_info_shows_a_neuraloperator_block_and_counts_its_mlps(tmp_path, capsys):
    cfg = WNOConfig(
        in_channels=1,
        out_channels=1,
        width=8,
        modes=(4, 4),
        n_layers=2,
        resolution=(32, 32),
        block="neuralop",
        lifting_width=16,
        channel_mlp_width=4,
        channel_mlp_skip=True,
        domain_padding=0,
        domain_padding_fraction=(0.25, 0.25),
        real_space_kernel=False,
    )
    path = save_model(WNO2d(cfg), tmp_path / "nop.pt")
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    for text in ("0.25 x 0.25 of the grid", "neuralop, channel MLP 4 + skip", "lifting MLP width", "16"):
        assert text in out, text
    assert main(["info", str(path), "--json"]) == 0
    macs = json.loads(capsys.readouterr().out)["macs"]
    # 32x32 padded to 48x48: lift 3->16->8, per layer W + MLP 8->4->8 + skip, projection
    lift, proj = 32 * 32 * (3 * 16 + 16 * 8), 32 * 32 * (8 * cfg.projection_width + cfg.projection_width * 1)
    layers = 2 * 48 * 48 * (8 * 8 + 2 * 8 * 4 + 8 * 8)
    assert macs["pointwise"] == lift + proj + layers


@pytest.mark.parametrize(
    "args,message",
    [
        (["info", "missing.pt"], "no such file"),
        (["info", "{bad}"], "not a wno-edge checkpoint"),
        (["info", "{good}", "--resolution", "abc"], "resolution must look like"),
    ],
)
def test_user_errors_are_one_line(args, message, model_file, tmp_path, capsys):
    bad = tmp_path / "bad.pt"
    torch.save({"hello": 1}, bad)
    args = [a.format(bad=bad, good=model_file) for a in args]
    assert main(args) == 1
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_bad_option_exits_non_zero_without_traceback(capsys):
    assert main(["info", "m.pt", "--batch", "many"]) == 2
    assert main(["no-such-command"]) == 2
    assert main(["export"]) == 2  # missing argument
    err = capsys.readouterr().err
    assert "Traceback" not in err and "─" not in err  # no box
    lines = err.strip().splitlines()
    assert len(lines) == 3 and all(line.startswith("error: ") and "--help" in line for line in lines)


def test_no_arguments_prints_the_help(capsys):
    assert main([]) == 0
    assert "Commands" in capsys.readouterr().out


def test_info_describes_an_export_from_its_metadata(model_file, tmp_path, capsys):
    from wno_edge.onnx import export_onnx

    onnx_file = tmp_path / "m.onnx"
    export_onnx(model_file, onnx_file)
    assert main(["info", str(onnx_file), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["config"] == WNOConfig.from_dict(summary["config"]).to_dict()
    assert summary["config"]["width"] == 8 and summary["metadata"]["wno_edge.resolution"] == "32x32"
    (tmp_path / "other.onnx").write_bytes(b"\x08\x07")  # a valid protobuf, but no wno-edge metadata
    assert main(["info", str(tmp_path / "other.onnx")]) == 1
    err = capsys.readouterr().err.strip()
    assert "not a wno-edge export" in err and len(err.splitlines()) == 1 and "torch" not in err


def test_demo_runs_the_toolchain_on_a_trained_model(tmp_path, capsys):
    from wno_edge.data import generate
    from wno_edge.train import TrainOptions, fit

    generate("darcy", tmp_path / "d.h5", n_samples=20, resolution=16, seed=0, progress=False)
    ckpt = fit(
        TrainOptions(
            data=str(tmp_path / "d.h5"),
            task="darcy",
            output=str(tmp_path / "m.pt"),
            epochs=2,
            width=6,
            modes=4,
            layers=2,
            batch_size=5,
        )
    ).checkpoint
    assert main(["demo", "--out", str(tmp_path / "demo"), "--model", str(ckpt), "--samples", "4"]) == 0
    out = capsys.readouterr().out
    assert "PyTorch test relative L2" in out and "4 WinogradConv" not in out and "2 WinogradConv" in out
    assert (tmp_path / "demo" / "darcy_wno.onnx").is_file()
    assert (tmp_path / "demo" / "darcy_prediction.png").read_bytes()[:4] == b"\x89PNG"
    from wno_edge.reports.demo import run_demo

    result = run_demo(tmp_path / "demo2", ckpt, n_test=4, say=lambda *_: None)
    assert result.onnx_rel_l2 == pytest.approx(result.fresh_rel_l2, abs=1e-4)  # the file computes the model
    assert 0 < result.fresh_rel_l2 < 1 and result.latency["median_ms"] > 0


def test_info_backends(capsys):
    assert main(["info", "--backends", "--json"]) == 0
    rows = {r["backend"]: r for r in json.loads(capsys.readouterr().out)}
    assert set(rows) == {"torch", "cpu-kernel", "native-engine", "cuda-kernel", "tensorrt-plugin"}
    assert rows["torch"]["available"] and all(r["reason"] for r in rows.values())
    assert main(["info"]) == 1


def test_demo_refuses_a_checkpoint_without_a_grid(tmp_path, capsys):
    """A checkpoint whose config records no resolution: one line, not a TypeError traceback."""
    cfg = WNOConfig(in_channels=1, out_channels=1, width=8, modes=(4, 4), n_layers=2)  # no resolution
    path = save_model(WNO2d(cfg), tmp_path / "no_grid.pt", {"task": "darcy"})
    assert main(["demo", "--out", str(tmp_path / "demo"), "--model", str(path)]) == 1
    err = capsys.readouterr().err.strip()
    assert "names no grid" in err and len(err.splitlines()) == 1


def test_abort_exits_130_and_a_bug_surfaces_as_itself(monkeypatch, capsys):
    """typer >= 0.20's copy of click has no Abort: main() must catch typer's, and the except
    clause naming it must not raise AttributeError over every exception that reaches it."""
    import typer

    import wno_edge.cli as cli

    app = typer.Typer()

    @app.command()
    def ask():
        raise EOFError  # stdin closed at a prompt: typer raises its Abort

    monkeypatch.setattr(cli, "app", app)
    assert main([]) == 130
    assert capsys.readouterr().err.strip() == "interrupted"

    def broken(**kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(cli, "app", broken)
    with pytest.raises(RuntimeError, match="a bug"):
        main([])


def test_demo_finds_the_bundled_model():
    """`make demo` runs the bundled Darcy WNO of models/, not a model trained on the spot."""
    from wno_edge.reports.demo import BUNDLED

    assert BUNDLED.is_file() and Path(__file__).resolve().parents[1] / "models" / "darcy_wno.pt" == BUNDLED
