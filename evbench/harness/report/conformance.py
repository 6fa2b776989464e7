"""Conformance: family × backend × check, coloured by the worst status."""
from __future__ import annotations


import numpy as np
import pandas as pd

from ..checks import CHECKS
from .figures import Figure, SEVERITY, STATUS_COLOURS, Section, SectionSpec, ordered, panels, png, pyplot


def status_of_cell(text) -> str:
    """The status of a cell of the validate table (``pass 0.29``, ``FAIL``, ``value``, ``-``…)."""
    if text is None or (not isinstance(text, str) and pd.isna(text)):
        return ""
    word = str(text).split()[0].rstrip(":") if str(text).strip() else ""
    if word in ("-", ""):
        return ""
    if word in ("value", "nonzero"):
        return "pass"
    return word if word in SEVERITY else "other"


def conformance_frame(res) -> pd.DataFrame:
    """family, backend, check, status: one row per check of every product and backend mode."""
    if len(res.checks) and {"family", "backend", "check", "status"} <= set(res.checks.columns):
        return res.checks[["family", "backend", "check", "status"]].astype(str)
    v = res.validate
    if not len(v) or not {"family", "backend"} <= set(v.columns):
        return pd.DataFrame(columns=["family", "backend", "check", "status"])
    checks = [c for c in CHECKS.names() if c in v.columns]
    long = v.melt(id_vars=["family", "backend"], value_vars=checks, var_name="check", value_name="cell")
    long["status"] = long["cell"].map(status_of_cell)
    return long[long["status"] != ""][["family", "backend", "check", "status"]].astype(str)


def worst_status(statuses) -> str:
    s = set(statuses)
    for st in SEVERITY:
        if st in s:
            return st
    return "other" if s else ""


def draw(res) -> Section:
    sec = Section(SECTION.key, SECTION.title)
    conf = conformance_frame(res)
    if not len(conf):
        sec.missing = "The validation results have no family, backend, check and status columns to show."
        return sec
    families = ordered(conf["family"])
    backends = ordered(conf["backend"])
    checks = ordered(conf["check"])
    worst = conf.groupby(["family", "backend", "check"], sort=False)["status"].agg(worst_status)
    present = [s for s in (*SEVERITY, "other") if s in set(worst)]
    code = {s: i for i, s in enumerate(present)}
    pyplot()
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    cmap = ListedColormap([STATUS_COLOURS[s] for s in present])
    fig, axes = panels(len(backends), width=0.42 * len(checks) + 1.9, height=0.27 * len(families) + 1.3,
                      cols=min(3, len(backends)))
    for ax, backend in zip(axes, backends):
        grid = np.full((len(families), len(checks)), np.nan)
        for i, fam in enumerate(families):
            for j, chk in enumerate(checks):
                st = worst.get((fam, backend, chk))
                if st:
                    grid[i, j] = code[st]
        ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=-0.5, vmax=len(present) - 0.5, aspect="auto",
                  interpolation="nearest")
        ax.set_xticks(range(len(checks)), checks, rotation=60, ha="right")
        ax.set_yticks(range(len(families)), families)
        ax.set_title(f"backend: {backend}")
        ax.grid(False)
        ax.set_xticks(np.arange(-0.5, len(checks)), minor=True)
        ax.set_yticks(np.arange(-0.5, len(families)), minor=True)
        ax.grid(which="minor", color="white", linewidth=1)
        ax.tick_params(which="minor", length=0)
    fig.legend(handles=[Patch(color=STATUS_COLOURS[s], label=s) for s in present], loc="lower center",
               ncol=len(present), bbox_to_anchor=(0.5, -0.02), title="worst status over products and modes "
               "(blank: not applicable)")
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    sec.figures.append(Figure("conformance", "Worst status of each check, per family and backend", png(fig)))
    counts = conf.groupby("backend", sort=False)["status"].value_counts().unstack(fill_value=0)
    counts = counts[[s for s in (*SEVERITY, "other") if s in counts.columns]]
    sec.tables.append(("Checks per backend, by status", counts.reset_index()))
    matrix = worst.groupby(["family", "backend"], sort=False).agg(worst_status).unstack()
    matrix = matrix.reindex(index=families, columns=backends).fillna("")
    sec.tables.append(("Worst status per family and backend", matrix.reset_index()))
    if len(res.validate) and "status" in res.validate.columns:
        bad = res.validate[res.validate["status"].isin(["FAIL", "error"])]
        if len(bad):
            cols = [c for c in ("family", "product", "backend", "mode", "status", "detail") if c in bad.columns]
            sec.tables.append((f"{len(bad)} failing family × product × backend rows", bad[cols].head(40)))
    sec.intro = ("Each cell is the worst outcome of that check over every product and backend mode of the "
                 "family. *differs* marks a documented difference of event semantics, not an error; "
                 "*unsupported* a product the backend does not offer.")
    return sec


SECTION = SectionSpec('conformance', "Conformance: family × backend × check", ('checks', 'validate'), draw)
