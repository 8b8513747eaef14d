"""Write generated datasets in PDEBench's HDF5 layouts, so generated and downloaded files
are interchangeable for the readers (wno_edge.data.pdebench).

Sample i is drawn from np.random.default_rng([seed, i]) alone: files are reproducible,
and the first k samples of an n-sample file equal a k-sample file with the same seed.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ..contract import TASKS
from ..errors import WNOEdgeError
from ..util.io import atomic_path
from . import burgers, darcy, diffusion_reaction, shallow_water

# What generate solves: the 2-D training tasks, and 1-D Burgers (PDEBench's single-array
# layout, read by pdebench1d). The CLI spells the same list (cli/data.py, which must not
# import h5py); tests/test_data_burgers.py checks that they agree.
SOLVERS = (*TASKS, "burgers")

MIN_RESOLUTION = 4

# What a file may declare, checked by the readers (pdebench.py) before they read anything and
# by generate before it writes anything, so every generated file can be read back. Kept here,
# in the torch-free module, for that reason. HDF5 stores a declared shape without its values
# (unwritten chunks read as the fill value), so a file of a few KiB can declare 10^9 samples;
# the bounds sit far above PDEBench's largest 2-D files (10^4 Darcy samples of 128 x 128;
# 10^3 trajectories of 101 x 128 x 128 x 2 = 3.3e6 values) and keep one sample's read to
# about 1 GiB as float32.
MAX_SAMPLES = 1_000_000  # samples (Darcy) or sample groups (time series) in a file
MAX_POINTS = 65_536  # length of any one axis of a sample: grid points, frames, channels
MAX_SAMPLE_VALUES = 2**28  # values in one sample: X * Y (Darcy), T * X * Y * C (a trajectory)
MAX_CHUNK_VALUES = 2**26  # one HDF5 chunk, which HDF5 inflates whole to read any of it (h5py picks <= 1 MiB)


@dataclass(frozen=True)
class GenerationResult:
    path: Path
    task: str
    n_samples: int
    resolution: int
    seconds: float

    @property
    def samples_per_second(self) -> float:
        return self.n_samples / self.seconds if self.seconds > 0 else float("inf")


def sample_rng(seed: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, index])


def _batch_size(task: str, n: int) -> int:
    """Samples solved together: amortises numpy overhead, bounds memory (~64 MB of frames)."""
    if task == "darcy":
        return 16
    if task == "burgers":  # (B, 201, X) float64 frames; small batches of short lines waste numpy calls
        return int(np.clip(64 * 2**20 // (burgers.N_FRAMES * n * 8), 1, 64))
    per_sample = 101 * 3 * n * n * 8  # float64 frames of up to three fields
    return int(np.clip(64 * 2**20 // per_sample, 1, 16))


def _solve_batch(args) -> dict:
    """One batch of samples -> float32 arrays (runs in worker processes too)."""
    task, start, stop, n, seed, beta, nu = args
    rngs = [sample_rng(seed, i) for i in range(start, stop)]
    if task == "burgers":
        return {"tensor": burgers.burgers_samples(rngs, n, nu).astype(np.float32)}  # (B, T, X)
    if task == "darcy":
        pairs = [darcy.darcy_sample(r, n, beta) for r in rngs]
        return {
            "nu": np.stack([a for a, _ in pairs]).astype(np.float32),
            "tensor": np.stack([u for _, u in pairs])[:, None].astype(np.float32),
        }
    if task == "diffusion-reaction":
        traj = diffusion_reaction.diffusion_reaction_samples(rngs, n)
        return {"data": traj.transpose(0, 1, 3, 4, 2).astype(np.float32)}  # (B, T, X, Y, C)
    h, radii = shallow_water.shallow_water_samples(rngs, n)
    return {"data": h.transpose(0, 1, 3, 4, 2).astype(np.float32), "dam_radius": radii}


def _check_args(task: str, n_samples: int, resolution: int, seed: int, workers: int) -> None:
    if task not in SOLVERS:
        raise WNOEdgeError(f"unknown task {task!r}; choose one of: {', '.join(SOLVERS)}")
    if n_samples < 1:
        raise WNOEdgeError(f"number of samples must be >= 1, got {n_samples}")
    if resolution < MIN_RESOLUTION:
        raise WNOEdgeError(f"resolution must be >= {MIN_RESOLUTION}, got {resolution}")
    if seed < 0:
        raise WNOEdgeError(f"seed must be >= 0, got {seed}")
    if workers < 1:
        raise WNOEdgeError(f"workers must be >= 1, got {workers}")
    if n_samples > MAX_SAMPLES:
        raise WNOEdgeError(f"number of samples must be <= {MAX_SAMPLES} (what the readers accept), got {n_samples}")
    if resolution > MAX_POINTS:
        raise WNOEdgeError(f"resolution must be <= {MAX_POINTS} (what the readers accept), got {resolution}")
    values = {  # per sample, as written: Darcy (X, Y); time series (T, X, Y, C); Burgers (T, X)
        "darcy": resolution**2,
        "diffusion-reaction": diffusion_reaction.N_FRAMES * 2 * resolution**2,
        "shallow-water": shallow_water.N_FRAMES * resolution**2,
        "burgers": burgers.N_FRAMES * resolution,
    }[task]
    if values > MAX_SAMPLE_VALUES:
        raise WNOEdgeError(
            f"resolution {resolution} makes {task} samples of {values} values, "
            f"more than the {MAX_SAMPLE_VALUES} the readers accept"
        )


class GenerationInterrupted(WNOEdgeError):
    """SIGTERM or SIGHUP ended generation; the temporary file was removed."""

    def __init__(self, signum: int, path):
        self.signum = signum
        super().__init__(f"interrupted by {signal.Signals(signum).name}: {path} was not written")


_TERMINATING = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


class _Signals:
    """SIGINT, SIGTERM and SIGHUP unwind generation: the `with` blocks stop the workers and
    remove the temporary file instead of the process dying in place.

    The handler raises at once (KeyboardInterrupt for SIGINT, GenerationInterrupted for the
    others), but Python swallows an exception raised inside a weakref callback or __del__
    ("Exception ignored in ..."), so the signal is also recorded and `check()` re-raises it at
    the points that must not be passed: after each batch and before the file is committed.
    `unraisable` keeps such a swallowed exception off stderr (it is not lost: `check()` raises
    it again), so an interrupted run still ends in one line.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = path
        self.received: int | None = None

    def raise_for(self, signum: int):
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise GenerationInterrupted(signum, self.path)

    def handler(self, signum, frame):
        self.received = signum
        self.raise_for(signum)

    def check(self) -> None:
        if self.received is not None:
            self.raise_for(self.received)

    def unraisable_hook(self, previous):
        def hook(unraisable):
            ours = issubclass(unraisable.exc_type, (KeyboardInterrupt, GenerationInterrupted))
            if not (ours and self.received is not None):
                previous(unraisable)

        return hook


