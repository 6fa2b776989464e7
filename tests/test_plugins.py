"""Backends from outside evbench: entry points, ``EVBENCH_BACKENDS`` and ``--plugin``, plugins that
break, the interface's version, the README's example backend, the example plugin end to end
(validation in worker processes, the benchmarks, the pytest plugin from another folder, JUnit,
expected failures), the gate's CI reports, and the package built and installed."""
import ast
import os
import re
import shutil
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd
import pytest

from evbench.backend_api import API_VERSION, Backend, Implementation, api_mismatch, matmul_form
from evbench.cli import main
from evbench.peers import BACKENDS, ENV_VAR, origin

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "toyops"


def _env(path_dirs=(), **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in (ENV_VAR, "TOYOPS_BUG", "GITHUB_STEP_SUMMARY")}
    env["PYTHONPATH"] = os.pathsep.join([*map(str, path_dirs), str(ROOT)])
    env.update({k: str(v) for k, v in extra.items()})
    return env


def _evbench(*args, cwd=None, env=None, timeout=900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "evbench", *map(str, args)], cwd=cwd, env=env or _env(),
                          capture_output=True, text=True, timeout=timeout)


def _pip_target(source, target):
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-deps",
                    "--no-build-isolation", "--target", str(target), str(source)], check=True, capture_output=True,
                   text=True, timeout=600)


# -- discovery -----------------------------------------------------------------------------------

def test_evbench_finds_its_own_backends_through_its_entry_points():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]["evbench.backends"]
    own = {b.name for b in BACKENDS.all() if origin(b.name).package == "evbench"}
    assert own == set(declared)
    assert all(origin(name).how == "entry point" and origin(name).target == declared[name] for name in own)
    roles = [b.role for b in BACKENDS.all() if b.name in own]
    assert roles == sorted(roles, key=("native", "baseline", "peer").index)  # tables list them by role


def test_the_interface_version_decides_what_loads():
    assert api_mismatch(API_VERSION) == ""
    major, minor = API_VERSION.split(".")
    assert "upgrade evbench" in api_mismatch(f"{major}.{int(minor) + 1}")
    assert f"written for evbench backend API {int(major) + 1}.0" in api_mismatch(f"{int(major) + 1}.0")
    assert "declares no backend API version" in api_mismatch(None)
    assert "not a version" in api_mismatch("one")


PLUGINS = {
    "p_import": "raise ImportError('a dependency of this plugin is not installed')\n",
    "p_object": "BACKEND = 42\n",
    "p_future": ("from evbench.backend_api import Backend\n"
                 "BACKEND = Backend('future', 'written for a later interface', api='99.0')\n"),
    "p_clash": ("from evbench.backend_api import Backend\n"
                "BACKEND = Backend('native', 'takes a registered name', api='1.0')\n"),
}


def test_plugins_that_break_are_listed_missing_and_the_others_run(tmp_path):
    for name, text in PLUGINS.items():
        (tmp_path / f"{name}.py").write_text(text)
    targets = ",".join(f"{name}:BACKEND" for name in PLUGINS)
    env = _env([tmp_path], **{ENV_VAR: targets})
    listed = _evbench("catalogue", "--list", "backends", env=env)
    assert listed.returncode == 0, listed.stderr
    out = listed.stdout
    assert "p_import:BACKEND did not import: ImportError: a dependency of this plugin is not installed" in out
    assert "p_object:BACKEND is a int, not an evbench.backend_api.Backend" in out
    assert "written for evbench backend API 99.0, and this evbench offers" in out
    assert "is called 'native', which evbench" in out and "registered first" in out
    run = _evbench("validate", "--family", "dense", "--backend", "native", "--backend", "future", "--jobs", "1",
                   "--no-progress", "--into", tmp_path / "out", env=env)
    assert run.returncode == 0, run.stderr  # a missing backend outside the gate does not fail the run
    table = pd.read_csv(next((tmp_path / "out").glob("validate-*.csv")))
    assert set(table[table.backend == "native"].status) == {"pass"}
    assert set(table[table.backend == "future"].status) == {"missing"}
    gated = _evbench("validate", "--family", "dense", "--backend", "future", "--gate", "future", "--jobs", "1",
                     "--no-progress", "--into", tmp_path / "out", env=env)
    assert gated.returncode == 1


