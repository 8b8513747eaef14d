"""Training WNOs on PDEBench-layout files: `wno_edge.train.fit(...)`, wrapped by `wno-edge train`.

Relative-L2 loss, Adam with cosine annealing, normalisation fitted on the training split and
stored in the model, best-on-test checkpoints, resumable. Time-dependent tasks train
one step ahead from `initial_step` frames and are evaluated by autoregressive rollout.
Runs under torchrun as DistributedDataParallel (gloo on CPU, nccl on CUDA).
"""
from __future__ import annotations

import os
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader
from torch.utils.data.distributed import DistributedSampler

from ..checkpoint import load_model, save_model
from ..data import PDEBenchDataset, normalization_stats
from ..errors import WNOEdgeError
from ..io import atomic_path
from ..contract import SAMPLE_INPUTS_KEY, TASKS, WNOConfig
from ..model import WNO2d
from .options import TrainOptions

SAMPLE_INPUTS = 2  # test inputs stored in the checkpoint


@dataclass
class TrainResult:
    checkpoint: Path
    best_epoch: int
    test_rel_l2: float  # one-step (Darcy: the only step)
    rollout_rel_l2: float | None  # time-dependent tasks
    train_seconds: float
    history: list = field(default_factory=list)  # [epoch, train rel L2, test rel L2]


def relative_l2(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-sample ||pred - target|| / ||target||, averaged over the batch."""
    diff = (pred - target).flatten(1).norm(dim=1)
    return (diff / target.flatten(1).norm(dim=1).clamp_min(1e-12)).mean()


@torch.no_grad()
def evaluate(model: WNO2d, dataset: PDEBenchDataset, batch_size: int = 32, device="cpu") -> float:
    """Mean per-sample relative L2 error over `dataset` (one step)."""
    model.eval()
    total, count = 0.0, 0
    for x, y in DataLoader(dataset, batch_size=batch_size):
        total += relative_l2(model(x.to(device)), y.to(device)).item() * len(x)
        count += len(x)
    return total / max(count, 1)


@torch.no_grad()
def rollout_error(model: WNO2d, dataset: PDEBenchDataset, trajectories: int = 8, device="cpu") -> float:
    """Autoregressive rollout from the first `initial_step` frames to the end of each test
    trajectory; relative L2 over all predicted frames, averaged over trajectories."""
    model.eval()
    s = dataset.initial_step
    errors = []
    for j in range(min(trajectories, dataset.n_trajectories)):
        traj = dataset.trajectory(j).to(device)  # (T, C, H, W)
        window = traj[:s].reshape(1, -1, *traj.shape[2:])
        preds = []
        for _ in range(s, len(traj)):
            nxt = model(window)
            preds.append(nxt[0])
            window = torch.cat([window[:, traj.shape[1]:], nxt], dim=1)
        errors.append(relative_l2(torch.stack(preds)[None], traj[s:][None]).item())
    return sum(errors) / max(len(errors), 1)


def _distributed() -> tuple[int, int]:
    """(rank, world size); initialises the process group when launched by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() and os.environ.get("WNO_EDGE_DDP_CPU") != "1"
                                else "gloo")
    return (dist.get_rank(), world) if world > 1 else (0, 1)


def _state_path(output: Path) -> Path:
    return output.with_name(output.name + ".state")


def build_model(opts: TrainOptions, train: PDEBenchDataset) -> WNO2d:
    cfg = WNOConfig(in_channels=train.in_channels, out_channels=train.out_channels, width=opts.width,
                    modes=(opts.modes, opts.modes), n_layers=opts.layers, winograd_tile=opts.tile,
                    real_space_kernel=opts.real_space_kernel, resolution=train.resolution)
    model = WNO2d(cfg)
    model.set_normalization(*(torch.as_tensor(v, dtype=torch.float32) for v in normalization_stats(train).as_tuple()))
    return model


def _check_options(opts: TrainOptions) -> Path:
    if opts.task not in TASKS:
        raise WNOEdgeError(f"task must be one of {', '.join(TASKS)}, got {opts.task!r}")
    if opts.epochs < 1 or opts.batch_size < 1 or opts.lr <= 0:
        raise WNOEdgeError("epochs and batch size must be >= 1 and lr > 0")
    output = Path(opts.output)
    if not output.resolve().parent.is_dir():
        raise WNOEdgeError(f"cannot write {output}: directory {output.parent} does not exist")
    if opts.device == "cuda" and not torch.cuda.is_available():
        raise WNOEdgeError("--device cuda requested but PyTorch sees no CUDA GPU")
    return output


