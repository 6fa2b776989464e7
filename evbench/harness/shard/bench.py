"""Strong and weak scaling of the sharded products over the number of devices, the time split
into the devices' local products and the communication.

For every family that can be sharded × product (``events @ M``, ``M @ events``) × scaling ×
number of devices ``D``:

* **strong** scaling: ``n = n_strong`` whatever ``D``; **weak** scaling: ``n = n_per_device ·
  D``. Square structures, ``conn_num`` expected connections per neuron
  (``conn_prob = conn_num / n``), so the work per device is constant in weak scaling;
* ``total``: the sharded product (``S.vecmat`` / ``S.matvec``), events sharded over the mesh;
* ``local``: every device's block product alone (:func:`evbench.ops.shard.phases`), on the
  events it needs already in place; ``comm``: the collective alone (all-gather of the events,
  or reduce-scatter of the partial outputs), on what the product moves;
* ``unsharded``: the native product on one device, for reference.

The four are timed side by side, repeats interleaved (a repeat of each in turn), each repeat
averaging enough calls (new events at every call, from ``EVENT_SETS`` sets) to last ``min_sample``.

On virtual CPU devices (one host) every device's local product shares the host's cores, and a
collective is a copy through host memory with a barrier: the timings measure the algorithm's
pattern on this host, not a real interconnect (``devices`` column).
"""
from __future__ import annotations

import functools
import math
import os
import time
from dataclasses import dataclass

import numpy as np

from ...registry import Registry
from ..results import TABLES

#: event sets a case rotates through (a new set at every call)
EVENT_SETS = 8
SCALINGS = ("strong", "weak")
PHASES = ("total", "local", "comm", "unsharded")


@dataclass(frozen=True)
class ShardedGrid:
    name: str
    devices: tuple = (1, 2, 4, 8)
    n_strong: int = 16384
    n_per_device: int = 2048
    conn_num: int = 500
    active: float = 0.01
    batch: int = 1
    dtype: str = "float32"
    products: tuple = ("vecmat", "matvec")
    #: families (empty: every one that can be sharded)
    families: tuple = ()
    #: the most bytes a structure may hold on the host (dense weights beyond are skipped)
    max_bytes: int = 1_100_000_000
    repeats: int = 7
    min_sample: float = 5e-3
    seed: int = 0


SHARDED_GRIDS: Registry[ShardedGrid] = Registry("scaling grid")
for _g in (
    ShardedGrid("tiny", devices=(1, 2), n_strong=256, n_per_device=128, conn_num=16, active=0.05, repeats=2,
                min_sample=1e-4, families=("csr", "jitc_scalar_c")),
    # asv's: one family per storage and orientation, minutes
    ShardedGrid("asv", n_strong=8192, n_per_device=1024, conn_num=200, repeats=5,
                families=("dense", "csr", "csc", "fixed_per_pre", "jitc_scalar_r", "jitc_normal_c")),
    ShardedGrid("scaling"),
):
    SHARDED_GRIDS.register(_g)


@dataclass(frozen=True)
class ScalingCase:
    family: str
    product: str
    scaling: str
    n_devices: int
    n: int
    grid: ShardedGrid

    @property
    def conn_prob(self) -> float:
        return min(1.0, self.grid.conn_num / self.n)


def scaling_cases(g: ShardedGrid, families=None):
    """Every case of the grid, those of one structure together."""
    from .validate import sharded_families

    names = families or g.families
    fams = [f.name for f in sharded_families() if not names or f.name in names]
    sizes = {("strong", D): g.n_strong for D in g.devices} | {("weak", D): g.n_per_device * D for D in g.devices}
    for fam in fams:
        for n in sorted(set(sizes.values())):
            for (scaling, D), size in sizes.items():
                if size == n:
                    for prod in g.products:
                        yield ScalingCase(fam, prod, scaling, D, n, g)


def structure_bytes(family, n: int, conn_prob: float, dtype: str) -> int:
    """What the family's structure holds for an n × n matrix (an estimate, before building)."""
    item = np.dtype(dtype).itemsize
    if family.storage == "dense":
        return n * n * item
    if family.storage == "jitc":
        return 256
    return int(n * n * conn_prob * (4 + item) + 4 * (n + 1))


def _timed(fn, args_list, number: int) -> float:
    import jax

    t0 = time.perf_counter()
    for k in range(number):
        jax.block_until_ready(fn(*args_list[k % len(args_list)]))
    return (time.perf_counter() - t0) / number


