"""``evbench run``: the main job, everything evbench measures on this machine in one command.

Stages, each the ordinary command called directly (its ``run_command(options)``), all writing
into one folder, ``<out>/<machine>/<UTC time>/``:

1. ``validate`` (the quick profile, every backend unless ``--backend``);
2. ``bench`` (the ``run`` grid, every device JAX sees unless ``--device``);
3. ``spiketimes`` (the quick profile);
4. ``report`` of the folder (``report.html``, ``report.md``).

Then ``<out>/latest`` is pointed at the folder (a relative symlink, replaced atomically; where
the file system has no symlinks, ``<out>/latest.txt`` names the folder instead), but only when
every stage asked for ran to its end and wrote its results: a run with a stage that broke, or
with no stage at all, leaves ``latest`` on the previous run. The exit status is non-zero when
evbench's own code is wrong — the validation gate fails (a native check, as ``evbench
validate``) or SparseProp and the naive exact simulator disagree (``spiketimes``) — or when a
stage could not run to its end. Benchmark cases that raised are counted in the summary
(``errors``) and listed in the report; they do not fail it.
"""
from __future__ import annotations

import os
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from .console import duration, fixed_width
from .interrupts import checkpoint
from .results import Output, OutputError, machine_label, point_latest, run_folder, usage

#: the stages, in order; ``--skip`` takes these names
STAGES = ("validate", "bench", "spiketimes", "report")


@dataclass
class RunOptions:
    """``evbench run``: families and backends (none, or "all": every one), device kinds (none:
    every kind JAX sees), the benchmark grid, the validation and spike-time profile, stages to
    leave out, validation processes, the results root."""

    families: list = field(default_factory=list)
    backends: list = field(default_factory=list)
    devices: list = field(default_factory=list)
    grid: str = "run"
    profile: str = "quick"
    skip: list = field(default_factory=list)
    jobs: int = 1
    out: str = "results"
    progress: bool = True
    #: validation: backends whose failures fail the run besides native, a JUnit XML file
    gate: list = field(default_factory=list)
    junit_xml: str | None = None


@dataclass
class Stage:
    name: str
    status: str = "skipped"
    seconds: float = 0.0
    result: str = ""
    code: int = 0

    @property
    def complete(self) -> bool:
        """The stage ran to its end and wrote its results (its findings may still fail)."""
        return self.status in ("ok", "FAILED", "errors")


@dataclass
class RunOutcome:
    code: int
    folder: Path
    stages: dict
    latest: Path | None
    seconds: float


@usage
def resolve_options(options: RunOptions) -> None:
    """Every name and number of ``options``, before anything runs; ``ValueError`` naming the bad one."""
    from .bench import BenchOptions
    from .bench import resolve_options as resolve_bench
    from .spiketimes import SPIKETIME_PROFILES
    from .validate import ValidateOptions
    from .validate import resolve_options as resolve_validate

    unknown = [s for s in options.skip if s not in STAGES]
    if unknown:
        raise ValueError(f"unknown stage{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
                         f"valid: {', '.join(STAGES)}")
    resolve_validate(ValidateOptions(options.families, options.backends, options.gate, profile=options.profile,
                                     jobs=options.jobs))
    resolve_bench(BenchOptions(options.grid, options.families, options.backends, devices=options.devices))
    SPIKETIME_PROFILES.get(options.profile)


def run_command(options: RunOptions) -> RunOutcome:
    """Every stage into one new run folder, a summary, and ``latest`` moved when the run is whole."""
    resolve_options(options)
    root = Path(options.out)
    folder = run_folder(root)
    try:
        return _run_stages(options, root, folder)
    except BaseException:  # an interrupt (Ctrl-C): no empty run folder left behind
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
        raise


