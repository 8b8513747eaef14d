"""PhysicsNeMo FNO checkpoints (issue 26, items 1 and 3): the fixtures PhysicsNeMo wrote
(tests/fixtures/physicsnemo, tools/make_physicsnemo_fixtures.py) read back as their generator
recorded them, and an FNO forward written from the reader's documented layout alone equals
PhysicsNeMo's eager output; hostile files, built here, are each refused in one line with
nothing imported or run."""

from __future__ import annotations

import io
import itertools
import json
import os
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wno_edge.importers.physicsnemo import (
    MAX_PARAMETERS,
    PhysicsNemoImportError,
    read_checkpoint,
    state_dict_shapes,
)

# make physicsnemo-check points this at fixtures PhysicsNeMo has just written (the live comparison)
FIXTURES = Path(os.environ.get("WNO_PHYSICSNEMO_FIXTURES") or Path(__file__).parent / "fixtures" / "physicsnemo")
MANIFEST = json.loads((FIXTURES / "manifest.json").read_text())
NAMES = sorted(MANIFEST["fixtures"])
BASE = FIXTURES / "fno2d_gelu.mdlus"  # the checkpoint the hostile files are made from


# ---- the fixtures ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_every_fixture_reads_as_its_generator_recorded(name):
    entry = MANIFEST["fixtures"][name]
    ckpt = read_checkpoint(FIXTURES / entry["file"])
    assert ckpt.layout == entry["layout"]
    module = "modulus" if "modulus" in name else "physicsnemo"
    assert ckpt.class_path == f"{module}.models.fno.fno.FNO"
    assert ckpt.metadata[f"{module}_version"] == MANIFEST["physicsnemo_version"]
    assert ckpt.metadata["mdlus_file_version"] == "0.1.0"
    for key, value in entry["args"].items():  # the file holds every argument, defaults included
        assert ckpt.raw_args[key] == value, key
    assert {k: list(v.shape) for k, v in ckpt.state_dict.items()} == entry["state_dict"]
    assert {k: list(v) for k, v in state_dict_shapes(ckpt.args).items()} == entry["state_dict"]
    assert all(v.dtype == torch.float32 for v in ckpt.state_dict.values())
    d = entry["args"]["dimension"]
    assert ckpt.args.dimension == d and len(ckpt.args.modes) == d and len(ckpt.args.padding) == d
    assert ckpt.args.decoder_layers == len(ckpt.args.decoder_activation_fn)
    assert entry["input_shape"][1] == ckpt.args.in_channels


# A PhysicsNeMo FNO forward written from the module docstring's layout (not from PhysicsNeMo's
# code): if it equals PhysicsNeMo's own output, the layout the mapping will use is right.
def _activation(name: str, sd: dict, prefix: str):
    if name == "prelu":
        return lambda x: F.prelu(x, sd[f"{prefix}.weight"])
    if name == "capped_gelu":
        return lambda x: torch.clamp(F.gelu(x), max=sd[f"{prefix}.cap"])
    return {"gelu": F.gelu, "silu": F.silu, "relu": F.relu, "tanh": torch.tanh}[name]


def _spectral(v: torch.Tensor, corners: list[torch.Tensor], modes: tuple[int, ...]) -> torch.Tensor:
    d = len(modes)
    dims = tuple(range(-d, 0))
    v_ft = torch.fft.rfftn(v, dim=dims)
    out = torch.zeros(v.shape[0], corners[0].shape[1], *v_ft.shape[2:], dtype=v_ft.dtype)
    for c, weight in enumerate(corners):  # bit a of c: axis a's negative frequencies
        rows = tuple(slice(-m, None) if c >> a & 1 else slice(0, m) for a, m in enumerate(modes[:-1]))
        index = (slice(None), slice(None), *rows, slice(0, modes[-1]))
        out[index] += torch.einsum("bi...,io...->bo...", v_ft[index], weight)
    return torch.fft.irfftn(out, s=v.shape[2:], dim=dims)


