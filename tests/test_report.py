"""``evbench report`` on small synthetic results, and ``evbench run``'s arguments and folders."""
import html
import json
import os
import re

import numpy as np
import pandas as pd
import pytest

from evbench import FAMILIES
from evbench.harness import report
from evbench.harness.report import conformance, figures, speedup
from evbench.harness import run as mainjob
from evbench.peers import BACKENDS as REGISTERED
from evbench.catalogue import PRODUCTS
from evbench.cli import main
from evbench.harness.results import machine_label

STAMP1, STAMP2 = "20260101T000000Z", "20260102T000000Z"
#: a few names read from the catalogue and the registry; the baseline is the one the report uses
FAMS = [f.name for f in FAMILIES.all()][:3]
BACKEND_NAMES = list(dict.fromkeys([report.BASELINE] + [b.name for b in REGISTERED.all()][:2]))
SOME_CHECKS = ("equivalence", "semantics", "jit", "grad", "statistics")


def _meta(folder, stem, **extra):
    meta = dict(machine="testbox", date="2026-01-01T00:00:00+00:00", devices=["cpu:0"], jax="0.0", python="3.12",
                backends={b: f"{b} 1.0" for b in BACKEND_NAMES}, **extra)
    (folder / f"{stem}.meta.json").write_text(json.dumps(meta))


def write_validation(folder, stamp=STAMP1, fail=None):
    rows, checks = [], []
    for fam in FAMS:
        for prod in PRODUCTS[:2]:
            for be in BACKEND_NAMES:
                status = "FAIL" if (fam, be) == fail else "pass"
                rows.append(dict(family=fam, product=prod.expr, backend=be, mode="", status=status,
                                 equivalence=f"{status} 0.3", semantics="value", jit="pass", grad="-",
                                 statistics="-", detail=""))
                for chk in SOME_CHECKS:
                    checks.append(dict(family=fam, product=prod.expr, backend=be, mode="", check=chk,
                                       status=status if chk == "equivalence" else
                                       ("unsupported" if chk == "grad" else "pass")))
    pd.DataFrame(rows).to_csv(folder / f"validate-quick-{stamp}.csv", index=False)
    pd.DataFrame(checks).to_csv(folder / f"checks-quick-{stamp}.csv", index=False)
    _meta(folder, f"validate-quick-{stamp}", profile="quick")


def bench_frame(sizes=(1000, 10000), actives=(0.001, 0.01, 0.5), devices=("cpu",), absent=("gpu",),
                backend_names=None):
    rng = np.random.default_rng(0)
    rows = []
    for device in (*devices, *absent):
        for fam in FAMS:
            for prod in PRODUCTS[:2]:
                for be in backend_names or BACKEND_NAMES:
                    for n in sizes:
                        for a in actives:
                            base = dict(family=fam, backend=be, product=prod.key, expr=prod.expr, event_driven=True,
                                        device=device, n=n, active=a, active_fraction=a, conn_num=100,
                                        conn_prob=100 / n, batch=1, dtype="float32")
                            if device in absent:
                                rows.append(dict(base, status="no_device", reason=f"no {device}"))
                                continue
                            t = 1e-9 * n * n if be == report.BASELINE else 1e-5 + 2e-8 * a * n * 100
                            times = t * (1 + 0.3 * rng.random(3) * (be == BACKEND_NAMES[-1]))
                            q25, q75 = np.percentile(times, [25, 75])
                            for i, ti in enumerate(times):
                                rows.append(dict(base, status="ok", reason="", repeat=i, time_s=ti,
                                                 median_s=float(np.median(times)), iqr_s=q75 - q25, repeats=3,
                                                 compile_s=0.1 + 0.01 * len(be), compile_cached=False,
                                                 synaptic_events=a * n * 100, bytes_touched=a * n * 800 + 8 * n,
                                                 events_per_s=a * n * 100 / t, effective_gb_s=(a * n * 800) / t / 1e9,
                                                 machine_read_gb_s=10.0, bandwidth_fraction=(a * n * 800) / t / 1e10,
                                                 structure_bytes=8.0 * n * 100, backend_bytes=4.0 * n * n))
    return pd.DataFrame(rows)


