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


@pytest.mark.parametrize("family", ["jitc_scalar_r", "jitc_normal_r", "jitc_uniform_r"])
def test_generated_rows_of_an_empty_batch_are_empty(family):
    """The rows a device generates against the generation axis, for a batch of no samples."""
    from evbench.ops.shard.sharded import generated_rows_matvec

    M = get_family(family).build(12, 12, conn_prob=0.3, seed=2)
    rows = jax.jit(lambda m, s, row0: generated_rows_matvec(m, s, row0, 3))  # as inside shard_map
    assert rows(M, np.zeros((12, 0), np.float32), np.int32(3)).shape == (3, 0)
    got = np.asarray(rows(M, np.eye(12, dtype=np.float32), np.int32(3)))
    np.testing.assert_allclose(got, np.asarray(M.to_dense())[3:6], rtol=1e-6)


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


def test_the_sharded_command_refuses_devices_jax_cannot_have(tmp_path, capsys):
    from evbench.cli import main

    jax.devices()  # JAX has started: its device count is fixed
    assert main(["sharded", "bench", "--devices", "64", "--profile", "tiny", "--into", str(tmp_path)]) == 2
    assert "xla_force_host_platform_device_count=64" in capsys.readouterr().err
    assert main(["sharded", "validate", "--profile", "nope", "--into", str(tmp_path)]) == 2
    assert "nope" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_collective_volume_reads_what_a_compiled_step_moves():
    from evbench.harness.shard.model import collective_volume

    hlo = """
  %reduce_scatter.14 = f32[1,250]{0,1} reduce-scatter(%copy), channel_id=1, dimensions={1}, to_apply=%add
  %all-gather.3 = pred[2000]{0} all-gather(%spikes), channel_id=2, dimensions={0}
  %collective-permute.1 = pred[100]{0} collective-permute(%x), source_target_pairs={{0,1},{1,2},{2,3},{3,4},{4,5},{5,6}}
  %add.7 = f32[250]{0} add(%a, %b)
"""
    got = collective_volume(hlo, 8)
    assert got == {"reduce-scatter": 250 * 4 * 7, "all-gather": 2000 * 7 / 8, "collective-permute": 100 * 6 / 8}


def test_the_model_recovers_known_costs_and_projects_the_stated_volumes():
    import pandas as pd

    from evbench.harness.shard.model import fit_comm, fit_local, project, step_volume

    rows = []
    for D in (1, 2, 4, 8):
        for n in (1024, 4096):
            B = (D - 1) * (n // D) * 4
            rows.append(dict(family="csr", product="vecmat", event_driven=True, status="ok", n_devices=D, n=n,
                             synapses_per_device=n * 10 / D, unsharded_median_s=2e-6 + 3e-9 * n * 10,
                             communication="reduce-scatter", comm_bytes_per_device=B,
                             comm_median_s=5e-5 + 1e-5 * (D - 1) + B / 2e9))
    frame = pd.DataFrame(rows)
    local = fit_local(frame).iloc[0]
    assert np.isclose(local.c_s_per_synapse, 3e-9) and np.isclose(local.a_s, 2e-6)
    comm = fit_comm(frame).iloc[0]
    assert np.isclose(comm.alpha_s, 5e-5) and np.isclose(comm.alpha_per_device_s, 1e-5)
    assert np.isclose(comm.gb_per_s, 2.0)
    vol = step_volume(10**6, 8, rate_hz=10.0, dt_ms=0.1, receptors=2)
    assert vol["reduce-scatter (rows)"] == 7 / 8 * 10**6 * 4 * 2
    assert vol["all-gather indices (cols)"] == 7 / 8 * 10**6 * 1e-3 * 4
    proj = project({"csr": 3e-9}, fit_comm(frame), sizes=(10**6,), devices=(8,))
    row = proj[(proj.cut == "reduce-scatter (rows)") & proj.interconnect.str.startswith("this host")].iloc[0]
    assert np.isclose(row.local_s, 3e-9 * 10**6 * 1e-3 * 10_000 / 8)
    assert np.isclose(row.comm_s, 5e-5 + 7 * 1e-5 + 7 / 8 * 8e6 / 2e9)


def test_the_asv_suite_takes_the_sweep_cases():
    import suites.sharded as suite

    from evbench.harness.shard.bench import scaling_cases

    keys = {(c.family, c.product, c.scaling, c.n_devices) for c in scaling_cases(suite.GRID, suite._families())}
    params = set(__import__("itertools").product(*suite.Scaling.params))
    assert keys == params
    bench = suite.Scaling()
    with pytest.raises(NotImplementedError, match="not in the sweep"):
        bench.setup({}, "csr", "vecmat", "strong", 2)
    with pytest.raises(NotImplementedError, match="too_large"):
        bench.setup({("csr", "vecmat", "strong", 2): {"status": "too_large", "reason": "big"}},
                    "csr", "vecmat", "strong", 2)


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("EVBENCH_SLOW"), reason="about a minute (two processes); EVBENCH_SLOW=1")
def test_across_processes_joined_by_jax_distributed():
    """Several hosts, as processes of this machine: 2 × 4 virtual devices, one mesh."""
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "sharded_processes.py")], cwd=ROOT,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "2 processes × 4 devices = 8: every product passes" in proc.stdout


# -- the command: the CLI's rules, the model's fits ------------------------------------------------


