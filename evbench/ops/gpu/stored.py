"""GPU formulations of the stored structures: dense weights, CSR (also CSC and ``fixed_prob``),
fixed number per pre (also per post) and COO.

Event-driven products (``events @ M`` of a row-stored structure, both products of dense
weights) compact the active inputs into a bucketed capacity (:mod:`._core`); gathers are
followed by reductions along a fixed axis or by :func:`._core.segment_sum` where contributions
collide. Every function takes events ``S`` as the raw products do (``(b, n_rows)`` for
``vecmat``, ``(n_cols, b)`` for ``matvec``), bool or the weight dtype.
"""
from __future__ import annotations

import jax.numpy as jnp

from .core import by_count, capacities, compact, event_rows, matmul, ranks, segment_sum, segment_sum_per_row


def _coef(S, dtype):
    return S.astype(dtype)


# -- rows of a structure scattered to their columns -------------------------------------------

def scatter_rows(S, row_fn, n_out: int, dtype, slots: int):
    """``S (b, n_in) @ M`` for a structure whose rows are ``row_fn(rows) -> (pos, w, valid)``,
    each ``(len(rows), slots)`` (the ``_rows`` method of CSR and FixedNumPerPre): the active
    inputs of each sample compacted (:func:`event_rows`), their synapses gathered, their
    contributions summed per column by :func:`segment_sum_per_row`. Work: samples × capacity
    × slots."""
    b = S.shape[0]

    def piece(rows, ok, coef, acc):
        P = rows.shape[1]
        pos, w, valid = row_fn(rows.reshape(-1))
        valid = valid & ok.reshape(-1, 1)
        contrib = jnp.where(valid, coef.reshape(-1, 1) * w, jnp.zeros((), dtype))
        keys = jnp.where(valid, pos, n_out)
        return acc + segment_sum_per_row(keys.reshape(b, P * slots), contrib.reshape(b, P * slots), n_out)

    return event_rows(S, n_out, dtype, slots, piece)


def csr_vecmat(conn, S):
    return scatter_rows(S, conn._rows, conn.n_cols, conn.dtype, max(conn.max_row_nnz, 1))


def fixed_vecmat(conn, S):
    return scatter_rows(S, conn._rows, conn.n_cols, conn.dtype, conn.conn_num)


# -- every row gathered from its inputs (not event-driven) ------------------------------------

def _gather_rows(pos, w, valid, S, dtype):
    """``out[i] = sum_k w[i, k] S[pos[i, k]]`` over the valid slots: a reduction along k."""
    g = _coef(S[pos], dtype)  # (n, K, b)
    return jnp.sum(jnp.where(valid[..., None], w[..., None] * g, jnp.zeros((), dtype)), axis=1)


def csr_matvec(conn, S):
    """``M @ S`` for a CSR: each row's padded slots gathered and reduced when the padding costs
    at most the synapses again, else a segmented sum over the synapses (already in row order)."""
    n, K = conn.n_rows, max(conn.max_row_nnz, 1)
    if conn.nnz == 0:
        return jnp.zeros((n, S.shape[1]), conn.dtype)
    if n * K <= 2 * conn.nnz:
        pos, w, valid = conn._rows(jnp.arange(n, dtype=jnp.int32))
        return _gather_rows(pos, w, valid, S, conn.dtype)
    contrib = conn._w()[:, None] * _coef(S[conn.indices], conn.dtype)
    return segment_sum(conn._row_ids(), contrib, n, keys_sorted=True)


def fixed_matvec(conn, S):
    w = conn._w()
    if w.shape[1] == 0:
        return jnp.zeros((conn.n_rows, S.shape[1]), conn.dtype)
    return _gather_rows(conn.indices, w, jnp.ones(w.shape, bool), S, conn.dtype)


# -- COO: unordered, O(synapses) both ways -----------------------------------------------------

def coo_vecmat(conn, S):
    contrib = conn._w()[:, None] * _coef(S[:, conn.row].T, conn.dtype)  # (nnz, b)
    return segment_sum(conn.col, contrib, conn.n_cols).T


def coo_matvec(conn, S):
    contrib = conn._w()[:, None] * _coef(S[conn.col], conn.dtype)  # (nnz, b)
    return segment_sum(conn.row, contrib, conn.n_rows)


# -- dense weights ------------------------------------------------------------------------------

def _dense_product(active, gather, full, out_shape, dtype, limit):
    """Shared driver of the dense products: the inputs active (``active (b, n_in)``) in any
    sample compacted to a bucketed capacity, ``gather(idx, ok)`` of their weights and
    coefficients; the last bucket (from ``limit`` on) is ``full()``, the plain product, which
    reads the matrix once."""
    mask = jnp.any(active, axis=0)[None, :]
    n_in = mask.shape[1]
    rank, count = ranks(mask)

    def branch(C):
        def run(mask, rank):
            if C == 0:
                return jnp.zeros(out_shape, dtype)
            if C == n_in:
                return full()
            idx, ok = compact(mask, rank, C)
            return gather(idx[0], ok[0])
        return run

    return by_count(count[0], capacities(n_in, limit), branch, mask, rank)


def dense_vecmat(conn, S):
    """``S (b, n_rows) @ W``: the active rows gathered (masked: a padding slot adds an exact 0),
    then a reduction over them (one sample) or a matmul (a batch, from n/4 active rows on the
    plain matmul)."""
    W, dtype = conn.weights, conn.dtype
    b, n = S.shape
    zero = jnp.zeros((), dtype)

    def gather(idx, ok):
        rows = jnp.where(ok[:, None], W[idx], zero)              # (C, n_cols)
        coef = jnp.where(ok[None, :], _coef(S[:, idx], dtype), zero)  # (b, C)
        if b == 1:
            return jnp.sum(coef[0][:, None] * rows, axis=0)[None, :]
        return matmul(coef, rows)

    def full():
        if b == 1:
            return jnp.sum(_coef(S[0], dtype)[:, None] * W, axis=0)[None, :]
        return matmul(_coef(S, dtype), W)

    return _dense_product(S != 0, gather, full, (b, conn.n_cols), dtype, None if b == 1 else n // 4)


def dense_matvec(conn, S):
    """``W @ S (n_cols, b)``: the active columns gathered, then a reduction (one sample) or a
    matmul (a batch, from n/8 active columns on the plain matmul: columns of a row-major
    matrix are strided)."""
    W, dtype = conn.weights, conn.dtype
    n, b = S.shape
    zero = jnp.zeros((), dtype)

    def gather(idx, ok):
        cols = jnp.where(ok[None, :], jnp.take(W, idx, axis=1), zero)  # (n_rows, C)
        coef = jnp.where(ok[:, None], _coef(S[idx], dtype), zero)       # (C, b)
        if b == 1:
            return jnp.sum(cols * coef[:, 0][None, :], axis=1)[:, None]
        return matmul(cols, coef)

    def full():
        if b == 1:
            return jnp.sum(W * _coef(S[:, 0], dtype)[None, :], axis=1)[:, None]
        return matmul(W, _coef(S, dtype))

    return _dense_product((S != 0).T, gather, full, (conn.n_rows, b), dtype, None if b == 1 else n // 8)
