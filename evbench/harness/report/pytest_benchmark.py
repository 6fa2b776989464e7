"""pytest-benchmark runs: the saved JSON files (``.benchmarks/<machine id>/NNNN_*.json``, or any
``--benchmark-json`` file) read beside evbench's results and asv's, and the newest run of each
machine set side by side with the run before it.

A pytest-benchmark file is JSON with ``machine_info``, ``commit_info``, ``benchmarks`` (each
with ``fullname``, ``group``, ``params``, ``extra_info`` and ``stats``: seconds per call) and
``datetime``. Runs of evbench's suite (``tests/benchmarks/``) also carry evbench's machine label
and versions in ``machine_info["evbench"]`` and each case's grid point in ``params``; any other
pytest-benchmark file is read too, by benchmark name.

Ratios are formed only between runs of one machine, benchmark by benchmark.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .figures import Figure, Section, SectionSpec, colour_map, fmt, num, ordered, panels, png, pyplot

#: the gate's threshold (README "pytest-benchmark": ``--benchmark-compare-fail=median:<this>%``):
#: a median that grew by more than this between two runs of one machine is listed as slower
COMPARE_FAIL_MEDIAN_PERCENT = 700
#: statistics read from each benchmark (seconds per call, except ``rounds`` and ``iterations``)
STATS = ("min", "max", "mean", "stddev", "median", "iqr", "q1", "q3", "rounds", "iterations", "ops")
#: a case's grid point, as evbench's suite records it in ``params``
CASE_PARAMS = ("family", "product", "backend", "device", "n", "active", "conn_num", "batch", "dtype")


def is_run(obj) -> bool:
    """A pytest-benchmark JSON file: ``machine_info`` and a list of ``benchmarks``."""
    return isinstance(obj, dict) and isinstance(obj.get("machine_info"), dict) \
        and isinstance(obj.get("benchmarks"), list)


def _want(value, kind, where: str) -> None:
    if value is not None and (not isinstance(value, kind) or isinstance(value, bool) and kind is not bool):
        raise ValueError(f"not a readable pytest-benchmark run: {where} is {type(value).__name__} {value!r:.40}, "
                         f"not {'an object' if kind is dict else 'text'}")


def check_run(obj: dict) -> None:
    """``ValueError`` naming the first part of a run (:func:`is_run`) that has the wrong kind:
    what pytest-benchmark writes as an object or as text must be one (or absent)."""
    info = obj["machine_info"]
    _want(info.get("evbench"), dict, "machine_info.evbench")
    _want(info.get("cpu"), dict, "machine_info.cpu")
    _want(obj.get("commit_info"), dict, "commit_info")
    _want(obj.get("datetime"), str, "datetime")
    for i, b in enumerate(obj["benchmarks"]):
        if not isinstance(b, dict):
            raise ValueError(f"not a readable pytest-benchmark run: benchmarks[{i}] is {type(b).__name__} {b!r:.40}, "
                             "not an object")
        for key in ("stats", "params", "extra_info"):
            _want(b.get(key), dict, f"benchmarks[{i}].{key}")
        for key in ("name", "fullname", "group"):
            _want(b.get(key), str, f"benchmarks[{i}].{key}")


def machine_of(obj: dict) -> str:
    """evbench's machine label (``<host>-<arch>``, as ``results/<machine>/`` is named)."""
    info = obj.get("machine_info") or {}
    label = (info.get("evbench") or {}).get("machine")
    return label or "-".join(str(v) for v in (info.get("node"), info.get("machine")) if v) or "unknown"


def meta_of(obj: dict) -> dict:
    """The run's metadata in the form of evbench's ``.meta.json`` (machine, date, devices, CPUs,
    versions), for the page's header and the machine section."""
    info, commit = obj.get("machine_info") or {}, obj.get("commit_info") or {}
    ev = dict(info.get("evbench") or {})
    cpu = info.get("cpu") or {}
    meta = dict(machine=machine_of(obj), date=obj.get("datetime", ""),
                devices=ev.pop("devices", []), cpus=cpu.get("count", ""),
                python=info.get("python_version", ""),
                platform=" ".join(str(info.get(k, "")) for k in ("system", "release", "machine")).strip(),
                processor=cpu.get("brand_raw", info.get("processor", "")),
                commit=commit.get("id", ""), dirty=commit.get("dirty", ""),
                pytest_benchmark=obj.get("version", ""))
    ev.pop("machine", None)
    meta.update(ev)  # jax, jaxlib, numpy, scipy, evbench, backends
    return meta


