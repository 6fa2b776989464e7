"""Speed of evbench's native products on a GPU against brainevent and the dense XLA product,
with the GPU performance targets (README, "On a GPU") evaluated on the run itself.

    python tools/gpu_perf.py [--out results] [--budget 400]      # on a GPU machine
    python tools/gpu_perf.py --smoke                             # tiny grid, CPU, GPU mode forced
    python tools/gpu_perf.py --cpu-compare                       # GPU formulations vs portable, CPU

Grid: n ∈ {10⁴, 10⁵} square structures, 100 and 1,000 connections per row, 0.1 / 1 / 5 %
active inputs, vectors and batches of 64, every family's event-driven products (``events @ M``
for row-driven families, ``M @ events`` for column-driven ones, both for dense weights; COO has
none), float32 weights (the catalogue's default structure options), boolean spikes.

Backends, each ``jax.jit``-compiled with the structure and the events as arguments:

* ``native``: evbench's product under the default mode ``auto`` (on a GPU: the formulations of
  ``evbench.ops.gpu``; ``--smoke`` forces them with ``use_kernels("gpu")``);
* ``brainevent`` (0.3): ``BinaryArray`` events (its event-driven form) with its structure of the
  same synapses (``CSR``, ``CSC``, ``FixedNumPerPre/Post``, a ``jax.Array`` of dense weights),
  or its own just-in-time matrix of the same law (``corder=True`` for the row families: with
  the default, its ``events @ M`` visits every row);
* ``dense``: ``events @ W`` / ``W @ events`` with an ``n × n`` float32 matrix at
  ``precision=HIGHEST``: its time does not depend on the values, so it is measured once per n,
  direction, batch and activity, with a matrix generated on the device, and shared by every
  family.

Timing: 16 event arrays per point, moved to the device first and rotated, a new one every
call; a round is 16 calls and one ``block_until_ready`` (so dispatch overlaps the device, as
in a simulation loop), the time per call is the median over rounds of round time / 16;
compilation is timed apart (the first call: trace, lower, compile, less one steady call), and
warm-up calls are not timed. The device's read bandwidth is measured first (a sum over 2 GiB); each native
point of a stored structure records the synapse bytes its active inputs touch (indices,
per-synapse weights, row pointers; union over a batch) and its achieved bandwidth.

Targets (evaluated in the Markdown): (1) native ≤ brainevent at every point; (2) at ≥ 5 %
active, CSR, ``fixed_prob`` and fixed-number ``events @ M`` within 2× of the time to read the
touched synapses at the measured bandwidth; (3) never slower than the dense product where it
reads ≥ 10× more bytes (for just-in-time families: than a stored structure of the same
synapses, 8 bytes each); (4) native compile time per product < 2 s.

``--budget`` seconds (default 400) bounds the run: points left when it is spent are recorded
``skipped: budget``. Writes ``OUT/<machine>/gpu-perf-<UTC time>.csv`` (one row per backend and
point), ``.md`` (targets and tables) and ``.meta.json``. Imports only evbench's public
structures and catalogue (not its harness).
"""
from __future__ import annotations

import os

os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

import argparse  # noqa: E402
import csv  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from datetime import datetime, timezone  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from evbench.catalogue import FAMILIES  # noqa: E402

GRID = dict(n=(10_000, 100_000), conn=(100, 1000), active=(0.001, 0.01, 0.05), batch=(1, 64))
SMOKE = dict(n=(400,), conn=(8,), active=(0.01, 0.05), batch=(1, 4))
#: the families whose event-driven product is ``events @ M`` (rows) or ``M @ events`` (cols)
ROW_FAMILIES = tuple(f.name for f in FAMILIES.all() if f.event_driven == "rows")
COL_FAMILIES = tuple(f.name for f in FAMILIES.all() if f.event_driven == "cols")
COMPARED = ("native", "brainevent", "dense")
N_EVENTS = 16
#: the stored row-driven structures, whose events @ M is held to the bandwidth target
STORED_ROW_FAMILIES = tuple(f.name for f in FAMILIES.all()
                            if f.event_driven == "rows" and f.storage in ("csr", "fixed"))
FIELDS = ("family", "product", "n", "conn", "active", "batch", "backend", "status", "active_fraction",
          "compile_s", "median_s", "q25_s", "q75_s", "rounds", "same_bits", "rel_diff_brainevent", "synapses",
          "touched_bytes", "dense_bytes", "achieved_gb_s", "bandwidth_fraction", "note")


