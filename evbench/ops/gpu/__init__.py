"""GPU implementations of the forward products: loop-free XLA formulations, deterministic.

On a GPU the portable products loop over the active inputs in chunks (a trip count growing
with activity, small kernels per iteration) and scatter-add with float atomics (a different
order, hence different bits, on every call). The formulations here instead compact the active
inputs into a static capacity chosen from a few buckets (``lax.switch``), gather the synapses
they touch, and sum them in a fixed order: reductions along an axis, matmuls at
``precision=HIGHEST``, or a sort and a segmented scan where contributions collide (see
:mod:`._core`). The same inputs give the same bits on every call.

:func:`formulation` gives a structure's formulation of a product (the structure's own
``_vecmat_gpu`` / ``_matvec_gpu``; ``Transposed`` structures swap products), or ``None`` where
there is none (then the portable product runs). ``evbench.ops.base._forward`` selects them on ``cuda`` and ``rocm`` under the
default mode ``"auto"``, and on every device under ``use_kernels("gpu")`` (how CI tests them
without a GPU).
"""
from __future__ import annotations

from typing import Callable

def formulation(conn, which: str) -> Callable | None:
    """The GPU formulation of product ``which`` ("vecmat": ``S (b, n_rows) @ M``, "matvec":
    ``M @ S (n_cols, b)``) of ``conn``, a function of the events ``S`` (bool or the weight
    dtype), or ``None``. A structure lists the products it has in ``_gpu_products`` and gives
    them as ``_vecmat_gpu`` / ``_matvec_gpu`` (calling :mod:`.stored` or :mod:`.jitc`), as it
    does its CPU kernels; ``Transposed`` swaps them."""
    if which not in ("vecmat", "matvec"):
        raise ValueError(f"which must be 'vecmat' or 'matvec', got {which!r}")
    return getattr(conn, f"_{which}_gpu") if which in conn._gpu_products else None
