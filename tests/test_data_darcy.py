"""Darcy solver: the discrete equations hold, and the scheme converges at second order."""

import numpy as np
import pytest

from wno_edge.data.darcy import HIGH, LOW, cell_centers, darcy_matrix, random_coefficient, solve_darcy


def flux_form_residual(a, u, f):
    """-div(a grad u) - f per cell, written cell by cell from the face fluxes (independent of
    darcy_matrix): harmonic-mean interior faces, u = 0 half a cell beyond the boundary."""
    n = a.shape[0]
    h = 1.0 / n
    res = np.empty_like(u)
    for i in range(n):
        for j in range(n):
            out = 0.0
            for di, dj in ((1, 0), (-1, 0), (0, 1), (0, -1)):
                k, m = i + di, j + dj
                if 0 <= k < n and 0 <= m < n:
                    conductance = 2 * a[i, j] * a[k, m] / (a[i, j] + a[k, m]) / h
                    out += conductance * (u[i, j] - u[k, m])
                else:
                    out += a[i, j] / (h / 2) * u[i, j]
            res[i, j] = out / h - f
    return res


def test_solution_satisfies_the_flux_balance_in_every_cell():
    a = random_coefficient(np.random.default_rng(3), 24)
    u = solve_darcy(a, 1.0)
    assert np.abs(flux_form_residual(a, u, 1.0)).max() < 1e-9
    assert u.min() > 0  # discrete maximum principle: positive forcing, zero boundary


def manufactured_error(n):
    x = cell_centers(n)
    X, Y = np.meshgrid(x, x, indexing="ij")
    a = 1 + X**2 * Y
    u = np.sin(np.pi * X) * np.sin(np.pi * Y)
    # f = -div(a grad u) for the smooth a and u above
    f = (
        -(
            2 * X * Y * np.pi * np.cos(np.pi * X) * np.sin(np.pi * Y)
            + X**2 * np.pi * np.sin(np.pi * X) * np.cos(np.pi * Y)
        )
        + 2 * np.pi**2 * a * u
    )
    return np.abs(solve_darcy(a, f) - u).max()


def test_second_order_convergence_on_a_manufactured_solution():
    errors = [manufactured_error(n) for n in (16, 32, 64)]
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert errors[-1] < 5e-4
    assert np.all(orders > 1.9), orders


def test_operator_is_symmetric_positive_definite_and_linear_in_the_forcing():
    a = random_coefficient(np.random.default_rng(0), 16)
    A = darcy_matrix(a)
    assert abs(A - A.T).max() == 0
    assert np.linalg.eigvalsh(A.toarray()).min() > 0
    np.testing.assert_allclose(solve_darcy(a, 2.5), 2.5 * solve_darcy(a, 1.0), rtol=1e-12)


def test_coefficient_is_a_thresholded_blob_field():
    fields = [random_coefficient(np.random.default_rng(s), 32) for s in range(20)]
    for a in fields:
        assert set(np.unique(a)) <= {LOW, HIGH}
    assert sum(len(np.unique(a)) == 2 for a in fields) >= 18  # both phases present
    np.testing.assert_array_equal(fields[0], random_coefficient(np.random.default_rng(0), 32))
    assert not np.array_equal(fields[0], fields[1])


def test_non_square_grid_is_refused():
    with pytest.raises(ValueError, match="square"):
        darcy_matrix(np.ones((8, 9)))
