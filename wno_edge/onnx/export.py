"""WNO2d -> FFT-free ONNX, written node by node (torch.onnx cannot export rfft2/irfft2).

Graph per layer:  v -> WinogradConv(k + W, b) ---------------------+-> Add -> Gelu
                  v -> truncated real DFT (MatMul) -> mode mixing -> inverse DFT (MatMul) -+
A 1-D model (config.modes = (m,)) on (N, C, X) has the same graph at rank 3: the DFT is the
2-D graph's W direction alone (fwd_w, mixing, inv_w), WinogradConv takes a (K, C, 3) kernel
(export/SPEC.md), every 1x1 Conv is 1-D, the grid channel is x and domain padding is on the right.
A 3-D FNO (config.modes = (m1, m2, m3), no real-space kernel) on (N, C, D, H, W) transforms one
axis at a time (spectral.spectral_graph_3d: W, H, D and back, every tensor of rank <= 5), W is
a 1x1x1 Conv, the grid channels are (x, y, z); no WinogradConv node, so --conv winograd and
direct write the same graph.
All folds are exact rewrites computed in float64 and rounded once to the export dtype:
W into the centre tap of k, the grid channels and lift bias into one constant, the
irfft2 Hermitian weights and 1/(H*W) into the DFT bases. Normalisation stays as graph
ops at the boundary (folding a mean into the lift weights would cancel digits).
With fp16 everything is half, inputs and outputs included (what TensorRT's strongly
typed networks and `wno-edge build` expect of an fp16 file).
"""

from __future__ import annotations

import json
import os
import struct
import time
import zlib
from dataclasses import dataclass, field
from numbers import Integral
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

from .. import __version__
from ..contract import (
    BATCH_DYNAMIC,
    CHECKSUM_PREFIX,
    CONV_DIRECT,
    CONV_MODES,
    CONV_POINTWISE,
    CONV_WINOGRAD,
    DEFAULT_OPSET,
    FP16,
    FP32,
    INPUT_NAME,
    MAX_OPSET,
    MIN_OPSET,
    OP_DOMAIN,
    OP_VERSION,
    OUTPUT_NAME,
    SAMPLE_INPUTS_KEY,
    TILES,
    Initializer,
    Metadata,
)
from ..errors import WNOEdgeError
from ..model import WNO2d
from ..util.io import atomic_path, refuse_overwrite
from ..util.shapes import parse_dims, parse_resolution
from .digest import structure_digest
from .graph import GraphBuilder, activation, ir_version_for, pad_axes, winograd_conv_function, winograd_conv_node
from .graph import gelu as _gelu
from .spectral import (
    DFT_FWD_D,
    DFT_INV_D,
    dft_bases,
    line_bases,
    mixing_matrix,
    row_bases,
    spectral_graph,
    spectral_graph_1d,
    spectral_graph_3d,
    volume_mixing_matrix,
)
from .spectral_dft import DFTGraph
from .verify import Comparison, GraphStats, compare_with_reference, compare_with_torch, graph_stats, random_inputs

INPUT, OUTPUT = INPUT_NAME, OUTPUT_NAME
TOLERANCE = {FP32: 1e-4, FP16: 1e-2}  # max |y_onnx - y_torch| / max |y_torch|; fp16 measures ~1e-3


# Which runtimes read each flavour of export (`--conv`), for the export summary and --help.
# A winograd file's WinogradConv nodes carry a model-local Conv fallback: runtimes that read
# local functions run it; OpenVINO (2026.4) and TensorRT without the plugin do not.
FLAVOUR_RUNTIMES = {
    CONV_WINOGRAD: "the native engine, ONNX Runtime (local function), TensorRT with the wno-edge plugin, "
    "OpenVINO through runtime.load(backend='openvino') (which inlines the function)",
    CONV_DIRECT: "standard ops only: every ONNX runtime (OpenVINO, TensorRT without the plugin, "
    "trtexec on stock JetPack); the native engine still runs its 3x3 Convs with Winograd F(4,3)",
}
# The spectral path's two forms (`--spectral`): real MatMuls with the truncated DFT bases (no FFT
# op: every ONNX runtime) or the standard DFT op (spectral_dft.py: runtimes with an FFT).
SPECTRAL_MATMUL, SPECTRAL_DFT = "matmul", "dft"
SPECTRAL_MODES = (SPECTRAL_MATMUL, SPECTRAL_DFT)
SPECTRAL_RUNTIMES = {
    SPECTRAL_MATMUL: "every ONNX runtime of every version: the native engine (fused), ONNX Runtime, OpenVINO, "
    "TensorRT with or without the plugin (before 11.2, e.g. JetPack 6's 10.3, TensorRT has no DFT)",
    SPECTRAL_DFT: "runtimes with an FFT behind ONNX DFT: TensorRT 11.2 or later, ONNX Runtime CPU, OpenVINO; "
    "the native engine runs 1-D and 2-D ones fused with the matmul form's GEMMs, 3-D on reference kernels",
}
# A file with no WinogradConv node (an FNO, k = 0, and every 3-D model) is the same graph for both
# flavours: standard ops only. The native engine runs a 3-D one on its reference kernels.
NO_KERNEL_RUNTIMES = (
    "standard ops only, whichever --conv (no 3x3 kernel: an FNO): every ONNX runtime (the native engine, "
    "ONNX Runtime, OpenVINO, TensorRT without the plugin)"
)


