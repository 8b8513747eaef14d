"""TensorRT end to end: export -> build with the plugin -> run, against PyTorch and ONNX Runtime.
Needs TensorRT, cuda-python, a CUDA GPU and the built plugin; skipped cleanly otherwise."""

import importlib.util

import numpy as np
import pytest
import torch

from wno_edge import runtime
from wno_edge.errors import WNOEdgeError
from wno_edge.model import WNO2d, WNOConfig
from wno_edge.onnx import export_onnx


def _gpu_ready() -> str | None:
    if importlib.util.find_spec("tensorrt") is None:
        return "TensorRT is not installed"
    if importlib.util.find_spec("cuda") is None:
        return "cuda-python is not installed"
    from wno_edge.native import cuda_device_count
    from wno_edge.tensorrt.plugin import find_plugin_library

    count, how = cuda_device_count()
    if count < 1:
        return f"no CUDA device ({how})"

    try:
        find_plugin_library()
    except WNOEdgeError as e:
        return str(e)
    return None


REASON = _gpu_ready()
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(REASON is not None, reason=REASON or "")]


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    m = WNO2d(WNOConfig(1, 1, width=16, modes=(6, 6), n_layers=3, resolution=(32, 32))).eval()
    m.set_normalization([0.5], [0.3], [0.1], [0.05])
    return m


@pytest.mark.parametrize("tile", [2, 4, 6])
def test_fp32_engine_matches_pytorch_and_onnxruntime(model, tile, tmp_path):
    from wno_edge.tensorrt.build import build_engine

    export_onnx(model, tmp_path / "m.onnx", tile=tile)
    report = build_engine(tmp_path / "m.onnx", tmp_path / "m.trt", opt_shape=(2, 1, 32, 32), max_shape=(4, 1, 32, 32))
    assert len(report.plugin_layers) == report.winograd_nodes == 3
    x = np.random.default_rng(tile).random((2, 1, 32, 32), dtype=np.float32)
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    with runtime.load(tmp_path / "m.onnx", batch=2) as ort:
        y_ort = ort.run(x)
    for graph in (True, False):
        with runtime.load(tmp_path / "m.trt", batch=2, cuda_graph=graph) as trt:
            y = trt.run(x)
            for _ in range(3):  # replays give the same answer
                np.testing.assert_array_equal(trt.run(x), y)
            breakdown = trt.timing_breakdown()
        scale = np.abs(expected).max()
        assert np.abs(y - expected).max() <= 1e-4 * scale
        assert np.abs(y - y_ort).max() <= 1e-4 * scale
        assert breakdown["gpu_compute"]["median_ms"] > 0


def test_fp16_engine_within_the_half_precision_budget(model, tmp_path):
    import tensorrt as trt

    from wno_edge.tensorrt.build import build_engine
    from wno_edge.tensorrt.plugin import tensorrt_version

    fp16_onnx = tensorrt_version(trt) >= (11, 0)  # strongly typed: precision comes from the file
    export_onnx(model, tmp_path / "m.onnx", fp16=fp16_onnx, tile=4)
    build_engine(tmp_path / "m.onnx", tmp_path / "m.trt", fp16=True)
    with runtime.load(tmp_path / "m.trt") as session:
        x = np.random.default_rng(0).random(session.input_shape).astype(session.dtype)
        y = session.run(x).astype(np.float32)
    with torch.no_grad():
        expected = model(torch.from_numpy(x.astype(np.float32))).numpy()
    # export/SPEC.md (accuracy): fp16 operands with F(4,3)-sqrt2 stay near 1e-2 of the output scale.
    assert np.abs(y - expected).max() <= 2e-2 * np.abs(expected).max()


@pytest.mark.parametrize("tile", [2, 4, 6])
def test_1d_engine_runs_the_plugin_and_matches_pytorch(tile, tmp_path):
    """A 1-D model (rank-3 WinogradConv nodes): every node a plugin layer (kernel v1's 1-D
    path), equal to PyTorch and ONNX Runtime."""
    from wno_edge.tensorrt.build import build_engine

    torch.manual_seed(tile)
    model = WNO2d(WNOConfig(1, 1, width=16, modes=(8,), n_layers=3, resolution=(96,))).eval()
    export_onnx(model, tmp_path / "m.onnx", tile=tile)
    report = build_engine(tmp_path / "m.onnx", tmp_path / "m.trt", opt_shape=(2, 1, 96), max_shape=(4, 1, 96))
    assert len(report.plugin_layers) == report.winograd_nodes == 3
    x = np.random.default_rng(tile).random((2, 1, 96), dtype=np.float32)
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    with runtime.load(tmp_path / "m.onnx", batch=2) as ort:
        y_ort = ort.run(x)
    with runtime.load(tmp_path / "m.trt", batch=2) as trt:
        y = trt.run(x)
    scale = np.abs(expected).max()
    assert y.shape == expected.shape
    assert np.abs(y - expected).max() <= 1e-4 * scale
    assert np.abs(y - y_ort).max() <= 1e-4 * scale


def test_profile_reports_the_gpu_split(model, tmp_path, capsys):
    from wno_edge.cli import main
    from wno_edge.tensorrt.build import build_engine

    export_onnx(model, tmp_path / "m.onnx", batch=1)
    build_engine(tmp_path / "m.onnx", tmp_path / "m.trt")
    assert main(["profile", "--engine", str(tmp_path / "m.trt"), "-n", "200"]) == 0
    out = capsys.readouterr().out
    for text in ("H2D Latency: ", "GPU Compute Time: ", "D2H Latency: ", "Throughput: "):
        assert text in out
