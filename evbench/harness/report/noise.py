"""Noise: the relative IQR of every benchmark case."""
from __future__ import annotations



from .figures import Figure, Section, SectionSpec, colour_map, ok_cases, ordered, png, pyplot


#: a measurement whose IQR exceeds this fraction of its median is flagged as noisy
NOISY_IQR = 0.10


def draw(res) -> Section:
    sec = Section(SECTION.key, SECTION.title)
    ok = ok_cases(res.bench, "median_s", "iqr_s")
    if not len(ok):
        sec.missing = "No benchmark results with IQRs (bench-* files)."
        return sec
    ok = ok[ok["median_s"] > 0].copy()
    ok["rel_iqr"] = ok["iqr_s"] / ok["median_s"]
    ok["noisy"] = ok["rel_iqr"] > NOISY_IQR
    plt = pyplot()
    colours = colour_map(ordered(ok["backend"]))
    fig, ax = plt.subplots(figsize=(8.5, 4.6))
    for be in ordered(ok["backend"]):
        b = ok[ok["backend"] == be]
        ax.scatter(b["median_s"], b["rel_iqr"].clip(lower=1e-4), s=12, alpha=0.6, color=colours[be], label=be)
    noisy = ok[ok["noisy"]]
    if len(noisy):
        ax.scatter(noisy["median_s"], noisy["rel_iqr"], s=40, facecolors="none", edgecolors="red", lw=1,
                   label=f"noisy ({len(noisy)})")
    ax.axhline(NOISY_IQR, color="red", ls="--", lw=1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("median time per call (s)")
    ax.set_ylabel("IQR ÷ median (relative spread)")
    ax.set_title("Relative spread of the repeats of each case (dashed: noisy threshold)")
    ax.legend(loc="best")
    fig.tight_layout()
    sec.figures.append(Figure("noise", "Relative IQR of every case", png(fig)))
    reps = "repeats" if "repeats" in ok.columns else None
    by = ok.groupby("backend", sort=False).agg(cases=("rel_iqr", "size"), noisy=("noisy", "sum"),
                                                median_rel_iqr=("rel_iqr", "median"), max_rel_iqr=("rel_iqr", "max"))
    sec.tables.append(("Noise per backend", by.reset_index()))
    if len(noisy):
        cols = [c for c in ("family", "backend", "product", "device", "n", "active", "batch", "median_s", "iqr_s",
                            "rel_iqr", reps) if c and c in noisy.columns]
        sec.tables.append(("Noisiest cases", noisy.sort_values("rel_iqr", ascending=False)[cols].head(15)))
    sec.intro = (f"{int(ok['noisy'].sum())} of {len(ok)} cases have an IQR above {NOISY_IQR:.0%} of their median: "
                 "read their ratios with care (other processes, frequency scaling, too few repeats).")
    return sec


SECTION = SectionSpec('noise', f"Noise of each measurement (IQR; flagged above {NOISY_IQR:.0%} of the median)", ('bench',), draw)
