"""NVIDIA PhysicsNeMo FNO checkpoints (.mdlus), read as data: nothing they name is imported or run.

    from wno_edge.importers.physicsnemo import import_physicsnemo, read_checkpoint
    ckpt = read_checkpoint("FNO.mdlus")    # .args (FNOArgs), .metadata, .state_dict
    import_physicsnemo("FNO.mdlus", "fno.pt")    # a wno-edge checkpoint (the mapping: below)

A checkpoint written by PhysicsNeMo's `Module.save` is a zip (ZIP_STORED) of exactly three
members, or, from `save(legacy_format=True)` and every Modulus release, an uncompressed tar of
the same three:

    args.json      {"__name__": "FNO", "__module__": "physicsnemo.models.fno.fno",
                    "__args__": {the FNO constructor's arguments, defaults included}}
    metadata.json  {"physicsnemo_version" (Modulus: "modulus_version"), "mdlus_file_version": "0.1.0",
                    optionally "git_hash"}
    model.pt       torch.save(model.state_dict())

PhysicsNeMo loads one by importing whatever module args.json names (physicsnemo/core/module.py,
Module._get_class_from_args, which also maps a leading "modulus." to "physicsnemo.") and
unpickling model.pt with torch.load's defaults. Here instead:

- the archive is checked before anything is read from it: exactly the three member names (no
  missing, extra or duplicate member, no absolute name or ".."), tar members regular files
  only (no links, devices, FIFOs, directories, sparse files), zip members stored or deflated,
  unencrypted, at most MAX_COMPRESSION_RATIO-fold; the declared sizes bounded (below);
- args.json and metadata.json are read as JSON data under the config grammar's limits
  (util.bounded_json with contract.CONFIG_JSON: MAX_CONFIG_BYTES = 64 KiB, 16 levels, 256 items per
  object or array, no duplicate keys, no NaN);
- the class must be one of ALLOWED_CLASSES (PhysicsNeMo's FNO and its Modulus name), compared as
  strings; every constructor argument must be known, of its type and within range, else one line
  naming it;
- the arguments fix the state dict exactly (state_dict_shapes): its parameter count is bounded
  by MAX_PARAMETERS, and model.pt may declare no more bytes than those tensors need in float64
  plus torch.save's framing (model_pt_limit);
- model.pt must be a torch.save zip with stored members only; its pickle is scanned (opcodes
  only) for globals outside TORCH_GLOBALS and for tuples too costly to hash, then loaded with
  torch.load(weights_only=True); the result must be exactly the expected tensors, floating
  point, finite, of the expected shapes.

Every refusal is a PhysicsNemoImportError (a WNOEdgeError): one line naming the file.

Regenerate the committed fixtures (tests/fixtures/physicsnemo, made by PhysicsNeMo itself) with
`make physicsnemo-fixtures`: it creates a venv of its own (/tmp/pnemo-venv, `pip install
nvidia-physicsnemo`, about 5.5 GB with its CUDA torch) and runs tools/make_physicsnemo_fixtures.py.

What the mapping onto wno-edge's model needs (physicsnemo/models/fno/fno.py and
physicsnemo/nn/module/{fno_layers,spectral_layers,fully_connected_layers}.py, PhysicsNeMo
2.2, the same layout as Modulus' models/fno/fno.py). d = dimension (1, 2, 3), w =
latent_channels, k = (1,) * d (a 1x1 conv's kernel), m = modes (one per axis):

    coordinates  coord_features: d channels after the inputs, linspace(0, 1, n) along each axis
                 (meshgrid "ij": x along the first spatial axis) = WNOConfig grid=True,
                 grid_points "endpoints", the unit domain
    lift         spec_encoder.lift_network.0.conv.weight (w // 2, in_channels + d * coord, *k), .bias
                 activation_fn
                 spec_encoder.lift_network.2.conv.weight (w, w // 2, *k), .bias
                 = WNOConfig lifting_width w // 2 (lift, lift2)
    padding      after the lift: padding[a] cells at the end (right / bottom) of spatial axis a,
                 F.pad mode padding_type (constant = zeros, reflect, replicate, circular);
                 cropped after the last layer
    layer i      spec_encoder.spconv_layers.i.weights1..2**(d-1) (w, w, *m, 2): real and imaginary
                 parts (torch.view_as_complex), in the corner order of wno-edge's SpectralConv
                 1-D weights1 frequencies 0..m-1; 2-D weights1 rows 0..m1-1, weights2 rows -m1..-1;
                 3-D weights1 (D+, H+), weights2 (D-, H+), weights3 (D+, H-), weights4 (D-, H-)
                 spec_encoder.conv_layers.i.weight (w, w, *k), .bias = the pointwise W and bias
                 activation_fn after the sum of every layer but the last
    decoder      per point: decoder_net.layers.j.linear.weight (size, w if j == 0 else size), .bias
                 for j < decoder_layers, each followed by decoder_activation_fn[j] (default
                 SiLU); decoder_net.final_layer.linear.weight (out_channels, size), .bias
    activations  "prelu", "stan", "capped_gelu", "cappek_leaky_relu" carry tensors
                 (ACTIVATION_STATE): activation_fn.*, spec_encoder.activation_fn.* and
                 spec_encoder.lift_network.1.* (one module, three names) and
                 decoder_net.layers.j.activation_fn.*

The mapping (import_physicsnemo, `wno-edge import-physicsnemo`): an FNO on WNO2d with
real_space_kernel false (the pointwise W alone), block "wno" (activation after every layer but
the last, as PhysicsNeMo), lifting_width w // 2, activation = activation_fn, grid =
coord_features (endpoints of the unit domain: the defaults), padding_mode = padding_type,
domain_padding = padding when equal on every axis, else domain_padding_axes; projection_width
= decoder_layer_size, projection_layers = decoder_layers (0 included), projection_activation =
decoder_activation_fn. Refused in one line naming the argument: an activation_fn or
decoder_activation_fn other than gelu and silu (prelu, stan, capped_gelu... carry tensors wno-edge
has no place for), and decoder activations that differ between layers. PhysicsNeMo adds the two
2-D corners (and the four 3-D ones) where they overlap (2 * m1 > padded H); wno-edge refuses
such a grid (at import when -r gives it, else at export).
"""

