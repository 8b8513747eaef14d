"""Lazy readers for PDEBench's 2-D HDF5 layouts (PDEBench's own data files and ours).

    darcy        `nu` (N, X, Y) coefficient a, `tensor` (N, 1, X, Y) solution u,
                 `x-coordinate` (X,), `y-coordinate` (Y,), attribute `beta`
    time-series  one group per sample "0000", "0001", ...: `data` (T, X, Y, C) and
                 `grid/x` (X,), `grid/y` (Y,), `grid/t` (T,)  (diffusion-reaction: C = 2,
                 shallow water: C = 1)

Nothing is loaded whole: opening reads metadata only, each item reads one sample (or
one window of frames) and checks it for shape and NaN/Inf. The HDF5 handle is opened
on first use in each process, so DataLoader workers (fork or spawn) get their own.
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

DARCY, TIME_SERIES = "darcy", "time-series"
EXPECTED_LAYOUTS = (
    "darcy: datasets 'nu' (N, X, Y) and 'tensor' (N, 1, X, Y) with 'x-coordinate', "
    "'y-coordinate'; or time series: groups '0000', '0001', ... each with 'data' "
    "(T, X, Y, C) and 'grid/x', 'grid/y', 'grid/t'"
)
SPLITS = ("train", "test", "all")
TEST_SPLITS = ("first", "last")  # where the test samples sit in the file; "first" is PDEBench's


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
            if c.size < 2 or not np.all(np.diff(c) > 0):
                raise PDEBenchFormatError(f"{self.path}: {name} coordinates are not an increasing grid")
            half = (c[-1] - c[0]) / (c.size - 1) / 2
            return (float(c[0] - half), float(c[-1] + half))

        return axis(self.x, "x"), axis(self.y, "y")


def _fail(path, message: str):
    raise PDEBenchFormatError(f"{path}: {message}")


def _dataset(path, parent: h5py.Group, key: str, expected: str) -> h5py.Dataset:
    obj = parent.get(key)
    if not isinstance(obj, h5py.Dataset):
        where = f"in group '{parent.name.lstrip('/')}' " if parent.name != "/" else ""
        _fail(path, f"missing dataset '{key}' {where}(expected {expected})")
    return obj


def _check_shape(path, name: str, shape: tuple, expected: tuple, text: str) -> None:
    """expected: ints, or None for 'any size'."""
    if len(shape) != len(expected) or any(e is not None and s != e for s, e in zip(shape, expected, strict=False)):
        _fail(path, f"'{name}' has shape {tuple(shape)}, expected {text}")


def _task_name(attrs: dict, layout: str, channels: int) -> str:
    task = attrs.get("task")
    if isinstance(task, bytes):
        task = task.decode()
    if isinstance(task, str) and task:
        return task
    if layout == DARCY:
        return "darcy"
    return {2: "diffusion-reaction", 1: "shallow-water"}.get(channels, TIME_SERIES)


def _sample_keys(f: h5py.File) -> list[str]:
    return sorted((k for k in f if k.isdigit() and isinstance(f[k], h5py.Group)), key=int)


def _describe(path: Path, f: h5py.File) -> PDEBenchInfo:
    attrs = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in f.attrs.items()}
    keys = list(f.keys())
    if "nu" in keys or "tensor" in keys:
        nu = _dataset(path, f, "nu", "(N, X, Y) coefficient field next to 'tensor'")
        tensor = _dataset(path, f, "tensor", "(N, 1, X, Y) solution next to 'nu'")
        _check_shape(path, "nu", nu.shape, (None, None, None), "(N, X, Y)")
        n, nx, ny = nu.shape
        _check_shape(path, "tensor", tensor.shape, (n, 1, nx, ny), f"(N, 1, X, Y) = {(n, 1, nx, ny)} to match 'nu'")
        x = _dataset(path, f, "x-coordinate", f"({nx},) cell centres")
        y = _dataset(path, f, "y-coordinate", f"({ny},) cell centres")
        _check_shape(path, "x-coordinate", x.shape, (nx,), f"({nx},) to match 'nu'")
        _check_shape(path, "y-coordinate", y.shape, (ny,), f"({ny},) to match 'nu'")
        if n == 0:
            _fail(path, "'nu' holds no samples")
        return PDEBenchInfo(
            path, DARCY, _task_name(attrs, DARCY, 1), n, (nx, ny), 1, None, x[()], y[()], None, (), attrs
        )
    samples = _sample_keys(f)
    if not samples:
        shown = ", ".join(repr(k) for k in keys[:8]) + (", ..." if len(keys) > 8 else "")
        _fail(path, f"unknown layout (top-level keys: {shown or 'none'}); expected {EXPECTED_LAYOUTS}")
    first = f[samples[0]]
    data = _dataset(path, first, "data", "(T, X, Y, C) trajectory")
    _check_shape(path, f"{samples[0]}/data", data.shape, (None, None, None, None), "(T, X, Y, C)")
    nt, nx, ny, nc = data.shape
    grid = {}
    for axis, size in (("x", nx), ("y", ny), ("t", nt)):
        ds = _dataset(path, first, f"grid/{axis}", f"({size},) coordinates")
        _check_shape(path, f"{samples[0]}/grid/{axis}", ds.shape, (size,), f"({size},) to match 'data' {data.shape}")
        grid[axis] = ds[()]
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


def open_h5(path: str | os.PathLike) -> h5py.File:
    path = Path(path)
    if not path.is_file():
        raise WNOEdgeError(f"{path}: no such file")
    try:
        return h5py.File(path, "r")
    except OSError as e:
        raise PDEBenchFormatError(f"{path}: not a readable HDF5 file ({str(e).splitlines()[0][:120]})") from None


def describe(path: str | os.PathLike) -> PDEBenchInfo:
    """Detect the layout from the file's keys and check its structure (reads no sample data)."""
    with open_h5(path) as f:
        return _describe(Path(path), f)


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


