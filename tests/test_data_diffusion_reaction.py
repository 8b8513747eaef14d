"""FitzHugh-Nagumo solver against an independent method-of-lines reference and invariants."""

import numpy as np
import pytest
from scipy.integrate import solve_ivp
from scipy.sparse import diags, identity, kron

from wno_edge.data import diffusion_reaction as dr


def pdebench_laplacian(n, length=2.0):
    """PDEBench's sparse 5-point Laplacian (sim_diff_react.py): cell-centred, Neumann by
    a mirrored ghost cell, so the boundary row has -1 instead of -2 on the diagonal."""
    dx = length / n
    main = np.full(n, -2.0)
    main[0] = main[-1] = -1.0
    lap1 = diags([main, np.ones(n - 1), np.ones(n - 1)], [0, -1, 1]) / dx**2
    return (kron(lap1, identity(n)) + kron(identity(n), lap1)).tocsr()


def method_of_lines(q0, times, du, dv, k=dr.K):
    n = q0.shape[-1]
    lap = pdebench_laplacian(n)

    def rhs(t, y):
        u, v = y[: n * n], y[n * n :]
        return np.concatenate([du * (lap @ u) + u - u**3 - k - v, dv * (lap @ v) + u - v])

    sol = solve_ivp(rhs, (times[0], times[-1]), q0.ravel(), t_eval=times, method="DOP853", rtol=1e-11, atol=1e-12)
    return sol.y.T.reshape(len(times), 2, n, n)


@pytest.mark.parametrize("du,dv", [(dr.DU, dr.DV), (0.05, 0.1)])
def test_matches_scipy_method_of_lines_with_pdebench_laplacian(du, dv):
    q0 = np.random.default_rng(0).standard_normal((2, 6, 6))
    times = dr.frame_times()
    reference = method_of_lines(q0, times, du, dv)
    error = np.abs(dr.simulate(q0, times, du=du, dv=dv) - reference).max()
    finer = np.abs(dr.simulate(q0, times, du=du, dv=dv, max_step=dr.MAX_STEP / 2) - reference).max()
    assert error < 1e-4
    assert error / finer > 3.5  # second order in time (Strang splitting)


def test_uniform_state_evolves_as_the_reaction_ode():
    q0 = np.empty((2, 8, 8))
    q0[0], q0[1] = 0.7, -0.3
    times = dr.frame_times()
    out = dr.simulate(q0, times)
    assert np.ptp(out, axis=(2, 3)).max() < 1e-12  # stays spatially uniform

    def ode(t, y):
        return [y[0] - y[0] ** 3 - dr.K - y[1], y[0] - y[1]]

    ref = solve_ivp(ode, (0, dr.T_END), [0.7, -0.3], t_eval=times, method="DOP853", rtol=1e-12, atol=1e-12).y.T
    np.testing.assert_allclose(out[:, :, 0, 0], ref, atol=1e-7)


def test_pure_diffusion_conserves_the_mean_and_decays_each_mode_exactly():
    n = 16
    q0 = np.random.default_rng(1).standard_normal((2, n, n))
    times = np.linspace(0, 2, 5)
    out = dr.simulate(q0, times, du=0.02, dv=0.05, reaction=False)
    np.testing.assert_allclose(out.mean(axis=(2, 3)), np.broadcast_to(q0.mean(axis=(1, 2)), (5, 2)), rtol=0, atol=1e-14)
    # A cosine mode of the Neumann grid decays at its eigenvalue of PDEBench's matrix.
    x = np.arange(n) + 0.5
    mode = np.outer(np.cos(np.pi * 3 * x / n), np.cos(np.pi * 1 * x / n))
    lap = pdebench_laplacian(n)
    lam = (lap @ mode.ravel()) @ mode.ravel() / (mode.ravel() @ mode.ravel())
    np.testing.assert_allclose(lap @ mode.ravel(), lam * mode.ravel(), atol=1e-9)  # it is an eigenvector
    q = np.stack([mode, 2 * mode])
    out = dr.simulate(q, times, du=0.02, dv=0.05, reaction=False)
    decay = np.exp(np.outer(times, [0.02, 0.05]) * lam)
    np.testing.assert_allclose(out, decay[:, :, None, None] * q[None], atol=1e-12)


def test_stays_in_the_invariant_box_and_is_batch_independent():
    rngs = [np.random.default_rng(s) for s in range(3)]
    q0 = np.stack([dr.random_initial_state(r, 16) for r in rngs])
    out = dr.simulate(q0)
    bound = np.maximum(2.0, np.abs(q0).reshape(3, -1).max(axis=1))
    assert np.all(np.abs(out).reshape(3, -1).max(axis=1) <= bound + 1e-9)
    np.testing.assert_array_equal(out[1], dr.simulate(q0[1]))
