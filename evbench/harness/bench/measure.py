"""Measuring one case: the case prepared on its device (structure, the backend's compiled
product, the events it rotates through), steady-state timings with the first call (tracing and
compilation) apart, and the work figures.

Every backend is timed alike: its product compiled (``jax.jit`` with the backend's structure
and the events as arguments: :meth:`evbench.peers.Implementation.run`; a backend that cannot be
compiled runs op by op and its records say ``timing="eager"``, a host one ``"host"``), the same
warm-up, ``block_until_ready`` on every call. With the ``new`` workload (the default) every
call takes the next of ``ROTATE`` event sets, as a simulation feeds new spikes each step; with
``repeat`` the same events (cache-warm), labelled in the ``workload`` column.

Work figures, the same for every backend so that they compare side by side:

* ``synaptic_events``: the synapses the active inputs reach,
  ``active inputs × conn_prob × n_outputs`` (their expected number; exact for the
  fixed-number families), summed over the batch, averaged over the event sets;
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
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .grid import ROTATE, BenchCase, Grid, Skipped, device_for
from .memory import check_memory, device_memory, nbytes
from .structures import Reuse


@dataclass
class Prepared:
    """A case ready to run: ``call()`` is what is timed."""

    case: BenchCase
    device: object
    conn: object
    impl: object
    #: the event sets on the device (one for the ``repeat`` workload), and on the host
    events: list
    events_host: list = field(repr=False)
    event_driven: bool = False
    build_s: float = 0.0
    prepare_s: float = 0.0
    mode: dict = field(default_factory=dict)
    _next: int = 0

    def call(self):
        """One product on the next event set."""
        events = self.events[self._next]
        self._next = (self._next + 1) % len(self.events)
        return self.impl.run(events)

    @property
    def active_fraction(self) -> float:
        """The measured fraction of active inputs (over every sample of every event set)."""
        from ...events import active_fraction

        return active_fraction(np.stack(self.events_host))

    def work(self) -> dict:
        """Synaptic events and bytes touched by one call, averaged over the event sets (see
        the module docstring)."""
        from ...catalogue import get_product

        prod = get_product(self.case.product)
        n_out = prod.n_outputs(self.conn.shape)
        stored = nbytes(self.conn)
        itemsize = np.dtype(self.case.dtype).itemsize
        syn, touched_b, touched = [], [], []
        for events in self.events_host:
            samples = np.asarray(events)
            samples = samples[None, :] if samples.ndim == 1 else (samples if prod.events_left else samples.T)
            frac = float(np.any(samples != 0, axis=0).mean())
            touched.append(frac)
            syn.append(int(np.count_nonzero(samples)) * self.case.conn_prob * n_out)
            touched_b.append(stored * (frac if self.event_driven else 1.0) + samples.nbytes
                             + n_out * samples.shape[0] * itemsize)
        return dict(synaptic_events=float(np.mean(syn)), bytes_touched=float(np.mean(touched_b)),
                    touched_fraction=float(np.mean(touched)), structure_bytes=stored,
                    backend_bytes=nbytes(self.impl.holds))


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



def prepare(case: BenchCase, *, reuse: Reuse | None = None, seed: int = 0,
            dense_max_n: int | None = None) -> Prepared:
    """Build (or reuse) the structure, place it on the case's device, let the backend prepare
    the product, and draw the events (``ROTATE`` sets for the ``new`` workload). Raises
    :class:`Skipped` for a case that cannot run here (checked before anything is built; a dense
    baseline beyond ``dense_max_n`` is ``too_large``)."""
    import jax

    from ...catalogue import get_family, get_product
    from ...events import make_events
    from ...peers import get_backend

    dev = device_for(case.device)
    from .grid import variant

    fam, be, prod = get_family(case.family), get_backend(variant(case.backend)[0]), get_product(case.product)
    ok, why = be.available()
    if not ok:
        raise Skipped("unavailable", why)
    if be.materialises and dense_max_n is not None and case.n > dense_max_n:
        raise Skipped("too_large", f"{case.backend} multiplies a dense n × n matrix: this grid runs it up to "
                                   f"n = {dense_max_n}")
    check_memory(case, dev)
    reuse = reuse or Reuse()
    with jax.default_device(dev):
        conn = reuse.structure(case, dev, seed)
        impl = reuse.implementation(case, fam, be, prod, conn)
        n_in = prod.n_inputs(conn.shape)
        sets = ROTATE if case.workload == "new" else 1
        host = [prod.events_from_samples(make_events(n_in, case.active, seed=seed + 1 + k, batch=case.batch))
                for k in range(sets)]
        events = [jax.device_put(h, dev) for h in host]
    return Prepared(case, dev, conn, impl, events, host, fam.event_driven_for(prod), reuse.build_s,
                    reuse.prepare_s, dict(reuse.mode))


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

    from ... import __version__
    from ...peers import BACKENDS

    return dict(jax=jax.__version__, jaxlib=jaxlib.__version__, numpy=np.__version__, scipy=scipy.__version__,
                evbench=__version__, backends={b.name: b.available()[1] for b in BACKENDS.all()},
                devices=[f"{d.platform}:{d.id} {getattr(d, 'device_kind', '')}".strip() for d in jax.devices()])


#: a case's figures (NaN for a case that did not run)
SUMMARY = ("median_s", "iqr_s", "repeats", "number", "first_call_s", "compile_s", "compile_cached", "build_s",
           "prepare_s", "active_fraction", "touched_fraction", "synaptic_events", "bytes_touched", "events_per_s",
           "effective_gb_s", "bandwidth_fraction", "structure_bytes", "backend_bytes", "device_bytes_in_use",
           "device_peak_bytes")


def record(case: BenchCase, status: str, reason: str = "", **values) -> dict:
    """A case's record (``times``: seconds per call of each repeat)."""
    from ...catalogue import get_family, get_product

    fam, prod = get_family(case.family), get_product(case.product)
    rec = dict(family=case.family, backend=case.backend, mode="", timing="", product=case.product, expr=prod.expr,
               event_driven=fam.event_driven_for(prod), device=case.device, n=case.n, active=case.active,
               conn_num=case.conn_num, conn_prob=case.conn_prob, batch=case.batch, dtype=case.dtype,
               workload=case.workload, status=status, reason=reason, times=[])
    rec.update({k: np.nan for k in SUMMARY})
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
    from ...peers import mode_label

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
    return record(
        prep.case, "ok", mode=mode_label(prep.mode), timing=prep.impl.timing, times=list(m.times),
        median_s=median, iqr_s=m.iqr_s, repeats=len(m.times), number=m.number,
        first_call_s=m.first_call_s, compile_s=compiled.get(shape_key, 0.0),
        compile_cached=first_call and m.compile_s is None,
        build_s=prep.build_s, prepare_s=prep.prepare_s, active_fraction=prep.active_fraction,
        events_per_s=work["synaptic_events"] / median, effective_gb_s=gb_s,
        bandwidth_fraction=gb_s / machine_gb_s if machine_gb_s else np.nan,
        device_name=f"{prep.device.platform}:{prep.device.id} {getattr(prep.device, 'device_kind', '')}".strip(),
        device_bytes_in_use=mem.get("bytes_in_use", np.nan), device_peak_bytes=mem.get("peak_bytes_in_use", np.nan),
        **work)
