"""The defaults as a user writes them: native against brainevent (serial and parallel), new events
at every call, side by side in one process; the thread scaling, the batches and the bandwidth.

    flock /tmp/evbench-bench.lock env PYTHONPATH=. python tools/rotating_check.py \
        [--family csr ...] [--n 1000 ...] [--active 0.01 ...] [--product vecmat|matvec] [--part ...]

Every family brainevent offers (the catalogue's, but COO), both products (``events @ M``,
``M @ events``), n ∈ {10³, 10⁴, 10⁵} (dense weights to 10⁴) × {0.1, 1, 5} % active, 1 %
connectivity, float32 weights, 16 boolean event vectors rotated (each call gets the next), each
product under ``jax.jit`` with the structure passed as an argument. The structures are the
families' defaults (the column index built by the constructor). Just-in-time products against the
generation axis run to n = 10⁴ (O(n² p) per call in both libraries). Warm-up (compilation, one
call per vector) is excluded; repeats go round-robin over the variants; a repeat is the mean time
per call over the vectors; each ratio is the median over repeats of the paired ratio.

Variants: ``native`` (the default structure, the default thread count), ``brainevent`` (0.3,
``BinaryArray`` events, ``corder=True`` rows for a row-generated ``events @ M``; its
``FixedNumPerPre/Post`` with its own index built before the timing, as its first call would),
``brainevent_parallel`` (the same with ``brainevent.config.set_numba_parallel(True)``; stored
families only: its just-in-time kernels have no parallel form), and on request ``noindex``
(``index=False``). ``--part threads``: native on 1 thread against the default count;
``--part batch``: a batch of 16 per sample against the vector. The Markdown evaluates the
targets (README "Native performance") on the run itself.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from evbench.catalogue import FAMILIES

#: every family brainevent has a counterpart of
CHOICES = tuple(f.name for f in FAMILIES.all() if f.storage != "coo")
N_VECTORS = 16
CONN_PROB = 0.01
SIZES = (1_000, 10_000, 100_000)
ACTIVES = (0.001, 0.01, 0.05)
PARTS = ("compare", "threads", "batch")
VARIANTS = ("native", "brainevent", "brainevent_parallel", "noindex")
DEFAULT_VARIANTS = VARIANTS[:3]


def products(name, n):
    """Both products; a just-in-time family's product against its generation axis to n = 10⁴."""
    from evbench.catalogue import get_family

    fam = get_family(name)
    if fam.storage != "jitc":
        return ("vecmat", "matvec")
    along = "vecmat" if fam.orientation == "rows" else "matvec"
    against = "matvec" if along == "vecmat" else "vecmat"
    return (along, against) if n <= 10_000 else (along,)


def _brainevent(fam, M, product, parallel):
    """``(leaves, fn(leaves, e), build seconds)``: brainevent's counterpart of ``M``."""
    import brainevent as be
    import jax

    from evbench.peers.brainevent import counterpart, set_parallel

    t0 = time.perf_counter()
    corder = fam.storage == "jitc" and fam.orientation == "rows" and product == "vecmat"
    S = counterpart(fam, M, corder=corder)
    if (fam.name, product) in (("fixed_per_pre", "matvec"), ("fixed_per_post", "vecmat")):
        S = S.build_weight_indices()  # its index, built before the timing as its first call would
    build = time.perf_counter() - t0
    product_fn = (lambda S, e: be.BinaryArray(e) @ S) if product == "vecmat" else (lambda S, e: S @ be.BinaryArray(e))
    # brainevent keeps index arrays in its pytrees' static data: pass the leaves as arguments
    leaves, treedef = jax.tree_util.tree_flatten(S)

    def fn(leaves, e):
        set_parallel(parallel)  # brainevent reads it when JAX lowers this trace
        return product_fn(jax.tree_util.tree_unflatten(treedef, leaves), e)

    return leaves, fn, build


