"""Core commands: info, demo."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from ..errors import WNOEdgeError
from ..util.shapes import parse_dims, parse_resolution
from .display import console


def info(
    model_path: Path = typer.Argument(None, help="A wno-edge checkpoint (.pt) or export (.onnx)."),
    resolution: str = typer.Option(
        None, "--resolution", "-r", help="Grid HxW (1-D: X) for the MAC count (default: the trained grid)."
    ),
    batch: int = typer.Option(1, "--batch", min=1, help="Batch size for the MAC count."),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
    backends: bool = typer.Option(
        False, "--backends", help="Which Winograd kernels this installation can run, and why not."
    ),
    cmake_dir: bool = typer.Option(
        False, "--cmake-dir", help="Print the folder of wno_edgeConfig.cmake (wno_edge_DIR for find_package)."
    ),
    include_dir: bool = typer.Option(False, "--include-dir", help="Print the folder of the C headers (wno/*.h)."),
    lib_dir: bool = typer.Option(False, "--lib-dir", help="Print the folder of libwno_engine.so."),
    plan: bool = typer.Option(
        False, "--plan", help="The native engine's plan for an .onnx: fused stages, kernels, arena, reference nodes."
    ),
    verify_checksum: bool = typer.Option(
        True,
        "--verify-checksum/--no-verify-checksum",
        help="With --plan: refuse weights that differ from their checksum.",
    ),
):
    """Architecture, parameter count, and MACs per inference split by part; or the backends."""
    wanted = [name for name, on in (("cmake", cmake_dir), ("include", include_dir), ("lib", lib_dir)) if on]
    if wanted:
        return _native_paths(wanted)
    if backends:
        return _backends(as_json)
    if model_path is None:
        raise WNOEdgeError("give a checkpoint (wno-edge info model.pt) or --backends")
    if plan:
        return _plan(model_path, batch, verify_checksum, as_json)
    from ..reports.summary import load_for_summary, model_summary
    from .display import summary_tables

    model = load_for_summary(model_path)
    rank = model.config.rank
    grid = parse_resolution(resolution) if rank == 2 else _volume(resolution) if rank == 3 else _line(resolution)
    summary = model_summary(model, grid, batch)
    if as_json:
        typer.echo(json.dumps(summary, indent=2, default=str))
        return
    for table in summary_tables(summary):
        console.print(table)


def _volume(text: str | None) -> tuple[int, ...] | None:
    """--resolution of a 3-D model: 'DxHxW', or one length for a cube."""
    if text is None:
        return None
    dims = parse_dims(text, "resolution", "32x32x32 (a 3-D model)")
    if len(dims) not in (1, 3):
        raise WNOEdgeError(f"a 3-D model's resolution is DxHxW, like 32x32x32, got {text!r}")
    return dims * 3 if len(dims) == 1 else dims


def _line(text: str | None) -> tuple[int] | None:
    """--resolution of a 1-D model: one length, '1024'."""
    if text is None:
        return None
    dims = parse_dims(text, "resolution", "1024 (a 1-D model)")
    if len(dims) != 1:
        raise WNOEdgeError(f"a 1-D model's resolution is one length, like 1024, got {text!r}")
    return (dims[0],)


def _plan(path: Path, batch: int, verify_checksum: bool, as_json: bool) -> None:
    """The engine's plan (polygraphy `inspect model` / trtexec `--dumpLayerInfo` habits)."""
    from .. import runtime

    if path.suffix.lower() != ".onnx":
        raise WNOEdgeError(f"--plan reads an .onnx file, got {path.name}")
    from ..runtime.native_backend import NativeSession

    with runtime.load(path, backend="native", batch=batch, check_finite=False, verify_checksum=verify_checksum) as s:
        assert isinstance(s, NativeSession)
        text = s.plan
    typer.echo(json.dumps({"plan": text.splitlines()}, indent=2) if as_json else text.rstrip("\n"))


def _native_paths(wanted: list[str]) -> None:
    """One path a line, in the order --cmake-dir, --include-dir, --lib-dir (torch-free)."""
    from ..native import library

    finders = {"cmake": library.cmake_dir, "include": library.include_dir, "lib": library.lib_dir}
    try:
        paths = [finders[name]() for name in wanted]
    except library.NativeUnavailable as exc:
        raise WNOEdgeError(str(exc)) from None
    for path in paths:
        typer.echo(str(path))


def _backends(as_json: bool) -> None:
    from rich.table import Table

    from ..reports.backends import backends_report

    rows = backends_report()
    if as_json:
        typer.echo(json.dumps([{"backend": n, "available": ok, "reason": why} for n, ok, why in rows], indent=2))
        return
    table = Table(title="Winograd backends")
    for col in ("backend", "available", "details"):
        table.add_column(col)
    for name, ok, why in rows:
        table.add_row(name, "[green]yes[/]" if ok else "[red]no[/]", why)
    console.print(table)


def demo(
    out: Path = typer.Option(Path("out/demo"), "--out", "-o", help="Directory for the demo's files."),
    checkpoint: Path = typer.Option(None, "--model", help="A Darcy checkpoint (default: models/darcy_wno.pt)."),
    samples: int = typer.Option(50, "--samples", min=2, help="Fresh test samples to generate."),
):
    """The toolchain end to end: bundled Darcy WNO -> fresh data -> ONNX -> runtime -> latency."""
    from ..reports.demo import run_demo

    run_demo(out, checkpoint, samples, say=console.print)


def register(app: typer.Typer) -> None:
    app.command()(info)
    app.command()(demo)