def _open_datasets(opts: TrainOptions) -> tuple[PDEBenchDataset, PDEBenchDataset]:
    common = dict(test_fraction=opts.test_fraction, resolution=opts.resolution, initial_step=opts.initial_step,
                  time_reduce=opts.time_reduce, max_samples=opts.max_samples)
    train = PDEBenchDataset(opts.data, "train", **common)
    test = PDEBenchDataset(opts.data, "test", **common)
    if train.info.task not in (opts.task, "time-series"):
        raise WNOEdgeError(f"{opts.data} holds {train.info.task} data, not {opts.task}")
    if len(train) == 0 or len(test) == 0:
        raise WNOEdgeError(f"{opts.data}: too few samples for a train/test split ({train.info.n_samples})")
    return train, test


def _train_epoch(net, loader, optimizer, device, world: int) -> float:
    """One pass over the training set; the mean relative L2 over all ranks."""
    net.train()
    total, count = 0.0, 0
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        loss = relative_l2(net(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total, count = total + loss.item() * len(x), count + len(x)
    if world > 1:  # average the ranks' training error for the report
        t = torch.tensor([total, count], dtype=torch.float64, device=device)
        dist.all_reduce(t)
        return (t[0] / t[1]).item()
    return total / max(count, 1)


def fit(opts: TrainOptions, on_epoch: Callable[[int, float, float, bool], None] | None = None) -> TrainResult:
    """Train, keep the best-on-test model at opts.output; returns the final figures."""
    output = _check_options(opts)
    rank, world = _distributed()
    device = torch.device(opts.device if world == 1 or opts.device == "cpu" else f"cuda:{rank % torch.cuda.device_count()}")
    if opts.threads:
        torch.set_num_threads(opts.threads)
    torch.manual_seed(opts.seed)
    train, test = _open_datasets(opts)

    state_file = _state_path(output)
    start_epoch, best, history = 0, float("inf"), []
    model = build_model(opts, train)
    optimizer = torch.optim.Adam(model.parameters(), lr=opts.lr, weight_decay=opts.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=opts.epochs)
    if opts.resume:
        if not state_file.is_file():
            raise WNOEdgeError(f"--resume: no training state {state_file} to resume from")
        state = torch.load(state_file, map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start_epoch, best, history = state["epoch"], state["best"], state["history"]
    model.to(device).set_conv(None)  # train with direct conv: the same function, oneDNN/cuDNN speed
    net = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model
    sampler = DistributedSampler(train, world, rank, shuffle=True, seed=opts.seed) if world > 1 else None
    generator = torch.Generator().manual_seed(opts.seed)
    loader = DataLoader(train, batch_size=opts.batch_size, shuffle=sampler is None, sampler=sampler,
                        generator=generator, drop_last=len(train) > opts.batch_size)

    t0 = time.perf_counter()
    best_epoch = next((int(e) for e, _, te in history if te == best), 0)
    for epoch in range(start_epoch, opts.epochs):
        if sampler is not None:
            sampler.set_epoch(epoch)
        train_err = _train_epoch(net, loader, optimizer, device, world)
        scheduler.step()
        if rank == 0:
            test_err = evaluate(model, test, device=device)
            improved = test_err < best
            history.append([epoch + 1, train_err, test_err])
            if improved:
                best, best_epoch = test_err, epoch + 1
                _save(model, output, opts, train, test, best, best_epoch, history, time.perf_counter() - t0)
            with atomic_path(state_file) as tmp:
                torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                            "scheduler": scheduler.state_dict(), "epoch": epoch + 1, "best": best,
                            "history": history}, tmp)
            if on_epoch:
                on_epoch(epoch + 1, train_err, test_err, improved)
    seconds = time.perf_counter() - t0
    if world > 1:
        dist.barrier()
    rollout = None
    if rank == 0:
        best_model = load_model(output, map_location=device).set_conv(None)
        if train.initial_step is not None:
            rollout = rollout_error(best_model, test, opts.rollout_trajectories, device=device)
        _save(best_model.cpu(), output, opts, train, test, best, best_epoch, history, seconds, rollout)
    if world > 1:
        dist.destroy_process_group()
    return TrainResult(output, best_epoch, best, rollout, seconds, history)


def _save(model, output, opts, train, test, best, best_epoch, history, seconds, rollout=None):
    meta = {
        "task": opts.task, "data": Path(opts.data).name, "n_train": len(train), "n_test": len(test),
        "resolution": list(train.resolution), "test_rel_l2": best, "best_epoch": best_epoch,
        "train_seconds": round(seconds, 1), "history": history, "options": asdict(replace(opts, resume=False)),
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