def _time(impls, events, budget, settings=None):
    """Round-robin repeats over the variants: ``{variant: [(wall, cpu) per call, ...]}``;
    ``settings[v]`` a context manager factory entered around variant ``v``'s calls."""
    import contextlib

    import jax

    settings = settings or {}
    reps = {v: [] for v in impls}
    spent, rounds = 0.0, 0
    while rounds < 3 or (spent < budget and rounds < 15):
        for v, (S, fn) in impls.items():
            with settings.get(v, contextlib.nullcontext)():
                c0, t0 = time.process_time(), time.perf_counter()
                for e in events:
                    jax.block_until_ready(fn(S, e))
                dt = (time.perf_counter() - t0) / len(events)
            reps[v].append((dt, (time.process_time() - c0) / len(events)))
            spent += dt * len(events)
        rounds += 1
    return reps


def _warm(impls, events, settings=None):
    import contextlib

    import jax

    first = {}
    for v, (S, fn) in impls.items():
        with (settings or {}).get(v, contextlib.nullcontext)():
            t0 = time.perf_counter()
            jax.block_until_ready(fn(S, events[0]))
            first[v] = time.perf_counter() - t0
            for e in events:
                jax.block_until_ready(fn(S, e))
    return first


def _bytes(fam, M, product, active, n):
    """Bytes the product must read per call on evbench's structure: the active inputs' rows (or
    columns, through the index) of the stored arrays; events and outputs. 0 for generated ones."""
    import numpy as np

    a = round(active * n)
    if fam.storage == "dense":
        return a * n * 4 + 2 * n * 4
    if fam.storage == "jitc":
        return 0.0
    base = M.base if hasattr(M, "base") else M
    nnz = int(np.prod(base.indices.shape))
    per_syn = 4 + (4 if base.weights.ndim else 0)
    along = (product == "vecmat") == (fam.orientation != "cols")
    per_syn += 0 if along else 4  # through the index: its row entry too
    return a * nnz / n * per_syn + 2 * n * 4


def _impls(fam, M, product, variants, build):
    import jax

    native = (lambda M, e: e @ M) if product == "vecmat" else (lambda M, e: M @ e)
    impls = {}
    for v in variants:
        if v == "native":
            impls[v] = (M, jax.jit(native))
        elif v == "noindex" and hasattr(M, "without_index"):
            impls[v] = (M.without_index(), jax.jit(native))
        elif v.startswith("brainevent"):
            parallel = v == "brainevent_parallel"
            if parallel and fam.storage == "jitc":
                continue  # no parallel kernels: the serial ones are brainevent's only form
            leaves, fn, seconds = _brainevent(fam, M, product, parallel)
            build[v] = seconds
            impls[v] = (leaves, jax.jit(fn))
    return impls


def run_point(name, n, product, actives, variants, budget):
    """Every active fraction of one structure: one record per active fraction x variant x repeat."""
    import jax.numpy as jnp

    from evbench.catalogue import get_family
    from evbench.events import make_events

    fam = get_family(name)
    t0 = time.perf_counter()
    M = fam.build(n, n, conn_prob=CONN_PROB, seed=1, dtype="float32")
    build = {"native": time.perf_counter() - t0}
    impls = _impls(fam, M, product, variants, build)
    records = []
    for active in actives:
        events = [jnp.asarray(e) for e in make_events(n, active, seed=7, batch=N_VECTORS)]
        first = _warm(impls, events)
        synapses = round(active * n) * n * CONN_PROB
        for v, reps in _time(impls, events, budget).items():
            for r, (wall, cpu) in enumerate(reps):
                records.append(dict(part="compare", family=name, product=product, n=n, conn_prob=CONN_PROB,
                                    active=active, variant=v, repeat=r, time_s=wall, cpu_s=cpu,
                                    synapses=synapses, bytes=_bytes(fam, M, product, active, n),
                                    build_s=build.get(v, 0.0), nbytes=M.nbytes if v == "native" else float("nan"),
                                    first_call_s=first[v]))
        _print(records, name, product, n, active)
    return records


