"""brainevent (0.3) as a backend under test.

Every structure brainevent offers for the catalogue's families, fed the same synapses as
evbench's structure where evbench builds them:

========================  ==============================================================
family                    brainevent
========================  ==============================================================
``dense``                 ``BinaryArray``/``WeightedArray`` ``@`` a ``jax.Array``, or ``Dense``
``csr``, ``fixed_prob``   ``CSR((data, indices, indptr))``
``csc``                   ``CSC((data, indices, indptr))``
``fixed_per_pre/post``    ``FixedNumPerPre/Post((data, indices))``
``jitc_*_r/c``            ``JITC{Scalar,Normal,Uniform}{R,C}((params..., prob, seed))``:
                          brainevent draws its own matrix; the reference is its own
                          ``todense()`` and its statistics are checked separately
``coo``                   unsupported (brainevent removed COO in 0.1.0)
========================  ==============================================================

Variants: ``events`` is how events are handed over: ``binary`` (``BinaryArray``: brainevent
documents that a non-zero entry counts 1, its value unused), ``weighted`` (``WeightedArray``:
the value is multiplied) or ``float`` (a plain array: the float kernels); ``corder`` (the
just-in-time families' generation layout); ``matrix`` for the dense family (a plain array or
brainevent's ``Dense``). Products use brainevent's own ``@`` and ``.T``. Kernels run with
brainevent's default backend for the device (numba on CPU).
"""
from __future__ import annotations

import numpy as np

from .base import Backend, Generated, GradSpec, Implementation, Unsupported, scatter_dense

EVENTS = ("binary", "weighted", "float")
_JITC = {"scalar": "JITCScalar", "normal": "JITCNormal", "uniform": "JITCUniform"}


def variants(family) -> list[dict]:
    if family.name == "coo":
        return [{}]
    if family.name == "dense":
        return ([{"matrix": "array", "events": e} for e in EVENTS[:2]]
                + [{"matrix": "Dense", "events": e} for e in EVENTS])
    if family.name.startswith("jitc_"):
        return [{"events": e, "corder": c} for c in (False, True) for e in EVENTS]
    return [{"events": e} for e in EVENTS]


def _wrap(mode):
    import brainevent as be
    import jax.numpy as jnp

    if mode == "binary":
        return lambda e: be.BinaryArray(jnp.asarray(e))
    if mode == "weighted":
        return lambda e: be.WeightedArray(jnp.asarray(e))
    return jnp.asarray


def _product_fn(product, wrap):
    key = product.key
    if key in ("vecmat", "vecmat_batch"):
        return lambda S, e: wrap(e) @ S
    if key in ("matvec", "matvec_batch"):
        return lambda S, e: S @ wrap(e)
    if key == "vecmat_T":
        return lambda S, e: wrap(e) @ S.T
    if key == "matvec_T":
        return lambda S, e: S.T @ wrap(e)
    raise Unsupported(f"product {key}")


def _jitc_params(family, dtype):
    import jax.numpy as jnp

    from ..catalogue import JITC_WEIGHTS

    kind = family.name.split("_")[1]
    w = JITC_WEIGHTS[kind]
    names = {"scalar": ("weight",), "normal": ("w_mean", "w_std"), "uniform": ("w_low", "w_high")}[kind]
    return kind, tuple(jnp.asarray(w[n], dtype) for n in names)


def _jitc_builder(family, shape, conn_prob, seed, corder):
    import brainevent as be

    kind = family.name.split("_")[1]
    cls = getattr(be, _JITC[kind] + family.name[-1].upper())

    def build(params):
        return cls((*params, float(conn_prob), int(seed)), shape=tuple(shape), corder=corder)

    return build


