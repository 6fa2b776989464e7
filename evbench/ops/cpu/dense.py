"""CPU kernels of event × dense weights (see :mod:`evbench.ops.cpu.kernels`)."""
from __future__ import annotations

import numpy as np

from .common import _count_nonzero, _event_lists, _group, _inline, _jit, _plan, _share, _times


@_jit
def dense_vecmat_parts(S, W, out):
    # a quarter of a unit per element: streamed and vectorised (a unit is about a synapse's work)
    return _plan(_count_nonzero(S) * W.shape[1] // 4, (W.shape[1] + 15) // 16)


@_jit
def dense_vecmat(S, W, out, part, parts):
    """``out (b, n) = S (b, m) @ W (m, n)``: the rows of the active inputs, added in order
    (a single vector: eight rows at a time, :func:`_eight`); part ``part`` of ``parts`` computes a range of
    output columns (cut at cache lines)."""
    b, m = S.shape
    n = W.shape[1]
    j0, j1 = _share(n, part, parts, 16)
    out[:, j0:j1] = 0
    if b == 1:  # eight active rows at a time: eight streams in flight, an eighth of the output traffic
        ptr, idx, vals = _event_lists(S)
        na = ptr[1]
        o = out[0, j0:j1]
        for t in range(0, na - na % 8, 8):
            _eight(o, W, idx, vals, t, j0, j1)
        for t in range(na - na % 8, na):
            w0, s = W[idx[t], j0:j1], vals[t]
            for j in range(j1 - j0):
                o[j] += _times(s, w0[j])
        return
    g = _group(b, n)
    for k0 in range(0, b, g):
        for i in range(m):
            for k in range(k0, min(b, k0 + g)):
                s = S[k, i]
                if s != 0:
                    for j in range(j0, j1):
                        out[k, j] += s * W[i, j]



@_inline
def _eight(o, W, idx, vals, t, j0, j1):
    """``o += sum_q vals[t + q] W[idx[t + q], j0:j1]`` for ``q < 8``, summed as a fixed tree
    (pairs, then pairs of pairs): eight rows streamed at once read at the memory's bandwidth
    (four reached about 80 % of it); a bool event adds the row itself."""
    w0, w1, w2, w3 = W[idx[t], j0:j1], W[idx[t + 1], j0:j1], W[idx[t + 2], j0:j1], W[idx[t + 3], j0:j1]
    w4, w5, w6, w7 = W[idx[t + 4], j0:j1], W[idx[t + 5], j0:j1], W[idx[t + 6], j0:j1], W[idx[t + 7], j0:j1]
    s0, s1, s2, s3 = vals[t], vals[t + 1], vals[t + 2], vals[t + 3]
    s4, s5, s6, s7 = vals[t + 4], vals[t + 5], vals[t + 6], vals[t + 7]
    for j in range(j1 - j0):
        o[j] += (((_times(s0, w0[j]) + _times(s1, w1[j])) + (_times(s2, w2[j]) + _times(s3, w3[j])))
                 + ((_times(s4, w4[j]) + _times(s5, w5[j])) + (_times(s6, w6[j]) + _times(s7, w7[j]))))


@_jit
def dense_matvec_parts(W, S, out):
    return _plan(_count_nonzero(S) * W.shape[0], (W.shape[0] + 7) // 8)


@_jit
def dense_matvec(W, S, out, part, parts):
    """``out (m, b) = W (m, n) @ S (n, b)``: each row gathers, for each sample, the columns of
    that sample's active inputs (per-sample lists: the work per sample is the vector's). Rows
    go eight at a time with eight sums, so eight independent loads are in flight (a gather of
    one row at a time waits on one cache miss after another); the eight rows stay in cache
    across the samples. Part ``part`` of ``parts`` computes a range of rows."""
    n, b = S.shape
    r0, r1 = _share(W.shape[0], part, parts, 8)
    count, idx, vals = _event_lists(S.T)  # sample k: inputs idx[count[k]:count[k + 1]]
    m8 = r0 + (r1 - r0) // 8 * 8
    m = r1
    zero = np.zeros(1, out.dtype)[0]
    for i in range(r0, m8, 8):
        for k in range(b):
            a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = zero
            for t in range(count[k], count[k + 1]):
                j, v = idx[t], vals[t]
                a0 += W[i, j] * v
                a1 += W[i + 1, j] * v
                a2 += W[i + 2, j] * v
                a3 += W[i + 3, j] * v
                a4 += W[i + 4, j] * v
                a5 += W[i + 5, j] * v
                a6 += W[i + 6, j] * v
                a7 += W[i + 7, j] * v
            out[i, k], out[i + 1, k], out[i + 2, k], out[i + 3, k] = a0, a1, a2, a3
            out[i + 4, k], out[i + 5, k], out[i + 6, k], out[i + 7, k] = a4, a5, a6, a7
    for i in range(m8, m):
        for k in range(b):
            acc = zero
            for t in range(count[k], count[k + 1]):
                acc += W[i, idx[t]] * vals[t]
            out[i, k] = acc


# -- CSR (and CSC, fixed probability: CSR underneath) ----------------------------------------
