"""The CLI: one-line errors, non-zero exits, and the commands' real output."""

import json
import os
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


def main_contract(model_path: str) -> dict[str, list]:
    """[exit status, stderr] of main() in each case its error handling covers, the command's
    work replaced by a raise. Run in-process with the installed typer and, by
    test_main_contract_on_the_oldest_typer_and_click, under typer 0.12 with click 8.0."""
    import contextlib
    import io

    import wno_edge.cli as cli
    import wno_edge.reports.summary as summary

    def run(argv, error=None):
        real = summary.load_for_summary

        def fail(*args, **kwargs):
            raise error

        if error is not None:
            summary.load_for_summary = fail  # what `info` calls first
        err = io.StringIO()
        try:
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                code = cli.main(argv)
        finally:
            summary.load_for_summary = real
        return [code, err.getvalue()]

    return {
        "help": run([]),
        "version": run(["--version"]),
        "usage": run(["info", model_path, "--batch", "many"]),
        "user": run(["info", model_path + ".missing"]),
        "bug": run(["info", model_path], RuntimeError("a bug\nsecond line " + "x" * 1000)),
        "import bug": run(["info", model_path], ImportError("no module named nowhere", name="nowhere")),
        "missing extra": run(["info", model_path], ImportError("No module named 'onnx'", name="onnx")),
        "os error": run(["info", model_path], OSError(28, "No space left on device", "/full/disk")),
        "ctrl-c": run(["info", model_path], KeyboardInterrupt()),
        "eof": run(["info", model_path], EOFError()),  # stdin closed at a prompt: typer's Abort
    }


def check_main_contract(results: dict[str, list]) -> None:
    def one_line(key):
        code, err = results[key]
        lines = err.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in err, (key, err)
        return code, lines[0]

    assert results["help"] == [0, ""] and results["version"] == [0, ""]
    code, line = one_line("usage")
    assert code == 2 and line.startswith("error: ") and "--help" in line
    code, line = one_line("user")
    assert code == 1 and "no such file" in line
    code, line = one_line("bug")
    assert code == 1 and line.startswith("error: this is a bug in wno-edge: RuntimeError: a bug second line x")
    assert "--debug" in line and "WNO_EDGE_DEBUG=1" in line and len(line) < 400  # the message is bounded
    code, line = one_line("import bug")
    assert code == 1 and "bug in wno-edge: ImportError: no module named nowhere" in line
    code, line = one_line("missing extra")
    assert code == 1 and "needs onnx, which is not installed" in line
    code, line = one_line("os error")
    assert code == 1 and line == "error: /full/disk: No space left on device"
    assert results["ctrl-c"] == [130, "interrupted\n"]  # nothing else: no blank line, no traceback
    code, line = one_line("eof")
    assert (code, line) == (130, "interrupted")


def test_every_error_is_one_line(model_file):
    check_main_contract(main_contract(str(model_file)))


def test_debug_shows_the_traceback_of_a_bug(model_file, monkeypatch, capsys):
    """--debug (before the command) or WNO_EDGE_DEBUG=1 raise the bug itself, traceback and all;
    neither outlives its call."""
    import wno_edge.reports.summary as summary

    def broken(path):
        raise RuntimeError("a bug")

    monkeypatch.setattr(summary, "load_for_summary", broken)
    with pytest.raises(RuntimeError, match="a bug"):
        main(["--debug", "info", str(model_file)])
    assert main(["info", str(model_file)]) == 1
    monkeypatch.setenv("WNO_EDGE_DEBUG", "1")
    with pytest.raises(RuntimeError, match="a bug"):
        main(["info", str(model_file)])
    monkeypatch.setenv("WNO_EDGE_DEBUG", "0")
    assert main(["info", str(model_file)]) == 1
    assert "bug in wno-edge" in capsys.readouterr().err


def test_ctrl_c_in_a_group_command(tmp_path, monkeypatch, capsys):
    """`data inspect` lives in a sub-app: Ctrl-C there is the same one line and 130."""
    import wno_edge.data.pdebench as pdebench

    def interrupted(path):
        raise KeyboardInterrupt

    monkeypatch.setattr(pdebench, "describe", interrupted)
    assert main(["data", "inspect", str(tmp_path / "d.h5")]) == 130
    assert capsys.readouterr().err == "interrupted\n"