# -- timing ---------------------------------------------------------------------------------------

def compile_fn(fn, args):
    """``(jitted, seconds)``: ``jax.jit(fn)`` and the time of its first call on ``args`` (trace,
    lower, compile and one run; the caller subtracts the run). A first call, not
    ``lower().compile()``: AOT lowering rebuilds pytrees from placeholders, which brainevent's
    structures reject."""
    import jax

    jitted = jax.jit(fn)
    t = time.perf_counter()
    jax.block_until_ready(jitted(*args))
    return jitted, time.perf_counter() - t


def timed(compiled, args_list, *, max_time: float, smoke: bool):
    """``(median_s, q25_s, q75_s, rounds, same_bits, first_output)`` per call of ``compiled``
    over ``args_list``: rounds of one call per argument set and one wait, after two warm-up
    calls; ``same_bits``: the first and the last round gave the same bits (a round is at least
    two: the warm-up round counts)."""
    import jax
    import jax.numpy as jnp

    t = time.perf_counter()
    warm = [compiled(*args) for args in args_list[:2]]  # not timed
    jax.block_until_ready(warm)
    slow = (time.perf_counter() - t) / 2 > 0.02
    per_call, start = [], time.perf_counter()
    while True:
        t = time.perf_counter()
        outs = [compiled(*args) for args in args_list]
        jax.block_until_ready(outs)
        per_call.append((time.perf_counter() - t) / len(args_list))
        spent = time.perf_counter() - start
        if len(per_call) >= (1 if smoke else 5) or (spent >= max_time and (len(per_call) >= 3 or slow)):
            break
    same = all(bool(jnp.array_equal(a, b)) for a, b in zip(warm, outs[:2]))
    q25, med, q75 = np.percentile(per_call, [25, 50, 75])
    return float(med), float(q25), float(q75), len(per_call), same, np.asarray(outs[0])


def read_bandwidth(smoke: bool) -> float:
    """Bytes per second of a device-resident sum over 2 GiB (64 MiB with ``--smoke``)."""
    import jax
    import jax.numpy as jnp

    n = (64 << 20 if smoke else 2 << 30) // 4
    x = jax.jit(lambda: jnp.ones((n,), jnp.float32))()
    f = jax.jit(lambda x: jnp.sum(x))
    jax.block_until_ready(f(x))
    times = []
    for _ in range(10):
        t = time.perf_counter()
        jax.block_until_ready(f(x))
        times.append(time.perf_counter() - t)
    del x
    return 4 * n / float(np.median(times))


# -- structures, events, bytes ----------------------------------------------------------------------

def build(name: str, n: int, conn: int, seed: int = 1):
    """evbench's structure of the family (square n × n, conn per row expected) and brainevent's
    of the same synapses (of the same law for just-in-time families), or its build error."""
    import evbench

    fam = evbench.get_family(name)
    M = fam.build(n, n, conn_prob=min(1.0, conn / n), seed=seed)
    try:
        from evbench.peers.brainevent import counterpart

        B = counterpart(fam, M, corder=name.startswith("jitc_") and name.endswith("_r"))
    except Exception as exc:  # noqa: BLE001 - recorded, the run goes on
        B = exc
    return M, B


def events(n: int, active: float, batch: int, product: str, seed: int):
    """``N_EVENTS`` boolean event arrays on the device, in the layout of ``product``."""
    import evbench
    import jax

    out = []
    for i in range(N_EVENTS):
        s = evbench.make_events(n, active, seed=seed + i, batch=batch)
        out.append(jax.device_put(s[0] if batch == 1 else (s if product == "vecmat" else s.T)))
    return out


