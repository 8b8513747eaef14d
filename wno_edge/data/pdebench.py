"""Lazy readers for PDEBench's 2-D HDF5 layouts (PDEBench's own data files and ours).

    darcy        `nu` (N, X, Y) coefficient a, `tensor` (N, 1, X, Y) solution u,
                 `x-coordinate` (X,), `y-coordinate` (Y,), attribute `beta`
    time-series  one group per sample "0000", "0001", ...: `data` (T, X, Y, C) and
                 `grid/x` (X,), `grid/y` (Y,), `grid/t` (T,)  (diffusion-reaction: C = 2,
                 shallow water: C = 1)

Nothing is loaded whole: opening reads metadata only, each item reads one sample (or
one window of frames) and checks it for shape and NaN/Inf. The HDF5 handle is opened
on first use in each process, so DataLoader workers (fork or spawn) get their own.

A file is read for what it holds: every dataset read must keep its values in this file (no
external storage, virtual datasets or links to other files) as real numbers, and declare
shapes within generate.py's bounds (checked before reading, since HDF5 can declare far more
than it stores); full passes (check_samples, statistics) read in blocks of bounded size.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import h5py
import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import WNOEdgeError
from .generate import MAX_CHUNK_VALUES, MAX_POINTS, MAX_SAMPLE_VALUES, MAX_SAMPLES

DARCY, TIME_SERIES = "darcy", "time-series"
EXPECTED_LAYOUTS = (
    "darcy: datasets 'nu' (N, X, Y) and 'tensor' (N, 1, X, Y) with 'x-coordinate', "
    "'y-coordinate'; or time series: groups '0000', '0001', ... each with 'data' "
    "(T, X, Y, C) and 'grid/x', 'grid/y', 'grid/t'"
)
ONE_D = "PDEBench1dDataset (wno_edge.data.pdebench1d)"  # who reads PDEBench's 1-D layouts
SPLITS = ("train", "test", "all")
TEST_SPLITS = ("first", "last")  # where the test samples sit in the file; "first" is PDEBench's
READ_BLOCK_VALUES = 2**22  # values per read in full passes (check, statistics): 16 MiB as float32


class PDEBenchFormatError(WNOEdgeError):
    """The file is not (or not exactly) one of PDEBench's layouts."""


@dataclass(frozen=True)
class PDEBenchInfo:
    """What a PDEBench file holds, read from its metadata only."""

    path: Path
    layout: str  # DARCY or TIME_SERIES
    task: str  # darcy | diffusion-reaction | shallow-water | time-series
    n_samples: int
    shape: tuple[int, int]  # spatial grid (X, Y) in the file
    n_channels: int  # physical fields per frame (Darcy: 1)
    n_times: int | None  # frames per trajectory (None for Darcy)
    x: np.ndarray = field(repr=False)
    y: np.ndarray = field(repr=False)
    t: np.ndarray | None = field(repr=False)
    sample_keys: tuple[str, ...] = field(repr=False, default=())  # group names (time series)
    attrs: dict = field(repr=False, default_factory=dict)

    @property
    def domain(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """((x0, x1), (y0, y1)) whose equal cells have the file's coordinates as centres (how
        PDEBench stores them): WNO2d.from_fno(state_dict, domain=info.domain) then feeds an
        imported FNO the coordinates PDEBench trained it with."""

        def axis(c: np.ndarray, name: str) -> tuple[float, float]:
            c = np.asarray(c, dtype=np.float64)
            if c.size < 2 or not np.isfinite(c).all() or not np.all(np.diff(c) > 0):
                raise PDEBenchFormatError(f"{self.path}: {name} coordinates are not an increasing grid")
            half = (c[-1] - c[0]) / (c.size - 1) / 2
            return (float(c[0] - half), float(c[-1] + half))

        return axis(self.x, "x"), axis(self.y, "y")


def _fail(path, message: str) -> NoReturn:
    raise PDEBenchFormatError(f"{path}: {message}")


def _preview(text: str, limit: int = 40) -> str:
    """A name from the file, quoted on one line and cut to `limit` characters."""
    return repr(text[:limit]) + ("..." if len(text) > limit else "")


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:160]


