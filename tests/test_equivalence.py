"""Native products against the NumPy float64 references, for every family × product.

The tolerance is the floating-point error bound of each output's sum (evbench.tolerance):
``(n_terms + 1) · eps · Σ|w·s|``, zero where no term is non-zero.
"""
import numpy as np
import pytest
from hypothesis import given, note
from hypothesis import strategies as st

from evbench.harness.cases import Built, compare_case
from evbench.catalogue import PRODUCTS, FAMILIES

from evbench.testing.strategies import cases

ALL_FAMILIES = FAMILIES.all()


@pytest.mark.parametrize("product", PRODUCTS, ids=lambda p: p.key)
@pytest.mark.parametrize("family", ALL_FAMILIES, ids=lambda f: f.name)
@given(data=st.data())
def test_native_matches_reference(family, product, data):
    case = data.draw(cases(family))
    note(f"case: {case.describe()}\nreproduce with:\n{case.snippet(product)}")
    res = compare_case(case, product)
    assert res.passed, f"{product.expr}: error {res.error:.3g} > tolerance {res.tolerance:.3g}"


@pytest.mark.parametrize("family", ALL_FAMILIES, ids=lambda f: f.name)
@given(data=st.data())
def test_to_dense_matches_reference(family, data):
    case = data.draw(cases(family))
    note(case.describe())
    prep = Built(case)
    dense = np.asarray(prep.conn.to_dense(), dtype=np.float64)
    # to_dense sums duplicates in the weight dtype: at most (count) roundings of |w| each
    eps = np.finfo(case.dtype).eps
    bound = prep.counts * eps * prep.abs_weights + prep.weight_error * prep.counts
    assert dense.shape == case.shape
    assert np.all(np.abs(dense - prep.dense) <= bound)
