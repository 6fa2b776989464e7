"""``evbench spiketimes``: are the spikes right? Exact, stepped and E/I comparisons, as tables.

Writes, in the output folder (``results/<machine>/`` by default), one tidy table per
comparison as ``spiketimes-<table>-<profile>-<UTC stamp>.csv`` and ``.json`` (records), and
``spiketimes-<profile>-<stamp>.meta.json`` (machine, versions, the profile's sizes, seconds per
table). All times are in ms (networks use ``tau_m = 10 ms``; the E/I networks ``20 ms``).

Tables and columns
------------------

``exact`` — SparseProp (``evbench.spiking.sparseprop``) against the naive exact reference
(``reference.spiking``) on ``sparseprop.balanced_network(n, k)`` (inhibitory, ``k`` synapses per
neuron; QIF coupling ``j0 = 0.3``, LIF ``j0 = 1``), ``n_spikes`` spikes from random phases:
  model, n, k, delay (ms), t_ref (ms), n_spikes (spikes compared: the shorter run's count),
  identical_indices (bool: the same neuron sequence and length), max_rel_time_error
  (``max |t_a - t_b| / max(|t_a|, tau_m)``), first_mismatch (first spike whose neuron differs, or
  the shorter length when one run has more spikes; -1 if none), status ("pass": identical
  indices and max_rel_time_error <= 1e-12; else "FAIL"), j0, seconds_reference,
  seconds_sparseprop.

``convergence`` — the stepped network (``evbench.spiking.stepped``) against SparseProp on the same
network (LIF ``j0 = 1``, QIF ``j0 = 0.3``), per backend, interpolation and dt. Spikes are paired
neuron by neuron in order; a pair further apart than ``tau_m / 10`` (1 ms), or a spike without a
partner (other than within 1 ms of the end), is a divergence:
  model, backend, mode (the backend mode used), interpolate (bool: interpolation != "none"),
  interpolation ("none", "linear", "exact"), dt_ms, n_spikes_ref (exact spikes in the run),
  n_spikes_stepped, n_matched (pairs before the first divergence), mean_abs_error_ms and
  max_abs_error_ms (over those pairs), first_divergence_ms (the earliest time of a divergence; NaN
  when none within the run), t_end_ms, seconds (wall time of the stepped run, compilation
  included), status ("ok", "unsupported", "error"), reason, window_ms (the earliest
  first_divergence_ms over the dt values of this model, backend and interpolation, else the run's
  end: the window in which every dt's spikes are still paired), n_window (pairs in that window),
  mean_abs_error_window_ms (their mean error: the same spikes for every dt).

``order`` — the convergence order: the least-squares slope of ``log(mean_abs_error_window_ms)``
against ``log(dt_ms)`` over the dt values of one (model, backend, interpolation) — the error of
the same spikes at every dt, those before the group's earliest divergence — counting the dt
values with at least 5 such pairs and an error above the rounding floor (``1e-9 ms``; exact
inversion of an LIF network reaches it):
  model, backend, interpolate, interpolation, order (NaN with fewer than 2 points), order_stderr
  (the slope's standard error; NaN with fewer than 3 points), n_points, window_ms,
  n_spikes_window (the fewest pairs in the window over the dt values).

``operators`` — stepped with an event-driven operator against stepped with the dense operator
(backend ``dense``), same network, dt = 0.1 ms, no interpolation (boolean events):
  model, backend, mode, dtype, n_steps, identical (bool: equal rasters), first_divergent_step
  (-1 if none), first_divergent_neuron (-1 if none), first_divergent_ms (NaN if none),
  first_input_difference_step (first step whose synaptic input differs at all; -1 if none),
  max_input_difference_ulps (before the divergence, in ulps of the larger input), cause (why the
  rasters part: "summation order at threshold" when the membrane value was within a few ulps of
  threshold in one run; "rounding differences amplified by the dynamics" when the summed inputs
  differed only by rounding and the state difference grew until a crossing happened in one run;
  "inputs differ beyond rounding" otherwise; "" when identical), status ("ok", "unsupported",
  "error"), reason.

``statistics`` — a chaotic QIF network (``j0 = 1``) beyond its divergence horizon: the exact run
and a stepped run compared through statistics, after a transient of ``transient_ms``:
  model, impl ("exact" = SparseProp, or "stepped:<backend>"), statistic ("rate_hz": mean rate per
  neuron; "cv_isi": mean over neurons with >= 3 spikes of the ISI coefficient of variation;
  "fano": mean over neurons of the variance/mean of spike counts in 100 ms windows), value,
  ci_low, ci_high (95 % percentile bootstrap over neurons, 2000 resamples), ci_method, n_units
  (neurons entering the statistic), dt_ms (NaN for exact), t_ms (analysed duration),
  divergence_ms (first divergence of the stepped run from the exact one; NaN for exact),
  consistent (stepped rows: the two 95 % intervals overlap).

``scaling`` — per-spike cost of SparseProp and the naive reference against N (LIF, ``k`` = 100,
one core; ``sparseprop.time_run``: the fastest of ``repeat`` runs after a relaxation):
  impl ("sparseprop" or "naive"), model, n, k, n_spikes, seconds, spikes_per_s,
  ns_per_synaptic_update (seconds / (spikes x k) in ns), cpu_seconds (process CPU time of that run: on
  a shared machine wall time includes time the process waited), spikes_per_cpu_s, synaptic_updates.

``ei`` — the Vogels–Abbott COBA/CUBA networks (``evbench.spiking.ei``) per backend and scale:
  model ("coba", "cuba"), backend, family (catalogue family of the connectivity), mode, scale,
  n_neurons, sim_ms (timed simulated time, after as long a warm-up that also compiles),
  compile_s (first call minus a steady call), wall_s, wall_per_sim_s (wall seconds per simulated
  second), rate_exc_hz, rate_inh_hz, in_regime (both rates within ``expected_rate_hz``; see
  ``evbench.spiking.ei`` for the range and its source), expected_rate_hz, status ("ok", "unsupported",
  "too_large": a dense matrix beyond the profile's scale, "too_slow": predicted over 60 s, "error"),
  reason, build_s.

``nest`` (``--against nest``; NEST optional) — evbench's exact simulators (the naive reference and
SparseProp) against NEST's ``iaf_psc_delta_ps`` on three LIF networks, under both rules for
simultaneous pulses: one row per network × simulator × rule; the columns are documented in
:func:`evbench.spiking.nest.nest_rows`. Under NEST's rule (``summed``) a row's status is
``pass`` only when the spike sequences are identical and max |Δt| ≤ 1e-9 ms (the exit status
fails otherwise); under evbench's default (``sequential``) ``identical`` or ``parts``, with the
first divergence and its diagnosed cause.

Profiles: ``quick`` (<= 4 minutes on a 2-core machine), ``thorough`` (1e5
spikes at N = 1e4 for ``exact``, N up to 1e6 for ``scaling``), ``tiny`` (seconds; for tests).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field


from ..registry import Registry
from .results import SPIKETIME_TABLES, TABLES, Output, Transaction, Written, metadata, stamp, usage
from .spikecompare import convergence_rows, exact_rows, operator_rows, order_rows, statistics_rows

#: evbench's own tables, in the order they are made (``--table`` takes these names)
TABLE_NAMES = tuple(t for t in SPIKETIME_TABLES if t != "nest")
#: independent simulators to compare against (``--against``): the table each adds
AGAINST = {"nest": "nest"}
EI_MAX_CASE_S = 60.0


@dataclass(frozen=True)
class SpiketimeProfile:
    name: str
    exact_n: int
    exact_k: int
    exact_spikes: int
    conv_n: int
    conv_k: int
    conv_t_ms: float
    conv_dts: tuple
    conv_backends: tuple
    ops_n: int
    ops_t_ms: float
    ops_dtypes: tuple
    stat_n: int
    stat_t_ms: float
    stat_dt: float
    scale_ns: tuple
    scale_spikes: int
    naive_ns: tuple
    naive_spikes: int
    ei_scales: tuple
    ei_families: tuple
    ei_sim_ms: float
    ei_dense_max_scale: float
    exact_delays: tuple = (0.0, 1.0)
    transient_ms: float = 200.0
    repeat: int = 3


SPIKETIME_PROFILES: Registry[SpiketimeProfile] = Registry("spike-time profile")
for _p in (
    SpiketimeProfile("tiny", 200, 10, 500, 30, 5, 30.0, (0.1, 0.05), ("native",), 40, 20.0,
                    ("float64",), 40, 400.0, 0.05, (1000,), 2000, (1000,), 200, (0.1,), ("fixed_prob",), 10.0, 0.1,
                    transient_ms=50.0, repeat=1),
    SpiketimeProfile("quick", 2000, 100, 10_000, 100, 10, 200.0, (0.1, 0.05, 0.02, 0.01),
                     ("native", "brainevent", "dense"), 200, 200.0, ("float64", "float32"), 500, 2000.0, 0.05,
                     (1000, 10_000, 100_000), 200_000, (1000, 10_000, 100_000), 3000, (0.5, 1.0),
                     ("fixed_prob",), 200.0, 0.5),
    SpiketimeProfile("thorough", 10_000, 100, 100_000, 400, 20, 100.0, (0.2, 0.1, 0.05, 0.02, 0.01, 0.005),
                        ("native", "brainevent", "dense"), 400, 1000.0, ("float64", "float32"), 2000, 10_000.0,
                        0.05, (1000, 10_000, 100_000, 1_000_000), 1_000_000, (1000, 10_000, 100_000, 1_000_000),
                        5000, (0.5, 1.0, 2.0, 4.0), ("fixed_prob", "jitc_scalar_r"), 500.0, 0.5),
):
    SPIKETIME_PROFILES.register(_p)


# ----------------------------------------------------------------------------- scaling, E/I


def scaling_rows(pr: SpiketimeProfile, tick):
    from ..spiking import sparseprop as sp

    rows = []
    for impl, ns, spikes in (("sparseprop", pr.scale_ns, pr.scale_spikes), ("naive", pr.naive_ns, pr.naive_spikes)):
        for n in ns:
            r = sp.time_run(n, 100, spikes, "lif", impl="sparseprop" if impl == "sparseprop" else "reference",
                           repeat=pr.repeat if impl == "sparseprop" else 1)
            rows.append(dict(impl=impl, model="lif", n=n, k=100, n_spikes=r["n_spikes"], seconds=r["seconds"],
                             spikes_per_s=r["spikes_per_s"], ns_per_synaptic_update=r["ns_per_synaptic_update"],
                             cpu_seconds=r["cpu_seconds"], spikes_per_cpu_s=r["n_spikes"] / r["cpu_seconds"],
                             synaptic_updates=r["synaptic_updates"]))
            tick(f"scaling {impl} n={n}")
    return rows


def ei_rows(pr: SpiketimeProfile, tick):
    """The ``ei`` table. A case predicted to take longer than ``EI_MAX_CASE_S`` (its backend's wall
    time per simulated second at the previous scale, times the squared scale ratio: the synapses
    grow as n²) is recorded as ``too_slow`` instead of run."""
    from ..spiking import ei
    from ..peers import BACKENDS

    rows = []
    for family in pr.ei_families:
        for model in ei.MODELS:
            last = {}
            for scale in pr.ei_scales:
                for be in BACKENDS.all():
                    n_exc, n_inh = ei.sizes(scale)
                    skip = dict(model=model, backend=be.name, family=family, scale=scale, n_neurons=n_exc + n_inh,
                                sim_ms=pr.ei_sim_ms, in_regime=False)
                    prev = last.get(be.name)
                    predicted = (prev[1] * (scale / prev[0]) ** 2 * 2 * pr.ei_sim_ms / 1000.0) if prev else 0.0
                    if be.materialises and scale > pr.ei_dense_max_scale:
                        rows.append(dict(skip, status="too_large",
                                         reason=f"dense matrices of {ei.dense_bytes(scale) / 2**20:.0f} MiB, "
                                                f"O(n²) per step: beyond scale {pr.ei_dense_max_scale} in this profile"))
                    elif predicted > EI_MAX_CASE_S:
                        rows.append(dict(skip, status="too_slow",
                                         reason=f"predicted {predicted:.0f} s from scale {prev[0]} "
                                                f"(> {EI_MAX_CASE_S:.0f} s per case)"))
                    else:
                        row = ei.case_row(model, scale, be.name, family=family, sim_ms=pr.ei_sim_ms)
                        if row["status"] == "ok":
                            last[be.name] = (scale, row["wall_per_sim_s"])
                        rows.append(row)
                    tick(f"ei {model} {family} {be.name} scale={scale}")
    return rows


# ----------------------------------------------------------------------------- command


def run_all(pr: SpiketimeProfile, *, progress: bool = True, tables=TABLE_NAMES) -> tuple[dict, dict]:
    """Every table of the profile: ``({name: DataFrame}, {name: seconds})``."""
    import pandas as pd
    from tqdm.auto import tqdm

    from ..peers import BACKENDS

    from ..spiking import nest

    n_backends = len(BACKENDS.all())
    counts = dict(nest=nest.n_ticks(), exact=2 * (len(pr.exact_delays) + 1),
                  convergence=2 * len(pr.conv_backends) * 3 * len(pr.conv_dts), order=0,
                  operators=2 * len(pr.ops_dtypes) * (n_backends - 1), statistics=2,
                  scaling=len(pr.scale_ns) + len(pr.naive_ns),
                  ei=len(pr.ei_families) * 2 * len(pr.ei_scales) * n_backends)
    bar = tqdm(total=sum(counts[t] for t in tables), desc=f"evbench spiketimes ({pr.name})", unit="run",
               disable=not progress, dynamic_ncols=True)

    def tick(text):
        bar.set_postfix_str(text, refresh=False)
        bar.update(1)

    out, seconds = {}, {}
    makers = dict(exact=exact_rows, convergence=convergence_rows, operators=operator_rows,
                  statistics=statistics_rows, scaling=scaling_rows, ei=ei_rows, nest=nest_rows)
    for name in tables:
        t = time.perf_counter()
        if name == "order":
            conv = out.get("convergence")
            out[name] = pd.DataFrame(order_rows(conv) if conv is not None else [],
                                     columns=list(TABLES.get("spiketimes-order").columns))
        else:
            out[name] = pd.DataFrame(makers[name](pr, tick))
        seconds[name] = time.perf_counter() - t
    bar.close()
    return out, seconds


def nest_rows(pr: SpiketimeProfile, tick):
    """The ``nest`` table: evbench's exact simulators against NEST under both rules for
    simultaneous pulses (:func:`evbench.spiking.nest.nest_rows`), at this profile's sizes."""
    from ..spiking import nest

    return nest.nest_rows(nest.NEST_SIZES[pr.name], tick=tick)


