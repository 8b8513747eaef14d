"""Latency statistics in trtexec's vocabulary, shared by ControlLoop and `wno-edge profile`."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

PERCENTILES = (50, 90, 95, 99)


def latency_summary(seconds: np.ndarray) -> dict[str, float]:
    """min, max, mean, median, percentile(90/95/99%) in milliseconds, and jitter = p99 / p50."""
    ms = np.asarray(seconds, np.float64) * 1e3
    if ms.size == 0:
        return {}
    p50, p90, p95, p99 = np.percentile(ms, PERCENTILES)
    return {
        "min_ms": float(ms.min()),
        "max_ms": float(ms.max()),
        "mean_ms": float(ms.mean()),
        "median_ms": float(p50),
        "p90_ms": float(p90),
        "p95_ms": float(p95),
        "p99_ms": float(p99),
        "jitter_p99_over_p50": float(p99 / p50) if p50 > 0 else float("nan"),
    }


def format_latency(name: str, s: Mapping[str, float]) -> str:
    """One trtexec-style line: 'Latency: min = .. ms, max = .. ms, ..., percentile(99%) = .. ms'."""
    return (
        f"{name}: min = {s['min_ms']:.5g} ms, max = {s['max_ms']:.5g} ms, mean = {s['mean_ms']:.5g} ms, "
        f"median = {s['median_ms']:.5g} ms, percentile(90%) = {s['p90_ms']:.5g} ms, "
        f"percentile(95%) = {s['p95_ms']:.5g} ms, percentile(99%) = {s['p99_ms']:.5g} ms"
    )


class LatencyRecorder:
    """Preallocated ring of samples: recording in a hot loop allocates nothing."""

    def __init__(self, capacity: int = 100_000):
        self._samples = np.zeros(capacity, np.float64)
        self.count = 0

    def add(self, seconds: float) -> None:
        self._samples[self.count % self._samples.size] = seconds
        self.count += 1

    @property
    def samples(self) -> np.ndarray:
        return self._samples[: min(self.count, self._samples.size)]

    def histogram(self, bins: int = 20) -> tuple[np.ndarray, np.ndarray]:
        """Counts over log-spaced millisecond bins (latency tails are long)."""
        ms = self.samples * 1e3
        if ms.size == 0:
            return np.zeros(bins, int), np.zeros(bins + 1)
        lo, hi = max(ms.min(), 1e-4), max(ms.max(), 1e-4) * 1.0001
        edges = np.geomspace(lo, hi if hi > lo else lo * 2, bins + 1)
        return np.histogram(np.clip(ms, lo, None), edges)
