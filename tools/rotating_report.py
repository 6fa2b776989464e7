"""The Markdown of ``tools/rotating_check.py``: its tables, with the targets evaluated on the run."""
from __future__ import annotations

import numpy as np
import pandas as pd

KEYS = ["family", "product", "n", "active"]


def _fmt(x, digits=3):
    return "–" if x != x else f"{x:.{digits}g}"


def summary(frame):
    """One row per case x variant of the comparison: median wall and CPU ms per call, the paired
    ratios to brainevent's serial and parallel modes, ns per generated synapse, GB/s and the
    fraction of the machine's single-core read bandwidth."""
    rows = []
    for key, case in frame[frame.part == "compare"].groupby(KEYS, sort=False):
        ref = {v: case[case.variant == v].set_index("repeat")["time_s"] for v in ("brainevent", "brainevent_parallel")}
        for v, f in case.groupby("variant", sort=False):
            t = f.set_index("repeat")["time_s"]
            ratio = {k: float(np.median((t / r).dropna())) if len(r) and not v.startswith("brainevent") else np.nan
                     for k, r in ref.items()}
            med = t.median()
            rows.append(dict(zip(KEYS, key), variant=v, ms=med * 1e3, cpu_ms=f.cpu_s.median() * 1e3,
                             vs_serial=ratio["brainevent"], vs_parallel=ratio["brainevent_parallel"],
                             ns_per_synapse=med / f.synapses.iloc[0] * 1e9 if f.synapses.iloc[0] else np.nan,
                             gb_s=f.bytes.iloc[0] / med / 1e9 if f.bytes.iloc[0] else np.nan,
                             build_s=f.build_s.iloc[0], nbytes=f.nbytes.iloc[0]))
    return pd.DataFrame(rows)


def _misses(f, col, unit=""):
    return "; ".join(f"{r.family} {r.product} n={r.n} a={r.active:g}: {_fmt(getattr(r, col))}{unit}"
                     for r in f.itertuples()) or "–"


def _along(s):
    """Whether each row's product runs along its family's event-driven axis (or both, stored)."""
    from evbench.catalogue import get_family

    def along(r):
        fam = get_family(r["family"])  # r["product"]: a Series' .product is its method
        return fam.storage != "jitc" or (r["product"] == "vecmat") == (fam.orientation == "rows")

    return s.apply(along, axis=1) if len(s) else pd.Series([], dtype=bool)


def _other_axis(s) -> list[str]:
    """brainevent's default layout of a just-in-time matrix draws it along the product's input
    axis, so its product against the other layout's generation axis is event-driven, on another
    matrix (``corder`` changes the matrix). evbench's counterpart of that matrix is the sibling
    family generated along that axis (``jitc_scalar_c`` for ``M @ events`` on ``jitc_scalar_r``'s
    brainevent): its native time against brainevent's, as a ratio of medians (not paired: two
    cases of one run)."""
    from evbench.catalogue import FAMILIES

    names = set(FAMILIES.names())
    t = s[s.family.str.startswith("jitc_") & ~_along(s)] if len(s) else s
    rows = []
    for r in t[t.variant == "brainevent"].itertuples():
        sibling = r.family[:-1] + ("c" if r.family.endswith("r") else "r")
        if sibling not in names:
            continue
        nat = s[(s.family == sibling) & (s["product"] == r.product) & (s.n == r.n) & (s.active == r.active)
                & (s.variant == "native")]
        if len(nat):
            rows.append(dict(family=r.family, product=r.product, n=r.n, active=r.active,
                             ratio=float(nat.ms.iloc[0]) / r.ms, sibling=sibling))
    if not rows:
        return []
    f = pd.DataFrame(rows)
    miss = f[f.ratio > 1.0].sort_values("ratio", ascending=False)
    return [f"| just-in-time against brainevent's generation axis (n ≤ 10⁴; brainevent's default layout draws "
            f"along the input axis, the matrix of evbench's sibling family `_r` ↔ `_c`): native on the sibling ≤ "
            f"brainevent (ratio of medians) | {len(f) - len(miss)} | {len(f)} | {_fmt(f.ratio.max())} | "
            f"{_misses(miss, 'ratio')} |"]


def targets(s, bw) -> list[str]:
    nat = s[s.variant == "native"].copy()
    nat["along"] = _along(nat)
    out = ["## Targets", "", "| target | holds | points | worst | misses |", "|---|---|---|---|---|"]
    for col, label in (("vs_serial", "serial"), ("vs_parallel", "parallel (stored families: jitc has no parallel form)")):
        t = nat[nat.along & nat[col].notna()]
        miss = t[t[col] > 1.0].sort_values(col, ascending=False)
        out.append(f"| native ≤ brainevent {label}, default structures, every family, both products | "
                   f"{len(t) - len(miss)} | {len(t)} | {_fmt(t[col].max())} | {_misses(miss, col)} |")
    t = nat[~nat.along & nat.vs_serial.notna()]
    if len(t):
        miss = t[t.vs_serial > 1.0].sort_values("vs_serial", ascending=False)
        out.append(f"| just-in-time against the generation axis (n ≤ 10⁴): native ≤ brainevent | {len(t) - len(miss)} | "
                   f"{len(t)} | {_fmt(t.vs_serial.max())} | {_misses(miss, 'vs_serial')} |")
    out += _other_axis(s)
    d = nat[(nat.family == "dense") & (nat["product"] == "vecmat") & (nat.n == 10_000)].copy()
    if len(d):
        d["fraction"] = d.gb_s / bw
        miss = d[d.fraction < 0.8]
        out.append(f"| dense `events @ M` at n = 10⁴ ≥ 80 % of the single-core read bandwidth ({bw:.1f} GB/s) | "
                   f"{len(d) - len(miss)} | {len(d)} | {_fmt(d.fraction.min())} | {_misses(miss, 'fraction')} |")
    jit = nat[nat.family.str.startswith("jitc_") & (nat.n == 100_000) & nat.along]
    if len(jit):
        miss = jit[jit.ns_per_synapse > 20.0]
        out.append(f"| just-in-time ≤ 20 ns per generated synapse at n = 10⁵ | {len(jit) - len(miss)} | {len(jit)} | "
                   f"{_fmt(jit.ns_per_synapse.max())} ns | {_misses(miss, 'ns_per_synapse', ' ns')} |")
    return out


