"""Seeded, deterministic generation of random connectivity (NumPy PCG64 on the host)."""
from __future__ import annotations

import numpy as np

#: rows are generated in blocks so that no temporary exceeds about this many entries
_BLOCK_ENTRIES = 1 << 22


def _distinct_per_row(rng, rows: int, k: int, n_pop: int) -> np.ndarray:
    """``(rows, k)`` indices, distinct within each row, uniform over k-subsets, sorted."""
    if k == 0:
        return np.zeros((rows, 0), np.int64)
    if 4 * k >= n_pop:
        # dense regime: the k smallest of n_pop random keys
        keys = rng.random((rows, n_pop))
        out = np.argpartition(keys, k - 1, axis=1)[:, :k] if k < n_pop else np.argsort(keys, axis=1)
        return np.sort(out, axis=1)
    out = np.sort(rng.integers(0, n_pop, size=(rows, k)), axis=1)
    while True:  # redraw repeated entries until every row is distinct
        dup = np.zeros(out.shape, bool)
        dup[:, 1:] = out[:, 1:] == out[:, :-1]
        n_dup = int(dup.sum())
        if n_dup == 0:
            return out
        out[dup] = rng.integers(0, n_pop, size=n_dup)
        out.sort(axis=1)


def fixed_num_indices(rng, n_rows: int, k: int, n_pop: int, multapses: bool) -> np.ndarray:
    """``(n_rows, k)`` partner indices for a fixed number ``k`` of connections per row.

    With ``multapses`` the k partners are drawn with replacement (repeats allowed); without,
    they are a uniform random k-subset of the ``n_pop`` partners. Rows are sorted.
    """
    if multapses:
        return np.sort(rng.integers(0, n_pop, size=(n_rows, k)), axis=1)
    block = max(1, _BLOCK_ENTRIES // max(n_pop if 4 * k >= n_pop else k, 1))
    parts = [_distinct_per_row(rng, min(block, n_rows - r), k, n_pop) for r in range(0, n_rows, block)]
    return np.concatenate(parts, axis=0) if parts else np.zeros((0, k), np.int64)


def bernoulli_rows(rng, n_rows: int, n_cols: int, p: float) -> tuple[np.ndarray, np.ndarray]:
    """CSR ``(indptr, indices)`` of an ``n_rows × n_cols`` matrix whose entries are present
    independently with probability ``p``: a Binomial(n_cols, p) count per row, then a uniform
    subset of that size (the same law, at O(synapses) cost instead of O(n_rows × n_cols))."""
    counts = rng.binomial(n_cols, p, size=n_rows)
    indptr = np.zeros(n_rows + 1, np.int64)
    np.cumsum(counts, out=indptr[1:])
    indices = np.empty(int(indptr[-1]), np.int64)
    kmax = int(counts.max(initial=0))
    if kmax == 0:
        return indptr, indices
    block = max(1, _BLOCK_ENTRIES // max(n_cols if 4 * kmax >= n_cols else kmax, 1))
    for r in range(0, n_rows, block):
        c = counts[r:r + block]
        cand = _distinct_per_row(rng, len(c), int(c.max(initial=0)), n_cols)
        # a random ordering of each row's candidates, then keep the first counts[i]
        order = np.argsort(rng.random(cand.shape), axis=1)
        cand = np.take_along_axis(cand, order, axis=1)
        keep = np.arange(cand.shape[1])[None, :] < c[:, None]
        rows_sorted = np.where(keep, cand, n_cols)
        rows_sorted.sort(axis=1)
        indices[indptr[r]:indptr[r + len(c)]] = rows_sorted[rows_sorted < n_cols]  # row-major order
    return indptr, indices


def coo_pairs(rng, n_rows: int, n_cols: int, p: float, duplicates: bool):
    """Random (row, col) pairs for the explicit sparse families, sorted by row then column.

    ``Binomial(n_rows·n_cols, p)`` entries at uniform positions, drawn with replacement so the
    list may repeat an entry; with ``duplicates`` about 10% more entries repeat existing ones,
    so that summation of duplicates is always exercised. Empty rows occur as the law gives them.
    """
    total = n_rows * n_cols
    nnz = int(rng.binomial(total, p))
    flat = rng.integers(0, total, size=nnz)
    if duplicates and nnz:
        flat = np.concatenate([flat, rng.choice(flat, size=max(1, nnz // 10))])
    flat.sort()
    return flat // n_cols, flat % n_cols


def per_synapse_weights(rng, n: int | tuple, dtype) -> np.ndarray:
    """Signed per-synapse weights: standard normal draws, in ``dtype``."""
    return rng.standard_normal(n).astype(dtype)
