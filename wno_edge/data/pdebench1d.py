"""Lazy readers for PDEBench's 1-D HDF5 layouts (PDEBench's own files and the Burgers solver's).

    single-array  `tensor` (N, T, X), `x-coordinate` (X,), `t-coordinate` (T + 1,) as PDEBench
                  writes it (Data_Merge.py: arange(T + 1) dt_save, one entry past the last
                  frame) or (T,): Advection (attribute `beta`), Burgers (`Nu`; u_xx's
                  coefficient is Nu / pi), reaction-diffusion (`Nu`, `rho`)
    cfd           `density`, `pressure`, `Vx` each (N, T, X), `x-coordinate`, `t-coordinate`:
                  1-D compressible Navier-Stokes (attributes `eta`, `zeta`); channels in
                  that order, as PDEBench's FNODatasetSingle stacks them
    series        one group per sample "0000", "0001", ...: `data` (T, X, C), `grid/x` (X,),
                  `grid/t` (T,): diffusion-sorption (C = 1)

The split follows the loader PDEBench trains each layout with (pdebench/models/fno/utils.py):
single-array and CFD files go through FNODatasetSingle, which keeps every `reduced_batch`-th
sample, then the first `num_samples_max`, and takes the first int(n test_ratio) of those as
the test set; per-sample groups go through FNODatasetMult, whose test set is the last
n - int(n (1 - test_ratio)) groups. Items are PDEBench's autoregressive step: `initial_step`
frames in (channel = frame * C + c, its reshape of [x, t, v] to [x, t * v]), the next frame
out; the grid is not an input channel (the model adds it, as for the 2-D readers).

Checks as pdebench.py's: each dataset read keeps its values in this file as real numbers,
shapes are checked against generate.py's bounds before anything is read, items read one
sample's window and check it for NaN/Inf, full passes read in blocks of bounded size.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import WNOEdgeError
from .generate import MAX_SAMPLES
from .pdebench import (
    READ_BLOCK_VALUES,
    NormalizationStats,
    PDEBenchFormatError,
    PerProcessFile,
    _attributes,
    _check_shape,
    _check_size,
    _coordinates,
    _dataset,
    _fail,
    _first_line,
    _first_sample,
    _label,
    _link_count,
    _read,
    _read_whole,
    _RunningMoments,
    _sample_group,
    _scan,
    _shape,
    open_h5,
    split_indices,
)

SINGLE, CFD, SERIES = "single-array", "cfd", "series"
CFD_FIELDS = ("density", "pressure", "Vx")
EXPECTED_LAYOUTS = (
    "single-array: 'tensor' (N, T, X) with 'x-coordinate', 't-coordinate'; 1-D CFD: 'density', "
    "'pressure', 'Vx' (N, T, X) with the same coordinates; or groups '0000', '0001', ... each "
    "with 'data' (T, X, C) and 'grid/x', 'grid/t'"
)
# PDEBench's loader for each layout: FNODatasetSingle's test set comes first, FNODatasetMult's last
PDEBENCH_TEST_SPLIT = {SINGLE: "first", CFD: "first", SERIES: "last"}


@dataclass(frozen=True)
class PDEBench1dInfo:
    """What a 1-D PDEBench file holds, read from its metadata only."""

    path: Path
    layout: str  # SINGLE, CFD or SERIES
    task: str  # advection | burgers | reaction-diffusion | cfd | diffusion-sorption | ...
    n_samples: int
    n_points: int  # X
    n_channels: int  # physical fields per frame
    n_times: int  # frames per trajectory
    fields: tuple[str, ...]  # the datasets holding the fields (SERIES: each group's 'data')
    x: np.ndarray = field(repr=False)
    t: np.ndarray = field(repr=False)  # (n_times,): the frames' times
    sample_keys: tuple[str, ...] = field(repr=False, default=())  # group names (SERIES)
    attrs: dict = field(repr=False, default_factory=dict)

    @property
    def domain(self) -> tuple[float, float]:
        """(x0, x1) whose equal cells have the file's coordinates as centres (how PDEBench stores them)."""
        c = np.asarray(self.x, dtype=np.float64)
        if c.size < 2 or not np.isfinite(c).all() or not np.all(np.diff(c) > 0):
            raise PDEBenchFormatError(f"{self.path}: x coordinates are not an increasing grid")
        half = (c[-1] - c[0]) / (c.size - 1) / 2
        return (float(c[0] - half), float(c[-1] + half))


