"""Event × dense weights (brainstate's ``EventLinear``, brainevent's ``binary_densemv``)."""
from __future__ import annotations

import jax.numpy as jnp

from .cpu import ffi as _ffi
from .base import Connectivity, for_active_chunks
from .._arguments import ensure_shape
from ._weights import as_weights


class DenseMatrix(Connectivity):
    """A stored dense weight matrix, multiplied event-driven.

    ``events @ M`` adds the rows of the active inputs, ``M @ events`` the columns: both cost
    O(active × n) instead of O(n_rows × n_cols).
    """

    _leaf_fields = ("weights",)
    _static_fields = ("shape",)
    _cpu_products = _gpu_products = ("vecmat", "matvec")

    def __init__(self, weights):
        w = as_weights("weights", weights, shape=None)
        if w.ndim != 2:
            raise ValueError(f"weights must be a 2-D matrix, got shape {tuple(w.shape)}")
        self._set(weights=w, shape=ensure_shape("weights.shape", tuple(w.shape)))

    @property
    def dtype(self):
        return self.weights.dtype

    def _dense(self):
        return self.weights

    def _vecmat(self, S):
        W = self.weights

        def body(rows, ok, out):
            coef = jnp.where(ok[None, :], S[:, rows], 0)  # (b, CHUNK)
            return out + coef @ W[rows]

        return for_active_chunks(S, jnp.zeros((S.shape[0], self.n_cols), self.dtype), body)

    def _matvec(self, S):
        W = self.weights
        ST = S.T  # (b, n_cols): the active columns are the inputs

        def body(cols, ok, out):
            coef = jnp.where(ok[None, :], ST[:, cols], 0)  # (b, CHUNK)
            return out + jnp.take(W, cols, axis=1) @ coef.T

        return for_active_chunks(ST, jnp.zeros((self.n_rows, S.shape[1]), self.dtype), body)

    def _vecmat_cpu(self, S):
        from .cpu.dense import dense_vecmat

        return _ffi.call(dense_vecmat, _ffi.out((S.shape[0], self.n_cols), self.dtype), S, self.weights,
                         path=_ffi.path(S, 0))

    def _matvec_cpu(self, S):
        from .cpu.dense import dense_matvec

        return _ffi.call(dense_matvec, _ffi.out((self.n_rows, S.shape[1]), self.dtype), self.weights, S,
                         path=_ffi.path(S, 1))

    def _vecmat_gpu(self, S):
        from .gpu import stored

        return stored.dense_vecmat(self, S)

    def _matvec_gpu(self, S):
        from .gpu import stored

        return stored.dense_matvec(self, S)
