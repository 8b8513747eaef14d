"""What the CLI shows: rich tables and matplotlib plots of the library's results."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from ..runtime.stats import format_latency
from ..util.io import atomic_path, refuse_overwrite

# One console for every command: a line stays one line when piped to a file or a log.
console = Console(soft_wrap=True)


def _si(n: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{n:.0f}"


PADDED_SIDES = {1: "right", 2: "right and bottom", 3: "the far end of each axis"}  # domain_padding, by rank


def summary_tables(s: dict) -> list[Table]:
    cfg = s["config"]
    line = len(s["grid"]) == 1  # a 1-D model: a 3-tap kernel, padding on the right
    volume = len(s["grid"]) == 3  # a 3-D FNO: no real-space kernel, W is 1x1x1
    tile, taps = cfg["winograd_tile"], "3-tap" if line else "3x3"
    arch = Table(title=s["architecture"], show_header=False)
    arch.add_column(style="bold")
    arch.add_column()
    arch.add_row("channels in -> out", f"{cfg['in_channels']} -> {cfg['out_channels']}")
    arch.add_row("width / layers", f"{cfg['width']} / {cfg['n_layers']}")
    arch.add_row("Fourier modes", "x".join(map(str, cfg["modes"])))
    arch.add_row(
        f"{taps} kernel",
        (f"Winograd F({tile},3)" if line else f"Winograd F({tile}x{tile},3x3)")
        if cfg["real_space_kernel"]
        else "none (1x1x1 W only: a 3-D FNO)"
        if volume
        else "none (1x1 W only)",
    )
    fraction = cfg.get("domain_padding_fraction")
    arch.add_row(
        "domain padding",
        f"{' x '.join(f'{f:g}' for f in fraction)} of the grid, both sides"
        if fraction
        else f"{cfg['domain_padding']} cells, {PADDED_SIDES[len(s['grid'])]}",
    )
    if cfg.get("block", "wno") != "wno":
        mlp = cfg.get("channel_mlp_width", 0)
        arch.add_row(
            "block",
            f"{cfg['block']}"
            + (f", channel MLP {mlp}" + (" + skip" if cfg.get("channel_mlp_skip") else "") if mlp else ""),
        )
    if cfg.get("lifting_width"):
        arch.add_row("lifting MLP width", str(cfg["lifting_width"]))
    arch.add_row("parameters", f"{s['parameters']:,}")
    arch.add_row("trained grid", "x".join(map(str, cfg["resolution"])) if cfg["resolution"] else "unknown")
    for key, value in s["metadata"].items():
        if isinstance(value, (str, int, float, bool)):
            arch.add_row(f"meta: {key}", str(value))

    macs = s["macs"]
    conv_key = "conv3_direct" if line else "conv3x3_direct"
    cost = Table(title=f"MACs per inference at {'x'.join(map(str, s['grid']))}, batch {s['batch']}")
    cost.add_column("part")
    cost.add_column("MACs", justify="right")
    cost.add_column("share", justify="right")
    total = macs["total_direct"]
    for part, key in (
        ("spectral (truncated DFT + mixing)", "spectral"),
        (f"{taps} conv (W folded in), direct", conv_key),
        ("pointwise (lift, projection, channel MLPs)", "pointwise"),
    ):
        if key not in macs:  # a 3-D FNO has no real-space conv
            continue
        cost.add_row(part, _si(macs[key]), f"{100 * macs[key] / total:.1f}%")
    cost.add_row("total", _si(total), "100%", style="bold")

    tables = [arch, cost]
    if s["winograd"]:
        wino = Table(title=f"{taps} conv multiplies: Winograd vs direct (transforms included)")
        wino.add_column("algorithm")
        wino.add_column("multiplies", justify="right")
        wino.add_column("saving", justify="right")
        wino.add_row("direct", _si(macs[conv_key]), "1.00x")
        for t, row in s["winograd"].items():
            mark = " *" if t == cfg["winograd_tile"] else ""
            name = f"F({t},3)" if line else f"F({t}x{t},3x3)"
            wino.add_row(f"{name}{mark}", _si(row["multiplies"]), f"{row['saving_vs_direct']:.2f}x")
        tables.append(wino)
    return tables


def format_report(result: dict) -> str:
    lines = [
        f"=== Performance summary ({result['backend']}, input {'x'.join(map(str, result['input_shape']))} "
        f"{result['dtype']}, {result['iterations']} iterations) ===",
        f"Throughput: {result['throughput_qps']:.5g} qps",
    ]
    lines.append(format_latency("Latency", result["latency"]))
    for key, name in (("h2d", "H2D Latency"), ("gpu_compute", "GPU Compute Time"), ("d2h", "D2H Latency")):
        if key in result:
            lines.append(format_latency(name, result[key]))
    if result.get("stages_ms"):  # native engine: mean time per run of each stage
        total = sum(result["stages_ms"].values()) or 1.0
        lines.append(
            "Stages (mean per run): "
            + ", ".join(f"{name} {ms:.3f} ms ({100 * ms / total:.0f}%)" for name, ms in result["stages_ms"].items())
        )
    lines.append(f"Jitter (p99 / p50): {result['latency']['jitter_p99_over_p50']:.3f}")
    lines.append(f"Peak resident memory: {result['peak_rss_mib']:.1f} MiB")
    if "macs" in result:
        lines.append(
            f"MACs per inference: {result['macs'] / 1e6:.2f} M (direct-equivalent), "
            f"achieved {result['gflops']:.2f} GFLOP/s at the median"
        )
    return "\n".join(lines)


def plot_latency(result: dict, path: Path) -> None:
    refuse_overwrite(path, result.get("model"))  # before drawing: never over the model file timed
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ms = np.asarray(result["latencies_ms"])
    lat = result["latency"]
    fig, ax = plt.subplots(figsize=(7, 4), dpi=120)
    ax.hist(
        ms,
        bins=np.geomspace(ms.min(), ms.max() * 1.001 if ms.max() > ms.min() else ms.min() * 2, 60).tolist(),
        color="#4477aa",
    )
    ax.set_xscale("log")
    for key, label, color, align in (("median_ms", "p50", "k", "left"), ("p99_ms", "p99", "#cc3311", "right")):
        ax.axvline(lat[key], color=color, ls="--", lw=1)
        ax.text(
            lat[key],
            ax.get_ylim()[1] * (0.95 if align == "left" else 0.85),
            f" {label} {lat[key]:.4g} ms ",
            color=color,
            va="top",
            ha=align,
            fontsize=8,
        )
    ax.set_xlabel("latency per inference (ms, log scale)")
    ax.set_ylabel("count")
    ax.set_title(
        f"{result['backend']} {'x'.join(map(str, result['input_shape']))}: "
        f"{result['throughput_qps']:.0f} qps, jitter {lat['jitter_p99_over_p50']:.2f}"
    )
    fig.tight_layout()
    with atomic_path(path, inputs=(result.get("model"),)) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


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
    main.add_row("grid, batch", f"{'x'.join(map(str, o.resolution))}, {'dynamic' if o.batch is None else o.batch}")
    line = len(o.resolution) == 1  # a 1-D model: a 3-tap kernel, Winograd F(m,3)
    main.add_row(
        "3-tap conv" if line else "3x3 conv",
        f"WinogradConv {f'F({o.tile},3)' if line else f'F({o.tile}x{o.tile},3x3)'} + Conv fallback function"
        if o.conv == "winograd"
        else "Conv (direct)",
    )
    main.add_row("nodes", str(s.total_nodes))
    main.add_row("parameter bytes", _bytes(s.parameter_bytes))
    main.add_row("MACs per sample", f"{s.macs / 1e6:.1f} M (3x3 convs counted direct)")
    if s.winograd_multiplies:
        main.add_row(
            "3x3 multiplies, Winograd",
            f"{s.winograd_multiplies / 1e6:.1f} M vs {s.winograd_direct_macs / 1e6:.1f} M "
            f"direct ({s.winograd_direct_macs / s.winograd_multiplies:.2f}x fewer)",
        )
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
            cmp.add_row(
                c.runtime,
                f"{c.max_abs:.3g}",
                f"{c.relative:.3g}",
                f"{c.seconds:.2f} s",
                "[green]ok[/green]" if c.ok else "[red]FAIL[/red]",
            )
    return [main, nodes, cmp]