from __future__ import annotations

import io
import math
import os
import re
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from ..checkpoint import check_bounded, save_model, scan_pickle
from ..contract import ACTIVATIONS as MAPPED_ACTIVATIONS
from ..contract import (
    CONFIG_JSON,
    MAX_CHANNELS,
    MAX_CONFIG_BYTES,
    MAX_LAYERS,
    MAX_MODES,
    MAX_PICKLE_BYTES,
    MAX_RESOLUTION,
    MAX_WIDTH,
    WNOConfig,
)
from ..errors import WNOEdgeError, not_a_file, one_line, preview
from ..model import WNO2d, check_state_dict
from ..util.bounded_json import parse_bounded_json
from ..util.io import refuse_overwrite
from ..util.pickle_globals import refuse_foreign_globals

__all__ = [
    "PhysicsNemoImportError",
    "FNOArgs",
    "PhysicsNemoCheckpoint",
    "read_checkpoint",
    "state_dict_shapes",
    "ALLOWED_CLASSES",
    "ImportReport",
    "physicsnemo_config",
    "from_physicsnemo",
    "import_physicsnemo",
]


class PhysicsNemoImportError(WNOEdgeError):
    pass


# (__module__, __name__) of the one class read: PhysicsNeMo's FNO, and its name in Modulus
# checkpoints (which PhysicsNeMo maps to the first).
ALLOWED_CLASSES = frozenset({("physicsnemo.models.fno.fno", "FNO"), ("modulus.models.fno.fno", "FNO")})
MEMBERS = ("args.json", "metadata.json", "model.pt")
MDLUS_FILE_VERSIONS = ("0.1.0",)  # the only one PhysicsNeMo and Modulus have written

# ---- limits ---------------------------------------------------------------------------------
# Above any FNO one would deploy: PhysicsNeMo's 2-D default (latent 32, 16 modes, 4 layers) has
# 4.2 M parameters, a 3-D FNO of latent 64 and 16 modes per axis 537 M.
MAX_PARAMETERS = 1 << 30  # 4 GiB of float32 weights
MAX_DIMENSION = 3  # wno-edge models are 1-, 2- or 3-D (PhysicsNeMo also has a 4-D FNO)
MAX_COMPRESSION_RATIO = 100  # a deflated member; PhysicsNeMo stores them (ratio 1)
MAX_MEMBERS = 16  # archive entries looked at before refusing the rest
_FRAMING_BYTES = 1 << 16  # torch.save's zip framing and pickle, beyond the tensors' bytes
_FRAMING_PER_TENSOR = 1 << 10
_ARCHIVE_SLACK = 1 << 20  # headers of the outer archive (a tar pads to 10 KiB records)

# torch.save of a state dict names only these globals (torch's weights-only unpickler resolves them).
TORCH_GLOBALS = frozenset(
    {
        "collections.OrderedDict",
        "torch._utils._rebuild_tensor_v2",
        *(f"torch.{s}Storage" for s in ("Float", "Double", "Half", "BFloat16")),
    }
)
FLOAT_DTYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16)

# physicsnemo/nn/module/activations.py ACT2FN (get_activation lower-cases the name first).
ACTIVATIONS = (
    "relu",
    "leaky_relu",
    "prelu",
    "relu6",
    "elu",
    "celu",
    "selu",
    "silu",
    "gelu",
    "sin",
    "sigmoid",
    "logsigmoid",
    "softplus",
    "softshrink",
    "softsign",
    "tanh",
    "tanhshrink",
    "threshold",
    "hardtanh",
    "identity",
    "stan",
    "squareplus",
    "cappek_leaky_relu",
    "capped_gelu",
)
# The tensors an activation module holds (get_activation builds each with its defaults):
# nn.PReLU() weight (1,), Stan() beta (1,), CappedGELU / CappedLeakyReLU buffer cap ().
ACTIVATION_STATE: dict[str, dict[str, tuple[int, ...]]] = {
    "prelu": {"weight": (1,)},
    "stan": {"beta": (1,)},
    "capped_gelu": {"cap": ()},
    "cappek_leaky_relu": {"cap": ()},
}
PADDING_TYPES = ("constant", "reflect", "replicate", "circular")  # F.pad's modes


# ---- the result -------------------------------------------------------------------------------


@dataclass(frozen=True)
class FNOArgs:
    """PhysicsNeMo's FNO constructor arguments, checked, with the per-axis values its encoder
    derives from them."""

    in_channels: int
    out_channels: int
    dimension: int
    latent_channels: int
    num_fno_layers: int
    modes: tuple[int, ...]  # one per spatial axis (num_fno_modes as the encoder reads it)
    padding: tuple[int, ...]  # cells added at the end of each spatial axis
    padding_type: str
    activation_fn: str  # lower case, a name of ACTIVATIONS
    coord_features: bool
    decoder_layers: int
    decoder_layer_size: int
    decoder_activation_fn: tuple[str, ...]  # one per decoder hidden layer


