"""The OpenVINO backend (runtime.load(..., backend="openvino")): both export flavours run equal to
PyTorch with the f32 precision hint, the default one through the local functions the session
inlines; bad options are one line. Skipped in one line without openvino."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("openvino", reason="openvino is not installed (pip install 'wno-edge[openvino]')")

from test_engine import make_model, write  # noqa: E402

from wno_edge import runtime  # noqa: E402
from wno_edge.errors import WNOEdgeError  # noqa: E402


@pytest.mark.parametrize(
    "conv, fno, batch",
    [("winograd", False, None), ("direct", False, 1), ("winograd", True, 2)],
    ids=["winograd-dynamic", "direct", "fno-batch2"],
)
def test_openvino_runs_both_flavours_equal_to_pytorch(tmp_path, conv, fno, batch):
    model = make_model(20, 18, width=8, modes=(3, 4), layers=2, fno=fno)
    path = write(model, tmp_path / "m.onnx", conv=conv, batch=batch)
    n = batch or 3
    x = np.random.default_rng(0).standard_normal((n, 2, 20, 18)).astype(np.float32)
    with torch.inference_mode():
        y_torch = model(torch.from_numpy(x)).numpy()
    with runtime.load(path, backend="openvino", threads=1, batch=None if batch else n) as s:
        assert s.backend == "openvino" and s.precision == "f32" and s.input_shape == x.shape
        y = s.run(x)
    assert np.abs(y - y_torch).max() <= 1e-4 * np.abs(y_torch).max()


def test_openvino_options_are_checked(tmp_path):
    path = write(make_model(20, 18, width=8, modes=(3, 4), layers=1), tmp_path / "m.onnx", batch=1)
    with pytest.raises(WNOEdgeError, match="precision must be one of"):
        runtime.load(path, backend="openvino", precision="f64")
    with pytest.raises(WNOEdgeError, match="runs on cpu, gpu, npu"):
        runtime.load(path, backend="openvino", device="tpu")
    with pytest.raises(WNOEdgeError, match="fixed batch of 1"):
        runtime.load(path, backend="openvino", batch=2)
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x08\x07not onnx at all")
    with pytest.raises(WNOEdgeError, match="junk.onnx"):
        runtime.load(junk, backend="openvino")


def test_profile_cli_on_openvino(tmp_path):
    from typer.testing import CliRunner

    from wno_edge.cli import app

    path = write(make_model(20, 18, width=8, modes=(3, 4), layers=1), tmp_path / "m.onnx", batch=1)
    r = CliRunner().invoke(
        app, ["profile", "--engine", str(path), "--backend", "openvino", "-n", "10", "--warmup", "2", "--json"]
    )
    assert r.exit_code == 0, r.output
    assert '"backend": "openvino"' in r.output