def write_bench(folder, stamp=STAMP1, **kw):
    bench_frame(**kw).to_csv(folder / f"bench-run-{stamp}.csv", index=False)
    _meta(folder, f"bench-run-{stamp}", grid="run", machine_read_gb_s=10.0)


def write_spiketimes(folder, tables=report.SPIKETIME_TABLES, stamp=STAMP1):
    dts = [0.1, 0.05, 0.025]
    data = dict(
        exact=pd.DataFrame([dict(model="lif", n=100, k=10, delay=0.0, t_ref=0.0, n_spikes=500, identical_indices=True,
                                 max_rel_time_error=1e-13, first_mismatch=-1, status="pass")]),
        convergence=pd.DataFrame([dict(model="lif", backend=b, interpolate=True, interpolation="linear", dt_ms=dt, n_spikes_ref=500,
                                       n_matched=500, mean_abs_error_ms=0.3 * dt ** 2, max_abs_error_ms=dt ** 2,
                                       first_divergence_ms=100.0) for b in BACKEND_NAMES[:2] for dt in dts]),
        order=pd.DataFrame([dict(model="lif", backend=b, interpolate=True, interpolation="linear", order=2.0, order_stderr=0.01, n_points=3)
                            for b in BACKEND_NAMES[:2]]),
        operators=pd.DataFrame([dict(model="lif", backend=b, n_steps=1000, identical=True, first_divergent_step=-1,
                                     first_divergent_neuron=-1, cause="") for b in BACKEND_NAMES]),
        statistics=pd.DataFrame([dict(model="lif", impl=i, statistic=s, value=v, ci_low=v * 0.9, ci_high=v * 1.1)
                                 for i in ("sparseprop", "stepped") for s, v in (("rate_hz", 5.0), ("cv_isi", 1.0))]),
        scaling=pd.DataFrame([dict(impl=i, model="lif", n=n, k=50, n_spikes=10 * n, seconds=1e-6 * 10 * n *
                                   (np.log(n) if i == "sparseprop" else n / 100), spikes_per_s=1.0,
                                   ns_per_synaptic_update=1.0) for i in ("sparseprop", "naive")
                              for n in (1000, 10000, 100000)]),
        nest=pd.DataFrame([dict(network=n, n=1000, simulator=s, rule=r, n_spikes=10_000, n_spikes_nest=10_000,
                                identical=r == "summed" or n != "ei", max_abs_dt_ms=1e-12,
                                first_divergence=-1 if r == "summed" or n != "ei" else 188,
                                cause="" if r == "summed" or n != "ei" else "simultaneous pulses: ...",
                                status="pass" if r == "summed" else ("identical" if n != "ei" else "parts"))
                           for n in ("inhibitory", "ei", "excitatory") for s in ("reference", "sparseprop")
                           for r in ("summed", "sequential")]),
        ei=pd.DataFrame([dict(model=m, backend=BACKEND_NAMES[1], scale=s, n_neurons=4000 * s, sim_ms=1000.0, wall_s=2.0 * s,
                              wall_per_sim_s=2.0 * s, rate_exc_hz=5.0, rate_inh_hz=10.0, in_regime=s < 4)
                         for m in ("coba", "cuba") for s in (1, 2, 4)]),
    )
    for name in tables:
        data[name].to_csv(folder / f"spiketimes-{name}-quick-{stamp}.csv", index=False)


def write_asv(folder, commits, slower=1.0, quick=False):
    """An asv results tree: ``asv/<machine>/<commit>-<env>.json`` in asv's format (version 2);
    the last commit's ``time_`` results ``slower`` times the others'; ``quick``: one sample per
    benchmark (``asv run --quick`` writes no statistics)."""
    machine = folder / "asv" / "testbox"
    machine.mkdir(parents=True)
    (machine / "machine.json").write_text(json.dumps({"machine": "testbox", "version": 1}))
    cols = ["result", "params", "version", "started_at", "duration", "stats_ci_99_a", "stats_ci_99_b",
            "stats_q_25", "stats_q_75", "stats_number", "stats_repeat", "samples", "profile"]
    for i, commit in enumerate(commits):
        f = slower if i == len(commits) - 1 else 1.0
        params = [[repr(FAMS[0]), repr(FAMS[1])], ["1000"]]
        times = [1e-3 * f, 2e-3 * f]
        # quick: asv --quick writes q25 == q75 == the one sample for time_ benchmarks
        spread = (1.0, 1.0) if quick else (0.99, 1.01)
        stats = [0, 1.0, None, None, [t * spread[0] for t in times], [t * spread[1] for t in times]]
        results = {
            "products.Vecmat.time_product": [times, params, "v1", *stats],
            "memory.Vecmat.peakmem_product": [[1e6 * f, 2e6 * f], params, "v1"],
            "work.Vecmat.track_synaptic_events_per_s": [[1e9, 2e9], params, "v1"],
            "machine.Machine.track_read_bandwidth_gb_s": [[10.0], [], "v1"],
        }
        obj = dict(commit_hash=commit * 5, env_name="virtualenv-py3.12", date=1_700_000_000_000 + i * 86_400_000,
                   params={"machine": "testbox"}, python="3.12", requirements={}, env_vars={}, result_columns=cols,
                   results=results, durations={}, version=2)
        (machine / f"{commit[:8]}-virtualenv-py3.12.json").write_text(json.dumps(obj))