def touched(name: str, M, ev, batch: int, product: str) -> tuple[float, float]:
    """Mean over the event arrays of ``(synapses reached, bytes a stored structure reads)``:
    the inputs active in any sample, their synapses' indices and per-synapse weights (and CSR
    row pointers); just-in-time families: 8 bytes per generated synapse, as if stored."""
    syn, byt = [], []
    for e in ev:
        e = np.asarray(e)
        active = e if batch == 1 else e.any(axis=0 if product == "vecmat" else 1)
        rows = np.flatnonzero(active)
        if isinstance(M, Exception):
            syn.append(np.nan)
            byt.append(np.nan)
            continue
        if name in ("csr", "fixed_prob", "csc"):
            base = M if name != "csc" else M.base
            lengths = np.diff(np.asarray(base.indptr))[rows]
            s = float(lengths.sum())
            b = s * (4 + (4 if base.weights.ndim else 0)) + 8 * len(rows)
        elif name in ("fixed_per_pre", "fixed_per_post"):
            base = M if name == "fixed_per_pre" else M.base
            s = float(len(rows) * base.conn_num)
            b = s * (4 + (4 if base.weights.ndim else 0))
        elif name == "dense":
            s = float(len(rows) * M.shape[1 if product == "vecmat" else 0])
            b = 4 * s
        else:
            s = float(len(rows) * M.shape[1 if product == "vecmat" else 0] * M.conn_prob)
            b = 8 * s
        syn.append(s)
        byt.append(b)
    return float(np.mean(syn)), float(np.mean(byt))


def dense_matrix(n: int):
    """An n × n float32 matrix generated on the device in one fused kernel (no host copy)."""
    import jax
    import jax.numpy as jnp
    from jax import lax

    def make():
        i = lax.broadcasted_iota(jnp.float32, (n, n), 0)
        j = lax.broadcasted_iota(jnp.float32, (n, n), 1)
        return jnp.sin(0.37 * i + 0.11 * j)

    return jax.jit(make)()


def _be():
    import brainevent

    return brainevent


def _dense(W, e, vecmat):
    import jax.numpy as jnp
    from jax import lax

    e = e.astype(W.dtype)
    return jnp.matmul(e, W, precision=lax.Precision.HIGHEST) if vecmat else \
        jnp.matmul(W, e, precision=lax.Precision.HIGHEST)


#: (backend, product) -> fn(structure, events)
FNS = {
    ("native", "vecmat"): lambda M, e: e @ M,
    ("native", "matvec"): lambda M, e: M @ e,
    ("brainevent", "vecmat"): lambda B, e: _be().BinaryArray(e) @ B,
    ("brainevent", "matvec"): lambda B, e: B @ _be().BinaryArray(e),
    ("dense", "vecmat"): lambda W, e: _dense(W, e, True),
    ("dense", "matvec"): lambda W, e: _dense(W, e, False),
}


# -- the run ------------------------------------------------------------------------------------------

class Skipped(Exception):
    """A structure not built (the budget was spent)."""


class Run:
    """The rows measured so far, the budget, the progress line."""

    def __init__(self, grid, backends, budget, smoke, bandwidth, max_time):
        self.grid, self.backends, self.smoke, self.bandwidth, self.max_time = grid, backends, smoke, bandwidth, max_time
        self.start = time.perf_counter()
        self.deadline = self.start + budget
        self.rows: list[dict] = []
        self.dense_rows: dict = {}
        self.outputs: dict = {}  # (backend, active) -> output for the first events, this structure
        self.total = self.done = 0

    def record(self, **row):
        full = {k: row.get(k, "") for k in FIELDS}
        self.rows.append(full)
        return full

    def series(self, backend, product, obj, ev_by_active, keys, extra):
        """Measure ``backend`` at every activity of one structure, product and batch (one
        compilation: the shapes do not change with the activity). ``keys[a]``: the point's
        columns; ``extra[a]``: its byte counts."""
        out = {}
        fail = None
        if isinstance(obj, Skipped):
            fail = f"skipped: {obj}"
        elif isinstance(obj, Exception):
            fail = f"error: {type(obj).__name__}: {obj}"
        elif time.perf_counter() > self.deadline:
            fail = "skipped: budget"
        compiled = compile_s = None
        for active, ev in ev_by_active.items():
            base = dict(keys[active], backend=backend, **extra[active])
            if fail is None and time.perf_counter() > self.deadline:
                fail = "skipped: budget"
            if fail is not None:
                out[active] = self.record(**base, status=fail[:300])
                continue
            try:
                first = compiled is None
                if first:
                    compiled, compile_s = compile_fn(FNS[(backend, product)], (obj, ev[0]))
                med, q25, q75, rounds, same, first_out = timed(compiled, [(obj, e) for e in ev],
                                                                max_time=self.max_time, smoke=self.smoke)
                if backend != "dense":
                    self.outputs[(backend, active)] = first_out
                if first:
                    compile_s = max(0.0, compile_s - med)
            except Exception as exc:  # noqa: BLE001 - recorded, the run goes on
                fail = f"error: {type(exc).__name__}: {exc}"
                out[active] = self.record(**base, status=fail[:300])
                continue
            byt = extra[active].get("touched_bytes") or 0.0
            measured = backend == "native" and byt
            out[active] = self.record(**base, status="ok", compile_s=compile_s, median_s=med, q25_s=q25, q75_s=q75,
                                      rounds=rounds, same_bits=same, achieved_gb_s=byt / med / 1e9 if measured else "",
                                      bandwidth_fraction=byt / med / self.bandwidth if measured else "")
        return out

    def progress(self, text):
        self.done += 1
        print(f"[{self.done:3d}/{self.total} {time.perf_counter() - self.start:5.0f}s] {text}", flush=True)


