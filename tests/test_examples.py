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
