"""Spike times against NEST: the same networks in NEST's ``iaf_psc_delta_ps`` and in evbench's simulators.

NEST (``pip install nest-simulator``, optional) is an independent exact simulator of LIF neurons
with delta synapses. Its ``iaf_psc_delta_ps`` has the semantics of ``reference.spiking`` with the
``"summed"`` rule for simultaneous pulses (``SliceRingBuffer::get_next_spike`` with
``accumulate_simultaneous``: weights with the same stamp and offset are added before the threshold
test). Observed in NEST 3.10: the membrane is clamped to ``V_reset`` while refractory (not to
``E_L``), input during refractoriness is discarded, and a pulse arriving exactly as refractoriness
ends is applied (the end is delivered first). NEST needs ``t_ref >= resolution`` and ``delay >=
resolution``, both on the grid.

Units: evbench's time unit is taken as ms and its voltages as mV. The map: ``tau_m``, ``t_ref``,
``E_L = v_rest``, ``V_reset = v_reset``, ``V_th = v_th``, ``V_m = v0``, the synaptic delay, and
``C_m = tau_m`` (pF) so that ``R = tau_m / C_m = 1`` and ``I_e = drive C_m / tau_m = drive`` (pA)
exactly. Weights are mV jumps in both. One thread; spike times are read as (step, offset) pairs.

``nest_rows`` makes the table (one row per network, simulator and rule; columns in its
docstring); ``NEST_SIZES`` holds its sizes. The networks are in ``networks.py``.
"""
from __future__ import annotations

import dataclasses
import math
import os
import time
from dataclasses import dataclass

import numpy as np

from evbench_reference import spiking as ref
from evbench_reference.spiking import Network, SpikeTrain, SpikingParams

from . import divergence as dv
from . import networks as nw
from . import sparseprop as sp

REQUIREMENT = "nest-simulator>=3.10"
MODEL = "iaf_psc_delta_ps"
TICS_PER_MS = 1000  # NEST's default time grain


class NestMissing(ImportError):
    """NEST cannot be imported; the message says how to install it."""


def import_nest():
    """Import NEST without its banner (``PYNEST_QUIET``) and with errors only; or raise ``NestMissing``."""
    os.environ.setdefault("PYNEST_QUIET", "1")
    try:
        import nest
    except ImportError as exc:
        raise NestMissing(
            f"NEST is not installed ({exc}); the comparison against NEST needs it: "
            f"pip install '{REQUIREMENT}' (or see https://nest-simulator.readthedocs.io/en/stable/installation/)"
        ) from exc
    if hasattr(nest, "VerbosityLevel"):
        nest.verbosity = nest.VerbosityLevel.ERROR
    else:  # NEST < 3.10
        nest.set_verbosity("M_ERROR")
    return nest


def nest_missing() -> str | None:
    """``None`` when NEST can be imported, else the reason and how to install it."""
    try:
        import_nest()
    except NestMissing as exc:
        return str(exc)
    return None


def nest_version() -> str:
    return str(import_nest().__version__)


def resolution_for(params: SpikingParams, resolution: float | None = None) -> float:
    """NEST's step in ms: ``resolution``, checked, or else the coarsest grid dividing ``delay`` and ``t_ref``."""
    if params.model != "lif":
        raise ValueError(f"NEST's {MODEL} is an LIF neuron; got model={params.model!r}")
    tics = {}
    for name in ("delay", "t_ref"):
        x = getattr(params, name) * TICS_PER_MS
        if x < 1 or abs(x - round(x)) > 1e-6:
            raise ValueError(f"NEST needs {name} > 0 on its grid of {1 / TICS_PER_MS} ms; got {name}="
                             f"{getattr(params, name)!r} ms")
        tics[name] = round(x)
    if resolution is None:
        return math.gcd(*tics.values()) / TICS_PER_MS
    h = float(resolution) * TICS_PER_MS if isinstance(resolution, (int, float)) else math.nan
    bad = [name for name, x in tics.items() if not (h >= 1 and abs(h - round(h)) <= 1e-6 and x % round(h) == 0)]
    if bad:
        raise ValueError(f"resolution must be a multiple of {1 / TICS_PER_MS} ms dividing delay and t_ref; got "
                         f"resolution={resolution!r} with {bad[0]}={getattr(params, bad[0])!r}")
    return round(h) / TICS_PER_MS