@dataclass(frozen=True)
class ExportOptions:
    """Validated export options (see resolve_options)."""

    resolution: tuple[int, ...]  # (H, W), (X,) for a 1-D model, (D, H, W) for a 3-D one
    batch: int | None = None  # None: dynamic batch dimension
    opset: int = DEFAULT_OPSET
    fp16: bool = False
    conv: str = CONV_WINOGRAD
    tile: int = 4
    spectral: str = SPECTRAL_MATMUL

    @property
    def precision(self) -> str:
        return FP16 if self.fp16 else FP32


CONFIG_PROPERTY = Metadata.CONFIG


def resolution_text(resolution: tuple[int, ...]) -> str:
    """Metadata.RESOLUTION of an export: "HxW" (2-D), "X" (1-D, e.g. "1024"), "DxHxW" (3-D)."""
    return "x".join(str(int(n)) for n in resolution)


def _line_resolution(resolution) -> tuple[int]:
    """A 1-D model's grid: 1024, "1024" or (1024,); anything with two sizes is one line."""
    if isinstance(resolution, str):
        dims = parse_dims(resolution, "resolution", "1024 (a 1-D model)")
    elif isinstance(resolution, Integral) and not isinstance(resolution, bool):
        dims = (int(resolution),)
    else:
        dims = tuple(resolution)
    if len(dims) != 1 or isinstance(dims[0], bool) or not isinstance(dims[0], Integral):
        shown = resolution if isinstance(resolution, str) else "x".join(map(str, dims))
        raise WNOEdgeError(f"a 1-D model's resolution is one length, like 1024, got {shown!r}")
    return (int(dims[0]),)


def resolve_options(
    model: WNO2d,
    *,
    resolution=None,
    batch=None,
    opset=DEFAULT_OPSET,
    fp16=False,
    conv=CONV_WINOGRAD,
    tile=None,
    spectral=SPECTRAL_MATMUL,
) -> ExportOptions:
    """Validate user options against the model; every problem is one WNOEdgeError line."""
    cfg = model.config
    if cfg.rank not in (1, 2, 3):
        raise WNOEdgeError(f"{cfg.rank}-D export is not implemented: wno-edge exports 1-D, 2-D and 3-D models")
    if resolution is None:
        resolution = cfg.resolution
        if resolution is None:
            form = {1: "X (e.g. 1024)", 2: "HxW", 3: "DxHxW"}[cfg.rank]
            raise WNOEdgeError(
                f"the ONNX graph has a fixed grid size and the checkpoint records none: pass --resolution {form}"
            )
    grid: tuple[int, ...]
    if cfg.rank == 3:
        grid = _volume_grid(model, resolution)
    else:
        grid = _line_grid(model, resolution) if cfg.rank == 1 else _plane_grid(model, resolution)
    if batch is not None and (isinstance(batch, bool) or int(batch) < 1):
        raise WNOEdgeError(f"--batch must be a positive integer (or omitted for a dynamic batch), got {batch!r}")
    if not MIN_OPSET <= int(opset) <= MAX_OPSET:
        raise WNOEdgeError(f"--opset must be between {MIN_OPSET} and {MAX_OPSET}, got {opset}")
    if conv not in CONV_MODES:
        raise WNOEdgeError(f"--conv must be one of {', '.join(CONV_MODES)}, got {conv!r}")
    if tile is not None and conv == CONV_DIRECT:
        raise WNOEdgeError("--tile applies to --conv winograd only; --conv direct writes plain Conv nodes")
    if tile is not None and tile not in TILES:
        raise WNOEdgeError(f"--tile must be one of {', '.join(map(str, TILES))}, got {tile}")
    if spectral not in SPECTRAL_MODES:
        raise WNOEdgeError(f"--spectral must be one of {', '.join(SPECTRAL_MODES)}, got {spectral!r}")
    return ExportOptions(
        grid,
        None if batch is None else int(batch),
        int(opset),
        bool(fp16),
        conv,
        cfg.winograd_tile if tile is None else int(tile),
        spectral,
    )


