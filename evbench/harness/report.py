"""``evbench report``: one self-contained HTML page and a Markdown summary of evbench results.

It reads what the other commands write — ``validate-*``, ``checks-*``, ``bench-*`` and
``spiketimes-<table>-*`` tables (``.csv``, or ``.json`` records where no ``.csv`` sits beside
it), their ``.meta.json`` — and asv result files (``<commit>-<env>.json`` under
``results/asv/<machine>/``), from files or folders (searched recursively), with pandas.

Every section draws only on the data it needs: a section whose data is missing says so in one
line, and nothing missing breaks the page. Figures are drawn with matplotlib's Agg backend and
embedded in the HTML as base64 PNG (no external asset); the Markdown links the same figures,
written beside it in ``report-figures/``. Every file is written atomically, the HTML last.

Ratios (speedups, bandwidth fractions) are only formed inside one results file: they are
measured side by side in one run, on one machine.
"""
from __future__ import annotations

import base64
import html
import io
import json
import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

#: the backend every speedup is measured against: the dense XLA product (registered as ``dense``)
BASELINE = "dense"
#: a measurement whose IQR exceeds this fraction of its median is flagged as noisy
NOISY_IQR = 0.10
#: an asv benchmark that got worse by more than this factor between two commits is a regression
REGRESSION_FACTOR = 1.2
#: the spike-time tables `evbench spiketimes` writes (``spiketimes-<table>-<profile>-<stamp>``)
SPIKETIME_TABLES = ("exact", "convergence", "order", "operators", "statistics", "scaling", "ei")

_STAMP = re.compile(r"(\d{8}T\d{6}Z)")
_KINDS = ("validate", "checks", "bench", "spiketimes")
#: folders under a results root that hold no results (asv's environments and dashboard)
_SKIP_DIRS = {"env", "asv-html", ".asv", "report-figures", "__pycache__"}
#: worst first: the colour of a conformance cell is its worst status
_SEVERITY = ("error", "FAIL", "missing", "differs", "xfail", "pass", "unsupported")
_STATUS_COLOURS = {
    "error": "#7f0000", "FAIL": "#d7301f", "missing": "#bdbdbd", "differs": "#fdae61", "xfail": "#fee08b",
    "pass": "#1a9850", "unsupported": "#f0f0f0", "other": "#984ea3",
}


class ReportError(ValueError):
    """Bad input to the report: a path that does not exist, a folder without results."""


# -- reading --------------------------------------------------------------------------------


@dataclass
class Results:
    """Everything read, as pandas tables (empty when absent). Every evbench table has a
    ``source`` column (the file it came from) and ``stamp`` (its UTC time, from the name)."""

    validate: pd.DataFrame = field(default_factory=pd.DataFrame)
    checks: pd.DataFrame = field(default_factory=pd.DataFrame)
    bench: pd.DataFrame = field(default_factory=pd.DataFrame)
    spiketimes: dict = field(default_factory=dict)
    #: one row per asv benchmark × parameter combination × commit
    asv: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: ``{source path: metadata}`` from ``.meta.json`` files
    meta: dict = field(default_factory=dict)
    files: list = field(default_factory=list)

    def empty(self) -> bool:
        return not (len(self.validate) or len(self.checks) or len(self.bench) or len(self.asv)
                    or any(len(t) for t in self.spiketimes.values()))


def _kind(path: Path) -> tuple[str, str] | None:
    """``(kind, table)`` of an evbench results file from its name, or None."""
    name = path.name
    if name.endswith(".meta.json") or path.suffix not in (".csv", ".json"):
        return None
    for kind in _KINDS:
        if name.startswith(kind + "-"):
            if kind == "spiketimes":
                table = name[len("spiketimes-"):].split("-", 1)[0]
                return (kind, table) if table else None
            return kind, ""
    return None


def _stamp_of(path: Path) -> str:
    m = _STAMP.search(path.name)
    return m.group(1) if m else ""


def _files(paths) -> list[Path]:
    out = []
    for raw in paths:
        p = Path(raw)
        if not p.exists():
            raise ReportError(f"results path {str(raw)!r} does not exist")
        if p.is_dir():
            root = p.resolve()
            found = sorted(f.resolve() for f in root.rglob("*") if f.suffix in (".csv", ".json") and f.is_file()
                           and not _SKIP_DIRS & set(f.relative_to(root).parts[:-1]))
            out.extend(found)
        else:
            if p.suffix not in (".csv", ".json"):
                raise ReportError(f"results file {str(raw)!r} is neither .csv nor .json")
            out.append(p.resolve())
    return list(dict.fromkeys(out))


def _read_table(path: Path) -> pd.DataFrame:
    if path.suffix == ".csv":
        frame = pd.read_csv(path, keep_default_na=True)
    else:
        frame = pd.DataFrame(json.loads(path.read_text()))
    frame["source"] = str(path)
    frame["stamp"] = _stamp_of(path)
    return frame


def _is_asv(obj) -> bool:
    return isinstance(obj, dict) and "commit_hash" in obj and "results" in obj and "result_columns" in obj


def _asv_rows(obj: dict, path: Path) -> list[dict]:
    """One row per benchmark × parameter combination of one asv results file."""
    cols = obj["result_columns"]
    machine = (obj.get("params") or {}).get("machine", path.parent.name)
    rows = []
    for name, values in obj["results"].items():
        entry = dict(zip(cols, values))
        result = entry.get("result")
        params = entry.get("params") or []
        if result is None:
            continue
        result = result if isinstance(result, list) else [result]
        combos = [()] if not params else list(_product(params))
        q25 = entry.get("stats_q_25") or [None] * len(result)
        q75 = entry.get("stats_q_75") or [None] * len(result)
        for i, value in enumerate(result):
            combo = combos[i] if i < len(combos) else ()
            rows.append(dict(benchmark=name, params=", ".join(str(c) for c in combo), value=_num(value),
                             q25=_num(q25[i] if i < len(q25) else None), q75=_num(q75[i] if i < len(q75) else None),
                             commit=obj["commit_hash"], date=obj.get("date"), machine=machine,
                             env=obj.get("env_name", ""), source=str(path)))
    return rows


def _product(params):
    import itertools

    return itertools.product(*params)


def _num(v) -> float:
    try:
        return float(v) if v is not None else np.nan
    except (TypeError, ValueError):
        return np.nan


