"""Human-readable model summary (what `wno-edge info` prints), as data and as a rich table."""
from __future__ import annotations

from rich.table import Table

from .flops import model_cost
from .model import WNO2d, count_parameters
from .winograd import TILES


def _si(n: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{n:.0f}"


def model_summary(model: WNO2d, resolution: tuple[int, int] | None = None, batch: int = 1) -> dict:
    """Architecture, size and per-part arithmetic of one inference at `resolution`."""
    c = model.config
    h, w = resolution or c.resolution or (64, 64)
    cost = model_cost(c, h, w, batch)
    return {
        "architecture": "WNO2d" if c.real_space_kernel else "WNO2d (FNO special case, k = 0)",
        "config": c.to_dict(),
        "parameters": count_parameters(model),
        "grid": [h, w],
        "batch": batch,
        "macs": {
            "pointwise": cost.pointwise_macs,
            "spectral": cost.spectral_macs,
            "conv3x3_direct": cost.conv_direct.multiplies,
            "total_direct": cost.total_direct_macs,
        },
        "winograd": {
            t: {"multiplies": cost.conv_winograd[t].multiplies, "saving_vs_direct": cost.winograd_saving(t)}
            for t in TILES
        } if c.real_space_kernel else {},
        "metadata": dict(getattr(model, "metadata", {}) or {}),
    }


def summary_tables(s: dict) -> list[Table]:
    cfg = s["config"]
    arch = Table(title=s["architecture"], show_header=False)
    arch.add_column(style="bold")
    arch.add_column()
    arch.add_row("channels in -> out", f"{cfg['in_channels']} -> {cfg['out_channels']}")
    arch.add_row("width / layers", f"{cfg['width']} / {cfg['n_layers']}")
    arch.add_row("Fourier modes", "x".join(map(str, cfg["modes"])))
    arch.add_row("3x3 kernel", f"Winograd F({cfg['winograd_tile']}x{cfg['winograd_tile']},3x3)"
                 if cfg["real_space_kernel"] else "none (1x1 W only)")
    arch.add_row("domain padding", str(cfg["domain_padding"]))
    arch.add_row("parameters", f"{s['parameters']:,}")
    arch.add_row("trained grid", "x".join(map(str, cfg["resolution"])) if cfg["resolution"] else "unknown")
    for key, value in s["metadata"].items():
        if isinstance(value, (str, int, float, bool)):
            arch.add_row(f"meta: {key}", str(value))

    h, w = s["grid"]
    macs = s["macs"]
    cost = Table(title=f"MACs per inference at {h}x{w}, batch {s['batch']}")
    cost.add_column("part")
    cost.add_column("MACs", justify="right")
    cost.add_column("share", justify="right")
    total = macs["total_direct"]
    for part, key in (("spectral (truncated DFT + mixing)", "spectral"),
                      ("3x3 conv (W folded in), direct", "conv3x3_direct"),
                      ("pointwise (lift, projection)", "pointwise")):
        cost.add_row(part, _si(macs[key]), f"{100 * macs[key] / total:.1f}%")
    cost.add_row("total", _si(total), "100%", style="bold")

    tables = [arch, cost]
    if s["winograd"]:
        wino = Table(title="3x3 conv multiplies: Winograd vs direct (transforms included)")
        wino.add_column("algorithm")
        wino.add_column("multiplies", justify="right")
        wino.add_column("saving", justify="right")
        wino.add_row("direct", _si(macs["conv3x3_direct"]), "1.00x")
        for t, row in s["winograd"].items():
            mark = " *" if t == cfg["winograd_tile"] else ""
            wino.add_row(f"F({t}x{t},3x3){mark}", _si(row["multiplies"]), f"{row['saving_vs_direct']:.2f}x")
        tables.append(wino)
    return tables
