"""The wno-edge checkpoint: one self-describing file per model.

Layout (a plain dict, loadable with torch.load(..., weights_only=True)):
    format          "wno-edge-checkpoint"
    format_version  int, bumped on incompatible change
    config          WNOConfig as a dict
    state_dict      parameters and buffers (normalisation statistics included)
    metadata        free-form dict of str/int/float/bool/None/list/dict/tensor values
"""

from __future__ import annotations

import os
import pickle
import pickletools
import re
import zipfile
from pathlib import Path

import torch

from .contract import CHECKPOINT_FORMAT as FORMAT
from .contract import CHECKPOINT_VERSION as FORMAT_VERSION
from .contract import MAX_PICKLE_BYTES, MAX_PICKLE_DEPTH, MAX_PICKLE_NODES, WNOConfig
from .errors import WNOEdgeError, not_a_file, one_line, preview
from .model import WNO2d, check_state_dict
from .util.io import atomic_path


class CheckpointError(WNOEdgeError):
    pass


_BROKEN = "not a valid checkpoint: truncated or corrupt"  # a file cut short or damaged, in plain words


def check_bounded(value: object, where: str, error: type[WNOEdgeError] = WNOEdgeError) -> None:
    """Refuse (`error`, one line) a value unpickled from a file that is nested deeper than
    MAX_PICKLE_DEPTH or holds more than MAX_PICKLE_NODES values, before anything walks it.
    Every reference counts at each place it is reached: a 300-byte pickle can share references
    into a 2**60-item tree, which any plain walk (==, repr, a recursive check) would never finish.
    An explicit stack, so no RecursionError either; leaves (tensors, strings, numbers) are not
    looked into."""
    nodes = 1
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        v, depth = stack.pop()
        if not isinstance(v, (dict, list, tuple, set, frozenset)):
            continue
        if depth > MAX_PICKLE_DEPTH:
            raise error(f"{where}: nested deeper than {MAX_PICKLE_DEPTH} levels: not plain data this reads")
        nodes += 2 * len(v) if isinstance(v, dict) else len(v)
        if nodes > MAX_PICKLE_NODES:  # counted before they are pushed: the stack stays bounded too
            raise error(
                f"{where}: holds more than {MAX_PICKLE_NODES} values (shared references counted at each "
                "use): not plain data this reads"
            )
        if isinstance(v, dict):
            for k, x in dict.items(v):
                stack.append((k, depth + 1))
                stack.append((x, depth + 1))
        else:
            stack.extend((x, depth + 1) for x in v)


def _data_pkl(path: Path) -> bytes:
    """The pickle of a torch.save zip archive (its one .../data.pkl member)."""
    try:
        with zipfile.ZipFile(path) as z:
            members = [i for i in z.infolist() if i.filename == "data.pkl" or i.filename.endswith("/data.pkl")]
            if len(members) != 1:
                raise CheckpointError(f"{path}: not a valid checkpoint (no single data.pkl in its zip archive)")
            if members[0].file_size > MAX_PICKLE_BYTES:
                raise CheckpointError(f"{path}: not a valid checkpoint (its data.pkl is over {MAX_PICKLE_BYTES} bytes)")
            return z.read(members[0])
    except CheckpointError:
        raise
    except Exception as e:  # BadZipFile, zlib.error, EOFError, NotImplementedError (compression), OSError
        raise CheckpointError(f"{path}: {_BROKEN} (its zip archive cannot be read: {one_line(str(e), 80)})") from None


def scan_pickle(data: bytes, where: str, error: type[WNOEdgeError] = WNOEdgeError) -> None:
    """Refuse (`error`, one line) a pickle that builds a tuple too costly to hash, before any
    unpickler runs it. Hashing a tuple hashes its items each time (no cache), so a 300-byte
    pickle of t = (t, t) sixty times over, used as a dict key, hangs torch's weights-only unpickler
    itself, before check_bounded could see the result. The scan follows the pickle machine's stack
    (pickletools' stack effects) and the memo, costing each tuple 1 + its items (anything else 1:
    strings cache their hash, lists and dicts are unhashable); nothing is built or run. A pickle
    the scan cannot follow is left to the unpickler, which refuses it with its own message."""
    mark = -1
    stack: list[int] = []
    memo: dict[object, int] = {}
    try:
        for op, arg, _ in pickletools.genops(data):
            name = op.name
            if name in ("PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"):
                memo[len(memo) if name == "MEMOIZE" else arg] = stack[-1]
            elif name in ("GET", "BINGET", "LONG_BINGET"):
                stack.append(memo.get(arg, 1))
            elif name in ("MARK", "DUP"):
                stack.append(mark if name == "MARK" else stack[-1])
            else:
                popped = []
                if pickletools.markobject in op.stack_before:  # items to the mark, the mark, what is under it
                    while stack[-1] != mark:
                        popped.append(stack.pop())
                    del stack[len(stack) - 1 - op.stack_before.index(pickletools.markobject) :]
                else:
                    popped = [stack.pop() for _ in op.stack_before]
                if name.startswith("TUPLE"):
                    cost = 1 + sum(popped)
                    if cost > MAX_PICKLE_NODES:
                        raise error(
                            f"{where}: refused: the pickle builds a tuple of more than {MAX_PICKLE_NODES} values "
                            "(shared references counted at each use), not plain data (nothing was executed)"
                        )
                    stack.append(cost)
                else:
                    stack.extend(1 for _ in op.stack_after)
    except WNOEdgeError:
        raise
    except Exception:  # truncated, unknown opcodes, stack underflow: the unpickler's to refuse
        return


