"""A structure cut into equal blocks, one per device, on the host.

Each block is built with the structure's own constructor (so it is validated as any structure
is) and the blocks' arrays are stacked along a new leading axis of length ``n_devices``, which
the mesh then splits: device ``d`` holds block ``d`` and nothing else.

* ``DenseMatrix``: rows ``d R .. (d + 1) R`` (``part="rows"``) or columns (``part="cols"``).
* ``FixedNumPerPre``: the rows of the block, their ``k`` targets and weights (exact blocks).
* ``CSR``: the rows of the block (``part="rows"``), or every row's synapses onto the block's
  columns, renumbered, still stored by row (``part="cols"``: postsynaptic blocks, each device
  delivering every presynaptic event to its own neurons, event-driven). Blocks hold different
  numbers of synapses, and stacked arrays need one length, so every block is padded to the
  longest: the padding synapses are spread over the block's rows (at most one more than the
  others per row), after each row's own, and point at one extra last column (``dummy``):
  ``events @ block`` drops that output column and ``block @ events`` reads a zero event there,
  so a padding synapse adds nothing whatever the weights (a homogeneous weight included) and
  the real synapses keep their order.
* Just-in-time structures (rows generated from ``(seed, row)``): every device holds the same
  few numbers (seed, threshold table, weight parameters) and generates its own rows; no
  synapse is stored or sent.
"""
from __future__ import annotations

from dataclasses import dataclass

import jax
import numpy as np

from ..dense import DenseMatrix
from ..fixed import FixedNumPerPre
from ..jitc import JITCNormalR, JITCScalarR, JITCUniformR
from ..sparse import CSR

#: structures generated row by row from a seed (rows partitioned; nothing stored)
GENERATED = (JITCScalarR, JITCNormalR, JITCUniformR)
#: the row-stored structures and the axes each can be cut along
PARTITIONS = {DenseMatrix: ("rows", "cols"), CSR: ("rows", "cols"), FixedNumPerPre: ("rows",),
              **{cls: ("rows",) for cls in GENERATED}}


@dataclass(frozen=True)
class Blocks:
    """One block's pytree structure and every block's arrays, stacked (NumPy, leading axis
    ``n_devices``)."""

    treedef: object
    leaves: tuple
    #: "stored" (each device holds its own block) or "generated" (each generates its rows)
    kind: str
    #: the blocks have one extra column of padding synapses (CSR)
    dummy: bool = False


def partitions(base) -> tuple:
    """The axes a row-stored structure can be cut along (empty: it cannot be sharded)."""
    return next((axes for cls, axes in PARTITIONS.items() if isinstance(base, cls)), ())


def split(base, part: str, n_devices: int) -> Blocks:
    """``base`` cut into ``n_devices`` equal blocks along ``part`` ("rows" or "cols"); the
    caller has checked that the axis divides and that ``part`` is one of :func:`partitions`."""
    if isinstance(base, GENERATED):
        leaves, treedef = jax.tree_util.tree_flatten(base)
        return Blocks(treedef, tuple(np.stack([np.asarray(x)] * n_devices) for x in leaves), "generated")
    if isinstance(base, DenseMatrix):
        w = np.asarray(base.weights)
        size = (base.n_rows if part == "rows" else base.n_cols) // n_devices
        cut = (lambda d: w[d * size:(d + 1) * size]) if part == "rows" else (lambda d: w[:, d * size:(d + 1) * size])
        return _stack([DenseMatrix(cut(d)) for d in range(n_devices)])
    if isinstance(base, FixedNumPerPre):
        idx, w = np.asarray(base.indices), np.asarray(base.weights)
        R = base.n_rows // n_devices
        return _stack([FixedNumPerPre(idx[d * R:(d + 1) * R], w if w.ndim == 0 else w[d * R:(d + 1) * R],
                                      (R, base.n_cols), dtype=base.dtype, index=False) for d in range(n_devices)])
    if isinstance(base, CSR):
        return _split_csr(base, n_devices) if part == "rows" else _split_csr_cols(base, n_devices)
    raise TypeError(f"cannot cut a {type(base).__name__} into blocks")