def _newest(frame: pd.DataFrame, keys) -> pd.DataFrame:
    """Per key, the rows of the newest file that has it (a later partial run replaces those
    cases of an earlier one and leaves the others)."""
    keys = [k for k in keys if k in frame.columns]
    if not len(frame) or not keys or frame["source"].nunique() == 1:
        return frame
    order = frame["stamp"].astype(str) + "\0" + frame["source"].astype(str)
    newest = order.groupby([frame[k].astype(object).fillna("").astype(str) for k in keys],
                           dropna=False).transform("max")
    return frame[order == newest].reset_index(drop=True)


_BENCH_KEYS = ("machine", "family", "backend", "product", "device", "n", "active", "conn_num", "batch", "dtype")


def load(paths) -> Results:
    """Read every evbench and asv results file in ``paths`` (files or folders, recursively).
    ``ReportError`` for a path that does not exist or when nothing readable is found."""
    paths = list(paths)
    if not paths:
        raise ReportError("no results path given")
    res = Results()
    tables: dict = {}
    asv_rows: list = []
    files = _files(paths)
    stems = {f.with_suffix("") for f in files if f.suffix == ".csv"}
    for f in files:
        try:
            if f.name.endswith(".meta.json"):
                res.meta[str(f)] = json.loads(f.read_text())
                continue
            kind = _kind(f)
            if kind is not None:
                if f.suffix == ".json" and f.with_suffix("") in stems:
                    continue  # the same table as the .csv beside it
                frame = _read_table(f)
                meta = res.meta.get(str(f.with_suffix(".meta.json"))) or _read_meta(f)
                frame["machine"] = (meta or {}).get("machine", "")
                tables.setdefault(kind, []).append(frame)
                res.files.append(str(f))
            elif f.suffix == ".json" and f.name not in ("machine.json", "benchmarks.json"):
                obj = json.loads(f.read_text())
                if _is_asv(obj):
                    asv_rows.extend(_asv_rows(obj, f))
                    res.files.append(str(f))
        except (ValueError, OSError, KeyError, TypeError, pd.errors.ParserError) as exc:
            print(f"evbench report: skipping {f}: {type(exc).__name__}: {exc}", file=sys.stderr)
    for (kind, table), frames in tables.items():
        frame = pd.concat(frames, ignore_index=True)
        if kind == "validate":
            res.validate = _newest(frame, ("machine", "family", "product", "backend", "option"))
        elif kind == "checks":
            res.checks = _newest(frame, ("machine", "family", "product", "backend", "option", "check"))
        elif kind == "bench":
            res.bench = _newest(frame, _BENCH_KEYS)
        else:
            res.spiketimes[table] = frame
    if asv_rows:
        res.asv = pd.DataFrame(asv_rows)
    if res.empty():
        raise ReportError(f"no evbench or asv results found in {', '.join(repr(str(p)) for p in paths)}")
    return res


def _read_meta(table_path: Path) -> dict | None:
    """The ``.meta.json`` of a table: beside it under its stem, or a sibling of the same stamp
    (``checks-*`` shares the ``validate-*`` one)."""
    stamp = _stamp_of(table_path)
    if not stamp:
        return None
    siblings = sorted(table_path.parent.glob(f"*{stamp}*.meta.json"))
    for cand in [table_path.with_suffix("").with_suffix(".meta.json")] + siblings:
        if cand.exists():
            try:
                return json.loads(cand.read_text())
            except (ValueError, OSError):
                return None
    return None


# -- figures --------------------------------------------------------------------------------


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


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 9, "axes.titlesize": 10, "axes.grid": True, "grid.alpha": 0.3,
                         "legend.fontsize": 8, "figure.dpi": 100})
    return plt


def _png(fig) -> bytes:
    plt = _plt()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _grid(n_panels: int, width: float = 3.8, height: float = 3.0, cols: int = 4):
    plt = _plt()
    cols = max(1, min(cols, n_panels))
    rows = math.ceil(n_panels / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    flat = list(axes.flat)
    for ax in flat[n_panels:]:
        ax.set_visible(False)
    return fig, flat[:n_panels]


def _colours(names) -> dict:
    plt = _plt()
    names = list(names)
    cmap = plt.get_cmap("tab10" if len(names) <= 10 else "tab20")
    return {n: cmap(i % cmap.N) for i, n in enumerate(names)}


_LINESTYLES = ("-", "--", ":", "-.")
_MARKERS = "osD^v<>"


def _styles(keys: list, keynames: list, colour_by: str, style_by: str | None) -> dict:
    """``{key: (colour, linestyle, marker)}``: one colour per value of ``colour_by`` (the
    backend), one line style and marker per value of ``style_by`` (interpolation, model), so
    that curves drawn on top of each other stay distinguishable."""
    def part(key, name):
        key = key if isinstance(key, tuple) else (key,)
        return dict(zip(keynames, key)).get(name)

    colours = _colours(_ordered(part(k, colour_by) for k in keys))
    styles = {v: i for i, v in enumerate(_ordered(part(k, style_by) for k in keys))} if style_by else {}
    out = {}
    for k in keys:
        i = styles.get(part(k, style_by), 0) if style_by else 0
        out[k] = (colours.get(part(k, colour_by), "C0"), _LINESTYLES[i % len(_LINESTYLES)], _MARKERS[i % len(_MARKERS)])
    return out


def _spans_decades(values, decades: float = 1.5) -> bool:
    v = np.asarray(pd.to_numeric(pd.Series(values), errors="coerce").dropna(), dtype=float)
    v = v[v > 0]
    return len(v) > 1 and np.log10(v.max() / v.min()) >= decades


def _ordered(values) -> list:
    """Unique values in order of first appearance (the catalogue's order, as the data has it)."""
    return list(dict.fromkeys(v for v in values if isinstance(v, str) or not pd.isna(v)))


def _fit_slope(x, y) -> tuple[float, float]:
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


def _fmt(v, digits: int = 3) -> str:
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (float, np.floating)):
        if not np.isfinite(v):
            return "–"
        return f"{v:.{digits}g}"
    if v is None or (not isinstance(v, str) and pd.isna(v)):
        return "–"
    return str(v)


# -- the data each section uses --------------------------------------------------------------


def _cases(bench: pd.DataFrame) -> pd.DataFrame:
    """One row per benchmark case (the bench table has one row per repeat)."""
    if not len(bench):
        return bench
    keys = [k for k in (*_BENCH_KEYS, "source") if k in bench.columns]
    return bench.drop_duplicates(keys).reset_index(drop=True)


