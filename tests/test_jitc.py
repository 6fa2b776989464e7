"""Just-in-time random connectivity (evbench/ops/jitc.py) against its specification
(reference/jitconn.py): structure bitwise, products within the float error bound, the
row/column identity, determinism, capacity overflow, statistics, gradients, bad input."""
import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from scipy import stats  # noqa: E402

from evbench.ops import jitc as J  # noqa: E402
from evbench.catalogue import PRODUCTS, get_family  # noqa: E402
from evbench.events import make_events  # noqa: E402
from evbench.tolerance import compare, error_bound  # noqa: E402
from evbench_reference import jitconn as rj  # noqa: E402

#: false-failure probability of each statistical test: 1e-6 shared by the module's six
#: (test_realised_density x 4, test_weight_moments x 2)
ALPHA = 1e-6 / 6

WEIGHTS = {
    "scalar": {"weight": 0.5},
    "normal": {"w_mean": 0.3, "w_std": 1.5},
    "uniform": {"w_low": -0.7, "w_high": 1.3},
}
ROW = {"scalar": J.JITCScalarR, "normal": J.JITCNormalR, "uniform": J.JITCUniformR}
COL = {"scalar": J.JITCScalarC, "normal": J.JITCNormalC, "uniform": J.JITCUniformC}


def build(kind, orient, shape, p, seed, **kw):
    cls = (ROW if orient == "R" else COL)[kind]
    return cls(shape, p, seed=seed, **WEIGHTS[kind], **kw)


def reference_of(M):
    return rj.jitc_to_dense(**M.reference_spec())


# -- the scheme's pieces ------------------------------------------------------------------------

def test_hash_and_constants_match_reference():
    x = np.random.default_rng(0).integers(0, 2**32, size=4096, dtype=np.uint64).astype(np.uint32)
    x[:4] = [0, 1, 2**31, 2**32 - 1]
    assert np.array_equal(np.asarray(J._mix(jnp.asarray(x))), rj.mix(x))
    assert np.array_equal(np.array(J._DRAW_KEYS, dtype=np.uint32), rj.DRAW_KEYS)


@pytest.mark.parametrize("p", [0.0, 1.0, 0.5, 0.3, 1e-3, 0.999999, 1e-12, 2.0**-70, 5e-324])
def test_thresholds_match_reference(p):
    table, delta = J._thresholds(p)
    assert np.array_equal(table, rj.thresholds(p))
    assert 0 <= delta <= 35 * 2.0**-33
    if p in (0.0, 1.0):
        assert delta == 0.0


def test_threshold_edge_cases():
    assert np.all(J._thresholds(1.0)[0] == 0)                      # every skip is 0: full rows
    t0 = J._thresholds(0.0)[0]
    assert t0[J._OVERFLOW] == 2**32 - 1 and np.all(t0[:32] == 2**31)  # the row ends at once
    assert J._thresholds(2.0**-70)[0][J._OVERFLOW] == 2**32 - 1     # rounds to empty


# -- structure and weights against the reference ------------------------------------------------

STRUCTURE_CASES = [
    ((1, 1), 1.0, 0), ((1, 1), 0.0, 0), ((1, 1), 0.5, 3),
    ((1, 37), 0.3, 1), ((23, 1), 0.3, 1),
    ((23, 37), 0.0, 5), ((23, 37), 1.0, 5), ((23, 37), 0.3, 2**32 - 1),
    ((37, 23), 0.05, 7), ((11, 300), 0.6, 9),
]


@pytest.mark.parametrize("shape,p,seed", STRUCTURE_CASES)
def test_structure_and_weights_match_reference(shape, p, seed):
    for kind, orient in (("normal", "R"), ("uniform", "C")):
        M = build(kind, orient, shape, p, seed)
        counts, dense = reference_of(M)
        assert M.shape == shape
        assert np.array_equal(np.asarray(M.structure()), counts), (kind, orient)
        D = np.asarray(M.to_dense(), np.float64)
        assert np.array_equal(D != 0, counts > 0)
        assert np.max(np.abs(D - dense), initial=0.0) <= M.weight_error
    if p == 0.0:
        assert counts.sum() == 0
    if p == 1.0:
        assert np.all(counts == 1)


def test_scalar_weights_exact():
    M = build("scalar", "R", (23, 37), 0.3, 4)
    counts, dense = reference_of(M)
    assert np.array_equal(np.asarray(M.to_dense(), np.float64), dense)
    assert np.array_equal(dense, 0.5 * counts)


