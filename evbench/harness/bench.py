"""Benchmarks of every catalogue operator: the grid of cases, and the runner behind ``evbench bench``.

One place defines what is measured, for ``evbench bench`` and for the asv suites in
``suites/`` alike:

* :data:`GRIDS`: the sweeps (network size, active fraction, connections per neuron, batch,
  dtype, device), from a ``tiny`` grid for tests to the ``full`` one; :func:`grid` picks one
  by name or from ``EVBENCH_GRID``;
* :func:`cases`: every family × backend × product × sweep point, read from the catalogue and
  the backends (nothing listed by hand);
* :func:`prepare`: a case built, placed on its device and ready to run, or
  :class:`Skipped` (a ``NotImplementedError``, which asv records as a skip) with the reason:
  absent device, unavailable or unsupported backend, a matrix too large for this machine, a
  backend that computes on the host only;
* :func:`measure`: steady-state timings (warm-up first, ``block_until_ready`` on every call),
  the first-call overhead (tracing + compilation) and the work figures;
* :func:`run`: the whole grid in one process, with caches, as one record per case; :func:`tidy`
  turns the records into the results table (one row per case and repeat).

Work figures, the same for every backend so that they compare side by side:

* ``synaptic_events``: the synapses the active inputs reach,
  ``active inputs × conn_prob × n_outputs`` (their expected number; exact for the
  fixed-number families), summed over the batch;
* ``bytes_touched``: what evbench's structure of the family must read for the product (its
  stored bytes, times the fraction of inputs active in any sample when the product is
  event-driven for the family) plus the events read and the outputs written. Divided by the
  median time it is the *effective bandwidth*; ``bandwidth_fraction`` compares it with the
  machine's single-core read bandwidth, measured once per run (:func:`read_bandwidth`).
  Just-in-time structures store nothing, so their figure is small by construction: they are
  compute-bound.
"""
from __future__ import annotations

import contextlib
import functools
import itertools
import math
import os
import pickle
import time
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: device kinds a case can ask for; those JAX does not see are skipped
DEVICE_KINDS = ("cpu", "gpu", "tpu")
#: the order of the sweep axes in a case key and in the asv ``params``
PARAM_NAMES = ("family", "backend", "n", "active", "conn_num", "batch", "dtype", "device")
#: bump when the meaning of a measurement changes (asv keeps history per version)
SUITE_VERSION = "1"

# -- grids ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Grid:
    """The sweep axes; every combination is a case for every family × backend × product."""

    name: str
    #: network sizes (square structures, n × n)
    n: tuple
    #: larger sizes, run where the memory model says the case fits (structures stored in
    #: O(synapses) memory, such as just-in-time and fixed-number ones); n² cases skip there
    n_large: tuple
    #: requested fractions of active inputs per sample (the measured one is recorded)
    active: tuple
    #: expected connections per neuron; ``conn_prob = min(1, conn_num / n)``
    conn_num: tuple
    #: samples per batch for the batched products (the others use 1)
    batch: tuple
    #: weight dtypes (events are boolean spikes)
    dtype: tuple
    devices: tuple = DEVICE_KINDS
    #: connection probabilities; when given they replace ``conn_num``: at each ``n`` the cases
    #: take ``conn_num = round(conn_prob · n)`` (so ``conn_prob`` is exact)
    conn_prob: tuple = ()
    #: timed repeats per case: at least ``min_repeats``, at most ``max_repeats``, stopping
    #: after ``max_time`` seconds; each repeat averages enough calls to last ``min_sample``
    min_repeats: int = 3
    max_repeats: int = 10
    max_time: float = 0.5
    min_sample: float = 2e-3
    seed: int = 0
    #: seconds asv allows one benchmark (and the whole sweep, in ``setup_cache``)
    timeout: float = 120.0
    sweep_timeout: float = 1800.0

    def sizes(self) -> tuple:
        return tuple(self.n) + tuple(self.n_large)

    def batches(self, product) -> tuple:
        return tuple(self.batch) if product.batched else (1,)

    def conn_nums(self, n: int) -> tuple:
        """The connections per neuron of the cases at size ``n``."""
        if self.conn_prob:
            return tuple(max(1, int(round(p * n))) for p in self.conn_prob)
        return tuple(self.conn_num)


