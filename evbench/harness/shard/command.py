"""``evbench sharded``: the sharded products validated, timed over the number of devices, run
inside the E/I network, and modelled past this machine.

``evbench sharded validate|bench|network --devices 8`` asks XLA for that many virtual CPU
devices (before JAX starts: :func:`evbench.ops.shard.virtual_cpu_devices`) where there is one
CPU; on a machine with several accelerators it uses those it sees. ``evbench sharded model``
fits the model of :mod:`.model` to a ``sharded-bench`` table (default: the newest) and the
newest ``sharded-collectives`` table (``evbench sharded collectives``: the two collectives alone
over message sizes), and writes its fits and projections. Each writes ``sharded-<what>-<profile or grid>-<stamp>.csv`` and
``.json`` plus ``.meta.json`` into ``results/<machine>/``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from ..results import TABLES, Output, Transaction, UsageError, metadata, newest_files, read_table, stamp
from .bench import BENCH_COLUMNS, COLLECTIVE_COLUMNS, SHARDED_GRIDS
from .network import NETWORK_COLUMNS, SHARDED_NETWORK_PROFILES
from .validate import SHARDED_VALIDATION_PROFILES, VALIDATE_COLUMNS

WHAT = ("validate", "bench", "collectives", "network", "model")

#: the tables this command writes (declared in :data:`evbench.harness.results.TABLES`)
SHARD_TABLES = {key: TABLES.get(f"sharded-{key}")
                for key in ("validate", "bench", "collectives", "network", "model-local", "model-comm",
                            "model-projection")}


@dataclass
class ShardedOptions:
    what: str = "validate"
    #: devices to run on (virtual CPU devices where JAX has only a CPU)
    devices: int = 8
    #: the validation profile, scaling grid or network profile (default: each one's own)
    profile: str = ""
    families: list = field(default_factory=list)
    #: ``model``: the sharded-bench table to fit (default: the newest in the output folder)
    source: str = ""
    output: Output = field(default_factory=Output)
    progress: bool = True


@dataclass
class ShardedOutcome:
    code: int
    frames: dict
    files: list
    seconds: float


#: the families whose local cost per synaptic event the projections use: the E/I network's
#: stored (a Bernoulli CSR) and generated connectivity
MODEL_FAMILIES = ("fixed_prob", "jitc_scalar_r")
DEFAULT_PROFILE = {"validate": "full", "bench": "scaling", "collectives": "", "network": "quick", "model": ""}


def _registry(what):
    return {"validate": SHARDED_VALIDATION_PROFILES, "bench": SHARDED_GRIDS, "network": SHARDED_NETWORK_PROFILES}[what]


def resolve_options(options: ShardedOptions):
    """The profile (or grid) of ``options``; :class:`UsageError` naming a bad value."""
    from ...catalogue import FAMILIES

    if options.what not in WHAT:
        raise UsageError(f"what must be one of {WHAT}, got {options.what!r}")
    if options.devices < 1:
        raise UsageError(f"--devices must be >= 1, got {options.devices}")
    bad = [f for f in options.families if f not in FAMILIES.names()]
    if bad:
        raise UsageError(f"unknown family {bad[0]!r}; valid: {', '.join(FAMILIES.names())}")
    if options.what in ("model", "collectives"):
        return None
    name = options.profile or DEFAULT_PROFILE[options.what]
    try:
        return _registry(options.what).get(name)
    except (KeyError, ValueError) as exc:
        raise UsageError(str(exc)) from None


def _devices(n: int) -> None:
    """``n`` devices: virtual CPU ones where JAX has only a CPU (before it starts)."""
    import jax

    from ...ops.shard import virtual_cpu_devices

    try:
        virtual_cpu_devices(n)
    except RuntimeError as exc:
        raise UsageError(str(exc)) from None
    if len(jax.devices()) < n:
        raise UsageError(f"--devices {n}: JAX sees {len(jax.devices())} devices")
    jax.config.update("jax_enable_x64", True)


def run_command(options: ShardedOptions) -> ShardedOutcome:
    """Run one part of ``evbench sharded`` and write its tables."""
    import pandas as pd

    prof = resolve_options(options)
    folder = options.output.check()
    t0 = time.perf_counter()
    if options.what == "model":
        frames, tag = _model(options, folder)
    elif options.what == "collectives":
        from .bench import collective_rows

        _devices(options.devices)
        tag = "sizes"
        frames = {"collectives": pd.DataFrame(collective_rows(tuple(d for d in (2, 4, 8, 16, 32, 64)
                                                                    if d <= options.devices),
                                                              progress=options.progress),
                                              columns=list(COLLECTIVE_COLUMNS))}
    else:
        _devices(options.devices)
        tag = prof.name
        if options.what == "validate":
            frames = {"validate": _validate(prof, options)}
        elif options.what == "bench":
            from .bench import run

            frames = {"bench": pd.DataFrame(run(prof, families=options.families or None,
                                                progress=options.progress), columns=list(BENCH_COLUMNS))}
        else:
            from .network import network_rows

            frames = {"network": pd.DataFrame(network_rows(prof, progress=options.progress),
                                              columns=list(NETWORK_COLUMNS))}
    seconds = time.perf_counter() - t0
    st = stamp()
    files = []
    with Transaction() as tx:
        for key, frame in frames.items():
            files += list(tx.table(SHARD_TABLES[key], frame, folder, tag or "fit", st))
        files.append(tx.meta(folder / f"sharded-{options.what}-{tag or 'fit'}-{st}.meta.json",
                             metadata(seconds=seconds, what=options.what, profile=tag, source=options.source)))
    code = _summarise(options.what, frames)
    print(f"{seconds:.0f} s. Written: {', '.join(str(f) for f in files[:-1])}")
    return ShardedOutcome(code, frames, files, seconds)


def _validate(prof, options):
    from .validate import validate

    return validate(prof, options.families or None, progress=options.progress)


def _model(options, folder):
    from .model import fit_comm, fit_local, project

    source = Path(options.source) if options.source else None
    if source is None:
        found = newest_files(folder, SHARD_TABLES["bench"])
        if not found:
            raise UsageError(f"no sharded-bench table in {folder}: run `evbench sharded bench` first, or name one")
        source = found[-1]
    bench = read_table(source, SHARD_TABLES["bench"])
    found = newest_files(folder, SHARD_TABLES["collectives"])
    sizes = read_table(found[-1], SHARD_TABLES["collectives"]) if found else None
    options.source = ";".join([str(source)] + ([str(found[-1])] if found else []))
    # the collectives over message sizes where they were measured, else the products' own
    local, comm = fit_local(bench), fit_comm(bench if sizes is None else sizes)
    vecmat = local[(local["product"] == "vecmat") & local.event_driven]
    pick = vecmat[vecmat.family.isin(MODEL_FAMILIES)]
    if pick.empty:  # other event-driven events @ M, in catalogue order
        pick = vecmat
    if pick.empty:
        raise UsageError(f"{source} has no event-driven events @ M timings to fit")
    projection = project({f"{r.family} events @ M, one core here": r.c_s_per_synapse for r in pick.itertuples()},
                         comm)
    return {"model-local": local, "model-comm": comm, "model-projection": projection}, "fit"


def _summarise(what, frames) -> int:
    """Print what was found; the exit code (1 when a check failed or a case raised)."""
    from ..console import fixed_width

    if what == "validate":
        f = frames["validate"]
        ran = f[f.status != "unsupported"]
        print(ran.groupby(["n_devices", "check"]).status.value_counts().unstack(fill_value=0).to_string())
        bad = ran[ran.status != "pass"]
        if len(bad):
            print(fixed_width(bad, ["family", "options", "product", "n_devices", "axis", "check", "status",
                                    "failing_case"]))
        return int(len(bad) > 0)
    if what == "bench":
        f = frames["bench"]
        ok = f[f.status == "ok"]
        if len(ok):
            table = ok.pivot_table(index=["family", "product", "scaling"], columns="n_devices",
                                   values="total_median_s", sort=False)
            print("median seconds per sharded product, by number of devices:")
            print(table.to_string(float_format=lambda v: f"{v:.2e}"))
        return int((f.status == "error").any())
    if what == "collectives":
        f = frames["collectives"]
        print(f.pivot_table(index=["communication", "elements_per_device"], columns="n_devices",
                            values="comm_median_s", sort=False).to_string(float_format=lambda v: f"{v:.2e}"))
        return 0
    if what == "network":
        f = frames["network"]
        print(fixed_width(f, ["model", "family", "weights", "axis", "dtype", "n_devices", "identical",
                              "first_input_difference_step", "wall_per_sim_s", "unsharded_wall_per_sim_s",
                              "bytes_per_device_per_step", "status"]))
        return int(((f.status != "ok") | (f.identical == False)).any())  # noqa: E712 (NaN-safe)
    for key in ("model-local", "model-comm"):
        print(frames[key].to_string(index=False))
    return 0


def add_parser(sub) -> None:
    """The ``sharded`` sub-command (for :mod:`evbench.cli`)."""
    p = sub.add_parser("sharded", help="sharded products over several devices: validate, bench, network, model",
                       description=__doc__.split("\n\n")[0])
    p.add_argument("what", choices=WHAT)
    p.add_argument("--devices", type=int, default=8, metavar="N",
                   help="devices to run on (virtual CPU devices where JAX has only a CPU; default 8)")
    p.add_argument("--profile", default="", metavar="NAME",
                   help="validate: full|ci; bench: scaling|asv|tiny; network: quick|tiny (collectives, model: none)")
    p.add_argument("--family", action="append", default=[], metavar="NAME", help="only this family (repeatable)")
    p.add_argument("--source", default="", metavar="CSV", help="model: the sharded-bench table (default: newest)")
    p.add_argument("--out", default="results", help="results root: files go to OUT/<machine>/ (default: results)")
    p.add_argument("--into", metavar="DIR", default=None, help="write the files into DIR itself")
    p.add_argument("--no-progress", action="store_true")

    def run(args):
        return run_command(ShardedOptions(args.what, args.devices, args.profile, args.family, args.source,
                                   output=Output(args.out, args.into), progress=not args.no_progress))

    p.set_defaults(run=run)
