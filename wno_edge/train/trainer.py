"""Training WNOs on PDEBench-layout files: `wno_edge.train.fit(...)`, wrapped by `wno-edge train`.

A 2-D file (PDEBenchDataset) trains a 2-D model, a 1-D file (PDEBench1dDataset: PDEBench's
1-D sets, the Burgers solver's files) a 1-D one; only opening the data and building the
model know the rank. Relative-L2 loss, Adam with cosine annealing, normalisation fitted on the training split and
stored in the model, best-on-test checkpoints, resumable. Time-dependent tasks train
one step ahead from `initial_step` frames and are evaluated by autoregressive rollout.
Runs under torchrun as DistributedDataParallel (gloo on CPU, nccl on CUDA).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader
from torch.utils.data.distributed import DistributedSampler

from ..checkpoint import load_model, save_model
from ..contract import SAMPLE_INPUTS_KEY, TASKS, TASKS_1D, WNOConfig
from ..data import PDEBench1dDataset, PDEBenchDataset, normalization_stats, normalization_stats_1d
from ..data.pdebench import ONE_D, TEST_SPLITS, PDEBenchFormatError, describe
from ..data.pdebench1d import PDEBENCH_TEST_SPLIT
from ..errors import WNOEdgeError
from ..model import WNO2d, check_state_dict
from ..util.io import atomic_path, refuse_overwrite, refuse_same_outputs
from .options import TrainOptions

SAMPLE_INPUTS = 2  # test inputs stored in the checkpoint
Dataset = PDEBenchDataset | PDEBench1dDataset  # a 2-D or a 1-D file's items
UNNAMED_1D = ("single-array", "time-series")  # what pdebench1d calls a 1-D file that names no task


@dataclass
class TrainResult:
    checkpoint: Path
    best_epoch: int
    test_rel_l2: float  # one-step (Darcy: the only step)
    rollout_rel_l2: float | None  # time-dependent tasks
    train_seconds: float
    history: list = field(default_factory=list)  # [epoch, train rel L2, test rel L2]


class ZeroTargetError(WNOEdgeError):
    """A target of zero norm: its relative error is undefined."""


def relative_l2(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-sample ||pred - target|| / ||target||, averaged over the batch. A target of zero
    norm has no relative error: it raises ZeroTargetError instead of dividing by ~0."""
    norm = target.flatten(1).norm(dim=1)
    if not bool((norm > 0).all()):
        raise ZeroTargetError(
            "a target is all zeros: its relative L2 error is undefined (remove such samples "
            "from the data, or check that the file holds the solutions)"
        )
    diff = (pred - target).flatten(1).norm(dim=1)
    return (diff / norm).mean()


def _finite(value: float) -> bool:
    return value == value and value not in (float("inf"), float("-inf"))


@torch.no_grad()
def evaluate(model: WNO2d, dataset: Dataset, batch_size: int = 32, device="cpu") -> float:
    """Mean per-sample relative L2 error over `dataset` (one step)."""
    model.eval()
    total, count = 0.0, 0
    for x, y in DataLoader(dataset, batch_size=batch_size):
        total += relative_l2(model(x.to(device)), y.to(device)).item() * len(x)
        count += len(x)
    return total / max(count, 1)


@torch.no_grad()
def rollout_error(model: WNO2d, dataset: Dataset, trajectories: int = 8, device="cpu") -> float:
    """Autoregressive rollout from the first `initial_step` frames to the end of each test
    trajectory; relative L2 over all predicted frames, averaged over trajectories."""
    model.eval()
    s = dataset.initial_step
    errors = []
    for j in range(min(trajectories, dataset.n_trajectories)):
        traj = dataset.trajectory(j).to(device)  # (T, C, H, W) or (T, C, X)
        assert s is not None  # trajectory() raises for Darcy, the one layout without initial_step
        window = traj[:s].reshape(1, -1, *traj.shape[2:])
        preds = []
        for _ in range(s, len(traj)):
            nxt = model(window)
            preds.append(nxt[0])
            window = torch.cat([window[:, traj.shape[1] :], nxt], dim=1)
        errors.append(relative_l2(torch.stack(preds)[None], traj[s:][None]).item())
    return sum(errors) / max(len(errors), 1)


def _distributed() -> tuple[int, int]:
    """(rank, world size); initialises the process group when launched by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(
            "nccl" if torch.cuda.is_available() and os.environ.get("WNO_EDGE_DDP_CPU") != "1" else "gloo"
        )
    return (dist.get_rank(), world) if world > 1 else (0, 1)


def _state_path(output: Path) -> Path:
    return output.with_name(output.name + ".state")


def grid_of(dataset: Dataset) -> tuple[int, ...]:
    """The dataset's grid: (H, W) of a 2-D file, (X,) of a 1-D one."""
    resolution = dataset.resolution
    return (resolution,) if isinstance(resolution, int) else tuple(resolution)