def measure_case(case: ScalingCase, conn) -> dict:
    """The four timings of one case (``conn``: the unsharded structure, built already)."""
    import jax
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P

    from ...catalogue import get_family
    from ...events import make_events
    from ...ops.shard import device_mesh, phases, shard

    g = case.grid
    fam = get_family(case.family)
    mesh = device_mesh(case.n_devices)
    ax = mesh.axis_names[0]
    S = shard(conn, mesh)
    vec = case.product == "vecmat"
    spec = P(None, ax) if vec else P(ax, None)
    host = [make_events(case.n, g.active, seed=g.seed + 1 + k, batch=g.batch) for k in range(EVENT_SETS)]
    host = [h if vec else h.T for h in host]  # (b, n) for events @ M, (n, b) for M @ events
    sharded_ev = [jax.device_put(h, NamedSharding(mesh, spec)) for h in host]
    whole_ev = [jax.device_put(h, NamedSharding(mesh, P())) for h in host]
    single = [jax.device_put(h, jax.devices()[0]) for h in host]
    comm_kind = S.communication(case.product)
    local, comm = phases(S, case.product)
    total = jax.jit(lambda s, e: s.vecmat(e)) if vec else jax.jit(lambda s, e: s.matvec(e))
    unsharded = jax.jit(lambda m, e: m.vecmat(e)) if vec else jax.jit(lambda m, e: m.matvec(e))
    conn0 = jax.device_put(conn, jax.devices()[0])
    local_in = sharded_ev if comm_kind == "reduce-scatter" else whole_ev
    comm_in = ([local(S, e) for e in sharded_ev] if comm_kind == "reduce-scatter" else sharded_ev)
    calls = {"total": (total, [(S, e) for e in sharded_ev]), "local": (local, [(S, e) for e in local_in]),
             "comm": (comm, [(x,) for x in comm_in]), "unsharded": (unsharded, [(conn0, e) for e in single])}
    t0 = time.perf_counter()
    numbers = {}
    for key, (fn, args) in calls.items():  # compile, warm up, and choose the calls per repeat
        jax.block_until_ready(fn(*args[0]))
        once = _timed(fn, args, 2)
        numbers[key] = int(min(1000, max(1, math.ceil(g.min_sample / max(once, 1e-9)))))
    first_s = time.perf_counter() - t0
    times = {key: [] for key in calls}
    for _ in range(g.repeats):  # interleaved: a repeat of each in turn
        for key, (fn, args) in calls.items():
            times[key].append(_timed(fn, args, numbers[key]))
    out = dict(warmup_s=first_s)
    for key, ts in times.items():
        q1, med, q3 = np.percentile(ts, [25, 50, 75])
        out.update({f"{key}_median_s": float(med), f"{key}_iqr_s": float(q3 - q1), f"{key}_number": numbers[key]})
    prod_events_driven = fam.event_driven_for(_product(case.product))
    frac = float(np.mean([np.any(h != 0, axis=1 if not vec else 0).mean() for h in host]))
    work = (frac if prod_events_driven else 1.0) * case.n * case.n * case.conn_prob / case.n_devices * g.batch
    out.update(axis=S.axis, communication=comm_kind, event_driven=prod_events_driven, active_fraction=frac,
               comm_bytes_per_device=S.communication_bytes(case.product, g.batch, "bool"),
               synapses_per_device=work, structure_bytes=int(conn.nbytes), sharded_bytes=S.nbytes)
    return out


def _product(key):
    from ...catalogue import get_product

    return get_product(key)


def record(case: ScalingCase, status: str, reason: str = "", **values) -> dict:
    g = case.grid
    rec = dict(family=case.family, product=case.product, expr=_product(case.product).expr, scaling=case.scaling,
               n_devices=case.n_devices, n=case.n, n_per_device=case.n // case.n_devices, conn_num=g.conn_num,
               conn_prob=case.conn_prob, active=g.active, batch=g.batch, dtype=g.dtype, status=status,
               reason=reason, devices=devices_label(), cpus=os.cpu_count())
    rec.update({c: np.nan for c in BENCH_COLUMNS if c not in rec})
    rec.update(values)
    return rec


def devices_label() -> str:
    """What the devices are: virtual CPU devices share this host's cores."""
    import jax

    kinds = sorted({d.platform for d in jax.devices()})
    if kinds == ["cpu"]:
        return f"{len(jax.devices())} virtual cpu devices on {os.cpu_count()} cores (one host)"
    return ", ".join(f"{sum(d.platform == k for d in jax.devices())} {k}" for k in kinds)


