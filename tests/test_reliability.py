"""Results that are never lost or silently wrong: lossless files that can prove they are whole,
runs that never collide, ``latest`` on complete runs only, bad output locations refused before
any work, worker processes that die with their parent, empty batches, int32 limits and one CLI
convention. (The path cases of validation are tested in ``tests/test_paths.py``.)"""
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import evbench
from evbench.catalogue import PRODUCTS, FAMILIES
from evbench.cli import main
from evbench.harness import results
from evbench.harness.report import build as build_report

from .twins import assert_twins_equal, cells

ROOT = Path(__file__).resolve().parents[1]
TINY_FLOATS = [1.37e-15, 4.70e-15, 0.1, 1 / 3, -2.5e-300, 1e300, 5e-324, math.nan, math.inf, -math.inf, 0.0]


def _env():
    return dict(os.environ, PYTHONPATH=str(ROOT), JAX_PLATFORMS="cpu")


# -- lossless, and whole -------------------------------------------------------------------------


def test_floats_round_trip_exactly_in_csv_and_json(tmp_path):
    frame = pd.DataFrame({"x": TINY_FLOATS, "name": [f"r{i}" for i in range(len(TINY_FLOATS))]})
    with results.Transaction() as tx:
        csv, js = tx.table(results.TABLES.get("spiketimes-exact"), frame, tmp_path, "t", results.stamp())
    for path in (csv, js):
        back = results.parse_table(path)["x"].to_numpy()
        want = np.asarray(TINY_FLOATS)
        assert np.array_equal(back, want, equal_nan=True), path.suffix  # bit for bit, NaN and inf too
    assert json.loads(js.read_text())[0]["x"] == 1.37e-15  # pandas' own writer gives 0.0 here


def _written_table(tmp_path):
    """A validate table of 40 rows written by the results layer, with its metadata."""
    frame = pd.DataFrame({"family": ["csr"] * 40, "product": [f"p{i}" for i in range(40)], "backend": "native",
                          "option": "", "status": ["FAIL"] * 10 + ["pass"] * 30, "max_error": np.linspace(0, 1e-15, 40)})
    frame["equivalence"] = [s if s == "FAIL" else "pass 0.3" for s in frame.status]
    st = results.stamp()
    with results.Transaction() as tx:
        csv, js = tx.table(results.TABLES.get("validate"), frame, tmp_path, "quick", st)
        tx.meta(tmp_path / f"validate-quick-{st}.meta.json", results.metadata())
    return frame, csv, js


def test_a_cut_table_is_refused_by_name_and_its_twin_read(tmp_path, capsys):
    frame, csv, js = _written_table(tmp_path)
    lines = csv.read_text().splitlines(keepends=True)
    csv.write_text("".join(lines[:25]))  # cut at a row boundary: still parses
    with pytest.raises(results.DamagedTable, match=csv.name):
        results.read_table(csv)
    rep = build_report([tmp_path])
    err = capsys.readouterr().err
    assert csv.name in err and "refused" in err and f"read {js.name} instead" in err
    assert [f for f, _ in rep.refused] == [str(csv)]
    conf = next(s for s in rep.sections if s.key == "conformance")
    failing = [t for name, t in conf.tables if "failing" in name]
    assert failing and len(failing[0]) == 10  # every failing row, from the intact JSON twin


def test_an_unreadable_csv_leaves_its_json_twin_in_use(tmp_path, capsys):
    _, csv, js = _written_table(tmp_path)
    csv.write_bytes(b"\x00\xff garbage")
    rep = build_report([tmp_path])
    assert str(csv) in [f for f, _ in rep.refused]
    assert f"read {js.name} instead" in capsys.readouterr().err


def test_a_table_without_a_required_column_is_refused(tmp_path, capsys):
    frame, csv, js = _written_table(tmp_path)
    for path in (csv, js):
        path.unlink()
    frame.drop(columns=["status"]).to_csv(tmp_path / "validate-quick-20260101T000000Z.csv", index=False)
    with pytest.raises(results.DamagedTable, match="lacks the column status"):
        results.read_table(tmp_path / "validate-quick-20260101T000000Z.csv")


