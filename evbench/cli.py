"""The ``evbench`` command line: it parses, and nothing else.

Each sub-command's arguments become that command's options class (``ValidateOptions``, ``BenchOptions``…), handed to its
``run_command(options)`` (:mod:`evbench.harness`), whose outcome's ``code`` is the exit status.
Every command reads its choices from the same registries, with one meaning of ``all`` (every
family, backend, product...) and one default (every one); numbers are checked the same way
everywhere. A bad argument is an ``error:`` line on stderr and exit status 2, before any work; a
command that cannot write its results (a full disk) is an ``error:`` line and exit status 1; an
interrupt (Ctrl-C) is one line and exit status 130.
"""
from __future__ import annotations

import argparse
import os
import sys

from .registry import ALL


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}")
    return value


def _default_jobs() -> int:
    return min(2, os.cpu_count() or 1)


def _choices(p, flag: str, names, what: str, *, all_=True, help_=None, checked_later=False):
    """A repeatable ``--flag NAME`` taking one of ``names`` (or ``all``). ``checked_later``: the
    command checks the names itself (backends: a ``--plugin`` given on the same line adds to them)."""
    names = list(names) + ([ALL] if all_ else [])
    p.add_argument(flag, action="append", default=[], choices=None if checked_later else names, metavar="NAME",
                   help=(help_ or f"only this {what} (repeatable; default: all)") + f"; one of: {', '.join(names)}")


def _output(p) -> None:
    """``--out`` (results root: files go to OUT/<machine>/) and ``--into`` (that folder itself)."""
    p.add_argument("--out", default="results", help="results root: files go to OUT/<machine>/ (default: results)")
    p.add_argument("--into", metavar="DIR", default=None, help="write the files into DIR itself (no machine folder)")


def _junit(p) -> None:
    p.add_argument("--junit-xml", metavar="PATH", default=None,
                   help="also write the checks as JUnit XML for a CI system (one test case per check); "
                        "$GITHUB_STEP_SUMMARY, where set, gets a Markdown summary")


def _progress(p) -> None:
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _families():
    from .catalogue import FAMILIES

    return FAMILIES.names()


def _backends():
    from .peers import BACKENDS

    return BACKENDS.names()


# -- the commands -------------------------------------------------------------------------------


def _add_catalogue(sub):
    from .harness.listing import PARTS

    p = sub.add_parser("catalogue", help="list the families and products, backends, checks, grids and profiles")
    p.add_argument("--list", dest="parts", action="append", default=[], choices=[*PARTS, ALL], metavar="PART",
                   help=f"only this part (repeatable; default: all); one of: {', '.join(PARTS)}")

    def run(args):
        from .harness import listing

        return listing.run_command(listing.CatalogueOptions(args.parts))

    p.set_defaults(run=run)


def _add_validate(sub):
    from .harness.profiles import VALIDATION_PROFILES

    p = sub.add_parser("validate", help="check every operator against its NumPy float64 reference")
    _choices(p, "--family", _families(), "family")
    _choices(p, "--backend", _backends(), "backend", checked_later=True)
    _choices(p, "--gate", _backends(), "backend", checked_later=True,
             help_="a backend whose failures fail the run besides native (repeatable)")
    p.add_argument("--profile", choices=VALIDATION_PROFILES.names(), default="quick")
    p.add_argument("--jobs", type=_positive_int, default=_default_jobs(), metavar="N",
                   help="families checked in N processes at once (default: 2, or 1 on one core)")
    _junit(p)
    _output(p)
    _progress(p)

    def run(args):
        from .harness import validate
        from .harness.results import Output

        return validate.run_command(validate.ValidateOptions(
            args.family, args.backend, args.gate, args.profile, args.jobs, Output(args.out, args.into),
            not args.no_progress, junit_xml=args.junit_xml))

    p.set_defaults(run=run)