def _ok(bench: pd.DataFrame, *need) -> pd.DataFrame:
    cases = _cases(bench)
    if not len(cases) or "status" not in cases.columns or any(c not in cases.columns for c in need):
        return cases.iloc[0:0]
    ok = cases[cases["status"] == "ok"].copy()
    for c in need:
        ok[c] = pd.to_numeric(ok[c], errors="coerce")
    return ok.dropna(subset=list(need))


def _x_active(frame: pd.DataFrame) -> pd.Series:
    """The measured active fraction where recorded, else the requested one."""
    measured = pd.to_numeric(frame.get("active_fraction", pd.Series(np.nan, index=frame.index)), errors="coerce")
    return measured.fillna(pd.to_numeric(frame.get("active"), errors="coerce"))


def _main_product(ok: pd.DataFrame, family: str) -> str | None:
    """The product a family's panels show: its first event-driven unbatched product in the
    data, else its first product."""
    f = ok[ok["family"] == family]
    if not len(f):
        return None
    products = _ordered(f["product"])
    if "event_driven" in f.columns:
        ed = f[f["event_driven"].astype(str).str.lower().isin(["true", "1"])]
        unbatched = [p for p in _ordered(ed["product"]) if "batch" not in str(p)]
        if unbatched:
            return unbatched[0]
        if len(ed):
            return _ordered(ed["product"])[0]
    return products[0]


def _expr(ok: pd.DataFrame, product: str) -> str:
    if "expr" in ok.columns:
        e = ok.loc[ok["product"] == product, "expr"].dropna()
        if len(e):
            return f"{e.iloc[0]} ({product})"
    return str(product)


# -- sections -------------------------------------------------------------------------------


def _status_of_cell(text) -> str:
    """The status of a cell of the validate table (``pass 0.29``, ``FAIL``, ``value``, ``-``…)."""
    if text is None or (not isinstance(text, str) and pd.isna(text)):
        return ""
    word = str(text).split()[0].rstrip(":") if str(text).strip() else ""
    if word in ("-", ""):
        return ""
    if word in ("value", "nonzero"):
        return "pass"
    return word if word in _SEVERITY else "other"


def _conformance_frame(res: Results) -> pd.DataFrame:
    """family, backend, check, status: one row per check of every product and option."""
    if len(res.checks) and {"family", "backend", "check", "status"} <= set(res.checks.columns):
        return res.checks[["family", "backend", "check", "status"]].astype(str)
    v = res.validate
    if not len(v) or not {"family", "backend"} <= set(v.columns):
        return pd.DataFrame(columns=["family", "backend", "check", "status"])
    checks = [c for c in ("equivalence", "semantics", "transpose", "batch", "jit", "grad", "determinism",
                          "statistics") if c in v.columns]
    long = v.melt(id_vars=["family", "backend"], value_vars=checks, var_name="check", value_name="cell")
    long["status"] = long["cell"].map(_status_of_cell)
    return long[long["status"] != ""][["family", "backend", "check", "status"]].astype(str)


def _worst(statuses) -> str:
    s = set(statuses)
    for st in _SEVERITY:
        if st in s:
            return st
    return "other" if s else ""


