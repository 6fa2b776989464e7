"""The results layer: where results go, how they are named, written and read back, and what
every results table holds.

* **Where**: a command writes into ``<root>/<machine>/`` (:class:`Output`; ``--into DIR``: into
  ``DIR`` itself); ``evbench run`` writes one run into ``<root>/<machine>/<UTC time>/`` and then
  points ``<root>/latest`` at it (:func:`point_latest`). :meth:`Output.check` refuses, before
  any work, a location that is a file, read-only or otherwise unwritable.
* **Names**: ``<table>-<profile or grid>-<stamp>.csv`` and ``.json``, plus one
  ``<command>-<profile>-<stamp>.meta.json`` per command run. A stamp (:func:`stamp`) is the UTC
  time to the microsecond and the process id, so two commands writing into one folder never
  collide.
* **Writing**: every file is written atomically (a temporary file renamed over the target);
  floats round-trip exactly (CSV with Python's shortest repr; JSON records with NaN as ``null``
  and infinities as ``"Infinity"``/``"-Infinity"``); the metadata, written last, records each
  table file's row count and SHA-256, so a reader can prove a table whole. A
  :class:`Transaction` stages a command's files and renames them into place only once all are
  written: a command that fails part way (a full disk) leaves nothing that looks like results.
* **Tables**: :data:`TABLES` (declared in :mod:`.tables`, importable from here) declares each
  table once (name, the key columns that identify a row, its columns, the command that makes
  it). :func:`read_table` checks a file against its metadata and declaration: a file of the
  current stamp must be listed, with its SHA-256 and rows, by a readable metadata file
  (:data:`LISTED`); the metadata also records each table's columns and those holding text.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import re
import socket
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from .interrupts import checkpoint
from .tables import CHECK_COLUMNS, SPIKETIME_TABLES, TABLES, Derived, Table, table_of  # noqa: F401 (the tables, here too)

# -- the machine and the time ------------------------------------------------------------------


def machine_label() -> str:
    return f"{socket.gethostname()}-{platform.machine()}"


def stamp() -> str:
    """``20261128T081500_123456Z-4242``: UTC to the microsecond, then the process id."""
    now = datetime.now(timezone.utc)
    return now.strftime("%Y%m%dT%H%M%S_") + f"{now.microsecond:06d}Z-{os.getpid()}"


#: a stamp in a file name: the second-resolution form of earlier versions, or :func:`stamp`'s
STAMP = re.compile(r"(\d{8}T\d{6})(?:_(\d{6}))?Z(?:-(\d+))?")


def stamp_key(name: str) -> str:
    """A sortable key of the stamp in ``name`` (``""`` when it has none): newer sorts later."""
    m = STAMP.search(name)
    if not m:
        return ""
    return f"{m.group(1)}{m.group(2) or '000000'}-{int(m.group(3) or 0):010d}"


def metadata(**extra) -> dict:
    """Machine, platform, Python, JAX, NumPy, devices and date, plus ``extra``."""
    import jax
    import numpy

    return dict(machine=machine_label(), platform=platform.platform(), processor=platform.processor(),
                cpus=os.cpu_count(), python=sys.version.split()[0], jax=jax.__version__, numpy=numpy.__version__,
                devices=[str(d) for d in jax.devices()], date=datetime.now(timezone.utc).isoformat(), **extra)


# -- where results go --------------------------------------------------------------------------


class OutputError(OSError):
    """A results location that cannot be written; the message names the path and why."""


class UsageError(ValueError):
    """A command's options are wrong (an unknown name, a number out of range): found before any
    work starts; the message names the option and the value."""


def usage(check):
    """``check(options)`` raising :class:`UsageError` for any ``ValueError`` it raises."""
    import functools

    @functools.wraps(check)
    def checked(*args, **kwargs):
        try:
            return check(*args, **kwargs)
        except UsageError:
            raise
        except ValueError as exc:
            raise UsageError(str(exc)) from None

    return checked


def _check_writable(folder: Path) -> None:
    """``folder`` exists (or is created) and a file can be written in it."""
    for parent in (folder, *folder.parents):
        if parent.exists():
            if not parent.is_dir():
                raise OutputError(f"results location {str(folder)!r}: {str(parent)!r} is a file, not a folder")
            break
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".evbench-write-check-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputError(f"results location {str(folder)!r} is not writable: {exc.strerror or exc}") from None


@dataclass(frozen=True)
class Output:
    """Where a command writes: ``root/<machine>/`` or, with ``into``, that folder itself (how
    ``evbench run`` gathers one run's files in one place)."""

    root: str | os.PathLike = "results"
    into: str | os.PathLike | None = None

    @property
    def folder(self) -> Path:
        return Path(self.into) if self.into else Path(self.root) / machine_label()

    def check(self) -> Path:
        """The folder, created and proven writable; :class:`OutputError` otherwise."""
        _check_writable(self.folder)
        return self.folder


def run_folder(root: Path, name: str | None = None) -> Path:
    """A new folder ``root/<machine>/<name>`` (UTC seconds by default; ``-2``, ``-3``… when it
    exists: ``mkdir`` is exclusive, so two runs never share one)."""
    base = Path(root) / machine_label()
    _check_writable(base)
    name = name or datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    for i in range(1, 1000):
        folder = base / (name if i == 1 else f"{name}-{i}")
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            continue
    raise OutputError(f"cannot create a run folder under {base}")


def point_latest(root: Path, folder: Path) -> Path:
    """Make ``root/latest`` a relative symlink to ``folder``, atomically (a new link renamed
    over the old one: a reader sees the old run or the new one, never none). Where symlinks
    are not possible, ``root/latest.txt`` names the folder (written atomically)."""
    root = Path(root)
    link = root / "latest"
    target = os.path.relpath(Path(folder).resolve(), root.resolve())
    tmp = root / f".latest-{os.getpid()}.tmp"
    try:
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        os.symlink(target, tmp, target_is_directory=True)
        os.replace(tmp, link)
        if (root / "latest.txt").exists():  # a name left by a run that could not make the link
            (root / "latest.txt").unlink()
        return link
    except OSError:
        if tmp.is_symlink():
            tmp.unlink()
        return write_atomic(root / "latest.txt", target + "\n")


# -- writing -----------------------------------------------------------------------------------


def latest_run(root: Path) -> Path:
    """The newest complete run under ``root``, as :func:`point_latest` named it: ``root/latest``
    when it is the link, else the folder ``root/latest.txt`` names (written where the link could
    not be made: no symlinks, or ``latest`` a real folder), else ``root/latest``."""
    root = Path(root)
    link, named = root / "latest", root / "latest.txt"
    if not link.is_symlink() and named.is_file():
        target = named.read_text().strip()
        if target:
            return root / target
    return link


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


def _plain(v):
    """A JSON value that round-trips: NaN as null, infinities as strings, NumPy scalars as
    Python ones (floats keep every digit: ``json`` writes their shortest exact repr), and an
    empty string as null, as the CSV twin holds it (CSV cannot tell an empty field from a
    missing one: both twins then read back the same)."""
    if isinstance(v, str) and v == "":
        return None
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):
        v = v.item()
    if isinstance(v, float):
        if math.isnan(v):
            return None
        if math.isinf(v):
            return "Infinity" if v > 0 else "-Infinity"
    return v


