"""WNO2d -> FFT-free ONNX, written node by node (torch.onnx cannot export rfft2/irfft2).

Graph per layer:  v -> WinogradConv(k + W, b) ---------------------+-> Add -> Gelu
                  v -> truncated real DFT (MatMul) -> mode mixing -> inverse DFT (MatMul) -+
All folds are exact rewrites computed in float64 and rounded once to the export dtype:
W into the centre tap of k, the grid channels and lift bias into one constant, the
irfft2 Hermitian weights and 1/(H*W) into the DFT bases. Normalisation stays as graph
ops at the boundary (folding a mean into the lift weights would cancel digits).
With fp16 everything is half, inputs and outputs included (what TensorRT's strongly
typed networks and `wno-edge build` expect of an fp16 file).
"""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper

from . import __version__
from .errors import WNOEdgeError
from .shapes import parse_resolution
from .io import atomic_path
from .model import WNO2d
from .onnx_graph import DOMAIN, OP_VERSION, GraphBuilder, ir_version_for, winograd_conv_function, winograd_conv_node
from .onnx_verify import Comparison, GraphStats, compare_with_torch, graph_stats, random_inputs
from .winograd import TILES

MIN_OPSET = DEFAULT_OPSET = 17  # TensorRT >= 8.6 (JetPack 5/6), ORT >= 1.13; opset 20+ adds a native Gelu op
MAX_OPSET = 25  # needs IR 13, the newest ORT 1.31 reads; checked with onnx 1.23, ORT 1.31, onnx.reference
CONV_MODES = ("winograd", "direct")
INPUT, OUTPUT = "input", "output"
TOLERANCE = {"fp32": 1e-4, "fp16": 1e-2}  # max |y_onnx - y_torch| / max |y_torch|; fp16 measures ~1e-3


@dataclass(frozen=True)
class ExportOptions:
    """Validated export options (see resolve_options)."""

    resolution: tuple[int, int]
    batch: int | None = None  # None: dynamic batch dimension
    opset: int = DEFAULT_OPSET
    fp16: bool = False
    conv: str = "winograd"
    tile: int = 4

    @property
    def precision(self) -> str:
        return "fp16" if self.fp16 else "fp32"


CONFIG_PROPERTY = "wno_edge.config"  # metadata_props key holding the WNOConfig as JSON


def resolve_options(model: WNO2d, *, resolution=None, batch=None, opset=DEFAULT_OPSET, fp16=False,
                    conv="winograd", tile=None) -> ExportOptions:
    """Validate user options against the model; every problem is one WNOEdgeError line."""
    cfg = model.config
    if resolution is None:
        resolution = cfg.resolution
        if resolution is None:
            raise WNOEdgeError("the ONNX graph has a fixed grid size and the checkpoint records none: pass --resolution HxW")
    if isinstance(resolution, str):
        resolution = parse_resolution(resolution)
    h, w = (int(r) for r in resolution)
    if min(h, w) < 1:
        raise WNOEdgeError(f"resolution must be positive, got {h}x{w}")
    p = cfg.domain_padding
    model.layers[0].spectral.check_grid(h + p, w + p)  # exact truncated DFT needs non-overlapping modes
    if batch is not None and (isinstance(batch, bool) or int(batch) < 1):
        raise WNOEdgeError(f"--batch must be a positive integer (or omitted for a dynamic batch), got {batch!r}")
    if not MIN_OPSET <= int(opset) <= MAX_OPSET:
        raise WNOEdgeError(f"--opset must be between {MIN_OPSET} and {MAX_OPSET}, got {opset}")
    if conv not in CONV_MODES:
        raise WNOEdgeError(f"--conv must be one of {', '.join(CONV_MODES)}, got {conv!r}")
    if tile is not None and conv == "direct":
        raise WNOEdgeError("--tile applies to --conv winograd only; --conv direct writes plain Conv nodes")
    if tile is not None and tile not in TILES:
        raise WNOEdgeError(f"--tile must be one of {', '.join(map(str, TILES))}, got {tile}")
    return ExportOptions((h, w), None if batch is None else int(batch), int(opset), bool(fp16), conv,
                         cfg.winograd_tile if tile is None else int(tile))


