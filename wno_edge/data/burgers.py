"""1-D viscous Burgers, PDEBench's task:

    u_t + (u^2 / 2)_x = (nu / pi) u_xx    on [0, 1), periodic,

PDEBench's Nu = nu (its files' attribute; the diffusion coefficient is nu / pi), X cells
with centres (i + 1/2) / X, 201 frames on [0, 2] (dt_save 0.01).

Finite volumes, conservative: each face carries one flux, a cell gains what its left
face brings and loses what its right face takes, so the mean is kept to rounding.
  * convection: MUSCL reconstruction (slopes limited by the monotonised-central limiter,
    PDEBench's VLlimiter with alpha = 2) and the local Lax-Friedrichs (Rusanov) flux,
    whose dissipation speed max(|u_L|, |u_R|) also spreads transonic rarefactions (PDEBench's
    |u_L + u_R| / 2, Murman-Roe's, has no entropy fix); second order where u is smooth;
  * diffusion: the central flux -kappa (u_{i+1} - u_i) / dx (second order);
  * time: SSP-RK3 (Shu-Osher), a step CFL / (max|u| / dx + 2 kappa / dx^2) of the
    combined convective and diffusive limit (CFL = 0.4), chosen per sample at the start
    of each frame interval (max|u| does not grow: the scheme keeps a maximum principle)
    and shortened to land on the frame times.
PDEBench steps its semi-discrete system with a two-stage predictor-corrector at CFL 0.25
(data_gen_NLE/BurgersEq/burgers_multi_solution_Hydra.py).

Initial conditions: PDEBench's sums of sines (init_multi): four modes m = 1..4 with
amplitudes U(0, 1) and phases U(0, 2 pi); two draws of m (with replacement) set each
mode's wavenumber 2 pi m c_m (c_m = how often m was drawn, so an undrawn mode is the
constant A_m sin(phi_m)); then |u| with probability 0.1, a random sign, and with
probability 0.1 a tanh window on [xL, xR]. PDEBench divides by xc[-1] - xc[0] = 1 - dx
where this divides by the period 1 (its sines are not quite periodic on the grid).
"""

from __future__ import annotations

import numpy as np

NU = 0.01  # PDEBench's Nu (1D_Burgers_Sols_Nu0.01.hdf5): diffusion coefficient nu / pi
T_END, N_FRAMES = 2.0, 201
DOMAIN = (0.0, 1.0)
CFL = 0.4
N_MODES, N_DRAWS = 4, 2  # init_multi's k_tot and num_choise_k


def cell_centers(n: int) -> np.ndarray:
    dx = (DOMAIN[1] - DOMAIN[0]) / n
    return DOMAIN[0] + (np.arange(n) + 0.5) * dx


def frame_times() -> np.ndarray:
    return np.linspace(0.0, T_END, N_FRAMES)


def viscosity(nu: float = NU) -> float:
    """The coefficient of u_xx for PDEBench's Nu."""
    return nu / np.pi


def random_initial_state(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n,) u0 at the cell centres, drawn as PDEBench's init_multi (module docstring)."""
    x = cell_centers(n)
    length = DOMAIN[1] - DOMAIN[0]
    counts = np.bincount(rng.integers(0, N_MODES, size=N_DRAWS), minlength=N_MODES)
    k = 2.0 * np.pi * np.arange(1, N_MODES + 1) * counts / length
    amp = rng.uniform(0.0, 1.0, N_MODES)
    phase = rng.uniform(0.0, 2.0 * np.pi, N_MODES)
    u = (amp[:, None] * np.sin(k[:, None] * x[None, :] + phase[:, None])).sum(axis=0)
    if rng.uniform() < 0.1:
        u = np.abs(u)
    u *= rng.choice([1.0, -1.0])
    if rng.uniform() < 0.1:
        lo, hi = rng.uniform(0.1, 0.45), rng.uniform(0.55, 0.9)
        u *= 0.5 * (np.tanh((x - lo) / 0.01) - np.tanh((x - hi) / 0.01))
    return u


