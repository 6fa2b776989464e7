"""Native against brainevent with new events at every call, side by side in one process.

    flock /tmp/evbench-bench.lock env PYTHONPATH=. python tools/rotating_check.py \
        [--family csr ...] [--n 1000 ...] [--active 0.01 ...] [--product vecmat|matvec] [--variant ...]

Every product runs under ``jax.jit`` with the structure and the events passed as arguments;
16 boolean event vectors are rotated (each call gets the next one), float32 weights, 1 %
connectivity. Warm-up (compilation, one call per vector, a column index's build) is excluded.
Repeats go round-robin over the variants; a repeat is the mean time per call over the 16
vectors, and each ratio is the median over repeats of the paired ratio variant / brainevent
(below 1 the variant is faster); ``cpu`` is the process CPU time per call (all threads: on a
shared machine it leaves out the time spent waiting for a core). For the just-in-time families the line also gives the time
per generated synapse (``active inputs × n × p`` of them per call).

Variants: ``native`` (the default structure), ``index`` (``with_index()``: only for the
product the structure would otherwise gather, e.g. ``M @ events`` of a CSR), ``brainevent`` (0.3: ``BinaryArray``
events; its row just-in-time matrices with ``corder=True``, their event-driven form; its
``FixedNumPerPre`` with its column index built before the timing, as its first call would).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from evbench.catalogue import FAMILIES

#: every family with an event-driven product, but fixed_prob (a CSR: csr's kernels)
CHOICES = tuple(f.name for f in FAMILIES.all() if f.event_driven != "none" and f.name != "fixed_prob")
#: what runs without --family: one family per kernel (a column-stored csc or fixed_per_post
#: runs its row twin's kernels on M.T)
DEFAULT = tuple(f.name for f in FAMILIES.all() if f.name in CHOICES and (f.orientation != "cols" or f.storage == "jitc"))
N_VECTORS = 16
CONN_PROB = 0.01


def default_products(name):
    if name.startswith("jitc_"):
        return ("vecmat",) if name.endswith("_r") else ("matvec",)
    return ("vecmat", "matvec")


def _brainevent(fam, M, product):
    """``(structure, fn(S, e))`` of brainevent's counterpart of ``M``, and its build seconds."""
    import brainevent as be
    import jax

    from evbench.peers.brainevent import counterpart

    t0 = time.perf_counter()
    name = fam.name
    S = counterpart(fam, M, corder=name.startswith("jitc_") and name.endswith("_r"))
    if (name, product) in (("fixed_per_pre", "matvec"), ("fixed_per_post", "vecmat")):
        S = S.build_weight_indices()  # its index, built before the timing as its first call would
    build = time.perf_counter() - t0
    product_fn = (lambda S, e: be.BinaryArray(e) @ S) if product == "vecmat" else (lambda S, e: S @ be.BinaryArray(e))
    # brainevent keeps index arrays in its pytrees' static data: pass the leaves as arguments
    leaves, treedef = jax.tree_util.tree_flatten(S)
    return leaves, (lambda leaves, e: product_fn(jax.tree_util.tree_unflatten(treedef, leaves), e)), build


def _time(impls, events, budget):
    """Round-robin repeats over the variants: ``{variant: [(wall, cpu) per call, ...]}``."""
    import jax

    reps = {v: [] for v in impls}
    spent, rounds = 0.0, 0
    while rounds < 3 or (spent < budget and rounds < 15):
        for v, (S, fn) in impls.items():
            c0, t0 = time.process_time(), time.perf_counter()
            for e in events:
                jax.block_until_ready(fn(S, e))
            dt = (time.perf_counter() - t0) / N_VECTORS
            reps[v].append((dt, (time.process_time() - c0) / N_VECTORS))
            spent += dt * N_VECTORS
        rounds += 1
    return reps


