"""Hostile files for the loader tests (test_checkpoint, test_neuralop, test_config_grammar,
test_loader_fuzz): torch.save files with pickles a Pickler would never write (100000 nested
lists, a tuple shared into 2**60 items used as a dict key) spliced into a real file's data.pkl;
an .onnx file holding nothing but a config text; and a child process with a memory limit and a
hang timeout, in which a loader that does unbounded work fails the test instead of the run."""

from __future__ import annotations

import resource
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

MEMORY_LIMIT = 3 << 30  # address space of the child: torch needs about 0.7 GiB
HANG_TIMEOUT = 120  # seconds; a bounded refusal takes well under one


def placeholder(text: str) -> bytes:
    """The protocol-2 opcode torch.save writes for the str `text` (BINUNICODE)."""
    raw = text.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw


def splice(src: Path, dst: Path, text: str, ops: bytes) -> Path:
    """`src` (a torch.save zip) with the pickled str `text` in its data.pkl replaced by `ops`
    (pickle opcodes that push one value), written as `dst`."""
    with zipfile.ZipFile(src) as z:
        members = [(info.filename, z.read(info.filename)) for info in z.infolist()]
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as z:
        for name, data in members:
            if name.endswith("/data.pkl"):
                assert data.count(placeholder(text)) == 1, name
                data = data.replace(placeholder(text), ops)
            z.writestr(name, data)
    return dst


def deep_list(depth: int) -> bytes:
    """Opcodes for [[[...]]] `depth` lists deep (EMPTY_LIST x depth, then APPEND x depth-1)."""
    return b"]" * depth + b"a" * (depth - 1)


def tuple_bomb(levels: int, base: int = 10**6) -> bytes:
    """Opcodes for t = (t, t) `levels` times over from (1,): 2**levels items through shared
    references, in 10 * levels bytes (memo slots from `base`, clear of torch's own)."""
    ops = b"K\x01\x85r" + struct.pack("<I", base)  # BININT1 1, TUPLE1, LONG_BINPUT
    for i in range(levels):  # LONG_BINGET, TUPLE2 (of the copy on the stack and the memo's), LONG_BINPUT
        ops += b"j" + struct.pack("<I", base + i) + b"\x86r" + struct.pack("<I", base + i + 1)
    return ops


def dict_with_key(key_ops: bytes) -> bytes:
    """Opcodes for {KEY: 1}: SETITEM hashes the key while unpickling."""
    return b"}" + key_ops + b"K\x01s"


def list_bomb(levels: int) -> list:
    """x = [x, x] `levels` times over: torch.save writes it in a few hundred bytes."""
    x: list = []
    for _ in range(levels):
        x = [x, x]
    return x


def wide_bomb(levels: int, width: int = 8) -> list:
    """x = [x] * width, `levels` deep: width**levels items, within any depth limit above `levels`."""
    x: list = []
    for _ in range(levels):
        x = [x] * width
    return x


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def run_bounded(code: str, timeout: float = HANG_TIMEOUT) -> subprocess.CompletedProcess:
    """Python `code` in a child with MEMORY_LIMIT of address space; a hang fails the test."""
    try:
        return subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            timeout=timeout,
            preexec_fn=_limit_memory,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise AssertionError(f"still running after {timeout} s (unbounded work): {code[:300]}") from None


def refused_in_child(setup: str, call: str) -> str:
    """Runs `call` after `setup` (imports) in a bounded child (run_bounded): it must raise a
    WNOEdgeError, whose message is one bounded line; returns that line."""
    run = run_bounded(
        f"{setup}\nfrom wno_edge.errors import WNOEdgeError\n"
        f"try: {call}\nexcept WNOEdgeError as e: print('refused:', e)\nelse: print('accepted')\n"
    )
    assert run.returncode == 0 and run.stdout.startswith("refused:"), run.stdout + run.stderr[-2000:]
    line = run.stdout.strip()
    assert len(line.splitlines()) == 1 and len(line) < 500, line[:1000]
    return line


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def onnx_with_config(path: Path, value: bytes) -> Path:
    """A file whose only ModelProto field is metadata_props (14) {key: wno_edge.config, value}:
    all read_config reads."""
    key = b"wno_edge.config"
    entry = b"\x0a" + _varint(len(key)) + key + b"\x12" + _varint(len(value)) + value
    path.write_bytes(b"\x72" + _varint(len(entry)) + entry)
    return path
