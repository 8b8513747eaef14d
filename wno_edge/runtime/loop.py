"""Closed-loop helpers: autoregressive rollout and a fixed-rate control loop."""

from __future__ import annotations

import math
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from numbers import Integral, Real
from types import FrameType
from typing import Any

import numpy as np

from ..errors import WNOEdgeError
from .session import Session
from .stats import LatencyRecorder, format_latency, latency_summary


def rollout(session: Session, state0: np.ndarray, steps: int, out: np.ndarray | None = None) -> np.ndarray:
    """Autoregressive prediction: the input holds the last T frames stacked as channels
    (frame-major, T*C channels), each step predicts the next frame (C channels), on a grid
    of any rank: (B, T*C, H, W) or, for a 1-D model, (B, T*C, X).

    Returns the trajectory (steps, *output_shape); pass `out` to reuse a buffer. The loop
    allocates nothing: two window buffers are swapped, predictions land in `out`.
    """
    tc = session.input_shape[1]
    c = session.output_shape[1]
    if tc % c:
        raise WNOEdgeError(f"input has {tc} channels, not a whole number of {c}-channel frames")
    if steps < 1:
        raise WNOEdgeError("steps must be >= 1")
    shape = (steps, *session.output_shape)
    if out is None:
        out = np.empty(shape, session.dtype)
    elif out.shape != shape or out.dtype != session.dtype or not out.flags.c_contiguous:
        raise WNOEdgeError(f"out must be a contiguous {np.dtype(session.dtype).name} array of shape {shape}")
    session.validate(state0)
    window, spare = state0.copy(), np.empty_like(state0)
    for s in range(steps):
        session.run(window, out=out[s])
        spare[:, : tc - c] = window[:, c:]
        spare[:, tc - c :] = out[s]
        window, spare = spare, window
    return out


STOP_REASONS = ("steps", "stop", "signal")

# The tick period's range. Longer than a day is no control loop (a period given as a rate?),
# and it keeps the deadline arithmetic and the wait (threading.TIMEOUT_MAX) far in range:
# rate 1e-300 Hz made wait() raise OverflowError. Shorter than a nanosecond is below what
# the monotonic clock resolves: deadlines stop advancing and the re-phase count overflows.
MAX_PERIOD_S = 86_400.0
MIN_PERIOD_S = 1e-9


def _shown(value: object) -> str:
    """A caller's value in a one-line message: its type and a bounded preview, never repr()."""
    try:
        text = " ".join(str(value).split())
    except Exception:  # str() can fail (e.g. an int of more than 4300 digits)
        text = "?"
    return f"{type(value).__name__} {text[:57] + '...' if len(text) > 60 else text}"


# What signal.signal() takes and returns: a handler, SIG_DFL / SIG_IGN, or None (not installed from Python).
_SignalHandler = Callable[[int, FrameType | None], Any] | int | None


@dataclass(frozen=True)
class LoopResult:
    """How one ControlLoop.run ended."""

    state: np.ndarray  # the last input: what step() returned on the last tick (x0 if none ran)
    reason: str  # "steps": the step count was reached; "stop": stop() was called; "signal": SIGINT/SIGTERM
    ticks: int  # ticks run by this call
    misses: int  # deadline misses in this call
    signal: int | None = None  # the signal number when reason == "signal"


def _rate(rate_hz: object) -> float:
    """rate_hz as a float, checked: finite, > 0, and a period within [MIN_PERIOD_S, MAX_PERIOD_S]."""
    try:
        rate = float(rate_hz) if isinstance(rate_hz, Real) and not isinstance(rate_hz, bool) else math.nan
    except OverflowError:  # an int too large for a float
        rate = math.inf
    if not (math.isfinite(rate) and rate > 0):
        raise WNOEdgeError(f"rate_hz must be a finite number > 0, got {_shown(rate_hz)}")
    if not MIN_PERIOD_S <= 1.0 / rate <= MAX_PERIOD_S:
        raise WNOEdgeError(
            f"rate_hz must be a finite number > 0 with a period from {MIN_PERIOD_S:g} s to {MAX_PERIOD_S:g} s "
            f"(one day), i.e. {1 / MAX_PERIOD_S:.3g} to {1 / MIN_PERIOD_S:g} Hz, got {_shown(rate_hz)}"
        )
    return rate