def build_model(opts: TrainOptions, train: Dataset) -> WNO2d:
    """A new model for the data's rank (opts.modes on each axis), normalised on `train`;
    or the --init checkpoint."""
    if opts.init is not None:
        return _initial_model(opts.init, train)
    grid = grid_of(train)
    cfg = WNOConfig(
        in_channels=train.in_channels,
        out_channels=train.out_channels,
        width=opts.width,
        modes=(opts.modes,) * len(grid),
        n_layers=opts.layers,
        winograd_tile=opts.tile,
        real_space_kernel=opts.real_space_kernel,
        resolution=grid,
    )
    model = WNO2d(cfg)
    stats = normalization_stats(train) if isinstance(train, PDEBenchDataset) else normalization_stats_1d(train)
    model.set_normalization(*(torch.as_tensor(v, dtype=torch.float32) for v in stats.as_tuple()))
    return model


def _initial_model(path: str, train: Dataset) -> WNO2d:
    """The checkpoint to start from, checked against the data (one-line errors); it keeps its
    own normalisation statistics (new ones would change the function it computes)."""
    model = load_model(path)
    cfg = model.config
    rank = len(grid_of(train))
    if cfg.rank != rank:
        raise WNOEdgeError(f"--init {path}: a {cfg.rank}-D model, the data is {rank}-D")
    if (cfg.in_channels, cfg.out_channels) != (train.in_channels, train.out_channels):
        raise WNOEdgeError(
            f"--init {path}: the model maps {cfg.in_channels} -> {cfg.out_channels} channels, the "
            f"data {train.in_channels} -> {train.out_channels}"
        )
    model.metadata = {}
    return model.train()


def check_options(opts: TrainOptions) -> Path:
    """The checks that need no data; the CLI runs them before it draws anything."""
    if opts.task is not None and opts.task not in TASKS + TASKS_1D:
        raise WNOEdgeError(f"task must be one of {', '.join(TASKS + TASKS_1D)}, got {opts.task!r}")
    if opts.test_split is not None and opts.test_split not in TEST_SPLITS:
        raise WNOEdgeError(f"test split must be one of {', '.join(TEST_SPLITS)}, got {opts.test_split!r}")
    if opts.epochs < 1 or opts.batch_size < 1 or opts.lr <= 0:
        raise WNOEdgeError("epochs and batch size must be >= 1 and lr > 0")
    output = Path(opts.output)
    # Neither the checkpoint nor its training state may replace the data or the --init
    # checkpoint (--resume reads and rewrites OUTPUT.state: that one is the run's own file).
    for written in (output, _state_path(output)):
        refuse_overwrite(written, opts.data, opts.init)
    refuse_same_outputs(output, _state_path(output))
    if not output.resolve().parent.is_dir():
        raise WNOEdgeError(f"cannot write {output}: directory {output.parent} does not exist")
    if opts.init is not None and not Path(opts.init).is_file():
        raise WNOEdgeError(f"--init {opts.init}: no such file")
    if opts.init is not None and opts.resume:
        raise WNOEdgeError("--init starts a new run and --resume continues one: give one of them")
    if opts.device == "cuda" and not torch.cuda.is_available():
        raise WNOEdgeError("--device cuda requested but PyTorch sees no CUDA GPU")
    return output


def _is_1d(path: str) -> bool:
    """Whether `path` holds one of PDEBench's 1-D layouts: the 2-D reader refuses those naming
    the 1-D one (any other refusal is the 2-D reader's to give, and 1-D's reader refuses 2-D files)."""
    try:
        describe(path)
    except PDEBenchFormatError as e:
        if ONE_D in str(e):
            return True
        raise
    return False