def test_the_report_cli_exits_non_zero_when_it_refuses_a_file(tmp_path):
    _, csv, js = _written_table(tmp_path)
    csv.write_text(csv.read_text()[:200])
    assert main(["report", str(tmp_path)]) == 1


def _damage_meta(meta, how):
    if how == "unparsable":
        meta.write_text('{"broken')
    elif how == "deleted":
        meta.unlink()
    elif how == "without files":
        meta.write_text(json.dumps({k: v for k, v in json.loads(meta.read_text()).items() if k != "files"}))
    elif how == "a list":
        meta.write_text("[1, 2, 3]")


@pytest.mark.parametrize("meta_damage", ["unparsable", "deleted", "without files", "a list"])
@pytest.mark.parametrize("table_damage", ["cut", "a cell flipped", "none"])
def test_a_table_whose_metadata_is_damaged_cannot_be_proven_whole(tmp_path, capsys, meta_damage, table_damage):
    """Damaged metadata proves nothing: a table of the current stamp that no readable metadata
    lists is refused, naming the file and why, whatever its own state; the report reads the
    rest and exits 1, without a traceback."""
    whole = tmp_path / "whole"
    whole.mkdir()
    _written_table(whole)
    frame, csv, js = _written_table(tmp_path)
    (meta,) = tmp_path.glob("*.meta.json")
    _damage_meta(meta, meta_damage)
    if table_damage == "cut":
        csv.write_text("".join(csv.read_text().splitlines(keepends=True)[:20]))
    elif table_damage == "a cell flipped":
        csv.write_text(csv.read_text().replace("FAIL", "pass", 1))
    for path in (csv, js):
        with pytest.raises(results.DamagedTable, match=rf"{path.name}: no readable metadata lists it .*cannot be "
                                                       "proven whole"):
            results.read_table(path)
    capsys.readouterr()
    assert main(["report", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and f"refused {csv}" in err and f"refused {js}" in err
    rep = build_report([tmp_path])
    refused = {f for f, _ in rep.refused}
    assert {str(csv), str(js)} <= refused
    assert (str(meta) in refused) == (meta_damage in ("unparsable", "a list"))
    conf = next(s for s in rep.sections if s.key == "conformance")
    failing = [t for name, t in conf.tables if "failing" in name]
    assert failing and len(failing[0]) == 10  # the whole table's failing rows only, never the damaged one's


def test_a_table_of_an_earlier_stamp_needs_no_metadata(tmp_path):
    """Results written before metadata listed files (second stamps) are read as they are."""
    frame, csv, js = _written_table(tmp_path)
    for path in (js, *tmp_path.glob("*.meta.json")):
        path.unlink()
    old = csv.rename(tmp_path / "validate-quick-20261123T165611Z.csv")
    assert len(results.read_table(old)) == 40


# -- no collisions, latest on complete runs, nothing partial ---------------------------------------


def test_two_commands_writing_to_one_root_never_collide(tmp_path):
    cmd = [sys.executable, "-m", "evbench", "validate", "--family", "dense", "--backend", "native", "--jobs", "1",
           "--no-progress", "--out", str(tmp_path)]
    procs = [subprocess.Popen(cmd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for _ in range(2)]
    outs = [p.communicate(timeout=600)[0].decode() for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    (machine,) = tmp_path.iterdir()
    metas = sorted(machine.glob("validate-*.meta.json"))
    assert len(metas) == 2 and len(list(machine.glob("validate-*.csv"))) == 2
    for meta in metas:  # each run's files are whole and are its own
        files = json.loads(meta.read_text())["files"]
        assert len(files) == 4
        for name in files:
            results.read_table(machine / name)


def test_latest_moves_only_to_a_complete_run(tmp_path, capsys):
    root = tmp_path / "res"
    done = results.run_folder(root)
    results.point_latest(root, done)
    code = main(["run", "--skip", "validate", "--skip", "bench", "--skip", "spiketimes", "--no-progress",
                 "--out", str(root)])
    assert code == 1  # the report of nothing is an error ...
    assert (root / "latest").resolve() == done.resolve()  # ... and latest stays on the complete run
    assert [p.name for p in (root / results.machine_label()).iterdir()] == [done.name]  # no empty folder left
    assert "not moved" in capsys.readouterr().err


def test_a_full_disk_leaves_nothing_that_looks_like_results(tmp_path, monkeypatch):
    import errno

    root = tmp_path / "res"
    done = results.run_folder(root)
    results.point_latest(root, done)
    real = results.Transaction.write
    calls = []

    def write(self, path, data):
        calls.append(path)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(self, path, data)

    monkeypatch.setattr(results.Transaction, "write", write)
    code = main(["run", "--family", "dense", "--backend", "native", "--skip", "bench", "--skip", "spiketimes",
                 "--no-progress", "--jobs", "1", "--out", str(root)])
    assert code == 1
    assert (root / "latest").resolve() == done.resolve()
    left = [p for p in (root / results.machine_label()).rglob("*") if p.is_file()]
    assert left == []  # no table without its twin or metadata, no temporary file, no report


def test_a_full_disk_during_bench_is_an_error_line(tmp_path, monkeypatch, capsys):
    import errno

    def write(self, path, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(results.Transaction, "write", write)
    code = main(["bench", "--grid", "tiny", "--family", "csr", "--backend", "native", "--no-progress",
                 "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1 and "evbench bench: error: [Errno 28] No space left on device" in err
    assert "Traceback" not in err
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


@pytest.mark.skipif(not hasattr(signal, "SIGINT"), reason="needs SIGINT")
def test_an_interrupted_run_leaves_no_empty_folder(tmp_path):
    """Ctrl-C during the validation: one line, exit 130, no run folder, latest where it was."""
    root = tmp_path / "res"
    done = results.run_folder(root)
    results.point_latest(root, done)
    cmd = [sys.executable, "-m", "evbench", "run", "--family", "csr", "--backend", "native", "--skip", "bench",
           "--skip", "spiketimes", "--jobs", "1", "--no-progress", "--out", str(root)]
    proc = subprocess.Popen(cmd, env=dict(_env(), PYTHONUNBUFFERED="1"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        for line in proc.stdout:  # the validation has begun
            if "validate:" in line:
                break
        time.sleep(2)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err[-2000:]
    assert "evbench run: interrupted" in err and "Traceback" not in err
    assert [p.name for p in (root / results.machine_label()).iterdir()] == [done.name]
    assert (root / "latest").resolve() == done.resolve()


def test_the_report_reads_the_run_latest_txt_names(tmp_path, monkeypatch, capsys):
    """Where ``latest`` is a real folder, ``run`` names its newest run in ``latest.txt``; the
    report without RESULTS reads that run, not the stale folder."""
    monkeypatch.chdir(tmp_path)
    root = Path("results")
    stale = root / "latest"
    stale.mkdir(parents=True)
    _written_table(stale)
    new = results.run_folder(root)
    _written_table(new)
    assert results.point_latest(root, new).name == "latest.txt"
    assert main(["report"]) == 0
    assert (new / "report.html").exists() and not (stale / "report.html").exists()
    assert str(new.name) in capsys.readouterr().out
    for f in stale.iterdir():  # the folder gone, the link is made again and latest.txt goes
        f.unlink()
    stale.rmdir()
    assert results.point_latest(root, new).name == "latest" and not (root / "latest.txt").exists()


# -- output locations refused before the work ------------------------------------------------------


@pytest.mark.parametrize("command", [
    ["validate", "--family", "dense", "--backend", "native"],
    ["bench", "--grid", "tiny", "--family", "csr", "--backend", "native"],
    ["spiketimes", "--profile", "tiny"],
])
@pytest.mark.parametrize("where", ["a file", "under a file", "unwritable"])
def test_a_bad_output_location_is_refused_at_once(command, where, tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("x")
    out = {"a file": afile, "under a file": afile / "sub", "unwritable": Path("/proc/evbench-results")}[where]
    t0 = time.perf_counter()
    assert main([*command, "--no-progress", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"evbench {command[0]}: error: results location") and str(out) in err
    assert "Traceback" not in err and time.perf_counter() - t0 < 10  # before any work


def test_report_refuses_a_read_only_results_folder_before_any_work(tmp_path, capsys, monkeypatch):
    """Without --out the page goes into the results folder: a read-only one is an error line,
    exit 2, before the results are read."""
    import errno
    import tempfile

    _written_table(tmp_path)
    tmp_path.chmod(0o555)
    if os.geteuid() == 0:  # root writes into read-only folders: the file system says no instead
        real = tempfile.mkstemp

        def mkstemp(*args, dir=None, **kwargs):
            if dir is not None and Path(dir) == tmp_path:
                raise PermissionError(errno.EACCES, "Permission denied", str(dir))
            return real(*args, dir=dir, **kwargs)

        monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    try:
        t0 = time.perf_counter()
        assert main(["report", str(tmp_path)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("evbench report: error: results location") and str(tmp_path) in err
        assert "Traceback" not in err and time.perf_counter() - t0 < 1.0
    finally:
        tmp_path.chmod(0o755)
    assert not (tmp_path / "report.html").exists()


def test_run_refuses_a_bad_root_at_once(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert main(["run", "--out", str(afile), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "error: results location" in err and "is a file" in err and "Traceback" not in err


# -- worker processes die with their parent ------------------------------------------------------


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc (Linux)")
def test_validation_workers_die_with_a_killed_run(tmp_path):
    cmd = [sys.executable, "-m", "evbench", "validate", "--family", "csr", "--family", "dense", "--backend", "native",
           "--jobs", "2", "--no-progress", "--out", str(tmp_path)]
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        workers, deadline = [], time.time() + 120
        while time.time() < deadline and len(workers) < 2:  # the spawn workers (and a resource tracker)
            time.sleep(0.5)
            workers = [c for c in _children(proc.pid)]
        assert len(workers) >= 2, "the workers never started"
        time.sleep(3)  # let them start working (a worker still importing dies as soon as it can run)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        deadline = time.time() + 60
        while time.time() < deadline and any(_alive(w) for w in workers):
            time.sleep(0.2)
        assert not [w for w in workers if _alive(w)], "worker processes outlived their killed parent"
    finally:
        for w in _children(proc.pid):
            os.kill(w, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()


# -- empty batches, int32 limits ------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["auto", "portable"])
@pytest.mark.parametrize("family", [f.name for f in FAMILIES.all()])
def test_empty_batches_give_empty_results(family, mode):
    import jax

    M = evbench.get_family(family).build(3, 2, conn_prob=0.5, seed=1, dtype="float32")
    with evbench.use_kernels(mode):
        for product in PRODUCTS:
            if not product.batched:
                continue
            events = np.zeros(product.event_shape(M.shape, batch=0), bool)
            want = product.reference(np.asarray(M.to_dense(), np.float64), events.astype(np.float64))
            out = np.asarray(product.run(M, events))
            assert out.shape == want.shape == ((0, product.n_outputs(M.shape)) if product.events_left
                                               else (product.n_outputs(M.shape), 0))
            assert np.asarray(jax.jit(product.run)(M, events)).shape == out.shape


def test_more_synapses_than_int32_indexes_are_refused_at_construction():
    big = np.lib.stride_tricks.as_strided(np.zeros(1, np.int32), shape=(2**31,), strides=(0,))  # no memory
    with pytest.raises(ValueError, match=r"indices has 2147483648 entries.*2\*\*31 - 1"):
        evbench.CSR(np.array([0, 2**31]), big, 1.0, (1, 4))
    with pytest.raises(ValueError, match=r"row has 2147483648 entries"):
        evbench.COO(big, big, 1.0, (4, 4))


# -- one CLI convention --------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["validate", "run"])
@pytest.mark.parametrize("jobs", ["0", "-3", "two"])
def test_jobs_is_checked_alike_everywhere(command, jobs, capsys):
    with pytest.raises(SystemExit) as exc:
        main([command, "--jobs", jobs])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and f"argument --jobs: must be a whole number >= 1, got '{jobs}'" in err


@pytest.mark.parametrize("command", ["validate", "bench", "run"])
def test_an_unknown_name_is_an_error_on_stderr(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([command, "--family", "nope"])
    captured = capsys.readouterr()
    assert exc.value.code == 2 and "error:" in captured.err and "invalid choice: 'nope'" in captured.err
    assert captured.out == ""


def test_the_committed_twins_equal_their_csvs_value_for_value():
    """Every results table committed under results/ (the sample run, the sharded tables, the
    spike-time tables of earlier versions): its JSON twin holds the same values as its CSV, text
    as text and floats bit for bit, and both match the checksums their metadata records."""
    root = Path(__file__).resolve().parents[1] / "results"
    csvs = sorted(f for f in root.rglob("*.csv") if results.table_of(f) is not None)
    assert {results.table_of(f).name for f in csvs} == set(results.TABLES.names())  # every kind of table
    for csv in csvs:
        if results.listed(csv) or csv.with_suffix(".json").exists():  # every twin written since there were twins
            assert_twins_equal(csv)


def test_an_empty_text_field_reads_back_the_same_from_both_twins(tmp_path):
    """CSV writes an empty string and a missing value alike; the JSON twin must not keep a
    difference the CSV cannot hold, or a reader falling back to it would see other values."""
    frame = pd.DataFrame({"option": ["", "corder=True", None], "x": [1.0, float("nan"), 2.0]})
    (tmp_path / "t.csv").write_text(results.frame_csv(frame))
    (tmp_path / "t.json").write_text(results.frame_json(frame))
    a, b = results.parse_table(tmp_path / "t.csv"), results.parse_table(tmp_path / "t.json")
    assert [None if pd.isna(v) else v for v in a.option] == [None if pd.isna(v) else v for v in b.option] \
        == [None, "corder=True", None]
    assert np.array_equal(a.x.to_numpy(float), b.x.to_numpy(float), equal_nan=True)


def test_narrow_floats_text_and_empty_tables_survive_both_twins(tmp_path):
    """float32 0.1 and float16 65504 read back as the values they are from both twins (not the
    float64 nearest to their short form), text that looks like a number stays text, and a table
    of no rows reads back, with its columns, from either twin."""
    frame = pd.DataFrame({"model": ["007", "nan", "1e3"], "n": [1, 2, 3],
                          "x": np.array([0.1, 1 / 3, 65504], np.float32),
                          "h": np.array([65504, 0.1, -0.0], np.float16),
                          "o": [np.float32(0.1), None, None], "status": ["pass", "pass", "FAIL"]})
    table = results.TABLES.get("spiketimes-exact")
    st = results.stamp()
    with results.Transaction() as tx:
        csv, js = tx.table(table, frame, tmp_path, "t", st)
        empty_csv, _ = tx.table(table, frame.iloc[:0], tmp_path, "empty", st)
        bare_csv, _ = tx.table(table, pd.DataFrame(), tmp_path, "bare", st)
        tx.meta(tmp_path / f"spiketimes-t-{st}.meta.json", {})
    back = assert_twins_equal(csv)
    assert list(back.model) == ["007", "nan", "1e3"]
    assert back.x.tolist() == [float(np.float32(0.1)), float(np.float32(1 / 3)), 65504.0]
    assert back.h.tolist() == [65504.0, float(np.float16(0.1)), -0.0]
    assert cells(back.o) == [("number", float(np.float32(0.1)).hex()), None, None]  # a NumPy scalar in objects
    assert list(assert_twins_equal(empty_csv).columns) == list(frame.columns)
    assert list(assert_twins_equal(bare_csv).columns) == list(table.columns)


def _swallowed_interrupt():
    """SIGINT delivered inside a callback from C: Python prints "Exception ignored" and goes on."""
    import ctypes

    @ctypes.CFUNCTYPE(None)
    def callback():
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(10_000):  # the handler runs here; its KeyboardInterrupt cannot leave
            pass

    callback()


@pytest.mark.skipif(not hasattr(signal, "SIGINT"), reason="needs SIGINT")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # the swallowed exception
def test_an_interrupt_swallowed_by_compiled_code_commits_nothing(tmp_path):
    """An interrupt whose exception compiled code swallowed (numba's object cache calls back
    through ctypes) still stops the command before its files are renamed into place."""
    from evbench.harness import interrupts

    with interrupts.catching():
        _swallowed_interrupt()  # returns: the work would go on
        with pytest.raises(KeyboardInterrupt):
            with results.Transaction() as tx:
                tx.write(tmp_path / "table.csv", "a,b\n1,2\n")
    assert list(tmp_path.iterdir()) == []
    interrupts.checkpoint()  # outside the block the record is cleared
