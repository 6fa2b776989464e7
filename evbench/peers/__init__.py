"""Implementations under test, behind one adapter interface: the catalogue of backends.

A backend turns a catalogue structure (built by evbench from shape, parameters and seed)
and a product into a callable on events, using its own data structures. Validation and
benchmarks iterate over :func:`backends`; nothing else lists them.

``prepare(family, conn, product, **option)`` raises :class:`Unsupported` (with the reason)
for a family, product or option the backend does not offer: it is reported as
``unsupported``, never skipped silently. A backend offers *variants* (its own options, such
as brainevent's event wrapper or ``corder``): every variant is validated as a backend of its
own. Peer libraries live in ``_peer_*`` modules and import their package only when used, so
a missing package makes its backend ``missing`` and nothing else.
"""
from __future__ import annotations

import numpy as np

from .base import (  # noqa: F401  (the interface, re-exported)
    SEMANTICS, Backend, Generated, GradSpec, Implementation, Unsupported, coo_triples, option_label, scatter_dense,
)


_BACKENDS: dict[str, Backend] = {}


def register_backend(backend: Backend) -> Backend:
    if backend.name in _BACKENDS:
        raise ValueError(f"backend {backend.name!r} is already registered")
    _BACKENDS[backend.name] = backend
    return backend


def backends() -> tuple[Backend, ...]:
    return tuple(_BACKENDS.values())


def get_backend(name: str) -> Backend:
    try:
        return _BACKENDS[name]
    except KeyError:
        raise ValueError(f"unknown backend {name!r}; valid backends: {', '.join(_BACKENDS)}") from None


# -- native, dense XLA, scipy ------------------------------------------------------------------

def _native(family, conn, product):
    def dense(c):
        return c.to_dense()

    def own_dense():
        m = conn.T if product.key.endswith("_T") else conn
        return np.asarray(m.to_dense())

    def run(events):
        return product.jitted(conn, events)

    return Implementation(run=run, structure=conn, jax_fn=lambda events: product.run(conn, events), jitted=run,
                          own_dense=own_dense, grad=GradSpec(conn, product.run, dense))


def _dense_xla(family, conn, product):
    dense = conn.to_dense()

    def own_dense():
        return np.asarray(dense.T if product.key.endswith("_T") else dense)

    def run(events):
        return product.jitted(dense, events)

    return Implementation(run=run, structure=dense, note="plain jnp matmul of the materialised matrix",
                          jax_fn=lambda events: product.run(dense, events), jitted=run, own_dense=own_dense,
                          grad=GradSpec(dense, product.run, lambda d: d))


def _scipy(family, conn, product):
    import scipy.sparse as sp

    row, col, w = conn.to_coo()
    mat = sp.coo_array((np.asarray(w), (row, col)), shape=conn.shape).tocsr()  # sums duplicates
    mat_t = mat.T.tocsr()

    def run(events):
        e = np.asarray(events)
        e = e.astype(mat.dtype) if e.dtype == bool else e
        if product.key in ("vecmat", "matvec_T"):
            return mat_t @ e
        if product.key in ("matvec", "vecmat_T"):
            return mat @ e
        if product.key == "vecmat_batch":
            return (mat_t @ e.T).T
        if product.key == "matvec_batch":
            return mat @ e
        raise Unsupported(f"product {product.key}")

    def own_dense():
        return (mat_t if product.key.endswith("_T") else mat).toarray()

    return Implementation(run=run, structure=mat, note="CSR on the host; CPU only; bool events cast to the weights",
                          own_dense=own_dense)


def _native_generate(family, shape, conn_prob, seed, dtype):
    """A structure of a family that draws itself at random, with the law its catalogue entry
    documents (``law``, ``weight_law``)."""
    if not family.law:
        raise Unsupported(f"family {family.name} is built from given synapses, not drawn by the backend")
    conn = family.build(*shape, conn_prob=conn_prob, seed=seed, dtype=dtype, **family.drawn_options)
    dense, counts = family.reference_terms(conn)
    signed = family.reference(conn)
    w = signed[counts > 0] / np.maximum(counts[counts > 0], 1)
    if family.law in ("per_row", "per_col"):
        from ..catalogue import conn_num

        k = conn_num(conn_prob, shape[1] if family.law == "per_row" else shape[0])
        return Generated(counts, w, family.law, family.weight_law, k=k, multapses=False)
    return Generated(counts, w, family.law, family.weight_law, axis=family.event_driven)


register_backend(Backend("native", "evbench's own event-driven operators", ("jax",), _native, role="native",
                         generate=_native_generate))
register_backend(Backend("dense", "dense XLA product (jnp matmul), the baseline", ("jax",), _dense_xla,
                         role="baseline"))
register_backend(Backend("scipy", "scipy.sparse CSR, CPU reference baseline", ("scipy",), _scipy,
                         role="baseline"))

# -- peers: each module defines BACKEND and imports its library only when used -----------------
from . import brainevent as _peer_brainevent  # noqa: E402
from . import brainstate as _peer_brainstate
from . import jaxsparse as _peer_jaxsparse

for _peer in (_peer_brainevent, _peer_brainstate, _peer_jaxsparse):
    register_backend(_peer.BACKEND)
