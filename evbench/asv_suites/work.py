"""Work-normalised figures of every product, family and backend of a selection, from the one
in-process sweep that asv runs per run (``setup_cache``; the same measurement as ``evbench bench``).

* ``track_compile_s``: tracing + lowering + compilation in the first call (JAX's monitoring
  events; 0 for a backend with nothing to compile);
* ``track_synaptic_events_per_s``: synapses reached by the active inputs per second;
* ``track_effective_bandwidth_gb_s``: bytes the structure must touch per second (see
  :mod:`evbench.harness.bench`); compare with ``machine.Machine.track_read_bandwidth_gb_s``.

Higher is better for the last two: ``asv compare`` reads every increase as a regression, so
gate on ``time_`` (README, "Benchmarks").
"""
from ..catalogue import PRODUCTS
from .sweep import Sweep, bind, product_class


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


def classes(selection) -> dict:
    """One class of work figures per catalogue product, bound to ``selection``."""
    return bind(selection, *(product_class(_Work, p, "compile time, synaptic events/s, GB/s") for p in PRODUCTS if selection.selects(p.key)))
