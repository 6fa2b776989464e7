"""Across commits: asv's history, and the regressions between the last two commits."""
from __future__ import annotations


import numpy as np
import pandas as pd

from .figures import Figure, Section, SectionSpec, num, ordered, panels, png, pyplot


#: an asv benchmark that got worse by more than this factor between two commits is a regression
REGRESSION_FACTOR = 1.2


def _higher_is_better(name: str) -> bool:
    return name.split(".")[-1].startswith("track_") and any(s in name for s in ("per_s", "gb_s", "bandwidth"))


def _deterministic(name: str) -> bool:
    """Benchmarks read from one sample per commit (memory: a peak varies far less between runs
    of the same code than a time does, so a change of more than ×1.2 is taken as real)."""
    last = name.split(".")[-1]
    return last.startswith("peakmem_") or last.endswith("_bytes")


def draw(res) -> Section:
    sec = Section(SECTION.key, SECTION.title)
    a = res.asv
    if not len(a):
        sec.missing = "No asv results (results/asv/<machine>/<commit>-<env>.json): run `asv run` (see the README)."
        return sec
    a = a.dropna(subset=["value"])
    commits = a.groupby("commit")["date"].min().sort_values()
    if len(commits) < 2:
        c = commits.index[0] if len(commits) else "?"
        sec.missing = (f"asv results for one commit only ({str(c)[:8]}, {a['benchmark'].nunique()} benchmarks): "
                       "history and regressions need at least two.")
        return sec
    order = {c: i for i, c in enumerate(commits.index)}
    a = a.assign(pos=a["commit"].map(order))
    plt = pyplot()
    kinds = ordered(a["benchmark"].map(lambda b: b.split(".")[-1].split("_")[0]))
    fig, axes = panels(len(kinds), width=5.0, height=3.8, cols=3)
    for ax, kind in zip(axes, kinds):
        k = a[a["benchmark"].map(lambda b: b.split(".")[-1].split("_")[0]) == kind]
        series = k.groupby(["machine", "benchmark", "params"], sort=False)
        ratios = []
        for _, s in series:
            s = s.sort_values("pos")
            first = s["value"].iloc[0]
            if not first or not np.isfinite(first) or first <= 0:
                continue
            ax.plot(s["pos"], s["value"] / first, color="grey", alpha=0.25, lw=0.8)
            ratios.append((s["value"] / first).set_axis(s["pos"]))
        if ratios:
            med = pd.concat(ratios, axis=1).median(axis=1).sort_index()
            ax.plot(med.index, med.to_numpy(), "o-", color="C3", lw=2, label="median of all series")
        ax.axhline(1.0, color="black", lw=0.8)
        ax.set_yscale("log")
        ax.set_xticks(range(len(commits)), [str(c)[:8] for c in commits.index], rotation=45, ha="right",
                      fontsize=7)
        ax.set_xlabel("commit (by commit date)")
        ax.set_ylabel("value ÷ value at the first commit (×)")
        ax.set_title(f"{kind}_ benchmarks ({series.ngroups} series)")
        ax.legend(loc="best")
    fig.tight_layout()
    sec.figures.append(Figure("history", "asv benchmarks across commits, relative to the first", png(fig)))
    last, prev = commits.index[-1], commits.index[-2]
    keys = ["machine", "benchmark", "params"]
    both = a[a["commit"] == last].merge(a[a["commit"] == prev], on=keys, suffixes=("", "_prev"), how="inner")
    rows, unconfirmed = [], 0
    for _, r in both.iterrows():
        idx = tuple(r[k] for k in keys)
        if not (r["value_prev"] > 0 and r["value"] > 0):
            continue
        ratio = r["value"] / r["value_prev"]
        worse = 1 / ratio if _higher_is_better(idx[1]) else ratio
        if worse <= REGRESSION_FACTOR:
            continue
        spread = [num(r.get(c, np.nan)) for c in ("q25", "q75", "q25_prev", "q75_prev")]
        # one sample gives q25 == q75 (asv --quick writes that for time_ benchmarks): no spread
        if all(np.isfinite(v) for v in spread) and spread[0] < spread[1] and spread[2] < spread[3]:
            grew = ratio > 1  # time and memory grew, or events/s and GB/s fell
            if (r["q25"] <= r["q75_prev"]) if grew else (r["q75"] >= r["q25_prev"]):  # IQRs overlap: noise
                continue
        elif not _deterministic(idx[1]):  # no spread (asv --quick, track_ timings)
            unconfirmed += 1
            continue
        rows.append(dict(machine=idx[0], benchmark=idx[1], params=idx[2], before=r["value_prev"],
                         after=r["value"], worse_by=worse))
    sec.intro = (f"{len(commits)} commits, {a['benchmark'].nunique()} benchmarks. A regression: the newest commit "
                 f"({str(last)[:8]}) worse than the one before ({str(prev)[:8]}) by more than ×{REGRESSION_FACTOR} "
                 "with interquartile ranges apart (time and memory: higher is worse; events/s and GB/s: lower); "
                 "a measurement without repeats counts only for memory, which varies far less between runs than time.")
    if rows:
        sec.tables.append((f"{len(rows)} regressions", pd.DataFrame(rows).sort_values("worse_by", ascending=False)))
    else:
        sec.notes.append(f"No regression between {str(prev)[:8]} and {str(last)[:8]}.")
    if unconfirmed:
        sec.notes.append(f"{unconfirmed} measurements worse by more than ×{REGRESSION_FACTOR} have one sample per "
                         "commit (no interquartile range: `asv run --quick`, or a track_ timing) and are not called "
                         "regressions; run asv without --quick to confirm or dismiss them.")
    return sec


SECTION = SectionSpec('history', "Across commits (asv)", ('asv',), draw)
