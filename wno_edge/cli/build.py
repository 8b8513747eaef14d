"""`wno-edge build`: ONNX -> TensorRT engine with the fused Winograd plugin."""

from __future__ import annotations

from pathlib import Path

import typer

from .display import console


def build(
    onnx_file: Path = typer.Argument(..., help="An ONNX file from `wno-edge export`."),
    output: Path = typer.Option(None, "--output", "-o", help="Engine path (default: the ONNX name with .trt)."),
    fp16: bool = typer.Option(
        False, "--fp16", help="Allow fp16 kernels (TensorRT 10); TensorRT 11 needs an fp16 export."
    ),
    workspace: int = typer.Option(1024, "--workspace", min=1, help="Workspace limit in MiB."),
    min_shape: str = typer.Option(None, "--min", help="Smallest input shape, e.g. 1x1x64x64."),
    opt_shape: str = typer.Option(None, "--opt", help="Shape to tune for."),
    max_shape: str = typer.Option(None, "--max", help="Largest input shape."),
    timing_cache: Path = typer.Option(None, "--timing-cache", help="Read and update this timing cache."),
    plugin: Path = typer.Option(None, "--plugin", help="libwno_trt_plugin.so (default: searched)."),
    allow_fallback: bool = typer.Option(
        False, "--allow-fallback", help="Build even if a WinogradConv node falls back to the plain Conv."
    ),
    verbose: bool = typer.Option(False, "--verbose", help="TensorRT's verbose log; whole parser errors."),
):
    """Build a TensorRT engine; prints which layers run the WinogradConv plugin."""
    from ..tensorrt.build import build_engine, parse_shape

    report = build_engine(
        onnx_file,
        output or onnx_file.with_suffix(".trt"),
        fp16=fp16,
        workspace_mib=workspace,
        min_shape=parse_shape(min_shape),
        opt_shape=parse_shape(opt_shape),
        max_shape=parse_shape(max_shape),
        timing_cache=timing_cache,
        plugin=plugin,
        allow_fallback=allow_fallback,
        verbose=verbose,
        log=lambda m: console.print(f"[yellow]{m}[/]"),
    )
    console.print(
        f"[bold]wrote[/] {report.engine} ({report.engine_bytes / 2**20:.1f} MiB, TensorRT "
        f"{report.tensorrt_version}, built in {report.build_seconds:.1f} s)"
    )
    console.print(
        f"plugin {report.plugin_library}: {len(report.plugin_layers)} of {report.layers} layers "
        f"run WinogradConv ({report.winograd_nodes} WinogradConv nodes in the ONNX file)"
    )
    for name in report.plugin_layers:
        console.print(f"  {name}")
    console.print(f"profile: min {report.profile['min']}, opt {report.profile['opt']}, max {report.profile['max']}")


def register(app: typer.Typer) -> None:
    app.command()(build)
