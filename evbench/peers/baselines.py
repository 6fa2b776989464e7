"""evbench's own operators and the baselines, as backends: ``native``, ``dense`` (the dense XLA
product at float32 accuracy), ``dense_default`` (the same at XLA's default matmul precision:
TF32 on recent NVIDIA GPUs) and ``scipy`` (CSR on the host)."""
from __future__ import annotations

import numpy as np

from ..backend_api import API_VERSION, Backend, Generated, GradSpec, Implementation, Unsupported, oriented

#: the matmul precision of each dense baseline (``jax.lax.Precision`` names; None: XLA's default)
DENSE_PRECISION = {"dense": "highest", "dense_default": None}


def _dense_of(conn):
    return conn.to_dense()


#: the native modes of a structure with a column index (CSR, CSC, fixed_prob, fixed-number):
#: ``built`` (the default, what the constructor does) or ``none`` (``index=False``: the product
#: against the stored axis gathers over every synapse, through its own kernel)
INDEX_MODES = ("built", "none")


def _indexed(family) -> bool:
    return family.storage in ("csr", "fixed")


def _native_modes(family) -> list[dict]:
    return [{"index": m} for m in INDEX_MODES] if _indexed(family) else [{}]


def _native(family, conn, product, request, index=None):
    if index is not None:
        if not hasattr(conn, "without_index"):
            raise Unsupported(f"{type(conn).__name__} has no column index")
        if index not in INDEX_MODES:
            raise Unsupported(f"index={index!r}: one of {INDEX_MODES}")
        conn = conn.with_index() if index == "built" else conn.without_index()
    return Implementation(apply=product.run, operand=conn,
                          own_dense=lambda: np.asarray(oriented(conn, product).to_dense()),
                          grad=GradSpec(conn, product.run, _dense_of),
                          note="" if index is None else ("column index built by the constructor (the default)"
                                                         if index == "built" else "index=False: no column index"))


def _identity(d):
    return d


_DENSE_FORMS: dict = {}


def dense_form(product, precision: str | None):
    """``apply(D, events)``: ``product`` as a dense matmul at ``precision`` (None: XLA's
    default). One function object per (product, precision)."""
    key = (product.key, precision)
    if key not in _DENSE_FORMS:
        import jax.numpy as jnp

        prec = None if precision is None else precision

        def apply(D, e):
            M = D.T if product.transposed else D
            e = e.astype(M.dtype) if e.dtype == np.bool_ else e
            return jnp.matmul(e, M, precision=prec) if product.events_left else jnp.matmul(M, e, precision=prec)

        _DENSE_FORMS[key] = apply
    return _DENSE_FORMS[key]


def _dense_xla(name):
    """``prepare`` of a dense baseline: its one mode names its matmul precision, so tables
    and the report say what every speedup divides by."""
    declared = DENSE_PRECISION[name]

    def prepare(family, conn, product, request, precision=declared or "default"):
        dense = conn.to_dense()
        apply = dense_form(product, None if precision == "default" else precision)
        note = ("jnp.matmul of the materialised matrix, precision="
                + (precision if precision != "default" else "XLA's default (TF32 on recent NVIDIA GPUs)"))
        return Implementation(apply=apply, operand=dense, note=note,
                              own_dense=lambda: np.asarray(oriented(dense, product)),
                              grad=GradSpec(dense, apply, _identity))

    def modes(family) -> list[dict]:
        return [{"precision": declared or "default"}]

    return prepare, modes


def _scipy(family, conn, product, request):
    import scipy.sparse as sp

    row, col, w = conn.to_coo()
    mat = sp.coo_array((np.asarray(w), (row, col)), shape=conn.shape).tocsr()  # sums duplicates
    mat_t = mat.T.tocsr()
    # the matrix that multiplies the events as columns: M.T for events @ M and M.T @ events
    A = mat_t if product.events_left != product.transposed else mat

    def host(events):
        e = np.asarray(events)
        e = e.astype(mat.dtype) if e.dtype == bool else e
        return (A @ e.T).T if product.batched and product.events_left else A @ e

    return Implementation(host=host, operand=mat, note="CSR on the host; CPU only; bool events cast to the weights",
                          own_dense=lambda: oriented(mat, product).toarray())


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


NATIVE = Backend("native", "evbench's own event-driven operators", ("jax",), _native, role="native",
                 modes=_native_modes, generate=_native_generate, api=API_VERSION)
DENSE = Backend("dense", "dense XLA product (jnp.matmul, precision=highest: float32 accuracy on every device), "
                "the baseline", ("jax",), _dense_xla("dense")[0], modes=_dense_xla("dense")[1], role="baseline",
                materialises=True, api=API_VERSION)
DENSE_DEFAULT = Backend("dense_default", "dense XLA product at XLA's default matmul precision (TF32 on recent "
                        "NVIDIA GPUs)", ("jax",), _dense_xla("dense_default")[0],
                        modes=_dense_xla("dense_default")[1], role="baseline", materialises=True,
                        api=API_VERSION)
SCIPY = Backend("scipy", "scipy.sparse CSR, CPU reference baseline", ("scipy",), _scipy, role="baseline",
                api=API_VERSION)