def rows_of(obj: dict, path) -> list[dict]:
    """One row per benchmark of one run: names, the case's parameters, ``extra_info`` and the
    statistics (seconds per call)."""
    commit = obj.get("commit_info") or {}
    run = dict(source=str(path), machine=machine_of(obj), date=obj.get("datetime", ""),
               commit=str(commit.get("id") or ""), dirty=bool(commit.get("dirty", False)),
               branch=str(commit.get("branch") or ""))
    rows = []
    for b in obj["benchmarks"]:
        stats = b.get("stats") or {}
        params = b.get("params") or {}
        row = dict(run, name=b.get("name", ""), fullname=b.get("fullname", b.get("name", "")),
                   group=b.get("group") or "", param=b.get("param") or "")
        row.update({k: v for k, v in (b.get("extra_info") or {}).items() if isinstance(v, (str, int, float, bool))})
        row.update({k: v for k, v in params.items() if isinstance(v, (str, int, float, bool))})
        row.update({k: num(stats.get(k)) for k in STATS})
        rows.append(row)
    return rows


def runs(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per run (file), oldest first."""
    g = frame.groupby("source", sort=False)
    out = g.agg(machine=("machine", "first"), date=("date", "first"), commit=("commit", "first"),
                dirty=("dirty", "first"), branch=("branch", "first"), benchmarks=("fullname", "nunique"),
                median_of_medians_s=("median", "median")).reset_index()
    out["commit"] = out["commit"].str[:8] + np.where(out["dirty"].astype(bool), " (dirty)", "")
    return out.drop(columns="dirty").sort_values(["date", "source"]).reset_index(drop=True)


def side_by_side(frame: pd.DataFrame, before: str, after: str) -> pd.DataFrame:
    """Each benchmark of both runs: medians, IQRs and the change of the median in percent
    (positive: slower)."""
    keys = ["fullname"]
    cols = [c for c in ("group", "name", *CASE_PARAMS) if c in frame.columns]
    a = frame[frame["source"] == before].drop_duplicates("fullname")
    b = frame[frame["source"] == after].drop_duplicates("fullname")
    both = b[keys + cols + ["median", "iqr"]].merge(a[keys + ["median", "iqr"]], on=keys, suffixes=("", "_before"))
    both = both[(both["median_before"] > 0) & (both["median"] > 0)].copy()
    both["change_pct"] = (both["median"] / both["median_before"] - 1) * 100
    return both.sort_values("change_pct", ascending=False).reset_index(drop=True)


def _case_figure(newest: pd.DataFrame) -> Figure:
    """Median time per call of the newest run: one panel per product, families along x, one
    colour per backend, the interquartile range as a bar."""
    plt = pyplot()
    prods = ordered(newest["product"])
    fams = ordered(newest["family"])
    colours = colour_map(ordered(newest["backend"]))
    fig, axes = panels(len(prods), width=5.5, height=3.6, cols=2)
    step = 0.8 / max(1, len(colours))
    for ax, prod in zip(axes, prods):
        p = newest[newest["product"] == prod]
        for i, (be, colour) in enumerate(colours.items()):
            b = p[p["backend"] == be]
            if not len(b):
                continue
            x = np.array([fams.index(f) for f in b["family"]]) - 0.4 + (i + 0.5) * step
            lo = (b["median"] - b["q1"]).clip(lower=0)
            hi = (b["q3"] - b["median"]).clip(lower=0)
            ax.errorbar(x, b["median"], yerr=[lo, hi], fmt="o", ms=3, color=colour, label=be, lw=0.8)
        ax.set_yscale("log")
        ax.set_xticks(range(len(fams)), fams, rotation=60, ha="right", fontsize=7)
        ax.set_ylabel("median time per call (s)")
        ax.set_title(prod)
    axes[0].legend(loc="best", fontsize=7)
    fig.tight_layout()
    return Figure("pytest-benchmark-cases", "pytest-benchmark, newest run: median time per call (bars: IQR)",
                  png(fig))


def _change_figure(pairs: list) -> Figure:
    """The ratio of each benchmark's medians, sorted, one line per machine compared, against the
    gate's threshold (log scale: a slowdown and a speedup of one factor lie as far from 1)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8.5, 4.2))
    for machine, label, both in pairs:
        ax.plot(np.arange(len(both)), (1 + both["change_pct"] / 100).sort_values().to_numpy(), "o-", ms=2, lw=0.8,
                label=f"{machine}: {label}")
    gate = 1 + COMPARE_FAIL_MEDIAN_PERCENT / 100
    ax.axhline(gate, color="red", ls="--", lw=1, label=f"the gate: ×{gate:g} (+{COMPARE_FAIL_MEDIAN_PERCENT} %)")
    ax.axhline(1, color="black", lw=0.8)
    ax.set_yscale("log")
    from matplotlib.ticker import FuncFormatter

    for axis in (ax.yaxis.set_major_formatter, ax.yaxis.set_minor_formatter):
        axis(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_xlabel("benchmarks, sorted by the change of their median")
    ax.set_ylabel("median: newer ÷ older (×)")
    ax.set_title("Newest run against the one before, benchmark by benchmark")
    ax.legend(loc="best")
    fig.tight_layout()
    return Figure("pytest-benchmark-change", "pytest-benchmark: change of each median between the last two runs",
                  png(fig))


def draw(res) -> Section:
    sec = Section(SECTION.key, SECTION.title)
    frame = res.pybench
    if not len(frame):
        sec.missing = ("No pytest-benchmark runs (.benchmarks/<machine id>/NNNN_*.json, or a --benchmark-json "
                       "file): `pytest tests/benchmarks --benchmark-only --benchmark-autosave` writes them "
                       "(see the README).")
        return sec
    frame = frame.dropna(subset=["median"])
    table = runs(frame)
    sec.tables.append(("Runs (oldest first)", table.assign(source=table["source"].map(_short))
                       .rename(columns={"source": "file"})))
    newest = frame[frame["source"] == table["source"].iloc[-1]]
    if {"family", "product", "backend"} <= set(newest.columns) and newest["family"].notna().any():
        sec.figures.append(_case_figure(newest.dropna(subset=["family", "product", "backend"])))
        pivot = newest.pivot_table(index=["family", "product"], columns="backend", values="median", sort=False)
        sec.tables.append((f"Newest run ({_short(table['source'].iloc[-1])}): median seconds per call",
                           pivot.reset_index()))
    else:
        cols = [c for c in ("group", "name", "median", "iqr", "rounds", "iterations") if c in newest.columns]
        sec.tables.append((f"Newest run ({_short(table['source'].iloc[-1])})", newest[cols]))
    pairs = []
    for machine, t in table.groupby("machine", sort=False):
        if len(t) < 2:
            continue
        before, after = t["source"].iloc[-2], t["source"].iloc[-1]
        both = side_by_side(frame, before, after)
        label = f"{t['commit'].iloc[-1]} against {t['commit'].iloc[-2]}"
        pairs.append((machine, label, both))
        slower = both[both["change_pct"] > COMPARE_FAIL_MEDIAN_PERCENT]
        faster = both[both["change_pct"] < -COMPARE_FAIL_MEDIAN_PERCENT]
        sec.notes.append(
            f"{machine}: {_short(after)} against {_short(before)} ({label}): {len(both)} benchmarks in both; "
            f"{len(slower)} slower and {len(faster)} faster by more than {COMPARE_FAIL_MEDIAN_PERCENT} % of the "
            f"median; median change {fmt(float(both['change_pct'].median()))} %.")
        shown = [c for c in ("group", "name", "median_before", "median", "change_pct", "iqr_before", "iqr")
                 if c in both.columns]
        if len(slower):
            sec.tables.append((f"{machine}: slower than the gate allows ({len(slower)})", slower[shown]))
    if pairs:
        sec.figures.insert(0, _change_figure(pairs))
    else:
        sec.notes.append("One run per machine: the side-by-side comparison needs two runs of one machine.")
    machines = frame["machine"].nunique()
    sec.intro = (f"{len(table)} pytest-benchmark run{'s' if len(table) > 1 else ''}, "
                 f"{frame['fullname'].nunique()} benchmarks, "
                 f"{machines} machine{'s' if machines > 1 else ''}. Times are seconds per call (the median of the rounds, "
                 "each averaging its iterations); runs are compared only on one machine, benchmark by benchmark, "
                 f"against the gate's threshold (`--benchmark-compare-fail=median:{COMPARE_FAIL_MEDIAN_PERCENT}%`).")
    return sec


def _short(source: str) -> str:
    from pathlib import Path

    p = Path(source)
    return f"{p.parent.name}/{p.name}" if p.parent.name else p.name


#: no evbench table needed: ``draw`` says itself when no pytest-benchmark file was read
SECTION = SectionSpec("pytest_benchmark", "pytest-benchmark runs", (), draw)