def test_a_plugin_option_that_names_nothing_is_refused(capsys):
    assert main(["validate", "--plugin", "no_such_module_evbench:BACKEND", "--family", "dense"]) == 2
    assert "--plugin no_such_module_evbench:BACKEND: plugin no_such_module_evbench:BACKEND did not import" in \
        capsys.readouterr().err
    assert main(["validate", "--plugin", "nocolon", "--family", "dense"]) == 2


def _readme_blocks(language: str) -> list[str]:
    section = (ROOT / "README.md").read_text().split("## Your own backend", 1)[1].split("\n## ", 1)[0]
    return re.findall(rf"```{language}\n(.*?)```", section, re.S)


def test_the_readme_backend_example_runs_as_written(tmp_path):
    """The README's "Your own backend" example, copied from the README itself: loaded with
    ``--plugin``, it passes validation in two worker processes (which find it too)."""
    (module,), (toml,) = _readme_blocks("python")[:1], _readme_blocks("toml")[:1]
    (tmp_path / "mylib_evbench.py").write_text(module)
    assert tomllib.loads(toml)["project"]["entry-points"]["evbench.backends"] == {"mylib": "mylib_evbench:BACKEND"}
    run = _evbench("validate", "--plugin", "mylib_evbench:BACKEND", "--backend", "mylib", "--gate", "mylib",
                   "--family", "csr", "--family", "jitc_scalar_r", "--jobs", "2", "--no-progress", "--into",
                   tmp_path / "out", env=_env([tmp_path]))
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    table = pd.read_csv(next((tmp_path / "out").glob("validate-*.csv")))
    mine = table[table.backend == "mylib"]
    assert set(mine[mine.family == "csr"].status) == {"pass"}
    assert set(mine[mine.family == "jitc_scalar_r"].status) == {"unsupported"}


# -- the gate's reports --------------------------------------------------------------------------

def _planted(name: str, factor: float) -> Backend:
    """A backend whose events @ M is off by ``factor`` (1: right), and which offers no M @ events."""
    def prepare(family, conn, product, request):
        import jax.numpy as jnp

        if product.key == "matvec":
            from evbench.backend_api import Unsupported

            raise Unsupported("events @ M only")
        scale = factor if product.key == "vecmat" else 1.0
        return Implementation(apply=matmul_form(product), operand=jnp.asarray(conn.to_dense()) * scale)

    return Backend(name, "a planted backend", ("jax",), prepare, api=API_VERSION)


