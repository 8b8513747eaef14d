"""PDEBench data: lazy readers for its 2-D and 1-D HDF5 layouts (pdebench, pdebench1d) and
solvers that write the same layouts.

    from wno_edge.data import PDEBenchDataset, normalization_stats, generate

    generate("darcy", "darcy.h5", n_samples=1000, resolution=64, seed=0)
    train = PDEBenchDataset("darcy.h5", split="train")
    model.set_normalization(*normalization_stats(train).as_tuple())

    generate("burgers", "burgers.h5", n_samples=100, resolution=1024)   # 1-D: tensor (N, T, X)
    items = PDEBench1dDataset("burgers.h5", split="train", initial_step=10)

Names load on first use: generating data (numpy, scipy, h5py) does not import torch,
which only the torch Dataset (pdebench) needs.
"""

from typing import TYPE_CHECKING

from ..contract import TASKS
from ..util.lazy import lazy_exports
from .generate import GenerationInterrupted, GenerationResult, generate  # after the submodule: the function

if TYPE_CHECKING:  # what __getattr__ loads, for type checkers (nothing is imported at run time)
    from .pdebench import NormalizationStats as NormalizationStats
    from .pdebench import PDEBenchDataset as PDEBenchDataset
    from .pdebench import PDEBenchFormatError as PDEBenchFormatError
    from .pdebench import PDEBenchInfo as PDEBenchInfo
    from .pdebench import check_samples as check_samples
    from .pdebench import describe as describe
    from .pdebench import normalization_stats as normalization_stats
    from .pdebench import split_indices as split_indices
    from .pdebench1d import PDEBench1dDataset as PDEBench1dDataset
    from .pdebench1d import PDEBench1dInfo as PDEBench1dInfo
    from .pdebench1d import check_samples_1d as check_samples_1d
    from .pdebench1d import describe_1d as describe_1d
    from .pdebench1d import normalization_stats_1d as normalization_stats_1d

__getattr__, _lazy = lazy_exports(
    __name__,
    {
        ".pdebench": (
            "NormalizationStats",
            "PDEBenchDataset",
            "PDEBenchFormatError",
            "PDEBenchInfo",
            "check_samples",
            "describe",
            "normalization_stats",
            "split_indices",
        ),
        ".pdebench1d": (
            "PDEBench1dDataset",
            "PDEBench1dInfo",
            "check_samples_1d",
            "describe_1d",
            "normalization_stats_1d",
        ),
    },
)
__all__ = ["TASKS", "GenerationResult", "GenerationInterrupted", "generate", *_lazy]
