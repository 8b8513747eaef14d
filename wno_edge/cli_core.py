"""Core commands: info, demo."""
from __future__ import annotations

import json
import time
from pathlib import Path

import typer
from rich.console import Console

from .shapes import parse_resolution

console = Console()


def info(
    model_path: Path = typer.Argument(..., help="A wno-edge checkpoint (.pt)."),
    resolution: str = typer.Option(None, "--resolution", "-r", help="Grid HxW for the MAC count (default: the trained grid)."),
    batch: int = typer.Option(1, "--batch", min=1, help="Batch size for the MAC count."),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
):
    """Architecture, parameter count, and MACs per inference split by part."""
    from .checkpoint import load_model
    from .summary import model_summary, summary_tables

    model = load_model(model_path)
    summary = model_summary(model, parse_resolution(resolution), batch)
    if as_json:
        typer.echo(json.dumps(summary, indent=2, default=str))
        return
    for table in summary_tables(summary):
        console.print(table)


def demo(
    out: Path = typer.Option(Path("out/demo"), "--out", "-o", help="Directory for the demo's files."),
    resolution: str = typer.Option("64x64", "--resolution", "-r", help="Grid HxW."),
    seed: int = typer.Option(0, "--seed"),
):
    """Build a Darcy-sized WNO, save it, show `info`, and check Winograd against direct conv."""
    import torch

    from .checkpoint import load_model, save_model
    from .model import WNO2d, WNOConfig
    from .summary import model_summary, summary_tables

    h, w = parse_resolution(resolution)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    model = WNO2d(WNOConfig(in_channels=1, out_channels=1, resolution=(h, w))).eval()
    path = save_model(model, out / "wno_darcy_untrained.pt", {"note": "untrained demo model", "seed": seed})
    console.print(f"[bold]saved[/] {path}")
    model = load_model(path)
    for table in summary_tables(model_summary(model)):
        console.print(table)

    x = torch.rand(1, 1, h, w)
    with torch.no_grad():
        reference = model.set_conv(None)(x)
        console.print(f"\n[bold]Winograd vs direct 3x3 conv[/] on one {h}x{w} input (max |y| = {reference.abs().max():.3g}):")
        for tile in (2, 4, 6):
            model.set_conv(tile)
            y = model(x)
            t0 = time.perf_counter()
            for _ in range(5):
                model(x)
            ms = (time.perf_counter() - t0) / 5 * 1e3
            console.print(f"  F({tile}x{tile},3x3): max abs diff {(y - reference).abs().max():.2e}, "
                          f"PyTorch eager {ms:.1f} ms/inference")


def register(app: typer.Typer) -> None:
    app.command()(info)
    app.command()(demo)