def reference_forward(ckpt, x: torch.Tensor) -> torch.Tensor:
    a, sd = ckpt.args, ckpt.state_dict
    d, grid = a.dimension, x.shape[2:]
    conv = (F.conv1d, F.conv2d, F.conv3d)[d - 1]
    if a.coord_features:
        axes = torch.meshgrid(*(torch.linspace(0, 1, n) for n in grid), indexing="ij")
        x = torch.cat([x, *(g.expand(x.shape[0], 1, *grid) for g in axes)], dim=1)
    sigma = _activation(a.activation_fn, sd, "activation_fn")
    lift = "spec_encoder.lift_network"
    v = conv(x, sd[f"{lift}.0.conv.weight"], sd[f"{lift}.0.conv.bias"])
    v = conv(sigma(v), sd[f"{lift}.2.conv.weight"], sd[f"{lift}.2.conv.bias"])
    v = F.pad(v, tuple(p for axis in reversed(range(d)) for p in (0, a.padding[axis])), mode=a.padding_type)
    for i in range(a.num_fno_layers):
        corners = [
            torch.view_as_complex(sd[f"spec_encoder.spconv_layers.{i}.weights{c + 1}"]) for c in range(2 ** (d - 1))
        ]
        u = conv(v, sd[f"spec_encoder.conv_layers.{i}.weight"], sd[f"spec_encoder.conv_layers.{i}.bias"])
        u = u + _spectral(v, corners, a.modes)
        v = sigma(u) if i < a.num_fno_layers - 1 else u
    h = v[(slice(None), slice(None), *(slice(0, n) for n in grid))].movedim(1, -1)
    for j, name in enumerate(a.decoder_activation_fn):
        layer = f"decoder_net.layers.{j}"
        h = _activation(name, sd, f"{layer}.activation_fn")(
            F.linear(h, sd[f"{layer}.linear.weight"], sd[f"{layer}.linear.bias"])
        )
    h = F.linear(h, sd["decoder_net.final_layer.linear.weight"], sd["decoder_net.final_layer.linear.bias"])
    return h.movedim(-1, 1)


@pytest.mark.parametrize("name", NAMES)
def test_the_documented_layout_reproduces_physicsnemo(name):
    entry = MANIFEST["fixtures"][name]
    ckpt = read_checkpoint(FIXTURES / entry["file"])
    data = np.load(FIXTURES / f"{name}.npz")
    with torch.no_grad():
        y = reference_forward(ckpt, torch.from_numpy(data["x"])).numpy()
    ref = data["y"]
    assert y.shape == ref.shape
    assert np.abs(y - ref).max() <= 1e-5 * np.abs(ref).max(), np.abs(y - ref).max()


def test_reading_imports_nothing():
    before = set(sys.modules)
    read_checkpoint(FIXTURES / "fno2d_modulus_tar.mdlus")
    read_checkpoint(BASE)
    assert not {m for m in set(sys.modules) - before if m.split(".")[0] in ("physicsnemo", "modulus")}


# ---- hostile files ---------------------------------------------------------------------------


def base_members() -> dict[str, bytes]:
    with zipfile.ZipFile(BASE) as z:
        return {name: z.read(name) for name in z.namelist()}


def write_zip(path: Path, members, compression=zipfile.ZIP_STORED) -> Path:
    with zipfile.ZipFile(path, "w", compression) as z:
        for name, data in members.items() if isinstance(members, dict) else members:
            z.writestr(name, data)
    return path


def with_args(path: Path, edit) -> Path:
    members = base_members()
    args = json.loads(members["args.json"])
    edit(args)
    members["args.json"] = json.dumps(args).encode()
    return write_zip(path, members)


def refused(path: Path, *words: str) -> str:
    with pytest.raises(PhysicsNemoImportError) as e:
        read_checkpoint(path)
    line = str(e.value)
    assert "\n" not in line and len(line) < 400, line[:1000]
    for word in words:
        assert word in line, line
    return line


@pytest.mark.parametrize(
    "module, name",
    [
        ("os", "system"),
        ("physicsnemo.models.afno.afno", "AFNO"),
        ("physicsnemo.nn.module.fno_layers", "FNO2DEncoder"),
        ("physicsnemo.models.fno", "FNO"),  # a re-export is not the class's own module
        ("modulus.models.fno.fno", "FNO2DEncoder"),
        (None, "FNO"),
        (["physicsnemo"], "FNO"),
    ],
)
def test_another_class_is_refused_by_name(tmp_path, module, name):
    path = with_args(tmp_path / "m.mdlus", lambda a: a.update(__module__=module, __name__=name))
    refused(path, "refused", "nothing was imported")