def _widened(frame):
    """``frame`` with float16/float32 values as the float64 numbers they are: CSV writes a
    narrow float in its own shortest form (float32 0.1 as ``0.1``), which reads back as another
    float64 than the JSON twin's exact ``0.10000000149011612``; widened, both hold the exact value."""
    import numpy as np

    out = None
    for c in frame.columns:
        col = frame[c]
        if col.dtype.kind == "f" and col.dtype.itemsize < 8:
            widened = col.astype("float64")
        elif col.dtype == object and any(isinstance(v, np.floating) and v.dtype.itemsize < 8 for v in col):
            widened = col.map(lambda v: float(v) if isinstance(v, np.floating) else v)
        else:
            continue
        out = frame.copy() if out is None else out
        out[c] = widened
    return frame if out is None else out


def text_columns(frame) -> list[str]:
    """The columns that hold text only (besides missing values): recorded in the metadata so
    that a reader keeps ``007`` or ``nan`` as text, which CSV cannot say."""
    out = []
    for c in frame.columns:
        col = frame[c]
        if col.dtype.kind in "biufcmM":
            continue
        values = [v for v in col if not (v is None or (isinstance(v, float) and math.isnan(v)))]
        if values and all(isinstance(v, str) for v in values):
            out.append(str(c))
    return out


def frame_csv(frame) -> str:
    """A table as CSV, floats in their shortest exact form (float16 and float32 as the float64
    they equal; :func:`parse_table` reads them back exactly)."""
    return _widened(frame).to_csv(index=False)


def frame_json(frame) -> str:
    """A table as a JSON array of records, every float exact."""
    frame = _widened(frame)
    cols = [str(c) for c in frame.columns]
    records = [{c: _plain(v) for c, v in zip(cols, row)} for row in frame.itertuples(index=False, name=None)]
    return json.dumps(records, allow_nan=False, separators=(",", ":")) + "\n"


def _digest(data: str | bytes) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


