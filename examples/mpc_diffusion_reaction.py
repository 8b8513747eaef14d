#!/usr/bin/env python3
"""Closed-loop control of a FitzHugh-Nagumo diffusion-reaction field with a WNO as the model.

Plant:      the true solver (wno_edge.data.diffusion_reaction.simulate), 2 fields (u, v).
Actuation:  16 Gaussian heaters/coolers on a 4x4 lattice add a_i * phi_i(x, y) to u at the
            start of every control interval; |a_i| <= A_MAX.
Goal:       drive u to a target pattern (two opposite-phase quadrant pairs) and hold it.
Controller: sampling-based MPC (MPPI) over the WNO surrogate: every tick, K candidate
            action sequences over a horizon of H intervals are rolled out in one batched
            inference per step, scored on tracking error + effort, and combined with
            softmax weights; the first action is applied, the plan shifted (receding horizon).
Loop:       wno_edge.runtime.ControlLoop at a fixed rate: each tick the batch-1 session
            forecasts the next frame (its error against the plant is logged as model
            mismatch), then the MPC chooses the action and the plant advances.

    python examples/mpc_diffusion_reaction.py [--model models/diffusion_reaction_wno.pt]

A .pt checkpoint is first exported to FFT-free ONNX (out/examples/), so the loop runs
what an edge device would: wno_edge.runtime on ONNX Runtime, no torch in the hot path.

Prints the tracking error against doing nothing, loop timing and deadline misses, and
writes a PNG of the trajectory.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mppi import MPPI, onnx_model  # noqa: E402

from wno_edge import runtime  # noqa: E402
from wno_edge.data import diffusion_reaction as dr  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
A_MAX = 0.6


def actuator_basis(n: int, lattice: int = 4, width: float = 0.25) -> np.ndarray:
    """(lattice^2, n, n) Gaussian bumps centred on a lattice over [-1, 1]^2."""
    x = dr.cell_centers(n)
    centres = -1 + (np.arange(lattice) + 0.5) * 2 / lattice
    gx = np.exp(-((x[None, :] - centres[:, None]) ** 2) / (2 * width**2))  # (lattice, n)
    return np.einsum("ai,bj->abij", gx, gx).reshape(lattice * lattice, n, n)


def target_pattern(n: int) -> np.ndarray:
    x = dr.cell_centers(n)
    X, Y = np.meshgrid(x, x, indexing="ij")
    return 0.8 * np.tanh(3 * X) * np.tanh(3 * Y)


def frame_dt(model: Path) -> float:
    """Seconds of model time per predicted frame: PDEBench's 0.05 times the training time_reduce."""
    if model.suffix == ".pt":
        from wno_edge.checkpoint import read_checkpoint

        options = read_checkpoint(model)["metadata"].get("options") or {}
        return float(dr.T_END / (dr.N_FRAMES - 1) * options.get("time_reduce", 5))
    return 0.25


