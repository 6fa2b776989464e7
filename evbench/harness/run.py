"""``evbench run``: the main job, everything evbench measures on this machine in one command.

Stages, each the ordinary command called in this process (``evbench.cli.main``) and writing
into one folder, ``<out>/<machine>/<UTC stamp>/``:

1. ``validate --profile quick`` (every backend unless ``--backend``);
2. ``bench --grid run`` (every device JAX sees unless ``--device``);
3. ``spiketimes --profile quick``, where that command exists;
4. ``report`` of the folder (``report.html``, ``report.md``; :func:`evbench.harness.report.build`).

Then ``<out>/latest`` is pointed at the folder (a relative symlink, replaced atomically; where
the file system has no symlinks, ``<out>/latest.txt`` names the folder instead), and a summary
is printed. The exit status is non-zero when evbench's own code is wrong — the validation gate
fails (a native check, as ``evbench validate``) or SparseProp and the naive exact simulator
disagree (``spiketimes``) — or when a stage could not run to its end. Benchmark cases that
raised are counted in the summary (``errors``) and listed in the report; they do not fail it.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

#: the stages, in order; ``--skip`` takes these names
STAGES = ("validate", "bench", "spiketimes", "report")
#: the grid `evbench run` benchmarks unless ``--grid``
DEFAULT_GRID = "run"


@dataclass
class Stage:
    name: str
    status: str = "skipped"
    seconds: float = 0.0
    result: str = ""
    code: int = 0


def _subcommands() -> dict:
    """Every registered sub-command's parser, by name (from :data:`evbench.cli.COMMANDS`)."""
    from .. import cli

    parser = argparse.ArgumentParser(prog="evbench")
    sub = parser.add_subparsers(dest="command")
    for add in cli.COMMANDS:
        add(sub)
    return dict(sub.choices)


def _accepts(parser, option: str) -> bool:
    return option in getattr(parser, "_option_string_actions", {})


def present_devices() -> list[str]:
    """The device kinds (of :data:`evbench.harness.bench.DEVICE_KINDS`) JAX sees here."""
    import jax

    from .bench import DEVICE_KINDS

    kinds = []
    for kind in DEVICE_KINDS:
        try:
            if jax.devices(kind):
                kinds.append(kind)
        except RuntimeError:
            pass
    return kinds


def run_folder(root: Path, machine: str, stamp: str) -> Path:
    """A new folder ``root/machine/stamp`` (``stamp-2``… when two runs start in one second)."""
    base = root / machine
    base.mkdir(parents=True, exist_ok=True)
    for i in range(1, 1000):
        folder = base / (stamp if i == 1 else f"{stamp}-{i}")
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            continue
    raise RuntimeError(f"cannot create a run folder under {base}")


def point_latest(root: Path, folder: Path) -> Path:
    """Make ``root/latest`` a relative symlink to ``folder``, atomically (a new link renamed
    over the old one: a reader sees the old run or the new one, never none). Where symlinks
    are not possible, ``root/latest.txt`` names the folder (written atomically)."""
    from .results import write_atomic

    link = root / "latest"
    target = os.path.relpath(folder.resolve(), root.resolve())
    tmp = root / f".latest-{os.getpid()}.tmp"
    try:
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        os.symlink(target, tmp, target_is_directory=True)
        os.replace(tmp, link)
        return link
    except OSError:
        if tmp.is_symlink():
            tmp.unlink()
        return write_atomic(root / "latest.txt", target + "\n")


def _call(argv: list[str]) -> int:
    from .. import cli

    try:
        return int(cli.main(argv) or 0)
    except SystemExit as exc:  # argparse refused the arguments
        return exc.code if isinstance(exc.code, int) else 2


def _newest(folder: Path, pattern: str) -> Path | None:
    files = sorted(folder.glob(pattern))
    return files[-1] if files else None


def _validate_result(folder: Path) -> str:
    import pandas as pd

    f = _newest(folder, "validate-*.csv")
    if f is None:
        return "no table written"
    t = pd.read_csv(f)
    counts = ", ".join(f"{n} {s}" for s, n in t["status"].value_counts().items())
    return f"{len(t)} family × product × backend rows: {counts}"


