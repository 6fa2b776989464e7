"""Properties every structure must have, generic over the catalogue."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evbench.harness.cases import Case, Built
from evbench.catalogue import PRODUCTS, FAMILIES, get_product
from evbench.events import make_events
from evbench.tolerance import error_bound

from evbench.testing.strategies import cases

ALL_FAMILIES = FAMILIES.all()
fam_ids = dict(ids=lambda f: f.name)
VECMAT, MATVEC = get_product("vecmat"), get_product("matvec")


def _bound(prep, product, events, dtype):
    return error_bound(product, prep.abs_weights, prep.counts, events, dtype, weight_error=prep.weight_error)


@pytest.mark.parametrize("family", ALL_FAMILIES, **fam_ids)
@given(data=st.data())
def test_transpose_identity(family, data):
    """events @ M.T == M @ events and M.T @ events == events @ M, bitwise; (M.T).T is M."""
    case = data.draw(cases(family))
    M = case.build()
    cols = case.events(MATVEC)
    rows = case.events(VECMAT)
    np.testing.assert_array_equal(np.asarray(cols @ M.T), np.asarray(M @ cols))
    np.testing.assert_array_equal(np.asarray(M.T @ rows), np.asarray(rows @ M))
    np.testing.assert_array_equal(np.asarray(M.T.to_dense()), np.asarray(M.to_dense()).T)
    assert M.T.T.shape == M.shape and M.T.shape == M.shape[::-1]


@pytest.mark.parametrize("family", ALL_FAMILIES, **fam_ids)
@given(data=st.data(), scale=st.sampled_from([-2.0, 0.5, 3.0]))
def test_linearity(family, data, scale):
    """(a·s1 + s2) @ M equals a·(s1 @ M) + s2 @ M within the sum of the three error bounds."""
    case = data.draw(cases(family, dtypes=("float64",)))
    prep = Built(case)
    n = M_n = case.shape[0]
    s1 = make_events(M_n, 0.3, seed=case.event_seed, dtype="float64", values="signed")
    s2 = make_events(n, 0.5, seed=case.event_seed + 1, dtype="float64", values="signed")
    combo = scale * s1 + s2
    lhs = np.asarray(combo @ prep.conn)
    rhs = scale * np.asarray(s1 @ prep.conn) + np.asarray(s2 @ prep.conn)
    tol = (_bound(prep, VECMAT, combo, "float64") + abs(scale) * _bound(prep, VECMAT, s1, "float64")
           + _bound(prep, VECMAT, s2, "float64")) * 2
    assert np.all(np.abs(lhs - rhs) <= tol)


@pytest.mark.parametrize("product", [p for p in PRODUCTS if not p.batched], ids=lambda p: p.key)
@pytest.mark.parametrize("family", ALL_FAMILIES, **fam_ids)
@given(data=st.data())
@settings(max_examples=3)
def test_vmap_equals_loop(family, product, data):
    """vmap over a batch of event vectors equals a Python loop over them (each within its
    error bound of the exact value, hence within twice the bound of each other)."""
    case = data.draw(cases(family))
    prep = Built(case)
    n = product.n_inputs(case.shape)
    batch = make_events(n, case.active, seed=case.event_seed, batch=4, dtype=case.event_dtype, values=case.values)
    vm = np.asarray(jax.vmap(lambda e: product.run(prep.conn, e))(batch))
    loop = np.stack([np.asarray(product.run(prep.conn, e)) for e in batch])
    bound = np.stack([_bound(prep, product, e, case.dtype) for e in batch])
    assert np.all(np.abs(vm - loop) <= 2 * bound)


@pytest.mark.parametrize("family", ALL_FAMILIES, **fam_ids)
@given(data=st.data())
@settings(max_examples=2)
def test_jit_equals_eager(family, data):
    """The product run op by op (jax.disable_jit) equals the compiled one within the bound."""
    case = data.draw(cases(family, shapes=((1, 1), (12, 12))))
    prep = Built(case)
    for product in (VECMAT, MATVEC):
        e = case.events(product)
        jitted = np.asarray(product.jitted(prep.conn, e))
        with jax.disable_jit():
            eager = np.asarray(product.run(prep.conn, e))
        assert np.all(np.abs(jitted - eager) <= 2 * _bound(prep, product, e, case.dtype))


@pytest.mark.parametrize("family", ALL_FAMILIES, **fam_ids)
def test_bitwise_determinism(family):
    """The same seed gives the same structure and the same output, bitwise; another seed
    gives another structure (for families drawn at random)."""
    case = Case(family.name, (40, 24), 0.3, 11, "float32", "float32", "signed", 0.4, options=())
    a, b = case.build(), case.build()
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    for product in PRODUCTS:
        e = case.events(product)
        np.testing.assert_array_equal(np.asarray(product.run(a, e)), np.asarray(product.run(b, e)))
    other = Case(family.name, (40, 24), 0.3, 12, "float32", "float32", "signed", 0.4, options=())
    assert not np.array_equal(np.asarray(other.build().to_dense()), np.asarray(a.to_dense()))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("family", ALL_FAMILIES, **fam_ids)
def test_empty_and_all_active_inputs(family, dtype):
    prep = Built(Case(family.name, (12, 40), 0.5, 3, dtype, "bool", "ones", 0.0))
    for product in PRODUCTS:
        shape = product.event_shape(prep.conn.shape, 3)
        zeros = np.zeros(shape, bool)
        out = np.asarray(product.run(prep.conn, zeros))
        assert out.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(out, np.zeros_like(out))  # exactly zero, no stray term
        ones = np.ones(shape, bool)
        full = np.asarray(product.run(prep.conn, ones))
        assert np.all(np.abs(full - product.reference(prep.dense, ones)) <= _bound(prep, product, ones, dtype))


@pytest.mark.parametrize("family", ALL_FAMILIES, **fam_ids)
@given(data=st.data())
@settings(max_examples=3)
def test_gradients_equal_dense(family, data):
    """grad of a loss through events @ M and M @ events, w.r.t. the stored weights and the
    float events, equals the gradient through the dense product (chain rule via to_dense)."""
    case = data.draw(cases(family, dtypes=("float64",), shapes=((1, 12), (12, 12), (40, 24))))
    M = case.build()
    for product in (VECMAT, MATVEC, get_product("vecmat_batch")):
        e = jnp.asarray(case.events(product).astype("float64"))
        g = jnp.asarray(make_events(product.n_outputs(case.shape), 1.0, seed=1, dtype="float64", values="signed"))

        def loss(conn, ev):
            return jnp.sum(jnp.tanh(product.run(conn, ev)) * g)

        def dense_loss(dense, ev):
            return jnp.sum(jnp.tanh(product.run(dense, ev)) * g)

        gm, ge = jax.grad(loss, argnums=(0, 1), allow_int=True)(M, e)
        gd, ge_dense = jax.grad(dense_loss, argnums=(0, 1))(M.to_dense(), e)
        _, to_dense_vjp = jax.vjp(lambda c: c.to_dense(), M)
        (gm_expected,) = to_dense_vjp(gd)
        np.testing.assert_allclose(np.asarray(ge), np.asarray(ge_dense), rtol=1e-10, atol=1e-12)
        for got, want in zip(jax.tree_util.tree_leaves(gm), jax.tree_util.tree_leaves(gm_expected)):
            if np.dtype(got.dtype).kind == "f":
                np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("mode", ["auto", "portable", "gpu"])
@pytest.mark.parametrize("family", ALL_FAMILIES, **fam_ids)
def test_a_sample_with_a_non_finite_event_is_nan_everywhere(family, mode):
    """README "Event semantics": every output of a sample holding inf, -inf or NaN is NaN (the
    dense product's NaN where a synapse is absent, never a finite-looking value); the other
    samples are untouched. Every product (one entry point marks them: the other implementations
    are checked on the batches), eager and under jit."""
    from evbench.ops.base import use_kernels

    M = family.build(6, 5, conn_prob=0.5, seed=3, dtype="float64")
    dense = np.asarray(M.to_dense(), np.float64)
    with use_kernels(mode):
        for product in PRODUCTS if mode == "auto" else [p for p in PRODUCTS if p.batched]:
            n = product.n_inputs(M.shape)
            samples = make_events(n, 0.5, seed=1, batch=4, dtype="float64", values="signed")
            for k, bad in enumerate((np.inf, -np.inf, np.nan)):
                samples[k, (n // 2 + k) % n] = bad
            if not product.batched:  # one sample at a time
                for k in range(4):
                    out = np.asarray(product.run(M, samples[k]))
                    assert np.isnan(out).all() == (k < 3) and (k < 3 or np.isfinite(out).all()), (product.key, k)
                continue
            for run in (product.run, product.jitted) if mode == "auto" else (product.run,):
                out = np.asarray(run(M, product.events_from_samples(samples)))
                out = out if product.events_left else out.T
                assert np.isnan(out[:3]).all(), product.key
                want = product.reference(dense, product.events_from_samples(samples[3:]))
                np.testing.assert_allclose(out[3], (want if product.events_left else want.T)[0], rtol=1e-12,
                                           atol=1e-12)


def test_the_reproducer_of_non_finite_events():
    M = __import__("evbench").CSR([0, 2, 2, 5], [1, 3, 0, 2, 3], np.float64([1, 2, 3, 4, 5]), (3, 4))
    assert np.isnan(np.asarray(M.vecmat(np.array([np.inf, 0, 0])))).all()  # the dense product: [nan inf nan inf]
    assert np.isnan(np.asarray(M.vecmat(np.array([np.nan, 0, 0])))).all()  # the dense product: all NaN
    assert np.isnan(np.asarray(M @ np.array([np.inf, 0, 0, 0]))).all()
    assert np.array_equal(np.asarray(M.vecmat(np.array([True, False, True]))), [3.0, 1.0, 4.0, 7.0])