def _stored(family, conn):
    """``(build(data), data, row, col)``: brainevent's structure holding evbench's synapses,
    rebuilt from its data (for gradients), and the dense position of each datum."""
    import brainevent as be
    import jax.numpy as jnp

    name = family.name
    if name in ("csr", "fixed_prob"):
        indptr, indices = np.asarray(conn.indptr), np.asarray(conn.indices)
        row = np.repeat(np.arange(conn.n_rows), np.diff(indptr))
        return (lambda d: be.CSR((d, indices, indptr), shape=conn.shape)), conn.weights, row, indices.astype(np.int64)
    if name == "csc":
        base = conn.base
        indptr, indices = np.asarray(base.indptr), np.asarray(base.indices)
        col = np.repeat(np.arange(base.n_rows), np.diff(indptr))
        return (lambda d: be.CSC((d, indices, indptr), shape=conn.shape)), base.weights, indices.astype(np.int64), col
    if name == "fixed_per_pre":
        idx = np.asarray(conn.indices)
        row = np.repeat(np.arange(conn.n_rows), idx.shape[1])
        return (lambda d: be.FixedNumPerPre((d, idx), shape=conn.shape)), conn.weights, row, idx.reshape(-1)
    if name == "fixed_per_post":
        idx = np.asarray(conn.base.indices)
        col = np.repeat(np.arange(conn.n_cols), idx.shape[1])
        return (lambda d: be.FixedNumPerPost((d, idx), shape=conn.shape)), conn.base.weights, idx.reshape(-1), col
    raise Unsupported(f"family {name}")


def prepare(family, conn, product, events="float", corder=False, matrix="array"):
    import jax.numpy as jnp

    name = family.name
    if name == "coo":
        raise Unsupported("brainevent 0.3 has no COO format (removed in 0.1.0; use CSR/CSC)")
    wrap = _wrap(events)
    fn = _product_fn(product, wrap)
    semantics = "nonzero" if events == "binary" else "value"
    transposed = product.key.endswith("_T")
    reference = None
    note = f"{events} events"
    if name == "dense":
        W = jnp.asarray(conn.weights)
        if matrix == "Dense":
            import brainevent as be

            build = (lambda d: be.Dense(d))
        else:
            build = (lambda d: d)
        S, params, dense_of = build(W), W, (lambda d: d)
        note += f", weights as {'brainevent.Dense' if matrix == 'Dense' else 'a jax.Array'}"
    elif name.startswith("jitc_"):
        kind, params = _jitc_params(family, conn.dtype)
        spec = conn.reference_spec()
        build = _jitc_builder(family, conn.shape, spec["conn_prob"], spec["seed"], corder)
        S = build(params)
        dense_of = (lambda p: build(p).todense())
        # materialised only when a check needs it: benchmarks never do, and todense()
        # compiles a kernel of its own in every fresh process
        reference = (lambda: np.asarray(S.todense(), dtype=np.float64))
        note += f", corder={corder}; brainevent draws its own matrix (reference: its todense())"
    else:
        build, params, row, col = _stored(family, conn)
        S = build(params)
        dense_of = scatter_dense(jnp.asarray(row), jnp.asarray(col), conn.shape)

    def own_dense():
        M = S.T if transposed else S
        return np.asarray(M if isinstance(M, jnp.ndarray) else M.todense())

    return Implementation(
        run=lambda e: fn(S, e), reference=reference, structure=S, note=note, semantics=semantics,
        jax_fn=lambda e: fn(S, e),
        own_dense=own_dense,
        grad=GradSpec(params, lambda p, e: fn(build(p), e), dense_of, events=events != "binary"),
    )


def generate(family, shape, conn_prob, seed, dtype, corder=False, **_):
    """brainevent's own just-in-time matrix, with the law its docstrings state:
    ``W[i, j] = w * B[i, j]``, ``B[i, j] ~ Bernoulli(p)``."""
    if not family.name.startswith("jitc_"):
        raise Unsupported(f"brainevent does not draw {family.name} connectivity itself")
    kind, params = _jitc_params(family, dtype)
    dense = np.asarray(_jitc_builder(family, shape, conn_prob, seed, corder)(params).todense(), dtype=np.float64)
    counts = (dense != 0).astype(np.float64)
    law = {"scalar": ("scalar",), "normal": ("normal",), "uniform": ("uniform",)}[kind] + tuple(
        float(p) for p in params)
    return Generated(counts, dense[dense != 0], "bernoulli", law)


BACKEND = Backend(
    "brainevent", "brainevent 0.3: BinaryArray/WeightedArray with dense weights, CSR, CSC, FixedNumPerPre/Post, "
    "JITC*R/C", ("brainevent",), prepare, variants=variants, generate=generate, structure_options=("corder",))