@dataclass
class SpiketimesOptions:
    """``evbench spiketimes``: the profile, which of evbench's tables (none: every one, unless
    ``against`` names a simulator: then only its table), independent simulators to compare
    against (``"nest"``), where the results go."""

    profile: str = "quick"
    tables: list = field(default_factory=list)
    output: Output = field(default_factory=Output)
    progress: bool = True
    against: list = field(default_factory=list)


@dataclass
class SpiketimesOutcome:
    code: int
    frames: dict
    written: Written
    seconds: float

    @property
    def result(self) -> str:
        text = f"{len(self.frames)} tables: {', '.join(self.frames)}"
        exact = self.frames.get("exact")
        if exact is not None and len(exact):
            text += f"; exact: {int((exact['status'] == 'pass').sum())}/{len(exact)} identical"
        nest = self.frames.get("nest")
        if nest is not None and len(nest):
            summed = nest[nest["rule"] == "summed"]
            text += f"; against NEST (summed rule): {int((summed['status'] == 'pass').sum())}/{len(summed)} identical"
        return text


@usage
def resolve_options(options: SpiketimesOptions) -> tuple:
    """The profile and the tables of ``options`` (``order`` brings ``convergence``, whose rows
    it fits); ``ValueError`` naming a bad name."""
    pr = SPIKETIME_PROFILES.get(options.profile)
    unknown = [t for t in options.tables if t not in TABLE_NAMES and t != "all"]
    if unknown:
        raise ValueError(f"unknown spike-time table{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
                         f"valid: {', '.join(TABLE_NAMES)}, all")
    bad = [a for a in options.against if a not in AGAINST]
    if bad:
        raise ValueError(f"unknown simulator to compare against {', '.join(map(repr, bad))}; valid: {', '.join(AGAINST)}")
    if options.tables and "all" not in options.tables:
        tables = tuple(options.tables)
    else:
        tables = () if options.against and not options.tables else TABLE_NAMES
    if "order" in tables and "convergence" not in tables:
        tables = tuple(t for t in TABLE_NAMES if t in tables or t == "convergence")
    if "nest" in options.against:
        from ..spiking.nest import nest_missing

        missing = nest_missing()
        if missing:
            raise ValueError(f"--against nest: {missing}")
        tables = tables + (AGAINST["nest"],)
    return pr, tables