def test_to_coo_lists_every_synapse():
    for orient in ("R", "C"):
        M = build("uniform", orient, (23, 37), 0.3, 2)
        counts, dense = reference_of(M)
        row, col, w = M.to_coo()
        assert len(row) == counts.sum() and np.all(counts[row, col] == 1)
        assert np.max(np.abs(w - dense[row, col])) <= M.weight_error


def test_float64_same_structure():
    a = build("normal", "R", (23, 37), 0.3, 2**32 - 1)
    b = build("normal", "R", (23, 37), 0.3, 2**32 - 1, dtype="float64")
    assert np.array_equal(np.asarray(a.structure()), np.asarray(b.structure()))
    counts, dense = reference_of(b)
    assert np.max(np.abs(np.asarray(b.to_dense()) - dense)) <= b.weight_error


def test_prefix_property():
    big = np.asarray(build("scalar", "R", (37, 23), 0.05, 7).structure())
    small = np.asarray(build("scalar", "R", (23, 1), 0.05, 7).structure())
    assert np.array_equal(small, big[:23, :1])


def test_uniform_catalogue_weights_exact():
    """[-1, 1) from a 24-bit u is exact in float32: the catalogue's bound could be 0."""
    M = get_family("jitc_uniform_r").build(23, 37, conn_prob=0.3, seed=2)
    assert np.array_equal(np.asarray(M.to_dense(), np.float64), reference_of(M)[1])


# -- products ------------------------------------------------------------------------------------

JITC_FAMILIES = [f"jitc_{k}_{o}" for k in ("scalar", "normal", "uniform") for o in ("r", "c")]


def _check_products(M, fam, dtype, event_kinds, batch=3, products=PRODUCTS):
    dense = fam.reference(M)
    abs_w, counts = fam.reference_terms(M)
    for product in products:
        for ev_dtype, values, active in event_kinds:
            n = product.n_inputs(M.shape)
            samples = make_events(n, active, seed=1, batch=batch if product.batched else 1,
                                  dtype=dtype if ev_dtype == "weight" else ev_dtype, values=values)
            events = product.events_from_samples(samples)
            out = np.asarray(product.run(M, events))
            bound = error_bound(product, abs_w, counts, events, dtype, weight_error=fam.weight_error(M))
            err, tol, ratio, ok = compare(out, product.reference(dense, events), bound)
            assert ok, f"{fam.name} {product.expr} {ev_dtype}/{values}: error {err:.3g} > bound {tol:.3g}"


@pytest.mark.parametrize("name", JITC_FAMILIES)
def test_products_match_reference(name):
    fam = get_family(name)
    M = fam.build(23, 37, conn_prob=0.3, seed=11)
    _check_products(M, fam, "float32", [("bool", "ones", 0.3), ("weight", "signed", 1.0), ("bool", "ones", 0.0)])


@pytest.mark.parametrize("name", ["jitc_normal_c"])
def test_products_match_reference_float64(name):
    fam = get_family(name)
    M = fam.build(23, 37, conn_prob=0.3, seed=11, dtype="float64")
    _check_products(M, fam, "float64", [("weight", "signed", 0.5)])


def test_capacity_overflow_is_exact():
    """Rows longer than the capacity continue in further chunks: nothing is truncated."""
    M = J.JITCNormalR((23, 37), 0.6, 0.0, 1.0, seed=3, capacity=1)
    ref = J.JITCNormalR((23, 37), 0.6, 0.0, 1.0, seed=3)
    assert M.cap == 1 and ref.cap == 37
    counts, _ = reference_of(ref)
    assert counts.sum(axis=1).min() > 8   # every row needs many chunks
    assert np.array_equal(np.asarray(M.structure()), counts)
    assert np.array_equal(np.asarray(M.to_dense()), np.asarray(ref.to_dense()))
    _check_products(M, get_family("jitc_normal_r"), "float32", [("weight", "signed", 0.5)],
                    products=[p for p in PRODUCTS if p.batched])
    C = J.JITCNormalC((37, 23), 0.6, 0.0, 1.0, seed=3, capacity=2)
    assert np.array_equal(np.asarray(C.structure()), counts.T)


