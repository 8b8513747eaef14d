"""Training: real learning on tiny generated files, stored normalisation, best checkpoints,
resume, rollout evaluation, and DistributedDataParallel under torchrun."""

import os
import subprocess
import sys

import h5py
import numpy as np
import pytest
import torch

from wno_edge import runtime
from wno_edge.checkpoint import load_model
from wno_edge.cli import main
from wno_edge.data import PDEBenchDataset, generate
from wno_edge.errors import WNOEdgeError
from wno_edge.train import TrainOptions, evaluate, fit, rollout_error

TINY = dict(width=8, modes=4, layers=2, batch_size=4, lr=3e-3, threads=1)


@pytest.fixture(scope="module")
def darcy_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "darcy.h5"
    generate("darcy", path, n_samples=40, resolution=16, seed=1, progress=False)
    return path


@pytest.fixture(scope="module")
def dr_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "dr.h5"
    generate("diffusion-reaction", path, n_samples=5, resolution=16, seed=2, progress=False)
    return path


def test_darcy_learns_and_stores_what_it_needs(darcy_file, tmp_path):
    opts = TrainOptions(data=str(darcy_file), task="darcy", output=str(tmp_path / "m.pt"), epochs=6, **TINY)
    result = fit(opts)
    history = np.array(result.history)
    assert history.shape == (6, 3)
    assert history[-1, 1] < 0.7 * history[0, 1]  # it learns: training error drops
    assert result.test_rel_l2 == pytest.approx(history[:, 2].min())
    assert result.best_epoch == int(history[history[:, 2].argmin(), 0])

    model = load_model(tmp_path / "m.pt")
    meta = model.metadata
    assert meta["task"] == "darcy" and meta["n_train"] == 36 and meta["n_test"] == 4 and meta["resolution"] == [16, 16]
    assert model.config.resolution == (16, 16) and model.config.real_space_kernel
    # The stored error is what the stored model scores on the test split (PyTorch Winograd path).
    test = PDEBenchDataset(darcy_file, "test")
    assert evaluate(model, test) == pytest.approx(meta["test_rel_l2"], rel=1e-4)
    # Normalisation was fitted on the training split only, read independently here.
    with h5py.File(darcy_file) as f:
        nu, u = f["nu"][4:], f["tensor"][4:]  # PDEBench's split: the first 10% are the test set
    np.testing.assert_allclose(model.input_mean.numpy(), [nu.mean()], rtol=1e-5)
    np.testing.assert_allclose(model.input_std.numpy(), [nu.std()], rtol=1e-4)
    np.testing.assert_allclose(model.output_mean.numpy(), [u.mean()], rtol=1e-5)
    np.testing.assert_allclose(model.output_std.numpy(), [u.std()], rtol=1e-4)


def test_fno_special_case_trains_too(darcy_file, tmp_path):
    opts = TrainOptions(
        data=str(darcy_file), task="darcy", output=str(tmp_path / "fno.pt"), epochs=2, real_space_kernel=False, **TINY
    )
    fit(opts)
    model = load_model(tmp_path / "fno.pt")
    assert not model.config.real_space_kernel and all(layer.kernel is None for layer in model.layers)


def test_resume_continues_the_history(darcy_file, tmp_path):
    out = str(tmp_path / "m.pt")
    fit(TrainOptions(data=str(darcy_file), task="darcy", output=out, epochs=2, **TINY))
    result = fit(TrainOptions(data=str(darcy_file), task="darcy", output=out, epochs=4, resume=True, **TINY))
    assert [int(row[0]) for row in result.history] == [1, 2, 3, 4]
    with pytest.raises(WNOEdgeError, match="no training state"):
        fit(
            TrainOptions(
                data=str(darcy_file), task="darcy", output=str(tmp_path / "other.pt"), epochs=2, resume=True, **TINY
            )
        )


def test_time_dependent_training_and_rollout(dr_file, tmp_path):
    opts = TrainOptions(
        data=str(dr_file),
        task="diffusion-reaction",
        output=str(tmp_path / "dr.pt"),
        epochs=1,
        initial_step=3,
        time_reduce=10,
        test_fraction=0.4,
        **TINY,
    )
    result = fit(opts)
    model = load_model(tmp_path / "dr.pt")
    assert model.config.in_channels == 6 and model.config.out_channels == 2
    assert model.metadata["rollout_rel_l2"] == pytest.approx(result.rollout_rel_l2)
    # Cross-check the rollout against the runtime's numpy rollout of the same checkpoint.
    test = PDEBenchDataset(dr_file, "test", initial_step=3, time_reduce=10, test_fraction=0.4)
    traj = test.trajectory(0).numpy()
    session = runtime.load(tmp_path / "dr.pt")
    predicted = runtime.rollout(session, traj[:3].reshape(1, 6, 16, 16), steps=len(traj) - 3)[:, 0]
    rel = np.linalg.norm(predicted - traj[3:]) / np.linalg.norm(traj[3:])
    assert rollout_error(model, test, trajectories=1) == pytest.approx(rel, rel=1e-3)


