"""`wno-edge export`: checkpoint -> FFT-free ONNX with WinogradConv nodes (see docs/export.md)."""
from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

console = Console()


def _bytes(n: int) -> str:
    return f"{n / 2**20:.2f} MiB" if n >= 2**20 else f"{n / 2**10:.1f} KiB"


def report_tables(report) -> list[Table]:
    """The export summary: what was written, what the graph holds, how it compared."""
    o, s = report.options, report.stats
    main = Table(title="ONNX export", show_header=False)
    main.add_column(style="bold")
    main.add_column()
    if report.path is not None:
        state = "written" if report.written else "NOT written"
        if report.forced:
            state += " (--force: accuracy check FAILED)"
        main.add_row("file", f"{report.path} ({state}{', ' + _bytes(report.file_bytes) if report.written else ''})")
    main.add_row("opset / IR", f"{o.opset} / {report.ir_version}")
    main.add_row("precision", f"{o.precision} (weights, activations, input and output)" if o.fp16 else o.precision)
    main.add_row("grid, batch", f"{o.resolution[0]}x{o.resolution[1]}, {'dynamic' if o.batch is None else o.batch}")
    main.add_row("3x3 conv", f"WinogradConv F({o.tile}x{o.tile},3x3) + Conv fallback function"
                 if o.conv == "winograd" else "Conv (direct)")
    main.add_row("nodes", str(s.total_nodes))
    main.add_row("parameter bytes", _bytes(s.parameter_bytes))
    main.add_row("MACs per sample", f"{s.macs / 1e6:.1f} M (3x3 convs counted direct)")
    if s.winograd_multiplies:
        main.add_row("3x3 multiplies, Winograd", f"{s.winograd_multiplies / 1e6:.1f} M vs {s.winograd_direct_macs / 1e6:.1f} M "
                     f"direct ({s.winograd_direct_macs / s.winograd_multiplies:.2f}x fewer)")
    main.add_row("compared on", report.inputs)
    main.add_row("time", f"build + check {report.build_seconds:.2f} s, compare {report.verify_seconds:.2f} s")

    nodes = Table(title="nodes by op type")
    nodes.add_column("op")
    nodes.add_column("count", justify="right")
    for op, n in s.node_counts.items():
        nodes.add_row(op, str(n))
    for op, n in s.function_node_counts.items():
        nodes.add_row(f"[dim]function {op}[/dim]", f"[dim]{n}[/dim]")

    tol = report.comparisons[0].tolerance if report.comparisons else report.tolerance
    cmp = Table(title=f"ONNX vs PyTorch: pass if max |y - y_torch| <= {tol:.0e} max |y_torch|")
    for col in ("runtime", "max abs error", "relative", "time", "result"):
        cmp.add_column(col, justify="left" if col == "runtime" else "right")
    for c in report.comparisons:
        if c.error is not None:
            cmp.add_row(c.runtime, "-", "-", f"{c.seconds:.2f} s", f"[red]failed: {c.error}[/red]")
        else:
            cmp.add_row(c.runtime, f"{c.max_abs:.3g}", f"{c.relative:.3g}", f"{c.seconds:.2f} s",
                        "[green]ok[/green]" if c.ok else "[red]FAIL[/red]")
    return [main, nodes, cmp]


def export(
    checkpoint: Path = typer.Argument(..., help="A wno-edge checkpoint (.pt)."),
    output: Path = typer.Option(None, "--output", "-o", help="The .onnx file (default: CHECKPOINT with suffix .onnx)."),
    resolution: str = typer.Option(None, "--resolution", "-r", help="Grid HxW the graph is built for (default: the checkpoint's config.resolution)."),
    batch: int = typer.Option(None, "--batch", help="Fixed batch size (default: dynamic batch)."),
    opset: int = typer.Option(17, "--opset", help="ONNX opset, 17..25 (20+ uses the native Gelu op)."),
    fp16: bool = typer.Option(False, "--fp16", help="Half precision throughout: weights, activations, input and output."),
    conv: str = typer.Option("winograd", "--conv", help="winograd: WinogradConv custom op with a Conv fallback; direct: plain Conv."),
    tile: int = typer.Option(None, "--tile", help="Winograd output tile 2, 4 or 6 (default: the model's winograd_tile)."),
    force: bool = typer.Option(False, "--force", help="Write the file even if the accuracy check fails."),
):
    """Export to FFT-free ONNX, check it, compare ORT and onnx.reference against PyTorch, write atomically."""
    from .onnx_export import ExportError, export_onnx

    output = output if output is not None else checkpoint.with_suffix(".onnx")
    try:
        report = export_onnx(checkpoint, output, resolution=resolution, batch=batch, opset=opset, fp16=fp16,
                             conv=conv, tile=tile, force=force)
    except ExportError as e:
        for table in report_tables(e.report):
            console.print(table)
        raise
    for table in report_tables(report):
        console.print(table)
    if report.forced:
        typer.secho(f"warning: {output} written with --force although the accuracy check failed", err=True,
                    fg=typer.colors.YELLOW)


def register(app: typer.Typer) -> None:
    app.command("export")(export)
