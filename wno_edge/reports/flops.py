"""Analytic arithmetic of a WNO forward pass, split by part.

Counts multiply-accumulates (MACs) as the deployed graph computes them: the spectral
part as truncated real DFTs (dense matmuls, what the FFT-free ONNX export runs) plus the
complex mode mixing; the real-space part as direct and as Winograd 3x3 convolutions
(1-D models: 3-tap convolutions, direct and Winograd F(m, 3)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..contract import TILES, WNOConfig
from ..winograd import ConvCost, conv_cost


@dataclass(frozen=True)
class ModelCost:
    grid: tuple[int, ...]  # (H, W), or (X,) for a 1-D model
    batch: int
    pointwise_macs: int  # lifting, projection, channel MLPs, W alone (an FNO), padding by values (MatMuls)
    spectral_macs: int  # truncated DFT, mode mixing, inverse DFT
    conv_direct: ConvCost  # all layers' 3x3 (1-D: 3-tap) convs computed directly (W folded in)
    conv_winograd: dict[int, ConvCost]  # the same by Winograd F(tile, 3), per tile

    @property
    def height(self) -> int:
        return self.grid[0]

    @property
    def width(self) -> int:
        """The second axis of a 2-D grid (a 1-D grid's length)."""
        return self.grid[-1]

    @property
    def total_direct_macs(self) -> int:
        return self.pointwise_macs + self.spectral_macs + self.conv_direct.multiplies

    def winograd_saving(self, tile: int) -> float:
        """Direct 3x3 multiplies / Winograd multiplies (transforms included)."""
        wino = self.conv_winograd[tile].multiplies
        return self.conv_direct.multiplies / wino if wino else 1.0


def _scale(cost: ConvCost, n: int) -> ConvCost:
    return ConvCost(cost.method, cost.multiplies * n, cost.adds * n, cost.gemm_multiplies * n)


def model_cost(config: WNOConfig, height: int, width: int, batch: int = 1) -> ModelCost:
    """The cost of a 2-D model on an H x W grid."""
    return grid_cost(config, (height, width), batch)


def model_cost_1d(config: WNOConfig, length: int, batch: int = 1) -> ModelCost:
    """The cost of a 1-D model on a line of `length` points."""
    return grid_cost(config, (length,), batch)


def grid_cost(config: WNOConfig, grid: tuple[int, ...], batch: int = 1) -> ModelCost:
    """The cost of one inference on `grid`: (H, W) for a 2-D model, (X,) for a 1-D one, (D, H, W) 3-D."""
    c = config
    grid = tuple(int(n) for n in grid)
    padded = tuple(n + before + after for n, (before, after) in zip(grid, c.axis_paddings(grid), strict=True))
    points, padded_points = math.prod(grid), math.prod(padded)
    lift_in = c.in_channels + (c.rank if c.grid else 0)
    lifted = lift_in * c.lifting_width + c.lifting_width * c.width if c.lifting_width else lift_in * c.width
    pw = c.projection_width
    if c.projection_layers:  # project1, projection_layers - 1 hidden layers, project2
        projection = c.width * pw + (c.projection_layers - 1) * pw * pw + pw * c.out_channels
    else:
        projection = c.width * c.out_channels
    pointwise = batch * points * (lifted + projection)
    if c.padding_mode != "constant":  # the export pads by 0/1 MatMuls, one axis at a time, on the lifted field
        sizes = list(grid)
        for axis, (before, after) in enumerate(c.axis_paddings(grid)):
            if before or after:
                out = sizes[axis] + before + after
                pointwise += batch * c.width * math.prod(sizes) // sizes[axis] * out * sizes[axis]
                sizes[axis] = out
    if c.channel_mlp_width:  # per layer on the padded grid: two 1x1 maps, plus the skip's
        mlp = 2 * c.width * c.channel_mlp_width + (c.width * c.width if c.channel_mlp_skip else 0)
        pointwise += batch * c.n_layers * padded_points * mlp
    if c.rank == 3:
        dp, hp, wp = padded
        m1, m2, m3 = c.modes
        # Per channel, one axis at a time as the export: real DFT along W to m3 modes, complex
        # DFT along H to 2*m2 rows (per D row), then along D to 2*m1 rows (per kept H row and
        # column); the inverse costs the same.
        dft = 2 * (2 * dp * hp * wp * m3 + 4 * 2 * m2 * hp * dp * m3 + 4 * 2 * m1 * dp * 2 * m2 * m3)
        mixing = 4 * 2 * m1 * 2 * m2 * m3 * c.width * c.width
    elif c.rank == 2:
        hp, wp = padded
        m1, m2 = c.modes
        # Per channel: real DFT along W to m2 modes (2 real MACs per term), then complex DFT
        # along H to 2*m1 modes (4 real MACs per complex MAC); the inverse costs the same.
        dft = 2 * (2 * hp * wp * m2 + 4 * 2 * m1 * hp * m2)
        mixing = 4 * 2 * m1 * m2 * c.width * c.width
    else:
        (xp,) = padded
        (m,) = c.modes
        # Per channel: real DFT along X to m modes (2 real MACs per term); the inverse the same.
        dft = 2 * (2 * xp * m)
        mixing = 4 * m * c.width * c.width
    spectral = batch * c.n_layers * (c.width * dft + mixing)
    if c.real_space_kernel:

        def conv(tile: int | None) -> ConvCost:
            return conv_cost(c.width, c.width, padded, tile, batch)

        direct = _scale(conv(None), c.n_layers)
        wino = {t: _scale(conv(t), c.n_layers) for t in TILES}
    else:  # FNO special case: the real-space part is the 1x1 map W alone
        pointwise += batch * c.n_layers * padded_points * c.width * c.width
        direct = ConvCost("none", 0, 0, 0)
        wino = {t: direct for t in TILES}
    return ModelCost(grid, batch, pointwise, spectral, direct, wino)
