"""`wno-edge export`: checkpoint -> ONNX with WinogradConv nodes, FFT-free (--spectral matmul) or with the
standard DFT op (--spectral dft); see docs/export.md."""

from __future__ import annotations

from pathlib import Path

import typer

from ..contract import CONV_MODES, DEFAULT_OPSET, MAX_OPSET, MIN_OPSET, TILES
from .display import console, report_tables


def export(
    checkpoint: Path = typer.Argument(..., help="A wno-edge checkpoint (.pt)."),
    output: Path = typer.Option(None, "--output", "-o", help="The .onnx file (default: CHECKPOINT with suffix .onnx)."),
    resolution: str = typer.Option(
        None,
        "--resolution",
        "-r",
        help="Grid HxW (1-D model: X, 3-D: DxHxW) the graph is built for (default: the checkpoint's "
        "config.resolution).",
    ),
    batch: int = typer.Option(None, "--batch", help="Fixed batch size (default: dynamic batch)."),
    opset: int = typer.Option(
        DEFAULT_OPSET, "--opset", help=f"ONNX opset, {MIN_OPSET}..{MAX_OPSET} (20+ uses the native Gelu op)."
    ),
    fp16: bool = typer.Option(
        False, "--fp16", help="Half precision throughout: weights, activations, input and output."
    ),
    conv: str = typer.Option(
        CONV_MODES[0],
        "--conv",
        help="winograd: WinogradConv custom op with a Conv fallback (the native engine, ONNX Runtime, "
        "TensorRT with the plugin, OpenVINO via backend='openvino'); direct: plain Conv, standard ops "
        "only (every runtime, TensorRT without the plugin; the native engine still uses Winograd).",
    ),
    spectral: str = typer.Option(
        "matmul",
        "--spectral",
        help="matmul (default): the truncated DFT as real MatMuls, no FFT op: every runtime of every version "
        "(TensorRT before 11.2, e.g. JetPack 6's 10.3, has no DFT). dft: the standard ONNX DFT op, for runtimes "
        "with an FFT: TensorRT 11.2 or later, ONNX Runtime CPU, OpenVINO; the native engine runs both forms fused "
        "(3-D: reference kernels). Sets one flag with --conv.",
    ),
    tile: int = typer.Option(
        None, "--tile", help=f"Winograd output tile, one of {TILES} (default: the model's winograd_tile)."
    ),
    force: bool = typer.Option(False, "--force", help="Write the file even if the accuracy check fails."),
):
    """Export to ONNX (FFT-free, or with DFT ops: --spectral), check it, compare ORT and onnx.reference against
    PyTorch, write atomically."""
    from ..onnx import ExportError, export_onnx
    from ..onnx.export import FLAVOUR_RUNTIMES, NO_KERNEL_RUNTIMES, SPECTRAL_RUNTIMES

    output = output if output is not None else checkpoint.with_suffix(".onnx")
    try:
        report = export_onnx(
            checkpoint,
            output,
            resolution=resolution,
            batch=batch,
            opset=opset,
            fp16=fp16,
            conv=conv,
            tile=tile,
            spectral=spectral,
            force=force,
        )
    except ExportError as e:
        for table in report_tables(e.report):
            console.print(table)
        raise
    for table in report_tables(report):
        console.print(table)
    if not report.real_space_kernel:
        console.print(f"runs on: {NO_KERNEL_RUNTIMES}", highlight=False)
    else:
        console.print(f"--conv {conv} runs on: {FLAVOUR_RUNTIMES[conv]}", highlight=False)
    if spectral != "matmul":
        console.print(f"--spectral {spectral} runs on: {SPECTRAL_RUNTIMES[spectral]}", highlight=False)
    if report.forced:
        typer.secho(
            f"warning: {output} written with --force although the accuracy check failed",
            err=True,
            fg=typer.colors.YELLOW,
        )


def register(app: typer.Typer) -> None:
    app.command("export")(export)
