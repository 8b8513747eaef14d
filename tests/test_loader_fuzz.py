"""The Python loaders under mutated input (hypothesis): a checkpoint (checkpoint.load_model), a
neuraloperator file (importers.neuralop.from_neuralop) and an export's config text
(runtime.onnx_metadata.read_config). Mutations: bytes and pickle opcodes inside the zip's
data.pkl (among them payloads whose GLOBAL would create a marker file), zip members dropped,
duplicated, renamed or cut, the archive's own bytes; the config JSON text edited, nested, made
invalid UTF-8. Every load must succeed or raise a one-line WNOEdgeError: never another exception,
never a payload run, never unbounded work. The loads run in one worker process with a memory
limit (RLIMIT_AS) and a generous timeout per load. A few dozen examples each by default; the
heavy tier runs thousands."""

from __future__ import annotations

import json
import selectors
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch
from hostile_files import HANG_TIMEOUT, _limit_memory, onnx_with_config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wno_edge.checkpoint import save_model
from wno_edge.model import WNO2d, WNOConfig

pytestmark = pytest.mark.filterwarnings("ignore:Duplicate name:UserWarning")  # the "duplicate" edit

WORKER = r"""
import json, os, sys, traceback, warnings
warnings.simplefilter("ignore")
from wno_edge.checkpoint import load_model
from wno_edge.errors import WNOEdgeError
from wno_edge.importers.neuralop import from_neuralop
from wno_edge.runtime.onnx_metadata import read_config
marker = sys.argv[1]
loaders = {"checkpoint": load_model, "neuralop": from_neuralop, "config": read_config}
print("ready", flush=True)
for line in sys.stdin:
    kind, path = line.rstrip("\n").split("\t")
    try:
        loaders[kind](path)
        out = {"result": "ok"}
    except WNOEdgeError as e:
        out = {"result": "refused", "message": str(e)}
    except BaseException as e:  # MemoryError under the limit included: a bug either way
        out = {"result": "bug", "type": type(e).__name__, "traceback": traceback.format_exc()[-3000:]}
    out["marker"] = os.path.exists(marker)
    print(json.dumps(out), flush=True)
"""


class Worker:
    """The loaders in one child process (RLIMIT_AS): one request, one JSON line back."""

    def __init__(self, marker: Path, log: Path):
        self.log = log.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", WORKER, str(marker)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            preexec_fn=_limit_memory,
        )
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.proc.stdout, selectors.EVENT_READ)
        assert self._line() == "ready"

    def _line(self) -> str:
        if not self.selector.select(HANG_TIMEOUT):
            self.proc.kill()
            raise AssertionError(f"a load still ran after {HANG_TIMEOUT} s: unbounded work")
        line = self.proc.stdout.readline()
        assert line, f"the worker died (status {self.proc.poll()}): see {self.log.name}"
        return line.strip()

    def load(self, kind: str, path: Path) -> dict:
        self.proc.stdin.write(f"{kind}\t{path}\n")
        self.proc.stdin.flush()
        return json.loads(self._line())

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)
        self.log.close()


