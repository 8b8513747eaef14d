"""Training: `wno-edge train` is fit(TrainOptions(...)).

    from wno_edge.train import TrainOptions, fit

TrainOptions is torch-free; the training loop (trainer.py) loads on first use of its names.
"""

from ..util.lazy import lazy_exports
from .options import TrainOptions

__getattr__, _lazy = lazy_exports(
    __name__,
    {
        ".trainer": (
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
    },
)
__all__ = ["TrainOptions", *_lazy]