def _print(records, name, product, n, active, part="compare"):
    import pandas as pd

    f = pd.DataFrame([r for r in records if (r["part"], r["family"], r["product"], r["n"], r["active"])
                      == (part, name, product, n, active)])
    med = f.groupby("variant", sort=False)["time_s"].median()
    print(f"{part}: {name} {product} n={n} a={active:g}: "
          + "; ".join(f"{v} {t * 1e3:.4g} ms" for v, t in med.items()), flush=True)


#: (family, product, n, active, batch): the calls the thread-scaling table splits
THREAD_POINTS = (
    ("dense", "vecmat", 10_000, 0.05, 1), ("dense", "matvec", 10_000, 0.05, 1),
    ("dense", "vecmat_batch", 10_000, 0.01, 16), ("dense", "matvec_batch", 10_000, 0.01, 16),
    ("csr", "vecmat_batch", 100_000, 0.01, 16), ("csr", "matvec_batch", 100_000, 0.01, 16),
    ("fixed_per_pre", "vecmat_batch", 100_000, 0.01, 16), ("fixed_per_pre", "matvec_batch", 100_000, 0.01, 16),
    ("jitc_normal_r", "vecmat_batch", 100_000, 0.01, 16), ("jitc_normal_r", "matvec", 10_000, 0.01, 1),
    ("jitc_scalar_c", "vecmat", 10_000, 0.01, 1),
)


def thread_points(budget, families=None):
    """Native on one thread against the default thread count, paired: one record per point x
    thread count x repeat; and the column index's build at n = 10⁵ on each."""
    import jax
    import jax.numpy as jnp

    from evbench.catalogue import get_family, get_product
    from evbench.events import make_events
    from evbench.ops.cpu.threads import get_threads, threads

    top = get_threads()
    settings = {"1 thread": lambda: threads(1), f"{top} threads": lambda: threads(top)}
    records = []
    for name, key, n, active, batch in THREAD_POINTS:
        if families and name not in families:
            continue
        M = get_family(name).build(n, n, conn_prob=CONN_PROB, seed=1, dtype="float32")
        prod = get_product(key)
        events = [jnp.asarray(prod.events_from_samples(make_events(n, active, seed=7 + k, batch=batch)))
                  for k in range(N_VECTORS if batch == 1 else 4)]
        fn = jax.jit(prod.run)
        impls = {v: (M, fn) for v in settings}
        _warm(impls, events, settings)
        for v, reps in _time(impls, events, budget, settings).items():
            records += [dict(part="threads", family=name, product=key, n=n, active=active, batch=batch, variant=v,
                             repeat=r, time_s=w, cpu_s=c) for r, (w, c) in enumerate(reps)]
        _print(records, name, key, n, active, part="threads")
    records += index_builds(settings)
    return records


def index_builds(settings):
    """The column index's build at n = 10⁵, 1 % (10⁸ synapses), on 1 thread and the default count."""
    from evbench.catalogue import get_family

    records = []
    for name in ("csr", "fixed_per_pre"):
        M = get_family(name).build(100_000, 100_000, conn_prob=CONN_PROB, seed=1, dtype="float32").without_index()
        M.with_index()  # the numba sorter loaded (or compiled): not timed
        for r in range(3):
            for v, setting in settings.items():
                with setting():
                    t0 = time.perf_counter()
                    Mi = M.with_index()
                    wall = time.perf_counter() - t0
                records.append(dict(part="threads", family=name, product="index build", n=100_000, active=float("nan"),
                                    batch=1, variant=v, repeat=r, time_s=wall, cpu_s=float("nan"),
                                    nbytes=Mi.nbytes - M.nbytes))
                del Mi
        print(f"threads: {name} index build n=1e5: " + ", ".join(
            f"{r['variant']} {r['time_s']:.3f} s" for r in records[-2:]), flush=True)
    return records


