"""Atomic writes: a results file is either the old one or the complete new one, never half."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path


def write_atomic(path, data: str | bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = "wb" if isinstance(data, bytes) else "w"
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def write_json(path, obj) -> Path:
    return write_atomic(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def write_frame(path_stem, frame) -> tuple[Path, Path]:
    """A pandas table as ``<stem>.csv`` and ``<stem>.json`` (records), both atomically."""
    stem = Path(path_stem)
    csv = write_atomic(stem.with_suffix(".csv"), frame.to_csv(index=False))
    js = write_atomic(stem.with_suffix(".json"), frame.to_json(orient="records", indent=2) + "\n")
    return csv, js
