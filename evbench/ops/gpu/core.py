"""Building blocks of the GPU formulations: bucketed static capacities and deterministic sums.

*Capacities.* The active inputs are found with a static capacity chosen at run time from a few
buckets (``lax.switch`` on the active count): bucket ``C`` compacts the active inputs into ``C``
slots and does work proportional to ``C``, so the cost follows the activity without a loop
whose trip count depends on it. Capacities are ``0`` (nothing active: zeros, no work),
``MIN_CAPACITY · GROWTH^k`` and finally the whole axis (or a ``full`` product where a
formulation has one).

*Deterministic sums.* XLA's scatter-add on a GPU adds colliding contributions with float atomics,
in an order that changes from call to call. Here a sum over colliding keys is a stable sort of
the contributions by key, a segmented reduction in a fixed order (a fixed tree of windowed
sums over the sorted keys, :func:`segmented_totals`: each output adds its own terms only,
never a difference of prefix sums) and a scatter of each run's total to its own output
(unique indices: a set, not an add).
Reductions along an axis and matmuls of a fixed program are deterministic already.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

#: smallest non-zero capacity (active inputs) of a bucket
MIN_CAPACITY = 16
#: ratio between consecutive capacities: a bucket does at most GROWTH times the work needed
GROWTH = 4
#: buckets below the full one: capacities n / GROWTH^k, k = 1 .. BUCKETS (a fixed number of
#: branches, so the compile time does not grow with n)
BUCKETS = 4
#: contributions (samples x active inputs x slots) gathered at once: a bucket whose capacity
#: needs more runs in pieces of this size, in a loop with a static trip count
MAX_ELEMENTS = 1 << 24
#: positions added per level of :func:`segmented_totals` (levels: ceil(log_WINDOW N))
WINDOW = 8
#: matmul precision of the dense formulations: full float32 (never TF32), float64 as it is
HIGHEST = lax.Precision.HIGHEST
_INT32_MAX = 2**31 - 1


def capacities(n: int, limit: int | None = None) -> tuple[int, ...]:
    """Bucket capacities for ``n`` inputs: ``0``, then ``ceil(n / GROWTH^k)`` for
    ``k = BUCKETS .. 1``, those of at least ``MIN_CAPACITY`` (below it a bucket saves too
    little to pay for its compilation) and at most ``limit`` (default ``n / GROWTH``), then
    ``n`` (the last bucket holds every input)."""
    limit = n // GROWTH if limit is None else min(limit, n // GROWTH)
    caps = {-(-n // GROWTH**k) for k in range(1, BUCKETS + 1)}
    return (0,) + tuple(sorted(c for c in caps if MIN_CAPACITY <= c <= limit)) + (n,)


def ranks(mask):
    """Per row of ``mask (b, n)``: the rank of each True entry among the row's True entries
    (int32, meaningful where True) and the row's count."""
    rank = jnp.cumsum(mask, axis=1, dtype=jnp.int32) - 1
    return rank, rank[:, -1] + 1


def compact(mask, rank, capacity: int):
    """The indices of the True entries of each row of ``mask (b, n)``, in increasing order,
    in ``capacity`` slots: ``(idx (b, C) int32, ok (b, C) bool)``, padding slots hold 0.
    Each row must have at most ``capacity`` True entries. A scatter of unique positions."""
    b, n = mask.shape
    if capacity == n:  # every input has its own slot: nothing to move
        return jnp.broadcast_to(jnp.arange(n, dtype=jnp.int32), (b, n)), mask
    slot = jnp.where(mask, rank, capacity)  # out of bounds: dropped
    src = jnp.broadcast_to(jnp.arange(n, dtype=jnp.int32), (b, n))
    idx = jnp.zeros((b, capacity), jnp.int32).at[jnp.arange(b)[:, None], slot].set(src, mode="drop")
    count = rank[:, -1:] + 1
    return idx, jnp.arange(capacity, dtype=jnp.int32)[None, :] < count


def by_count(count, caps: tuple[int, ...], make_branch, *operands):
    """``make_branch(C)(*operands)`` for the smallest capacity ``C`` in ``caps`` holding
    ``count`` (a traced int32 scalar), chosen at run time by ``lax.switch``."""
    if len(caps) == 1:
        return make_branch(caps[0])(*operands)
    index = jnp.sum(count > jnp.asarray(caps[:-1], jnp.int32), dtype=jnp.int32)
    return lax.switch(index, [make_branch(c) for c in caps], *operands)


