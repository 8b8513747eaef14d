"""Every WinogradConv implementation against the golden vectors in export/golden (SPEC.md)."""

from __future__ import annotations

import importlib.util

import numpy as np
import onnx
import pytest
import torch
from golden import GOLDEN_DIR, load_cases, relative_error

from wno_edge.onnx.graph import DOMAIN, OP_TYPE, single_winograd_conv_model
from wno_edge.onnx.verify import run_onnxruntime, run_reference, winograd_conv_numpy
from wno_edge.winograd import winograd_conv2d

CASES = load_cases()
IDS = [name for name, _ in CASES]


def _model(case: dict) -> onnx.ModelProto:
    model = single_winograd_conv_model(case["weight"], case["bias"], tile=case["tile"], padding=case["padding"])
    onnx.checker.check_model(model, full_check=True)
    return model


def test_cases_cover_every_tile_and_padding():
    assert {c["tile"] for _, c in CASES} == {2, 4, 6}
    assert {c["padding"] for _, c in CASES} == {0, 1}


@pytest.mark.parametrize("name,case", CASES, ids=IDS)
def test_pytorch_winograd_conv2d(name, case):
    y = winograd_conv2d(
        torch.from_numpy(case["x"]),
        torch.from_numpy(case["weight"]),
        torch.from_numpy(case["bias"]),
        padding=case["padding"],
        tile=case["tile"],
    )
    assert y.dtype == torch.float32 and y.shape == case["y"].shape
    assert relative_error(y.numpy(), case["y"]) <= case["tolerance"]


@pytest.mark.parametrize("name,case", CASES, ids=IDS)
def test_onnx_node_in_onnxruntime(name, case):
    """ORT has no WinogradConv kernel: it must inline the model-local function."""
    model = _model(case)
    assert [(n.domain, n.op_type) for n in model.graph.node] == [(DOMAIN, OP_TYPE)]
    y = run_onnxruntime(model, {"X": case["x"]})
    assert y.shape == case["y"].shape
    assert relative_error(y, case["y"]) <= case["tolerance"]


@pytest.mark.parametrize("name,case", CASES, ids=IDS)
def test_onnx_node_in_reference_evaluator_via_function(name, case):
    y = run_reference(_model(case), {"X": case["x"]}, winograd_kernel=False)
    assert relative_error(y, case["y"]) <= case["tolerance"]


@pytest.mark.parametrize("name,case", CASES, ids=IDS)
def test_onnx_node_in_reference_evaluator_via_winograd_kernel(name, case):
    y = run_reference(_model(case), {"X": case["x"]}, winograd_kernel=True)
    assert y.dtype == np.float32
    assert relative_error(y, case["y"]) <= case["tolerance"]
    # The kernel really is Winograd: its rounding differs from the direct fallback's.
    direct = run_reference(_model(case), {"X": case["x"]}, winograd_kernel=False)
    assert not np.array_equal(y, direct)


def test_numpy_kernel_tolerance_is_tight_enough_to_catch_a_wrong_tile():
    """Sanity of the contract itself: a wrong transform is far outside every tolerance."""
    name, case = next((n, c) for n, c in CASES if n == "ragged_t4")
    y = winograd_conv_numpy(case["x"], case["weight"][:, :, ::-1, :].copy(), case["bias"], case["padding"], 4)
    assert relative_error(y, case["y"]) > 100 * case["tolerance"]


def test_make_golden_regenerates_the_stored_arrays():
    spec = importlib.util.spec_from_file_location("make_golden", GOLDEN_DIR.parent / "make_golden.py")
    make_golden = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_golden)
    fresh = dict(make_golden.cases())
    stored = dict(CASES)
    assert sorted(fresh) == sorted(stored)
    for name, arrays in fresh.items():
        with np.load(GOLDEN_DIR / f"{name}.npz") as f:
            assert sorted(f.files) == sorted(arrays)
            for key, value in arrays.items():
                value = np.asarray(value)
                assert f[key].dtype == value.dtype, (name, key)
                assert f[key].shape == value.shape, (name, key)
                assert f[key].tobytes() == value.tobytes(), (name, key)