def simulate_nest(network: Network, params: SpikingParams, v0, t_end: float, *, resolution: float | None = None,
                  timings: dict | None = None) -> SpikeTrain:
    """Run ``network`` in NEST (``iaf_psc_delta_ps``, one thread) until ``t_end`` ms.

    Returns the spikes at or before ``t_end`` in canonical order (time, then neuron). ``timings``,
    if given, receives ``build_s`` (create and connect) and ``run_s`` (``nest.Simulate``).
    """
    nest = import_nest()
    if not isinstance(network, Network):
        raise TypeError(f"network must be a Network, got {type(network).__name__}")
    v0, t_end, _ = ref.check_run(network, params, v0, t_end, None)
    if not math.isfinite(t_end):
        raise ValueError(f"t_end must be finite for NEST, got {t_end!r}")
    h = resolution_for(params, resolution)
    n = network.n_neurons
    t = time.perf_counter()
    nest.ResetKernel()
    nest.SetKernelStatus({"resolution": h, "local_num_threads": 1, "tics_per_ms": TICS_PER_MS})
    nodes = nest.Create(MODEL, n, params={"tau_m": params.tau_m, "C_m": params.tau_m, "E_L": params.v_rest,
                                          "V_reset": params.v_reset, "V_th": params.v_th, "t_ref": params.t_ref})
    nodes.set(I_e=params.drive_array(n).tolist(), V_m=v0.tolist())
    if network.n_synapses:
        first = nodes[0].global_id
        nest.Connect(network.pre.astype(np.int64) + first, network.post.astype(np.int64) + first, "one_to_one",
                     syn_spec={"synapse_model": "static_synapse", "weight": network.weight.astype(np.float64),
                               "delay": np.full(network.n_synapses, params.delay)})
    rec = nest.Create("spike_recorder", params={"time_in_steps": True})
    nest.Connect(nodes, rec)
    built = time.perf_counter()
    nest.Simulate(math.ceil(t_end / h - 1e-9) * h)
    done = time.perf_counter()
    if timings is not None:
        timings.update(build_s=built - t, run_s=done - built)
    ev = rec.get("events")
    times = np.asarray(ev["times"], dtype=np.float64) * h - np.asarray(ev["offsets"], dtype=np.float64)
    neurons = np.asarray(ev["senders"], dtype=np.int64) - nodes[0].global_id
    keep = times <= t_end
    return dv.canonical(SpikeTrain(times[keep], neurons[keep], n, t_end, "t_end"))


# ----------------------------------------------------------------------------- the table


@dataclass(frozen=True)
class NestSizes:
    """One profile of the NEST table: neurons per network and the spikes each run reaches."""

    n: int
    n_spikes: int
    seed: int = 1


NEST_SIZES = {
    "tiny": NestSizes(200, 2_000),
    "quick": NestSizes(1_000, 10_000),
    "thorough": NestSizes(10_000, 100_000),
}
SIMULATORS = ("reference", "sparseprop")
RULES = ("summed", "sequential")
COLUMNS = ["network", "n", "n_synapses", "delay_ms", "t_ref_ms", "resolution_ms", "t_end_ms", "simulator", "rule",
           "n_spikes", "n_spikes_nest", "identical", "max_abs_dt_ms", "first_divergence", "first_divergence_ms",
           "first_divergence_neuron", "cause", "seconds", "prepare_s", "seconds_nest", "build_s_nest", "status",
           "n_shared_instants", "n_mixed_waves", "n_at_refractory_end"]
SUMMARY_COLUMNS = ["network", "n", "simulator", "rule", "n_spikes", "n_spikes_nest", "identical", "max_abs_dt_ms",
                   "first_divergence", "seconds", "seconds_nest", "status"]


def n_ticks(networks=nw.NAMES) -> int:
    """Calls of ``tick`` that ``nest_rows`` makes: per network, NEST and each simulator under each rule."""
    return len(networks) * (1 + len(SIMULATORS) * len(RULES))


def _run_evbench(simulator: str, network, params, v0, t_end):
    """A canonical train, the run's seconds and the preparation's (SparseProp: its CSR and tree layout)."""
    t = time.perf_counter()
    if simulator == "reference":
        prepared, st = t, ref.simulate(network, params, v0, t_end=t_end)
    else:
        sim = sp.SparseProp(network, params)
        prepared = time.perf_counter()
        st = sim.run(v0, t_end=t_end)
    done = time.perf_counter()
    return dv.canonical(st), done - prepared, prepared - t


