"""CPU kernels of the stored sparse structures: CSR (also CSC and fixed probability) and a
fixed number of connections per presynaptic neuron (per post: the transpose); see
:mod:`evbench.ops.cpu.kernels`."""
from __future__ import annotations

import numpy as np

from .common import _count_nonzero, _group, _inline, _jit, _per_sample, _plan, _share, _times


@_inline
def _batch_parts(S, synapses, rows):
    """Parts of a batched ``events @ M`` (samples shared: 1 for a single vector)."""
    b = S.shape[0]
    if b == 1:
        return _plan(0, 1)
    return _plan(_count_nonzero(S) * (synapses // max(1, rows)), b)


@_jit
def csr_vecmat_parts(S, indptr, indices, w, out):
    return _batch_parts(S, indices.shape[0], S.shape[1])


@_jit
def csr_vecmat(S, indptr, indices, w, out, part, parts):
    """``out (b, n) = S (b, m) @ M`` for a CSR ``M``: the rows of the active inputs only (their
    ``indptr`` entries too); a single vector four rows at a time (:func:`_scatter_active`). Part
    ``part`` of ``parts`` computes a range of samples; outputs too long to share the cache
    (:func:`_per_sample`) take one sample at a time, as a single vector does."""
    b, m = S.shape
    ws = w.shape[0] == indices.shape[0]
    s0, s1 = _share(b, part, parts, 1)
    out[s0:s1, :] = 0
    if b == 1 or _per_sample(out.shape[1]):  # a sample at a time, four rows interleaved
        for k in range(s0, s1):
            _scatter_active(S[k], indptr, 0, indices, w, np.empty(0, np.int32), 1 if ws else 0, out[k])
        return
    g = _group(s1 - s0, out.shape[1])
    for k0 in range(s0, s1, g):
        k1 = min(s1, k0 + g)
        for i in range(m):
            for k in range(k0, k1):
                s = S[k, i]
                if s != 0:
                    lo, hi = indptr[i], indptr[i + 1]
                    _scatter_row(out[k], s, indices[lo:hi], w[lo:hi] if ws else w[:1], ws)


@_inline
def _scatter_row(o, s, cols, w, ws):
    """``o[cols[q]] += s * w[q]`` (``w[0]`` for every ``q`` unless ``ws``). The row comes as
    slices: a loop from 0 over views compiles to a faster scatter (~20 % at n = 1e5) than one
    over offsets into the whole arrays. A bool event adds the weights themselves (the same
    values as ``1.0 * w``, one multiplication less per synapse)."""
    if ws:
        for q in range(cols.shape[0]):
            o[cols[q]] += _times(s, w[q])
    elif cols.shape[0] > 0:
        sw = _times(s, w[0])
        for q in range(cols.shape[0]):
            o[cols[q]] += sw


# -- a single vector: the active inputs' rows, four at a time -----------------------------------


@_jit
def _scatter_active(v, ptr, K, cols, w, perm, mode, o):
    """``o += sum_r v[r] row_r`` over the active inputs ``r`` of the vector ``v``, where row ``r``
    holds the synapses ``lo .. hi`` of ``cols`` (``ptr[r] .. ptr[r + 1]``, or ``r K .. r K + K``
    when ``K > 0``) with the weights ``w[p]`` (``mode`` 1), ``w[0]`` (0) or ``w[perm[p]]`` (2).

    Rows go four at a time, their synapses interleaved (the common length, then each row's
    rest): four independent streams of loads and scatters in flight make the product 20-40 %
    faster at n = 1e5 than one row after another. An output therefore adds its terms group of
    four rows after group, in increasing row order across groups and by position then row
    within one: a fixed order that depends only on the inputs."""
    buf = np.empty(4, np.int64)
    count = 0
    for i in range(v.shape[0]):
        if v[i] != 0:
            buf[count] = i
            count += 1
            if count == 4:
                _four(v, buf, ptr, K, cols, w, perm, mode, o)
                count = 0
    for t in range(count):
        lo, hi = _bounds(buf[t], ptr, K)
        _one(o, v[buf[t]], cols, w, perm, mode, lo, hi)


@_inline
def _bounds(r, ptr, K):
    if K > 0:
        return r * K, r * K + K
    return np.int64(ptr[r]), np.int64(ptr[r + 1])


@_inline
def _one(o, s, cols, w, perm, mode, lo, hi):
    """One row's synapses ``lo .. hi``, through slices: a loop from 0 over views compiles to
    a faster scatter (~20 % at n = 1e5) than one over offsets into the whole arrays."""
    c = cols[lo:hi]
    if mode == 1:
        _scatter_row(o, s, c, w[lo:hi], True)
    elif mode == 2:
        p = perm[lo:hi]
        for q in range(c.shape[0]):
            o[c[q]] += _times(s, w[p[q]])
    else:
        _scatter_row(o, s, c, w, False)


@_jit
def _four(v, buf, ptr, K, cols, w, perm, mode, o):
    """The rows ``buf[0..3]``, interleaved over their common length, then each one's rest."""
    lo0, hi0 = _bounds(buf[0], ptr, K)
    lo1, hi1 = _bounds(buf[1], ptr, K)
    lo2, hi2 = _bounds(buf[2], ptr, K)
    lo3, hi3 = _bounds(buf[3], ptr, K)
    n = min(hi0 - lo0, hi1 - lo1, hi2 - lo2, hi3 - lo3)
    s0, s1, s2, s3 = v[buf[0]], v[buf[1]], v[buf[2]], v[buf[3]]
    c0, c1, c2, c3 = cols[lo0:lo0 + n], cols[lo1:lo1 + n], cols[lo2:lo2 + n], cols[lo3:lo3 + n]
    if mode == 1:
        w0, w1, w2, w3 = w[lo0:lo0 + n], w[lo1:lo1 + n], w[lo2:lo2 + n], w[lo3:lo3 + n]
        for q in range(n):
            o[c0[q]] += _times(s0, w0[q])
            o[c1[q]] += _times(s1, w1[q])
            o[c2[q]] += _times(s2, w2[q])
            o[c3[q]] += _times(s3, w3[q])
    elif mode == 2:
        p0, p1, p2, p3 = perm[lo0:lo0 + n], perm[lo1:lo1 + n], perm[lo2:lo2 + n], perm[lo3:lo3 + n]
        for q in range(n):
            o[c0[q]] += _times(s0, w[p0[q]])
            o[c1[q]] += _times(s1, w[p1[q]])
            o[c2[q]] += _times(s2, w[p2[q]])
            o[c3[q]] += _times(s3, w[p3[q]])
    elif n > 0:
        sw0, sw1, sw2, sw3 = _times(s0, w[0]), _times(s1, w[0]), _times(s2, w[0]), _times(s3, w[0])
        for q in range(n):
            o[c0[q]] += sw0
            o[c1[q]] += sw1
            o[c2[q]] += sw2
            o[c3[q]] += sw3
    _one(o, s0, cols, w, perm, mode, lo0 + n, hi0)
    _one(o, s1, cols, w, perm, mode, lo1 + n, hi1)
    _one(o, s2, cols, w, perm, mode, lo2 + n, hi2)
    _one(o, s3, cols, w, perm, mode, lo3 + n, hi3)


@_jit
def csr_matvec_parts(indptr, indices, w, S, out):
    return _plan(indices.shape[0] * S.shape[1], out.shape[0])


@_jit
def csr_matvec(indptr, indices, w, S, out, part, parts):
    """``out (m, b) = M @ S (n, b)`` for a CSR ``M``: every row gathers its synapses. Part
    ``part`` of ``parts`` computes the rows holding about its share of the synapses."""
    m, b = out.shape
    ws = 1 if w.shape[0] == indices.shape[0] else 0
    nnz = indices.shape[0]
    r0 = 0 if part == 0 else np.searchsorted(indptr[:m], nnz * part // parts)
    r1 = m if part == parts - 1 else np.searchsorted(indptr[:m], nnz * (part + 1) // parts)
    out[r0:r1, :] = 0
    for i in range(r0, r1):
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
def fixed_vecmat_parts(S, indices, w, out):
    return _batch_parts(S, indices.size, S.shape[1])


@_jit
def fixed_vecmat(S, indices, w, out, part, parts):
    """``out (b, n) = S (b, m) @ M``, row ``i`` of ``M`` holding the ``K`` columns ``indices[i]``
    (a single vector: four rows at a time, :func:`_scatter_active`); part ``part`` of ``parts``
    computes a range of samples."""
    b, m = S.shape
    K = indices.shape[1]
    ws = w.shape[0] == m * K
    w2 = w.reshape(m, K) if ws else w.reshape(1, 1)
    s0, s1 = _share(b, part, parts, 1)
    out[s0:s1, :] = 0
    if b == 1 or _per_sample(out.shape[1]):  # a sample at a time, four rows interleaved
        for k in range(s0, s1):
            if K > 0:
                _scatter_active(S[k], np.empty(0, np.int32), K, indices.reshape(-1), w, np.empty(0, np.int32),
                                1 if ws else 0, out[k])
        return
    g = _group(s1 - s0, out.shape[1])
    for k0 in range(s0, s1, g):
        k1 = min(s1, k0 + g)
        for i in range(m):
            for k in range(k0, k1):
                s = S[k, i]
                if s != 0:
                    _scatter_row(out[k], s, indices[i], w2[i] if ws else w2[0], ws)


@_jit
def fixed_matvec_parts(indices, w, S, out):
    return _plan(indices.size * S.shape[1], out.shape[0])


@_jit
def fixed_matvec(indices, w, S, out, part, parts):
    """``out (m, b) = M @ S (n, b)``: every row gathers its ``K`` inputs; part ``part`` of
    ``parts`` computes a range of rows."""
    m, b = out.shape
    K = indices.shape[1]
    ws = 1 if w.shape[0] == m * K else 0
    r0, r1 = _share(m, part, parts, 1)
    out[r0:r1, :] = 0
    for i in range(r0, r1):
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

#: the column index is sorted by buckets of adjacent columns first, at most this many (their
#: write positions stay in the cache), then each bucket by column
_BUCKETS = 256


#: below this many synapses a column index is built on the calling thread alone, and a thread
#: gets at least ``_MIN_RUN`` of them
_THREADED_FROM = 1 << 20
_MIN_RUN = 1 << 18


def _threads(fn, jobs):
    """``fn(*job)`` for every job, on threads when there are several (the numba functions release
    the GIL, so they run in parallel; Python threads, not numba's OpenMP layer, which clashes
    with other OpenMP runtimes in the process, NEST's among them)."""
    if len(jobs) == 1:
        fn(*jobs[0])
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(len(jobs)) as pool:
        for f in [pool.submit(fn, *job) for job in jobs]:
            f.result()


def _runs(n, chunks):
    """``chunks`` consecutive runs ``(lo, hi)`` covering ``range(n)``: one below the threshold."""
    T = max(1, min(chunks, n // max(1, _MIN_RUN))) if n >= _THREADED_FROM else 1
    edges = [n * t // T for t in range(T + 1)]
    return list(zip(edges[:-1], edges[1:]))


@_jit
def _fill_zero(a, lo, hi):
    a[lo:hi] = 0


def touch(a, chunks):
    """Write zeros to ``a`` in order, ``chunks`` runs on threads: the first touch of its pages,
    done before :func:`column_index` writes them in a scattered order."""
    _threads(_fill_zero, [(a, lo, hi) for lo, hi in _runs(a.shape[0], chunks)])


@_jit
def _count_buckets(cols, lo, hi, shift, count):
    for s in range(lo, hi):
        count[cols[s] >> shift] += 1


@_jit
def _scatter_buckets(cols, lo, hi, shift, nxt, src, col):
    for s in range(lo, hi):
        c = cols[s]
        q = nxt[c >> shift]
        nxt[c >> shift] = q + 1
        src[q] = s
        col[q] = c


@_jit
def _sort_buckets(b0, b1, start, shift, row_ptr, K, src, col, indptr, rows, perm):
    """Buckets ``b0:b1``, each through a scratch copy, by column; rows from positions."""
    n_cols = indptr.shape[0] - 1
    width = 1 << shift
    with_perm = perm.shape[0] > 0
    longest = 0
    for b in range(b0, b1):
        longest = max(longest, start[b + 1] - start[b])
    src_s = np.empty(longest, np.int32)
    col_s = np.empty(longest, np.int32)
    at = np.empty(width + 1, np.int64)
    for b in range(b0, b1):
        lo, hi = start[b], start[b + 1]
        c0 = b << shift
        wb = min(width, n_cols - c0)
        at[: wb + 1] = 0
        for t in range(hi - lo):
            col_s[t] = col[lo + t] - c0
            at[col_s[t] + 1] += 1
        for t in range(hi - lo):
            src_s[t] = src[lo + t]
        at[0] = lo
        for j in range(wb):
            at[j + 1] += at[j]
            indptr[c0 + j + 1] = at[j + 1]
        r = 0
        if K == 0 and hi > lo:  # the row of the bucket's first position, then one walk
            r = np.searchsorted(row_ptr, src_s[0], side="right") - 1
        for t in range(hi - lo):
            j = col_s[t]
            q = at[j]
            at[j] = q + 1
            sv = src_s[t]
            if K > 0:
                rows[q] = sv // K
            else:
                while row_ptr[r + 1] <= sv:  # positions increase within a bucket
                    r += 1
                rows[q] = r
            if with_perm:
                perm[q] = sv


def column_index(row_ptr, cols, K, indptr, rows, perm, tmp, chunks):
    """Sort the synapses by column, stably: ``indptr`` gets the column pointers, ``rows`` the row
    of each synapse in column order and ``perm`` (unless empty) its position in storage order.
    Row ``i`` holds synapses ``row_ptr[i]:row_ptr[i + 1]``, or ``i K .. (i + 1) K`` when
    ``K > 0`` (a fixed number per row: ``row_ptr`` is not read). ``tmp`` is scratch of one
    int32 per synapse, needed (else empty) when ``perm`` is empty.

    A counting sort in two passes (a single pass writes to one place per column, and past
    about 10^4 columns those places no longer fit in the cache): the synapses by bucket of
    ``2^shift`` adjacent columns (their positions in ``perm`` or ``tmp``, their columns in
    ``rows``), then each bucket, through a scratch copy, by column, the rows found from the
    positions (which increase within a bucket). The caller hands over arrays already written
    once: a first touch of a page in this scattered order costs about as much as the sort.

    From ``_THREADED_FROM`` synapses on, both passes run on up to ``chunks`` threads: the first
    over consecutive runs of synapses, each with its own write cursor per bucket (run ``t``'s
    synapses go after run ``t - 1``'s in every bucket, so the order is the serial one), the
    second over runs of buckets. The result does not depend on ``chunks``."""
    n_cols = indptr.shape[0] - 1
    nnz = cols.shape[0]
    indptr[:] = 0
    if nnz == 0:
        return
    src = perm if perm.shape[0] > 0 else tmp   # each synapse's position, in bucket order
    col = rows                                 # and its column, until pass 2 writes the rows
    shift = 0
    while (n_cols - 1) >> shift >= _BUCKETS:
        shift += 1
    n_b = ((n_cols - 1) >> shift) + 1
    runs = _runs(nnz, chunks)
    count = np.zeros((len(runs), n_b), np.int64)
    _threads(_count_buckets, [(cols, lo, hi, shift, count[t]) for t, (lo, hi) in enumerate(runs)])
    # cursor[t, b]: where run t's synapses of bucket b go (after every earlier run's)
    cursor = (np.cumsum(count.T.reshape(-1)) - count.T.reshape(-1)).reshape(n_b, len(runs)).T.copy()
    start = np.append(cursor[0], nnz).astype(np.int64)
    _threads(_scatter_buckets, [(cols, lo, hi, shift, cursor[t], src, col) for t, (lo, hi) in enumerate(runs)])
    bounds = [0] + [int(np.searchsorted(start, nnz * t // len(runs))) for t in range(1, len(runs))] + [n_b]
    _threads(_sort_buckets, [(b0, b1, start, shift, row_ptr, K, src, col, indptr, rows, perm)
                             for b0, b1 in zip(bounds[:-1], bounds[1:]) if b1 > b0])


@_jit
def _per_sample_matvec(indptr, rows, perm, w, S, out, s0, s1):
    """Samples ``s0 .. s1`` of an indexed ``M @ S``, each as a single vector: the samples' events
    copied out once (row by row of ``S``), each product into a row of its own, then written
    back as ``out``'s columns, one row of ``out`` after the other."""
    n, m, c = S.shape[0], out.shape[0], s1 - s0
    St = np.empty((c, n), S.dtype)
    for j in range(n):
        for k in range(c):
            St[k, j] = S[j, s0 + k]
    O = np.zeros((c, m), out.dtype)
    for k in range(c):
        _scatter_active(St[k], indptr, 0, rows, w, perm, 2 if perm.shape[0] > 0 else 0, O[k])
    for r in range(m):
        for k in range(c):
            out[r, s0 + k] = O[k, r]


@_jit
def indexed_matvec_parts(indptr, rows, perm, w, S, out):
    b = S.shape[1]
    if b == 1:
        return _plan(0, 1)
    return _plan(_count_nonzero(S) * (rows.shape[0] // max(1, S.shape[0])), b)


@_jit
def indexed_matvec(indptr, rows, perm, w, S, out, part, parts):
    """``out (m, b) = M @ S (n, b)`` through a column index: the columns of the active inputs
    only, each scattering its synapses into their rows (weights ``w[perm[p]]``, or ``w[0]``
    when ``perm`` is empty). Part ``part`` of ``parts`` computes a range of samples, into a
    buffer of its own when there are several (samples of one row share a cache line)."""
    n, b = S.shape
    ws = perm.shape[0] > 0
    if b == 1:
        out[:, :] = 0
        _scatter_active(S.reshape(-1), indptr, 0, rows, w, perm, 2 if ws else 0, out.reshape(-1))
        return
    s0, s1 = _share(b, part, parts, 1)
    if _per_sample(out.shape[0]):  # a sample at a time, as a single vector, four columns interleaved
        _per_sample_matvec(indptr, rows, perm, w, S, out, s0, s1)
        return
    acc = out if parts == 1 else np.empty((out.shape[0], s1 - s0), out.dtype)
    c0 = s0 if parts == 1 else 0
    acc[:, c0:c0 + s1 - s0] = 0
    ks = np.empty(b, np.int64)    # the samples in which input j is active
    vs = np.empty(b, out.dtype)   # and their events
    for j in range(n):
        a = 0
        for k in range(s0, s1):
            if S[j, k] != 0:
                ks[a] = k - s0 + c0
                vs[a] = S[j, k]
                a += 1
        if a == 0:
            continue
        for p in range(indptr[j], indptr[j + 1]):
            wp = w[perm[p]] if ws else w[0]
            r = rows[p]
            for q in range(a):
                acc[r, ks[q]] += vs[q] * wp
    if parts > 1:
        out[:, s0:s1] = acc