class Transaction:
    """The files of one command run, written together: ``with Transaction() as tx:
    tx.write(...)``. Each file is written in full to a temporary file beside its target first;
    only when the block ends without an error are they renamed into place, in the order they
    were written (renaming needs no space). When the block raises (a full disk, an interrupt),
    the temporary files are removed and nothing is replaced: no partial set of tables is left
    to be taken for results, and an earlier file of the same name is kept."""

    def __init__(self):
        self._staged: list[tuple[Path, Path]] = []
        self.files: list[Path] = []
        self.entries: dict[str, dict] = {}

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if exc is None:
            try:
                checkpoint()  # an interrupt swallowed by compiled code still stops the commit
            except KeyboardInterrupt:
                self.discard()
                raise
        if exc is not None:
            self.discard()
            return False
        for tmp, final in self._staged:
            os.replace(tmp, final)
            self.files.append(final)
        self._staged.clear()
        return False

    def discard(self) -> None:
        for tmp, _ in self._staged:
            try:
                tmp.unlink()
            except OSError:
                pass
        self._staged.clear()

    def write(self, path, data: str | bytes) -> Path:
        """Stage ``data`` for ``path`` (renamed into place when the transaction ends)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            os.chmod(tmp, 0o666 & ~_umask())
            with os.fdopen(fd, "wb" if isinstance(data, bytes) else "w") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        except BaseException:
            os.unlink(tmp)
            raise
        self._staged.append((Path(tmp), path))
        return path

    def table(self, table: "Table", frame, folder, tag: str, stamp_: str) -> tuple[Path, Path]:
        """``<table>-<tag>-<stamp>.csv`` and ``.json`` of ``frame``, recorded (rows, SHA-256)
        for the metadata."""
        if len(frame.columns) == 0:  # a table of no rows still has its columns
            frame = frame.reindex(columns=list(table.columns))
        stem = Path(folder) / f"{table.name}-{tag}-{stamp_}"
        paths = []
        shape = dict(columns=[str(c) for c in frame.columns], text=text_columns(frame))
        for suffix, text in ((".csv", frame_csv(frame)), (".json", frame_json(frame))):
            path = self.write(stem.parent / (stem.name + suffix), text)
            self.entries[path.name] = dict(table=table.name, rows=int(len(frame)), sha256=_digest(text), **shape)
            paths.append(path)
        return paths[0], paths[1]

    def meta(self, path, meta: dict) -> Path:
        """The command's ``.meta.json`` with the tables staged so far (written last)."""
        return self.write(path, json.dumps(dict(meta, files=self.entries), indent=2, sort_keys=True, default=str)
                          + "\n")


# -- reading -----------------------------------------------------------------------------------


class DamagedTable(ValueError):
    """A results file that cannot be trusted: it does not match its metadata (rows, SHA-256),
    cannot be parsed, or lacks a column its table requires. The message names the file."""


#: the stamp of every file written since the metadata lists each table (microseconds and the
#: process id: :func:`stamp`): such a table is trusted only where a readable metadata file lists
#: it with its SHA-256. A table of an earlier stamp (seconds only), from before metadata listed
#: files, can prove nothing and is read as it is.
LISTED = re.compile(r"\d{8}T\d{6}_\d{6}Z-\d+")


def listed(path) -> bool:
    """Whether the metadata of the version that wrote ``path`` lists it (see :data:`LISTED`)."""
    return bool(LISTED.search(Path(path).name))


def load_meta(path) -> dict:
    """A ``.meta.json`` file's object; ``ValueError`` naming the file and why it cannot be used."""
    path = Path(path)
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path.name} cannot be read: {type(exc).__name__}: {exc}") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{path.name} holds a JSON {type(meta).__name__}, not the object of a metadata file")
    return meta


def meta_of(path) -> tuple[Path, dict] | None:
    """The ``.meta.json`` beside a results file that lists it, with its contents, or None
    (results of earlier versions record no files; a damaged metadata file lists nothing)."""
    path = Path(path)
    for cand in sorted(path.parent.glob("*.meta.json")):
        try:
            meta = load_meta(cand)
        except ValueError:
            continue
        files = meta.get("files")
        if isinstance(files, dict) and isinstance(files.get(path.name), dict):
            return cand, meta
    return None


def _unlisted(path: Path) -> str:
    """Why no metadata lists ``path`` (the metadata files of its stamp, each with what is wrong)."""
    key = stamp_key(path.name)
    why = []
    for cand in sorted(path.parent.glob("*.meta.json")):
        if stamp_key(cand.name) != key:
            continue
        try:
            files = load_meta(cand).get("files")
        except ValueError as exc:
            why.append(str(exc))
            continue
        why.append(f"{cand.name} lists no files" if not isinstance(files, dict) else f"{cand.name} does not list it")
    return "; ".join(why) or "no .meta.json of its stamp is beside it"


