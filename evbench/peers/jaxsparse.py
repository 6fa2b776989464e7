"""``jax.experimental.sparse`` as a backend under test: BCOO and BCSR.

Every family is handed over as its list of synapses (``to_coo()``, duplicates kept, scalar
weights repeated per synapse): BCOO directly (the ``coo`` family keeps its unordered order),
BCSR after a stable sort by row (the ``csr`` and ``fixed_prob`` families are already in that
order). Products use the formats' own ``@`` and ``.T``; what a format does not implement
(``NotImplementedError``) is reported as unsupported with jax's message. Events go in as they
are, boolean included: a dense operand multiplies by its value.
"""
from __future__ import annotations

import numpy as np

from ..backend_api import API_VERSION, Backend, GradSpec, Implementation, coo_triples, matmul_form, oriented, scatter_dense

FORMATS = ("bcoo", "bcsr")


def modes(family) -> list[dict]:
    return [{"format": f} for f in FORMATS]


def _as_jax(e):
    """Events as a JAX array (``numpy.ndarray @ BCOO`` would make NumPy iterate over the BCOO
    row by row, one sparse slice each: minutes for 300 rows)."""
    import jax.numpy as jnp

    return jnp.asarray(e)


def prepare(family, conn, product, request, format="bcoo"):
    import jax.numpy as jnp
    from jax.experimental import sparse as js

    row, col, w = coo_triples(conn)
    w = np.broadcast_to(np.asarray(w), row.shape).astype(np.dtype(conn.dtype))
    if format == "bcsr":
        order = np.argsort(row, kind="stable")
        row, col, w = row[order], col[order], w[order]
        indptr = np.searchsorted(row, np.arange(conn.n_rows + 1)).astype(np.int32)
        cols = jnp.asarray(col.astype(np.int32))

        def build(data):
            return js.BCSR((data, cols, jnp.asarray(indptr)), shape=conn.shape)
    else:
        idx = jnp.asarray(np.stack([row, col], axis=1).astype(np.int32).reshape(-1, 2))

        def build(data):
            return js.BCOO((data, idx), shape=conn.shape)

    data = jnp.asarray(w)
    S = build(data)
    fn = matmul_form(product, _as_jax)
    return Implementation(
        apply=fn, operand=S, own_dense=lambda: np.asarray(oriented(S, product).todense()),
        note=f"{format.upper()} from the synapse list (scalar weights repeated)",
        grad=GradSpec(data, lambda d, e: fn(build(d), e), scatter_dense(jnp.asarray(row), jnp.asarray(col), conn.shape)),
    )


BACKEND = Backend("jaxsparse", "jax.experimental.sparse: BCOO and BCSR", ("jax.experimental.sparse",),
                  prepare, modes=modes, api=API_VERSION)