def rate(u: np.ndarray, kappa: float, dx: float) -> np.ndarray:
    """du/dt of the cell averages u (B, X): what each cell's left face brings minus what its
    right face takes. A face's flux is Rusanov's on the MUSCL states (monotonised-central
    slopes) minus kappa times the central gradient; the periodic face is computed twice
    from the same four values (first and last), bit for bit the same, so the sum telescopes."""
    p = np.concatenate([u[:, -2:], u, u[:, :2]], axis=-1)  # two ghost cells a side: cells -2 .. X+1
    d = p[:, 1:] - p[:, :-1]  # d[:, j] = cell j - 1 minus cell j - 2
    left, right = d[:, :-1], d[:, 1:]  # one-sided differences of cells -1 .. X
    limited = np.minimum(np.minimum(np.abs(left), np.abs(right)) * 2.0, 0.5 * np.abs(left + right))
    slope = np.where(left * right > 0, np.copysign(limited, left), 0.0)
    centre = p[:, 1:-1]
    ul = centre[:, :-1] + 0.5 * slope[:, :-1]  # the states either side of faces -1|0 .. X-1|X
    ur = centre[:, 1:] - 0.5 * slope[:, 1:]
    flux = 0.25 * (ul * ul + ur * ur) - 0.5 * np.maximum(np.abs(ul), np.abs(ur)) * (ur - ul)
    if kappa:
        flux -= (kappa / dx) * d[:, 1:-1]
    return (flux[:, :-1] - flux[:, 1:]) / dx


def stable_step(u: np.ndarray, kappa: float, dx: float, cfl: float = CFL) -> np.ndarray:
    """(B, 1) SSP-RK3 step per sample for the current state u (B, X)."""
    speed = np.abs(u).max(axis=-1, keepdims=True)
    return cfl / (speed / dx + 2.0 * kappa / dx**2 + 1e-300)


def _ssp_rk3(u: np.ndarray, dt: np.ndarray, kappa: float, dx: float) -> np.ndarray:
    u1 = u + dt * rate(u, kappa, dx)
    u2 = 0.75 * u + 0.25 * (u1 + dt * rate(u1, kappa, dx))
    return u / 3.0 + (2.0 / 3.0) * (u2 + dt * rate(u2, kappa, dx))


def simulate(
    u0: np.ndarray,
    times: np.ndarray | None = None,
    nu: float = NU,
    *,
    kappa: float | None = None,
    cfl: float = CFL,
    length: float = DOMAIN[1] - DOMAIN[0],
) -> np.ndarray:
    """Trajectories (B, len(times), X) of cell averages from u0 (B, X) (or (X,) -> (T, X)).

    nu: PDEBench's Nu (diffusion kappa = nu / pi); kappa, when given, sets the coefficient
    of u_xx directly (0: inviscid). times: increasing, from 0 (default: PDEBench's frames).
    Each sample takes its own steps, so its trajectory does not depend on the batch.
    """
    u = np.array(u0, dtype=np.float64)
    single = u.ndim == 1
    if single:
        u = u[None]
    if u.ndim != 2 or u.shape[1] < 3:
        raise ValueError(f"expected initial states (B, X) with X >= 3, got {np.shape(u0)}")
    times = frame_times() if times is None else np.asarray(times, dtype=np.float64)
    if times[0] != 0.0 or np.any(np.diff(times) <= 0):
        raise ValueError("times must start at 0 and increase")
    kappa = viscosity(nu) if kappa is None else float(kappa)
    if kappa < 0:
        raise ValueError(f"the viscosity must be >= 0, got {kappa}")
    dx = length / u.shape[1]
    out = np.empty((len(u), len(times), u.shape[1]))
    out[:, 0] = u
    for j in range(1, len(times)):
        interval = times[j] - times[j - 1]
        steps = np.maximum(1, np.ceil(interval / stable_step(u, kappa, dx, cfl) - 1e-9)).astype(int)  # (B, 1)
        dt = interval / steps
        for s in range(int(steps.max())):
            # samples done with this interval keep their state, bit for bit
            u = np.where(steps > s, _ssp_rk3(u, dt, kappa, dx), u)
        out[:, j] = u
    return out[0] if single else out


def burgers_samples(rngs: list[np.random.Generator], n: int, nu: float = NU) -> np.ndarray:
    """(B, 201, n) PDEBench-style trajectories, one per generator."""
    return simulate(np.stack([random_initial_state(r, n) for r in rngs]), nu=nu)