def _line_grid(model: WNO2d, resolution) -> tuple[int]:
    grid = _line_resolution(resolution)
    if grid[0] < 1:
        raise WNOEdgeError(f"resolution must be positive, got {grid[0]}")
    ((before, after),) = model.config.axis_paddings(grid)
    model.wno_layers[0].spectral.check_grid(grid[0] + before + after)  # exact truncated DFT: modes distinct
    return grid


def _volume_grid(model: WNO2d, resolution) -> tuple[int, int, int]:
    """A 3-D model's grid: "DxHxW", a single length for a cube, or a tuple of three."""
    if isinstance(resolution, str):
        dims = parse_dims(resolution, "resolution", "16x16x16 or 16 (a 3-D model)")
    elif isinstance(resolution, Integral) and not isinstance(resolution, bool):
        dims = (int(resolution),)
    else:
        dims = tuple(resolution)
    dims = dims * 3 if len(dims) == 1 else dims
    if len(dims) != 3 or any(isinstance(n, bool) or not isinstance(n, Integral) or n < 1 for n in dims):
        shown = resolution if isinstance(resolution, str) else "x".join(map(str, dims))
        raise WNOEdgeError(f"a 3-D model's resolution is DxHxW with positive sizes, like 16x16x16, got {shown!r}")
    grid = (int(dims[0]), int(dims[1]), int(dims[2]))
    cfg = model.config
    padded = [n + before + after for n, (before, after) in zip(grid, cfg.axis_paddings(grid), strict=True)]
    model.wno_layers[0].spectral.check_grid(*padded)  # exact truncated DFT: modes distinct
    if cfg.block == "neuralop" and (padded[0] % 2 or padded[1] % 2):
        # neuraloperator 2.0 fftshifts D and H of its output spectrum (not ifftshift): see _plane_grid
        raise WNOEdgeError(
            f"a neuraloperator FNO is reproduced only at an even padded depth and height; "
            f"{'x'.join(map(str, grid))} pads to {'x'.join(map(str, padded))}: pick even D and H"
        )
    return grid


def _plane_grid(model: WNO2d, resolution) -> tuple[int, int]:
    cfg = model.config
    if isinstance(resolution, str):
        resolution = parse_resolution(resolution)
    h, w = (int(r) for r in resolution)
    if min(h, w) < 1:
        raise WNOEdgeError(f"resolution must be positive, got {h}x{w}")
    top, bottom, left, right = cfg.paddings(h, w)
    model.wno_layers[0].spectral.check_grid(h + top + bottom, w + left + right)  # exact truncated DFT: modes distinct
    if cfg.block == "neuralop" and (h + top + bottom) % 2:
        # neuraloperator 2.0 applies fftshift (not ifftshift) to its output spectrum: at an odd
        # padded height its spectral conv is shifted by one frequency row; we do not copy that.
        raise WNOEdgeError(
            f"a neuraloperator FNO is reproduced only at an even padded height; {h}x{w} pads to "
            f"{h + top + bottom} rows: pick an even resolution"
        )
    return h, w


# ----------------------------------------------------------------------------- graph


def _pointwise_weight(linear: torch.nn.Linear, rank: int) -> np.ndarray:
    """A Linear's weight as a 1x1 (1-D: 1-tap) Conv kernel."""
    w = linear.weight.detach().double().numpy()
    return w.reshape(*w.shape, *(1,) * rank)


def _stat(values: np.ndarray, rank: int) -> np.ndarray:
    """Per-channel statistics broadcast over the grid: (1, C, 1, 1), (1, C, 1) for a 1-D model, (1, C, 1, 1, 1) 3-D."""
    return values.reshape(1, -1, *(1,) * rank)


def _f64(t: torch.Tensor) -> np.ndarray:
    return t.detach().double().cpu().numpy()


def _normalize_input(g: GraphBuilder, model: WNO2d, x: str) -> str:
    """(x - mean) / std as the model computes it; identity statistics are skipped."""
    mean_in, std_in = _f64(model.input_mean), _f64(model.input_std)
    r = model.config.rank
    if np.any(mean_in != 0):
        x = g.op("Sub", [x, g.const(Initializer.INPUT_MEAN, _stat(mean_in, r))], "input_centred")
    if np.any(std_in != 1):
        x = g.op("Div", [x, g.const(Initializer.INPUT_STD, _stat(std_in, r))], "input_normalised")
    return x