def _has(f: h5py.Group, name: str) -> bool:
    return bool(f.id.links.exists(name.encode()))


def _task_name(attrs: dict, layout: str, channels: int) -> str:
    task = attrs.get("task")
    if isinstance(task, bytes):
        task = task.decode("utf-8", "replace")
    if isinstance(task, str) and 0 < len(task) <= 64 and task.isprintable():
        return task
    if layout == CFD:
        return "cfd"
    if layout == SERIES:
        return "diffusion-sorption" if channels == 1 else "time-series"
    for attr, name in (("beta", "advection"), ("rho", "reaction-diffusion"), ("Nu", "burgers")):  # Data_Merge's
        if attr in attrs:
            return name
    return SINGLE


def _times(path, parent: h5py.Group, key: str, nt: int, what: str) -> np.ndarray:
    """The frames' times: (T,) or PDEBench's (T + 1,) cut to T, the shape checked before reading."""
    ds = _dataset(path, parent, key, f"({nt},) or ({nt + 1},) times")
    label = _label(parent, key)
    shape = _shape(ds)
    if shape not in ((nt,), (nt + 1,)):
        _fail(path, f"'{label}' has shape {shape}, expected ({nt},) or ({nt + 1},) to match {what}")
    return _read_whole(path, ds, label)[:nt]


def _describe_arrays(path: Path, f: h5py.File, attrs: dict, layout: str, fields: tuple[str, ...]) -> PDEBench1dInfo:
    arrays = [_dataset(path, f, name, "(N, T, X)") for name in fields]
    first = fields[0]
    shape = _shape(arrays[0])
    if layout == CFD and len(shape) != 3:
        _fail(path, f"'density' has shape {shape}, expected (N, T, X): a 1-D CFD file (2-D and 3-D CFD are not read)")
    _check_shape(path, first, shape, (None, None, None), "(N, T, X)")
    n, nt, nx = shape
    if n == 0:
        _fail(path, f"'{first}' holds no samples")
    _check_size(path, first, shape, (nt, nx, len(fields)), samples=n)
    for name, ds in zip(fields[1:], arrays[1:], strict=True):
        _check_shape(path, name, _shape(ds), (n, nt, nx), f"(N, T, X) = {(n, nt, nx)} to match '{first}'")
    x = _coordinates(path, f, "x-coordinate", nx, f"({nx},) to match '{first}' {shape}")
    t = _times(path, f, "t-coordinate", nt, f"'{first}' {shape}")
    task = _task_name(attrs, layout, len(fields))
    return PDEBench1dInfo(path, layout, task, n, nx, len(fields), nt, fields, x, t, (), attrs)


def _describe(path: Path, f: h5py.File) -> PDEBench1dInfo:
    count = _link_count(path, f)
    if count > MAX_SAMPLES:
        _fail(path, f"the file holds {count} top-level entries, more than the {MAX_SAMPLES} samples a file may hold")
    attrs = _attributes(f)
    if _has(f, "nu"):
        _fail(path, "holds 'nu' next to 'tensor': a 2-D Darcy file; read it with PDEBenchDataset")
    if _has(f, "tensor"):
        return _describe_arrays(path, f, attrs, SINGLE, ("tensor",))
    if _has(f, "density"):
        return _describe_arrays(path, f, attrs, CFD, CFD_FIELDS)
    samples, first, label, shape = _first_sample(path, f, "1-D layout", EXPECTED_LAYOUTS, "(T, X, C) trajectory")
    if len(shape) == 4:
        _fail(path, f"'{label}' has shape {shape}: a 2-D time series (T, X, Y, C); read it with PDEBenchDataset")
    _check_shape(path, label, shape, (None, None, None), "(T, X, C)")
    _check_size(path, label, shape, shape)
    nt, nx, nc = shape
    x = _coordinates(path, first, "grid/x", nx, f"({nx},) to match 'data' {shape}")
    t = _coordinates(path, first, "grid/t", nt, f"({nt},) to match 'data' {shape}")
    task = _task_name(attrs, SERIES, nc)
    return PDEBench1dInfo(path, SERIES, task, len(samples), nx, nc, nt, ("data",), x, t, tuple(samples), attrs)


