"""The glue between the asv suites (``suites/``) and the runner: one in-process sweep of the
whole grid in ``setup_cache``, its records looked up by the benchmarks, and a sidecar with what
asv does not record."""
from __future__ import annotations

import os
from pathlib import Path

from .grid import BenchCase, Grid, Skipped
from .measure import configure_process, read_bandwidth, versions
from .runner import run, tidy
from .structures import Structures


def asv_sweep(g: Grid, cache_dir: str | None = ".", sidecar_dir: str | os.PathLike | None = None, *,
              families=None, backends=None, products=None, devices=None) -> dict:
    """What the asv suites' shared ``setup_cache`` returns: the whole grid run once in one
    process (narrowed to the given families, backends, products and device kinds: a suite's
    :class:`~evbench.asv_suites.Selection`), as ``{case key: record}``, plus ``"meta"``.

    It runs in asv's cache directory, where the benchmarks run too: expensive structures and
    JAX's persistent compilation cache are left there (``cache_dir``) for their ``setup``. The
    cache starts empty each run, so the sweep's compile times are cold ones; a computation found
    there (the same one compiled earlier in the run) reports its earlier compile time, as in
    :func:`~evbench.harness.bench.run`. With ``sidecar_dir``, the versions, devices, the
    machine's bandwidth and the sweep's whole table are written there too (:func:`write_sidecar`).
    """
    configure_process(cache_dir=cache_dir)
    meta = dict(versions(), grid=g.name, workload=g.workload, machine_read_gb_s=read_bandwidth())
    records = run(g, families=families, backends=backends, products=products, devices=devices, progress=False,
                  structures=Structures(keep=1, disk=cache_dir), machine_gb_s=meta["machine_read_gb_s"])
    if sidecar_dir is not None:
        write_sidecar(sidecar_dir, meta, records)
    out = {tuple(_case_of(r).key): r for r in records}
    out["meta"] = meta
    return out


def _case_of(rec: dict) -> BenchCase:
    return BenchCase(rec["family"], rec["backend"], rec["product"], rec["n"], rec["active"], rec["conn_num"],
                     rec["batch"], rec["dtype"], rec["device"], rec.get("workload", "new"))


def write_sidecar(folder, meta: dict, records: list) -> tuple[Path, Path]:
    """``<folder>/<machine>/<stamp>-<python>.json`` (versions, devices, bandwidth, the
    interpreter, hence the asv environment) and ``.csv`` (the sweep's table): what asv itself
    does not record with its results."""
    import hashlib
    import sys

    from ... import __file__ as evbench_file
    from ..results import frame_csv, machine_label, stamp, write_atomic, write_json

    folder = Path(folder) / machine_label()
    name = f"{stamp()}-{hashlib.sha1(sys.executable.encode()).hexdigest()[:8]}"
    js = write_json(folder / f"{name}.json", dict(meta, python=sys.executable, evbench_file=evbench_file))
    csv = write_atomic(folder / f"{name}.csv", frame_csv(tidy(records, meta)))
    return js, csv


def sweep_record(sweep: dict | None, case: BenchCase) -> dict | None:
    """The sweep's record of a case; :class:`Skipped` when the sweep found it cannot run,
    ``RuntimeError`` when it failed."""
    rec = (sweep or {}).get(case.key)
    if rec is None:
        return None
    if rec["status"] == "error":
        raise RuntimeError(f"{case.describe()}: {rec['reason']}")
    if rec["status"] != "ok":
        raise Skipped(rec["status"], rec["reason"])
    return rec
