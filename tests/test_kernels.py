"""The CPU fast path (numba kernels called through XLA's FFI) and its switch.

Its values are tested by every equivalence and property test (it is the default on the CPU);
``test_portable`` runs the same tests on the portable path. Here: that the switch selects what
it says, that both paths agree on larger cases and under vmap/grad, and bad input.
"""
import re
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from evbench.ops.base import cpu_kernels_available, kernel_mode, use_kernels
from evbench.catalogue import PRODUCTS, FAMILIES, get_family, get_product
from evbench.events import make_events
from evbench.tolerance import error_bound

pytestmark = pytest.mark.skipif(not cpu_kernels_available()[0], reason="numba / the XLA FFI header unavailable")

KERNEL_FAMILIES = [f for f in FAMILIES.all() if f.name != "coo"]


def _hlo(fn, *args):
    return jax.jit(fn).lower(*args).compile().as_text()


@pytest.mark.parametrize("family", KERNEL_FAMILIES, ids=lambda f: f.name)
def test_switch_selects_the_kernels(family):
    """On the CPU the compiled product calls an evbench FFI kernel; under "portable" none."""
    M = family.build(20, 30, conn_prob=0.3, seed=1)
    for product in (get_product("vecmat"), get_product("matvec_batch")):
        e = product.events_from_samples(make_events(product.n_inputs(M.shape), 0.3, seed=2, batch=3)) \
            if product.batched else make_events(product.n_inputs(M.shape), 0.3, seed=2)
        assert kernel_mode() == "auto"
        assert 'custom_call_target="evbench_' in _hlo(product.run, M, e)
        with use_kernels("portable"):
            assert kernel_mode() == "portable"
            assert "custom_call_target" not in _hlo(product.run, M, e)


def test_coo_has_no_kernel():
    M = get_family("coo").build(20, 30, conn_prob=0.3, seed=1)
    assert "custom_call_target" not in _hlo(get_product("vecmat").run, M, make_events(20, 0.3, seed=2))


CASES = [  # (shape, conn_prob, active, batch): larger than the hypothesis buckets; at 1100 x 0.5 the
    # just-in-time rows (550 synapses) outgrow the kernels' largest slot block (512)
    ((400, 1100), 0.5, 0.01, None),
    ((500, 300), 0.3, 0.2, 17),
    ((128, 1), 1.0, 0.5, 5),
    ((40, 20000), 0.01, 0.1, 9),  # outputs of 20000: the kernels handle 6 samples at a time
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0][0]}x{c[0][1]}-p{c[1]}-a{c[2]}-b{c[3]}")
@pytest.mark.parametrize("family", KERNEL_FAMILIES, ids=lambda f: f.name)
def test_both_paths_match_reference(family, case):
    """Both paths within the error bound of the reference, float32 and signed float events."""
    shape, p, active, batch = case
    M = family.build(*shape, conn_prob=p, seed=5)
    dense = family.reference(M)
    abs_w, counts = family.reference_terms(M)
    for product in PRODUCTS:
        if product.batched != (batch is not None):
            continue
        samples = make_events(product.n_inputs(shape), active, seed=6, batch=batch or 1, dtype="float32",
                              values="signed")
        e = product.events_from_samples(samples)
        want = product.reference(dense, e.astype(np.float64))
        bound = error_bound(product, abs_w, counts, e, "float32", weight_error=family.weight_error(M))
        fast = np.asarray(product.run(M, e))
        with use_kernels("portable"):
            portable = np.asarray(product.run(M, e))
        assert np.all(np.abs(fast - want) <= bound), f"{product.expr}: kernel beyond the bound"
        assert np.all(np.abs(portable - want) <= bound), f"{product.expr}: portable beyond the bound"


