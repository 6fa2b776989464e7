"""CPU kernels of just-in-time connectivity (conventions: :mod:`evbench.ops.cpu.kernels`).

Just-in-time connectivity: the scheme of :mod:`evbench.ops.jitc` (its docstring), one row at a
time: slot ``t`` of row ``i`` has the key ``base = mix(row_key ^ t)``, its skip is read from
``n_bits`` binary digits ``mix(base ^ C_l) < T_l``, and the row ends at the first column
``>= n_cols`` (or at an overflow draw). Slots are generated a block at a time (about the
expected row length, at most ``MAX_BLOCK``) into two small buffers: the digit loop runs over
the block, so the compiler vectorises it, and the memory is O(1) in the size. Weights are
drawn only for the synapses a product uses.
"""
from __future__ import annotations

import math

import numba as nb
import numpy as np

from .common import _event_lists, _group, _inline, _jit

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


@nb.extending.intrinsic
def _f64_bits(typingctx, x):
    """The bits of a float64 as an int64 (a bitcast: vectorises)."""
    from llvmlite import ir
    from numba import types

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


@nb.extending.intrinsic
def _bits_f64(typingctx, x):
    """The float64 with the bits of an int64 (a bitcast)."""
    from llvmlite import ir
    from numba import types

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


_LN2 = 0.6931471805599453
_SQRT2 = 1.4142135623730951
_TWO_PI = 6.283185307179586
_MANTISSA = np.int64((1 << 52) - 1)
_ONE_BITS = np.int64(1023 << 52)
_I52 = np.int64(52)


