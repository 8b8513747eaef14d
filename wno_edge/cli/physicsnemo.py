"""`wno-edge import-physicsnemo`: an NVIDIA PhysicsNeMo (or Modulus) FNO checkpoint (.mdlus, 1-D,
2-D or 3-D) -> a wno-edge checkpoint, read as data (nothing the file names is imported or run)."""

from __future__ import annotations

from pathlib import Path

import typer

from ..errors import missing_dependency
from ..util.shapes import parse_dims
from .display import console


def import_physicsnemo(
    source: Path = typer.Argument(
        ..., help="A PhysicsNeMo FNO checkpoint: Module.save's .mdlus (zip) or the legacy tar form."
    ),
    output: Path = typer.Option(
        None, "--output", "-o", help="Checkpoint to write (default: SOURCE with suffix .wno.pt)."
    ),
    resolution: str = typer.Option(
        None,
        "--resolution",
        "-r",
        help="Grid HxW (a 1-D FNO: X, a 3-D FNO: DxHxW) to record as the export's default.",
    ),
):
    """Import a PhysicsNeMo FNO: lift, spectral layers, 1x1 convs, activation, coordinates, padding, decoder."""
    try:
        from ..importers.physicsnemo import import_physicsnemo as run
    except ImportError as e:  # a runtime-only install: no torch
        raise missing_dependency(e, "wno-edge import-physicsnemo") or e from None
    from ..errors import WNOEdgeError

    example = "64x64, (1-D) 1024 or (3-D) 16x16x16"
    dims = None if resolution is None else parse_dims(resolution, "resolution", example)
    if dims is not None and len(dims) > 3:
        raise WNOEdgeError(f"resolution must look like {example}, got {resolution!r}")
    output = output if output is not None else source.with_name(source.stem + ".wno.pt")
    report = run(source, output, resolution=dims)
    c = report.config
    console.print(f"{report.class_path} ({report.layout}): a {c.rank}-D FNO, width {c.width}, {c.n_layers} layers")
    for part, what in report.mapped.items():
        console.print(f"  {part}: {what}")
    console.print(f"wrote {report.output}")


def register(app: typer.Typer) -> None:
    app.command("import-physicsnemo")(import_physicsnemo)