GRIDS = {
    # seconds: the tests and the across-commit demonstration
    "tiny": Grid("tiny", n=(256,), n_large=(), active=(0.05,), conn_num=(16,), batch=(4,), dtype=("float32",),
                 min_repeats=2, max_repeats=3, max_time=0.05, min_sample=1e-4, timeout=60, sweep_timeout=600),
    # the asv default: `asv run --quick --python=same` in under 10 minutes on 2 cores
    "default": Grid("default", n=(1_000,), n_large=(), active=(0.01,), conn_num=(100,), batch=(16,),
                    dtype=("float32",), max_time=0.3, timeout=120, sweep_timeout=1800),
    # `evbench bench --quick`: the comparison at n = 10⁴ from sparse to dense activity, minutes
    "quick": Grid("quick", n=(10_000,), n_large=(), active=(0.001, 0.01, 0.5), conn_num=(100,),
                  batch=(16,), dtype=("float32",), max_time=0.05, timeout=300, sweep_timeout=3600),
    # `evbench run`: two sizes and four activities, so the report has curves, in about 5 minutes
    # on 2 cores with every backend (short repeats: the IQR says how far to trust a point)
    "run": Grid("run", n=(1_000, 3_000), n_large=(), active=(0.001, 0.01, 0.1, 0.5), conn_num=(100,), batch=(16,),
                dtype=("float32",), min_repeats=5, max_repeats=7, max_time=0.02, min_sample=1e-3, timeout=300,
                sweep_timeout=3600),
    # everything the issue asks for: hours
    "full": Grid("full", n=(1_000, 10_000, 100_000), n_large=(1_000_000,),
                 active=(0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 0.5), conn_num=(10, 100, 1000), batch=(8, 64),
                 dtype=("float32", "float64"), max_time=1.0, timeout=1800, sweep_timeout=86_400),
}

#: the native-performance grid (README "Native performance", ``tools/native_perf.py``):
#: connection probability 1 % and 10 % at every n. Not in GRIDS: its ``conn_num`` depends on
#: ``n``, which asv's cartesian parameters cannot express
STANDARD = Grid("standard", n=(1_000, 10_000, 100_000), n_large=(), active=(0.001, 0.01, 0.05), conn_num=(),
                conn_prob=(0.01, 0.1), batch=(16, 64), dtype=("float32",), min_repeats=3, max_repeats=7,
                max_time=0.2, min_sample=2e-3, timeout=600, sweep_timeout=86_400)


def grid(name: str | None = None) -> Grid:
    """The grid called ``name``, else ``$EVBENCH_GRID``, else ``default``."""
    name = name or os.environ.get("EVBENCH_GRID") or "default"
    try:
        return GRIDS[name]
    except KeyError:
        raise ValueError(f"unknown grid {name!r}; valid grids: {', '.join(GRIDS)}") from None


def env_filter(var: str) -> tuple | None:
    """A comma-separated selection from the environment (``EVBENCH_FAMILY=csr,dense``), or None."""
    value = os.environ.get(var, "").strip()
    return tuple(v.strip() for v in value.split(",") if v.strip()) or None


# -- cases ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BenchCase:
    """One benchmark case: a product of one backend on one structure, at one sweep point."""

    family: str
    backend: str
    product: str
    n: int
    active: float
    conn_num: int
    batch: int
    dtype: str
    device: str

    @property
    def key(self) -> tuple:
        """``(product, family, backend, n, active, conn_num, batch, dtype, device)``."""
        return (self.product, *self.params())

    def params(self) -> tuple:
        """The values in :data:`PARAM_NAMES` order (an asv parameter combination)."""
        return tuple(getattr(self, k) for k in PARAM_NAMES)

    @property
    def conn_prob(self) -> float:
        return min(1.0, self.conn_num / self.n)

    @property
    def structure_key(self) -> tuple:
        return (self.family, self.n, self.conn_prob, self.dtype)

    def describe(self) -> str:
        return (f"{self.family} {self.backend} {self.product} n={self.n} active={self.active} "
                f"conn_num={self.conn_num} batch={self.batch} {self.dtype} {self.device}")


def _select(items, names, key, what) -> list:
    """``items`` whose ``key`` is in ``names`` (all without names), in catalogue order."""
    if not names:
        return list(items)
    known = [key(i) for i in items]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown {what} {', '.join(map(repr, unknown))}; valid: {', '.join(known)}")
    return [i for i in items if key(i) in names]


def selection(families=None, backends=None, products=None):
    """The catalogue's families, the registered backends and the products, optionally narrowed
    to the given names (in catalogue order); ``ValueError`` for an unknown name."""
    from ..peers import backends as all_backends
    from ..catalogue import PRODUCTS
    from ..catalogue import families as all_families

    return (_select(all_families(), families, lambda f: f.name, "family"),
            _select(all_backends(), backends, lambda b: b.name, "backend"),
            _select(PRODUCTS, products, lambda p: p.key, "product"))


def cases(g: Grid, *, families=None, backends=None, products=None, devices=None):
    """Every case of the grid, ordered so that the cases of one structure, then of one
    prepared product, come together (what :func:`run` caches)."""
    fams, bes, prods = selection(families, backends, products)
    for device in devices or g.devices:
        for fam, n in itertools.product(fams, g.sizes()):
            for (k, dtype), be, prod in itertools.product(itertools.product(g.conn_nums(n), g.dtype), bes, prods):
                for batch, active in itertools.product(g.batches(prod), g.active):
                    yield BenchCase(fam.name, be.name, prod.key, n, active, k, batch, dtype, device)


