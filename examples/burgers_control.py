#!/usr/bin/env python3
"""Closed-loop control of 1-D viscous Burgers with a 1-D WNO as the model.

Plant:      the true solver (wno_edge.data.burgers.simulate): u_t + (u^2/2)_x = (nu/pi) u_xx
            on a periodic [0, 1), nu = 0.01, fronts a few cells wide.
Actuation:  8 periodic Gaussian bumps add a_i * phi_i(x) to u at the start of every control
            interval (an impulsive forcing term); |a_i| <= A_MAX.
Goal:       hold u at a target profile (a sine wave, which Burgers steepens into a front and
            viscosity then flattens) from a random PDEBench-style initial state.
Controller: sampling-based MPC (MPPI) over the WNO surrogate: every tick, K candidate action
            sequences over a horizon of H intervals are rolled out in one batched inference
            per step, scored on tracking error + effort, and combined with softmax weights;
            the first action is applied, the plan shifted (receding horizon).
Loop:       wno_edge.runtime.ControlLoop at a fixed rate: each tick the batch-1 session
            forecasts the next state (its error against the plant is logged as model
            mismatch), then the MPC chooses the action and the plant advances.

    python examples/burgers_control.py [--model models/burgers_wno.pt]

A .pt checkpoint is first exported to FFT-free ONNX (out/examples/), so the loop runs what an
edge device would: wno_edge.runtime, no torch in the hot path. The closed loop is judged on
the solver, not the surrogate: it prints the tracking error against the uncontrolled run,
loop timing and deadline misses, and writes a PNG of the trajectories.
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
from wno_edge.data import burgers  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
A_MAX = 0.3
N_ACTUATORS = 8


def actuator_basis(n: int, count: int = N_ACTUATORS, width: float = 0.04) -> np.ndarray:
    """(count, n) Gaussian bumps evenly spaced on the periodic [0, 1), peak 1."""
    x = burgers.cell_centers(n)
    centres = (np.arange(count) + 0.5) / count
    gap = (x[None, :] - centres[:, None] + 0.5) % 1.0 - 0.5  # periodic distance
    return np.exp(-(gap**2) / (2 * width**2))


def target_profile(n: int) -> np.ndarray:
    return 0.5 * np.sin(2 * np.pi * burgers.cell_centers(n))


def model_dt(model: Path) -> float:
    """Model time per predicted frame: the solver's frame step 0.01 times the training time_reduce."""
    if model.suffix == ".pt":
        from wno_edge.checkpoint import read_checkpoint

        options = read_checkpoint(model)["metadata"].get("options") or {}
        return float(burgers.T_END / (burgers.N_FRAMES - 1) * options.get("time_reduce", 5))
    return 0.05


