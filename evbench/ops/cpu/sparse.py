"""CPU kernels of the stored sparse structures: CSR (also CSC and fixed probability) and a
fixed number of connections per presynaptic neuron (per post: the transpose); see
:mod:`evbench.ops.cpu.kernels`."""
from __future__ import annotations

import numpy as np

from .common import ACTIVE_BATCH, _active_batch, _group, _inline, _jit, _prefetch

#: elements of the next active row prefetched while a row is scattered (the hardware
#: prefetcher follows a row once it has started: only its first lines miss)
_AHEAD = 64


@_jit
def csr_vecmat(S, indptr, indices, w, out):
    """``out (b, n) = S (b, m) @ M`` for a CSR ``M``: the rows of the active inputs only (a single
    vector: the active inputs listed a batch at a time, the next row's data prefetched)."""
    b, m = S.shape
    ws = 1 if w.shape[0] == indices.shape[0] else 0
    out[:, :] = 0
    if b == 1:
        v, o = S[0], out[0]
        buf = np.empty(ACTIVE_BATCH, np.int64)
        i = 0
        while i < m:
            cnt, i = _active_batch(v, i, buf)
            for t in range(cnt):
                if t + 1 < cnt:
                    nxt = indptr[buf[t + 1]]
                    for d in range(0, _AHEAD, 16):  # a cache line of int32 / float32 indices and weights
                        _prefetch(indices, nxt + d)
                        if ws:
                            _prefetch(w, nxt + d)
                r = buf[t]
                _scatter_row(o, v[r], indices, w, ws, indptr[r], indptr[r + 1])
        return
    g = _group(b, out.shape[1])
    for k0 in range(0, b, g):
        for i in range(m):
            for k in range(k0, min(b, k0 + g)):
                s = S[k, i]
                if s != 0:
                    _scatter_row(out[k], s, indices, w, ws, indptr[i], indptr[i + 1])  # indptr: active rows only


@_inline
def _scatter_row(o, s, indices, w, ws, lo, hi):
    """``o[indices[p]] += s * w[p]`` for ``p`` in ``lo .. hi`` (``w[0]`` for all when ``ws == 0``)."""
    if ws:
        for p in range(lo, hi):
            o[indices[p]] += s * w[p]
    elif hi > lo:
        sw = s * w[0]
        for p in range(lo, hi):
            o[indices[p]] += sw


@_jit
def csr_matvec(indptr, indices, w, S, out):
    """``out (m, b) = M @ S (n, b)`` for a CSR ``M``: every row gathers its synapses."""
    m, b = out.shape
    ws = 1 if w.shape[0] == indices.shape[0] else 0
    out[:, :] = 0
    for i in range(m):
        lo, hi = indptr[i], indptr[i + 1]
        if b == 1:
            acc = out[i, 0]
            for p in range(lo, hi):
                acc += w[p * ws] * S[indices[p], 0]
            out[i, 0] = acc
        else:
            for p in range(lo, hi):
                wp = w[p * ws]
                j = indices[p]
                for k in range(b):
                    out[i, k] += wp * S[j, k]


# -- fixed number of connections per presynaptic neuron (per post: the transpose) ----------


@_jit
def fixed_vecmat(S, indices, w, out):
    """``out (b, n) = S (b, m) @ M``, row ``i`` of ``M`` holding the ``K`` columns ``indices[i]``
    (a single vector: as :func:`csr_vecmat`)."""
    b, m = S.shape
    K = indices.shape[1]
    ws = 1 if w.shape[0] == m * K else 0
    flat = indices.reshape(-1)
    out[:, :] = 0
    if b == 1:
        v, o = S[0], out[0]
        buf = np.empty(ACTIVE_BATCH, np.int64)
        i = 0
        while i < m:
            cnt, i = _active_batch(v, i, buf)
            for t in range(cnt):
                if t + 1 < cnt:
                    nxt = buf[t + 1] * K
                    for d in range(0, min(K, _AHEAD), 16):
                        _prefetch(flat, nxt + d)
                        if ws:
                            _prefetch(w, nxt + d)
                r = buf[t]
                _scatter_row(o, v[r], flat, w, ws, r * K, r * K + K)
        return
    g = _group(b, out.shape[1])
    for k0 in range(0, b, g):
        for i in range(m):
            for k in range(k0, min(b, k0 + g)):
                s = S[k, i]
                if s != 0:
                    _scatter_row(out[k], s, flat, w, ws, i * K, i * K + K)


