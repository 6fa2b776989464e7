"""CPU kernels of just-in-time connectivity (conventions: :mod:`evbench.ops.cpu.kernels`).

They run the scheme of :mod:`evbench.ops.jitc` (its docstring; the same hash, the same integer
skips: bitwise the same matrix as the portable path and ``reference/jitconn.py``), one row at a
time: slot ``t`` of row ``i`` has the key ``base = mix(row_key ^ t)``, its skip is read from
``n_bits`` binary digits ``mix(base ^ C_l) < T_l``, and the row ends at the first column
``>= n_cols`` (or at an overflow draw). A row is generated a block of slots at a time, sized to
the synapses expected in the rest of the row (at most ``MAX_BLOCK``; any size gives the same
row), in stages that are each one loop over the block, so that the compiler vectorises or
pipelines them: keys and skips (:func:`_slots`), columns (:func:`_columns`, a running sum),
weights of the synapses before the row's end only (:func:`_weights`), then the scatter into
the output of each sample in which the row is active. Normal weights come from
:mod:`evbench.ops.cpu.normal` (float32 arithmetic for float32 weights). Scratch memory is a
few arrays of one block: O(1) in the size.
"""
from __future__ import annotations

import numba as nb
import numpy as np

from .common import _count_nonzero, _event_lists, _group, _inline, _jit, _plan, _share
from .normal import _normal, _normal32

_M32 = np.uint64(0xFFFFFFFF)
_C1 = np.uint64(0x7FEB352D)
_C2 = np.uint64(0x846CA68B)
_S15, _S16 = np.uint64(15), np.uint64(16)
_SEED_KEY = np.uint64(0x6A09E667)
_ALWAYS = np.uint64(0xFFFFFFFF)
#: the most slots generated per block in the just-in-time kernels
MAX_BLOCK = 512


@_inline
def _mix(x):
    """The mixer on a uint64 holding a 32-bit value (scalar code)."""
    x ^= x >> _S16
    x = (x * _C1) & _M32
    x ^= x >> _S15
    x = (x * _C2) & _M32
    x ^= x >> _S16
    return x


_U15, _U16 = np.uint32(15), np.uint32(16)
_D1, _D2 = np.uint32(0x7FEB352D), np.uint32(0x846CA68B)


@_inline
def _mix32(x):
    """The mixer in uint32 arithmetic (what the block loops use: it vectorises)."""
    x = np.uint32(x ^ (x >> _U16))
    x = np.uint32(x * _D1)
    x = np.uint32(x ^ (x >> _U15))
    x = np.uint32(x * _D2)
    return np.uint32(x ^ (x >> _U16))


@_inline
def _row_key(seed, i):
    return _mix(_mix(np.uint64(seed) ^ _SEED_KEY) ^ np.uint64(i))


@_jit
def _slots(row_key, t0, n_slots, table, keys, n_bits, overflow, base, skip):
    """Keys and skips (uint32) of slots ``t0 .. t0 + n_slots``; an overflow draw (the row
    ends) sets the skip to ``2^32 - 1``, past any column. Branch-free loops over the block."""
    rk = np.uint32(row_key)
    for s in range(n_slots):
        base[s] = _mix32(np.uint32(rk ^ np.uint32(t0 + s)))
        skip[s] = 0
    for level in range(n_bits):
        thr = np.uint32(table[level])
        key = np.uint32(keys[level])
        sh = np.uint32(level)
        for s in range(n_slots):
            h = _mix32(np.uint32(base[s] ^ key))
            skip[s] = np.uint32(skip[s] | np.uint32(np.uint32(h < thr) << sh))
    if overflow:
        thr = np.uint32(table[32])
        key = np.uint32(keys[32])
        always = thr == np.uint32(0xFFFFFFFF)
        for s in range(n_slots):
            if always or _mix32(np.uint32(base[s] ^ key)) < thr:
                skip[s] = np.uint32(0xFFFFFFFF)


@_jit
def _columns(skip, n_slots, c, col, n):
    """``col[s]``: the column of slot ``s`` of the block, the previous synapse being at column
    ``c`` (``c_t = c_{t-1} + skip_t + 1``); returns how many are below ``n`` (the columns
    increase: those are the first ones). No branch: the loops vectorise or pipeline."""
    for s in range(n_slots):
        c += np.int64(skip[s]) + 1
        col[s] = c
    count = 0
    for s in range(n_slots):
        count += col[s] < n
    return count


