"""Dataset generation: files hold the solvers' output, reproducibly, written atomically; CLI."""

import importlib
import json
import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from wno_edge.cli import main
from wno_edge.data import darcy, diffusion_reaction, generate, shallow_water
from wno_edge.data.generate import sample_rng

generate_module = importlib.import_module("wno_edge.data.generate")  # the package exports the function


def test_files_hold_each_solver_output_for_its_own_seed(tmp_path):
    n, seed = 12, 4
    path = generate("darcy", tmp_path / "d.h5", 3, n, seed=seed, beta=2.0, progress=False).path
    with h5py.File(path) as f:
        assert f.attrs["beta"] == 2.0
        a = darcy.random_coefficient(sample_rng(seed, 2), n)
        np.testing.assert_array_equal(f["nu"][2], a.astype(np.float32))
        np.testing.assert_array_equal(f["tensor"][2, 0], darcy.solve_darcy(a, 2.0).astype(np.float32))
    path = generate("diffusion-reaction", tmp_path / "r.h5", 2, n, seed=seed, progress=False).path
    with h5py.File(path) as f:
        traj = diffusion_reaction.simulate(diffusion_reaction.random_initial_state(sample_rng(seed, 1), n))
        np.testing.assert_array_equal(f["0001/data"][()], traj.transpose(0, 2, 3, 1).astype(np.float32))
        np.testing.assert_array_equal(f["0001/grid/x"][()], diffusion_reaction.cell_centers(n).astype(np.float32))
    path = generate("shallow-water", tmp_path / "s.h5", 2, n, seed=seed, progress=False).path
    with h5py.File(path) as f:
        radius = shallow_water.random_radius(sample_rng(seed, 1))
        assert f["0001"].attrs["dam_radius"] == radius and 0.3 <= radius <= 0.7
        h = shallow_water.simulate(shallow_water.dam_break_state(n, radius))[:, 0]
        np.testing.assert_array_equal(f["0001/data"][..., 0], h.astype(np.float32))
        assert f["0001/grid/t"].shape == (101,) and f["0001/grid/t"][-1] == 1.0


def contents(path):
    with h5py.File(path) as f:
        return {name: obj[()] for name, obj in _datasets(f)}


def _datasets(f):
    found = []
    f.visititems(lambda name, obj: found.append((name, obj)) if isinstance(obj, h5py.Dataset) else None)
    return found


def test_same_seed_same_file_and_samples_do_not_depend_on_n_or_workers(tmp_path):
    one = contents(generate("shallow-water", tmp_path / "a.h5", 3, 16, seed=5, progress=False).path)
    two = contents(generate("shallow-water", tmp_path / "b.h5", 3, 16, seed=5, progress=False).path)
    assert one.keys() == two.keys() and all(np.array_equal(one[k], two[k]) for k in one)
    more = contents(generate("shallow-water", tmp_path / "c.h5", 4, 16, seed=5, progress=False).path)
    assert all(np.array_equal(one[k], more[k]) for k in one)
    serial = contents(generate("darcy", tmp_path / "e.h5", 20, 8, seed=1, progress=False).path)
    parallel = contents(generate("darcy", tmp_path / "f.h5", 20, 8, seed=1, workers=2, progress=False).path)
    assert all(np.array_equal(serial[k], parallel[k]) for k in serial)
    other = contents(generate("darcy", tmp_path / "g.h5", 20, 8, seed=2, progress=False).path)
    assert not np.array_equal(serial["nu"], other["nu"])


def test_failed_generation_leaves_no_file(tmp_path, monkeypatch):
    calls, real = [], generate_module._solve_batch

    def failing(args):
        calls.append(args)
        if len(calls) > 1:
            raise RuntimeError("solver blew up")
        return real(args)

    monkeypatch.setattr(generate_module, "_solve_batch", failing)
    target = tmp_path / "out.h5"
    with pytest.raises(RuntimeError, match="blew up"):
        generate("darcy", target, 40, 8, progress=False)  # three batches of 16
    assert len(calls) == 2 and list(tmp_path.iterdir()) == []


class _SignalsItselfInDel:
    """Sends a signal from __del__: Python swallows the handler's exception there."""

    def __init__(self, signum):
        self.signum = signum

    def __del__(self):
        os.kill(os.getpid(), self.signum)
        time.sleep(0.01)  # the handler runs here, inside __del__