def _fmt_ms(row):
    return f"{row['median_s'] * 1e3:.3f} ms" if row.get("status") == "ok" else str(row.get("status"))[:40]


def run_structure(run: Run, name, M, B, product, n, conn, dense_W):
    """Every batch and activity of one structure: native, brainevent, dense (shared)."""
    g = run.grid
    for batch in g["batch"]:
        ev = {a: events(n, a, batch, product, seed=200) for a in g["active"]}
        keys, extra = {}, {}
        for a, e in ev.items():
            keys[a] = dict(family=name, product=product, n=n, conn=conn, active=a, batch=batch,
                           active_fraction=float(np.mean([np.count_nonzero(np.asarray(x)) / np.size(x) for x in e])))
            syn, byt = touched(name, M, e, batch, product)
            extra[a] = dict(synapses=syn, touched_bytes=byt, dense_bytes=4.0 * n * n)
        res = {}
        if "native" in run.backends:
            res["native"] = run.series("native", product, M, ev, keys, extra)
        if "brainevent" in run.backends:
            note = {"note": "corder=True"} if name.startswith("jitc") and name.endswith("_r") else {}
            res["brainevent"] = run.series("brainevent", product, B, ev, keys, {a: {**extra[a], **note} for a in ev})
        for a in ev:  # the same synapses in both (not the just-in-time families: each draws its own)
            nat, be = run.outputs.pop(("native", a), None), run.outputs.pop(("brainevent", a), None)
            if nat is not None and be is not None and not name.startswith("jitc"):
                diff = float(np.max(np.abs(nat - be), initial=0.0) / max(float(np.max(np.abs(be), initial=0.0)), 1e-30))
                res["native"][a]["rel_diff_brainevent"] = diff
        run.outputs.clear()
        if "dense" in run.backends:
            todo = {a: e for a, e in ev.items() if (n, product, batch, a) not in run.dense_rows}
            if todo and dense_W is None:
                for a in todo:
                    run.dense_rows[(n, product, batch, a)] = run.record(**keys[a], backend="dense",
                                                                        status="skipped: matrix does not fit")
            elif todo:
                note = {"dense_bytes": 4.0 * n * n, "note": "measured once per n, direction, batch, activity"}
                done = run.series("dense", product, dense_W, todo, keys, {a: note for a in todo})
                for a, r in done.items():
                    run.dense_rows[(n, product, batch, a)] = r
            res["dense"] = {}
            for a in ev:
                shared = run.dense_rows[(n, product, batch, a)]
                if a not in todo:
                    shared = run.record(**{**shared, **keys[a], "note": "shared with the first family of this n"})
                res["dense"][a] = shared
        for a in ev:
            native = res.get("native", {}).get(a, {})
            compile_note = f" (native compile {native['compile_s']:.2f} s)" if native.get("status") == "ok" else ""
            run.progress(f"{name} {product} n={n} conn={conn} active={a:g} batch={batch}: "
                         + ", ".join(f"{b} {_fmt_ms(r[a])}" for b, r in res.items()) + compile_note)


def dense_or_none(n: int):
    """The dense matrix of :func:`dense_matrix` where it takes at most 60 % of the device's
    memory (the rest: structures, workspaces) and can be allocated, else ``None``."""
    import jax

    limit = (jax.devices()[0].memory_stats() or {}).get("bytes_limit")
    if limit is not None and 4.0 * n * n > 0.6 * limit:
        return None
    try:
        return dense_matrix(n)
    except Exception as exc:  # noqa: BLE001 - out of memory: the dense points are skipped
        print(f"  no dense {n} x {n} matrix: {type(exc).__name__}: {str(exc)[:200]}", flush=True)
        return None


