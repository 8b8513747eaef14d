"""The checkpoint format: round trip, atomic writes, and refusal of anything else."""

import os
import pickle
import zipfile

import pytest
import torch

from wno_edge import checkpoint
from wno_edge.checkpoint import FORMAT, FORMAT_VERSION, CheckpointError, load_model, read_checkpoint, save_model
from wno_edge.errors import WNOEdgeError
from wno_edge.model import WNO2d, WNOConfig

CFG = WNOConfig(in_channels=1, out_channels=2, width=6, modes=(3, 3), n_layers=2, resolution=(16, 16))


def make_model():
    torch.manual_seed(0)
    model = WNO2d(CFG)
    model.set_normalization([0.5], [2.0], [1.0, -1.0], [3.0, 4.0])
    return model


def test_round_trip_restores_function_config_and_metadata(tmp_path):
    model = make_model()
    meta = {"task": "darcy", "test_rel_l2": 0.021, "epochs": 3, "splits": [0.9, 0.1], "nested": {"beta": 1.0}}
    save_model(model, tmp_path / "m.pt", meta)
    loaded = load_model(tmp_path / "m.pt")
    assert loaded.config == CFG and loaded.metadata == meta and not loaded.training
    x = torch.randn(2, 1, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model.eval()(x), rtol=0, atol=0)
    raw = torch.load(tmp_path / "m.pt", weights_only=True)
    assert raw["format"] == FORMAT and raw["format_version"] == FORMAT_VERSION


def test_not_a_checkpoint(tmp_path):
    (tmp_path / "text.pt").write_text("hello")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "plain.pt")
    torch.save(torch.zeros(3), tmp_path / "tensor.pt")
    for name in ("text.pt", "plain.pt", "tensor.pt"):
        with pytest.raises(CheckpointError) as e:
            load_model(tmp_path / name)
        assert "\n" not in str(e.value)
    with pytest.raises(CheckpointError, match="no such file"):
        load_model(tmp_path / "missing.pt")


def test_newer_format_version_is_refused(tmp_path):
    save_model(make_model(), tmp_path / "m.pt")
    raw = torch.load(tmp_path / "m.pt", weights_only=True)
    raw["format_version"] = FORMAT_VERSION + 1
    torch.save(raw, tmp_path / "future.pt")
    with pytest.raises(CheckpointError, match="newer"):
        read_checkpoint(tmp_path / "future.pt")


