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


def error_bound(product, dense: np.ndarray, events, dtype, *, weight_error: float = 0.0,
                mask: np.ndarray | None = None) -> np.ndarray:
    """Per-output bound on ``|native - reference|`` for ``product`` (a catalogue Product)
    with the float64 reference matrix ``dense`` and ``events``."""
    eps = float(np.finfo(np.dtype(dtype)).eps)
    e = np.asarray(events, dtype=np.float64)
    sum_abs = product.reference(np.abs(dense), np.abs(e))
    n_terms = product.reference((dense != 0).astype(np.float64), (e != 0).astype(np.float64))
    if np.any(n_terms * eps / 2 >= 0.5):
        raise ValueError("the error bound needs n_terms * u < 1/2; the sum is too long for this dtype")
    bound = (n_terms + 1) * eps * sum_abs
    if weight_error:
        structure = (dense != 0) if mask is None else mask
        bound = bound + weight_error * product.reference(structure.astype(np.float64), np.abs(e))
    return bound


def compare(native, reference, bound) -> tuple[float, float, bool]:
    """``(max error, tolerance at that output, every output within its bound)``.

    The tolerance reported is the bound at the output whose error is largest relative to
    its bound. Non-finite outputs fail unless the reference is the same non-finite value.
    """
    native = np.asarray(native, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    if native.shape != reference.shape:
        raise ValueError(f"native output has shape {native.shape}, reference {reference.shape}")
    same_nonfinite = ~np.isfinite(reference) & (native == reference)
    err = np.where(same_nonfinite, 0.0, np.abs(native - reference))
    err = np.where(np.isnan(err), np.inf, err)
    ok = err <= bound
    if err.size == 0:
        return 0.0, 0.0, True
    worst = int(np.argmax(err - bound))
    return float(err.max()), float(np.ravel(bound)[worst]), bool(np.all(ok))
