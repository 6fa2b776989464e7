"""Statistical tests of connectivity a backend draws itself, against the law it documents (the
conformance check ``statistics`` runs them).

Every acceptance bound comes from the sampling distribution under that law, split
(Bonferroni) over the sub-tests so that a correct generator fails a whole check with
probability below ``alpha``:

* Bernoulli(p) entries (just-in-time matrices, "fixed probability" layers), at each p:
  the number of synapses is Binomial(N, p); each row's (column's) count is
  Binomial(n, p) (minimum and maximum, Bonferroni over rows); the counts are not
  under-dispersed: for independent rows ``Y_i = (X_i - np)^2 >= 0`` and Maurer's inequality
  ``P(E S - S >= t) <= exp(-t^2 / (2 sum E Y_i^2))`` bounds ``S = sum Y_i`` from below
  (``E Y = npq``, ``E Y^2 = npq (1 + 3 (n - 2) pq)``); and neighbours are independent: over
  disjoint pairs of adjacent entries ``(2m, 2m + 1)``, given the first entries, the number of
  pairs with both present is Binomial(K, p), ``K`` the pairs whose first entry is present.
* A fixed number k of partners per row (column): every count is k, no repeats unless
  multapses are allowed, partners spread uniformly (chi-square on the partners' degrees).
* Weights: a scalar exactly; normal: the sample mean (normal law) and variance (chi-square
  law); uniform: inside ``[low, high)``, the mean and the mean squared deviation from the
  true mean within Hoeffding's bound.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import stats

#: connection probabilities of the Bernoulli check, across (0, 1]
PROBS = (0.001, 0.02, 0.1, 0.3, 0.5, 0.9, 1.0)
#: the probability whose matrix provides the weight sample
WEIGHT_PROB = 0.5


def _binom_interval(n, p, a):
    return float(stats.binom.ppf(a / 2, n, p)), float(stats.binom.isf(a / 2, n, p))


def bernoulli_tests(counts: np.ndarray, p: float, a: float) -> list[tuple[str, bool, float, float]]:
    """``(what, passed, deviation, allowed)`` for a matrix of 0/1 entries drawn with
    probability ``p``; ``a`` is the false-failure probability of the whole list."""
    out = []
    if counts.max(initial=0) > 1:
        out.append(("repeated synapses", False, float(counts.max()), 1.0))
    present = (counts > 0).astype(np.int64)
    n_rows, n_cols = present.shape
    tests = 1 + 2 + 2 + 2  # total, rows/cols extremes, rows/cols dispersion, pairs along both axes
    a_sub = a / tests
    total = int(present.sum())
    lo, hi = _binom_interval(n_rows * n_cols, p, a_sub)
    dev = total / present.size - p
    allowed = (hi - lo) / 2 / present.size
    out.append((f"p={p:g}: {total} synapses in [{lo:.0f}, {hi:.0f}] (density {total / present.size:.4g})",
                lo <= total <= hi, abs(dev), allowed))
    for axis, name in ((1, "row"), (0, "column")):
        per = present.sum(axis=axis)
        n = present.shape[axis]
        r = per.size
        lo, hi = _binom_interval(n, p, a_sub / r)
        out.append((f"p={p:g}: {name} counts in [{lo:.0f}, {hi:.0f}] (saw {per.min()}..{per.max()})",
                    lo <= per.min() and per.max() <= hi, 0.0, 0.0))
        if 0.0 < p < 1.0 and r > 1:
            q = 1.0 - p
            ey = n * p * q
            ey2 = n * p * q * (1.0 + 3.0 * (n - 2) * p * q)
            s = float(((per - n * p) ** 2).sum())
            floor = r * ey - math.sqrt(2.0 * math.log(1.0 / a_sub) * r * ey2)
            out.append((f"p={p:g}: {name} count variance {s / r:.4g} not below the Binomial's {ey:.4g} "
                        f"(floor {max(floor, 0) / r:.4g})", s >= floor, 0.0, 0.0))
    for axis, name in ((1, "along rows"), (0, "along columns")):
        m = present if axis == 1 else present.T
        w = m.shape[1] // 2 * 2
        if w == 0:
            continue
        first, second = m[:, 0:w:2], m[:, 1:w:2]
        k = int(first.sum())
        both = int((first & second).sum())
        lo, hi = _binom_interval(k, p, a_sub)
        out.append((f"p={p:g}: neighbour {name}: {both} of {k} pairs in [{lo:.0f}, {hi:.0f}]",
                    lo <= both <= hi, 0.0, 0.0))
    return out


def fixed_tests(counts: np.ndarray, k: int, per: str, multapses: bool, a: float) -> list[tuple]:
    """A fixed number ``k`` of partners per row (``per="row"``) or column."""
    m = counts if per == "row" else counts.T
    owners = m.sum(axis=1)
    out = [(f"exactly {k} partners per {per} (saw {owners.min():.0f}..{owners.max():.0f})",
            bool(np.all(owners == k)), float(np.abs(owners - k).max(initial=0)), 0.0)]
    if not multapses:
        out.append(("no repeated partner", m.max(initial=0) <= 1, float(m.max(initial=0)), 1.0))
    degree = m.sum(axis=0)
    if k > 0 and degree.size > 1:
        expected = degree.sum() / degree.size
        chi2 = float(((degree - expected) ** 2 / expected).sum())
        limit = float(stats.chi2.isf(a / 3, degree.size - 1))
        out.append((f"partners' degrees uniform (chi2 {chi2:.4g} <= {limit:.4g})", chi2 <= limit, chi2, limit))
    return out


def weight_tests(weights: np.ndarray, law: tuple, dtype, a: float) -> list[tuple]:
    w = np.asarray(weights, dtype=np.float64)
    kind = law[0]
    n = w.size
    if n == 0 or kind == "given":
        return []
    if kind == "scalar":
        want = float(np.asarray(law[1], dtype=dtype))
        bad = np.abs(w - want).max()
        return [(f"every weight == {want:g}", bool(bad == 0), float(bad), 0.0)]
    if kind == "normal":
        mu, sigma = law[1], law[2]
        m = w.mean()
        allowed = float(stats.norm.isf(a / 4)) * sigma / math.sqrt(n)
        out = [(f"weight mean {m:.4g} within {allowed:.3g} of {mu:g}", abs(m - mu) <= allowed, abs(m - mu), allowed)]
        if n > 1:
            s2 = w.var(ddof=1)
            lo = stats.chi2.ppf(a / 4, n - 1) * sigma ** 2 / (n - 1)
            hi = stats.chi2.isf(a / 4, n - 1) * sigma ** 2 / (n - 1)
            out.append((f"weight variance {s2:.4g} in [{lo:.4g}, {hi:.4g}]", lo <= s2 <= hi, 0.0, 0.0))
        return out
    if kind == "uniform":
        low, high = law[1], law[2]
        width = high - low
        mu = (low + high) / 2
        t = width * math.sqrt(math.log(6 / a) / (2 * n))
        m = w.mean()
        dev2 = ((w - mu) ** 2).mean()
        t2 = (width / 2) ** 2 * math.sqrt(math.log(6 / a) / (2 * n))
        return [
            (f"weights in [{low:g}, {high:g}) (saw {w.min():.4g}..{w.max():.4g})",
             bool(w.min() >= low and w.max() < high), 0.0, 0.0),
            (f"weight mean {m:.4g} within {t:.3g} of {mu:g}", abs(m - mu) <= t, abs(m - mu), t),
            (f"weight variance {dev2:.4g} within {t2:.3g} of {width ** 2 / 12:.4g}",
             abs(dev2 - width ** 2 / 12) <= t2, abs(dev2 - width ** 2 / 12), t2),
        ]
    raise ValueError(f"unknown weight law {law!r}")
