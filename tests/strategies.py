"""Bounded hypothesis strategies for evbench, in the manner of array-api-tests.

Shapes come from a few buckets and connection probabilities from a few values, so that the
number of distinct JAX compilations stays small; everything else (seeds, event values and
active fractions) is drawn freely. Strategies return :class:`evbench.harness.cases.Case` objects,
whose ``snippet()`` reproduces a failure.
"""
from hypothesis import strategies as st

from evbench.harness.cases import Case
from evbench.catalogue import FAMILIES
from evbench.events import VALUE_KINDS

SHAPES = ((1, 1), (1, 12), (12, 1), (12, 12), (40, 24))
CONN_PROBS = (0.0, 0.1, 0.5, 1.0)
DTYPES = ("float32", "float64")
BATCH = 3

active_fractions = st.one_of(st.sampled_from((0.0, 1.0)), st.floats(0.0, 1.0))


@st.composite
def cases(draw, family=None, shapes=SHAPES, conn_probs=CONN_PROBS, dtypes=DTYPES):
    """A case of ``family`` (a Family, or any family when None)."""
    fam = family if family is not None else draw(st.sampled_from(FAMILIES.all()))
    options = draw(st.sampled_from(fam.option_sets()))
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
        options=tuple(sorted(options.items())),
    )