def test_a_named_module_is_never_imported(tmp_path, monkeypatch):
    marker = tmp_path / "imported"
    (tmp_path / "evil_fno.py").write_text(f"open({str(marker)!r}, 'w').close()\nclass FNO: pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    path = with_args(tmp_path / "m.mdlus", lambda a: a.update(__module__="evil_fno"))
    refused(path, "evil_fno.FNO")
    assert not marker.exists() and "evil_fno" not in sys.modules


@pytest.mark.parametrize(
    "edit, words",
    [
        (lambda a: a["__args__"].update(evil=1), ["unknown FNO argument 'evil'"]),
        (lambda a: a["__args__"].pop("in_channels"), ["in_channels is missing"]),
        (lambda a: a["__args__"].update(latent_channels=10**9), ["latent_channels=1000000000", "[2, 4096]"]),
        (lambda a: a["__args__"].update(num_fno_modes=10**6), ["num_fno_modes=1000000"]),
        (lambda a: a["__args__"].update(num_fno_modes=[4]), ["num_fno_modes=[4]", "2 mode counts"]),
        (lambda a: a["__args__"].update(num_fno_modes=4.0), ["num_fno_modes=4.0"]),
        (lambda a: a["__args__"].update(dimension=4), ["dimension=4", "1-, 2- or 3-D"]),
        (lambda a: a["__args__"].update(num_fno_layers=0), ["num_fno_layers=0"]),
        (lambda a: a["__args__"].update(in_channels=True), ["in_channels=True"]),
        (lambda a: a["__args__"].update(padding=-1), ["padding=-1"]),
        (lambda a: a["__args__"].update(padding=[1] * 5), ["padding=[1, 1, 1, 1, ...]"]),
        (lambda a: a["__args__"].update(padding_type="zeros"), ["padding_type='zeros'"]),
        (lambda a: a["__args__"].update(activation_fn="os.system"), ["activation_fn='os.system'"]),
        (lambda a: a["__args__"].update(decoder_activation_fn=[]), ["decoder_activation_fn=[]"]),
        (lambda a: a["__args__"].update(coord_features="yes"), ["coord_features='yes'"]),
        (lambda a: a["__args__"].update(decoder_layers=0), ["decoder_layers=0"]),
        # each argument in range, the whole far beyond: refused before model.pt is read
        (
            lambda a: a["__args__"].update(latent_channels=4096, num_fno_modes=4096, num_fno_layers=256),
            ["parameters", f"over {MAX_PARAMETERS}"],
        ),
        (lambda a: a.update(extra={"__name__": "x"}), ["the entry 'extra'"]),
        (lambda a: a.pop("__args__"), ["no __args__"]),
    ],
)
def test_bad_arguments_are_refused_naming_them(tmp_path, edit, words):
    refused(with_args(tmp_path / "m.mdlus", edit), *words)


@pytest.mark.parametrize(
    "text, words",
    [
        ('{"__name__": "FNO", "__args__": ' + "[" * 1000 + "]" * 1000 + "}", ["deeper than 16"]),
        ('{"a": "' + "x" * 200_000 + '"}', ["args.json declares 200009 bytes, over the 65536"]),
        ('{"__name__": "FNO", "__name__": "FNO"}', ["duplicate key"]),
        ('{"__name__": NaN}', ["NaN is not JSON"]),
        (b'{"\xff": 1}', ["not readable JSON"]),
        ("[1, 2", ["not readable JSON"]),
    ],
)
def test_deep_huge_or_malformed_json_is_refused(tmp_path, text, words):
    members = base_members()
    members["args.json"] = text if isinstance(text, bytes) else text.encode()
    refused(write_zip(tmp_path / "m.mdlus", members), *words)


def test_metadata_json_is_checked(tmp_path):
    members = base_members()
    members["metadata.json"] = b'{"physicsnemo_version": "2.2.2", "mdlus_file_version": "9.9"}'
    refused(write_zip(tmp_path / "a.mdlus", members), "mdlus_file_version '9.9'")
    members["metadata.json"] = b'{"mdlus_file_version": "0.1.0", "git_hash": 7}'
    refused(write_zip(tmp_path / "b.mdlus", members), "git_hash")
    members["metadata.json"] = b"[" * 20 + b"]" * 20
    refused(write_zip(tmp_path / "c.mdlus", members), "metadata.json", "deeper than 16")


@pytest.mark.parametrize(
    "name, words",
    [
        ("../args.json", ["climbs out"]),
        ("a/../../model.pt", ["climbs out"]),
        ("/etc/args.json", ["absolute path"]),
        ("C:\\evil\\x", ["absolute path"]),
        ("ok\x1b[2J", ["control characters"]),
    ],
)
@pytest.mark.parametrize("layout", ["zip", "tar"])
def test_member_names_that_escape_are_refused(tmp_path, name, words, layout):
    members = {**base_members(), name: b"{}"}
    path = tmp_path / "m.mdlus"
    if layout == "zip":
        write_zip(path, members)
    else:
        write_tar(path, [(n, tarfile.REGTYPE, d) for n, d in members.items()])
    refused(path, "refused", *words)


@pytest.mark.parametrize("layout", ["zip", "tar"])
def test_a_missing_extra_or_twice_stored_member_is_refused(tmp_path, layout):
    def write(path, members):
        if layout == "zip":
            return write_zip(path, members)
        return write_tar(path, [(n, tarfile.REGTYPE, d) for n, d in members])

    members = list(base_members().items())
    refused(write(tmp_path / "a.mdlus", [m for m in members if m[0] != "metadata.json"]), "no metadata.json")
    refused(write(tmp_path / "b.mdlus", [*members, ("evil.py", b"import os")]), "extra member 'evil.py'")
    with pytest.warns(UserWarning) if layout == "zip" else _nothing():  # zipfile warns of the duplicate
        path = write(tmp_path / "c.mdlus", [*members, ("args.json", b"{}")])
    refused(path, "'args.json' appears twice")
    refused(write(tmp_path / "d.mdlus", []), "no args.json" if layout == "tar" else "")


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_zip_bombs_are_refused_before_inflating(tmp_path):
    members = base_members()
    # 50 MB of zeros deflate to about 50 KB: over 100-fold
    bomb = write_zip(tmp_path / "a.mdlus", {**members, "model.pt": bytes(50 << 20)}, zipfile.ZIP_DEFLATED)
    refused(bomb, "model.pt would inflate 52428800 bytes", "zip bomb")
    # a header that claims 4 GB for a few bytes of deflate data
    path = write_zip(tmp_path / "b.mdlus", members, zipfile.ZIP_DEFLATED)
    raw = bytearray(path.read_bytes())
    entry = raw.rfind(b"PK\x01\x02", 0, raw.rfind(b"model.pt"))  # model.pt's central directory entry
    raw[entry + 24 : entry + 28] = (0xFFFFFFF0).to_bytes(4, "little")  # its uncompressed size
    path.write_bytes(bytes(raw))
    refused(path, "model.pt would inflate 4294967280 bytes")
    # an honest deflate of the real members reads (PhysicsNeMo stores them; deflate is accepted)
    ckpt = read_checkpoint(write_zip(tmp_path / "c.mdlus", members, zipfile.ZIP_DEFLATED))
    assert ckpt.state_dict.keys() == read_checkpoint(BASE).state_dict.keys()


def test_members_larger_than_the_model_needs_are_refused(tmp_path):
    members = base_members()
    refused(write_zip(tmp_path / "a.mdlus", {**members, "model.pt": bytes(1 << 20)}), "model.pt declares 1048576 bytes")
    members["metadata.json"] = b" " * 70_000 + b"{}"
    refused(write_zip(tmp_path / "b.mdlus", members), "metadata.json declares 70002 bytes, over the 65536")
    members = base_members()
    with zipfile.ZipFile(tmp_path / "c.mdlus", "w") as z:  # bzip2: neither stored nor deflated
        for name, data in members.items():
            z.writestr(name, data, compress_type=zipfile.ZIP_BZIP2 if name == "args.json" else zipfile.ZIP_STORED)
    refused(tmp_path / "c.mdlus", "compression method 12")


class _Payload:
    def __init__(self, target: str):
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


def model_pt(state: dict, protocol: int = 2) -> bytes:
    buffer = io.BytesIO()
    torch.save(state, buffer, pickle_protocol=protocol)
    return buffer.getvalue()


@pytest.mark.parametrize("protocol", [2, 4])
def test_a_pickle_payload_in_model_pt_never_runs(tmp_path, protocol):
    target = tmp_path / "pwned"
    state = dict(read_checkpoint(BASE).state_dict)
    state["decoder_net.final_layer.linear.bias"] = _Payload(str(target))  # a key the reader expects
    members = {**base_members(), "model.pt": model_pt(state, protocol)}
    line = refused(write_zip(tmp_path / "m.mdlus", members), "model.pt", "refused", "nothing was executed")
    assert ("posix.system" in line and "code to run" in line) or "STACK_GLOBAL" in line, line
    assert not target.exists()


def test_a_tuple_bomb_in_model_pt_is_refused_in_bounded_work(tmp_path):
    from hostile_files import dict_with_key, refused_in_child, splice, tuple_bomb

    state = {**read_checkpoint(BASE).state_dict, "extra": "PLACEHOLDER"}
    (tmp_path / "plain.pt").write_bytes(model_pt(state))
    splice(tmp_path / "plain.pt", tmp_path / "bomb.pt", "PLACEHOLDER", dict_with_key(tuple_bomb(60)))
    members = {**base_members(), "model.pt": (tmp_path / "bomb.pt").read_bytes()}
    path = write_zip(tmp_path / "m.mdlus", members)
    setup = "from wno_edge.importers.physicsnemo import read_checkpoint"
    line = refused_in_child(setup, f"read_checkpoint({str(path)!r})")
    assert "more than" in line, line


@pytest.mark.parametrize(
    "edit, words",
    [
        (lambda s: s.pop("spec_encoder.conv_layers.1.bias"), ["has no spec_encoder.conv_layers.1.bias"]),
        (lambda s: s.update(evil=torch.zeros(1)), ["holds 'evil', which the FNO"]),
        (lambda s: s.update({"spec_encoder.conv_layers.1.bias": torch.zeros(9)}), ["has shape (9,)", "needs (8,)"]),
        (
            lambda s: s.update({"spec_encoder.conv_layers.1.bias": torch.zeros(8, dtype=torch.int32)}),
            ["torch.IntStorage"],
        ),
        (lambda s: s.update({"spec_encoder.conv_layers.1.bias": torch.full((8,), float("nan"))}), ["NaN"]),
        (lambda s: s.update({"spec_encoder.conv_layers.1.bias": [1.0] * 8}), ["not a dense tensor"]),
    ],
)
def test_a_state_dict_that_is_not_the_described_fno_is_refused(tmp_path, edit, words):
    state = dict(read_checkpoint(BASE).state_dict)
    edit(state)
    members = {**base_members(), "model.pt": model_pt(state)}
    refused(write_zip(tmp_path / "m.mdlus", members), *words)


def test_model_pt_must_be_a_stored_torch_archive(tmp_path):
    members = base_members()
    with zipfile.ZipFile(io.BytesIO(members["model.pt"])) as inner:
        records = {name: inner.read(name) for name in inner.namelist()}
    deflated = io.BytesIO()
    write_zip(deflated, records, zipfile.ZIP_DEFLATED)
    refused(write_zip(tmp_path / "a.mdlus", {**members, "model.pt": deflated.getvalue()}), "is compressed")
    refused(write_zip(tmp_path / "b.mdlus", {**members, "model.pt": b"not a zip"}), "not a torch.save file")


def write_tar(path: Path, entries, mode: str = "w") -> Path:
    """entries: (name, tar type, data or link target)."""
    with tarfile.open(path, mode) as tar:
        for name, kind, data in entries:
            info = tarfile.TarInfo(name)
            info.type = kind
            if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE):
                info.linkname = data.decode()
                tar.addfile(info)
            elif kind == tarfile.REGTYPE:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    return path