# ----------------------------------------------------------------------------- spectral math

@dataclass(frozen=True)
class DFTBases:
    """Real bases of the truncated rfft2 / irfft2 on an H x W grid, float64.

    Forward:  A = v @ fwd_w                   (.., H, 2*m2)  = [Re | Im] of the row DFT
              X = fwd_h @ [A_re; A_im]        (.., 2*K1, m2) = [Re; Im] at the kept rows
    Inverse:  Z = inv_h @ [O_re; O_im]        (.., 2*H, m2)  = complex ifft along H
              y = [Z_re | Z_im] @ inv_w       (.., H, W)     = Hermitian C2R along W
    K1 = 2*m1 kept rows (0..m1-1, H-m1..H-1). 'ortho' scaling (1/sqrt(N) each way)
    keeps fp16 spectra in range; the product is still irfft2's 1/(H*W).
    """

    fwd_w: np.ndarray
    fwd_h: np.ndarray
    inv_h: np.ndarray
    inv_w: np.ndarray


def dft_bases(h: int, w: int, m1: int, m2: int) -> DFTBases:
    rows = np.r_[np.arange(m1), np.arange(h - m1, h)]
    aw = 2 * np.pi * np.outer(np.arange(w), np.arange(m2)) / w  # (W, m2)
    ah = 2 * np.pi * np.outer(rows, np.arange(h)) / h  # (K1, H)
    c, s = np.cos(ah), np.sin(ah)
    # irfft counts column 0 (and the Nyquist column of an even W) once, every other column
    # twice (its conjugate twin is implied); imaginary parts of those columns drop out
    # because sin vanishes there, exactly as C2R transforms ignore them.
    count = np.full(m2, 2.0)
    count[0] = 1.0
    if w % 2 == 0 and m2 == w // 2 + 1:
        count[-1] = 1.0
    return DFTBases(
        fwd_w=np.concatenate([np.cos(aw), -np.sin(aw)], axis=1) / math.sqrt(w),
        fwd_h=np.block([[c, s], [-s, c]]) / math.sqrt(h),  # (c - i s)(A_re + i A_im)
        inv_h=np.block([[c.T, -s.T], [s.T, c.T]]) / math.sqrt(h),  # (c + i s)(O_re + i O_im)
        inv_w=np.concatenate([count[:, None] * np.cos(aw.T), -count[:, None] * np.sin(aw.T)], axis=0) / math.sqrt(w),
    )


def mixing_matrix(weights1: torch.Tensor, weights2: torch.Tensor) -> np.ndarray:
    """Complex [in, out, m1, m2] corner weights -> real (K1*m2, in, 2*out) = [W_re | W_im]
    per mode, each weight stored once. With X_re and X_im as two rows, X @ M gives the
    four products X_re W_re, X_re W_im, X_im W_re, X_im W_im; COMBINE_COMPLEX adds them up.
    (A block matrix [[W_re, W_im], [-W_im, W_re]] would do it in one MatMul, storing it twice.)"""
    wc = np.concatenate([weights1.detach().cpu().numpy(), weights2.detach().cpu().numpy()], axis=2)
    wc = wc.astype(np.complex128).transpose(2, 3, 0, 1)  # (K1, m2, in, out)
    m = np.concatenate([wc.real, wc.imag], axis=-1)
    k1, m2, c, o2 = m.shape
    return m.reshape(k1 * m2, c, o2)


# [Xr Wr, Xr Wi, Xi Wr, Xi Wi] @ COMBINE_COMPLEX = [Xr Wr - Xi Wi, Xr Wi + Xi Wr] = [O_re, O_im]
COMBINE_COMPLEX = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [-1.0, 0.0]])