def _stack(blocks, treedef=None, dummy=False) -> Blocks:
    flat = [jax.tree_util.tree_flatten(b) for b in blocks]
    if treedef is None:
        treedef = flat[0][1]
        if any(t != treedef for _, t in flat):
            raise AssertionError("the blocks of one structure must have one pytree structure")
    leaves = tuple(np.stack([np.asarray(x) for x in xs]) for xs in zip(*(f[0] for f in flat)))
    return Blocks(treedef, leaves, "stored", dummy)


def _split_csr(base: CSR, n_devices: int) -> Blocks:
    ptr = np.asarray(base.indptr, np.int64)
    idx, w = np.asarray(base.indices), np.asarray(base.weights)
    R, n = base.n_rows // n_devices, base.n_cols
    starts = [int(ptr[d * R]) for d in range(n_devices + 1)]
    sizes = [starts[d + 1] - starts[d] for d in range(n_devices)]
    cap = max(sizes)
    dummy = min(sizes) != cap
    blocks = []
    for d in range(n_devices):
        lo, hi = starts[d], starts[d + 1]
        lp, li = ptr[d * R:(d + 1) * R + 1] - lo, idx[lo:hi]
        lw = w if w.ndim == 0 else w[lo:hi]
        if dummy:
            lp, li, lw = _pad_rows(lp, li, lw, cap, n)
        blocks.append(CSR(lp, li, lw, (R, n + dummy), dtype=base.dtype, index=False))
    # the padding changes the longest row of a block: every block takes the largest (a bound)
    widest = max(blocks, key=lambda b: b.max_row_nnz)
    return _stack(blocks, jax.tree_util.tree_structure(widest), dummy)


def _split_csr_cols(base: CSR, n_devices: int) -> Blocks:
    ptr = np.asarray(base.indptr, np.int64)
    idx, w = np.asarray(base.indices), np.asarray(base.weights)
    m, C = base.n_rows, base.n_cols // n_devices
    row_of = np.repeat(np.arange(m), np.diff(ptr))
    owner = idx // C
    picks = [np.flatnonzero(owner == d) for d in range(n_devices)]  # in storage order
    cap = max(len(k) for k in picks)
    dummy = min(len(k) for k in picks) != cap
    blocks = []
    for d, k in enumerate(picks):
        lp = np.concatenate([[0], np.cumsum(np.bincount(row_of[k], minlength=m))])
        li, lw = idx[k] - d * C, (w if w.ndim == 0 else w[k])
        if dummy:
            lp, li, lw = _pad_rows(lp, li, lw, cap, C)
        blocks.append(CSR(lp, li, lw, (m, C + dummy), dtype=base.dtype, index=False))
    widest = max(blocks, key=lambda b: b.max_row_nnz)
    return _stack(blocks, jax.tree_util.tree_structure(widest), dummy)


def _pad_rows(ptr, indices, weights, cap: int, column: int):
    """A block's CSR arrays grown to ``cap`` synapses: the extra ones point at ``column``,
    spread over the rows after each row's own synapses (their weights 0 where per synapse)."""
    rows = len(ptr) - 1
    counts = np.diff(ptr)
    extra = cap - int(ptr[-1])
    grown = counts + extra // rows + (np.arange(rows) < extra % rows)
    new_ptr = np.concatenate([[0], np.cumsum(grown)])
    row_of = np.repeat(np.arange(rows), counts)
    at = new_ptr[row_of] + (np.arange(len(indices)) - ptr[row_of])
    new_idx = np.full(cap, column, dtype=indices.dtype)
    new_idx[at] = indices
    if np.ndim(weights) == 0:
        return new_ptr, new_idx, weights
    new_w = np.zeros(cap, dtype=weights.dtype)
    new_w[at] = weights
    return new_ptr, new_idx, new_w
