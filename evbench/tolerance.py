"""Tolerances derived from a floating-point error bound of the sums being computed.

A product output is ``y_j = sum_i s_i * w_ij`` over the ``n_j`` non-zero terms. Evaluated in
a dtype with unit roundoff ``u = eps / 2``, in *any* order (chunked, scattered, blocked dot),
each term rounded once and ``n_j - 1`` additions, the computed value satisfies
(Higham, *Accuracy and Stability of Numerical Algorithms*, §3.1 and §4.2)::

    |fl(y_j) - y_j| <= gamma(n_j) * sum_i |s_i * w_ij|,   gamma(n) = n u / (1 - n u)

and rounding the result once more adds ``u |y_j|``. We use the slightly larger, simpler
``(n_j + 1) * eps * sum_i |s_i w_ij|``, valid while ``n_j u < 1/2``. An output with no
non-zero term must be exactly zero. Where a family generates weights on the device
(just-in-time connectivity) the reference weights may differ from the stored ones by at most
``weight_error`` each, which adds ``weight_error * sum_i |s_i| [synapse ij exists]``.

Nothing here is a fixed ``atol``: a real error of a few units in the last place of the
largest term is caught.
"""
from __future__ import annotations

import numpy as np


def error_bound(product, abs_weights: np.ndarray, counts: np.ndarray, events, dtype, *,
                weight_error: float = 0.0) -> np.ndarray:
    """Per-output bound on ``|native - reference|`` for ``product`` (a catalogue Product).

    ``abs_weights[i, j]`` is the sum of ``|w|`` over the synapses from ``i`` to ``j`` and
    ``counts[i, j]`` their number (duplicates are separate terms of the sum).
    """
    eps = float(np.finfo(np.dtype(dtype)).eps)
    e = np.asarray(events, dtype=np.float64)
    sum_abs = product.reference(abs_weights, np.abs(e))
    n_terms = product.reference(counts, (e != 0).astype(np.float64))
    if np.any(n_terms * eps / 2 >= 0.5):
        raise ValueError("the error bound needs n_terms * u < 1/2; the sum is too long for this dtype")
    bound = (n_terms + 1) * eps * sum_abs
    if weight_error:
        bound = bound + weight_error * product.reference(counts, np.abs(e))
    return bound


def compare(native, reference, bound) -> tuple[float, float, float, bool]:
    """``(error, tolerance, error / tolerance, every output within its bound)``, error and
    tolerance taken at the output where their ratio is largest (0/0 counts as 0, x/0 as inf).

    Non-finite outputs fail unless the reference is the same non-finite value.
    """
    native = np.asarray(native, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    if native.shape != reference.shape:
        raise ValueError(f"native output has shape {native.shape}, reference {reference.shape}")
    if native.size == 0:
        return 0.0, 0.0, 0.0, True
    same_nonfinite = ~np.isfinite(reference) & (native == reference)
    err = np.where(same_nonfinite, 0.0, np.abs(native - reference))
    err = np.where(np.isnan(err), np.inf, err).ravel()
    bound = np.broadcast_to(bound, native.shape).ravel()
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(err == 0, 0.0, err / bound)
    worst = int(np.argmax(ratio))
    return float(err[worst]), float(bound[worst]), float(ratio[worst]), bool(np.all(err <= bound))