def test_truncated_file(tmp_path):
    save_model(make_model(), tmp_path / "m.pt")
    data = (tmp_path / "m.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_model(tmp_path / "cut.pt")


class Payload:
    """Unpickling this runs code: it must never happen."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pickle_with_code_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    payload = {
        "format": FORMAT,
        "format_version": 1,
        "config": CFG.to_dict(),
        "state_dict": {},
        "metadata": {"x": Payload(marker)},
    }
    torch.save(payload, tmp_path / "evil.pt")
    # A hand-written pickle stream too, not only torch's zip container.
    (tmp_path / "evil.pkl").write_bytes(pickle.dumps(Payload(marker)))
    for name in ("evil.pt", "evil.pkl"):
        with pytest.raises(CheckpointError, match="refused|not a wno-edge checkpoint"):
            load_model(tmp_path / name)
    assert not marker.exists()


def test_weights_that_do_not_match_the_config(tmp_path):
    save_model(make_model(), tmp_path / "m.pt")
    raw = torch.load(tmp_path / "m.pt", weights_only=True)
    raw["config"]["width"] = 7
    torch.save(raw, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match="do not match"):
        load_model(tmp_path / "bad.pt")


def test_metadata_must_be_plain_data(tmp_path):
    with pytest.raises(CheckpointError, match="metadata.fn"):
        save_model(make_model(), tmp_path / "m.pt", {"fn": print})
    assert not list(tmp_path.iterdir())


def test_failed_write_leaves_no_file_and_keeps_the_old_one(tmp_path, monkeypatch):
    target = tmp_path / "m.pt"
    save_model(make_model(), target)
    before = target.read_bytes()

    def broken_save(obj, f):
        with open(f, "wb") as fh:
            fh.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint.torch, "save", broken_save)
    with pytest.raises(OSError):
        save_model(make_model(), target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]
    with pytest.raises(WNOEdgeError, match="does not exist"):
        save_model(make_model(), tmp_path / "no" / "dir" / "m.pt")


def test_saved_file_is_a_torch_zip(tmp_path):
    save_model(make_model(), tmp_path / "m.pt")
    assert zipfile.is_zipfile(tmp_path / "m.pt")


def _tampered(tmp_path, name, **changes):
    save_model(make_model(), tmp_path / "m.pt")
    raw = torch.load(tmp_path / "m.pt", weights_only=True)
    for key, value in changes.items():
        if key == "format_version":
            raw[key] = value
        else:
            raw["config"][key] = value
    torch.save(raw, tmp_path / name)
    return tmp_path / name


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(n_layers=10**6), "n_layers must be in"),
        (dict(n_layers=200), "missing layers.2"),  # within bounds, but the file holds 2 layers
        (dict(width=10**6), "width must be in"),
        (dict(width=4096), "lift.weight has shape"),  # would allocate GBs if built first
        (dict(modes=(512, 512)), "weights1 has shape"),
        (dict(modes="ab"), "modes must be two integers"),
        (dict(width=8.5), "width must be an integer"),
        (dict(resolution=[-16, -16]), r"resolution\[0\] must be in"),
        (dict(real_space_kernel=False), "unexpected layers.0.kernel"),
        (dict(format_version="1"), "format_version must be an integer, got '1'"),
        (dict(format_version=0), "format_version must be >= 1"),
    ],
)
def test_config_is_checked_against_the_weights_before_building(tmp_path, monkeypatch, capsys, changes, message):
    from wno_edge.cli import main

    path = _tampered(tmp_path, "bad.pt", **changes)
    built = []
    monkeypatch.setattr(checkpoint, "WNO2d", lambda *a, **k: built.append(1))
    with pytest.raises(CheckpointError, match=message) as e:
        load_model(path)
    assert "\n" not in str(e.value) and str(path) in str(e.value) and not built
    monkeypatch.undo()
    assert main(["info", str(path)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err


def test_state_dict_shapes_are_those_of_the_model():
    from wno_edge.model import state_dict_shapes

    for cfg in (
        CFG,
        WNOConfig(3, 1, width=5, modes=(2, 4), n_layers=1, real_space_kernel=False, grid=False, projection_width=7),
    ):
        sd = WNO2d(cfg).state_dict()
        assert {k: (tuple(v.shape), v.is_complex()) for k, v in sd.items()} == state_dict_shapes(cfg)


def test_atomic_path_refuses_an_output_that_is_an_input(tmp_path):
    """The same path, a symlink and a hard link to an input are all that input; a new file or
    a different file is not. Nothing is written or removed when it refuses."""
    from wno_edge.errors import WNOEdgeError
    from wno_edge.util.io import atomic_path

    source = tmp_path / "in.bin"
    source.write_bytes(b"precious")
    (tmp_path / "link").symlink_to(source)
    os.link(source, tmp_path / "hard")
    for output in (source, tmp_path / "link", tmp_path / "hard", tmp_path / "." / "in.bin"):
        with pytest.raises(WNOEdgeError, match="is the input"), atomic_path(output, inputs=(source,)) as tmp:
            tmp.write_bytes(b"overwritten")
    assert source.read_bytes() == b"precious" and sorted(p.name for p in tmp_path.iterdir()) == [
        "hard",
        "in.bin",
        "link",
    ]
    other = tmp_path / "other.bin"
    other.write_bytes(b"x")
    for output in (tmp_path / "new.bin", other):
        with atomic_path(output, inputs=(source, None)) as tmp:
            tmp.write_bytes(b"written")
        assert output.read_bytes() == b"written"


# ---- hostile and broken files: one line each, bounded work, nothing run --------------------------


def test_truncated_at_any_length_says_so_in_plain_words(tmp_path):
    """torch's zip reader says "[Errno 22] Invalid argument" to most cuts: the message says what it is."""
    save_model(make_model(), tmp_path / "m.pt", {"sample_inputs": torch.zeros(2, 1, 16, 16)})
    data = (tmp_path / "m.pt").read_bytes()
    for n in [*range(1, len(data), max(1, len(data) // 97)), len(data) - 1]:
        (tmp_path / "cut.pt").write_bytes(data[:n])
        with pytest.raises(CheckpointError) as e:
            read_checkpoint(tmp_path / "cut.pt")
        message = str(e.value)
        assert "not a valid checkpoint: truncated or corrupt" in message and "Errno" not in message, (n, message)
        assert "\n" not in message
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(CheckpointError, match="is empty"):
        read_checkpoint(tmp_path / "empty.pt")


def test_a_directory_or_fifo_is_named_for_what_it_is(tmp_path):
    (tmp_path / "dir.pt").mkdir()
    with pytest.raises(CheckpointError, match="is a directory"):
        load_model(tmp_path / "dir.pt")
    # A FIFO is never opened (opening one blocks until a writer comes): in a child, with a timeout.
    from hostile_files import run_bounded

    os.mkfifo(tmp_path / "fifo.pt")
    run = run_bounded(
        "from wno_edge.checkpoint import read_checkpoint\n"
        f"try: read_checkpoint({str(tmp_path / 'fifo.pt')!r})\n"
        "except Exception as e: print(type(e).__name__, e)\n",
        timeout=120,
    )
    assert run.stdout.startswith("CheckpointError") and "is a FIFO" in run.stdout, run.stdout + run.stderr


def test_refused_global_is_named_in_one_whole_sentence(tmp_path):
    """The weights-only refusal names the global the file asks for and reads as a whole sentence
    (it was torch's first line cut at 160 characters: "...Re-running `torch.")."""
    marker = tmp_path / "pwned"
    torch.save({"format": FORMAT, "x": Payload(marker)}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError) as e:
        read_checkpoint(tmp_path / "evil.pt")
    message = str(e.value)
    assert "refused" in message and ("posix.system" in message or "os.system" in message), message
    assert message.endswith("(nothing was executed)") and "`" not in message and "\n" not in message
    assert not marker.exists()


def _bomb_refused(path) -> str:
    """load_model(path) in a child with a memory limit and a hang timeout; its one-line refusal."""
    from hostile_files import refused_in_child

    return refused_in_child("from wno_edge.checkpoint import load_model", f"load_model({str(path)!r})")


@pytest.mark.parametrize(
    "where, build",
    [
        ("format_version", "list"),  # the refusal message repr()'d it: 2**60 items, never returned
        ("config", "list"),  # WNOConfig's message likewise
        ("metadata", "wide"),  # 8**20 items within the depth limit: the node budget refuses it
        ("metadata", "deep"),  # 100000 nested lists: no RecursionError
        ("metadata", "tuple-key"),  # hashing the key inside torch's unpickler never returned
    ],
)
def test_shared_reference_bombs_are_refused_in_bounded_work(tmp_path, where, build):
    from hostile_files import deep_list, dict_with_key, list_bomb, splice, tuple_bomb, wide_bomb

    save_model(make_model(), tmp_path / "m.pt")
    raw = torch.load(tmp_path / "m.pt", weights_only=True)
    path = tmp_path / "bomb.pt"
    if build in ("list", "wide"):
        bomb = list_bomb(60) if build == "list" else wide_bomb(20)
        if where == "config":
            raw["config"]["width"] = bomb
        elif where == "metadata":
            raw["metadata"] = {"history": bomb}
        else:
            raw[where] = bomb
        torch.save(raw, path)
    else:  # no Pickler writes these: spliced into the pickle by hand
        raw["metadata"] = {"x": "PLACEHOLDER"}
        torch.save(raw, tmp_path / "plain.pt")
        ops = deep_list(100_000) if build == "deep" else dict_with_key(tuple_bomb(60))
        splice(tmp_path / "plain.pt", path, "PLACEHOLDER", ops)
    assert path.stat().st_size < 300_000
    line = _bomb_refused(path)
    assert ("deeper than" in line or "more than" in line) and str(path) in line, line


def test_unreadable_values_are_previewed_not_repred(tmp_path):
    """Messages about a stored value show a bounded preview: a 1 MiB key, an int of 10**5000."""
    save_model(make_model(), tmp_path / "m.pt")
    raw = torch.load(tmp_path / "m.pt", weights_only=True)
    raw["config"]["k" * (1 << 20)] = 1
    torch.save(raw, tmp_path / "key.pt")
    with pytest.raises(CheckpointError, match="unknown WNO config keys: 'kkk") as e:
        load_model(tmp_path / "key.pt")
    assert len(str(e.value)) < 400
    raw = torch.load(tmp_path / "m.pt", weights_only=True)
    raw["config"]["width"] = 2**200
    torch.save(raw, tmp_path / "int.pt")
    with pytest.raises(CheckpointError, match=r"width must be in \[1, 4096\], got <201-bit integer>"):
        load_model(tmp_path / "int.pt")
    # str() of a 5000-digit int raises ValueError (Python's 4300-digit limit): not in a message
    with pytest.raises(WNOEdgeError, match=r"in_channels must be in \[1, 4096\], got <16610-bit integer>"):
        WNOConfig.from_dict({"in_channels": 10**5000, "out_channels": 1})


def test_preview_is_bounded_on_any_value():
    """errors.preview, what every message about a stored value uses: one line of at most `limit`
    characters, in bounded work (in a child with a hang timeout: repr() of these never returns)."""
    from hostile_files import run_bounded

    run = run_bounded(
        "import collections, json\n"
        "from wno_edge.errors import preview\n"
        "x = []\n"
        "for _ in range(60): x = [x, x]\n"
        "t = (1,)\n"
        "for _ in range(60): t = (t, t)\n"
        "values = [x, t, collections.OrderedDict(a=x), {'k' * 10**6: x}, 10**5000, 'a\\nb' * 10**5, b'\\0' * 10**6,\n"
        "          set(range(10**5)), None, True, 1.5, '3']\n"
        "print(json.dumps([preview(v) for v in values] + [preview(x, 60)]))\n"
    )
    import json

    assert run.returncode == 0, run.stderr[-2000:]
    shown = json.loads(run.stdout)
    assert all(len(s) <= 200 and "\n" not in s for s in shown), shown
    assert len(shown[-1]) <= 60
    assert shown[-5:-1] == ["None", "True", "1.5 (float)", "'3' (str)"]
    assert shown[0].endswith("(list of 2 items)") and shown[4] == "<16610-bit integer> (int)"
