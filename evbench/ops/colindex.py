"""An index of a row-stored structure's synapses by column, so that ``M @ events`` is event-driven.

The constructors of :class:`~evbench.ops.sparse.CSR` (so also CSC and ``fixed_prob``) and
:class:`~evbench.ops.fixed.FixedNumPerPre` (so also ``FixedNumPerPost``) build it by default:
both products are then event-driven without being asked. ``index=False`` in the constructor, or
``M.without_index()``, stores none (half the memory of a per-synapse CSR, and no build time).

A CSR or fixed-number-per-pre structure stores its synapses row by row: ``events @ M`` visits
the rows of the active inputs, but ``M @ events`` must gather over every stored synapse. The
column index lists, column after column, the row of each synapse (``rows``) and its position in
the structure's own weight array (``perm``): ``M @ events`` then visits only the columns of the
active inputs, O(active × column length) per call. The weights are not copied: the products read
them through ``perm``, so a structure whose weights are replaced (``jax.tree_util.tree_map``, a
gradient step) multiplies with the new ones. Built once on the host (a counting sort, on
several threads for large structures, :func:`evbench.ops.cpu.sparse.column_index`): O(synapses) time, 8 bytes per synapse
(4 without ``perm``, for a scalar weight), counted in the structure's ``nbytes``.

Within a column, synapses keep their storage order (rows increasing), and the products add the
active columns in increasing order: every output is summed over its terms in increasing input
index, like the other kernels.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .base import scatter_active_rows


@jax.tree_util.register_pytree_node_class
class ColumnIndex:
    """Column ``j`` holds the synapses ``indptr[j]:indptr[j + 1]`` of the column view: their rows
    ``rows[...]`` and their positions ``perm[...]`` in the weight array (empty for a scalar
    weight). ``max_len`` (static) is the longest column."""

    def __init__(self, indptr, rows, perm, max_len: int):
        self.indptr, self.rows, self.perm, self.max_len = indptr, rows, perm, max_len

    def tree_flatten(self):
        return (self.indptr, self.rows, self.perm), (self.max_len,)

    @classmethod
    def tree_unflatten(cls, aux, children):
        return cls(*children, *aux)

    def __repr__(self):
        return f"ColumnIndex(n_cols={self.indptr.shape[0] - 1}, nnz={self.rows.shape[0]}, max_len={self.max_len})"


def build(row_ptr, cols, n_cols: int, per_synapse: bool, where: str, conn_num: int = 0) -> ColumnIndex:
    """The column index of synapses whose columns are ``cols`` (storage order), row ``i`` holding
    ``row_ptr[i]:row_ptr[i + 1]`` (or the ``conn_num`` synapses from ``i conn_num`` when
    ``conn_num > 0``: ``row_ptr`` unused). Needs concrete arrays (call it outside ``jax.jit``)."""
    from .cpu.sparse import column_index

    for x in (row_ptr, cols):
        if isinstance(x, jax.core.Tracer):
            raise TypeError(f"{where} needs concrete index arrays: call it outside jax.jit / grad / vmap "
                            "(the index is built once, on the host)")
    row_ptr = np.ascontiguousarray(np.asarray(row_ptr), dtype=np.int32)
    cols = np.ascontiguousarray(np.asarray(cols).reshape(-1), dtype=np.int32)
    nnz = cols.shape[0]
    if nnz < _NUMPY_BELOW:
        return _build_numpy(row_ptr, cols, n_cols, per_synapse, conn_num)
    indptr = _host_array(n_cols + 1)
    rows = _host_array(nnz)
    perm = _host_array(nnz if per_synapse else 0)
    tmp = _host_array(0 if per_synapse else nnz)
    column_index(row_ptr, cols, conn_num, indptr, rows, perm, tmp, _cores())
    max_len = int(np.diff(indptr).max(initial=0))
    return ColumnIndex(_to_jax(indptr), _to_jax(rows), _to_jax(perm), max_len)


#: below this many synapses the index is NumPy's stable argsort (the same order, bitwise): no
#: numba function is loaded for the small structures most processes build
_NUMPY_BELOW = 1 << 16


def _build_numpy(row_ptr, cols, n_cols, per_synapse, conn_num) -> ColumnIndex:
    perm = np.argsort(cols, kind="stable").astype(np.int32)
    if conn_num > 0:
        rows = (perm // conn_num).astype(np.int32)
    else:
        rows = (np.searchsorted(row_ptr, perm, side="right") - 1).astype(np.int32)
    counts = np.bincount(cols, minlength=n_cols)
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    max_len = int(counts.max(initial=0))
    perm = perm if per_synapse else np.zeros(0, np.int32)
    return ColumnIndex(jnp.asarray(indptr), jnp.asarray(rows), jnp.asarray(perm), max_len)


def without_index(conn):
    """``conn`` without a column index (itself when it has none)."""
    if conn.col_index is None:
        return conn
    out = object.__new__(type(conn))
    out.__dict__.update(conn.__dict__, col_index=None)
    return out


def with_index(conn, row_ptr, where: str, conn_num: int = 0):
    """``conn`` with a column index built from ``row_ptr`` and its ``indices`` (itself when it has one)."""
    if conn.col_index is not None:
        return conn
    index = build(row_ptr, conn.indices, conn.n_cols, conn.weights.ndim != 0, where, conn_num=conn_num)
    out = object.__new__(type(conn))
    out.__dict__.update(conn.__dict__, col_index=index)
    return out


def _cores() -> int:
    """The threads a large index is built with: the kernels' (:mod:`evbench.ops.cpu.threads`)."""
    from .cpu.threads import get_threads

    return get_threads()


def _host_array(n):
    """``n`` int32 on the host, 64-byte aligned (JAX then takes the buffer without a copy:
    ``jnp.asarray`` copied 400 MB in 0.6-1 s on this VM) and written once in order (the sort's
    first touch of a page would be in a scattered order: as slow as the sort itself)."""
    from .cpu.sparse import touch

    raw = np.empty(4 * n + 64, np.uint8)
    start = -raw.ctypes.data % 64
    out = raw[start:start + 4 * n].view(np.int32)
    touch(out, _cores())
    return out


def _to_jax(x):
    """A host array as a JAX array on the CPU, sharing its buffer where JAX can."""
    try:
        return jnp.from_dlpack(x)
    except Exception:  # pragma: no cover - depends on the JAX version and device
        return jnp.asarray(x)


def matvec_portable(index: ColumnIndex, weights, S, n_rows: int):
    """``M @ S`` (``S (n_cols, b)``) through the column index, in pure JAX: the active columns'
    synapses scattered into their rows (``weights`` flat per synapse, or a scalar)."""
    cap = max(index.max_len, 1)

    def column(cols):
        start = index.indptr[cols][:, None]
        length = (index.indptr[cols + 1] - index.indptr[cols])[:, None]
        slot = jnp.arange(cap, dtype=jnp.int32)[None, :]
        valid = slot < length
        k = jnp.where(valid, start + slot, 0)
        if index.rows.shape[0] == 0:
            return jnp.zeros(k.shape, jnp.int32), jnp.zeros(k.shape, weights.dtype), valid
        w = jnp.broadcast_to(weights, k.shape) if weights.ndim == 0 else weights[index.perm[k]]
        return index.rows[k], w, valid

    return scatter_active_rows(S.T, column, n_rows).T