def _spectral(g: GraphBuilder, v: str, mix: np.ndarray, bases: dict, hp: int, m2: int, c: int, o: int, i: int) -> str:
    k1m2 = mix.shape[0]
    n = f"l{i}.spectral"
    a = g.op("MatMul", [v, bases["fwd_w"]], f"{n}.dft_w")  # (B, C, H, 2*m2)
    a = g.op("Reshape", [a, g.ints("shape_re_im_rows", [0, 0, hp, 2, m2])], f"{n}.dft_w_split")
    a = g.op("Transpose", [a], f"{n}.dft_w_stacked", perm=[0, 1, 3, 2, 4])  # (B, C, 2, H, m2): Re over Im
    a = g.op("Reshape", [a, g.ints("shape_stacked_rows", [0, 0, 2 * hp, m2])], f"{n}.dft_w_rows")
    x = g.op("MatMul", [bases["fwd_h"], a], f"{n}.dft_h")  # (B, C, 2*K1, m2)
    x = g.op("Reshape", [x, g.ints("shape_modes_split", [0, 0, 2, k1m2])], f"{n}.modes_split")
    x = g.op("Transpose", [x], f"{n}.modes_first", perm=[3, 0, 2, 1])  # (modes, B, 2, C)
    y = g.op("MatMul", [x, g.const(f"layers.{i}.spectral.mixing", mix[:, None])], f"{n}.mix")  # (modes, B, 2, 2*O)
    y = g.op("Reshape", [y, g.ints(f"shape_modes_products_{o}", [0, 0, 4, o])], f"{n}.mix_split")
    y = g.op("Transpose", [y], f"{n}.products_last", perm=[0, 1, 3, 2])  # (modes, B, O, 4)
    y = g.op("MatMul", [y, g.const("combine_complex", COMBINE_COMPLEX, shared=True)], f"{n}.complex")
    y = g.op("Transpose", [y], f"{n}.modes_last", perm=[1, 2, 3, 0])  # (B, O, 2, modes)
    y = g.op("Reshape", [y, g.ints("shape_stacked_modes", [0, 0, -1, m2])], f"{n}.mix_rows")  # (B, O, 2*K1, m2)
    z = g.op("MatMul", [bases["inv_h"], y], f"{n}.idft_h")  # (B, O, 2*H, m2)
    z = g.op("Reshape", [z, g.ints("shape_re_im_split", [0, 0, 2, hp, m2])], f"{n}.idft_h_split")
    z = g.op("Transpose", [z], f"{n}.idft_h_interleaved", perm=[0, 1, 3, 2, 4])  # (B, O, H, 2, m2)
    z = g.op("Reshape", [z, g.ints("shape_re_im_cols", [0, 0, hp, 2 * m2])], f"{n}.idft_h_cols")
    return g.op("MatMul", [z, bases["inv_w"]], f"{n}.idft_w")  # (B, O, H, W)


def _gelu(g: GraphBuilder, x: str, opset: int, name: str) -> str:
    if opset >= 20:
        return g.op("Gelu", [x], name)
    # Exact (erf) GELU as torch.onnx writes it; ORT and TensorRT fuse this pattern.
    t = g.op("Div", [x, g.const("sqrt2", math.sqrt(2.0), shared=True)], f"{name}.scaled")
    t = g.op("Erf", [t], f"{name}.erf")
    t = g.op("Add", [t, g.const("one", 1.0, shared=True)], f"{name}.erf_plus_1")
    t = g.op("Mul", [x, t], f"{name}.twice")
    return g.op("Mul", [t, g.const("half", 0.5, shared=True)], name)


def _pointwise_weight(linear: torch.nn.Linear) -> np.ndarray:
    return linear.weight.detach().double().numpy()[:, :, None, None]