def test_validate_writes_junit_xml_and_the_github_summary(tmp_path, monkeypatch, capsys):
    summary = tmp_path / "summary.md"
    summary.write_text("earlier steps\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    with BACKENDS.added(_planted("planted_ok", 1.0), _planted("planted_bad", 1.001)):
        code = main(["validate", "--family", "dense", "--backend", "planted_ok", "--backend", "planted_bad", "--gate",
                     "planted_bad", "--jobs", "1", "--no-progress", "--into", str(tmp_path / "out"), "--junit-xml",
                     str(tmp_path / "ci" / "evbench.xml")])
    assert code == 1
    root = ET.parse(tmp_path / "ci" / "evbench.xml").getroot()
    suites = {s.get("name"): s for s in root}
    assert set(suites) == {"evbench.native", "evbench.planted_ok", "evbench.planted_bad"}
    checks = pd.read_csv(next((tmp_path / "out").glob("checks-*.csv")))
    assert int(root.get("tests")) == len(checks)
    bad = suites["evbench.planted_bad"]
    failures = [c for c in bad if c.find("failure") is not None]
    assert {c.get("name") for c in failures} >= {"events @ M equivalence"}
    assert all(c.get("classname") == "evbench.planted_bad.dense" for c in bad.iter("testcase"))
    eq = next(c for c in failures if c.get("name") == "events @ M equivalence").find("failure")
    assert "tolerance" in eq.get("message") and "reproduce with:" in eq.text and "smallest failing case" in eq.text
    skipped = [c for c in bad if c.find("skipped") is not None]
    assert skipped and all("unsupported: events @ M only" in c.find("skipped").get("message")
                           for c in skipped if "M @ events" in c.get("name") and "[" not in c.get("name"))
    assert int(suites["evbench.planted_ok"].get("failures")) == 0
    props = {p.get("name"): p.get("value") for p in bad.iter("property")}
    assert props["gated"] == "true" and props["profile"] == "quick"
    text = summary.read_text()
    assert text.startswith("earlier steps\n## evbench validate") and "**FAILED**" in text
    assert "| planted_bad |" in text and "events @ M" in text


# -- the example plugin, end to end --------------------------------------------------------------

@pytest.fixture(scope="module")
def toyops(tmp_path_factory):
    """examples/toyops installed (its package and metadata, with the entry point) into a folder
    put on PYTHONPATH: a distribution of its own beside evbench."""
    target = tmp_path_factory.mktemp("toyops-site")
    _pip_target(EXAMPLE, target)
    assert (target / "toyops").is_dir() and list(target.glob("evbench_toyops-*.dist-info"))
    return target


def _validate_toyops(site, out, *extra, bug=False):
    env = _env([site], **({"TOYOPS_BUG": "drop-last-synapse"} if bug else {}))
    return _evbench("validate", "--backend", "toyops", "--gate", "toyops", "--family", "csr", "--family",
                    "fixed_per_pre", "--jobs", "2", "--no-progress", "--into", out, "--junit-xml", out / "junit.xml",
                    *extra, env=env)


def test_the_example_plugin_is_validated_in_worker_processes(toyops, tmp_path):
    good = _validate_toyops(toyops, tmp_path / "good")
    assert good.returncode == 0, good.stdout[-3000:] + good.stderr[-3000:]
    table = pd.read_csv(next((tmp_path / "good").glob("validate-*.csv")))
    assert set(table[table.backend == "toyops"].status) == {"pass"} and len(table[table.backend == "toyops"]) == 12
    assert int(ET.parse(tmp_path / "good" / "junit.xml").getroot().get("failures")) == 0
    bad = _validate_toyops(toyops, tmp_path / "bad", bug=True)
    assert bad.returncode == 1
    assert "FAIL csr events @ M toyops equivalence" in bad.stdout and "reproduce with:" in bad.stdout
    assert "Gate (native, toyops): FAILED" in bad.stdout
    root = ET.parse(tmp_path / "bad" / "junit.xml").getroot()
    failed = [c for c in root.iter("testcase") if c.find("failure") is not None]
    assert failed and all(c.get("classname").startswith("evbench.toyops.") for c in failed)
    assert any(c.get("name") == "events @ M equivalence" and c.get("classname") == "evbench.toyops.csr"
               for c in failed)


def test_the_example_plugin_is_benchmarked(toyops, tmp_path):
    run = _evbench("bench", "--backend", "toyops", "--backend", "native", "--family", "csr", "--product", "vecmat",
                   "--grid", "tiny", "--device", "cpu", "--no-progress", "--into", tmp_path, env=_env([toyops]))
    assert run.returncode == 0, run.stderr[-3000:]
    table = pd.read_csv(next(tmp_path.glob("bench-tiny-*.csv")))
    assert set(table.drop_duplicates(["backend"]).backend) == {"toyops", "native", "native:index=none"}
    assert set(table.status) == {"ok"} and (table[table.backend == "toyops"].time_s > 0).all()


def _pytest_in(folder, site, *extra, bug=False):
    env = _env([site], **({"TOYOPS_BUG": "drop-last-synapse"} if bug else {}))
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--evbench-backend", "toyops",
                           "--evbench-family", "csr", "--evbench-examples", "3", *map(str, extra)],
                          cwd=folder, env=env, capture_output=True, text=True, timeout=900)