def run_point(name, n, product, actives, variants, budget):
    """Every active fraction of one structure (built once, with brainevent's counterpart and a
    column index): one record per active fraction x variant x repeat."""
    import jax
    import jax.numpy as jnp

    from evbench.catalogue import get_family, get_product
    from evbench.events import make_events

    fam = get_family(name)
    M = fam.build(n, n, conn_prob=CONN_PROB, seed=1, dtype="float32")
    native = (lambda M, e: e @ M) if product == "vecmat" else (lambda M, e: M @ e)
    impls, build = {}, {}
    for v in variants:
        if v == "native":
            impls[v] = (M, jax.jit(native))
        elif v == "index":
            if fam.event_driven_for(get_product(product)) or not hasattr(M, "with_index"):
                continue  # the index serves the product the structure would gather for
            # the first index built in a process loads (or compiles) the numba sorter: not timed
            get_family(name).build(4, 4, conn_prob=0.5, seed=0).with_index()
            t0 = time.perf_counter()
            Mi = M.with_index()
            jax.block_until_ready(jax.tree_util.tree_leaves(Mi))
            build[v] = (time.perf_counter() - t0, (Mi.nbytes - M.nbytes) / 2**20)
            impls[v] = (Mi, jax.jit(native))
        elif v == "brainevent":
            S, fn, seconds = _brainevent(fam, M, product)
            build[v] = (seconds, float("nan"))
            impls[v] = (S, jax.jit(fn))
    records = []
    for active in actives:
        events = [jnp.asarray(e) for e in make_events(n, active, seed=7, batch=N_VECTORS)]
        first = {}
        for v, (S, fn) in impls.items():  # warm-up: compile (first fraction only), then one call per vector
            t0 = time.perf_counter()
            jax.block_until_ready(fn(S, events[0]))
            first[v] = time.perf_counter() - t0
            for e in events:
                jax.block_until_ready(fn(S, e))
        synapses = round(active * n) * n * CONN_PROB if name.startswith("jitc_") else float("nan")
        for v, reps in _time(impls, events, budget).items():
            for r, (wall, cpu) in enumerate(reps):
                records.append(dict(family=name, product=product, n=n, conn_prob=CONN_PROB, active=active, variant=v,
                                    repeat=r, time_s=wall, cpu_s=cpu, generated_synapses=synapses,
                                    build_s=build.get(v, (0.0, 0.0))[0], index_mib=build.get(v, (0.0, 0.0))[1],
                                    first_call_s=first[v]))
        _print(records, name, product, n, active)
    return records


def _print(records, name, product, n, active):
    import pandas as pd

    f = pd.DataFrame([r for r in records if (r["family"], r["product"], r["n"], r["active"])
                      == (name, product, n, active)])
    med = f.groupby("variant", sort=False)["time_s"].median()
    print(f"{name} {product} n={n} a={active:g}: " + "; ".join(f"{v} {t * 1e3:.4g} ms" for v, t in med.items()),
          flush=True)


def summary(frame):
    """One row per case x variant: median wall and CPU time per call, the median over repeats of
    the paired ratio to brainevent, ns per generated synapse, build seconds and index MiB."""
    import numpy as np
    import pandas as pd

    keys = ["family", "product", "n", "active"]
    rows = []
    for key, case in frame.groupby(keys, sort=False):
        be = case[case.variant == "brainevent"].set_index("repeat")["time_s"]
        for v, f in case.groupby("variant", sort=False):
            t = f.set_index("repeat")["time_s"]
            ratio = float(np.median((t / be).dropna())) if len(be) and v != "brainevent" else float("nan")
            rows.append(dict(zip(keys, key), variant=v, ms=t.median() * 1e3, cpu_ms=f.cpu_s.median() * 1e3,
                             ratio_to_brainevent=ratio,
                             ns_per_synapse=t.median() / f.generated_synapses.iloc[0] * 1e9,
                             build_s=f.build_s.iloc[0], index_mib=f.index_mib.iloc[0]))
    return pd.DataFrame(rows)


def _fmt(x, digits=3):
    return "–" if x != x else f"{x:.{digits}g}"