# ----------------------------------------------------------------------------- graph

def build_model_proto(model: WNO2d, options: ExportOptions | None = None, **kwargs) -> onnx.ModelProto:
    """The ONNX model of `model` (eval mode) at a fixed grid; nothing is checked or written.
    Pass an ExportOptions or the keyword options of resolve_options()."""
    opts = options or resolve_options(model, **kwargs)
    cfg = model.config
    h, w = opts.resolution
    p = cfg.domain_padding
    hp, wp = h + p, w + p
    m1, m2 = cfg.modes
    dtype = np.float16 if opts.fp16 else np.float32
    g = GraphBuilder(dtype)
    f64 = lambda t: t.detach().double().cpu().numpy()  # noqa: E731

    x = INPUT
    # Normalisation as the model computes it, (x - mean) / std; identity statistics are skipped.
    mean_in, std_in = f64(model.input_mean), f64(model.input_std)
    if np.any(mean_in != 0):
        x = g.op("Sub", [x, g.const("input_mean", mean_in.reshape(1, -1, 1, 1))], "input_centred")
    if np.any(std_in != 1):
        x = g.op("Div", [x, g.const("input_std", std_in.reshape(1, -1, 1, 1))], "input_normalised")
    if p:  # pad the narrow input, not the lifted field; the lift constant is zero there
        x = g.op("Pad", [x, g.ints("domain_padding", [0, 0, 0, 0, 0, 0, p, p])], "input_padded")

    # Lift: Linear over [x, grid] = 1x1 Conv over x + (bias + W_grid @ grid), a constant.
    lw = f64(model.lift.weight)
    lift_const = np.zeros((1, cfg.width, hp, wp))
    lift_const[0, :, :h, :w] = f64(model.lift.bias)[:, None, None]
    if cfg.grid:
        grid = WNO2d.grid(h, w, 1, torch.float64, "cpu")[0].numpy()  # (2, H, W), as the model builds it
        lift_const[0, :, :h, :w] += np.einsum("kc,chw->khw", lw[:, cfg.in_channels:], grid)
    v = g.op("Conv", [x, g.const("lift.weight", lw[:, :cfg.in_channels, None, None])], "lift", kernel_shape=[1, 1])
    v = g.op("Add", [v, g.const("lift.bias_and_grid", lift_const)], "lifted")

    b = dft_bases(hp, wp, m1, m2)
    bases = {k: g.const(f"dft.{k}", getattr(b, k)) for k in ("fwd_w", "fwd_h", "inv_h", "inv_w")}
    winograd_paddings = set()
    for i, layer in enumerate(model.layers):
        bias = g.const(f"layers.{i}.bias", f64(layer.pointwise.bias))
        if layer.kernel is None:  # FNO special case: W alone is a 1x1 conv; a 3x3 would cost 9x
            r = g.op("Conv", [v, g.const(f"layers.{i}.pointwise", f64(layer.pointwise.weight)), bias],
                     f"l{i}.pointwise", kernel_shape=[1, 1])
        elif opts.conv == "direct":
            r = g.op("Conv", [v, g.const(f"layers.{i}.kernel", f64(layer.real_space_weight())), bias],
                     f"l{i}.conv3x3", kernel_shape=[3, 3], pads=[1, 1, 1, 1])
        else:
            r = g.name(f"l{i}.winograd")
            weight = g.const(f"layers.{i}.kernel", f64(layer.real_space_weight()))
            g.add_node(winograd_conv_node(v, weight, bias, r, tile=opts.tile, padding=1, name=g.name(f"{r}/WinogradConv")))
            winograd_paddings.add(1)
        s = _spectral(g, v, mixing_matrix(layer.spectral.weights1, layer.spectral.weights2), bases, hp, m2,
                      layer.spectral.in_channels, layer.spectral.out_channels, i)
        v = g.op("Add", [r, s], f"l{i}.sum")
        if i < len(model.layers) - 1:
            v = _gelu(g, v, opts.opset, f"l{i}.gelu")
    if p:
        v = g.op("Slice", [v, g.ints("crop_start", [0, 0]), g.ints("crop_end", [h, w]), g.ints("crop_axes", [2, 3])],
                 "cropped")

    v = g.op("Conv", [v, g.const("project1.weight", _pointwise_weight(model.project1)),
                      g.const("project1.bias", f64(model.project1.bias))], "project1", kernel_shape=[1, 1])
    v = _gelu(g, v, opts.opset, "project1.gelu")
    y = g.op("Conv", [v, g.const("project2.weight", _pointwise_weight(model.project2)),
                      g.const("project2.bias", f64(model.project2.bias))], "project2", kernel_shape=[1, 1])
    mean_out, std_out = f64(model.output_mean), f64(model.output_std)
    if np.any(std_out != 1):
        y = g.op("Mul", [y, g.const("output_std", std_out.reshape(1, -1, 1, 1))], "output_scaled")
    if np.any(mean_out != 0):
        y = g.op("Add", [y, g.const("output_mean", mean_out.reshape(1, -1, 1, 1))], "output_shifted")
    g.nodes[-1].output[0] = OUTPUT  # the last node writes the graph output directly

    batch = opts.batch if opts.batch is not None else "batch"
    io_type = TensorProto.FLOAT16 if opts.fp16 else TensorProto.FLOAT
    graph = g.graph(
        "wno2d",
        [helper.make_tensor_value_info(INPUT, io_type, [batch, cfg.in_channels, h, w])],
        [helper.make_tensor_value_info(OUTPUT, io_type, [batch, cfg.out_channels, h, w])],
    )
    opset_imports = [helper.make_opsetid("", opts.opset)]
    functions = []
    if winograd_paddings:
        (padding,) = winograd_paddings  # one fixed-body function serves one padding value
        opset_imports.append(helper.make_opsetid(DOMAIN, OP_VERSION))
        functions.append(winograd_conv_function(padding, opts.opset))
    proto = helper.make_model(graph, opset_imports=opset_imports, functions=functions,
                              ir_version=ir_version_for(opts.opset), producer_name="wno-edge",
                              producer_version=__version__, doc_string="Winograd Neural Operator (FFT-free export)")
    helper.set_model_props(proto, {
        CONFIG_PROPERTY: json.dumps(cfg.to_dict()),
        "wno_edge.resolution": f"{h}x{w}",
        "wno_edge.batch": "dynamic" if opts.batch is None else str(opts.batch),
        "wno_edge.conv": opts.conv if cfg.real_space_kernel else "pointwise (FNO)",
        "wno_edge.winograd_tile": str(opts.tile),
        "wno_edge.precision": opts.precision,
    })
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

    def __init__(self, message: str, report: "ExportReport"):
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

    @property
    def ok(self) -> bool:
        return bool(self.comparisons) and all(c.ok for c in self.comparisons)