def run(g: ShardedGrid, *, families=None, progress: bool = True) -> list[dict]:
    """Every case of the grid in this process (the devices must exist already): one record each."""
    import jax
    from tqdm.auto import tqdm

    from ...catalogue import get_family

    todo = list(scaling_cases(g, families))
    have = len(jax.devices())
    built_key, conn = None, None
    records = []
    for case in tqdm(todo, desc=f"sharded bench ({g.name})", unit="case", disable=not progress, leave=False):
        fam = get_family(case.family)
        try:
            if case.n_devices > have:
                raise _Skip("no_device", f"{case.n_devices} devices asked for, JAX sees {have}")
            need = structure_bytes(fam, case.n, case.conn_prob, g.dtype)
            if need > g.max_bytes:
                raise _Skip("too_large", f"the structure needs {need / 1e9:.1f} GB (max_bytes {g.max_bytes / 1e9:.1f})")
            if built_key != (case.family, case.n):
                conn = None
                conn = fam.build(case.n, case.n, conn_prob=case.conn_prob, seed=g.seed, dtype=g.dtype)
                built_key = (case.family, case.n)
            rec = record(case, "ok", **measure_case(case, conn))
        except _Skip as exc:
            rec = record(case, exc.status, exc.reason)
        except Exception as exc:  # recorded, and the sweep goes on
            rec = record(case, "error", f"{type(exc).__name__}: {exc}"[:300])
        records.append(rec)
        jax.clear_caches()  # every case compiles its own mesh's programs
    return records


class _Skip(Exception):
    def __init__(self, status, reason):
        super().__init__(reason)
        self.status, self.reason = status, reason


BENCH_COLUMNS = TABLES.get("sharded-bench").columns  # declared in evbench.harness.results


# -- the collectives alone, over message sizes (what the model's communication fit needs) -------

#: elements (float32) in each device's block: 4 KiB to 16 MiB
COLLECTIVE_SIZES = tuple(4 ** k for k in range(5, 13))


def collective_rows(devices=(2, 4, 8), sizes=COLLECTIVE_SIZES, *, repeats: int = 5, min_sample: float = 5e-3,
                    progress: bool = True) -> list[dict]:
    """An all-gather and a reduce-scatter of float32 blocks of each size, alone, on each mesh:
    one record per collective × devices × size, with the bytes one device receives
    (``(D-1)`` blocks either way), timed side by side (repeats interleaved)."""
    import jax
    from jax import lax
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P
    from tqdm.auto import tqdm

    from ...ops.shard import device_mesh

    records = []
    todo = [(D, n) for D in devices if D <= len(jax.devices()) for n in sizes]
    for D, n in tqdm(todo, desc="collectives", unit="size", disable=not progress, leave=False):
        mesh = device_mesh(D)
        ax = mesh.axis_names[0]
        smap = functools.partial(jax.shard_map, mesh=mesh, check_vma=False)
        gather = jax.jit(smap(lambda v: lax.all_gather(v, ax, tiled=True)[None], in_specs=P(ax),
                              out_specs=P(ax, None)))
        scatter = jax.jit(smap(lambda x: lax.psum_scatter(x[0], ax, scatter_dimension=0, tiled=True),
                               in_specs=P(ax, None), out_specs=P(ax)))
        blocks = jax.device_put(np.ones(D * n, np.float32), NamedSharding(mesh, P(ax)))
        partials = jax.device_put(np.ones((D, D * n), np.float32), NamedSharding(mesh, P(ax, None)))
        calls = {"all-gather": (gather, [(blocks,)]), "reduce-scatter": (scatter, [(partials,)])}
        numbers = {}
        for key, (fn, args) in calls.items():
            jax.block_until_ready(fn(*args[0]))
            numbers[key] = int(min(1000, max(1, math.ceil(min_sample / max(_timed(fn, args, 2), 1e-9)))))
        times = {key: [] for key in calls}
        for _ in range(repeats):
            for key, (fn, args) in calls.items():
                times[key].append(_timed(fn, args, numbers[key]))
        for key, ts in times.items():
            q1, med, q3 = np.percentile(ts, [25, 50, 75])
            records.append(dict(communication=key, n_devices=D, elements_per_device=n,
                                comm_bytes_per_device=(D - 1) * n * 4, comm_median_s=float(med),
                                comm_iqr_s=float(q3 - q1), number=numbers[key], status="ok",
                                devices=devices_label(), cpus=os.cpu_count()))
        del blocks, partials
        jax.clear_caches()
    return records


COLLECTIVE_COLUMNS = TABLES.get("sharded-collectives").columns  # declared in evbench.harness.results
