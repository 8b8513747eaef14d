"""Every WinogradConv implementation against the golden vectors in export/golden (SPEC.md), at
both ranks the op takes: (N, C, H, W) with a (K, C, 3, 3) kernel and (N, C, X) with (K, C, 3)
(the line_* cases): PyTorch (winograd_conv2d, winograd_conv1d), the ONNX node in ONNX Runtime and
onnx.reference (its fallback function, and the numpy Winograd kernel), and the native engine's
reference kernel (wno_graph_probe). The CPU and CUDA kernels have their own golden tests."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from golden import GOLDEN_DIR, load_cases, relative_error
from native_build import BUILD, NATIVE_OPTIONS, RUNTIME, cmake_build

from wno_edge.onnx.graph import DOMAIN, OP_TYPE, single_winograd_conv_model
from wno_edge.onnx.verify import run_onnxruntime, run_reference, winograd_conv_numpy
from wno_edge.winograd import winograd_conv1d, winograd_conv2d

CASES = load_cases()
IDS = [name for name, _ in CASES]


def _model(case: dict, static: bool = False) -> onnx.ModelProto:
    """The one-node model of a case; static: every dim fixed (the native engine's requirement)."""
    x = case["x"]
    dims = {}
    if static:
        dims = {"batch": x.shape[0], **dict(zip(("height", "width"), x.shape[2:], strict=False))}
        if x.ndim == 3:
            dims = {"batch": x.shape[0], "length": x.shape[2]}
    model = single_winograd_conv_model(case["weight"], case["bias"], tile=case["tile"], padding=case["padding"], **dims)
    onnx.checker.check_model(model, full_check=True)
    return model


def test_cases_cover_every_tile_and_padding():
    for rank in (3, 4):
        cases = [c for _, c in CASES if c["x"].ndim == rank]
        assert {c["tile"] for c in cases} == {2, 4, 6}, rank
        assert {c["padding"] for c in cases} == {0, 1}, rank
        assert all(c["weight"].shape[2:] == (3,) * (rank - 2) for c in cases), rank


def test_line_cases_cover_whole_and_ragged_tiles():
    """Rank 3: for every tile, a case whose output is whole tiles and one with a partial last tile."""
    for tile in (2, 4, 6):
        outputs = [c["y"].shape[2] for _, c in CASES if c["x"].ndim == 3 and c["tile"] == tile]
        assert any(n % tile == 0 for n in outputs) and any(n % tile for n in outputs), (tile, outputs)


@pytest.mark.parametrize("name,case", CASES, ids=IDS)
def test_pytorch_winograd_conv(name, case):
    conv = winograd_conv1d if case["x"].ndim == 3 else winograd_conv2d
    y = conv(
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
    (body,) = model.functions[0].node
    kernel_shape = next(a.ints for a in body.attribute if a.name == "kernel_shape")
    assert list(kernel_shape) == [3] * (case["x"].ndim - 2)
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


@pytest.mark.parametrize("name", ["ragged_t4", "line_ragged_t4"])
def test_numpy_kernel_tolerance_is_tight_enough_to_catch_a_wrong_tile(name):
    """Sanity of the contract itself: a wrong transform is far outside every tolerance."""
    case = dict(CASES)[name]
    flipped = case["weight"][:, :, ::-1].copy()  # the taps of H (rank 4) or X (rank 3) reversed
    y = winograd_conv_numpy(case["x"], flipped, case["bias"], case["padding"], 4)
    assert relative_error(y, case["y"]) > 100 * case["tolerance"]


# ---- the native engine's reference kernel -------------------------------------------------------


@pytest.fixture(scope="module")
def graph_probe() -> Path:
    """runtime/tests/graph_probe.cpp: a graph on the engine's reference kernels (stdin -> stdout)."""
    cmake_build(BUILD, RUNTIME, NATIVE_OPTIONS, ("wno_graph_probe",))
    return BUILD / "engine" / "wno_graph_probe"


@pytest.mark.parametrize("name,case", CASES, ids=IDS)
def test_native_engine_reference_kernel(graph_probe, tmp_path, name, case):
    """The engine runs a WinogradConv node on its reference kernel (a direct convolution, pads =
    padding) at both ranks; a rank-3 node reads its (K, C, 3) kernel as a 3-tap convolution."""
    path = tmp_path / "m.onnx"
    path.write_bytes(_model(case, static=True).SerializeToString())
    r = subprocess.run(
        [str(graph_probe), str(path)], input=case["x"].tobytes(), capture_output=True, timeout=60, check=False
    )
    assert r.returncode == 0, r.stderr.decode()
    y = np.frombuffer(r.stdout, np.float32).reshape(case["y"].shape)
    assert relative_error(y, case["y"]) <= case["tolerance"], name


def test_native_engine_refuses_a_rank_mismatch_in_one_line(graph_probe, tmp_path):
    """A rank-3 node whose fallback body is the 2-D Conv (or a 2-D node with a 3-tap kernel)
    computes something else than the op: refused in one line, never run."""
    from wno_edge.onnx.graph import winograd_conv_function

    case = dict(CASES)["line_small_t4"]
    model = _model(case, static=True)
    model.functions[0].CopyFrom(winograd_conv_function(case["padding"], 17, rank=2))
    path = tmp_path / "m.onnx"
    path.write_bytes(model.SerializeToString())
    r = subprocess.run([str(graph_probe), str(path)], input=case["x"].tobytes(), capture_output=True, timeout=60)
    line = r.stderr.decode().rstrip("\n")
    assert r.returncode == 2 and "\n" not in line and "computes something else than the op" in line, line
    assert "a 2-D Conv" in line and "is 1-D" in line, line
    bad = _model(dict(CASES)["small_t4"], static=True)
    bad.graph.initializer[0].CopyFrom(onnx.numpy_helper.from_array(case["weight"], bad.graph.initializer[0].name))
    path.write_bytes(bad.SerializeToString())
    r = subprocess.run([str(graph_probe), str(path)], input=b"", capture_output=True, timeout=60)
    line = r.stderr.decode().rstrip("\n")
    assert r.returncode == 2 and "\n" not in line and "are not a 3x3 (1-D: 3-tap) convolution" in line, line


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