def test_train_cli_and_errors(darcy_file, tmp_path, capsys):
    args = [
        "train",
        "--data",
        str(darcy_file),
        "--task",
        "darcy",
        "-o",
        str(tmp_path / "c.pt"),
        "--epochs",
        "1",
        "--width",
        "8",
        "--modes",
        "4",
        "--layers",
        "1",
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "best epoch 1" in out
    assert any(
        "best epoch 1" in line and f"saved {tmp_path / 'c.pt'}" in line for line in out.splitlines()
    )  # unwrapped
    assert main(args[:4] + ["shallow-water"] + args[5:]) == 1
    assert main(["train", "--data", str(tmp_path / "none.h5"), "--task", "darcy", "-o", str(tmp_path / "x.pt")]) == 1
    assert main(args[:6] + [str(tmp_path / "no" / "x.pt")] + args[7:]) == 1
    err = capsys.readouterr().err
    assert "holds darcy data, not shallow-water" in err and "does not exist" in err and "Traceback" not in err


def test_a_diverging_run_is_an_error_and_keeps_the_existing_checkpoint(darcy_file, tmp_path, capsys):
    keep = tmp_path / "keep.pt"
    fit(TrainOptions(data=str(darcy_file), task="darcy", output=str(keep), epochs=1, **TINY))
    before = keep.read_bytes()
    args = [
        "train",
        "--data",
        str(darcy_file),
        "--epochs",
        "2",
        "--width",
        "8",
        "--modes",
        "4",
        "--layers",
        "1",
        "--lr",
        "1e30",
        "-o",
    ]
    assert main(args + [str(keep)]) == 1
    err = capsys.readouterr().err
    assert "training diverged at epoch 1" in err and "unchanged" in err and len(err.strip().splitlines()) == 1
    assert keep.read_bytes() == before  # not even its metadata was rewritten
    fresh = tmp_path / "fresh.pt"
    assert main(args + [str(fresh)]) == 1
    assert "was not written" in capsys.readouterr().err
    assert not fresh.exists() and not (tmp_path / "fresh.pt.state").exists()


def test_targets_of_zero_norm_are_refused(darcy_file, tmp_path):
    zeros = tmp_path / "zeros.h5"
    zeros.write_bytes(darcy_file.read_bytes())
    with h5py.File(zeros, "r+") as f:
        f["tensor"][...] = 0
    with pytest.raises(WNOEdgeError, match=r"zeros.h5: a target is all zeros"):
        fit(TrainOptions(data=str(zeros), task="darcy", output=str(tmp_path / "z.pt"), epochs=1, **TINY))
    assert not (tmp_path / "z.pt").exists()


def test_resume_from_a_bad_state_or_another_model_is_one_line(darcy_file, tmp_path, capsys):
    out = tmp_path / "m.pt"
    fit(TrainOptions(data=str(darcy_file), task="darcy", output=str(out), epochs=1, **TINY))
    base = [
        "train",
        "--data",
        str(darcy_file),
        "-o",
        str(out),
        "--epochs",
        "2",
        "--modes",
        "4",
        "--layers",
        "2",
        "--resume",
    ]
    assert main(base + ["--width", "16"]) == 1
    err = capsys.readouterr().err.strip()
    assert "was trained with another model: width 8 (now 16)" in err and len(err.splitlines()) == 1
    state = tmp_path / "m.pt.state"
    state.write_bytes(state.read_bytes()[:1000])
    assert main(base + ["--width", "8"]) == 1
    err = capsys.readouterr().err.strip()
    assert "not a readable training state" in err and len(err.splitlines()) == 1


def test_task_comes_from_the_file_and_progress_moves_per_batch(darcy_file, tmp_path, capsys):
    batches = []
    opts = TrainOptions(data=str(darcy_file), task=None, output=str(tmp_path / "m.pt"), epochs=2, **TINY)
    fit(opts, on_batch=lambda *a: batches.append(a))
    assert load_model(tmp_path / "m.pt").metadata["task"] == "darcy"
    assert batches == [(e, b, 9) for e in (1, 2) for b in range(1, 10)]  # 36 training samples, batch 4
    assert main(["train", "--data", str(darcy_file), "--task", "heat", "-o", str(tmp_path / "x.pt")]) == 1
    captured = capsys.readouterr()
    assert "task must be one of" in captured.err and "training" not in captured.out + captured.err
    assert main(["train", "--data", str(darcy_file), "-o", str(tmp_path / "x.pt"), "--test-split", "middle"]) == 1
    assert main(["train", "--data", str(tmp_path / "none.h5"), "-o", str(tmp_path / "x.pt")]) == 1
    captured = capsys.readouterr()  # data errors, too, come alone: the bar starts with training
    assert "test split must be one of" in captured.err and "no such file" in captured.err
    assert "training" not in captured.out + captured.err
    args = [
        "train",
        "--data",
        str(darcy_file),
        "-o",
        str(tmp_path / "r.pt"),
        "--epochs",
        "1",
        "--width",
        "4",
        "--modes",
        "2",
        "--layers",
        "1",
    ]
    assert main(args + ["--resolution", "8x8"]) == 0  # HxW, as every command takes it
    assert load_model(tmp_path / "r.pt").config.resolution == (8, 8)
    assert main(args + ["--resolution", "8x4"]) == 1
    assert "must be square" in capsys.readouterr().err


@pytest.mark.slow
def test_torchrun_ddp_two_cpu_processes(darcy_file, tmp_path):
    out = tmp_path / "ddp.pt"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        "29517",
        "-m",
        "wno_edge.cli",
        "train",
        "--data",
        str(darcy_file),
        "--task",
        "darcy",
        "-o",
        str(out),
        "--epochs",
        "2",
        "--width",
        "8",
        "--modes",
        "4",
        "--layers",
        "1",
        "--threads",
        "1",
    ]
    env = {**os.environ, "WNO_EDGE_DDP_CPU": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    model = load_model(out)
    assert len(model.metadata["history"]) == 2
    assert all(np.isfinite(train_err) for _, train_err, _ in model.metadata["history"])  # batches ran on each rank
    assert torch.isfinite(model(torch.rand(1, 1, 16, 16))).all()
