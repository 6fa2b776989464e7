"""What the CPU kernels share: numba's compile options, the batch grouping, event lists."""
from __future__ import annotations

import numba as nb
import numpy as np

_jit = nb.njit(cache=True, nogil=True, boundscheck=False, error_model="numpy")
_inline = nb.njit(cache=True, nogil=True, boundscheck=False, error_model="numpy", inline="always")

#: output elements of the samples handled together by the ``*_vecmat`` kernels: a batch is
#: processed in groups of samples whose outputs fit in the L2 cache (512 KB of float32), so a
#: scatter into a long output row does not miss the cache once per synapse
_GROUP_ELEMENTS = 1 << 17


@_inline
def _plan(work, units):
    """A kernel's plan: ``(work, units)``, the synapses or elements the call visits and the
    outputs or samples there are to share; the handler splits the call into at most ``units``
    parts of at least :data:`evbench.ops.cpu.threads.MIN_WORK` each, and at most the thread count."""
    return np.int64(work), np.int64(units)


@_inline
def _share(n, part, parts, align):
    """``[lo, hi)``: part ``part`` of ``parts`` of ``range(n)``, cut at multiples of ``align``."""
    units = (n + align - 1) // align
    return min(n, units * part // parts * align), min(n, units * (part + 1) // parts * align)


@_inline
def _per_sample(n_out):
    """Whether a batch's outputs of length ``n_out`` are too long for two samples to share the
    L2 cache: then each sample runs as a single vector does (four rows interleaved), otherwise
    samples go in groups (:func:`_group`). It depends on the length only, never on how the
    samples are shared among threads: the same order, the same bits."""
    return _GROUP_ELEMENTS // max(n_out, 1) < 2


@_jit
def _count_nonzero(S):
    c = 0
    for x in S.reshape(-1):
        if x != 0:
            c += 1
    return c


@_inline
def _group(b, n_out):
    """Samples per group for outputs of length ``n_out``: at least 1, at most ``b``."""
    return max(1, min(b, _GROUP_ELEMENTS // max(n_out, 1)))


@_jit
def _event_lists(A):
    """The non-zero entries of ``A (r, c)`` listed row by row, CSR-like: row ``i`` has columns
    ``idx[ptr[i]:ptr[i + 1]]`` (increasing) with values ``vals[...]``. Two passes: count, fill."""
    r, c = A.shape
    ptr = np.zeros(r + 1, np.int64)
    for i in range(r):
        for j in range(c):
            if A[i, j] != 0:
                ptr[i + 1] += 1
    for i in range(r):
        ptr[i + 1] += ptr[i]
    idx = np.empty(ptr[r], np.int64)
    vals = np.empty(ptr[r], A.dtype)
    for i in range(r):
        q = ptr[i]
        for j in range(c):
            if A[i, j] != 0:
                idx[q] = j
                vals[q] = A[i, j]
                q += 1
    return ptr, idx, vals


def _times(s, w):
    """``s * w``, or ``w`` for a bool ``s`` (which is True where it is used)."""


@nb.extending.overload(_times, inline="always")
def _times_impl(s, w):
    if isinstance(s, nb.types.Boolean):
        return lambda s, w: w
    return lambda s, w: s * w
