"""PDEBench data: lazy readers for its 2-D HDF5 layouts and solvers that write the same layouts.

    from wno_edge.data import PDEBenchDataset, normalization_stats, generate

    generate("darcy", "darcy.h5", n_samples=1000, resolution=64, seed=0)
    train = PDEBenchDataset("darcy.h5", split="train")
    model.set_normalization(*normalization_stats(train).as_tuple())

Names load on first use: generating data (numpy, scipy, h5py) does not import torch,
which only the torch Dataset (pdebench) needs.
"""

from importlib import import_module

from ..contract import TASKS
from .generate import GenerationInterrupted, GenerationResult, generate  # after the submodule: the function

_GENERATE = ("GenerationResult", "GenerationInterrupted", "generate")
_PDEBENCH = (
    "NormalizationStats",
    "PDEBenchDataset",
    "PDEBenchFormatError",
    "PDEBenchInfo",
    "describe",
    "normalization_stats",
    "split_indices",
)


def __getattr__(name):
    if name in _PDEBENCH:
        return getattr(import_module(".pdebench", __name__), name)
    raise AttributeError(f"module 'wno_edge.data' has no attribute {name!r}")


__all__ = ["TASKS", *_GENERATE, *_PDEBENCH]