def _add_bench(sub):
    from .catalogue import PRODUCT_REGISTRY
    from .harness.bench import DEFAULT_GRID, DEVICE_KINDS, GRIDS

    p = sub.add_parser("bench", help="time every family × backend × product over a grid (the asv cases, without asv)")
    sizes = p.add_mutually_exclusive_group()
    sizes.add_argument("--quick", dest="grid", action="store_const", const="quick", help="the quick grid (n = 10⁴)")
    sizes.add_argument("--full", dest="grid", action="store_const", const="full", help="the full grid (hours)")
    sizes.add_argument("--grid", dest="grid", choices=GRIDS.names(), help=f"a grid by name (default: {DEFAULT_GRID})")
    _choices(p, "--family", _families(), "family")
    _choices(p, "--backend", _backends(), "backend", checked_later=True)
    _choices(p, "--product", PRODUCT_REGISTRY.names(), "product")
    _choices(p, "--device", DEVICE_KINDS, "device kind",
             help_="only this device kind (repeatable; default: every kind JAX sees; all: also absent ones, "
                   "recorded as skipped)")
    _output(p)
    _progress(p)

    def run(args):
        from .harness import bench
        from .harness.results import Output

        return bench.run_command(bench.BenchOptions(args.grid, args.family, args.backend, args.product, args.device,
                                               Output(args.out, args.into), not args.no_progress))

    p.set_defaults(run=run, grid=DEFAULT_GRID)


def _add_spiketimes(sub):
    from .harness.results import SPIKETIME_TABLES
    from .harness.spiketimes import SPIKETIME_PROFILES

    p = sub.add_parser("spiketimes", help="are the spikes right? exact vs exact, stepped vs exact, operators, "
                                          "statistics, SparseProp scaling and the E/I networks")
    p.add_argument("--profile", choices=SPIKETIME_PROFILES.names(), default="quick",
                   help="quick (minutes; the default), thorough (hours), tiny (seconds, for tests)")
    _choices(p, "--table", [t for t in SPIKETIME_TABLES if t != "nest"], "table")
    p.add_argument("--against", action="append", default=[], choices=["nest"], metavar="SIMULATOR",
                   help="compare evbench's exact simulators with an independent one, spike for spike "
                        "(repeatable; one of: nest; alone, only its table is made)")
    _output(p)
    _progress(p)

    def run(args):
        from .harness import spiketimes
        from .harness.results import Output

        return spiketimes.run_command(spiketimes.SpiketimesOptions(args.profile, args.table, Output(args.out, args.into),
                                                         not args.no_progress, args.against))

    p.set_defaults(run=run)


def _add_report(sub):
    p = sub.add_parser("report", help="an HTML page and a Markdown summary of evbench and asv results")
    p.add_argument("results", nargs="*", metavar="RESULTS",
                   help="results files or folders (searched recursively); default: results/latest")
    p.add_argument("--out", metavar="DIR", default=None,
                   help="write report.html, report.md and report-figures/ here (default: the first RESULTS folder)")
    p.add_argument("--title", default="evbench report")

    def run(args):
        from .harness import report

        return report.run_command(report.ReportOptions(args.results, args.out, args.title))

    p.set_defaults(run=run)


def _add_run(sub):
    from .harness.bench import DEFAULT_GRID, DEVICE_KINDS, GRIDS
    from .harness.profiles import VALIDATION_PROFILES
    from .harness.run import STAGES

    p = sub.add_parser("run", help="the main job: validate, benchmark, compare spike times, report (minutes)",
                       description="The main job: validate every operator, benchmark them, compare spike times, "
                                   "write the report; all into OUT/<machine>/<UTC time>/, and OUT/latest points at "
                                   "the newest complete run.")
    _choices(p, "--family", _families(), "family")
    _choices(p, "--backend", _backends(), "backend", checked_later=True)
    _choices(p, "--device", DEVICE_KINDS, "device kind",
             help_="benchmark on this device kind (repeatable; default: every kind JAX sees)")
    p.add_argument("--grid", choices=GRIDS.names(), default=DEFAULT_GRID,
                   help=f"benchmark grid (default: {DEFAULT_GRID}); one of: {', '.join(GRIDS.names())}")
    p.add_argument("--profile", choices=VALIDATION_PROFILES.names(), default="quick",
                   help="validation and spike-time profile (default: quick)")
    p.add_argument("--skip", action="append", choices=STAGES, default=[], metavar="STAGE",
                   help=f"leave out a stage (repeatable); one of: {', '.join(STAGES)}")
    p.add_argument("--jobs", type=_positive_int, default=_default_jobs(), metavar="N",
                   help="validation processes (default: 2, or 1 on one core)")
    p.add_argument("--out", default="results",
                   help="results root: the run goes to OUT/<machine>/<UTC time>/, OUT/latest points at it "
                        "(default: results)")
    _choices(p, "--gate", _backends(), "backend", checked_later=True,
             help_="a backend whose failures fail the run besides native (repeatable)")
    _junit(p)
    _progress(p)

    def run(args):
        from .harness import run

        return run.run_command(run.RunOptions(args.family, args.backend, args.device, args.grid, args.profile,
                                              args.skip, args.jobs, args.out, not args.no_progress,
                                              gate=args.gate, junit_xml=args.junit_xml))

    p.set_defaults(run=run)


