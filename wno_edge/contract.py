"""The facts that tie wno-edge's stages together, written once (torch-free, numpy-free).

Every Python stage reads these names; the C++ side (the native engine, the TensorRT plugin,
the kernels) gets the same values from runtime/include/wno/contract.h, which
tools/gen_headers.py generates from this module (tests/test_transforms_header.py fails when it
is stale). The op contract itself, in prose, is export/SPEC.md.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from numbers import Integral, Real
from typing import Any

from .errors import WNOEdgeError, preview
from .util.bounded_json import JsonLimits

# ---- the WinogradConv custom op (export/SPEC.md) --------------------------------------
OP_DOMAIN = "wno_edge"  # ONNX custom-op domain; TensorRT >= 10.10 also tries it as namespace
OP_NAME = "WinogradConv"  # ONNX op_type == TensorRT plugin name
OP_VERSION = 1  # opset version of OP_DOMAIN
PLUGIN_VERSION = "1"  # node attribute plugin_version == TensorRT plugin version
PLUGIN_NAMESPACE = ""  # node attribute plugin_namespace == TensorRT plugin namespace
TILES = (2, 4, 6)  # output tile m of F(m x m, 3 x 3)
PADDINGS = (0, 1)  # zero padding on every side

# ---- ONNX export ----------------------------------------------------------------------
MIN_OPSET = DEFAULT_OPSET = 17  # TensorRT >= 8.6 (JetPack 5/6), ORT >= 1.13; opset 20+ has Gelu
MAX_OPSET = 25  # needs IR 13, the newest ONNX Runtime 1.31 reads; the native engine refuses newer
CONV_WINOGRAD, CONV_DIRECT = "winograd", "direct"  # --conv: WinogradConv nodes | plain 3x3 Conv
CONV_MODES = (CONV_WINOGRAD, CONV_DIRECT)
CONV_POINTWISE = "pointwise (FNO)"  # Metadata.CONV of a model without a real-space kernel (1x1 Conv)
BATCH_DYNAMIC = "dynamic"  # Metadata.BATCH of a file whose batch dimension is symbolic
FP32, FP16 = "fp32", "fp16"  # Metadata.PRECISION values; the native engine runs FP32 files only
PRECISIONS = (FP32, FP16)
CHECKSUM_PREFIX = "crc32:"  # Metadata.WEIGHTS_CHECKSUM = CHECKSUM_PREFIX + 8 lowercase hex digits
INPUT_NAME, OUTPUT_NAME = "input", "output"
# Every standard (ai.onnx) op an export may write, besides OP_DOMAIN::OP_NAME: the native engine
# refuses a file with any other op, so the exporter must not add one without the engine.
EXPORT_OPS = (
    "Sub",
    "Div",
    "Pad",
    "Conv",
    "Add",
    "MatMul",
    "Mul",
    "Erf",
    "Gelu",
    "Reshape",
    "Transpose",
    "Slice",
    "Sigmoid",
)
# The spectral mixing computes the four products [Xr Wr, Xr Wi, Xi Wr, Xi Wi] per mode; this
# (4, 2) initializer adds them up into [O_re, O_im] = [Xr Wr - Xi Wi, Xr Wi + Xi Wr]. The native
# engine computes exactly this product and refuses a file that stores another matrix.
COMBINE_COMPLEX = ((1.0, 0.0), (0.0, 1.0), (0.0, 1.0), (-1.0, 0.0))


class Metadata:
    """metadata_props keys of an exported .onnx file."""

    CONFIG = "wno_edge.config"  # the WNOConfig as JSON
    RESOLUTION = "wno_edge.resolution"  # "HxW"
    BATCH = "wno_edge.batch"  # BATCH_DYNAMIC or an int
    CONV = "wno_edge.conv"  # one of CONV_MODES, or CONV_POINTWISE
    TILE = "wno_edge.winograd_tile"
    PRECISION = "wno_edge.precision"  # one of PRECISIONS
    # CHECKSUM_PREFIX + "%08x": CRC-32 (zlib) over every initializer in graph order: name bytes,
    # dims as little-endian int64, data bytes (raw_data). The native engine refuses a file that differs.
    WEIGHTS_CHECKSUM = "wno_edge.weights_checksum"
    # CHECKSUM_PREFIX + "%08x": CRC-32 (zlib) over the graph's structure (opsets, I/O, initializer
    # names/types/shapes, nodes, local functions; not weight values, names of nodes, doc strings
    # or metadata): wno_edge.onnx.digest. It tells a corrupt file (weights differ, structure the
    # same: refused) from one a tool edited after export (structure differs: the stale weights
    # checksum is not applied and the engine computes the graph as it is).
    STRUCTURE_CHECKSUM = "wno_edge.structure_checksum"


class Initializer:
    """Names of the initializers an export writes that the native engine reads back by name.

    A name with "{i}" belongs to layer i: Initializer.LAYER_BIAS.format(i=0) == "layers.0.bias".
    Optional ones (the statistics, the neuraloperator MLPs) are absent when the model has none.
    """

    INPUT_MEAN = "input_mean"  # (1, C_in, 1, 1); absent when every mean is 0
    INPUT_STD = "input_std"  # absent when every std is 1
    OUTPUT_MEAN = "output_mean"  # (1, C_out, 1, 1)
    OUTPUT_STD = "output_std"
    LIFT_WEIGHT = "lift.weight"  # the lift's input columns as a 1x1 Conv
    LIFT_CONSTANT = "lift.bias_and_grid"  # the lift bias + the grid channels' term, one constant
    LIFT2_WEIGHT = "lift2.weight"  # neuraloperator's lifting MLP, second layer
    LIFT2_BIAS = "lift2.bias"
    DFT_FWD_W = "dft.fwd_w"  # the truncated real DFT bases (wno_edge.onnx.spectral.DFTBases)
    DFT_FWD_H = "dft.fwd_h"
    DFT_INV_H = "dft.inv_h"
    DFT_INV_W = "dft.inv_w"
    COMBINE_COMPLEX = "combine_complex"  # the COMBINE_COMPLEX matrix
    PROJECT1_WEIGHT = "project1.weight"
    PROJECT1_BIAS = "project1.bias"
    PROJECT2_WEIGHT = "project2.weight"
    PROJECT2_BIAS = "project2.bias"
    LAYER_BIAS = "layers.{i}.bias"
    LAYER_POINTWISE = "layers.{i}.pointwise"  # FNO: W alone, a 1x1 Conv
    LAYER_KERNEL = "layers.{i}.kernel"  # k + W as one 3x3 kernel
    LAYER_MIXING = "layers.{i}.spectral.mixing"  # per-mode complex channel mixing
    LAYER_MLP1_WEIGHT = "layers.{i}.mlp1.weight"  # neuraloperator's channel MLP
    LAYER_MLP1_BIAS = "layers.{i}.mlp1.bias"
    LAYER_MLP2_WEIGHT = "layers.{i}.mlp2.weight"
    LAYER_MLP2_BIAS = "layers.{i}.mlp2.bias"
    LAYER_MLP_SKIP_WEIGHT = "layers.{i}.mlp_skip.weight"  # its skip (1x1, no bias)


# ---- data and training ----------------------------------------------------------------
TASKS = ("darcy", "diffusion-reaction", "shallow-water")
# PDEBench's 1-D tasks (wno_edge.data.pdebench1d names them from each file's attributes)
TASKS_1D = ("advection", "burgers", "reaction-diffusion", "cfd", "diffusion-sorption")

# ---- the checkpoint -------------------------------------------------------------------
CHECKPOINT_FORMAT = "wno-edge-checkpoint"
CHECKPOINT_VERSION = 1
SAMPLE_INPUTS_KEY = "sample_inputs"  # metadata: a few test inputs (N, C, H, W) that export verifies on

# ---- the model config -----------------------------------------------------------------
# Bounds keep a hostile or corrupt file from allocating without limit before its weights
# are even looked at; they are far above any model that fits an edge device.
MAX_CHANNELS = 4096
MAX_WIDTH = 4096
MAX_LAYERS = 256
MAX_MODES = 4096
MAX_RESOLUTION = 1 << 16
MAX_COORDINATE = 1e12  # |grid_domain| bound: finite, and far from float32 overflow
# linspace(x0, x1, n) | cell centres x0 + (i + 1/2)(x1 - x0)/n | left ends x0 + i (x1 - x0)/n (neuraloperator)
GRID_POINTS = ("endpoints", "centers", "left")
BLOCKS = ("wno", "neuralop")  # WNOConfig.block
MAX_PADDING_FRACTION = 4.0  # domain_padding_fraction bound (neuraloperator uses 0 .. ~0.25)
UNIT_DOMAIN = ((0.0, 1.0), (0.0, 1.0))
# WNOConfig.activation / projection_activation (PhysicsNeMo's FNO defaults to SiLU in its decoder)
ACTIVATIONS = ("gelu", "silu")
# WNOConfig.padding_mode: the values of the domain padding's cells, as F.pad's modes
PADDING_MODES = ("constant", "reflect", "replicate", "circular")
# The spatial rank of a model is len(WNOConfig.modes): 1 (a line, (N, C, X)), 2 ((N, C, H, W))
# or 3 ((N, C, D, H, W): an FNO only, no real-space kernel, as neuraloperator's 3-D FNO).
RANKS = (1, 2, 3)

# ---- limits on what a file may make a reader walk ----------------------------------------
# Checked before a value is used, so that a hostile or corrupt file is refused in bounded time and
# memory (a 300-byte pickle can share references into 2**60 items; 10**5 nested brackets overflow
# the recursion of json.loads). Each is far above any real file: a config is one flat JSON object
# of about 400 bytes, 3 levels deep (grid_domain), no key longer than 23 bytes, no array longer than 2.
# The config limits bind the C++ reader too (contract.h): both accept exactly the same texts.
MAX_CONFIG_BYTES = 1 << 16  # the config JSON's UTF-8 bytes
MAX_CONFIG_DEPTH = 16  # nested arrays / objects, the outer object counting 1
MAX_CONFIG_KEY_BYTES = 256  # one key's UTF-8 bytes (after \u escapes are decoded)
MAX_CONFIG_ITEMS = 256  # members of one object, elements of one array
CONFIG_JSON = JsonLimits(MAX_CONFIG_BYTES, MAX_CONFIG_DEPTH, MAX_CONFIG_ITEMS, MAX_CONFIG_KEY_BYTES)
# Pickled metadata (a checkpoint's payload, neuraloperator's _metadata): every visit of a value
# counts, so shared references count as often as they are reached. A training run stores about
# 4 values per epoch; tensors count 1 each.
MAX_PICKLE_DEPTH = 32
MAX_PICKLE_NODES = 1_000_000
MAX_PICKLE_BYTES = 1 << 28  # a checkpoint's data.pkl (its structure; the tensors' bytes are separate)


def _int(value: object, name: str, lo: int, hi: int, problems: list[str]) -> int | None:
    if isinstance(value, bool) or not isinstance(value, Integral):
        problems.append(f"{name} must be an integer, got {preview(value)}")
        return None
    if not lo <= int(value) <= hi:
        problems.append(f"{name} must be in [{lo}, {hi}], got {preview(int(value))}")
    return int(value)


def unit_domain(rank: int) -> tuple[tuple[float, float], ...]:
    """The default grid_domain of a model of this spatial rank: [0, 1] on every axis."""
    return ((0.0, 1.0),) * rank


def _shape_words(name: str, rank: int | None, what: str) -> str:
    """'two integers' (2-D), 'one integer' (1-D), with the other rank's count when it is unknown."""
    if rank == 1:
        return f"{name} must be one {what} (a 1-D model)"
    if rank in (2, 3):
        return f"{name} must be {'two' if rank == 2 else 'three'} {what}s" + (" (a 3-D model)" if rank == 3 else "")
    return f"{name} must be two {what}s (2-D), one (1-D) or three (3-D)"