def describe_1d(path: str | os.PathLike) -> PDEBench1dInfo:
    """Detect the 1-D layout from the file's keys and check its structure (reads no sample data)."""
    with open_h5(path) as f:
        try:
            return _describe(Path(path), f)
        except (OSError, RuntimeError) as e:  # HDF5 failed somewhere in the metadata
            _fail(path, f"cannot read the file's structure: {_first_line(e)}")


def _arrays(path, f: h5py.File, info: PDEBench1dInfo) -> list[h5py.Dataset]:
    """The field datasets (SINGLE, CFD), checked again on this handle (the file may have changed)."""
    expected = (info.n_samples, info.n_times, info.n_points)
    out = []
    for name in info.fields:
        ds = _dataset(path, f, name, f"{expected}")
        _check_shape(path, name, _shape(ds), expected, f"{expected} as when the file was opened")
        out.append(ds)
    return out


def _series_dataset(path, f: h5py.File, info: PDEBench1dInfo, index: int) -> h5py.Dataset:
    """Group `index`'s 'data', checked like the first group's (storage, type, shape)."""
    key = info.sample_keys[index]
    expected = (info.n_times, info.n_points, info.n_channels)
    group = _sample_group(path, f, key)
    if not group.id.links.exists(b"data"):
        _fail(path, f"sample '{key}' has no dataset 'data' (expected {expected})")
    data = _dataset(path, group, "data", f"{expected}")
    if _shape(data) != expected:
        _fail(path, f"'{key}/data' has shape {_shape(data)}, expected {expected} like sample '{info.sample_keys[0]}'")
    return data


def check_samples_1d(info: PDEBench1dInfo) -> None:
    """Read every stored value of every sample once, in blocks of bounded size, and check its
    storage, type, shape and that it is finite as float32. Raises PDEBenchFormatError."""
    path = info.path
    with open_h5(path) as f:
        try:
            if info.layout == SERIES:
                for index, key in enumerate(info.sample_keys):
                    data = _series_dataset(path, f, info, index)
                    _scan(path, data, f"{key}/data", lambda _, key=key: f"sample '{key}'")
            else:
                for name, ds in zip(info.fields, _arrays(path, f, info), strict=True):
                    _scan(path, ds, name, lambda i, name=name: f"sample {i} ('{name}')")
        except (OSError, RuntimeError) as e:
            _fail(path, f"cannot read the file: {_first_line(e)}")


def _stride(n_points: int, reduce: int | None, resolution: int | None) -> int:
    """PDEBench's reduced_resolution: every `stride`-th point (given, or from a target resolution)."""
    if reduce is not None and resolution is not None:
        raise WNOEdgeError("give either reduce or resolution, not both")
    if resolution is not None:
        if resolution < 1 or n_points % resolution:
            raise WNOEdgeError(f"cannot subsample {n_points} points to {resolution}: it must divide {n_points}")
        return n_points // resolution
    reduce = 1 if reduce is None else int(reduce)
    if reduce < 1:
        raise WNOEdgeError(f"reduce factor must be >= 1, got {reduce}")
    return reduce