#: what :func:`pybench_run` benchmarks: the first three families and backends, two products
PYB_BACKENDS, PYB_PRODS = [b.name for b in REGISTERED.all()][:3], [p.key for p in PRODUCTS][:2]


def pybench_run(path, *, commit="a" * 40, slower=(), factor=2.0, machine="testbox-x86_64", date="2026-01-01",
                evbench_info=True):
    """A pytest-benchmark file as ``--benchmark-save`` writes it for evbench's suite: the
    benchmarks of ``slower`` (``(family, product, backend)``) ``factor`` times slower."""
    benches = []
    for i, (fam, prod, be) in enumerate((f, p, b) for f in FAMS for p in PYB_PRODS for b in PYB_BACKENDS):
        t = 1e-4 * (1 + i) * (factor if (fam, prod, be) in slower else 1.0)
        params = dict(product=prod, family=fam, backend=be, n=3000, active=0.01, conn_num=100, batch=1,
                      dtype="float32", device="cpu")
        name = f"test_product[{fam}-{prod}-{be}-cpu]"
        benches.append(dict(group=f"{fam} {prod}", name=name, fullname=f"tests/benchmarks/test_products.py::{name}",
                            params=params, param=name[13:-1], extra_info=dict(timing="jit", compile_s=0.1),
                            options=dict(disable_gc=False), stats=dict(
                                min=0.9 * t, max=1.2 * t, mean=t, stddev=0.05 * t, rounds=15, median=t, iqr=0.1 * t,
                                q1=0.95 * t, q3=1.05 * t, iqr_outliers=0, stddev_outliers=0, outliers="0;0",
                                ld15iqr=0.9 * t, hd15iqr=1.2 * t, ops=1 / t, total=15 * t, iterations=10)))
    info = dict(node=machine.rsplit("-", 1)[0], machine="x86_64", processor="x86_64", python_version="3.12.1",
                system="Linux", release="6.0", cpu=dict(brand_raw="Test CPU", count=2))
    if evbench_info:
        info["evbench"] = dict(machine=machine, jax="9.9.1", jaxlib="9.9.1", numpy="2.0", evbench="0.1.0",
                               backends={"native": "jax 9.9.1"}, devices=["cpu:0 cpu"])
    obj = dict(machine_info=info, commit_info=dict(id=commit, dirty=False, branch="main", project="evbench"),
               benchmarks=benches, datetime=f"{date}T00:00:00+00:00", version="5.3.1")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))
    return path


def _images(html_text):
    return len(re.findall(r'<img src="data:image/png;base64,[A-Za-z0-9+/=]+"', html_text))


def _sections(rep):
    return {s.key: s for s in rep.sections}


