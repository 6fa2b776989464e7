"""Statistics of the random families: acceptance bounds from the sampling distribution, so a
correct generator fails with probability below 1e-6 over the whole module."""
import pytest
from scipy import stats

from evbench.catalogue import conn_num, FAMILIES, get_family

BERNOULLI = [f for f in FAMILIES.all() if f.bernoulli]
PROBS = (0.0, 0.001, 0.02, 0.3, 0.97, 1.0)
SHAPE = (300, 400)
#: per-check false-failure probability: 1e-6 shared by every check of this module
ALPHA = 1e-6 / (len(BERNOULLI) * len(PROBS) * 2 + 8)


@pytest.mark.parametrize("p", PROBS)
@pytest.mark.parametrize("family", BERNOULLI, ids=lambda f: f.name)
def test_realised_density_is_binomial(family, p):
    """Every entry is present with probability p independently, so the number of synapses
    is Binomial(n_rows·n_cols, p): the count must lie in its central 1 - ALPHA interval."""
    _, counts = family.reference_terms(family.build(*SHAPE, conn_prob=p, seed=5))
    assert counts.max(initial=0) <= 1, "a Bernoulli family cannot repeat a synapse"
    total = SHAPE[0] * SHAPE[1]
    lo, hi = stats.binom.ppf(ALPHA / 2, total, p), stats.binom.isf(ALPHA / 2, total, p)
    assert lo <= counts.sum() <= hi, f"{counts.sum()} synapses outside [{lo}, {hi}] for p={p}"
    # rows too: the row with the fewest/most synapses (Bonferroni over rows)
    row_lo = stats.binom.ppf(ALPHA / 2 / SHAPE[0], SHAPE[1], p)
    row_hi = stats.binom.isf(ALPHA / 2 / SHAPE[0], SHAPE[1], p)
    per_row = counts.sum(axis=1)
    assert row_lo <= per_row.min() and per_row.max() <= row_hi


@pytest.mark.parametrize("multapses", [False, True])
@pytest.mark.parametrize("name", ["fixed_per_pre", "fixed_per_post"])
def test_fixed_number_structure(name, multapses):
    """Exactly conn_num partners per neuron, distinct without multapses, spread uniformly
    over the partners (chi-square bound on the partners' degrees)."""
    fam = get_family(name)
    n_pre, n_post, p = 500, 300, 0.1
    _, counts = fam.reference_terms(fam.build(n_pre, n_post, conn_prob=p, seed=9, multapses=multapses))
    per_owner = counts.sum(axis=0 if name == "fixed_per_post" else 1)
    partners = n_pre if name == "fixed_per_post" else n_post
    k = conn_num(p, partners)
    assert (per_owner == k).all()
    if not multapses:
        assert counts.max() <= 1
    degree = counts.sum(axis=1 if name == "fixed_per_post" else 0)  # partners' degrees
    expected = degree.sum() / degree.size
    chi2 = ((degree - expected) ** 2 / expected).sum()
    assert chi2 <= stats.chi2.isf(ALPHA, degree.size - 1)


def test_multapses_occur_when_allowed():
    fam = get_family("fixed_per_pre")
    _, counts = fam.reference_terms(fam.build(200, 50, conn_prob=0.5, seed=1, multapses=True))
    assert counts.max() > 1  # P(no repeat in 200 rows of 25 draws from 50) is astronomically small