def _lift(g: GraphBuilder, model: WNO2d, x: str, grid: tuple[int, ...], opset: int) -> str:
    """Linear over [x, grid] = 1x1 Conv over x + (bias + W_grid @ grid), a constant. With a
    single lifting layer the narrow input is padded, not the lifted field, and the constant is
    zero in the padding; a lifting MLP (neuraloperator) runs on H x W and its output is padded.
    `grid` is (H, W), (X,) for a 1-D model (padding on the right, the grid channel x), or (D, H, W)."""
    cfg = model.config
    r = cfg.rank
    axis_pads = cfg.axis_paddings(grid)  # (before, after) per axis
    padded = any(p for pair in axis_pads for p in pair)
    # A lifting MLP, or padding by values (reflect...) rather than zeros: the lifted field is padded.
    late = model.lift2 is not None or cfg.padding_mode != "constant"
    if padded and not late:
        x = pad_axes(g, x, grid, axis_pads, "constant", "input_padded")
    lw = _f64(model.lift.weight)
    full = grid if late else tuple(n + before + after for n, (before, after) in zip(grid, axis_pads, strict=True))
    inside = (slice(None), slice(None)) + tuple(
        slice(0, n) if late else slice(before, before + n) for n, (before, _) in zip(grid, axis_pads, strict=True)
    )
    lift_const = np.zeros((1, lw.shape[0], *full))
    lift_const[inside] = _f64(model.lift.bias).reshape(1, -1, *(1,) * r)
    if cfg.grid:
        if r == 3:
            d, h, w = grid
            coords = model.volume_grid(d, h, w, 1, torch.float64, "cpu")[0].numpy()  # (3, D, H, W), as the model
        elif r == 2:
            coords = model.grid(grid[0], grid[1], 1, torch.float64, "cpu")[0].numpy()  # (2, H, W), as the model
        else:
            coords = model.line_grid(grid[0], 1, torch.float64, "cpu")[0].numpy()  # (1, X), as the model builds it
        term = np.tensordot(lw[:, cfg.in_channels :], coords, axes=1)  # (K, *grid)
        lift_const[inside] += term[None]
    lift_w = g.const(Initializer.LIFT_WEIGHT, lw[:, : cfg.in_channels].reshape(lw.shape[0], -1, *(1,) * r))
    v = g.op("Conv", [x, lift_w], "lift", kernel_shape=[1] * r)
    v = g.op("Add", [v, g.const(Initializer.LIFT_CONSTANT, lift_const)], "lifted")
    if model.lift2 is not None:  # mlp
        v = activation(g, v, cfg.activation, opset, f"lift.{cfg.activation}")
        v = g.op(
            "Conv",
            [
                v,
                g.const(Initializer.LIFT2_WEIGHT, _pointwise_weight(model.lift2, r)),
                g.const(Initializer.LIFT2_BIAS, _f64(model.lift2.bias)),
            ],
            "lift2",
            kernel_shape=[1] * r,
        )
    if padded and late:
        v = pad_axes(g, v, grid, axis_pads, cfg.padding_mode, "lifted_padded")
    return v


def _real_space(g: GraphBuilder, layer, v: str, i: int, opts: ExportOptions) -> tuple[str, bool]:
    """W v + k * v of layer i; True if it is a WinogradConv node."""
    bias = g.const(Initializer.LAYER_BIAS.format(i=i), _f64(layer.pointwise.bias))
    r = layer.rank
    if layer.kernel is None:  # FNO special case: W alone is a 1x1 conv; a 3x3 would cost 9x
        return g.op(
            "Conv",
            [v, g.const(Initializer.LAYER_POINTWISE.format(i=i), _f64(layer.pointwise.weight)), bias],
            f"l{i}.pointwise",
            kernel_shape=[1] * r,
        ), False
    weight = g.const(Initializer.LAYER_KERNEL.format(i=i), _f64(layer.real_space_weight()))
    if opts.conv == CONV_DIRECT:
        name = f"l{i}.conv3x3" if r == 2 else f"l{i}.conv3"
        return g.op("Conv", [v, weight, bias], name, kernel_shape=[3] * r, pads=[1] * (2 * r)), False
    r = g.name(f"l{i}.winograd")
    g.add_node(winograd_conv_node(v, weight, bias, r, tile=opts.tile, padding=1, name=g.name(f"{r}/WinogradConv")))
    return r, True