def _follow(path, start: h5py.Group, name: str, budget: list[int], label: str) -> h5py.Group | h5py.Dataset | None:
    """The object `name` names from `start`, or None where nothing is there.

    Each step looks at the link before following it: hard links and soft links (paths inside
    this file) are followed, external and user-defined links are refused, so nothing outside
    the file is opened. `budget` counts the soft links followed, shared across the recursion
    (HDF5's own limit is 16), so link cycles end. `label` names what is looked up, for messages.
    """
    obj: h5py.Group | h5py.Dataset = start.file if name.startswith("/") else start
    for part in (p for p in name.split("/") if p and p != "."):
        if not isinstance(obj, h5py.Group):
            return None
        key = part.encode("utf-8", "surrogateescape")
        if not obj.id.links.exists(key):
            return None
        kind = obj.id.links.get_info(key).type
        if kind == h5py.h5l.TYPE_HARD:  # opened by its bytes: names need not be UTF-8
            oid = h5py.h5o.open(obj.id, key)
            otype = h5py.h5i.get_type(oid)
            if otype == h5py.h5i.GROUP:
                obj = h5py.Group(oid)
            elif otype == h5py.h5i.DATASET:
                obj = h5py.Dataset(oid)
            else:  # a committed datatype
                return None
        elif kind == h5py.h5l.TYPE_SOFT:
            budget[0] -= 1
            if budget[0] < 0:
                _fail(path, f"too many soft links on the way to '{label}' (a link cycle?)")
            target = obj.id.links.get_val(key).decode("utf-8", "surrogateescape")
            followed = _follow(path, obj, target, budget, label)
            if followed is None:
                return None
            obj = followed
        else:  # external (or user-defined): its target is outside this file
            link = _preview(part)
            _fail(path, f"'{label}' is reached through a link to another file ({link}); keep the data in one file")
    return obj


def _lookup(path, parent: h5py.Group, name: str) -> h5py.Group | h5py.Dataset | None:
    try:
        return _follow(path, parent, name, [16], _label(parent, name))
    except (OSError, RuntimeError) as e:  # HDF5 could not open an object (damaged metadata)
        _fail(path, f"cannot open '{name}': {_first_line(e)}")


def _label(parent: h5py.Group, key: str) -> str:
    where = (parent.name or "").strip("/")
    return f"{where}/{key}" if where else key


def _kind(dtype: np.dtype) -> str:
    if h5py.check_string_dtype(dtype) is not None:
        return "string"
    if h5py.check_ref_dtype(dtype) is not None:
        return "reference"
    if dtype.names is not None:
        return "compound"
    if dtype.subdtype is not None:
        return "array"
    if dtype.kind == "O":
        return "variable-length"
    return dtype.name


def _check_dataset(path, ds: h5py.Dataset, label: str) -> None:
    """Values that live in this file, as real numbers, in chunks of bounded size."""
    try:
        plist = ds.id.get_create_plist()
        layout, external = plist.get_layout(), plist.get_external_count()
        chunks = plist.get_chunk() if layout == h5py.h5d.CHUNKED else None
    except (OSError, RuntimeError) as e:
        _fail(path, f"cannot read how '{label}' is stored: {_first_line(e)}")
    if layout == h5py.h5d.VIRTUAL:
        _fail(path, f"'{label}' is a virtual dataset (its values live in other files); keep the data in one file")
    if external:
        _fail(path, f"'{label}' keeps its values in an external file; keep the data in one file")
    try:
        dtype = ds.dtype
    except (TypeError, ValueError, OSError) as e:  # an HDF5 type numpy has no equivalent for
        _fail(path, f"'{label}' holds values of an unsupported HDF5 type ({_first_line(e)})")
    # Real numbers only: casting complex values drops the imaginary part, and bools, strings,
    # records or references are not a physical field.
    if dtype.kind not in "iuf":
        _fail(path, f"'{label}' holds {_kind(dtype)} values; expected real numbers (integer or floating point)")
    if chunks is not None and math.prod(chunks) > MAX_CHUNK_VALUES:
        _fail(path, f"'{label}' is stored in chunks of {math.prod(chunks)} values, more than {MAX_CHUNK_VALUES}")


def _dataset(path, parent: h5py.Group, key: str, expected: str) -> h5py.Dataset:
    obj = _lookup(path, parent, key)
    if not isinstance(obj, h5py.Dataset):
        where = f"in group '{parent.name.lstrip('/')}' " if parent.name != "/" else ""
        _fail(path, f"missing dataset '{key}' {where}(expected {expected})")
    _check_dataset(path, obj, _label(parent, key))
    return obj


def _shape(ds: h5py.Dataset) -> tuple[int, ...]:
    return tuple(ds.shape or ())  # None for a null dataspace (no values at all)


def _check_shape(path, name: str, shape: tuple, expected: tuple, text: str) -> None:
    """expected: ints, or None for 'any size'."""
    if len(shape) != len(expected) or any(e is not None and s != e for s, e in zip(shape, expected, strict=False)):
        _fail(path, f"'{name}' has shape {tuple(shape)}, expected {text}")