def suite_params(g: Grid, product, *, families=None, backends=None, devices=None) -> list[list]:
    """asv ``params`` for the class of ``product``, in :data:`PARAM_NAMES` order."""
    fams, bes, _ = selection(families, backends, None)
    conn_nums = sorted({k for n in g.sizes() for k in g.conn_nums(n)})
    return [[f.name for f in fams], [b.name for b in bes], list(g.sizes()), list(g.active), conn_nums,
            list(g.batches(product)), list(g.dtype), list(devices or g.devices)]


def case_from_params(product_key: str, *params) -> BenchCase:
    values = dict(zip(PARAM_NAMES, params))
    return BenchCase(product=product_key, **values)


# -- skips ----------------------------------------------------------------------------------


class Skipped(NotImplementedError):
    """A case that cannot run here; asv records a ``NotImplementedError`` from ``setup`` as a
    skip. ``status`` says why: ``no_device``, ``unavailable``, ``unsupported``, ``too_large``
    or ``host_only``."""

    def __init__(self, status: str, reason: str):
        super().__init__(f"{status}: {reason}")
        self.status = status
        self.reason = reason


def device_for(kind: str):
    """The first JAX device of this kind, or :class:`Skipped` when JAX sees none."""
    import jax

    if kind not in DEVICE_KINDS:
        raise ValueError(f"unknown device kind {kind!r}; valid kinds: {', '.join(DEVICE_KINDS)}")
    try:
        devices = jax.devices(kind)
    except RuntimeError:
        devices = []
    if not devices:
        seen = sorted({d.platform for d in jax.devices()})
        raise Skipped("no_device", f"JAX sees no {kind} device here (only {', '.join(seen)})")
    return devices[0]


# -- memory model ---------------------------------------------------------------------------

_PROBE_N = 128
_PROBE_P = 0.25
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
    from ..ops.base import Connectivity

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
    from types import SimpleNamespace

    from ..peers import Unsupported

    itemsize = np.dtype(dtype).itemsize
    conn, build_peak = _traced_peak(lambda: fam.build(n, n, conn_prob=_PROBE_P, seed=0, dtype=dtype))
    with _count_dense_materialisations() as calls:
        try:
            extra = {"case": SimpleNamespace(conn_prob=_PROBE_P, seed=0, variant=())} if be.wants_case else {}
            _, prep_peak = _traced_peak(lambda: be.prepare(fam, conn, prod, **bench_variant(be, fam), **extra))
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
    from ..peers import get_backend
    from ..catalogue import get_family, get_product

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
    fp = footprint(case.family, case.backend, case.product, case.dtype)
    need = fp.estimate(case.n, case.n, case.conn_prob)
    if need > budget:
        what = ("the dense n × n matrix" if (fp.stores_dense or fp.materialises_dense)
                else f"{case.n * case.n * case.conn_prob:.3g} synapses")
        raise Skipped("too_large", f"needs ~{need / 1e9:.1f} GB for {what}; {budget / 1e9:.1f} GB available")


# -- structures -----------------------------------------------------------------------------


class Structures:
    """Built structures, per process: the last ``keep`` in memory and, with ``disk``, the
    expensive ones (built in over ``disk_min_s`` seconds) pickled there for other processes
    (the asv benchmarks of one run share the directory of its ``setup_cache``)."""

    def __init__(self, keep: int = 1, disk: str | os.PathLike | None = None, disk_min_s: float = 1.0):
        self.keep, self.disk, self.disk_min_s = keep, Path(disk) if disk else None, disk_min_s
        self._memory: dict = {}

    def _path(self, key):
        return self.disk / "structures" / ("-".join(str(k) for k in key) + ".pkl")

    def get(self, case: BenchCase, seed: int = 0):
        """``(structure, seconds it took to build or load)``."""
        from ..catalogue import get_family

        key = (*case.structure_key, seed)
        if key in self._memory:
            return self._memory[key], 0.0
        while self._memory and len(self._memory) >= self.keep:  # free memory before building
            self._memory.pop(next(iter(self._memory)))
        t0 = time.perf_counter()
        path = self._path(key) if self.disk else None
        if path is not None and path.exists():
            with open(path, "rb") as fh:
                conn = pickle.load(fh)
        else:
            conn = get_family(case.family).build(case.n, case.n, conn_prob=case.conn_prob, seed=seed,
                                                 dtype=case.dtype)
            if path is not None and time.perf_counter() - t0 > self.disk_min_s:
                self._save(path, conn)
        seconds = time.perf_counter() - t0
        if self.keep:
            self._memory[key] = conn
        return conn, seconds

    @staticmethod
    def _save(path: Path, conn) -> None:
        import jax

        from .results import write_atomic

        host = jax.tree_util.tree_map(np.asarray, conn)
        write_atomic(path, pickle.dumps(host, protocol=pickle.HIGHEST_PROTOCOL))


