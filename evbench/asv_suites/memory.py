"""Host and device memory of every family × backend of a selection.

Memory is a matter of the structures (the family's, and what the backend builds from it), not
of which product runs, so one product stands for all: each family's first unbatched
event-driven product (``events @ M`` for a row-driven family, ``M @ events`` for a
column-driven one; the first product for a family with none), which keeps the processes asv
starts per parameter combination few.

* ``HostMemory.peakmem_product``: the peak resident memory of the process that built the case
  and ran the product (it includes what the process inherited: compare like with like);
* ``DeviceMemory.track_device_peak_bytes``: the device's peak bytes in use, where the device
  reports them (GPU, TPU; with ``XLA_PYTHON_CLIENT_PREALLOCATE=false``, set by
  :func:`evbench.harness.bench.configure_process`); skipped on the CPU, which reports none.
"""
import jax

from ..catalogue import PRODUCTS, get_family
from ..harness import bench
from .sweep import Sweep, bind


def memory_product(family: str) -> str:
    """The product that stands for ``family`` in the memory suites."""
    fam = get_family(family)
    unbatched = [p for p in PRODUCTS if not p.batched]
    return next((p.key for p in unbatched if fam.event_driven_for(p)), unbatched[0].key)


class _Memory(Sweep):
    def case(self, params) -> bench.BenchCase:
        return bench.case_from_params(memory_product(params[0]), *params, workload=self.selection.the_grid.workload)

    def selected(self) -> None:
        """Memory is the structures': every selection measures it."""


class HostMemory(_Memory):
    def setup(self, sweep, *params):
        self.prep = self.prepare(sweep, params)

    def peakmem_product(self, sweep, *params):
        jax.block_until_ready(self.prep.call())


class DeviceMemory(_Memory):
    def setup(self, sweep, *params):
        case = self.case(params)
        bench.configure_process()  # before JAX starts: no preallocation
        dev = bench.device_for(case.device)
        if "peak_bytes_in_use" not in bench.device_memory(dev):
            raise NotImplementedError(f"{case.device} reports no memory statistics")
        self.prep = self.prepare(sweep, params)
        jax.block_until_ready(self.prep.call())

    def track_device_peak_bytes(self, sweep, *params):
        return bench.device_memory(self.prep.device)["peak_bytes_in_use"]

    track_device_peak_bytes.unit = "bytes"


def classes(selection) -> dict:
    """The memory classes, bound to ``selection`` (subclasses: one selection per class)."""
    first = next(p for p in PRODUCTS if not p.batched)
    made = [type(c.__name__, (c,), {"__module__": c.__module__, "params": selection.params(first)})
            for c in (HostMemory, DeviceMemory)]
    return bind(selection, *made)
