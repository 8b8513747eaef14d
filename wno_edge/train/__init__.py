"""Training: `wno-edge train` is fit(TrainOptions(...)).

    from wno_edge.train import TrainOptions, fit

TrainOptions is torch-free; the training loop (trainer.py) loads on first use of its names.
"""

from importlib import import_module

from .options import TrainOptions

_FIT = (
    "fit",
    "evaluate",
    "rollout_error",
    "relative_l2",
    "build_model",
    "check_options",
    "TrainResult",
    "ZeroTargetError",
    "SAMPLE_INPUTS",
)


def __getattr__(name):
    if name in _FIT:
        return getattr(import_module(".trainer", __name__), name)
    raise AttributeError(f"module 'wno_edge.train' has no attribute {name!r}")


__all__ = ["TrainOptions", *_FIT]