def _check_size(path, name: str, shape: tuple[int, ...], sample: tuple[int, ...], samples: int | None = None) -> None:
    """The bounds of generate.py on what a file declares, before anything is read."""
    if samples is not None and samples > MAX_SAMPLES:
        _fail(path, f"'{name}' declares {samples} samples, more than the {MAX_SAMPLES} a file may hold")
    if 0 in sample:
        _fail(path, f"'{name}' has shape {shape}: an empty grid (every axis needs at least one point)")
    if max(sample) > MAX_POINTS:
        _fail(path, f"'{name}' has shape {shape}: an axis longer than {MAX_POINTS} points")
    if math.prod(sample) > MAX_SAMPLE_VALUES:
        _fail(path, f"'{name}' has shape {shape}: {math.prod(sample)} values per sample, more than {MAX_SAMPLE_VALUES}")


def _read_whole(path, ds: h5py.Dataset, label: str) -> np.ndarray:
    """A small dataset (coordinates: at most MAX_POINTS values) as it is stored."""
    try:
        return np.asarray(ds[()])
    except (OSError, RuntimeError) as e:  # damaged storage, a missing filter
        _fail(path, f"cannot read '{label}': {_first_line(e)}")


def _coordinates(path, parent: h5py.Group, key: str, size: int, text: str) -> np.ndarray:
    ds = _dataset(path, parent, key, f"({size},) coordinates")
    label = _label(parent, key)
    _check_shape(path, label, _shape(ds), (size,), text)
    return _read_whole(path, ds, label)


def _task_name(attrs: dict, layout: str, channels: int) -> str:
    task = attrs.get("task")
    if isinstance(task, bytes):
        task = task.decode("utf-8", "replace")
    # A task name travels into messages: take it only when it looks like one.
    if isinstance(task, str) and 0 < len(task) <= 64 and task.isprintable():
        return task
    if layout == DARCY:
        return "darcy"
    return {2: "diffusion-reaction", 1: "shallow-water"}.get(channels, TIME_SERIES)


def _attributes(obj: h5py.HLObject, limit: int = 64, max_values: int = 4096) -> dict:
    """The first `limit` attributes of `obj` that numpy can hold, each of at most `max_values`
    values; the others are left out (they describe the file, nothing reads them as data)."""
    names: list[bytes] = []

    def collect(name: bytes):
        names.append(name)
        return True if len(names) >= limit else None  # anything but None stops the iteration

    out: dict = {}
    try:
        if h5py.h5a.get_num_attrs(obj.id):
            h5py.h5a.iterate(obj.id, collect)
    except (OSError, RuntimeError):
        return out
    for raw in names:
        name = raw.decode("utf-8", "replace")
        try:
            attr = h5py.h5a.open(obj.id, raw)
            shape = attr.shape
            if shape is not None and math.prod(shape) > max_values:
                continue
            value = obj.attrs[raw]
        except (OSError, RuntimeError, TypeError, ValueError, KeyError):  # types numpy cannot hold
            continue
        out[name] = value.item() if isinstance(value, np.generic) else value
    return out


def _link_count(path, f: h5py.File) -> int:
    try:
        return len(f)  # HDF5 keeps the count (new-style groups) or counts in C (old style)
    except (OSError, RuntimeError) as e:
        _fail(path, f"cannot list the file's contents: {_first_line(e)}")


def _top_level_names(path, f: h5py.File) -> list[str]:
    """Every top-level name, listed in one pass without opening the objects (at most
    MAX_SAMPLES of them: _describe checks the count first)."""
    names: list[str] = []

    def collect(name: bytes):
        names.append(name.decode("utf-8", "replace"))
        return True if len(names) > MAX_SAMPLES else None  # stops the iteration

    try:
        f.id.links.iterate(collect)
    except (OSError, RuntimeError) as e:
        _fail(path, f"cannot list the file's contents: {_first_line(e)}")
    return names


def _is_sample_key(name: str) -> bool:
    # ASCII digits only ("²".isdigit() is true, int() refuses it); 18 digits fit int64
    return 0 < len(name) <= 18 and name.isascii() and name.isdigit()


