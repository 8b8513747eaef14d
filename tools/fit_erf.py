#!/usr/bin/env python3
"""The engine's erf (runtime/src/cpu/gelu.h, erf_rational): erf(x) ~ x P(x^2) / Q(x^2) on [0, 4],
P of degree 6, Q of degree 4 with Q(0) = 1, fitted here by linearised least squares on Chebyshev
nodes, reweighted by 1 / Q (Sanathanan-Koerner) and then by the error (Lawson) toward a minimax fit,
with x = 4 weighted so that the float ratio there is not below 1 (gelu.h clamps it to 1: exact
tails). Prints the coefficients, highest degree first, as gelu.h holds them.

    python tools/fit_erf.py
"""

from __future__ import annotations

from math import erf

import numpy as np


def fit(p_terms: int = 7, q_terms: int = 4, iterations: int = 60) -> tuple[np.ndarray, np.ndarray, float]:
    nodes = np.cos(np.pi * (np.arange(4000) + 0.5) / 4000) * 2 + 2
    x = np.concatenate([nodes, np.linspace(0, 4, 2001), np.full(200, 4.0)])
    y = np.array([erf(v) for v in x])
    t = x * x
    w = np.ones_like(x)
    lawson = np.ones_like(x)
    for it in range(iterations):
        a = np.hstack(
            [np.stack([x * t**i for i in range(p_terms)], 1), np.stack([-y * t**i for i in range(1, q_terms + 1)], 1)]
        )
        weight = (w * lawson)[:, None]
        c, *_ = np.linalg.lstsq(a * weight, y * weight[:, 0], rcond=None)
        p = sum(c[i] * t**i for i in range(p_terms)) * x
        q = 1 + sum(c[p_terms + i - 1] * t**i for i in range(1, q_terms + 1))
        w = 1 / np.abs(q)
        err = p / q - y
        if it >= 10:
            lawson = lawson * (np.abs(err) / np.abs(err).max()) ** 0.3 + 1e-12
            lawson /= lawson.max()
    return c[:p_terms], np.concatenate([[1.0], c[p_terms:]]), float(np.abs(err).max())


def main() -> None:
    p, q, worst = fit()
    print(f"max |error| in float64 on [0, 4]: {worst:.2e}")
    print("kErfNum =", ", ".join(f"{v:.10e}f" for v in p[::-1]))
    print("kErfDen =", ", ".join(f"{v:.10e}f" for v in q[::-1]))


if __name__ == "__main__":
    main()