def _refusal(path: Path, exc: pickle.UnpicklingError) -> CheckpointError:
    """torch's weights-only refusal as one sentence, naming the refused global when there is one."""
    message = str(exc)
    found = re.search(r"GLOBAL (\S+)", message)
    if found:
        name = one_line(found.group(1).rstrip(".,;:"), 100)
        return CheckpointError(
            f"{path}: refused to load: the file asks for the Python global {name}, which a wno-edge "
            "checkpoint never holds (nothing was executed)"
        )
    inner = message.split("WeightsUnpickler error:", 1)[-1].split("Check the documentation of torch.load")[0]
    inner = inner.strip().split("\n\n")[-1]  # torch's own advice comes first, the cause last
    if "Unsupported operand" in inner:
        return CheckpointError(f"{path}: {_BROKEN} (its pickle has an unknown opcode)")
    why = one_line(inner) or "no reason given"
    return CheckpointError(f"{path}: refused to load: the file holds more than plain data or is corrupt ({why})")


def _unreadable(path: Path, exc: BaseException) -> CheckpointError:
    """Any other failure of torch.load: a truncated or corrupt file, in plain words."""
    if isinstance(exc, EOFError):
        why = "it ends early"
    elif isinstance(exc, OSError):  # torch's zip reader seeking past the end: [Errno 22]
        why = "its zip archive cannot be read"
    else:
        why = one_line(str(exc).split(". ")[0].removeprefix("PytorchStreamReader ")) or type(exc).__name__
    return CheckpointError(f"{path}: {_BROKEN} ({why})")


def _load_payload(path: Path):
    """torch.load(weights_only=True) of a regular file, every failure one line."""
    problem = not_a_file(path)  # before open(): a FIFO would block, a directory is not "missing"
    if problem is not None:
        raise CheckpointError(str(problem))
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError as e:
        raise CheckpointError(f"{path}: cannot be read ({e.strerror or type(e).__name__})") from None
    if not head:
        raise CheckpointError(f"{path}: is empty, not a checkpoint")
    if not zipfile.is_zipfile(path):  # torch's own reader says "[Errno 22] Invalid argument" to a cut one
        if head.startswith(b"PK") or b"PK\x03\x04".startswith(head):
            raise CheckpointError(f"{path}: {_BROKEN} (its zip archive is incomplete)")
        raise CheckpointError(f"{path}: not a wno-edge checkpoint (not the zip archive torch.save writes)")
    scan_pickle(_data_pkl(path), str(path), CheckpointError)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise _refusal(path, e) from None
    except Exception as e:  # arbitrary bytes make the unpickler fail in arbitrary ways
        raise _unreadable(path, e) from None


def _check_metadata(value, where="metadata"):
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise CheckpointError(f"{where} keys must be strings, got {preview(k)}")
            _check_metadata(v, f"{where}.{k}")
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _check_metadata(v, f"{where}[{i}]")
    elif not (value is None or isinstance(value, (str, int, float, bool, torch.Tensor))):
        raise CheckpointError(f"{where} has a {type(value).__name__}; only plain data can be stored")


def save_model(model: WNO2d, path: str | os.PathLike, metadata: dict | None = None) -> Path:
    """Write `model` to `path` atomically; returns the path."""
    metadata = dict(metadata or {})
    _check_metadata(metadata)
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": model.config.to_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "metadata": metadata,
    }
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path


def read_checkpoint(path: str | os.PathLike) -> dict:
    """The validated checkpoint dict; never executes code from the file."""
    path = Path(path)
    payload = _load_payload(path)
    check_bounded(payload, str(path), CheckpointError)  # before anything compares, prints or walks it
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a wno-edge checkpoint (no format={FORMAT!r} marker)")
    version = payload.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise CheckpointError(f"{path}: checkpoint format_version must be an integer, got {preview(version)}")
    if version < 1:
        raise CheckpointError(f"{path}: checkpoint format_version must be >= 1, got {version}")
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format version {version} is newer than this wno-edge reads "
            f"({FORMAT_VERSION}); upgrade wno-edge"
        )
    for key in ("config", "state_dict"):
        if not isinstance(payload.get(key), dict):
            raise CheckpointError(f"{path}: checkpoint has no {key}")
    payload.setdefault("metadata", {})
    if not isinstance(payload["metadata"], dict):
        raise CheckpointError(
            f"{path}: checkpoint metadata must be a mapping, got {type(payload['metadata']).__name__}"
        )
    return payload


def read_config(path: str | os.PathLike, payload: dict | None = None) -> WNOConfig:
    """The checkpoint's validated WNOConfig, checked against its weights' names and shapes:
    nothing is allocated for a config the stored tensors do not back."""
    payload = read_checkpoint(path) if payload is None else payload
    try:
        config = WNOConfig.from_dict(payload["config"])
        check_state_dict(config, payload["state_dict"])
    except CheckpointError:
        raise
    except WNOEdgeError as e:
        raise CheckpointError(f"{path}: {e}") from None
    return config


def load_model(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> WNO2d:
    """Rebuild the model from a checkpoint, in eval mode; `model.metadata` holds the metadata."""
    payload = read_checkpoint(path)
    model = WNO2d(read_config(path, payload))
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as e:  # not expected after read_config's check
        raise CheckpointError(f"{path}: weights do not match the stored config: {str(e).splitlines()[0]}") from None
    model.metadata = payload["metadata"]
    return model.to(map_location).eval()
