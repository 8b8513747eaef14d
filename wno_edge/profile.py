"""`wno-edge profile`: latency percentiles, throughput and jitter of a session, in trtexec's shape.

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

from .errors import WNOEdgeError
from .io import atomic_path
from .runtime import Session
from .runtime.stats import format_latency, latency_summary


def peak_rss_mib() -> float:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024  # bytes on macOS, KiB on Linux


def model_config(path: Path, session: Session):
    """The WNOConfig behind a model file: from the checkpoint, or the ONNX file's metadata."""
    if path.suffix == ".pt" and hasattr(session, "model"):
        return session.model.config
    if path.suffix == ".onnx":
        import onnx

        from .model import WNOConfig
        from .onnx_export import CONFIG_PROPERTY

        meta = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
        if CONFIG_PROPERTY in meta:
            return WNOConfig.from_dict(json.loads(meta[CONFIG_PROPERTY]))
    return None


def model_macs(path: Path, session: Session) -> int | None:
    """MACs of one inference (direct-equivalent 3x3 conv), or None for a foreign file."""
    config = model_config(path, session)
    if config is None:
        return None
    from .flops import model_cost

    b, _, h, w = session.input_shape
    return model_cost(config, h, w, b).total_direct_macs


def profile_session(session: Session, iterations: int = 1000, warmup: int = 50,
                    progress=None) -> dict:
    """Time `iterations` runs after `warmup`; returns trtexec-style statistics."""
    if iterations < 1 or warmup < 0:
        raise WNOEdgeError("iterations must be >= 1 and warmup >= 0")
    x = np.random.default_rng(0).standard_normal(session.input_shape).astype(session.dtype)
    out = np.empty(session.output_shape, session.dtype)
    for _ in range(warmup):
        session.run(x, out=out)
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


def format_report(result: dict) -> str:
    lines = [f"=== Performance summary ({result['backend']}, input {'x'.join(map(str, result['input_shape']))} "
             f"{result['dtype']}, {result['iterations']} iterations) ===",
             f"Throughput: {result['throughput_qps']:.5g} qps"]
    lines.append(format_latency("Latency", result["latency"]))
    for key, name in (("h2d", "H2D Latency"), ("gpu_compute", "GPU Compute Time"), ("d2h", "D2H Latency")):
        if key in result:
            lines.append(format_latency(name, result[key]))
    lines.append(f"Jitter (p99 / p50): {result['latency']['jitter_p99_over_p50']:.3f}")
    lines.append(f"Peak resident memory: {result['peak_rss_mib']:.1f} MiB")
    if "macs" in result:
        lines.append(f"MACs per inference: {result['macs'] / 1e6:.2f} M (direct-equivalent), "
                     f"achieved {result['gflops']:.2f} GFLOP/s at the median")
    return "\n".join(lines)


def write_json(result: dict, path: Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(result, indent=2))


def plot_latency(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ms = np.asarray(result["latencies_ms"])
    lat = result["latency"]
    fig, ax = plt.subplots(figsize=(7, 4), dpi=120)
    ax.hist(ms, bins=np.geomspace(ms.min(), ms.max() * 1.001 if ms.max() > ms.min() else ms.min() * 2, 60),
            color="#4477aa")
    ax.set_xscale("log")
    for key, label, color, align in (("median_ms", "p50", "k", "left"), ("p99_ms", "p99", "#cc3311", "right")):
        ax.axvline(lat[key], color=color, ls="--", lw=1)
        ax.text(lat[key], ax.get_ylim()[1] * (0.95 if align == "left" else 0.85), f" {label} {lat[key]:.4g} ms ",
                color=color, va="top", ha=align, fontsize=8)
    ax.set_xlabel("latency per inference (ms, log scale)")
    ax.set_ylabel("count")
    ax.set_title(f"{result['backend']} {'x'.join(map(str, result['input_shape']))}: "
                 f"{result['throughput_qps']:.0f} qps, jitter {lat['jitter_p99_over_p50']:.2f}")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
