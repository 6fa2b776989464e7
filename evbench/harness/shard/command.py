"""``evbench sharded``: the sharded products validated, timed over the number of devices, run
inside the E/I network, and modelled past this machine.

``evbench sharded validate|bench|network --devices 8`` asks XLA for that many virtual CPU
devices (before JAX starts: :func:`evbench.ops.shard.virtual_cpu_devices`) where there is one
CPU; on a machine with several accelerators it uses those it sees. ``evbench sharded model``
fits the model of :mod:`.model` to a ``sharded-bench`` table (default: the newest) and the
newest ``sharded-collectives`` table (``evbench sharded collectives``: the two collectives alone
over message sizes), and writes its fits and projections: a fit that is not physical or has no
more points than parameters is refused (its ``status`` and ``reason`` say why) and nothing is
projected from it; when nothing can be projected the command exits 1. Each writes
``sharded-<what>-<profile or grid>-<stamp>.csv`` and ``.json`` plus ``.meta.json`` into
``results/<machine>/``.

The arguments follow the other commands' rules (:mod:`evbench.cli`): ``--family`` is repeatable
and takes ``all``; ``--devices`` is the most devices any part runs on (the profile's meshes
above it are left out); an option the part does not take (:data:`APPLIES`), a family it cannot
run, a results table that is missing or damaged: an ``error:`` line, exit status 2, before any
work.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..results import (
    TABLES, DamagedTable, Output, Transaction, UsageError, metadata, newest_files, read_table, stamp,
)
from .bench import BENCH_COLUMNS, COLLECTIVE_COLUMNS, SHARDED_GRIDS
from .network import NETWORK_COLUMNS, SHARDED_NETWORK_PROFILES
from .validate import SHARDED_VALIDATION_PROFILES

WHAT = ("validate", "bench", "collectives", "network", "model")

#: the tables this command writes (declared in :data:`evbench.harness.results.TABLES`)
SHARD_TABLES = {key: TABLES.get(f"sharded-{key}")
                for key in ("validate", "bench", "collectives", "network", "model-local", "model-comm",
                            "model-projection")}


@dataclass
class ShardedOptions:
    what: str = "validate"
    #: the most devices to run on (virtual CPU devices where JAX has only a CPU); None: 8
    devices: int | None = None
    #: the validation profile, scaling grid or network profile (default: each one's own)
    profile: str = ""
    #: families (none, or "all": every one the part takes); ``model``: those whose local cost
    #: the projection uses (default :data:`MODEL_FAMILIES`)
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


#: the parts each option applies to (an option given to another part is refused, never ignored)
APPLIES = {"--devices": ("validate", "bench", "collectives", "network"), "--profile": ("validate", "bench", "network"),
           "--family": ("validate", "bench", "network", "model"), "--source": ("model",)}
DEFAULT_DEVICES = 8
#: the meshes the collectives are timed on (up to ``--devices``)
COLLECTIVE_MESHES = (2, 4, 8, 16, 32, 64)


def _given(options: ShardedOptions) -> dict:
    return {"--devices": options.devices is not None, "--profile": bool(options.profile),
            "--family": bool(options.families), "--source": bool(options.source)}


def resolve_options(options: ShardedOptions):
    """The profile (or grid) of ``options``, and its families checked; :class:`UsageError`
    naming a bad value or an option the part does not take."""
    from ...catalogue import FAMILIES
    from ...spiking.ei import NETWORK_FAMILIES
    from .validate import sharded_families

    if options.what not in WHAT:
        raise UsageError(f"what must be one of {WHAT}, got {options.what!r}")
    for flag, given in _given(options).items():
        if given and options.what not in APPLIES[flag]:
            raise UsageError(f"{flag} does not apply to `evbench sharded {options.what}` (only to "
                             f"{', '.join(APPLIES[flag])})")
    if options.devices is not None and options.devices < 1:
        raise UsageError(f"--devices must be >= 1, got {options.devices}")
    try:
        names = [f.name for f in FAMILIES.select(options.families)] if options.families else []
    except ValueError as exc:
        raise UsageError(f"--family: {exc}") from None
    takes = {"bench": [f.name for f in sharded_families()], "network": list(NETWORK_FAMILIES),
             "model": [f.name for f in sharded_families()]}.get(options.what)
    if takes is not None and "all" not in options.families:
        bad = [n for n in names if n not in takes]
        if bad:
            raise UsageError(f"--family {bad[0]}: `evbench sharded {options.what}` takes {', '.join(takes)}"
                             + (" (a COO list is unordered: it cannot be sharded)" if "coo" in bad else ""))
    if options.what in ("model", "collectives"):
        return None
    name = options.profile or DEFAULT_PROFILE[options.what]
    try:
        return _registry(options.what).get(name)
    except (KeyError, ValueError) as exc:
        raise UsageError(str(exc)) from None


def _selected(options: ShardedOptions, takes, default=None) -> tuple:
    """The families of ``options`` among ``takes``: all of them for "all", ``default`` (or all
    of them) when none is named."""
    if not options.families:
        return tuple(takes if default is None else default)
    if "all" in options.families:
        return tuple(takes)
    return tuple(f for f in takes if f in options.families)


def _meshes(sizes, devices: int, what: str) -> tuple:
    """The mesh sizes of a profile up to ``--devices``; :class:`UsageError` when none is left."""
    kept = tuple(D for D in sizes if D <= devices)
    if not kept:
        raise UsageError(f"--devices {devices}: the {what} runs on {', '.join(map(str, sizes))} devices")
    return kept


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
    import dataclasses

    prof = resolve_options(options)
    devices = options.devices or DEFAULT_DEVICES
    if prof is not None:  # the profile's meshes up to --devices, its families those asked for
        prof = dataclasses.replace(prof, **_narrowed(options, prof, devices))
    if options.what == "collectives":
        _meshes(COLLECTIVE_MESHES, devices, "collectives' sweep")
    folder = options.output.check()
    t0 = time.perf_counter()
    if options.what == "model":
        frames, tag = _model(options, folder)
    else:
        _devices(devices)
        frames, tag = _measure(options, prof, devices)
    seconds = time.perf_counter() - t0
    st = stamp()
    files = []
    with Transaction() as tx:
        for key, frame in frames.items():
            files += list(tx.table(SHARD_TABLES[key], frame, folder, tag or "fit", st))
        files.append(tx.meta(folder / f"sharded-{options.what}-{tag or 'fit'}-{st}.meta.json",
                             metadata(seconds=seconds, what=options.what, profile=tag, source=options.source,
                                      **({} if options.what == "model" else {"devices_asked": devices}))))
    code = _summarise(options.what, frames)
    print(f"{seconds:.0f} s. Written: {', '.join(str(f) for f in files[:-1])}")
    return ShardedOutcome(code, frames, files, seconds)


def _narrowed(options: ShardedOptions, prof, devices: int) -> dict:
    """The profile's fields narrowed by ``--devices`` and ``--family``."""
    from ...spiking.ei import NETWORK_FAMILIES
    from .bench import ShardedGrid
    from .network import ShardedNetworkProfile
    from .validate import ShardedValidationProfile

    if isinstance(prof, ShardedValidationProfile):
        return dict(meshes=_meshes(prof.meshes, devices, f"{prof.name} validation"))
    if isinstance(prof, ShardedGrid):
        return dict(devices=_meshes(prof.devices, devices, f"{prof.name} grid"))
    if isinstance(prof, ShardedNetworkProfile):
        return dict(devices=_meshes(prof.devices, devices, f"{prof.name} network"),
                    families=_selected(options, NETWORK_FAMILIES, prof.families))
    return {}