def _add_sharded(sub):
    from .harness.shard import command

    p = sub.add_parser("sharded", help="sharded products over several devices: validate, bench, collectives, "
                                       "network, model", description=command.__doc__.split("\n\n")[0])
    p.add_argument("what", choices=command.WHAT)
    p.add_argument("--devices", type=_positive_int, default=None, metavar="N",
                   help=f"the most devices to run on (virtual CPU devices where JAX has only a CPU; default "
                        f"{command.DEFAULT_DEVICES}); {', '.join(command.APPLIES['--devices'])}")
    p.add_argument("--profile", default="", metavar="NAME",
                   help="validate: full|ci; bench: scaling|asv|tiny; network: quick|tiny")
    _choices(p, "--family", _families(), "family",
             help_="only this family (repeatable; default: all); model: the families whose local cost is projected")
    p.add_argument("--source", default="", metavar="CSV", help="model: the sharded-bench table (default: newest)")
    _output(p)
    _progress(p)

    def run(args):
        from .harness.results import Output

        return command.run_command(command.ShardedOptions(
            args.what, args.devices, args.profile, args.family, args.source, output=Output(args.out, args.into),
            progress=not args.no_progress))

    p.set_defaults(run=run)


def _add_asv(sub):
    from .harness.asvinit import add_parser

    add_parser(sub)


#: each entry adds one sub-command to the parser
COMMANDS = [_add_catalogue, _add_validate, _add_bench, _add_report, _add_run, _add_spiketimes, _add_sharded, _add_asv]


_PLUGIN_HELP = ("load a backend from module:attribute (repeatable), as if its package declared it in the "
                "evbench.backends entry points; processes the command starts load it too (EVBENCH_BACKENDS)")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="evbench", description="Validation and benchmarks of event-driven operators.")
    p.add_argument("--plugin", dest="plugins_first", action="append", default=[], metavar="MODULE:ATTR",
                   help=_PLUGIN_HELP)
    sub = p.add_subparsers(dest="command", required=True)
    for add in COMMANDS:
        add(sub)
    for command in sub.choices.values():
        command.add_argument("--plugin", dest="plugins", action="append", default=[], metavar="MODULE:ATTR",
                             help=_PLUGIN_HELP)
    return p


def _load_plugins(targets) -> None:
    """Register the ``--plugin`` backends; a bad one is refused like any bad argument."""
    from .harness.results import UsageError
    from .peers import add_plugin

    for target in targets:
        try:
            backend = add_plugin(target)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        if backend.broken:
            raise UsageError(f"--plugin {target}: {backend.broken}")


def main(argv=None) -> int:
    from .harness.interrupts import catching, checkpoint
    from .harness.report import ReportError
    from .harness.results import OutputError, UsageError

    args = parser().parse_args(argv)
    try:
        with catching():
            _load_plugins([*args.plugins_first, *getattr(args, "plugins", [])])
            outcome = args.run(args)
            checkpoint()
    except (UsageError, OutputError, ReportError) as exc:  # bad input found before the work: no traceback
        print(f"evbench {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a full disk: the command's files were not written (nothing partial is left)
        print(f"evbench {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"evbench {args.command}: interrupted", file=sys.stderr)
        return 130
    return outcome if isinstance(outcome, int) else int(outcome.code)


if __name__ == "__main__":
    sys.exit(main())
