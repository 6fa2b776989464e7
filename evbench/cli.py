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
    from ._io import write_frame, write_json
    from .validate import validate

    t0 = time.perf_counter()
    frame = validate(args.family or None, profile=args.profile, progress=not args.no_progress)
    seconds = time.perf_counter() - t0
    print(_table(frame, ["family", "product", "event_driven", "cases", "max_error", "tolerance",
                         "worst_ratio", "status"]))
    failed = frame[frame.status != "pass"]
    for row in failed.itertuples():
        print(f"\nFAIL {row.family} {row.product}: {row.failed}/{row.cases} cases; smallest: {row.failing_case}\n"
              f"reproduce with:\n{row.reproduce}")
    out_dir = Path(args.out) / machine_label()
    stem = out_dir / f"validate-{args.profile}-{_stamp()}"
    csv, js = write_frame(stem, frame)
    write_json(stem.with_suffix(".meta.json"), _metadata(seconds=seconds, profile=args.profile))
    n_fail = int((frame.status != "pass").sum())
    print(f"\n{len(frame)} family × product rows, {int(frame.cases.sum())} checks, {n_fail} failing, "
          f"{seconds:.0f} s. Written: {csv} and {js}")
    return 1 if n_fail else 0


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
    from .catalogue import families

    names = [f.name for f in families()]
    for name, helptext in (("validate", "check every operator against its NumPy float64 reference"),
                           ("run", "the main job: everything evbench measures on this machine (now: validation)")):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("--family", action="append", choices=names, metavar="NAME",
                       help=f"only this family (repeatable); one of: {', '.join(names)}")
        p.add_argument("--profile", choices=("quick", "thorough"), default="quick")
        p.add_argument("--out", default="results", help="results directory (default: results)")
        p.add_argument("--no-progress", action="store_true", help="no progress bar")
        p.set_defaults(func=cmd_validate)


#: each entry adds its sub-commands to the parser: one line per command module
COMMANDS = [
    _add_catalogue,
    _add_validate,
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