def _load(model_or_path) -> WNO2d:
    if isinstance(model_or_path, WNO2d):
        return model_or_path
    from .checkpoint import load_model
    return load_model(model_or_path)


def checkpoint_test_inputs(model: WNO2d, resolution: tuple[int, int], n: int = 2,
                           checkpoint_dir: Path | None = None) -> tuple[np.ndarray, str] | None:
    """Up to `n` inputs from the test split the checkpoint was trained on (metadata written by
    wno_edge.train), if that file still exists and matches the export grid; else None.
    A relative data path is tried from the working directory, then beside the checkpoint."""
    options = (getattr(model, "metadata", None) or {}).get("options") or {}
    data = options.get("data")
    if not isinstance(data, str):
        return None
    candidates = [Path(data)] + ([checkpoint_dir / data] if checkpoint_dir and not Path(data).is_absolute() else [])
    data = next((str(c) for c in candidates if c.is_file()), None)
    if data is None:
        return None
    keys = ("test_fraction", "resolution", "time_reduce", "initial_step", "max_samples")
    kwargs = {k: options[k] for k in keys if options.get(k) is not None}
    try:
        from .data import PDEBenchDataset

        ds = PDEBenchDataset(data, "test", **kwargs)
        x = np.stack([ds[i][0].numpy() for i in range(min(n, len(ds)))])
        ds.close()
    except Exception:  # noqa: BLE001  (optional check: a moved or changed file only drops it)
        return None
    if x.shape[1:] != (model.config.in_channels, *resolution):
        return None
    return x.astype(np.float32), f"{len(x)} test samples from {Path(data).name}"


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