def _describe(path: Path, f: h5py.File) -> PDEBenchInfo:
    count = _link_count(path, f)
    if count > MAX_SAMPLES:
        _fail(path, f"the file holds {count} top-level entries, more than the {MAX_SAMPLES} samples a file may hold")
    attrs = _attributes(f)
    if not f.id.links.exists(b"nu"):  # PDEBench's 1-D files: pdebench1d reads them
        if f.id.links.exists(b"tensor"):
            one_d = f"a 1-D file ('tensor' (N, T, X)) is read by {ONE_D}; Darcy needs 'nu' (N, X, Y)"
            _fail(path, f"holds 'tensor' without 'nu': {one_d}")
        if f.id.links.exists(b"density"):
            one_d = f"1-D CFD is read by {ONE_D}; 2-D and 3-D CFD are not read"
            _fail(path, f"holds 'density' (PDEBench's CFD layout): {one_d}")
    if f.id.links.exists(b"nu") or f.id.links.exists(b"tensor"):
        return _describe_darcy(path, f, attrs)
    samples, first, label, shape = _first_sample(path, f, "layout", EXPECTED_LAYOUTS, "(T, X, Y, C) trajectory")
    if len(shape) == 3:
        _fail(path, f"'{label}' has shape {shape}: a 1-D time series (T, X, C), read by {ONE_D}")
    _check_shape(path, label, shape, (None, None, None, None), "(T, X, Y, C)")
    _check_size(path, label, shape, shape)
    nt, nx, ny, nc = shape
    grid = {
        axis: _coordinates(path, first, f"grid/{axis}", size, f"({size},) to match 'data' {shape}")
        for axis, size in (("x", nx), ("y", ny), ("t", nt))
    }
    return PDEBenchInfo(
        path,
        TIME_SERIES,
        _task_name(attrs, TIME_SERIES, nc),
        len(samples),
        (nx, ny),
        nc,
        nt,
        grid["x"],
        grid["y"],
        grid["t"],
        tuple(samples),
        attrs,
    )


def _first_sample(
    path, f: h5py.File, layout: str, expected: str, kind: str
) -> tuple[list[str], h5py.Group, str, tuple]:
    """A one-group-per-sample file (2-D time series, 1-D diffusion-sorption): its sample keys in
    order, the first group, its 'data' label and shape; one line naming the top-level keys when
    there is no sample group (an unknown `layout`, `expected` naming the known ones)."""
    names = _top_level_names(path, f)
    samples = sorted((k for k in names if _is_sample_key(k)), key=int)
    if not samples:
        shown = ", ".join(_preview(k) for k in names[:8]) + (", ..." if len(names) > 8 else "")
        _fail(path, f"unknown {layout} (top-level keys: {shown or 'none'}); expected {expected}")
    first = _sample_group(path, f, samples[0])
    return samples, first, f"{samples[0]}/data", _shape(_dataset(path, first, "data", kind))


def _describe_darcy(path: Path, f: h5py.File, attrs: dict) -> PDEBenchInfo:
    nu = _dataset(path, f, "nu", "(N, X, Y) coefficient field next to 'tensor'")
    tensor = _dataset(path, f, "tensor", "(N, 1, X, Y) solution next to 'nu'")
    shape = _shape(nu)
    _check_shape(path, "nu", shape, (None, None, None), "(N, X, Y)")
    n, nx, ny = shape
    if n == 0:
        _fail(path, "'nu' holds no samples")
    _check_size(path, "nu", shape, shape[1:], samples=n)
    _check_shape(path, "tensor", _shape(tensor), (n, 1, nx, ny), f"(N, 1, X, Y) = {(n, 1, nx, ny)} to match 'nu'")
    x = _coordinates(path, f, "x-coordinate", nx, f"({nx},) to match 'nu'")
    y = _coordinates(path, f, "y-coordinate", ny, f"({ny},) to match 'nu'")
    return PDEBenchInfo(path, DARCY, _task_name(attrs, DARCY, 1), n, (nx, ny), 1, None, x, y, None, (), attrs)


def _sample_group(path, f: h5py.File, key: str) -> h5py.Group:
    group = _lookup(path, f, key)
    if not isinstance(group, h5py.Group):
        _fail(path, f"'{key}' is not a group (expected a sample group with 'data' (T, X, Y, C) and 'grid/')")
    return group


def _darcy_datasets(path, f: h5py.File, info: PDEBenchInfo) -> tuple[h5py.Dataset, h5py.Dataset]:
    """'nu' and 'tensor', checked again on this handle (the file may have changed since describe)."""
    n, (nx, ny) = info.n_samples, info.shape
    nu = _dataset(path, f, "nu", f"({n}, {nx}, {ny})")
    tensor = _dataset(path, f, "tensor", f"({n}, 1, {nx}, {ny})")
    _check_shape(path, "nu", _shape(nu), (n, nx, ny), f"{(n, nx, ny)} as when the file was opened")
    _check_shape(path, "tensor", _shape(tensor), (n, 1, nx, ny), f"{(n, 1, nx, ny)} as when the file was opened")
    return nu, tensor


