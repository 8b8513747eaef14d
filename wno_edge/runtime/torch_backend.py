"""PyTorch backend: a wno-edge checkpoint run in eager mode (the reference, and training's view)."""

from __future__ import annotations

import os

import numpy as np

from ..errors import WNOEdgeError
from .session import Session


class TorchSession(Session):
    backend = "pytorch"

    def __init__(
        self,
        path: str | os.PathLike[str],
        device: str = "cpu",
        threads: int | None = None,
        batch: int | None = None,
        resolution: tuple[int, ...] | None = None,
        check_finite: bool = True,
        check_output: bool = False,
    ) -> None:
        super().__init__(check_finite, check_output)
        try:
            import torch
        except ImportError:
            raise WNOEdgeError(
                f"{path}: running a .pt checkpoint needs PyTorch: pip install 'wno-edge[train]' "
                "(or export it to .onnx and run that)"
            ) from None

        from ..checkpoint import load_model

        if device == "cuda" and not torch.cuda.is_available():
            raise WNOEdgeError("device cuda requested but PyTorch sees no CUDA GPU")
        if device not in ("cpu", "cuda"):
            raise WNOEdgeError(f"device must be cpu or cuda, got {device!r}")
        if threads:
            torch.set_num_threads(threads)
        self._torch = torch
        self.model = load_model(path, map_location=device)
        self.config = cfg = self.model.config
        rank = len(cfg.modes)  # 1-D or 2-D: one grid size per axis
        grid = tuple(resolution or cfg.resolution or ())
        if not grid:
            raise WNOEdgeError(
                f"{path}: the checkpoint names no grid; pass resolution=" + ("(X,)" if rank == 1 else "(H, W)")
            )
        if len(grid) != rank:
            raise WNOEdgeError(f"{path}: a {rank}-D model needs {rank} grid size(s), got resolution={grid}")
        self.device = device
        self.dtype = np.dtype(np.float32)
        batch = self._batch_dim(path, None, batch)  # a checkpoint's batch is always free
        self.input_shape = (batch, cfg.in_channels, *grid)
        self.output_shape = (batch, cfg.out_channels, *grid)
        self._x = torch.zeros(self.input_shape, device=device)
        self._y = np.zeros(self.output_shape, np.float32)
        self._y_t = torch.from_numpy(self._y)

    def _run(self, x: np.ndarray) -> np.ndarray:
        with self._torch.inference_mode():
            self._x.copy_(self._torch.from_numpy(x))
            self._y_t.copy_(self.model(self._x))
        return self._y