def run(
    model: Path,
    ticks: int,
    rate_hz: float,
    candidates: int,
    horizon: int,
    seed: int,
    dt: float,
    plot: Path | None,
    backend: str | None = None,
) -> dict:
    forecaster = runtime.load(model, backend=backend, threads=2)
    planner = runtime.load(model, backend=backend, threads=2, batch=candidates, check_finite=False)
    n = forecaster.input_shape[-1]
    if forecaster.output_shape[1] != 1 or forecaster.input_shape[1] != 1:
        raise SystemExit(
            f"{model}: expected a one-frame, one-field Burgers model (1, 1, X), got {forecaster.input_shape}"
        )
    basis, target = actuator_basis(n), target_profile(n)
    mpc = MPPI(
        planner,
        basis,
        target,
        A_MAX,
        horizon=horizon,
        temperature=0.002,
        effort=0.01 / len(basis),
        sigma=0.15,
        seed=seed,
    )

    rng = np.random.default_rng(seed)
    u0 = burgers.random_initial_state(rng, n)
    plant = u0[None, None].astype(np.float32)  # (1, 1, n): the plant's state as the model sees it
    free = burgers.simulate(u0, times=np.arange(ticks + 1) * dt)[1:]  # the do-nothing baseline
    history: dict[str, list] = {"u": [], "error": [], "mismatch": [], "action": []}

    def actuated(action: np.ndarray) -> np.ndarray:
        """The loop's input: the plant's state with the chosen impulse added."""
        return plant + (action @ basis).astype(np.float32)

    action = mpc.act(plant)

    def step(forecast: np.ndarray) -> np.ndarray:
        nonlocal action
        state = plant[0, 0].astype(np.float64) + action @ basis
        nxt = burgers.simulate(state, times=np.array([0.0, dt]))[1]  # the plant moves on
        # The loop's forecast was made from the same actuated state: its miss is model error.
        history["mismatch"].append(float(np.sqrt(np.mean((forecast[0, 0] - nxt) ** 2))))
        history["u"].append(nxt)
        history["error"].append(float(np.sqrt(np.mean((nxt - target) ** 2))))
        history["action"].append(action)
        plant[0, 0] = nxt
        action = mpc.act(plant)
        return actuated(action)

    loop = runtime.ControlLoop(forecaster, rate_hz=rate_hz, step=step)
    t0 = time.perf_counter()
    loop.run(actuated(action), steps=ticks)
    seconds = time.perf_counter() - t0

    done = loop.iterations
    free_error = np.sqrt(np.mean((free - target) ** 2, axis=1))
    result = {
        "ticks": done,
        "final_rms_error": history["error"][-1],
        "final_rms_error_uncontrolled": float(free_error[done - 1]),
        "mean_rms_error_last_half": float(np.mean(history["error"][done // 2 :])),
        "mean_rms_error_last_half_uncontrolled": float(np.mean(free_error[done // 2 : done])),
        "mean_forecast_rms_mismatch": float(np.mean(history["mismatch"])),
        "seconds": seconds,
        "loop": loop.stats(),
        "backend": planner.backend,
    }
    print(f"{loop} on {planner.backend}")
    print(
        f"tracking RMS error on the solver, last half: {result['mean_rms_error_last_half']:.3f} with MPC vs "
        f"{result['mean_rms_error_last_half_uncontrolled']:.3f} uncontrolled "
        f"(final {result['final_rms_error']:.3f} vs {result['final_rms_error_uncontrolled']:.3f}); "
        f"surrogate one-step RMS mismatch {result['mean_forecast_rms_mismatch']:.4f}; {seconds:.1f} s"
    )
    if plot:
        save_plot(plot, np.array(history["u"]), free[:done], u0, target, np.array(history["error"]), free_error, dt)
        print(f"wrote {plot}")
    forecaster.close()
    planner.close()
    return result


def save_plot(path: Path, controlled, free, u0, target, error, free_error, dt):
    """x-t maps of the controlled and uncontrolled runs, final profiles, and the error over time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ticks, n = controlled.shape
    x = burgers.cell_centers(n)
    t = np.arange(1, ticks + 1) * dt
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5), dpi=100)
    kw = dict(vmin=-1, vmax=1, cmap="RdBu_r", origin="lower", aspect="auto", extent=(0, 1, dt / 2, (ticks + 0.5) * dt))
    for ax, field, title in ((axes[0, 0], controlled, "MPC over the WNO (solver)"), (axes[0, 1], free, "uncontrolled")):
        im = ax.imshow(field, **kw)
        ax.set_title(title)
        ax.set_xlabel("x")
        ax.set_ylabel("t")
    fig.colorbar(im, ax=axes[0], shrink=0.8, label="u")
    ax = axes[1, 0]
    ax.plot(x, target, "k--", label="target")
    ax.plot(x, u0, color="0.6", label="u(0)")
    ax.plot(x, controlled[-1], label=f"MPC, t = {t[-1]:.2f}")
    ax.plot(x, free[-1], label=f"uncontrolled, t = {t[-1]:.2f}")
    ax.set_xlabel("x")
    ax.set_ylabel("u")
    ax.legend(fontsize=8)
    ax = axes[1, 1]
    ax.plot(t, error, label="MPC over the WNO surrogate")
    ax.plot(t, free_error[:ticks], label="uncontrolled")
    ax.set_xlabel("t")
    ax.set_ylabel("RMS(u - target)")
    ax.legend()
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, default=ROOT / "models" / "burgers_wno.pt")
    p.add_argument("--out", type=Path, default=Path("out/examples"))
    p.add_argument("--ticks", type=int, default=40)
    p.add_argument("--rate", type=float, default=10.0, help="control rate in Hz")
    p.add_argument("--candidates", type=int, default=64)
    p.add_argument("--horizon", type=int, default=4)
    p.add_argument("--seed", type=int, default=1, help="the initial state's draw")
    p.add_argument(
        "--backend",
        default=None,
        help="runtime backend (native, onnxruntime, ...; default: the native engine when built)",
    )
    p.add_argument(
        "--frame-dt",
        type=float,
        default=None,
        help="model time per predicted frame (default: from the checkpoint's time_reduce, else 0.05)",
    )
    p.add_argument("--plot", type=Path, default=Path("out/examples/burgers_control.png"))
    p.add_argument("--json", type=Path, default=None)
    a = p.parse_args()
    dt = a.frame_dt or model_dt(a.model)
    a.plot.parent.mkdir(parents=True, exist_ok=True)
    result = run(
        onnx_model(a.model, a.out), a.ticks, a.rate, a.candidates, a.horizon, a.seed, dt, a.plot, backend=a.backend
    )
    if a.json:
        a.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