def markdown(frame, meta) -> str:
    """The table with its three targets (README, "Native performance") evaluated on it."""
    s = summary(frame)
    out = [f"# Native performance, new events every call: {meta['machine']}, {meta['date']}", "",
           f"Reproduce: `{meta['command']}`", "",
           f"jax {meta['jax']}, brainevent {meta['brainevent']}, numba {meta['numba']}. "
           f"{N_VECTORS} boolean event vectors rotated (each call gets the next), float32, connection probability "
           f"{CONN_PROB:g}, each product under `jax.jit` with the structure passed as an argument; repeats "
           "round-robin over the variants; a repeat is the mean time per call over the vectors. `native`: "
           "the default structure; `index`: `M.with_index()` (only for the product the structure would "
           "otherwise gather over all its synapses); `brainevent`: its event-driven form (`BinaryArray` events, "
           "`corder=True` rows; its `FixedNumPerPre`/`Post` with its index built first). Ratio: median over "
           "repeats of the paired ratio variant / brainevent (below 1: faster than brainevent).", ""]
    best = s[s.variant != "brainevent"].copy()
    # the native library's best form at each point: the index where one is offered
    best = best.sort_values("ms").groupby(["family", "product", "n", "active"], sort=False).head(1)
    t1 = best[best.ratio_to_brainevent.notna()]
    miss1 = t1[t1.ratio_to_brainevent > 1.0].sort_values("ratio_to_brainevent", ascending=False)
    jit = s[(s.variant == "native") & s.family.str.startswith("jitc_") & (s.n == 100_000)]
    miss2 = jit[jit.ns_per_synapse > 20.0]
    idx = s[(s.variant == "index") & (s.n == 100_000)].drop_duplicates(["family", "product"])
    miss3 = idx[idx.build_s > 1.0]
    out += ["## Targets", "", "| target | holds | points | worst | misses |", "|---|---|---|---|---|"]

    def misses(f, col, unit=""):
        return "; ".join(f"{r.family} {r.product} n={r.n} a={r.active:g}: {_fmt(getattr(r, col))}{unit}"
                         for r in f.itertuples()) or "–"

    out.append(f"| 1. native (its faster form: with the index where offered) ≤ brainevent | {len(t1) - len(miss1)} | "
               f"{len(t1)} | {_fmt(t1.ratio_to_brainevent.max())} | {misses(miss1, 'ratio_to_brainevent')} |")
    out.append(f"| 2. just-in-time generation ≤ 20 ns per generated synapse at n = 10⁵ | {len(jit) - len(miss2)} | "
               f"{len(jit)} | {_fmt(jit.ns_per_synapse.max())} ns | {misses(miss2, 'ns_per_synapse', ' ns')} |")
    out.append(f"| 3. a column index's build ≤ 1 s at n = 10⁵, {int(100_000 * CONN_PROB)} synapses per row | "
               f"{len(idx) - len(miss3)} | {len(idx)} | {_fmt(idx.build_s.max())} s | "
               f"{'; '.join(f'{r.family}: {r.build_s:.2f} s' for r in miss3.itertuples()) or '–'} |")
    out += ["", "Index builds at n = 10⁵ (one-off, on the host; not in the per-call times): "
            + "; ".join(f"{r.family} {r.build_s:.3f} s, +{r.index_mib:.0f} MiB" for r in idx.itertuples()), "",
            "## Every point", "",
            "| family | product | n | active | variant | ms / call | cpu ms | ÷ brainevent | ns / synapse |",
            "|---|---|---|---|---|---|---|---|---|"]
    for r in s.itertuples():
        out.append(f"| {r.family} | {r.product} | {r.n} | {r.active:g} | {r.variant} | {_fmt(r.ms, 4)} | "
                   f"{_fmt(r.cpu_ms, 4)} | {_fmt(r.ratio_to_brainevent)} | {_fmt(r.ns_per_synapse)} |")
    return "\n".join(out) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--family", action="append", choices=CHOICES)
    ap.add_argument("--n", action="append", type=int)
    ap.add_argument("--active", action="append", type=float)
    ap.add_argument("--product", action="append", choices=("vecmat", "matvec"))
    ap.add_argument("--variant", action="append", choices=("native", "index", "brainevent"))
    ap.add_argument("--budget", type=float, default=1.5, help="seconds of timed calls per case (at least 3 repeats)")
    ap.add_argument("--out", default="results", help="results root: OUT/<machine>/native-perf-new-events-<stamp>.*")
    ap.add_argument("--no-write", action="store_true", help="print the lines only")
    args = ap.parse_args(argv)

    import numba
    import pandas as pd

    from evbench.harness import bench
    from evbench.harness.results import frame_csv, machine_label, metadata, stamp, write_atomic, write_json

    bench.configure_process()
    t0 = time.perf_counter()
    from importlib.metadata import version

    meta = dict(metadata(), **bench.versions(), numba=numba.__version__, brainevent=version("brainevent"),
                date_stamp=stamp(),
                command="flock /tmp/evbench-bench.lock env PYTHONPATH=. python tools/rotating_check.py "
                    + " ".join(argv if argv is not None else sys.argv[1:]))
    records = []
    for name in args.family or DEFAULT:
        for product in args.product or default_products(name):
            for n in args.n or (1_000, 10_000, 100_000):
                if name == "dense" and n > 10_000:
                    continue  # 40 GB of weights
                records += run_point(name, n, product, args.active or (0.001, 0.01, 0.05),
                                     args.variant or ("native", "index", "brainevent"), args.budget)
    meta["seconds"] = time.perf_counter() - t0
    frame = pd.DataFrame(records)
    md = markdown(frame, dict(meta, date=meta["date_stamp"]))
    print(md.split("## Every point")[0])
    if not args.no_write:
        stem = Path(args.out) / machine_label() / f"native-perf-new-events-{meta['date_stamp']}"
        write_atomic(stem.with_suffix(".csv"), frame_csv(frame))
        write_atomic(stem.with_suffix(".md"), md)
        write_json(stem.with_suffix(".meta.json"), meta)
        print(f"{len(frame)} records, {meta['seconds']:.0f} s. Written: {stem}.csv, .md, .meta.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
