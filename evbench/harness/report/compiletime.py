"""Compile time of the first call per family and backend."""
from __future__ import annotations


import numpy as np

from .figures import (
    Figure, Section, SectionSpec, bench_cases, colour_map, ok_cases, ordered, png, pyplot, spans_decades,
)


def draw(res) -> Section:
    sec = Section(SECTION.key, SECTION.title)
    ok = ok_cases(res.bench, "compile_s")
    if not len(ok):
        sec.missing = "No benchmark results with compile times (bench-* files)."
        return sec
    if "compile_cached" in ok.columns:
        cached = ok["compile_cached"].astype(str).str.lower().isin(["true", "1"])
        ok = ok[~cached]
    ok = ok[ok["compile_s"] > 0]
    if not len(ok):
        sec.missing = "No case compiled anything (every backend ran on the host, or every compile was cached)."
        return sec
    plt = pyplot()
    families = ordered(ok["family"])
    backends = ordered(ok["backend"])
    colours = colour_map(ordered(bench_cases(res.bench)["backend"]))
    med = ok.groupby(["family", "backend"], sort=False)["compile_s"].median().unstack().reindex(index=families,
                                                                                                 columns=backends)
    fig, ax = plt.subplots(figsize=(9, 0.32 * len(families) * max(1, len(backends)) / 2 + 2))
    height = 0.8 / max(1, len(backends))
    ypos = np.arange(len(families))
    for i, be in enumerate(backends):
        vals = med[be].to_numpy(dtype=float)
        ax.barh(ypos + i * height - 0.4 + height / 2, np.nan_to_num(vals, nan=0.0), height=height, color=colours[be],
                label=be)
    ax.set_yticks(ypos, families)
    ax.invert_yaxis()
    if spans_decades(med.to_numpy().ravel()):
        ax.set_xscale("log")
    ax.set_xlabel("compile time of the first call, median over products and sizes (s)")
    ax.set_title("Compile time (tracing + lowering + compilation; cached compiles left out)")
    ax.legend(loc="best")
    fig.tight_layout()
    sec.figures.append(Figure("compile", "Compile time per family and backend", png(fig)))
    sec.tables.append(("Median compile seconds", med.reset_index()))
    return sec


SECTION = SectionSpec('compile', "Compile time", ('bench',), draw)
