"""Spike times: exact agreement, convergence with dt, SparseProp's cost, the E/I networks."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..results import SPIKETIME_TABLES
from .figures import (
    Figure, Section, SectionSpec, colour_map, fit_slope, num, ordered, panels, png, pyplot, spans_decades, style_map,
)


def table_or_none(res, name: str, need=()) -> pd.DataFrame | None:
    t = res.spiketimes.get(name)
    if t is None or not len(t) or any(c not in t.columns for c in need):
        return None
    return t


def draw(res) -> Section:
    sec = Section(SECTION.key, SECTION.title)
    if not any(len(t) for t in res.spiketimes.values()):
        sec.missing = "No spike-time results (spiketimes-* files): run `evbench spiketimes`."
        return sec
    for part in (_exact, _convergence, _operators, _statistics, _scaling, _ei):
        part(res, sec)
    for name, t in res.spiketimes.items():
        if name not in SPIKETIME_TABLES:
            sec.notes.append(f"Table `{name}` ({len(t)} rows) is not one the report knows; left out.")
    return sec


def _exact(res, sec: Section) -> None:
    """Exact against exact, and against NEST: tables."""
    exact = table_or_none(res, "exact")
    if exact is not None:
        cols = [c for c in ("model", "n", "k", "delay", "t_ref", "n_spikes", "identical_indices",
                            "max_rel_time_error", "first_mismatch", "status") if c in exact.columns]
        sec.tables.append(("Exact against exact (SparseProp against the naive reference)", exact[cols]))
    else:
        sec.notes.append("No `exact` table (SparseProp against the naive reference).")
    nest = table_or_none(res, "nest", ("network", "simulator", "rule", "status"))
    if nest is not None:
        cols = [c for c in ("network", "n", "simulator", "rule", "n_spikes", "n_spikes_nest", "identical",
                            "max_abs_dt_ms", "first_divergence", "first_divergence_ms", "cause", "seconds",
                            "seconds_nest", "status") if c in nest.columns]
        sec.tables.append(("Against NEST's iaf_psc_delta_ps: under NEST's rule for simultaneous pulses (summed) "
                           "evbench must reproduce it spike for spike; under its own (sequential) the first "
                           "divergence and its cause", nest[cols]))


def _convergence(res, sec: Section) -> None:
    """Spike-time error against dt, one panel per model, with the convergence order."""
    conv = table_or_none(res, "convergence", ("dt_ms",))
    if conv is not None and "status" in conv.columns:
        conv = conv[conv["status"].astype(str) == "ok"]
        conv = conv if len(conv) else None
    err_col = next((c for c in ("mean_abs_error_ms", "max_abs_error_ms") if conv is not None and c in conv.columns),
                   None)
    if conv is None or not err_col:
        sec.notes.append("No `convergence` table (spike-time error against dt).")
        return
    order = table_or_none(res, "order")
    keys = [k for k in ("model", "backend", "interpolation") if k in conv.columns]
    groups = list(conv.groupby(keys, sort=False)) if keys else [((), conv)]
    models = ordered(conv["model"]) if "model" in conv.columns else [None]
    fig, axes = panels(len(models), width=4.6, height=3.8, cols=3)
    interp = next((k for k in keys if k.startswith("interp")), None)
    styles = style_map([k for k, _ in groups], keys, "backend", interp)
    fitted = []
    for ax, model in zip(axes, models):
        for key, g in groups:
            key = key if isinstance(key, tuple) else (key,)
            kd = dict(zip(keys, key))
            if model is None or kd.get("model") == model:
                row = _convergence_curve(ax, g, kd, keys, err_col, order, styles[key])
                if row:
                    fitted.append(row)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("time step dt (ms)")
        ax.set_ylabel(f"{err_col.replace('_ms', '').replace('_', ' ')} of spike times (ms)")
        ax.set_title(f"{model}: time-stepped against exact" if model else "time-stepped against exact")
        ax.legend(loc="best", fontsize=7)
    fig.tight_layout()
    sec.figures.append(Figure("spiketime-convergence", "Spike-time error against dt", png(fig)))
    sec.tables.append(("Convergence order (error ∝ dtᵖ)", pd.DataFrame(fitted)))


def _convergence_curve(ax, g, kd, keys, err_col, order, style) -> dict | None:
    """One curve of error against dt, labelled with its order (from the ``order`` table, else
    fitted to the points shown); the row of the order table shown under the figure."""
    g = g.copy()
    g["dt_ms"] = pd.to_numeric(g["dt_ms"], errors="coerce")
    g[err_col] = pd.to_numeric(g[err_col], errors="coerce")
    g = g[(g["dt_ms"] > 0) & (g[err_col] > 0)].sort_values("dt_ms")
    if not len(g):
        return None
    p, se, found = order_of(order, kd)
    if not found:
        p, se = fit_slope(g["dt_ms"], g[err_col])
    label = " ".join(f"{k}={kd[k]}" if k.startswith("interp") else f"{kd[k]}" for k in keys if k != "model") or "error"
    label += f" (order {p:.2f})" if np.isfinite(p) else " (order –)"
    colour, ls, marker = style
    ax.plot(g["dt_ms"], g[err_col], ls=ls, marker=marker, color=colour, label=label, ms=4, alpha=0.85)
    return dict(**kd, order=p, order_stderr=se, source="order table" if found else "fitted here", points=len(g))


def _operators(res, sec: Section) -> None:
    ops = table_or_none(res, "operators")
    if ops is not None:
        sec.tables.append(("Time-stepped networks driven by each backend's operator, step by step", ops))


def _statistics(res, sec: Section) -> None:
    """Network statistics beyond the chaotic horizon, with their confidence intervals."""
    stats = table_or_none(res, "statistics", ("statistic", "value"))
    if stats is None:
        return
    statistics = ordered(stats["statistic"])
    fig, axes = panels(len(statistics), width=4.2, height=3.2, cols=3)
    for ax, st in zip(axes, statistics):
        s = stats[stats["statistic"] == st].reset_index(drop=True)
        labels = [" ".join(str(r[k]) for k in ("model", "impl") if k in s.columns) for _, r in s.iterrows()]
        v = pd.to_numeric(s["value"], errors="coerce").to_numpy(float)
        lo = pd.to_numeric(s.get("ci_low", pd.Series(np.nan, index=s.index)), errors="coerce").to_numpy(float)
        hi = pd.to_numeric(s.get("ci_high", pd.Series(np.nan, index=s.index)), errors="coerce").to_numpy(float)
        yerr = np.vstack([np.nan_to_num(v - lo, nan=0.0), np.nan_to_num(hi - v, nan=0.0)]).clip(min=0)
        ax.errorbar(range(len(v)), v, yerr=yerr, fmt="o", capsize=3)
        ax.set_xticks(range(len(v)), labels, rotation=45, ha="right", fontsize=7)
        ax.set_ylabel({"rate_hz": "rate (Hz)", "cv_isi": "CV of ISIs (1)", "fano": "Fano factor (1)"}.get(st, st))
        ax.set_title(f"{st} with confidence interval")
    fig.tight_layout()
    sec.figures.append(Figure("spiketime-statistics", "Network statistics beyond the chaotic horizon", png(fig)))
    sec.tables.append(("Statistics", stats.drop(columns=["source", "stamp", "machine"], errors="ignore")))


def _scaling(res, sec: Section) -> None:
    """SparseProp's and the naive simulator's cost per spike against N, with log-log slopes."""
    scaling = table_or_none(res, "scaling", ("n",))
    if scaling is None:
        sec.notes.append("No `scaling` table (SparseProp per-spike cost against N).")
        return
    sc = scaling.copy()
    sc["n"] = pd.to_numeric(sc["n"], errors="coerce")
    if {"seconds", "n_spikes"} <= set(sc.columns):
        sc["s_per_spike"] = pd.to_numeric(sc["seconds"], errors="coerce") / pd.to_numeric(sc["n_spikes"],
                                                                                          errors="coerce")
    elif "spikes_per_s" in sc.columns:
        sc["s_per_spike"] = 1.0 / pd.to_numeric(sc["spikes_per_s"], errors="coerce")
    if "s_per_spike" not in sc.columns:
        return
    keys = [k for k in ("impl", "model", "k") if k in sc.columns]
    fig, ax = pyplot().subplots(figsize=(7.5, 4.6))
    groups = list(sc.groupby(keys, sort=False)) if keys else [((), sc)]
    colours = colour_map([k for k, _ in groups])
    slopes = []
    for key, g in groups:
        key = key if isinstance(key, tuple) else (key,)
        g = g[(g["n"] > 0) & (g["s_per_spike"] > 0)].sort_values("n")
        if not len(g):
            continue
        slope, se = fit_slope(g["n"], g["s_per_spike"])
        name = " ".join(f"{k}={v}" if k == "k" else str(v) for k, v in zip(keys, key))
        ax.plot(g["n"], g["s_per_spike"] * 1e6, "o-", color=colours[key],
                label=f"{name} (slope {slope:.2f})" if np.isfinite(slope) else name, ms=4)
        slopes.append(dict(zip(keys, key), slope=slope, slope_stderr=se, points=len(g)))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("N (neurons)")
    ax.set_ylabel("wall time per network spike (µs)")
    ax.set_title("Exact event-driven simulation: cost per spike against N")
    ax.legend(loc="best", fontsize=7)
    fig.tight_layout()
    sec.figures.append(Figure("sparseprop-scaling", "SparseProp per-spike cost against N", png(fig)))
    sec.tables.append(("Per-spike cost: log-log slope against N (SparseProp: O(k log N), naive: O(N))",
                       pd.DataFrame(slopes)))


def _ei(res, sec: Section) -> None:
    """The E/I networks' wall time per simulated second, by size and backend."""
    ei = table_or_none(res, "ei")
    if ei is None:
        sec.notes.append("No `ei` table (E/I network wall time per simulated second).")
        return
    e = ei[ei["status"].astype(str) == "ok"].copy() if "status" in ei.columns else ei.copy()
    e["wall_per_sim_s"] = pd.to_numeric(e["wall_per_sim_s"], errors="coerce")
    xcol = next((c for c in ("n_neurons", "scale") if c in e.columns), None)
    keys = [k for k in ("model", "backend") if k in e.columns]
    fig, ax = pyplot().subplots(figsize=(8.5, 5.0))
    groups = list(e.groupby(keys, sort=False)) if keys else [((), e)]
    styles = style_map([k for k, _ in groups], keys, "backend" if "backend" in keys else "model",
                       "model" if "backend" in keys and "model" in keys else None)
    for key, g in groups:
        colour, ls, marker = styles[key]
        key = key if isinstance(key, tuple) else (key,)
        name = " ".join(map(str, key)) or "E/I"
        if xcol is None:
            ax.bar(name, g["wall_per_sim_s"].median(), color=colour)
            continue
        g = g.assign(_x=pd.to_numeric(g[xcol], errors="coerce")).sort_values("_x")
        ax.plot(g["_x"], g["wall_per_sim_s"], ls=ls, color=colour, marker=marker, ms=5, label=name)
        inr = g.get("in_regime")
        good = inr.astype(str).str.lower().isin(["true", "1"]) if inr is not None else pd.Series(True, g.index)
        ax.plot(g.loc[~good, "_x"], g.loc[~good, "wall_per_sim_s"], ls="none", marker=marker, mfc="white",
                mec=colour, ms=7)
    if xcol is not None:
        ax.set_xscale("log")
        ax.set_xlabel("network size (neurons)" if xcol == "n_neurons" else "network scale")
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=7,
                  title="hollow marker: outside\nthe expected firing regime", title_fontsize=7)
    if spans_decades(e["wall_per_sim_s"]):
        ax.set_yscale("log")
    ax.set_ylabel("wall seconds per simulated second (s/s)")
    ax.set_title("E/I network: wall time per simulated second")
    fig.tight_layout()
    sec.figures.append(Figure("ei-wall", "E/I network wall time per simulated second", png(fig)))
    sec.tables.append(("E/I network", e.drop(columns=["source", "stamp", "machine"], errors="ignore")))


def order_of(order: pd.DataFrame | None, kd: dict) -> tuple[float, float, bool]:
    """``(order, its standard error, found)`` from the ``order`` table for one curve."""
    if order is None or "order" not in order.columns:
        return np.nan, np.nan, False
    m = order
    for k, v in kd.items():
        if k in m.columns:
            m = m[m[k].astype(str) == str(v)]
    if not len(m):
        return np.nan, np.nan, False
    se = m["order_stderr"].iloc[0] if "order_stderr" in m.columns else np.nan
    return num(m["order"].iloc[0]), num(se), True


SECTION = SectionSpec("spiketimes", "Spike times: exact agreement, NEST, convergence with dt, SparseProp cost, E/I network",
                      tuple("spiketimes-" + t for t in SPIKETIME_TABLES), draw)
