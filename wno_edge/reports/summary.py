"""Model summary (what `wno-edge info` prints) as plain data; wno_edge.cli.display draws it."""

from __future__ import annotations

import os
from pathlib import Path

from ..contract import TILES, Metadata
from ..errors import WNOEdgeError, not_a_file
from ..model import WNO2d, count_parameters
from .flops import model_cost


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


def load_for_summary(path: str | os.PathLike) -> WNO2d:
    """The checkpoint's model; for an export, a model of its stored config (weights are not
    needed to count parameters and MACs) carrying the export's metadata."""
    path = Path(path)
    if path.suffix.lower() != ".onnx":
        from ..checkpoint import load_model

        return load_model(path)
    from ..runtime.onnx_metadata import read_config, read_onnx_metadata

    problem = not_a_file(path)  # a directory or FIFO is named for what it is
    if problem is not None:
        raise problem
    config = read_config(path)
    if config is None:
        raise WNOEdgeError(f"{path}: not a wno-edge export (no {Metadata.CONFIG} metadata)")
    model = WNO2d(config)
    model.metadata = {k: v for k, v in read_onnx_metadata(path).items() if k != Metadata.CONFIG}
    return model
