"""The closed-loop example runs and controls: MPC over the WNO beats doing nothing."""

import importlib.util
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "mpc_diffusion_reaction.py"
MODEL = Path(__file__).resolve().parents[1] / "models" / "diffusion_reaction_wno.pt"


@pytest.mark.skipif(not MODEL.is_file(), reason="no pretrained diffusion-reaction model")
def test_mpc_example_tracks_the_target(tmp_path):
    spec = importlib.util.spec_from_file_location("mpc_example", EXAMPLE)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    onnx_path = example.onnx_model(MODEL, tmp_path)
    assert example.frame_dt(MODEL) == pytest.approx(0.25)
    result = example.run(
        onnx_path, ticks=8, rate_hz=50, candidates=16, horizon=2, seed=3, dt=0.25, plot=tmp_path / "mpc.png"
    )
    assert result["ticks"] == 8
    assert result["mean_rms_error_last_half"] < 0.8 * result["mean_rms_error_last_half_uncontrolled"]
    assert result["mean_forecast_rms_mismatch"] < 0.1  # the surrogate predicts the plant
    assert (tmp_path / "mpc.png").read_bytes()[:4] == b"\x89PNG"


BURGERS_EXAMPLE = EXAMPLE.with_name("burgers_control.py")
BURGERS_MODEL = MODEL.with_name("burgers_wno.pt")


@pytest.mark.skipif(not BURGERS_MODEL.is_file(), reason="no pretrained Burgers model")
def test_burgers_example_tracks_the_target_on_the_solver(tmp_path):
    """The 1-D loop: MPC over the exported 1-D WNO, judged on the Burgers solver it steers."""
    spec = importlib.util.spec_from_file_location("burgers_example", BURGERS_EXAMPLE)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    onnx_path = example.onnx_model(BURGERS_MODEL, tmp_path)
    assert example.model_dt(BURGERS_MODEL) == pytest.approx(0.05)
    result = example.run(
        onnx_path, ticks=12, rate_hz=50, candidates=32, horizon=3, seed=1, dt=0.05, plot=tmp_path / "burgers.png"
    )
    assert result["ticks"] == 12
    assert result["mean_rms_error_last_half"] < 0.6 * result["mean_rms_error_last_half_uncontrolled"]
    assert result["mean_forecast_rms_mismatch"] < 0.03  # the surrogate predicts the plant
    assert (tmp_path / "burgers.png").read_bytes()[:4] == b"\x89PNG"