def _domain(value: Any, problems: list[str], rank: int | None = 2) -> tuple[tuple[float, float], ...] | None:
    """((x0, x1), (y0, y1)) (2-D) or ((x0, x1),) (1-D), finite, x0 < x1 and y0 < y1."""

    def interval(v: Any, axis: int) -> tuple[float, float] | None:
        ok = (
            not isinstance(v, (str, bytes))
            and hasattr(v, "__len__")
            and len(v) == 2
            and all(isinstance(e, Real) and not isinstance(e, bool) for e in v)
        )
        if not ok:
            problems.append(f"grid_domain[{axis}] must be two numbers (start, end), got {preview(v)}")
            return None
        a, b = _float(v[0]), _float(v[1])
        if not (math.isfinite(a) and math.isfinite(b) and abs(a) <= MAX_COORDINATE and abs(b) <= MAX_COORDINATE):
            problems.append(f"grid_domain[{axis}] must be finite (|x| <= {MAX_COORDINATE:g}), got {preview(v)}")
            return None
        if not a < b:
            problems.append(f"grid_domain[{axis}] must have start < end, got {preview(v)}")
            return None
        return (a, b)

    counts = RANKS if rank is None else (rank,)
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) not in counts:
        form = {1: "((x0, x1),)", 3: "((x0, x1), (y0, y1), (z0, z1))"}.get(rank or 2, "((x0, x1), (y0, y1))")
        problems.append(f"grid_domain must be {form}, got {preview(value)}")
        return None
    axes = [interval(v, i) for i, v in enumerate(value)]
    valid = [axis for axis in axes if axis is not None]
    return tuple(valid) if len(valid) == len(axes) else None