@pytest.mark.parametrize("name", ["csr", "fixed_per_post", "jitc_uniform_r", "dense"])
def test_vmap_over_weights_and_grad(name):
    """vmap over a batch of structures (the FFI call runs once per element) and grad through
    the kernel's forward pass (the backward pass is the O(synapses) JAX form)."""
    fam = get_family(name)
    M = fam.build(30, 20, conn_prob=0.3, seed=2, dtype="float64")
    e = jnp.asarray(make_events(30, 0.4, seed=3, dtype="float64", values="signed"))
    Ms = jax.tree_util.tree_map(lambda x: jnp.stack([x, 2 * x]) if jnp.issubdtype(x.dtype, jnp.floating)
                                else jnp.stack([x, x]), M)
    out = np.asarray(jax.vmap(lambda c: e @ c)(Ms))
    np.testing.assert_allclose(out[1], 2 * out[0], rtol=1e-12, atol=1e-12)
    g = jax.grad(lambda ev: jnp.sum(jnp.sin(ev @ M)))(e)
    gd = jax.grad(lambda ev: jnp.sum(jnp.sin(ev @ M.to_dense())))(e)
    np.testing.assert_allclose(np.asarray(g), np.asarray(gd), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("family", KERNEL_FAMILIES, ids=lambda f: f.name)
def test_bool_events_reach_the_kernels(family):
    """Bool events go to the kernel as they are (no converted float copy in the compiled
    program) and give, on both paths, bitwise what the same events as 0.0/1.0 give."""
    M = family.build(60, 50, conn_prob=0.3, seed=7)
    for product in PRODUCTS:
        n_in = product.n_inputs(M.shape)
        e = product.events_from_samples(make_events(n_in, 0.2, seed=8, batch=4)) if product.batched \
            else make_events(n_in, 0.2, seed=8)
        assert e.dtype == np.bool_
        targets = re.findall(r'custom_call_target="(evbench_\w+)"', _hlo(product.run, M, e))
        assert targets and all("_bool" in t for t in targets), f"{product.expr}: kernels {targets} take no bool"
        for mode in ("auto", "portable"):
            with use_kernels(mode):
                as_bool = np.asarray(product.run(M, e))
                as_float = np.asarray(product.run(M, e.astype(np.float32)))
            np.testing.assert_array_equal(as_bool, as_float, err_msg=f"{product.expr}, {mode}")


@pytest.mark.parametrize("name", ["csr", "dense", "jitc_normal_r"])
def test_grad_with_bool_events(name):
    """The weights' gradient through a product of bool events equals the one with the events
    as 0.0/1.0 (bool events have no gradient of their own)."""
    fam = get_family(name)
    M = fam.build(30, 20, conn_prob=0.3, seed=2, dtype="float64")
    e = make_events(30, 0.4, seed=3)

    def loss(c, ev):
        return jnp.sum(jnp.sin(ev @ c))

    g_bool = jax.grad(loss, allow_int=True)(M, e)
    g_float = jax.grad(loss, allow_int=True)(M, e.astype(np.float64))
    floats = [(a, b) for a, b in zip(jax.tree_util.tree_leaves(g_bool), jax.tree_util.tree_leaves(g_float))
              if jnp.issubdtype(a.dtype, jnp.floating)]
    assert floats and any(np.any(np.asarray(a) != 0) for a, _ in floats)
    for a, b in floats:
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-12, atol=1e-12)


def test_bad_mode():
    with pytest.raises(ValueError, match="mode must be one of .*'fast'"):
        with use_kernels("fast"):
            pass


def test_bad_environment_variable():
    res = subprocess.run([sys.executable, "-c", "import evbench"], capture_output=True, text=True,
                         env={"EVBENCH_KERNELS": "numba", "PATH": ""}, cwd=".")
    assert res.returncode != 0
    assert "EVBENCH_KERNELS must be one of ('auto', 'portable', 'gpu'), got 'numba'" in res.stderr


def test_float32_normal_draws_within_the_weight_bound():
    """The kernels' float32 Box-Muller (evbench/ops/cpu/normal.py), over every one of the 2^24
    values of u1 and of u2, against float64 NumPy: |dz| <= |dr| + 5.77 |dcos| + 2.9 eps must
    stay within the 25 eps that the documented normal weight bound (80 eps w_std) is built on."""
    from evbench.ops.cpu.normal import normal_parts32

    h = np.arange(2**24, dtype=np.uint32) << np.uint32(8)
    r, c = np.empty(h.size, np.float32), np.empty(h.size, np.float32)
    normal_parts32(h, r, c)
    k = np.arange(2**24, dtype=np.float64)
    eps = float(np.finfo(np.float32).eps)
    dr = np.max(np.abs(r - np.sqrt(-2.0 * np.log((k + 1.0) * 2.0**-24)))) / eps
    dc = np.max(np.abs(c - np.cos(2.0 * np.pi * k * 2.0**-24))) / eps
    assert dr + 5.77 * dc + 2.9 <= 25.0, (dr, dc)
