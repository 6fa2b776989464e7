"""``evbench asv init``: asv across the commits of a library under test.

Run in a library's repository, it writes what asv needs there:

* ``asv.conf.json``: the repository is the library (``"repo": "."``), every commit asv measures
  is built as a wheel and installed into a virtualenv together with a *pinned* evbench (a wheel
  of this evbench copied into ``.asv/evbench/``, or a requirement such as ``evbench==0.1.0``);
  results, environments and HTML under ``.asv/``;
* ``benchmarks/``: evbench's suites (:mod:`evbench.asv_suites`) for the chosen backends (the
  library's, and evbench's to compare with), families, products, grid and device kinds, all
  stated in ``benchmarks/_evbench.py`` (nothing hidden in environment variables).

Then asv's own commands work there: ``asv run <range>``, ``asv continuous``, ``asv compare``,
``asv publish``; ``evbench report .asv/results`` reads the history as it reads evbench's own.
"""
from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from .results import UsageError, usage, write_atomic


@dataclass
class AsvInitOptions:
    """``evbench asv init``: the library's repository, the backends to time (none: those its
    package declares), families, products and device kinds (none: every one; devices: the
    grid's), the grid, the evbench to pin (a wheel file or a requirement; None: a wheel of this
    evbench), the Python version of asv's environments (None: this one's), whether to replace
    files written earlier."""

    repo: str = "."
    backends: list = field(default_factory=list)
    families: list = field(default_factory=list)
    products: list = field(default_factory=list)
    devices: list = field(default_factory=list)
    grid: str = "asv"
    evbench: str | None = None
    python: str | None = None
    force: bool = False


@dataclass
class AsvInitOutcome:
    code: int
    files: list
    result: str = ""


BENCHMARK_DIR = "benchmarks"
#: the suite modules a library's benchmark folder imports (evbench's own ``suites/`` has the same)
SUITES = ("products", "work", "memory", "machine")


def _git(repo: Path, *args) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout.strip()


def _project(repo: Path) -> str:
    """The library's distribution name, from its pyproject.toml (or the folder's name)."""
    import tomllib

    pyproject = repo / "pyproject.toml"
    if pyproject.exists():
        name = tomllib.loads(pyproject.read_text()).get("project", {}).get("name")
        if name:
            return name
    return repo.name


def _own_backends(project: str) -> list[str]:
    """The backends the library's distribution declares in the evbench.backends entry points."""
    from importlib.metadata import PackageNotFoundError, distribution

    from ..peers import ENTRY_POINT_GROUP

    try:
        return [ep.name for ep in distribution(project).entry_points if ep.group == ENTRY_POINT_GROUP]
    except PackageNotFoundError:
        return []


@usage
def resolve_options(options: AsvInitOptions) -> tuple[Path, list]:
    """The repository and the backends; ``ValueError`` naming a bad option."""
    from ..catalogue import FAMILIES, PRODUCT_REGISTRY
    from ..peers import BACKENDS
    from .bench import DEVICE_KINDS, GRIDS

    repo = Path(options.repo).resolve()
    if not (repo / ".git").exists():
        raise ValueError(f"--repo {str(repo)!r} is not a git repository (asv measures a repository's commits)")
    backends = list(options.backends) or _own_backends(_project(repo))
    if not backends:
        raise ValueError(f"no --backend given, and {_project(repo)!r} declares none in the evbench.backends entry "
                         "points (is it installed here?)")
    BACKENDS.select(backends)
    FAMILIES.select(options.families)
    PRODUCT_REGISTRY.select(options.products)
    GRIDS.get(options.grid)
    bad = [d for d in options.devices if d not in DEVICE_KINDS]
    if bad:
        raise ValueError(f"unknown device kind {bad[0]!r}; valid: {', '.join(DEVICE_KINDS)}")
    if not options.force:
        taken = [p for p in ("asv.conf.json", BENCHMARK_DIR) if (repo / p).exists()]
        if taken:
            raise ValueError(f"{', '.join(taken)} exist in {repo}: use --force to replace them")
    return repo, backends