#: which of a backend's variants is timed: the first its rule accepts (others: the first
#: variant). brainevent and brainstate in their event-driven form for spikes: ``BinaryArray``
#: events, the ``Event*`` layers
BENCH_PREFER = {"brainevent": lambda option: option.get("events", "binary") == "binary",
                "brainstate": lambda option: option.get("layer", "Event").startswith("Event")}


def bench_variant(be, fam) -> dict:
    """The options ``be`` is timed with for family ``fam`` (see :data:`BENCH_PREFER`)."""
    options = be.variants(fam)
    prefer = BENCH_PREFER.get(be.name, lambda option: True)
    return dict(next((o for o in options if prefer(o)), options[0]))


def _backend_case(case: "BenchCase", conn, seed: int):
    """What a backend that draws its own connectivity (``Backend.wants_case``) needs of the
    case: its connection probability, seed and the structure's options."""
    from types import SimpleNamespace

    scalar = np.ndim(getattr(conn, "weights", 0)) == 0
    return SimpleNamespace(conn_prob=case.conn_prob, seed=seed,
                           variant=(("weights", "scalar" if scalar else "per_synapse"),))


class Reuse:
    """What consecutive cases of one process share: the structure on its device and the
    backend's prepared product (kept while the cases ask for the same ones)."""

    def __init__(self, structures: Structures | None = None):
        self.structures = structures or Structures(keep=0)
        self._conn_key = self._impl_key = None
        self.conn = self.impl = None
        self.build_s = self.prepare_s = 0.0

    def structure(self, case: BenchCase, dev, seed: int):
        import jax

        key = (case.structure_key, case.device, seed)
        if key != self._conn_key:
            self._conn_key = self._impl_key = None
            self.conn = self.impl = None  # free the previous one before building the next
            host, self.build_s = self.structures.get(case, seed)
            self.conn = jax.device_put(host, dev)
            self._conn_key = key
        return self.conn

    def implementation(self, case: BenchCase, fam, be, prod, conn):
        import jax

        from ..peers import Unsupported

        key = (self._conn_key, case.backend, case.product)
        if key != self._impl_key:
            self._impl_key, self.impl = None, None
            t0 = time.perf_counter()
            try:
                extra = {"case": _backend_case(case, conn, self._conn_key[2])} if be.wants_case else {}
                self.impl = be.prepare(fam, conn, prod, **bench_variant(be, fam), **extra)
            except Unsupported as exc:
                raise Skipped("unsupported", str(exc) or f"{case.backend} does not offer {case.product}") from None
            jax.block_until_ready(getattr(self.impl, "structure", None))
            self.prepare_s = time.perf_counter() - t0
            self._impl_key = key
        return self.impl


# -- preparing and measuring one case -------------------------------------------------------


def nbytes(obj) -> int:
    """Bytes held by arrays in ``obj``: an array, a structure, a scipy.sparse matrix or any
    pytree of arrays."""
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
    return int(sum(getattr(x, "nbytes", 0) for x in jax.tree_util.tree_leaves(obj)))


@dataclass
class Prepared:
    """A case ready to run: ``call()`` is what is timed."""

    case: BenchCase
    device: object
    conn: object
    impl: object
    events: object
    events_host: np.ndarray = field(repr=False)
    event_driven: bool = False
    build_s: float = 0.0
    prepare_s: float = 0.0

    def call(self):
        """One product on the prepared events."""
        return self.impl.run(self.events)

    @property
    def active_fraction(self) -> float:
        """The measured fraction of active inputs (over every sample)."""
        from ..events import active_fraction

        return active_fraction(self.events_host)

    def work(self) -> dict:
        """Synaptic events and bytes touched by one call (see the module docstring)."""
        from ..catalogue import get_product

        prod = get_product(self.case.product)
        shape = self.conn.shape
        samples = np.asarray(self.events_host)
        samples = samples[None, :] if samples.ndim == 1 else (samples if prod.expr.startswith("events") else samples.T)
        active = int(np.count_nonzero(samples))
        touched = float(np.any(samples != 0, axis=0).mean())
        n_out = prod.n_outputs(shape)
        stored = nbytes(self.conn)
        itemsize = np.dtype(self.case.dtype).itemsize
        bytes_touched = (stored * (touched if self.event_driven else 1.0) + samples.nbytes
                         + n_out * samples.shape[0] * itemsize)
        return dict(synaptic_events=active * self.case.conn_prob * n_out, bytes_touched=float(bytes_touched),
                    touched_fraction=touched, structure_bytes=stored,
                    backend_bytes=nbytes(getattr(self.impl, "structure", None)))


