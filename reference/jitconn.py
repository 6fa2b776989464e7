"""Just-in-time random connectivity: the generation scheme, written out as plainly as possible.

This is the specification that ``evbench/ops/jitc_scheme.py`` implements (its module docstring states
the same scheme in words). Nothing here is fast: a loop over rows, each drawn 64 slots at a
time, meant for small matrices. NumPy and the standard library only (``decimal`` for the
thresholds).

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
    """``base`` of synapse slot(s) ``slot`` of row ``major`` (column, in column orientation)."""
    h = mix(np.uint64(seed) ^ np.uint64(SEED_KEY))
    h = mix(h.astype(np.uint64) ^ np.uint64(major))
    return mix(h.astype(np.uint64) ^ np.asarray(slot, dtype=np.uint64))


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


def _weights(kind, draws, params):
    """The weights of slots with the given draws (a ``(k, 35)`` array)."""
    if kind == "scalar":
        return np.full(len(draws), float(params["weight"]))
    if kind == "uniform":
        u = (draws[:, DRAW_U1] >> 8).astype(np.float64) * 2.0 ** -24
        return params["w_low"] + (params["w_high"] - params["w_low"]) * u
    u1 = ((draws[:, DRAW_U1] >> 8).astype(np.float64) + 1.0) * 2.0 ** -24
    u2 = (draws[:, DRAW_U2] >> 8).astype(np.float64) * 2.0 ** -24
    z = np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)
    return params["w_mean"] + params["w_std"] * z


def row_synapses(seed, major, n, table, block=64):
    """``(columns, draws)`` of row ``major`` of a row-oriented matrix with ``n`` columns:
    geometric skips, slot after slot, until the overflow event or a column ``>= n``.
    Slots are drawn ``block`` at a time (any block size gives the same row)."""
    table = np.asarray(table, dtype=np.int64)
    cols, draws = [], []
    last = -1                                   # column of the previous synapse
    start = 0
    while True:
        slots = np.arange(start, start + block, dtype=np.uint64)
        base = slot_key(seed, major, slots)                              # (block,)
        d = mix(base[:, None] ^ DRAW_KEYS[None, :]).astype(np.int64)     # (block, 35)
        ends = (d[:, OVERFLOW] < table[OVERFLOW]) | (table[OVERFLOW] == ALWAYS)
        digits = d[:, :N_BITS] < table[None, :N_BITS]
        skip = (digits.astype(np.int64) << np.arange(N_BITS, dtype=np.int64)).sum(axis=1)
        col = last + np.cumsum(skip + 1)                                 # c_t = sum G + t
        stop = ends | (col >= n)
        k = int(np.argmax(stop)) if stop.any() else block
        cols.append(col[:k])
        draws.append(d[:k])
        if k < block:
            return np.concatenate(cols), np.concatenate(draws)
        last = int(col[-1])
        start += block


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
        cols, draws = row_synapses(seed, i, n, table)
        np.add.at(counts[i], cols, 1)
        np.add.at(dense[i], cols, _weights(kind, draws, params))
    return counts, dense