class Files(dict):
    """The fixture's files and worker; a short repr in hypothesis' failure reports."""

    def __repr__(self) -> str:
        return "<fuzz files>"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The intact files, a marker path no payload may create, and the worker."""
    root = tmp_path_factory.mktemp("fuzz")
    torch.manual_seed(0)
    model = WNO2d(WNOConfig(1, 2, width=4, modes=(2, 2), n_layers=1, resolution=(8, 8)))
    save_model(model, root / "model.pt", {"task": "darcy", "history": [[1, 0.5, 0.4]], "sample_inputs": torch.ones(1)})
    try:  # a real neuraloperator file (its _metadata pickles two globals) when neuraloperator is here
        from neuralop.models import FNO

        torch.save(
            FNO(n_modes=(4, 4), in_channels=1, out_channels=1, hidden_channels=4, n_layers=1).state_dict(),
            root / "fno.pt",
        )
    except ImportError:
        meta = {"_name": "FNO", "n_modes": (4, 4), "hidden_channels": 4, "in_channels": 1}
        torch.save({"lifting.fcs.0.weight": torch.ones(4, 3, 1), "_metadata": meta}, root / "fno.pt")
    config = WNOConfig(
        3, 1, width=8, block="neuralop", channel_mlp_width=4, domain_padding=0, domain_padding_fraction=(0.125, 0.25)
    )
    marker = root / "pwned"
    worker = Worker(marker, root / "worker.log")
    yield Files(
        root=root,
        checkpoint=(root / "model.pt").read_bytes(),
        neuralop=(root / "fno.pt").read_bytes(),
        config=json.dumps(config.to_dict()).encode(),
        marker=marker,
        worker=worker,
    )
    worker.close()
    assert not marker.exists()


def _unicode(text: str) -> bytes:
    raw = text.encode()
    return b"X" + len(raw).to_bytes(4, "little") + raw  # BINUNICODE


def payloads(marker: Path) -> list[bytes]:
    """Opcodes that would create `marker` if an unpickler resolved their global and called it."""
    arg = _unicode(f"touch {marker}")
    return [
        b"cos\nsystem\n" + arg + b"\x85R",  # GLOBAL, TUPLE1, REDUCE
        b"cposix\nsystem\n(" + arg + b"tR",  # GLOBAL, MARK ... TUPLE, REDUCE
        b"\x8c\x02os\x8c\x06system\x93" + arg + b"\x85R",  # SHORT_BINUNICODE x2, STACK_GLOBAL
        b"(" + arg + b"ios\nsystem\n",  # INST
        b"(cos\nsystem\n" + arg + b"o",  # OBJ
        b"cbuiltins\nexec\n" + _unicode(f"open({str(marker)!r}, 'w')") + b"\x85R",
        b"ctorch.serialization\nload\n" + arg + b"\x85R",  # an allowed module, a refused function
    ]


OPCODE_BYTES = b"()]}aseltRcbhjqr0KMJXUNV.\x80\x85\x86\x87\x88\x89\x8c\x93\x94\x95\x8a\x8b"


@st.composite
def pickle_edits(draw) -> list[tuple[str, float, bytes]]:
    """Edits at fractional positions: (kind, where in 0..1, bytes)."""
    edit = st.tuples(
        st.sampled_from(["flip", "insert", "opcodes", "payload", "delete", "cut"]),
        st.floats(0, 1),
        st.binary(min_size=1, max_size=8),
    )
    return draw(st.lists(edit, min_size=1, max_size=4))


def apply_edits(data: bytes, edits, marker: Path) -> bytes:
    b = bytearray(data)
    for kind, where, extra in edits:
        at = min(int(where * len(b)), len(b))
        if kind == "flip" and at < len(b):
            b[at] ^= extra[0] or 1
        elif kind == "insert":
            b[at:at] = extra
        elif kind == "opcodes":
            b[at:at] = bytes(OPCODE_BYTES[x % len(OPCODE_BYTES)] for x in extra)
        elif kind == "payload":
            b[at:at] = payloads(marker)[extra[0] % len(payloads(marker))]
        elif kind == "delete":
            del b[at : at + 1 + extra[0] % 16]
        elif kind == "cut":
            del b[at:]
    return bytes(b)


ZIP_EDITS = st.sampled_from(["none", "drop", "duplicate", "rename", "empty-pkl", "cut-archive", "flip-archive"])


def mutated_archive(original: bytes, edits, zip_edit: str, where: float, marker: Path, path: Path) -> Path:
    """`original` (a torch.save zip) with its data.pkl edited, then one archive-level edit."""
    src = path.with_suffix(".orig")
    src.write_bytes(original)
    with zipfile.ZipFile(src) as z:
        members = [(i.filename, z.read(i.filename)) for i in z.infolist()]
    members = [(n, apply_edits(d, edits, marker) if n.endswith("/data.pkl") else d) for n, d in members]
    pick = min(int(where * len(members)), len(members) - 1)
    if zip_edit == "drop":
        del members[pick]
    elif zip_edit == "duplicate":
        members.append(members[pick])
    elif zip_edit == "rename":
        members[pick] = ("other/" + members[pick][0].split("/", 1)[-1], members[pick][1])
    elif zip_edit == "empty-pkl":
        members = [(n, b"" if n.endswith("data.pkl") else d) for n, d in members]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        for name, data in members:
            z.writestr(name, data)
    raw = bytearray(path.read_bytes())
    if zip_edit == "cut-archive":
        del raw[int(where * len(raw)) :]
    elif zip_edit == "flip-archive" and raw:
        raw[min(int(where * len(raw)), len(raw) - 1)] ^= 0x5A
    path.write_bytes(bytes(raw))
    return path


def check(outcome: dict) -> None:
    assert outcome["result"] != "bug", outcome.get("traceback")
    assert not outcome["marker"], "a payload ran"
    if outcome["result"] == "refused":
        message = outcome["message"]
        assert message and "\n" not in message and "\r" not in message and len(message) < 600, message[:2000]


def fuzz_archive(files, kind: str, edits, zip_edit: str, where: float) -> None:
    path = mutated_archive(files[kind], edits, zip_edit, where, files["marker"], files["root"] / f"{kind}.mut.pt")
    check(files["worker"].load(kind, path))


CONFIG_CHARS = st.sampled_from(list('[]{}",:0123456789-+.eE \\utfnlrNaIy') + ["\\u", "\\ud800", "é", "\x00", "\n"])


@st.composite
def config_texts(draw, base: bytes) -> bytes:
    """The config JSON with a few edits, now and then deep brackets or invalid UTF-8."""
    text = base.decode()
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        kind = draw(st.sampled_from(["insert", "delete", "replace", "nest"]))
        if kind == "insert":
            text = text[:at] + "".join(draw(st.lists(CONFIG_CHARS, min_size=1, max_size=6))) + text[at:]
        elif kind == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 8)) :]
        elif kind == "replace" and at < len(text):
            text = text[:at] + draw(CONFIG_CHARS) + text[at + 1 :]
        elif kind == "nest":
            n = draw(st.sampled_from([15, 16, 17, 1000, 30_000, 100_000]))
            text = text[:at] + "[" * n + "]" * draw(st.sampled_from([0, n])) + text[at:]
    raw = text.encode("utf-8", "surrogatepass")
    if draw(st.booleans()) and draw(st.booleans()):  # one in four: a stray byte (invalid UTF-8 mostly)
        at = draw(st.integers(0, len(raw)))
        raw = raw[:at] + bytes([draw(st.integers(0x80, 0xFF))]) + raw[at:]
    return raw


FAST = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LONG = settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(edits=pickle_edits(), zip_edit=ZIP_EDITS, where=st.floats(0, 1))
def test_mutated_checkpoints(files, edits, zip_edit, where):
    fuzz_archive(files, "checkpoint", edits, zip_edit, where)


@FAST
@given(edits=pickle_edits(), zip_edit=ZIP_EDITS, where=st.floats(0, 1))
def test_mutated_neuralop_files(files, edits, zip_edit, where):
    fuzz_archive(files, "neuralop", edits, zip_edit, where)


@FAST
@given(data=st.data())
def test_mutated_config_texts(files, data):
    text = data.draw(config_texts(files["config"]))
    check(files["worker"].load("config", onnx_with_config(files["root"] / "config.onnx", text)))


@pytest.mark.heavy
@LONG
@given(edits=pickle_edits(), zip_edit=ZIP_EDITS, where=st.floats(0, 1))
def test_mutated_checkpoints_long(files, edits, zip_edit, where):
    fuzz_archive(files, "checkpoint", edits, zip_edit, where)


@pytest.mark.heavy
@LONG
@given(edits=pickle_edits(), zip_edit=ZIP_EDITS, where=st.floats(0, 1))
def test_mutated_neuralop_files_long(files, edits, zip_edit, where):
    fuzz_archive(files, "neuralop", edits, zip_edit, where)


@pytest.mark.heavy
@LONG
@given(data=st.data())
def test_mutated_config_texts_long(files, data):
    text = data.draw(config_texts(files["config"]))
    check(files["worker"].load("config", onnx_with_config(files["root"] / "config.onnx", text)))


def test_the_payloads_would_run(tmp_path):
    """The payload opcodes are live: a plain pickle.loads of the first one creates the marker (so a
    fuzz run that never sees the marker means the loaders refused them, not that they were inert)."""
    import pickle

    marker = tmp_path / "ran"
    for i, ops in enumerate(payloads(marker)[:-1]):  # the last one would load a file, not create one
        pickle.loads(b"\x80\x02" + ops + b".")
        assert marker.exists(), i
        marker.unlink()