def nest_rows(sizes: NestSizes, tick=lambda text: None, networks=nw.NAMES) -> list[dict]:
    """The ``nest`` table: each network in NEST and in both exact simulators under both rules.

    Each network runs until ``t_end``: the time SparseProp (summed rule) takes to reach
    ``sizes.n_spikes`` spikes, rounded up to NEST's grid. Columns (one row per network x simulator
    x rule; times in ms, voltages in mV):
      network, n, n_synapses, delay_ms, t_ref_ms, resolution_ms (NEST's step), t_end_ms,
      simulator ("reference" or "sparseprop"), rule ("summed": NEST's; "sequential": evbench's
      default), n_spikes (this simulator's), n_spikes_nest, identical (bool: the same neuron
      sequence, spikes ordered by time then neuron, and the same length), max_abs_dt_ms (max
      |t - t_nest| over the spikes before the first divergence), first_divergence (index of the
      first differing neuron, or the shorter length; -1 if none), first_divergence_ms and
      first_divergence_neuron (the earlier of the two spikes there: the one that happens in one run
      only), cause (diagnosed from the common history, see ``divergence.diagnose``:
      "simultaneous pulses: ..." when a partial sum crosses and the whole does not, "pulse at the
      end of refractoriness: ...", "threshold within rounding: ...", "order of near-simultaneous
      spikes ...", "own threshold crossing at that instant: ...", "unexplained: ..."; "" if
      identical), seconds (this simulator's wall time for the run; SparseProp compiled
      beforehand), prepare_s (SparseProp's preparation of the network: CSR and tree layout; 0 for
      the reference), seconds_nest (``nest.Simulate``), build_s_nest (NEST's create and connect:
      kernel, neurons, synapses, recorder),
      status (summed rows: "pass" when identical and max_abs_dt_ms <= 1e-9, else "FAIL";
      sequential rows: "identical" or "parts", not a failure), n_shared_instants, n_mixed_waves,
      n_at_refractory_end (in NEST's run: instants with two or more spikes; neuron-instants with
      simultaneous pulses of both signs on a neuron not refractory; pulses arriving exactly at
      their target's end of refractoriness; see ``divergence.coincidences``).
    """
    import_nest()
    _warm_up()
    rows = []
    for name in networks:
        case = nw.make(name, sizes.n, seed=sizes.seed)
        summed = dataclasses.replace(case.params, simultaneous="summed")
        probe = sp.SparseProp(case.network, summed).run(case.v0, n_spikes=sizes.n_spikes)
        h = resolution_for(case.params, case.resolution)
        t_end = math.ceil(probe.t_stop / h) * h
        timings = {}
        nest_train = simulate_nest(case.network, case.params, case.v0, t_end, resolution=h, timings=timings)
        counts = dv.coincidences(case.network, case.params, nest_train)
        tick(f"nest {name} n={sizes.n}")
        for rule in RULES:
            params = dataclasses.replace(case.params, simultaneous=rule)
            for simulator in SIMULATORS:
                train, seconds, prepare_s = _run_evbench(simulator, case.network, params, case.v0, t_end)
                c = dv.compare(train, nest_train)
                d = dv.diagnose(case.network, params, case.v0, train, nest_train, c["first_divergence"])
                if rule == "summed":
                    status = "pass" if c["identical"] and c["max_abs_dt_ms"] <= dv.TIME_TOL_MS else "FAIL"
                else:
                    status = "identical" if c["identical"] else "parts"
                rows.append(dict(network=name, n=sizes.n, n_synapses=case.network.n_synapses,
                                 delay_ms=case.params.delay, t_ref_ms=case.params.t_ref, resolution_ms=h,
                                 t_end_ms=t_end, simulator=simulator, rule=rule, n_spikes=len(train),
                                 n_spikes_nest=len(nest_train), identical=c["identical"],
                                 max_abs_dt_ms=c["max_abs_dt_ms"], first_divergence=c["first_divergence"], **d,
                                 seconds=seconds, prepare_s=prepare_s, seconds_nest=timings["run_s"],
                                 build_s_nest=timings["build_s"],
                                 status=status, **counts))
                tick(f"nest {name} {simulator} {rule}")
    return rows


def _warm_up():
    """Compile SparseProp's kernels (both rules) on a tiny network, so the table times runs only."""
    case = nw.make("ei", 50, seed=0)
    for rule in RULES:
        sp.SparseProp(case.network, dataclasses.replace(case.params, simultaneous=rule)).run(case.v0, n_spikes=50)


if __name__ == "__main__":  # python -m evbench.spiking.nest [tiny|quick|thorough] [out.csv]: the table, printed
    import sys

    import pandas as pd

    profile = sys.argv[1] if len(sys.argv) > 1 else "quick"
    missing = nest_missing()
    if missing:
        sys.exit(missing)
    start = time.perf_counter()
    frame = pd.DataFrame(nest_rows(NEST_SIZES[profile], tick=lambda text: print(f"[{time.perf_counter() - start:6.1f} s] "
                                                                                  f"{text}", flush=True)),
                         columns=COLUMNS)
    with pd.option_context("display.width", 250, "display.max_columns", 40, "display.max_colwidth", 300):
        print(frame[SUMMARY_COLUMNS].to_string())
        parted = frame.loc[frame.cause != "", ["network", "simulator", "rule", "first_divergence_ms", "cause"]]
        print(parted.to_string())
    if len(sys.argv) > 2:
        frame.to_csv(sys.argv[2], index=False)
    sys.exit(int((frame[frame.rule == "summed"].status != "pass").any()))