def execute(run: Run, families):
    import jax

    g = run.grid
    row_fams = [f for f in ROW_FAMILIES if f in families]
    col_fams = [f for f in COL_FAMILIES if f in families]
    per_n = len(g["conn"]) * (len(row_fams) + len(col_fams)) * len(g["active"]) * len(g["batch"])
    per_n += (2 * len(g["active"]) * len(g["batch"])) if "dense" in families else 0
    run.total = per_n * len(g["n"])
    for n in g["n"]:
        W = dense_or_none(n)
        if "dense" in families:
            import evbench

            for product in ("vecmat", "matvec"):
                if W is None:
                    for _ in range(len(g["active"]) * len(g["batch"])):
                        run.progress(f"dense {product} n={n}: skipped (the matrix does not fit)")
                    continue
                M = evbench.DenseMatrix.tree_unflatten(((n, n),), (W,))  # no host copy of W
                run_structure(run, "dense", M, W, product, n, "", W)
        for conn in g["conn"]:
            for name in row_fams + col_fams:
                product = "vecmat" if name in ROW_FAMILIES else "matvec"
                if time.perf_counter() > run.deadline:
                    M = B = Skipped("budget")
                else:
                    t = time.perf_counter()
                    M, B = build(name, n, conn)
                    print(f"  built {name} n={n} conn={conn} in {time.perf_counter() - t:.1f} s", flush=True)
                run_structure(run, name, M, B, product, n, conn, W)
                del M, B
        del W
        jax.clear_caches()


# -- targets and report -----------------------------------------------------------------------------

def points(rows):
    """One dict per point: the three backends' rows side by side."""
    by = {}
    for r in rows:
        k = (r["family"], r["product"], r["n"], r["conn"], r["active"], r["batch"])
        by.setdefault(k, {})[r["backend"]] = r
    return by


def _t(row):
    return row["median_s"] if row and row.get("status") == "ok" else None


def targets(rows, bandwidth):
    """``[(number, what, holds, points, worst, misses)]`` of the four GPU performance targets."""
    out = []
    pts = points(rows)

    def add(number, what, items):  # items: (label, ratio, ok)
        misses = sorted([i for i in items if not i[2]], key=lambda i: -i[1])
        worst = max((i[1] for i in items), default=float("nan"))
        out.append((number, what, len(items) - len(misses), len(items), worst,
                    "; ".join(f"{lab}: {r:.2f}" for lab, r, _ in misses[:25]) + (" …" if len(misses) > 25 else "")))

    def label(k):
        return f"{k[0]} {k[1]} n={k[2]} conn={k[3]} a={k[4]:g} b={k[5]}"

    one, two, three = [], [], []
    for k, p in pts.items():
        nat, be, de = _t(p.get("native")), _t(p.get("brainevent")), _t(p.get("dense"))
        if nat is None:
            continue
        if be is not None:
            one.append((label(k), nat / be, nat <= be))
        r = p["native"]
        if k[0] in STORED_ROW_FAMILIES and k[1] == "vecmat" and k[4] >= 0.05 and r["touched_bytes"]:
            ideal = r["touched_bytes"] / bandwidth
            two.append((label(k), nat / (2 * ideal), nat <= 2 * ideal))
        if de is not None and r["dense_bytes"] and r["touched_bytes"] and r["dense_bytes"] >= 10 * r["touched_bytes"]:
            three.append((label(k), nat / de, nat <= de))
    four = [(f"{r['family']} {r['product']} n={r['n']} conn={r['conn']} b={r['batch']}", r["compile_s"] / 2.0,
             r["compile_s"] < 2.0) for r in rows if r["backend"] == "native" and r["status"] == "ok"
            and r["active"] == min(x["active"] for x in rows if x["active"] != "")]
    add(1, "native ≤ brainevent (ratio native / brainevent)", one)
    add(2, "≥ 5 % active, CSR / fixed_prob / fixed-number events @ M: time ≤ 2 × touched bytes / bandwidth "
           "(ratio time / (2 × ideal))", two)
    add(3, "native ≤ dense XLA where dense reads ≥ 10× more bytes (ratio native / dense)", three)
    add(4, "native compile time < 2 s per product (ratio compile / 2 s)", four)
    return out


