"""``evbench report``: one self-contained HTML page and a Markdown summary of evbench results.

It reads what the other commands write, asv's result files and pytest-benchmark runs
(:mod:`.read`), draws each section from the tables it needs (one module per section, each
declaring them in its ``SECTION``: :class:`~.figures.SectionSpec`; a section whose tables are
absent says so in one line, and nothing missing breaks the page), and writes the page
(:mod:`.write`). Figures are
drawn with matplotlib's Agg backend and embedded in the HTML as base64 PNG; the Markdown links
the same figures, written beside it in ``report-figures/``.

Ratios (speedups, bandwidth fractions) are only formed inside one results file: they are
measured side by side in one run, on one machine. The across-commit sections (asv,
pytest-benchmark) compare runs of one machine benchmark by benchmark, as their gates do.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ...registry import Registry
from ..results import SPIKETIME_TABLES
from . import (
    bandwidth, compiletime, conformance, history, machine, memory, noise, pytest_benchmark, scaling, sharded,
    speedup, spiketimes,
)
from .figures import Figure, Section, SectionSpec
from .read import ReportError, Results, load
from .speedup import BASELINE
from .write import Report, write

#: the sections, top to bottom (each module declares its ``SECTION``)
SECTIONS: Registry[SectionSpec] = Registry("report section", key=lambda spec: spec.key)
for _module in (conformance, speedup, scaling, bandwidth, memory, compiletime, noise, spiketimes, sharded, history,
                pytest_benchmark, machine):
    SECTIONS.register(_module.SECTION)


def build(paths, out_dir=None, *, title: str = "evbench report") -> Report:
    """Read ``paths`` and write ``report.html``, ``report.md`` and ``report-figures/*.png``
    into ``out_dir`` (default: the folder of the first path)."""
    res = load(paths)
    first = Path(list(paths)[0])
    out = Path(out_dir) if out_dir is not None else (first if first.is_dir() else first.parent)
    sections = []
    for spec in SECTIONS:
        try:
            sections.append(spec.make(res))
        except Exception as exc:  # one broken section must not take the report with it
            sections.append(Section(spec.key, spec.title,
                                    missing=f"This section could not be drawn: {type(exc).__name__}: {exc}"))
    return write(res, sections, out, title)


def default_results(root: str | Path = "results") -> Path:
    """The newest ``evbench run``: ``results/latest``, or the folder ``results/latest.txt``
    names where the link could not be made (:func:`evbench.harness.results.latest_run`)."""
    from ..results import latest_run

    return latest_run(Path(root))


@dataclass
class ReportOptions:
    """``evbench report``: results files or folders (none: ``results/latest``), where the page
    goes (none: the first folder), its title."""

    results: list = field(default_factory=list)
    out: str | None = None
    title: str = "evbench report"


@dataclass
class ReportOutcome:
    code: int
    report: Report | None

    @property
    def result(self) -> str:
        if self.report is None:
            return "no report written"
        empty = [s.key for s in self.report.sections if s.missing]
        text = f"{len(self.report.figures)} figures" + (f"; no data for: {', '.join(empty)}" if empty else "")
        if self.report.refused:
            text += f"; {len(self.report.refused)} damaged files refused"
        return text


def run_command(options: ReportOptions) -> ReportOutcome:
    """Build the report. Exit code 2 when there is nothing to report, 1 when a damaged results
    file was refused (the report is written from the others)."""
    import sys

    paths = options.results or [str(default_results())]
    if not options.results and not Path(paths[0]).exists():
        raise ReportError(f"no RESULTS given and {paths[0]!r} does not exist; run `evbench run` first "
                          "or name a results folder")
    from ..results import Output

    first = Path(paths[0])
    # where the page goes, proven writable before any work (a read-only results folder too)
    Output(into=options.out if options.out is not None else (first if first.is_dir() else first.parent)).check()
    rep = build(paths, options.out, title=options.title)
    drawn = [s for s in rep.sections if not s.missing]
    missing = [s for s in rep.sections if s.missing]
    print(f"report: {len(drawn)} sections with data, {len(rep.figures)} figures; "
          f"{len(missing)} without data ({', '.join(s.key for s in missing) or 'none'}).")
    print(f"Written: {rep.html}, {rep.markdown}")
    if rep.refused:
        print(f"evbench report: error: {len(rep.refused)} damaged results files refused: "
              + "; ".join(f for f, _ in rep.refused), file=sys.stderr)
    return ReportOutcome(1 if rep.refused else 0, rep)


__all__ = ["BASELINE", "SECTIONS", "SPIKETIME_TABLES", "Figure", "ReportOptions", "ReportOutcome", "Report", "ReportError",
           "Results", "Section", "SectionSpec", "build", "default_results", "load", "run_command"]
