"""The GPU formulations (``evbench.ops.gpu``) tested on the CPU, as CI runs them.

``"auto"`` selects them on ``cuda``/``rocm``; ``use_kernels("gpu")`` runs them on any device.
Here, under that mode: the equivalence tests (every family × product) and the vmap property of
``test_equivalence``/``test_properties``, and the capacity-overflow test of ``test_jitc``,
rerun with the same bodies, references and bounds (hypothesis tests with
``GPU_EXAMPLES`` examples, default 2); then what is particular to the formulations:
active counts on both sides of every bucket capacity, bitwise determinism over calls and over a
second compilation, that the mode selects what it says (no loop for the event-driven products
of stored structures, no FFI call, no floating-point scatter-add anywhere: the only source of
run-to-run differences on a GPU), the memory-bounded pieces of large buckets, vmap over
structures and grad.
"""
import os
import re

import jax
import numpy as np
import pytest

import evbench.ops.base as base
from evbench.catalogue import PRODUCTS, FAMILIES, get_family, get_product
from evbench.events import make_events
from evbench.ops.base import cpu_kernels_available, use_kernels
from evbench.ops.gpu import core as _core, formulation
from evbench.ops.sparse import CSR
from evbench.tolerance import compare, error_bound

from . import test_equivalence, test_kernels, test_properties
from .test_jitc import test_capacity_overflow_is_exact  # noqa: F401
from .test_portable import _again

EXAMPLES = int(os.environ.get("GPU_EXAMPLES", 2))
FAMILY = pytest.mark.parametrize("family", FAMILIES.all(), ids=lambda f: f.name)
SINGLE = [p for p in PRODUCTS if not p.batched]

test_native_matches_reference = pytest.mark.parametrize("product", PRODUCTS, ids=lambda p: p.key)(
    FAMILY(_again(test_equivalence.test_native_matches_reference, EXAMPLES)))
test_vmap_equals_loop = pytest.mark.parametrize("product", SINGLE, ids=lambda p: p.key)(
    FAMILY(_again(test_properties.test_vmap_equals_loop, 1)))


@pytest.fixture(autouse=True)
def _gpu():
    with use_kernels("gpu"):
        yield


# -- helpers ------------------------------------------------------------------------------------

#: stored structures and their event-driven products (no loop allowed in their programs)
STORED_EVENT_DRIVEN = [(f.name, p.key) for f in FAMILIES.all() if not f.name.startswith("jitc") and f.name != "coo"
                       for p in PRODUCTS if f.event_driven_for(p)]


def _lowered(fn, *args, platforms=None):
    return jax.jit(fn).trace(*args).lower(lowering_platforms=platforms).as_text()


def _float_scatter_adds(text: str) -> int:
    """Scatters of the lowered program whose combiner adds floating-point values."""
    count = 0
    for m in re.finditer(r'"stablehlo\.scatter"\(.*?\^bb0\(%\w+: tensor<(\w+)>.*?stablehlo\.return', text, re.S):
        if m.group(1).startswith(("f", "bf")) and "stablehlo.add" in m.group(0):
            count += 1
    return count


def _events(product, shape, counts, seed, dtype="float32", values="signed"):
    """Events with exactly ``counts[s]`` active inputs in sample ``s``."""
    n = product.n_inputs(shape)
    samples = np.stack([make_events(n, int(c), seed=seed + s, dtype=dtype, values=values)
                        for s, c in enumerate(counts)])
    return product.events_from_samples(samples)


# -- buckets and determinism ----------------------------------------------------------------------

N_IN = 256  # capacities (0, 16, 64, 256)
#: (family, product, also after a second compilation)
BUCKET_CASES = [("dense", "vecmat", False), ("dense", "matvec_batch", True), ("csr", "vecmat", False),
                ("csr", "vecmat_batch", True), ("fixed_per_pre", "vecmat", False), ("csc", "matvec", False),
                ("fixed_per_post", "matvec_batch", False), ("jitc_uniform_r", "vecmat_batch", True),
                ("jitc_normal_c", "matvec", False), ("coo", "vecmat", False)]


def test_capacities():
    assert _core.capacities(N_IN) == (0, 16, 64, 256)
    assert _core.capacities(10_000) == (0, 40, 157, 625, 2500, 10_000)
    assert _core.capacities(10_000, limit=2500) == (0, 40, 157, 625, 2500, 10_000)
    assert _core.capacities(10_000, limit=1250) == (0, 40, 157, 625, 10_000)
    assert _core.capacities(64) == (0, 16, 64)
    assert _core.capacities(63) == (0, 63)   # no bucket saves a factor GROWTH: one full bucket
    assert _core.capacities(400) == (0, 25, 100, 400)
    assert _core.capacities(1) == (0, 1)


