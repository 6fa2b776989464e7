"""Every backend is timed alike: the callable the benchmarks time is the product compiled, with
the backend's structure and the events as arguments, so a second call with new events neither
retraces nor recompiles (a peer run op by op would pay a Python dispatch per call that evbench's
own operators do not). Only a backend that is not a JAX function (scipy) runs on the host, and
says so."""
import jax
import numpy as np
import pytest

from evbench.catalogue import PRODUCTS, get_family
from evbench.events import make_events
from evbench.harness.bench import BenchCase, Reuse, Skipped, prepare
from evbench.peers import Unsupported, BACKENDS

#: a family each backend offers every product it offers for (brainstate: events @ M only)
FAMILY = {"brainstate": "fixed_prob"}

_TRACES = []


def _listen(event, duration, **kwargs):
    if event in ("/jax/core/compile/jaxpr_trace_duration", "/jax/core/compile/backend_compile_duration"):
        _TRACES.append(event)


jax.monitoring.register_event_duration_secs_listener(_listen)


def _cases():
    for be in BACKENDS.all():
        for product in PRODUCTS:
            yield pytest.param(be.name, product.key, id=f"{be.name}-{product.key}")


@pytest.mark.parametrize("backend,product", list(_cases()))
def test_the_timed_callable_is_compiled(backend, product):
    family = FAMILY.get(backend, "fixed_prob")
    case = BenchCase(family, backend, product, 64, 0.1, 8, 4, "float32", "cpu")
    try:
        prep = prepare(case, reuse=Reuse())
    except Skipped as exc:
        if exc.status == "unsupported":
            pytest.skip(exc.reason)
        raise
    if backend == "scipy":
        assert prep.impl.timing == "host"
        return
    assert prep.impl.timing == "compiled"
    jax.block_until_ready(prep.call())  # the first call traces and compiles
    del _TRACES[:]
    for _ in range(3):  # the next event sets: new events every call
        jax.block_until_ready(prep.call())
    assert _TRACES == [], f"{backend} retraced or recompiled on a call with new events"
    if prep.impl.jit is None:  # one jax.jit of apply, compiled once for every event set
        fn = prep.impl.compiled_fn
        assert hasattr(fn, "lower") and fn._cache_size() >= 1
        before = fn._cache_size()
        jax.block_until_ready(prep.call())
        assert fn._cache_size() == before


def test_a_retrace_would_be_seen():
    """The listener catches a function that retraces on each call (the check can fail)."""
    count = []

    @jax.jit
    def f(x, k):
        count.append(1)
        return x * k

    f(np.ones(3), 1.0)
    del _TRACES[:]
    f(np.ones(3), 2.0)
    assert _TRACES == []
    f(np.ones(4), 2.0)  # a new shape: traced and compiled again
    assert "/jax/core/compile/jaxpr_trace_duration" in _TRACES


def test_every_jax_backend_compiles_with_its_structure_as_an_argument():
    """No backend closes a large structure over its compiled function: the operand is an
    argument (a closed-over structure becomes a constant XLA may fold for seconds)."""
    fam = get_family("csr")
    conn = fam.build(50, 40, conn_prob=0.2, seed=0, dtype="float32")
    for be in BACKENDS.all():
        if be.name == "scipy" or not be.available()[0]:
            continue
        from evbench.peers import Request

        for product in PRODUCTS:
            try:
                impl = be.prepare(fam, conn, product, Request(0.2, 0, ()), **be.timed(fam, product))
            except Unsupported:
                continue
            if impl.jit is not None:  # brainstate's own jit passes the layer's states as arguments
                continue
            leaves = jax.tree_util.tree_leaves(impl.operand)
            assert leaves and all(isinstance(x, jax.Array) for x in leaves), (be.name, product.key)
            e = make_events(product.n_inputs(conn.shape), 0.2, seed=3, dtype="bool",
                            batch=3 if product.batched else None)
            e = product.events_from_samples(e) if product.batched else e
            assert np.asarray(impl.run(e)).shape == product.reference(np.zeros(conn.shape), e).shape
