"""Sharded products on 8 virtual CPU devices: run by ``tests/test_sharded.py`` in a process of
its own (``XLA_FLAGS=--xla_force_host_platform_device_count=8``), so that the rest of the test
session keeps its one CPU device. Not collected by a plain ``pytest`` run (its name does not
start with ``test_``); ``pytest tests/mesh_sharded.py`` with that flag runs it directly."""
import jax
import numpy as np
import pytest

from evbench.catalogue import PRODUCTS, get_family, get_product
from evbench.events import make_events

N_DEVICES = 8


@pytest.fixture(scope="module", autouse=True)
def _eight_devices():
    if len(jax.devices()) < N_DEVICES:
        pytest.fail(f"{len(jax.devices())} devices: run with XLA_FLAGS=--xla_force_host_platform_device_count=8")


def test_every_sharded_product_passes_the_checks_on_2_4_and_8_devices():
    from evbench.harness.shard.validate import SHARDED_VALIDATION_PROFILES, sharded_families, validate

    rows = validate(SHARDED_VALIDATION_PROFILES.get("ci"), progress=False)
    ran = rows[rows.status != "unsupported"]
    bad = ran[ran.status != "pass"]
    assert bad.empty, "\n" + bad[["family", "options", "product", "n_devices", "axis", "reduction", "dtype", "check",
                                   "status", "worst_ratio", "detail", "failing_case"]].to_string()
    assert set(ran.n_devices) == {2, 4, 8}
    assert set(ran.reduction) == {"xla", "ordered"} and set(ran.dtype) == {"float32", "float64"}
    on8 = ran[(ran.n_devices == 8) & (ran.check == "equivalence")]
    for fam in sharded_families():  # every family × product on 8 devices
        assert set(on8[on8.family == fam.name].product_key) == {p.key for p in PRODUCTS}, fam.name
    assert set(rows[rows.status == "unsupported"].family) == {"coo"}
    # all-gather products of stored structures compute each output as the unsharded product
    # does (generated ones run the portable generation against the axis, not the CPU kernel),
    # except a single vector through a sparse or fixed-number kernel: it interleaves four active
    # rows, an order that depends on each synapse's position in its row, which a block changes
    batched = ran.product_key.map(lambda k: get_product(k).batched)
    gathered = ran[(ran.check == "equivalence") & (ran.communication == "all-gather")
                   & ~ran.family.str.startswith("jitc_") & (batched | (ran.family == "dense"))]
    assert len(gathered) > 20 and gathered.bitwise_unsharded.all()


@pytest.mark.parametrize("n_devices", [2, 4, 8])
@pytest.mark.parametrize("reduction", ["xla", "ordered"])
def test_a_reduce_scatter_adds_the_partials_left_to_right_in_device_order(n_devices, reduction):
    """The summation order the docstring states: ((p_0 + p_1) + p_2) + ... on the CPU."""
    from evbench.ops.shard import device_mesh, phases, shard

    M = get_family("csr").build(64, 48, conn_prob=0.5, seed=3, dtype="float32")
    S = shard(M, device_mesh(n_devices), reduction=reduction)
    assert S.communication("vecmat") == "reduce-scatter"
    local, comm = phases(S, "vecmat")
    events = make_events(64, 1.0, seed=4, batch=2, dtype="float32", values="signed")
    partials = np.asarray(local(S, events))          # (devices, batch, n_cols)
    want = partials[0].copy()
    for p in partials[1:]:
        want = want + p
    got = np.asarray(comm(local(S, events)))
    assert np.array_equal(got, want)
    assert np.array_equal(np.asarray(S.vecmat(events)), want)
    assert not np.array_equal(want, partials[::-1].sum(axis=0)) or n_devices == 2  # the order shows


@pytest.mark.parametrize("family", ["dense", "csr", "csc", "jitc_uniform_r", "fixed_per_post"])
@pytest.mark.parametrize("product", ["vecmat", "matvec"])
def test_the_timed_phases_compose_to_the_product(family, product):
    """The benchmarks time ``local`` and ``comm`` apart: together they are the product, bitwise."""
    import jax
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P

    from evbench.ops.shard import device_mesh, phases, shard

    mesh = device_mesh(N_DEVICES)
    M = get_family(family).build(64, 48, conn_prob=0.3, seed=1, dtype="float64")
    S = shard(M, mesh)
    n_in = 64 if product == "vecmat" else 48
    ev = make_events(n_in, 0.2, seed=2, batch=3, dtype="float64", values="signed")
    ev = ev if product == "vecmat" else ev.T
    local, comm = phases(S, product)
    total = np.asarray(S.vecmat(ev) if product == "vecmat" else S.matvec(ev))
    if S.communication(product) == "reduce-scatter":
        split = comm(local(S, ev))
    else:
        gathered = np.asarray(comm(ev))
        assert all(np.array_equal(g, ev) for g in gathered)  # every device has every event
        split = local(S, jax.device_put(ev, NamedSharding(mesh, P())))
    assert np.array_equal(np.asarray(split), total)


