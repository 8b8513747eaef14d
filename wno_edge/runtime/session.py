"""The Session contract every backend implements: numpy in, numpy out, no surprises.

A session owns its buffers; `run(x, out=buf)` copies the prediction into the caller's
buffer so a control loop can run without allocating.
"""
from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from ..errors import WNOEdgeError


class Session(ABC):
    """One loaded operator. Subclasses set input_shape, output_shape, dtype and implement _run."""

    backend: str = "?"
    config = None  # the WNOConfig of a wno-edge model (checkpoint or export); None for a foreign file
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    dtype: np.dtype

    def __init__(self, check_finite: bool = True):
        self.check_finite = check_finite  # cheap, but switch it off in the hot path if inputs are trusted
        self._closed = False

    # -- public API -------------------------------------------------------------------

    def run(self, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Predict for `x` (input_shape, dtype, C-contiguous). With `out`, write into it and
        return it (no allocation); without, return a new array."""
        if self._closed:
            raise WNOEdgeError(f"{self.backend} session is closed")
        self.validate(x)
        if out is not None:
            self._check_out(out)
        y = self._run(x)  # a view of the session's own output buffer
        if out is None:
            return y.copy()
        np.copyto(out, y)
        return out

    def warmup(self, n: int = 10) -> None:
        x = np.zeros(self.input_shape, self.dtype)
        for _ in range(n):
            self._run(x)

    def close(self) -> None:
        self._closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return (f"<{type(self).__name__} {self.backend} in={self.input_shape} "
                f"out={self.output_shape} {np.dtype(self.dtype).name}>")

    # -- validation -------------------------------------------------------------------

    def validate(self, x: np.ndarray) -> None:
        if not isinstance(x, np.ndarray):
            raise WNOEdgeError(f"input must be a numpy array, got {type(x).__name__}")
        if x.shape != self.input_shape:
            raise WNOEdgeError(f"input shape {x.shape} does not match the model's {self.input_shape}")
        if x.dtype != self.dtype:
            raise WNOEdgeError(f"input dtype {x.dtype} does not match the model's {np.dtype(self.dtype).name}")
        if not x.flags.c_contiguous:
            raise WNOEdgeError("input must be C-contiguous (use np.ascontiguousarray)")
        if self.check_finite and not np.isfinite(x.sum(dtype=np.float64)):  # one pass, no temporaries
            raise WNOEdgeError("input contains NaN or Inf")

    def _check_out(self, out: np.ndarray) -> None:
        if not isinstance(out, np.ndarray) or out.shape != self.output_shape or out.dtype != self.dtype:
            raise WNOEdgeError(f"out must be a {np.dtype(self.dtype).name} array of shape {self.output_shape}")
        if not out.flags.writeable:
            raise WNOEdgeError("out is read-only")

    @abstractmethod
    def _run(self, x: np.ndarray) -> np.ndarray:
        """Run on a validated input; return a view of the session's output buffer."""
