"""Model summary (what `wno-edge info` prints) as plain data; wno_edge.cli.display draws it."""

from __future__ import annotations

import os
from pathlib import Path

from ..contract import TILES, Metadata
from ..errors import WNOEdgeError, not_a_file
from ..model import WNO2d, count_parameters
from .flops import grid_cost

# the MAC count's grid when neither the call nor the config gives one
DEFAULT_GRID = {1: (1024,), 2: (64, 64), 3: (32, 32, 32)}
ARCHITECTURE = {1: "WNO1d", 2: "WNO2d", 3: "FNO3d"}  # by spatial rank (one class, WNO2d, builds all; 3-D: FNO only)
# summary["macs"]: the real-space kernel's direct MACs (a 3-D model has none: no key)
CONV_KEY = {1: "conv3_direct", 2: "conv3x3_direct", 3: ""}


def model_summary(model: WNO2d, resolution: tuple[int, ...] | None = None, batch: int = 1) -> dict:
    """Architecture, size and per-part arithmetic of one inference at `resolution` ((H, W), (X,)
    for a 1-D model, (D, H, W) for a 3-D one)."""
    c = model.config
    grid = tuple(resolution or c.resolution or DEFAULT_GRID[c.rank])
    if len(grid) != c.rank:
        raise WNOEdgeError(f"a {c.rank}-D model needs a {c.rank}-D grid, got {'x'.join(map(str, grid))}")
    cost = grid_cost(c, grid, batch)
    name = ARCHITECTURE[c.rank]
    return {
        "architecture": name if c.real_space_kernel or c.rank == 3 else f"{name} (FNO special case, k = 0)",
        "config": c.to_dict(),
        "parameters": count_parameters(model),
        "grid": list(grid),
        "batch": batch,
        "macs": {
            "pointwise": cost.pointwise_macs,
            "spectral": cost.spectral_macs,
            **({CONV_KEY[c.rank]: cost.conv_direct.multiplies} if CONV_KEY[c.rank] else {}),
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
