"""Benchmarks: the grid covers the catalogue, the runner writes a well-formed table, absent
devices are skipped, and the asv suites are generated from the same cases.

Timings are never asserted (benchmarks, not timed tests). That ``asv continuous`` fails on a
slower commit is shown by ``tools/asv_regression_check.sh`` (minutes: it builds a
virtualenv), run here only with ``EVBENCH_SLOW=1``.
"""
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pandas as pd
import pytest

from evbench.harness import bench
from evbench.peers import BACKENDS
from evbench.catalogue import PRODUCTS, FAMILIES
from evbench.cli import main

ROOT = Path(__file__).resolve().parents[1]


def _absent_kind():
    seen = {d.platform for d in jax.devices()}
    seen |= {"gpu"} if seen & {"cuda", "rocm"} else set()
    absent = [k for k in bench.DEVICE_KINDS if k not in seen]
    if not absent:
        pytest.skip("JAX sees every device kind here")
    return absent[0]


@pytest.mark.parametrize("name", sorted(bench.GRIDS.names()))
def test_every_grid_covers_every_family_backend_and_product(name):
    g = bench.GRIDS[name]
    seen = {(c.family, c.backend, c.product) for c in bench.cases(g, devices=("cpu",))}
    want = set(itertools.product([f.name for f in FAMILIES.all()], [b.name for b in BACKENDS.all()],
                                 [p.key for p in PRODUCTS]))
    # and the timed variants where the backend offers them: native without its column index
    indexed = [f.name for f in FAMILIES.all() if {"index": "none"} in BACKENDS.get("native").modes(f)]
    assert indexed and "csr" in indexed and "dense" not in indexed
    want |= set(itertools.product(indexed, ["native:index=none"], [p.key for p in PRODUCTS]))
    assert seen == want
    assert set(g.devices) == set(bench.DEVICE_KINDS)


@pytest.mark.parametrize("name", sorted(bench.GRIDS.names()))
def test_the_asv_parameters_are_the_cases_of_the_grid(name):
    """The suites' cartesian ``params`` per product are exactly the cases evbench bench runs (a
    grid whose connections per neuron depend on n holds them all, the others skip there)."""
    g = bench.GRIDS[name]
    for product in PRODUCTS:
        params = bench.suite_params(g, product)
        assert len(params) == len(bench.PARAM_NAMES)
        from_suites = {bench.case_from_params(product.key, *combo)
                       for combo in itertools.product(*params)}
        # a timed variant on a family whose backend does not offer it: a skip in the suites
        from evbench.harness.bench.grid import variant, variant_mode
        from evbench.catalogue import get_family
        from evbench.peers import get_backend

        from_suites = {c for c in from_suites if ":" not in c.backend or variant_mode(
            get_backend(variant(c.backend)[0]), get_family(c.family), product, c.backend) is not None}
        from_cases = {c for c in bench.cases(g, products=[product.key])}
        if g.conn_prob:
            assert from_cases < from_suites
        else:
            assert from_suites == from_cases


def test_the_full_grid_sweeps_sparse_to_dense_and_small_to_large():
    g = bench.GRIDS["full"]
    assert min(g.active) <= 0.001 and max(g.active) >= 0.5
    assert min(g.sizes()) <= 1_000 and max(g.n) >= 100_000 and max(g.sizes()) >= 1_000_000
    assert len(g.conn_num) > 1 and len(g.batch) > 1 and set(g.dtype) == {"float32", "float64"}


def test_grid_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("EVBENCH_GRID", "tiny")
    assert bench.grid().name == "tiny"
    monkeypatch.delenv("EVBENCH_GRID")
    assert bench.grid().name == bench.ASV_GRID
    with pytest.raises(ValueError, match="unknown grid 'nope'; valid grids: tiny"):
        bench.grid("nope")


