"""The native-performance table (README, "Native performance"): evbench's native operators
against brainevent and the dense XLA product on the standard grid, side by side in one process.

    flock /tmp/evbench-bench.lock env PYTHONPATH=. python tools/native_perf.py [--out results]

Cases: ``evbench.harness.bench.GRIDS["standard"]`` (n = 10³, 10⁴, 10⁵; active 0.1, 1, 5 %; connection
probability 1 and 10 %; batch 16, 64; float32), for each family the event-driven products
(``events @ M`` and its batch for row-driven families, ``M @ events`` and its batch for
column-driven ones; both for dense weights), backends native, brainevent (``BinaryArray``
events, its event-driven form) and dense (XLA matmul of the materialised matrix, skipped where
the matrix does not fit). Extra jobs: dense weights at 10 and 20 % active; the products against
the generation axis of the just-in-time families at n ≤ 10⁴.

Not run (see the README): structures stored in O(synapses) memory at n = 10⁵ with 10 %
connectivity (10⁹ synapses, 8 GB plus the peer's copy, beyond this shared machine's free
memory); COO at n = 10⁵ (not event-driven, no brainevent counterpart, and its portable product
materialises batch × synapses); brainevent's just-in-time products at n = 10⁵ beyond one point
per orientation (scalar weights, 1 % connectivity, 1 % active, the unbatched product: each call
takes seconds); batched products at 0.1 and 5 % active (time).

Writes ``OUT/<machine>/native-perf-<UTC time>.csv`` (every record of ``evbench.harness.bench``, one row
per case and repeat) and ``.md`` (the table: medians and ratios), plus ``.meta.json``.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

from evbench.catalogue import FAMILIES

#: the families whose events @ M is timed (row-driven, dense, and COO, driven by neither) and
#: those whose M @ events is
ROWS = tuple(f.name for f in FAMILIES.all() if f.event_driven in ("rows", "both", "none"))
COLS = tuple(f.name for f in FAMILIES.all() if f.event_driven in ("cols", "both"))
JITC_R = tuple(f.name for f in FAMILIES.all() if f.storage == "jitc" and f.orientation == "rows")
JITC_C = tuple(f.name for f in FAMILIES.all() if f.storage == "jitc" and f.orientation == "cols")
JITC = JITC_R + JITC_C
COMPARED = ("native", "brainevent", "dense")
ROW_PRODUCTS, COL_PRODUCTS = ("vecmat", "vecmat_batch"), ("matvec", "matvec_batch")


def jobs(quick: bool = False):
    """``(label, grid, families, backends, products)`` in run order. The batched products run at
    1 % active (every n, connection probability and batch size), the vector products at every
    active fraction: the run fits in about half an hour on this shared machine."""
    from evbench.harness.bench import GRIDS

    std = dataclasses.replace(GRIDS["standard"], devices=("cpu",))  # this table is the CPU's
    if quick:  # a smoke run of the script itself
        std = dataclasses.replace(std, n=(1_000,), active=(0.01,), batch=(16,), max_time=0.02, min_repeats=1)
    else:
        std = dataclasses.replace(std, max_time=0.1, max_repeats=5)
    small = dataclasses.replace(std, n=tuple(n for n in std.n if n <= 10_000))
    large = tuple(n for n in std.n if n > 10_000)
    out = []

    def add(label, grid, fams, bes, prods):
        if not fams:
            return
        single = tuple(p for p in prods if not p.endswith("_batch"))
        batched = tuple(p for p in prods if p.endswith("_batch"))
        if single:
            out.append((label, grid, fams, bes, single))
        if batched:
            out.append((label, dataclasses.replace(grid, active=(0.01,)), fams, bes, batched))

    for fams, prods in ((ROWS, ROW_PRODUCTS), (COLS, COL_PRODUCTS)):
        add("event-driven", small, fams, COMPARED, prods)
        if large:
            g1 = dataclasses.replace(std, n=large, conn_prob=(0.01,))
            add("event-driven", g1, tuple(f for f in fams if f not in JITC and f != "coo"), COMPARED, prods)
            add("event-driven", g1, tuple(f for f in fams if f in JITC), ("native",), prods)
            add("event-driven", dataclasses.replace(g1, active=(0.01,)), tuple(f for f in fams if f in JITC)[:1],
                ("brainevent",), prods[:1])
            g10 = dataclasses.replace(std, n=large, conn_prob=(0.1,))
            add("event-driven", g10, tuple(f for f in fams if f in JITC), ("native",), prods)
    if not quick:
        out.extend(corder_jobs())
        dense20 = dataclasses.replace(small, active=(0.1, 0.2), conn_prob=(0.1,), batch=(16,))
        add("dense weights, 10-20 % active", dense20, ("dense",), COMPARED, ("vecmat", "matvec"))
        against = dataclasses.replace(small, active=(0.01,))
        add("against the generation axis", against, JITC_R, ("native", "brainevent"), ("matvec",))
        add("against the generation axis", against, JITC_C, ("native", "brainevent"), ("vecmat",))
    return out


def corder_jobs():
    """brainevent's row-oriented just-in-time matrices with ``corder=True``: with its default
    (``corder=False``) their ``events @ M`` visits every row (O(n_rows · n_cols · p), see the
    table), with ``corder=True`` it is event-driven, like evbench's. Labelled apart."""
    from evbench.harness.bench import GRIDS

    std = dataclasses.replace(GRIDS["standard"], devices=("cpu",), max_time=0.1, max_repeats=5)
    small = dataclasses.replace(std, n=tuple(n for n in std.n if n <= 10_000))
    label = "brainevent corder=True (JITC R)"
    return [(label, small, JITC_R, ("native", "brainevent"), ("vecmat",)),
            (label, dataclasses.replace(small, active=(0.01,)), JITC_R, ("native", "brainevent"), ("vecmat_batch",)),
            (label, dataclasses.replace(std, n=(100_000,), conn_prob=(0.01,), active=(0.01,)), JITC_R[:1],
             ("brainevent",), ("vecmat",))]


