"""PDEBench data: lazy readers for its 2-D HDF5 layouts and solvers that write the same layouts.

    from wno_edge.data import PDEBenchDataset, normalization_stats, generate

    generate("darcy", "darcy.h5", n_samples=1000, resolution=64, seed=0)
    train = PDEBenchDataset("darcy.h5", split="train")
    model.set_normalization(*normalization_stats(train).as_tuple())
"""
from ..contract import TASKS
from .generate import GenerationResult, generate
from .pdebench import (NormalizationStats, PDEBenchDataset, PDEBenchFormatError, PDEBenchInfo, describe,
                       normalization_stats, split_indices)

__all__ = ["TASKS", "GenerationResult", "generate", "NormalizationStats", "PDEBenchDataset",
           "PDEBenchFormatError", "PDEBenchInfo", "describe", "normalization_stats", "split_indices"]