def test_suites_are_generated_from_the_catalogue():
    from evbench.asv_suites.memory import memory_product
    from suites import machine, memory, products, work

    for module in (products, work):
        classes = {getattr(module, n).product_key: getattr(module, n) for n in dir(module)
                   if isinstance(getattr(module, n), type) and getattr(getattr(module, n), "product_key", None)}
        assert set(classes) == {p.key for p in PRODUCTS}
        for key, cls in classes.items():
            assert cls.param_names == list(bench.PARAM_NAMES)
            assert cls.params == bench.suite_params(bench.grid(), next(p for p in PRODUCTS if p.key == key))
    assert hasattr(products.Vecmat, "time_product")
    assert {"track_compile_s", "track_synaptic_events_per_s", "track_effective_bandwidth_gb_s"} <= set(dir(work.Vecmat))
    assert hasattr(machine.Machine, "track_read_bandwidth_gb_s")
    # memory: one product stands for each family, chosen from the catalogue (its event-driven one)
    assert hasattr(memory.HostMemory, "peakmem_product") and hasattr(memory.DeviceMemory, "track_device_peak_bytes")
    assert memory.HostMemory.params[0] == [f.name for f in FAMILIES.all()]
    for fam in FAMILIES.all():
        product = next(p for p in PRODUCTS if p.key == memory_product(fam.name))
        assert not product.batched
        assert fam.event_driven_for(product) or fam.event_driven == "none"


def test_an_absent_device_is_skipped_with_not_implemented_error(tmp_path, monkeypatch):
    from suites import memory, products, work

    kind = _absent_kind()
    monkeypatch.chdir(tmp_path)
    params = ("csr", "native", 256, 0.05, 16, 1, "float32", kind)
    case = bench.case_from_params("vecmat", *params)
    with pytest.raises(NotImplementedError, match=f"no {kind} device"):
        bench.prepare(case)
    with pytest.raises(NotImplementedError, match=f"no {kind} device"):
        products.Vecmat().setup(None, *params)
    for cls in (memory.HostMemory, memory.DeviceMemory):
        with pytest.raises(NotImplementedError, match=f"no {kind} device"):
            cls().setup(None, *params)
    sweep = {case.key: bench.record(case, "no_device", f"JAX sees no {kind} device here")}
    with pytest.raises(NotImplementedError, match=f"no {kind} device"):
        work.Vecmat().setup(sweep, *params)
    recs = bench.run(bench.GRIDS["tiny"], families=["csr"], backends=["native"], products=["vecmat"],
                     devices=[kind], progress=False)
    assert [r["backend"] for r in recs] == ["native", "native:index=none"]  # and its timed variant
    assert all(r["status"] == "no_device" and not r["times"] for r in recs)


def test_too_large_a_dense_matrix_is_a_recorded_skip():
    case = bench.BenchCase("dense", "native", "vecmat", 10_000_000, 0.01, 100, 1, "float32", "cpu")
    with pytest.raises(bench.Skipped, match="dense n × n matrix") as exc:
        bench.check_memory(case)
    assert exc.value.status == "too_large"
    # a just-in-time structure of the same size stores nothing: it fits
    bench.check_memory(bench.BenchCase("jitc_scalar_r", "native", "vecmat", 10_000_000, 0.01, 100, 1,
                                       "float32", "cpu"))
    # the dense baseline materialises any structure: measured on a probe, not listed by hand
    fp = bench.footprint("csr", "dense", "vecmat", "float32")
    assert fp.materialises_dense and not fp.stores_dense
    assert not bench.footprint("csr", "native", "vecmat", "float32").materialises_dense


