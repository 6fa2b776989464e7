"""Native against brainevent with new events at every call (issue 15), side by side in one process.

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
import time

import numpy as np

FAMILIES = ("dense", "csr", "csc", "fixed_per_pre", "fixed_per_post", "jitc_scalar_r", "jitc_normal_r", "jitc_uniform_r",
            "jitc_scalar_c", "jitc_normal_c", "jitc_uniform_c")
#: what runs without --family: the issue's targets (csc and fixed_per_post are the transposes
#: of csr and fixed_per_pre: the same kernels)
DEFAULT = tuple(f for f in FAMILIES if f not in ("csc", "fixed_per_post"))
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
    import jax.numpy as jnp

    from evbench.catalogue import JITC_WEIGHTS

    t0 = time.perf_counter()
    name = fam.name
    if name == "dense":
        S = jnp.asarray(M.weights)
    elif name == "csr":
        S = be.CSR((M.weights, M.indices, M.indptr), shape=M.shape)
    elif name == "csc":
        S = be.CSC((M.base.weights, M.base.indices, M.base.indptr), shape=M.shape)
    elif name == "fixed_per_pre":
        S = be.FixedNumPerPre((M.weights, M.indices), shape=M.shape)
        if product == "matvec":
            S = S.build_weight_indices()
    elif name == "fixed_per_post":
        S = be.FixedNumPerPost((M.base.weights, M.base.indices), shape=M.shape)
        if product == "vecmat":
            S = S.build_weight_indices()
    else:
        kind, orient = name.split("_")[1], name[-1]
        cls = getattr(be, f"JITC{kind.capitalize()}{orient.upper()}")
        params = tuple(jnp.asarray(v, M.dtype) for v in JITC_WEIGHTS[kind].values())
        S = cls((*params, float(CONN_PROB), 1), shape=tuple(M.shape), corder=orient == "r")
    build = time.perf_counter() - t0
    product_fn = (lambda S, e: be.BinaryArray(e) @ S) if product == "vecmat" else (lambda S, e: S @ be.BinaryArray(e))
    # brainevent keeps index arrays in its pytrees' static data: pass the leaves as arguments
    leaves, treedef = jax.tree_util.tree_flatten(S)
    return leaves, (lambda leaves, e: product_fn(jax.tree_util.tree_unflatten(treedef, leaves), e)), build


def run_case(name, n, active, product, variants, budget):
    import jax
    import jax.numpy as jnp

    from evbench.catalogue import get_family, get_product
    from evbench.events import make_events

    fam = get_family(name)
    M = fam.build(n, n, conn_prob=CONN_PROB, seed=1, dtype="float32")
    events = [jnp.asarray(e) for e in make_events(n, active, seed=7, batch=N_VECTORS)]
    native = (lambda M, e: e @ M) if product == "vecmat" else (lambda M, e: M @ e)
    impls, notes = {}, []
    for v in variants:
        if v == "native":
            impls[v] = (M, jax.jit(native))
        elif v == "index":
            if fam.event_driven_for(get_product(product)) or not hasattr(M, "with_index"):
                continue  # the index serves the product the structure would gather for
            # the first index built in a process loads (or compiles) the numba sorter: not timed
            get_family(name).build(4, 4, conn_prob=0.5, seed=0).with_index()
            c0, t0 = time.process_time(), time.perf_counter()
            Mi = M.with_index()
            jax.block_until_ready(jax.tree_util.tree_leaves(Mi))
            build, build_cpu = time.perf_counter() - t0, time.process_time() - c0
            extra = Mi.nbytes - M.nbytes
            notes.append(f"index build {build:.3f} s (cpu {build_cpu:.3f}), +{extra / 2**20:.1f} MiB")
            impls[v] = (Mi, jax.jit(native))
        elif v == "brainevent":
            S, fn, build = _brainevent(fam, M, product)
            if build > 0.05:
                notes.append(f"brainevent build {build:.2f} s")
            impls[v] = (S, jax.jit(fn))
    first = {}
    for v, (S, fn) in impls.items():  # warm-up: compile, then one call per vector
        t0 = time.perf_counter()
        jax.block_until_ready(fn(S, events[0]))
        first[v] = time.perf_counter() - t0
        for e in events:
            jax.block_until_ready(fn(S, e))
    if "brainevent" in first and first["brainevent"] > 1.0:
        notes.append(f"brainevent first call {first['brainevent']:.1f} s")
    times = {v: [] for v in impls}
    cpu = {v: [] for v in impls}
    spent, rounds = 0.0, 0
    while rounds < 3 or (spent < budget and rounds < 15):
        for v, (S, fn) in impls.items():
            c0, t0 = time.process_time(), time.perf_counter()
            for e in events:
                jax.block_until_ready(fn(S, e))
            dt = (time.perf_counter() - t0) / N_VECTORS
            cpu[v].append((time.process_time() - c0) / N_VECTORS)
            times[v].append(dt)
            spent += dt * N_VECTORS
        rounds += 1
    med = {v: float(np.median(t)) for v, t in times.items()}
    med_cpu = {v: float(np.median(t)) for v, t in cpu.items()}
    parts = [f"{v} {med[v] * 1e3:.4g} ms (cpu {med_cpu[v] * 1e3:.4g})" for v in impls]
    if "brainevent" in times:
        be_t = np.array(times["brainevent"])
        for v in impls:
            if v != "brainevent":
                parts.append(f"{v}/be {np.median(np.array(times[v]) / be_t):.3f}")
    if name.startswith("jitc_"):
        synapses = round(active * n) * n * CONN_PROB
        parts.append("ns/synapse " + ", ".join(f"{v} {med[v] / synapses * 1e9:.1f} (cpu {med_cpu[v] / synapses * 1e9:.1f})"
                                               for v in impls))
    line = f"{name} {product} n={n} a={active:g}: " + "; ".join(parts)
    if notes:
        line += " (" + "; ".join(notes) + ")"
    print(line, flush=True)
    return med


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--family", action="append", choices=FAMILIES)
    ap.add_argument("--n", action="append", type=int)
    ap.add_argument("--active", action="append", type=float)
    ap.add_argument("--product", action="append", choices=("vecmat", "matvec"))
    ap.add_argument("--variant", action="append", choices=("native", "index", "brainevent"))
    ap.add_argument("--budget", type=float, default=1.5, help="seconds of timed calls per case (at least 3 repeats)")
    args = ap.parse_args(argv)
    for name in args.family or DEFAULT:
        for product in args.product or default_products(name):
            for n in args.n or (1_000, 10_000, 100_000):
                if name == "dense" and n > 10_000:
                    continue  # 40 GB of weights
                for active in args.active or (0.001, 0.01, 0.05):
                    run_case(name, n, active, product, args.variant or ("native", "index", "brainevent"),
                             args.budget)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
