"""The runner behind ``evbench bench``: the whole grid in one process, as one record per case,
the results table (:func:`tidy`) and the command (:class:`BenchOptions`, :func:`run_command`)."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ..results import TABLES, Output, Transaction, Written, metadata, stamp, usage
from .grid import DEFAULT_GRID, GRIDS, Grid, Skipped, cases, present_devices, selection
from .measure import Prepared, measure_case, prepare, read_bandwidth, record, versions
from .structures import Reuse, Structures


def run(g: Grid, *, families=None, backends=None, products=None, devices=None, progress: bool = True,
        structures: Structures | None = None, machine_gb_s: float | None = None,
        modes: dict | None = None) -> list[dict]:
    """Every case of the grid in this process: one record per case (``status`` ``ok`` with
    its timings, or the reason it was skipped, or ``error`` with the exception).

    The current structure (and, with ``structures``, expensive builds on disk) and the
    current prepared product are reused across batch sizes and active fractions; the first
    call (compilation) is made, and reported, once per prepared product and batch size.
    ``modes`` (``{backend name: mode}``) times another mode than the one a backend
    declares (:meth:`~evbench.peers.Backend.timed`).
    """
    from tqdm import tqdm

    todo = list(cases(g, families=families, backends=backends, products=products, devices=devices))
    reuse = Reuse(structures or Structures(keep=1), modes)
    compiled: dict = {}
    first_calls: dict = {}  # seconds of the first call of each prepared product × batch
    records = []
    bar = tqdm(todo, desc=f"evbench bench ({g.name})", unit="case", disable=not progress, dynamic_ncols=True)
    for case in bar:
        bar.set_postfix_str(f"{case.family} {case.backend} {case.product}", refresh=False)
        try:
            prep = prepare(case, reuse=reuse, seed=g.seed, dense_max_n=g.dense_max_n)
            group = (case.structure_key, case.backend, case.product, case.batch, case.device)
            rec = measure_case(prep, g, machine_gb_s=machine_gb_s, compiled=compiled,
                               first_call=group not in first_calls)
            rec["first_call_s"] = first_calls.setdefault(group, rec["first_call_s"])
        except Skipped as exc:
            rec = record(case, exc.status, exc.reason)
        except Exception as exc:  # a failing case is recorded, and the sweep goes on
            rec = record(case, "error", f"{type(exc).__name__}: {exc}")
        records.append(rec)
    bar.close()
    return records


#: the results table's columns, in order (its declaration: :data:`evbench.harness.results.TABLES`)
TIDY_COLUMNS = TABLES.get("bench").columns


def tidy(records: list[dict], meta: dict | None = None):
    """The results table: one row per case and repeat (one row, without a time, for a case
    that did not run), with the case's summary figures on each row."""
    import pandas as pd

    meta = meta or {}
    rows = []
    for rec in records:
        base = {k: v for k, v in rec.items() if k != "times"}
        base.update(machine_read_gb_s=meta.get("machine_read_gb_s", np.nan),
                    backend_version=meta.get("backends", {}).get(rec["backend"], ""),
                    jax=meta.get("jax", ""), jaxlib=meta.get("jaxlib", ""))
        base.setdefault("device_name", "")
        times = rec["times"] or [np.nan]
        for i, t in enumerate(times):
            rows.append(dict(base, repeat=i if rec["times"] else np.nan, time_s=t))
    return pd.DataFrame(rows, columns=list(TIDY_COLUMNS))


#: what identifies a case in the table (one row per repeat)
CASE_COLUMNS = ("family", "backend", "product", "device", "n", "active", "conn_num", "batch", "dtype", "workload")


def summary(frame, *, n=None, active=None):
    """Per-case median times side by side, one column per backend (``ok`` cases only)."""
    ok = frame[frame.status == "ok"].drop_duplicates(list(CASE_COLUMNS))
    if n is not None:
        ok = ok[ok.n == n]
    if active is not None:
        ok = ok[np.isclose(ok.active, active)]
    return ok.pivot_table(index=["family", "product"], columns="backend", values="median_s", sort=False)


# -- the command -------------------------------------------------------------------------------


@dataclass
class BenchOptions:
    """``evbench bench``: which grid, which families, backends, products and device kinds
    (none, or "all": every one; devices: every kind JAX sees), where the results go."""

    grid: str = DEFAULT_GRID
    families: list = field(default_factory=list)
    backends: list = field(default_factory=list)
    products: list = field(default_factory=list)
    devices: list = field(default_factory=list)
    output: Output = field(default_factory=Output)
    progress: bool = True


@dataclass
class BenchOutcome:
    code: int
    frame: object
    written: Written
    seconds: float
    #: cases per status
    statuses: dict

    @property
    def result(self) -> str:
        return f"{sum(self.statuses.values())} cases: " + ", ".join(f"{n} {s}" for s, n in self.statuses.items())


@usage
def resolve_options(options: BenchOptions) -> tuple[Grid, list]:
    """The grid and device kinds of ``options``; ``ValueError`` naming a bad name."""
    from .grid import DEVICE_KINDS

    g = GRIDS.get(options.grid)
    selection(options.families, options.backends, options.products)
    bad = [d for d in options.devices if d not in DEVICE_KINDS and d != "all"]
    if bad:
        raise ValueError(f"unknown device kind{'s' if len(bad) > 1 else ''} {', '.join(map(repr, bad))}; "
                         f"valid: {', '.join(DEVICE_KINDS)}, all")
    devices = list(DEVICE_KINDS) if "all" in options.devices else (list(options.devices) or present_devices())
    return g, devices


def run_command(options: BenchOptions) -> BenchOutcome:
    """Time every case, write ``bench-<grid>-<stamp>.{csv,json}`` and its metadata, print the
    median times side by side. Exit code 1 when a case raised."""
    from ..console import fixed_width
    from .measure import configure_process

    g, devices = resolve_options(options)
    folder = options.output.check()
    configure_process()
    t0 = time.perf_counter()
    machine_gb_s = read_bandwidth()
    meta = dict(versions(), machine_read_gb_s=machine_gb_s)
    records = run(g, families=options.families, backends=options.backends, products=options.products,
                  devices=devices, progress=options.progress, machine_gb_s=machine_gb_s)
    seconds = time.perf_counter() - t0
    frame = tidy(records, meta)
    st = stamp()
    written = Written()
    with Transaction() as tx:
        written.tables["bench"] = tx.table(TABLES.get("bench"), frame, folder, g.name, st)
        written.meta = tx.meta(folder / f"bench-{g.name}-{st}.meta.json",
                               {**metadata(seconds=seconds, grid=g.name, workload=g.workload), **meta})
    statuses = frame.drop_duplicates(list(CASE_COLUMNS)).status.value_counts().to_dict()
    table = summary(frame, n=max(g.n), active=min(g.active, key=lambda a: abs(a - 0.01)))
    if len(table):
        print(f"median seconds per call, n = {max(g.n)}, active ≈ 1 %, {g.workload} events every call:")
        print(fixed_width(table.reset_index(), ["family", "product", *table.columns]))
    print(f"\nmachine single-core read bandwidth: {machine_gb_s:.1f} GB/s")
    print(f"{len(records)} cases ({', '.join(f'{v} {k}' for k, v in statuses.items())}), {seconds:.0f} s. "
          f"Written: {written.tables['bench'][0]} and {written.tables['bench'][1]}")
    code = 1 if (frame.status == "error").any() else 0
    return BenchOutcome(code, frame, written, seconds, statuses)


__all__ = ["Prepared", "run", "tidy", "summary", "BenchOptions", "BenchOutcome", "run_command", "CASE_COLUMNS"]