def section_conformance(res: Results) -> Section:
    sec = Section("conformance", "Conformance: family × backend × check")
    conf = _conformance_frame(res)
    if not len(conf):
        sec.missing = "No validation results (validate-*/checks-* files): run `evbench validate`."
        return sec
    families = _ordered(conf["family"])
    backends = _ordered(conf["backend"])
    checks = _ordered(conf["check"])
    worst = conf.groupby(["family", "backend", "check"], sort=False)["status"].agg(_worst)
    present = [s for s in (*_SEVERITY, "other") if s in set(worst)]
    code = {s: i for i, s in enumerate(present)}
    _plt()
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    cmap = ListedColormap([_STATUS_COLOURS[s] for s in present])
    fig, axes = _grid(len(backends), width=0.42 * len(checks) + 1.9, height=0.27 * len(families) + 1.3,
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
    fig.legend(handles=[Patch(color=_STATUS_COLOURS[s], label=s) for s in present], loc="lower center",
               ncol=len(present), bbox_to_anchor=(0.5, -0.02), title="worst status over products and options "
               "(blank: not applicable)")
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    sec.figures.append(Figure("conformance", "Worst status of each check, per family and backend", _png(fig)))
    counts = conf.groupby("backend", sort=False)["status"].value_counts().unstack(fill_value=0)
    counts = counts[[s for s in (*_SEVERITY, "other") if s in counts.columns]]
    sec.tables.append(("Checks per backend, by status", counts.reset_index()))
    matrix = worst.groupby(["family", "backend"], sort=False).agg(_worst).unstack()
    matrix = matrix.reindex(index=families, columns=backends).fillna("")
    sec.tables.append(("Worst status per family and backend", matrix.reset_index()))
    if len(res.validate) and "status" in res.validate.columns:
        bad = res.validate[res.validate["status"].isin(["FAIL", "error"])]
        if len(bad):
            cols = [c for c in ("family", "product", "backend", "option", "status", "detail") if c in bad.columns]
            sec.tables.append((f"{len(bad)} failing family × product × backend rows", bad[cols].head(40)))
    sec.intro = ("Each cell is the worst outcome of that check over every product and backend option of the "
                 "family. *differs* marks a documented difference of event semantics, not an error; "
                 "*unsupported* a product the backend does not offer.")
    return sec


def _speedups(ok: pd.DataFrame) -> pd.DataFrame:
    """Per case, the baseline's median time over the backend's, inside one results file."""
    keys = [k for k in ("source", "family", "product", "device", "n", "active", "conn_num", "batch", "dtype")
            if k in ok.columns]
    base = ok[ok["backend"] == BASELINE][keys + ["median_s"]].rename(columns={"median_s": "baseline_s"})
    others = ok[ok["backend"] != BASELINE]
    merged = others.merge(base, on=keys, how="inner")
    merged["speedup"] = merged["baseline_s"] / merged["median_s"]
    merged["x"] = _x_active(merged)
    return merged


def _crossings(x, y) -> list[float]:
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


def _crossover(x, y) -> float | None:
    """The first crossing of 1 (see :func:`_crossings`), or None."""
    found = _crossings(x, y)
    return found[0] if found else None


def section_speedup(res: Results) -> Section:
    sec = Section("speedup", f"Speedup over the dense XLA product (`{BASELINE}`) against the active fraction")
    ok = _ok(res.bench, "median_s")
    if not len(ok):
        sec.missing = "No benchmark results (bench-* files): run `evbench bench` or `evbench run`."
        return sec
    if BASELINE not in set(ok["backend"]):
        sec.missing = f"The benchmarks have no `{BASELINE}` (dense XLA) timings to compare with."
        return sec
    sp = _speedups(ok)
    sp = sp[(sp["x"] > 0) & (sp["speedup"] > 0)]
    if not len(sp):
        sec.missing = "No case has both a backend's and the dense baseline's timing at a non-zero active fraction."
        return sec
    backends = _ordered(sp["backend"])
    colours = _colours(_ordered(ok["backend"]))
    rows = []
    for device in _ordered(sp["device"]):
        d = sp[sp["device"] == device]
        families = _ordered(d["family"])
        fig, axes = _grid(len(families))
        for ax, fam in zip(axes, families):
            f = d[d["family"] == fam]
            product = _main_product(f, fam)
            f = f[f["product"] == product]
            n = f["n"].max()
            f = f[(f["n"] == n) & (f["batch"] == f["batch"].min())]
            for be in backends:
                b = f[f["backend"] == be].sort_values("x")
                if not len(b):
                    continue
                b = b.groupby("x", as_index=False)["speedup"].median()
                ax.plot(b["x"], b["speedup"], "o-", color=colours[be], label=be, ms=4)
                crossings = _crossings(b["x"], b["speedup"]) if len(b) > 1 else []
                cross = crossings[0] if crossings else None
                if cross is not None:
                    ax.axvline(cross, color=colours[be], ls=":", lw=1)
                    ax.plot([cross], [1.0], marker="X", color=colours[be], ms=8, mec="black", mew=0.5)
                lo = b.iloc[0]
                rows.append(dict(device=device, family=fam, product=product, n=int(n), backend=be,
                                 speedup_at_lowest=lo["speedup"], lowest_active=lo["x"],
                                 speedup_at_highest=b.iloc[-1]["speedup"], highest_active=b.iloc[-1]["x"],
                                 crossover_active=cross if cross is not None else np.nan,
                                 verdict=_verdict(b, crossings)))
            ax.axhline(1.0, color="black", lw=0.8)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_title(f"{fam}: {_expr(f, product)}, n={int(n)}", fontsize=8)
            ax.set_xlabel("measured active fraction")
            ax.set_ylabel(f"speedup over {BASELINE} (×)")
            ax.legend(loc="best")
        fig.suptitle(f"Speedup over the dense XLA product on {device} (above 1: faster; ✕ marks the crossover)",
                     y=1.0)
        fig.tight_layout()
        sec.figures.append(Figure(f"speedup-{device}", f"Speedup over dense XLA, {device}", _png(fig)))
    table = pd.DataFrame(rows)
    sec.tables.append(("Speedup at the lowest and highest active fraction, and the crossover", table))
    sec.intro = ("Speedup = dense XLA median time ÷ the backend's, measured in the same run. Each panel shows the "
                 "family's event-driven product at the largest n; the crossover is the active fraction where the "
                 "speedup falls through 1 (interpolated on log axes).")
    return sec


def _verdict(b: pd.DataFrame, crossings: list) -> str:
    if len(crossings) == 1:
        cross = crossings[0]
        return f"faster below {cross:.3g} active" if b.iloc[0]["speedup"] > 1 else f"faster above {cross:.3g} active"
    if crossings:
        return f"crosses 1 {len(crossings)} times (at {', '.join(f'{c:.3g}' for c in crossings)}): within the noise?"
    return "faster over the whole range" if (b["speedup"] > 1).all() else "slower over the whole range"


def section_scaling(res: Results) -> Section:
    sec = Section("scaling", "Time against network size n (log-log, fitted slopes)")
    ok = _ok(res.bench, "median_s", "n")
    if not len(ok):
        sec.missing = "No benchmark results (bench-* files)."
        return sec
    sizes = sorted(ok["n"].unique())
    if len(sizes) < 2:
        sec.missing = f"Needs at least two network sizes; these benchmarks have n = {int(sizes[0])} only."
        return sec
    colours = _colours(_ordered(ok["backend"]))
    ok = ok.assign(x=_x_active(ok))
    rows = []
    for device in _ordered(ok["device"]):
        d = ok[ok["device"] == device]
        families = [f for f in _ordered(d["family"]) if d.loc[d["family"] == f, "n"].nunique() > 1]
        if not families:
            continue
        fig, axes = _grid(len(families))
        for ax, fam in zip(axes, families):
            f = d[d["family"] == fam]
            product = _main_product(f, fam)
            f = f[(f["product"] == product) & (f["batch"] == f["batch"].min())]
            # the active fraction nearest 1 %: a sparse, typical firing
            target = min(f["active"].unique(), key=lambda a: abs(math.log(max(a, 1e-9) / 0.01)))
            f = f[f["active"] == target]
            for be in _ordered(f["backend"]):
                b = f[f["backend"] == be].groupby("n", as_index=False)["median_s"].median().sort_values("n")
                slope, se = _fit_slope(b["n"], b["median_s"])
                label = f"{be} (slope {slope:.2f})" if np.isfinite(slope) else be
                ax.plot(b["n"], b["median_s"], "o-", color=colours[be], label=label, ms=4)
                rows.append(dict(device=device, family=fam, product=product, active=target, backend=be,
                                 sizes=", ".join(str(int(v)) for v in b["n"]), slope=slope, slope_stderr=se))
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("n (neurons; n × n structure)")
            ax.set_ylabel("median time per call (s)")
            ax.set_title(f"{fam}: {_expr(f, product)}, active {target:g}", fontsize=8)
            ax.legend(loc="best")
        fig.suptitle(f"Time against n on {device}", y=1.0)
        fig.tight_layout()
        sec.figures.append(Figure(f"scaling-{device}", f"Time against n, {device}", _png(fig)))
    if not rows:
        sec.missing = "No family was timed at two network sizes."
        return sec
    sec.tables.append(("Fitted slopes of log time against log n", pd.DataFrame(rows)))
    sec.intro = ("The slope is the exponent of a power law time ∝ nˢ fitted by least squares to the points shown "
                 "(conn_num fixed, so synapses grow ∝ n): 2 for dense work, about 1 for work ∝ synapses, below 1 "
                 "where fixed costs (dispatch, launch) dominate.")
    return sec


def section_bandwidth(res: Results) -> Section:
    sec = Section("bandwidth", "Effective bandwidth against the machine's (roofline-style), synaptic events per second")
    ok = _ok(res.bench, "effective_gb_s", "bytes_touched")
    if not len(ok):
        sec.missing = "No benchmark results with effective bandwidth (bench-* files)."
        return sec
    plt = _plt()
    colours = _colours(_ordered(ok["backend"]))
    machine_bw = pd.to_numeric(ok.get("machine_read_gb_s"), errors="coerce").dropna()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.8))
    ok = ok.assign(x=_x_active(ok))
    for be in _ordered(ok["backend"]):
        b = ok[(ok["backend"] == be) & (ok["bytes_touched"] > 0) & (ok["effective_gb_s"] > 0)]
        ax1.scatter(b["bytes_touched"], b["effective_gb_s"], s=10, alpha=0.6, color=colours[be], label=be)
        if "events_per_s" in ok.columns:
            e = ok[(ok["backend"] == be)]
            e = e[pd.to_numeric(e["events_per_s"], errors="coerce") > 0]
            ax2.scatter(e["x"], pd.to_numeric(e["events_per_s"]), s=10, alpha=0.6, color=colours[be], label=be)
    if len(machine_bw):
        bw = float(machine_bw.median())
        ax1.axhline(bw, color="black", ls="--", lw=1.2, label=f"machine read bandwidth {bw:.1f} GB/s")
    ax1.set_xscale("log")
    ax1.set_yscale("log")
    ax1.set_xlabel("bytes the product must touch per call (B)")
    ax1.set_ylabel("effective bandwidth (GB/s)")
    ax1.set_title("Effective bandwidth (every case; dashed: machine's measured read bandwidth)")
    ax1.legend(loc="lower right")
    ax2.set_xscale("log")
    ax2.set_yscale("log")
    ax2.set_xlabel("measured active fraction")
    ax2.set_ylabel("synaptic events per second (1/s)")
    ax2.set_title("Synaptic events per second (every case)")
    ax2.legend(loc="best")
    fig.tight_layout()
    sec.figures.append(Figure("bandwidth", "Effective bandwidth and synaptic events per second", _png(fig)))
    agg = {"effective_gb_s": ["median", "max"]}
    if "bandwidth_fraction" in ok.columns:
        ok["bandwidth_fraction"] = pd.to_numeric(ok["bandwidth_fraction"], errors="coerce")
        agg["bandwidth_fraction"] = ["max"]
    if "events_per_s" in ok.columns:
        ok["events_per_s"] = pd.to_numeric(ok["events_per_s"], errors="coerce")
        agg["events_per_s"] = ["median", "max"]
    table = ok.groupby(["device", "backend"], sort=False).agg(agg)
    table.columns = [f"{a}_{b}" for a, b in table.columns]
    sec.tables.append(("Per backend, over every case", table.reset_index()))
    sec.intro = ("Bytes touched are what evbench's structure of the family must read (its stored bytes, times the "
                 "active fraction when the product is event-driven) plus events and outputs: the same for every "
                 "backend. Points near the dashed line are bandwidth-bound; just-in-time structures store nothing, "
                 "so their figure is small by construction (compute-bound).")
    if len(machine_bw):
        sec.notes.append(f"Machine's single-core read bandwidth: {float(machine_bw.median()):.2f} GB/s.")
    return sec


