"""Atomic writes: a results file is either the old one or the complete new one, never half."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path, data: str | bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder, renamed over
    it only once complete; the file gets the usual permissions (0666 less the umask), not the
    owner-only ones of a temporary file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = "wb" if isinstance(data, bytes) else "w"
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_umask())
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
    """A pandas table as ``<stem>.csv`` and ``<stem>.json`` (an array of records, compact), both atomically."""
    stem = Path(path_stem)
    csv = write_atomic(stem.with_suffix(".csv"), frame.to_csv(index=False))
    js = write_atomic(stem.with_suffix(".json"), frame.to_json(orient="records") + "\n")
    return csv, js