def _test_inputs(model: WNO2d, opts: ExportOptions, inputs, seed: int,
                 checkpoint_dir: Path | None) -> tuple[np.ndarray, str]:
    n = opts.batch or 2
    if inputs is not None:
        inputs = np.asarray(inputs, dtype=np.float32)
        expected = (opts.batch or (inputs.shape[0] if inputs.ndim else 0), model.config.in_channels, *opts.resolution)
        if inputs.shape != expected:
            raise WNOEdgeError(f"test inputs must have shape {expected}, got {inputs.shape}")
        what = f"{len(inputs)} given inputs"
    elif (found := checkpoint_test_inputs(model, opts.resolution, n, checkpoint_dir)) is not None \
            and len(found[0]) == n:
        inputs, what = found
    else:
        inputs = random_inputs(model, opts.resolution, n, seed)
        what = f"{n} random inputs (mean + std * N(0, 1), seed {seed})"
    # With fp16, PyTorch sees the same half-rounded inputs: the error measured is the model's.
    return inputs.astype(np.float16 if opts.fp16 else np.float32), what


def export_onnx(model_or_checkpoint_path, path, *, resolution=None, batch=None, opset=DEFAULT_OPSET, fp16=False,
                conv="winograd", tile=None, force=False, inputs: np.ndarray | None = None,
                seed: int = 0) -> ExportReport:
    """Export, check, compare against PyTorch (ORT CPU and onnx.reference), write atomically.

    Writes only if every comparison is within tolerance, or with force=True (the report
    says so). Compares on `inputs` (physical units, (N, C, H, W)) if given, else on test
    samples of the checkpoint's training data if that file exists, else on random inputs.
    """
    path = Path(path) if path is not None else None
    if path is not None:
        _check_writable(path)
    model = _load(model_or_checkpoint_path).eval()
    opts = resolve_options(model, resolution=resolution, batch=batch, opset=opset, fp16=fp16, conv=conv, tile=tile)
    report = ExportReport(path, opts, ir_version=ir_version_for(opts.opset), tolerance=TOLERANCE[opts.precision])

    t0 = time.perf_counter()
    proto = check_model_proto(build_model_proto(model, opts))
    report.build_seconds = time.perf_counter() - t0
    report.stats = graph_stats(proto)

    checkpoint_dir = None if isinstance(model_or_checkpoint_path, WNO2d) else Path(model_or_checkpoint_path).parent
    inputs, report.inputs = _test_inputs(model, opts, inputs, seed, checkpoint_dir)
    t0 = time.perf_counter()
    report.comparisons = compare_with_torch(proto, model, inputs, report.tolerance)
    report.verify_seconds = time.perf_counter() - t0

    if not report.ok and not force:
        worst = max(report.comparisons, key=lambda c: (c.error is not None, c.relative))
        raise ExportError(f"ONNX output does not match PyTorch ({worst.summary()}); nothing written "
                          "(--force writes it anyway)", report)
    if path is not None:
        data = proto.SerializeToString()
        with atomic_path(path) as tmp:
            tmp.write_bytes(data)
        report.written, report.forced, report.file_bytes = True, not report.ok, len(data)
    return report
