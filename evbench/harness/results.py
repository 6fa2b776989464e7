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
* **Tables**: :data:`TABLES` declares each table once (name, the key columns that identify a
  row, its columns, the command that makes it); the report and ``evbench run`` read them from
  here. :func:`read_table` checks a file against its metadata and declaration.
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

from ..registry import Registry

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
        return link
    except OSError:
        if tmp.is_symlink():
            tmp.unlink()
        return write_atomic(root / "latest.txt", target + "\n")


# -- writing -----------------------------------------------------------------------------------


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


def frame_csv(frame) -> str:
    """A table as CSV, floats in their shortest exact form (:func:`parse_table` reads them back
    exactly)."""
    return frame.to_csv(index=False)


def frame_json(frame) -> str:
    """A table as a JSON array of records, every float exact."""
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
        stem = Path(folder) / f"{table.name}-{tag}-{stamp_}"
        paths = []
        for suffix, text in ((".csv", frame_csv(frame)), (".json", frame_json(frame))):
            path = self.write(stem.parent / (stem.name + suffix), text)
            self.entries[path.name] = dict(table=table.name, rows=int(len(frame)), sha256=_digest(text))
            paths.append(path)
        return paths[0], paths[1]

    def meta(self, path, meta: dict) -> Path:
        """The command's ``.meta.json`` with the tables staged so far (written last)."""
        return self.write(path, json.dumps(dict(meta, files=self.entries), indent=2, sort_keys=True, default=str)
                          + "\n")


# -- the tables --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Derived:
    """Columns a table takes from a registry, read when the table is used: the validation
    tables have one column per conformance check (:data:`evbench.harness.checks.CHECKS`)."""

    names: object  # () -> tuple of column names

    def __call__(self) -> tuple:
        return tuple(self.names())


def _check_names() -> tuple:
    from .checks import CHECKS

    return CHECKS.names()


#: one column per conformance check, in the registry's order
CHECK_COLUMNS = Derived(_check_names)


@dataclass(frozen=True)
class Table:
    """One results table: its name (the file prefix), the columns that identify a row (where
    two files hold the same key, the newer counts), its columns in order (``layout``; a
    :class:`Derived` entry stands for the columns a registry gives), those a reader cannot do
    without, and the command that makes it. ``renamed`` maps the column names of files written
    by earlier versions to today's (applied by :func:`read_table`)."""

    name: str
    keys: tuple
    layout: tuple
    made_by: str
    title: str = ""
    required: tuple = ()
    #: one row per repeat of a case (bench): the key identifies a case, not a row
    repeated: bool = False
    renamed: tuple = ()

    @property
    def columns(self) -> tuple:
        return tuple(n for c in self.layout for n in (c() if isinstance(c, Derived) else (c,)))

    def matches(self, filename: str) -> bool:
        return filename.startswith(self.name + "-")


#: the backend's mode column was called ``option`` before the vocabulary was settled
_MODE = (("option", "mode"),)


