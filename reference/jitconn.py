"""Just-in-time random connectivity: the generation scheme, written out as plainly as possible.

This is the specification that ``evbench/_jitc.py`` implements (its module docstring states
the same scheme in words). Nothing here is fast: loops over rows and synapses, meant for small
matrices. NumPy and the standard library only.

Summary (row orientation, matrix of shape ``(m, n)``; all integers are unsigned 32-bit):

* ``mix(x)``: ``x ^= x >> 16; x *= 0x7FEB352D; x ^= x >> 15; x *= 0x846CA68B; x ^= x >> 16``.
* the key of synapse slot ``t`` of row ``i``:
  ``base = mix(mix(mix(seed ^ 0x6A09E667) ^ i) ^ t)``; draw ``j`` of that slot is
  ``mix(base ^ C[j])`` with ``C[j] = mix((j + 1) * 0x9E3779B9)``.
* thresholds from ``p`` (exact decimal arithmetic): ``Q_l = (1 - p)^(2^l)``;
  ``T_l = round(2^32 Q_l / (1 + Q_l))`` for bits ``l < 32``, ``T_32 = round(2^32 Q_32)``.
* skip ``G_t = sum_l [draw_l < T_l] 2^l`` unless ``draw_32 < T_32`` (or ``T_32 >= 2^32 - 1``),
  which ends the row; synapse ``t`` sits at column ``c_t = G_0 + ... + G_t + t``; the row ends at
  the first ``c_t >= n``.
* weights from draws 33 and 34 (``u = (draw >> 8) 2^-24``): uniform ``w_low + (w_high -
  w_low) u``; normal ``w_mean + w_std sqrt(-2 ln u1) cos(2 pi u2)`` with ``u1 = ((draw_33 >> 8)
  + 1) 2^-24``, ``u2 = (draw_34 >> 8) 2^-24``; scalar ``weight``.
* column orientation: ``(m, n)`` with seed ``s`` is the transpose of the row orientation of
  shape ``(n, m)`` with seed ``s``.
"""
from decimal import ROUND_HALF_EVEN, Decimal, localcontext

import numpy as np

MASK32 = 0xFFFFFFFF
SEED_KEY = 0x6A09E667
GOLDEN = 0x9E3779B9
N_BITS = 32          # bits of a skip; draw 32 is the overflow event "skip >= 2^32"
OVERFLOW = 32
DRAW_U1 = 33         # uniform weight / first Box-Muller uniform
DRAW_U2 = 34         # second Box-Muller uniform
ALWAYS = MASK32      # a threshold of 2^32 - 1 means the event always happens

KINDS = ("scalar", "normal", "uniform")


def mix(x):
    """The 32-bit mixer on NumPy uint32 values (products taken in uint64, then reduced)."""
    x = np.asarray(x, dtype=np.uint64) & MASK32
    x = x ^ (x >> 16)
    x = (x * 0x7FEB352D) & MASK32
    x = x ^ (x >> 15)
    x = (x * 0x846CA68B) & MASK32
    x = x ^ (x >> 16)
    return x.astype(np.uint32)


#: per-draw constants C[0..34]
DRAW_KEYS = mix((np.arange(1, 36, dtype=np.uint64) * GOLDEN) & MASK32)


def slot_key(seed, major, slot):
    """``base`` of synapse slot ``slot`` of row ``major`` (column, in column orientation)."""
    h = mix(np.uint32(seed) ^ np.uint32(SEED_KEY))
    h = mix(h ^ np.uint32(major))
    return mix(h ^ np.uint32(slot))


def thresholds(conn_prob):
    """The 33 uint32 thresholds for connection probability ``conn_prob`` (a float in [0, 1])."""
    with localcontext() as ctx:
        ctx.prec = 120
        ctx.rounding = ROUND_HALF_EVEN
        scale = Decimal(2) ** 32
        Q = 1 - Decimal(float(conn_prob))   # exact: a float is a dyadic rational
        out = []
        for level in range(N_BITS + 1):
            if level < N_BITS:
                prob = Q / (1 + Q)
            else:
                prob = Q
            out.append(int((prob * scale).to_integral_value(rounding=ROUND_HALF_EVEN)))
            Q = Q * Q
    out[OVERFLOW] = min(out[OVERFLOW], ALWAYS)
    return np.array(out, dtype=np.uint32)


def _draws(seed, major, slot):
    """The 35 draws of one slot, as Python ints."""
    base = slot_key(seed, major, slot)
    return [int(v) for v in mix(np.uint32(base) ^ DRAW_KEYS)]


def _weight(kind, draws, params):
    if kind == "scalar":
        return float(params["weight"])
    if kind == "uniform":
        u = (draws[DRAW_U1] >> 8) * 2.0 ** -24
        return params["w_low"] + (params["w_high"] - params["w_low"]) * u
    u1 = ((draws[DRAW_U1] >> 8) + 1) * 2.0 ** -24
    u2 = (draws[DRAW_U2] >> 8) * 2.0 ** -24
    z = np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)
    return params["w_mean"] + params["w_std"] * float(z)


def row_synapses(seed, major, n, table):
    """``[(slot, column, draws), ...]`` of row ``major`` of a row-oriented matrix with ``n``
    columns: geometric skips, one slot after another, until a column falls outside."""
    out = []
    col = -1
    slot = 0
    while True:
        d = _draws(seed, major, slot)
        t_over = int(table[OVERFLOW])
        if t_over == ALWAYS or d[OVERFLOW] < t_over:
            break
        skip = 0
        for level in range(N_BITS):
            if d[level] < int(table[level]):
                skip += 1 << level
        col = col + 1 + skip
        if col >= n:
            break
        out.append((slot, col, d))
        slot += 1
    return out


def jitc_to_dense(kind, shape, conn_prob, seed, orientation, **weight_params):
    """``(counts, dense)``: synapses per entry (int64) and the float64 matrix, shape ``shape``.

    ``kind`` is ``"scalar"`` (``weight``), ``"normal"`` (``w_mean``, ``w_std``) or
    ``"uniform"`` (``w_low``, ``w_high``); ``orientation`` is ``"R"`` (rows generated) or
    ``"C"`` (columns generated).
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if orientation not in ("R", "C"):
        raise ValueError(f"orientation must be 'R' or 'C', got {orientation!r}")
    m, n = int(shape[0]), int(shape[1])
    if orientation == "C":
        counts, dense = jitc_to_dense(kind, (n, m), conn_prob, seed, "R", **weight_params)
        return counts.T.copy(), dense.T.copy()
    params = {k: float(v) for k, v in weight_params.items()}
    table = thresholds(conn_prob)
    counts = np.zeros((m, n), dtype=np.int64)
    dense = np.zeros((m, n), dtype=np.float64)
    for i in range(m):
        for _slot, col, draws in row_synapses(seed, i, n, table):
            counts[i, col] += 1
            dense[i, col] += _weight(kind, draws, params)
    return counts, dense