def event_rows(S, n_out: int, dtype, slots: int, piece):
    """Drive ``S (b, n_in) @ M`` over the active inputs of each sample: compacted into a
    bucketed capacity ``C``, then ``acc = piece(rows, ok, coef, acc)`` with ``rows, ok, coef``
    ``(b, P)`` (input index, slot in use, event value in the weight dtype), ``acc (b, n_out)``
    from zeros. ``slots`` is the work per active input: a capacity with more than
    ``MAX_ELEMENTS`` samples x inputs x slots runs in ``ceil(C / P)`` pieces of ``P``."""
    b, n_in = S.shape
    rank, count = ranks(S != 0)

    def branch(C):
        def run(S, rank):
            acc = jnp.zeros((b, n_out), dtype)
            if C == 0 or slots == 0:
                return acc
            idx, ok = compact(S != 0, rank, C)
            coef = jnp.take_along_axis(S, idx, axis=1).astype(dtype)
            P = max(1, min(C, MAX_ELEMENTS // (b * slots)))
            steps = -(-C // P)
            if steps == 1:
                return piece(idx, ok, coef, acc)
            pad = ((0, 0), (0, steps * P - C))
            idx, ok, coef = jnp.pad(idx, pad), jnp.pad(ok, pad), jnp.pad(coef, pad)

            def step(s, acc):
                cut = lambda x: lax.dynamic_slice_in_dim(x, s * P, P, axis=1)  # noqa: E731
                return piece(cut(idx), cut(ok), cut(coef), acc)

            return lax.fori_loop(0, steps, step, acc)
        return run

    return by_count(jnp.max(count), capacities(n_in), branch, S, rank)


def segment_sum(keys, vals, n_out: int, *, keys_sorted: bool = False, max_run: int | None = None):
    """``out[j] = sum(vals[i] for keys[i] == j)`` for ``keys (N,)`` int32 in ``[0, n_out]``
    (``n_out`` marks a term to drop) and ``vals (N,)`` or ``(N, m)``, deterministically
    (see the module docstring); ``keys_sorted`` skips the sort; ``max_run`` bounds the number of
    terms of one output (fewer levels of :func:`segmented_totals`)."""
    N = keys.shape[0]
    out_shape = (n_out,) + vals.shape[1:]
    if N == 0:
        return jnp.zeros(out_shape, vals.dtype)
    keys = keys.astype(jnp.int32)
    if not keys_sorted:
        if vals.ndim == 1:
            keys, vals = lax.sort((keys, vals), num_keys=1, is_stable=True)
        else:  # sort the keys once, move the rows of values with them
            keys, perm = lax.sort((keys, jnp.arange(N, dtype=jnp.int32)), num_keys=1, is_stable=True)
            vals = vals[perm]
    total = segmented_totals(keys, vals, max_run)
    last = jnp.concatenate([keys[1:] != keys[:-1], jnp.ones((1,), bool)])
    target = jnp.where(last, keys, n_out)  # n_out: out of bounds, dropped
    return jnp.zeros(out_shape, vals.dtype).at[target].set(total, mode="drop")


def segmented_totals(keys, vals, max_run: int | None = None):
    """For sorted ``keys (N,)``: at the last position of each run of equal keys, the sum of
    the run's ``vals`` (other positions hold partial sums of their run). Runs must be at most
    ``max_run`` long (default ``N``).

    A fixed tree of ``ceil(log_W max_run)`` levels (``W = WINDOW``): level ``l`` adds, at each
    position, the level ``l - 1`` sums ``W^(l-1)`` positions apart, ``W`` of them, where the key
    is the same, so after it each position holds the sum of its run's terms among the last
    ``W^l`` positions. Each level is one elementwise pass over shifted copies (an optimization
    barrier keeps XLA from fusing levels, which would recompute each one ``W`` times): no
    position ever adds a term of another run, and the order is fixed by the shapes alone.
    """
    N = keys.shape[0]
    kcol = keys.reshape((N,) + (1,) * (vals.ndim - 1))
    zero = jnp.zeros((), vals.dtype)
    stride, longest = 1, N if max_run is None else min(N, max_run)
    while stride < longest:
        acc = vals
        for t in range(1, WINDOW):
            d = t * stride
            if d >= N:
                break
            pad = [(d, 0, 0)] + [(0, 0, 0)] * (vals.ndim - 1)
            same = lax.pad(kcol[: N - d], jnp.int32(-1), pad) == kcol
            acc = acc + jnp.where(same, lax.pad(vals[: N - d], zero, pad), zero)
        vals = lax.optimization_barrier(acc)
        stride *= WINDOW
    return vals


def segment_sum_per_row(keys, vals, n_out: int, max_run: int | None = None):
    """``segment_sum`` of each row of ``keys, vals (b, N)`` into ``(b, n_out)``: one sort of
    all rows at once (key ``row · n_out + key``) where that key fits int32. A run never spans
    two rows: ``max_run`` defaults to ``N``."""
    b, N = keys.shape
    max_run = N if max_run is None else min(N, max_run)
    if b * n_out >= _INT32_MAX:
        return jax.vmap(lambda k, v: segment_sum(k, v, n_out, max_run=max_run))(keys, vals)
    row = jnp.arange(b, dtype=jnp.int32)[:, None] * n_out
    flat = jnp.where(keys < n_out, keys + row, b * n_out).reshape(-1)
    return segment_sum(flat, vals.reshape(-1), b * n_out, max_run=max_run).reshape(b, n_out)


def matmul(a, b):
    """``a @ b`` at full precision (``precision=HIGHEST``: no TF32 on the GPU)."""
    return jnp.matmul(a, b, precision=HIGHEST)