def markdown(rows, meta) -> str:
    def f(v, spec=".3g"):
        return "–" if v in ("", None) or (isinstance(v, float) and np.isnan(v)) else format(v, spec)

    lines = [f"# evbench native products on {meta['device']}: against brainevent and dense XLA", "",
             f"{meta['date']}, evbench {meta['commit']}, JAX {meta['jax']}, brainevent {meta['brainevent']}; "
             f"measured read bandwidth {meta['bandwidth_gb_s']:.0f} GB/s; wall time {meta['wall_s']:.0f} s"
             + (" (smoke run: tiny grid on the CPU, GPU formulations forced)" if meta["smoke"] else ""), "",
             "## Targets", "", "| target | what | holds | points | worst ratio | misses (worst first) |",
             "| --- | --- | --- | --- | --- | --- |"]
    for number, what, holds, n_pts, worst, misses in targets(rows, meta["bandwidth_gb_s"] * 1e9):
        lines.append(f"| {number} | {what} | {holds} | {n_pts} | {f(worst)} | {misses or '–'} |")
    ok = [r for r in rows if r["status"] == "ok" and r["backend"] in ("native", "brainevent")]
    lines += ["", "## Checks", "", "| check | holds | points | where it does not |", "| --- | --- | --- | --- |"]
    for backend in ("native", "brainevent"):
        mine = [r for r in ok if r["backend"] == backend]
        bad = [f"{r['family']} n={r['n']} a={r['active']:g} b={r['batch']}" for r in mine if not r["same_bits"]]
        lines.append(f"| {backend}: the same bits on repeated calls with the same events | {len(mine) - len(bad)} "
                     f"| {len(mine)} | {'; '.join(bad[:20]) or '–'} |")
    diffs = [r for r in ok if r["rel_diff_brainevent"] != ""]
    far = [f"{r['family']} n={r['n']} a={r['active']:g} b={r['batch']}: {r['rel_diff_brainevent']:.2g}" for r in diffs
           if r["rel_diff_brainevent"] > 1e-4]
    lines.append(f"| native = brainevent on the same synapses (max abs difference / max abs output ≤ 1e-4) "
                 f"| {len(diffs) - len(far)} | {len(diffs)} | {'; '.join(far[:20]) or '–'} |")
    lines += ["", "## Points", "", "Median time per call (ms), ratios below 1: native faster; GB/s: touched synapse "
              "bytes / native time; bw: that over the measured bandwidth.", "",
              "| family | product | n | conn | active | batch | native | brainevent | dense | nat/be | nat/dense "
              "| GB/s | bw | compile s | status |", "| " + " | ".join(["---"] * 15) + " |"]
    for k, p in points(rows).items():
        nat, be, de = (_t(p.get(b)) for b in COMPARED)
        r = p.get("native", {})
        bad = "; ".join(f"{b}: {p[b]['status']}" for b in COMPARED if b in p and p[b]["status"] != "ok")
        lines.append("| " + " | ".join([k[0], k[1], str(k[2]), str(k[3]), f"{k[4]:g}", str(k[5]),
                                        f(nat and nat * 1e3), f(be and be * 1e3), f(de and de * 1e3),
                                        f(nat / be if nat and be else None), f(nat / de if nat and de else None),
                                        f(r.get("achieved_gb_s")), f(r.get("bandwidth_fraction")),
                                        f(r.get("compile_s"), ".2f"), bad or "ok"]) + " |")
    return "\n".join(lines) + "\n"


def cpu_compare(rounds: int = 15) -> str:
    """On the CPU: ``events @ M`` of csr and fixed_per_pre at n = 10⁴, 100 connections per row,
    1 and 5 % active, under the modes "gpu", "portable" and "auto" (the numba kernels), side by
    side in one process: rounds of 16 calls interleaved (the order rotating), the median time per
    call of each mode and the median of the per-round ratios gpu / portable. CPU XLA speed says
    little about a GPU: this only shows that the formulations run at a sensible cost."""
    import jax

    import evbench

    modes = ("gpu", "portable", "auto")
    lines = ["| family | active | gpu ms | portable ms | auto (numba) ms | gpu / portable (median of paired ratios) |",
             "| --- | --- | --- | --- | --- | --- |"]
    for name in ("csr", "fixed_per_pre"):
        M = evbench.get_family(name).build(10_000, 10_000, conn_prob=0.01, seed=1)
        for active in (0.01, 0.05):
            ev = events(10_000, active, 1, "vecmat", seed=300)
            fns = {}
            for mode in modes:
                with evbench.use_kernels(mode):
                    fns[mode] = jax.jit(lambda M, e: e @ M)
                    for e in ev[:2]:
                        jax.block_until_ready(fns[mode](M, e))
            times = {m: [] for m in modes}
            for r in range(rounds):
                for mode in modes[r % 3:] + modes[:r % 3]:
                    with evbench.use_kernels(mode):
                        t = time.perf_counter()
                        jax.block_until_ready([fns[mode](M, e) for e in ev])
                        times[mode].append((time.perf_counter() - t) / len(ev))
            ratio = np.median(np.array(times["gpu"]) / np.array(times["portable"]))
            med = {m: np.median(v) * 1e3 for m, v in times.items()}
            lines.append(f"| {name} | {active:g} | {med['gpu']:.3f} | {med['portable']:.3f} | {med['auto']:.3f} "
                         f"| {ratio:.2f} |")
            print(lines[-1], flush=True)
    return "\n".join(lines)


