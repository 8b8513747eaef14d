"""2-D diffusion-reaction (FitzHugh-Nagumo), PDEBench's task:

    u_t = Du lap(u) + u - u^3 - k - v,    v_t = Dv lap(v) + u - v    on [-1, 1]^2,

zero-flux (Neumann) boundaries, u0 and v0 i.i.d. N(0, 1) per cell, T = 5, 101 frames.

Space is PDEBench's own discretisation (sim_diff_react.py): n x n finite-volume cells,
5-point Laplacian, Neumann by a mirrored ghost cell. That operator is diagonalised
exactly by the orthonormal DCT-II, so diffusion is advanced *exactly* in DCT space.

Time: Strang splitting, half a diffusion step / one RK4 reaction step / half a
diffusion step (second order). Stability:
  * diffusion: exp(dt D L) is exact for every dt, and since L has non-negative
    off-diagonals and zero row sums it is a convex averaging: it never grows max|u|.
  * reaction: the box max(|u|, |v|) <= M is invariant for every M >= 2 (u - u^3 - k - v
    points inwards at |u| = M, u - v at |v| = M), so max|u| never exceeds
    M0 = max(2, max|u0|, |v0|). There the reaction Jacobian's eigenvalues lie in the
    left half-plane with modulus <= 3 M0^2, and the left half-disc |z| <= 2.5 lies inside
    RK4's stability region, so each step takes dt <= 2.5 / (3 M0^2) (and <= max_step,
    for accuracy: 0.01 at N(0, 1) data, where the stability bound would allow 0.05).
PDEBench integrates the same semi-discrete system with scipy's RK45 (rtol 1e-3).
"""

from __future__ import annotations

import numpy as np
from scipy.fft import dctn, idctn

DU, DV, K = 1e-3, 5e-3, 5e-3  # PDEBench configs/diff-react.yaml
T_END, N_FRAMES = 5.0, 101
DOMAIN = (-1.0, 1.0)
MAX_STEP = 0.01  # splitting step: relative error ~1e-4 of the 64x64 solution vs dt -> 0


def cell_centers(n: int) -> np.ndarray:
    dx = (DOMAIN[1] - DOMAIN[0]) / n
    return DOMAIN[0] + (np.arange(n) + 0.5) * dx


def frame_times() -> np.ndarray:
    return np.linspace(0.0, T_END, N_FRAMES)


def neumann_laplacian_eigenvalues(n: int, length: float = DOMAIN[1] - DOMAIN[0]) -> np.ndarray:
    """Eigenvalues of the 1-D cell-centred Neumann Laplacian (DCT-II modes k = 0..n-1)."""
    dx = length / n
    return -(4.0 / dx**2) * np.sin(np.pi * np.arange(n) / (2 * n)) ** 2


def random_initial_state(rng: np.random.Generator, n: int) -> np.ndarray:
    """(2, n, n): u0 and v0 i.i.d. standard normal per cell, as PDEBench."""
    return rng.standard_normal((2, n, n))


def _rk4_reaction(q: np.ndarray, dt: float, k: float) -> np.ndarray:
    def rate(s):
        r = np.empty_like(s)
        u, v = s[:, 0], s[:, 1]
        np.subtract(u, v, out=r[:, 1])
        r[:, 0] = r[:, 1] - u * u * u - k  # u*u*u: np.power(u, 3) is ~20x slower
        return r

    k1 = rate(q)
    k2 = rate(q + (0.5 * dt) * k1)
    k3 = rate(q + (0.5 * dt) * k2)
    k4 = rate(q + dt * k3)
    k2 += k3
    k2 *= 2.0
    k1 += k2
    k1 += k4
    return q + (dt / 6.0) * k1


def _diffusion_factor(n: int, diffusivity: np.ndarray, dt: float) -> np.ndarray:
    lam = neumann_laplacian_eigenvalues(n)
    lam2 = lam[:, None] + lam[None, :]
    return np.exp(dt * diffusivity[:, None, None] * lam2)  # (2, n, n) in DCT space


def _advance(q: np.ndarray, interval: float, steps: int, diffusivity, k: float, reaction: bool) -> np.ndarray:
    """`steps` Strang steps of length interval/steps; consecutive half diffusion steps fused."""
    n = q.shape[-1]
    dt = interval / steps
    half = _diffusion_factor(n, diffusivity, 0.5 * dt)
    full = half * half
    qh = dctn(q, type=2, axes=(-2, -1), norm="ortho") * half
    for i in range(steps):
        q = idctn(qh, type=2, axes=(-2, -1), norm="ortho")
        if reaction:
            q = _rk4_reaction(q, dt, k)
        qh = dctn(q, type=2, axes=(-2, -1), norm="ortho") * (half if i == steps - 1 else full)
    return idctn(qh, type=2, axes=(-2, -1), norm="ortho")


def simulate(
    state0: np.ndarray,
    times: np.ndarray | None = None,
    du: float = DU,
    dv: float = DV,
    k: float = K,
    reaction: bool = True,
    max_step: float = MAX_STEP,
) -> np.ndarray:
    """Trajectories (B, len(times), 2, n, n) from initial states (B, 2, n, n) (or (2, n, n)).

    times: increasing output times starting at 0 (default: PDEBench's 101 frames on [0, 5]).
    Each sample gets its own step size (from its own initial maximum), so a sample's
    trajectory does not depend on the other samples of the batch.
    """
    q = np.array(state0, dtype=np.float64)  # a copy: advanced in place below
    single = q.ndim == 3
    if single:
        q = q[None]
    if q.ndim != 4 or q.shape[1] != 2 or q.shape[2] != q.shape[3]:
        raise ValueError(f"expected initial states (B, 2, n, n), got {np.shape(state0)}")
    times = frame_times() if times is None else np.asarray(times, dtype=np.float64)
    if times[0] != 0.0 or np.any(np.diff(times) <= 0):
        raise ValueError("times must start at 0 and increase")
    diffusivity = np.array([du, dv])
    bound = np.maximum(2.0, np.abs(q).reshape(len(q), -1).max(axis=1))
    step_limit = np.minimum(max_step, 2.5 / (3.0 * bound**2))
    out = np.empty((len(q), len(times)) + q.shape[1:])
    out[:, 0] = q
    for j in range(1, len(times)):
        interval = times[j] - times[j - 1]
        steps = np.maximum(1, np.ceil(interval / step_limit - 1e-9).astype(int))
        for s in np.unique(steps):  # samples needing the same number of steps run together
            sel = np.flatnonzero(steps == s)
            q[sel] = _advance(q[sel], interval, int(s), diffusivity, k, reaction)
        out[:, j] = q
    return out[0] if single else out


def diffusion_reaction_samples(rngs: list[np.random.Generator], n: int) -> np.ndarray:
    """(B, 101, 2, n, n) PDEBench-style trajectories, one per generator."""
    return simulate(np.stack([random_initial_state(r, n) for r in rngs]))
