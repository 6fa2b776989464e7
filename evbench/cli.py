"""The ``evbench`` command line."""
from __future__ import annotations

import argparse
import os
import platform
import socket
import sys
import time
from datetime import datetime, timezone
from pathlib import Path


def _enable_x64():
    # float64 operators need 64-bit JAX; evbench always passes explicit dtypes, so this only
    # makes float64 available, it changes no float32 computation.
    import jax

    jax.config.update("jax_enable_x64", True)


def machine_label() -> str:
    return f"{socket.gethostname()}-{platform.machine()}"


def add_output_args(p) -> None:
    """``--out`` (results root; files go to ``OUT/<machine>/``) and ``--into`` (this folder
    itself: how ``evbench run`` gathers one run's files in one place)."""
    p.add_argument("--out", default="results", help="results root: files go to OUT/<machine>/ (default: results)")
    p.add_argument("--into", metavar="DIR", default=None, help="write the files into DIR itself (no machine folder)")


def output_dir(args) -> Path:
    """Where a command writes its files (see :func:`add_output_args`)."""
    return Path(args.into) if getattr(args, "into", None) else Path(args.out) / machine_label()


def _stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def _table(frame, columns) -> str:
    """A plain fixed-width table (no extra dependency)."""
    cells = [[str(c) for c in columns]] + [[_fmt(v) for v in row] for row in frame[list(columns)].itertuples(index=False)]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    if isinstance(v, bool):
        return "yes" if v else "no"
    return str(v)


def cmd_catalogue(args) -> int:
    import pandas as pd

    from .catalogue import PRODUCTS, families

    rows = []
    for fam in families():
        rows.append(dict(
            family=fam.name, structure=fam.title,
            products=", ".join(p.expr + ("*" if fam.event_driven_for(p) else "") for p in PRODUCTS),
            options="; ".join(f"{k}={'|'.join(map(str, v))}" for k, v in fam.options.items()) or "-",
            peers="; ".join(f"{k}: {v}" for k, v in fam.peers.items()),
        ))
    frame = pd.DataFrame(rows)
    print(_table(frame, ["family", "structure", "options", "peers"]))
    print()
    print(_table(frame, ["family", "products"]))
    print("\n* event-driven: costs O(active inputs), not O(stored synapses). Every product has a native\n"
          "  implementation in evbench/ and a NumPy float64 reference in reference/.")
    return 0


def cmd_validate(args) -> int:
    _enable_x64()
    from .harness.results import write_frame, write_json
    from .peers import get_backend
    from .harness.validate import conformance, resolve_backends, summary

    try:
        names = list(args.backend or args.default_backends) + [g for g in (args.gate or []) if g != "all"]
        selected = resolve_backends(names)
        gate = {"native"} | {b.name for b in resolve_backends(args.gate)} if args.gate else {"native"}
        for g in gate:
            get_backend(g)
    except ValueError as exc:
        print(f"evbench validate: error: {exc}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    checks = conformance(args.family or None, profile=args.profile, backend_names=[b.name for b in selected],
                         progress=not args.no_progress, jobs=args.jobs)
    seconds = time.perf_counter() - t0
    table = summary(checks)
    print(_conformance_table(table))
    bad = checks[checks.status.isin(["FAIL", "error"])]
    for row in bad.itertuples():
        where = f"{row.backend}[{row.option}]" if row.option else row.backend
        print(f"\n{row.status} {row.family} {row.product} {where} {row.check}: {row.detail}".rstrip(": "))
        if row.check in ("equivalence", "statistics") and row.status == "FAIL":
            print(f"  {row.failed}/{row.cases} failing; max error {row.max_error:.3g}, tolerance {row.tolerance:.3g}")
        if row.failing_case:
            print(f"  smallest case: {row.failing_case}")
        if row.reproduce and row.backend in gate:
            print("  reproduce with:\n    " + row.reproduce.rstrip().replace("\n", "\n    "))
    out_dir = output_dir(args)
    stamp = _stamp()
    stem = out_dir / f"validate-{args.profile}-{stamp}"
    csv, js = write_frame(stem, table)
    checks_csv, checks_js = write_frame(out_dir / f"checks-{args.profile}-{stamp}", checks)
    versions = {b.name: b.available()[1] for b in selected}
    write_json(stem.with_suffix(".meta.json"), _metadata(seconds=seconds, profile=args.profile, backends=versions,
                                                          gate=sorted(gate)))
    failing = table[table.status.isin(["FAIL", "error"])]
    gated = table[table.backend.isin(gate) & table.status.isin(["FAIL", "error", "missing"])]
    counts = ", ".join(f"{b}: " + " ".join(f"{n} {s}" for s, n in g.status.value_counts().items())
                       for b, g in table.groupby("backend", sort=False))
    print(f"\n{len(table)} family × product × backend rows ({counts}); {int(table.cases.sum())} equivalence "
          f"cases, {len(checks)} checks, {len(failing)} rows failing, {seconds:.0f} s.\n"
          f"Gate ({', '.join(sorted(gate))}): {'FAILED' if len(gated) else 'passed'}.\n"
          f"Written: {csv}, {js} (one row per family × product × backend), "
          f"{checks_csv}, {checks_js} (one row per check)")
    return 1 if len(gated) else 0


