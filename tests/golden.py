"""Loader for the WinogradConv golden vectors in export/golden (the op contract)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

GOLDEN_DIR = Path(__file__).resolve().parents[1] / "export" / "golden"


def load_cases() -> list[tuple[str, dict]]:
    """[(case name, {x, weight, bias, y, tile, padding, tolerance})], sorted by name."""
    cases = []
    for path in sorted(GOLDEN_DIR.glob("*.npz")):
        with np.load(path) as f:
            case = {k: f[k] for k in f.files}
        for key in ("tile", "padding"):
            case[key] = int(case[key])
        case["tolerance"] = float(case["tolerance"])
        cases.append((path.stem, case))
    if not cases:
        raise FileNotFoundError(f"no golden vectors in {GOLDEN_DIR}")
    return cases


def relative_error(y: np.ndarray, expected: np.ndarray) -> float:
    """max |y - expected| / max |expected|, the contract's error measure."""
    return float(np.max(np.abs(np.asarray(y, np.float64) - expected)) / np.max(np.abs(expected)))