def section_memory(res: Results) -> Section:
    sec = Section("memory", "Memory per family against n")
    ok = _ok(res.bench, "n")
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
    plt = _plt()
    families = _ordered(ok["family"])
    colours = _colours(families)
    labels = {"structure_bytes": "evbench's structure, per family",
              "backend_bytes": "each backend's prepared data (largest over families)",
              "device_peak_bytes": "device peak bytes in use, per family (largest over backends)"}
    fig, axes = plt.subplots(1, len(cols), figsize=(5.2 * len(cols), 4.4), squeeze=False)
    rows = []
    backend_colours = _colours(_ordered(ok["backend"]))
    for ax, col in zip(axes.flat, cols):
        # evbench's structure, per family; what each backend prepares, the largest over families
        by = "family" if col != "backend_bytes" else "backend"
        data = ok[ok[col] > 0].groupby([by, "n"], sort=False)[col].max().reset_index()
        colours_ = colours if by == "family" else backend_colours
        for i, name in enumerate(_ordered(data[by])):
            f = data[data[by] == name].sort_values("n")
            ax.plot(f["n"], f[col], marker="osD^v<>"[i % 7], ls="-", color=colours_[name], label=name, ms=4)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("n (neurons; n × n structure)")
        ax.set_ylabel("bytes (B)")
        ax.set_title(labels[col], fontsize=9)
        ax.legend(loc="best", fontsize=7, ncol=2)
    fig.tight_layout()
    sec.figures.append(Figure("memory", "Memory per family against n", _png(fig)))
    for (fam, n), g in ok.groupby(["family", "n"], sort=False):
        rows.append(dict(family=fam, n=int(n), **{c: g[c].max() for c in cols}))
    sec.tables.append(("Bytes per family and n (largest over backends)", pd.DataFrame(rows)))
    sec.intro = ("Structures stored in O(synapses) grow ∝ n at fixed conn_num; dense ones ∝ n²; just-in-time ones "
                 "not at all.")
    return sec


def section_compile(res: Results) -> Section:
    sec = Section("compile", "Compile time")
    ok = _ok(res.bench, "compile_s")
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
    plt = _plt()
    families = _ordered(ok["family"])
    backends = _ordered(ok["backend"])
    colours = _colours(_ordered(_cases(res.bench)["backend"]))
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
    if _spans_decades(med.to_numpy().ravel()):
        ax.set_xscale("log")
    ax.set_xlabel("compile time of the first call, median over products and sizes (s)")
    ax.set_title("Compile time (tracing + lowering + compilation; cached compiles left out)")
    ax.legend(loc="best")
    fig.tight_layout()
    sec.figures.append(Figure("compile", "Compile time per family and backend", _png(fig)))
    sec.tables.append(("Median compile seconds", med.reset_index()))
    return sec


def section_noise(res: Results) -> Section:
    sec = Section("noise", f"Noise of each measurement (IQR; flagged above {NOISY_IQR:.0%} of the median)")
    ok = _ok(res.bench, "median_s", "iqr_s")
    if not len(ok):
        sec.missing = "No benchmark results with IQRs (bench-* files)."
        return sec
    ok = ok[ok["median_s"] > 0].copy()
    ok["rel_iqr"] = ok["iqr_s"] / ok["median_s"]
    ok["noisy"] = ok["rel_iqr"] > NOISY_IQR
    plt = _plt()
    colours = _colours(_ordered(ok["backend"]))
    fig, ax = plt.subplots(figsize=(8.5, 4.6))
    for be in _ordered(ok["backend"]):
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
    sec.figures.append(Figure("noise", "Relative IQR of every case", _png(fig)))
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


