"""Model summary (what `wno-edge info` prints) as plain data; wno_edge.cli.display draws it."""

from __future__ import annotations

from .flops import model_cost
from .model import WNO2d, count_parameters
from .contract import TILES


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
        }
        if c.real_space_kernel
        else {},
        "metadata": {k: v for k, v in (getattr(model, "metadata", None) or {}).items() if not hasattr(v, "shape")},
    }
