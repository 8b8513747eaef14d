"""What the closed-loop examples share: sampling-based MPC (MPPI) over a batched surrogate
session, and the ONNX file a checkpoint deploys as. Any grid rank: an actuator's footprint has
the state's spatial shape."""

from __future__ import annotations

from pathlib import Path

import numpy as np


class MPPI:
    """Model-predictive path integral control over a batched surrogate session.

    basis: (actuators, *grid) footprints; an action a adds a @ basis to the first field of the
    newest frame at the start of an interval. Cost per candidate: mean squared error of the
    predicted first field against `target` summed over the horizon, plus effort * sum of a^2.
    """

    def __init__(self, session, basis, target, a_max, horizon=3, temperature=0.05, effort=0.02, sigma=0.3, seed=0):
        self.session, self.basis, self.target, self.a_max = session, basis, target, a_max
        self.k = session.input_shape[0]
        self.horizon, self.temperature, self.effort, self.sigma = horizon, temperature, effort, sigma
        self.rng = np.random.default_rng(seed)
        self.plan = np.zeros((horizon, len(basis)))
        self.c = session.output_shape[1]
        # Buffers reused every tick: the loop allocates nothing large.
        self.window = np.empty(session.input_shape, np.float32)
        self.pred = np.empty(session.output_shape, np.float32)
        self.cost = np.empty(self.k)

    def act(self, window: np.ndarray) -> np.ndarray:
        """The action for the next interval, given the plant's window (1, frames * C, *grid)."""
        noise = self.rng.standard_normal((self.k, self.horizon, len(self.basis))) * self.sigma
        noise[0] = 0  # keep the current plan itself among the candidates
        actions = np.clip(self.plan[None] + noise, -self.a_max, self.a_max)
        self.window[:] = window
        self.cost[:] = self.effort * np.square(actions).sum(axis=(1, 2))
        for h in range(self.horizon):
            # Actuation acts on the first field of the newest frame, then the surrogate predicts one interval.
            self.window[:, -self.c] += np.tensordot(actions[:, h], self.basis, axes=1)
            self.session.run(self.window, out=self.pred)
            self.cost += np.square(self.pred[:, 0] - self.target).reshape(self.k, -1).mean(axis=1)
            self.window[:, : -self.c] = self.window[:, self.c :]
            self.window[:, -self.c :] = self.pred
        weights = np.exp(-(self.cost - self.cost.min()) / self.temperature)
        self.plan = np.einsum("k,kha->ha", weights / weights.sum(), actions)
        first = self.plan[0].copy()
        self.plan = np.roll(self.plan, -1, axis=0)
        self.plan[-1] = 0
        return first


def onnx_model(model: Path, out_dir: Path) -> Path:
    """The ONNX file to run: `model` itself, or its verified export for a checkpoint."""
    if model.suffix != ".pt":
        return model
    from wno_edge.onnx import export_onnx

    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / model.with_suffix(".onnx").name
    export_onnx(model, path)  # dynamic batch: one file serves the forecaster and the planner
    return path