@pytest.mark.parametrize(
    "kind, words",
    [
        (tarfile.SYMTYPE, "a symbolic link"),
        (tarfile.LNKTYPE, "a hard link"),
        (tarfile.CHRTYPE, "a character device"),
        (tarfile.BLKTYPE, "a block device"),
        (tarfile.FIFOTYPE, "a FIFO"),
        (tarfile.DIRTYPE, "a directory"),
    ],
)
def test_a_tar_with_links_or_devices_is_refused(tmp_path, kind, words):
    members = base_members()
    entries = [
        ("args.json", tarfile.REGTYPE, members["args.json"]),
        ("metadata.json", tarfile.REGTYPE, members["metadata.json"]),
    ]
    entries.append(("model.pt", kind, b"/etc/passwd"))
    refused(write_tar(tmp_path / "m.mdlus", entries), f"the member 'model.pt' is {words}, not a file")


def test_a_compressed_tar_is_refused(tmp_path):
    entries = [(n, tarfile.REGTYPE, d) for n, d in base_members().items()]
    refused(write_tar(tmp_path / "m.mdlus", entries, "w:gz"), "compressed tar")


def test_the_tar_and_zip_forms_of_one_model_read_the_same(tmp_path):
    entries = [(n, tarfile.REGTYPE, d) for n, d in base_members().items()]
    tar, zipped = read_checkpoint(write_tar(tmp_path / "m.mdlus", entries)), read_checkpoint(BASE)
    assert tar.layout == "tar" and zipped.layout == "zip" and tar.args == zipped.args
    assert all(torch.equal(tar.state_dict[k], v) for k, v in zipped.state_dict.items())


