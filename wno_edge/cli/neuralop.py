"""`wno-edge import-neuralop`: a neuraloperator 2.x FNO state dict (2-D, 1-D or 3-D) -> a wno-edge checkpoint."""

from __future__ import annotations

from pathlib import Path

import typer

from ..contract import TILES
from ..errors import missing_dependency
from ..util.shapes import parse_dims
from .display import console


def import_neuralop(
    source: Path = typer.Argument(
        ...,
        help="torch.save(model.state_dict()) of a neuraloperator FNO/TFNO (2-D, 1-D or 3-D), or either "
        "file of the pair save_checkpoint writes (NAME_state_dict.pt, NAME_metadata.pkl).",
    ),
    output: Path = typer.Option(
        None, "--output", "-o", help="Checkpoint to write (default: SOURCE with suffix .wno.pt)."
    ),
    resolution: str = typer.Option(
        None,
        "--resolution",
        "-r",
        help="Grid HxW (a 1-D FNO: X, a 3-D FNO: DxHxW) to record (export's default) and to compare "
        "with neuraloperator at.",
    ),
    wno: bool = typer.Option(
        False,
        "--wno",
        help="Give every layer a 3x3 (1-D: 3-tap) kernel k (starts at 0, same function) "
        "to fine-tune with `wno-edge train --init` (not for a 3-D FNO: no 3x3x3 Winograd).",
    ),
    tile: int = typer.Option(4, "--tile", help=f"Winograd tile for --wno, one of {TILES}."),
):
    """Import a neuraloperator FNO without executing its pickle; checks it against neuraloperator if installed."""
    try:
        from ..importers.neuralop import import_neuralop as run
    except ImportError as e:  # a runtime-only install: no torch
        raise missing_dependency(e, "wno-edge import-neuralop") or e from None
    from ..errors import WNOEdgeError

    if tile not in TILES:
        raise WNOEdgeError(f"--tile must be one of {', '.join(map(str, TILES))}, got {tile}")
    example = "64, 64x48, (1-D) 1024 or (3-D) 16x16x16"
    dims = None if resolution is None else parse_dims(resolution, "resolution", example)
    if dims is not None and len(dims) > 3:
        raise WNOEdgeError(f"resolution must look like {example}, got {resolution!r}")
    name = source.name.removesuffix("_metadata.pkl").removesuffix("_state_dict.pt")
    output = output if output is not None else source.with_name(Path(name).stem + ".wno.pt")
    report = run(source, output, real_space_kernel=wno, winograd_tile=tile, resolution=dims)
    c = report.config
    console.print(
        f"neuraloperator {report.options.get('n_modes')} modes, width {c.width}, {c.n_layers} layers, "
        f"factorization {report.options.get('factorization')}, fno_skip {report.options.get('fno_skip')}, "
        f"channel MLP {'width ' + str(c.channel_mlp_width) if c.channel_mlp_width else 'off'}, "
        f"domain padding {report.options.get('domain_padding')}"
    )
    if report.reference_error is not None:
        console.print(
            f"matches neuraloperator: max error {report.reference_error:.2e} of the output scale "
            f"({report.reference_note})"
        )
    else:
        console.print(f"not compared: {report.reference_note}")
    console.print(f"wrote {report.output}" + (" (k = 0 in every layer: fine-tune it)" if wno else ""))


def register(app: typer.Typer) -> None:
    app.command("import-neuralop")(import_neuralop)
