"""Speedup over the dense baseline against the active fraction, and the crossover."""
from __future__ import annotations


import numpy as np
import pandas as pd

from .figures import (
    Figure, Section, SectionSpec, colour_map, expr_label, main_product, ok_cases, ordered, panels, png, x_active,
)


#: the backend every speedup is measured against: the dense XLA product at float32 accuracy
#: (``jnp.matmul`` with ``precision=highest``); registered as ``dense``
BASELINE = "dense"


def speedups(ok: pd.DataFrame) -> pd.DataFrame:
    """Per case, the baseline's median time over the backend's, inside one results file."""
    keys = [k for k in ("source", "family", "product", "device", "n", "active", "conn_num", "batch", "dtype")
            if k in ok.columns]
    base = ok[ok["backend"] == BASELINE][keys + ["median_s"]].rename(columns={"median_s": "baseline_s"})
    others = ok[ok["backend"] != BASELINE]
    merged = others.merge(base, on=keys, how="inner")
    merged["speedup"] = merged["baseline_s"] / merged["median_s"]
    merged["x"] = x_active(merged)
    return merged


def crossings(x, y) -> list[float]:
    """Every active fraction where the speedup crosses 1 (log-linear interpolation between the
    two points either side), in increasing order."""
    order = np.argsort(x)
    x, y = np.asarray(x, float)[order], np.asarray(y, float)[order]
    ly = np.log(y)
    out = []
    for i in range(len(x) - 1):
        if ly[i] == 0:
            out.append(float(x[i]))
        elif ly[i] * ly[i + 1] < 0:
            lx0, lx1 = np.log(x[i]), np.log(x[i + 1])
            out.append(float(np.exp(lx0 + (0 - ly[i]) * (lx1 - lx0) / (ly[i + 1] - ly[i]))))
    return out


def crossover(x, y) -> float | None:
    """The first crossing of 1 (see :func:`crossings`), or None."""
    found = crossings(x, y)
    return found[0] if found else None


def draw(res) -> Section:
    sec = Section(SECTION.key, SECTION.title)
    ok = ok_cases(res.bench, "median_s")
    if not len(ok):
        sec.missing = "No benchmark results (bench-* files): run `evbench bench` or `evbench run`."
        return sec
    if BASELINE not in set(ok["backend"]):
        sec.missing = f"The benchmarks have no `{BASELINE}` (dense XLA) timings to compare with."
        return sec
    sp = speedups(ok)
    sp = sp[(sp["x"] > 0) & (sp["speedup"] > 0)]
    if not len(sp):
        sec.missing = "No case has both a backend's and the dense baseline's timing at a non-zero active fraction."
        return sec
    backends = ordered(sp["backend"])
    colours = colour_map(ordered(ok["backend"]))
    rows = []
    for device in ordered(sp["device"]):
        d = sp[sp["device"] == device]
        families = ordered(d["family"])
        fig, axes = panels(len(families))
        for ax, fam in zip(axes, families):
            f = d[d["family"] == fam]
            product = main_product(f, fam)
            f = f[f["product"] == product]
            n = f["n"].max()
            f = f[(f["n"] == n) & (f["batch"] == f["batch"].min())]
            for be in backends:
                b = f[f["backend"] == be].sort_values("x")
                if not len(b):
                    continue
                b = b.groupby("x", as_index=False)["speedup"].median()
                ax.plot(b["x"], b["speedup"], "o-", color=colours[be], label=be, ms=4)
                found = crossings(b["x"], b["speedup"]) if len(b) > 1 else []
                cross = found[0] if found else None
                if cross is not None:
                    ax.axvline(cross, color=colours[be], ls=":", lw=1)
                    ax.plot([cross], [1.0], marker="X", color=colours[be], ms=8, mec="black", mew=0.5)
                lo = b.iloc[0]
                rows.append(dict(device=device, family=fam, product=product, n=int(n), backend=be,
                                 speedup_at_lowest=lo["speedup"], lowest_active=lo["x"],
                                 speedup_at_highest=b.iloc[-1]["speedup"], highest_active=b.iloc[-1]["x"],
                                 crossover_active=cross if cross is not None else np.nan,
                                 verdict=verdict(b, found)))
            ax.axhline(1.0, color="black", lw=0.8)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_title(f"{fam}: {expr_label(f, product)}, n={int(n)}", fontsize=8)
            ax.set_xlabel("measured active fraction")
            ax.set_ylabel(f"speedup over {BASELINE} (×)")
            ax.legend(loc="best")
        fig.suptitle(f"Speedup over the dense XLA product on {device} (above 1: faster; ✕ marks the crossover)",
                     y=1.0)
        fig.tight_layout()
        sec.figures.append(Figure(f"speedup-{device}", f"Speedup over dense XLA, {device}", png(fig)))
    table = pd.DataFrame(rows)
    sec.tables.append(("Speedup at the lowest and highest active fraction, and the crossover", table))
    sec.intro = ("Speedup = dense XLA median time ÷ the backend's, measured in the same run. Each panel shows the "
                 "family's event-driven product at the largest n; the crossover is the active fraction where the "
                 "speedup falls through 1 (interpolated on log axes).")
    return sec


def verdict(b: pd.DataFrame, crossings: list) -> str:
    if len(crossings) == 1:
        cross = crossings[0]
        return f"faster below {cross:.3g} active" if b.iloc[0]["speedup"] > 1 else f"faster above {cross:.3g} active"
    if crossings:
        return f"crosses 1 {len(crossings)} times (at {', '.join(f'{c:.3g}' for c in crossings)}): within the noise?"
    return "faster over the whole range" if (b["speedup"] > 1).all() else "slower over the whole range"


SECTION = SectionSpec('speedup', f"Speedup over the dense XLA product (`{BASELINE}`, precision=highest) against the active fraction", ('bench',), draw)
