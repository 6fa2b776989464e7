"""Standard normal draws for the just-in-time kernels: Box-Muller from two 32-bit hashes with
polynomials in place of ``log`` and ``cos`` (branch-free arithmetic, so that a loop over a block
of synapses vectorises; the C library's ``log``/``cos`` would be one call per synapse).

``z = sqrt(-2 ln u1) cos(2 pi u2)``, ``u1 = ((h1 >> 8) + 1) 2^-24``, ``u2 = (h2 >> 8) 2^-24``
(:mod:`evbench.ops.jitc`). Float64 weights use :func:`_normal` (float64, error below 1e-15);
float32 weights use :func:`_normal32`, in float32 arithmetic with shorter series: twice the
lanes per vector and no conversions. Its error against the float64 formula, measured over
every ``u1`` and every ``u2`` (``tests/test_kernels.py``), is below 4 eps for ``r`` and 1 eps
for ``cos``, so ``|dz| <= 4 + 5.8 + 3 eps`` (``|z| <= 5.77``): well inside the
``80 eps w_std`` that :attr:`evbench.ops.jitc.JITCNormalR.weight_error` allows.
"""
from __future__ import annotations

import math

import numba as nb
import numpy as np

from .common import _inline, _jit


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
    """``z`` of the 32-bit draws ``h1``, ``h2`` in float64 (error below 1e-15).

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


@nb.extending.intrinsic
def _f32_bits(typingctx, x):
    """The bits of a float32 as an int32 (a bitcast)."""
    from llvmlite import ir
    from numba import types

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(32))

    return types.int32(types.float32), codegen


@nb.extending.intrinsic
def _bits_f32(typingctx, x):
    """The float32 with the bits of an int32 (a bitcast)."""
    from llvmlite import ir
    from numba import types

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())

    return types.float32(types.int32), codegen


_f32 = np.float32
#: float32 series (every constant float32: a Python float would promote the arithmetic to
#: float64): atanh(s) / s to s^8 (next term below 2e-9), cos to a^10, (a - sin a) / a^3 to a^8
_LOG32 = tuple(_f32(1.0 / k) for k in range(9, 0, -2))
_COS32 = tuple(_f32((-1.0) ** (k // 2) / math.factorial(k)) for k in range(10, -1, -2))
_SIN32 = tuple(_f32((-1.0) ** ((k - 3) // 2) / math.factorial(k)) for k in range(11, 2, -2))
_LN2_32, _SQRT2_32, _TWO_PI_32 = _f32(_LN2), _f32(_SQRT2), _f32(_TWO_PI)
_ZERO32, _ONE32, _HALF32, _TWO32, _QUARTER32, _EIGHTH32 = (_f32(x) for x in (0, 1, 0.5, 2, 0.25, 0.125))
_M2_32, _E24_32, _U24_32 = _f32(-2), _f32(24), _f32(2.0**-24)
_MANTISSA32, _ONE_BITS32, _I23, _I127 = np.int32((1 << 23) - 1), np.int32(127 << 23), np.int32(23), np.int32(127)


@_inline
def _horner32(x, coeffs):
    acc = _ZERO32
    for c in coeffs:
        acc = c + x * acc
    return acc


@_inline
def _radius32(h1):
    """``sqrt(-2 ln u1)`` in float32; ``k = (h1 >> 8) + 1 <= 2^24`` is exact."""
    k = _f32((np.uint32(h1) >> np.uint32(8)) + np.uint32(1))
    bits = _f32_bits(k)
    e = _f32((bits >> _I23) - _I127)
    m = _bits_f32((bits & _MANTISSA32) | _ONE_BITS32)
    big = _f32(m > _SQRT2_32)
    m = m * (_ONE32 - _HALF32 * big)
    e = e + big
    t = (m - _ONE32) / (m + _ONE32)
    q = _horner32(t * t, _LOG32)
    return np.sqrt(_M2_32 * ((e - _E24_32) * _LN2_32 + _TWO32 * t * q))


@_inline
def _cos2pi32(h2):
    """``cos(2 pi u2)`` in float32; ``u2`` and its folding to [0, 1/8] are exact."""
    x = _f32(np.uint32(h2) >> np.uint32(8)) * _U24_32
    y = np.abs(x - np.floor(x + _HALF32))
    neg = _f32(y > _QUARTER32)
    y = y + neg * (_HALF32 - _TWO32 * y)
    use_sin = _f32(y > _EIGHTH32)
    y = y + use_sin * (_QUARTER32 - _TWO32 * y)
    a = _TWO_PI_32 * y
    a2 = a * a
    c = _horner32(a2, _COS32)
    sn = a - a * a2 * _horner32(a2, _SIN32)
    v = c + use_sin * (sn - c)
    return v * (_ONE32 - _TWO32 * neg)


@_inline
def _normal32(h1, h2):
    """``z`` of the 32-bit draws ``h1``, ``h2`` in float32: the steps of :func:`_normal`."""
    return _radius32(h1) * _cos2pi32(h2)


@_jit
def normal_parts32(h, r, c):
    """``r[s] = sqrt(-2 ln u1)`` and ``c[s] = cos(2 pi u2)`` in float32 for the draws ``h[s]``
    (what the tests compare with float64)."""
    for s in range(h.shape[0]):
        r[s] = _radius32(h[s])
        c[s] = _cos2pi32(h[s])