def _open_datasets(opts: TrainOptions) -> tuple[TrainOptions, Dataset, Dataset]:
    """The datasets, and the options with the task and the test split filled in from the file
    when not given (the split: PDEBench's for the layout, the first samples but for 1-D files
    of a group per sample)."""
    common: dict[str, Any] = dict(
        test_fraction=opts.test_fraction,
        resolution=opts.resolution,
        initial_step=opts.initial_step,
        time_reduce=opts.time_reduce,
        max_samples=opts.max_samples,
    )
    train: Dataset
    test: Dataset
    tasks: tuple[str, ...]
    unnamed: tuple[str, ...]
    one_d = _is_1d(opts.data)
    if one_d:
        train = PDEBench1dDataset(opts.data, "train", test_split=opts.test_split, **common)
        test = PDEBench1dDataset(opts.data, "test", test_split=opts.test_split, **common)
        tasks, unnamed, split = TASKS_1D, UNNAMED_1D, PDEBENCH_TEST_SPLIT[train.info.layout]
    else:
        test_split = opts.test_split or "first"
        train = PDEBenchDataset(opts.data, "train", test_split=test_split, **common)
        test = PDEBenchDataset(opts.data, "test", test_split=test_split, **common)
        tasks, unnamed, split = TASKS, ("time-series",), "first"
    if opts.test_split is None:
        opts = replace(opts, test_split=split)
    file_task = train.info.task
    if opts.task is None:
        if file_task not in tasks:
            raise WNOEdgeError(
                f"{opts.data} does not say which task it holds ({file_task}); pass --task, one of {', '.join(tasks)}"
            )
        opts = replace(opts, task=file_task)
    elif opts.task not in tasks:
        rank = "1-D" if one_d else "2-D"
        raise WNOEdgeError(f"{opts.data} holds {rank} data: --task must be one of {', '.join(tasks)}")
    elif file_task not in (opts.task, *unnamed):
        raise WNOEdgeError(f"{opts.data} holds {file_task} data, not {opts.task}")
    if len(train) == 0 or len(test) == 0:
        raise WNOEdgeError(f"{opts.data}: too few samples for a train/test split ({train.info.n_samples})")
    return opts, train, test


