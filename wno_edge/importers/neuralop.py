"""neuraloperator 2.x FNO -> WNO2d, read without executing anything from the file.

A neuraloperator `FNO` (or `TFNO`) 2-D, 1-D or 3-D state dict (n_modes=(k1, k2), (k,) or
(k1, k2, k3)), saved with
`torch.save(model.state_dict())` or as the pair `save_checkpoint` writes (NAME_state_dict.pt,
NAME_metadata.pkl), carries its init arguments in `_metadata`; those pickle two Python globals
(the activation function and the SpectralConv class), so `torch.load(weights_only=True)`
refuses the file and `weights_only=False` would run whatever it asks. Here the pickle is first
scanned without running it: every global must be one neuraloperator writes (tensor rebuilding,
OrderedDict, the storages, its activation and conv class), else the file is refused with one
line. Then torch's weights-only unpickler loads it with the two neuraloperator globals mapped
to inert names (nothing is imported from neuraloperator, which need not be installed).

The block maps exactly onto a WNO2d (contract.WNOConfig's neuraloperator fields):

    lifting ChannelMLP            lift (+ lift2 with a hidden layer), grid channels "left"
    DomainPadding (symmetric)     domain_padding_fraction
    SpectralConv + bias           spectral (rows re-laid from fftshift order) + pointwise bias
    fno_skip linear/identity/soft-gating/None   pointwise W = the 1x1 matrix / I / diag(w) / 0
    channel_mlp + channel_mlp_skip              mlp1, mlp2, mlp_skip (the skip as a 1x1 matrix)
    projection ChannelMLP         project1, project2

k (the 3x3 kernel) is absent (real_space_kernel=False, the FNO special case) or starts at
zero (real_space_kernel=True), so the imported model computes the same function either way.

A 1-D FNO (n_modes=(k,)) becomes the 1-D WNO2d (WNOConfig.modes=(k // 2 + 1,)): neuraloperator's
SpectralConv keeps the k // 2 + 1 lowest rfft frequencies of a real signal, weight complex
[in, out, k // 2 + 1] in frequency order (no fftshift in 1-D), and its fft_norm="forward" pair
(rfft / n, irfft without 1 / n) is the same product as SpectralConv1d's default pair. The
grid channel is x at the left ends of [0, 1]'s cells, the 1x1 maps become Conv1d weights
(o, i, 1), the 3-tap kernel k replaces the 3x3.

A 3-D FNO (n_modes=(k1, k2, k3)) becomes the 3-D WNO2d (WNOConfig.modes=(ceil(k1 / 2),
ceil(k2 / 2), k3 // 2 + 1)), an FNO only: its weight (in, out, k1, k2, k3 // 2 + 1), D and H
in fftshift order, is re-laid into SpectralConv3d's four corners as the 2-D rows are; the
grid channels are (x, y, z) at the left ends of [0, 1]'s cells along D, H, W, the 1x1 maps
Conv3d weights (o, i, 1, 1, 1). A real-space kernel (--wno) is refused in one line (no 3x3x3
Winograd), and so is any option the 1-D and 2-D imports refuse.
"""

from __future__ import annotations

import itertools
import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from numbers import Integral, Real
from pathlib import Path
from typing import Any

import torch

from ..checkpoint import check_bounded, save_model, scan_pickle
from ..contract import MAX_PICKLE_BYTES, WNOConfig
from ..errors import WNOEdgeError, not_a_file, one_line, preview
from ..model import WNO2d
from ..util.pickle_globals import refuse_foreign_globals

__all__ = [
    "NeuralopImportError",
    "ImportReport",
    "read_neuralop",
    "from_neuralop",
    "import_neuralop",
    "neuralop_config",
    "neuralop_model",
]


class NeuralopImportError(WNOEdgeError):
    pass


# ---- reading the file --------------------------------------------------------------------


class _Name:
    """An inert stand-in for a global the file names (never called: calling it is refused)."""

    def __init__(self, qualname: str):
        self.qualname = qualname

    def __call__(self, *args, **kwargs):
        raise NeuralopImportError(f"the file tries to call {self.qualname}")

    def __repr__(self):
        return self.qualname