def _restore_nonfinite(frame, text=()):
    """JSON records back to numbers: "Infinity", "-Infinity" (and null, NaN) in a column that
    otherwise holds numbers (never in a column of text)."""
    import pandas as pd

    for c in frame.columns:
        col = frame[c]
        if col.dtype != object or c in text:
            continue
        strings = col.map(lambda v: isinstance(v, str))
        if strings.any() and col[strings].isin(["Infinity", "-Infinity", "NaN"]).all():
            frame[c] = pd.to_numeric(col.where(~strings, col.map({"Infinity": math.inf, "-Infinity": -math.inf,
                                                                  "NaN": math.nan})), errors="coerce")
    return frame


def parse_table(path, *, columns=None, text=()):
    """A results file as a DataFrame (CSV floats read exactly; JSON non-finite floats restored).
    ``columns`` and ``text``, as the metadata records them: the columns of a table of no rows
    (a JSON ``[]`` has none), and those that hold text (a CSV field ``007`` or ``nan`` stays
    text). Without them (files of earlier versions) the kinds are inferred."""
    import pandas as pd

    path = Path(path)
    text = [c for c in text if isinstance(c, str)]
    if path.suffix == ".csv":
        # pandas 3 parses floats exactly by default; pandas 2 needs asking
        exact = {} if int(pd.__version__.split(".")[0]) >= 3 else {"float_precision": "round_trip"}
        if columns is None:
            return pd.read_csv(path, keep_default_na=True, **exact)
        # written by frame_csv: a missing value is an empty field, and only that
        return pd.read_csv(path, keep_default_na=False, na_values=[""], dtype={c: str for c in text}, **exact)
    records = json.loads(path.read_text())
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise ValueError("not a JSON array of records")
    if not records:
        return pd.DataFrame(columns=list(columns or []))
    return _restore_nonfinite(pd.DataFrame(records), text)


def _entry(path: Path) -> tuple[Path, dict] | None:
    """The metadata's record of ``path`` (its metadata file and entry); :class:`DamagedTable`
    where a file of the current stamp has none that can be used."""
    found = meta_of(path)
    if found is None:
        if listed(path):
            raise DamagedTable(f"{path}: no readable metadata lists it ({_unlisted(path)}), so it cannot be "
                               "proven whole")
        return None
    entry = found[1]["files"][path.name]
    if not isinstance(entry.get("sha256"), str) or not isinstance(entry.get("rows"), int):
        raise DamagedTable(f"{path}: its entry in {found[0].name} lacks the SHA-256 or the row count, so it "
                           "cannot be proven whole")
    return found[0], entry


def read_table(path, table: Table | None = None):
    """A results file, checked: against the row count and SHA-256 its metadata records (a file
    of the current stamp must be listed: :data:`LISTED`) and against the columns its table
    requires. :class:`DamagedTable` otherwise, naming the file and what is wrong."""
    path = Path(path)
    table = table or table_of(path)
    data = path.read_bytes()
    found = _entry(path)
    meta_name, entry = found if found else ("", {})
    if entry and _digest(data) != entry["sha256"]:
        raise DamagedTable(f"{path}: its SHA-256 does not match the one recorded in {meta_name}: the file "
                           "was changed or cut after it was written")
    columns = entry.get("columns") if isinstance(entry.get("columns"), list) else None
    if columns is None and path.suffix == ".json" and table is not None:
        columns = list(table.columns)
    try:
        frame = parse_table(path, columns=columns, text=entry.get("text") or ())
    except Exception as exc:  # pandas raises many kinds
        raise DamagedTable(f"{path}: cannot be read: {type(exc).__name__}: {exc}") from None
    if entry and entry["rows"] != len(frame):
        raise DamagedTable(f"{path}: {len(frame)} rows, but {meta_name} records {entry['rows']}")
    if table is not None:
        frame = frame.rename(columns={old: new for old, new in table.renamed
                                      if old in frame.columns and new not in frame.columns})
        missing = [c for c in table.required if c not in frame.columns]
        if missing:
            raise DamagedTable(f"{path}: lacks the column{'s' if len(missing) > 1 else ''} "
                               f"{', '.join(missing)} that a {table.name} table must have")
    return frame


def newest_files(folder, table: Table) -> list[Path]:
    """The CSV files of ``table`` in ``folder``, oldest first."""
    return sorted(Path(folder).glob(f"{table.name}-*.csv"), key=lambda f: stamp_key(f.name))


@dataclass
class Written:
    """What a command wrote: its table files by table name, its metadata file."""

    tables: dict = field(default_factory=dict)
    meta: Path | None = None

    @property
    def files(self) -> list[Path]:
        out = [p for pair in self.tables.values() for p in pair]
        return out + ([self.meta] if self.meta else [])
