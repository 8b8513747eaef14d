"""`wno-edge demo`: the whole toolchain on the bundled Darcy WNO, in about a minute.

checkpoint -> fresh test data from the solver -> test error -> FFT-free ONNX (verified)
-> wno_edge.runtime (the native engine when built, else ONNX Runtime) -> latency -> a PNG of one prediction.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..contract import OP_DOMAIN, OP_NAME
from ..errors import WNOEdgeError

BUNDLED = Path(__file__).resolve().parents[2] / "models" / "darcy_wno.pt"  # the source tree's models/


# The files the demo writes in its --out directory.
TRAIN_DATA, SMALL_MODEL, ONNX, PLOT = "darcy_train.h5", "darcy_wno_small.pt", "darcy_wno.onnx", "darcy_prediction.png"
FRESH = "darcy_fresh_{h}.h5"
OUTPUTS = (TRAIN_DATA, SMALL_MODEL, ONNX, PLOT)


def _refuse_outputs(out: Path, checkpoint: Path | None, names: tuple[str, ...]) -> None:
    """One-line WNOEdgeError when a file the demo writes in `out` is the checkpoint it reads."""
    from ..util.io import refuse_overwrite

    for name in names:
        refuse_overwrite(out / name, checkpoint)


@dataclass
class DemoResult:
    checkpoint: Path
    trained_here: bool
    card_rel_l2: float | None
    fresh_rel_l2: float  # PyTorch (Winograd path) on freshly generated test data
    onnx_rel_l2: float  # the exported file through the runtime's default backend, same data
    onnx: Path
    latency: dict
    plot: Path


def _train_small(out: Path, say) -> Path:
    from ..data import generate
    from ..train import TrainOptions, fit

    say("no bundled model: training a small Darcy WNO here (about a minute)")
    data = out / TRAIN_DATA
    generate("darcy", data, n_samples=300, resolution=32, seed=0, progress=False)
    opts = TrainOptions(
        data=str(data),
        task="darcy",
        output=str(out / SMALL_MODEL),
        epochs=8,
        batch_size=10,
        lr=3e-3,
        width=12,
        modes=8,
        layers=4,
    )
    return fit(opts).checkpoint


def run_demo(out: Path, checkpoint: Path | None = None, n_test: int = 50, seed: int = 1234, say=print) -> DemoResult:
    import torch

    from .. import runtime
    from ..checkpoint import load_model
    from ..data import PDEBenchDataset, generate
    from ..onnx import export_onnx
    from ..train import relative_l2
    from .profile import profile_session

    trained_here = False
    if checkpoint is None:
        checkpoint = BUNDLED if BUNDLED.is_file() else None
    # None of the demo's files may replace the checkpoint it reads (the fresh data's name
    # depends on the grid: checked once the model is read, before anything is written).
    _refuse_outputs(out, checkpoint, OUTPUTS)
    out.mkdir(parents=True, exist_ok=True)
    if checkpoint is None:
        checkpoint, trained_here = _train_small(out, say), True
    model = load_model(checkpoint)
    if model.config.resolution is None:
        raise WNOEdgeError(f"{checkpoint}: the checkpoint names no grid (resolution), which the demo's test data needs")
    h, w = model.config.resolution
    _refuse_outputs(out, checkpoint, (FRESH.format(h=h),))
    say(
        f"model {checkpoint}: {model.metadata.get('task', '?')}, {h}x{w}, "
        f"card test rel L2 {model.metadata.get('test_rel_l2', float('nan')):.4f}"
    )

    # Test data the model has never seen: a new seed through the same solver.
    data = out / FRESH.format(h=h)
    generate("darcy", data, n_samples=n_test, resolution=h, seed=seed, progress=False)
    fresh = PDEBenchDataset(data, "all")
    a, u = (torch.stack(t) for t in zip(*(fresh[i] for i in range(len(fresh))), strict=False))  # each sample read once
    with torch.no_grad():
        pred = model(a)
    fresh_err = relative_l2(pred, u).item()
    say(f"fresh Darcy data ({n_test} samples, seed {seed}): PyTorch test relative L2 {fresh_err:.4f}")

    onnx_path = out / ONNX
    report = export_onnx(model, onnx_path, inputs=a[:2].numpy())  # dynamic batch
    worst = max(c.relative for c in report.comparisons)
    graph = report.stats
    assert graph is not None  # export_onnx sets it
    say(
        f"exported {onnx_path}: {graph.total_nodes} nodes, "
        f"{graph.node_counts.get(f'{OP_DOMAIN}::{OP_NAME}', 0)} WinogradConv, no DFT; "
        f"max deviation from PyTorch {worst:.1e} of the output scale"
    )

    with runtime.load(onnx_path, threads=2) as session:
        y = np.empty(session.output_shape, np.float32)
        preds = np.stack([session.run(a[i : i + 1].numpy(), out=y)[0].copy() for i in range(len(a))])
        onnx_err = relative_l2(torch.from_numpy(preds), u).item()
        stats = profile_session(session, iterations=200, warmup=20)
    lat = stats["latency"]
    say(
        f"runtime, {session.backend} backend (CPU, 2 threads): test relative L2 {onnx_err:.4f}; latency median "
        f"{lat['median_ms']:.2f} ms, p99 {lat['p99_ms']:.2f} ms, {stats['throughput_qps']:.0f} qps"
    )

    plot = out / PLOT
    _plot(plot, a[0, 0].numpy(), u[0, 0].numpy(), preds[0, 0], session.backend)
    say(f"wrote {plot}")
    return DemoResult(
        checkpoint, trained_here, model.metadata.get("test_rel_l2"), fresh_err, onnx_err, onnx_path, lat, plot
    )


def _plot(path: Path, a: np.ndarray, u: np.ndarray, pred: np.ndarray, backend: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..util.io import atomic_path

    fig, axes = plt.subplots(1, 4, figsize=(14, 3.4), dpi=100)
    panels = [
        (a, "coefficient a(x)", "gray"),
        (u, "solver u", "viridis"),
        (pred, f"WNO ({backend})", "viridis"),
        (pred - u, "error", "RdBu_r"),
    ]
    for ax, (img, title, cmap) in zip(axes, panels, strict=True):
        kw = {"vmin": u.min(), "vmax": u.max()} if cmap == "viridis" else {}
        if title == "error":
            m = np.abs(img).max()
            kw = {"vmin": -m, "vmax": m}
        im = ax.imshow(img.T, origin="lower", cmap=cmap, **kw)
        ax.set_title(title)
        ax.set_xticks([])
        ax.set_yticks([])
        fig.colorbar(im, ax=ax, fraction=0.046)
    rel = np.linalg.norm(pred - u) / np.linalg.norm(u)
    fig.suptitle(f"Darcy flow -div(a grad u) = 1: relative L2 error {rel:.3f}")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
