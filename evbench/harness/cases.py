"""One checked case: a structure, events and a product, compared with the reference.

Validation grids and the hypothesis strategies of the tests both produce :class:`Case`
objects, so a failure anywhere is reported the same way, with a snippet that reproduces it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..catalogue import Family, Product, get_family
from ..events import make_events
from ..tolerance import compare, error_bound


@dataclass(frozen=True)
class Case:
    family: str
    shape: tuple[int, int]
    conn_prob: float
    seed: int
    dtype: str
    event_dtype: str          # "bool" or the weight dtype
    values: str               # what a floating event carries: ones / positive / signed
    active: float             # requested active fraction of the events
    batch: int = 3            # samples, for the batched products
    event_seed: int = 0
    #: the structure options, as sorted ``(option, value)`` pairs
    options: tuple = field(default=())

    @property
    def fam(self) -> Family:
        return get_family(self.family)

    @property
    def request(self):
        """What a backend may need of this case besides its structure (a
        :class:`~evbench.peers.Request`)."""
        from ..peers import Request

        return Request(self.conn_prob, self.seed, self.options)

    def build(self):
        return self.fam.build(*self.shape, conn_prob=self.conn_prob, seed=self.seed, dtype=self.dtype,
                              **dict(self.options))

    def events(self, product: Product) -> np.ndarray:
        n = product.n_inputs(self.shape)
        samples = make_events(n, self.active, seed=self.event_seed, batch=self.batch if product.batched else 1,
                              dtype=self.event_dtype, values=self.values)
        return product.events_from_samples(samples)

    def snippet(self, product: Product) -> str:
        """Python that rebuilds this case and runs the product."""
        opts = "".join(f", {k}={v!r}" for k, v in self.options)
        batch = self.batch if product.batched else 1
        return (
            "import numpy as np, evbench\n"
            f"M = evbench.get_family({self.family!r}).build({self.shape[0]}, {self.shape[1]}, "
            f"conn_prob={self.conn_prob!r}, seed={self.seed}, dtype={self.dtype!r}{opts})\n"
            f"p = evbench.get_product({product.key!r})\n"
            f"samples = evbench.make_events({product.n_inputs(self.shape)}, {self.active!r}, seed={self.event_seed}, "
            f"batch={batch}, dtype={self.event_dtype!r}, values={self.values!r})\n"
            "events = p.events_from_samples(samples)\n"
            f"out = p.run(M, events)   # {product.expr}\n"
        )

    def describe(self) -> str:
        opts = ",".join(f"{k}={v}" for k, v in self.options)
        return (f"{self.family}[{opts}] {self.shape[0]}x{self.shape[1]} p={self.conn_prob:g} seed={self.seed} "
                f"{self.dtype} events={self.event_dtype}/{self.values} active={self.active:g}")


@dataclass(frozen=True)
class CaseComparison:
    error: float          # at the output where error / tolerance is largest
    tolerance: float
    ratio: float
    passed: bool
    active_fraction: float  # measured, of the events used


class Built:
    """A built structure with its reference matrices, reused across events and products."""

    def __init__(self, case: Case):
        self.conn = case.build()
        fam = case.fam
        self.dense = fam.reference(self.conn)
        self.abs_weights, self.counts = fam.reference_terms(self.conn)
        self.weight_error = fam.weight_error(self.conn)


def compare_case(case: Case, product: Product, prepared: Built | None = None, *, run=None) -> CaseComparison:
    """Native product vs the float64 reference, within the error bound of the sums."""
    prep = Built(case) if prepared is None else prepared
    events = case.events(product)
    out = np.asarray((run or product.jitted)(prep.conn, events))
    expected = product.reference(prep.dense, events)
    bound = error_bound(product, prep.abs_weights, prep.counts, events, case.dtype,
                        weight_error=prep.weight_error)
    err, tol, ratio, ok = compare(out, expected, bound)
    return CaseComparison(err, tol, ratio, ok, float(np.count_nonzero(events)) / max(events.size, 1))