def _evbench_pin(repo: Path, spec: str | None) -> tuple[str, str]:
    """``(what pip installs, how it was chosen)``: a wheel file copied into ``.asv/evbench/`` (given,
    or built from this evbench's source tree), or a requirement."""
    import shutil

    from .. import __version__

    dest = repo / ".asv" / "evbench"
    if spec and not Path(spec).is_file():
        return spec, f"the requirement {spec}"
    dest.mkdir(parents=True, exist_ok=True)
    if spec:
        wheel = dest / Path(spec).name
        shutil.copy2(spec, wheel)
        return "{conf_dir}/.asv/evbench/" + wheel.name, f"the wheel {Path(spec).name}"
    source = Path(__file__).resolve().parents[2]
    if not (source / "pyproject.toml").exists():
        return f"evbench=={__version__}", f"the requirement evbench=={__version__} (this evbench is not a source tree)"
    for old in dest.glob("evbench-*.whl"):
        old.unlink()
    for isolation in (["--no-build-isolation"], []):
        done = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", *isolation, "-w", str(dest),
                               str(source)], capture_output=True, text=True)
        if done.returncode == 0:
            break
    else:
        raise UsageError(f"could not build a wheel of evbench from {source}: {done.stderr.strip()[-500:]}")
    (wheel,) = dest.glob("evbench-*.whl")
    try:
        commit = _git(source, "rev-parse", "--short", "HEAD")
        if _git(source, "status", "--porcelain", "--untracked-files=no"):
            commit += ", with uncommitted changes"
    except (subprocess.CalledProcessError, OSError):
        commit = "unknown"
    return "{conf_dir}/.asv/evbench/" + wheel.name, f"a wheel of evbench {__version__} built from {source} (commit {commit})"


def asv_conf(project: str, branch: str, python: str, evbench_pin: str) -> str:
    conf = {
        "version": 1,
        "project": project,
        "repo": ".",
        "dvcs": "git",
        "branches": [branch],
        "environment_type": "virtualenv",
        "pythons": [python],
        "matrix": {"req": {"setuptools": "", "wheel": ""}},
        "build_command": ["python -m pip wheel --no-deps --no-build-isolation -w {build_cache_dir} {build_dir}"],
        "install_command": [f"in-dir={{env_dir}} python -m pip install {{wheel_file}} {evbench_pin}"],
        "uninstall_command": [f"return-code=any python -m pip uninstall -y {project}"],
        "benchmark_dir": BENCHMARK_DIR,
        "env_dir": ".asv/env",
        "results_dir": ".asv/results",
        "html_dir": ".asv/html",
        "launch_method": "forkserver",
        "default_benchmark_timeout": 600,
    }
    head = ("// asv configuration written by `evbench asv init`: asv measures this repository's commits, each\n"
            f"// installed beside {evbench_pin.split('/')[-1]} (evbench's suites); what is measured is in\n"
            f"// {BENCHMARK_DIR}/_evbench.py. Results, environments and HTML go under .asv/.\n")
    return head + json.dumps(conf, indent=4) + "\n"


def selection_module(selection, pin_note: str) -> str:
    from .. import __version__

    return f'''"""What evbench's suites measure in this repository (written by `evbench asv init`, evbench
{__version__}, {datetime.now(timezone.utc).date().isoformat()}; edit the choices here: the suite modules beside
this one read them). Pinned evbench: {pin_note}."""
from pathlib import Path

from evbench.asv_suites import Selection

SELECTION = Selection(
    backends={selection.backends!r},
    families={selection.families!r},  # () : every family
    products={selection.products!r},  # () : every product
    grid={selection.grid!r},  # evbench's grids: `evbench catalogue --list grids`
    devices={selection.devices!r},  # () : the grid's device kinds (absent ones are skipped)
    # the sweep's own table and the versions, beside asv's results
    sidecar=str(Path(__file__).resolve().parents[1] / ".asv" / "evbench-meta"),
)
'''


def suite_module(name: str) -> str:
    return (f'"""evbench\'s {name} suite for this repository\'s backends (:mod:`evbench.asv_suites.{name}`)."""\n'
            f"from evbench.asv_suites import {name}\n\n"
            + ("from ._evbench import SELECTION\n\nglobals().update(" + name + ".classes(SELECTION))\n"
               if name != "machine" else "globals().update(machine.classes())\n"))


