"""Explicit sparse structures: COO, CSR, CSC (brainevent's ``COO``/``CSR``/``CSC``).

Weights are homogeneous (a scalar) or per synapse. Rows may be empty or ragged; duplicate
entries are allowed and summed, in storage order.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from . import colindex
from .cpu import ffi as _ffi
from .base import Connectivity, Transposed, scalar_or_gather, scatter_active_rows
from .._arguments import ensure_shape
from ._weights import as_index, as_weights


class COO(Connectivity):
    """Coordinate list: synapse ``k`` goes from row ``row[k]`` to column ``col[k]``.

    Nothing orders the list, so both products cost O(synapses), not O(active inputs).
    """

    _leaf_fields = ("row", "col", "weights")
    _static_fields = ("shape",)
    _gpu_products = ("vecmat", "matvec")

    def __init__(self, row, col, weights, shape, *, dtype=None):
        shape = ensure_shape("shape", shape)
        row = as_index("row", row, ndim=1, upper=shape[0])
        col = as_index("col", col, ndim=1, upper=shape[1])
        if row.shape != col.shape:
            raise ValueError(f"row and col must have the same length, got {row.shape[0]} and {col.shape[0]}")
        w = as_weights("weights", weights, shape=row.shape, dtype=dtype)
        self._set(row=row, col=col, weights=w, shape=shape)

    @property
    def dtype(self):
        return self.weights.dtype

    @property
    def nnz(self) -> int:
        return int(self.row.shape[0])

    def _w(self):
        return scalar_or_gather(self.weights, jnp.arange(self.nnz))

    def _dense(self):
        return jnp.zeros(self.shape, self.dtype).at[self.row, self.col].add(self._w())

    def to_coo(self):
        return np.asarray(self.row), np.asarray(self.col), np.asarray(self._w())

    def _vecmat(self, S):
        contrib = S[:, self.row] * self._w()[None, :]
        return jnp.zeros((S.shape[0], self.n_cols), S.dtype).at[:, self.col].add(contrib)

    def _matvec(self, S):
        contrib = self._w()[:, None] * S[self.col, :]
        return jnp.zeros((self.n_rows, S.shape[1]), S.dtype).at[self.row, :].add(contrib)

    _vecmat_ad = _vecmat
    _matvec_ad = _matvec

    def _vecmat_gpu(self, S):
        from .gpu import stored

        return stored.coo_vecmat(self, S)

    def _matvec_gpu(self, S):
        from .gpu import stored

        return stored.coo_matvec(self, S)


class CSR(Connectivity):
    """Compressed sparse rows: row ``i`` holds ``indices[indptr[i]:indptr[i+1]]``.

    ``events @ M`` visits the rows of the active inputs only: O(active × max row length).
    ``M @ events`` visits the columns of the active inputs only, through the column index the
    constructor builds (:mod:`evbench.ops.colindex`: 4 bytes per synapse, 4 more for per-synapse
    weights, 4 per column; counted in ``nbytes``). ``index=False`` (or :meth:`without_index`)
    stores none: ``M @ events`` then gathers along every row, O(synapses).
    """

    _leaf_fields = ("indptr", "indices", "weights", "col_index")
    _static_fields = ("shape", "max_row_nnz")
    _cpu_products = _gpu_products = ("vecmat", "matvec")

    def __init__(self, indptr, indices, weights, shape, *, dtype=None, index: bool = True):
        shape = ensure_shape("shape", shape)
        indices = as_index("indices", indices, ndim=1, upper=shape[1])
        nnz = int(indices.shape[0])
        ptr = np.asarray(indptr)
        if np.dtype(ptr.dtype).kind not in "iu":
            raise TypeError(f"indptr must be an integer array, got dtype {ptr.dtype}")
        if ptr.shape != (shape[0] + 1,):
            raise ValueError(f"indptr must have shape ({shape[0] + 1},) for shape={shape}, got {ptr.shape}")
        if ptr[0] != 0 or ptr[-1] != nnz:
            raise ValueError(f"indptr must start at 0 and end at len(indices)={nnz}, got {ptr[0]} and {ptr[-1]}")
        # compared as Python integers: np.diff wraps on unsigned dtypes, and a cast to int32 on large values
        if ptr.size and int(ptr.max()) > nnz:
            bad = int(np.argmax(ptr > nnz))
            raise ValueError(f"indptr entries must be in [0, len(indices)={nnz}], got {int(ptr[bad])} at row {bad}")
        ptr = ptr.astype(np.int64)
        row_nnz = np.diff(ptr)
        if np.any(row_nnz < 0):
            raise ValueError(f"indptr must be non-decreasing, it falls at row {int(np.argmax(row_nnz < 0))}")
        w = as_weights("weights", weights, shape=(nnz,), dtype=dtype)
        ptr32 = ptr.astype(np.int32)
        self._set(indptr=jnp.asarray(ptr32), indices=indices, weights=w, shape=shape,
                  max_row_nnz=int(row_nnz.max(initial=0)), col_index=None)
        if index:
            self._set(col_index=colindex.build(ptr32, indices, shape[1], w.ndim != 0, "CSR(...)"))

    def with_index(self) -> "CSR":
        """The same matrix with a column index (the constructor builds one unless ``index=False``;
        built once on the host: call it outside ``jit``), so that ``M @ events`` costs O(active
        inputs × column length) instead of O(synapses); the weights stay a leaf, read through it."""
        return colindex.with_index(self, self.indptr, "CSR.with_index()")

    def without_index(self) -> "CSR":
        """The same matrix without its column index (``M @ events`` gathers every row)."""
        return colindex.without_index(self)

    @property
    def dtype(self):
        return self.weights.dtype

    @property
    def nnz(self) -> int:
        return int(self.indices.shape[0])

    def _row_ids(self):
        counts = jnp.diff(self.indptr)
        return jnp.repeat(jnp.arange(self.n_rows, dtype=jnp.int32), counts, total_repeat_length=self.nnz)

    def _w(self):
        return scalar_or_gather(self.weights, jnp.arange(self.nnz))

    def _dense(self):
        return jnp.zeros(self.shape, self.dtype).at[self._row_ids(), self.indices].add(self._w())

    def to_coo(self):
        return np.asarray(self._row_ids()), np.asarray(self.indices), np.asarray(self._w())

    def _rows(self, rows):
        cap = max(self.max_row_nnz, 1)
        start = self.indptr[rows][:, None]
        length = (self.indptr[rows + 1] - self.indptr[rows])[:, None]
        slot = jnp.arange(cap, dtype=jnp.int32)[None, :]
        valid = slot < length
        k = jnp.where(valid, start + slot, 0)
        if self.nnz == 0:
            return jnp.zeros(k.shape, jnp.int32), jnp.zeros(k.shape, self.dtype), valid
        return self.indices[k], scalar_or_gather(self.weights, k), valid

    def _vecmat(self, S):
        return scatter_active_rows(S, self._rows, self.n_cols)

    def _matvec(self, S):
        if self.col_index is not None:
            return colindex.matvec_portable(self.col_index, self.weights, S, self.n_rows)
        return self._matvec_ad(S)

    def _matvec_ad(self, S):
        contrib = self._w()[:, None] * S[self.indices, :]
        return jax.ops.segment_sum(contrib, self._row_ids(), num_segments=self.n_rows)

    def _vecmat_ad(self, S):
        contrib = S[:, self._row_ids()] * self._w()[None, :]
        return jnp.zeros((S.shape[0], self.n_cols), S.dtype).at[:, self.indices].add(contrib)

    def _vecmat_cpu(self, S):
        from .cpu.sparse import csr_vecmat

        return _ffi.call(csr_vecmat, _ffi.out((S.shape[0], self.n_cols), self.dtype), S, self.indptr, self.indices,
                         self.weights, path=_ffi.path(S, 0, self.weights))

    def _matvec_cpu(self, S):
        from .cpu.sparse import csr_matvec, indexed_matvec

        if self.col_index is not None:
            c = self.col_index
            return _ffi.call(indexed_matvec, _ffi.out((self.n_rows, S.shape[1]), self.dtype), c.indptr, c.rows, c.perm,
                             self.weights, S, path=_ffi.path(S, 1, self.weights))
        return _ffi.call(csr_matvec, _ffi.out((self.n_rows, S.shape[1]), self.dtype), self.indptr, self.indices,
                         self.weights, S, path=_ffi.path(S, 1, self.weights))


    def _vecmat_gpu(self, S):
        from .gpu import stored

        return stored.csr_vecmat(self, S)

    def _matvec_gpu(self, S):
        from .gpu import stored

        return stored.csr_matvec(self, S)

class CSC(Transposed):
    """Compressed sparse columns: column ``j`` holds rows ``indices[indptr[j]:indptr[j+1]]``.

    Stored exactly as the CSR of ``M.T``: ``M @ events`` is the event-driven direction, and
    ``events @ M`` too through the row index the constructor builds (``index=False``: none).
    """

    def __init__(self, indptr, indices, weights, shape, *, dtype=None, index: bool = True):
        shape = ensure_shape("shape", shape)
        self._set(base=CSR(indptr, indices, weights, shape[::-1], dtype=dtype, index=index))

    def with_index(self) -> "CSC":
        """The same matrix with a row index (the column index of the CSR it stores, built by the
        constructor unless ``index=False``), so that ``events @ M`` is event-driven too; see
        :meth:`CSR.with_index`."""
        out = object.__new__(type(self))
        out._set(base=self.base.with_index())
        return out

    def without_index(self) -> "CSC":
        """The same matrix without its row index (``events @ M`` gathers every column)."""
        out = object.__new__(type(self))
        out._set(base=self.base.without_index())
        return out