def table(frame):
    """One row per case (family, product, n, conn_prob, active, batch): median ms per backend and
    the ratios native / brainevent and native / dense (below 1: native is faster)."""

    keys = ["job", "family", "product", "n", "conn_prob", "active", "batch"]
    ok = frame[frame.status == "ok"].drop_duplicates(keys + ["backend"])
    t = ok.pivot_table(index=keys, columns="backend", values="median_s", sort=False) * 1e3
    t.columns = [f"{c}_ms" for c in t.columns]
    for c in ("native_ms", "brainevent_ms", "dense_ms"):
        if c not in t:
            t[c] = np.nan
    t["native/brainevent"] = t["native_ms"] / t["brainevent_ms"]
    t["native/dense"] = t["native_ms"] / t["dense_ms"]
    native = ok[ok.backend == "native"].set_index(keys)
    t["native_GB_s"] = native["effective_gb_s"]
    t["native_bw_fraction"] = native["bandwidth_fraction"]
    t["native_events_per_s"] = native["events_per_s"]
    skipped = frame[(frame.status != "ok")].drop_duplicates(keys + ["backend"])
    notes = skipped.groupby(keys).apply(lambda g: "; ".join(f"{b}: {s}" for b, s in zip(g.backend, g.status)),
                                        include_groups=False)
    t = t.join(notes.rename("skipped"), how="outer") if len(notes) else t.assign(skipped="")
    return t.reset_index()


AGAINST = "against the generation axis"
CORDER = "brainevent corder=True (JITC R)"


def targets(t):
    """The CPU performance targets 1-5 (README, "Native performance") evaluated on the table
    ``t``: one row each (holds at / out of, worst ratio, the points that miss). Target 6
    (memory) is not a timing: see the README."""
    import pandas as pd

    rows = []

    def add(number, what, sel, ratio, ok):
        sel = sel.assign(r_=ratio[sel.index], ok_=ok[sel.index]).dropna(subset=["r_"])
        miss = sel[~sel.ok_.astype(bool)]
        where = "; ".join(f"{r.family} {r.product} n={r.n:g} p={r.conn_prob:g} a={r.active:g} b={r.batch:g}: {r.r_:.2f}"
                          for r in miss.sort_values("r_", ascending=False).itertuples())
        rows.append(dict(target=number, what=what, holds=int(sel.ok_.astype(bool).sum()), points=len(sel),
                         worst=float(sel.r_.max()) if len(sel) else np.nan, misses=where))

    # 1: event-driven forms only (brainevent's default JITC R `events @ M` visits every row: its
    # corder=True rows stand in for them)
    jitc_r_rows = t.family.isin(JITC_R) & t["product"].str.startswith("vecmat") & (t.job != CORDER)
    one = t[(t.job != AGAINST) & ~jitc_r_rows & t.brainevent_ms.notna() & t.native_ms.notna()]
    add(1, "native ≤ brainevent (ratio native / brainevent)", one, t["native/brainevent"],
        t["native/brainevent"] <= 1)
    two = t[(t.family == "dense") & (t["product"] == "vecmat") & (t.n == 10_000) & (t.active == 0.01)
            & (t.job == "event-driven")]
    add(2, "dense n = 10⁴, 1 % active: fraction of read bandwidth (≥ 0.8)", two, t["native_bw_fraction"],
        t["native_bw_fraction"] >= 0.8)
    three = t[t.dense_ms.notna() & t.native_ms.notna() & ((t.family != "dense") | (t.active <= 0.2))]
    add(3, "native < dense XLA (ratio native / dense)", three, t["native/dense"], t["native/dense"] < 1)
    vec = t[(t.batch == 1) & (t.job == "event-driven")].set_index(["family", "n", "conn_prob", "active"])
    bat = t[(t.batch > 1) & (t.job == "event-driven")]
    per_sample = pd.Series(np.nan, index=t.index)
    for i, r in bat.iterrows():
        key = (r.family, r.n, r.conn_prob, r.active)
        if key in vec.index:
            per_sample[i] = r.native_ms / r.batch / float(np.atleast_1d(vec.loc[key, "native_ms"])[0])
    add(5, "batch: native time per sample / vector time (≤ 1)", bat, per_sample, per_sample <= 1)
    return pd.DataFrame(rows)


