"""Work-normalised figures of every product, family and backend, from the one in-process sweep
that asv runs per run (``setup_cache``; the same measurement as ``evbench bench``).

* ``track_compile_s``: tracing + lowering + compilation in the first call (JAX's monitoring
  events; 0 for a backend with nothing to compile);
* ``track_synaptic_events_per_s``: synapses reached by the active inputs per second;
* ``track_effective_bandwidth_gb_s``: bytes the structure must touch per second (see
  :mod:`evbench.harness.bench`); compare with ``machine.Machine.track_read_bandwidth_gb_s``.

The sweep's whole table, with the measured active fraction of every case (the ``active``
parameter is the requested one), is written beside asv's results, in ``results/asv-meta/``.
Higher is better for the last two: ``asv compare`` reads every increase as a regression,
so gate on ``time_`` (see README, "Benchmarks").
"""
from ._sweep import Sweep, params_of


class _Work(Sweep):
    def setup(self, sweep, *params):
        self.rec = self.record(sweep, params)

    def track_compile_s(self, sweep, *params):
        return self.rec["compile_s"]

    track_compile_s.unit = "seconds"

    def track_synaptic_events_per_s(self, sweep, *params):
        return self.rec["events_per_s"]

    track_synaptic_events_per_s.unit = "synaptic events/s"

    def track_effective_bandwidth_gb_s(self, sweep, *params):
        return self.rec["effective_gb_s"]

    track_effective_bandwidth_gb_s.unit = "GB/s"


class Vecmat(_Work):
    """``events @ M`` of every family × backend: compile time, synaptic events/s, GB/s."""

    product_key = "vecmat"
    params = params_of("vecmat")


class Matvec(_Work):
    """``M @ events`` of every family × backend: compile time, synaptic events/s, GB/s."""

    product_key = "matvec"
    params = params_of("matvec")


class VecmatBatch(_Work):
    """``events[b, :] @ M`` of every family × backend: compile time, synaptic events/s, GB/s."""

    product_key = "vecmat_batch"
    params = params_of("vecmat_batch")


class MatvecBatch(_Work):
    """``M @ events[:, b]`` of every family × backend: compile time, synaptic events/s, GB/s."""

    product_key = "matvec_batch"
    params = params_of("matvec_batch")


class VecmatT(_Work):
    """``events @ M.T`` of every family × backend: compile time, synaptic events/s, GB/s."""

    product_key = "vecmat_T"
    params = params_of("vecmat_T")


class MatvecT(_Work):
    """``M.T @ events`` of every family × backend: compile time, synaptic events/s, GB/s."""

    product_key = "matvec_T"
    params = params_of("matvec_T")
