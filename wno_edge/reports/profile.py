"""`wno-edge profile`: latency percentiles, throughput and jitter of a session, in trtexec's shape.

The report's text and histogram are drawn by wno_edge.cli.display.

Works on any runtime.Session, so .onnx, .pt and (with TensorRT) .trt files profile the
same way. Timing is per synchronous run(x, out=buf) on a monotonic clock.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

from ..errors import WNOEdgeError
from ..runtime import Session
from ..runtime.stats import latency_summary
from ..util.io import atomic_path


def peak_rss_mib() -> float:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024  # bytes on macOS, KiB on Linux


def model_macs(session: Session) -> int | None:
    """MACs of one inference (direct-equivalent 3x3 conv), or None for a foreign file."""
    config = session.config
    if config is None:
        return None
    from .flops import grid_cost

    b, _, *grid = session.input_shape  # (H, W), or (X,) for a 1-D model
    return grid_cost(config, tuple(grid), b).total_direct_macs


def profile_session(
    session: Session, iterations: int = 1000, warmup: int = 50, progress=None, warmup_progress=None
) -> dict:
    """Time `iterations` runs after `warmup`; returns trtexec-style statistics.
    progress(i) and warmup_progress(i) are called after each timed and each warm-up run."""
    if iterations < 1 or warmup < 0:
        raise WNOEdgeError("iterations must be >= 1 and warmup >= 0")
    x = np.random.default_rng(0).standard_normal(session.input_shape).astype(session.dtype)
    out = np.empty(session.output_shape, session.output_dtype)
    for i in range(warmup):
        session.run(x, out=out)
        if warmup_progress is not None:
            warmup_progress(i + 1)
    times = np.empty(iterations)
    start = time.perf_counter()
    for i in range(iterations):
        t0 = time.perf_counter()
        session.run(x, out=out)
        times[i] = time.perf_counter() - t0
        if progress is not None:
            progress(i + 1)
    total = time.perf_counter() - start
    batch = session.input_shape[0]
    result = {
        "backend": session.backend,
        "input_shape": list(session.input_shape),
        "dtype": np.dtype(session.dtype).name,
        "iterations": iterations,
        "warmup": warmup,
        "throughput_qps": iterations / total,
        "throughput_samples_per_s": iterations * batch / total,
        "latency": latency_summary(times),
        "peak_rss_mib": peak_rss_mib(),
        "latencies_ms": (times * 1e3).tolist(),
    }
    breakdown = getattr(session, "timing_breakdown", None)
    if callable(breakdown):  # TensorRT: H2D, GPU compute and D2H from CUDA events
        result.update(breakdown())
    return result


def add_arithmetic(result: dict, macs: int | None) -> dict:
    if macs:
        result["macs"] = macs
        result["gflops"] = 2 * macs / (result["latency"]["median_ms"] * 1e-3) / 1e9
    return result


def write_json(result: dict, path: Path) -> None:
    """The results as JSON at `path`, atomically; never over the model file they time (result["model"])."""
    with atomic_path(path, inputs=(result.get("model"),)) as tmp:
        tmp.write_text(json.dumps(result, indent=2))