class PDEBench1dDataset(PerProcessFile, Dataset):
    """A torch Dataset over a 1-D PDEBench file, channels first, float32.

    item:    (frames t..t+s-1 stacked as channels (s*C, X), frame t+s (C, X)) for every
             sample and start t (s = initial_step); `trajectory(j)` gives a whole (T, C, X).
    split:   'test', 'train' or 'all', PDEBench's for the layout (module docstring) unless
             test_split ('first' or 'last') says where the test samples sit; taken after
             keeping every sample_reduce-th sample (PDEBench's reduced_batch) and then the
             first max_samples (num_samples_max).
    reduce / resolution: every k-th point (reduced_resolution); time_reduce: every k-th
             frame (reduced_resolution_t).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        split: str = "train",
        *,
        test_fraction: float = 0.1,
        test_split: str | None = None,
        reduce: int | None = None,
        resolution: int | None = None,
        time_reduce: int = 1,
        sample_reduce: int = 1,
        initial_step: int = 10,
        max_samples: int | None = None,
    ):
        self.path = Path(path)
        self.info = info = describe_1d(self.path)
        self.stride = _stride(info.n_points, reduce, resolution)
        if int(sample_reduce) < 1:
            raise WNOEdgeError(f"sample_reduce must be >= 1, got {sample_reduce}")
        kept = np.arange(0, info.n_samples, int(sample_reduce))
        if max_samples is not None:
            if int(max_samples) < 1:
                raise WNOEdgeError(f"max_samples must be >= 1, got {max_samples}")
            kept = kept[: int(max_samples)]
        self.split = split
        self.test_split = PDEBENCH_TEST_SPLIT[info.layout] if test_split is None else test_split
        self.indices = kept[split_indices(len(kept), split, test_fraction, self.test_split)]
        self.x = info.x[:: self.stride]
        self.resolution = len(self.x)
        self.time_reduce = int(time_reduce)
        if self.time_reduce < 1:
            raise WNOEdgeError(f"time_reduce must be >= 1, got {time_reduce}")
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
        self._verified: list[h5py.Dataset] | None = None  # the fields (SINGLE, CFD)
        self._checked_series: set[int] = set()

    # -- reading ----------------------------------------------------------------------------
    def _datasets(self, index: int) -> list[h5py.Dataset]:
        f = self._file()
        try:
            if self.info.layout != SERIES:
                if self._verified is None:
                    self._verified = _arrays(self.path, f, self.info)
                return self._verified
            if index in self._checked_series:  # the same handle: the links checked lead to the same data
                return [f[self.info.sample_keys[index]]["data"]]
            data = _series_dataset(self.path, f, self.info, index)
            self._checked_series.add(index)
            return [data]
        except (OSError, RuntimeError) as e:
            _fail(self.path, f"cannot read sample {index}: {_first_line(e)}")

    def read_frames(self, index: int, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Frames [start, stop) (after time_reduce) of file sample `index` as (T', C, X) float32."""
        tr, s = self.time_reduce, self.stride
        stop = len(self.t) if stop is None else stop
        frames = slice(start * tr, (stop - 1) * tr + 1)  # one contiguous read per field
        if self.info.layout == SERIES:
            (data,) = self._datasets(index)
            key = self.info.sample_keys[index]
            block = _read(self.path, data, frames, f"{key}/data")[::tr, ::s].transpose(0, 2, 1)
            what = f"sample '{key}'"
        else:
            fields = self._datasets(index)
            parts = [
                _read(self.path, ds, (index, frames), name) for ds, name in zip(fields, self.info.fields, strict=True)
            ]
            block = np.stack(parts, axis=1)[::tr, :, ::s]
            what = f"sample {index}"
        block = np.ascontiguousarray(block)
        if not np.isfinite(block).all():
            raise PDEBenchFormatError(f"{self.path}: {what} contains NaN or Inf values")
        return block

    def __len__(self) -> int:
        return len(self.indices) * self.windows

    def __getitem__(self, item: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not -len(self) <= item < len(self):
            raise IndexError(f"index {item} out of range for {len(self)} items")
        sample, start = divmod(item % len(self), self.windows)
        step = self.initial_step
        frames = self.read_frames(int(self.indices[sample]), start, start + step + 1)
        inputs = frames[:-1].reshape(step * frames.shape[1], frames.shape[2])
        return torch.from_numpy(inputs), torch.from_numpy(frames[-1])

    @property
    def n_trajectories(self) -> int:
        return len(self.indices)

    def trajectory(self, j: int) -> torch.Tensor:
        """The j-th trajectory of this split, (T, C, X) float32, for rollout evaluation."""
        return torch.from_numpy(self.read_frames(int(self.indices[j])))


def normalization_stats_1d(dataset: PDEBench1dDataset) -> NormalizationStats:
    """Per-channel mean/std over the dataset's trajectories (pass the training split), in
    blocks of bounded size; the input statistics repeat the frame statistics initial_step
    times, so a predicted frame fed back as input is normalised the same way."""
    info = dataset.info
    stats = _RunningMoments(info.n_channels)
    frame = info.n_channels * info.n_points * dataset.time_reduce  # values read per frame
    step = max(1, READ_BLOCK_VALUES // frame)
    n = len(dataset.t)
    for index in dataset.indices:
        for lo in range(0, n, step):
            stats.add(dataset.read_frames(int(index), lo, min(lo + step, n))[..., None])  # (T, C, X, 1)
    reps = dataset.initial_step
    return NormalizationStats(np.tile(stats.mean, reps), np.tile(stats.std, reps), stats.mean, stats.std)
