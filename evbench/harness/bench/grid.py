"""What is measured: the grids (sweep axes) and the cases of a grid, read from the catalogue and
the backends (nothing listed by hand), and the devices a case can ask for."""
from __future__ import annotations

import itertools
import os
from dataclasses import dataclass

from ...registry import Registry

#: device kinds a case can ask for; those JAX does not see are skipped
DEVICE_KINDS = ("cpu", "gpu", "tpu")
#: the order of the sweep axes in a case key and in the asv ``params``
PARAM_NAMES = ("family", "backend", "n", "active", "conn_num", "batch", "dtype", "device")
#: bump when the meaning of a measurement changes (asv keeps history per version)
SUITE_VERSION = "2"
#: event sets a case rotates through (``workload="new"``): new spikes at every call, as a
#: simulation feeds them
ROTATE = 16
WORKLOADS = ("new", "repeat")


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
    #: "new": every call gets the next of ``ROTATE`` event sets (a simulation's workload, the
    #: default); "repeat": the same events at every call (cache-warm; labelled as such)
    workload: str = "new"
    #: the largest n at which backends that multiply a materialised dense matrix run (O(n²)
    #: memory and work); None: wherever the memory model says it fits
    dense_max_n: int | None = None
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

    def __post_init__(self):
        if self.workload not in WORKLOADS:
            raise ValueError(f"workload must be one of {WORKLOADS}, got {self.workload!r}")

    def sizes(self) -> tuple:
        return tuple(self.n) + tuple(self.n_large)

    def batches(self, product) -> tuple:
        return tuple(self.batch) if product.batched else (1,)

    def conn_nums(self, n: int) -> tuple:
        """The connections per neuron of the cases at size ``n``."""
        if self.conn_prob:
            return tuple(max(1, int(round(p * n))) for p in self.conn_prob)
        return tuple(self.conn_num)


#: every named grid; ``evbench bench`` and ``evbench run`` default to :data:`DEFAULT_GRID`,
#: the asv suites to :data:`ASV_GRID` (both overridable: ``--grid``, ``EVBENCH_GRID``)
GRIDS: Registry[Grid] = Registry("grid")
for _g in (
    # seconds: the tests and the across-commit demonstration
    Grid("tiny", n=(256,), n_large=(), active=(0.05,), conn_num=(16,), batch=(4,), dtype=("float32",),
         min_repeats=2, max_repeats=3, max_time=0.05, min_sample=1e-4, timeout=60, sweep_timeout=600),
    # the asv default: `asv run --quick --python=same` in under 10 minutes on 2 cores
    Grid("asv", n=(1_000,), n_large=(), active=(0.01,), conn_num=(100,), batch=(16,), dtype=("float32",),
         max_time=0.3, timeout=120, sweep_timeout=1800),
    # the comparison at n = 10⁴ from sparse to dense activity, minutes
    Grid("quick", n=(10_000,), n_large=(), active=(0.001, 0.01, 0.5), conn_num=(100,), batch=(16,),
         dtype=("float32",), max_time=0.05, timeout=300, sweep_timeout=3600),
    # two sizes and four activities, so the report has curves, in a few minutes on 2 cores
    # with every backend (short repeats: the IQR says how far to trust a point)
    Grid("run", n=(1_000, 3_000), n_large=(), active=(0.001, 0.01, 0.1, 0.5), conn_num=(100,), batch=(16,),
         dtype=("float32",), min_repeats=5, max_repeats=7, max_time=0.02, min_sample=1e-3, timeout=300,
         sweep_timeout=3600),
    # the device check of an accelerator (tools/gpu_check.sh): n = 10⁴ and 10⁵, the dense
    # baselines at 10⁴ only, short repeats (minutes on one GPU)
    Grid("gpu", n=(10_000, 100_000), n_large=(), active=(0.001, 0.01, 0.05), conn_num=(100,), batch=(64,),
         dtype=("float32",), dense_max_n=10_000, min_repeats=3, max_repeats=5, max_time=0.02,
         min_sample=1e-3, timeout=300, sweep_timeout=3600),
    # everything the design asks for: hours
    Grid("full", n=(1_000, 10_000, 100_000), n_large=(1_000_000,),
         active=(0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 0.5), conn_num=(10, 100, 1000), batch=(8, 64),
         dtype=("float32", "float64"), max_time=1.0, timeout=1800, sweep_timeout=86_400),
):
    GRIDS.register(_g)

#: the pytest-benchmark suite (``tests/benchmarks/``): one small standard point per family ×
#: backend × product, the quick local or per-PR gate (README "pytest-benchmark"); a round averages
#: calls lasting ``min_sample`` at least, ``max_repeats`` rounds are timed
GRIDS.register(Grid("pytest", n=(3_000,), n_large=(), active=(0.01,), conn_num=(100,), batch=(16,),
                    dtype=("float32",), min_repeats=15, max_repeats=15, max_time=0.0, min_sample=1e-3,
                    timeout=300, sweep_timeout=3600))

#: the native-performance grid (README "Native performance", ``tools/native_perf.py``):
#: connection probability 1 % and 10 % at every n, so its ``conn_num`` depends on ``n``; in the
#: asv suites the combinations outside its sweep are skipped
GRIDS.register(Grid("standard", n=(1_000, 10_000, 100_000), n_large=(), active=(0.001, 0.01, 0.05), conn_num=(),
                    conn_prob=(0.01, 0.1), batch=(16, 64), dtype=("float32",), min_repeats=3, max_repeats=7,
                    max_time=0.2, min_sample=2e-3, timeout=600, sweep_timeout=86_400))