def _float(value: Any) -> float:
    """float(value), inf for an int beyond float range (float(10**400) raises OverflowError)."""
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def _pair(value: Any, name: str, lo: int, hi: int, problems: list[str], rank: int | None = 2) -> tuple[int, ...] | None:
    """`rank` integers in [lo, hi] (one or two when rank is None)."""
    counts = RANKS if rank is None else (rank,)
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) not in counts:
        problems.append(f"{_shape_words(name, rank, 'integer')}, got {preview(value)}")
        return None
    items = [_int(v, f"{name}[{i}]", lo, hi, problems) for i, v in enumerate(value)]
    valid = [item for item in items if item is not None]
    return tuple(valid) if len(valid) == len(items) else None


def _fractions(value: Any, problems: list[str], rank: int | None = 2) -> tuple[float, ...] | None:
    counts = RANKS if rank is None else (rank,)
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) not in counts:
        problems.append(f"{_shape_words('domain_padding_fraction', rank, 'number')}, got {preview(value)}")
        return None
    out = []
    for v in value:
        if isinstance(v, bool) or not isinstance(v, Real) or not 0 <= _float(v) <= MAX_PADDING_FRACTION:
            words = _shape_words("domain_padding_fraction", rank, "number")
            problems.append(f"{words} in [0, {MAX_PADDING_FRACTION:g}], got {preview(value)}")
            return None
        out.append(float(v))
    return tuple(out)