#: every results table evbench writes (spike-time tables are ``spiketimes-<name>``)
TABLES: Registry[Table] = Registry("results table")
for _t in (
    Table("validate", ("machine", "device", "family", "product", "backend", "mode"),
          ("family", "product", "backend", "mode", "device", "event_driven", "cases", "failed", "max_error",
           "tolerance", "worst_ratio", "status", CHECK_COLUMNS, "failing_case", "reproduce", "seconds", "detail",
           "note"),
          "evbench validate", "one row per family × product × backend mode",
          required=("family", "product", "backend", "status"), renamed=_MODE),
    Table("checks", ("machine", "device", "family", "product", "backend", "mode", "check"),
          ("family", "product", "backend", "mode", "device", "check", "status", "cases", "failed", "max_error",
           "tolerance", "worst_ratio", "detail", "failing_case", "reproduce", "seconds", "event_driven", "note"),
          "evbench validate", "one row per check", required=("family", "backend", "check", "status"), renamed=_MODE),
    Table("bench", ("machine", "family", "backend", "product", "device", "n", "active", "conn_num", "batch", "dtype",
                    "workload"),
          ("family", "backend", "mode", "timing", "product", "expr", "event_driven", "device", "device_name", "n",
           "active", "active_fraction", "touched_fraction", "conn_num", "conn_prob", "batch", "dtype", "workload",
           "status", "reason", "repeat", "time_s", "number", "median_s", "iqr_s", "repeats", "first_call_s",
           "compile_s", "compile_cached", "build_s", "prepare_s", "synaptic_events", "bytes_touched", "events_per_s",
           "effective_gb_s", "machine_read_gb_s", "bandwidth_fraction", "structure_bytes", "backend_bytes",
           "device_bytes_in_use", "device_peak_bytes", "backend_version", "jax", "jaxlib"),
          "evbench bench", "one row per case and repeat", required=("family", "backend", "product", "status"),
          repeated=True, renamed=_MODE),
    Table("spiketimes-exact", ("machine", "model", "n", "k", "delay", "t_ref"),
          ("model", "n", "k", "delay", "t_ref", "n_spikes", "identical_indices", "max_rel_time_error",
           "first_mismatch", "status", "j0", "seconds_reference", "seconds_sparseprop"),
          "evbench spiketimes", "SparseProp against the naive exact reference", required=("model", "status")),
    Table("spiketimes-convergence", ("machine", "model", "backend", "interpolation", "dt_ms"),
          ("model", "backend", "mode", "interpolate", "interpolation", "dt_ms", "n_spikes_ref", "n_spikes_stepped",
           "n_matched", "mean_abs_error_ms", "max_abs_error_ms", "first_divergence_ms", "t_end_ms", "seconds",
           "status", "reason", "window_ms", "n_window", "mean_abs_error_window_ms"),
          "evbench spiketimes", "time-stepped against exact, per dt", required=("model", "dt_ms"), renamed=_MODE),
    Table("spiketimes-order", ("machine", "model", "backend", "interpolation"),
          ("model", "backend", "interpolate", "interpolation", "order", "order_stderr", "n_points", "window_ms",
           "n_spikes_window"),
          "evbench spiketimes", "convergence order in dt", required=("model", "order")),
    Table("spiketimes-operators", ("machine", "model", "backend", "dtype"),
          ("model", "backend", "mode", "dtype", "n_steps", "identical", "first_divergent_step",
           "first_divergent_neuron", "first_divergent_ms", "first_input_difference_step", "max_input_difference_ulps",
           "cause", "status", "reason"),
          "evbench spiketimes", "each backend's operator in a stepped network", required=("model", "backend"),
          renamed=_MODE),
    Table("spiketimes-statistics", ("machine", "model", "impl", "statistic"),
          ("model", "impl", "statistic", "value", "ci_low", "ci_high", "n_units", "ci_method", "dt_ms", "t_ms",
           "divergence_ms", "consistent"),
          "evbench spiketimes", "network statistics beyond the chaotic horizon", required=("statistic", "value")),
    Table("spiketimes-scaling", ("machine", "impl", "model", "n", "k"),
          ("impl", "model", "n", "k", "n_spikes", "seconds", "spikes_per_s", "ns_per_synaptic_update", "cpu_seconds",
           "spikes_per_cpu_s", "synaptic_updates"),
          "evbench spiketimes", "cost per spike against N", required=("impl", "n", "n_spikes", "seconds")),
    Table("spiketimes-ei", ("machine", "model", "family", "backend", "scale"),
          ("model", "backend", "family", "scale", "n_neurons", "sim_ms", "mode", "status", "reason", "compile_s",
           "wall_s", "wall_per_sim_s", "rate_exc_hz", "rate_inh_hz", "in_regime", "expected_rate_hz", "build_s"),
          "evbench spiketimes", "E/I networks: wall time per simulated second",
          required=("model", "backend", "wall_per_sim_s"), renamed=_MODE),
    Table("spiketimes-nest", ("machine", "network", "n", "simulator", "rule"),
          ("network", "n", "n_synapses", "delay_ms", "t_ref_ms", "resolution_ms", "t_end_ms", "simulator", "rule",
           "n_spikes", "n_spikes_nest", "identical", "max_abs_dt_ms", "first_divergence", "first_divergence_ms",
           "first_divergence_neuron", "cause", "seconds", "prepare_s", "seconds_nest", "build_s_nest", "status",
           "n_shared_instants", "n_mixed_waves", "n_at_refractory_end"),
          "evbench spiketimes --against nest", "evbench's exact simulators against NEST's iaf_psc_delta_ps",
          required=("network", "simulator", "rule", "status")),
    # the sharded products (evbench sharded): validation, scaling, collectives, the E/I network, the model
    Table("sharded-validate", ("machine", "family", "options", "product", "n_devices", "axis",
                                           "reduction", "dtype", "check"),
                      ("family", "options", "product", "product_key", "n_devices", "axis", "communication", "reduction", "dtype", "check", "status", "cases", "failed", "max_error", "tolerance", "worst_ratio", "bitwise_unsharded", "detail", "failing_case", "seconds", "build_s"), "evbench sharded validate", "one row per sharded product × check",
                      required=("family", "product", "n_devices", "check", "status"),
                      renamed=(("option", "options"),)),
    Table("sharded-bench", ("machine", "family", "product", "scaling", "n_devices", "n"), ("family", "product", "expr", "scaling", "n_devices", "n", "n_per_device", "conn_num", "conn_prob", "active", "active_fraction", "batch", "dtype", "axis", "communication", "event_driven", "status", "reason", "total_median_s", "total_iqr_s", "local_median_s", "local_iqr_s", "comm_median_s", "comm_iqr_s", "unsharded_median_s", "unsharded_iqr_s", "total_number", "local_number", "comm_number", "unsharded_number", "warmup_s", "comm_bytes_per_device", "synapses_per_device", "structure_bytes", "sharded_bytes", "devices", "cpus"),
                   "evbench sharded bench", "strong and weak scaling, time split into local and communication",
                   required=("family", "product", "n_devices", "status")),
    Table("sharded-collectives", ("machine", "communication", "n_devices", "elements_per_device"),
                         ("communication", "n_devices", "elements_per_device", "comm_bytes_per_device", "comm_median_s", "comm_iqr_s", "number", "status", "devices", "cpus"), "evbench sharded collectives",
                         "all-gather and reduce-scatter alone over message sizes",
                         required=("communication", "n_devices", "comm_bytes_per_device", "comm_median_s")),
    Table("sharded-network", ("machine", "model", "family", "weights", "axis", "dtype", "n_devices"),
                     ("model", "family", "weights", "axis", "dtype", "scale", "n_neurons", "n_devices", "reduction", "n_steps", "sim_ms", "status", "reason", "identical", "first_divergent_step", "first_input_difference_step", "max_input_difference", "spikes_unsharded", "spikes_sharded", "rate_hz", "wall_per_sim_s", "unsharded_wall_per_sim_s", "compile_s", "run_s", "bytes_per_device_per_step", "collectives", "devices"), "evbench sharded network", "the sharded E/I network against the unsharded",
                     required=("model", "n_devices", "identical")),
    Table("sharded-model-local", ("machine", "family", "product"),
                         ("family", "product", "event_driven", "a_s", "c_s_per_synapse", "points", "rel_rms"),
                         "evbench sharded model", "local cost per synaptic event"),
    Table("sharded-model-comm", ("machine", "communication"),
                        ("communication", "alpha_s", "alpha_per_device_s", "beta_s_per_byte", "gb_per_s", "points",
                         "rel_rms"), "evbench sharded model", "communication cost per collective"),
    Table("sharded-model-projection", ("machine", "local", "n_neurons", "n_devices", "cut",
                                                           "interconnect"),
                              ("local", "c_s_per_synapse", "n_neurons", "n_devices", "cut", "interconnect",
                               "synapses_per_device",
                               "bytes_per_device", "local_s", "comm_s", "step_s", "comm_share", "break_even_c_s",
                               "wall_per_sim_s",
                               "synapse_bytes_per_device"), "evbench sharded model", "projected step times"),
):
    TABLES.register(_t)

