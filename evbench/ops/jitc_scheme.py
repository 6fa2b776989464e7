"""The just-in-time connectivity scheme: how a seed becomes a matrix, and the host-side helpers
of :mod:`evbench.ops.jitc` (the hash, the threshold table, seeds and parameters).

The scheme
----------
All structure arithmetic is unsigned 32-bit integer arithmetic (wrapping multiplication, XOR,
logical shifts, comparisons): the same matrix on every device, bitwise, and in NumPy
(``reference/jitconn.py`` is the scheme written out with loops).

*Hash.* ``mix(x) = x ^= x >> 16; x *= 0x7FEB352D; x ^= x >> 15; x *= 0x846CA68B; x ^= x >> 16``
(a bijection of uint32 with strong avalanche). Synapse slot ``t`` of row ``i`` has the key
``base(i, t) = mix(mix(mix(seed ^ 0x6A09E667) ^ i) ^ t)``, and its ``j``-th draw is
``d_j = mix(base ^ C_j)`` with ``C_j = mix((j + 1) * 0x9E3779B9)``, ``j = 0 .. 34``.

*Structure: geometric skips from their binary digits.* With ``q = 1 - p``, a skip ``G`` with
``P(G >= k) = q^k`` has independent binary digits: digit ``l`` is 1 with probability
``pi_l = q^(2^l) / (1 + q^(2^l))``, and ``G >= 2^32`` has probability ``pi_32 = q^(2^32)``.
The thresholds ``T_l = round(2^32 pi_l)`` (``l <= 32``, round half to even, computed on the
host in exact decimal arithmetic from the float64 ``p``; ``T_32 >= 2^32 - 1`` is stored as
``2^32 - 1`` and means "always") form a 33-entry uint32 table that does not depend on ``n``.
Slot ``t`` of row ``i`` draws the skip ``G_t = sum_{l<32} [d_l < T_l] 2^l``, or ends the row when
``d_32 < T_32`` (or ``T_32 = 2^32 - 1``); synapse ``t`` sits at column
``c_t = G_0 + G_1 + ... + G_t + t`` and the row ends at the first ``c_t >= n_cols``. Every column
is then connected independently with probability ``p`` (up to the rounding below): ``p = 0``
gives an empty matrix, ``p = 1`` the full one, and no synapse repeats. Skip ``t`` depends only on
``(seed, i, t)``, so generating a row in chunks of any capacity gives the same row, and the
matrix of shape ``(m, n)`` is the top-left block of the one of any larger shape.

*Quantisation.* Each ``pi_l`` is rounded to the nearest multiple of ``2^-32`` (error
``<= 2^-33``; ``<= 1.5 2^-32`` where ``T_32`` becomes "always"), which moves the skip law by at
most ``delta = sum_l |T_l 2^-32 - pi_l| <= 35 * 2^-33`` in total variation (``delta = 0`` for
``p`` in {0, 1}; :attr:`quantisation_error` holds the exact value): column ``j`` is connected
with a probability within ``delta * (1 + j p)`` of ``p`` (couple the skips one by one; Wald).
``p`` below about ``1.5 * 2^-64`` rounds to the empty matrix.

*Weights* (draws 33 and 34, in the weight dtype): scalar ``w``; uniform
``w_low + (w_high - w_low) u`` with ``u = (d_33 >> 8) 2^-24`` (exact in float32); normal
``w_mean + w_std z``, ``z = sqrt(-2 log u1) cos(2 pi u2)`` (Box-Muller) with
``u1 = ((d_33 >> 8) + 1) 2^-24`` in (0, 1] and ``u2 = (d_34 >> 8) 2^-24``. Against the float64
evaluation of the same formula a weight is off by at most :attr:`weight_error`: 0 for scalar;
``(eps + eps64) (|w_low| + 2 |w_high - w_low|)`` for uniform (three roundings);
``(eps + eps64) (|w_mean| + 80 w_std)`` for normal: ``|z| <= 5.77`` and
``|dz| <= |dr| + 5.77 |dcos| + 2.9 eps``; XLA CPU's float32 ``r = sqrt(-2 log u1)`` and
``cos(2 pi u2)``, measured over all 2^24 values of ``u1`` and of ``u2``, are within 3 and 3.2 eps,
so ``|dz| <= 25 eps``; 80 leaves room for a device whose ``log``/``cos`` are 3 times less
accurate. The CPU kernels' float32 polynomials (:mod:`evbench.ops.cpu.normal`) are within 4
and 1 eps over the same values (``tests/test_kernels.py``). ``eps`` is the weight dtype's.

*Orientation.* ``...R`` generates each row from ``(seed, row)``; ``...C`` generates each column:
``JITCxC(shape=(m, n), seed=s) == JITCxR(shape=(n, m), seed=s).T`` by definition (a C structure
is a :class:`Transposed` of an R one).

"""
from __future__ import annotations