@pytest.mark.parametrize("name,key,recompile", BUCKET_CASES, ids=[f"{n}-{k}" for n, k, _ in BUCKET_CASES])
def test_bucket_boundaries_bitwise_deterministic(name, key, recompile):
    """Active counts 0, on both sides of every capacity, and all inputs: within the error bound
    of the reference, the same bits on a second call (and after a second compilation, for one
    formulation of each kind: matmul, sorted sums, generated rows); bool events give the bits
    of the same events as 0.0/1.0."""
    fam, product = get_family(name), get_product(key)
    shape = (N_IN, 48) if product.input_axis == "rows" else (48, N_IN)
    M = fam.build(*shape, conn_prob=0.2, seed=3)
    dense = fam.reference(M)
    abs_w, counts = fam.reference_terms(M)
    caps = _core.capacities(N_IN)
    assert caps == (0, 16, 64, 256)
    totals = sorted({0, 1, N_IN - 1, N_IN} | {c + d for c in caps[1:-1] for d in (-1, 0, 1)})
    batch = 3 if product.batched else 1

    def cases():
        for total in totals:
            per_sample = [total, total // 2, 0][:batch]
            yield total, _events(product, shape, per_sample, seed=total)

    f = jax.jit(product.run)
    first = {}
    for total, e in cases():
        out = np.asarray(f(M, e))
        bound = error_bound(product, abs_w, counts, e, "float32", weight_error=fam.weight_error(M))
        err, tol, _, ok = compare(out, product.reference(dense, e), bound)
        assert ok, f"{name} {product.expr}, {total} active: error {err:.3g} > bound {tol:.3g}"
        np.testing.assert_array_equal(np.asarray(f(M, e)), out, err_msg=f"{total} active: second call")
        first[total] = out
    spikes = _events(product, shape, [N_IN // 3] * batch, seed=7, dtype="bool", values="ones")
    np.testing.assert_array_equal(np.asarray(f(M, spikes)), np.asarray(f(M, spikes.astype(np.float32))))
    if not recompile:
        return
    jax.clear_caches()
    again = jax.jit(lambda M, e: product.run(M, e))
    for total, e in cases():
        np.testing.assert_array_equal(np.asarray(again(M, e)), first[total],
                                      err_msg=f"{total} active: second compilation")


def test_segment_sum_runs_across_levels():
    """Runs of equal keys as long as 1, 7, 8, 9, 63, 64, 65 and 600 terms (across the levels of
    the windowed tree), a dropped key, several value columns: each output within the error
    bound of its own terms, an output without terms exactly zero."""
    rng = np.random.default_rng(0)
    lengths = [1, 7, 8, 9, 63, 64, 65, 600, 3, 2]
    n_out = 16
    targets = rng.permutation(n_out)[: len(lengths)]
    keys = np.concatenate([np.full(k, t) for k, t in zip(lengths, targets)] + [np.full(5, n_out)])
    perm = rng.permutation(len(keys))
    keys = keys[perm].astype(np.int32)
    vals = rng.standard_normal((len(keys), 3)).astype(np.float32)
    out = np.asarray(jax.jit(lambda k, v: _core.segment_sum(k, v, n_out))(keys, vals))
    want = np.zeros((n_out + 1, 3))
    abs_sum = np.zeros((n_out + 1, 3))
    np.add.at(want, keys, vals.astype(np.float64))
    np.add.at(abs_sum, keys, np.abs(vals.astype(np.float64)))
    terms = np.bincount(keys, minlength=n_out + 1)[:, None]
    eps = np.finfo(np.float32).eps
    assert np.all(np.abs(out - want[:n_out]) <= (terms[:n_out] + 1) * eps * abs_sum[:n_out])
    empty = np.setdiff1d(np.arange(n_out), targets)
    assert empty.size and np.all(out[empty] == 0)
    single = np.asarray(jax.jit(lambda k, v: _core.segment_sum(k, v, n_out))(keys, vals[:, 0]))
    np.testing.assert_array_equal(single, np.asarray(jax.jit(
        lambda k, v: _core.segment_sum_per_row(k[None], v[None], n_out))(keys, vals[:, 0]))[0])


def test_csr_with_a_long_row():
    """A CSR whose longest row is far above the mean (with duplicates in it): ``M @ events`` sums
    the synapses in row order instead of padding every row (which would cost more than twice
    the synapses); within the bound, no floating-point scatter-add, bitwise repeatable."""
    rng = np.random.default_rng(5)
    lengths = np.r_[70, np.ones(39, int)]
    indices = rng.integers(0, 30, int(lengths.sum()))
    M = CSR(np.r_[0, np.cumsum(lengths)], indices, rng.standard_normal(len(indices)).astype(np.float32), (40, 30))
    assert M.n_rows * M.max_row_nnz > 2 * M.nnz
    fam = get_family("csr")
    for product in (get_product("matvec"), get_product("matvec_batch"), get_product("vecmat_batch")):
        e = _events(product, M.shape, [12, 30, 0][: 3 if product.batched else 1], seed=6)
        assert _float_scatter_adds(_lowered(product.run, M, e)) == 0
        out = np.asarray(product.run(M, e))
        bound = error_bound(product, *fam.reference_terms(M), e, "float32")
        assert compare(out, product.reference(fam.reference(M), e), bound)[3], product.expr
        np.testing.assert_array_equal(np.asarray(product.run(M, e)), out)


# -- the mode selects what it says ----------------------------------------------------------------

@pytest.mark.parametrize("family", FAMILIES.all(), ids=lambda f: f.name)
def test_mode_selects_the_formulations(family):
    """Under "gpu": no FFI call and no floating-point scatter-add in any product; no loop in the
    event-driven products of stored structures (portable: a loop over chunks of inputs)."""
    M = family.build(40, 30, conn_prob=0.3, seed=1)
    for product in PRODUCTS:
        e = _events(product, M.shape, [9] * (3 if product.batched else 1), seed=2)
        text = _lowered(product.run, M, e)
        assert "evbench_" not in text and "custom_call" not in text, f"{product.expr}: an FFI call"
        assert _float_scatter_adds(text) == 0, f"{product.expr}: a floating-point scatter-add"
        if (family.name, product.key) in STORED_EVENT_DRIVEN:
            assert "stablehlo.while" not in text, f"{product.expr}: a loop"
            assert "stablehlo.case" in text, f"{product.expr}: no bucket switch"
            with use_kernels("portable"):
                portable = _lowered(product.run, M, e)
            assert "stablehlo.while" in portable
            if family.name == "csr" and product.key == "vecmat":  # the detector sees the portable scatter-add
                assert _float_scatter_adds(portable) > 0


@pytest.mark.parametrize("name", ["csr", "dense", "fixed_per_post", "jitc_normal_r"])
def test_auto_lowers_the_formulations_for_gpus(name, monkeypatch):
    """Under "auto", a program lowered for cuda or rocm holds the GPU formulation (what runs
    under "gpu" here), one lowered for the CPU the numba kernel. (JAX stages the GPU branch out
    only where it sees a GPU; the check forces that.)"""
    monkeypatch.setattr(base, "_GPU_VISIBLE", True)
    M = get_family(name).build(40, 30, conn_prob=0.3, seed=1)
    product = get_product("vecmat_batch")
    e = _events(product, M.shape, [9, 3, 0], seed=2)
    gpu_text = _lowered(product.run, M, e)
    with use_kernels("auto"):
        for platform in ("cuda", "rocm"):
            text = _lowered(product.run, M, e, platforms=(platform,))
            assert "evbench_" not in text and _float_scatter_adds(text) == 0
            assert text.count("stablehlo.sort") == gpu_text.count("stablehlo.sort")
            assert ("stablehlo.while" in text) == ("stablehlo.while" in gpu_text)
        if cpu_kernels_available()[0]:
            assert "evbench_" in _lowered(product.run, M, e, platforms=("cpu",))


def test_pieces_of_a_large_bucket(monkeypatch):
    """A bucket whose contributions exceed MAX_ELEMENTS runs in pieces (a loop with a static
    trip count): the same values within the bound, deterministic."""
    monkeypatch.setattr(_core, "MAX_ELEMENTS", 64)
    jax.clear_caches()
    try:
        for name, key in (("csr", "vecmat_batch"), ("jitc_scalar_r", "vecmat")):
            fam, product = get_family(name), get_product(key)
            M = fam.build(N_IN, 48, conn_prob=0.2, seed=3)
            e = _events(product, M.shape, [100, 37, 5][: 3 if product.batched else 1], seed=4)
            assert "stablehlo.while" in _lowered(product.run, M, e)
            out = np.asarray(product.run(M, e))
            bound = error_bound(product, *fam.reference_terms(M), e, "float32", weight_error=fam.weight_error(M))
            assert compare(out, product.reference(fam.reference(M), e), bound)[3]
            np.testing.assert_array_equal(np.asarray(product.run(M, e)), out)
    finally:
        jax.clear_caches()


# -- jit, vmap, grad ------------------------------------------------------------------------------

# vmap over a batch of structures, and grad through the GPU forward pass (the backward pass is
# the O(synapses) JAX form) equal to the dense gradient: test_kernels' body, under this mode
test_vmap_over_structures_and_grad = test_kernels.test_vmap_over_weights_and_grad


def test_bad_product_name():
    M = get_family("csr").build(4, 3, conn_prob=0.5, seed=0)
    with pytest.raises(ValueError, match="which must be 'vecmat' or 'matvec', got 'rmatvec'"):
        formulation(M, "rmatvec")
