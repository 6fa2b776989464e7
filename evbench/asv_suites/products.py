"""Steady-state time of every product, family and backend of a selection.

``time_product`` times one call (its output waited for with ``block_until_ready``) after
``setup`` built the case and warmed it up: the first call, with its compilation, is not timed
(its cost is ``work.*.track_compile_s``).
"""
import jax

from ..catalogue import PRODUCTS
from .sweep import Sweep, bind, product_class


class _Timing(Sweep):
    warmup_time = 0  # setup warmed up already
    repeat = (3, 10, 10.0)  # at least 3, at most 10 samples, 10 s

    def setup(self, sweep, *params):
        self.prep = self.prepare(sweep, params)

    def time_product(self, sweep, *params):
        jax.block_until_ready(self.prep.call())


def classes(selection) -> dict:
    """One timing class per catalogue product (``Vecmat``, ``MatvecBatch``…), bound to ``selection``."""
    return bind(selection, *(product_class(_Timing, p, "steady-state time per call") for p in PRODUCTS if selection.selects(p.key)))
