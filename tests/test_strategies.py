"""Tests of the strategies and case machinery themselves (array-api-tests' meta_tests)."""
import numpy as np
import pytest
from hypothesis import given

from evbench.catalogue import PRODUCTS, get_family
from evbench.events import active_count, make_events

from evbench.testing.strategies import CONN_PROBS, DTYPES, SHAPES, cases


@given(case=cases())
def test_cases_stay_in_their_buckets(case):
    assert case.shape in SHAPES
    assert case.conn_prob in CONN_PROBS
    assert case.dtype in DTYPES
    assert case.event_dtype in ("bool", case.dtype)
    assert 0.0 <= case.active <= 1.0
    fam = get_family(case.family)
    assert dict(case.options) in fam.option_sets()


@given(case=cases())
def test_case_events_have_the_requested_count_in_every_sample(case):
    for product in PRODUCTS:
        ev = case.events(product)
        assert ev.shape == product.event_shape(case.shape, case.batch)
        samples = ev if not product.batched else (ev if product.expr.startswith("events") else ev.T)
        samples = np.atleast_2d(samples)
        want = active_count(product.n_inputs(case.shape), case.active)
        assert (np.count_nonzero(samples, axis=1) == want).all()
        assert ev.dtype == np.dtype(case.event_dtype)


@given(case=cases())
def test_snippet_reproduces_the_case(case):
    product = PRODUCTS[0]
    scope = {}
    exec(case.snippet(product), scope)
    expected = np.asarray(product.jitted(case.build(), case.events(product)))
    np.testing.assert_array_equal(np.asarray(scope["out"]), expected)


@pytest.mark.parametrize("values", ["ones", "positive", "signed"])
def test_make_events_values(values):
    ev = make_events(1000, 0.2, seed=3, dtype="float64", values=values)
    nz = ev[ev != 0]
    assert len(nz) == 200
    if values == "ones":
        assert (nz == 1).all()
    elif values == "positive":
        assert (nz >= 0.5).all() and (nz < 2).all()
    else:
        assert (np.abs(nz) >= 0.5).all() and (nz < 0).any() and (nz > 0).any()


def test_make_events_is_seeded():
    a = make_events(500, 0.1, seed=7, batch=4)
    assert np.array_equal(a, make_events(500, 0.1, seed=7, batch=4))
    assert not np.array_equal(a, make_events(500, 0.1, seed=8, batch=4))
    assert a.dtype == bool and a.shape == (4, 500)
