"""Fixed number of connections per neuron (brainevent's ``FixedNumPerPre``/``FixedNumPerPost``,
brainstate's ``FixedNumConn``/``EventFixedNumConn``)."""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jax import lax

from . import colindex
from .cpu import ffi as _ffi
from .base import Connectivity, Transposed, scatter_active_rows
from .._arguments import ensure_shape
from ._weights import as_index, as_weights


#: a fixed-number structure's rows need no pointers: row ``i`` holds ``conn_num`` synapses from ``i conn_num``
_NO_ROW_PTR = np.zeros(2, np.int32)


class FixedNumPerPre(Connectivity):
    """Each row (presynaptic neuron) ``i`` connects to the ``k`` columns ``indices[i]``.

    Repeated targets in a row (multapses) are summed. ``events @ M`` costs O(active × k);
    ``M @ events`` visits the active columns only, through the column index the constructor
    builds (:mod:`evbench.ops.colindex`, counted in ``nbytes``). ``index=False`` (or
    :meth:`without_index`) stores none: ``M @ events`` then gathers ``k`` inputs for every row,
    O(n_rows × k).
    """

    _leaf_fields = ("indices", "weights", "col_index")
    _static_fields = ("shape",)
    _cpu_products = _gpu_products = ("vecmat", "matvec")

    def __init__(self, indices, weights, shape, *, dtype=None, index: bool = True):
        shape = ensure_shape("shape", shape)
        idx = as_index("indices", indices, ndim=2, upper=shape[1])
        if idx.shape[0] != shape[0]:
            raise ValueError(f"indices must have {shape[0]} rows (shape[0]), got {idx.shape[0]}")
        w = as_weights("weights", weights, shape=tuple(idx.shape), dtype=dtype)
        self._set(indices=idx, weights=w, shape=shape, col_index=None)
        if index:
            self._set(col_index=colindex.build(_NO_ROW_PTR, idx, shape[1], w.ndim != 0, "FixedNumPerPre(...)",
                                               conn_num=max(1, int(idx.shape[1]))))

    def with_index(self) -> "FixedNumPerPre":
        """The same matrix with a column index (the constructor builds one unless ``index=False``;
        built once on the host: call it outside ``jit``), so that ``M @ events`` costs O(active
        inputs × column length) instead of O(n_rows × k); the weights stay a leaf, read through it."""
        return colindex.with_index(self, _NO_ROW_PTR, "FixedNumPerPre.with_index()", conn_num=max(1, self.conn_num))

    def without_index(self) -> "FixedNumPerPre":
        """The same matrix without its column index (``M @ events`` gathers every row)."""
        return colindex.without_index(self)

    @property
    def dtype(self):
        return self.weights.dtype

    @property
    def conn_num(self) -> int:
        return int(self.indices.shape[1])

    def _w(self):
        return jnp.broadcast_to(self.weights, self.indices.shape)

    def _dense(self):
        rows = jnp.broadcast_to(jnp.arange(self.n_rows)[:, None], self.indices.shape)
        return jnp.zeros(self.shape, self.dtype).at[rows, self.indices].add(self._w())

    def to_coo(self):
        idx = np.asarray(self.indices)
        rows = np.repeat(np.arange(self.n_rows), idx.shape[1])
        return rows, idx.reshape(-1), np.asarray(self._w()).reshape(-1)

    def _rows(self, rows):
        pos = self.indices[rows]
        w = self._w()[rows]
        return pos, w, jnp.ones(pos.shape, bool)

    def _vecmat(self, S):
        if self.conn_num == 0:
            return jnp.zeros((S.shape[0], self.n_cols), S.dtype)
        return scatter_active_rows(S, self._rows, self.n_cols)

    def _matvec(self, S):
        if self.col_index is not None:
            return colindex.matvec_portable(self.col_index, self._flat_weights(), S, self.n_rows)
        return self._matvec_ad(S)

    def _matvec_ad(self, S):
        # out[i, b] = sum_k w[i, k] * S[indices[i, k], b]
        return jnp.einsum("ik,ikb->ib", self._w(), S[self.indices, :], precision=lax.Precision.HIGHEST)

    def _vecmat_ad(self, S):
        contrib = S[:, :, None] * self._w()[None]  # (b, n_rows, k)
        out = jnp.zeros((S.shape[0], self.n_cols), S.dtype)
        return out.at[:, self.indices.reshape(-1)].add(contrib.reshape(S.shape[0], -1))

    def _flat_weights(self):
        return self.weights if self.weights.ndim == 0 else self.weights.reshape(-1)

    def _vecmat_cpu(self, S):
        from .cpu.sparse import fixed_vecmat

        return _ffi.call(fixed_vecmat, _ffi.out((S.shape[0], self.n_cols), self.dtype), S, self.indices,
                         self._flat_weights(), path=_ffi.path(S, 0, self.weights))

    def _matvec_cpu(self, S):
        from .cpu.sparse import fixed_matvec, indexed_matvec

        if self.col_index is not None:
            c = self.col_index
            return _ffi.call(indexed_matvec, _ffi.out((self.n_rows, S.shape[1]), self.dtype), c.indptr, c.rows, c.perm,
                             self._flat_weights(), S, path=_ffi.path(S, 1, self.weights))
        return _ffi.call(fixed_matvec, _ffi.out((self.n_rows, S.shape[1]), self.dtype), self.indices,
                         self._flat_weights(), S, path=_ffi.path(S, 1, self.weights))


    def _vecmat_gpu(self, S):
        from .gpu import stored

        return stored.fixed_vecmat(self, S)

    def _matvec_gpu(self, S):
        from .gpu import stored

        return stored.fixed_matvec(self, S)

class FixedNumPerPost(Transposed):
    """Each column (postsynaptic neuron) ``j`` receives from the ``k`` rows ``indices[j]``.

    Stored as the :class:`FixedNumPerPre` of ``M.T``: ``M @ events`` is the event-driven
    direction, and ``events @ M`` too through the row index the constructor builds
    (``index=False``: none; ``events @ M`` then gathers ``k`` inputs for every column).
    """

    def __init__(self, indices, weights, shape, *, dtype=None, index: bool = True):
        shape = ensure_shape("shape", shape)
        self._set(base=FixedNumPerPre(indices, weights, shape[::-1], dtype=dtype, index=index))

    @property
    def conn_num(self) -> int:
        return self.base.conn_num

    def with_index(self) -> "FixedNumPerPost":
        """The same matrix with a row index (the column index of the :class:`FixedNumPerPre` it
        stores, built by the constructor unless ``index=False``), so that ``events @ M`` is
        event-driven too; see :meth:`FixedNumPerPre.with_index`."""
        out = object.__new__(type(self))
        out._set(base=self.base.with_index())
        return out

    def without_index(self) -> "FixedNumPerPost":
        """The same matrix without its row index (``events @ M`` gathers ``k`` inputs per column)."""
        out = object.__new__(type(self))
        out._set(base=self.base.without_index())
        return out
