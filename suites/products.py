"""Steady-state time of every product, family and backend over the grid.

``time_product`` times one call (its output waited for with ``block_until_ready``) after
``setup`` built the case and warmed it up: the first call, with its compilation, is not timed
(its cost is ``work.*.track_compile_s``).
"""
import jax

from ._sweep import Sweep, params_of


class _Timing(Sweep):
    warmup_time = 0  # setup warmed up already
    repeat = (3, 10, 10.0)  # at least 3, at most 10 samples, 10 s

    def setup(self, sweep, *params):
        self.prep = self.prepare(sweep, params)

    def time_product(self, sweep, *params):
        jax.block_until_ready(self.prep.call())


class Vecmat(_Timing):
    """``events @ M`` of every family × backend: steady-state time per call."""

    product_key = "vecmat"
    params = params_of("vecmat")


class Matvec(_Timing):
    """``M @ events`` of every family × backend: steady-state time per call."""

    product_key = "matvec"
    params = params_of("matvec")


class VecmatBatch(_Timing):
    """``events[b, :] @ M`` of every family × backend: steady-state time per call."""

    product_key = "vecmat_batch"
    params = params_of("vecmat_batch")


class MatvecBatch(_Timing):
    """``M @ events[:, b]`` of every family × backend: steady-state time per call."""

    product_key = "matvec_batch"
    params = params_of("matvec_batch")


class VecmatT(_Timing):
    """``events @ M.T`` of every family × backend: steady-state time per call."""

    product_key = "vecmat_T"
    params = params_of("vecmat_T")


class MatvecT(_Timing):
    """``M.T @ events`` of every family × backend: steady-state time per call."""

    product_key = "matvec_T"
    params = params_of("matvec_T")