def test_full_report_has_every_section_and_embeds_every_figure(tmp_path):
    write_validation(tmp_path, fail=(FAMS[1], BACKEND_NAMES[-1]))
    write_bench(tmp_path)
    write_spiketimes(tmp_path)
    write_asv(tmp_path, ["aaaaaaaa", "bbbbbbbb"], slower=2.0)
    pybench_run(tmp_path / ".benchmarks" / "Linux-CPython-3.12-64bit" / "0001_x.json")
    rep = report.build([tmp_path], tmp_path / "out")
    secs = _sections(rep)
    assert [k for k, s in secs.items() if s.missing] == ["sharded"]  # no sharded tables here: see below
    page = rep.html.read_text()
    md = rep.markdown.read_text()
    assert len(rep.figures) >= 9 and _images(page) == len(rep.figures)
    assert not re.search(r'src="(?!data:)', page) and "<link" not in page  # self-contained
    for fig in rep.figures:
        assert fig.exists() and fig.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"(report-figures/{fig.name})" in md
    for s in rep.sections:
        assert html.escape(s.title) in page and f"## {s.title}" in md
    # the speedup of the baseline-beating backends is measured, and the crossover found
    speed = secs["speedup"].tables[0][1]
    assert set(speed.backend) == set(BACKEND_NAMES) - {report.BASELINE}
    # t_dense = 1e-9 n², t = 1e-5 + 2e-6 a n: at n = 10⁴, dense 0.1 s, the crossover at a ≈ 5 (no crossing)
    assert (speed.speedup_at_lowest > 1).all()
    slopes = secs["scaling"].tables[0][1]
    base = slopes[slopes.backend == report.BASELINE].slope
    assert np.allclose(base, 2.0, atol=1e-6)  # dense time ∝ n²
    spike_tables = dict(secs["spiketimes"].tables)
    order = next(t for name, t in spike_tables.items() if name.startswith("Convergence order"))
    assert np.allclose(order.order, 2.0)
    nest = next(t for name, t in spike_tables.items() if name.startswith("Against NEST"))
    assert set(nest[nest.rule == "summed"].status) == {"pass"} and "parts" in set(nest.status)
    regress = secs["history"].tables[0][1]
    assert set(regress.benchmark) == {"products.Vecmat.time_product", "memory.Vecmat.peakmem_product"}
    assert np.allclose(regress.worse_by, 2.0)
    assert "FAIL" in page and "testbox" in page and "0.0" in page  # failing row, machine, versions
    assert not [p for p in rep.html.parent.rglob("*.tmp")]


def test_crossover_is_interpolated_on_log_axes():
    assert speedup.crossover([0.001, 0.01, 0.1], [10.0, 1.0 * 10 ** 0.5, 0.1]) == pytest.approx(0.01 * 10 ** (1 / 3))
    assert speedup.crossover([0.001, 0.1], [2.0, 3.0]) is None


def test_missing_devices_partial_bench_and_no_other_tables(tmp_path):
    frame = bench_frame(sizes=(1000,), devices=("cpu",), absent=("gpu", "tpu"))
    frame = frame[~((frame.family == FAMS[2]) & (frame.backend == report.BASELINE))]  # no baseline for one family
    frame.loc[(frame.family == FAMS[0]) & (frame.backend == BACKEND_NAMES[1]) & (frame.active == 0.5), "status"] = "error"
    frame.to_csv(tmp_path / f"bench-run-{STAMP1}.csv", index=False)
    rep = report.build([tmp_path / f"bench-run-{STAMP1}.csv"])
    assert rep.html.parent == tmp_path
    secs = _sections(rep)
    for key in ("conformance", "scaling", "spiketimes", "history"):
        assert secs[key].missing and "\n" not in secs[key].missing
    for key in ("speedup", "bandwidth", "memory", "compile", "noise"):
        assert not secs[key].missing, key
    assert set(secs["speedup"].tables[0][1].family) == set(FAMS[:2])
    assert _images(rep.html.read_text()) == len(rep.figures)
    assert "gpu" not in " ".join(f.name for f in rep.figures)  # an absent device draws nothing


def test_partial_spiketime_tables_and_columns(tmp_path):
    write_spiketimes(tmp_path, tables=("scaling", "ei"))
    ei = pd.read_csv(tmp_path / f"spiketimes-ei-quick-{STAMP1}.csv").drop(columns=["scale"])
    ei.to_csv(tmp_path / f"spiketimes-ei-quick-{STAMP1}.csv", index=False)
    rep = report.build([tmp_path])
    sec = _sections(rep)["spiketimes"]
    assert not sec.missing
    assert {f.name for f in sec.figures} == {"sparseprop-scaling", "ei-wall"}
    assert any("convergence" in n for n in sec.notes) and any("exact" in n for n in sec.notes)
    slopes = sec.tables[0][1].set_index("impl").slope
    assert slopes["naive"] == pytest.approx(1.0) and 0 < slopes["sparseprop"] < 0.2  # O(N) against O(log N)