GELU = "torch._C._nn.gelu"
SPECTRAL_CONV = "neuralop.layers.spectral_convolution.SpectralConv"
# Activations neuraloperator users pass as non_linearity: read by name so the refusal names the
# option (only GELU is supported); never resolved to the functions themselves.
OTHER_ACTIVATIONS = tuple(
    f"{m}.{f}"
    for m in ("torch", "torch._C._nn", "torch.nn.functional", "torch._C._VariableFunctions")
    for f in (
        "relu",
        "silu",
        "tanh",
        "sigmoid",
        "elu",
        "leaky_relu",
        "softplus",
        "mish",
        "gelu",
        "hardtanh",
        "relu6",
        "selu",
        "celu",
    )
)
_STORAGES = ("Float", "Double", "Half", "BFloat16", "ComplexFloat", "ComplexDouble", "Long", "Int", "Bool")
# Exactly the globals neuraloperator's state dicts and metadata pickles hold; torch's weights-only
# unpickler resolves the first group itself, the names map to inert _Name objects.
TORCH_GLOBALS = frozenset(
    {"collections.OrderedDict", "torch._utils._rebuild_tensor_v2", *(f"torch.{s}Storage" for s in _STORAGES)}
)
NAMED_GLOBALS = frozenset({GELU, SPECTRAL_CONV, *OTHER_ACTIVATIONS})


def _scan_pickle(data: bytes, where: str) -> None:
    """Refuse (one line) a pickle that names any global outside the allow-list; runs nothing."""
    allowed = TORCH_GLOBALS | NAMED_GLOBALS
    refuse_foreign_globals(data, where, allowed, NeuralopImportError, "a neuraloperator checkpoint", _why)
    scan_pickle(data, where, NeuralopImportError)  # a tuple whose hash would never finish


def _why(name: str) -> str:
    """What a refused global most likely is, for the one-line refusal."""
    if name.startswith("neuralop.layers.embeddings."):
        return "a custom positional_embedding module (only 'grid' or None are imported)"
    if name.startswith(("neuralop.", "tltorch.", "tensorly.")):
        return "a neuraloperator object this import does not read (e.g. a custom conv_module or embedding)"
    if name.startswith("torch.nn.modules."):
        return "a torch module in the metadata (e.g. non_linearity=nn.ReLU(); only F.gelu is imported)"
    return "which neuraloperator never writes"