def test_row_col_identity_bitwise():
    """JITCxC(shape=(m, n), seed=s) == JITCxR(shape=(n, m), seed=s).T."""
    e_rows = make_events(23, 0.5, seed=2, batch=3, dtype="float32", values="signed")
    e_cols = make_events(37, 0.5, seed=3, batch=3, dtype="float32", values="signed")
    for kind in ("normal", "uniform"):
        C = build(kind, "C", (23, 37), 0.3, 8)
        R = build(kind, "R", (37, 23), 0.3, 8)
        assert np.array_equal(np.asarray(C.structure()), np.asarray(R.structure()).T)
        assert np.array_equal(np.asarray(C.to_dense()), np.asarray(R.to_dense()).T)
        assert np.array_equal(np.asarray(e_rows @ C), np.asarray(R @ e_rows.T).T)
        assert np.array_equal(np.asarray(C @ e_cols.T), np.asarray(e_cols @ R).T)
        assert C.reference_spec()["orientation"] == "C"
        assert np.array_equal(reference_of(C)[0], reference_of(R)[0].T)


def test_jit_equals_eager_bitwise():
    M = build("normal", "C", (23, 37), 0.3, 6)
    e = make_events(23, 0.5, seed=4, batch=3, dtype="float32", values="signed")
    f = make_events(37, 0.5, seed=5, batch=3, dtype="float32", values="signed").T
    jitted = jax.jit(lambda M, e, f: (e @ M, M @ f, M.to_dense(), M.structure()))
    for a, b in zip((e @ M, M @ f, M.to_dense(), M.structure()), jitted(M, e, f)):
        assert np.array_equal(np.asarray(a), np.asarray(b))


def test_seed_determinism_and_no_recompile():
    a, b = build("uniform", "R", (23, 37), 0.3, 42), build("uniform", "R", (23, 37), 0.3, 42)
    c = build("uniform", "R", (23, 37), 0.3, 43)
    assert np.array_equal(np.asarray(a.to_dense()), np.asarray(b.to_dense()))
    assert not np.array_equal(np.asarray(a.structure()), np.asarray(c.structure()))
    e = make_events(23, 0.5, seed=1, dtype="float32", values="signed")
    assert np.array_equal(np.asarray(e @ a), np.asarray(e @ b))
    f = jax.jit(lambda M, e: e @ M)
    f(a, e), f(c, e)
    assert f._cache_size() == 1   # the seed is an array leaf


def test_nbytes_independent_of_size():
    for kind in ROW:
        small = build(kind, "R", (1000, 1000), 0.1, 0)
        huge = build(kind, "C", (10**6, 10**6), 0.1, 0)
        assert small.nbytes == huge.nbytes <= 160


# -- statistics ----------------------------------------------------------------------------------

STAT_SHAPE = (1000, 2000)


def _binomial_interval(n, p, alpha):
    return stats.binom.ppf(alpha / 2, n, p), stats.binom.isf(alpha / 2, n, p)