@pytest.mark.parametrize("argv, says", [
    (["collectives", "--family", "csr"], "--family does not apply to `evbench sharded collectives`"),
    (["network", "--family", "csr"], "--family csr: `evbench sharded network` takes fixed_prob, jitc_scalar_r"),
    (["bench", "--family", "coo"], "a COO list is unordered"),
    (["model", "--devices", "2"], "--devices does not apply to `evbench sharded model`"),
    (["model", "--profile", "tiny"], "--profile does not apply to `evbench sharded model`"),
    (["bench", "--source", "x.csv"], "--source does not apply to `evbench sharded bench`"),
    (["model", "--family", "all", "--source", "nope.csv"], "cannot read the sharded-bench table 'nope.csv': No such"),
    (["collectives", "--devices", "1"], "--devices 1: the collectives' sweep runs on 2, 4, 8, 16, 32, 64 devices"),
    (["validate", "--devices", "1"], "--devices 1: the full validation runs on 2, 4, 8 devices"),
])
def test_the_sharded_command_refuses_what_a_part_does_not_take(argv, says, tmp_path, capsys):
    from evbench.cli import main

    assert main(["sharded", *argv, "--no-progress", "--into", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("evbench sharded: error:") and says in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("bad", ["0", "-1", "two"])
def test_the_sharded_command_checks_devices_as_every_command_checks_numbers(bad, capsys):
    from evbench.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["sharded", "bench", "--devices", bad])
    assert exc.value.code == 2 and f"argument --devices: must be a whole number >= 1, got '{bad}'" in \
        capsys.readouterr().err


def _scaling_table(folder, sizes, t_of_n, *, status="ok"):
    """A sharded-bench table written by the results layer: csr events @ M, one device."""
    import pandas as pd

    from evbench.harness import results

    rows = [dict(family="csr", product="vecmat", scaling="strong", n_devices=1, n=n, status=status,
                 event_driven=True, synapses_per_device=10.0 * n, unsharded_median_s=t_of_n(n),
                 communication="reduce-scatter", comm_bytes_per_device=0, comm_median_s=1e-5) for n in sizes]
    st = results.stamp()
    with results.Transaction() as tx:
        csv, _ = tx.table(results.TABLES.get("sharded-bench"), pd.DataFrame(rows), folder, "t", st)
        tx.meta(folder / f"sharded-bench-t-{st}.meta.json", {})
    return csv


def test_a_fit_with_too_few_points_or_a_negative_cost_is_refused_and_nothing_is_projected(tmp_path, capsys):
    from evbench.cli import main
    from evbench.harness import results

    csv = _scaling_table(tmp_path, (128, 256), lambda n: 2e-5 - 2e-9 * n)  # falls with n: c < 0, two points
    assert main(["sharded", "model", "--source", str(csv), "--into", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "fit of csr vecmat refused: 2 points for 2 parameters" in err and "is not positive" in err
    assert "error: nothing projected" in err
    assert not list(tmp_path.glob("sharded-model-projection-*"))
    (local,) = tmp_path.glob("sharded-model-local-*.csv")
    fit = results.read_table(local)
    assert list(fit.status) == ["refused"] and fit.c_s_per_synapse.iloc[0] < 0


def test_a_physical_fit_over_enough_points_is_projected_with_positive_times(tmp_path, capsys):
    from evbench.cli import main
    from evbench.harness import results

    csv = _scaling_table(tmp_path, (128, 256, 512, 1024), lambda n: 2e-6 + 3e-9 * 10 * n * (1 + 0.01 * (n % 3)))
    assert main(["sharded", "model", "--source", str(csv), "--into", str(tmp_path)]) == 0
    (local,) = tmp_path.glob("sharded-model-local-*.csv")
    assert list(results.read_table(local).status) == ["ok"]
    (proj,) = tmp_path.glob("sharded-model-projection-*.csv")
    proj = results.read_table(proj)
    assert len(proj) and (proj[["local_s", "comm_s", "step_s", "wall_per_sim_s"]] > 0).all().all()
    assert not proj.interconnect.str.startswith("this host").any()  # the collectives' fits were refused


def test_a_scaling_table_without_timings_or_damaged_is_an_error_line(tmp_path, capsys):
    from evbench.cli import main

    empty = _scaling_table(tmp_path, (), lambda n: 0.0)
    assert main(["sharded", "model", "--source", str(empty), "--into", str(tmp_path)]) == 2
    assert "has no event-driven events @ M timings to fit" in capsys.readouterr().err
    cut = _scaling_table(tmp_path, (128, 256, 512), lambda n: 1e-6 * n)
    cut.write_text("".join(cut.read_text().splitlines(keepends=True)[:2]))
    assert main(["sharded", "model", "--source", str(cut), "--into", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"cannot read the sharded-bench table {str(cut)!r}" in err and "SHA-256" in err
    assert "Traceback" not in err


def test_fits_refuse_underdetermined_and_non_physical_costs():
    import pandas as pd

    from evbench.harness.shard.model import fit_comm, fit_local, project

    one_d = pd.DataFrame([dict(status="ok", n_devices=2, communication="all-gather", comm_bytes_per_device=b,
                               comm_median_s=1e-4 + b / 1e9) for b in (1e3, 1e4, 1e5, 1e6)])
    (row,) = fit_comm(one_d).itertuples()
    assert row.status == "refused" and "do not determine the 3 parameters" in row.reason  # one D: alpha, alpha_d
    shrinking = pd.DataFrame([dict(status="ok", n_devices=D, communication="all-gather", comm_bytes_per_device=b,
                                   comm_median_s=1e-3 - b / 1e9 + 1e-5 * D) for D in (2, 4) for b in (1e3, 1e5, 1e6)])
    (row,) = fit_comm(shrinking).itertuples()
    assert row.status == "refused" and "cost per byte" in row.reason
    with pytest.raises(ValueError, match="must be positive"):
        project({"csr": -1.94e-8}, fit_comm(shrinking))
    assert fit_local(one_d.iloc[:0].assign(family=[], product=[])).empty
