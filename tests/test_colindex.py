"""The column index of row-stored structures (evbench/ops/colindex.py): its contents against a
NumPy stable sort, every product of an indexed structure against the reference on both paths,
the weights staying a leaf (tree_map, grad), nbytes, and calling it under jit."""
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from evbench.catalogue import PRODUCTS, get_family
from evbench.events import make_events
from evbench.ops.base import cpu_kernels_available, use_kernels
from evbench.ops.cpu import sparse as sparse_kernels
from evbench.ops.cpu.sparse import column_index
from evbench.ops.fixed import FixedNumPerPost, FixedNumPerPre
from evbench.ops.sparse import CSC, CSR
from evbench.tolerance import error_bound

INDEXED = ["csr", "csc", "fixed_per_pre", "fixed_per_post", "fixed_prob"]
#: the family's product that the index makes event-driven (the stored structure's M @ events)
GATHERED = {"csr": "matvec", "fixed_per_pre": "matvec", "fixed_prob": "matvec", "csc": "vecmat",
            "fixed_per_post": "vecmat"}


def _stable_sort_reference(row_ptr, cols, n_cols):
    """``(indptr, rows, perm)`` by NumPy: a stable argsort of the columns."""
    perm = np.argsort(cols, kind="stable")
    rows = np.repeat(np.arange(len(row_ptr) - 1), np.diff(row_ptr))[perm]
    indptr = np.concatenate([[0], np.cumsum(np.bincount(cols, minlength=n_cols))])
    return indptr, rows, perm


@pytest.mark.parametrize("n_rows,n_cols,nnz_per_row", [(1, 1, 1), (7, 5, 0), (50, 3, 9), (40, 5000, 30),
                                                        (3, 3000, 2000)])
