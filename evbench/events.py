"""Spike vectors and batches: the one event semantics of evbench, and seeded generators.

Event semantics
---------------
An *event* is any non-zero entry of an event array. For a boolean array, ``True`` is an event
and contributes the value 1. For a floating array, an entry ``s != 0`` is an event and
contributes its value ``s``, whatever it is (negative, fractional, larger than one); ``0`` and
``-0`` contribute nothing. In other words every evbench product equals the dense product of
the events cast to the weight dtype::

    events @ M  ==  events.astype(M.dtype) @ M.to_dense()

only the cost differs: an event-driven product touches the synapses of the active inputs
alone. Other libraries differ here (some treat any positive float as a binary spike); the
conformance check ``semantics`` records what each of them actually computes.

Shapes: a spike vector is 1-D, ``(n,)``; a batch is 2-D, ``(batch, n)`` (one sample per row).
Boolean events are accepted for any weight dtype; floating events must have the weight dtype
(no silent promotion).
"""
from __future__ import annotations

import numpy as np

from ._arguments import ensure_int, ensure_prob, ensure_seed

VALUE_KINDS = ("ones", "positive", "signed")


def active_count(n: int, active) -> int:
    """The number of active entries per sample for ``active`` given as a fraction (float) or
    a count (int). A fraction is rounded to the nearest count."""
    n = ensure_int("n", n, minimum=1)
    if isinstance(active, (bool, np.bool_)):
        raise TypeError(f"active must be a fraction in [0, 1] or a count, got {active!r}")
    if isinstance(active, (int, np.integer)):
        count = ensure_int("active", active, minimum=0)
        if count > n:
            raise ValueError(f"active={count} exceeds n={n}")
        return count
    fraction = ensure_prob("active", active)
    return int(round(fraction * n))


def make_events(n: int, active, *, seed: int = 0, batch: int | None = None,
                dtype: str = "bool", values: str = "ones") -> np.ndarray:
    """Seeded spikes with exactly ``active_count(n, active)`` events in every sample.

    Parameters
    ----------
    n : number of neurons.
    active : fraction of active neurons (float in [0, 1]) or their count (int).
    seed : seed of the generator (NumPy PCG64); the same seed gives the same array.
    batch : ``None`` for a vector ``(n,)``, else the number of samples, giving ``(batch, n)``;
        every sample draws its own active set.
    dtype : ``"bool"``, ``"float32"`` or ``"float64"``.
    values : for floating events, what an event carries: ``"ones"`` (1.0), ``"positive"``
        (uniform in [0.5, 2)) or ``"signed"`` (±uniform in [0.5, 2)), the last two exercising
        the event semantics beyond binary spikes.

    The measured fraction (:func:`active_fraction`) is what results record, never the label.
    """
    count = active_count(n, active)
    seed = ensure_seed("seed", seed)
    if batch is not None:
        batch = ensure_int("batch", batch, minimum=1)
    if dtype not in ("bool", "float32", "float64"):
        raise TypeError(f"dtype must be 'bool', 'float32' or 'float64', got {dtype!r}")
    if values not in VALUE_KINDS:
        raise ValueError(f"values must be one of {VALUE_KINDS}, got {values!r}")
    if dtype == "bool" and values != "ones":
        raise ValueError(f"values={values!r} needs a floating dtype, got dtype='bool'")
    rng = np.random.default_rng(seed)
    rows = 1 if batch is None else batch
    # A random permutation per sample; its first `count` entries are the active neurons.
    keys = rng.random((rows, n))
    order = np.argsort(keys, axis=1, kind="stable")[:, :count]
    mask = np.zeros((rows, n), dtype=bool)
    np.put_along_axis(mask, order, True, axis=1)
    if dtype == "bool":
        out = mask
    else:
        if values == "ones":
            vals = np.ones((rows, n))
        else:
            vals = rng.uniform(0.5, 2.0, size=(rows, n))
            if values == "signed":
                vals *= rng.choice([-1.0, 1.0], size=(rows, n))
        out = np.where(mask, vals, 0.0).astype(dtype)
    return out[0] if batch is None else out


def active_fraction(events) -> float:
    """The measured fraction of non-zero entries (over all samples of a batch)."""
    arr = np.asarray(events)
    if arr.size == 0:
        raise ValueError("events must not be empty")
    return float(np.count_nonzero(arr)) / arr.size