def run(
    model: Path, ticks: int, rate_hz: float, candidates: int, horizon: int, seed: int, dt: float, plot: Path | None
) -> dict:
    forecaster = runtime.load(model, threads=2)
    planner = runtime.load(model, threads=2, batch=candidates, check_finite=False)
    n = forecaster.input_shape[-1]
    c = forecaster.output_shape[1]
    frames = forecaster.input_shape[1] // c
    basis, target = actuator_basis(n), target_pattern(n)
    mpc = MPPI(planner, basis, target, A_MAX, horizon=horizon, seed=seed)

    # The plant starts from PDEBench-style random noise, run uncontrolled for the first window.
    rng = np.random.default_rng(seed)
    start = dr.simulate(dr.random_initial_state(rng, n), times=np.arange(frames) * dt)  # (frames, 2, n, n)
    plant = start.reshape(1, frames * c, n, n).astype(np.float32)  # true frames, newest last
    free = dr.simulate(start[-1], times=np.arange(ticks + 1) * dt)[1:, 0]  # the do-nothing baseline
    history = {"u": [], "error": [], "mismatch": [], "action": []}

    def actuated(action: np.ndarray) -> np.ndarray:
        """The loop's input: the plant's window with the chosen action applied to the newest u."""
        x = plant.copy()
        x[0, -c] += np.einsum("a,aij->ij", action, basis)
        return x

    action = mpc.act(plant)

    def step(forecast: np.ndarray) -> np.ndarray:
        nonlocal action
        state = plant[0, -c:].astype(np.float64)
        state[0] += np.einsum("a,aij->ij", action, basis)
        nxt = dr.simulate(state, times=np.array([0.0, dt]))[1]  # the plant moves on
        # The loop's forecast was made from the same actuated window: its miss is model error.
        history["mismatch"].append(float(np.sqrt(np.mean((forecast[0, 0] - nxt[0]) ** 2))))
        history["u"].append(nxt[0])
        history["error"].append(float(np.sqrt(np.mean((nxt[0] - target) ** 2))))
        history["action"].append(action)
        plant[:, :-c] = plant[:, c:]
        plant[:, -c:] = nxt.astype(np.float32)
        action = mpc.act(plant)
        return actuated(action)

    loop = runtime.ControlLoop(forecaster, rate_hz=rate_hz, step=step)
    t0 = time.perf_counter()
    loop.run(actuated(action), steps=ticks)
    seconds = time.perf_counter() - t0

    done = loop.iterations
    free_error = np.sqrt(np.mean((free - target) ** 2, axis=(1, 2)))
    result = {
        "ticks": done,
        "final_rms_error": history["error"][-1],
        "final_rms_error_uncontrolled": float(free_error[done - 1]),
        "mean_rms_error_last_half": float(np.mean(history["error"][done // 2 :])),
        "mean_rms_error_last_half_uncontrolled": float(np.mean(free_error[done // 2 : done])),
        "mean_forecast_rms_mismatch": float(np.mean(history["mismatch"])),
        "seconds": seconds,
        "loop": loop.stats(),
    }
    print(loop)
    print(
        f"tracking RMS error, last half: {result['mean_rms_error_last_half']:.3f} with MPC vs "
        f"{result['mean_rms_error_last_half_uncontrolled']:.3f} uncontrolled "
        f"(final {result['final_rms_error']:.3f} vs {result['final_rms_error_uncontrolled']:.3f}); "
        f"surrogate one-step RMS mismatch {result['mean_forecast_rms_mismatch']:.3f}; {seconds:.1f} s"
    )
    if plot:
        save_plot(plot, history, free, target, free_error, done)
        print(f"wrote {plot}")
    forecaster.close()
    planner.close()
    return result


def save_plot(path: Path, history: dict, free: np.ndarray, target: np.ndarray, free_error: np.ndarray, ticks: int):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [0, ticks // 4, ticks // 2, ticks - 1]
    fig, axes = plt.subplots(3, len(shown) + 1, figsize=(3 * (len(shown) + 1), 8.4), dpi=100)
    kw = dict(vmin=-1, vmax=1, cmap="RdBu_r", origin="lower")
    for j, t in enumerate(shown):
        axes[0, j].imshow(history["u"][t].T, **kw)
        axes[0, j].set_title(f"MPC, tick {t + 1}")
        axes[1, j].imshow(free[t].T, **kw)
        axes[1, j].set_title(f"uncontrolled, tick {t + 1}")
    axes[0, -1].imshow(target.T, **kw)
    axes[0, -1].set_title("target u")
    axes[1, -1].axis("off")
    for ax in axes[:2].ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes[2]:
        ax.remove()
    ax = fig.add_subplot(3, 1, 3)
    ax.plot(np.arange(1, ticks + 1), history["error"], label="MPC over the WNO surrogate")
    ax.plot(np.arange(1, ticks + 1), free_error[:ticks], label="uncontrolled")
    ax.set_xlabel("control tick")
    ax.set_ylabel("RMS(u - target)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, default=ROOT / "models" / "diffusion_reaction_wno.pt")
    p.add_argument("--out", type=Path, default=Path("out/examples"))
    p.add_argument("--ticks", type=int, default=40)
    p.add_argument("--rate", type=float, default=5.0, help="control rate in Hz")
    p.add_argument("--candidates", type=int, default=32)
    p.add_argument("--horizon", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--frame-dt",
        type=float,
        default=None,
        help="time between the model's frames (default: from the checkpoint's time_reduce, else 0.25)",
    )
    p.add_argument("--plot", type=Path, default=Path("out/examples/mpc_diffusion_reaction.png"))
    p.add_argument("--json", type=Path, default=None)
    a = p.parse_args()
    dt = a.frame_dt or frame_dt(a.model)
    a.plot.parent.mkdir(parents=True, exist_ok=True)
    result = run(onnx_model(a.model, a.out), a.ticks, a.rate, a.candidates, a.horizon, a.seed, dt, a.plot)
    if a.json:
        a.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