import math
from decimal import ROUND_HALF_EVEN, Decimal, localcontext

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from .._arguments import ensure_finite_scalar, ensure_seed

_M32 = 0xFFFFFFFF
_SEED_KEY = 0x6A09E667
_GOLDEN = 0x9E3779B9
_BITS = 32            # digits of a skip
_OVERFLOW = 32        # draw / threshold index of the event "skip >= 2^32"
_U1, _U2 = 33, 34     # draws of the weights
_ALWAYS = _M32
#: rows x slots generated per block when every row is generated (matvec, to_dense)
_BLOCK_SLOTS = 1 << 15
_MAX_SIZE = 2**31 - 1
#: float64 machine epsilon (the reference's arithmetic)
_EPS64 = float(np.finfo(np.float64).eps)


def _mix_int(x: int) -> int:
    """The mixer on a Python int (host side: the draw constants)."""
    x &= _M32
    x ^= x >> 16
    x = (x * 0x7FEB352D) & _M32
    x ^= x >> 15
    x = (x * 0x846CA68B) & _M32
    x ^= x >> 16
    return x


_DRAW_KEYS = tuple(_mix_int((j + 1) * _GOLDEN) for j in range(_U2 + 1))


def _mix(x):
    """The mixer on a uint32 JAX array."""
    x = x ^ lax.shift_right_logical(x, jnp.uint32(16))
    x = x * jnp.uint32(0x7FEB352D)
    x = x ^ lax.shift_right_logical(x, jnp.uint32(15))
    x = x * jnp.uint32(0x846CA68B)
    return x ^ lax.shift_right_logical(x, jnp.uint32(16))


def _draw(base, j):
    return _mix(base ^ jnp.uint32(_DRAW_KEYS[j]))


def _thresholds(p: float) -> tuple[np.ndarray, float]:
    """The uint32 threshold table for ``p`` and the quantisation error ``delta``."""
    with localcontext() as ctx:
        ctx.prec = 120
        ctx.rounding = ROUND_HALF_EVEN
        scale = Decimal(2) ** 32
        Q = Decimal(1) - Decimal(p)
        table, delta = [], Decimal(0)
        for level in range(_BITS + 1):
            prob = Q if level == _OVERFLOW else Q / (Decimal(1) + Q)
            t = int((prob * scale).to_integral_value(rounding=ROUND_HALF_EVEN))
            if level == _OVERFLOW and t >= _ALWAYS:
                t, realised = _ALWAYS, Decimal(1)
            else:
                realised = Decimal(t) / scale
            delta += abs(realised - prob)
            table.append(t)
            Q = Q * Q
    return np.array(table, dtype=np.uint32), float(delta)


def default_capacity(n: int, p: float) -> int:
    """Slots generated per row and pass: ``ceil(n p + 8 sqrt(n p (1 - p)) + 16)``, at most n."""
    cap = math.ceil(n * p + 8.0 * math.sqrt(n * p * (1.0 - p)) + 16.0)
    return max(1, min(n, cap))


def _is_tracer(x) -> bool:
    return isinstance(x, jax.core.Tracer)


def _as_seed(seed):
    """The seed as a uint32 scalar array: an int in [0, 2^32), or a traced integer scalar."""
    if _is_tracer(seed) or isinstance(seed, (jax.Array, np.ndarray)):
        if seed.ndim != 0 or np.dtype(seed.dtype).kind not in "iu":
            raise TypeError(f"seed must be an integer scalar, got an array of dtype {seed.dtype} "
                            f"and shape {tuple(seed.shape)}")
        if _is_tracer(seed):
            return seed.astype(jnp.uint32)
        seed = int(seed)
    return jnp.asarray(ensure_seed("seed", seed), dtype=jnp.uint32)


def _as_param(name, value, dtype):
    """A weight parameter as a scalar of ``dtype``, finite after the cast."""
    if _is_tracer(value):
        if value.ndim != 0 or np.dtype(value.dtype).kind != "f":
            raise TypeError(f"{name} must be a real scalar, got {value.dtype}{tuple(value.shape)}")
        return value.astype(dtype)
    if isinstance(value, (jax.Array, np.ndarray)):
        if value.ndim != 0:
            raise ValueError(f"{name} must be a scalar, got an array of shape {tuple(value.shape)}")
        value = value.item()
    v = ensure_finite_scalar(name, value)
    with np.errstate(over="ignore"):
        cast = np.asarray(v, dtype=dtype)
    if not np.isfinite(cast):
        raise ValueError(f"{name}={v!r} overflows {np.dtype(dtype).name}")
    return jnp.asarray(cast)