#: the grid of ``evbench bench`` and ``evbench run`` when none is named
DEFAULT_GRID = "run"
#: the grid of the asv suites unless ``EVBENCH_GRID`` names another
ASV_GRID = "asv"

def grid(name: str | None = None, default: str = ASV_GRID) -> Grid:
    """The grid called ``name``, else ``$EVBENCH_GRID``, else ``default``."""
    return GRIDS.get(name or os.environ.get("EVBENCH_GRID") or default)


def env_filter(var: str) -> tuple | None:
    """A comma-separated selection from the environment (``EVBENCH_FAMILY=csr,dense``), or None."""
    value = os.environ.get(var, "").strip()
    return tuple(v.strip() for v in value.split(",") if v.strip()) or None


# -- cases ------------------------------------------------------------------------------------


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
    workload: str = "new"

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
                f"conn_num={self.conn_num} batch={self.batch} {self.dtype} {self.device} ({self.workload} events)")


#: timed variants besides each backend's timed mode (``backend:key=value,...``: the timed mode with
#: those keys changed), a case wherever the backend offers that mode for the family: native
#: without its column index (``index=False``), so that the index is a row of its own
TIMED_VARIANTS = ("native:index=none",)


def variant(label: str) -> tuple[str, dict]:
    """``("native", {"index": "none"})`` of ``"native:index=none"``; ``(label, {})`` of a name."""
    import ast

    name, _, rest = label.partition(":")
    overrides = {}
    for item in filter(None, rest.split(",")):
        key, _, value = item.partition("=")
        try:
            overrides[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            overrides[key] = value
    return name, overrides


def variant_mode(be, family, product, label: str) -> dict | None:
    """The mode a label times: the backend's timed mode with the label's changes, or None where
    the backend does not offer that mode for the family."""
    mode = dict(be.timed(family, product), **variant(label)[1])
    return mode if mode in [dict(m) for m in be.modes(family)] else None


def labels(backends) -> list[str]:
    """The backends' names, each followed by its timed variants."""
    return [x for be in backends for x in (be.name, *(v for v in TIMED_VARIANTS if variant(v)[0] == be.name))]


def selection(families=None, backends=None, products=None):
    """The catalogue's families, the registered backends and the products, narrowed to the
    given names (none, or ``"all"``: every one), in registry order; ``ValueError`` for an
    unknown name."""
    from ...catalogue import PRODUCT_REGISTRY, FAMILIES
    from ...peers import BACKENDS

    return FAMILIES.select(families), BACKENDS.select(backends), PRODUCT_REGISTRY.select(products)


def cases(g: Grid, *, families=None, backends=None, products=None, devices=None, variants: bool = True):
    """Every case of the grid, ordered so that the cases of one structure, then of one
    prepared product, come together (what the runner caches); with ``variants``, the backends'
    timed variants (:data:`TIMED_VARIANTS`) too."""
    fams, bes, prods = selection(families, backends, products)
    timed = [(be, label) for be in bes for label in (labels([be]) if variants else [be.name])]
    for device in devices or g.devices:
        for fam, n in itertools.product(fams, g.sizes()):
            for (k, dtype), (be, label), prod in itertools.product(itertools.product(g.conn_nums(n), g.dtype), timed,
                                                                  prods):
                if label != be.name and variant_mode(be, fam, prod, label) is None:
                    continue  # a variant the backend does not offer for this family
                for batch, active in itertools.product(g.batches(prod), g.active):
                    yield BenchCase(fam.name, label, prod.key, n, active, k, batch, dtype, device, g.workload)


def suite_params(g: Grid, product, *, families=None, backends=None, devices=None) -> list[list]:
    """asv ``params`` for the class of ``product``, in :data:`PARAM_NAMES` order."""
    fams, bes, _ = selection(families, backends, None)
    conn_nums = sorted({k for n in g.sizes() for k in g.conn_nums(n)})
    return [[f.name for f in fams], labels(bes), list(g.sizes()), list(g.active), conn_nums,
            list(g.batches(product)), list(g.dtype), list(devices or g.devices)]


def case_from_params(product_key: str, *params, workload: str = "new") -> BenchCase:
    values = dict(zip(PARAM_NAMES, params))
    return BenchCase(product=product_key, workload=workload, **values)


# -- devices ----------------------------------------------------------------------------------


class Skipped(NotImplementedError):
    """A case that cannot run here; asv records a ``NotImplementedError`` from ``setup`` as a
    skip. ``status`` says why: ``no_device``, ``unavailable``, ``unsupported``, ``too_large``
    or ``host_only``."""

    def __init__(self, status: str, reason: str):
        super().__init__(f"{status}: {reason}")
        self.status = status
        self.reason = reason


def present_devices() -> list[str]:
    """The device kinds of :data:`DEVICE_KINDS` that JAX sees here."""
    import jax

    kinds = []
    for kind in DEVICE_KINDS:
        try:
            if jax.devices(kind):
                kinds.append(kind)
        except RuntimeError:
            pass
    return kinds


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
