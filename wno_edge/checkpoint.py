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
from pathlib import Path

import torch

from .contract import CHECKPOINT_FORMAT as FORMAT
from .contract import CHECKPOINT_VERSION as FORMAT_VERSION
from .contract import WNOConfig
from .errors import WNOEdgeError
from .model import WNO2d, check_state_dict
from .util.io import atomic_path


class CheckpointError(WNOEdgeError):
    pass


def _check_metadata(value, where="metadata"):
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise CheckpointError(f"{where} keys must be strings, got {k!r}")
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
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else "unpickling refused"
        raise CheckpointError(f"{path}: refused to load (the file holds more than plain data: {first[:160]})") from None
    except Exception as e:  # arbitrary bytes make the unpickler fail in arbitrary ways
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{path}: not a readable checkpoint (truncated or corrupt?): {msg[:160]}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a wno-edge checkpoint (no format={FORMAT!r} marker)")
    version = payload.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise CheckpointError(f"{path}: checkpoint format_version must be an integer, got {version!r}")
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