@_jit
def _normal_block64(keys, base, n_slots, z):
    """``z[s]``: the standard normal draw of slot ``s`` (float64). The loop vectorises (one more
    loop in this function, or the parameters among its arguments, and LLVM leaves it scalar:
    check with ``inspect_asm`` if you edit)."""
    k33, k34 = np.uint32(keys[33]), np.uint32(keys[34])
    for s in range(n_slots):
        z[s] = _normal(_mix32(np.uint32(base[s] ^ k33)), _mix32(np.uint32(base[s] ^ k34)))


@_jit
def _normal_block32(keys, base, n_slots, z):
    """``z[s]``: the standard normal draw of slot ``s`` (float32 arithmetic; vectorises)."""
    k33, k34 = np.uint32(keys[33]), np.uint32(keys[34])
    for s in range(n_slots):
        z[s] = _normal32(_mix32(np.uint32(base[s] ^ k33)), _mix32(np.uint32(base[s] ^ k34)))


def _normal_block(keys, base, n_slots, z):
    """The block's normal draws in the dtype of ``z`` (dispatched when compiled)."""


@nb.extending.overload(_normal_block)
def _normal_block_impl(keys, base, n_slots, z):
    if z.dtype == nb.types.float32:
        return lambda keys, base, n_slots, z: _normal_block32(keys, base, n_slots, z)
    return lambda keys, base, n_slots, z: _normal_block64(keys, base, n_slots, z)


@_jit
def _uniform_block(keys, base, n_slots, z):
    """``z[s] = (d_33 >> 8)`` in the dtype of ``z`` (exact: below 2^24)."""
    k33 = np.uint32(keys[33])
    for s in range(n_slots):
        z[s] = _mix32(np.uint32(base[s] ^ k33)) >> np.uint32(8)


@_jit
def _weights(kind, keys, params, base, n_slots, z):
    """``z[s]``: the weight of slot ``s`` for ``kind`` 1 (uniform) or 2 (normal), in the weight
    dtype: ``p0 + (p1 - p0) (u 2^-24)`` and ``p0 + p1 z``, the portable path's arithmetic."""
    p0, p1, scale = params[0], params[1], params[2]
    if kind == 1:
        _uniform_block(keys, base, n_slots, z)
        span = p1 - p0
        for s in range(n_slots):
            z[s] = p0 + span * (z[s] * scale)
    else:
        _normal_block(keys, base, n_slots, z)
        for s in range(n_slots):
            z[s] = p0 + p1 * z[s]


@_inline
def _weight(kind, params, b, keys, u):
    """The weight of the synapse with slot key ``b`` (scalar code, the same values as
    :func:`_weights`); ``u`` is a one-element scratch array of the weight dtype."""
    if kind == 0:
        return params[0]
    if kind == 1:
        u[0] = _mix(b ^ np.uint64(keys[33])) >> np.uint64(8)
        return params[0] + (params[1] - params[0]) * (u[0] * params[2])
    _normal_into(u, _mix(b ^ np.uint64(keys[33])), _mix(b ^ np.uint64(keys[34])))
    return params[0] + params[1] * u[0]


def _normal_into(u, h1, h2):
    """``u[0]``: the normal draw of ``h1``, ``h2`` in the dtype of ``u`` (dispatched when compiled)."""


@nb.extending.overload(_normal_into)
def _normal_into_impl(u, h1, h2):
    if u.dtype == nb.types.float32:
        def impl32(u, h1, h2):
            u[0] = _normal32(h1, h2)
        return impl32

    def impl64(u, h1, h2):
        u[0] = _normal(h1, h2)
    return impl64


@_jit
def jitc_vecmat_parts(S, seed, table, keys, params, meta, out):
    b = S.shape[0]
    if b == 1:
        return _plan(0, 1)
    return _plan(np.int64(_count_nonzero(S) * (out.shape[1] * params[5] + 1)) * 4, b)


@_jit
def jitc_vecmat(S, seed, table, keys, params, meta, out, part, parts):
    """``out (b, n) = S (b, m) @ M``, ``M`` generated row by row: the rows of the active inputs.
    ``meta = (n_bits, overflow, kind, block)``: ``kind`` 0 scalar, 1 uniform, 2 normal;
    ``block`` the most slots generated at a time; ``params = (p0, p1, 2^-24, -2, 2 pi, p)``.
    Part ``part`` of ``parts`` computes a range of samples."""
    b, m = S.shape
    n = out.shape[1]
    n_bits, overflow, kind, block = meta[0], meta[1] != 0, meta[2], meta[3]
    base = np.empty(block, np.uint32)
    skip = np.empty(block, np.uint32)
    col = np.empty(block, np.int64)
    z = np.empty(block, params.dtype)  # the block's weights
    ks = np.empty(b, np.int64)         # the samples in which input i is active
    vs = np.empty(b, params.dtype)     # and their events
    s0, s1 = _share(b, part, parts, 1)
    out[s0:s1, :] = 0
    if b == 1:  # a 1-D scan of the events
        v = S[0]
        ks[0] = 0
        for i in range(m):
            if v[i] != 0:
                vs[0] = v[i]
                _row(i, seed[0], table, keys, params, n_bits, overflow, kind, block, base, skip, col, z, ks, vs, 1,
                     out)
        return
    g = _group(s1 - s0, n)
    for k0 in range(s0, s1, g):
        for i in range(m):
            a = 0
            for k in range(k0, min(s1, k0 + g)):
                if S[k, i] != 0:
                    ks[a] = k
                    vs[a] = S[k, i]
                    a += 1
            if a != 0:
                _row(i, seed[0], table, keys, params, n_bits, overflow, kind, block, base, skip, col, z, ks, vs, a,
                     out)