@dataclass(frozen=True)
class WNOConfig:
    """Everything needed to rebuild a WNO2d (stored in every checkpoint and exported file).

    The spatial rank is len(modes): two values (m1, m2) make a 2-D model on (N, C, H, W), one
    value (m,) a 1-D model on (N, C, X), three (m1, m2, m3) a 3-D FNO on (N, C, D, H, W) (no
    real-space kernel: real_space_kernel false); resolution, grid_domain and
    domain_padding_fraction then have one entry per axis too. A 1-D or 3-D config left at the 2-D
    defaults of grid_domain and domain_padding_fraction gets its own rank's defaults ([0, 1] and 0
    on every axis), so a file stores neither.
    """

    in_channels: int
    out_channels: int
    width: int = 32
    modes: tuple[int, ...] = (12, 12)  # (m1, m2) 2-D, (m,) 1-D, (m1, m2, m3) 3-D: truncated Fourier modes per axis
    n_layers: int = 4
    winograd_tile: int = 4
    real_space_kernel: bool = True  # False: the FNO special case, k = 0 (W only)
    domain_padding: int = 2  # zero padding right/bottom (1-D: right) after lifting, as PDEBench FNO2d/FNO1d
    projection_width: int = 128
    grid: bool = True  # append (x, y) coordinates before lifting (x along H, y along W; 1-D: x)
    resolution: tuple[int, ...] | None = None  # grid the model was trained on (informational)
    # The coordinates appended: the domain ((x0, x1), (y0, y1)) and where the n points of an
    # axis sit in it: "endpoints" linspace(x0, x1, n) (wno-edge's default, and every file
    # without these keys), or "centers" x0 + (i + 1/2)(x1 - x0)/n (PDEBench's files).
    grid_domain: tuple[tuple[float, float], ...] = UNIT_DOMAIN
    grid_points: str = "endpoints"
    # neuraloperator's FNO block (wno_edge.neuralop imports one); each default is today's model,
    # and to_dict() leaves a key out while it has its default, so older files stay as they were.
    # "wno": sum -> GELU between layers; "neuralop": neuraloperator's FNOBlocks, sum -> GELU ->
    # channel MLP (+ skip) if any -> GELU, no GELU in the last layer (two GELUs without an MLP).
    block: str = "wno"
    lifting_width: int = 0  # > 0: lift = Linear(in + grid, lifting_width) -> GELU -> Linear(width)
    channel_mlp_width: int = 0  # > 0: per layer, after the sum: Conv1x1(width, this) -> GELU -> Conv1x1(width)
    channel_mlp_skip: bool = False  # the channel MLP adds S v_in (1x1, no bias) of the layer's input
    # Symmetric zero padding of round(f * H) rows above and below, round(f * W) columns left and
    # right (neuraloperator's DomainPadding), instead of domain_padding cells right/bottom.
    domain_padding_fraction: tuple[float, ...] = (0.0, 0.0)
    # PhysicsNeMo's FNO (wno_edge.importers.physicsnemo imports one); defaults as above.
    activation: str = "gelu"  # the lifting MLP's and the between-layer activation (ACTIVATIONS)
    projection_layers: int = 1  # hidden layers of the projection MLP; 0: one Linear(width, out)
    projection_activation: str = "gelu"  # after each hidden projection layer
    padding_mode: str = "constant"  # the padded cells' values: zeros, or F.pad's reflect/replicate/circular
    domain_padding_axes: tuple[int, ...] = ()  # cells after each axis, instead of domain_padding on all

    def __post_init__(self) -> None:
        problems: list[str] = []
        for name, hi in (
            ("in_channels", MAX_CHANNELS),
            ("out_channels", MAX_CHANNELS),
            ("width", MAX_WIDTH),
            ("n_layers", MAX_LAYERS),
            ("projection_width", MAX_WIDTH),
        ):
            value = _int(getattr(self, name), name, 1, hi, problems)
            if value is not None:
                object.__setattr__(self, name, value)
        rank: int | None = None  # unknown while modes is invalid: the other per-axis fields take 1 to 3 values
        modes = _pair(self.modes, "modes", 1, MAX_MODES, problems, rank=None)
        if modes is not None:
            object.__setattr__(self, "modes", modes)
            rank = len(modes)
        if rank == 3 and self.real_space_kernel is not False:
            problems.append("a 3-D model is an FNO: real_space_kernel must be false (no 3x3x3 Winograd convolution)")
        if rank in (1, 3):  # the 2-D defaults stand for the 1-D / 3-D ones (class docstring)
            if self.grid_domain == UNIT_DOMAIN:
                object.__setattr__(self, "grid_domain", unit_domain(rank))
            if isinstance(self.domain_padding_fraction, tuple) and self.domain_padding_fraction == (0.0, 0.0):
                object.__setattr__(self, "domain_padding_fraction", (0.0,) * rank)
        tile = self.winograd_tile  # an integer: 4.0 would pass `in TILES` (and the C++ reader refuses it)
        if isinstance(tile, bool) or not isinstance(tile, Integral) or tile not in TILES:
            problems.append(f"winograd_tile must be one of {TILES}, got {preview(tile)}")
        else:
            object.__setattr__(self, "winograd_tile", int(tile))
        if _int(self.domain_padding, "domain_padding", 0, MAX_RESOLUTION, problems) is not None:
            object.__setattr__(self, "domain_padding", int(self.domain_padding))
        for name, hi in (
            ("lifting_width", MAX_WIDTH),
            ("channel_mlp_width", MAX_WIDTH),
            ("projection_layers", MAX_LAYERS),
        ):
            value = _int(getattr(self, name), name, 0, hi, problems)
            if value is not None:
                object.__setattr__(self, name, value)
        for name in ("real_space_kernel", "grid", "channel_mlp_skip"):
            if not isinstance(getattr(self, name), bool):
                problems.append(f"{name} must be true or false, got {preview(getattr(self, name))}")
        if self.resolution is not None:
            resolution = _pair(self.resolution, "resolution", 1, MAX_RESOLUTION, problems, rank)
            if resolution is not None:
                object.__setattr__(self, "resolution", resolution)
        domain = _domain(self.grid_domain, problems, rank)
        if domain is not None:
            object.__setattr__(self, "grid_domain", domain)
        if not isinstance(self.grid_points, str) or self.grid_points not in GRID_POINTS:
            problems.append(f"grid_points must be one of {GRID_POINTS}, got {preview(self.grid_points)}")
        if not isinstance(self.block, str) or self.block not in BLOCKS:
            problems.append(f"block must be one of {BLOCKS}, got {preview(self.block)}")
        elif self.channel_mlp_width and self.block != "neuralop":
            problems.append('a channel MLP (channel_mlp_width > 0) is part of block "neuralop"')
        if self.channel_mlp_skip is True and not self.channel_mlp_width:
            problems.append("channel_mlp_skip needs a channel MLP (channel_mlp_width > 0)")
        fraction = _fractions(self.domain_padding_fraction, problems, rank)
        if fraction is not None:
            object.__setattr__(self, "domain_padding_fraction", fraction)
            if any(fraction) and self.domain_padding:
                problems.append("domain_padding and domain_padding_fraction exclude each other (one must be 0)")
        for name, allowed in (
            ("activation", ACTIVATIONS),
            ("projection_activation", ACTIVATIONS),
            ("padding_mode", PADDING_MODES),
        ):
            if not isinstance(getattr(self, name), str) or getattr(self, name) not in allowed:
                problems.append(f"{name} must be one of {', '.join(allowed)}, got {preview(getattr(self, name))}")
        if self.activation != "gelu" and self.block == "neuralop":
            problems.append('block "neuralop" is GELU throughout: activation must be gelu')
        self._check_padding_axes(rank, problems)
        if problems:
            raise WNOEdgeError("invalid WNO config: " + "; ".join(problems))

    def _check_padding_axes(self, rank: int | None, problems: list[str]) -> None:
        """domain_padding_axes: empty, or one cell count per axis; excludes the other paddings."""
        axes = self.domain_padding_axes
        if isinstance(axes, (str, bytes)) or not hasattr(axes, "__len__"):
            problems.append(f"domain_padding_axes must be a list of integers, got {preview(axes)}")
            return
        if len(axes) == 0:
            object.__setattr__(self, "domain_padding_axes", ())
            return
        padding = _pair(axes, "domain_padding_axes", 0, MAX_RESOLUTION, problems, rank)
        if padding is None:
            return
        object.__setattr__(self, "domain_padding_axes", padding)
        if self.domain_padding:
            problems.append("domain_padding and domain_padding_axes exclude each other (one must be 0)")
        fraction = self.domain_padding_fraction
        if isinstance(fraction, tuple) and any(fraction):
            problems.append("domain_padding_axes and domain_padding_fraction exclude each other")

    @property
    def rank(self) -> int:
        """The spatial rank: 1 (a line, (N, C, X)), 2 ((N, C, H, W)) or 3 ((N, C, D, H, W))."""
        return len(self.modes)

    def paddings(self, h: int, w: int) -> tuple[int, int, int, int]:
        """(top, bottom, left, right) zero padding of the lifted field on an H x W input (2-D)."""
        (top, bottom), (left, right) = self.axis_paddings((h, w))
        return top, bottom, left, right

    def axis_paddings(self, grid: tuple[int, ...]) -> tuple[tuple[int, int], ...]:
        """(before, after) zero padding of the lifted field on each axis of `grid` (H, W) or (X,):
        domain_padding cells after (right/bottom; per axis: domain_padding_axes), or
        neuraloperator's DomainPadding, round(f * n) on both sides (Python's round)."""
        if len(grid) != self.rank:
            raise WNOEdgeError(f"a {self.rank}-D model has no {len(grid)}-D grid {tuple(grid)}")
        if any(self.domain_padding_fraction):
            pads = tuple((round(f * n), round(f * n)) for f, n in zip(self.domain_padding_fraction, grid, strict=True))
        else:
            pads = tuple((0, p) for p in self.domain_padding_axes or (self.domain_padding,) * self.rank)
        if self.padding_mode in ("reflect", "circular"):  # F.pad's limits: a reflection repeats no cell
            extra = {"reflect": 1, "circular": 0}[self.padding_mode]
            for axis, (n, (before, after)) in enumerate(zip(grid, pads, strict=True)):
                if max(before, after) + extra > n:
                    raise WNOEdgeError(
                        f"{self.padding_mode} padding of {max(before, after)} cells needs at least "
                        f"{max(before, after) + extra} points on axis {axis}, got {n}"
                    )
        return pads

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["modes"] = list(self.modes)
        d["resolution"] = list(self.resolution) if self.resolution else None
        # The grid keys are written only when not the default, so a default model's file is
        # what older readers (earlier wno-edge, the native engine's config parser) expect.
        if self.grid_domain == unit_domain(self.rank) and self.grid_points == "endpoints":
            del d["grid_domain"], d["grid_points"]
        else:
            d["grid_domain"] = [list(axis) for axis in self.grid_domain]
        for name in (
            "block",
            "lifting_width",
            "channel_mlp_width",
            "channel_mlp_skip",
            "activation",
            "projection_layers",
            "projection_activation",
            "padding_mode",
        ):
            if d[name] == config_default(name):
                del d[name]
        if self.domain_padding_axes:
            d["domain_padding_axes"] = list(self.domain_padding_axes)
        else:
            del d["domain_padding_axes"]
        if any(self.domain_padding_fraction):
            d["domain_padding_fraction"] = list(self.domain_padding_fraction)
        else:
            del d["domain_padding_fraction"]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> WNOConfig:
        if not isinstance(d, dict):
            raise WNOEdgeError(f"invalid WNO config: expected a mapping, got {type(d).__name__}")
        known = {f.name for f in fields(cls)}
        # str keys only are hashed here: hash() of a pickled tuple key that shares references never returns
        unknown = [k for k in d if not (isinstance(k, str) and k in known)]
        if unknown:
            names = [
                repr(k[:60]) + "..." * (len(k) > 60) if isinstance(k, str) else preview(k, 80) for k in unknown[:4]
            ]
            shown = ", ".join(names[:4]) + (f" and {len(unknown) - 4} more" if len(unknown) > 4 else "")
            raise WNOEdgeError(f"unknown WNO config keys: {shown}")
        missing = [name for name in ("in_channels", "out_channels") if name not in d]
        if missing:
            raise WNOEdgeError(f"invalid WNO config: missing {', '.join(missing)}")
        return cls(**d)


def config_default(name: str) -> Any:
    """WNOConfig's default for a field (training options and CLIs reuse it, never restate it)."""
    return WNOConfig.__dataclass_fields__[name].default