def configure_process(cache_dir: str | os.PathLike | None = None) -> None:
    """Process settings for benchmarking: 64-bit JAX available (float64 cases; float32 ones
    are unchanged), no GPU memory preallocation (so device peak bytes mean something) and,
    with ``cache_dir``, JAX's persistent compilation cache there. Call before JAX starts."""
    import jax

    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    jax.config.update("jax_enable_x64", True)
    if cache_dir is not None:
        jax.config.update("jax_compilation_cache_dir", str(Path(cache_dir) / "jax-cache"))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def prepare(case: BenchCase, *, reuse: Reuse | None = None, seed: int = 0) -> Prepared:
    """Build (or reuse) the structure, place it on the case's device, let the backend prepare
    the product, and draw the events. Raises :class:`Skipped` for a case that cannot run here
    (checked before anything is built)."""
    import jax

    from ..peers import get_backend
    from ..catalogue import get_family, get_product
    from ..events import make_events

    dev = device_for(case.device)
    fam, be, prod = get_family(case.family), get_backend(case.backend), get_product(case.product)
    ok, why = be.available()
    if not ok:
        raise Skipped("unavailable", why)
    check_memory(case, dev)
    reuse = reuse or Reuse()
    with jax.default_device(dev):
        conn = reuse.structure(case, dev, seed)
        impl = reuse.implementation(case, fam, be, prod, conn)
        n_in = prod.n_inputs(conn.shape)
        if prod.batched:
            host_events = prod.events_from_samples(make_events(n_in, case.active, seed=seed + 1, batch=case.batch))
        else:
            host_events = make_events(n_in, case.active, seed=seed + 1)
        events = jax.device_put(host_events, dev)
    return Prepared(case, dev, conn, impl, events, host_events, fam.event_driven_for(prod), reuse.build_s,
                    reuse.prepare_s)


def _on_device(out, dev) -> bool:
    import jax

    leaves = jax.tree_util.tree_leaves(out)
    return bool(leaves) and all(isinstance(x, jax.Array) and dev in x.devices() for x in leaves)


_COMPILE_EVENTS = frozenset(("/jax/core/compile/jaxpr_trace_duration",
                             "/jax/core/compile/jaxpr_to_mlir_module_duration",
                             "/jax/core/compile/backend_compile_duration"))
_BACKEND_COMPILE = "/jax/core/compile/backend_compile_duration"


class CompileClock:
    """Seconds JAX spends tracing, lowering and compiling (its ``jax.monitoring`` duration
    events) while a block runs; nested events (a jitted function traced inside another) are
    counted once, as the union of their time spans."""

    _instance = None

    def __init__(self):
        self._spans = None

    @classmethod
    def get(cls) -> "CompileClock":
        if cls._instance is None:
            import jax

            cls._instance = cls()
            jax.monitoring.register_event_duration_secs_listener(cls._instance._listen)
        return cls._instance

    def _listen(self, event, duration, **kwargs):
        if self._spans is not None and event in _COMPILE_EVENTS:
            end = time.perf_counter()
            self._spans.append((end - duration, end, event == _BACKEND_COMPILE))

    @contextlib.contextmanager
    def timing(self):
        """``with clock.timing() as spent: ...`` then ``spent()`` is the seconds spent
        tracing, lowering and compiling, or None if XLA compiled nothing (everything was
        compiled already, in memory or in a persistent compilation cache)."""
        self._spans = spans = []
        total = [None]
        try:
            yield lambda: total[0]
        finally:
            self._spans = None
            covered, reach = 0.0, -math.inf
            for start, end, _ in sorted(spans):
                if end > reach:
                    covered += end - max(start, reach)
                    reach = end
            total[0] = covered if any(compiled for *_, compiled in spans) else None


@dataclass
class Measurement:
    times: list            # seconds per call, one per repeat
    number: int            # calls averaged in each repeat
    first_call_s: float    # the first call: tracing + compilation + one run
    compile_s: float | None  # tracing + lowering + compilation in the first call; None: none happened

    @property
    def median_s(self) -> float:
        return float(np.median(self.times))

    @property
    def iqr_s(self) -> float:
        q1, q3 = np.percentile(self.times, [25, 75])
        return float(q3 - q1)


def _first_call(prep: Prepared) -> tuple[float, float | None]:
    import jax

    with CompileClock.get().timing() as compiled:
        t0 = time.perf_counter()
        jax.block_until_ready(prep.call())
        first = time.perf_counter() - t0
    return first, compiled()


def _check_on_device(prep: Prepared, out) -> None:
    if prep.device.platform != "cpu" and not _on_device(out, prep.device):
        raise Skipped("host_only", f"{prep.case.backend} computes on the host; no {prep.case.device} run")


