"""Reading results for the report: evbench tables (``validate-*``, ``checks-*``, ``bench-*``,
``spiketimes-<table>-*``: ``.csv``, or the ``.json`` twin where the ``.csv`` cannot be used),
their ``.meta.json``, asv result files (``<commit>-<env>.json``) and pytest-benchmark runs (JSON
with ``machine_info`` and ``benchmarks``: :mod:`.pytest_benchmark`), from files or folders
(searched recursively).

Every table file is checked (:func:`evbench.harness.results.read_table`): against the row
count and SHA-256 its metadata records, and the columns its declaration requires. A damaged
file is refused with a message naming it, and its twin read instead when the twin is whole. A
table of the current stamp that no readable metadata lists cannot be proven whole and is
refused too; a metadata file that cannot be read (or is not a JSON object) is refused itself.
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..results import TABLES, DamagedTable, load_meta, read_table, stamp_key, table_of
from . import pytest_benchmark
from .figures import num


class ReportError(ValueError):
    """Bad input to the report: a path that does not exist, a folder without results."""


#: folders under a results root that hold no results (asv's environments and dashboard)
SKIP_DIRS = {"env", "asv-html", ".asv", "report-figures", "__pycache__"}


@dataclass
class Results:
    """Everything read, as pandas tables (empty when absent), by table name. Every evbench
    table has a ``source`` column (the file it came from), ``stamp`` (a sortable key of its
    time, from the name) and ``machine`` (from its metadata)."""

    tables: dict = field(default_factory=dict)
    #: one row per asv benchmark × parameter combination × commit
    asv: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: one row per pytest-benchmark benchmark × run (file)
    pybench: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: ``{source path: metadata}`` from ``.meta.json`` files (and pytest-benchmark runs)
    meta: dict = field(default_factory=dict)
    files: list = field(default_factory=list)
    #: ``(file, why)`` of every file refused as damaged
    refused: list = field(default_factory=list)

    def table(self, name: str) -> pd.DataFrame:
        return self.tables.get(name, pd.DataFrame())

    def has(self, name: str) -> bool:
        return len(self.asv) > 0 if name == "asv" else len(self.table(name)) > 0

    @property
    def validate(self) -> pd.DataFrame:
        return self.table("validate")

    @property
    def checks(self) -> pd.DataFrame:
        return self.table("checks")

    @property
    def bench(self) -> pd.DataFrame:
        return self.table("bench")

    @property
    def spiketimes(self) -> dict:
        """The spike-time tables by short name (``exact``, ``convergence``...)."""
        return {name.removeprefix("spiketimes-"): t for name, t in self.tables.items()
                if name.startswith("spiketimes-")}

    def empty(self) -> bool:
        return not (len(self.asv) or len(self.pybench) or any(len(t) for t in self.tables.values()))


def _files(paths) -> list[Path]:
    out = []
    for raw in paths:
        p = Path(raw)
        if not p.exists():
            raise ReportError(f"results path {str(raw)!r} does not exist")
        if p.is_dir():
            root = p.resolve()
            found = sorted(f.resolve() for f in root.rglob("*") if f.suffix in (".csv", ".json") and f.is_file()
                           and not SKIP_DIRS & set(f.relative_to(root).parts[:-1]))
            out.extend(found)
        else:
            if p.suffix not in (".csv", ".json"):
                raise ReportError(f"results file {str(raw)!r} is neither .csv nor .json")
            out.append(p.resolve())
    return list(dict.fromkeys(out))


def _is_asv(obj) -> bool:
    return isinstance(obj, dict) and "commit_hash" in obj and "results" in obj and "result_columns" in obj


def _asv_rows(obj: dict, path: Path) -> list[dict]:
    """One row per benchmark × parameter combination of one asv results file."""
    cols = obj["result_columns"]
    machine = (obj.get("params") or {}).get("machine", path.parent.name)
    rows = []
    for name, values in obj["results"].items():
        entry = dict(zip(cols, values))
        result = entry.get("result")
        params = entry.get("params") or []
        if result is None:
            continue
        result = result if isinstance(result, list) else [result]
        combos = [()] if not params else list(_combinations(params))
        q25 = entry.get("stats_q_25") or [None] * len(result)
        q75 = entry.get("stats_q_75") or [None] * len(result)
        for i, value in enumerate(result):
            combo = combos[i] if i < len(combos) else ()
            rows.append(dict(benchmark=name, params=", ".join(str(c) for c in combo), value=num(value),
                             q25=num(q25[i] if i < len(q25) else None), q75=num(q75[i] if i < len(q75) else None),
                             commit=obj["commit_hash"], date=obj.get("date"), machine=machine,
                             env=obj.get("env_name", ""), source=str(path)))
    return rows


def _combinations(params):
    import itertools

    return itertools.product(*params)



def newest(frame: pd.DataFrame, keys) -> pd.DataFrame:
    """Per key, the rows of the newest file that has it (a later partial run replaces those
    cases of an earlier one and leaves the others)."""
    keys = [k for k in keys if k in frame.columns]
    if not len(frame) or not keys or frame["source"].nunique() == 1:
        return frame
    order = frame["stamp"].astype(str) + "\0" + frame["source"].astype(str)
    latest = order.groupby([frame[k].astype(object).fillna("").astype(str) for k in keys],
                           dropna=False).transform("max")
    return frame[order == latest].reset_index(drop=True)


def _read_meta(table_path: Path) -> dict | None:
    """The ``.meta.json`` of a table: one listing it, else one beside it under its stem, or a
    sibling of the same stamp (``checks-*`` shares the ``validate-*`` one)."""
    key = stamp_key(table_path.name)
    cands = [table_path.with_suffix("").with_suffix(".meta.json")]
    if key:
        cands += sorted(m for m in table_path.parent.glob("*.meta.json") if stamp_key(m.name) == key)
    for cand in cands:
        if cand.exists():
            try:
                return load_meta(cand)
            except ValueError:
                return None
    return None


def _warn(message: str) -> None:
    print(f"evbench report: {message}", file=sys.stderr)


def _read_pair(path: Path, table, res: Results) -> pd.DataFrame | None:
    """The table in ``path``, or in its twin (``.csv`` / ``.json``) when ``path`` is damaged;
    None (and the refusal recorded) when neither can be trusted."""
    twin = path.with_suffix(".json" if path.suffix == ".csv" else ".csv")
    for cand in (path, twin) if twin.exists() else (path,):
        try:
            frame = read_table(cand, table)
        except (DamagedTable, OSError) as exc:
            res.refused.append((str(cand), str(exc)))
            _warn(f"error: refused {exc}")
            continue
        if cand != path:
            _warn(f"read {cand.name} instead of its damaged twin {path.name}")
        frame["source"] = str(cand)
        return frame
    return None


def load(paths) -> Results:
    """Read every evbench, asv and pytest-benchmark results file in ``paths`` (files or folders, recursively).
    ``ReportError`` for a path that does not exist or when nothing readable is found."""
    paths = list(paths)
    if not paths:
        raise ReportError("no results path given")
    res = Results()
    frames: dict = {}
    asv_rows: list = []
    pybench_rows: list = []
    files = _files(paths)
    done: set = set()
    for f in files:
        try:
            if f.name.endswith(".meta.json"):
                try:
                    res.meta[str(f)] = load_meta(f)
                except ValueError as exc:  # the tables it lists cannot be proven whole: refused with it
                    res.refused.append((str(f), str(exc)))
                    _warn(f"error: refused {f}: {exc}")
                continue
            table = table_of(f)
            if table is not None:
                stem = f.with_suffix("")
                if stem in done:
                    continue  # the same table as its twin, read already
                done.add(stem)
                primary = stem.with_suffix(".csv") if stem.with_suffix(".csv").exists() else f
                frame = _read_pair(primary, table, res)
                if frame is None:
                    continue
                frame["stamp"] = stamp_key(primary.name)
                meta = res.meta.get(str(primary.with_suffix(".meta.json"))) or _read_meta(primary)
                frame["machine"] = (meta or {}).get("machine", "")
                frames.setdefault(table.name, []).append(frame)
                res.files.append(frame["source"].iloc[0] if len(frame) else str(primary))
            elif f.suffix == ".json" and f.name != "machine.json":
                obj = json.loads(f.read_text())
                if _is_asv(obj):
                    asv_rows.extend(_asv_rows(obj, f))
                    res.files.append(str(f))
                elif pytest_benchmark.is_run(obj):
                    pytest_benchmark.check_run(obj)  # a malformed run is skipped with a warning
                    pybench_rows.extend(pytest_benchmark.rows_of(obj, f))
                    res.meta[str(f)] = pytest_benchmark.meta_of(obj)
                    res.files.append(str(f))
        except (ValueError, OSError, KeyError, TypeError, pd.errors.ParserError) as exc:
            _warn(f"skipping {f}: {type(exc).__name__}: {exc}")
    for name, parts in frames.items():
        keys = tuple(k for k in TABLES.get(name).keys)
        res.tables[name] = newest(pd.concat(parts, ignore_index=True), keys)
    if asv_rows:
        res.asv = pd.DataFrame(asv_rows)
    if pybench_rows:
        res.pybench = pd.DataFrame(pybench_rows)
    if res.empty():
        why = f"; refused: {'; '.join(f for f, _ in res.refused)}" if res.refused else ""
        raise ReportError(f"no evbench, asv or pytest-benchmark results found in {', '.join(repr(str(p)) for p in paths)}{why}")
    return res