def _run_stages(options: RunOptions, root: Path, folder: Path) -> RunOutcome:
    from . import bench, report, spiketimes, validate
    from .bench import present_devices

    into = Output(root, folder)
    t_start = time.perf_counter()
    stages = {name: Stage(name) for name in STAGES}
    print(f"evbench run: results in {folder}/")
    todo = [s for s in STAGES if s not in options.skip]
    step = 0

    def banner(name, what):
        nonlocal step
        step += 1
        print(f"\n=== [{step}/{len(todo)}] {name}: {what} (at {duration(time.perf_counter() - t_start)}) ===",
              flush=True)

    def stage(name, call):
        """Run one stage: ``call()`` returns the command's outcome (its ``code`` and ``result``)."""
        st = stages[name]
        checkpoint()
        t0 = time.perf_counter()
        try:
            outcome = call()
            st.code = outcome.code
            # exit code 1: validate's gate or spiketimes' exact comparison failed (evbench's own
            # code is wrong), or some benchmark cases raised; anything else: the stage broke
            st.status = {0: "ok", 1: "errors" if name == "bench" else "FAILED"}.get(st.code, "error")
            st.result = outcome.result
        except Exception as exc:  # a stage that breaks must not take the others with it
            traceback.print_exc()
            st.code, st.status, st.result = 1, "error", f"{type(exc).__name__}: {exc}"
        st.seconds = time.perf_counter() - t0

    families, backends = list(options.families), list(options.backends)
    if "validate" in todo:
        banner("validate", f"every operator against its reference, profile {options.profile}, backends "
                           f"{', '.join(backends or ['all'])}")
        stage("validate", lambda: validate.run_command(validate.ValidateOptions(
            families, backends, list(options.gate), profile=options.profile, jobs=options.jobs, output=into,
            progress=options.progress, junit_xml=options.junit_xml)))
    if "bench" in todo:
        devices = list(options.devices) or present_devices()
        banner("bench", f"grid {options.grid} on {', '.join(devices)}")
        stage("bench", lambda: bench.run_command(bench.BenchOptions(
            options.grid, families, backends, devices=devices, output=into, progress=options.progress)))
    if "spiketimes" in todo:
        banner("spiketimes", f"exact and time-stepped spike times, profile {options.profile}")
        stage("spiketimes", lambda: spiketimes.run_command(spiketimes.SpiketimesOptions(
            options.profile, output=into, progress=options.progress)))
    if "report" in todo:
        banner("report", "HTML page and Markdown summary")
        stage("report", lambda: report.run_command(report.ReportOptions(
            [str(folder)], str(folder), title=f"evbench run {folder.name} on {machine_label()}")))
    ran = [stages[s] for s in todo]
    checkpoint()
    latest = None
    if ran and all(s.complete for s in ran):
        latest = point_latest(root, folder)
    elif not any(folder.iterdir()):
        folder.rmdir()  # nothing was written: no empty run folder left behind
    total = time.perf_counter() - t_start
    _print_summary(stages, folder, root, latest, total)
    failed = [s for s in stages.values() if s.status in ("FAILED", "error")]
    code = 1 if failed or not ran else 0
    return RunOutcome(code, folder, stages, latest, total)


def _print_summary(stages: dict, folder: Path, root: Path, latest: Path | None, total: float) -> None:
    import pandas as pd

    rows = [dict(stage=s.name, status=s.status, time=duration(s.seconds) if s.status != "skipped" else "",
                 result=s.result) for s in stages.values()]
    print(f"\n=== evbench run: summary ({duration(total)}) ===")
    print(fixed_width(pd.DataFrame(rows), ["stage", "status", "time", "result"]))
    print(f"\nResults: {folder}/" if folder.exists() else f"\nNo results written (no {folder}/ left behind)")
    if latest is not None:
        print(f"Newest run: {latest}" + (f" -> {os.readlink(latest)}" if latest.is_symlink() else ""))
    else:
        print(f"{root / 'latest'} not moved: not every stage asked for wrote complete results "
              "(it still names the last complete run)", file=sys.stderr)
    if (folder / "report.html").exists():
        print(f"Report: {folder / 'report.html'} (open it in a browser), {folder / 'report.md'}")


__all__ = ["STAGES", "RunOptions", "RunOutcome", "Stage", "OutputError", "resolve_options", "point_latest", "run_command",
           "run_folder"]