def _bench_result(folder: Path) -> str:
    import pandas as pd

    f = _newest(folder, "bench-*.csv")
    if f is None:
        return "no table written"
    t = pd.read_csv(f)
    keys = ["family", "backend", "product", "device", "n", "active", "conn_num", "batch", "dtype"]
    cases = t.drop_duplicates(keys)
    counts = ", ".join(f"{n} {s}" for s, n in cases["status"].value_counts().items())
    return f"{len(cases)} cases: {counts}"


def _spiketimes_result(folder: Path) -> str:
    files = sorted(folder.glob("spiketimes-*.csv"))
    tables = sorted({f.name.split("-")[1] for f in files})
    if not tables:
        return "no table written"
    text = f"{len(tables)} tables: {', '.join(tables)}"
    exact = _newest(folder, "spiketimes-exact-*.csv")
    if exact is not None:
        import pandas as pd

        status = pd.read_csv(exact)["status"]
        text += f"; exact: {int((status == 'pass').sum())}/{len(status)} identical"
    return text


def _duration(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m} min {s:02d} s" if m else f"{s} s"


def add_parser(sub) -> None:
    """``evbench run``: registered in :data:`evbench.cli.COMMANDS`."""
    from ..peers import backends
    from .bench import DEVICE_KINDS, GRIDS
    from ..catalogue import families

    p = sub.add_parser("run", help="the main job: validate, benchmark, compare spike times, report (minutes)",
                       description="The main job: validate every operator, benchmark them, compare spike times, "
                                   "write the report; all into OUT/<machine>/<UTC time>/, and OUT/latest points at "
                                   "the newest run.")
    fams = [f.name for f in families()]
    p.add_argument("--family", action="append", choices=fams, metavar="NAME",
                   help=f"only this family (repeatable); one of: {', '.join(fams)}")
    p.add_argument("--backend", action="append", choices=[b.name for b in backends()] + ["all"], metavar="NAME",
                   help="only this backend (repeatable; default: all); one of: "
                        f"{', '.join(b.name for b in backends())}, all")
    p.add_argument("--device", action="append", choices=DEVICE_KINDS, metavar="KIND",
                   help=f"benchmark on this device kind (repeatable; default: every one JAX sees); "
                        f"one of: {', '.join(DEVICE_KINDS)}")
    p.add_argument("--grid", choices=sorted(GRIDS), default=DEFAULT_GRID if DEFAULT_GRID in GRIDS else "quick",
                   help=f"benchmark grid (default: {DEFAULT_GRID}); one of: {', '.join(sorted(GRIDS))}")
    p.add_argument("--profile", choices=("quick", "thorough"), default="quick",
                   help="validation and spike-time profile (default: quick)")
    p.add_argument("--skip", action="append", choices=STAGES, default=[], metavar="STAGE",
                   help=f"leave out a stage (repeatable); one of: {', '.join(STAGES)}")
    p.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), metavar="N",
                   help="validation processes (default: 2, or 1 on one core)")
    p.add_argument("--out", default="results",
                   help="results root: the run goes to OUT/<machine>/<UTC time>/, OUT/latest points at it "
                        "(default: results)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_run)


def cmd_run(args) -> int:
    from ..cli import _stamp, machine_label

    if args.jobs < 1:
        print(f"evbench run: error: --jobs must be at least 1, not {args.jobs}", file=sys.stderr)
        return 2
    t_start = time.perf_counter()
    root = Path(args.out)
    folder = run_folder(root, machine_label(), _stamp())
    into = ["--into", str(folder)]
    quiet = ["--no-progress"] if args.no_progress else []
    fams = [a for f in (args.family or []) for a in ("--family", f)]
    backends = [a for b in (args.backend or ["all"]) for a in ("--backend", b)]
    stages = {name: Stage(name) for name in STAGES}
    print(f"evbench run: results in {folder}/")
    n_run = len([s for s in STAGES if s not in args.skip])
    step = 0

    def banner(name, what):
        nonlocal step
        step += 1
        print(f"\n=== [{step}/{n_run}] {name}: {what} (at {_duration(time.perf_counter() - t_start)}) ===",
              flush=True)

    def stage(name, argv, result):
        """Run one stage: ``argv`` for ``evbench.cli.main``, or a callable returning an exit code."""
        st = stages[name]
        t0 = time.perf_counter()
        try:
            st.code = argv() if callable(argv) else _call(argv)
            # exit status 1: validate's gate or spiketimes' exact comparison failed (evbench's own
            # code is wrong), or some benchmark cases raised; anything else: the stage broke
            st.status = {0: "ok"}.get(st.code, ("errors" if name == "bench" else "FAILED") if st.code == 1
                                      else "error")
        except Exception as exc:  # a stage that breaks must not take the others with it
            import traceback

            traceback.print_exc()
            st.code, st.status = 1, "error"
            st.result = f"{type(exc).__name__}: {exc}"
        st.seconds = time.perf_counter() - t0
        try:
            st.result = (st.result + "; " if st.result else "") + result(folder)
        except Exception as exc:  # noqa: BLE001  (a summary line must not break the run)
            st.result += f" (could not summarise: {exc})"

    if "validate" not in args.skip:
        banner("validate", f"every operator against its reference, profile {args.profile}, backends "
                           f"{', '.join(args.backend or ['all'])}")
        stage("validate", ["validate", "--profile", args.profile, "--jobs", str(args.jobs), *fams, *backends,
                           *into, *quiet], _validate_result)
        if stages["validate"].status == "FAILED":
            stages["validate"].result += "; the gate (native) FAILED"
        elif stages["validate"].status == "ok":
            stages["validate"].result += "; the gate (native) passed"
    if "bench" not in args.skip:
        devices = args.device or present_devices()
        banner("bench", f"grid {args.grid} on {', '.join(devices)}")
        chosen = [] if "all" in (args.backend or ["all"]) else args.backend
        bench_backends = [a for b in chosen for a in ("--backend", b)]
        stage("bench", ["bench", "--grid", args.grid, *fams, *bench_backends,
                        *[a for d in devices for a in ("--device", d)], *into, *quiet], _bench_result)
    if "spiketimes" not in args.skip:
        parser = _subcommands().get("spiketimes")
        if parser is None:
            st = stages["spiketimes"]
            st.status, st.result = "not available", "`evbench spiketimes` is not registered in this version"
            print("\nevbench run: spike-time comparisons: not available (no `evbench spiketimes` command)")
        else:
            banner("spiketimes", f"exact and time-stepped spike times, profile {args.profile}")
            argv = ["spiketimes"]
            if _accepts(parser, "--profile"):
                argv += ["--profile", args.profile]
            argv += into if _accepts(parser, "--into") else []
            argv += quiet if _accepts(parser, "--no-progress") else []
            stage("spiketimes", argv, _spiketimes_result)
    if "report" not in args.skip:
        banner("report", "HTML page and Markdown summary")
        built = []

        def make_report():
            from .report import ReportError, build

            try:
                built.append(build([folder], folder, title=f"evbench run {folder.name} on {machine_label()}"))
            except ReportError as exc:  # nothing to report (every stage skipped or failed)
                print(f"evbench report: error: {exc}", file=sys.stderr)
                return 2
            return 0

        def report_result(_):
            if not built:
                return "no report written"
            empty = [s.key for s in built[0].sections if s.missing]
            return (f"{len(built[0].figures)} figures" + (f"; no data for: {', '.join(empty)}" if empty else ""))

        stage("report", make_report, report_result)
    latest = point_latest(root, folder)
    total = time.perf_counter() - t_start
    _print_summary(stages, folder, latest, total)
    failed = [s for s in stages.values() if s.status in ("FAILED", "error")]
    return 1 if failed else 0


def _print_summary(stages: dict, folder: Path, latest: Path, total: float) -> None:
    from ..cli import _table

    import pandas as pd

    rows = [dict(stage=s.name, status=s.status, time=_duration(s.seconds) if s.status != "skipped" else "",
                 result=s.result) for s in stages.values()]
    print(f"\n=== evbench run: summary ({_duration(total)}) ===")
    print(_table(pd.DataFrame(rows), ["stage", "status", "time", "result"]))
    print(f"\nResults: {folder}/")
    print(f"Newest run: {latest}" + (f" -> {os.readlink(latest)}" if latest.is_symlink() else ""))
    if (folder / "report.html").exists():
        print(f"Report: {folder / 'report.html'} (open it in a browser), {folder / 'report.md'}")