class PDEBenchDataset(Dataset):
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

    # -- file handle: one per process, never pickled ------------------------------------
    def _file(self) -> h5py.File:
        if self._h5 is None or self._pid != os.getpid():
            self._h5 = open_h5(self.path)
            self._pid = os.getpid()
        return self._h5

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_h5"] = state["_pid"] = None
        return state

    def close(self) -> None:
        if self._h5 is not None and self._pid == os.getpid():
            self._h5.close()
        self._h5 = None

    # -- reading ----------------------------------------------------------------------------
    def _checked(self, array: np.ndarray, what: str) -> np.ndarray:
        if not np.isfinite(array).all():
            raise PDEBenchFormatError(f"{self.path}: {what} contains NaN or Inf values")
        return array

    def _series(self, index: int) -> h5py.Dataset:
        key = self.info.sample_keys[index]
        group = self._file()[key]
        data = group.get("data")
        nt, nx, ny, nc = self.info.n_times, *self.info.shape, self.info.n_channels
        if not isinstance(data, h5py.Dataset):
            _fail(self.path, f"sample '{key}' has no dataset 'data' (expected ({nt}, {nx}, {ny}, {nc}))")
        if data.shape != (nt, nx, ny, nc):
            _fail(
                self.path,
                f"'{key}/data' has shape {data.shape}, expected {(nt, nx, ny, nc)} like sample "
                f"'{self.info.sample_keys[0]}'",
            )
        return data

    def read_frames(self, index: int, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Frames [start, stop) (after time_reduce) of file sample `index` as (T', C, H, W) float32."""
        tr, s = self.time_reduce, self.stride
        if stop is None:
            assert self.t is not None, "Darcy samples have no frames (read_darcy)"
            stop = len(self.t)
        data = self._series(index)
        block = data[start * tr : (stop - 1) * tr + 1][::tr, ::s, ::s]  # one contiguous read
        key = self.info.sample_keys[index]
        return self._checked(np.ascontiguousarray(block.transpose(0, 3, 1, 2), dtype=np.float32), f"sample '{key}'")

    def read_darcy(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """(a, u) of file sample `index`, each (1, H, W) float32."""
        f, s = self._file(), self.stride
        a = f["nu"][index][::s, ::s][None]
        u = f["tensor"][index][:, ::s, ::s]
        what = f"Darcy sample {index}"
        return (
            self._checked(np.ascontiguousarray(a, dtype=np.float32), f"{what} ('nu')"),
            self._checked(np.ascontiguousarray(u, dtype=np.float32), f"{what} ('tensor')"),
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
        values = np.moveaxis(block, -3, 0).reshape(block.shape[-3], -1).astype(np.float64)
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
    for index in dataset.indices:
        stats.add(dataset.read_frames(int(index)))
    reps = dataset.initial_step
    assert reps is not None  # set for every layout but Darcy
    return NormalizationStats(np.tile(stats.mean, reps), np.tile(stats.std, reps), stats.mean, stats.std)