@contextlib.contextmanager
def _signals_unwind(path):
    signals = _Signals(path)
    if threading.current_thread() is not threading.main_thread():  # handlers need the main thread
        yield signals
        return
    previous_hook = sys.unraisablehook
    sys.unraisablehook = signals.unraisable_hook(previous_hook)
    previous = {sig: signal.signal(sig, signals.handler) for sig in (signal.SIGINT, *_TERMINATING)}
    try:
        yield signals
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
        sys.unraisablehook = previous_hook


def _worker_init() -> None:
    # Ctrl-C reaches the whole process group: the parent handles it and stops the workers,
    # which must not print a traceback each. SIGTERM (Pool.terminate) simply ends a worker.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for sig in _TERMINATING:
        signal.signal(sig, signal.SIG_DFL)


def _pool(workers: int):
    # fork starts workers instantly and shares the imported modules; spawn where there is no fork.
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    return multiprocessing.get_context(method).Pool(workers, initializer=_worker_init)


def _progress(enabled: bool):
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class SamplesPerSecond(ProgressColumn):
        def render(self, task):
            return Text(f"{task.speed:.1f} samples/s" if task.speed else "", style="cyan")

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        SamplesPerSecond(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not enabled,
    )


def generate(
    task: str,
    path: str | os.PathLike,
    n_samples: int,
    resolution: int = 64,
    seed: int = 0,
    *,
    beta: float = 1.0,
    nu: float = burgers.NU,
    workers: int = 1,
    progress: bool = True,
) -> GenerationResult:
    """Solve `n_samples` PDEBench-style samples of `task` on a resolution^2 grid (Burgers:
    `resolution` cells on a line) and write `path`.

    darcy: `nu`, `tensor`, `x-coordinate`, `y-coordinate`, attribute `beta` (the forcing).
    diffusion-reaction / shallow-water: groups "0000", "0001", ... with `data` (T, X, Y, C)
    and `grid/x`, `grid/y`, `grid/t`.
    burgers: PDEBench's 1-D single-array layout, `tensor` (N, 201, X), `x-coordinate` (X,),
    `t-coordinate` (201,) (the frame times), attribute `Nu` = nu (u_xx's coefficient is nu / pi).
    The file appears only when complete (atomic rename);
    on an error, Ctrl-C (KeyboardInterrupt), SIGTERM or SIGHUP (GenerationInterrupted) the
    temporary file is removed and the workers are stopped.
    """
    _check_args(task, n_samples, resolution, seed, workers)
    if task == "burgers" and not (np.isfinite(nu) and nu >= 0):
        raise WNOEdgeError(f"nu must be a finite number >= 0, got {nu}")
    n = resolution
    size = _batch_size(task, n)
    batches = [(task, s, min(s + size, n_samples), n, seed, float(beta), float(nu)) for s in range(0, n_samples, size)]
    params: dict[str, Any] = {"resolution": n, "seed": seed}
    if task == "darcy":
        params["beta"] = float(beta)
    elif task == "burgers":
        params.update(nu=float(nu), viscosity=burgers.viscosity(nu), T=burgers.T_END, boundary="periodic")
    elif task == "diffusion-reaction":
        params.update(
            Du=diffusion_reaction.DU,
            Dv=diffusion_reaction.DV,
            k=diffusion_reaction.K,
            T=diffusion_reaction.T_END,
            boundary="neumann",
        )
    else:
        params.update(
            g=shallow_water.GRAVITY,
            T=shallow_water.T_END,
            radius_range=list(shallow_water.RADIUS_RANGE),
            boundary="reflect",
        )
    start = time.perf_counter()
    with (
        _signals_unwind(path) as signals,
        atomic_path(path, before_commit=signals.check) as tmp,
        h5py.File(tmp, "w") as f,
        _progress(progress) as bar,
    ):
        f.attrs["generator"] = "wno-edge"
        f.attrs["task"] = task
        f.attrs["config"] = json.dumps(params)
        if task == "darcy":
            x = darcy.cell_centers(n).astype(np.float32)
            f.attrs["beta"] = float(beta)
            nu_ds = f.create_dataset("nu", (n_samples, n, n), dtype="f4")
            tensor = f.create_dataset("tensor", (n_samples, 1, n, n), dtype="f4")
            f.create_dataset("x-coordinate", data=x)
            f.create_dataset("y-coordinate", data=x)
        elif task == "burgers":
            f.attrs["Nu"] = float(nu)
            tensor = f.create_dataset("tensor", (n_samples, burgers.N_FRAMES, n), dtype="f4")
            f.create_dataset("x-coordinate", data=burgers.cell_centers(n).astype(np.float32))
            f.create_dataset("t-coordinate", data=burgers.frame_times().astype(np.float32))
        else:
            module = diffusion_reaction if task == "diffusion-reaction" else shallow_water
            x = module.cell_centers(n).astype(np.float32)
            t = module.frame_times().astype(np.float32)
        job = bar.add_task(f"{task} {n}" if task == "burgers" else f"{task} {n}x{n}", total=n_samples)
        pool = _pool(workers) if workers > 1 else None
        try:
            results = pool.imap(_solve_batch, batches) if pool else map(_solve_batch, batches)
            for (_, lo, hi, *_), out in zip(batches, results, strict=True):
                if task == "darcy":
                    nu_ds[lo:hi] = out["nu"]
                    tensor[lo:hi] = out["tensor"]
                elif task == "burgers":
                    tensor[lo:hi] = out["tensor"]
                else:
                    for k, i in enumerate(range(lo, hi)):
                        group = f.create_group(f"{i:04d}")
                        group.create_dataset("data", data=out["data"][k])
                        group.create_dataset("grid/x", data=x)
                        group.create_dataset("grid/y", data=x)
                        group.create_dataset("grid/t", data=t)
                        if "dam_radius" in out:
                            group.attrs["dam_radius"] = float(out["dam_radius"][k])
                bar.advance(job, hi - lo)
                signals.check()
        finally:
            if pool:
                pool.terminate()
    return GenerationResult(Path(path), task, n_samples, n, time.perf_counter() - start)
