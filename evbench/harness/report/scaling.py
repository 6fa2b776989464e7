"""Time against network size n, log-log, with fitted slopes."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .figures import (
    Figure, Section, SectionSpec, colour_map, expr_label, fit_slope, main_product, ok_cases, ordered, panels, png, x_active,
)


def draw(res) -> Section:
    sec = Section(SECTION.key, SECTION.title)
    ok = ok_cases(res.bench, "median_s", "n")
    if not len(ok):
        sec.missing = "No benchmark results (bench-* files)."
        return sec
    sizes = sorted(ok["n"].unique())
    if len(sizes) < 2:
        sec.missing = f"Needs at least two network sizes; these benchmarks have n = {int(sizes[0])} only."
        return sec
    colours = colour_map(ordered(ok["backend"]))
    ok = ok.assign(x=x_active(ok))
    rows = []
    for device in ordered(ok["device"]):
        d = ok[ok["device"] == device]
        families = [f for f in ordered(d["family"]) if d.loc[d["family"] == f, "n"].nunique() > 1]
        if not families:
            continue
        fig, axes = panels(len(families))
        for ax, fam in zip(axes, families):
            f = d[d["family"] == fam]
            product = main_product(f, fam)
            f = f[(f["product"] == product) & (f["batch"] == f["batch"].min())]
            # the active fraction nearest 1 %: a sparse, typical firing
            target = min(f["active"].unique(), key=lambda a: abs(math.log(max(a, 1e-9) / 0.01)))
            f = f[f["active"] == target]
            for be in ordered(f["backend"]):
                b = f[f["backend"] == be].groupby("n", as_index=False)["median_s"].median().sort_values("n")
                slope, se = fit_slope(b["n"], b["median_s"])
                label = f"{be} (slope {slope:.2f})" if np.isfinite(slope) else be
                ax.plot(b["n"], b["median_s"], "o-", color=colours[be], label=label, ms=4)
                rows.append(dict(device=device, family=fam, product=product, active=target, backend=be,
                                 sizes=", ".join(str(int(v)) for v in b["n"]), slope=slope, slope_stderr=se))
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("n (neurons; n × n structure)")
            ax.set_ylabel("median time per call (s)")
            ax.set_title(f"{fam}: {expr_label(f, product)}, active {target:g}", fontsize=8)
            ax.legend(loc="best")
        fig.suptitle(f"Time against n on {device}", y=1.0)
        fig.tight_layout()
        sec.figures.append(Figure(f"scaling-{device}", f"Time against n, {device}", png(fig)))
    if not rows:
        sec.missing = "No family was timed at two network sizes."
        return sec
    sec.tables.append(("Fitted slopes of log time against log n", pd.DataFrame(rows)))
    sec.intro = ("The slope is the exponent of a power law time ∝ nˢ fitted by least squares to the points shown "
                 "(conn_num fixed, so synapses grow ∝ n): 2 for dense work, about 1 for work ∝ synapses, below 1 "
                 "where fixed costs (dispatch, launch) dominate.")
    return sec


SECTION = SectionSpec('scaling', "Time against network size n (log-log, fitted slopes)", ('bench',), draw)
