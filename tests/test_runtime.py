"""wno_edge.runtime: sessions, validation, zero-allocation steady state, rollout, ControlLoop."""

import os
import signal
import subprocess
import sys
import threading
import time
import tracemalloc

import numpy as np
import onnx
import pytest
import torch
import torch.nn.functional as F
from onnx import TensorProto, helper, numpy_helper

from wno_edge import runtime
from wno_edge.checkpoint import save_model
from wno_edge.errors import WNOEdgeError
from wno_edge.model import WNO2d, WNOConfig


def conv_model(path, c_in=2, c_out=2, hw=(16, 16), seed=0):
    """A one-Conv ONNX model with a dynamic batch, and its weights for an F.conv2d reference."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((c_out, c_in, 3, 3)).astype(np.float32) * 0.2
    b = rng.standard_normal(c_out).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w", "b"], ["y"], pads=[1, 1, 1, 1])],
        "conv",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", c_in, *hw])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", c_out, *hw])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=10)
    onnx.save(model, path)
    return w, b


def reference(x, w, b):
    return F.conv2d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b), padding=1).numpy()


def test_onnx_session_matches_conv2d_and_reuses_out(tmp_path):
    w, b = conv_model(tmp_path / "m.onnx")
    with runtime.load(tmp_path / "m.onnx", threads=1, batch=3) as s:
        assert s.input_shape == (3, 2, 16, 16) and s.output_shape == (3, 2, 16, 16) and s.dtype == np.float32
        x = np.random.default_rng(1).standard_normal(s.input_shape).astype(np.float32)
        y = s.run(x)
        np.testing.assert_allclose(y, reference(x, w, b), atol=1e-5)
        out = np.empty(s.output_shape, np.float32)
        assert s.run(2 * x, out=out) is out
        np.testing.assert_allclose(out, reference(2 * x, w, b), atol=1e-5)
        np.testing.assert_allclose(y, reference(x, w, b), atol=1e-5)  # the first result was a copy
    with pytest.raises(WNOEdgeError, match="closed"):
        s.run(x)


def test_steady_state_allocates_nothing(tmp_path):
    conv_model(tmp_path / "m.onnx", c_in=4, c_out=4, hw=(64, 64))
    s = runtime.load(tmp_path / "m.onnx", threads=1, check_finite=False)
    x = np.ones(s.input_shape, np.float32)
    out = np.empty(s.output_shape, np.float32)
    for _ in range(5):
        s.run(x, out=out)
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for _ in range(200):
        s.run(x, out=out)
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(st.size_diff for st in after.compare_to(before, "filename") if st.size_diff > 0)
    # An output array per call would be 64 KiB each (12 MiB over 200 calls).
    assert grown < 16 * 1024, grown


def test_input_validation(tmp_path):
    conv_model(tmp_path / "m.onnx")
    s = runtime.load(tmp_path / "m.onnx")
    good = np.zeros(s.input_shape, np.float32)
    cases = [
        (np.zeros((1, 2, 8, 8), np.float32), "shape"),
        (good.astype(np.float64), "dtype"),
        (np.asfortranarray(np.zeros(s.input_shape, np.float32)), "contiguous"),
        (np.where(np.arange(good.size).reshape(good.shape) == 7, np.nan, good).astype(np.float32), "NaN"),
        (good.tolist(), "numpy array"),
    ]
    for bad, message in cases:
        with pytest.raises(WNOEdgeError, match=message):
            s.run(bad)
    s.check_finite = False  # the hot path may skip the scan
    assert np.isnan(s.run(cases[3][0])).any()
    with pytest.raises(WNOEdgeError, match="out must be"):
        s.run(good, out=np.empty((1, 2, 16, 15), np.float32))


def test_load_errors(tmp_path):
    with pytest.raises(WNOEdgeError, match="no such file"):
        runtime.load(tmp_path / "none.onnx")
    (tmp_path / "m.xyz").write_text("x")
    with pytest.raises(WNOEdgeError, match="unknown model file type"):
        runtime.load(tmp_path / "m.xyz")
    (tmp_path / "bad.onnx").write_text("not onnx")
    with pytest.raises(WNOEdgeError, match="cannot load"):
        runtime.load(tmp_path / "bad.onnx")


def test_import_and_onnx_run_do_not_import_torch(tmp_path):
    conv_model(tmp_path / "m.onnx")
    code = (
        f"import sys, numpy as np; from wno_edge import runtime; "
        f"s = runtime.load({str(tmp_path / 'm.onnx')!r}); s.run(np.zeros(s.input_shape, np.float32)); "
        f"print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_torch_session_runs_a_checkpoint(tmp_path):
    torch.manual_seed(0)
    model = WNO2d(WNOConfig(1, 1, width=6, modes=(3, 3), n_layers=2, resolution=(16, 16))).eval()
    save_model(model, tmp_path / "m.pt")
    s = runtime.load(tmp_path / "m.pt", batch=2)
    x = np.random.default_rng(0).random((2, 1, 16, 16), dtype=np.float32)
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(s.run(x), expected, rtol=0, atol=1e-6)


class ShiftSession(runtime.Session):
    """A known operator for loop tests: the next frame is the mean of the window plus one."""

    backend = "test"

    def __init__(self, frames=3, c=2, hw=(4, 5), delay=0.0):
        super().__init__()
        self.frames, self.c, self.delay = frames, c, delay
        self.input_shape, self.output_shape = (1, frames * c, *hw), (1, c, *hw)
        self.dtype = np.dtype(np.float32)
        self._y = np.zeros(self.output_shape, np.float32)

    def _run(self, x):
        if self.delay:
            time.sleep(self.delay)
        self._y[...] = x.reshape(1, self.frames, self.c, *x.shape[2:]).mean(axis=1) + 1
        return self._y


def test_rollout_feeds_predictions_back():
    s = ShiftSession()
    state0 = np.random.default_rng(0).random(s.input_shape, dtype=np.float32)
    traj = runtime.rollout(s, state0, steps=6)
    frames = list(state0.reshape(3, 2, 4, 5))
    for step in range(6):  # an independent re-computation of the recurrence
        nxt = np.mean(frames[-3:], axis=0) + 1
        np.testing.assert_allclose(traj[step, 0], nxt, rtol=1e-6)
        frames.append(nxt)
    out = np.empty_like(traj)
    assert runtime.rollout(s, state0, 6, out=out) is out
    np.testing.assert_array_equal(out, traj)
    with pytest.raises(WNOEdgeError, match="out must be"):
        runtime.rollout(s, state0, 5, out=out)


def test_control_loop_keeps_rate_and_counts_misses():
    s = ShiftSession()
    loop = runtime.ControlLoop(s, rate_hz=200, step=lambda y: np.concatenate([y] * 3, axis=1))
    t0 = time.monotonic()
    loop.run(np.zeros(s.input_shape, np.float32), steps=40)
    elapsed = time.monotonic() - t0
    stats = loop.stats()
    assert stats["iterations"] == 40 and elapsed >= 39 / 200
    assert stats["inference"]["median_ms"] > 0 and sum(stats["tick_histogram_ms"]["counts"]) == 40
    slow = runtime.ControlLoop(ShiftSession(delay=0.02), rate_hz=100, step=lambda y: np.concatenate([y] * 3, axis=1))
    slow.run(np.zeros(s.input_shape, np.float32), steps=5)
    assert slow.misses == 5 and "5 deadline misses" in str(slow)


def _feed_back(y):
    return np.concatenate([y] * 3, axis=1)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_control_loop_stops_on_signal(signum):
    # Deterministic: the signal is raised from inside the 4th tick, not by a timer that must
    # fire within some time on a possibly loaded machine.
    s = ShiftSession()
    ticks = []

    def step(y):
        ticks.append(len(ticks))
        if len(ticks) == 4:
            signal.raise_signal(signum)
        return _feed_back(y)

    before = signal.getsignal(signum)
    loop = runtime.ControlLoop(s, rate_hz=1000, step=step)
    result = loop.run(np.zeros(s.input_shape, np.float32))  # no step limit: only the signal ends it
    assert result.reason == "signal" and result.signal == signum and result.ticks == 4 == loop.iterations
    assert signal.getsignal(signum) is before


def test_control_loop_runs_again_after_stop_and_counts_steps_per_run():
    s = ShiftSession()
    loop = runtime.ControlLoop(
        s, rate_hz=1000, step=lambda y: (loop.stop() if loop.iterations == 1 else None, _feed_back(y))[1]
    )
    x0 = np.zeros(s.input_shape, np.float32)
    first = loop.run(x0)
    assert (first.reason, first.ticks) == ("stop", 2)
    second = loop.run(first.state, steps=3)  # the stop flag of the first run does not end this one
    assert (second.reason, second.ticks, loop.iterations) == ("steps", 3, 5)
    third = loop.run(second.state, steps=3)  # steps count per run, not across runs
    assert (third.reason, third.ticks, loop.iterations) == ("steps", 3, 8)
    assert loop.run(x0, steps=0).ticks == 0
    np.testing.assert_array_equal(third.state, np.full(s.input_shape, 8, np.float32))  # each tick adds one


@pytest.mark.parametrize("rate", [float("nan"), float("inf"), -1.0, 0, "50", True])
def test_control_loop_rejects_rates_that_are_not_finite_and_positive(rate):
    with pytest.raises(WNOEdgeError, match="rate_hz must be a finite number > 0"):
        runtime.ControlLoop(ShiftSession(), rate_hz=rate, step=_feed_back)


@pytest.mark.parametrize(
    "rate",
    [
        1e-300,  # a period of 1e300 s: wait() raised OverflowError
        5e-324,  # 1 / rate is inf
        pytest.param(10**400, id="10**400"),  # an int no float holds
        1 / 86_400 / 2,  # a period of two days
        2e9,  # a period below the clock's nanosecond
        1e300,
    ],
)
def test_control_loop_rejects_periods_out_of_range(rate):
    with pytest.raises(WNOEdgeError, match="rate_hz must be a finite number > 0") as e:
        runtime.ControlLoop(ShiftSession(), rate_hz=rate, step=_feed_back)
    message = str(e.value)
    assert "\n" not in message and len(message) < 300


def test_control_loop_takes_the_ends_of_the_period_range():
    s = ShiftSession()
    for rate in (1 / 86_400, 1e9, np.float32(50), 7):  # a day, a nanosecond, numpy and int rates
        loop = runtime.ControlLoop(s, rate_hz=rate, step=_feed_back)
        assert loop.run(np.zeros(s.input_shape, np.float32), steps=1).ticks == 1  # no wait after the last tick
        assert isinstance(loop.rate_hz, float) and loop.period == pytest.approx(1 / float(rate))
    fast = runtime.ControlLoop(s, rate_hz=1e9, step=_feed_back)  # every tick misses: re-phased, no overflow
    assert fast.run(np.zeros(s.input_shape, np.float32), steps=5).misses == 5


@pytest.mark.parametrize("history", [0, -1, 1.5, True, "10", None])
def test_control_loop_rejects_a_bad_history(history):
    """history=0 was a ZeroDivisionError on the first tick."""
    with pytest.raises(WNOEdgeError, match="history must be an integer >= 1"):
        runtime.ControlLoop(ShiftSession(), rate_hz=100, step=_feed_back, history=history)


def test_control_loop_history_of_one_keeps_the_last_tick():
    s = ShiftSession()
    loop = runtime.ControlLoop(s, rate_hz=1000, step=_feed_back, history=np.int64(1))
    loop.run(np.zeros(s.input_shape, np.float32), steps=3)
    assert loop.iterations == 3 and loop.tick.samples.shape == (1,) and loop.stats()["tick"]["median_ms"] > 0


def test_control_loop_messages_name_the_type_not_the_repr():
    class Loud:
        def __repr__(self):
            raise AssertionError("repr() of a caller's object")

        def __str__(self):
            return "x" * 10_000

    for kwargs in ({"rate_hz": Loud()}, {"rate_hz": 10, "history": Loud()}):
        with pytest.raises(WNOEdgeError) as e:
            runtime.ControlLoop(ShiftSession(), step=_feed_back, **kwargs)
        assert "Loud xxx" in str(e.value) and len(str(e.value)) < 200


def test_control_loop_rejects_bad_steps():
    loop = runtime.ControlLoop(ShiftSession(), rate_hz=100, step=_feed_back)
    with pytest.raises(WNOEdgeError, match="steps must be"):
        loop.run(np.zeros((1, 6, 4, 5), np.float32), steps=-1)


def _parallel_results(session, inputs, use_out: bool, threads: int = 4):
    """Each thread runs its own inputs through the one shared session; results by input index."""
    results = [None] * len(inputs)
    barrier = threading.Barrier(threads)

    def worker(t):
        barrier.wait()
        for i in range(t, len(inputs), threads):
            if use_out:
                results[i] = session.run(inputs[i], out=np.empty(session.output_shape, session.dtype))
            else:
                results[i] = session.run(inputs[i])

    pool = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    return results


@pytest.mark.parametrize("kind", ["onnx", "pt"])
@pytest.mark.parametrize("use_out", [False, True])
def test_threads_sharing_a_session_get_their_own_results(tmp_path, kind, use_out):
    if kind == "onnx":
        conv_model(tmp_path / "m.onnx", c_in=8, c_out=8, hw=(48, 48))
        path = tmp_path / "m.onnx"
    else:
        torch.manual_seed(0)
        save_model(WNO2d(WNOConfig(2, 2, width=8, modes=(4, 4), n_layers=1, resolution=(24, 24))), tmp_path / "m.pt")
        path = tmp_path / "m.pt"
    with runtime.load(path, threads=1) as s:
        rng = np.random.default_rng(0)
        inputs = [rng.standard_normal(s.input_shape).astype(np.float32) for _ in range(300)]
        expected = [s.run(x) for x in inputs]  # one thread
        got = _parallel_results(s, inputs, use_out)
    wrong = sum(not np.array_equal(g, e) for g, e in zip(got, expected, strict=False))
    assert wrong == 0, f"{wrong} of {len(inputs)} results belong to another call"


def test_output_check_is_opt_in(tmp_path):
    conv_model(tmp_path / "m.onnx")
    x = np.full((1, 2, 16, 16), 3e38, np.float32)  # finite, but the conv overflows
    with runtime.load(tmp_path / "m.onnx") as s:
        assert not np.isfinite(s.run(x)).all()  # default: inputs are checked, outputs are not
    with runtime.load(tmp_path / "m.onnx", check_output=True) as s:
        with pytest.raises(WNOEdgeError, match="output contains NaN or Inf"):
            s.run(x)
        with pytest.raises(WNOEdgeError, match="output contains NaN or Inf"):
            s.run(x, out=np.empty(s.output_shape, np.float32))
        assert np.isfinite(s.run(np.ones_like(x))).all()


def _fixed_batch_model(path, batch):
    w = np.zeros((1, 1, 1, 1), np.float32)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"])],
        "conv",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 1, 4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 1, 4, 4])],
        [numpy_helper.from_array(w, "w")],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=10), path)


def test_batch_of_a_fixed_batch_export(tmp_path):
    _fixed_batch_model(tmp_path / "b2.onnx", 2)
    with runtime.load(tmp_path / "b2.onnx") as s:  # no batch asked for: the file's
        assert s.input_shape[0] == 2
    with runtime.load(tmp_path / "b2.onnx", batch=2) as s:
        assert s.input_shape[0] == 2
    with pytest.raises(WNOEdgeError, match="fixed batch of 2, not 8"):
        runtime.load(tmp_path / "b2.onnx", batch=8)
    conv_model(tmp_path / "dyn.onnx")
    assert runtime.load(tmp_path / "dyn.onnx").input_shape[0] == 1
    for bad in (0, -3, 1.5):
        with pytest.raises(WNOEdgeError, match="batch must be a positive integer"):
            runtime.load(tmp_path / "dyn.onnx", batch=bad)
        with pytest.raises(WNOEdgeError, match="batch must be a positive integer"):
            runtime.load(tmp_path / "b2.onnx", batch=bad)


def test_closed_session_refuses_run_warmup_and_rollout_alike(tmp_path):
    conv_model(tmp_path / "m.onnx", c_in=2, c_out=2)
    s = runtime.load(tmp_path / "m.onnx")
    s.warmup(2)
    s.close()
    assert s.closed
    x = np.zeros(s.input_shape, np.float32)
    for call in (lambda: s.run(x), lambda: s.warmup(), lambda: runtime.rollout(s, x, 2)):
        with pytest.raises(WNOEdgeError, match="onnxruntime session is closed"):
            call()
    shift = ShiftSession()
    shift.close()
    with pytest.raises(WNOEdgeError, match="closed"):
        runtime.ControlLoop(shift, 100, _feed_back).run(np.zeros(shift.input_shape, np.float32), steps=1)


class HalfOutSession(runtime.Session):
    """float32 in, float16 out: what a TensorRT engine with an fp16 output looks like."""

    backend = "test"

    def __init__(self):
        super().__init__()
        self.input_shape = self.output_shape = (1, 1, 2, 2)
        self.dtype, self.output_dtype = np.dtype(np.float32), np.float16
        self._y = np.zeros(self.output_shape, np.float16)

    def _run(self, x):
        self._y[...] = 2 * x
        return self._y


def test_out_takes_the_outputs_dtype_not_the_inputs():
    session = HalfOutSession()
    x = np.arange(4, dtype=np.float32).reshape(1, 1, 2, 2)
    out = np.empty((1, 1, 2, 2), np.float16)
    assert session.run(x, out=out) is out and np.array_equal(out, 2 * x)
    with pytest.raises(WNOEdgeError, match="float16"):
        session.run(x, out=np.empty((1, 1, 2, 2), np.float32))
    assert ShiftSession().output_dtype == np.float32  # default: the input's


def test_load_and_info_name_a_directory_or_fifo_for_what_it_is(tmp_path, capsys):
    """Not 'no such file' for a path that exists; a FIFO is never opened (it would block)."""
    from wno_edge.cli import main

    (tmp_path / "dir.onnx").mkdir()
    os.mkfifo(tmp_path / "pipe.onnx")
    for name, kind in (("dir.onnx", "a directory"), ("pipe.onnx", "a FIFO")):
        with pytest.raises(WNOEdgeError, match=kind):
            runtime.load(tmp_path / name)
        assert main(["info", str(tmp_path / name)]) == 1
        err = capsys.readouterr().err.strip()
        assert kind in err and len(err.splitlines()) == 1


def test_torch_session_runs_a_1d_checkpoint(tmp_path):
    """A 1-D checkpoint runs on (N, C, X) through runtime.load, equal to the model; a 2-D grid for
    it is one line."""
    torch = pytest.importorskip("torch")
    from wno_edge.checkpoint import save_model
    from wno_edge.contract import WNOConfig
    from wno_edge.model import WNO2d

    model = WNO2d(WNOConfig(1, 2, width=8, modes=(6,), n_layers=2, resolution=(32,))).eval()
    path = save_model(model, tmp_path / "m.pt")
    with runtime.load(path, batch=3) as s:
        assert s.input_shape == (3, 1, 32) and s.output_shape == (3, 2, 32)
        x = np.random.default_rng(0).standard_normal(s.input_shape).astype(np.float32)
        with torch.inference_mode():
            assert np.array_equal(s.run(x), model(torch.from_numpy(x)).numpy())
    with pytest.raises(WNOEdgeError, match="a 1-D model needs 1 grid size"):
        runtime.load(path, resolution=(32, 32))
