"""The options of a training run (torch-free, so the CLI can show their defaults cheaply)."""

from __future__ import annotations

from dataclasses import dataclass

from ..contract import config_default


@dataclass(frozen=True)
class TrainOptions:
    """Everything a run depends on; stored in the checkpoint's metadata."""

    data: str
    task: str | None  # None: the task the data file names
    output: str
    epochs: int = 50
    batch_size: int = 20
    lr: float = 1e-3
    weight_decay: float = 1e-4
    width: int = config_default("width")
    modes: int = config_default("modes")[0]  # per axis: modes x modes (2-D data), modes (1-D data)
    layers: int = config_default("n_layers")
    tile: int = config_default("winograd_tile")
    real_space_kernel: bool = config_default("real_space_kernel")  # False: the FNO special case (k = 0)
    resolution: int | None = None  # spatial grid to subsample to (None: the file's)
    initial_step: int = 10
    time_reduce: int = 1
    max_samples: int | None = None
    test_fraction: float = 0.1
    # the test samples: the file's first or last test_fraction; None: PDEBench's for the file's layout
    # (the first, but the last for 1-D files of a group per sample); the stored options say which
    test_split: str | None = None
    rollout_trajectories: int = 8  # test trajectories in the rollout evaluation
    seed: int = 0
    device: str = "cpu"
    threads: int | None = None
    resume: bool = False
    # Start from this wno-edge checkpoint (e.g. `wno-edge import-neuralop --wno`: an FNO whose 3x3
    # kernels k start at 0): its architecture, weights and normalisation; width/modes/layers/tile
    # and the FNO switch are then the checkpoint's, not these options'.
    init: str | None = None
