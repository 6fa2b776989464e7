"""pytest-benchmark: every family × product × backend at one small standard point.

The cases are :mod:`evbench.harness.bench`'s (the grid ``pytest``: n = 3,000, 1 % active, 100
connections per row, batch 16, float32; new events at every call), prepared and warmed up as
``evbench bench`` and asv prepare theirs: the backend's product compiled, the first call (which
compiles) and a second one before anything is timed. A case the harness cannot run here (an
absent device, an unavailable backend, a product the backend does not offer) is skipped with the
harness's reason. ``EVBENCH_FAMILY``, ``EVBENCH_BACKEND``, ``EVBENCH_PRODUCT`` narrow the suite,
as they narrow the asv suites.

Left out of the ordinary test run (``--benchmark-skip`` in the default options: ``conftest.py``
deselects the benchmarks); run with ``--benchmark-only`` (README, "pytest-benchmark").
"""
from __future__ import annotations

import math
import time

import pytest

from evbench.harness import bench

GRID = bench.GRIDS["pytest"]
#: the parametrised arguments, in the order of a case's key
ARGNAMES = ("product", *bench.PARAM_NAMES)


def case_id(case: bench.BenchCase) -> str:
    """``csr-vecmat-native-cpu-n3000-a0.01-k100-b1-float32``: a stable name (pytest-benchmark
    compares saved runs by it), the grid point included so that a changed grid is not compared
    with an older one under the same name."""
    return (f"{case.family}-{case.product}-{case.backend}-{case.device}-n{case.n}-a{case.active:g}"
            f"-k{case.conn_num}-b{case.batch}-{case.dtype}")


def suite_cases(g: bench.Grid = GRID) -> list[bench.BenchCase]:
    """The grid's cases on every device kind (absent ones skip), narrowed by the environment: one
    per family × product × backend (no timed variants: asv and ``evbench bench`` time those)."""
    return list(bench.cases(g, families=bench.env_filter("EVBENCH_FAMILY"),
                            backends=bench.env_filter("EVBENCH_BACKEND"),
                            products=bench.env_filter("EVBENCH_PRODUCT"), variants=False))


def iterations_for(once_s: float, g: bench.Grid = GRID) -> int:
    """Calls per round so that a round lasts ``g.min_sample`` at least (as ``bench.measure``
    chooses its ``number``), at most 1000."""
    return int(min(1000, max(1, math.ceil(g.min_sample / max(once_s, 1e-9)))))


@pytest.fixture(scope="module")
def reuse():
    """Structures and prepared products shared by consecutive cases (the cases come ordered so
    that the cases of one structure follow each other, as in ``evbench bench``)."""
    bench.configure_process()
    return bench.Reuse()


_CASES = suite_cases()


@pytest.mark.parametrize(ARGNAMES, [c.key for c in _CASES], ids=[case_id(c) for c in _CASES])
def test_product(benchmark, reuse, product, family, backend, n, active, conn_num, batch, dtype, device):
    import jax

    case = bench.BenchCase(family, backend, product, n, active, conn_num, batch, dtype, device, GRID.workload)
    try:
        prep = bench.prepare(case, reuse=reuse, seed=GRID.seed)
        first_s, compile_s = bench.warm_up(prep)
    except bench.Skipped as exc:
        pytest.skip(f"{exc.status}: {exc.reason}")

    def call():
        jax.block_until_ready(prep.call())

    t0 = time.perf_counter()
    call()
    iterations = iterations_for(time.perf_counter() - t0)
    benchmark.group = f"{family} {product}"
    work = prep.work()
    benchmark.extra_info.update(
        family=family, backend=backend, product=product, device=device, n=n, active=active,
        active_fraction=prep.active_fraction, conn_num=conn_num, conn_prob=case.conn_prob, batch=batch, dtype=dtype,
        workload=case.workload, event_sets=len(prep.events), mode=_mode_label(prep.mode),
        timing=prep.impl.timing, event_driven=prep.event_driven, first_call_s=first_s,
        compile_s=compile_s, synaptic_events=work["synaptic_events"], bytes_touched=work["bytes_touched"],
        structure_bytes=work["structure_bytes"])
    benchmark.pedantic(call, rounds=GRID.max_repeats, iterations=iterations, warmup_rounds=1)


def _mode_label(mode: dict) -> str:
    from evbench.peers import mode_label

    return mode_label(mode)
