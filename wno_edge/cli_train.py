"""`wno-edge train`: a thin layer over wno_edge.train.fit."""
from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

console = Console()


def train(
    data: Path = typer.Option(..., "--data", help="A PDEBench-layout HDF5 file (downloaded or `wno-edge data generate`)."),
    task: str = typer.Option(..., "--task", help="darcy | diffusion-reaction | shallow-water"),
    output: Path = typer.Option(..., "--output", "-o", help="Checkpoint to write (the best on the test split)."),
    epochs: int = typer.Option(50, "--epochs"),
    batch_size: int = typer.Option(20, "--batch-size"),
    lr: float = typer.Option(1e-3, "--lr"),
    width: int = typer.Option(32, "--width"),
    modes: int = typer.Option(12, "--modes"),
    layers: int = typer.Option(4, "--layers"),
    tile: int = typer.Option(4, "--tile", help="Winograd tile of the deployed model: 2, 4 or 6."),
    fno: bool = typer.Option(False, "--fno", help="Train the FNO special case (no 3x3 kernel, k = 0)."),
    resolution: int = typer.Option(None, "--resolution", help="Subsample the grid to this size."),
    initial_step: int = typer.Option(10, "--initial-step", help="Input frames for time-dependent tasks."),
    time_reduce: int = typer.Option(1, "--time-reduce", help="Keep every k-th frame."),
    max_samples: int = typer.Option(None, "--max-samples", help="Use only the first N samples of the file."),
    seed: int = typer.Option(0, "--seed"),
    device: str = typer.Option("cpu", "--device", help="cpu or cuda."),
    threads: int = typer.Option(None, "--threads", help="PyTorch CPU threads."),
    resume: bool = typer.Option(False, "--resume", help="Continue from OUTPUT.state."),
):
    """Train a WNO (or its FNO special case) with relative-L2 loss; keeps the best checkpoint."""
    from .train import TrainOptions, fit

    opts = TrainOptions(
        data=str(data), task=task, output=str(output), epochs=epochs, batch_size=batch_size, lr=lr, width=width,
        modes=modes, layers=layers, tile=tile, real_space_kernel=not fno, resolution=resolution,
        initial_step=initial_step, time_reduce=time_reduce, max_samples=max_samples, seed=seed, device=device,
        threads=threads, resume=resume,
    )
    columns = (TextColumn("[bold]training[/]"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[status]}"),
               TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console) as progress:
        bar = progress.add_task("train", total=epochs, status="")

        def on_epoch(epoch, train_err, test_err, improved):
            mark = " (best, saved)" if improved else ""
            progress.console.print(f"epoch {epoch:4d}  train rel L2 {train_err:.4f}  test rel L2 {test_err:.4f}{mark}")
            progress.update(bar, completed=epoch, status=f"test {test_err:.4f}")

        result = fit(opts, on_epoch)
    console.print(f"[bold]best[/] epoch {result.best_epoch}: test relative L2 {result.test_rel_l2:.4f}"
                  + (f", rollout relative L2 {result.rollout_rel_l2:.4f}" if result.rollout_rel_l2 is not None else "")
                  + f"; {result.train_seconds:.0f} s; saved {result.checkpoint}")


def register(app: typer.Typer) -> None:
    app.command()(train)