def test_the_pytest_plugin_checks_the_example_from_another_folder(toyops, tmp_path):
    """A library's own test run (a folder of its own, nothing of evbench's tests in it): with the
    planted bug the checks fail naming the case; the library's list of known defects turns those
    failures into expected ones; with the bug gone every check passes and the list, now wrong, is
    reported (strict expected failures)."""
    folder = tmp_path / "mylib-tests"
    folder.mkdir()
    bad = _pytest_in(folder, toyops, "--junitxml", tmp_path / "bad.xml", bug=True)
    assert bad.returncode == 1, bad.stdout[-3000:]
    assert "test_evbench[toyops-csr-default-vecmat-equivalence]" in bad.stdout
    assert "smallest failing case: csr[" in bad.stdout and "reproduce with:" in bad.stdout
    cases = list(ET.parse(tmp_path / "bad.xml").getroot().iter("testcase"))
    failing = sorted(re.search(r"\[(.*)\]", c.get("name")).group(1) for c in cases if c.find("failure") is not None)
    assert "toyops-csr-default-vecmat-equivalence" in failing and len(failing) < len(cases)
    xfails = tmp_path / "xfails.txt"
    xfails.write_text("# known defects of this library\n" + "".join(f"{t}  # drops a synapse\n" for t in failing))
    known = _pytest_in(folder, toyops, "--evbench-xfails", xfails, bug=True)
    assert known.returncode == 0, known.stdout[-3000:]
    assert f"{len(cases) - len(failing)} passed, {len(failing)} xfailed" in known.stdout
    fixed = _pytest_in(folder, toyops, "--evbench-xfails", xfails)
    assert fixed.returncode == 1
    assert f"{len(failing)} failed, {len(cases) - len(failing)} passed" in fixed.stdout
    assert "XPASS(strict)" in fixed.stdout


# -- packaging -----------------------------------------------------------------------------------

def test_the_references_import_numpy_only():
    allowed = {"numpy", "scipy", "__future__"}
    for path in (ROOT / "reference").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                roots = {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and not node.level:
                roots = {node.module.split(".")[0]}
            else:
                continue
            assert roots <= allowed | set(sys.stdlib_module_names), f"{path.name} imports {roots}"
    probe = ("import sys, evbench_reference, evbench_reference.spiking, evbench_reference.jitconn; "
             "print(sorted({m.split('.')[0] for m in sys.modules} & {'jax', 'jaxlib', 'evbench', 'numba'}))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=_env(), check=True)
    assert out.stdout.strip() == "[]"


def test_the_package_builds_and_installs(tmp_path):
    """``python -m build`` (an sdist, and the wheel built from it) on a copy of the repository's
    files (what git tracks or would); the wheel installed into a folder of its own runs ``evbench catalogue`` and
    ``evbench validate``, with the references as ``evbench_reference`` and no top-level
    ``reference``."""
    src = tmp_path / "src"
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout
    for rel in filter(None, files.split("\0")):
        if rel.startswith(("results/", "tests/")):
            continue
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, src / rel)
    subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(tmp_path / "dist"), str(src)],
                   check=True, capture_output=True, text=True, timeout=600)
    (sdist,), (wheel,) = (tmp_path / "dist").glob("*.tar.gz"), (tmp_path / "dist").glob("*.whl")
    import tarfile

    with tarfile.open(sdist) as tar:
        names = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    assert {"setup.py", "pyproject.toml", "reference/spiking.py", "evbench/backend_api.py"} <= names
    site = tmp_path / "site"
    _pip_target(wheel, site)
    assert (site / "evbench_reference" / "spiking.py").exists() and not (site / "reference").exists()
    assert (site / "evbench" / "testing" / "pytest_plugin.py").exists()
    env = _env([site])
    env["PYTHONPATH"] = str(site)  # the installed wheel, not this repository
    where = subprocess.run([sys.executable, "-c", "import evbench, evbench_reference; print(evbench.__file__); "
                            "print(evbench_reference.__file__)"], env=env, cwd=tmp_path, capture_output=True, text=True,
                           check=True)
    assert all(line.startswith(str(site)) for line in where.stdout.split())
    listed = _evbench("catalogue", env=env, cwd=tmp_path)
    assert listed.returncode == 0 and "csr" in listed.stdout and "evbench.peers.baselines:NATIVE" in listed.stdout
    run = _evbench("validate", "--family", "csr", "--backend", "native", "--jobs", "1", "--no-progress", "--into",
                   tmp_path / "out", env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert set(pd.read_csv(next((tmp_path / "out").glob("validate-*.csv"))).status) == {"pass"}