@_jit
def _row(i, seed, table, keys, params, n_bits, overflow, kind, block, base, skip, col, z, ks, vs, a, out):
    """Row ``i``, generated once, added to the outputs of the ``a`` samples ``ks`` with events
    ``vs``. A block goes through stages, each a loop over the block: keys and skips, columns,
    weights (of the synapses in the row only), then the scatter."""
    n = out.shape[1]
    row_key = _row_key(seed, i)
    c, t0 = np.int64(-1), 0
    while True:
        size = _block_size(c, n, params[5], block)
        _slots(row_key, t0, size, table, keys, n_bits, overflow, base, skip)
        count = _columns(skip, size, c, col, n)
        if kind != 0:
            _weights(kind, keys, params, base, count, z)
        for q in range(a):
            _scatter(out[ks[q]], vs[q], col, z, params[0], kind == 0, count)
        if count < size:
            return
        c = col[size - 1]
        t0 += size


@_inline
def _block_size(c, n, p, cap):
    """Slots to generate after column ``c``: the expected synapses left, ``e = (n - 1 - c) p``,
    plus ``sqrt(e) + 4`` (a longer row continues in a further block), within [8, ``cap``].
    Any size gives the same row: only the slots generated past its end change."""
    e = np.float64(n - 1 - c) * np.float64(p)
    return max(8, min(cap, np.int64(e + np.sqrt(e) + 4.0)))


@_inline
def _scatter(o, v, col, z, w0, scalar, count):
    """``o[col[s]] += v * w_s`` for the first ``count`` slots (``w_s = w0`` when ``scalar``)."""
    if scalar:
        vw = v * w0
        for s in range(count):
            o[col[s]] += vw
    elif v == 1:  # a bool event, or 1.0: the weights themselves (the same values)
        for s in range(count):
            o[col[s]] += z[s]
    else:
        for s in range(count):
            o[col[s]] += v * z[s]


@_jit
def jitc_matvec_parts(seed, table, keys, params, meta, S, out):
    m = out.shape[0]
    return _plan(np.int64(m * (S.shape[0] * params[5] + 1)) * 4, m)


@_jit
def jitc_matvec(seed, table, keys, params, meta, S, out, part, parts):
    """``out (m, b) = M @ S (n, b)``, every row of ``M`` generated (O(m n p)); weights are drawn
    only for the synapses that meet an active input. The events are first listed per input
    (scratch of the size of the input's events), so each synapse visits only its samples. Part
    ``part`` of ``parts`` computes a range of rows."""
    n, b = S.shape
    r0, r1 = _share(out.shape[0], part, parts, 1)
    n_bits, overflow, kind, block = meta[0], meta[1] != 0, meta[2], meta[3]
    base = np.empty(block, np.uint32)
    skip = np.empty(block, np.uint32)
    col = np.empty(block, np.int64)
    u = np.empty(1, params.dtype)
    # the events of each input as a list (input c: samples ks[ptr[c]:ptr[c + 1]], values vs)
    ptr, ks, vs = _event_lists(S)
    out[r0:r1, :] = 0
    for i in range(r0, r1):
        row_key = _row_key(seed[0], i)
        c, t0 = np.int64(-1), 0
        while True:
            size = _block_size(c, n, params[5], block)
            _slots(row_key, t0, size, table, keys, n_bits, overflow, base, skip)
            count = _columns(skip, size, c, col, n)
            for s in range(count):
                j = col[s]
                if ptr[j + 1] > ptr[j]:
                    w = _weight(kind, params, np.uint64(base[s]), keys, u)
                    for q in range(ptr[j], ptr[j + 1]):
                        out[i, ks[q]] += w * vs[q]
            if count < size:
                break
            c = col[size - 1]
            t0 += size