def _series_dataset(path, f: h5py.File, info: PDEBenchInfo, index: int) -> h5py.Dataset:
    """Sample `index`'s 'data', checked like the first sample's (storage, type, shape)."""
    key = info.sample_keys[index]
    nt, nx, ny, nc = info.n_times, *info.shape, info.n_channels
    group = _sample_group(path, f, key)
    if not group.id.links.exists(b"data"):
        _fail(path, f"sample '{key}' has no dataset 'data' (expected ({nt}, {nx}, {ny}, {nc}))")
    data = _dataset(path, group, "data", f"({nt}, {nx}, {ny}, {nc})")
    shape = _shape(data)
    if shape != (nt, nx, ny, nc):
        _fail(path, f"'{key}/data' has shape {shape}, expected {(nt, nx, ny, nc)} like sample '{info.sample_keys[0]}'")
    return data


def _read(path, ds: h5py.Dataset, selection, label: str) -> np.ndarray:
    """`ds[selection]` as float32, converted by HDF5 while reading (no copy in the stored type)."""
    try:
        return ds.astype(np.float32)[selection]
    except (OSError, RuntimeError) as e:  # damaged storage, a missing filter
        _fail(path, f"cannot read '{label}': {_first_line(e)}")


def _bad_row(block: np.ndarray) -> int | None:
    """Index along axis 0 of the first row of `block` holding NaN or Inf, or None."""
    if np.isfinite(block).all():
        return None
    return int(np.argmax(~np.isfinite(block.reshape(len(block), -1)).all(axis=1)))


