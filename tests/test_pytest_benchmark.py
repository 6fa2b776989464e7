"""pytest-benchmark: the suite in ``tests/benchmarks/`` is generated from the catalogue and
skipped by the ordinary run, and ``evbench report`` reads its JSON files beside asv's results
(synthetic files; one real run of one case, whose times are not asserted)."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from evbench.catalogue import PRODUCTS, FAMILIES
from evbench.harness import bench, report
from evbench.harness.report import pytest_benchmark as pyb
from evbench.peers import BACKENDS as REGISTERED
from tests.benchmarks import test_products as suite
from tests.test_report import FAMS, PYB_BACKENDS as BACKENDS, PYB_PRODS as PRODS, pybench_run, write_asv

ROOT = Path(__file__).resolve().parents[1]


def _section(rep, key="pytest_benchmark"):
    return {s.key: s for s in rep.sections}[key]


def test_two_saved_runs_side_by_side_beside_the_asv_history(tmp_path):
    store = tmp_path / ".benchmarks" / "Linux-CPython-3.12-64bit"
    slowed = {(FAMS[1], PRODS[0], BACKENDS[0]), (FAMS[2], PRODS[1], BACKENDS[2])}
    pybench_run(store / "0001_baseline.json", commit="b" * 40, date="2026-01-01")
    factor = 2 + pyb.COMPARE_FAIL_MEDIAN_PERCENT / 100  # beyond the gate: 100 % more than it allows
    pybench_run(store / "0002_tree.json", commit="c" * 40, date="2026-01-02", slower=slowed, factor=factor)
    pybench_run(store / "0003_other.json", machine="other-x86_64", date="2026-01-03", factor=100.0,
                slower={(FAMS[0], PRODS[0], BACKENDS[0])})  # another machine: listed, never compared
    write_asv(tmp_path, ["aaaaaaaa", "bbbbbbbb"])
    rep = report.build([tmp_path / "asv", tmp_path / ".benchmarks"], tmp_path / "out")
    sec, history = _section(rep), _section(rep, "history")
    assert not sec.missing and not history.missing
    runs = sec.tables[0][1]
    assert list(runs.file) == [f"Linux-CPython-3.12-64bit/{f}" for f in ("0001_baseline.json", "0002_tree.json",
                                                                        "0003_other.json")]
    assert list(runs.commit) == ["bbbbbbbb", "cccccccc", "aaaaaaaa"]
    assert set(runs.benchmarks) == {len(FAMS) * len(PRODS) * len(BACKENDS)}
    (title, slower), = [(t, f) for t, f in sec.tables if "slower than the gate allows" in t]
    assert set(slower.group + " " + slower.name.str.extract(r"-([a-z_]+)-cpu\]$")[0]) == {
        f"{f} {p} {b}" for f, p, b in slowed}
    assert slower.change_pct.round(6).eq(pyb.COMPARE_FAIL_MEDIAN_PERCENT + 100).all()
    assert any("2 slower and 0 faster" in n for n in sec.notes)
    assert {f.name for f in sec.figures} == {"pytest-benchmark-change", "pytest-benchmark-cases"}
    page = rep.html.read_text()
    assert "testbox-x86_64" in page and "jax 9.9.1" in page  # the run's machine and versions in the header
    machine = _section(rep, "machine").tables[0][1]
    assert set(machine.file) == {"0001_baseline.json", "0002_tree.json", "0003_other.json"}
    assert set(machine.jax) == {"9.9.1"}


def test_one_run_is_drawn_and_the_comparison_says_it_needs_two(tmp_path):
    f = pybench_run(tmp_path / "run.json")
    res = report.load([f])
    assert res.pybench.source.nunique() == 1 and not res.has("bench")
    sec = pyb.draw(res)
    assert not sec.missing and [g.name for g in sec.figures] == ["pytest-benchmark-cases"]
    medians = sec.tables[1][1].set_index(["family", "product"])
    assert list(medians.columns) == BACKENDS and medians.notna().all().all()
    assert any("needs two runs of one machine" in n for n in sec.notes)


def test_runs_of_two_machines_are_not_compared(tmp_path):
    pybench_run(tmp_path / "a.json", machine="one-x86_64", date="2026-01-01")
    pybench_run(tmp_path / "b.json", machine="two-x86_64", date="2026-01-02", slower={(FAMS[0], PRODS[0], BACKENDS[0])})
    sec = pyb.draw(report.load([tmp_path]))
    assert not [t for t, _ in sec.tables if "slower" in t]
    assert any("needs two runs of one machine" in n for n in sec.notes)


def test_another_projects_pytest_benchmark_file_is_read_by_name(tmp_path):
    """No ``params`` from evbench's suite and no evbench versions: read by benchmark name, the
    machine from pytest-benchmark's own node and architecture."""
    obj = json.loads(pybench_run(tmp_path / "x.json", evbench_info=False).read_text())
    for b in obj["benchmarks"]:
        b["params"], b["extra_info"] = None, {}
    (tmp_path / "benchmarks.json").write_text(json.dumps(obj))  # the name --benchmark-json users pick
    (tmp_path / "x.json").unlink()
    res = report.load([tmp_path])
    assert set(res.pybench.machine) == {"testbox-x86_64"}
    sec = pyb.draw(res)
    assert not sec.missing and not sec.figures
    assert list(sec.tables[1][1].columns[:2]) == ["group", "name"]


