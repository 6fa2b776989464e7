"""asv across the commits of a library under test: ``evbench asv init`` in a throwaway git repository
of the example plugin, a second commit made slower on one product, and ``asv continuous``
between them (a virtualenv built by asv, about two minutes with pip's cache warm)."""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path


from evbench.asv_suites import Selection, products, work

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "toyops"
SLOWER = '''    def __rmatmul__(self, events):
        """``events @ M``: events indexed by pre, one output per post (a batch: one row each)."""
        out = self._terms(jnp.asarray(events), self.pre, self.shape[1], self.post)
        extra = self.weights
        for _ in range(200):  # made slower on purpose: 200 extra passes over the synapses
            extra = jnp.sin(extra)
        return out + 0.0 * jnp.sum(extra)
'''


def _git(repo, *args, date=None):
    env = dict(os.environ, **({"GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date} if date else {}))
    subprocess.run(["git", "-c", "user.name=evbench", "-c", "user.email=evbench@localhost", *args], cwd=repo,
                   check=True, capture_output=True, text=True, env=env)


def test_a_selection_makes_one_class_per_selected_product():
    sel = Selection(backends=("native",), families=("csr",), products=("vecmat", "matvec_T"), grid="tiny")
    made = products.classes(sel)
    assert sorted(made) == ["MatvecT", "Vecmat"] and made["Vecmat"].params[:2] == [["csr"], ["native", "native:index=none"]]  # the index: a row of its own
    assert sorted(work.classes(sel)) == ["MatvecT", "Vecmat"]
    assert all(c.selection is sel for c in made.values())


def test_init_refuses_what_it_cannot_do(tmp_path, capsys):
    from evbench.cli import main

    assert main(["asv", "init", "--repo", str(tmp_path), "--backend", "native"]) == 2
    assert "is not a git repository" in capsys.readouterr().err
    _git(tmp_path, "init", "-q")
    assert main(["asv", "init", "--repo", str(tmp_path), "--backend", "nope"]) == 2
    assert "unknown backend 'nope'" in capsys.readouterr().err
    assert main(["asv", "init", "--repo", str(tmp_path)]) == 2  # no backend named, none declared
    assert "no --backend given" in capsys.readouterr().err
    (tmp_path / "asv.conf.json").write_text("{}")
    assert main(["asv", "init", "--repo", str(tmp_path), "--backend", "native", "--evbench", "evbench==0.1.0"]) == 2
    assert "use --force" in capsys.readouterr().err


def test_asv_continuous_flags_the_slower_commit_of_a_library(tmp_path):
    repo, site = tmp_path / "toyops", tmp_path / "site"
    shutil.copytree(EXAMPLE, repo)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target",
                    str(site), str(EXAMPLE)], check=True, capture_output=True, timeout=600)
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "the library", date="2026-01-01T00:00:00Z")  # a day apart: the report orders by date
    matrix = repo / "toyops" / "matrix.py"
    text = matrix.read_text()
    start = text.index("    def __rmatmul__")
    end = text.index("    def __matmul__")
    matrix.write_text(text[:start] + SLOWER + "\n" + text[end:])
    _git(repo, "commit", "-qam", "events @ M: extra passes over the synapses", date="2026-01-02T00:00:00Z")

    env = {k: v for k, v in os.environ.items() if not k.startswith("EVBENCH_")}
    env["PYTHONPATH"] = str(site)  # the library installed here, so that init finds its backend
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    init = subprocess.run([sys.executable, "-m", "evbench", "asv", "init", "--family", "csr", "--product", "vecmat",
                           "--product", "matvec", "--grid", "tiny", "--device", "cpu"], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=600)
    assert init.returncode == 0, init.stderr
    assert "backends toyops" in init.stdout  # the library's own, from its entry point
    assert "Selection(" in (repo / "benchmarks" / "_evbench.py").read_text()
    assert "toyops" in (repo / "benchmarks" / "_evbench.py").read_text()
    assert list((repo / ".asv" / "evbench").glob("evbench-*.whl"))
    del env["PYTHONPATH"]  # asv installs each commit of the library into its own environment

    def asv(*args, timeout=1500):
        return subprocess.run([sys.executable, "-m", "asv", *args], cwd=repo, env=env, capture_output=True,
                              text=True, timeout=timeout)

    assert asv("machine", "--yes", "--machine", "testbox").returncode == 0
    # the gate on time_ benchmarks (README): asv reads every increase of a track_ figure as a
    # regression, and the work figures (events/s, GB/s) are higher-is-better, single-shot sweeps
    run = asv("continuous", "--factor", "3", "--bench", "time_", "--machine", "testbox", "--show-stderr", "HEAD~1",
              "HEAD")
    out = run.stdout
    assert run.returncode == 1, out[-4000:] + run.stderr[-2000:]
    table = out[out.rindex("| Change"):]
    worse = re.findall(r"^\| \+ +\|.*\| ([\w.]+)\(", table, re.M)
    assert "products.Vecmat.time_product" in worse, table
    assert not any("Matvec" in name for name in re.findall(r"\| ([\w.]+)\(", table)), table  # untouched product
    assert "PERFORMANCE DECREASED" in out

    assert asv("publish").returncode == 0
    assert (repo / ".asv" / "html" / "index.html").exists()
    report = subprocess.run([sys.executable, "-m", "evbench", "report", ".asv/results", "--out", "report"], cwd=repo,
                            env=env, capture_output=True, text=True, timeout=600)
    assert report.returncode == 0, report.stderr
    md = (repo / "report" / "report.md").read_text()
    history = md.split("## Across commits (asv)", 1)[1].split("\n## ", 1)[0]
    regressions = [line for line in history.splitlines() if line.startswith("| testbox |")]
    assert "2 commits" in history and regressions
    assert all("Vecmat" in line for line in regressions) and any("products.Vecmat.time_product" in line
                                                                 for line in regressions)