@pytest.mark.parametrize(
    "signum, raised", [(signal.SIGTERM, generate_module.GenerationInterrupted), (signal.SIGINT, KeyboardInterrupt)]
)
def test_a_signal_whose_exception_python_swallowed_still_stops_generation(tmp_path, monkeypatch, signum, raised):
    # CI once saw Ctrl-C land in a weakref callback: "Exception ignored", exit 0, file written;
    # then, with that fixed, the swallowed exception's traceback still reached stderr.
    calls, real, printed = [], generate_module._solve_batch, []

    def solve(args):
        calls.append(args)
        if len(calls) == 1:
            _SignalsItselfInDel(signum)  # dropped at once
            _RaisesInDel()  # someone else's error: still reported
        return real(args)

    monkeypatch.setattr(generate_module, "_solve_batch", solve)
    monkeypatch.setattr(sys, "unraisablehook", lambda u: printed.append(u.exc_type))
    previous_hook = sys.unraisablehook
    # The handlers found, not Python's defaults: a background job starts with SIGINT ignored.
    found = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    with pytest.raises(raised):
        generate("darcy", tmp_path / "out.h5", 40, 8, progress=False)  # three batches of 16
    assert len(calls) == 1 and list(tmp_path.iterdir()) == []
    assert printed == [ValueError]  # the signal's exception was not printed, the other one was
    assert {s: signal.getsignal(s) for s in found} == found  # handlers restored
    assert sys.unraisablehook is previous_hook


class _RaisesInDel:
    def __del__(self):
        raise ValueError("not a signal")


def test_cli_generate_and_inspect(tmp_path, capsys):
    out = tmp_path / "rdb.h5"
    assert (
        main(
            ["data", "generate", "shallow-water", "-n", "2", "--resolution", "8x8", "-o", str(out), "--seed", "3", "-q"]
        )
        == 0
    )
    assert f"wrote {out}: 2 shallow-water samples at 8x8" in capsys.readouterr().out
    assert main(["data", "inspect", str(out), "--json", "--check"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["layout"] == "time-series" and summary["task"] == "shallow-water"
    assert (summary["samples"], summary["grid"], summary["channels"], summary["frames"]) == (2, [8, 8], 1, 101)
    assert summary["checked"] is True
    assert main(["data", "inspect", str(out)]) == 0
    assert "data (101, 8, 8, 1) per sample" in capsys.readouterr().out


@pytest.mark.parametrize(
    "args,message",
    [
        (["data", "generate", "darcy", "-n", "2", "-r", "2", "-o", "{dir}/x.h5"], "resolution must be >= 4"),
        (["data", "generate", "darcy", "-n", "0", "-o", "{dir}/x.h5"], "number of samples must be >= 1"),
        (["data", "generate", "darcy", "-n", "1", "-r", "8x6", "-o", "{dir}/x.h5"], "--resolution must be square"),
        (["data", "generate", "darcy", "-n", "1", "-o", "{dir}/missing/x.h5"], "does not exist"),
        (["data", "inspect", "{dir}/junk.h5"], "not a readable HDF5 file"),
    ],
)
def test_cli_user_errors_are_one_line(tmp_path, capsys, args, message):
    (tmp_path / "junk.h5").write_text("junk")
    assert main([a.format(dir=tmp_path) for a in args]) == 1
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


@pytest.mark.parametrize(
    "signum, workers, status",
    [
        (signal.SIGTERM, 1, 128 + signal.SIGTERM),
        (signal.SIGINT, 2, 130),  # Ctrl-C: the whole process group, workers included
    ],
)
def test_a_signal_removes_the_temporary_file_and_prints_one_line(tmp_path, signum, workers, status):
    out = tmp_path / "big.h5"
    cmd = [
        sys.executable,
        "-m",
        "wno_edge.cli",
        "data",
        "generate",
        "darcy",
        "-n",
        "3000",
        "-r",
        "16",
        "-o",
        str(out),
        "-j",
        str(workers),
        "-q",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        while not list(tmp_path.glob(".big.h5.*.tmp")):  # writing has begun
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        time.sleep(0.3)
        os.killpg(proc.pid, signum)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == status, err
    assert len(err.strip().splitlines()) == 1 and "was not written" in err, err
    assert list(tmp_path.iterdir()) == []


def test_generating_data_does_not_import_torch():
    code = "import sys, wno_edge.cli.data, wno_edge.data; wno_edge.data.generate; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_generate_writes_no_file_the_readers_would_refuse(tmp_path):
    from wno_edge.data.generate import MAX_SAMPLE_VALUES, MAX_SAMPLES
    from wno_edge.errors import WNOEdgeError

    with pytest.raises(WNOEdgeError, match=f"number of samples must be <= {MAX_SAMPLES}"):
        generate("darcy", tmp_path / "a.h5", MAX_SAMPLES + 1, 8, progress=False)
    largest = int(np.sqrt(MAX_SAMPLE_VALUES // (101 * 2)))  # diffusion-reaction: 101 frames x 2 fields
    generate_module._check_args("diffusion-reaction", MAX_SAMPLES, largest, 0, 1)
    values = 101 * 2 * (largest + 1) ** 2
    with pytest.raises(WNOEdgeError, match=f"makes diffusion-reaction samples of {values} values"):
        generate("diffusion-reaction", tmp_path / "b.h5", 1, largest + 1, progress=False)
    assert not list(tmp_path.iterdir())
