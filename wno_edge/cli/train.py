"""`wno-edge train`: a thin layer over wno_edge.train.fit."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from ..contract import TASKS, TASKS_1D, TILES
from ..errors import WNOEdgeError, missing_dependency
from ..train.options import TrainOptions
from .display import console


def _default(name: str):
    """TrainOptions' own default: the CLI never restates it."""
    return TrainOptions.__dataclass_fields__[name].default


def train(
    data: Path = typer.Option(
        ...,
        "--data",
        help="A PDEBench-layout HDF5 file, 2-D or 1-D (downloaded or `wno-edge data generate`): "
        "a 1-D file trains a 1-D model.",
    ),
    task: str = typer.Option(
        None, "--task", help=" | ".join(TASKS + TASKS_1D) + " (default: the task the file names)."
    ),
    output: Path = typer.Option(..., "--output", "-o", help="Checkpoint to write (the best on the test split)."),
    epochs: int = typer.Option(_default("epochs"), "--epochs"),
    batch_size: int = typer.Option(_default("batch_size"), "--batch-size"),
    lr: float = typer.Option(_default("lr"), "--lr"),
    width: int = typer.Option(_default("width"), "--width"),
    modes: int = typer.Option(_default("modes"), "--modes", help="Fourier modes per axis."),
    layers: int = typer.Option(_default("layers"), "--layers"),
    tile: int = typer.Option(_default("tile"), "--tile", help=f"Winograd tile of the deployed model, one of {TILES}."),
    fno: bool = typer.Option(False, "--fno", help="Train the FNO special case (no 3x3 or 3-tap kernel, k = 0)."),
    resolution: str = typer.Option(
        None,
        "--resolution",
        "-r",
        help="Subsample the grid to R or RxR (by the same factor on both axes); R points for 1-D data.",
    ),
    initial_step: int = typer.Option(
        _default("initial_step"), "--initial-step", help="Input frames for time-dependent tasks."
    ),
    time_reduce: int = typer.Option(_default("time_reduce"), "--time-reduce", help="Keep every k-th frame."),
    max_samples: int = typer.Option(
        _default("max_samples"), "--max-samples", help="Use only the first N samples of the file."
    ),
    test_split: str = typer.Option(
        _default("test_split"),
        "--test-split",
        help="Test samples: the file's first 10% or last (older cards); default PDEBench's for the layout "
        "(first, but last for 1-D files of a group per sample).",
    ),
    seed: int = typer.Option(_default("seed"), "--seed"),
    device: str = typer.Option(_default("device"), "--device", help="cpu or cuda."),
    threads: int = typer.Option(_default("threads"), "--threads", help="PyTorch CPU threads."),
    resume: bool = typer.Option(False, "--resume", help="Continue from OUTPUT.state."),
    init: Path = typer.Option(
        None,
        "--init",
        help="Start from this checkpoint (e.g. `wno-edge import-neuralop --wno`): its architecture and weights.",
    ),
):
    """Train a WNO (or its FNO special case) with relative-L2 loss; keeps the best checkpoint."""
    try:
        from ..train import TrainOptions, check_options, fit
    except ImportError as e:  # a runtime-only install: no torch
        raise missing_dependency(e, "wno-edge train") or e from None

    opts = TrainOptions(
        data=str(data),
        task=task,
        output=str(output),
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        width=width,
        modes=modes,
        layers=layers,
        tile=tile,
        real_space_kernel=not fno,
        resolution=_square(resolution),
        initial_step=initial_step,
        time_reduce=time_reduce,
        max_samples=max_samples,
        test_split=test_split,
        seed=seed,
        device=device,
        threads=threads,
        resume=resume,
        init=None if init is None else str(init),
    )
    check_options(opts)  # a bad option is one line before anything is drawn
    columns = (
        TextColumn("[bold]training[/] epoch {task.fields[epoch]}/" + str(epochs)),
        BarColumn(),
        TextColumn("{task.fields[batch]}"),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    progress = Progress(*columns, console=console)
    bar = progress.add_task("train", total=None, epoch="-", batch="", status="")

    def on_batch(epoch, batch, batches):  # the bar moves per batch, not once an epoch
        if not progress.live.is_started:  # drawn once training runs: data errors come first, alone
            progress.start()
        progress.update(
            bar,
            total=epochs * batches,
            completed=(epoch - 1) * batches + batch,
            epoch=epoch,
            batch=f"batch {batch}/{batches}",
        )

    def on_epoch(epoch, train_err, test_err, improved):
        mark = " (best, saved)" if improved else ""
        progress.console.print(f"epoch {epoch:4d}  train rel L2 {train_err:.4f}  test rel L2 {test_err:.4f}{mark}")
        progress.update(bar, status=f"test {test_err:.4f}")

    try:
        result = fit(opts, on_epoch, on_batch)
    finally:
        if progress.live.is_started:
            progress.stop()
    console.print(
        f"[bold]best[/] epoch {result.best_epoch}: test relative L2 {result.test_rel_l2:.4f}"
        + (f", rollout relative L2 {result.rollout_rel_l2:.4f}" if result.rollout_rel_l2 is not None else "")
        + f"; {result.train_seconds:.0f} s; saved {result.checkpoint}"
    )


def _square(text: str | None) -> int | None:
    """--resolution as every command takes it ('64' or '64x64'); training subsamples both axes
    by one factor, so the two sizes must be equal."""
    from ..util.shapes import parse_resolution

    hw = parse_resolution(text)
    if hw is not None and hw[0] != hw[1]:
        raise WNOEdgeError(f"--resolution must be square here (64 or 64x64), got {text!r}")
    return None if hw is None else hw[0]


def register(app: typer.Typer) -> None:
    app.command()(train)