def thread_table(frame) -> list[str]:
    f = frame[frame.part == "threads"]
    if not len(f):
        return []
    out = ["## Threads", "", "Native on 1 thread against the default count (paired, round-robin); the index build "
           "at n = 10⁵ on each. Speed-up: median over repeats of the paired ratio (1 thread / default).", "",
           "| family | product | n | active | batch | 1 thread ms | default ms | speed-up | cpu ms (default) |",
           "|---|---|---|---|---|---|---|---|---|"]
    for key, case in f.groupby(["family", "product", "n", "active", "batch"], sort=False, dropna=False):
        one = case[case.variant == "1 thread"].set_index("repeat")
        many = case[case.variant != "1 thread"].set_index("repeat")
        speed = float(np.median((one.time_s / many.time_s).dropna()))
        out.append(f"| {key[0]} | {key[1]} | {key[2]} | {_fmt(key[3])} | {key[4]} | {one.time_s.median() * 1e3:.4g} | "
                   f"{many.time_s.median() * 1e3:.4g} | {speed:.2f} | {_fmt(many.cpu_s.median() * 1e3, 4)} |")
    return out + [""]


def batch_table(frame) -> list[str]:
    f = frame[frame.part == "batch"]
    if not len(f):
        return []
    out = ["## Batches", "", "A batch of 16, time per sample, against the single vector (1 % active, default threads); "
           "target: ≤ 1 (no slower per sample).", "", "| family | product | n | vector ms | batch ms / sample | ratio |",
           "|---|---|---|---|---|---|"]
    for (fam, prod, n), case in f.groupby(["family", "product", "n"], sort=False):
        v = case[case.variant == "vector"].set_index("repeat").time_s
        b = case[case.variant == "batch"].set_index("repeat").time_s
        out.append(f"| {fam} | {prod} | {n} | {v.median() * 1e3:.4g} | {b.median() * 1e3:.4g} | "
                   f"{float(np.median((b / v).dropna())):.2f} |")
    return out + [""]


def markdown(frame, meta) -> str:
    s = summary(frame) if "part" in frame and (frame.part == "compare").any() else pd.DataFrame()
    bw = float(meta.get("machine_read_gb_s", np.nan))
    out = [f"# Native performance with the defaults: {meta['machine']}, {meta['date']}", "",
           f"Reproduce: `{meta['command']}`", "",
           f"jax {meta['jax']}, brainevent {meta['brainevent']}, numba {meta['numba']}; {meta.get('threads')} threads "
           f"(`EVBENCH_THREADS`); single-core read bandwidth {bw:.1f} GB/s at the start, "
           f"{float(meta.get('machine_read_gb_s_after', np.nan)):.1f} at the end. 16 boolean event vectors rotated, "
           "float32, 1 % connectivity, every product under `jax.jit` with the structure as an argument, the "
           "families' default structures (the column index built by the constructor). Ratios: median over repeats "
           "of the paired ratio native / brainevent (below 1: native faster). GB/s: the bytes the product must read "
           "on evbench's structure (active rows or columns of the stored arrays, events, outputs) per second.", ""]
    if len(s):
        out += targets(s, bw) + [""]
    out += thread_table(frame) + batch_table(frame)
    if len(s):
        out += ["## Every point", "", "| family | product | n | active | variant | ms / call | cpu ms | ÷ brainevent | "
                "÷ brainevent parallel | ns / synapse | GB/s | of bandwidth | build s | MiB |",
                "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in s.itertuples():
            out.append(f"| {r.family} | {r.product} | {r.n} | {r.active:g} | {r.variant} | {_fmt(r.ms, 4)} | "
                       f"{_fmt(r.cpu_ms, 4)} | {_fmt(r.vs_serial)} | {_fmt(r.vs_parallel)} | {_fmt(r.ns_per_synapse)} | "
                       f"{_fmt(r.gb_s)} | {_fmt(r.gb_s / bw)} | {_fmt(r.build_s)} | {_fmt(r.nbytes / 2**20)} |")
    return "\n".join(out) + "\n"


def main(argv=None) -> int:
    """``python tools/rotating_report.py RUN.csv``: the Markdown of a recorded run, written anew
    beside it (``RUN.md``) from its CSV and ``RUN.meta.json``."""
    import argparse
    import json
    from pathlib import Path

    from evbench.harness.results import write_atomic

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("csv", type=Path)
    args = ap.parse_args(argv)
    meta = json.loads(args.csv.with_suffix(".meta.json").read_text())
    md = markdown(pd.read_csv(args.csv), dict(meta, date=meta["date_stamp"]))
    write_atomic(args.csv.with_suffix(".md"), md)
    print(md.split("## Threads")[0])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
