"""toyops as an evbench backend: the entry point ``toyops`` in pyproject.toml names ``BACKEND``.

Everything it needs comes from one module, evbench's public backend interface."""
from __future__ import annotations

import numpy as np

from evbench.backend_api import Backend, GradSpec, Implementation, Unsupported, coo_triples, matmul_form, oriented, \
    scatter_dense

#: the storages toyops can hold as a synapse list (just-in-time matrices are generated, not stored)
STORAGES = ("dense", "csr", "fixed", "coo")


def _apply(row, col, shape, product):
    """The product as a function of the weights (what gradients differentiate)."""
    import jax.numpy as jnp

    from .matrix import SynapseMatrix

    form = matmul_form(product)
    return lambda w, events: form(SynapseMatrix(jnp.asarray(row), jnp.asarray(col), w, shape), events)


def prepare(family, conn, product, request):
    if family.storage not in STORAGES:
        raise Unsupported(f"toyops stores synapse lists; {family.name} ({family.storage}) is not one")
    import jax.numpy as jnp

    from .matrix import SynapseMatrix

    row, col, w = coo_triples(conn)
    matrix = SynapseMatrix(jnp.asarray(row), jnp.asarray(col), jnp.asarray(w), conn.shape)
    return Implementation(
        apply=matmul_form(product), operand=matrix,
        own_dense=lambda: np.asarray(oriented(conn, product).to_dense()),
        grad=GradSpec(matrix.weights, _apply(row, col, conn.shape, product), scatter_dense(row, col, conn.shape)))


BACKEND = Backend("toyops", "toyops 0.1: synapse lists, segment_sum (evbench's example plugin)", ("toyops", "jax"),
                  prepare, api="1.0")