def run_command(options: SpiketimesOptions) -> SpiketimesOutcome:
    """Make the tables, write ``spiketimes-<table>-<profile>-<stamp>`` each and the metadata,
    print a summary. Exit code 1 when SparseProp and the naive reference disagree."""
    import jax

    from .console import fixed_width

    pr, tables = resolve_options(options)
    folder = options.output.check()
    jax.config.update("jax_enable_x64", True)
    t0 = time.perf_counter()
    frames, seconds = run_all(pr, progress=options.progress, tables=tables)
    total = time.perf_counter() - t0
    st = stamp()
    written = Written()
    with Transaction() as tx:
        for name, frame in frames.items():
            written.tables[name] = tx.table(TABLES.get(f"spiketimes-{name}"), frame, folder, options.profile, st)
        written.meta = tx.meta(folder / f"spiketimes-{options.profile}-{st}.meta.json",
                               metadata(seconds=total, profile=options.profile, table_seconds=seconds,
                                        tables=list(frames), sizes=dict(pr.__dict__)))
    print(_summary(frames, fixed_width))
    print(f"\n{total:.0f} s. Written: {2 * len(frames)} files in {folder} "
          f"(spiketimes-*-{options.profile}-{st}.*), {written.meta.name}")
    bad = "exact" in frames and (frames["exact"].status != "pass").any()
    if "nest" in frames:  # under NEST's rule evbench must reproduce NEST spike for spike
        summed = frames["nest"][frames["nest"]["rule"] == "summed"]
        bad = bad or (summed.status != "pass").any()
    return SpiketimesOutcome(1 if bad else 0, frames, written, total)


