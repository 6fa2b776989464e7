"""Memory: whether a case fits this machine (a model fitted on two small probes), the device's
memory statistics, and bytes held by a backend's structures."""
from __future__ import annotations

import contextlib
import functools
import os
import tracemalloc
from dataclasses import dataclass

import numpy as np

from .grid import BenchCase, Skipped

_PROBE_N = 128
#: sparse enough that a structure storing 16 bytes per synapse (a CSR with its column index)
#: stores less than the dense matrix
_PROBE_P = 0.1
#: fraction of the available memory a case may plan to use
_MEMORY_SHARE = 0.7


def available_host_bytes() -> int:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2


def device_memory(dev) -> dict:
    """The device's memory statistics (``bytes_in_use``, ``peak_bytes_in_use``,
    ``bytes_limit``), or ``{}`` where the device reports none (the CPU)."""
    try:
        return dict(dev.memory_stats() or {})
    except Exception:  # backends without statistics raise different errors
        return {}


@contextlib.contextmanager
def _count_dense_materialisations():
    """Count calls that build a structure's dense matrix (``to_dense``, and ``to_coo`` where a
    structure has no explicit synapse list and falls back on the dense matrix)."""
    from ...ops.base import Connectivity

    calls = [0]
    to_dense, to_coo = Connectivity.to_dense, Connectivity.to_coo

    def counted(fn):
        def wrapper(self, *a, **kw):
            calls[0] += 1
            return fn(self, *a, **kw)
        return wrapper

    Connectivity.to_dense, Connectivity.to_coo = counted(to_dense), counted(to_coo)
    try:
        yield calls
    finally:
        Connectivity.to_dense, Connectivity.to_coo = to_dense, to_coo


def _traced_peak(fn):
    """``(result, peak bytes of NumPy/Python allocations while fn ran)``."""
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    try:
        out = fn()
        return out, max(0, tracemalloc.get_traced_memory()[1] - base)
    finally:
        if started:
            tracemalloc.stop()


@dataclass(frozen=True)
class Footprint:
    """How a case's memory grows: bytes per stored entry (n², for a structure that stores a
    dense matrix) or per synapse, for the build and for the backend's preparation (per entry
    when it materialises the dense matrix). Measured on two small probes (:func:`footprint`)."""

    stores_dense: bool
    build_per_unit: float
    materialises_dense: bool
    prepare_per_unit: float

    def estimate(self, n_rows: int, n_cols: int, conn_prob: float) -> int:
        entries, synapses = n_rows * n_cols, n_rows * n_cols * conn_prob
        build = self.build_per_unit * (entries if self.stores_dense else synapses)
        prepare = self.prepare_per_unit * (entries if self.materialises_dense else synapses)
        return int(build + prepare)



def _probe(fam, be, prod, dtype, n: int) -> tuple:
    """``(build bytes, prepare bytes, stores dense, materialises dense)`` at n × n, p = 1/4:
    the structure's bytes plus the NumPy peak while building, then the NumPy peak while the
    backend prepares (plus the dense matrix it builds on the device, if it does)."""
    from ...peers import Request, Unsupported

    itemsize = np.dtype(dtype).itemsize
    conn, build_peak = _traced_peak(lambda: fam.build(n, n, conn_prob=_PROBE_P, seed=0, dtype=dtype))
    with _count_dense_materialisations() as calls:
        try:
            request = Request(_PROBE_P, 0, tuple(sorted(fam.resolve_options({}).items())))
            _, prep_peak = _traced_peak(lambda: be.prepare(fam, conn, prod, request, **be.timed(fam, prod)))
        except Unsupported:
            prep_peak = 0
    materialises = calls[0] > 0
    return (conn.nbytes + build_peak, prep_peak + (n * n * itemsize if materialises else 0),
            conn.nbytes >= n * n * itemsize, materialises)


@functools.lru_cache(maxsize=None)
def footprint(family_name: str, backend_name: str, product_key: str, dtype: str) -> Footprint:
    """The memory model of a case, from probes at n = 128 and 256 (after one to warm up): the
    growth between them per stored entry or synapse, so that what does not grow (Python
    objects, just-in-time structures that store nothing) does not count."""
    from ...peers import get_backend
    from ...catalogue import get_family, get_product

    fam, be, prod = get_family(family_name), get_backend(backend_name), get_product(product_key)
    _probe(fam, be, prod, dtype, _PROBE_N)
    small, large = (_probe(fam, be, prod, dtype, n) for n in (_PROBE_N, 2 * _PROBE_N))
    stores_dense, materialises = large[2], large[3]

    def slope(i, per_entry):
        units = [n * n * (1.0 if per_entry else _PROBE_P) for n in (_PROBE_N, 2 * _PROBE_N)]
        return max(0.0, (large[i] - small[i]) / (units[1] - units[0]))

    return Footprint(stores_dense, slope(0, stores_dense), materialises, slope(1, materialises))


def check_memory(case: BenchCase, dev=None) -> None:
    """:class:`Skipped` (``too_large``) when the case would not fit in this machine's memory.
    Small cases pass at once; larger ones are estimated with :func:`footprint`."""
    itemsize = max(8, np.dtype(case.dtype).itemsize)
    host = _MEMORY_SHARE * available_host_bytes()
    limit = device_memory(dev).get("bytes_limit") if dev is not None and dev.platform != "cpu" else None
    budget = min(host, _MEMORY_SHARE * limit) if limit else host
    if 8 * itemsize * case.n * case.n < budget:  # even eight dense n × n float64 copies fit
        return
    from .grid import variant

    fp = footprint(case.family, variant(case.backend)[0], case.product, case.dtype)
    need = fp.estimate(case.n, case.n, case.conn_prob)
    if need > budget:
        what = ("the dense n × n matrix" if (fp.stores_dense or fp.materialises_dense)
                else f"{case.n * case.n * case.conn_prob:.3g} synapses")
        raise Skipped("too_large", f"needs ~{need / 1e9:.1f} GB for {what}; {budget / 1e9:.1f} GB available")



def nbytes(obj) -> int:
    """Bytes held by arrays in ``obj``: an array, a structure, a scipy.sparse matrix or any
    pytree of arrays (a brainstate layer: its states)."""
    import jax

    if obj is None:
        return 0
    if hasattr(obj, "nbytes") and isinstance(getattr(obj, "nbytes"), (int, np.integer)):
        return int(obj.nbytes)
    try:
        import scipy.sparse as sp

        if sp.issparse(obj):
            return int(sum(v.nbytes for v in vars(obj).values() if isinstance(v, np.ndarray)))
    except ImportError:  # pragma: no cover - scipy is a dependency
        pass
    leaves = jax.tree_util.tree_leaves(obj)
    if leaves == [obj] and hasattr(obj, "states"):  # a brainstate module
        try:
            leaves = jax.tree_util.tree_leaves([s.value for s in obj.states().values()])
        except Exception:  # brainstate internals vary across versions
            leaves = []
    return int(sum(getattr(x, "nbytes", 0) for x in leaves))
