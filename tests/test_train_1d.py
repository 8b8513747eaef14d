"""Training on 1-D data: the Burgers solver's files and PDEBench's per-sample 1-D layout train a
1-D model (a few seconds), with the split, statistics, rollout and refusals of the 2-D runs."""

import h5py
import numpy as np
import pytest
import torch

from wno_edge.checkpoint import load_model, save_model
from wno_edge.cli import main
from wno_edge.data import PDEBench1dDataset, generate
from wno_edge.errors import WNOEdgeError
from wno_edge.model import WNO2d, WNOConfig
from wno_edge.train import TrainOptions, evaluate, fit, rollout_error

TINY = dict(width=8, modes=6, layers=2, batch_size=16, lr=3e-3, threads=1, initial_step=2, time_reduce=10)


@pytest.fixture(scope="module")
def burgers_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "burgers.h5"
    generate("burgers", path, n_samples=20, resolution=32, seed=3, progress=False)
    return path


def test_burgers_trains_a_1d_model(burgers_file, tmp_path):
    opts = TrainOptions(data=str(burgers_file), task=None, output=str(tmp_path / "b.pt"), epochs=6, **TINY)
    result = fit(opts)
    history = np.array(result.history)
    assert history.shape == (6, 3)
    assert history[-1, 1] < 0.6 * history[0, 1]  # it learns: the training error drops
    assert result.test_rel_l2 == pytest.approx(history[:, 2].min()) and result.rollout_rel_l2 is not None

    model = load_model(tmp_path / "b.pt")
    cfg, meta = model.config, model.metadata
    assert cfg.rank == 1 and cfg.modes == (6,) and cfg.resolution == (32,) and cfg.real_space_kernel
    assert (cfg.in_channels, cfg.out_channels) == (2, 1)
    assert meta["task"] == "burgers" and meta["resolution"] == [32] and meta["initial_step"] == 2
    assert meta["options"]["test_split"] == "first"  # PDEBench's for single-array files, stored as such
    assert meta["n_train"] == 18 * 19 and meta["n_test"] == 2 * 19  # 21 frames: 19 windows a sample
    assert tuple(meta["sample_inputs"].shape) == (2, 2, 32)
    test = PDEBench1dDataset(burgers_file, "test", initial_step=2, time_reduce=10)
    assert evaluate(model, test) == pytest.approx(meta["test_rel_l2"], rel=1e-4)
    assert rollout_error(model, test, trajectories=8) == pytest.approx(meta["rollout_rel_l2"], rel=1e-4)
    # Normalisation: the training split's samples (all but the first 10 %), read independently.
    with h5py.File(burgers_file) as f:
        u = f["tensor"][2:, ::10]
    np.testing.assert_allclose(model.output_mean.numpy(), [u.mean()], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(model.output_std.numpy(), [u.std()], rtol=1e-4)
    np.testing.assert_allclose(model.input_mean.numpy(), [u.mean()] * 2, rtol=1e-5, atol=1e-7)


@pytest.fixture(scope="module")
def series_file(tmp_path_factory):
    """PDEBench's diffusion-sorption layout: a group per sample, data (T, X, 1), grid/x, grid/t."""
    path = tmp_path_factory.mktemp("data") / "sorption.h5"
    rng = np.random.default_rng(0)
    x = (np.arange(24) + 0.5) / 24
    with h5py.File(path, "w") as f:
        for i in range(10):
            g = f.create_group(f"{i:04d}")
            phase = rng.uniform(0, 2 * np.pi)
            t = np.linspace(0, 1, 8)
            g["data"] = (1.5 + np.sin(2 * np.pi * x[None] + phase - t[:, None]))[..., None].astype(np.float32)
            g["grid/x"], g["grid/t"] = x, t
    return path


def test_a_per_sample_file_takes_pdebench_s_last_samples_as_its_test_set(series_file, tmp_path):
    opts = TrainOptions(
        data=str(series_file),
        task="diffusion-sorption",
        output=str(tmp_path / "s.pt"),
        epochs=1,
        **{**TINY, "time_reduce": 1, "initial_step": 3},
    )
    fit(opts)
    meta = load_model(tmp_path / "s.pt").metadata
    assert meta["options"]["test_split"] == "last" and meta["n_train"] == 9 * 5 and meta["n_test"] == 5


def test_cli_and_refusals(burgers_file, tmp_path, capsys):
    base = ["train", "--data", str(burgers_file), "--epochs", "1", "--width", "8", "--modes", "4", "--layers", "1"]
    base += ["--initial-step", "2", "--time-reduce", "20", "--threads", "1"]
    assert main([*base, "-o", str(tmp_path / "c.pt")]) == 0
    assert "best epoch 1" in capsys.readouterr().out
    assert load_model(tmp_path / "c.pt").config.modes == (4,)
    assert main(["info", str(tmp_path / "c.pt")]) == 0
    assert "WNO1d" in capsys.readouterr().out

    assert main([*base, "--task", "darcy", "-o", str(tmp_path / "d.pt")]) == 1
    assert main([*base, "--task", "advection", "-o", str(tmp_path / "d.pt")]) == 1
    two_d = save_model(WNO2d(WNOConfig(2, 1, width=4, modes=(4, 4), n_layers=1)), tmp_path / "two.pt")
    assert main([*base, "--init", str(two_d), "-o", str(tmp_path / "d.pt")]) == 1
    err = capsys.readouterr().err
    assert "holds 1-D data: --task must be one of advection, burgers" in err
    assert "holds burgers data, not advection" in err
    assert "a 2-D model, the data is 1-D" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 3
    assert not (tmp_path / "d.pt").exists()


def test_init_from_a_1d_checkpoint_keeps_its_architecture(burgers_file, tmp_path):
    torch.manual_seed(0)
    start = save_model(
        WNO2d(WNOConfig(2, 1, width=4, modes=(3,), n_layers=1, real_space_kernel=False)), tmp_path / "s.pt"
    )
    opts = TrainOptions(data=str(burgers_file), task="burgers", output=str(tmp_path / "i.pt"), epochs=1, **TINY)
    with pytest.raises(WNOEdgeError, match="no such file"):
        fit(TrainOptions(**{**opts.__dict__, "init": str(tmp_path / "none.pt")}))
    fit(TrainOptions(**{**opts.__dict__, "init": str(start)}))
    cfg = load_model(tmp_path / "i.pt").config
    assert cfg.modes == (3,) and cfg.width == 4 and not cfg.real_space_kernel