@pytest.mark.parametrize("p", [0.001, 0.05, 0.5, 0.99])
def test_realised_density(p):
    """Total, first/last tenth of the columns, disjoint column pairs and row pairs
    (independence), each within its binomial interval; the six checks share ALPHA."""
    counts = np.asarray(build("scalar", "R", STAT_SHAPE, p, 12345).structure())
    m, n = counts.shape
    alpha = ALPHA / 6
    lo, hi = _binomial_interval(m * n, p, alpha)
    assert lo <= counts.sum() <= hi, (counts.sum(), lo, hi)
    tenth = n // 10
    lo, hi = _binomial_interval(m * tenth, p, alpha)
    assert lo <= counts[:, :tenth].sum() <= hi
    assert lo <= counts[:, -tenth:].sum() <= hi
    pairs = counts[:, 0::2] & counts[:, 1::2]
    lo, hi = _binomial_interval(pairs.size, p * p, alpha)
    assert lo <= pairs.sum() <= hi
    lo, hi = _binomial_interval(m * n // 2, p * (1 - p), alpha)   # first of a pair only
    assert lo <= (counts[:, 0::2] & (1 - counts[:, 1::2])).sum() <= hi
    lo, hi = _binomial_interval(m * n // 2, p * p, alpha)          # rows 2k and 2k + 1
    assert lo <= (counts[0::2] & counts[1::2]).sum() <= hi


def test_density_extremes_exact():
    assert int(build("scalar", "C", STAT_SHAPE, 0.0, 1).structure().sum()) == 0
    assert int(build("scalar", "C", STAT_SHAPE, 1.0, 1).structure().sum()) == STAT_SHAPE[0] * STAT_SHAPE[1]


def _z(alpha):
    return stats.norm.isf(alpha / 2)


@pytest.mark.parametrize("kind", ["normal", "uniform"])
def test_weight_moments(kind):
    """Sample mean and variance of the weights within CLT bounds (normal approximation of
    their sampling distributions, ~1e6 weights; the two checks share ALPHA)."""
    M = build(kind, "R", STAT_SHAPE, 0.5, 777)
    w = np.asarray(M.to_dense(), np.float64)[np.asarray(M.structure()) > 0]
    k = w.size
    if kind == "normal":
        mean, var = WEIGHTS[kind]["w_mean"], WEIGHTS[kind]["w_std"] ** 2
        var_of_var = 2 * var**2 / (k - 1)
    else:  # u takes the 2^24 values j 2^-24: exact discrete moments
        lo, hi = WEIGHTS[kind]["w_low"], WEIGHTS[kind]["w_high"]
        N = 2.0**24
        mean = lo + (hi - lo) * (N - 1) / (2 * N)
        var = (hi - lo) ** 2 * (N * N - 1) / (12 * N * N)
        mu4 = (hi - lo) ** 4 / 80          # continuous value, larger than the discrete one
        var_of_var = (mu4 - var**2) / k + 2 * var**2 / (k * (k - 1))
    z = _z(ALPHA / 2)
    assert abs(w.mean() - mean) <= z * np.sqrt(var / k)
    assert abs(w.var(ddof=1) - var) <= z * np.sqrt(var_of_var)


# -- gradients, vmap ------------------------------------------------------------------------------

def _dense_loss(kind, orient, shape, p, seed, product, capacity=None):
    cls = (ROW if orient == "R" else COL)[kind]

    def native(params, e):
        M = cls(shape, p, *params, seed=seed, dtype="float64", capacity=capacity)
        return jnp.sum(jnp.sin(product(M, e)))

    def dense(params, e):
        D = cls(shape, p, *params, seed=seed, dtype="float64").to_dense()
        return jnp.sum(jnp.sin(product(D, e)))

    return native, dense


@pytest.mark.parametrize("kind,orient,capacity", [("scalar", "R", None), ("normal", "C", None), ("uniform", "R", 1)])
def test_grad_matches_dense(kind, orient, capacity):
    shape = (23, 37)
    params = tuple(jnp.float64(v) for v in WEIGHTS[kind].values())
    for product, n_in, batch_first in ((lambda M, e: e @ M, shape[0], True),
                                       (lambda M, e: M @ e, shape[1], False)):
        e = make_events(n_in, 0.5, seed=9, batch=2, dtype="float64", values="signed")
        e = jnp.asarray(e if batch_first else e.T)
        native, dense = _dense_loss(kind, orient, shape, 0.4, 5, product, capacity)
        g_native = jax.grad(native, argnums=(0, 1))(params, e)
        g_dense = jax.grad(dense, argnums=(0, 1))(params, e)
        for a, b in zip(jax.tree_util.tree_leaves(g_native), jax.tree_util.tree_leaves(g_dense)):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-12, atol=1e-12)


def test_grad_wrt_structure_leaves():
    """grad of a loss w.r.t. the structure itself: parameter leaves get the gradient."""
    M = build("normal", "R", (23, 37), 0.4, 5, dtype="float64")
    e = jnp.asarray(make_events(23, 0.5, seed=9, dtype="float64", values="signed"))
    g = jax.grad(lambda M: jnp.sum(jnp.sin(e @ M)), allow_int=True)(M)
    gd = jax.grad(lambda a, b: jnp.sum(jnp.sin(e @ J.JITCNormalR((23, 37), 0.4, a, b, 5,
                                                                   dtype="float64").to_dense())),
                  argnums=(0, 1))(M.w_mean, M.w_std)
    np.testing.assert_allclose([g.w_mean, g.w_std], gd, rtol=1e-12)


def test_vmap_over_events():
    fam = get_family("jitc_scalar_c")
    M = fam.build(23, 37, conn_prob=0.3, seed=1)
    dense = fam.reference(M)
    abs_w, counts = fam.reference_terms(M)
    for product in (PRODUCTS[0], PRODUCTS[1]):   # events @ M, M @ events
        samples = make_events(product.n_inputs(M.shape), 0.4, seed=2, batch=4, dtype="float32", values="signed")
        out = np.asarray(jax.vmap(lambda e: product.run(M, e))(samples))
        for row, e in zip(out, samples):
            bound = error_bound(product, abs_w, counts, e, "float32")
            assert compare(row, product.reference(dense, e), bound)[3]


# -- bad input ------------------------------------------------------------------------------------

BAD = [
    (dict(shape=(0, 5)), ValueError, r"shape\[0\]"),
    (dict(shape=(5, -1)), ValueError, r"shape\[1\]"),
    (dict(shape=(5,)), ValueError, "shape"),
    (dict(shape=(2**31, 2)), ValueError, r"shape\[0\]"),
    (dict(shape=(2.0, 3)), TypeError, r"shape\[0\]"),
    (dict(conn_prob=-0.1), ValueError, "conn_prob"),
    (dict(conn_prob=1.5), ValueError, "conn_prob"),
    (dict(conn_prob=float("nan")), ValueError, "conn_prob"),
    (dict(conn_prob="0.1"), TypeError, "conn_prob"),
    (dict(seed=-1), ValueError, "seed"),
    (dict(seed=2**32), ValueError, "seed"),
    (dict(seed=1.5), TypeError, "seed"),
    (dict(dtype="int32"), TypeError, "dtype"),
    (dict(dtype="float16"), TypeError, "dtype"),
    (dict(capacity=0), ValueError, "capacity"),
]
BAD_WEIGHTS = [
    ("scalar", dict(weight=float("inf")), ValueError, "weight"),
    ("scalar", dict(weight=float("nan")), ValueError, "weight"),
    ("scalar", dict(weight=1e39), ValueError, "weight"),
    ("scalar", dict(weight="1"), TypeError, "weight"),
    ("normal", dict(w_std=-1.0), ValueError, "w_std"),
    ("normal", dict(w_mean=float("inf")), ValueError, "w_mean"),
    ("uniform", dict(w_low=1.0, w_high=0.0), ValueError, "w_low"),
    ("uniform", dict(w_high=float("nan")), ValueError, "w_high"),
    ("uniform", dict(w_low=-3e38, w_high=3e38), ValueError, "w_high - w_low"),
]


@pytest.mark.parametrize("orient", ["R", "C"])
@pytest.mark.parametrize("bad,exc,match", BAD)
def test_bad_arguments(orient, bad, exc, match):
    args = dict(shape=(5, 7), conn_prob=0.1, seed=0) | bad
    cls = ROW["scalar"] if orient == "R" else COL["scalar"]
    with pytest.raises(exc, match=match):
        cls(args.pop("shape"), args.pop("conn_prob"), 0.5, **args)


@pytest.mark.parametrize("kind,bad,exc,match", BAD_WEIGHTS)
def test_bad_weights(kind, bad, exc, match):
    for cls in (ROW[kind], COL[kind]):
        with pytest.raises(exc, match=match):
            cls((5, 7), 0.1, **(WEIGHTS[kind] | bad), seed=0)


def test_bad_events():
    M = build("scalar", "R", (5, 7), 0.3, 0)
    with pytest.raises(TypeError, match="events"):
        M.vecmat(np.ones(5, np.int32))
    with pytest.raises(TypeError, match="events"):
        M.vecmat(np.ones(5, np.float64))
    with pytest.raises(ValueError, match="events"):
        M.matvec(np.ones(5, np.float32))


def test_row_blocks_do_not_overflow_int32_at_the_largest_shape():
    """Blocks of rows that do not divide 2^31 - 1 rows: the last block runs past the int32 range.
    Every row must be visited once, none past the last, none negative (a wrapped index)."""
    m = 2**31 - 1
    M = J.JITCScalarR((m, 3), 0.5, 1.0, seed=0)
    assert M.block == 10922 and -(-m // M.block) * M.block > 2**31  # the last block crosses 2^31

    def summary(rows, ok):
        return jnp.stack([jnp.min(jnp.where(ok, rows, m)), jnp.max(jnp.where(ok, rows, -1)),
                          jnp.sum(ok.astype(jnp.int32))])

    s = np.asarray(jax.jit(lambda: M._blocks(summary))())
    assert s[:, 0].min() == 0 and s[:, 1].max() == m - 1
    assert int(s[:, 2].astype(np.int64).sum()) == m