def test_a_damaged_pytest_benchmark_file_is_named_and_skipped(tmp_path, capsys):
    pybench_run(tmp_path / "good.json")
    (tmp_path / "bad.json").write_text('{"machine_info": {}, "benchmarks": [')
    res = report.load([tmp_path])
    assert res.pybench.source.nunique() == 1
    assert f"skipping {tmp_path / 'bad.json'}" in capsys.readouterr().err


@pytest.mark.parametrize("damage", ["benchmarks=[1,'x',None]", "machine_info.evbench='oops'", "datetime=12345",
                                    "params=[1,2]", "commit_info='abc'", "stats=[]", "name=7"])
def test_a_malformed_pytest_benchmark_run_is_named_and_skipped(tmp_path, capsys, damage):
    """A file shaped like a run whose parts are of the wrong kind is skipped with a warning, as
    an unparsable one is; the other runs are read and the report is written."""
    pybench_run(tmp_path / "good.json")
    obj = json.loads(pybench_run(tmp_path / "bad.json").read_text())
    b0 = obj["benchmarks"][0]
    {"benchmarks=[1,'x',None]": lambda: obj.update(benchmarks=[1, "x", None]),
     "machine_info.evbench='oops'": lambda: obj["machine_info"].update(evbench="oops"),
     "datetime=12345": lambda: obj.update(datetime=12345),
     "params=[1,2]": lambda: b0.update(params=[1, 2]),
     "commit_info='abc'": lambda: obj.update(commit_info="abc"),
     "stats=[]": lambda: b0.update(stats=[]),
     "name=7": lambda: b0.update(name=7)}[damage]()
    (tmp_path / "bad.json").write_text(json.dumps(obj))
    capsys.readouterr()
    rep = report.build([tmp_path], tmp_path / "out")
    assert rep.html.exists() and not _section(rep).missing
    assert set(_section(rep).tables[0][1].file.str.split("/").str[-1]) == {"good.json"}
    err = capsys.readouterr().err
    assert f"skipping {tmp_path / 'bad.json'}" in err and "not a readable pytest-benchmark run" in err


def test_the_readme_gate_uses_the_reports_threshold():
    text = (ROOT / "README.md").read_text()
    found = set(re.findall(r"--benchmark-compare-fail=median:(\d+)%", text))
    assert found == {str(pyb.COMPARE_FAIL_MEDIAN_PERCENT)}


# -- the suite ----------------------------------------------------------------------------------


def test_the_suite_covers_every_family_product_and_backend_at_the_standard_point():
    cases = suite.suite_cases()
    assert {(c.family, c.product, c.backend) for c in cases} == {
        (f.name, p.key, b.name) for f in FAMILIES.all() for p in PRODUCTS for b in REGISTERED.all()}
    assert {c.device for c in cases} == set(bench.DEVICE_KINDS)
    assert {(c.n, c.active, c.conn_num, c.dtype, c.workload) for c in cases} == {(3000, 0.01, 100, "float32", "new")}
    ids = [suite.case_id(c) for c in cases]
    assert len(set(ids)) == len(ids)


def test_the_suite_is_narrowed_by_the_environment(monkeypatch):
    monkeypatch.setenv("EVBENCH_FAMILY", "csr,dense")
    monkeypatch.setenv("EVBENCH_BACKEND", "native")
    assert {(c.family, c.backend) for c in suite.suite_cases()} == {("csr", "native"), ("dense", "native")}