def _bases(g: GraphBuilder, model: WNO2d, padded: tuple[int, ...]) -> dict[str, str]:
    """The DFT bases on the padded grid as initializers: fwd_w, fwd_h, inv_h, inv_w (2-D),
    fwd_w, inv_w along X (1-D), and fwd_d, inv_d too (3-D: D, H, W)."""
    if model.config.rank == 1:
        fwd, inv = line_bases(padded[0], model.config.modes[0])
        return {"fwd_w": g.const(Initializer.DFT_FWD_W, fwd), "inv_w": g.const(Initializer.DFT_INV_W, inv)}
    if model.config.rank == 3:
        (dp, hp, wp), (m1, m2, m3) = padded, model.config.modes
        fwd_d, inv_d = row_bases(dp, m1)
        b = dft_bases(hp, wp, m2, m3)
        return {
            "fwd_w": g.const(Initializer.DFT_FWD_W, b.fwd_w),
            "fwd_h": g.const(Initializer.DFT_FWD_H, b.fwd_h),
            "fwd_d": g.const(DFT_FWD_D, fwd_d),
            "inv_d": g.const(DFT_INV_D, inv_d),
            "inv_h": g.const(Initializer.DFT_INV_H, b.inv_h),
            "inv_w": g.const(Initializer.DFT_INV_W, b.inv_w),
        }
    (hp, wp), (m1, m2) = padded, model.config.modes
    b = dft_bases(hp, wp, m1, m2)
    names = {
        "fwd_w": Initializer.DFT_FWD_W,
        "fwd_h": Initializer.DFT_FWD_H,
        "inv_h": Initializer.DFT_INV_H,
        "inv_w": Initializer.DFT_INV_W,
    }
    return {k: g.const(name, getattr(b, k)) for k, name in names.items()}


def _layers(g: GraphBuilder, model: WNO2d, v: str, padded: tuple[int, ...], opts: ExportOptions) -> tuple[str, bool]:
    """Every WNO layer with GELU between them, on the padded grid (Hp, Wp) or (Xp,); True if any
    layer is a WinogradConv."""
    dft = DFTGraph(g, opts.opset) if opts.spectral == SPECTRAL_DFT else None
    bases = {} if dft else _bases(g, model, padded)
    any_winograd = False
    for i, layer in enumerate(model.wno_layers):
        r, is_winograd = _real_space(g, layer, v, i, opts)
        any_winograd |= is_winograd
        sc = layer.spectral
        if dft is not None:
            s = dft.spectral(v, sc, padded, sc.out_channels, i)
        elif layer.rank == 3:
            mix = volume_mixing_matrix(sc.corners())
            dp, hp, wp = padded
            s = spectral_graph_3d(g, v, mix, bases, (dp, hp, wp), sc.modes2, sc.modes3, sc.out_channels, i)
        elif layer.rank == 1:
            s = spectral_graph_1d(g, v, mixing_matrix(sc.weights1), bases, sc.out_channels, i)
        else:
            m2 = model.config.modes[1]
            mix = mixing_matrix(sc.weights1, sc.weights2)
            s = spectral_graph(g, v, mix, bases, padded[0], m2, sc.in_channels, sc.out_channels, i)
        u = g.op("Add", [r, s], f"l{i}.sum")
        last = i == len(model.layers) - 1
        if model.config.block == "neuralop":  # GELU, channel MLP + skip of the layer input (if any), GELU
            if not last:
                u = _gelu(g, u, opts.opset, f"l{i}.gelu0")
            if layer.mlp1 is not None:
                u = _channel_mlp(g, layer, u, v, i, opts.opset)
        act = model.config.activation
        v = u if last else activation(g, u, act, opts.opset, f"l{i}.{act}")
    return v, any_winograd


def _conv1x1(
    g: GraphBuilder, x: str, conv: torch.nn.Conv1d | torch.nn.Conv2d, name: str, weight: str, bias: str | None = None
) -> str:
    """Output `name`; initializers `weight` and `bias` (a conv without bias has no bias name)."""
    inputs = [x, g.const(weight, _f64(conv.weight))]
    if conv.bias is not None:
        assert bias is not None, f"{name}: a conv with a bias needs a bias name"
        inputs.append(g.const(bias, _f64(conv.bias)))
    return g.op("Conv", inputs, name, kernel_shape=[1] * (conv.weight.dim() - 2))