def test_one_asv_commit_says_history_needs_two(tmp_path):
    write_asv(tmp_path, ["cccccccc"])
    rep = report.build([tmp_path / "asv"], tmp_path / "r")
    secs = _sections(rep)
    assert "one commit only (cccccccc" in secs["history"].missing
    assert all(s.missing for k, s in secs.items() if k != "machine")
    assert _images(rep.html.read_text()) == 0 and rep.markdown.exists()


def test_several_asv_commits_history_no_regression(tmp_path):
    write_asv(tmp_path, ["aaaaaaaa", "bbbbbbbb", "cccccccc"], slower=1.05)
    rep = report.build([tmp_path])
    sec = _sections(rep)["history"]
    assert not sec.missing and not sec.tables and "No regression" in sec.notes[0]
    assert len(rep.figures) == 1 and rep.figures[0].name == "history.png"
    runs = report.load([tmp_path]).asv
    assert runs.commit.nunique() == 3 and len(runs) == 3 * 7


def test_single_sample_asv_results_are_not_called_regressions(tmp_path):
    """`asv run --quick` keeps one sample: a slower time is not a regression (no spread to
    judge noise by) but is counted in a note; memory, which does not vary, still is."""
    write_asv(tmp_path, ["aaaaaaaa", "bbbbbbbb"], slower=2.0, quick=True)
    sec = _sections(report.build([tmp_path]))["history"]
    regress = sec.tables[0][1]
    assert set(regress.benchmark) == {"memory.Vecmat.peakmem_product"} and np.allclose(regress.worse_by, 2.0)
    assert any(n.startswith("2 measurements worse by more than ×1.2 have one sample") for n in sec.notes)


def test_newer_partial_results_replace_only_their_cases(tmp_path):
    write_bench(tmp_path, stamp=STAMP1, sizes=(1000,), absent=())
    newer = bench_frame(sizes=(1000,), absent=(), backend_names=[BACKEND_NAMES[1]])
    newer["median_s"] = 42.0
    newer.to_csv(tmp_path / f"bench-run-{STAMP2}.csv", index=False)
    _meta(tmp_path, f"bench-run-{STAMP2}")
    pd.DataFrame(newer).to_json(tmp_path / f"bench-run-{STAMP2}.json", orient="records")  # beside its .csv: ignored
    b = figures.bench_cases(report.load([tmp_path]).bench)
    assert (b[b.backend == BACKEND_NAMES[1]].median_s == 42.0).all()
    assert (b[b.backend != BACKEND_NAMES[1]].median_s != 42.0).all()
    assert len(b) == len(FAMS) * 2 * len(BACKEND_NAMES) * 3