@pytest.mark.parametrize("once, want", [(1e-2, 1), (1e-3, 1), (2.5e-4, 4), (1e-9, 1000), (0.0, 1000)])
def test_a_round_lasts_min_sample_at_least(once, want):
    assert suite.iterations_for(once) == want
    assert want * once >= suite.GRID.min_sample or want == 1000


def _pytest(tmp_path, *args):
    env = dict(os.environ, PYTHONPATH=str(ROOT), EVBENCH_FAMILY="csr", EVBENCH_BACKEND="native",
               EVBENCH_PRODUCT="vecmat")
    env.pop("PYTEST_XDIST_WORKER", None)
    cmd = [sys.executable, "-m", "pytest", "tests/benchmarks", "-q", "-rs", "-p", "no:cacheprovider", *args]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def test_the_ordinary_run_leaves_the_suite_out_and_benchmark_only_writes_what_the_report_reads(tmp_path):
    """The default options leave every benchmark out (deselected: pytest's exit status 5, no test
    ran); ``--benchmark-only`` runs them (one case here, its time not asserted) and the JSON
    carries the case, evbench's machine and versions."""
    left_out = _pytest(tmp_path)
    assert left_out.returncode == 5, left_out.stdout + left_out.stderr
    assert re.search(r"\b3 deselected\b", left_out.stdout) and "passed" not in left_out.stdout
    out = tmp_path / "run.json"
    ran = _pytest(tmp_path, "--benchmark-only", f"--benchmark-json={out}")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert re.search(r"\b1 passed, 2 skipped\b", ran.stdout)
    assert "no_device: JAX sees no gpu device" in ran.stdout  # the harness's reason
    obj = json.loads(out.read_text())
    (b,) = obj["benchmarks"]
    assert b["params"] == dict(product="vecmat", family="csr", backend="native", n=3000, active=0.01, conn_num=100,
                               batch=1, dtype="float32", device="cpu")
    assert b["stats"]["rounds"] == suite.GRID.max_repeats and b["extra_info"]["event_sets"] == bench.ROTATE
    assert b["extra_info"]["compile_s"] is None or b["extra_info"]["compile_s"] > 0
    assert obj["machine_info"]["evbench"]["jax"] and obj["machine_info"]["evbench"]["machine"]
    res = report.load([out])
    assert list(res.pybench.family) == ["csr"] and res.meta[str(out)]["machine"] == obj["machine_info"]["evbench"]["machine"]


# -- the spread tool ----------------------------------------------------------------------------


def _tool():
    import importlib.util

    spec = importlib.util.spec_from_file_location("pytest_bench_spread", ROOT / "tools" / "pytest_bench_spread.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("largest, want", [(0.0, 100), (42.0, 100), (100.0, 200), (642.0, 700), (699.9, 700)])
def test_the_threshold_is_the_largest_slowdown_rounded_up_to_a_whole_factor(largest, want):
    assert _tool().threshold_percent(largest) == want
    assert 1 + want / 100 > 1 + largest / 100


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
def test_the_threshold_refuses_a_negative_or_undefined_slowdown(bad):
    with pytest.raises(ValueError, match=f"largest_slowdown_pct must be a finite change >= 0, got {bad!r}"):
        _tool().threshold_percent(bad)


def test_the_spread_tool_reads_runs_of_the_same_code(tmp_path, capsys):
    """Three runs, one benchmark 3× slower in the second: every ordered pair is compared and the
    largest slowdown (200 %: ×3) gives ×4, 300 %."""
    tool = _tool()
    slow = {(FAMS[0], PRODS[0], BACKENDS[0])}
    files = [pybench_run(tmp_path / f"r{i}.json", slower=slow if i == 2 else (), factor=3.0) for i in (1, 2, 3)]
    assert tool.main([str(f) for f in files]) == 0
    out = capsys.readouterr().out
    assert "over 6 ordered pairs" in out and out.rstrip().endswith("--benchmark-compare-fail=median:300%")
    other = pybench_run(tmp_path / "other.json", machine="elsewhere-x86_64")
    with pytest.raises(SystemExit):
        tool.main([str(files[0]), str(other)])
    assert "runs of several machines" in capsys.readouterr().err
