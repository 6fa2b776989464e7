"""Bounded hypothesis strategies for event-driven operators, in the manner of array-api-tests:
for evbench's own tests, its pytest plugin, and libraries that write their own properties.

Shapes come from a few buckets and connection probabilities from a few values, so that the number
of distinct JAX compilations stays small; everything else (seeds, event values and active
fractions) is drawn freely. :func:`cases` gives :class:`evbench.harness.cases.Case` objects
(``case.build()`` is the structure, ``case.events(product)`` the events, ``case.snippet(product)``
Python that reproduces it); :func:`structures` and :func:`events` give the pieces::

    from hypothesis import given
    from evbench import get_family, get_product
    from evbench.testing import strategies as evst

    @given(case=evst.cases(get_family("csr")))
    def test_my_csr(case):
        M, p = case.build(), get_product("vecmat")
        ...  # my_library(M) against p.reference(get_family("csr").reference(M), case.events(p))

Needs hypothesis (``pip install "evbench[testing]"``).
"""
from hypothesis import strategies as st

from ..catalogue import FAMILIES
from ..events import VALUE_KINDS, make_events
from ..harness.cases import Case

SHAPES = ((1, 1), (1, 12), (12, 1), (12, 12), (40, 24))
CONN_PROBS = (0.0, 0.1, 0.5, 1.0)
DTYPES = ("float32", "float64")
BATCH = 3

active_fractions = st.one_of(st.sampled_from((0.0, 1.0)), st.floats(0.0, 1.0))


@st.composite
def cases(draw, family=None, shapes=SHAPES, conn_probs=CONN_PROBS, dtypes=DTYPES, options=None):
    """A case of ``family`` (a :class:`~evbench.catalogue.Family`, or any family when None):
    shape, connection probability, seed, dtype, event kind and values, active fraction, and the
    family's structure ``options`` (a dict; None: drawn among every option set)."""
    fam = family if family is not None else draw(st.sampled_from(FAMILIES.all()))
    chosen = fam.resolve_options(options) if options is not None else draw(st.sampled_from(fam.option_sets()))
    dtype = draw(st.sampled_from(dtypes))
    event_dtype = draw(st.sampled_from(("bool", dtype)))
    values = "ones" if event_dtype == "bool" else draw(st.sampled_from(VALUE_KINDS))
    return Case(
        family=fam.name,
        shape=draw(st.sampled_from(shapes)),
        conn_prob=draw(st.sampled_from(conn_probs)),
        seed=draw(st.integers(0, 2**16)),
        dtype=dtype,
        event_dtype=event_dtype,
        values=values,
        active=draw(active_fractions),
        batch=BATCH,
        event_seed=draw(st.integers(0, 2**16)),
        options=tuple(sorted(chosen.items())),
    )


def structures(family=None, **kw):
    """A built structure of ``family`` (see :func:`cases` for the keywords)."""
    return cases(family, **kw).map(lambda case: case.build())


@st.composite
def events(draw, n: int, batch: int | None = None, dtypes=("bool", *DTYPES)):
    """Spike vectors of length ``n`` (``batch`` of them, as rows, when given): booleans or
    floats with values 1, positive or signed, at a drawn active fraction."""
    dtype = draw(st.sampled_from(dtypes))
    values = "ones" if dtype == "bool" else draw(st.sampled_from(VALUE_KINDS))
    return make_events(n, draw(active_fractions), seed=draw(st.integers(0, 2**16)), batch=batch, dtype=dtype,
                       values=values)