#: Taylor coefficients, highest power first: atanh(s) / s = sum s^2k / (2k + 1) to s^22;
#: cos(a) to a^20; (a - sin(a)) / a^3 to a^16 (sin to a^19)
_LOG_SERIES = tuple(1.0 / k for k in range(23, 0, -2))
_COS_SERIES = tuple((-1.0) ** (k // 2) / math.factorial(k) for k in range(20, -1, -2))
_SIN_SERIES = tuple((-1.0) ** ((k - 3) // 2) / math.factorial(k) for k in range(19, 2, -2))


@_inline
def _horner(x, coeffs):
    """``sum coeffs[i] x^(n - 1 - i)`` (a constant tuple: the loop is unrolled)."""
    acc = 0.0
    for c in coeffs:
        acc = c + x * acc
    return acc


@_inline
def _normal(h1, h2):
    """``z = sqrt(-2 ln u1) cos(2 pi u2)``, ``u1 = ((h1 >> 8) + 1) 2^-24``, ``u2 = (h2 >> 8) 2^-24``
    (``h1``, ``h2``: 32-bit draws), in float64 with polynomials instead of ``log`` and ``cos``
    (branch-free arithmetic: a loop over a block vectorises; the C library's ``log``/``cos``
    would be called once per synapse). Error below 1e-15: float32 weights are the correctly
    rounded float64 ones, within the bound of :mod:`evbench.ops.jitc`.

    ``ln u1 = ln k - 24 ln 2``, ``k = 2^e m``, ``m`` in [sqrt(1/2), sqrt(2)): ``ln m = 2 atanh s``,
    ``s = (m - 1) / (m + 1)``, ``|s| <= 0.172``, series to ``s^23``. ``cos(2 pi x)``: ``x`` folded to
    [0, 1/8] by symmetry, then the Taylor series of ``cos`` or ``sin`` on [0, pi/4] to ``x^20``."""
    k = np.float64((np.uint32(h1) >> np.uint32(8)) + np.uint32(1))
    bits = _f64_bits(k)
    e = np.float64((bits >> _I52) - 1023)
    m = _bits_f64((bits & _MANTISSA) | _ONE_BITS)
    big = np.float64(m > _SQRT2)  # selects as arithmetic (branches would stop vectorisation)
    m = m * (1.0 - 0.5 * big)
    e = e + big
    t = (m - 1.0) / (m + 1.0)
    t2 = t * t
    q = _horner(t2, _LOG_SERIES)
    log_u1 = (e - 24.0) * _LN2 + 2.0 * t * q
    r = np.sqrt(-2.0 * log_u1)

    x = np.float64(np.uint32(h2) >> np.uint32(8)) * 5.9604644775390625e-08  # 2^-24: [0, 1)
    y = np.abs(x - np.floor(x + 0.5))  # cos(2 pi x) = cos(2 pi y), y in [0, 1/2]
    neg = np.float64(y > 0.25)
    y = y + neg * (0.5 - 2.0 * y)      # cos(2 pi y) = -cos(2 pi (1/2 - y))
    use_sin = np.float64(y > 0.125)
    y = y + use_sin * (0.25 - 2.0 * y)  # cos(2 pi y) = sin(2 pi (1/4 - y)), y in [0, 1/8]
    a = _TWO_PI * y
    a2 = a * a
    c = _horner(a2, _COS_SERIES)
    sn = a - a * a2 * _horner(a2, _SIN_SERIES)
    v = c + use_sin * (sn - c)
    return r * v * (1.0 - 2.0 * neg)


@_inline
def _weight(kind, params, b, keys, u):
    """The weight of the synapse with slot key ``b`` (scalar, uniform or normal; see
    :mod:`evbench.ops.jitc`); ``params = (p0, p1, 2^-24, -2, 2 pi)`` in the weight dtype and ``u``
    a one-element scratch array of that dtype (integer -> weight dtype conversion)."""
    if kind == 0:
        return params[0]
    if kind == 1:
        u[0] = _mix(b ^ np.uint64(keys[33])) >> np.uint64(8)
        return params[0] + (params[1] - params[0]) * (u[0] * params[2])
    u[0] = _normal(_mix(b ^ np.uint64(keys[33])), _mix(b ^ np.uint64(keys[34])))
    return params[0] + params[1] * u[0]


@_jit
def _normal_block(keys, base, n_slots, z):
    """``z[s]``: the standard normal draw of slot ``s`` of the block (the weight is
    ``p0 + p1 z``). The loop vectorises (one more loop in this function, or the parameters
    among its arguments, and LLVM leaves it scalar: check with ``inspect_asm`` if you edit)."""
    k33, k34 = np.uint32(keys[33]), np.uint32(keys[34])
    for s in range(n_slots):
        z[s] = _normal(_mix32(np.uint32(base[s] ^ k33)), _mix32(np.uint32(base[s] ^ k34)))


@_jit
def jitc_vecmat(S, seed, table, keys, params, meta, out):
    """``out (b, n) = S (b, m) @ M``, ``M`` generated row by row: the rows of the active inputs.
    ``meta = (n_bits, overflow, kind, block)``: ``kind`` 0 scalar, 1 uniform, 2 normal;
    ``block`` the slots generated at a time."""
    b, m = S.shape
    n = out.shape[1]
    n_bits, overflow, kind, block = meta[0], meta[1] != 0, meta[2], meta[3]
    base = np.empty(block, np.uint32)
    skip = np.empty(block, np.uint32)
    u = np.empty(1, params.dtype)
    wb = np.empty(block, params.dtype)  # the block's normal draws
    ks = np.empty(b, np.int64)      # the samples in which input i is active
    vs = np.empty(b, params.dtype)  # and their events
    out[:, :] = 0
    g = _group(b, n)
    for k0 in range(0, b, g):
        _jitc_rows(S, seed, table, keys, params, n_bits, overflow, kind, block, base, skip, u, wb, ks, vs, k0,
                   min(b, k0 + g), out)


@_jit
def _jitc_rows(S, seed, table, keys, params, n_bits, overflow, kind, block, base, skip, u, wb, ks, vs, k_lo, k_hi,
               out):
    """The rows active in samples ``k_lo .. k_hi`` of ``S``, generated once each (normal
    weights a block at a time, the others one by one)."""
    m = S.shape[1]
    n = out.shape[1]
    for i in range(m):
        a = 0
        for k in range(k_lo, k_hi):
            if S[k, i] != 0:
                ks[a] = k
                vs[a] = S[k, i]
                a += 1
        if a == 0:
            continue
        row_key = _row_key(seed[0], i)
        c, t0, going = -1, 0, True
        while going:
            _slots(row_key, t0, block, table, keys, n_bits, overflow, base, skip)
            if kind == 2:
                _normal_block(keys, base, block, wb)
            for s in range(block):
                g = skip[s]
                if g >= np.uint64(n):  # an overflow, or a skip past the last column
                    going = False
                    break
                c += np.int64(g) + 1
                if c >= n:
                    going = False
                    break
                w = params[0] + params[1] * wb[s] if kind == 2 else _weight(kind, params, np.uint64(base[s]), keys, u)
                for q in range(a):
                    out[ks[q], c] += vs[q] * w
            t0 += block


@_jit
def jitc_matvec(seed, table, keys, params, meta, S, out):
    """``out (m, b) = M @ S (n, b)``, every row of ``M`` generated (O(m n p)); weights are drawn
    only for the synapses that meet an active input. The events are first listed per input
    (scratch of the size of the input's events), so each synapse visits only its samples."""
    n, b = S.shape
    m = out.shape[0]
    n_bits, overflow, kind, block = meta[0], meta[1] != 0, meta[2], meta[3]
    base = np.empty(block, np.uint32)
    skip = np.empty(block, np.uint32)
    u = np.empty(1, params.dtype)
    # the events of each input as a list (input c: samples ks[ptr[c]:ptr[c + 1]], values vs)
    ptr, ks, vs = _event_lists(S)
    out[:, :] = 0
    for i in range(m):
        row_key = _row_key(seed[0], i)
        c, t0, going = -1, 0, True
        while going:
            _slots(row_key, t0, block, table, keys, n_bits, overflow, base, skip)
            for s in range(block):
                g = skip[s]
                if g >= np.uint64(n):
                    going = False
                    break
                c += np.int64(g) + 1
                if c >= n:
                    going = False
                    break
                if ptr[c + 1] > ptr[c]:
                    w = _weight(kind, params, np.uint64(base[s]), keys, u)
                    for q in range(ptr[c], ptr[c + 1]):
                        out[i, ks[q]] += w * vs[q]
            t0 += block
