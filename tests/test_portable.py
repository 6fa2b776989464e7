"""The portable (pure-JAX) products under the same tests as the default ones.

On the CPU the products run numba kernels through XLA's FFI by default (``evbench.ops.cpu.kernels``);
every other device runs the portable products. Here the equivalence tests (every family ×
product) and the vmap property of ``test_equivalence``, ``test_properties`` and ``test_jitc``
run again, the same test bodies with the same references and error bounds, under
``use_kernels("portable")``; the hypothesis tests with fewer examples (``PORTABLE_EXAMPLES``,
default 2), so that the suite stays short. ``test_kernels`` compares both paths on larger
cases. (The choice is part of JAX's trace context: nothing compiled under one is reused under
the other.) The other property tests (transposition, determinism, empty inputs, gradients)
ran on the portable path alone before the kernels existed; they now run on the default path.
"""
import inspect
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evbench.ops.base import use_kernels
from evbench.catalogue import PRODUCTS, FAMILIES

from . import test_equivalence, test_properties
from .test_jitc import (  # noqa: F401
    test_capacity_overflow_is_exact,
    test_products_match_reference,
    test_products_match_reference_float64,
)

EXAMPLES = int(os.environ.get("PORTABLE_EXAMPLES", 2))
FAMILY = pytest.mark.parametrize("family", FAMILIES.all(), ids=lambda f: f.name)


def _again(test, examples=EXAMPLES):
    """The body of a hypothesis test under a fresh ``@given(data=...)`` with ``examples``."""
    body = test.hypothesis.inner_test

    def again(*args, **kwargs):
        return body(*args, **kwargs)

    again.__name__, again.__doc__, again.__signature__ = body.__name__, body.__doc__, inspect.signature(body)
    return settings(max_examples=examples)(given(data=st.data())(again))


test_native_matches_reference = pytest.mark.parametrize("product", PRODUCTS, ids=lambda p: p.key)(
    FAMILY(_again(test_equivalence.test_native_matches_reference)))
test_vmap_equals_loop = pytest.mark.parametrize("product", [p for p in PRODUCTS if not p.batched],
                                                ids=lambda p: p.key)(
    FAMILY(_again(test_properties.test_vmap_equals_loop, 1)))


@pytest.fixture(autouse=True)
def _portable():
    with use_kernels("portable"):
        yield
