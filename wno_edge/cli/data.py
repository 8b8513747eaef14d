"""`wno-edge data generate|inspect`: a thin layer over wno_edge.data."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Any

import typer

from ..contract import TASKS
from ..errors import WNOEdgeError, missing_dependency

# What `data generate` solves: the training tasks and 1-D Burgers (data.generate.SOLVERS, which
# imports h5py; tests/test_data_burgers.py checks the two lists agree). Members made from the
# list, which mypy cannot read from a comprehension.
SOLVERS = (*TASKS, "burgers")
Task = Enum("Task", {name.replace("-", "_"): name for name in SOLVERS}, type=str)  # type: ignore[misc]


def generate(
    task: Task = typer.Argument(..., help="PDE to solve."),
    samples: int = typer.Option(..., "-n", "--samples", help="Number of samples (trajectories) to generate."),
    resolution: str = typer.Option("64", "--resolution", "-r", help="Grid R or RxR (square); burgers: R cells."),
    output: Path = typer.Option(..., "-o", "--output", help="HDF5 file to write (PDEBench layout)."),
    seed: int = typer.Option(0, "--seed", help="Sample i is drawn from seed and i alone."),
    beta: float = typer.Option(1.0, "--beta", help="Darcy forcing: -div(a grad u) = beta."),
    nu: float = typer.Option(0.01, "--nu", help="Burgers: PDEBench's Nu, u_t + (u^2/2)_x = (nu/pi) u_xx."),
    workers: int = typer.Option(1, "--workers", "-j", help="Worker processes solving batches in parallel."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
):
    """Solve PDEBench-style samples and write them in PDEBench's HDF5 layout."""
    from ..util.shapes import parse_resolution

    h, w = parse_resolution(resolution)
    if task.value == "burgers" and "x" in resolution.lower().replace(",", "x"):
        raise WNOEdgeError(f"--resolution for burgers is a number of cells (1024), got {resolution!r}")
    if h != w:
        raise WNOEdgeError(
            f"--resolution must be square (64 or 64x64): the solvers use R x R grids, got {resolution!r}"
        )
    size = h
    try:
        from ..data.generate import GenerationInterrupted
        from ..data.generate import generate as run
    except ImportError as e:  # a runtime-only install: no h5py, scipy
        raise missing_dependency(e, "wno-edge data generate") or e from None

    try:
        result = run(task.value, output, samples, size, seed, beta=beta, nu=nu, workers=workers, progress=not quiet)
    except GenerationInterrupted as e:  # one line, and the conventional 128 + signal status
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(128 + e.signum) from None
    except KeyboardInterrupt:
        typer.echo(f"interrupted: {output} was not written", err=True)
        raise typer.Exit(130) from None
    grid = f"{size} cells" if task.value == "burgers" else f"{size}x{size}"
    typer.echo(
        f"wrote {result.path}: {result.n_samples} {result.task} samples at {grid} "
        f"in {result.seconds:.1f} s ({result.samples_per_second:.1f} samples/s)"
    )


def inspect(
    path: Path = typer.Argument(..., help="A PDEBench HDF5 file."),
    check: bool = typer.Option(False, "--check", help="Read every sample and check its shape and values."),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
):
    """Layout, sample count, shapes and grid of a PDEBench file."""
    try:
        from ..data.pdebench import check_samples, describe
    except ImportError as e:
        raise missing_dependency(e, "wno-edge data inspect") or e from None

    info = describe(path)
    summary: dict[str, Any] = {
        "path": str(info.path),
        "layout": info.layout,
        "task": info.task,
        "samples": info.n_samples,
        "grid": list(info.shape),
        "channels": info.n_channels,
        "frames": info.n_times,
        "x": [float(info.x[0]), float(info.x[-1])],
        "y": [float(info.y[0]), float(info.y[-1])],
        "t": None if info.t is None else [float(info.t[0]), float(info.t[-1])],
        "attrs": {k: v if isinstance(v, (int, float, str, bool)) else str(v) for k, v in info.attrs.items()},
    }
    if check:
        check_samples(info)  # every stored value once, in bounded blocks; raises on the first bad sample
        summary["checked"] = True
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
        return
    if info.layout == "darcy":
        shapes = f"nu {(info.n_samples, *info.shape)}, tensor {(info.n_samples, 1, *info.shape)}"
    else:
        shapes = f"data {(info.n_times, *info.shape, info.n_channels)} per sample"
    lines = [
        f"{info.path}",
        f"  layout    {info.layout} ({info.task})",
        f"  samples   {info.n_samples}",
        f"  shapes    {shapes}",
        f"  grid      x in [{summary['x'][0]:.4g}, {summary['x'][1]:.4g}], y in [{summary['y'][0]:.4g}, "
        f"{summary['y'][1]:.4g}]"
        + ("" if info.t is None else f", t in [{summary['t'][0]:.4g}, {summary['t'][1]:.4g}]"),
    ]
    lines += [f"  attr      {k} = {v}" for k, v in summary["attrs"].items()]
    if check:
        lines.append("  check     every sample has the expected shape and finite values")
    typer.echo("\n".join(lines))


def register(app: typer.Typer) -> None:
    data_app = typer.Typer(help="Generate and inspect PDEBench-layout datasets.", no_args_is_help=True)
    data_app.command("generate")(generate)
    data_app.command("inspect")(inspect)
    app.add_typer(data_app, name="data")