def test_bench_writes_a_tidy_table(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    argv = ["bench", "--grid", "tiny", "--family", "csr", "--family", "jitc_normal_c", "--backend", "native",
            "--backend", "scipy", "--product", "vecmat", "--product", "matvec_batch", "--device", "all",
            "--no-progress", "--out", str(tmp_path)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "read bandwidth" in out
    (machine_dir,) = tmp_path.iterdir()
    (csv,) = machine_dir.glob("bench-tiny-*.csv")
    frame = pd.read_csv(csv)
    assert list(frame.columns) == list(bench.TIDY_COLUMNS)
    records = json.loads(csv.with_suffix(".json").read_text())
    assert len(records) == len(frame)
    meta = json.loads(csv.with_name(csv.name.replace(".csv", ".meta.json")).read_text())
    assert meta["grid"] == "tiny" and meta["jax"] == jax.__version__ and meta["machine_read_gb_s"] > 0
    assert set(meta["backends"]) >= {"native", "scipy"}

    case_cols = ["family", "backend", "product", "device", "n", "active", "conn_num", "batch", "dtype"]
    per_case = frame.groupby(case_cols, dropna=False)
    # csr: native, its variant without the index (a row of its own) and scipy; jitc_normal_c: two
    assert per_case.ngroups == (3 + 2) * 2 * len(bench.DEVICE_KINDS)
    ok = frame[frame.status == "ok"]
    assert set(ok.device) == {"cpu"}
    assert ok.groupby(case_cols).ngroups == (3 + 2) * 2
    assert set(ok[ok.family == "csr"].backend) == {"native", "native:index=none", "scipy"}
    # one row per repeat, each with the case's summary
    for _, rows in ok.groupby(case_cols):
        assert len(rows) == rows.repeats.iloc[0] >= bench.GRIDS["tiny"].min_repeats
        assert list(rows.repeat) == list(range(len(rows)))
        assert np.isclose(rows.median_s.iloc[0], np.median(rows.time_s))
    assert (ok.time_s > 0).all() and (ok.iqr_s >= 0).all() and (ok.compile_s >= 0).all()
    assert np.allclose(ok.active_fraction, ok.active, atol=0.5 / 256)
    assert (ok.synaptic_events > 0).all() and (ok.bytes_touched > 0).all()
    assert np.allclose(ok.events_per_s, ok.synaptic_events / ok.median_s)
    assert np.allclose(ok.effective_gb_s, ok.bytes_touched / ok.median_s / 1e9)
    assert (ok.machine_read_gb_s > 0).all()
    assert (ok[ok.backend == "native"].compile_s > 0).all()  # a JAX backend compiles on its first call
    assert (ok[ok.backend == "scipy"].compile_s == 0).all()  # scipy has nothing to compile
    skipped = frame[frame.status != "ok"]
    assert set(skipped.status) <= {"no_device"} and skipped.time_s.isna().all()
    assert skipped.reason.str.contains("device").all()


def test_the_sweep_gives_the_asv_tracks_their_records(tmp_path, monkeypatch):
    from suites import work

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ASV_CONF_DIR", raising=False)
    sweep = bench.asv_sweep(bench.GRIDS["tiny"], cache_dir=None, sidecar_dir=tmp_path / "meta",
                            families=["fixed_per_pre"], backends=["native"], products=["vecmat"])
    assert sweep["meta"]["grid"] == "tiny"
    (machine_dir,) = (tmp_path / "meta").iterdir()
    (meta_file,) = machine_dir.glob("*.json")
    assert json.loads(meta_file.read_text())["jaxlib"]
    table = pd.read_csv(meta_file.with_suffix(".csv"))
    assert set(table.family) == {"fixed_per_pre"} and "active_fraction" in table
    params = ("fixed_per_pre", "native", 256, 0.05, 16, 1, "float32", "cpu")
    suite = work.Vecmat()
    suite.setup(sweep, *params)
    assert suite.track_compile_s(sweep, *params) > 0
    assert suite.track_synaptic_events_per_s(sweep, *params) > 0
    assert suite.track_effective_bandwidth_gb_s(sweep, *params) > 0
    assert sweep[bench.case_from_params("vecmat", *params).key]["active_fraction"] == pytest.approx(13 / 256)
    with pytest.raises(NotImplementedError, match="not in this run's sweep"):
        work.Vecmat().setup(sweep, "csr", *params[1:])


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("EVBENCH_SLOW"), reason="minutes (builds a virtualenv); EVBENCH_SLOW=1")
def test_asv_continuous_fails_on_a_slower_commit():
    env = dict(os.environ, ASV=str(Path(sys.executable).with_name("asv")))
    res = subprocess.run(["bash", str(ROOT / "tools" / "asv_regression_check.sh")], env=env,
                         capture_output=True, text=True, timeout=3600)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-4000:]
    assert "asv continuous exited with status 1" in res.stdout