@_jit
def fixed_matvec(indices, w, S, out):
    """``out (m, b) = M @ S (n, b)``: every row gathers its ``K`` inputs."""
    m, b = out.shape
    K = indices.shape[1]
    ws = 1 if w.shape[0] == m * K else 0
    out[:, :] = 0
    for i in range(m):
        if b == 1:
            acc = out[i, 0]
            for q in range(K):
                acc += w[(i * K + q) * ws] * S[indices[i, q], 0]
            out[i, 0] = acc
        else:
            for q in range(K):
                wp = w[(i * K + q) * ws]
                j = indices[i, q]
                for k in range(b):
                    out[i, k] += wp * S[j, k]


# -- just-in-time connectivity ------------------------------------------------------------------


# -- a column index of a row-stored structure (evbench.ops.colindex) -------------------------

#: the column index is sorted in two passes, first into this many buckets of adjacent columns
#: (their write positions stay in the L2 cache), then each bucket by column
_BUCKETS = 1024


@_jit
def column_index(row_ptr, cols, indptr, rows, perm):
    """Sort the synapses by column, stably: ``indptr`` (zeros on entry) gets the column pointers,
    ``rows`` the row of each synapse in column order and ``perm`` (unless empty) its position
    in storage order. Row ``i`` holds synapses ``row_ptr[i]:row_ptr[i + 1]``.

    A counting sort in two passes (a single pass writes to one place per column, and past
    about 10^4 columns those places no longer fit in the cache): by bucket of ``2^shift``
    adjacent columns, then each bucket by column through a scratch copy."""
    n_cols = indptr.shape[0] - 1
    nnz = cols.shape[0]
    with_perm = perm.shape[0] > 0
    for s in range(nnz):
        indptr[cols[s] + 1] += 1
    for j in range(n_cols):
        indptr[j + 1] += indptr[j]
    shift = 0
    while (n_cols - 1) >> shift >= _BUCKETS:
        shift += 1
    n_b = ((n_cols - 1) >> shift) + 1
    nxt = np.empty(n_b, np.int64)
    for b in range(n_b):
        nxt[b] = indptr[b << shift]
    col = np.empty(nnz, np.int32)  # the column of each synapse in bucket order
    for i in range(row_ptr.shape[0] - 1):
        for s in range(row_ptr[i], row_ptr[i + 1]):
            c = cols[s]
            q = nxt[c >> shift]
            nxt[c >> shift] = q + 1
            rows[q] = i
            col[q] = c
            if with_perm:
                perm[q] = s
    if shift == 0:
        return
    width = 1 << shift
    longest = 0
    for b in range(n_b):
        lo, hi = indptr[b << shift], indptr[min(n_cols, (b + 1) << shift)]
        longest = max(longest, hi - lo)
    rows_s = np.empty(longest, np.int32)
    perm_s = np.empty(longest if with_perm else 0, np.int32)
    col_s = np.empty(longest, np.int32)
    at = np.empty(width, np.int64)
    for b in range(n_b):
        c0 = b << shift
        lo, hi = indptr[c0], indptr[min(n_cols, c0 + width)]
        for t in range(hi - lo):
            rows_s[t] = rows[lo + t]
            col_s[t] = col[lo + t]
            if with_perm:
                perm_s[t] = perm[lo + t]
        for j in range(min(width, n_cols - c0)):
            at[j] = indptr[c0 + j]
        for t in range(hi - lo):
            j = col_s[t] - c0
            q = at[j]
            at[j] = q + 1
            rows[q] = rows_s[t]
            if with_perm:
                perm[q] = perm_s[t]


@_jit
def indexed_matvec(indptr, rows, perm, w, S, out):
    """``out (m, b) = M @ S (n, b)`` through a column index: the columns of the active inputs
    only, each scattering its synapses into their rows (weights ``w[perm[p]]``, or ``w[0]``
    when ``perm`` is empty)."""
    n, b = S.shape
    ws = perm.shape[0] > 0
    out[:, :] = 0
    if b == 1:
        for j in range(n):
            s = S[j, 0]
            if s != 0:
                lo, hi = indptr[j], indptr[j + 1]
                if ws:
                    for p in range(lo, hi):
                        out[rows[p], 0] += s * w[perm[p]]
                elif hi > lo:  # (no weight to read when the structure is empty)
                    sw = s * w[0]
                    for p in range(lo, hi):
                        out[rows[p], 0] += sw
        return
    ks = np.empty(b, np.int64)    # the samples in which input j is active
    vs = np.empty(b, out.dtype)   # and their events
    for j in range(n):
        a = 0
        for k in range(b):
            if S[j, k] != 0:
                ks[a] = k
                vs[a] = S[j, k]
                a += 1
        if a == 0:
            continue
        for p in range(indptr[j], indptr[j + 1]):
            wp = w[perm[p]] if ws else w[0]
            r = rows[p]
            for q in range(a):
                out[r, ks[q]] += vs[q] * wp