def test_not_a_checkpoint_is_one_line(tmp_path):
    refused(tmp_path / "absent.mdlus", "no such file")
    refused(tmp_path, "is a directory")
    (tmp_path / "empty.mdlus").write_bytes(b"")
    refused(tmp_path / "empty.mdlus", "neither a zip nor a tar")
    cut = tmp_path / "cut.mdlus"
    cut.write_bytes(BASE.read_bytes()[:-100])
    refused(cut, str(cut))
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "fifo.mdlus")
        refused(tmp_path / "fifo.mdlus", "FIFO")


def test_every_corner_and_axis_is_its_own_tensor():
    """state_dict_shapes: 2 ** (d - 1) spectral corners per layer, d coordinate channels."""
    ckpt = read_checkpoint(BASE)
    for d, corners in zip((1, 2, 3), (1, 2, 4), strict=True):
        args = ckpt.args.__class__(**{**ckpt.args.__dict__, "dimension": d, "modes": (3,) * d, "padding": (0,) * d})
        shapes = state_dict_shapes(args)
        spectral = [k for k in shapes if k.startswith("spec_encoder.spconv_layers.0.")]
        assert len(spectral) == corners and all(shapes[k] == (8, 8, *(3,) * d, 2) for k in spectral)
        assert shapes["spec_encoder.lift_network.0.conv.weight"] == (4, 2 + d, *(1,) * d)
    assert not list(itertools.islice((k for k in shapes if "activation_fn" in k), 1))  # GELU holds no tensors


