"""Checkpoints: a plain ``state_dict`` payload (loaded with ``weights_only=True``) plus a JSON
metadata record beside it that carries the payload's SHA-256, so a truncated or altered file is
refused with a clear message instead of being half-loaded."""
from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import torch

from ..files import atomic_write_bytes, atomic_write_json, sha256_file
from ..validation import AadError


def meta_path(path: str | Path) -> Path:
    """``model.pt`` -> ``model.json``."""
    return Path(path).with_suffix(".json")


def save(path: str | Path, payload: dict[str, Any], meta: dict[str, Any]) -> Path:
    """Write ``payload`` (tensors, numbers, strings, nested dicts/lists) and ``meta`` atomically;
    the metadata is written last, so a checkpoint without valid metadata is never trusted."""
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    path = atomic_write_bytes(path, buffer.getvalue())
    atomic_write_json(meta_path(path), {**meta, "sha256": sha256_file(path), "bytes": path.stat().st_size})
    return path


def read_meta(path: str | Path) -> dict[str, Any]:
    """The metadata record of checkpoint ``path`` (raises if absent or unreadable)."""
    mpath = meta_path(path)
    try:
        return json.loads(mpath.read_text())
    except FileNotFoundError as err:
        raise AadError(f"checkpoint {path} has no metadata file {mpath.name}; it was not written by "
                       "aad_lib or its write was interrupted. Retrain or restore it.") from err
    except json.JSONDecodeError as err:
        raise AadError(f"metadata {mpath} is not valid JSON ({err}); the checkpoint cannot be trusted.") from err


def load(path: str | Path, map_location: str | torch.device = "cpu") -> tuple[dict[str, Any], dict[str, Any]]:
    """Verify the checksum, then ``torch.load(..., weights_only=True)``. Returns (payload, meta)."""
    path = Path(path)
    if not path.exists():
        raise AadError(f"checkpoint {path} does not exist; train it first (`aad train` or `dvc repro`).")
    meta = read_meta(path)
    actual = sha256_file(path)
    if actual != meta.get("sha256"):
        raise AadError(f"checkpoint {path} is corrupt or was modified: SHA-256 {actual[:12]}... does not "
                       f"match its metadata ({str(meta.get('sha256'))[:12]}...; {path.stat().st_size} bytes "
                       f"on disk, {meta.get('bytes')} recorded). Delete it and retrain.")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unpickling failure means the same thing here
        raise AadError(f"checkpoint {path} could not be loaded with weights_only=True: {err}") from err
    return payload, meta
