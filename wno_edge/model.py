"""The Winograd Neural Operator (paper eq. 10) and its FNO special case, on 2-D grids and on lines;
3-D FNOs.

Each layer computes  v <- sigma( W v + winograd(k, v) + F^-1(R . F v) ).
W (1x1) and k (3x3) are both linear maps of v, so the layer folds W into the centre
tap of k and runs one 3x3 Winograd convolution; with `real_space_kernel=False` k is
absent and the layer is PDEBench's FNO2d layer (W only).

One model for every rank: WNO2d(WNOConfig(..., modes=(m,))) is the 1-D model on (N, C, X),
PDEBench's FNO1d at k = 0: the spectral part is a truncated rfft along X (SpectralConv1d),
k a 3-tap kernel computed with Winograd F(m, 3) (winograd_conv1d), the grid channel the
x coordinate; lifting, projection, normalisation and domain padding are the same code.

modes=(m1, m2, m3) is the 3-D FNO on (N, C, D, H, W) (neuraloperator's 3-D FNO; the config
refuses a real-space kernel: there is no 3x3x3 Winograd convolution): SpectralConv3d keeps the
four corners of rfftn's low frequencies, W and the channel MLP are 1x1x1 Conv3d, the grid
channels are (x, y, z) along (D, H, W).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn

from .contract import TILES, UNIT_DOMAIN, WNOConfig
from .errors import WNOEdgeError
from .winograd import winograd_conv1d, winograd_conv2d

__all__ = [
    "WNO2d",
    "WNOConfig",
    "WNOLayer",
    "SpectralConv1d",
    "SpectralConv2d",
    "SpectralConv3d",
    "check_state_dict",
    "count_parameters",
    "state_dict_shapes",
]


class SpectralConv2d(nn.Module):
    """Truncated Fourier-mode mixing (PDEBench FNO2d): weights on the low and high
    row-frequency corners of rfft2, complex [in, out, m1, m2]."""

    def __init__(self, in_channels: int, out_channels: int, modes: tuple[int, int]):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.modes1, self.modes2 = modes
        scale = 1.0 / (in_channels * out_channels)
        shape = (in_channels, out_channels, self.modes1, self.modes2)
        self.weights1 = nn.Parameter(scale * torch.rand(*shape, dtype=torch.cfloat))
        self.weights2 = nn.Parameter(scale * torch.rand(*shape, dtype=torch.cfloat))

    def check_grid(self, h: int, w: int) -> None:
        if h < 2 * self.modes1 or w // 2 + 1 < self.modes2:
            raise WNOEdgeError(
                f"grid {h}x{w} (after domain padding) is too small for {self.modes1}x{self.modes2} "
                f"Fourier modes: need H >= {2 * self.modes1} and W >= {2 * self.modes2 - 1}"
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        self.check_grid(h, w)
        m1, m2 = self.modes1, self.modes2
        x_ft = torch.fft.rfft2(x)
        w1: torch.Tensor = self.weights1
        w2: torch.Tensor = self.weights2
        if x_ft.dtype != w1.dtype:  # float64 models keep complex64 weights unless cast
            w1, w2 = w1.to(x_ft.dtype), w2.to(x_ft.dtype)
        out_ft = torch.zeros(b, self.out_channels, h, w // 2 + 1, dtype=x_ft.dtype, device=x.device)
        out_ft[:, :, :m1, :m2] = torch.einsum("bixy,ioxy->boxy", x_ft[:, :, :m1, :m2], w1)
        out_ft[:, :, -m1:, :m2] = torch.einsum("bixy,ioxy->boxy", x_ft[:, :, -m1:, :m2], w2)
        return torch.fft.irfft2(out_ft, s=(h, w))


class SpectralConv1d(nn.Module):
    """Truncated Fourier-mode mixing on a line (PDEBench FNO1d): weights on the m lowest
    frequencies of rfft along X, complex [in, out, m]."""

    def __init__(self, in_channels: int, out_channels: int, modes: tuple[int]):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        (self.modes1,) = modes
        scale = 1.0 / (in_channels * out_channels)
        self.weights1 = nn.Parameter(scale * torch.rand(in_channels, out_channels, self.modes1, dtype=torch.cfloat))

    def check_grid(self, x: int) -> None:
        if x // 2 + 1 < self.modes1:  # rfft of X points has X // 2 + 1 frequencies
            raise WNOEdgeError(
                f"grid of {x} points (after domain padding) is too small for {self.modes1} Fourier modes: "
                f"need X >= {2 * self.modes1 - 2}"
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, n = x.shape
        self.check_grid(n)
        m = self.modes1
        x_ft = torch.fft.rfft(x)
        w1: torch.Tensor = self.weights1
        if x_ft.dtype != w1.dtype:  # float64 models keep complex64 weights unless cast
            w1 = w1.to(x_ft.dtype)
        out_ft = torch.zeros(b, self.out_channels, n // 2 + 1, dtype=x_ft.dtype, device=x.device)
        out_ft[:, :, :m] = torch.einsum("bix,iox->box", x_ft[:, :, :m], w1)
        return torch.fft.irfft(out_ft, n=n)


class SpectralConv3d(nn.Module):
    """Truncated Fourier-mode mixing on a volume (PDEBench FNO3d's layout): weights on the four
    corners of rfftn's kept frequencies, complex [in, out, m1, m2, m3] each: weights1 (D and H
    frequencies >= 0), weights2 (D < 0), weights3 (H < 0), weights4 (both < 0)."""

    def __init__(self, in_channels: int, out_channels: int, modes: tuple[int, int, int]):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.modes1, self.modes2, self.modes3 = modes
        scale = 1.0 / (in_channels * out_channels)
        shape = (in_channels, out_channels, *modes)
        self.weights1 = nn.Parameter(scale * torch.rand(*shape, dtype=torch.cfloat))
        self.weights2 = nn.Parameter(scale * torch.rand(*shape, dtype=torch.cfloat))
        self.weights3 = nn.Parameter(scale * torch.rand(*shape, dtype=torch.cfloat))
        self.weights4 = nn.Parameter(scale * torch.rand(*shape, dtype=torch.cfloat))

    def corners(self) -> list[torch.Tensor]:
        """weights1..4 in the order of corner_slices()."""
        return [self.weights1, self.weights2, self.weights3, self.weights4]

    def corner_slices(self) -> list[tuple[slice, slice]]:
        """The (D, H) frequency rows of each corner: non-negative first, then negative."""
        lo1, hi1 = slice(None, self.modes1), slice(-self.modes1, None)
        lo2, hi2 = slice(None, self.modes2), slice(-self.modes2, None)
        return [(lo1, lo2), (hi1, lo2), (lo1, hi2), (hi1, hi2)]

    def check_grid(self, d: int, h: int, w: int) -> None:
        if d < 2 * self.modes1 or h < 2 * self.modes2 or w // 2 + 1 < self.modes3:
            raise WNOEdgeError(
                f"grid {d}x{h}x{w} (after domain padding) is too small for "
                f"{self.modes1}x{self.modes2}x{self.modes3} Fourier modes: need D >= {2 * self.modes1}, "
                f"H >= {2 * self.modes2} and W >= {2 * self.modes3 - 1}"
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, d, h, w = x.shape
        self.check_grid(d, h, w)
        m3 = self.modes3
        x_ft = torch.fft.rfftn(x, dim=(-3, -2, -1))
        out_ft = torch.zeros(b, self.out_channels, d, h, w // 2 + 1, dtype=x_ft.dtype, device=x.device)
        for (rows, cols), weight in zip(self.corner_slices(), self.corners(), strict=True):
            wc: torch.Tensor = weight.to(x_ft.dtype)  # float64 models keep complex64 weights unless cast
            out_ft[:, :, rows, cols, :m3] = torch.einsum("bixyz,ioxyz->boxyz", x_ft[:, :, rows, cols, :m3], wc)
        return torch.fft.irfftn(out_ft, s=(d, h, w), dim=(-3, -2, -1))


class WNOLayer(nn.Module):
    """sigma( W v + winograd(k, v) + spectral(v) ); the activation is applied by WNO2d.
    The rank is len(modes): 2-D (3x3 kernel, SpectralConv2d), 1-D (3-tap kernel, SpectralConv1d)
    or 3-D (SpectralConv3d, no kernel: an FNO layer)."""

    def __init__(
        self,
        width: int,
        modes: tuple[int, ...],
        tile: int,
        real_space_kernel: bool,
        channel_mlp_width: int = 0,
        channel_mlp_skip: bool = False,
    ):
        super().__init__()
        self.rank = rank = len(modes)
        self.tile: int | None = tile  # None: direct convolution (WNO2d.set_conv)
        self.backend = "torch"  # or "native": runtime/'s fused CPU kernel (inference, float32, 1-D or 2-D)
        if rank == 3 and real_space_kernel:
            raise WNOEdgeError("a 3-D model is an FNO: real_space_kernel must be false (no 3x3x3 Winograd convolution)")
        conv: Any = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}[rank]  # the 1x1 (1x1x1) maps
        # SpectralConv1d/2d/3d; Any: rank-specific code (export, importers) reads its corner weights
        self.spectral: Any
        if rank == 3:
            self.spectral = SpectralConv3d(width, width, (modes[0], modes[1], modes[2]))
        elif rank == 2:
            self.spectral = SpectralConv2d(width, width, (modes[0], modes[1]))
        else:
            self.spectral = SpectralConv1d(width, width, (modes[0],))
        self.pointwise = conv(width, width, 1)  # W, with the layer's bias
        if real_space_kernel:
            # k: a trained 3x3 (1-D: 3-tap) kernel; small init so the layer starts near its FNO twin.
            scale = 0.1 / (3 * width**0.5) if rank == 2 else 0.1 / (3 * width) ** 0.5  # 1 / sqrt(fan-in) / 10
            self.kernel: nn.Parameter | None = nn.Parameter(torch.randn(width, width, *(3,) * rank) * scale)
        else:
            self.register_parameter("kernel", None)
        # neuraloperator's channel MLP after the sum, with its skip S v_in (config.channel_mlp_*).
        self.mlp1 = conv(width, channel_mlp_width, 1) if channel_mlp_width else None
        self.mlp2 = conv(channel_mlp_width, width, 1) if channel_mlp_width else None
        self.mlp_skip = conv(width, width, 1, bias=False) if channel_mlp_width and channel_mlp_skip else None

    def channel_mlp(self, u: torch.Tensor, v_in: torch.Tensor) -> torch.Tensor:
        """mlp2(gelu(mlp1(u))) + S v_in (the skip of the layer's input), or u without an MLP."""
        if self.mlp1 is None or self.mlp2 is None:  # both or neither
            return u
        y = self.mlp2(F.gelu(self.mlp1(u)))
        return y if self.mlp_skip is None else y + self.mlp_skip(v_in)

    def real_space_weight(self) -> torch.Tensor:
        """The 3x3 (1-D: 3-tap) kernel k + W (W folded into the centre tap): one conv computes W v + k * v."""
        w = F.pad(self.pointwise.weight, (1, 1) * self.rank)
        return w if self.kernel is None else w + self.kernel

    def _inference_weight(self) -> torch.Tensor:
        """real_space_weight() for calls without autograd, folded again only when a parameter
        changes: a stable tensor also lets the native kernel keep its transformed copy."""
        w, k = self.pointwise.weight, self.kernel
        assert k is not None  # called by real_space with a kernel only
        if w.is_inference() or k.is_inference():  # built under inference_mode: no version counter
            return self.real_space_weight()
        key = (w._version, k._version, w.data_ptr(), k.data_ptr(), w.dtype, w.device)
        if getattr(self, "_folded_key", None) != key:
            with torch.inference_mode(False), torch.no_grad():  # a normal tensor, with a version
                self._folded = self.real_space_weight()
            self._folded_key = key
        return self._folded

    def real_space(self, v: torch.Tensor) -> torch.Tensor:
        if self.kernel is None:
            return self.pointwise(v)
        weight = self.real_space_weight() if torch.is_grad_enabled() else self._inference_weight()
        if self.tile is None:  # direct convolution: same function, the framework's fastest kernel
            conv = F.conv1d if self.rank == 1 else F.conv2d
            return conv(v, weight, self.pointwise.bias, padding=1)
        if self.backend == "native":  # either rank: the kernel's dims 1 path runs a line
            from .native import winograd_conv2d as native_conv2d

            return native_conv2d(v, weight, self.pointwise.bias, padding=1, tile=self.tile)
        winograd = winograd_conv1d if self.rank == 1 else winograd_conv2d
        return winograd(v, weight, self.pointwise.bias, padding=1, tile=self.tile)

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        return self.real_space(v) + self.spectral(v)


# WNOConfig.activation, projection_activation
ACTIVATION_FUNCTIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {"gelu": F.gelu, "silu": F.silu}


class WNO2d(nn.Module):
    """Winograd Neural Operator on 2-D grids, input and output (B, C, H, W), on a line,
    (B, C, X), when config.modes has one value, or a 3-D FNO on (B, C, D, H, W) with three
    (module docstring). In physical units: normalisation statistics are buffers inside the model."""

    metadata: dict[str, Any]  # set where a model is loaded (checkpoint.load_model: the file's metadata)
    # Buffers (register_buffer), declared for type checkers:
    input_mean: torch.Tensor
    input_std: torch.Tensor
    output_mean: torch.Tensor
    output_std: torch.Tensor

    def __init__(self, config: WNOConfig | None = None, **kwargs):
        super().__init__()
        if config is None:
            config = WNOConfig(**kwargs)
        elif kwargs:
            raise TypeError("pass either a WNOConfig or keyword arguments, not both")
        self.config = c = config
        lift_in = c.in_channels + (c.rank if c.grid else 0)
        self.lift = nn.Linear(lift_in, c.lifting_width or c.width)
        # neuraloperator's lifting MLP: lift -> GELU -> lift2 (config.lifting_width > 0)
        self.lift2 = nn.Linear(c.lifting_width, c.width) if c.lifting_width else None
        self.layers = nn.ModuleList(
            WNOLayer(c.width, c.modes, c.winograd_tile, c.real_space_kernel, c.channel_mlp_width, c.channel_mlp_skip)
            for _ in range(c.n_layers)
        )
        # projection_layers hidden layers (project1, then project_hidden), each with projection_activation
        hidden = c.projection_width if c.projection_layers else c.width
        self.project1 = nn.Linear(c.width, c.projection_width) if c.projection_layers else None
        self.project_hidden = nn.ModuleList(
            nn.Linear(c.projection_width, c.projection_width) for _ in range(c.projection_layers - 1)
        )
        self.project2 = nn.Linear(hidden, c.out_channels)
        self.register_buffer("input_mean", torch.zeros(c.in_channels))
        self.register_buffer("input_std", torch.ones(c.in_channels))
        self.register_buffer("output_mean", torch.zeros(c.out_channels))
        self.register_buffer("output_std", torch.ones(c.out_channels))

    def set_normalization(self, input_mean, input_std, output_mean, output_std) -> None:
        """Per-channel statistics (fitted on training data); std is clamped away from 0."""
        for name, value in (
            ("input_mean", input_mean),
            ("input_std", input_std),
            ("output_mean", output_mean),
            ("output_std", output_std),
        ):
            buf = getattr(self, name)
            value = torch.as_tensor(value, dtype=buf.dtype).reshape(buf.shape)
            if name.endswith("std"):
                value = value.clamp_min(1e-8)
            buf.copy_(value)

    def set_conv(self, tile: int | None, backend: str = "torch") -> WNO2d:
        """Compute the 3x3 convolutions with Winograd F(tile, 3), or directly (tile=None);
        backend "native" runs Winograd in runtime/'s fused CPU kernel.

        Changes how, not what: every choice computes the same function up to rounding.
        """
        if tile is not None and tile not in TILES:
            raise WNOEdgeError(f"Winograd tile must be one of {TILES} or None, got {tile!r}")
        if backend not in ("torch", "native"):
            raise WNOEdgeError(f"backend must be torch or native, got {backend!r}")
        if backend == "native" and self.config.rank == 3:
            raise WNOEdgeError("the native kernel has no 3-D path (a 3-D model is an FNO): use backend torch")
        for layer in self.wno_layers:
            layer.tile, layer.backend = tile, backend
        return self

    @property
    def wno_layers(self) -> Sequence[WNOLayer]:
        """self.layers with its element type (to a type checker, nn.ModuleList holds plain Modules)."""
        return cast("Sequence[WNOLayer]", self.layers)

    def grid(self, h: int, w: int, batch: int, dtype, device) -> torch.Tensor:
        """(B, 2, H, W) coordinates of the config's grid_domain and grid_points, x along H as
        in PDEBench (the ONNX export bakes the same values into its lift constant)."""
        return grid_coordinates(self.config, h, w, batch, dtype, device)

    def line_grid(self, x: int, batch: int, dtype, device) -> torch.Tensor:
        """(B, 1, X) coordinates of a 1-D model's grid_domain and grid_points."""
        return line_coordinates(self.config, x, batch, dtype, device)

    def volume_grid(self, d: int, h: int, w: int, batch: int, dtype, device) -> torch.Tensor:
        """(B, 3, D, H, W) coordinates of a 3-D model's grid_domain and grid_points."""
        return volume_coordinates(self.config, (d, h, w), batch, dtype, device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.config
        r = c.rank
        if x.dim() != 2 + r or x.shape[1] != c.in_channels:
            axes = {1: "X", 2: "H, W", 3: "D, H, W"}[r]
            raise WNOEdgeError(f"expected input (B, {c.in_channels}, {axes}), got {tuple(x.shape)}")
        b, grid = x.shape[0], tuple(x.shape[2:])
        stat = (1, -1) + (1,) * r  # per-channel statistics broadcast over the grid
        x = (x - self.input_mean.view(stat)) / self.input_std.view(stat)
        if c.grid:
            if r == 3:
                coords = self.volume_grid(grid[0], grid[1], grid[2], b, x.dtype, x.device)
            elif r == 2:
                coords = self.grid(grid[0], grid[1], b, x.dtype, x.device)
            else:
                coords = self.line_grid(grid[0], b, x.dtype, x.device)
            x = torch.cat([x, coords], dim=1)
        sigma = ACTIVATION_FUNCTIONS[c.activation]
        v = self.lift(x.movedim(1, -1))  # channels last: (B, H, W, C), (B, X, C) or (B, D, H, W, C)
        if self.lift2 is not None:
            v = self.lift2(sigma(v))
        v = v.movedim(-1, 1)
        pads = c.axis_paddings(grid)  # (before, after) per axis
        padded = any(p for pair in pads for p in pair)
        if padded:  # F.pad lists the last axis first
            v = F.pad(v, tuple(p for pair in reversed(pads) for p in pair), mode=c.padding_mode)
        for i, layer in enumerate(self.wno_layers):
            last = i == len(self.layers) - 1
            u = layer(v)
            if c.block == "neuralop":  # neuraloperator's block: GELU, channel MLP + skip (if any), GELU
                u = layer.channel_mlp(u if last else F.gelu(u), v)
            v = u if last else sigma(u)
        if padded:
            crop = tuple(slice(before, before + n) for (before, _), n in zip(pads, grid, strict=True))
            v = v[(Ellipsis,) + crop]
        y = self.project(v.movedim(1, -1)).movedim(-1, 1)
        return y * self.output_std.view(stat) + self.output_mean.view(stat)

    def project(self, h: torch.Tensor) -> torch.Tensor:
        """The projection MLP on channels-last features: hidden layers, each with projection_activation."""
        act = ACTIVATION_FUNCTIONS[self.config.projection_activation]
        for linear in self.projection_hidden_layers():
            h = act(linear(h))
        return self.project2(h)

    def projection_hidden_layers(self) -> list[nn.Linear]:
        """project1 and project_hidden, in order (none when config.projection_layers is 0)."""
        head = [] if self.project1 is None else [self.project1]
        return head + list(cast("Sequence[nn.Linear]", self.project_hidden))

    # ------------------------------------------------------------------ FNO interop

    @classmethod
    def from_fno(
        cls,
        fno_state_dict: dict,
        real_space_kernel: bool = True,
        domain: Sequence[Any] | None = None,
        grid_points: str = "centers",
        **config,
    ) -> WNO2d:
        """A WNO from a PDEBench FNO2d or FNO1d state dict (fc0, conv{i}.weights1[/2], w{i}, fc1, fc2).

        The rank is read from the state dict: conv0.weights1 complex [in, out, m1, m2] (FNO2d,
        with weights2) or [in, out, m] (FNO1d: w{i} Conv1d, one coordinate channel, 2 cells of
        padding on the right, as WNOConfig's default domain_padding). The FNO is the special
        case k = 0: the result computes the same function; with `real_space_kernel=True` k
        starts at zero and can be fine-tuned. PDEBench feeds an FNO its file's coordinates,
        cell centres of the physical domain (grid_points="centers"): pass that domain,
        ((x0, x1), (y0, y1)) for FNO2d, e.g. ((-2.5, 2.5), (-2.5, 2.5)) for the radial dam
        break, ((-1, 1), (-1, 1)) for diffusion-reaction; (x0, x1) or ((x0, x1),) for FNO1d
        (PDEBench1dInfo.domain gives a file's). The default is the unit square (FNO1d: the unit
        interval, as PDEBench's released Advection and Burgers sets).
        """
        from numbers import Real

        sd = fno_state_dict
        try:
            n_layers = 1 + max(int(key[4:].split(".")[0]) for key in sd if key.startswith("conv"))
            width, lift_in = sd["fc0.weight"].shape
            modes = tuple(int(m) for m in sd["conv0.weights1"].shape[2:])
            proj, out_channels = sd["fc1.weight"].shape[0], sd["fc2.weight"].shape[0]
        except (KeyError, ValueError, AttributeError, TypeError) as e:
            raise WNOEdgeError(f"not a PDEBench FNO2d or FNO1d state dict ({e})") from None
        rank = len(modes)
        if rank not in (1, 2):
            raise WNOEdgeError(
                f"conv0.weights1 has {rank} mode axes: only PDEBench's FNO1d and FNO2d are imported "
                "(3-D FNOs come from neuraloperator: wno-edge import-neuralop)"
            )
        name = f"FNO{rank}d"
        if domain is None:
            domain = UNIT_DOMAIN[:rank]
        elif rank == 1 and len(domain) == 2 and all(isinstance(v, Real) for v in domain):
            domain = (tuple(domain),)  # (x0, x1) as PDEBench1dInfo.domain gives it
        grid = config.pop("grid", True)
        cfg = WNOConfig(
            in_channels=lift_in - (rank if grid else 0),
            out_channels=out_channels,
            width=width,
            modes=modes,
            n_layers=n_layers,
            projection_width=proj,
            grid=grid,
            real_space_kernel=real_space_kernel,
            grid_domain=tuple(domain),
            grid_points=grid_points,
            **config,
        )
        model = cls(cfg)
        try:
            mapped = {
                "lift.weight": sd["fc0.weight"],
                "lift.bias": sd["fc0.bias"],
                "project1.weight": sd["fc1.weight"],
                "project1.bias": sd["fc1.bias"],
                "project2.weight": sd["fc2.weight"],
                "project2.bias": sd["fc2.bias"],
            }
            for i in range(n_layers):
                mapped[f"layers.{i}.spectral.weights1"] = sd[f"conv{i}.weights1"]
                if rank == 2:
                    mapped[f"layers.{i}.spectral.weights2"] = sd[f"conv{i}.weights2"]
                mapped[f"layers.{i}.pointwise.weight"] = sd[f"w{i}.weight"]
                mapped[f"layers.{i}.pointwise.bias"] = sd[f"w{i}.bias"]
        except KeyError as e:
            raise WNOEdgeError(f"PDEBench {name} state dict is missing {e}") from None
        with torch.no_grad():
            for layer in model.wno_layers:
                if layer.kernel is not None:
                    layer.kernel.zero_()
        try:
            missing, _ = model.load_state_dict(mapped, strict=False)
        except RuntimeError as e:  # a tensor of another shape than conv0/fc0 imply
            raise WNOEdgeError(f"PDEBench {name} state dict does not fit: {str(e).splitlines()[-1].strip()}") from None
        missing = [k for k in missing if not k.endswith(("kernel", "_mean", "_std"))]
        if missing:
            raise WNOEdgeError(f"FNO state dict is missing {missing}")
        return model


def _axis_points(config: WNOConfig, n: int, lo: float, hi: float, dtype, device) -> torch.Tensor:
    """The n coordinates of one axis [lo, hi] where config.grid_points puts them (float64, then dtype)."""
    if config.grid_points == "left":  # neuraloperator: linspace(x0, x1, n + 1)[:-1]
        points = torch.linspace(lo, hi, n + 1, dtype=torch.float64, device=device)[:-1]
    elif config.grid_points == "centers":
        points = lo + (torch.arange(n, dtype=torch.float64, device=device) + 0.5) * ((hi - lo) / n)
    else:
        points = torch.linspace(lo, hi, n, dtype=torch.float64, device=device)
    return points.to(dtype)


def line_coordinates(config: WNOConfig, x: int, batch: int, dtype, device) -> torch.Tensor:
    """(B, 1, X): the x coordinate of a 1-D model's grid."""
    ((x0, x1),) = config.grid_domain
    if config.grid_points == "endpoints" and (x0, x1) == (0.0, 1.0):  # as the 2-D default grid's axes
        gx = torch.linspace(0, 1, x, dtype=dtype, device=device)
    else:
        gx = _axis_points(config, x, x0, x1, dtype, device)
    return gx.view(1, 1, x).expand(batch, 1, x)


def volume_coordinates(config: WNOConfig, grid: tuple[int, int, int], batch: int, dtype, device) -> torch.Tensor:
    """(B, 3, D, H, W): channels x, y, z along D, H, W."""
    axes = [
        _axis_points(config, n, lo, hi, dtype, device) for n, (lo, hi) in zip(grid, config.grid_domain, strict=True)
    ]
    d, h, w = grid
    views = [(1, 1, d, 1, 1), (1, 1, 1, h, 1), (1, 1, 1, 1, w)]
    return torch.cat([a.view(v).expand(batch, 1, d, h, w) for a, v in zip(axes, views, strict=True)], dim=1)


def grid_coordinates(config: WNOConfig, h: int, w: int, batch: int, dtype, device) -> torch.Tensor:
    """(B, 2, H, W): channel 0 the x coordinate (along H), channel 1 y (along W)."""
    (x0, x1), (y0, y1) = config.grid_domain
    if config.grid_points == "endpoints" and config.grid_domain == UNIT_DOMAIN:  # bit for bit as before
        gx, gy = (torch.linspace(0, 1, n, dtype=dtype, device=device) for n in (h, w))
    else:
        gx, gy = (_axis_points(config, n, lo, hi, dtype, device) for n, lo, hi in ((h, x0, x1), (w, y0, y1)))
    gx = gx.view(1, 1, h, 1).expand(batch, 1, h, w)
    gy = gy.view(1, 1, 1, w).expand(batch, 1, h, w)
    return torch.cat([gx, gy], dim=1)


def state_dict_shapes(config: WNOConfig) -> dict[str, tuple[tuple[int, ...], bool]]:
    """{name: (shape, is_complex)} of WNO2d(config).state_dict(), computed without building
    the model: a checkpoint is checked against it before anything is allocated."""
    c = config
    lw = c.lifting_width or c.width
    ones, taps = (1,) * c.rank, (3,) * c.rank  # a 1x1 (1-D: 1, 3-D: 1x1x1) and a 3x3 (1-D: 3-tap) kernel
    shapes = {"lift.weight": ((lw, c.in_channels + (c.rank if c.grid else 0)), False), "lift.bias": ((lw,), False)}
    if c.lifting_width:
        shapes.update({"lift2.weight": ((c.width, lw), False), "lift2.bias": ((c.width,), False)})
    for i in range(c.n_layers):
        # 2-D: the negative row frequencies too; 3-D: four corners (1-D: rfft keeps non-negative ones only)
        for k in range({1: 1, 2: 2, 3: 4}[c.rank]):
            shapes[f"layers.{i}.spectral.weights{k + 1}"] = ((c.width, c.width, *c.modes), True)
        shapes[f"layers.{i}.pointwise.weight"] = ((c.width, c.width, *ones), False)
        shapes[f"layers.{i}.pointwise.bias"] = ((c.width,), False)
        if c.real_space_kernel:
            shapes[f"layers.{i}.kernel"] = ((c.width, c.width, *taps), False)
        if c.channel_mlp_width:
            h = c.channel_mlp_width
            shapes.update(
                {
                    f"layers.{i}.mlp1.weight": ((h, c.width, *ones), False),
                    f"layers.{i}.mlp1.bias": ((h,), False),
                    f"layers.{i}.mlp2.weight": ((c.width, h, *ones), False),
                    f"layers.{i}.mlp2.bias": ((c.width,), False),
                }
            )
            if c.channel_mlp_skip:
                shapes[f"layers.{i}.mlp_skip.weight"] = ((c.width, c.width, *ones), False)
    pw = c.projection_width
    if c.projection_layers:
        shapes.update({"project1.weight": ((pw, c.width), False), "project1.bias": ((pw,), False)})
    for j in range(c.projection_layers - 1):
        shapes.update({f"project_hidden.{j}.weight": ((pw, pw), False), f"project_hidden.{j}.bias": ((pw,), False)})
    shapes.update(
        {
            "project2.weight": ((c.out_channels, pw if c.projection_layers else c.width), False),
            "project2.bias": ((c.out_channels,), False),
            "input_mean": ((c.in_channels,), False),
            "input_std": ((c.in_channels,), False),
            "output_mean": ((c.out_channels,), False),
            "output_std": ((c.out_channels,), False),
        }
    )
    return shapes


def check_state_dict(config: WNOConfig, state_dict: dict) -> None:
    """Raise WNOEdgeError (one line) unless `state_dict` has exactly WNO2d(config)'s tensors."""
    expected = state_dict_shapes(config)
    missing = [k for k in expected if k not in state_dict]
    unexpected = [str(k) for k in state_dict if k not in expected]
    if missing or unexpected:
        parts = ([f"missing {', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''}"] if missing else []) + (
            [f"unexpected {', '.join(unexpected[:3])}{' ...' if len(unexpected) > 3 else ''}"] if unexpected else []
        )
        raise WNOEdgeError(f"weights do not match the stored config: {'; '.join(parts)}")
    for name, (shape, is_complex) in expected.items():
        value = state_dict[name]
        if not isinstance(value, torch.Tensor):
            raise WNOEdgeError(
                f"weights do not match the stored config: {name} is a {type(value).__name__}, not a tensor"
            )
        if tuple(value.shape) != shape:
            raise WNOEdgeError(
                f"weights do not match the stored config: {name} has shape {tuple(value.shape)}, "
                f"the config needs {shape}"
            )
        if value.is_complex() != is_complex or not (value.is_floating_point() or value.is_complex()):
            kind = "complex" if is_complex else "real floating-point"
            raise WNOEdgeError(f"weights do not match the stored config: {name} is {value.dtype}, expected {kind}")


def count_parameters(model: nn.Module) -> int:
    """Real parameter count (a complex weight counts twice)."""
    return sum(p.numel() * (2 if p.is_complex() else 1) for p in model.parameters())