def _blocks(shape: tuple[int, ...], limit: int):
    """Selections (tuples of slices and indices) covering `shape` once in row-major order, each
    of at most `limit` values: whole trailing axes where they fit, slices of the axis before."""
    inner, axis = 1, len(shape)
    while axis > 0 and inner * shape[axis - 1] <= limit:
        axis -= 1
        inner *= shape[axis]
    if axis == 0:
        yield tuple(slice(0, n) for n in shape)
        return
    step = max(1, limit // inner)
    for outer in np.ndindex(*shape[: axis - 1]):
        for lo in range(0, shape[axis - 1], step):
            yield (*outer, slice(lo, min(lo + step, shape[axis - 1])), *(slice(0, n) for n in shape[axis:]))


def _scan(path, ds: h5py.Dataset, label: str, what) -> None:
    """Check that every value of `ds` is finite as float32, reading each stored chunk once.

    Chunks never written are not read: they hold the fill value, checked once. A file that
    declares a huge dataset and stores a few chunks costs what it stores. `what(i)` names
    the sample at index i along axis 0 for the message.
    """
    shape = _shape(ds)
    try:
        plist = ds.id.get_create_plist()
        layout = plist.get_layout()
        stored_bytes = ds.id.get_storage_size()
    except (OSError, RuntimeError) as e:
        _fail(path, f"cannot read how '{label}' is stored: {_first_line(e)}")

    def check(selection) -> None:
        block = _read(path, ds, selection, label)
        row = _bad_row(block)
        if row is not None:
            first = selection[0]
            start = first.start if isinstance(first, slice) else first
            _fail(path, f"{what(start + (row if isinstance(first, slice) else 0))} contains NaN or Inf values")

    fill_used = False
    if layout == h5py.h5d.CHUNKED and hasattr(ds.id, "chunk_iter"):  # HDF5 >= 1.14
        chunks = ds.chunks
        assert chunks is not None
        stored = [0]

        def visit(chunk) -> None:
            stored[0] += 1
            offset = chunk.chunk_offset
            check(tuple(slice(o, min(o + c, n)) for o, c, n in zip(offset, chunks, shape, strict=True)))

        try:
            ds.id.chunk_iter(visit)
        except (OSError, RuntimeError) as e:
            _fail(path, f"cannot list the chunks of '{label}': {_first_line(e)}")
        fill_used = stored[0] < math.prod(-(-n // c) for n, c in zip(shape, chunks, strict=True))
    elif layout == h5py.h5d.CONTIGUOUS and stored_bytes == 0:  # never written: all fill value
        fill_used = math.prod(shape) > 0
    else:  # compact, contiguous, or chunked where HDF5 cannot list chunks: every value, in blocks
        for selection in _blocks(shape, READ_BLOCK_VALUES):
            check(selection)
    if fill_used:
        fill = np.asarray(ds.fillvalue).astype(np.float32)
        if not np.isfinite(fill).all():
            _fail(path, f"'{label}' has unwritten parts whose fill value is NaN or Inf")


def open_h5(path: str | os.PathLike) -> h5py.File:
    path = Path(path)
    if not path.is_file():
        raise WNOEdgeError(f"{path}: no such file")
    try:
        return h5py.File(path, "r")
    except OSError as e:
        raise PDEBenchFormatError(f"{path}: not a readable HDF5 file ({_first_line(e)[:120]})") from None


def describe(path: str | os.PathLike) -> PDEBenchInfo:
    """Detect the layout from the file's keys and check its structure (reads no sample data)."""
    with open_h5(path) as f:
        try:
            return _describe(Path(path), f)
        except (OSError, RuntimeError) as e:  # HDF5 failed somewhere in the metadata
            _fail(path, f"cannot read the file's structure: {_first_line(e)}")


def check_samples(info: PDEBenchInfo) -> None:
    """Read every stored value of every sample once, in blocks of bounded size, and check
    each sample's storage, type and shape and that its values are finite (as float32, the
    type training reads them in). Raises PDEBenchFormatError on the first problem."""
    path = info.path
    with open_h5(path) as f:
        try:
            if info.layout == DARCY:
                for ds, key in zip(_darcy_datasets(path, f, info), ("nu", "tensor"), strict=True):
                    _scan(path, ds, key, lambda i, key=key: f"Darcy sample {i} ('{key}')")
            else:
                for index, key in enumerate(info.sample_keys):
                    data = _series_dataset(path, f, info, index)
                    _scan(path, data, f"{key}/data", lambda _, key=key: f"sample '{key}'")
        except (OSError, RuntimeError) as e:
            _fail(path, f"cannot read the file: {_first_line(e)}")


def split_indices(
    n_samples: int, split: str = "train", test_fraction: float = 0.1, test_split: str = "first"
) -> np.ndarray:
    """PDEBench's split (FNODatasetSingle): the first int(n test_fraction) samples test, the
    rest train. test_split="last" takes the test samples from the end instead (wno-edge < 0.2,
    and the bundled models' cards)."""
    if split not in SPLITS:
        raise WNOEdgeError(f"split must be one of {SPLITS}, got {split!r}")
    if test_split not in TEST_SPLITS:
        raise WNOEdgeError(f"test_split must be one of {TEST_SPLITS}, got {test_split!r}")
    if not 0.0 <= test_fraction < 1.0:
        raise WNOEdgeError(f"test_fraction must be in [0, 1), got {test_fraction}")
    if test_split == "first":
        cut = int(n_samples * test_fraction)
        test, train = np.arange(cut), np.arange(cut, n_samples)
    else:
        cut = int(n_samples * (1.0 - test_fraction))
        train, test = np.arange(cut), np.arange(cut, n_samples)
    idx = {"train": train, "test": test, "all": np.arange(n_samples)}[split]
    if idx.size == 0:
        raise WNOEdgeError(f"the {split} split is empty: {n_samples} samples with test_fraction {test_fraction}")
    return idx


def spatial_stride(shape: tuple[int, int], reduce: int | None = None, resolution: int | None = None) -> int:
    """Subsampling stride, PDEBench style (every `stride`-th point on both axes)."""
    if reduce is not None and resolution is not None:
        raise WNOEdgeError("give either reduce or resolution, not both")
    if resolution is not None:
        if resolution < 1 or any(s % resolution for s in shape) or shape[0] // resolution != shape[1] // resolution:
            raise WNOEdgeError(
                f"cannot subsample the {shape[0]}x{shape[1]} grid to {resolution}x{resolution}: "
                f"the resolution must divide both sizes by the same integer factor"
            )
        return shape[0] // resolution
    reduce = 1 if reduce is None else int(reduce)
    if reduce < 1:
        raise WNOEdgeError(f"reduce factor must be >= 1, got {reduce}")
    return reduce


class PerProcessFile:
    """An HDF5 handle opened on first use in each process and never pickled (DataLoader workers,
    fork or spawn, get their own), with what was checked on it: later reads skip the checks
    (about half an item's cost). `_verified` holds the datasets checked, `_checked_series` the
    groups."""

    path: Path
    _h5: h5py.File | None
    _pid: int | None
    _verified: Any
    _checked_series: set[int]

    def _file(self) -> h5py.File:
        if self._h5 is None or self._pid != os.getpid():
            self._h5 = open_h5(self.path)
            self._pid = os.getpid()
            self._verified, self._checked_series = None, set()
        return self._h5

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_h5"] = state["_pid"] = state["_verified"] = None
        state["_checked_series"] = set()
        return state

    def close(self) -> None:
        if self._h5 is not None and self._pid == os.getpid():
            self._h5.close()
        self._h5, self._verified = None, None


class PDEBenchDataset(PerProcessFile, Dataset):
    """A torch Dataset over a PDEBench file, channels first, float32.

    darcy:        item = (a (1, H, W), u (1, H, W)), one per sample.
    time series:  item = (frames t..t+s-1 stacked as channels (s*C, H, W), frame t+s (C, H, W))
                  for every sample and start t (s = initial_step), channel index = frame * C + c
                  as PDEBench; `trajectory(j)` gives a whole (T, C, H, W) trajectory for rollouts.
    split:        'test' (the first test_fraction of the samples, as PDEBench), 'train' (the
                  rest) or 'all', taken after keeping the first max_samples (PDEBench's
                  num_samples_max); test_split="last" takes the test samples from the end.
    reduce / resolution: strided spatial subsampling; time_reduce: keep every k-th frame.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        split: str = "train",
        *,
        test_fraction: float = 0.1,
        reduce: int | None = None,
        resolution: int | None = None,
        time_reduce: int = 1,
        initial_step: int = 10,
        max_samples: int | None = None,
        test_split: str = "first",
    ):
        self.path = Path(path)
        self.info = info = describe(self.path)
        self.stride = spatial_stride(info.shape, reduce, resolution)
        n = info.n_samples if max_samples is None else min(int(max_samples), info.n_samples)
        if n < 1:
            raise WNOEdgeError(f"max_samples must be >= 1, got {max_samples}")
        self.split = split
        self.indices = split_indices(n, split, test_fraction, test_split)
        s = self.stride
        self.x, self.y = info.x[::s], info.y[::s]
        self.resolution = (len(self.x), len(self.y))
        self.time_reduce = int(time_reduce)
        if self.time_reduce < 1:
            raise WNOEdgeError(f"time_reduce must be >= 1, got {time_reduce}")
        self.initial_step: int | None  # None for Darcy (steady states), as t
        self.t: np.ndarray | None
        if info.layout == DARCY:
            self.initial_step = None
            self.t = None
            self.in_channels = self.out_channels = 1
            self.windows = 1
        else:
            assert info.t is not None  # every time-series file has grid/t (describe)
            self.t = info.t[:: self.time_reduce]
            self.initial_step = int(initial_step)
            if not 1 <= self.initial_step < len(self.t):
                raise WNOEdgeError(
                    f"initial_step must be in [1, {len(self.t) - 1}] for {len(self.t)} frames, got {initial_step}"
                )
            self.in_channels = self.initial_step * info.n_channels
            self.out_channels = info.n_channels
            self.windows = len(self.t) - self.initial_step
        self._h5: h5py.File | None = None
        self._pid: int | None = None
        self._verified: tuple[h5py.Dataset, h5py.Dataset] | None = None  # Darcy's nu, tensor
        self._checked_series: set[int] = set()

    # -- reading ----------------------------------------------------------------------------
    def _checked(self, array: np.ndarray, what: str) -> np.ndarray:
        if not np.isfinite(array).all():
            raise PDEBenchFormatError(f"{self.path}: {what} contains NaN or Inf values")
        return array

    def _series(self, index: int) -> h5py.Dataset:
        f = self._file()
        try:
            if index in self._checked_series:  # the same handle: the links checked lead to the same data
                return f[self.info.sample_keys[index]]["data"]
            data = _series_dataset(self.path, f, self.info, index)
            self._checked_series.add(index)
            return data
        except (OSError, RuntimeError) as e:
            _fail(self.path, f"cannot read sample '{self.info.sample_keys[index]}': {_first_line(e)}")

    def read_frames(self, index: int, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Frames [start, stop) (after time_reduce) of file sample `index` as (T', C, H, W) float32."""
        tr, s = self.time_reduce, self.stride
        if stop is None:
            assert self.t is not None, "Darcy samples have no frames (read_darcy)"
            stop = len(self.t)
        data = self._series(index)
        key = self.info.sample_keys[index]
        block = _read(self.path, data, slice(start * tr, (stop - 1) * tr + 1), f"{key}/data")  # one contiguous read
        block = block[::tr, ::s, ::s]
        return self._checked(np.ascontiguousarray(block.transpose(0, 3, 1, 2)), f"sample '{key}'")

    def read_darcy(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """(a, u) of file sample `index`, each (1, H, W) float32."""
        s = self.stride
        f = self._file()
        if self._verified is None:
            try:
                self._verified = _darcy_datasets(self.path, f, self.info)
            except (OSError, RuntimeError) as e:
                _fail(self.path, f"cannot read Darcy sample {index}: {_first_line(e)}")
        nu, tensor = self._verified
        a = _read(self.path, nu, index, "nu")[::s, ::s][None]
        u = _read(self.path, tensor, index, "tensor")[:, ::s, ::s]
        what = f"Darcy sample {index}"
        return (
            self._checked(np.ascontiguousarray(a), f"{what} ('nu')"),
            self._checked(np.ascontiguousarray(u), f"{what} ('tensor')"),
        )

    def __len__(self) -> int:
        return len(self.indices) * self.windows

    def __getitem__(self, item: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not -len(self) <= item < len(self):
            raise IndexError(f"index {item} out of range for {len(self)} items")
        item %= len(self)
        sample, start = divmod(item, self.windows)
        index = int(self.indices[sample])
        if self.info.layout == DARCY:
            a, u = self.read_darcy(index)
            return torch.from_numpy(a), torch.from_numpy(u)
        step = self.initial_step
        assert step is not None  # set for every layout but Darcy
        frames = self.read_frames(index, start, start + step + 1)
        c, h, w = frames.shape[1:]
        inputs = frames[:-1].reshape(step * c, h, w)
        return torch.from_numpy(inputs), torch.from_numpy(frames[-1])

    # -- whole trajectories -------------------------------------------------------------------
    @property
    def n_trajectories(self) -> int:
        return len(self.indices)

    def trajectory(self, j: int) -> torch.Tensor:
        """The j-th trajectory of this split, (T, C, H, W) float32, for rollout evaluation."""
        if self.info.layout == DARCY:
            raise WNOEdgeError("Darcy samples are steady states: there are no trajectories")
        return torch.from_numpy(self.read_frames(int(self.indices[j])))


@dataclass(frozen=True)
class NormalizationStats:
    """Per-channel statistics in WNO2d.set_normalization's argument order."""

    input_mean: np.ndarray
    input_std: np.ndarray
    output_mean: np.ndarray
    output_std: np.ndarray

    def as_tuple(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        return self.input_mean, self.input_std, self.output_mean, self.output_std


class _RunningMoments:
    """Per-channel mean and variance, merged block by block (Chan et al.) in float64."""

    def __init__(self, channels: int):
        self.n = 0
        self.mean = np.zeros(channels)
        self.m2 = np.zeros(channels)

    def add(self, block: np.ndarray) -> None:  # block (..., C, H, W)
        values = np.moveaxis(block, -3, 0).reshape(block.shape[-3], -1)
        step = max(1, READ_BLOCK_VALUES // len(values))  # float64 copies of bounded size
        for lo in range(0, values.shape[1], step):
            self._merge(values[:, lo : lo + step].astype(np.float64))

    def _merge(self, values: np.ndarray) -> None:  # (C, n) float64
        nb = values.shape[1]
        mean_b = values.mean(axis=1)
        m2_b = ((values - mean_b[:, None]) ** 2).sum(axis=1)
        delta = mean_b - self.mean
        total = self.n + nb
        self.mean = self.mean + delta * nb / total
        self.m2 = self.m2 + m2_b + delta**2 * self.n * nb / total
        self.n = total

    @property
    def std(self) -> np.ndarray:
        return np.sqrt(self.m2 / max(self.n, 1))


def normalization_stats(dataset: PDEBenchDataset) -> NormalizationStats:
    """Per-channel mean/std over the dataset's samples (pass the training split), one sample
    in memory at a time.

    Darcy: inputs from `nu`, outputs from `tensor`. Time series: every frame of every
    trajectory counts once per physical channel; the input statistics repeat these
    initial_step times, so a predicted frame fed back as input is normalised the same way.
    """
    if dataset.info.layout == DARCY:
        a_stats, u_stats = _RunningMoments(1), _RunningMoments(1)
        for index in dataset.indices:
            a, u = dataset.read_darcy(int(index))
            a_stats.add(a)
            u_stats.add(u)
        return NormalizationStats(a_stats.mean, a_stats.std, u_stats.mean, u_stats.std)
    stats = _RunningMoments(dataset.info.n_channels)
    assert dataset.t is not None  # every layout but Darcy has frames
    frame = dataset.info.n_channels * math.prod(dataset.info.shape) * dataset.time_reduce  # values read per frame
    step = max(1, READ_BLOCK_VALUES // frame)  # frames per read: the whole trajectory for PDEBench's sizes
    for index in dataset.indices:
        for lo in range(0, len(dataset.t), step):
            stats.add(dataset.read_frames(int(index), lo, min(lo + step, len(dataset.t))))
    reps = dataset.initial_step
    assert reps is not None  # set for every layout but Darcy
    return NormalizationStats(np.tile(stats.mean, reps), np.tile(stats.std, reps), stats.mean, stats.std)