def _summary(frames, table) -> str:
    parts = []
    cols = dict(
        exact=["model", "n", "k", "delay", "t_ref", "n_spikes", "identical_indices", "max_rel_time_error", "status"],
        convergence=["model", "backend", "interpolation", "dt_ms", "n_spikes_ref", "n_matched", "mean_abs_error_ms",
                     "first_divergence_ms"],
        order=["model", "backend", "interpolation", "order", "order_stderr", "n_points"],
        operators=["model", "backend", "dtype", "identical", "first_divergent_step", "cause", "status"],
        statistics=["impl", "statistic", "value", "ci_low", "ci_high", "consistent"],
        scaling=["impl", "n", "n_spikes", "spikes_per_s", "ns_per_synaptic_update"],
        ei=["model", "family", "backend", "scale", "wall_per_sim_s", "rate_exc_hz", "rate_inh_hz", "in_regime",
            "status"],
        nest=["network", "n", "simulator", "rule", "n_spikes", "n_spikes_nest", "identical", "max_abs_dt_ms",
              "first_divergence", "seconds", "seconds_nest", "status"],
    )
    for name, frame in frames.items():
        if frame.empty:
            continue
        f = frame.copy()
        if name == "convergence":
            f = f[f.backend == f.backend.iloc[0]]
        if name == "operators":
            f["cause"] = f["cause"].str.slice(0, 60)
        parts.append(f"== {name}\n" + table(f, [c for c in cols.get(name, f.columns) if c in f.columns]))
    return "\n\n".join(parts)