def _commit() -> str:
    import subprocess

    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).resolve().parent).stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--smoke", action="store_true", help="a tiny grid on the CPU with the GPU formulations forced")
    ap.add_argument("--out", default="results", help="results root (files go to OUT/<machine>/)")
    ap.add_argument("--budget", type=float, default=None, help="seconds for the whole grid (default 400)")
    ap.add_argument("--max-time", type=float, default=0.25, help="seconds of timed rounds per point and backend")
    ap.add_argument("--family", action="append", help="families to run (repeatable; default all)")
    ap.add_argument("--backend", action="append", choices=COMPARED, help="backends (repeatable; default all)")
    ap.add_argument("--n", action="append", type=int, help="sizes (repeatable; default 10^4 and 10^5)")
    ap.add_argument("--cpu-compare", action="store_true",
                    help="only time the GPU formulations against the portable products on the CPU (a few points)")
    args = ap.parse_args(argv)
    if args.cpu_compare:
        os.environ.setdefault("JAX_PLATFORMS", "cpu")
        print(cpu_compare())
        return 0
    if args.smoke:
        os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import jax

    import evbench

    grid = dict(SMOKE if args.smoke else GRID)
    if args.n:
        grid["n"] = tuple(args.n)
    families = tuple(args.family or ("dense",) + ROW_FAMILIES + COL_FAMILIES)
    unknown = set(families) - set(("dense",) + ROW_FAMILIES + COL_FAMILIES)
    if unknown:
        ap.error(f"unknown or not event-driven families: {sorted(unknown)}")
    backends = tuple(args.backend or COMPARED)
    device = jax.devices()[0]
    if not args.smoke and device.platform not in ("gpu", "cuda", "rocm"):
        print(f"warning: JAX's device is {device.platform}, not a GPU (use --smoke for a CPU check)", file=sys.stderr)
    t0 = time.perf_counter()
    bandwidth = read_bandwidth(args.smoke)
    print(f"device {device.device_kind} ({device.platform}); read bandwidth {bandwidth / 1e9:.0f} GB/s", flush=True)
    run = Run(grid, backends, args.budget or (400.0 if not args.smoke else 600.0), args.smoke, bandwidth,
              args.max_time if not args.smoke else 0.01)
    if args.smoke:
        with evbench.use_kernels("gpu"):
            execute(run, families)
    else:
        execute(run, families)
    try:
        import brainevent

        be_version = brainevent.__version__
    except Exception:  # noqa: BLE001
        be_version = "missing"
    meta = dict(device=f"{device.device_kind} ({device.platform})", date=datetime.now(timezone.utc).isoformat(),
                commit=_commit(), jax=jax.__version__, brainevent=be_version, python=platform.python_version(),
                bandwidth_gb_s=bandwidth / 1e9, wall_s=time.perf_counter() - t0, smoke=args.smoke, grid=grid,
                families=families, backends=backends, mode="gpu (forced)" if args.smoke else evbench.kernel_mode())
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    folder = Path(args.out) / platform.node().split(".")[0]
    folder.mkdir(parents=True, exist_ok=True)
    base = folder / f"gpu-perf-{stamp}{'-smoke' if args.smoke else ''}"
    with open(f"{base}.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=FIELDS)
        w.writeheader()
        w.writerows(run.rows)
    Path(f"{base}.md").write_text(markdown(run.rows, meta))
    Path(f"{base}.meta.json").write_text(json.dumps(meta, indent=2, default=str))
    print("\n" + "\n".join(markdown(run.rows, meta).split("\n## Points")[0].splitlines()[2:]))
    print(f"wrote {base}.csv, .md, .meta.json ({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