def _measure(options: ShardedOptions, prof, devices: int):
    """The tables of ``validate``, ``bench``, ``collectives`` or ``network`` and their tag."""
    import pandas as pd

    if options.what == "collectives":
        from .bench import collective_rows

        rows = collective_rows(_meshes(COLLECTIVE_MESHES, devices, "collectives' sweep"), progress=options.progress)
        return {"collectives": pd.DataFrame(rows, columns=list(COLLECTIVE_COLUMNS))}, "sizes"
    families = None if not options.families or "all" in options.families else list(options.families)
    if options.what == "validate":
        from .validate import validate

        return {"validate": validate(prof, families, progress=options.progress)}, prof.name
    if options.what == "bench":
        from .bench import run

        rows = run(prof, families=families, progress=options.progress)
        return {"bench": pd.DataFrame(rows, columns=list(BENCH_COLUMNS))}, prof.name
    from .network import network_rows

    rows = network_rows(prof, progress=options.progress)
    return {"network": pd.DataFrame(rows, columns=list(NETWORK_COLUMNS))}, prof.name


def _source(path: Path, key: str):
    """A table the model reads; :class:`UsageError` naming it when it is missing or damaged."""
    try:
        return read_table(path, SHARD_TABLES[key])
    except (OSError, DamagedTable) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise UsageError(f"cannot read the sharded-{key} table {str(path)!r}: {why}") from None


def _model(options, folder):
    from .model import fit_comm, fit_local, project
    from .validate import sharded_families

    source = Path(options.source) if options.source else None
    if source is None:
        found = newest_files(folder, SHARD_TABLES["bench"])
        if not found:
            raise UsageError(f"no sharded-bench table in {folder}: run `evbench sharded bench` first, or name one")
        source = found[-1]
    bench = _source(source, "bench")
    found = newest_files(folder, SHARD_TABLES["collectives"])
    sizes = _source(found[-1], "collectives") if found else None
    options.source = ";".join([str(source)] + ([str(found[-1])] if found else []))
    # the collectives over message sizes where they were measured, else the products' own
    local, comm = fit_local(bench), fit_comm(bench if sizes is None else sizes)
    vecmat = local[(local["product"] == "vecmat") & local.event_driven.astype(bool)]
    asked = _selected(options, [f.name for f in sharded_families()], ())
    pick = vecmat[vecmat.family.isin(asked or MODEL_FAMILIES)]
    if pick.empty and not asked:  # other event-driven events @ M, in catalogue order
        pick = vecmat
    if pick.empty:
        raise UsageError(f"{source} has no event-driven events @ M timings"
                         + (f" of {', '.join(asked)}" if asked else "") + " to fit")
    frames = {"model-local": local, "model-comm": comm}
    usable = pick[pick.status == "ok"]  # a refused fit projects nothing
    if len(usable):
        frames["model-projection"] = project(
            {f"{r.family} events @ M, one core here": r.c_s_per_synapse for r in usable.itertuples()}, comm)
    return frames, "fit"


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
        print(frames[key].drop(columns=["reason"]).to_string(index=False))
    local, comm = frames["model-local"], frames["model-comm"]
    for what, r in ([(f"{r.family} {r.product}", r) for r in local[local.status != "ok"].itertuples()]
                    + [(r.communication, r) for r in comm[comm.status != "ok"].itertuples()]):
        print(f"evbench sharded: warning: fit of {what} refused: {r.reason}", file=sys.stderr)
    if "model-projection" not in frames:
        print("evbench sharded: error: nothing projected: every local cost the projection uses was refused "
              "(see the warnings; a sweep over more sizes gives more points)", file=sys.stderr)
        return 1
    return 0