def _channel_mlp(g: GraphBuilder, layer, u: str, v_in: str, i: int, opset: int) -> str:
    """mlp2(gelu(mlp1(u))) + S v_in: plain 1x1 Convs (neuraloperator's ChannelMLP and skip)."""
    n = Initializer
    y = _conv1x1(g, u, layer.mlp1, f"layers.{i}.mlp1", n.LAYER_MLP1_WEIGHT.format(i=i), n.LAYER_MLP1_BIAS.format(i=i))
    y = _gelu(g, y, opset, f"l{i}.mlp.gelu")
    y = _conv1x1(g, y, layer.mlp2, f"layers.{i}.mlp2", n.LAYER_MLP2_WEIGHT.format(i=i), n.LAYER_MLP2_BIAS.format(i=i))
    if layer.mlp_skip is not None:
        skip = _conv1x1(g, v_in, layer.mlp_skip, f"layers.{i}.mlp_skip", n.LAYER_MLP_SKIP_WEIGHT.format(i=i))
        y = g.op("Add", [y, skip], f"l{i}.mlp.sum")
    return y


def _project(g: GraphBuilder, model: WNO2d, v: str, opset: int) -> str:
    """Projection MLP and de-normalisation."""
    r, act = model.config.rank, model.config.projection_activation
    for j, linear in enumerate(model.projection_hidden_layers()):  # project1, project_hidden.0, ...
        base = "project1" if j == 0 else f"project_hidden.{j - 1}"
        weight, bias = (
            (Initializer.PROJECT1_WEIGHT, Initializer.PROJECT1_BIAS) if j == 0 else (f"{base}.weight", f"{base}.bias")
        )
        w, b = g.const(weight, _pointwise_weight(linear, r)), g.const(bias, _f64(linear.bias))
        v = g.op("Conv", [v, w, b], base, kernel_shape=[1] * r)
        v = activation(g, v, act, opset, f"{base}.{act}")
    y = g.op(
        "Conv",
        [
            v,
            g.const(Initializer.PROJECT2_WEIGHT, _pointwise_weight(model.project2, r)),
            g.const(Initializer.PROJECT2_BIAS, _f64(model.project2.bias)),
        ],
        "project2",
        kernel_shape=[1] * r,
    )
    mean_out, std_out = _f64(model.output_mean), _f64(model.output_std)
    if np.any(std_out != 1):
        y = g.op("Mul", [y, g.const(Initializer.OUTPUT_STD, _stat(std_out, r))], "output_scaled")
    if np.any(mean_out != 0):
        y = g.op("Add", [y, g.const(Initializer.OUTPUT_MEAN, _stat(mean_out, r))], "output_shifted")
    return y


def export_metadata(model: WNO2d, opts: ExportOptions) -> dict[str, str]:
    """The metadata_props of an exported file (keys: contract.Metadata)."""
    cfg = model.config
    return {
        Metadata.CONFIG: json.dumps(cfg.to_dict()),
        Metadata.RESOLUTION: resolution_text(opts.resolution),
        Metadata.BATCH: BATCH_DYNAMIC if opts.batch is None else str(opts.batch),
        Metadata.CONV: opts.conv if cfg.real_space_kernel else CONV_POINTWISE,
        Metadata.TILE: str(opts.tile),
        Metadata.PRECISION: opts.precision,
    }


def weights_checksum(graph: onnx.GraphProto) -> str:
    """Metadata.WEIGHTS_CHECKSUM of a graph: CRC-32 (zlib) over every initializer in graph order,
    of its name bytes, its dims as little-endian int64 and its data bytes (raw_data). CRC-32
    catches every single-bit flip and burst up to 32 bits and costs ~10 ms on a 10 MB model in the
    engine (it guards against corruption, not against tampering)."""
    crc = 0
    for t in graph.initializer:
        crc = zlib.crc32(t.name.encode(), crc)
        crc = zlib.crc32(struct.pack(f"<{len(t.dims)}q", *t.dims), crc)
        crc = zlib.crc32(
            t.raw_data
            if t.HasField("raw_data")
            else numpy_helper.to_array(t)
            .astype(helper.tensor_dtype_to_np_dtype(t.data_type).newbyteorder("<"))
            .tobytes(),
            crc,
        )
    return f"{CHECKSUM_PREFIX}{crc:08x}"


