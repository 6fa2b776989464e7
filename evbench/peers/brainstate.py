"""brainstate (0.6) layers as a backend under test.

=================  =====================================  ========================================
family             layer                                  connectivity
=================  =====================================  ========================================
``dense``          ``EventLinear(float_as_event=...)``    evbench's dense weights
``fixed_per_pre``  ``FixedNumConn``, ``EventFixedNumConn``  the layer's own: ``conn_num`` partners per
                                                          presynaptic neuron, drawn from ``seed``
``fixed_prob``     ``EventFixedProb``                     the layer's own, drawn from ``conn_num=p``
=================  =====================================  ========================================

A layer computes ``events @ M`` only (``Module.update``): the other products are unsupported.
Where the layer draws its connectivity, the reference is its own matrix (its indices and
weights materialised by ``reference/``) and its statistics are checked against the law it
documents. Per-synapse weights are evbench's standard-normal draws for the layer's shape.
Gradients go through ``brainstate.transform.grad`` (a layer's weight is a ``ParamState``).
"""
from __future__ import annotations

import contextlib
import warnings

import numpy as np

import evbench_reference as ref

from ..backend_api import API_VERSION, Backend, Generated, GradSpec, Implementation, Unsupported, scatter_dense

def _layers(family) -> list[dict]:
    """The layers brainstate offers for a family, read from its storage and law."""
    if family.storage == "dense":
        return [{"layer": "EventLinear", "float_as_event": True}, {"layer": "EventLinear", "float_as_event": False}]
    if family.storage == "fixed" and family.law == "per_row":
        return [{"layer": "FixedNumConn"}, {"layer": "EventFixedNumConn"}]
    if family.storage == "csr" and family.law == "bernoulli":
        return [{"layer": "EventFixedProb"}]
    return []


def modes(family) -> list[dict]:
    return _layers(family) or [{}]


def timed_mode(backend, family, product=None) -> dict:
    """brainstate's event-driven layers for spikes: the ``Event*`` ones."""
    layers = modes(family)
    return next((m for m in layers if m.get("layer", "Event").startswith("Event")), layers[0])


@contextlib.contextmanager
def _quiet():
    """brainstate 0.6 calls brainevent's deprecated aliases (EventArray, FixedPostNumConn)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


def _weights(shape, dtype, seed, scalar):
    import jax.numpy as jnp

    from .. import _generate as gen
    from ..catalogue import SCALAR_WEIGHT

    if scalar:
        return jnp.asarray(SCALAR_WEIGHT, dtype)
    return jnp.asarray(gen.per_synapse_weights(np.random.default_rng(seed), shape, dtype))


def _fixed_layer(layer, n_pre, n_post, conn_prob, k, seed, dtype, scalar, multapses):
    """The layer, and the ``(n_pre, k)`` indices and weights it drew."""
    import brainstate as bs

    if layer == "EventFixedProb":
        k = int(n_post * conn_prob)  # what brainstate does with a float conn_num
        num = float(conn_prob)
    else:
        num = int(k)
    w = _weights((n_pre, k), dtype, seed, scalar)
    cls = getattr(bs.nn, layer)
    with _quiet():
        m = cls(n_pre, n_post, num, w, allow_multi_conn=multapses, seed=seed)
    if m.conn_num == 0:
        return m, np.zeros((n_pre, 0), np.int64), np.zeros((n_pre, 0))
    idx = np.asarray(m.conn.indices, np.int64)
    return m, idx, np.asarray(m.weight.value)


def prepare(family, conn, product, request, layer="EventLinear", float_as_event=True):
    import brainstate as bs
    import jax.numpy as jnp

    if not _layers(family):
        raise Unsupported(f"brainstate.nn has no layer for the {family.name} family")
    if not (product.events_left and not product.transposed):
        raise Unsupported("a brainstate layer computes events @ M only (Module.update)")
    options = request.options
    seed = request.seed
    reference = terms = None
    if layer == "EventLinear":
        W = jnp.asarray(conn.weights)
        m = bs.nn.EventLinear(conn.n_rows, conn.n_cols, W, float_as_event=float_as_event)
        semantics = "nonzero" if float_as_event else "value"
        dense_of = (lambda w: w)
        note = f"float_as_event={float_as_event}"
    else:
        p = request.conn_prob
        k = conn.conn_num if family.storage == "fixed" else 0
        m, idx, w = _fixed_layer(layer, conn.n_rows, conn.n_cols, p, k, seed, np.dtype(conn.dtype),
                                 options.get("weights") == "scalar", options.get("multapses", False))
        reference = ref.fixed_per_pre_to_dense(idx, w, conn.shape)
        terms = (ref.fixed_per_pre_to_dense(idx, np.abs(w), conn.shape),
                 ref.fixed_per_pre_to_dense(idx, np.ones_like(w), conn.shape))
        rows = np.repeat(np.arange(conn.n_rows), idx.shape[1])
        dense_of = scatter_dense(jnp.asarray(rows), jnp.asarray(idx.reshape(-1)), conn.shape)
        semantics = "value" if layer == "FixedNumConn" else "nonzero"
        note = (f"the layer's own connectivity: {idx.shape[1]} partners per row, seed={seed}"
                + (", multapses allowed" if options.get("multapses") else ""))
        if layer == "EventFixedProb":
            note = f"conn_num={p!r} becomes int(n_post * p) = {idx.shape[1]} partners per row, seed={seed}"

    def run(e):
        with _quiet():
            return m.update(jnp.asarray(e))

    def vjp(e, cot):
        def loss(x):
            return jnp.sum(m.update(x) * cot)

        with _quiet():
            return bs.transform.grad(loss, grad_states=m.weight, argnums=0)(jnp.asarray(e))

    compiled = bs.transform.jit(run)
    grad = None
    if isinstance(m.weight, bs.ParamState):
        grad = GradSpec(m.weight.value, None, dense_of, events=semantics == "value", vjp=vjp)
    return Implementation(apply=_update, operand=m, jit=compiled, reference=reference, terms=terms, note=note,
                          semantics=semantics, grad=grad)


def _update(m, e):
    """``m.update(events)``: a layer's product (the layer's state read inside)."""
    import jax.numpy as jnp

    with _quiet():
        return m.update(jnp.asarray(e))


def generate(family, shape, conn_prob, seed, dtype, layer="", **_):
    """The connectivity a layer draws, with the law its name and docstring state."""
    if not _layers(family) or family.storage == "dense" or layer == "EventLinear":
        raise Unsupported(f"brainstate does not draw {family.name} connectivity itself")
    from ..catalogue import SCALAR_WEIGHT, conn_num

    k = conn_num(conn_prob, shape[1])
    m, idx, w = _fixed_layer(layer, shape[0], shape[1], conn_prob, k, seed, np.dtype(dtype), True, False)
    counts = ref.fixed_per_pre_to_dense(idx, np.ones(idx.shape), shape)
    weights = np.broadcast_to(w, idx.shape).reshape(-1)
    if layer == "EventFixedProb":  # "fixed connection probability": each pair with probability p
        return Generated(counts, weights, "bernoulli", ("scalar", SCALAR_WEIGHT))
    return Generated(counts, weights, "per_row", ("scalar", SCALAR_WEIGHT), k=k, multapses=False)


BACKEND = Backend("brainstate", "brainstate 0.6 layers: EventLinear, FixedNumConn, EventFixedNumConn, EventFixedProb",
                  ("brainstate",), prepare, modes=modes, generate=generate, matrix_modes=("layer",),
                  timed_mode=timed_mode, api=API_VERSION)