def test_empty_batches_give_empty_results_on_every_cut():
    """A batch of no samples, on every family, axis and reduction (against the generation axis
    too), eager and under jit: the unsharded product's empty shapes."""
    import jax

    from evbench.harness.shard.validate import axes_of, sharded_families
    from evbench.ops.shard import device_mesh, shard

    mesh = device_mesh(4)
    for fam in sharded_families():
        M = fam.build(12, 8, conn_prob=0.3, seed=2, dtype="float32")
        for axis in axes_of(fam):
            for reduction in ("xla", "ordered"):
                S = shard(M, mesh, axis=axis, reduction=reduction)
                for T, rows, cols in ((S, 12, 8), (S.T, 8, 12)):
                    for fn in (lambda s, e: s.matvec(e), jax.jit(lambda s, e: s.matvec(e))):
                        assert fn(T, np.zeros((cols, 0), bool)).shape == (rows, 0), (fam.name, axis)
                    for fn in (lambda s, e: s.vecmat(e), jax.jit(lambda s, e: s.vecmat(e))):
                        assert fn(T, np.zeros((0, rows), bool)).shape == (0, cols), (fam.name, axis)


@pytest.mark.parametrize("family", ["dense", "csr", "fixed_per_post", "jitc_scalar_r", "jitc_normal_c"])
def test_a_sample_with_a_non_finite_event_is_nan_everywhere_when_sharded(family):
    """As unsharded (README "Event semantics"), on every cut, whichever device holds the event."""
    from evbench.harness.shard.validate import axes_of
    from evbench.catalogue import FAMILIES
    from evbench.ops.shard import device_mesh, shard

    fam = FAMILIES.get(family)
    M = fam.build(16, 8, conn_prob=0.3, seed=2, dtype="float64")
    for axis in axes_of(fam):
        S = shard(M, device_mesh(4), axis=axis)
        for n, run in ((16, lambda e: e @ S), (8, lambda e: (S @ e.T).T)):
            ev = make_events(n, 0.5, seed=3, batch=3, dtype="float64", values="signed")
            ev[0, n - 1], ev[1, 0] = np.inf, np.nan
            out = np.asarray(run(ev))
            assert np.isnan(out[:2]).all() and np.isfinite(out[2]).all(), (family, axis)


def test_a_mesh_that_does_not_divide_an_axis_is_refused():
    from evbench.ops.shard import device_mesh, shard

    M = get_family("csr").build(60, 48, conn_prob=0.2, seed=0)
    with pytest.raises(ValueError, match="n_rows=60 is not divisible by the mesh's 8 devices"):
        shard(M, device_mesh(8))
    M = get_family("jitc_scalar_c").build(64, 44, conn_prob=0.2, seed=0)
    with pytest.raises(ValueError, match="n_cols=44 is not divisible by the mesh's 8 devices"):
        shard(M, device_mesh(8))


def test_events_and_outputs_are_sharded_by_neuron():
    from evbench.ops.shard import device_mesh, shard

    S = shard(get_family("fixed_per_pre").build(64, 48, conn_prob=0.2, seed=0), device_mesh(8))
    out = S.vecmat(make_events(64, 0.3, seed=0))
    assert out.shape == (48,) and len(out.sharding.device_set) == 8
    assert {s.data.shape for s in out.addressable_shards} == {(6,)}


@pytest.mark.parametrize("weights", ["scalar", "jittered"])
def test_the_sharded_ei_network_reproduces_the_unsharded_raster_in_float64(weights):
    from evbench.ops.shard import device_mesh
    from evbench.spiking.sharded_ei import compare_rasters

    row = compare_rasters("coba", 0.2, device_mesh(8), dtype="float64", n_steps=500, weights=weights)
    assert row["spikes_unsharded"] > 100  # the network fires
    assert row["identical"], row


def test_every_sharded_command_follows_the_cli_and_its_tables_read_back(tmp_path, capsys):
    """Each part of ``evbench sharded`` on small settings: exit codes as the other commands',
    ``--devices`` the largest mesh, ``--family`` applied (``all`` too); every table it writes is
    read back by the project's reader, its JSON twin equal to its CSV value for value."""
    from evbench.cli import main
    from evbench.harness.results import read_table, table_of
    from tests.twins import assert_twins_equal

    out = ["--no-progress", "--into", str(tmp_path)]
    assert main(["sharded", "validate", "--profile", "ci", "--devices", "4", "--family", "csr", "--family", "coo",
                 *out]) == 0
    assert main(["sharded", "bench", "--profile", "tiny", "--devices", "2", "--family", "all", *out]) == 0
    assert main(["sharded", "collectives", "--devices", "2", *out]) == 0
    assert main(["sharded", "network", "--profile", "tiny", "--devices", "2", "--family", "jitc_scalar_r", *out]) == 0
    assert main(["sharded", "model", *out]) == 1  # two sizes in the tiny grid: every fit refused, said so
    assert "nothing projected" in capsys.readouterr().err
    tables = {}
    for csv in sorted(tmp_path.glob("*.csv")):
        tables[table_of(csv).name] = assert_twins_equal(csv)
        read_table(csv.with_suffix(".json"))
    assert set(tables) == {"sharded-validate", "sharded-bench", "sharded-collectives", "sharded-network",
                           "sharded-model-local", "sharded-model-comm"}
    val = tables["sharded-validate"]
    assert set(val.n_devices) == {2, 4} and set(val.family) == {"csr", "coo"}
    assert set(val[val.family == "coo"].status) == {"unsupported"} and set(val[val.family == "csr"].status) == {"pass"}
    assert set(tables["sharded-bench"].n_devices) == {1, 2} and len(set(tables["sharded-bench"].family)) == 2
    assert set(tables["sharded-collectives"].n_devices) == {2}
    assert list(tables["sharded-network"].family) == ["jitc_scalar_r"]
    assert set(tables["sharded-model-local"].status) == {"refused"}
