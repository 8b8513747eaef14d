"""Training: `wno-edge train` is fit(TrainOptions(...)).

    from wno_edge.train import TrainOptions, fit

TrainOptions is torch-free; the training loop (trainer.py) loads on first use of its names.
"""

from typing import TYPE_CHECKING

from ..util.lazy import lazy_exports
from .options import TrainOptions

if TYPE_CHECKING:  # what __getattr__ loads, for type checkers (nothing is imported at run time)
    from .trainer import SAMPLE_INPUTS as SAMPLE_INPUTS
    from .trainer import TrainResult as TrainResult
    from .trainer import ZeroTargetError as ZeroTargetError
    from .trainer import build_model as build_model
    from .trainer import check_options as check_options
    from .trainer import evaluate as evaluate
    from .trainer import fit as fit
    from .trainer import relative_l2 as relative_l2
    from .trainer import rollout_error as rollout_error

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
