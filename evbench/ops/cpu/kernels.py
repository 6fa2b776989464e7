"""The CPU fast path: numba kernels of the native products, called from XLA through its FFI.

One module per structure (:mod:`.dense`, :mod:`.sparse`, :mod:`.jitc`; shared pieces in
:mod:`.common`); this module names them all.

Every kernel computes exactly what the portable (pure JAX) product of its structure computes,
from the same stored arrays, with a different summation order: each output is summed over its
terms in increasing input index, except ``events @ M`` of a single vector for the stored sparse
structures (and ``M @ events`` through a column index, and each sample of a batch whose outputs
are too long to share the cache), which interleaves the rows of four active inputs at a time
(:func:`evbench.ops.cpu.sparse._scatter_active`), and dense ``events @ W`` of a single vector,
which adds eight active rows at a time as a fixed tree: fixed orders that depend only on the
inputs, never on the number of threads (the error bound of :mod:`evbench.tolerance` holds for
any order). Kernels ending in ``part, parts`` compute a share of their outputs and run on
several threads (:mod:`.threads`).
Kernels write every output element; they never raise (inputs are validated before).

Layouts: ``S`` is ``(b, n_rows)`` for ``events @ M`` (``*_vecmat``) and ``(n_cols, b)`` for
``M @ events`` (``*_matvec``), bool or the weight dtype (bool events are read as they are: no
converted copy is made before the call); weights are per synapse, or one scalar passed as ``(1,)``
(``ws = 0`` below). Event-driven kernels skip an input whose events are all zero; the
O(synapses) ones (CSR ``M @ events``, fixed-per-pre ``M @ events``, just-in-time against the
generation axis) visit every stored or generated synapse.
"""
from __future__ import annotations

from .dense import dense_matvec, dense_vecmat  # noqa: F401
from .jitc import MAX_BLOCK, jitc_matvec, jitc_vecmat  # noqa: F401
from .sparse import column_index, csr_matvec, csr_vecmat, fixed_matvec, fixed_vecmat, indexed_matvec  # noqa: F401


def _paths(*axes) -> tuple:
    import itertools

    return tuple(",".join(p) for p in itertools.product(("vector", "batch"), ("bool", "float"), *axes))


_STORED = ("scalar", "per_synapse")
_DRAWN = ("scalar", "uniform", "normal")
#: every path a user can reach through each FFI kernel (:func:`evbench.ops.cpu.ffi.path`): one
#: sample or a batch, bool or float events, and the weights (stored: one scalar or one per
#: synapse; generated: their kind); ``tests/test_paths.py`` checks that ``evbench validate
#: --profile quick`` traces every one of them, and nothing undeclared
PATHS = {
    "dense_vecmat": _paths(), "dense_matvec": _paths(),
    "csr_vecmat": _paths(_STORED), "csr_matvec": _paths(_STORED),
    "fixed_vecmat": _paths(_STORED), "fixed_matvec": _paths(_STORED),
    "indexed_matvec": _paths(_STORED),
    "jitc_vecmat": _paths(_DRAWN), "jitc_matvec": _paths(_DRAWN),
}
