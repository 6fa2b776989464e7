"""What every suite shares: the grid, the case of a parameter combination, and one
``setup_cache`` that runs the whole grid once per asv run.

The cases come from :mod:`evbench.harness.bench` (the same ones ``evbench bench`` runs), read from the
catalogue and the backends. The grid is ``$EVBENCH_GRID`` (``default`` unless set);
``EVBENCH_FAMILY``, ``EVBENCH_BACKEND`` and ``EVBENCH_PRODUCT`` (comma-separated names) narrow
it. Every suite class holds one product (its ``product_key``: the classes are written out, one
per catalogue product, and ``tests/test_bench.py`` checks that they cover the catalogue) and
takes the parameters ``bench.PARAM_NAMES``:
family, backend, n, active, conn_num, batch, dtype, device (every kind JAX may have: cpu, gpu,
tpu; an absent one is a ``NotImplementedError`` in ``setup``, which asv records as a skip).

``setup_cache`` is defined once, here, so asv keys it by this one location and runs it once
for all classes of all modules: it times every case in one process (what the ``track_``
figures report) and leaves expensive structures in asv's cache directory, which is also where
the benchmarks run; their ``setup`` reuses them, and a JAX compilation cache there, so that
the per-combination processes asv starts stay cheap. It also writes what asv does not record
(versions of JAX, jaxlib and every backend, the devices, the machine's read bandwidth, and the
sweep's whole table with the measured active fractions) to ``results/asv-meta/<machine>/``.
"""
import os
from pathlib import Path

from evbench.harness import bench

#: versions, devices and the sweep's table go here, beside asv's results (results/asv)
SIDECAR = Path(__file__).resolve().parents[1] / "results" / "asv-meta"

GRID = bench.grid()  # $EVBENCH_GRID, else the asv grid
FAMILY_FILTER = bench.env_filter("EVBENCH_FAMILY")
BACKEND_FILTER = bench.env_filter("EVBENCH_BACKEND")
PRODUCT_FILTER = bench.env_filter("EVBENCH_PRODUCT")


class Sweep:
    """Base of the suite classes: parameters, the shared ``setup_cache`` and the helpers
    their ``setup`` methods use (it holds no benchmark itself)."""

    param_names = list(bench.PARAM_NAMES)
    timeout = GRID.timeout
    version = bench.SUITE_VERSION
    product_key = None

    def setup_cache(self):
        return bench.asv_sweep(GRID, sidecar_dir=SIDECAR)

    setup_cache.timeout = GRID.sweep_timeout

    def case(self, params) -> bench.BenchCase:
        return bench.case_from_params(self.product_key, *params, workload=GRID.workload)

    def selected(self) -> None:
        """A skip (``NotImplementedError``) for a product ``EVBENCH_PRODUCT`` leaves out."""
        if PRODUCT_FILTER and self.product_key not in PRODUCT_FILTER:
            raise NotImplementedError(f"{self.product_key} is not in EVBENCH_PRODUCT={','.join(PRODUCT_FILTER)}")

    def prepare(self, sweep, params):
        """The case built in this process and warmed up; a skip (``NotImplementedError``) or
        error as the sweep found it, checked after the device."""
        import jax

        self.selected()
        case = self.case(params)
        bench.configure_process()
        bench.device_for(case.device)
        bench.sweep_record(sweep, case)
        bench.configure_process(cache_dir=os.getcwd())  # asv's cache directory, shared by the run
        prep = bench.prepare(case, reuse=bench.Reuse(bench.Structures(keep=0, disk=os.getcwd())), seed=GRID.seed)
        jax.config.update("jax_default_device", prep.device)
        bench.warm_up(prep)
        return prep

    def record(self, sweep, params) -> dict:
        self.selected()
        case = self.case(params)
        rec = bench.sweep_record(sweep, case)
        if rec is None:
            raise NotImplementedError(f"{case.describe()}: not in this run's sweep")
        return rec


def params_of(product_key: str) -> list[list]:
    """The asv ``params`` of the class of one catalogue product: the grid's sweep, read from the
    catalogue and the backends (narrowed by ``EVBENCH_FAMILY`` / ``EVBENCH_BACKEND``)."""
    from evbench.catalogue import get_product

    return bench.suite_params(GRID, get_product(product_key), families=FAMILY_FILTER, backends=BACKEND_FILTER)
