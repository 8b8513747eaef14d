"""The Session contract every backend implements: numpy in, numpy out, no surprises.

A session owns its buffers; `run(x, out=buf)` copies the prediction into the caller's
buffer so a control loop can run without allocating. Those buffers are shared by every
call, so a session runs one call at a time: threads that share a session take turns
(each gets its own result); for parallel inference, open one session per thread.
"""

from __future__ import annotations

import os
import threading
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from ..errors import WNOEdgeError

if TYPE_CHECKING:
    from typing_extensions import Self

    from ..contract import WNOConfig


class Session(ABC):
    """One loaded operator. Subclasses set input_shape, output_shape, dtype and implement _run."""

    backend: str = "?"
    config: WNOConfig | None = None  # the WNOConfig of a wno-edge model (checkpoint or export); None for a foreign file
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    dtype: np.dtype

    @property
    def output_dtype(self) -> np.dtype:
        """The output's dtype: the input's, unless a backend's file says otherwise."""
        dtype: np.dtype = np.dtype(self.__dict__.get("_output_dtype", self.dtype))
        return dtype

    @output_dtype.setter
    def output_dtype(self, value: npt.DTypeLike) -> None:
        self._output_dtype = np.dtype(value)

    def __init__(self, check_finite: bool = True, check_output: bool = False) -> None:
        self.check_finite = check_finite  # cheap, but switch it off in the hot path if inputs are trusted
        self.check_output = check_output  # opt in: also refuse a prediction holding NaN or Inf
        self._closed = False
        self._lock = threading.RLock()  # one call at a time: _run works in the session's own buffers

    # -- public API -------------------------------------------------------------------

    def run(self, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Predict for `x` (input_shape, dtype, C-contiguous). With `out`, write into it and
        return it (no allocation); without, return a new array."""
        self._check_open()
        self.validate(x)
        if out is not None:
            self._check_out(out)
        with self._lock:  # from the input copy to the output copy: the buffers are shared
            self._check_open()
            y = self._run(x)  # a view of the session's own output buffer
            if self.check_output and not np.isfinite(y.sum(dtype=np.float64)):
                raise WNOEdgeError(
                    "output contains NaN or Inf (is the input far outside the range the model was trained on?)"
                )
            if out is None:
                copy: np.ndarray = y.copy()  # (numpy's stubs give ndarray.copy() -> Self, which mypy reads as Any)
                return copy
            np.copyto(out, y)
            return out

    def warmup(self, n: int = 10) -> None:
        """Run `n` times on zeros (first-run allocations, lazy initialisation, caches)."""
        self._check_open()
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise WNOEdgeError(f"warmup count must be a non-negative integer, got {n!r}")
        x = np.zeros(self.input_shape, self.dtype)
        for _ in range(n):
            with self._lock:
                self._check_open()
                self._run(x)

    def close(self) -> None:
        """Release the session; later run, warmup and rollout calls raise WNOEdgeError."""
        with self._lock:  # never while another thread is inside _run
            self._closed = True

    @property
    def closed(self) -> bool:
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise WNOEdgeError(f"{self.backend} session is closed")

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {self.backend} in={self.input_shape} "
            f"out={self.output_shape} {np.dtype(self.dtype).name}>"
        )

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

    @staticmethod
    def _batch_dim(path: str | os.PathLike[str], file_dim: object, batch: int | None) -> int:
        """The session's batch size: `batch` for a dynamic batch dimension (default 1); for a
        fixed one, the file's (asking for another is an error, not a silent substitution)."""
        if batch is not None and (isinstance(batch, bool) or not isinstance(batch, int) or batch < 1):
            raise WNOEdgeError(f"batch must be a positive integer, got {batch!r}")
        if isinstance(file_dim, int) and file_dim > 0:
            if batch is not None and batch != file_dim:
                raise WNOEdgeError(
                    f"{path} has a fixed batch of {file_dim}, not {batch}: load it with "
                    f"batch={file_dim} (or omit batch), or export with a dynamic batch"
                )
            return file_dim
        return 1 if batch is None else batch

    def _check_out(self, out: np.ndarray) -> None:
        if not isinstance(out, np.ndarray) or out.shape != self.output_shape or out.dtype != self.output_dtype:
            raise WNOEdgeError(f"out must be a {self.output_dtype.name} array of shape {self.output_shape}")
        if not out.flags.writeable:
            raise WNOEdgeError("out is read-only")

    @abstractmethod
    def _run(self, x: np.ndarray) -> np.ndarray:
        """Run on a validated input; return a view of the session's output buffer."""