class ControlLoop:
    """Run `step(prediction) -> next input` at a fixed rate on a monotonic clock.

    Each tick: predict with the session, hand the prediction to `step`, then sleep to
    the next deadline. A tick that ends after its deadline is a miss; the loop then
    re-phases to the next future deadline instead of bursting to catch up.
    `iterations`, `misses` and the latency statistics accumulate over runs; `steps`
    and the LoopResult's counts are per run.
    """

    def __init__(
        self, session: Session, rate_hz: float, step: Callable[[np.ndarray], np.ndarray], history: int = 100_000
    ) -> None:
        self.session, self.rate_hz, self.step = session, _rate(rate_hz), step
        self.period = 1.0 / self.rate_hz
        size: object = history  # checked as any object: a caller may pass anything
        if isinstance(size, bool) or not isinstance(size, Integral) or size < 1:
            raise WNOEdgeError(f"history must be an integer >= 1 (latency samples kept), got {_shown(history)}")
        self.inference = LatencyRecorder(int(size))
        self.tick = LatencyRecorder(int(size))
        self.iterations = self.misses = 0
        self._stop = threading.Event()
        self._signal: int | None = None
        self._prediction = np.empty(session.output_shape, session.output_dtype)

    def stop(self) -> None:
        """End the current run after its tick in progress (from another thread or from step)."""
        self._stop.set()

    def run(self, x0: np.ndarray, steps: int | None = None) -> LoopResult:
        """Loop from input x0 until `steps` ticks of this call, stop(), SIGINT or SIGTERM.

        Returns a LoopResult: the last input and why the loop ended. Each call starts
        afresh: a stop() or signal that ended an earlier run does not end this one.
        """
        if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 0):
            raise WNOEdgeError(f"steps must be a non-negative integer or None, got {_shown(steps)}")
        x = x0
        ticks = misses = 0
        self._stop.clear()
        self._signal = None
        previous = self._install_signal_handlers()
        try:
            deadline = time.monotonic()
            while not self._stop.is_set() and (steps is None or ticks < steps):
                start = time.monotonic()
                self.session.run(x, out=self._prediction)
                predicted = time.monotonic()
                x = self.step(self._prediction)
                end = time.monotonic()
                self.inference.add(predicted - start)
                self.tick.add(end - start)
                self.iterations += 1
                ticks += 1
                deadline += self.period
                if end > deadline:
                    self.misses += 1
                    misses += 1
                    deadline += self.period * math.ceil((end - deadline) / self.period)
                if steps is None or ticks < steps:
                    self._stop.wait(max(0.0, deadline - time.monotonic()))
        finally:
            self._restore_signal_handlers(previous)
        if self._signal is not None:
            reason = "signal"
        elif self._stop.is_set():
            reason = "stop"
        else:
            reason = "steps"
        return LoopResult(x, reason, ticks, misses, self._signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._signal = signum
        self._stop.set()

    def _install_signal_handlers(self) -> dict[signal.Signals, _SignalHandler] | None:
        if threading.current_thread() is not threading.main_thread():
            return None  # signals can only be handled on the main thread
        return {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}

    @staticmethod
    def _restore_signal_handlers(previous: dict[signal.Signals, _SignalHandler] | None) -> None:
        for sig, handler in (previous or {}).items():
            signal.signal(sig, handler)

    def stats(self) -> dict[str, Any]:
        counts, edges = self.tick.histogram()
        return {
            "rate_hz": self.rate_hz,
            "iterations": self.iterations,
            "deadline_misses": self.misses,
            "miss_rate": self.misses / self.iterations if self.iterations else 0.0,
            "inference": latency_summary(self.inference.samples),
            "tick": latency_summary(self.tick.samples),
            "tick_histogram_ms": {"edges": edges.tolist(), "counts": counts.tolist()},
        }

    def __str__(self) -> str:
        s = self.stats()
        lines = [
            f"ControlLoop @ {self.rate_hz:g} Hz: {s['iterations']} ticks, "
            f"{s['deadline_misses']} deadline misses ({100 * s['miss_rate']:.1f}%)"
        ]
        if s["iterations"]:
            lines += [format_latency("Inference", s["inference"]), format_latency("Tick", s["tick"])]
        return "\n".join(lines)