def linearity(t):
    """Target 4: just-in-time along the generation axis, native time per call against the
    active fraction (n, connectivity, family): the log-log slope and the marginal cost."""
    import pandas as pd

    along = t[(t.job == "event-driven") & (t.batch == 1) & t.family.isin(JITC) & t.native_ms.notna()]
    out = []
    for (fam, prod, n, p), g in along.groupby(["family", "product", "n", "conn_prob"], sort=False):
        g = g.sort_values("active")
        if len(g) < 2:
            continue
        ms = g.native_ms.to_numpy()
        act = g.active.to_numpy()
        slope = float(np.polyfit(np.log(act), np.log(ms), 1)[0])
        # the cost of one more generated synapse: constant across n and p when the work is
        # O(active · n · p) (the intercept is the O(n) scan for the active inputs)
        marginal = (ms[-1] - ms[0]) * 1e6 / ((act[-1] - act[0]) * n * n * p)
        out.append(dict(family=fam, product=prod, n=n, conn_prob=p,
                        ms=" / ".join(f"{v:.3g}" for v in ms), active=" / ".join(f"{a:g}" for a in act),
                        log_slope=slope, ns_per_synapse=marginal))
    return pd.DataFrame(out)


def markdown(t, meta) -> str:
    def fmt(v, digits=3):
        if isinstance(v, str):
            return v
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return "–"
        if isinstance(v, (int, np.integer)) or (isinstance(v, float) and v.is_integer() and abs(v) >= 1000):
            return f"{int(v):d}"
        return f"{v:.{digits}g}"

    cols = ["family", "product", "n", "conn_prob", "active", "batch", "native_ms", "brainevent_ms", "dense_ms",
            "native/brainevent", "native/dense", "native_bw_fraction", "skipped"]
    lines = [f"# Native performance: {meta['machine']}, {meta['date']}", "",
             f"Reproduce: `{meta['command']}`", "",
             f"Single-core read bandwidth: {meta['machine_read_gb_s']:.1f} GB/s. jax {meta['jax']}, "
             f"{meta['backends'].get('brainevent', '')}. Median time per call (ms); ratios below 1: "
             "native faster. `native_bw_fraction`: bytes the product must touch / time / read bandwidth.", ""]
    tg = targets(t)
    lines += ["## Targets", "", "| target | what | holds | points | worst | misses (ratio) |",
              "|---|---|---|---|---|---|"]
    for r in tg.itertuples():
        lines.append(f"| {r.target} | {r.what} | {r.holds} | {r.points} | {fmt(r.worst)} | {r.misses or '–'} |")
    lin = linearity(t)
    if len(lin):
        lines += ["", "Target 4, just-in-time along the generation axis: native ms per call at the active "
                  "fractions; slope of log time against log activity (1: proportional; below 1 where the "
                  "O(n) scan for the active inputs is a large part of the call); marginal ns per generated "
                  "synapse, (t_max - t_min) / ((a_max - a_min) n² p): constant across n and p when the cost "
                  "is O(active · n · p)", "",
                  "| family | product | n | conn_prob | active | native_ms | slope | ns / synapse |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in lin.itertuples():
            lines.append(f"| {r.family} | {r.product} | {r.n:g} | {r.conn_prob:g} | {r.active} | {r.ms} | "
                         f"{r.log_slope:.2f} | {r.ns_per_synapse:.2f} |")
    lines.append("")
    for job in t.job.unique():
        part = t[t.job == job]
        lines += [f"## {job}", "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        for _, row in part.iterrows():
            vals = [fmt(row[c]) if c in row.index else "–" for c in cols]
            lines.append("| " + " | ".join(vals) + " |")
        lines.append("")
    return "\n".join(lines)


def recheck_jobs(csv):
    """The points of an earlier run where native was slower than brainevent or than the dense
    product (dense weights: active <= 20 %; other families: every point), measured again with
    more and longer repeats: one job per family, size, connectivity and product."""
    import pandas as pd

    from evbench.harness.bench import GRIDS

    t = table(pd.read_csv(csv))
    t = t[(t.job != "against the generation axis") & (t.family != "coo")]  # COO: slower by design (O(synapses × batch))
    slow = t[(t["native/brainevent"] > 1) | ((t["native/dense"] >= 1) & ((t.family != "dense") | (t.active <= 0.2)))]
    std = dataclasses.replace(GRIDS["standard"], devices=("cpu",), min_repeats=5, max_repeats=9, max_time=0.3, min_sample=5e-3)
    out = []
    for (fam, n, p, prod, batch), part in slow.groupby(["family", "n", "conn_prob", "product", "batch"], sort=False):
        grid = dataclasses.replace(std, n=(int(n),), conn_prob=(float(p),), active=tuple(sorted(part.active)),
                                   batch=(int(batch),) if batch > 1 else std.batch)
        bes = ("native", "brainevent") + (("dense",) if part["native/dense"].ge(1).any() else ())
        out.append(("recheck", grid, (fam,), bes, (prod,)))
    return out


def render(csv: Path) -> int:
    """The Markdown table of an earlier run, from its CSV and .meta.json (atomically replaced)."""
    import json

    import pandas as pd

    from evbench.harness.results import write_atomic

    meta = json.loads(csv.with_suffix(".meta.json").read_text())
    write_atomic(csv.with_suffix(".md"), markdown(table(pd.read_csv(csv)), meta))
    print(f"Written: {csv.with_suffix('.md')}")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="results", help="results root (files go to OUT/<machine>/)")
    ap.add_argument("--quick", action="store_true", help="a smoke run (n = 10³, one point)")
    ap.add_argument("--recheck", metavar="CSV", help="measure again the points of CSV where native was slower")
    ap.add_argument("--corder", action="store_true", help="only the brainevent corder=True jobs")
    ap.add_argument("--render", metavar="CSV", help="write CSV's table (.md beside it) again; measure nothing")
    args = ap.parse_args(argv)
    if args.render:
        return render(Path(args.render))

    from evbench.harness import bench
    from evbench.harness.results import machine_label, stamp, write_atomic, write_json

    bench.configure_process()
    t0 = time.perf_counter()
    bw = bench.read_bandwidth()
    meta = dict(bench.versions(), machine_read_gb_s=bw, machine=machine_label(), date=stamp(),
                command="flock /tmp/evbench-bench.lock env PYTHONPATH=. python tools/native_perf.py"
                + (" --quick" if args.quick else "") + (f" --recheck {args.recheck}" if args.recheck else "")
                + (" --corder" if args.corder else ""))
    records = []
    todo = (recheck_jobs(args.recheck) if args.recheck else corder_jobs() if args.corder else jobs(args.quick))
    for label, grid, fams, bes, prods in todo:
        print(f"{label}: n={grid.n} conn_prob={grid.conn_prob} active={grid.active} {fams} {bes} {prods}",
              flush=True)
        modes = {"brainevent": {"events": "binary", "corder": True}} if "corder=True" in label else None
        for rec in bench.run(grid, families=fams, backends=bes, products=prods, progress=False, machine_gb_s=bw,
                             modes=modes):
            rec["job"] = label
            records.append(rec)
    frame = bench.tidy(records, meta)
    frame.insert(0, "job", [r["job"] for r in records for _ in (r["times"] or [None])])
    meta["seconds"] = time.perf_counter() - t0
    folder = Path(args.out) / machine_label()
    kind = "-quick" if args.quick else "-recheck" if args.recheck else "-corder" if args.corder else ""
    stem = folder / f"native-perf{kind}-{meta['date']}"
    write_atomic(stem.with_suffix(".csv"), frame.to_csv(index=False))
    write_atomic(stem.with_suffix(".md"), markdown(table(frame), meta))
    write_json(stem.with_suffix(".meta.json"), meta)
    print(f"{len(records)} cases, {meta['seconds']:.0f} s. Written: {stem}.csv, .md, .meta.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