def run_command(options: AsvInitOptions) -> AsvInitOutcome:
    """Write ``asv.conf.json`` and the benchmark folder; print the three commands that follow."""
    from ..asv_suites import Selection

    repo, backends = resolve_options(options)
    project = _project(repo)
    try:
        branch = _git(repo, "rev-parse", "--abbrev-ref", "HEAD")
    except subprocess.CalledProcessError:
        branch = "main"
    python = options.python or f"{sys.version_info.major}.{sys.version_info.minor}"
    pin, pin_note = _evbench_pin(repo, options.evbench)
    selection = Selection(tuple(backends), tuple(options.families), tuple(options.products), options.grid,
                          tuple(options.devices))
    files = [write_atomic(repo / "asv.conf.json", asv_conf(project, "main" if branch == "HEAD" else branch, python,
                                                           pin))]
    bench_dir = repo / BENCHMARK_DIR
    files.append(write_atomic(bench_dir / "__init__.py", '"""asv benchmarks: evbench\'s suites (see _evbench.py)."""\n'))
    files.append(write_atomic(bench_dir / "_evbench.py", selection_module(selection, pin_note)))
    files += [write_atomic(bench_dir / f"{name}.py", suite_module(name)) for name in SUITES]
    _ignore(repo)
    print(f"evbench asv init: wrote {', '.join(str(f.relative_to(repo)) for f in files)} in {repo}\n"
          f"  backends {', '.join(backends)}; families {', '.join(options.families) or 'all'}; products "
          f"{', '.join(options.products) or 'all'}; grid {options.grid}; pinned evbench: {pin_note}\n"
          "Next, in that repository:\n"
          "  asv machine --yes                   # once per machine\n"
          "  asv run HEAD~10..HEAD               # the history of the last ten commits (or: asv continuous A B)\n"
          "  asv publish && asv preview          # asv's HTML; or: evbench report .asv/results")
    return AsvInitOutcome(0, files, f"{len(files)} files written")


def _ignore(repo: Path) -> None:
    """Keep asv's environments and results out of the library's commits (``.asv/`` ignored)."""
    gitignore = repo / ".gitignore"
    lines = gitignore.read_text().splitlines() if gitignore.exists() else []
    if ".asv/" not in lines and ".asv" not in lines:
        write_atomic(gitignore, "\n".join([*lines, ".asv/"]) + "\n")


def add_parser(sub) -> None:
    """The ``asv`` sub-command (for :mod:`evbench.cli`)."""
    from .bench import DEVICE_KINDS, GRIDS

    p = sub.add_parser("asv", help="asv across the commits of a library under test (evbench asv init)",
                       description=__doc__.split("\n\n")[0])
    p.add_argument("action", choices=["init"], help="init: write asv.conf.json and benchmarks/ in the repository")
    p.add_argument("--repo", default=".", help="the library's git repository (default: here)")
    for flag, what in (("--backend", "backend"), ("--family", "family"), ("--product", "product")):
        p.add_argument(flag, action="append", default=[], metavar="NAME",
                       help=f"a {what} to measure (repeatable; default: "
                            + ("the backends the library declares)" if what == "backend" else "every one)"))
    p.add_argument("--device", action="append", default=[], choices=list(DEVICE_KINDS), metavar="KIND",
                   help="a device kind (repeatable; default: the grid's)")
    p.add_argument("--grid", default="asv", choices=GRIDS.names(), help="evbench's grid (default: asv)")
    p.add_argument("--evbench", default=None, metavar="WHEEL|REQUIREMENT",
                   help="the evbench to pin (default: a wheel of this evbench, built from its source tree)")
    p.add_argument("--python", default=None, metavar="X.Y", help="Python of asv's environments (default: this one's)")
    p.add_argument("--force", action="store_true", help="replace asv.conf.json and benchmarks/ written earlier")

    def run(args):
        return run_command(AsvInitOptions(args.repo, args.backend, args.family, args.product, args.device, args.grid,
                                          args.evbench, args.python, args.force))

    p.set_defaults(run=run)