# ---- mutated files: a checkpoint or a one-line refusal, never another exception -----------------
@pytest.mark.filterwarnings("ignore::UserWarning")
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    layout=st.sampled_from(["zip", "tar", "args.json", "metadata.json", "model.pt"]),
    edits=st.lists(
        st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255), st.sampled_from("xdi")), max_size=4
    ),
    cut=st.one_of(st.none(), st.floats(0, 1)),
)
def test_mutated_archives_read_or_are_refused_in_one_line(tmp_path, layout, edits, cut):
    """The archive's bytes edited, or one member's (then stored in a fresh zip: its CRC fits)."""
    members = base_members()
    if layout in members:
        raw = bytearray(members[layout])
    else:
        raw = bytearray((BASE if layout == "zip" else FIXTURES / "fno2d_legacy_tar.mdlus").read_bytes())
    for where, byte, how in edits:  # x: overwrite, d: delete, i: insert
        at = int(where * len(raw))
        if how == "x":
            raw[at] = byte
        elif how == "d":
            del raw[at]
        else:
            raw.insert(at, byte)
    if cut is not None:
        raw = raw[: int(cut * len(raw))]
    path = tmp_path / "m.mdlus"
    if layout in members:
        write_zip(path, {**members, layout: bytes(raw)})
    else:
        path.write_bytes(bytes(raw))
    try:
        ckpt = read_checkpoint(path)
    except PhysicsNemoImportError as e:
        assert "\n" not in str(e) and len(str(e)) < 400, str(e)[:1000]
    else:
        assert ckpt.state_dict.keys() == state_dict_shapes(ckpt.args).keys()
