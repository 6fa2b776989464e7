"""Memory per family and backend against n."""
from __future__ import annotations


import pandas as pd

from .figures import Figure, Section, SectionSpec, colour_map, ok_cases, ordered, png, pyplot


def draw(res) -> Section:
    sec = Section(SECTION.key, SECTION.title)
    ok = ok_cases(res.bench, "n")
    cols = [c for c in ("structure_bytes", "backend_bytes", "device_peak_bytes") if c in ok.columns]
    if not len(ok) or not cols:
        sec.missing = "No benchmark results with memory figures (bench-* files)."
        return sec
    for c in cols:
        ok[c] = pd.to_numeric(ok[c], errors="coerce")
    cols = [c for c in cols if ok[c].gt(0).any()]
    if not cols:
        sec.missing = "The benchmarks recorded no memory figures."
        return sec
    plt = pyplot()
    families = ordered(ok["family"])
    colours = colour_map(families)
    labels = {"structure_bytes": "evbench's structure, per family",
              "backend_bytes": "each backend's prepared data (largest over families)",
              "device_peak_bytes": "device peak bytes in use, per family (largest over backends)"}
    fig, axes = plt.subplots(1, len(cols), figsize=(5.2 * len(cols), 4.4), squeeze=False)
    rows = []
    backend_colours = colour_map(ordered(ok["backend"]))
    for ax, col in zip(axes.flat, cols):
        # evbench's structure, per family; what each backend prepares, the largest over families
        by = "family" if col != "backend_bytes" else "backend"
        data = ok[ok[col] > 0].groupby([by, "n"], sort=False)[col].max().reset_index()
        colours_ = colours if by == "family" else backend_colours
        for i, name in enumerate(ordered(data[by])):
            f = data[data[by] == name].sort_values("n")
            ax.plot(f["n"], f[col], marker="osD^v<>"[i % 7], ls="-", color=colours_[name], label=name, ms=4)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("n (neurons; n × n structure)")
        ax.set_ylabel("bytes (B)")
        ax.set_title(labels[col], fontsize=9)
        ax.legend(loc="best", fontsize=7, ncol=2)
    fig.tight_layout()
    sec.figures.append(Figure("memory", "Memory per family against n", png(fig)))
    for (fam, n), g in ok.groupby(["family", "n"], sort=False):
        rows.append(dict(family=fam, n=int(n), **{c: g[c].max() for c in cols}))
    sec.tables.append(("Bytes per family and n (largest over backends)", pd.DataFrame(rows)))
    sec.intro = ("Structures stored in O(synapses) grow ∝ n at fixed conn_num; dense ones ∝ n²; just-in-time ones "
                 "not at all.")
    return sec


SECTION = SectionSpec('memory', "Memory per family against n", ('bench',), draw)
