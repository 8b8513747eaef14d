"""2-D Darcy flow, PDEBench's task: -div(a grad u) = f on (0,1)^2, u = 0 on the boundary.

Cell-centred finite volumes on an n x n grid (cell centres (i + 1/2)/n, as PDEBench's
`x-coordinate`). Interior faces carry the harmonic mean of the two cell coefficients
(the exact series conductance of two half cells, so a 1 / 0.1 jump is resolved without
smearing); a boundary face sees its cell's coefficient over half a cell to u = 0.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import splu

N_BUMPS = 5  # PDEBench: five Gaussian bumps per coefficient field
HIGH, LOW = 1.0, 0.1  # PDEBench's two coefficient values


def cell_centers(n: int) -> np.ndarray:
    return (np.arange(n) + 0.5) / n


def random_coefficient(rng: np.random.Generator, n: int) -> np.ndarray:
    """PDEBench's coefficient field: a sum of Gaussian bumps with uniform random centres
    and widths, thresholded at its mean to HIGH above / LOW below.

    PDEBench thresholds at the mean over the whole generated batch; here it is the
    field's own mean, so a sample does not depend on which batch it was drawn in.
    """
    x = cell_centers(n)
    centres = rng.uniform(0.0, 1.0, size=(N_BUMPS, 2))
    widths = 0.5 * rng.uniform(0.0, 1.0, size=N_BUMPS)  # PDEBench: exp(-r^2 / (0.5 L U(0,1)))
    widths = np.maximum(widths, 1e-3)  # a zero width would divide by zero (probability ~0)
    dx2 = (x[None, :, None] - centres[:, 0, None, None]) ** 2
    dy2 = (x[None, None, :] - centres[:, 1, None, None]) ** 2
    field = np.exp(-(dx2 + dy2) / widths[:, None, None]).sum(axis=0)
    return np.where(field > field.mean(), HIGH, LOW)


def darcy_matrix(a: np.ndarray) -> sp.csr_matrix:
    """The finite-volume matrix A with A u = f (cell averages), for coefficient a (n, n).

    Unknown (i, j) is row i * n + j; axis 0 is x, axis 1 is y.
    """
    a = np.asarray(a, dtype=np.float64)
    n, m = a.shape
    if n != m:
        raise ValueError(f"square grids only, got {a.shape}")
    inv_h2 = float(n * n)
    idx = np.arange(n * n).reshape(n, n)
    tx = 2 * a[1:, :] * a[:-1, :] / (a[1:, :] + a[:-1, :])  # faces between x-neighbours
    ty = 2 * a[:, 1:] * a[:, :-1] / (a[:, 1:] + a[:, :-1])  # faces between y-neighbours
    diag = np.zeros((n, n))
    diag[1:, :] += tx
    diag[:-1, :] += tx
    diag[:, 1:] += ty
    diag[:, :-1] += ty
    # Boundary faces: u = 0 half a cell away, conductance a / (h/2) per unit length.
    diag[0, :] += 2 * a[0, :]
    diag[-1, :] += 2 * a[-1, :]
    diag[:, 0] += 2 * a[:, 0]
    diag[:, -1] += 2 * a[:, -1]
    rows = np.concatenate(
        [idx.ravel(), idx[1:, :].ravel(), idx[:-1, :].ravel(), idx[:, 1:].ravel(), idx[:, :-1].ravel()]
    )
    cols = np.concatenate(
        [idx.ravel(), idx[:-1, :].ravel(), idx[1:, :].ravel(), idx[:, :-1].ravel(), idx[:, 1:].ravel()]
    )
    vals = np.concatenate([diag.ravel(), -tx.ravel(), -tx.ravel(), -ty.ravel(), -ty.ravel()])
    return sp.csr_matrix((vals * inv_h2, (rows, cols)), shape=(n * n, n * n))


def solve_darcy(a: np.ndarray, source: float | np.ndarray = 1.0) -> np.ndarray:
    """u (n, n) solving -div(a grad u) = source with u = 0 on the boundary (direct sparse solve)."""
    a = np.asarray(a, dtype=np.float64)
    rhs = np.broadcast_to(np.asarray(source, dtype=np.float64), a.shape).ravel()
    # Minimum-degree ordering on A + A^T suits the symmetric 5-point pattern (about 1.3x
    # faster than SuperLU's default COLAMD here).
    lu = splu(darcy_matrix(a).tocsc(), permc_spec="MMD_AT_PLUS_A")
    return lu.solve(rhs).reshape(a.shape)


def darcy_sample(rng: np.random.Generator, n: int, beta: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """One PDEBench-style pair (a, u) on an n x n grid with constant forcing beta."""
    a = random_coefficient(rng, n)
    return a, solve_darcy(a, beta)