def warm_up(prep: Prepared) -> tuple[float, float | None]:
    """The first call, then a second: ``(first call seconds, compile seconds or None when the
    call compiled nothing)``. :class:`Skipped` (``host_only``) when a backend asked for an
    accelerator returns host arrays."""
    import jax

    first, compiled = _first_call(prep)
    _check_on_device(prep, jax.block_until_ready(prep.call()))
    return first, compiled


def measure(prep: Prepared, g: Grid, *, first_call: bool = True) -> Measurement:
    """Steady-state time per call. The first call (compilation) and one warm-up call, unless
    ``first_call`` is False: the same computation has just run in this process, for another
    active fraction. Then the repeats: each averages ``number`` calls, each waited for with
    ``block_until_ready``, ``number`` chosen from one timed call so that a repeat lasts at least
    ``g.min_sample`` (that call is the first repeat when it lasts that long by itself)."""
    import jax

    with jax.default_device(prep.device):
        first, compiled = (np.nan, None)
        if first_call:
            first, compiled = _first_call(prep)
            jax.block_until_ready(prep.call())
        t0 = time.perf_counter()
        out = jax.block_until_ready(prep.call())
        once = time.perf_counter() - t0
        _check_on_device(prep, out)
        number = int(min(1000, max(1, math.ceil(g.min_sample / max(once, 1e-9)))))
        times, start = ([once] if number == 1 else []), time.perf_counter()
        while len(times) < g.max_repeats and (len(times) < g.min_repeats or time.perf_counter() - start < g.max_time):
            t0 = time.perf_counter()
            for _ in range(number):
                jax.block_until_ready(prep.call())
            times.append((time.perf_counter() - t0) / number)
    return Measurement(times, number, first, compiled)


# -- the machine ----------------------------------------------------------------------------