@dataclass(frozen=True)
class PhysicsNemoCheckpoint:
    path: Path
    layout: str  # "zip" (Module.save) or "tar" (legacy_format=True, Modulus)
    class_path: str  # as the file names it: "physicsnemo.models.fno.fno.FNO" or "modulus.models.fno.fno.FNO"
    args: FNOArgs
    raw_args: dict[str, Any]  # args.json's "__args__" as written
    metadata: dict[str, Any]  # metadata.json
    state_dict: dict[str, torch.Tensor]  # exactly state_dict_shapes(args), as stored


# ---- the constructor arguments ------------------------------------------------------------------
# FNO.__init__'s arguments and defaults (Module.save writes them all; defaults fill a hand-made file).
FNO_DEFAULTS: dict[str, Any] = dict(
    decoder_layers=1,
    decoder_layer_size=32,
    decoder_activation_fn="silu",
    dimension=2,
    latent_channels=32,
    num_fno_layers=4,
    num_fno_modes=16,
    padding=8,
    padding_type="constant",
    activation_fn="gelu",
    coord_features=True,
)
REQUIRED_ARGS = ("in_channels", "out_channels")
# (lowest, highest) of each integer argument
INT_RANGES = {
    "in_channels": (1, MAX_CHANNELS),
    "out_channels": (1, MAX_CHANNELS),
    "decoder_layers": (0, MAX_LAYERS),
    "decoder_layer_size": (1, MAX_WIDTH),
    "dimension": (1, MAX_DIMENSION),
    "latent_channels": (2, MAX_WIDTH),  # the lift's first layer has latent_channels // 2 channels
    "num_fno_layers": (1, MAX_LAYERS),
}
MAX_LIST = 4  # num_fno_modes / padding lists: PhysicsNeMo reads at most 4 (its 4-D FNO)


def _shown(value: Any) -> str:
    if isinstance(value, (bool, int, float)) and not (isinstance(value, int) and value.bit_length() > 64):
        return repr(value)
    if isinstance(value, str) and len(value) <= 40 and value.isprintable():
        return repr(value)
    return preview(value, 80)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _per_axis(name: str, value: Any, lo: int, hi: int, where: str) -> list[int]:
    """An int, or a list of 1..MAX_LIST ints, each in [lo, hi]."""
    items = value if isinstance(value, list) else [value]
    if not (1 <= len(items) <= MAX_LIST) or not all(_is_int(v) and lo <= v <= hi for v in items):
        raise PhysicsNemoImportError(
            f"{where}: unsupported FNO argument {name}={_shown(value)}: an integer in [{lo}, {hi}] "
            f"or a list of 1 to {MAX_LIST} of them"
        )
    return list(items)


def _activation(name: str, value: Any, where: str) -> str:
    if not isinstance(value, str) or value.lower() not in ACTIVATIONS:
        raise PhysicsNemoImportError(
            f"{where}: unsupported FNO argument {name}={_shown(value)}: not an activation PhysicsNeMo names"
        )
    return value.lower()


def check_args(raw: Any, where: str) -> FNOArgs:
    """FNOArgs of args.json's "__args__", or one line naming the first argument refused."""
    if not isinstance(raw, dict):
        raise PhysicsNemoImportError(f"{where}: __args__ is {preview(raw, 60)}, not an object of arguments")
    for name in raw:
        if name not in FNO_DEFAULTS and name not in REQUIRED_ARGS:
            raise PhysicsNemoImportError(
                f"{where}: unknown FNO argument {_shown(name)} (PhysicsNeMo's FNO takes "
                f"{', '.join((*REQUIRED_ARGS, *FNO_DEFAULTS))})"
            )
    for name in REQUIRED_ARGS:
        if name not in raw:
            raise PhysicsNemoImportError(f"{where}: the FNO argument {name} is missing")
    args = {**FNO_DEFAULTS, **raw}
    for name, (lo, hi) in INT_RANGES.items():
        value = args[name]
        if not _is_int(value) or not lo <= value <= hi:
            why = "wno-edge models are 1-, 2- or 3-D" if name == "dimension" else f"an integer in [{lo}, {hi}]"
            raise PhysicsNemoImportError(f"{where}: unsupported FNO argument {name}={_shown(value)}: {why}")
    d = args["dimension"]
    modes = _per_axis("num_fno_modes", args["num_fno_modes"], 1, MAX_MODES, where)
    if _is_int(args["num_fno_modes"]):
        modes = modes * d
    if len(modes) < d:  # the encoder reads num_fno_modes[0 .. d-1]
        raise PhysicsNemoImportError(
            f"{where}: unsupported FNO argument num_fno_modes={_shown(args['num_fno_modes'])}: "
            f"a {d}-D FNO needs {d} mode counts"
        )
    padding = _per_axis("padding", args["padding"], 0, MAX_RESOLUTION, where)
    if _is_int(args["padding"]):
        padding = padding * d
    padding = (padding + [0] * d)[:d]  # FNO2D/3DEncoder: padding + [0, 0(, 0)], the first d
    padding_type = args["padding_type"]
    if not isinstance(padding_type, str) or padding_type not in PADDING_TYPES:
        raise PhysicsNemoImportError(
            f"{where}: unsupported FNO argument padding_type={_shown(padding_type)}: one of {', '.join(PADDING_TYPES)}"
        )
    if not isinstance(args["coord_features"], bool):
        raise PhysicsNemoImportError(
            f"{where}: unsupported FNO argument coord_features={_shown(args['coord_features'])}: true or false"
        )
    layers, size, latent = args["decoder_layers"], args["decoder_layer_size"], args["latent_channels"]
    decoder_act = args["decoder_activation_fn"]
    if isinstance(decoder_act, list):  # FullyConnected: one per layer, the last repeated
        if not 1 <= len(decoder_act) <= max(layers, 1):
            raise PhysicsNemoImportError(
                f"{where}: unsupported FNO argument decoder_activation_fn={_shown(decoder_act)}: "
                f"a name or a list of 1 to decoder_layers={layers} names"
            )
        names = [_activation("decoder_activation_fn", a, where) for a in decoder_act]
    else:
        names = [_activation("decoder_activation_fn", decoder_act, where)]
    names = (names + names[-1:] * layers)[:layers]
    if layers == 0 and size != latent:  # the decoder's last layer then reads the latent channels
        raise PhysicsNemoImportError(
            f"{where}: unsupported FNO argument decoder_layers=0 with decoder_layer_size={size}: "
            f"PhysicsNeMo's decoder then needs decoder_layer_size == latent_channels ({latent})"
        )
    return FNOArgs(
        in_channels=args["in_channels"],
        out_channels=args["out_channels"],
        dimension=d,
        latent_channels=latent,
        num_fno_layers=args["num_fno_layers"],
        modes=tuple(modes[:d]),
        padding=tuple(padding),
        padding_type=padding_type,
        activation_fn=_activation("activation_fn", args["activation_fn"], where),
        coord_features=args["coord_features"],
        decoder_layers=layers,
        decoder_layer_size=size,
        decoder_activation_fn=tuple(names),
    )


