"""Analytic arithmetic of a WNO forward pass, split by part.

Counts multiply-accumulates (MACs) as the deployed graph computes them: the spectral
part as truncated real DFTs (dense matmuls, what the FFT-free ONNX export runs) plus the
complex mode mixing; the real-space part as direct and as Winograd 3x3 convolutions.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..contract import TILES, WNOConfig
from ..winograd import ConvCost, conv3x3_cost


@dataclass(frozen=True)
class ModelCost:
    height: int
    width: int
    batch: int
    pointwise_macs: int  # lifting, projection, channel MLPs (and W alone in the FNO special case)
    spectral_macs: int  # truncated DFT, mode mixing, inverse DFT
    conv_direct: ConvCost  # all layers' 3x3 convs computed directly (W folded in)
    conv_winograd: dict[int, ConvCost]  # the same by Winograd F(tile, 3), per tile

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
    c = config
    top, bottom, left, right = c.paddings(height, width)
    hp, wp = height + top + bottom, width + left + right
    m1, m2 = c.modes
    lift_in = c.in_channels + (2 if c.grid else 0)
    lifted = lift_in * c.lifting_width + c.lifting_width * c.width if c.lifting_width else lift_in * c.width
    pointwise = batch * height * width * (lifted + c.width * c.projection_width + c.projection_width * c.out_channels)
    if c.channel_mlp_width:  # per layer on the padded grid: two 1x1 maps, plus the skip's
        mlp = 2 * c.width * c.channel_mlp_width + (c.width * c.width if c.channel_mlp_skip else 0)
        pointwise += batch * c.n_layers * hp * wp * mlp
    # Per channel: real DFT along W to m2 modes (2 real MACs per term), then complex DFT
    # along H to 2*m1 modes (4 real MACs per complex MAC); the inverse costs the same.
    dft = 2 * (2 * hp * wp * m2 + 4 * 2 * m1 * hp * m2)
    mixing = 4 * 2 * m1 * m2 * c.width * c.width
    spectral = batch * c.n_layers * (c.width * dft + mixing)
    if c.real_space_kernel:
        direct = _scale(conv3x3_cost(c.width, c.width, hp, wp, None, batch), c.n_layers)
        wino = {t: _scale(conv3x3_cost(c.width, c.width, hp, wp, t, batch), c.n_layers) for t in TILES}
    else:  # FNO special case: the real-space part is the 1x1 map W alone
        pointwise += batch * c.n_layers * hp * wp * c.width * c.width
        direct = ConvCost("none", 0, 0, 0)
        wino = {t: direct for t in TILES}
    return ModelCost(height, width, batch, pointwise, spectral, direct, wino)