def _load_state(state_file: Path, model: WNO2d) -> dict:
    """The training state to resume from, checked against this run's model (one-line errors)."""
    if not state_file.is_file():
        raise WNOEdgeError(f"--resume: no training state {state_file} to resume from")
    try:
        state = torch.load(state_file, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated or corrupt: the unpickler fails in arbitrary ways
        msg = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise WNOEdgeError(
            f"--resume: {state_file} is not a readable training state (truncated or corrupt?): {msg[:160]}"
        ) from None
    keys = ("model", "optimizer", "scheduler", "epoch", "best", "history")
    if not isinstance(state, dict) or any(k not in state for k in keys):
        raise WNOEdgeError(f"--resume: {state_file} is not a wno-edge training state")
    stored = state.get("config")
    if isinstance(stored, dict) and stored != model.config.to_dict():
        diff = [f"{k} {stored.get(k)!r} (now {v!r})" for k, v in model.config.to_dict().items() if stored.get(k) != v]
        raise WNOEdgeError(
            f"--resume: {state_file} was trained with another model: {', '.join(diff)}; "
            "use the same options, or train afresh without --resume"
        )
    try:
        check_state_dict(model.config, state["model"])
    except WNOEdgeError as e:
        raise WNOEdgeError(
            f"--resume: {state_file} does not fit this run's model ({e}); use the same "
            "--width/--modes/--layers, or train afresh without --resume"
        ) from None
    return state


def _train_epoch(net, loader, optimizer, device, world: int, on_batch=None) -> float:
    """One pass over the training set; the mean relative L2 over all ranks."""
    net.train()
    total, count = 0.0, 0
    for i, (x, y) in enumerate(loader):
        x, y = x.to(device), y.to(device)
        loss = relative_l2(net(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total, count = total + loss.item() * len(x), count + len(x)
        if on_batch:
            on_batch(i + 1, len(loader))
    if world > 1:  # average the ranks' training error for the report
        t = torch.tensor([total, count], dtype=torch.float64, device=device)
        dist.all_reduce(t)
        total, count = t.tolist()
    if count == 0:
        raise WNOEdgeError("no training batch: the training split is empty")
    return total / count


def fit(
    opts: TrainOptions,
    on_epoch: Callable[[int, float, float, bool], None] | None = None,
    on_batch: Callable[[int, int, int], None] | None = None,
) -> TrainResult:
    """Train, keep the best-on-test model at opts.output; returns the final figures.

    on_epoch(epoch, train error, test error, saved) after each epoch; on_batch(epoch, batch,
    batches per epoch) after each training batch (rank 0). The output file is written only
    with models of this run: a run that diverges (a loss or test error that is not finite)
    raises and leaves an existing file as it was; opts.task None takes the file's task.
    """
    output = check_options(opts)
    rank, world = _distributed()
    device = torch.device(
        opts.device if world == 1 or opts.device == "cpu" else f"cuda:{rank % torch.cuda.device_count()}"
    )
    if opts.threads:
        torch.set_num_threads(opts.threads)
    torch.manual_seed(opts.seed)
    opts, train, test = _open_datasets(opts)

    state_file = _state_path(output)
    start_epoch, best, history = 0, float("inf"), []
    model = build_model(opts, train)
    optimizer = torch.optim.Adam(model.parameters(), lr=opts.lr, weight_decay=opts.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=opts.epochs)
    saved_here = False  # has this run (or the run it resumes) written the output?
    if opts.resume:
        state = _load_state(state_file, model)
        try:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
        except (RuntimeError, ValueError, KeyError) as e:
            raise WNOEdgeError(
                f"--resume: {state_file} does not fit this run: {str(e).splitlines()[0][:160]}"
            ) from None
        start_epoch, best, history = state["epoch"], state["best"], state["history"]
        saved_here = output.is_file() and best < float("inf")
    model.to(device).set_conv(None)  # train with direct conv: the same function, oneDNN/cuDNN speed
    net = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model
    sampler: DistributedSampler[int] | None = (
        DistributedSampler(train, world, rank, shuffle=True, seed=opts.seed) if world > 1 else None
    )
    generator = torch.Generator().manual_seed(opts.seed)
    # drop_last by what each rank sees: under DDP a rank's share can be smaller than a batch
    # (a full-size drop_last then left no batch at all, and a NaN "training error").
    per_rank = len(sampler) if sampler is not None else len(train)
    loader = DataLoader(
        train,
        batch_size=opts.batch_size,
        shuffle=sampler is None,
        sampler=sampler,
        generator=generator,
        drop_last=per_rank > opts.batch_size,
    )

    t0 = time.perf_counter()
    best_epoch = next((int(e) for e, _, te in history if te == best), 0)
    try:
        for epoch in range(start_epoch, opts.epochs):
            if sampler is not None:
                sampler.set_epoch(epoch)
            batch_cb = (lambda i, n, e=epoch + 1: on_batch(e, i, n)) if on_batch and rank == 0 else None
            train_err = _train_epoch(net, loader, optimizer, device, world, batch_cb)
            if not _finite(train_err):
                raise _diverged(epoch + 1, "training", train_err, best_epoch if saved_here else None, output)
            scheduler.step()
            if rank == 0:
                test_err = evaluate(model, test, device=device)
                if not _finite(test_err):
                    raise _diverged(epoch + 1, "test", test_err, best_epoch if saved_here else None, output)
                improved = test_err < best
                history.append([epoch + 1, train_err, test_err])
                if improved:
                    best, best_epoch = test_err, epoch + 1
                    _save(model, output, opts, train, test, best, best_epoch, history, time.perf_counter() - t0)
                    saved_here = True
                with atomic_path(state_file, inputs=(opts.data, opts.init)) as tmp:
                    torch.save(
                        {
                            "model": model.state_dict(),
                            "optimizer": optimizer.state_dict(),
                            "scheduler": scheduler.state_dict(),
                            "epoch": epoch + 1,
                            "best": best,
                            "history": history,
                            "config": model.config.to_dict(),
                        },
                        tmp,
                    )
                if on_epoch:
                    on_epoch(epoch + 1, train_err, test_err, improved)
    except ZeroTargetError as e:  # name the file: the error is in the data, not the model
        raise WNOEdgeError(f"{opts.data}: {e}") from None
    seconds = time.perf_counter() - t0
    if world > 1:
        dist.barrier()
    rollout = None
    if rank == 0:
        if not saved_here:  # e.g. --resume of a finished run: nothing of this run to write
            raise WNOEdgeError(f"no model was trained (epochs {start_epoch + 1}..{opts.epochs}); {output} is unchanged")
        best_model = load_model(output, map_location=device).set_conv(None)
        if train.initial_step is not None:
            rollout = rollout_error(best_model, test, opts.rollout_trajectories, device=device)
        _save(best_model.cpu(), output, opts, train, test, best, best_epoch, history, seconds, rollout)
    if world > 1:
        dist.destroy_process_group()
    return TrainResult(output, best_epoch, best, rollout, seconds, history)


def _diverged(epoch: int, which: str, value: float, best_epoch: int | None, output: Path) -> WNOEdgeError:
    kept = (
        f"{output} keeps epoch {best_epoch}'s model"
        if best_epoch
        else f"{output} was not written" + (" (the existing file is unchanged)" if output.exists() else "")
    )
    return WNOEdgeError(f"training diverged at epoch {epoch}: the {which} error is {value}; {kept}. Try a lower --lr")


def _save(model, output, opts, train, test, best, best_epoch, history, seconds, rollout=None):
    meta = {
        "task": opts.task,
        "data": Path(opts.data).name,
        "n_train": len(train),
        "n_test": len(test),
        "resolution": list(grid_of(train)),
        "test_rel_l2": best,
        "best_epoch": best_epoch,
        "train_seconds": round(seconds, 1),
        "history": history,
        "options": asdict(replace(opts, resume=False)),
        "command": " ".join(["wno-edge", *sys.argv[1:]]) if Path(sys.argv[0]).name == "wno-edge" else None,
    }
    if train.initial_step is not None:
        meta["initial_step"] = train.initial_step
    if rollout is not None:
        meta["rollout_rel_l2"] = rollout
    # A few test inputs travel with the model, so that export can verify on real data
    # without reopening the training file.
    meta[SAMPLE_INPUTS_KEY] = torch.stack([test[i][0] for i in range(min(SAMPLE_INPUTS, len(test)))])
    save_model(model, output, meta)