# The exception classes of click 8.0 (click/exceptions.py of 8.0.4), the oldest click that the
# oldest typer pyproject allows (typer 0.12: click >= 8.0.0) runs with. NoArgsIsHelpError came in
# click 8.2, so main() may only use it where it exists.
CLICK_8_0 = {
    "ClickException",
    "UsageError",
    "BadParameter",
    "MissingParameter",
    "NoSuchOption",
    "BadOptionUsage",
    "BadArgumentUsage",
    "FileError",
    "Abort",
    "Exit",
}


def test_the_exceptions_main_catches_exist_in_every_supported_typer():
    import ast
    import inspect

    import typer

    import wno_edge.cli as cli

    for name in cli.CLICK_EXCEPTIONS:  # in the installed typer's click
        assert isinstance(getattr(cli.click, name), type) and issubclass(getattr(cli.click, name), Exception)
    assert issubclass(typer.Abort, Exception) and issubclass(typer.Exit, Exception)  # in typer 0.12 too
    assert set(cli.CLICK_EXCEPTIONS) <= CLICK_8_0
    # main() names no other click class (an except clause naming a missing one turns every
    # exception that reaches it into an AttributeError), and typer's only by Abort.
    tree = ast.parse(inspect.getsource(cli))
    used = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute) and getattr(n.value, "id", None) == "click"}
    assert used <= set(cli.CLICK_EXCEPTIONS), used
    typer_classes = {
        n.attr
        for n in ast.walk(tree)
        if isinstance(n, ast.Attribute) and getattr(n.value, "id", None) == "typer" and n.attr[:1].isupper()
    }
    assert typer_classes <= {"Abort", "Exit", "Typer", "Option"}, typer_classes


@pytest.mark.heavy
def test_main_contract_on_the_oldest_typer_and_click(model_file, tmp_path):
    """pyproject allows typer >= 0.12, which runs with click >= 8.0: the same contract there,
    with those versions installed beside this environment (needs the package index)."""
    lib = tmp_path / "lib"
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(lib)]
    r = subprocess.run([*pip, "typer==0.12.*", "click==8.0.*"], capture_output=True, text=True, check=False)
    if r.returncode != 0:
        pytest.skip(f"cannot install typer 0.12 and click 8.0: {r.stderr.strip()[-200:]}")
    script = (
        "import json, sys, click, typer; sys.path.insert(0, sys.argv[1]); import test_cli; "
        "print(json.dumps([typer.__version__, click.__version__, test_cli.main_contract(sys.argv[2])]))"
    )
    env = {**os.environ, "PYTHONPATH": str(lib)}
    r = subprocess.run(
        [sys.executable, "-c", script, str(Path(__file__).parent), str(model_file)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    typer_version, click_version, results = json.loads(r.stdout.strip().splitlines()[-1])
    assert typer_version.startswith("0.12.") and click_version.startswith("8.0."), (typer_version, click_version)
    check_main_contract(results)


@pytest.mark.slow
def test_ctrl_c_of_the_console_script(tmp_path):
    """SIGINT to the real `wno-edge` during a long training run: one line, exit 130."""
    import selectors
    import signal

    from wno_edge.data import generate

    exe = Path(sys.executable).with_name("wno-edge")
    if not exe.is_file():
        pytest.skip("the wno-edge console script is not installed beside this Python")
    generate("darcy", tmp_path / "d.h5", n_samples=10, resolution=16, seed=0, progress=False)
    args = ["train", "--data", str(tmp_path / "d.h5"), "-o", str(tmp_path / "m.pt"), "--epochs", "1000000"]
    args += ["--width", "4", "--modes", "2", "--layers", "1", "--batch-size", "4"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "WNO_EDGE_DEBUG": "0"}
    # Ctrl-C as a terminal sends it: a job started in the background (nohup, `cmd &` in a script)
    # inherits SIGINT ignored, and Python then rightly leaves it ignored, so restore the default.
    proc = subprocess.Popen(
        [str(exe), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        # Wait for the first epoch's line: the command is then in its loop, far from done.
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            line = ""
            while "epoch" not in line:
                assert sel.select(timeout=300), "no epoch line within 300 s"
                line = proc.stdout.readline()
                assert line, f"exited early: {proc.wait()} {proc.stderr.read()}"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert err.strip().splitlines() == ["interrupted"], err


def test_demo_finds_the_bundled_model():
    """`make demo` runs the bundled Darcy WNO of models/, not a model trained on the spot."""
    from wno_edge.reports.demo import BUNDLED

    assert BUNDLED.is_file() and Path(__file__).resolve().parents[1] / "models" / "darcy_wno.pt" == BUNDLED
