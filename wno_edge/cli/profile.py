"""`wno-edge profile`: time a model file (trtexec-style), or compare conv algorithms."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from ..errors import WNOEdgeError
from .display import console


def _progress():
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )


def profile(
    engine: Path = typer.Option(..., "--engine", "-e", help="Model file: .onnx, .trt/.engine or .pt."),
    batch: int = typer.Option(None, "--batch", min=1, help="Batch size (default: the file's fixed batch, else 1)."),
    iterations: int = typer.Option(1000, "--iterations", "-n", min=1),
    warmup: int = typer.Option(50, "--warmup", min=0),
    threads: int = typer.Option(None, "--threads", min=1, help="CPU threads (default: the runtime's)."),
    device: str = typer.Option(
        None, "--device", help="cpu or cuda (default: cuda for engines, else cpu); gpu or npu for openvino."
    ),
    resolution: str = typer.Option(None, "--resolution", "-r", help="Grid HxW for a .pt without a stored grid."),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON instead of the report."),
    report: Path = typer.Option(None, "--report", help="Also write the results, every latency included, as JSON."),
    plot: Path = typer.Option(None, "--plot", help="Write a latency histogram PNG."),
    compare_conv_: bool = typer.Option(
        False, "--compare-conv", help="Time the model's 3x3 conv every way (paper Table 1)."
    ),
    backend: str = typer.Option(
        None,
        "--backend",
        help="For .onnx: native (C++ engine, prints a per-stage breakdown), onnxruntime or "
        "openvino (default: native for wno-edge exports when built).",
    ),
):
    """Latency percentiles, throughput and jitter of one model file."""
    from .. import runtime
    from ..reports.profile import add_arithmetic, model_macs, profile_session, write_json
    from ..util.io import refuse_overwrite, refuse_same_outputs
    from ..util.shapes import parse_resolution
    from .display import format_report, plot_latency

    if device not in (None, "cpu", "cuda") and not (backend == "openvino" and device in ("gpu", "npu")):
        raise WNOEdgeError(f"--device must be cpu or cuda (gpu or npu with --backend openvino), got {device!r}")
    for out in (report, plot):  # fail before the run, not after it; never over the model file
        if out is not None:
            refuse_overwrite(out, engine)
        if out is not None and out.is_dir():
            raise WNOEdgeError(f"cannot write {out}: it is a directory, expected a file path")
        if out is not None and not out.resolve().parent.is_dir():
            raise WNOEdgeError(f"cannot write {out}: directory {out.parent} does not exist")
    refuse_same_outputs(report, plot)  # the PNG would replace the JSON
    options: dict[str, Any] = (
        {"resolution": parse_resolution(resolution)} if resolution and engine.suffix == ".pt" else {}
    )
    if backend == "native":
        options["profile"] = True  # the engine records per-stage times
    with runtime.load(
        engine, device=device, threads=threads, batch=batch, check_finite=False, backend=backend, **options
    ) as session:
        if compare_conv_:
            return _compare_conv(engine, session, threads or 1)
        with _progress() as bar:
            warm = bar.add_task("warm-up", total=warmup) if warmup else None
            task = bar.add_task("profiling", total=iterations)
            result = profile_session(
                session,
                iterations,
                warmup,
                lambda i: bar.update(task, completed=i),
                lambda i: bar.update(warm, completed=i),
            )
        add_arithmetic(result, model_macs(session))
    result["model"] = str(engine)
    if as_json:
        typer.echo(json.dumps({k: v for k, v in result.items() if k != "latencies_ms"}, indent=2))
    else:
        typer.echo(format_report(result))  # plain lines, unwrapped, as trtexec prints them
    if report:
        write_json(result, report)
        typer.echo(f"wrote {report}", err=True)  # stdout carries the report (or its JSON) alone
    if plot:
        plot_latency(result, plot)
        typer.echo(f"wrote {plot}", err=True)


def _compare_conv(engine: Path, session, threads: int) -> None:
    from ..reports.conv_compare import ConvShape, compare_conv

    cfg = session.config
    if cfg is None or not cfg.real_space_kernel:
        raise WNOEdgeError(f"{engine}: no 3x3 conv layers to compare (needs a WNO checkpoint or a wno-edge ONNX file)")
    b, _, h, w = session.input_shape
    shape = ConvShape(b, cfg.width, h + cfg.domain_padding, w + cfg.domain_padding)
    with _progress() as bar:
        task = bar.add_task(f"conv {shape}", total=None)
        rows = compare_conv(shape, threads, progress=lambda: bar.advance(task))
    table = Table(title=f"3x3 conv layer {shape} ({cfg.n_layers} in the model), {threads} thread(s)")
    for col in ("method", "median ms", "vs torch direct", "max rel error"):
        table.add_column(col, justify="left" if col == "method" else "right")
    for r in rows:
        table.add_row(
            r["method"] + (" *" if r["fastest"] else ""),
            f"{r['median_ms']:.3f}",
            f"{r['speedup_vs_torch_direct']:.2f}x",
            f"{r['rel_error']:.1e}",
            style="bold green" if r["fastest"] else None,
        )
    console.print(table)
    console.print("* fastest")


def register(app: typer.Typer) -> None:
    app.command()(profile)