def _load(path: Path):
    """torch.load of a neuraloperator file, after the scan, with neuraloperator's names inert."""
    problem = not_a_file(path)  # a directory is not "missing"; a FIFO must not be opened
    if problem is not None:
        raise NeuralopImportError(str(problem))
    if not zipfile.is_zipfile(path):
        raise NeuralopImportError(f"{path}: not a torch.save file (expected the zip format torch.save writes)")
    try:
        with zipfile.ZipFile(path) as z:
            pickles = [n for n in z.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
            if len(pickles) != 1:
                raise NeuralopImportError(f"{path}: not a torch.save file (no single data.pkl)")
            if z.getinfo(pickles[0]).file_size > MAX_PICKLE_BYTES:
                raise NeuralopImportError(
                    f"{path}: not a torch.save file (its data.pkl is over {MAX_PICKLE_BYTES} bytes)"
                )
            data = z.read(pickles[0])
    except NeuralopImportError:
        raise
    except Exception as e:  # BadZipFile, zlib.error, EOFError, NotImplementedError (compression), OSError
        raise NeuralopImportError(f"{path}: unreadable: truncated or corrupt ({one_line(str(e), 80)})") from None
    _scan_pickle(data, str(path))
    names: list[Callable[..., Any] | tuple[Callable[..., Any], str]] = [(_Name(n), n) for n in sorted(NAMED_GLOBALS)]
    try:
        with torch.serialization.safe_globals(names):
            loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        msg = str(e).split("WeightsUnpickler error:", 1)[-1].split("Check the documentation of torch.load")[0]
        msg = msg.strip().split("\n\n")[-1]  # torch's advice first, the cause last
        raise NeuralopImportError(f"{path}: refused or unreadable: {one_line(msg) or type(e).__name__}") from None
    check_bounded(loaded, str(path), NeuralopImportError)  # before anything compares, prints or walks it
    return loaded


def _pair_paths(src: Path) -> tuple[Path, Path | None]:
    """(state dict file, metadata file or None) for SRC: a state dict, or either file of the pair
    save_checkpoint writes (NAME_state_dict.pt, NAME_metadata.pkl)."""
    name = src.name
    if name.endswith("_metadata.pkl"):
        sd = src.with_name(name[: -len("_metadata.pkl")] + "_state_dict.pt")
        if not sd.is_file():
            raise NeuralopImportError(f"{src}: its state dict {sd.name} is not next to it")
        return sd, src
    if name.endswith("_state_dict.pt"):
        meta = src.with_name(name[: -len("_state_dict.pt")] + "_metadata.pkl")
        return src, meta if meta.is_file() else None
    return src, None


def read_neuralop(src: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict]:
    """(tensors, init metadata) of a neuraloperator FNO file (see the module doc)."""
    sd_path, meta_path = _pair_paths(Path(src))
    sd = _load(sd_path)
    if not isinstance(sd, dict):
        raise NeuralopImportError(f"{sd_path}: not a state dict (a {type(sd).__name__})")
    meta = sd.get("_metadata")
    if meta_path is not None:
        stored = _load(meta_path)
        if not isinstance(stored, dict):
            raise NeuralopImportError(f"{meta_path}: not neuraloperator metadata (a {type(stored).__name__})")
        meta = meta if isinstance(meta, dict) else stored
    if not isinstance(meta, dict):
        raise NeuralopImportError(
            f"{sd_path}: no neuraloperator _metadata (save the model's own state_dict(), "
            "which carries it, or the pair save_checkpoint writes)"
        )
    tensors = {k: v for k, v in sd.items() if k != "_metadata"}
    bad = [k for k, v in tensors.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise NeuralopImportError(f"{sd_path}: {bad[0]} is not a tensor")
    return tensors, meta


# ---- the configuration --------------------------------------------------------------------


def _shown(value) -> str:
    """An option's value for a message: a global by name, a short scalar as Python writes it,
    anything else as a bounded preview (a value from the file may be anything, and huge)."""
    if isinstance(value, _Name):
        return value.qualname
    if value is None or isinstance(value, (bool, float)) or isinstance(value, int) and value.bit_length() < 64:
        return repr(value)
    if isinstance(value, str) and len(value) <= 60 and value.isprintable():
        return repr(value)
    return preview(value, 100)


def _refuse(option: str, value, why: str = "") -> NeuralopImportError:
    return NeuralopImportError(
        f"unsupported neuraloperator option {option}={_shown(value)}" + (f": {why}" if why else "")
    )


def _count(value, lo: int = 1) -> bool:
    """An integer >= lo (not a bool)."""
    return isinstance(value, Integral) and not isinstance(value, bool) and int(value) >= lo


def _number(value) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


# neuralop.models.FNO's defaults (2.0.0): TFNO records only the arguments it was given, FNO all.
FNO_DEFAULTS = dict(
    n_layers=4,
    lifting_channel_ratio=2,
    projection_channel_ratio=2,
    positional_embedding="grid",
    non_linearity=_Name(GELU),
    norm=None,
    complex_data=False,
    use_channel_mlp=True,
    channel_mlp_dropout=0,
    channel_mlp_expansion=0.5,
    channel_mlp_skip="soft-gating",
    fno_skip="linear",
    resolution_scaling_factor=None,
    domain_padding=None,
    fno_block_precision="full",
    stabilizer=None,
    max_n_modes=None,
    factorization=None,
    rank=1.0,
    fixed_rank_modes=False,
    implementation="factorized",
    decomposition_kwargs=None,
    separable=False,
    preactivation=False,
    conv_module=_Name(SPECTRAL_CONV),
)


def _options(meta: dict) -> dict:
    """The init options with neuraloperator's defaults filled in (TFNO: Tucker, rank 0.1)."""
    defaults = dict(FNO_DEFAULTS)
    if meta.get("_name") == "TFNO":
        defaults.update(factorization="Tucker", rank=0.1)
    return {**defaults, **meta}


def _qualname(obj) -> str | None:
    """The global's dotted name: a _Name from a file, or the object of an in-memory state dict."""
    if isinstance(obj, _Name):
        return obj.qualname
    module, name = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    return f"{module}.{name}" if module and name else None


def _check_options(meta: dict) -> None:
    """Refuse (one line naming the option) everything this import does not reproduce exactly."""
    name = meta.get("_name", "FNO")
    if not isinstance(name, str) or name not in ("FNO", "TFNO"):
        raise _refuse("model", name, "only FNO and TFNO are imported")
    args = meta.get("args")  # falsy plain values only: a tensor's truth value raises
    if args is not None and not (isinstance(args, (list, tuple, dict, str, int, float)) and not args):
        raise _refuse("args", args, "positional init arguments are not read")
    n_modes = meta.get("n_modes")
    if not isinstance(n_modes, (list, tuple)) or len(n_modes) not in (1, 2, 3):
        raise _refuse("n_modes", n_modes, "only 1-D, 2-D and 3-D FNOs (one or two mode counts, or three)")
    if not all(_count(m) for m in n_modes):
        raise _refuse("n_modes", n_modes, "one or two positive integers, or three (3-D)")
    for option in ("n_layers", "hidden_channels", "in_channels", "out_channels"):
        if meta.get(option) is not None and not _count(meta[option]):
            raise _refuse(option, meta[option], "a positive integer")
    act = meta.get("non_linearity")
    if _qualname(act) not in (GELU, "torch.nn.functional.gelu"):
        raise _refuse("non_linearity", act, "only GELU (F.gelu)")
    checks = [
        ("complex_data", False),
        ("separable", False),
        ("norm", None),
        ("preactivation", False),
        ("stabilizer", None),
        ("resolution_scaling_factor", None),
        ("max_n_modes", None),
        ("fno_block_precision", "full"),
        ("fixed_rank_modes", False),
    ]
    for option, ok in checks:
        value: Any = meta.get(option, ok)  # anything a file stores
        # == on plain values only: a tensor's == is a tensor, whose truth value raises
        plain = isinstance(value, (list, tuple)) and all(isinstance(m, int) for m in value)
        same_modes = option == "max_n_modes" and plain and list(value) == list(n_modes)
        equal = value is ok or isinstance(value, (bool, int, float, str)) and value == ok
        if not equal and not same_modes:
            raise _refuse(option, value)
    conv = meta.get("conv_module")
    if conv is not None and _qualname(conv) != SPECTRAL_CONV:
        raise _refuse("conv_module", conv, "only SpectralConv")
    embedding = meta.get("positional_embedding", "grid")
    if embedding is not None and not (isinstance(embedding, str) and embedding == "grid"):
        raise _refuse("positional_embedding", embedding, "only 'grid' or None")
    fact = meta.get("factorization")
    if fact is not None and not (isinstance(fact, str) and fact.lower() in ("dense", "tucker", "cp")):
        raise _refuse("factorization", fact, "dense, Tucker and CP weights are imported")
    for option in ("fno_skip", "channel_mlp_skip"):
        value = meta.get(option)
        if value is not None and not (
            isinstance(value, str) and value.lower() in ("linear", "identity", "soft-gating")
        ):
            raise _refuse(option, value)
    pad = meta.get("domain_padding")
    if (
        pad is not None
        and not _number(pad)
        and not (isinstance(pad, (list, tuple)) and len(pad) == len(n_modes) and all(map(_number, pad)))
    ):
        raise _refuse("domain_padding", pad, "a number or one per dimension")


def _padding_fraction(meta: dict, rank: int) -> tuple[float, ...]:
    pad = meta.get("domain_padding")
    none = (0.0,) * rank
    if pad is None:
        return none
    if isinstance(pad, (list, tuple)):
        return tuple(float(p) for p in pad) if sum(pad) > 0 else none
    return (float(pad),) * rank if pad > 0 else none


def _dense_weight(sd: dict, prefix: str, rank: int = 2) -> torch.Tensor:
    """The SpectralConv weight (in, out, m1, m2) (1-D: (in, out, m), 3-D: (in, out, k1, k2, m3)) as one
    dense complex tensor: to_tensor() of tltorch's Dense, Tucker or CP tensor, reconstructed from its
    factors here (float64)."""
    if f"{prefix}.tensor" in sd:
        return sd[f"{prefix}.tensor"]
    found = [sd.get(f"{prefix}.factors.factor_{i}") for i in range(2 + rank)]
    if any(f is None for f in found):
        raise NeuralopImportError(f"the state dict has no weight {prefix} (dense .tensor, or Tucker/CP factors)")
    factors = [f.to(torch.complex128) for f in found if f is not None]
    core, out = "pqrst"[: 2 + rank], "abcde"[: 2 + rank]
    if f"{prefix}.core" in sd:  # Tucker: core x_0 U0 x_1 U1 x_2 U2 (x_3 U3 (x_4 U4))
        terms = ",".join(f"{o}{c}" for o, c in zip(out, core, strict=True))
        return torch.einsum(f"{core},{terms}->{out}", sd[f"{prefix}.core"].to(torch.complex128), *factors)
    if f"{prefix}.weights" in sd:  # CP: sum_r w_r U0[:, r] o U1[:, r] o U2[:, r] (o U3[:, r])
        terms = ",".join(f"{o}z" for o in out)
        return torch.einsum(f"z,{terms}->{out}", sd[f"{prefix}.weights"].to(torch.complex128), *factors)
    raise NeuralopImportError(f"the weight {prefix} is factorized in a way this import does not read")


def _skip_matrix(sd: dict, prefix: str, kind: str | None, width: int) -> torch.Tensor:
    """A skip connection as the (width, width) matrix it applies."""
    kind = None if kind is None else str(kind).lower()
    if kind is None:
        return torch.zeros(width, width)
    if kind == "identity":
        return torch.eye(width)
    if kind == "soft-gating":
        return torch.diag(sd[f"{prefix}.weight"].reshape(width).double()).float()
    return sd[f"{prefix}.conv.weight"].reshape(width, width)


def _get(sd: dict, key: str) -> torch.Tensor:
    if key not in sd:
        raise NeuralopImportError(f"the state dict has no {key}: not the FNO its _metadata describes")
    return sd[key]


def neuralop_config(
    sd: dict,
    meta: dict,
    *,
    real_space_kernel: bool = False,
    winograd_tile: int = 4,
    resolution: tuple[int, ...] | None = None,
) -> WNOConfig:
    """The WNOConfig of a neuraloperator FNO (after the option checks), from its tensors' shapes.
    `resolution`: one length per axis (a 2-D FNO's single length stands for a square)."""
    meta = _options(meta)
    _check_options(meta)
    lift0 = _get(sd, "lifting.fcs.0.weight")
    two_lift = "lifting.fcs.1.weight" in sd
    hidden: Any = meta.get("hidden_channels")  # FNO's required argument: in every file's metadata
    width = int(_get(sd, "fno_blocks.convs.0.bias").shape[0]) if "fno_blocks.convs.0.bias" in sd else int(hidden)
    n_layers = int(meta.get("n_layers", 4))
    grid = meta.get("positional_embedding", "grid") == "grid"
    n_modes = [int(m) for m in meta["n_modes"]]
    rank = len(n_modes)
    if rank == 3 and real_space_kernel:
        raise NeuralopImportError(
            "a 3-D FNO is imported as an FNO only: a 3x3x3 real-space kernel (--wno) has no Winograd path"
        )
    in_channels = int(lift0.shape[1]) - (rank if grid else 0)
    # rows of a 2-D weight: the k1 frequencies around 0 (SpectralConv2d's two corners of
    # ceil(k1 / 2) rows; 3-D: the same on D and H, SpectralConv3d's four corners); the last
    # axis keeps the k // 2 + 1 lowest rfft frequencies
    modes = (*(-(-k // 2) for k in n_modes[:-1]), n_modes[-1] // 2 + 1)
    resolution = _resolution(resolution, rank)
    mlp = "fno_blocks.channel_mlp.0.fcs.0.weight" in sd
    if in_channels != meta.get("in_channels", in_channels) or width != meta.get("hidden_channels", width):
        raise NeuralopImportError("the state dict's shapes contradict its _metadata (in_channels / hidden_channels)")
    try:
        return WNOConfig(
            in_channels=in_channels,
            out_channels=int(_get(sd, "projection.fcs.1.weight").shape[0]),
            width=width,
            modes=modes,
            n_layers=n_layers,
            winograd_tile=winograd_tile,
            real_space_kernel=real_space_kernel,
            domain_padding=0,
            block="neuralop",
            projection_width=int(_get(sd, "projection.fcs.0.weight").shape[0]),
            grid=grid,
            resolution=resolution,
            grid_points="left" if grid else "endpoints",
            lifting_width=int(lift0.shape[0]) if two_lift else 0,
            channel_mlp_width=int(sd["fno_blocks.channel_mlp.0.fcs.0.weight"].shape[0]) if mlp else 0,
            channel_mlp_skip=mlp and meta.get("channel_mlp_skip") is not None,
            domain_padding_fraction=_padding_fraction(meta, rank),
        )
    except WNOEdgeError as e:
        raise NeuralopImportError(str(e)) from None


def _resolution(resolution, rank: int) -> tuple[int, ...] | None:
    """resolution with one length per axis of a rank-`rank` FNO; a single length stands for a
    square in 2-D, a cube in 3-D."""
    if resolution is None:
        return None
    dims = (resolution,) if isinstance(resolution, int) else tuple(resolution)
    if rank > 1 and len(dims) == 1:
        return dims * rank
    if len(dims) != rank:
        shown = "x".join(map(str, dims))
        form = {1: "one length", 2: "HxW", 3: "DxHxW"}[rank]
        raise NeuralopImportError(f"resolution {shown} does not fit a {rank}-D FNO: give {form}")
    return dims


def _spectral_weights(w: torch.Tensor, corner: tuple[int, ...]) -> list[torch.Tensor]:
    """neuraloperator's (in, out, k1, [k2,] m_last) weight, every axis but the last in fftshift
    order (index t is frequency t - k // 2), as the model's corners of `corner` (m1, [m2,])
    rows per axis: 2-D weights1 rows 0..m1-1 (frequencies 0..m1-1), weights2 (-m1..-1); 3-D
    SpectralConv3d's four (D, H) sign pairs in its corner_slices() order (D sign varying
    fastest). A frequency neuraloperator does not keep (-m for an odd k) gets a zero weight:
    the same function."""
    shifted = len(corner)
    corners = [torch.zeros(*w.shape[:2], *corner, w.shape[-1], dtype=torch.complex64) for _ in range(2**shifted)]
    for index in itertools.product(*(range(k) for k in w.shape[2 : 2 + shifted])):
        freqs = [t - k // 2 for t, k in zip(index, w.shape[2 : 2 + shifted], strict=True)]
        which = sum(1 << a for a, f in enumerate(freqs) if f < 0)  # bit a: axis a negative
        rows = tuple(f if f >= 0 else m + f for f, m in zip(freqs, corner, strict=True))
        both: tuple[slice, slice] = (slice(None), slice(None))  # in, out
        corners[which][both + rows] = w[both + tuple(index)]
    return corners


def _mapped_weights(sd: dict, meta: dict, cfg: WNOConfig) -> dict[str, torch.Tensor]:
    """The WNO2d state dict entries of a neuraloperator FNO's tensors (see the module doc)."""
    c, rank = cfg.width, cfg.rank
    # a 1x1 map as the model's Conv2d (o, i, 1, 1) or Conv1d (o, i, 1) weight
    col = lambda t: t.reshape(t.shape[0], t.shape[1], *(1,) * rank)  # noqa: E731
    mapped = {
        "lift.weight": _get(sd, "lifting.fcs.0.weight")[..., 0],
        "lift.bias": _get(sd, "lifting.fcs.0.bias"),
        "project1.weight": _get(sd, "projection.fcs.0.weight")[..., 0],
        "project1.bias": _get(sd, "projection.fcs.0.bias"),
        "project2.weight": _get(sd, "projection.fcs.1.weight")[..., 0],
        "project2.bias": _get(sd, "projection.fcs.1.bias"),
    }
    if cfg.lifting_width:
        mapped.update(
            {"lift2.weight": _get(sd, "lifting.fcs.1.weight")[..., 0], "lift2.bias": _get(sd, "lifting.fcs.1.bias")}
        )
    for i in range(cfg.n_layers):
        blk, out = "fno_blocks", f"layers.{i}"
        w = _dense_weight(sd, f"{blk}.convs.{i}.weight", rank)
        expected = (c, c, *(int(k) for k in meta["n_modes"][:-1]), cfg.modes[-1])
        if tuple(w.shape) != expected:
            raise NeuralopImportError(f"{blk}.convs.{i}.weight has shape {tuple(w.shape)}, n_modes needs {expected}")
        if rank == 1:  # frequencies 0 .. k // 2 in order, as SpectralConv1d keeps them
            mapped[f"{out}.spectral.weights1"] = w.to(torch.complex64)
        else:
            for k, corner in enumerate(_spectral_weights(w, cfg.modes[:-1])):
                mapped[f"{out}.spectral.weights{k + 1}"] = corner
        bias = sd.get(f"{blk}.convs.{i}.bias")
        mapped[f"{out}.pointwise.bias"] = torch.zeros(c) if bias is None else bias.reshape(c)
        mapped[f"{out}.pointwise.weight"] = col(_skip_matrix(sd, f"{blk}.fno_skips.{i}", meta.get("fno_skip"), c))
        if cfg.channel_mlp_width:
            mapped.update(
                {
                    f"{out}.mlp1.weight": col(_get(sd, f"{blk}.channel_mlp.{i}.fcs.0.weight")),
                    f"{out}.mlp1.bias": _get(sd, f"{blk}.channel_mlp.{i}.fcs.0.bias"),
                    f"{out}.mlp2.weight": col(_get(sd, f"{blk}.channel_mlp.{i}.fcs.1.weight")),
                    f"{out}.mlp2.bias": _get(sd, f"{blk}.channel_mlp.{i}.fcs.1.bias"),
                }
            )
            if cfg.channel_mlp_skip:
                mapped[f"{out}.mlp_skip.weight"] = col(
                    _skip_matrix(sd, f"{blk}.channel_mlp_skips.{i}", meta.get("channel_mlp_skip"), c)
                )
    return mapped


def from_neuralop(
    src, *, real_space_kernel: bool = False, winograd_tile: int = 4, resolution: tuple[int, ...] | None = None
) -> WNO2d:
    """A WNO2d that computes the neuraloperator FNO's function (2-D, or the 1-D model for
    n_modes=(k,)). `src`: a path (see read_neuralop) or a state dict with `_metadata`. With
    real_space_kernel=True every layer gains a 3x3 (1-D: 3-tap) kernel k that starts at zero
    (fine-tune it with wno_edge.train)."""
    if isinstance(src, dict):
        sd = {k: v for k, v in src.items() if k != "_metadata"}
        meta = src.get("_metadata")
        if not isinstance(meta, dict):
            raise NeuralopImportError("the state dict has no neuraloperator _metadata")
    else:
        sd, meta = read_neuralop(src)
    meta = _options(meta)
    try:
        cfg = neuralop_config(
            sd, meta, real_space_kernel=real_space_kernel, winograd_tile=winograd_tile, resolution=resolution
        )
        mapped = _mapped_weights(sd, meta, cfg)
    except NeuralopImportError:
        raise
    except (KeyError, IndexError, RuntimeError, ValueError) as e:  # a corrupt file: a tensor missing, of another rank
        raise NeuralopImportError(
            f"the weights do not fit the FNO its _metadata describes ({type(e).__name__}: {one_line(str(e))})"
        ) from None
    model = WNO2d(cfg)
    with torch.no_grad():
        for layer in model.wno_layers:
            if layer.kernel is not None:
                layer.kernel.zero_()
    try:
        missing, unexpected = model.load_state_dict(
            {k: v.detach().float() if not v.is_complex() else v.detach() for k, v in mapped.items()}, strict=False
        )
    except RuntimeError as e:
        raise NeuralopImportError(
            f"the weights do not fit the FNO its _metadata describes: {str(e).splitlines()[-1].strip()[:160]}"
        ) from None
    missing = [k for k in missing if not k.endswith(("kernel", "_mean", "_std"))]
    if missing:
        raise NeuralopImportError(f"the import left {missing[0]} unset (a bug)")
    return model.eval()


# ---- the command ----------------------------------------------------------------------------


# The grid neuraloperator's forward is compared on when neither the file nor the caller names one.
DEFAULT_CHECK_GRID = {1: (256,), 2: (64, 64), 3: (16, 16, 16)}


@dataclass
class ImportReport:
    source: Path
    output: Path | None
    config: WNOConfig
    options: dict = field(default_factory=dict)  # the neuraloperator options that mattered
    reference_error: float | None = None  # max |wno - neuraloperator| / max |neuraloperator|, if checked
    reference_note: str = ""


def neuralop_model(src):
    """neuraloperator's own FNO of a file (neuraloperator installed), built from its checked
    options and loaded with its weights: a reference for export_onnx(..., reference=)."""
    sd, meta = read_neuralop(src)
    meta = _options(meta)
    _check_options(meta)
    fno = _reference_fno(meta, sd)
    if fno is None:
        raise NeuralopImportError("neuraloperator is not installed: pip install 'wno-edge[bench]'")
    return fno


def _reference_fno(meta: dict, sd: dict):
    """neuraloperator's own FNO with these weights (neuraloperator installed), else None. The
    model is built from the checked metadata values; nothing from the file is executed."""
    try:
        from neuralop.models import FNO
    except ImportError:
        return None
    kwargs = {k: v for k, v in meta.items() if k not in ("_name", "_version", "args", "non_linearity", "conv_module")}
    fno = FNO(**kwargs)
    fno.load_state_dict({**sd, "_metadata": {"_version": meta.get("_version")}}, strict=True)
    return fno.eval()


def import_neuralop(
    src: str | os.PathLike,
    output: str | os.PathLike | None,
    *,
    real_space_kernel: bool = False,
    winograd_tile: int = 4,
    resolution: tuple[int, ...] | None = None,
    check_resolution: tuple[int, ...] | None = None,
    seed: int = 0,
) -> ImportReport:
    """Read SRC, build the WNO2d, compare it with neuraloperator's own forward when neuraloperator
    is installed (at `check_resolution`, else `resolution`, else DEFAULT_CHECK_GRID: 64x64, a 1-D FNO
    256 points, a 3-D FNO 16x16x16),
    write `output` (a wno-edge checkpoint) atomically; nothing is written when the comparison fails."""
    src = Path(src)
    if output is not None:  # no output replaces what it reads (either file of a save_checkpoint pair)
        from ..util.io import refuse_overwrite

        refuse_overwrite(output, src, *_pair_paths(src))
    sd, meta = read_neuralop(src)
    meta = _options(meta)
    model = from_neuralop(
        {**sd, "_metadata": meta},
        real_space_kernel=real_space_kernel,
        winograd_tile=winograd_tile,
        resolution=resolution,
    )
    cfg = model.config
    report = ImportReport(
        src,
        Path(output) if output is not None else None,
        cfg,
        options={
            k: meta.get(k)
            for k in (
                "n_modes",
                "hidden_channels",
                "n_layers",
                "factorization",
                "fno_skip",
                "use_channel_mlp",
                "channel_mlp_skip",
                "positional_embedding",
                "domain_padding",
            )
        },
    )
    grid = _resolution(check_resolution, cfg.rank) or cfg.resolution or DEFAULT_CHECK_GRID[cfg.rank]
    shown = "x".join(map(str, grid)) + (" points" if cfg.rank == 1 else "")
    try:
        fno = _reference_fno(meta, sd)
    except Exception as e:  # neuraloperator's own constructor/loader disagreeing: report, do not block
        fno, report.reference_note = None, f"neuraloperator could not rebuild the model ({str(e)[:100]})"
    if fno is None:
        report.reference_note = report.reference_note or "neuraloperator is not installed: not compared"
    else:
        x = torch.randn(2, cfg.in_channels, *grid, generator=torch.Generator().manual_seed(seed))
        with torch.no_grad():
            ref, got = fno(x), model.set_conv(None)(x)
            model.set_conv(winograd_tile)
        report.reference_error = float((got - ref).abs().max() / ref.abs().max().clamp_min(1e-30))
        report.reference_note = f"2 random inputs at {shown}"
        if not report.reference_error <= 1e-5:
            raise NeuralopImportError(
                f"the imported model differs from neuraloperator's by {report.reference_error:.2e} "
                f"of the output scale at {shown} (limit 1e-5); nothing written"
            )
    if output is not None:
        save_model(
            model,
            output,
            {
                "imported_from": f"neuraloperator {meta.get('_name', 'FNO')}: {src.name}",
                "neuralop_options": {k: str(v) for k, v in report.options.items()},
            },
        )
    return report