def build_model_proto(model: WNO2d, options: ExportOptions | None = None, **kwargs) -> onnx.ModelProto:
    """The ONNX model of `model` (eval mode) at a fixed grid; nothing is checked or written.
    Pass an ExportOptions or the keyword options of resolve_options()."""
    opts = options or resolve_options(model, **kwargs)
    cfg = model.config
    grid = opts.resolution
    if len(grid) != cfg.rank:
        raise WNOEdgeError(f"a {cfg.rank}-D model needs a {cfg.rank}-D grid, got {resolution_text(grid)}")
    axis_pads = cfg.axis_paddings(grid)
    g = GraphBuilder(np.float16 if opts.fp16 else np.float32)

    v = _lift(g, model, _normalize_input(g, model, INPUT), grid, opts.opset)
    padded = tuple(n + before + after for n, (before, after) in zip(grid, axis_pads, strict=True))
    v, any_winograd = _layers(g, model, v, padded, opts)
    if padded != grid:
        v = g.op(
            "Slice",
            [
                v,
                g.ints("crop_start", [before for before, _ in axis_pads]),
                g.ints("crop_end", [before + n for n, (before, _) in zip(grid, axis_pads, strict=True)]),
                g.ints("crop_axes", list(range(2, 2 + cfg.rank))),
            ],
            "cropped",
        )
    _project(g, model, v, opts.opset)
    g.nodes[-1].output[0] = OUTPUT  # the last node writes the graph output directly

    batch = opts.batch if opts.batch is not None else "batch"
    io_type = TensorProto.FLOAT16 if opts.fp16 else TensorProto.FLOAT
    graph = g.graph(
        f"wno{cfg.rank}d",
        [helper.make_tensor_value_info(INPUT, io_type, [batch, cfg.in_channels, *grid])],
        [helper.make_tensor_value_info(OUTPUT, io_type, [batch, cfg.out_channels, *grid])],
    )
    opset_imports = [helper.make_opsetid("", opts.opset)]
    functions = []
    if any_winograd:  # every WinogradConv node has padding 1: one fixed-body function serves them
        opset_imports.append(helper.make_opsetid(OP_DOMAIN, OP_VERSION))
        functions.append(winograd_conv_function(1, opts.opset, cfg.rank))
    proto = helper.make_model(
        graph,
        opset_imports=opset_imports,
        functions=functions,
        ir_version=ir_version_for(opts.opset),
        producer_name="wno-edge",
        producer_version=__version__,
        doc_string="Winograd Neural Operator (FFT-free export)",
    )
    # Both checksums cover the finished graph and functions, not the metadata written here.
    helper.set_model_props(
        proto,
        {
            **export_metadata(model, opts),
            Metadata.WEIGHTS_CHECKSUM: weights_checksum(proto.graph),
            Metadata.STRUCTURE_CHECKSUM: structure_digest(proto),
        },
    )
    return proto