def state_dict_shapes(args: FNOArgs) -> dict[str, tuple[int, ...]]:
    """Every key of the FNO's state dict and its shape (see the module docstring)."""
    d, w, k = args.dimension, args.latent_channels, (1,) * args.dimension
    lift_in = args.in_channels + (d if args.coord_features else 0)
    shapes: dict[str, tuple[int, ...]] = {}
    for module in ("activation_fn", "spec_encoder.activation_fn", "spec_encoder.lift_network.1"):
        for name, shape in ACTIVATION_STATE.get(args.activation_fn, {}).items():
            shapes[f"{module}.{name}"] = shape
    lift = "spec_encoder.lift_network"
    shapes.update(
        {
            f"{lift}.0.conv.weight": (w // 2, lift_in, *k),
            f"{lift}.0.conv.bias": (w // 2,),
            f"{lift}.2.conv.weight": (w, w // 2, *k),
            f"{lift}.2.conv.bias": (w,),
        }
    )
    for i in range(args.num_fno_layers):
        for corner in range(1, 2 ** (d - 1) + 1):
            shapes[f"spec_encoder.spconv_layers.{i}.weights{corner}"] = (w, w, *args.modes, 2)
        shapes[f"spec_encoder.conv_layers.{i}.weight"] = (w, w, *k)
        shapes[f"spec_encoder.conv_layers.{i}.bias"] = (w,)
    features = w
    for j, act in enumerate(args.decoder_activation_fn):
        shapes[f"decoder_net.layers.{j}.linear.weight"] = (args.decoder_layer_size, features)
        shapes[f"decoder_net.layers.{j}.linear.bias"] = (args.decoder_layer_size,)
        for name, shape in ACTIVATION_STATE.get(act, {}).items():
            shapes[f"decoder_net.layers.{j}.activation_fn.{name}"] = shape
        features = args.decoder_layer_size
    shapes["decoder_net.final_layer.linear.weight"] = (args.out_channels, features)
    shapes["decoder_net.final_layer.linear.bias"] = (args.out_channels,)
    return shapes


def model_pt_limit(shapes: dict[str, tuple[int, ...]]) -> int:
    """The most bytes model.pt may declare: the tensors in float64, and torch.save's framing."""
    return 8 * sum(math.prod(s) for s in shapes.values()) + _FRAMING_BYTES + _FRAMING_PER_TENSOR * len(shapes)


# ---- the archive ----------------------------------------------------------------------------------

_DRIVE = re.compile(r"^[A-Za-z]:")
# the largest archive any accepted checkpoint can be: MAX_PARAMETERS float64 tensors, two JSONs
MAX_ARCHIVE_BYTES = 8 * MAX_PARAMETERS + 2 * MAX_CONFIG_BYTES + _ARCHIVE_SLACK + (1 << 24)


def _check_name(name: str, where: str) -> None:
    shown = _shown(name)
    if not name.isprintable():
        raise PhysicsNemoImportError(f"{where}: refused: the member name {shown} holds control characters")
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or _DRIVE.match(name):
        raise PhysicsNemoImportError(f"{where}: refused: the member name {shown} is an absolute path")
    if ".." in parts:
        raise PhysicsNemoImportError(f"{where}: refused: the member name {shown} climbs out of the archive ('..')")


def _check_member_set(names: list[str], where: str) -> None:
    for name in names:
        _check_name(name, where)
    for name in names:
        if names.count(name) > 1:
            raise PhysicsNemoImportError(f"{where}: refused: the member {_shown(name)} appears twice")
    extra = [n for n in names if n not in MEMBERS]
    if extra:
        raise PhysicsNemoImportError(
            f"{where}: refused: an extra member {_shown(extra[0])} (a checkpoint holds {', '.join(MEMBERS)})"
        )
    missing = [n for n in MEMBERS if n not in names]
    if missing:
        raise PhysicsNemoImportError(f"{where}: not a PhysicsNeMo checkpoint: no {missing[0]} member")


Reader = Callable[[str, int], bytes]  # (member, the most bytes it may declare) -> its bytes


def _refuse_size(where: str, name: str, size: int, limit: int) -> PhysicsNemoImportError:
    return PhysicsNemoImportError(
        f"{where}: refused: {name} declares {size} bytes, over the {limit} this checkpoint can need"
    )


def _open_zip(path: Path, where: str, stack: ExitStack) -> Reader:
    archive = stack.enter_context(zipfile.ZipFile(path))
    infos = archive.infolist()
    if len(infos) > MAX_MEMBERS:
        raise PhysicsNemoImportError(f"{where}: refused: {len(infos)} members (a checkpoint holds {len(MEMBERS)})")
    _check_member_set([i.filename for i in infos], where)
    total = 0
    for info in infos:
        name = info.filename
        if info.flag_bits & 0x1:
            raise PhysicsNemoImportError(f"{where}: refused: {name} is encrypted")
        if info.compress_type == zipfile.ZIP_STORED:
            if info.compress_size != info.file_size:
                raise PhysicsNemoImportError(f"{where}: refused: {name} is stored, yet its sizes differ")
        elif info.compress_type == zipfile.ZIP_DEFLATED:
            if info.file_size > MAX_COMPRESSION_RATIO * max(info.compress_size, 1):
                raise PhysicsNemoImportError(
                    f"{where}: refused: {name} would inflate {info.file_size} bytes from {info.compress_size} "
                    f"(over {MAX_COMPRESSION_RATIO}-fold: a zip bomb)"
                )
        else:
            raise PhysicsNemoImportError(
                f"{where}: refused: {name} uses zip compression method {info.compress_type} "
                "(PhysicsNeMo stores members; deflate is read too)"
            )
        total += info.file_size
    if total > MAX_ARCHIVE_BYTES:
        raise PhysicsNemoImportError(
            f"{where}: refused: its members declare {total} bytes in all, over {MAX_ARCHIVE_BYTES} (a zip bomb)"
        )
    by_name = {i.filename: i for i in infos}

    def read(name: str, limit: int) -> bytes:
        info = by_name[name]
        if info.file_size > limit:
            raise _refuse_size(where, name, info.file_size, limit)
        with archive.open(info) as f:
            data = f.read(info.file_size + 1)  # the declared size bounds the read: zipfile stops there
        if len(data) != info.file_size:
            raise PhysicsNemoImportError(f"{where}: unreadable: {name} is not the size its header declares")
        return data

    return read


_TAR_KINDS = (
    (tarfile.TarInfo.issym, "a symbolic link"),
    (tarfile.TarInfo.islnk, "a hard link"),
    (tarfile.TarInfo.ischr, "a character device"),
    (tarfile.TarInfo.isblk, "a block device"),
    (tarfile.TarInfo.isfifo, "a FIFO"),
    (tarfile.TarInfo.isdir, "a directory"),
    (tarfile.TarInfo.issparse, "a sparse file"),
)


def _open_tar(path: Path, where: str, stack: ExitStack) -> Reader:
    try:  # uncompressed, as PhysicsNeMo writes: a compressed stream could inflate without bound
        archive = stack.enter_context(tarfile.open(path, "r:"))  # noqa: SIM115 (closed by the caller's stack)
    except tarfile.ReadError:
        raise PhysicsNemoImportError(
            f"{where}: refused: a compressed tar (PhysicsNeMo writes an uncompressed one)"
        ) from None
    members: list[tarfile.TarInfo] = []
    while (member := archive.next()) is not None:
        if len(members) == MAX_MEMBERS:
            raise PhysicsNemoImportError(f"{where}: refused: over {MAX_MEMBERS} members (a checkpoint holds 3)")
        _check_name(member.name, where)
        if member.type not in (tarfile.REGTYPE, tarfile.AREGTYPE):
            kind = next((words for test, words in _TAR_KINDS if test(member)), f"of tar type {member.type!r}")
            raise PhysicsNemoImportError(f"{where}: refused: the member {_shown(member.name)} is {kind}, not a file")
        members.append(member)
    _check_member_set([m.name for m in members], where)
    total = sum(m.size for m in members)
    if total > MAX_ARCHIVE_BYTES:
        raise PhysicsNemoImportError(
            f"{where}: refused: its members declare {total} bytes in all, over {MAX_ARCHIVE_BYTES}"
        )
    by_name = {m.name: m for m in members}

    def read(name: str, limit: int) -> bytes:
        member = by_name[name]
        if member.size > limit:
            raise _refuse_size(where, name, member.size, limit)
        f = archive.extractfile(member)
        data = f.read(member.size) if f is not None else b""
        if len(data) != member.size:
            raise PhysicsNemoImportError(f"{where}: unreadable: {name} is cut short")
        return data

    return read


def _json(data: bytes, where: str, name: str) -> Any:
    if len(data) > MAX_CONFIG_BYTES:
        raise _refuse_size(where, name, len(data), MAX_CONFIG_BYTES)
    try:
        return parse_bounded_json(data.decode("utf-8"), CONFIG_JSON)
    except (ValueError, UnicodeDecodeError) as e:  # json.JSONDecodeError and the grammar's refusals
        raise PhysicsNemoImportError(f"{where}: {name} is not readable JSON data ({one_line(str(e), 120)})") from None


def _class_path(value: Any, where: str) -> str:
    """args.json's class, checked against ALLOWED_CLASSES as strings (nothing is imported)."""
    if not isinstance(value, dict):
        raise PhysicsNemoImportError(f"{where}: args.json holds {preview(value, 60)}, not an object")
    for key in value:
        if key not in ("__name__", "__module__", "__args__"):
            raise PhysicsNemoImportError(
                f"{where}: refused: args.json has the entry {_shown(key)}, which an FNO checkpoint never has"
            )
    module, name = value.get("__module__"), value.get("__name__")
    if not isinstance(module, str) or not isinstance(name, str) or (module, name) not in ALLOWED_CLASSES:
        shown = f"{module}.{name}" if isinstance(module, str) and isinstance(name, str) else f"{module!r}, {name!r}"
        raise PhysicsNemoImportError(
            f"{where}: refused: args.json names the class {_shown(shown)}; only PhysicsNeMo's FNO "
            "(physicsnemo.models.fno.fno.FNO, or modulus.models.fno.fno.FNO) is read (nothing was imported)"
        )
    if "__args__" not in value:
        raise PhysicsNemoImportError(f"{where}: args.json has no __args__")
    return f"{module}.{name}"


def _check_metadata(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PhysicsNemoImportError(f"{where}: metadata.json holds {preview(value, 60)}, not an object")
    version = value.get("mdlus_file_version")
    if version not in MDLUS_FILE_VERSIONS:
        raise PhysicsNemoImportError(
            f"{where}: unsupported mdlus_file_version {_shown(version)} in metadata.json "
            f"(read: {', '.join(MDLUS_FILE_VERSIONS)})"
        )
    for key in ("physicsnemo_version", "modulus_version", "git_hash"):
        if key in value and value[key] is not None and not isinstance(value[key], str):
            raise PhysicsNemoImportError(f"{where}: metadata.json's {key} is {preview(value[key], 60)}, not a string")
    return value


# ---- model.pt -------------------------------------------------------------------------------------


def _state_dict(data: bytes, where: str, shapes: dict[str, tuple[int, ...]]) -> dict[str, torch.Tensor]:
    """model.pt's tensors: the torch.save archive checked, its pickle scanned, then loaded weights-only."""
    where = f"{where}: model.pt"
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as inner:
            infos = inner.infolist()
            if len(infos) > len(shapes) + MAX_MEMBERS:
                raise PhysicsNemoImportError(f"{where}: refused: {len(infos)} records for {len(shapes)} tensors")
            for info in infos:
                if info.compress_type != zipfile.ZIP_STORED or info.compress_size != info.file_size:
                    raise PhysicsNemoImportError(
                        f"{where}: refused: the record {_shown(info.filename)} is compressed "
                        "(torch.save stores its records)"
                    )
            pickles = [i for i in infos if i.filename == "data.pkl" or i.filename.endswith("/data.pkl")]
            if len(pickles) != 1:
                raise PhysicsNemoImportError(f"{where}: not a torch.save file (no single data.pkl)")
            if pickles[0].file_size > MAX_PICKLE_BYTES:
                raise _refuse_size(where, "data.pkl", pickles[0].file_size, MAX_PICKLE_BYTES)
            pickle_bytes = inner.read(pickles[0])
    except PhysicsNemoImportError:
        raise
    except Exception as e:  # BadZipFile, zlib.error, EOFError, OSError
        raise PhysicsNemoImportError(f"{where}: not a torch.save file ({one_line(str(e), 80)})") from None
    refuse_foreign_globals(
        pickle_bytes,
        where,
        TORCH_GLOBALS,
        PhysicsNemoImportError,
        "a PhysicsNeMo state dict",
        lambda name: (
            "code to run, not data" if name.split(".")[0] in ("os", "posix", "nt", "subprocess", "builtins") else ""
        ),
    )
    scan_pickle(pickle_bytes, where, PhysicsNemoImportError)  # a tuple whose hash would never finish
    try:
        loaded = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as e:
        msg = str(e).split("WeightsUnpickler error:", 1)[-1].split("Check the documentation of torch.load")[0]
        raise PhysicsNemoImportError(f"{where}: refused or unreadable: {one_line(msg) or type(e).__name__}") from None
    check_bounded(loaded, where, PhysicsNemoImportError)
    if not isinstance(loaded, dict):
        raise PhysicsNemoImportError(f"{where}: holds {preview(loaded, 60)}, not a state dict")
    for key in loaded:
        if not isinstance(key, str):
            raise PhysicsNemoImportError(f"{where}: has the key {preview(key, 60)}, not a tensor name")
        if key not in shapes:
            raise PhysicsNemoImportError(
                f"{where}: holds {_shown(key)}, which the FNO its args.json describes does not have"
            )
    for key, shape in shapes.items():
        if key not in loaded:
            raise PhysicsNemoImportError(f"{where}: has no {key}: not the FNO its args.json describes")
        tensor = loaded[key]
        if not isinstance(tensor, torch.Tensor) or tensor.layout != torch.strided:
            raise PhysicsNemoImportError(f"{where}: {key} is {preview(tensor, 60)}, not a dense tensor")
        if tuple(tensor.shape) != shape:
            raise PhysicsNemoImportError(
                f"{where}: {key} has shape {tuple(tensor.shape)}; the FNO its args.json describes needs {shape}"
            )
        if tensor.dtype not in FLOAT_DTYPES:
            raise PhysicsNemoImportError(f"{where}: {key} is {tensor.dtype}, not a floating-point tensor")
        if not bool(torch.isfinite(tensor).all()):
            raise PhysicsNemoImportError(f"{where}: {key} holds NaN or infinite values")
    return {key: loaded[key] for key in shapes}


# ---- the reader ----------------------------------------------------------------------------------


# What a damaged archive raises while it is read (zipfile, tarfile and zlib have no common base).
_DAMAGED = (zipfile.BadZipFile, zipfile.LargeZipFile, tarfile.TarError, zlib.error, struct.error, EOFError, OSError)


def read_checkpoint(path: str | os.PathLike[str]) -> PhysicsNemoCheckpoint:
    """The checked contents of a PhysicsNeMo FNO checkpoint (zip .mdlus or legacy tar), or a
    one-line PhysicsNemoImportError; nothing the file names is imported or run (module docstring)."""
    path = Path(path)
    where = str(path)
    problem = not_a_file(path)  # stat() only: opening a FIFO would block
    if problem is not None:
        raise PhysicsNemoImportError(str(problem))
    size = path.stat().st_size
    if size > MAX_ARCHIVE_BYTES:
        raise PhysicsNemoImportError(
            f"{where}: refused: {size} bytes, over the {MAX_ARCHIVE_BYTES} a checkpoint can need"
        )
    try:
        with ExitStack() as stack:
            # tar first, as PhysicsNeMo does: a legacy tar ends in model.pt, a zip, so it looks like one too
            if tarfile.is_tarfile(path):
                layout, read = "tar", _open_tar(path, where, stack)
            elif zipfile.is_zipfile(path):
                layout, read = "zip", _open_zip(path, where, stack)
            else:
                raise PhysicsNemoImportError(f"{where}: not a PhysicsNeMo checkpoint (neither a zip nor a tar archive)")
            raw = _json(read("args.json", MAX_CONFIG_BYTES), where, "args.json")
            class_path = _class_path(raw, where)
            args = check_args(raw["__args__"], f"{where}: args.json")
            metadata = _check_metadata(_json(read("metadata.json", MAX_CONFIG_BYTES), where, "metadata.json"), where)
            shapes = state_dict_shapes(args)
            count = sum(math.prod(s) for s in shapes.values())
            if count > MAX_PARAMETERS:
                raise PhysicsNemoImportError(
                    f"{where}: refused: args.json describes an FNO of {count} parameters, over {MAX_PARAMETERS}"
                )
            model_bytes = read("model.pt", model_pt_limit(shapes))
    except PhysicsNemoImportError:
        raise
    except _DAMAGED as e:
        raise PhysicsNemoImportError(f"{where}: unreadable: truncated or corrupt ({one_line(str(e), 80)})") from None
    state = _state_dict(model_bytes, where, shapes)
    return PhysicsNemoCheckpoint(path, layout, class_path, args, dict(raw["__args__"]), metadata, state)


# ---- the mapping onto wno-edge's model -----------------------------------------------------------


@dataclass(frozen=True)
class ImportReport:
    source: Path
    output: Path | None
    layout: str  # "zip" or "tar"
    class_path: str
    config: WNOConfig
    mapped: dict[str, str]  # PhysicsNeMo's part -> what it became


def _refuse_mapping(where: str, name: str, value: Any, why: str) -> PhysicsNemoImportError:
    return PhysicsNemoImportError(f"{where}: unsupported FNO argument {name}={_shown(value)}: {why}")


def physicsnemo_config(ckpt: PhysicsNemoCheckpoint, resolution: tuple[int, ...] | None = None) -> WNOConfig:
    """The WNOConfig of the FNO ckpt describes (module docstring's table), or one line naming the
    argument wno-edge cannot express."""
    a, where = ckpt.args, str(ckpt.path)
    mappable = f"wno-edge maps {', '.join(MAPPED_ACTIVATIONS)}"
    if a.activation_fn not in MAPPED_ACTIVATIONS:
        raise _refuse_mapping(where, "activation_fn", ckpt.raw_args.get("activation_fn"), mappable)
    decoder = set(a.decoder_activation_fn)
    if len(decoder) > 1:
        raise _refuse_mapping(
            where, "decoder_activation_fn", ckpt.raw_args.get("decoder_activation_fn"), "one activation for every layer"
        )
    if decoder - set(MAPPED_ACTIVATIONS):
        raise _refuse_mapping(where, "decoder_activation_fn", ckpt.raw_args.get("decoder_activation_fn"), mappable)
    even = len(set(a.padding)) == 1
    try:
        config = WNOConfig(
            in_channels=a.in_channels,
            out_channels=a.out_channels,
            width=a.latent_channels,
            modes=a.modes,
            n_layers=a.num_fno_layers,
            real_space_kernel=False,  # an FNO: the pointwise W alone
            domain_padding=a.padding[0] if even else 0,
            domain_padding_axes=() if even else a.padding,
            padding_mode=a.padding_type,
            projection_width=a.decoder_layer_size,
            projection_layers=a.decoder_layers,
            projection_activation=a.decoder_activation_fn[0] if a.decoder_activation_fn else "gelu",
            activation=a.activation_fn,
            grid=a.coord_features,  # linspace(0, 1, n) per axis: the default unit domain's endpoints
            lifting_width=a.latent_channels // 2,
            resolution=resolution,
        )
    except WNOEdgeError as e:
        raise PhysicsNemoImportError(f"{where}: {e}") from None
    if resolution is not None:  # refuse a grid the export would refuse, now
        try:
            pads = config.axis_paddings(resolution)
            padded = [n + before + after for n, (before, after) in zip(resolution, pads, strict=True)]
            WNO2d(replace(config, n_layers=1, width=2)).wno_layers[0].spectral.check_grid(*padded)
        except WNOEdgeError as e:
            raise PhysicsNemoImportError(f"{where}: resolution {'x'.join(map(str, resolution))}: {e}") from None
    return config


def _mapped_state_dict(ckpt: PhysicsNemoCheckpoint, config: WNOConfig) -> dict[str, torch.Tensor]:
    """wno-edge's state dict from PhysicsNeMo's: 1x1 convs of the lift as Linears, the spectral
    weights' [..., 2] as complex, the decoder's linears as the projection."""
    sd, a = ckpt.state_dict, ckpt.args
    lift = "spec_encoder.lift_network"

    def linear(key: str) -> torch.Tensor:  # a 1x1 (1x1x1) conv's weight (out, in, 1, ...) as (out, in)
        weight = sd[key]
        return weight.reshape(weight.shape[0], weight.shape[1])

    out = {
        "lift.weight": linear(f"{lift}.0.conv.weight"),
        "lift.bias": sd[f"{lift}.0.conv.bias"],
        "lift2.weight": linear(f"{lift}.2.conv.weight"),
        "lift2.bias": sd[f"{lift}.2.conv.bias"],
    }
    for i in range(a.num_fno_layers):
        layer = f"spec_encoder.spconv_layers.{i}"
        for corner in range(1, 2 ** (a.dimension - 1) + 1):  # the same corner order as SpectralConv1d/2d/3d
            real = sd[f"{layer}.weights{corner}"].to(torch.float32).contiguous()
            out[f"layers.{i}.spectral.weights{corner}"] = torch.view_as_complex(real)
        out[f"layers.{i}.pointwise.weight"] = sd[f"spec_encoder.conv_layers.{i}.weight"]
        out[f"layers.{i}.pointwise.bias"] = sd[f"spec_encoder.conv_layers.{i}.bias"]
    hidden = ["project1"] + [f"project_hidden.{j}" for j in range(a.decoder_layers - 1)]
    for j in range(a.decoder_layers):
        out[f"{hidden[j]}.weight"] = sd[f"decoder_net.layers.{j}.linear.weight"]
        out[f"{hidden[j]}.bias"] = sd[f"decoder_net.layers.{j}.linear.bias"]
    out["project2.weight"] = sd["decoder_net.final_layer.linear.weight"]
    out["project2.bias"] = sd["decoder_net.final_layer.linear.bias"]
    c = config
    out.update(
        input_mean=torch.zeros(c.in_channels),
        input_std=torch.ones(c.in_channels),
        output_mean=torch.zeros(c.out_channels),
        output_std=torch.ones(c.out_channels),
    )
    return {k: v.to(torch.complex64 if v.is_complex() else torch.float32) for k, v in out.items()}


def from_physicsnemo(ckpt: PhysicsNemoCheckpoint, resolution: tuple[int, ...] | None = None) -> WNO2d:
    """The WNO2d (an FNO, k = 0) that computes what PhysicsNeMo's FNO of `ckpt` computes."""
    config = physicsnemo_config(ckpt, resolution)
    state = _mapped_state_dict(ckpt, config)
    check_state_dict(config, state)  # a mapping bug, if ever: one line
    model = WNO2d(config)
    model.load_state_dict(state)
    return model.eval()


def _mapping(ckpt: PhysicsNemoCheckpoint, config: WNOConfig) -> dict[str, str]:
    a = ckpt.args
    pads = "x".join(map(str, a.padding))
    return {
        "lift": f"{a.latent_channels // 2} then {a.latent_channels} channels, {a.activation_fn} between",
        "coord_features": "grid channels, linspace(0, 1) per axis" if a.coord_features else "none",
        "padding": f"{pads} cells at the end, {a.padding_type}",
        "layers": f"{a.num_fno_layers} x (spectral {'x'.join(map(str, a.modes))} modes + 1x1 conv), "
        f"{a.activation_fn} between",
        "decoder": f"{a.decoder_layers} hidden layer(s) of {a.decoder_layer_size}"
        + (f", {a.decoder_activation_fn[0]}" if a.decoder_layers else ""),
    }


def import_physicsnemo(
    src: str | os.PathLike[str], output: str | os.PathLike[str] | None, resolution: tuple[int, ...] | None = None
) -> ImportReport:
    """Read a PhysicsNeMo FNO checkpoint (read_checkpoint: nothing it names is run), map it onto
    WNO2d and write `output` (a wno-edge checkpoint, load_model reads it) atomically; `resolution`
    (one size per axis) is recorded as the export's default grid. One-line errors, nothing written."""
    src = Path(src)
    if output is not None:
        refuse_overwrite(output, src)
    ckpt = read_checkpoint(src)
    model = from_physicsnemo(ckpt, resolution)
    report = ImportReport(src, None, ckpt.layout, ckpt.class_path, model.config, _mapping(ckpt, model.config))
    if output is not None:
        version = ckpt.metadata.get("physicsnemo_version", ckpt.metadata.get("modulus_version", "?"))
        save_model(model, output, {"imported_from": f"PhysicsNeMo {version} {ckpt.class_path}: {src.name}"})
        report = replace(report, output=Path(output))
    return report