def test_index_is_a_stable_sort_by_column(n_rows, n_cols, nnz_per_row, monkeypatch):
    """The counting sort (by buckets of columns, then by column; runs of synapses on threads) lists
    each column's synapses in storage order: NumPy's stable argsort, bitwise; empty rows and columns too."""
    rng = np.random.default_rng(n_cols)
    lengths = rng.integers(0, 2 * nnz_per_row + 1, n_rows)
    row_ptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    cols = rng.integers(0, max(1, n_cols // 3), row_ptr[-1]).astype(np.int32) * 3 % n_cols  # empty columns
    fixed_ptr = np.arange(n_rows + 1, dtype=np.int32) * nnz_per_row
    fixed_cols = rng.integers(0, n_cols, fixed_ptr[-1]).astype(np.int32)
    # (row_ptr, cols, K): ragged rows read through row_ptr, and a fixed number per row
    for ptr, c, K in ((row_ptr, cols, 0), (fixed_ptr, fixed_cols, nnz_per_row)):
        for with_perm in (True, False):
            indptr = np.full(n_cols + 1, -1, np.int32)
            rows = np.empty(len(c), np.int32)
            perm = np.empty(len(c) if with_perm else 0, np.int32)
            tmp = np.empty(0 if with_perm else len(c), np.int32)
            want_ptr, want_rows, want_perm = _stable_sort_reference(ptr, c, n_cols)
            for chunks in (1, 2, 3, 64):  # runs of synapses sorted on threads: the same order
                # threads from the first synapse on, one synapse per run at least (here only)
                monkeypatch.setattr(sparse_kernels, "_THREADED_FROM", 1)
                monkeypatch.setattr(sparse_kernels, "_MIN_RUN", 1)
                column_index(ptr if K == 0 else np.zeros(2, np.int32), c, K, indptr, rows, perm, tmp, chunks)
                np.testing.assert_array_equal(indptr, want_ptr)
                np.testing.assert_array_equal(rows, want_rows)
                if with_perm:
                    np.testing.assert_array_equal(perm, want_perm)


def _check_products(fam, M, dtype, *, portable, activities=((0.3, 3),)):
    dense = fam.reference(M)
    abs_w, counts = fam.reference_terms(M)
    for product in PRODUCTS:
        for active, batch in activities:
            n_in = product.n_inputs(M.shape)
            samples = make_events(n_in, active, seed=4, batch=batch if product.batched else 1, dtype=dtype,
                                  values="signed")
            e = product.events_from_samples(samples)
            want = product.reference(dense, e.astype(np.float64))
            bound = error_bound(product, abs_w, counts, e, dtype)
            with use_kernels("portable" if portable else "auto"):
                got = np.asarray(jax.jit(product.run)(M, e))
            assert np.all(np.abs(got - want) <= bound), f"{fam.name} {product.expr} active={active}"


@pytest.mark.parametrize("portable", [False, True], ids=["kernels", "portable"])
@pytest.mark.parametrize("name", INDEXED)
def test_indexed_products_match_reference(name, portable):
    """Every product of an indexed structure, every set of structure options (scalar weights, duplicates,
    multapses), float32 and float64, within the error bound of the reference; no and every
    input active on the largest shape."""
    fam = get_family(name)
    shapes = ((37, 1100), (23, 17), (1, 1))
    for k, options in enumerate(fam.option_sets()):
        dtype = ("float32", "float64")[k % 2]
        M = fam.build(*shapes[k % len(shapes)], conn_prob=0.3, seed=k, dtype=dtype, **options).with_index()
        activities = ((0.3, 3), (0.0, 2), (1.0, 2)) if k == 0 else ((0.3, 3),)
        _check_products(fam, M, dtype, portable=portable, activities=activities)


def test_empty_structure():
    fam = get_family("csr")
    M = fam.build(5, 4, conn_prob=0.0, seed=1).with_index()
    assert M.col_index.rows.shape == (0,)
    for mode in ("auto", "portable"):
        with use_kernels(mode):
            np.testing.assert_array_equal(np.asarray(M @ np.ones(4, bool)), np.zeros(5, np.float32))


@pytest.mark.skipif(not cpu_kernels_available()[0], reason="numba / the XLA FFI header unavailable")
@pytest.mark.parametrize("name", INDEXED)
def test_indexed_kernel_runs_the_gathering_product(name):
    """On the CPU the product the index serves calls the indexed kernel; the other one does not."""
    M = get_family(name).build(20, 30, conn_prob=0.3, seed=1).with_index()
    for key in ("vecmat", "matvec"):
        product = next(p for p in PRODUCTS if p.key == key)
        e = make_events(product.n_inputs(M.shape), 0.3, seed=2)
        hlo = jax.jit(product.run).lower(M, e).compile().as_text()
        targets = re.findall(r'custom_call_target="(evbench_\w+)"', hlo)
        assert targets
        assert all(t.startswith("evbench_indexed_matvec") for t in targets) == (key == GATHERED[name]), targets


@pytest.mark.parametrize("name", ["csr", "fixed_per_pre", "fixed_per_post"])
def test_weights_stay_a_leaf(name):
    """Replacing the weights (tree_map) changes the indexed product: it reads the new weights
    through the index, not a copy taken when the index was built."""
    fam = get_family(name)
    M = fam.build(40, 30, conn_prob=0.3, seed=3, dtype="float64").with_index()
    product = next(p for p in PRODUCTS if p.key == GATHERED[name])
    e = make_events(product.n_inputs(M.shape), 0.5, seed=5, dtype="float64", values="signed")
    rng = np.random.default_rng(0)

    def new_weights(x):
        return jnp.asarray(rng.standard_normal(x.shape)) if jnp.issubdtype(x.dtype, jnp.floating) else x

    M2 = jax.tree_util.tree_map(new_weights, M)
    f = jax.jit(product.run)
    for mode in ("auto", "portable"):
        with use_kernels(mode):
            got = np.asarray(f(M2, e))
        want = product.reference(np.asarray(M2.to_dense()), e)
        bound = error_bound(product, *fam.reference_terms(M2), e, "float64")
        assert np.all(np.abs(got - want) <= bound), mode
        assert not np.allclose(got, np.asarray(f(M, e)))


def _builders(name, M):
    """``(weights, build(w))``: the structure rebuilt around weights ``w`` (indices concrete)."""
    if name == "csr":
        return M.weights, lambda w: CSR(M.indptr, M.indices, w, M.shape)
    if name == "csc":
        return M.base.weights, lambda w: CSC(M.base.indptr, M.base.indices, w, M.shape)
    return M.weights, lambda w: FixedNumPerPre(M.indices, w, M.shape)


@pytest.mark.parametrize("name", ["csr", "fixed_per_pre", "csc"])
def test_grad_matches_dense(name):
    """grad w.r.t. the weights and the float events through an indexed structure (built
    inside the differentiated function) equals the gradient of the dense product."""
    M = get_family(name).build(23, 31, conn_prob=0.4, seed=2, dtype="float64")
    product = next(p for p in PRODUCTS if p.key == GATHERED[name])
    e = jnp.asarray(make_events(product.n_inputs(M.shape), 0.5, seed=6, dtype="float64", values="signed"))
    w0, build = _builders(name, M)

    def loss(w, ev):
        return jnp.sum(jnp.sin(product.run(build(w).with_index(), ev)))

    def dense_loss(w, ev):
        return jnp.sum(jnp.sin(product.run(build(w).to_dense(), ev)))

    for mode in ("auto", "portable"):
        with use_kernels(mode):
            g = jax.grad(loss, argnums=(0, 1))(w0, e)
        gd = jax.grad(dense_loss, argnums=(0, 1))(w0, e)
        for a, b in zip(g, gd):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-12, atol=1e-12)


def test_nbytes_counts_the_index():
    """4 bytes per column pointer and per row entry, plus 4 per synapse for ``perm`` with
    per-synapse weights (none with a scalar weight)."""
    for weights, perm_bytes in (("per_synapse", 4), ("scalar", 0)):
        M = get_family("fixed_per_pre").build(50, 40, conn_prob=0.2, seed=1, weights=weights)
        nnz = M.indices.size
        assert M.nbytes - M.without_index().nbytes == 4 * (M.n_cols + 1) + (4 + perm_bytes) * nnz


def test_index_needs_concrete_indices():
    M = get_family("csr").build(5, 4, conn_prob=0.5, seed=1).without_index()
    with pytest.raises(TypeError, match=r"CSR.with_index\(\) needs concrete index arrays"):
        jax.jit(lambda M: M.with_index().nbytes)(M)


@pytest.mark.parametrize("name", INDEXED)
def test_the_constructor_builds_the_index(name):
    """The ordinary constructor builds the index (both products event-driven without being asked);
    ``index=False`` and ``without_index()`` store none, and ``with_index()`` builds the same one."""
    fam = get_family(name)
    M = fam.build(60, 50, conn_prob=0.2, seed=4)
    base = M.base if hasattr(M, "base") else M
    assert base.col_index is not None
    bare = M.without_index()
    assert (bare.base if hasattr(bare, "base") else bare).col_index is None
    assert bare.nbytes < M.nbytes
    again = bare.with_index()
    for x, y in zip(jax.tree_util.tree_leaves(M), jax.tree_util.tree_leaves(again)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    if name in ("csr", "fixed_prob"):
        kept = CSR(base.indptr, base.indices, base.weights, base.shape, index=False)
    elif name == "csc":
        kept = CSC(base.indptr, base.indices, base.weights, M.shape, index=False)
    elif name == "fixed_per_pre":
        kept = FixedNumPerPre(base.indices, base.weights, base.shape, index=False)
    else:
        kept = FixedNumPerPost(base.indices, base.weights, M.shape, index=False)
    assert (kept.base if hasattr(kept, "base") else kept).col_index is None
    e = make_events(M.shape[1], 0.3, seed=1)
    np.testing.assert_array_equal(np.asarray(M @ e), np.asarray(M @ e))


@pytest.mark.parametrize("K", [0, 7])
def test_small_and_large_builds_agree(K, monkeypatch):
    """Below ``_NUMPY_BELOW`` synapses the index is NumPy's stable sort, above it the threaded
    counting sort: the same arrays, bitwise."""
    from evbench.ops import colindex

    rng = np.random.default_rng(K)
    n_rows, n_cols = 400, 300
    if K:
        row_ptr, cols = np.zeros(2, np.int32), rng.integers(0, n_cols, n_rows * K).astype(np.int32)
    else:
        lengths = rng.integers(0, 20, n_rows)
        row_ptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
        cols = rng.integers(0, n_cols, row_ptr[-1]).astype(np.int32)
    small = colindex.build(row_ptr, cols, n_cols, True, "test", conn_num=K)
    monkeypatch.setattr(colindex, "_NUMPY_BELOW", 0)
    monkeypatch.setattr(sparse_kernels, "_THREADED_FROM", 1)
    monkeypatch.setattr(sparse_kernels, "_MIN_RUN", 1)
    large = colindex.build(row_ptr, cols, n_cols, True, "test", conn_num=K)
    assert small.max_len == large.max_len
    for x, y in zip(jax.tree_util.tree_leaves(small), jax.tree_util.tree_leaves(large)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