def batch_points(budget, families=None):
    """A batch of 16 per sample against the vector, stored structures at n = 10⁵ (dense: 10⁴), 1 %."""
    import jax
    import jax.numpy as jnp

    from evbench.catalogue import get_family, get_product
    from evbench.events import make_events

    records = []
    for name, n in (("csr", 100_000), ("fixed_per_pre", 100_000), ("dense", 10_000)):
        if families and name not in families:
            continue
        M = get_family(name).build(n, n, conn_prob=CONN_PROB, seed=1, dtype="float32")
        for key in ("vecmat", "matvec"):
            vec, bat = get_product(key), get_product(key + "_batch")
            ev = [jnp.asarray(make_events(n, 0.01, seed=7 + k)) for k in range(N_VECTORS)]
            eb = [jnp.asarray(bat.events_from_samples(make_events(n, 0.01, seed=70 + k, batch=16))) for k in range(4)]
            fv, fb = jax.jit(vec.run), jax.jit(bat.run)
            _warm({"vector": (M, fv)}, ev), _warm({"batch": (M, fb)}, eb)
            reps = {"vector": [], "batch": []}
            for _ in range(5):
                reps["vector"] += _time({"vector": (M, fv)}, ev, 0.0)["vector"][:1]
                reps["batch"] += [(w / 16, c / 16) for w, c in _time({"batch": (M, fb)}, eb, 0.0)["batch"][:1]]
            for v, rr in reps.items():
                records += [dict(part="batch", family=name, product=key, n=n, active=0.01, batch=16 if v == "batch"
                                 else 1, variant=v, repeat=r, time_s=w, cpu_s=c) for r, (w, c) in enumerate(rr)]
            _print(records, name, key, n, 0.01, part="batch")
    return records


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--family", action="append", choices=CHOICES)
    ap.add_argument("--n", action="append", type=int)
    ap.add_argument("--active", action="append", type=float)
    ap.add_argument("--product", action="append", choices=("vecmat", "matvec"))
    ap.add_argument("--variant", action="append", choices=VARIANTS)
    ap.add_argument("--part", action="append", choices=PARTS, help="what to run (default: all three)")
    ap.add_argument("--budget", type=float, default=1.0, help="seconds of timed calls per case (at least 3 repeats)")
    ap.add_argument("--out", default="results", help="results root: OUT/<machine>/native-defaults-<stamp>.*")
    ap.add_argument("--no-write", action="store_true", help="print the lines only")
    args = ap.parse_args(argv)

    import numba
    import pandas as pd

    from evbench.harness import bench
    from evbench.harness.results import frame_csv, machine_label, metadata, stamp, write_atomic, write_json
    from evbench.ops.cpu.threads import get_threads

    from rotating_report import markdown

    bench.configure_process()
    t0 = time.perf_counter()
    from importlib.metadata import version

    meta = dict(metadata(), **bench.versions(), numba=numba.__version__, brainevent=version("brainevent"),
                date_stamp=stamp(), threads=get_threads(), machine_read_gb_s=bench.read_bandwidth(),
                command="flock /tmp/evbench-bench.lock env PYTHONPATH=. python tools/rotating_check.py "
                    + " ".join(argv if argv is not None else sys.argv[1:]))
    parts = args.part or PARTS
    records = []
    if "compare" in parts:
        for name in args.family or CHOICES:
            for n in args.n or SIZES:
                if name == "dense" and n > 10_000:
                    continue  # 40 GB of weights
                for product in products(name, n):
                    if args.product and product not in args.product:
                        continue
                    records += run_point(name, n, product, args.active or ACTIVES,
                                         args.variant or DEFAULT_VARIANTS, args.budget)
    if "threads" in parts:
        records += thread_points(args.budget, args.family)
    if "batch" in parts:
        records += batch_points(args.budget, args.family)
    meta["machine_read_gb_s_after"] = bench.read_bandwidth()
    meta["seconds"] = time.perf_counter() - t0
    frame = pd.DataFrame(records)
    md = markdown(frame, dict(meta, date=meta["date_stamp"]))
    print(md.split("## Every point")[0])
    if not args.no_write:
        stem = Path(args.out) / machine_label() / f"native-defaults-{meta['date_stamp']}"
        write_atomic(stem.with_suffix(".csv"), frame_csv(frame))
        write_atomic(stem.with_suffix(".md"), md)
        write_json(stem.with_suffix(".meta.json"), meta)
        print(f"{len(frame)} records, {meta['seconds']:.0f} s. Written: {stem}.csv, .md, .meta.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