def check_model_proto(proto: onnx.ModelProto) -> onnx.ModelProto:
    """onnx.checker (full) and strict shape inference; returns the model with inferred value_info."""
    try:
        onnx.checker.check_model(proto, full_check=True)
        inferred = onnx.shape_inference.infer_shapes(proto, check_type=True, strict_mode=True, data_prop=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as e:
        raise RuntimeError(f"exporter produced an invalid ONNX model: {e}") from e  # a bug, not user error
    return inferred


# ----------------------------------------------------------------------------- export command


class ExportError(WNOEdgeError):
    """Export refused (accuracy check failed); `.report` holds what was measured."""

    def __init__(self, message: str, report: ExportReport):
        super().__init__(message)
        self.report = report


@dataclass
class ExportReport:
    path: Path | None
    options: ExportOptions
    written: bool = False
    forced: bool = False
    ir_version: int = 0
    build_seconds: float = 0.0
    verify_seconds: float = 0.0
    stats: GraphStats | None = None
    comparisons: list[Comparison] = field(default_factory=list)
    tolerance: float = 0.0
    file_bytes: int = 0
    inputs: str = ""  # what the comparison ran on
    real_space_kernel: bool = True  # False (an FNO, every 3-D model): no 3x3 conv, --conv changes nothing

    @property
    def ok(self) -> bool:
        return bool(self.comparisons) and all(c.ok for c in self.comparisons)


def _load(model_or_path) -> WNO2d:
    if isinstance(model_or_path, WNO2d):
        return model_or_path
    from ..checkpoint import load_model

    return load_model(model_or_path)


def checkpoint_sample_inputs(model: WNO2d, resolution: tuple[int, ...], n: int = 2) -> tuple[np.ndarray, str] | None:
    """Up to `n` test inputs stored in the checkpoint's metadata by wno_edge.train, if they
    match the export grid; else None. Export never reopens the training data file."""
    stored = (getattr(model, "metadata", None) or {}).get(SAMPLE_INPUTS_KEY)
    if not isinstance(stored, torch.Tensor) or stored.dim() != 2 + len(resolution):
        return None
    x = stored[:n].detach().cpu().numpy().astype(np.float32)
    if x.shape[1:] != (model.config.in_channels, *resolution):
        return None
    return x, f"{len(x)} test samples stored in the checkpoint"


def _check_writable(path: Path) -> None:
    """Fail before the (slow) export rather than after it; atomic_path re-checks at write time."""
    if path.is_dir():
        raise WNOEdgeError(f"{path} is a directory, expected a file path")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise WNOEdgeError(f"cannot write {path}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise WNOEdgeError(f"cannot write {path}: directory {parent} is not writable")
    if path.exists() and not os.access(path, os.W_OK):
        raise WNOEdgeError(f"cannot write {path}: the existing file is read-only")


def _test_inputs(model: WNO2d, opts: ExportOptions, inputs, seed: int) -> tuple[np.ndarray, str]:
    n = opts.batch or 2
    if inputs is not None:
        inputs = np.asarray(inputs, dtype=np.float32)
        expected = (opts.batch or (inputs.shape[0] if inputs.ndim else 0), model.config.in_channels, *opts.resolution)
        if inputs.shape != expected:
            raise WNOEdgeError(f"test inputs must have shape {expected}, got {inputs.shape}")
        what = f"{len(inputs)} given inputs"
    elif (found := checkpoint_sample_inputs(model, opts.resolution, n)) is not None and len(found[0]) == n:
        inputs, what = found
    else:
        inputs = random_inputs(model, opts.resolution, n, seed)
        what = f"{n} random inputs (mean + std * N(0, 1), seed {seed})"
    # With fp16, PyTorch sees the same half-rounded inputs: the error measured is the model's.
    return inputs.astype(np.float16 if opts.fp16 else np.float32), what


def export_onnx(
    model_or_checkpoint_path,
    path,
    *,
    resolution=None,
    batch=None,
    opset=DEFAULT_OPSET,
    fp16=False,
    conv=CONV_WINOGRAD,
    tile=None,
    spectral=SPECTRAL_MATMUL,
    force=False,
    inputs: np.ndarray | None = None,
    seed: int = 0,
    reference: torch.nn.Module | None = None,
) -> ExportReport:
    """Export, check, compare against PyTorch (ORT CPU and onnx.reference), write atomically.

    Writes only if every comparison is within tolerance, or with force=True (the report
    says so). `reference`: the model the checkpoint was made from (e.g. the neuraloperator FNO
    of an import, wno_edge.importers.neuralop.neuralop_model), compared with ONNX Runtime too.
    Compares on `inputs` (physical units, (N, C, H, W) or (N, C, X)) if given, else on test
    samples stored in the checkpoint if it has them, else on random inputs.
    """
    path = Path(path) if path is not None else None
    # The checkpoint read, when given by path: the export must never replace it.
    source = None if isinstance(model_or_checkpoint_path, WNO2d) else model_or_checkpoint_path
    if path is not None:
        refuse_overwrite(path, source)
        _check_writable(path)
    model = _load(model_or_checkpoint_path).eval()
    opts = resolve_options(
        model, resolution=resolution, batch=batch, opset=opset, fp16=fp16, conv=conv, tile=tile, spectral=spectral
    )
    report = ExportReport(path, opts, ir_version=ir_version_for(opts.opset), tolerance=TOLERANCE[opts.precision])
    report.real_space_kernel = model.config.real_space_kernel

    t0 = time.perf_counter()
    proto = check_model_proto(build_model_proto(model, opts))
    report.build_seconds = time.perf_counter() - t0
    report.stats = graph_stats(proto)

    inputs, report.inputs = _test_inputs(model, opts, inputs, seed)
    t0 = time.perf_counter()
    report.comparisons = compare_with_torch(proto, model, inputs, report.tolerance)
    if reference is not None:
        report.comparisons.append(compare_with_reference(proto, reference, inputs, report.tolerance))
    report.verify_seconds = time.perf_counter() - t0

    if not report.ok and not force:
        worst = max(report.comparisons, key=lambda c: (c.error is not None, c.relative))
        raise ExportError(
            f"ONNX output does not match PyTorch ({worst.summary()}); nothing written (--force writes it anyway)",
            report,
        )
    if path is not None:
        data = proto.SerializeToString()
        with atomic_path(path, inputs=(source,)) as tmp:
            tmp.write_bytes(data)
        report.written, report.forced, report.file_bytes = True, not report.ok, len(data)
    return report
