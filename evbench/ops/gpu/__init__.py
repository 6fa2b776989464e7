"""GPU implementations of the forward products: loop-free XLA formulations, deterministic.

On a GPU the portable products loop over the active inputs in chunks (a trip count growing
with activity, small kernels per iteration) and scatter-add with float atomics (a different
order, hence different bits, on every call). The formulations here instead compact the active
inputs into a static capacity chosen from a few buckets (``lax.switch``), gather the synapses
they touch, and sum them in a fixed order: reductions along an axis, matmuls at
``precision=HIGHEST``, or a sort and a segmented scan where contributions collide (see
:mod:`._core`). The same inputs give the same bits on every call.

:func:`formulation` maps a structure and a product to its formulation (by structure type;
``Transposed`` structures swap products), or ``None`` where there is none (then the portable
product runs). ``evbench.ops.base._forward`` selects them on ``cuda`` and ``rocm`` under the
default mode ``"auto"``, and on every device under ``use_kernels("gpu")`` (how CI tests them
without a GPU).
"""
from __future__ import annotations

from typing import Callable

_SWAP = {"vecmat": "matvec", "matvec": "vecmat"}


def _table():
    from ..dense import DenseMatrix
    from ..fixed import FixedNumPerPre
    from ..jitc import _JITCRow
    from ..sparse import COO, CSR
    from . import jitc, stored

    return (
        (DenseMatrix, stored.dense_vecmat, stored.dense_matvec),
        (CSR, stored.csr_vecmat, stored.csr_matvec),
        (FixedNumPerPre, stored.fixed_vecmat, stored.fixed_matvec),
        (COO, stored.coo_vecmat, stored.coo_matvec),
        (_JITCRow, jitc.jitc_vecmat, jitc.jitc_matvec),
    )


def formulation(conn, which: str) -> Callable | None:
    """The GPU formulation of product ``which`` ("vecmat": ``S (b, n_rows) @ M``, "matvec":
    ``M @ S (n_cols, b)``) of ``conn``, a function of the events ``S`` (bool or the weight
    dtype), or ``None``."""
    if which not in _SWAP:
        raise ValueError(f"which must be 'vecmat' or 'matvec', got {which!r}")
    from ..base import Transposed

    if isinstance(conn, Transposed):
        inner = formulation(conn.base, _SWAP[which])
        return None if inner is None else (lambda S: inner(S.T).T)
    for cls, vecmat, matvec in _table():
        if isinstance(conn, cls):
            fn = vecmat if which == "vecmat" else matvec
            return lambda S: fn(conn, S)
    return None