def read_bandwidth(nbytes_: int = 1 << 28, repeats: int = 5) -> float:
    """Single-core read bandwidth in GB/s: a NumPy sum (one thread) over an array far larger
    than the caches (256 MiB), median of ``repeats``."""
    a = np.ones(nbytes_ // 8)
    a.sum()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        a.sum()
        times.append(time.perf_counter() - t0)
    return a.nbytes / float(np.median(times)) / 1e9


def versions() -> dict:
    """Versions and devices to record with results: JAX, jaxlib, NumPy, SciPy, evbench, every
    backend's libraries (or why it is unavailable) and the devices JAX sees."""
    import jax
    import jaxlib
    import scipy

    from .. import __version__
    from ..peers import backends

    return dict(jax=jax.__version__, jaxlib=jaxlib.__version__, numpy=np.__version__, scipy=scipy.__version__,
                evbench=__version__, backends={b.name: b.available()[1] for b in backends()},
                devices=[f"{d.platform}:{d.id} {getattr(d, 'device_kind', '')}".strip() for d in jax.devices()])


# -- the runner -----------------------------------------------------------------------------

#: a case's figures (NaN for a case that did not run)
_SUMMARY = ("median_s", "iqr_s", "repeats", "number", "first_call_s", "compile_s", "compile_cached", "build_s",
            "prepare_s", "active_fraction", "touched_fraction", "synaptic_events", "bytes_touched", "events_per_s",
            "effective_gb_s", "bandwidth_fraction", "structure_bytes", "backend_bytes", "device_bytes_in_use",
            "device_peak_bytes")


def _record(case: BenchCase, status: str, reason: str = "", **values) -> dict:
    from ..catalogue import get_family, get_product

    fam, prod = get_family(case.family), get_product(case.product)
    rec = dict(family=case.family, backend=case.backend, product=case.product, expr=prod.expr,
               event_driven=fam.event_driven_for(prod), device=case.device, n=case.n, active=case.active,
               conn_num=case.conn_num, conn_prob=case.conn_prob, batch=case.batch, dtype=case.dtype,
               status=status, reason=reason, times=[])
    rec.update({k: np.nan for k in _SUMMARY})
    rec.update(values)
    return rec


def measure_case(prep: Prepared, g: Grid, *, machine_gb_s: float | None = None, compiled: dict | None = None,
                 first_call: bool = True) -> dict:
    """One ``ok`` record: timings, compile time, work figures, device memory.

    ``compiled`` remembers, per backend × product × shape, the compile time of the last first
    call that compiled: a first call that finds its computation compiled already in this
    process (the dense baseline is the same computation for every family) reports that time,
    with ``compile_cached`` set.
    """
    m = measure(prep, g, first_call=first_call)
    work = prep.work()
    median = m.median_s
    gb_s = work["bytes_touched"] / median / 1e9
    mem = device_memory(prep.device)
    c = prep.case
    shape_key = (c.backend, c.product, c.n, c.batch, c.dtype, c.device)
    compiled = {} if compiled is None else compiled
    if m.compile_s is not None:
        compiled[shape_key] = m.compile_s
    return _record(
        prep.case, "ok", times=list(m.times), median_s=median, iqr_s=m.iqr_s, repeats=len(m.times), number=m.number,
        first_call_s=m.first_call_s, compile_s=compiled.get(shape_key, 0.0),
        compile_cached=first_call and m.compile_s is None,
        build_s=prep.build_s, prepare_s=prep.prepare_s, active_fraction=prep.active_fraction,
        events_per_s=work["synaptic_events"] / median, effective_gb_s=gb_s,
        bandwidth_fraction=gb_s / machine_gb_s if machine_gb_s else np.nan,
        device_name=f"{prep.device.platform}:{prep.device.id} {getattr(prep.device, 'device_kind', '')}".strip(),
        device_bytes_in_use=mem.get("bytes_in_use", np.nan), device_peak_bytes=mem.get("peak_bytes_in_use", np.nan),
        **work)


def run(g: Grid, *, families=None, backends=None, products=None, devices=None, progress: bool = True,
        structures: Structures | None = None, machine_gb_s: float | None = None) -> list[dict]:
    """Every case of the grid in this process: one record per case (``status`` ``ok`` with
    its timings, or the reason it was skipped, or ``error`` with the exception).

    The current structure (and, with ``structures``, expensive builds on disk) and the
    current prepared product are reused across batch sizes and active fractions; the first
    call (compilation) is made, and reported, once per prepared product and batch size.
    """
    from tqdm import tqdm

    todo = list(cases(g, families=families, backends=backends, products=products, devices=devices))
    reuse = Reuse(structures or Structures(keep=1))
    compiled: dict = {}
    first_calls: dict = {}  # seconds of the first call of each prepared product × batch
    records = []
    bar = tqdm(todo, desc=f"evbench bench ({g.name})", unit="case", disable=not progress, dynamic_ncols=True)
    for case in bar:
        bar.set_postfix_str(f"{case.family} {case.backend} {case.product}", refresh=False)
        try:
            prep = prepare(case, reuse=reuse, seed=g.seed)
            group = (case.structure_key, case.backend, case.product, case.batch, case.device)
            rec = measure_case(prep, g, machine_gb_s=machine_gb_s, compiled=compiled,
                               first_call=group not in first_calls)
            rec["first_call_s"] = first_calls.setdefault(group, rec["first_call_s"])
        except Skipped as exc:
            rec = _record(case, exc.status, exc.reason)
        except Exception as exc:  # a failing case is recorded, and the sweep goes on
            rec = _record(case, "error", f"{type(exc).__name__}: {exc}")
        records.append(rec)
    bar.close()
    return records


#: the results table's columns, in order
TIDY_COLUMNS = (
    "family", "backend", "product", "expr", "event_driven", "device", "device_name", "n", "active", "active_fraction",
    "touched_fraction", "conn_num", "conn_prob", "batch", "dtype", "status", "reason", "repeat", "time_s", "number",
    "median_s", "iqr_s", "repeats", "first_call_s", "compile_s", "compile_cached", "build_s", "prepare_s",
    "synaptic_events", "bytes_touched", "events_per_s", "effective_gb_s", "machine_read_gb_s", "bandwidth_fraction",
    "structure_bytes", "backend_bytes", "device_bytes_in_use", "device_peak_bytes", "backend_version", "jax", "jaxlib",
)


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


def summary(frame, *, n=None, active=None):
    """Per-case median times side by side, one column per backend (``ok`` cases only)."""
    ok = frame[frame.status == "ok"].drop_duplicates(
        ["family", "backend", "product", "device", "n", "active", "conn_num", "batch", "dtype"])
    if n is not None:
        ok = ok[ok.n == n]
    if active is not None:
        ok = ok[np.isclose(ok.active, active)]
    return ok.pivot_table(index=["family", "product"], columns="backend", values="median_s", sort=False)


# -- asv ------------------------------------------------------------------------------------


def asv_sweep(g: Grid, cache_dir: str | None = ".", sidecar_dir: str | os.PathLike | None = None) -> dict:
    """What the asv suites' shared ``setup_cache`` returns: the whole grid run once in one
    process (narrowed by ``EVBENCH_FAMILY`` / ``EVBENCH_BACKEND`` / ``EVBENCH_PRODUCT``),
    as ``{case key: record}``, plus ``"meta"``.

    It runs in asv's cache directory, where the benchmarks run too: expensive structures and
    JAX's persistent compilation cache are left there (``cache_dir``) for their ``setup``. The
    cache starts empty each run, so the sweep's compile times are cold ones; a computation found
    there (the same one compiled earlier in the run) reports its earlier compile time, as in
    :func:`run`. With ``sidecar_dir``, the versions, devices, the machine's bandwidth and the
    sweep's whole table are written there too (:func:`write_sidecar`).
    """
    configure_process(cache_dir=cache_dir)
    meta = dict(versions(), grid=g.name, machine_read_gb_s=read_bandwidth())
    records = run(g, families=env_filter("EVBENCH_FAMILY"), backends=env_filter("EVBENCH_BACKEND"),
                  products=env_filter("EVBENCH_PRODUCT"), progress=False, structures=Structures(keep=1, disk=cache_dir),
                  machine_gb_s=meta["machine_read_gb_s"])
    if sidecar_dir is not None:
        write_sidecar(sidecar_dir, meta, records)
    out = {tuple(_case_of(r).key): r for r in records}
    out["meta"] = meta
    return out


def _case_of(rec: dict) -> BenchCase:
    return BenchCase(rec["family"], rec["backend"], rec["product"], rec["n"], rec["active"], rec["conn_num"],
                     rec["batch"], rec["dtype"], rec["device"])


def write_sidecar(folder, meta: dict, records: list) -> tuple[Path, Path]:
    """``<folder>/<machine>/<UTC time>-<python>.json`` (versions, devices, bandwidth, the
    interpreter, hence the asv environment) and ``.csv`` (the sweep's table): what asv itself
    does not record with its results."""
    import hashlib
    import sys

    from .. import __file__ as evbench_file
    from .results import write_atomic, write_json
    from ..cli import _stamp, machine_label

    folder = Path(folder) / machine_label()
    name = f"{_stamp()}-{hashlib.sha1(sys.executable.encode()).hexdigest()[:8]}"
    js = write_json(folder / f"{name}.json", dict(meta, python=sys.executable, evbench_file=evbench_file))
    csv = write_atomic(folder / f"{name}.csv", tidy(records, meta).to_csv(index=False))
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


# -- the command ----------------------------------------------------------------------------


def add_parser(sub) -> None:
    """``evbench bench``: registered in :data:`evbench.cli.COMMANDS`."""
    p = sub.add_parser("bench", help="time every family × backend × product over a grid (the asv cases, without asv)")
    sizes = p.add_mutually_exclusive_group()
    sizes.add_argument("--quick", dest="grid", action="store_const", const="quick",
                       help="the quick grid (n = 10⁴, minutes; the default)")
    sizes.add_argument("--full", dest="grid", action="store_const", const="full", help="the full grid (hours)")
    sizes.add_argument("--grid", dest="grid", choices=sorted(GRIDS), help="a grid by name")
    p.add_argument("--family", action="append", metavar="NAME", help="only this family (repeatable)")
    p.add_argument("--backend", action="append", metavar="NAME", help="only this backend (repeatable)")
    p.add_argument("--product", action="append", metavar="KEY", help="only this product (repeatable)")
    p.add_argument("--device", action="append", choices=DEVICE_KINDS, metavar="KIND",
                   help=f"only this device kind (repeatable; default: {', '.join(DEVICE_KINDS)}, absent ones skipped)")
    from ..cli import add_output_args

    add_output_args(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_bench, grid="quick")


def cmd_bench(args) -> int:
    configure_process()
    from .results import write_frame, write_json
    from ..cli import _metadata, _stamp, _table, output_dir

    g = grid(args.grid)
    try:
        selection(args.family, args.backend, args.product)
    except ValueError as exc:
        print(f"evbench bench: {exc}")
        return 2
    t0 = time.perf_counter()
    machine_gb_s = read_bandwidth()
    meta = dict(versions(), machine_read_gb_s=machine_gb_s)
    records = run(g, families=args.family, backends=args.backend, products=args.product, devices=args.device,
                  progress=not args.no_progress, machine_gb_s=machine_gb_s)
    seconds = time.perf_counter() - t0
    frame = tidy(records, meta)
    stem = output_dir(args) / f"bench-{g.name}-{_stamp()}"
    csv, js = write_frame(stem, frame)
    write_json(stem.with_suffix(".meta.json"), {**_metadata(seconds=seconds, grid=g.name), **meta})
    statuses = frame.drop_duplicates(["family", "backend", "product", "device", "n", "active", "conn_num", "batch",
                                      "dtype"]).status.value_counts()
    table = summary(frame, n=max(g.n), active=min(g.active, key=lambda a: abs(a - 0.01)))
    if len(table):
        print(f"median seconds per call, n = {max(g.n)}, active ≈ 1 %:")
        print(_table(table.reset_index(), ["family", "product", *table.columns]))
    print(f"\nmachine single-core read bandwidth: {machine_gb_s:.1f} GB/s")
    print(f"{len(records)} cases ({', '.join(f'{v} {k}' for k, v in statuses.items())}), {seconds:.0f} s. "
          f"Written: {csv} and {js}")
    return 1 if (frame.status == "error").any() else 0