#: the spike-time tables, by the short name ``evbench spiketimes --table`` takes
SPIKETIME_TABLES = tuple(t.name.removeprefix("spiketimes-") for t in TABLES if t.name.startswith("spiketimes-"))


def table_of(path) -> Table | None:
    """The declared table a results file holds, from its name (None: not an evbench table)."""
    name = Path(path).name
    if name.endswith(".meta.json") or Path(name).suffix not in (".csv", ".json"):
        return None
    for table in sorted(TABLES, key=lambda t: -len(t.name)):  # spiketimes-exact before any prefix of it
        if table.matches(name):
            return table
    return None


# -- reading -----------------------------------------------------------------------------------


class DamagedTable(ValueError):
    """A results file that cannot be trusted: it does not match its metadata (rows, SHA-256),
    cannot be parsed, or lacks a column its table requires. The message names the file."""


def meta_of(path) -> tuple[Path, dict] | None:
    """The ``.meta.json`` beside a results file that lists it, with its contents, or None
    (results of earlier versions record no files)."""
    path = Path(path)
    for cand in sorted(path.parent.glob("*.meta.json")):
        try:
            meta = json.loads(cand.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(meta, dict) and path.name in (meta.get("files") or {}):
            return cand, meta
    return None


def _restore_nonfinite(frame):
    """JSON records back to numbers: "Infinity", "-Infinity" (and null, NaN) in a column that
    otherwise holds numbers."""
    import pandas as pd

    for c in frame.columns:
        col = frame[c]
        if col.dtype != object:
            continue
        strings = col.map(lambda v: isinstance(v, str))
        if strings.any() and col[strings].isin(["Infinity", "-Infinity", "NaN"]).all():
            frame[c] = pd.to_numeric(col.where(~strings, col.map({"Infinity": math.inf, "-Infinity": -math.inf,
                                                                  "NaN": math.nan})), errors="coerce")
    return frame


def parse_table(path):
    """A results file as a DataFrame (CSV floats read exactly; JSON non-finite floats restored)."""
    import pandas as pd

    path = Path(path)
    if path.suffix == ".csv":
        # pandas 3 parses floats exactly by default; pandas 2 needs asking
        exact = {} if int(pd.__version__.split(".")[0]) >= 3 else {"float_precision": "round_trip"}
        return pd.read_csv(path, keep_default_na=True, **exact)
    return _restore_nonfinite(pd.DataFrame(json.loads(path.read_text())))


def read_table(path, table: Table | None = None):
    """A results file, checked: against the row count and SHA-256 its metadata records (when
    it records them) and against the columns its table requires. :class:`DamagedTable`
    otherwise, naming the file and what is wrong."""
    path = Path(path)
    table = table or table_of(path)
    data = path.read_bytes()
    found = meta_of(path)
    entry = found[1]["files"][path.name] if found else None
    if entry is not None and entry.get("sha256") and _digest(data) != entry["sha256"]:
        raise DamagedTable(f"{path}: its SHA-256 does not match the one recorded in {found[0].name}: the file "
                           "was changed or cut after it was written")
    try:
        frame = parse_table(path)
    except Exception as exc:  # pandas raises many kinds
        raise DamagedTable(f"{path}: cannot be read: {type(exc).__name__}: {exc}") from None
    if entry is not None and "rows" in entry and int(entry["rows"]) != len(frame):
        raise DamagedTable(f"{path}: {len(frame)} rows, but {found[0].name} records {entry['rows']}")
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
