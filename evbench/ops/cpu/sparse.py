"""CPU kernels of the stored sparse structures: CSR (also CSC and fixed probability) and a
fixed number of connections per presynaptic neuron (per post: the transpose); see
:mod:`evbench.ops.cpu.kernels`."""
from __future__ import annotations

from .common import _group, _jit


@_jit
def csr_vecmat(S, indptr, indices, w, out):
    """``out (b, n) = S (b, m) @ M`` for a CSR ``M``: the rows of the active inputs only."""
    b, m = S.shape
    ws = 1 if w.shape[0] == indices.shape[0] else 0
    out[:, :] = 0
    g = _group(b, out.shape[1])
    for k0 in range(0, b, g):
        for i in range(m):
            for k in range(k0, min(b, k0 + g)):
                s = S[k, i]
                if s != 0:
                    lo, hi = indptr[i], indptr[i + 1]  # read for the active rows only
                    if ws:
                        for p in range(lo, hi):
                            out[k, indices[p]] += s * w[p]
                    else:
                        sw = s * w[0]
                        for p in range(lo, hi):
                            out[k, indices[p]] += sw


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
    """``out (b, n) = S (b, m) @ M``, row ``i`` of ``M`` holding the ``K`` columns ``indices[i]``."""
    b, m = S.shape
    K = indices.shape[1]
    ws = 1 if w.shape[0] == m * K else 0
    out[:, :] = 0
    g = _group(b, out.shape[1])
    for k0 in range(0, b, g):
        for i in range(m):
            for k in range(k0, min(b, k0 + g)):
                s = S[k, i]
                if s != 0:
                    if ws:
                        for q in range(K):
                            out[k, indices[i, q]] += s * w[i * K + q]
                    else:
                        sw = s * w[0]
                        for q in range(K):
                            out[k, indices[i, q]] += sw


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
