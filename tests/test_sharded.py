"""Sharded products: what one device can check here, and everything else on 8 virtual CPU
devices in a process of its own (``tests/mesh_sharded.py``: the device count must be set
before JAX starts, and the rest of the session keeps its one device)."""
import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

from evbench.catalogue import get_family
from evbench.events import make_events

ROOT = Path(__file__).resolve().parents[1]


def test_on_eight_virtual_devices():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
                           str(ROOT / "tests" / "mesh_sharded.py")], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-8000:] + proc.stderr[-4000:]


def _mesh():
    from evbench.ops.shard import device_mesh

    return device_mesh(1)


@pytest.mark.parametrize("family", ["dense", "csc", "fixed_per_pre", "jitc_normal_r"])
def test_on_one_device_the_sharded_product_is_the_product(family):
    from evbench.ops.shard import shard

    M = get_family(family).build(24, 16, conn_prob=0.3, seed=0, dtype="float64")
    S = shard(M, _mesh())
    for n, fn, ref in ((24, S.vecmat, M.vecmat), (16, S.matvec, M.matvec)):
        ev = make_events(n, 0.5, seed=1, dtype="float64", values="signed")
        np.testing.assert_allclose(np.asarray(fn(ev)), np.asarray(ref(ev)), rtol=1e-13, atol=1e-13)


def test_a_structure_that_cannot_be_sharded_is_refused():
    from evbench.ops.shard import shard

    coo = get_family("coo").build(8, 8, conn_prob=0.5, seed=0)
    with pytest.raises(TypeError, match="COO cannot be sharded"):
        shard(coo, _mesh())
    with pytest.raises(TypeError, match="conn must be an evbench structure"):
        shard(np.eye(4), _mesh())
    S = shard(get_family("csr").build(8, 8, conn_prob=0.5, seed=0), _mesh())
    with pytest.raises(TypeError, match="sharded already"):
        shard(S, _mesh())


@pytest.mark.parametrize("family, axis, match", [
    ("jitc_scalar_r", "cols", "axis='cols': a JITCScalarR can only be partitioned along rows .*generated"),
    ("jitc_uniform_c", "rows", "axis='rows': a JITCUniformC can only be partitioned along cols"),
    ("fixed_per_post", "rows", "axis='rows': a FixedNumPerPost can only be partitioned along cols .*stored"),
    ("csr", "diagonal", "axis must be one of"),
])
def test_an_axis_the_structure_cannot_be_cut_along_is_refused(family, axis, match):
    from evbench.ops.shard import shard

    M = get_family(family).build(8, 8, conn_prob=0.5, seed=0)
    with pytest.raises(ValueError, match=match):
        shard(M, _mesh(), axis=axis)


def test_bad_mesh_reduction_and_events_are_refused():
    from jax.sharding import Mesh

    from evbench.ops.shard import device_mesh, shard

    M = get_family("csr").build(8, 8, conn_prob=0.5, seed=0)
    with pytest.raises(ValueError, match="reduction must be one of"):
        shard(M, _mesh(), reduction="tree")
    with pytest.raises(ValueError, match="mesh must be 1-D"):
        shard(M, Mesh(np.array(jax.devices()[:1]).reshape(1, 1), ("a", "b")))
    with pytest.raises(ValueError, match="n_devices=99, but only"):
        device_mesh(99)
    S = shard(M, _mesh())
    with pytest.raises(ValueError, match=r"events has shape \(7,\)"):
        S.vecmat(np.ones(7, bool))
    with pytest.raises(TypeError, match="events must be bool or float32"):
        S.matvec(np.ones(8, np.float64))


def test_virtual_devices_cannot_be_added_once_jax_has_started():
    from evbench.ops.shard import virtual_cpu_devices

    have = len(jax.devices("cpu"))  # JAX has started in this process
    assert virtual_cpu_devices(have) == have
    with pytest.raises(RuntimeError, match="xla_force_host_platform_device_count=64"):
        virtual_cpu_devices(64)


def test_communication_is_chosen_per_orientation():
    from evbench.ops.shard import shard

    csr = shard(get_family("csr").build(8, 8, conn_prob=0.5, seed=0), _mesh())
    assert (csr.axis, csr.communication("vecmat"), csr.communication("matvec")) == (
        "rows", "reduce-scatter", "all-gather")
    csc = shard(get_family("csc").build(8, 8, conn_prob=0.5, seed=0), _mesh())
    assert (csc.axis, csc.communication("vecmat"), csc.communication("matvec")) == (
        "cols", "all-gather", "reduce-scatter")
    by_post = shard(get_family("csr").build(8, 8, conn_prob=0.5, seed=0), _mesh(), axis="cols")
    assert by_post.communication("vecmat") == "all-gather" and by_post.T.axis == "rows"
    assert by_post.T.communication("matvec") == "all-gather"
