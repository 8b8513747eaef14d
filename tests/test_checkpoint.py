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
        with pytest.raises(CheckpointError, match="refused|not a readable"):
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