_TABLE_COLUMNS = ("family", "product", "backend", "option", "equivalence", "semantics", "transpose", "batch", "jit",
                  "grad", "determinism", "statistics", "status")


def _conformance_table(table) -> str:
    """The summary table, one line per family × product × backend variant; an unsupported
    product is one line with the reason, and so is a backend variant unsupported (or missing)
    for every product of a family."""
    import pandas as pd

    def reason(row):
        return f"{row['status']}: " + row["detail"].split(": ", 1)[-1].split("; ")[0][:80]

    rows = []
    for (fam, backend, option), g in table.groupby(["family", "backend", "option"], sort=False):
        records = g.to_dict("records")
        if all(r["status"] in ("missing", "unsupported") for r in records) and (g.statistics == "-").all():
            rows.append(dict(zip(_TABLE_COLUMNS, [fam, "(every product)", backend, option] + [""] * 8
                                 + [reason(records[0])])))
            continue
        for r in records:
            if r["status"] == "unsupported":
                r = {**{c: "" for c in _TABLE_COLUMNS[4:]}, **{c: r[c] for c in _TABLE_COLUMNS[:4]},
                     "status": reason(r)}
            rows.append({c: r[c] for c in _TABLE_COLUMNS})
    frame = pd.DataFrame(rows, columns=list(_TABLE_COLUMNS))
    return _table(frame, _TABLE_COLUMNS)


def _metadata(**extra) -> dict:
    import jax
    import numpy

    return dict(machine=machine_label(), platform=platform.platform(), processor=platform.processor(),
                cpus=os.cpu_count(), python=sys.version.split()[0], jax=jax.__version__, numpy=numpy.__version__,
                devices=[str(d) for d in jax.devices()], date=datetime.now(timezone.utc).isoformat(), **extra)


def _add_catalogue(sub):
    p = sub.add_parser("catalogue", help="list every operator family, its products and the backends")
    p.set_defaults(func=cmd_catalogue)


def _add_validate(sub):
    from .peers import backends
    from .catalogue import families

    names = [f.name for f in families()]
    backend_names = [b.name for b in backends()] + ["all"]
    p = sub.add_parser("validate", help="check every operator against its NumPy float64 reference "
                                        "(native unless --backend)")
    p.add_argument("--family", action="append", choices=names, metavar="NAME",
                   help=f"only this family (repeatable); one of: {', '.join(names)}")
    p.add_argument("--backend", action="append", metavar="NAME",
                   help="validate this backend (repeatable; default: native); "
                        f"one of: {', '.join(backend_names)}")
    p.add_argument("--gate", action="append", metavar="BACKEND",
                   help="a backend whose failures fail the run (repeatable); native always does")
    p.add_argument("--profile", choices=("quick", "thorough"), default="quick")
    p.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), metavar="N",
                   help="families checked in N processes at once (default: 2, or 1 on one core)")
    add_output_args(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_validate, default_backends=["native"])


def _add_bench(sub):
    from .harness.bench import add_parser

    add_parser(sub)


def _add_report(sub):
    from .harness.report import add_parser

    add_parser(sub)


def _add_run(sub):
    from .harness.run import add_parser

    add_parser(sub)


def _add_spiketimes(sub):
    from .harness.spiketimes import add_parser

    add_parser(sub)


#: each entry adds its sub-commands to the parser: one line per command module
COMMANDS = [
    _add_catalogue,
    _add_validate,
    _add_bench,
    _add_report,
    _add_run,
    _add_spiketimes,
]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="evbench", description="Validation and benchmarks of event-driven operators.")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in COMMANDS:
        add(sub)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
