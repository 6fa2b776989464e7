"""What every section of the report draws with: the section and figure records, matplotlib
helpers (Agg backend, PNG bytes, panel grids, colours and line styles, log-log slopes) and the
views of the benchmark table the sections share."""
from __future__ import annotations

import io
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

#: worst first: the colour of a conformance cell is its worst status
SEVERITY = ("error", "FAIL", "missing", "differs", "xfail", "pass", "unsupported")
STATUS_COLOURS = {
    "error": "#7f0000", "FAIL": "#d7301f", "missing": "#bdbdbd", "differs": "#fdae61", "xfail": "#fee08b",
    "pass": "#1a9850", "unsupported": "#f0f0f0", "other": "#984ea3",
}


@dataclass
class Figure:
    name: str
    caption: str
    png: bytes


@dataclass
class Section:
    key: str
    title: str
    #: one line when the data is missing
    missing: str = ""
    intro: str = ""
    figures: list = field(default_factory=list)
    #: (title, DataFrame) shown as tables
    tables: list = field(default_factory=list)
    notes: list = field(default_factory=list)


def pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 9, "axes.titlesize": 10, "axes.grid": True, "grid.alpha": 0.3,
                         "legend.fontsize": 8, "figure.dpi": 100})
    return plt


def png(fig) -> bytes:
    plt = pyplot()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def panels(n_panels: int, width: float = 3.8, height: float = 3.0, cols: int = 4):
    plt = pyplot()
    cols = max(1, min(cols, n_panels))
    rows = math.ceil(n_panels / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    flat = list(axes.flat)
    for ax in flat[n_panels:]:
        ax.set_visible(False)
    return fig, flat[:n_panels]


def colour_map(names) -> dict:
    plt = pyplot()
    names = list(names)
    cmap = plt.get_cmap("tab10" if len(names) <= 10 else "tab20")
    return {n: cmap(i % cmap.N) for i, n in enumerate(names)}


LINESTYLES = ("-", "--", ":", "-.")
MARKERS = "osD^v<>"


def style_map(keys: list, keynames: list, colour_by: str, style_by: str | None) -> dict:
    """``{key: (colour, linestyle, marker)}``: one colour per value of ``colour_by`` (the
    backend), one line style and marker per value of ``style_by`` (interpolation, model), so
    that curves drawn on top of each other stay distinguishable."""
    def part(key, name):
        key = key if isinstance(key, tuple) else (key,)
        return dict(zip(keynames, key)).get(name)

    colours = colour_map(ordered(part(k, colour_by) for k in keys))
    styles = {v: i for i, v in enumerate(ordered(part(k, style_by) for k in keys))} if style_by else {}
    out = {}
    for k in keys:
        i = styles.get(part(k, style_by), 0) if style_by else 0
        out[k] = (colours.get(part(k, colour_by), "C0"), LINESTYLES[i % len(LINESTYLES)], MARKERS[i % len(MARKERS)])
    return out


def spans_decades(values, decades: float = 1.5) -> bool:
    v = np.asarray(pd.to_numeric(pd.Series(values), errors="coerce").dropna(), dtype=float)
    v = v[v > 0]
    return len(v) > 1 and np.log10(v.max() / v.min()) >= decades


def ordered(values) -> list:
    """Unique values in order of first appearance (the catalogue's order, as the data has it)."""
    return list(dict.fromkeys(v for v in values if isinstance(v, str) or not pd.isna(v)))


def fit_slope(x, y) -> tuple[float, float]:
    """Least-squares slope of log y against log x and its standard error (NaN where undefined)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = (x > 0) & (y > 0) & np.isfinite(x) & np.isfinite(y)
    x, y = np.log(x[ok]), np.log(y[ok])
    if len(np.unique(x)) < 2:
        return np.nan, np.nan
    A = np.vstack([x, np.ones_like(x)]).T
    coef, res, *_ = np.linalg.lstsq(A, y, rcond=None)
    if len(x) > 2:
        resid = y - A @ coef
        se = math.sqrt(float(resid @ resid) / (len(x) - 2) / float(((x - x.mean()) ** 2).sum()))
    else:
        se = np.nan
    return float(coef[0]), se


def fmt(v, digits: int = 3) -> str:
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (float, np.floating)):
        if not np.isfinite(v):
            return "–"
        return f"{v:.{digits}g}"
    if v is None or (not isinstance(v, str) and pd.isna(v)):
        return "–"
    return str(v)



def num(v) -> float:
    try:
        return float(v) if v is not None else np.nan
    except (TypeError, ValueError):
        return np.nan



#: what identifies a benchmark case (the bench table has one row per repeat)
BENCH_KEYS = ("machine", "family", "backend", "product", "device", "n", "active", "conn_num", "batch", "dtype",
              "workload")


def bench_cases(bench: pd.DataFrame) -> pd.DataFrame:
    """One row per benchmark case (the bench table has one row per repeat)."""
    if not len(bench):
        return bench
    keys = [k for k in (*BENCH_KEYS, "source") if k in bench.columns]
    return bench.drop_duplicates(keys).reset_index(drop=True)


def ok_cases(bench: pd.DataFrame, *need) -> pd.DataFrame:
    cases = bench_cases(bench)
    if not len(cases) or "status" not in cases.columns or any(c not in cases.columns for c in need):
        return cases.iloc[0:0]
    ok = cases[cases["status"] == "ok"].copy()
    for c in need:
        ok[c] = pd.to_numeric(ok[c], errors="coerce")
    return ok.dropna(subset=list(need))


def x_active(frame: pd.DataFrame) -> pd.Series:
    """The measured active fraction where recorded, else the requested one."""
    measured = pd.to_numeric(frame.get("active_fraction", pd.Series(np.nan, index=frame.index)), errors="coerce")
    return measured.fillna(pd.to_numeric(frame.get("active"), errors="coerce"))


def main_product(ok: pd.DataFrame, family: str) -> str | None:
    """The product a family's panels show: its first event-driven unbatched product in the
    data, else its first product."""
    f = ok[ok["family"] == family]
    if not len(f):
        return None
    products = ordered(f["product"])
    if "event_driven" in f.columns:
        ed = f[f["event_driven"].astype(str).str.lower().isin(["true", "1"])]
        unbatched = [p for p in ordered(ed["product"]) if "batch" not in str(p)]
        if unbatched:
            return unbatched[0]
        if len(ed):
            return ordered(ed["product"])[0]
    return products[0]


def expr_label(ok: pd.DataFrame, product: str) -> str:
    if "expr" in ok.columns:
        e = ok.loc[ok["product"] == product, "expr"].dropna()
        if len(e):
            return f"{e.iloc[0]} ({product})"
    return str(product)



@dataclass(frozen=True)
class SectionSpec:
    """One section of the report: its key and title, the results tables it reads (names in
    :data:`evbench.harness.results.TABLES`, or ``"asv"``) and ``draw(results) -> Section``.
    When none of those tables has rows, the section is not drawn: its one line says which files
    are missing and which command writes them (:meth:`missing`)."""

    key: str
    title: str
    needs: tuple
    draw: object

    def missing(self) -> str:
        from ..results import TABLES

        names, commands = [], []
        for name in self.needs:
            if name == "asv":
                names.append("asv results (results/asv/<machine>/<commit>-<env>.json)")
                commands.append("asv run")
            else:
                names.append(f"{name}-*")
                commands.append(TABLES.get(name).made_by)
        commands = list(dict.fromkeys(commands))
        return (f"No data: no {' or '.join(names)} files were read; "
                + " or ".join(f"`{c}`" for c in commands) + " writes them.")

    def make(self, res) -> Section:
        if self.needs and not any(res.has(name) for name in self.needs):
            return Section(self.key, self.title, missing=self.missing())
        return self.draw(res)