def _table_or_none(res: Results, name: str, need=()) -> pd.DataFrame | None:
    t = res.spiketimes.get(name)
    if t is None or not len(t) or any(c not in t.columns for c in need):
        return None
    return t


def section_spiketimes(res: Results) -> Section:
    sec = Section("spiketimes", "Spike times: exact agreement, convergence with dt, SparseProp cost, E/I network")
    if not any(len(t) for t in res.spiketimes.values()):
        sec.missing = "No spike-time results (spiketimes-* files): run `evbench spiketimes`."
        return sec
    plt = _plt()
    exact = _table_or_none(res, "exact")
    if exact is not None:
        cols = [c for c in ("model", "n", "k", "delay", "t_ref", "n_spikes", "identical_indices",
                            "max_rel_time_error", "first_mismatch", "status") if c in exact.columns]
        sec.tables.append(("Exact against exact (SparseProp against the naive reference)", exact[cols]))
    else:
        sec.notes.append("No `exact` table (SparseProp against the naive reference).")

    conv = _table_or_none(res, "convergence", ("dt_ms",))
    if conv is not None and "status" in conv.columns:
        conv = conv[conv["status"].astype(str) == "ok"]
        conv = conv if len(conv) else None
    order = _table_or_none(res, "order")
    err_col = next((c for c in ("mean_abs_error_ms", "max_abs_error_ms") if conv is not None and c in conv.columns),
                   None)
    if conv is not None and err_col:
        keys = [k for k in ("model", "backend", "interpolation" if "interpolation" in conv.columns else "interpolate")
                if k in conv.columns]
        groups = list(conv.groupby(keys, sort=False)) if keys else [((), conv)]
        models = _ordered(conv["model"]) if "model" in conv.columns else [None]
        fig, axes = _grid(len(models), width=4.6, height=3.8, cols=3)
        interp = next((k for k in keys if k.startswith("interp")), None)
        styles = _styles([k for k, _ in groups], keys, "backend", interp)
        fitted = []
        for ax, model in zip(axes, models):
            for key, g in groups:
                key = key if isinstance(key, tuple) else (key,)
                kd = dict(zip(keys, key))
                if model is not None and kd.get("model") != model:
                    continue
                g = g.copy()
                g["dt_ms"] = pd.to_numeric(g["dt_ms"], errors="coerce")
                g[err_col] = pd.to_numeric(g[err_col], errors="coerce")
                g = g[(g["dt_ms"] > 0) & (g[err_col] > 0)].sort_values("dt_ms")
                if not len(g):
                    continue
                p, se, found = _order_of(order, kd)
                if not found:  # no order table: fit the points shown
                    p, se = _fit_slope(g["dt_ms"], g[err_col])
                    source = "fitted here"
                else:
                    source = "order table"
                label = " ".join(f"{k}={kd[k]}" if k.startswith("interp") else f"{kd[k]}" for k in keys
                                 if k != "model") or "error"
                label += f" (order {p:.2f})" if np.isfinite(p) else " (order –)"
                colour, ls, marker = styles[key]
                ax.plot(g["dt_ms"], g[err_col], ls=ls, marker=marker, color=colour, label=label, ms=4, alpha=0.85)
                fitted.append(dict(**kd, order=p, order_stderr=se, source=source, points=len(g)))
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("time step dt (ms)")
            ax.set_ylabel(f"{err_col.replace('_ms', '').replace('_', ' ')} of spike times (ms)")
            ax.set_title(f"{model}: time-stepped against exact" if model else "time-stepped against exact")
            ax.legend(loc="best", fontsize=7)
        fig.tight_layout()
        sec.figures.append(Figure("spiketime-convergence", "Spike-time error against dt", _png(fig)))
        sec.tables.append(("Convergence order (error ∝ dtᵖ)", pd.DataFrame(fitted)))
    else:
        sec.notes.append("No `convergence` table (spike-time error against dt).")

    ops = _table_or_none(res, "operators")
    if ops is not None:
        sec.tables.append(("Time-stepped networks driven by each backend's operator, step by step", ops))
    stats = _table_or_none(res, "statistics", ("statistic", "value"))
    if stats is not None:
        statistics = _ordered(stats["statistic"])
        fig, axes = _grid(len(statistics), width=4.2, height=3.2, cols=3)
        for ax, st in zip(axes, statistics):
            s = stats[stats["statistic"] == st].reset_index(drop=True)
            labels = [" ".join(str(r[k]) for k in ("model", "impl") if k in s.columns) for _, r in s.iterrows()]
            v = pd.to_numeric(s["value"], errors="coerce").to_numpy(float)
            lo = pd.to_numeric(s.get("ci_low", pd.Series(np.nan, index=s.index)), errors="coerce").to_numpy(float)
            hi = pd.to_numeric(s.get("ci_high", pd.Series(np.nan, index=s.index)), errors="coerce").to_numpy(float)
            yerr = np.vstack([np.nan_to_num(v - lo, nan=0.0), np.nan_to_num(hi - v, nan=0.0)]).clip(min=0)
            ax.errorbar(range(len(v)), v, yerr=yerr, fmt="o", capsize=3)
            ax.set_xticks(range(len(v)), labels, rotation=45, ha="right", fontsize=7)
            unit = {"rate_hz": "rate (Hz)", "cv_isi": "CV of ISIs (1)", "fano": "Fano factor (1)"}.get(st, st)
            ax.set_ylabel(unit)
            ax.set_title(f"{st} with confidence interval")
        fig.tight_layout()
        sec.figures.append(Figure("spiketime-statistics", "Network statistics beyond the chaotic horizon", _png(fig)))
        sec.tables.append(("Statistics", stats.drop(columns=["source", "stamp", "machine"], errors="ignore")))

    scaling = _table_or_none(res, "scaling", ("n",))
    if scaling is not None:
        sc = scaling.copy()
        sc["n"] = pd.to_numeric(sc["n"], errors="coerce")
        if {"seconds", "n_spikes"} <= set(sc.columns):
            sc["s_per_spike"] = pd.to_numeric(sc["seconds"], errors="coerce") / pd.to_numeric(sc["n_spikes"],
                                                                                              errors="coerce")
        elif "spikes_per_s" in sc.columns:
            sc["s_per_spike"] = 1.0 / pd.to_numeric(sc["spikes_per_s"], errors="coerce")
        if "s_per_spike" in sc.columns:
            keys = [k for k in ("impl", "model", "k") if k in sc.columns]
            fig, ax = plt.subplots(figsize=(7.5, 4.6))
            groups = list(sc.groupby(keys, sort=False)) if keys else [((), sc)]
            colours = _colours([k for k, _ in groups])
            slopes = []
            for key, g in groups:
                key = key if isinstance(key, tuple) else (key,)
                g = g[(g["n"] > 0) & (g["s_per_spike"] > 0)].sort_values("n")
                if not len(g):
                    continue
                slope, se = _fit_slope(g["n"], g["s_per_spike"])
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
            sec.figures.append(Figure("sparseprop-scaling", "SparseProp per-spike cost against N", _png(fig)))
            sec.tables.append(("Per-spike cost: log-log slope against N (SparseProp: O(k log N), naive: O(N))",
                               pd.DataFrame(slopes)))
    else:
        sec.notes.append("No `scaling` table (SparseProp per-spike cost against N).")

    ei = _table_or_none(res, "ei")
    if ei is not None and ("wall_per_sim_s" in ei.columns or {"wall_s", "sim_ms"} <= set(ei.columns)):
        e = ei[ei["status"].astype(str) == "ok"].copy() if "status" in ei.columns else ei.copy()
        if "wall_per_sim_s" not in e.columns:
            e["wall_per_sim_s"] = pd.to_numeric(e["wall_s"], errors="coerce") / (pd.to_numeric(e["sim_ms"]) / 1e3)
        e["wall_per_sim_s"] = pd.to_numeric(e["wall_per_sim_s"], errors="coerce")
        xcol = next((c for c in ("n_neurons", "scale") if c in e.columns), None)
        keys = [k for k in ("model", "backend") if k in e.columns]
        fig, ax = plt.subplots(figsize=(8.5, 5.0))
        groups = list(e.groupby(keys, sort=False)) if keys else [((), e)]
        styles = _styles([k for k, _ in groups], keys, "backend" if "backend" in keys else "model",
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
        if _spans_decades(e["wall_per_sim_s"]):
            ax.set_yscale("log")
        ax.set_ylabel("wall seconds per simulated second (s/s)")
        ax.set_title("E/I network: wall time per simulated second")
        fig.tight_layout()
        sec.figures.append(Figure("ei-wall", "E/I network wall time per simulated second", _png(fig)))
        sec.tables.append(("E/I network", e.drop(columns=["source", "stamp", "machine"], errors="ignore")))
    else:
        sec.notes.append("No `ei` table (E/I network wall time per simulated second).")
    for name, t in res.spiketimes.items():
        if name not in SPIKETIME_TABLES:
            sec.notes.append(f"Table `{name}` ({len(t)} rows) is not one the report knows; left out.")
    return sec


def _order_of(order: pd.DataFrame | None, kd: dict) -> tuple[float, float, bool]:
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
    return _num(m["order"].iloc[0]), _num(se), True


def _higher_is_better(name: str) -> bool:
    return name.split(".")[-1].startswith("track_") and any(s in name for s in ("per_s", "gb_s", "bandwidth"))


def _deterministic(name: str) -> bool:
    """Benchmarks read from one sample per commit (memory: a peak varies far less between runs
    of the same code than a time does, so a change of more than ×1.2 is taken as real)."""
    last = name.split(".")[-1]
    return last.startswith("peakmem_") or last.endswith("_bytes")


def section_history(res: Results) -> Section:
    sec = Section("history", "Across commits (asv)")
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
    plt = _plt()
    kinds = _ordered(a["benchmark"].map(lambda b: b.split(".")[-1].split("_")[0]))
    fig, axes = _grid(len(kinds), width=5.0, height=3.8, cols=3)
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
    sec.figures.append(Figure("history", "asv benchmarks across commits, relative to the first", _png(fig)))
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
        spread = [_num(r.get(c, np.nan)) for c in ("q25", "q75", "q25_prev", "q75_prev")]
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


def section_machine(res: Results) -> Section:
    sec = Section("machine", "Machine, versions, date")
    if not res.meta:
        sec.missing = "No .meta.json files: machine and versions unknown."
    rows = []
    for path, m in res.meta.items():
        backends = m.get("backends") or {}
        rows.append(dict(file=Path(path).name, machine=m.get("machine", ""), date=m.get("date", ""),
                         devices=", ".join(map(str, m.get("devices", []))), cpus=m.get("cpus", ""),
                         python=m.get("python", ""), jax=m.get("jax", ""), numpy=m.get("numpy", ""),
                         backends="; ".join(f"{k}: {v}" for k, v in backends.items()),
                         platform=m.get("platform", "")))
    if rows:
        sec.tables.append(("Per results file", pd.DataFrame(rows)))
    sec.notes.append(f"{len(res.files)} results files read.")
    return sec


SECTIONS = (section_conformance, section_speedup, section_scaling, section_bandwidth, section_memory,
            section_compile, section_noise, section_spiketimes, section_history, section_machine)


# -- writing --------------------------------------------------------------------------------


@dataclass
class Report:
    html: Path
    markdown: Path
    figures: list
    sections: list


def _html_table(frame: pd.DataFrame, max_rows: int = 60) -> str:
    cols = [c for c in frame.columns if c not in ("source", "stamp")]
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
    body = []
    for _, r in frame.head(max_rows).iterrows():
        cells = []
        for c in cols:
            v = r[c]
            text = html.escape(_fmt(v))
            word = str(v).split()[0] if isinstance(v, str) and v.strip() else ""
            colour = _STATUS_COLOURS.get(word)
            ink = "white" if word in ("error", "FAIL", "pass") else "black"
            style = f' style="background:{colour};color:{ink}"' if colour else ""
            cells.append(f"<td{style}>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    more = f"<p class=note>… {len(frame) - max_rows} more rows</p>" if len(frame) > max_rows else ""
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>{more}"


def _md_table(frame: pd.DataFrame, max_rows: int = 40) -> str:
    cols = [c for c in frame.columns if c not in ("source", "stamp")]
    esc = lambda s: _fmt(s).replace("|", "\\|").replace("\n", " ")  # noqa: E731
    lines = ["| " + " | ".join(map(str, cols)) + " |", "|" + "---|" * len(cols)]
    for _, r in frame.head(max_rows).iterrows():
        lines.append("| " + " | ".join(esc(r[c]) for c in cols) + " |")
    if len(frame) > max_rows:
        lines.append(f"\n… {len(frame) - max_rows} more rows (see the HTML page)")
    return "\n".join(lines)


_CSS = """body{font-family:system-ui,sans-serif;max-width:1400px;margin:2em auto;padding:0 1em;color:#222}
h1{margin-bottom:.2em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;font-size:12px;margin:.5em 0 1em}td,th{border:1px solid #ddd;padding:2px 6px;
text-align:left}th{background:#f4f4f4}img{max-width:100%;border:1px solid #eee}.missing{color:#a33}
.note{color:#555;font-size:13px}figure{margin:1em 0}figcaption{font-size:13px;color:#555}"""


def _header(res: Results) -> dict:
    metas = list(res.meta.values())
    machines = _ordered([m.get("machine", "") for m in metas] + list(res.asv.get("machine", [])))
    dates = sorted(m.get("date", "") for m in metas if m.get("date"))
    versions = {}
    for m in metas:
        for k in ("python", "jax", "jaxlib", "numpy", "scipy", "evbench"):
            if m.get(k):
                versions.setdefault(k, m[k])
        for k, v in (m.get("backends") or {}).items():
            versions.setdefault(k, v)
    devices = _ordered(str(d).split()[0] for m in metas for d in m.get("devices", []) if str(d).strip())
    return dict(machine=", ".join(machines) or "unknown", date=(f"{dates[0]} – {dates[-1]}" if len(dates) > 1
                                                              else (dates[0] if dates else "unknown")),
                devices=", ".join(map(str, devices)) or "unknown",
                versions="; ".join(f"{k} {v}" if not str(v).startswith(k) else str(v) for k, v in versions.items())
                or "unknown")


def build(paths, out_dir=None, *, title: str = "evbench report") -> Report:
    """Read ``paths`` and write ``report.html``, ``report.md`` and ``report-figures/*.png``
    into ``out_dir`` (default: the folder of the first path)."""
    from .results import write_atomic

    res = load(paths)
    first = Path(list(paths)[0])
    out = Path(out_dir) if out_dir is not None else (first if first.is_dir() else first.parent)
    sections = []
    for make in SECTIONS:
        try:
            sections.append(make(res))
        except Exception as exc:  # one broken section must not take the report with it
            sec = Section(make.__name__.removeprefix("section_"), make.__name__.removeprefix("section_").title())
            sec.missing = f"This section could not be drawn: {type(exc).__name__}: {exc}"
            sections.append(sec)
    head = _header(res)
    fig_dir = out / "report-figures"
    figures = []
    for sec in sections:
        for fig in sec.figures:
            figures.append(write_atomic(fig_dir / f"{fig.name}.png", fig.png))
    md = [f"# {title}", "", f"- machine: {head['machine']}", f"- date: {head['date']}",
          f"- devices: {head['devices']}", f"- versions: {head['versions']}",
          "- the same report with every figure embedded: `report.html`", ""]
    body = []
    toc = []
    for sec in sections:
        toc.append(f'<li><a href="#{sec.key}">{html.escape(sec.title)}</a>'
                   + (" <span class=missing>(no data)</span>" if sec.missing else "") + "</li>")
        body.append(f'<h2 id="{sec.key}">{html.escape(sec.title)}</h2>')
        md += [f"## {sec.title}", ""]
        if sec.missing:
            body.append(f"<p class=missing>{html.escape(sec.missing)}</p>")
            md += [f"*{sec.missing}*", ""]
            continue
        if sec.intro:
            body.append(f"<p>{_inline(sec.intro)}</p>")
            md += [sec.intro, ""]
        for fig in sec.figures:
            b64 = base64.b64encode(fig.png).decode("ascii")
            body.append(f'<figure><img src="data:image/png;base64,{b64}" alt="{html.escape(fig.caption)}">'
                        f"<figcaption>{html.escape(fig.caption)}</figcaption></figure>")
            md += [f"![{fig.caption}](report-figures/{fig.name}.png)", ""]
        for name, table in sec.tables:
            body.append(f"<h3>{html.escape(name)}</h3>" + _html_table(table))
            md += [f"**{name}**", "", _md_table(table), ""]
        for note in sec.notes:
            body.append(f"<p class=note>{_inline(note)}</p>")
            md += [note, ""]
    page = (f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>{html.escape(title)}</title>"
            f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>"
            f"<p><b>machine</b> {html.escape(head['machine'])} · <b>date</b> {html.escape(head['date'])} · "
            f"<b>devices</b> {html.escape(head['devices'])}<br><b>versions</b> {html.escape(head['versions'])}</p>"
            f"<ul>{''.join(toc)}</ul>{''.join(body)}</body></html>\n")
    md_path = write_atomic(out / "report.md", "\n".join(md) + "\n")
    html_path = write_atomic(out / "report.html", page)
    return Report(html_path, md_path, figures, sections)


def _inline(text: str) -> str:
    """Markdown's `code` and *emphasis* as HTML (the rest escaped)."""
    t = html.escape(text)
    t = re.sub(r"`([^`]+)`", r"<code>\1</code>", t)
    return re.sub(r"\*([^*]+)\*", r"<em>\1</em>", t)


# -- the command ----------------------------------------------------------------------------


def default_results(root: str | Path = "results") -> Path:
    """``results/latest`` (the newest ``evbench run``)."""
    return Path(root) / "latest"


def add_parser(sub) -> None:
    """``evbench report``: registered in :data:`evbench.cli.COMMANDS`."""
    p = sub.add_parser("report", help="an HTML page and a Markdown summary of evbench and asv results")
    p.add_argument("results", nargs="*", metavar="RESULTS",
                   help="results files or folders (searched recursively); default: results/latest")
    p.add_argument("--out", metavar="DIR", default=None,
                   help="write report.html, report.md and report-figures/ here (default: the first RESULTS folder)")
    p.add_argument("--title", default="evbench report")
    p.set_defaults(func=cmd_report)


def cmd_report(args) -> int:
    paths = args.results or [str(default_results())]
    if not args.results and not Path(paths[0]).exists():
        print(f"evbench report: error: no RESULTS given and {paths[0]!r} does not exist; run `evbench run` first "
              "or name a results folder", file=sys.stderr)
        return 2
    try:
        rep = build(paths, args.out, title=args.title)
    except ReportError as exc:
        print(f"evbench report: error: {exc}", file=sys.stderr)
        return 2
    drawn = [s for s in rep.sections if not s.missing]
    missing = [s for s in rep.sections if s.missing]
    print(f"report: {len(drawn)} sections with data, {len(rep.figures)} figures; "
          f"{len(missing)} without data ({', '.join(s.key for s in missing) or 'none'}).")
    print(f"Written: {rep.html}, {rep.markdown}")
    return 0