def test_bad_results_paths_are_named(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nope")]) == 2
    assert f"results path {str(tmp_path / 'nope')!r} does not exist" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty")]) == 2
    assert "no evbench, asv or pytest-benchmark results found in" in capsys.readouterr().err
    (tmp_path / "x.txt").write_text("x")
    assert main(["report", str(tmp_path / "x.txt")]) == 2
    assert "neither .csv nor .json" in capsys.readouterr().err


def test_default_results_is_latest(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["report"]) == 2
    assert "'results/latest' does not exist" in capsys.readouterr().err
    run = tmp_path / "results" / "m" / STAMP1
    run.mkdir(parents=True)
    write_validation(run)
    mainjob.point_latest(tmp_path / "results", run)
    assert main(["report"]) == 0
    assert (run / "report.html").exists() and (run / "report.md").exists()


def test_a_failing_write_keeps_the_earlier_report(tmp_path, monkeypatch):
    write_validation(tmp_path)
    first = report.build([tmp_path]).html.read_text()
    write_validation(tmp_path, stamp=STAMP2, fail=(FAMS[0], BACKEND_NAMES[0]))

    def boom(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError, match="disk full"):
        report.build([tmp_path])
    assert (tmp_path / "report.html").read_text() == first
    assert not [p for p in tmp_path.rglob("*.tmp")]


def test_latest_link_is_replaced_and_earlier_runs_kept(tmp_path):
    a = mainjob.run_folder(tmp_path, STAMP1)
    b = mainjob.run_folder(tmp_path, STAMP1)  # the same second: a folder of its own
    assert a != b and b.name == f"{STAMP1}-2"
    (a / "x").write_text("a")
    link = mainjob.point_latest(tmp_path, a)
    assert link.is_symlink() and not os.path.isabs(os.readlink(link)) and (link / "x").read_text() == "a"
    mainjob.point_latest(tmp_path, b)
    assert link.resolve() == b.resolve() and (a / "x").read_text() == "a"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest", machine_label()]


@pytest.mark.parametrize("argv, message", [
    (["--skip", "nope"], "argument --skip: invalid choice: 'nope'"),
    (["--device", "abacus"], "argument --device: invalid choice: 'abacus'"),
    (["--grid", "huge"], "argument --grid: invalid choice: 'huge'"),
    (["--family", "nope"], "argument --family: invalid choice: 'nope'"),
])
def test_run_refuses_bad_arguments(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["run", *argv])
    assert exc.value.code == 2 and message in capsys.readouterr().err


def test_run_refuses_an_unknown_backend(capsys):
    """Backend names are checked by the command (a --plugin on the same line adds to them)."""
    assert main(["run", "--backend", "nope"]) == 2
    assert "evbench run: error: unknown backend 'nope'; valid backends: native" in capsys.readouterr().err


def test_run_tiny_one_family_one_backend(tmp_path, capsys):
    fam, be = FAMS[0], BACKEND_NAMES[0]
    code = main(["run", "--family", fam, "--backend", be, "--grid", "tiny", "--device", "cpu", "--skip", "validate",
                 "--skip", "spiketimes", "--no-progress", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    (run,) = (tmp_path / next(p.name for p in tmp_path.iterdir() if p.name != "latest")).iterdir()
    assert (tmp_path / "latest").resolve() == run.resolve()
    bench = pd.read_csv(next(run.glob("bench-tiny-*.csv")))
    assert set(bench.family) == {fam} and set(bench.backend) == {be} and set(bench.device) == {"cpu"}
    assert (run / "report.html").exists() and (run / "report.md").exists()
    assert not list(run.glob("validate-*"))
    summary = out[out.index("evbench run: summary"):]
    assert re.search(r"validate\s+skipped", summary) and re.search(r"bench\s+ok", summary)
    assert re.search(r"spiketimes\s+skipped", summary) and re.search(r"report\s+ok", summary)
    assert str(run / "report.html") in summary


def test_conformance_from_the_validate_table_alone(tmp_path):
    write_validation(tmp_path, fail=(FAMS[0], BACKEND_NAMES[1]))
    (tmp_path / f"checks-quick-{STAMP1}.csv").unlink()
    res = report.load([tmp_path])
    conf = conformance.conformance_frame(res)
    assert set(conf.check) == {"equivalence", "semantics", "jit"}  # "-" cells do not apply
    worst = conf.groupby(["family", "backend"])["status"].agg(conformance.worst_status)
    assert worst[(FAMS[0], BACKEND_NAMES[1])] == "FAIL" and (worst.drop((FAMS[0], BACKEND_NAMES[1])) == "pass").all()


def test_every_crossing_is_found_and_a_recrossing_is_not_a_verdict():
    x, y = [0.001, 0.01, 0.1, 0.5], [2.0, 0.5, 2.0, 0.5]
    assert len(speedup.crossings(x, y)) == 3
    verdict = speedup.verdict(pd.DataFrame(dict(x=x, speedup=y)), speedup.crossings(x, y))
    assert verdict.startswith("crosses 1 3 times")
    assert speedup.verdict(pd.DataFrame(dict(x=x[:2], speedup=y[:2])), speedup.crossings(x[:2], y[:2])).startswith(
        "faster below 0.00")


def test_the_sharded_section_draws_the_committed_sharded_tables(tmp_path):
    from pathlib import Path

    tables = Path(__file__).resolve().parents[1] / "results" / "vm-x86_64" / "sharded"
    rep = report.build([tables], tmp_path)
    sec = _sections(rep)["sharded"]
    assert not sec.missing and {f.name for f in sec.figures} == {"sharded-strong", "sharded-weak"}
    names = [name for name, _ in sec.tables]
    assert any(n.startswith("Checks of the sharded products") for n in names)
    assert any(n.startswith("The sharded E/I network") for n in names)
