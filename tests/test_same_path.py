"""No output ever replaces an input: every command that writes refuses, before it writes
anything, an output that is one of its inputs (the same path, a symlink to it, a hard link),
through the CLI (one line, exit 1) and through the library function behind it (WNOEdgeError)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import torch

from wno_edge.checkpoint import save_model
from wno_edge.cli import main
from wno_edge.errors import WNOEdgeError
from wno_edge.model import WNO2d, WNOConfig

HOW = ("same", "symlink", "hardlink")
TRAIN = ["--epochs", "1", "--width", "4", "--modes", "2", "--layers", "1", "--batch-size", "4"]


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    """A tiny checkpoint (16x16 Darcy grid), its export and a small Darcy file, made once."""
    from wno_edge.data import generate
    from wno_edge.onnx import export_onnx

    root = tmp_path_factory.mktemp("assets")
    torch.manual_seed(0)
    cfg = WNOConfig(in_channels=1, out_channels=1, width=4, modes=(2, 2), n_layers=1, resolution=(16, 16))
    ckpt = save_model(WNO2d(cfg), root / "m.pt", {"task": "darcy"})
    onnx_file = root / "m.onnx"
    export_onnx(ckpt, onnx_file)
    data = root / "d.h5"
    generate("darcy", data, n_samples=10, resolution=16, seed=0, progress=False)
    return {"ckpt": ckpt, "onnx": onnx_file, "data": data}


def _copy(assets, key: str, to: Path) -> Path:
    to.parent.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copyfile(assets[key], to))


def _alias(how: str, source: Path, at: Path) -> tuple[Path, Path]:
    """(input, output) where the output names the input file: the same path, a symlink at
    `at` to it, or a hard link at `at`."""
    if how == "same":
        return source, source
    if how == "symlink":
        at.symlink_to(source)
    else:
        os.link(source, at)
    return source, at


def _same_at(how: str, source: Path, at: Path) -> tuple[Path, Path]:
    """Like _alias, but for "same" the input itself is moved to `at`: for an output whose
    name the command derives (OUTPUT.state, the demo's files)."""
    if how == "same":
        source.rename(at)
        return at, at
    return _alias(how, source, at)


# Each case: (tmp_path, assets, how) -> (argv, the input file an output would replace).
def _export(tmp, assets, how):
    src, out = _alias(how, _copy(assets, "ckpt", tmp / "m.pt"), tmp / "out.onnx")
    return ["export", str(src), "-o", str(out)], src


def _export_default_output(tmp, assets, how):
    """A checkpoint named .onnx: export's default output (CHECKPOINT with suffix .onnx) is itself."""
    if how == "same":
        src = _copy(assets, "ckpt", tmp / "m.onnx")
    else:
        src = _copy(assets, "ckpt", tmp / "real.pt")
        _alias(how, src, tmp / "m.onnx")
    return ["export", str(tmp / "m.onnx")], src


def _train_data(tmp, assets, how):
    src, out = _alias(how, _copy(assets, "data", tmp / "d.h5"), tmp / "out.pt")
    return ["train", "--data", str(src), "-o", str(out), *TRAIN], src


def _train_init(tmp, assets, how):
    data = _copy(assets, "data", tmp / "d.h5")
    src, out = _alias(how, _copy(assets, "ckpt", tmp / "init.pt"), tmp / "out.pt")
    return ["train", "--data", str(data), "--init", str(src), "-o", str(out), *TRAIN], src


def _train_state(tmp, assets, how):
    """OUTPUT.state, the training state written every epoch, is the data file."""
    src, _ = _same_at(how, _copy(assets, "data", tmp / "d.h5"), tmp / "out.pt.state")
    return ["train", "--data", str(src), "-o", str(tmp / "out.pt"), *TRAIN], src


def _build(tmp, assets, how):
    src, out = _alias(how, _copy(assets, "onnx", tmp / "m.onnx"), tmp / "m.trt")
    return ["build", str(src), "-o", str(out)], src


def _build_default_output(tmp, assets, how):
    """An ONNX file named .trt: build's default output (the ONNX name with .trt) is itself."""
    if how == "same":
        src = _copy(assets, "onnx", tmp / "m.trt")
    else:
        src = _copy(assets, "onnx", tmp / "real.onnx")
        _alias(how, src, tmp / "m.trt")
    return ["build", str(tmp / "m.trt")], src


def _build_timing_cache(tmp, assets, how):
    """The engine over the timing cache it reads."""
    onnx_file = _copy(assets, "onnx", tmp / "m.onnx")
    cache = tmp / "t.cache"
    cache.write_bytes(b"timing cache bytes")
    src, out = _alias(how, cache, tmp / "m.trt")
    return ["build", str(onnx_file), "-o", str(out), "--timing-cache", str(src)], src


def _build_cache_is_onnx(tmp, assets, how):
    """The timing cache (written after the build) over the ONNX file."""
    src, cache = _alias(how, _copy(assets, "onnx", tmp / "m.onnx"), tmp / "t.cache")
    return ["build", str(src), "-o", str(tmp / "m.trt"), "--timing-cache", str(cache)], src


def _build_plugin(tmp, assets, how):
    onnx_file = _copy(assets, "onnx", tmp / "m.onnx")
    plugin = tmp / "libplugin.so"
    plugin.write_bytes(b"\x7fELF not really")
    src, out = _alias(how, plugin, tmp / "m.trt")
    return ["build", str(onnx_file), "-o", str(out), "--plugin", str(src)], src


def _import_neuralop(tmp, assets, how):
    source = tmp / "fno.pt"
    source.write_bytes(b"a neuraloperator state dict")  # refused before it is read
    src, out = _alias(how, source, tmp / "fno.wno.pt")
    return ["import-neuralop", str(src), "-o", str(out)], src


def _import_neuralop_metadata(tmp, assets, how):
    """Either file of the pair save_checkpoint writes is an input, whichever one is named."""
    (tmp / "fno_state_dict.pt").write_bytes(b"state dict")
    meta = tmp / "fno_metadata.pkl"
    meta.write_bytes(b"metadata")
    src, out = _alias(how, meta, tmp / "out.wno.pt")
    return ["import-neuralop", str(tmp / "fno_state_dict.pt"), "-o", str(out)], src


def _profile_report(tmp, assets, how):
    src, out = _alias(how, _copy(assets, "onnx", tmp / "m.onnx"), tmp / "r.json")
    return ["profile", "--engine", str(src), "-n", "1", "--warmup", "0", "--report", str(out)], src


def _profile_plot(tmp, assets, how):
    src, out = _alias(how, _copy(assets, "onnx", tmp / "m.onnx"), tmp / "p.png")
    return ["profile", "--engine", str(src), "-n", "1", "--warmup", "0", "--plot", str(out)], src


def _profile_report_is_plot(tmp, assets, how):
    """--report and --plot naming one file: the PNG would replace the JSON."""
    onnx_file = _copy(assets, "onnx", tmp / "m.onnx")
    report = tmp / "r.json"
    if how == "hardlink":  # a hard link needs an existing file: an earlier report
        report.write_text("{}")
    plot = report if how == "same" else tmp / "p.png"
    if how == "symlink":
        plot.symlink_to(report)  # dangling until the report is written
    elif how == "hardlink":
        os.link(report, plot)
    args = ["profile", "--engine", str(onnx_file), "-n", "1", "--warmup", "0", "--report", str(report)]
    return [*args, "--plot", str(plot)], onnx_file


def _demo(tmp, assets, how):
    """The demo's ONNX file in --out is the checkpoint given as --model."""
    (tmp / "demo").mkdir()
    src, _ = _same_at(how, _copy(assets, "ckpt", tmp / "m.pt"), tmp / "demo" / "darcy_wno.onnx")
    return ["demo", "--out", str(tmp / "demo"), "--model", str(src), "--samples", "2"], src


def _demo_fresh_data(tmp, assets, how):
    """The demo's fresh data (named after the model's grid) is the checkpoint."""
    (tmp / "demo").mkdir()
    src, _ = _same_at(how, _copy(assets, "ckpt", tmp / "m.pt"), tmp / "demo" / "darcy_fresh_16.h5")
    return ["demo", "--out", str(tmp / "demo"), "--model", str(src), "--samples", "2"], src


CASES = {
    "export": _export,
    "export default output": _export_default_output,
    "train --data": _train_data,
    "train --init": _train_init,
    "train OUTPUT.state": _train_state,
    "build": _build,
    "build default output": _build_default_output,
    "build --timing-cache": _build_timing_cache,
    "build cache over onnx": _build_cache_is_onnx,
    "build --plugin": _build_plugin,
    "import-neuralop": _import_neuralop,
    "import-neuralop pair": _import_neuralop_metadata,
    "profile --report": _profile_report,
    "profile --plot": _profile_plot,
    "profile --report is --plot": _profile_report_is_plot,
    "demo onnx": _demo,
    "demo fresh data": _demo_fresh_data,
}


def _tree(root: Path) -> dict[str, bytes | str]:
    """Every entry under root: a symlink as its target, a file as its bytes."""
    return {
        str(p.relative_to(root)): os.readlink(p) if p.is_symlink() else p.read_bytes() if p.is_file() else "dir"
        for p in sorted(root.rglob("*"))
    }


@pytest.mark.parametrize("how", HOW)
@pytest.mark.parametrize("case", sorted(CASES))
def test_cli_refuses_an_output_that_is_an_input(case, how, assets, tmp_path, capsys):
    argv, source = CASES[case](tmp_path, assets, how)
    before = _tree(tmp_path)
    assert source.is_file()
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: refusing to write"), err
    assert "Traceback" not in err
    assert _tree(tmp_path) == before  # the input's bytes, and no temporary or other new file


def _library_cases(assets, how, tmp_path):
    """name -> (make(dir) -> (input, output), call(input, output)): the library functions
    behind the commands, imported here so that collecting this file stays cheap."""
    from wno_edge.cli.display import plot_latency
    from wno_edge.importers.neuralop import import_neuralop
    from wno_edge.onnx import export_onnx
    from wno_edge.reports.demo import run_demo
    from wno_edge.reports.profile import write_json
    from wno_edge.tensorrt.build import build_engine
    from wno_edge.train import TrainOptions, fit

    def linked(key, name, at="out"):
        return lambda d: _alias(how, _copy(assets, key, d / name), d / at)

    def darcy(**kw):
        return TrainOptions(task="darcy", **kw)

    data = _copy(assets, "data", tmp_path / "d.h5")
    return {
        "export_onnx": (linked("ckpt", "m.pt"), lambda s, o: export_onnx(s, o)),
        "fit data": (linked("data", "d.h5"), lambda s, o: fit(darcy(data=str(s), output=str(o)))),
        "fit init": (linked("ckpt", "i.pt"), lambda s, o: fit(darcy(data=str(data), output=str(o), init=str(s)))),
        "fit state": (
            lambda d: _same_at(how, _copy(assets, "data", d / "d.h5"), d / "o.pt.state"),
            lambda s, o: fit(darcy(data=str(s), output=str(o)[: -len(".state")])),
        ),
        # build_engine refuses before it imports TensorRT: this runs where TensorRT is not installed.
        "build_engine": (linked("onnx", "m.onnx"), lambda s, o: build_engine(s, o)),
        "build_engine cache": (
            linked("onnx", "m.onnx"),
            lambda s, o: build_engine(s, o.with_name("e.trt"), timing_cache=o),
        ),
        "build_engine over cache": (
            linked("onnx", "m.onnx", "c"),
            lambda s, o: build_engine(assets["onnx"], o, timing_cache=s),
        ),
        "import_neuralop": (linked("ckpt", "fno.pt"), lambda s, o: import_neuralop(s, o)),
        "write_json": (linked("onnx", "m.onnx"), lambda s, o: write_json({"model": str(s)}, o)),
        "plot_latency": (linked("onnx", "m.onnx"), lambda s, o: plot_latency({"model": str(s)}, o)),
        "run_demo": (
            lambda d: _same_at(how, _copy(assets, "ckpt", d / "m.pt"), d / "darcy_wno.onnx"),
            lambda s, o: run_demo(o.parent, s, n_test=2, say=lambda *_: None),
        ),
    }


LIBRARY = (
    "export_onnx",
    "fit data",
    "fit init",
    "fit state",
    "build_engine",
    "build_engine cache",
    "build_engine over cache",
    "import_neuralop",
    "write_json",
    "plot_latency",
    "run_demo",
)


@pytest.mark.parametrize("how", HOW)
@pytest.mark.parametrize("name", LIBRARY)
def test_library_functions_refuse_an_output_that_is_an_input(name, how, assets, tmp_path):
    """The functions behind the commands refuse the same way, before they write anything."""
    make, call = _library_cases(assets, how, tmp_path)[name]
    where = tmp_path / "case"
    where.mkdir()
    src, out = make(where)
    before = _tree(where)
    with pytest.raises(WNOEdgeError, match="^refusing to write"):
        call(src, out)
    assert _tree(where) == before


def test_distinct_paths_are_not_refused(assets, tmp_path, capsys):
    """The check is about one file, not similar names: a copy of the input is a new output,
    --resume rewrites its own OUTPUT.state, and export writes next to its checkpoint."""
    ckpt = _copy(assets, "ckpt", tmp_path / "m.pt")
    copy = _copy(assets, "ckpt", tmp_path / "copy.onnx")
    assert main(["export", str(ckpt), "-o", str(copy)]) == 0
    assert copy.read_bytes()[:4] != ckpt.read_bytes()[:4]  # replaced: it was a copy, not the input
    data = _copy(assets, "data", tmp_path / "d.h5")
    out = tmp_path / "c.pt"
    args = ["train", "--data", str(data), "-o", str(out), *TRAIN]
    assert main(args) == 0
    args[args.index("--epochs") + 1] = "2"
    assert main([*args, "--resume"]) == 0
    assert "best epoch" in capsys.readouterr().out
