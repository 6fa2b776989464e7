"""``evbench spiketimes``: are the spikes right? Exact, stepped and E/I comparisons, as tables.

Writes, in ``output_dir(args)`` (``results/<machine>/`` by default), one tidy table per
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
  model, backend, option (the backend variant used), interpolate (bool: interpolation != "none"),
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
  model, backend, option, dtype, n_steps, identical (bool: equal rasters), first_divergent_step
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
one core; ``sparseprop.measure``: the fastest of ``repeat`` runs after a relaxation):
  impl ("sparseprop" or "naive"), model, n, k, n_spikes, seconds, spikes_per_s,
  ns_per_synaptic_update (seconds / (spikes x k) in ns), cpu_seconds (process CPU time of that run: on
  a shared machine wall time includes time the process waited), spikes_per_cpu_s, synaptic_updates.

``ei`` — the Vogels–Abbott COBA/CUBA networks (``evbench.spiking.ei``) per backend and scale:
  model ("coba", "cuba"), backend, family (catalogue family of the connectivity), option, scale,
  n_neurons, sim_ms (timed simulated time, after as long a warm-up that also compiles),
  compile_s (first call minus a steady call), wall_s, wall_per_sim_s (wall seconds per simulated
  second), rate_exc_hz, rate_inh_hz, in_regime (both rates within ``expected_rate_hz``; see
  ``evbench.spiking.ei`` for the range and its source), expected_rate_hz, status ("ok", "unsupported",
  "too_large": a dense matrix beyond the profile's scale, "too_slow": predicted over 60 s, "error"),
  reason, build_s.

Profiles: ``quick`` (<= 4 minutes on a 2-core machine), ``thorough`` (the issue's sizes: 1e5
spikes at N = 1e4 for ``exact``, N up to 1e6 for ``scaling``), ``tiny`` (seconds; for tests).
"""
from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass

import numpy as np

TABLES = ("exact", "convergence", "order", "operators", "statistics", "scaling", "ei")
TAU_MS = 10.0
DIVERGENCE_MS = TAU_MS / 10
EXACT_RTOL = 1e-12
ERROR_FLOOR_MS = 1e-9
MIN_MATCHED = 5
EI_MAX_CASE_S = 60.0


@dataclass(frozen=True)
class Profile:
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


PROFILES = {
    "tiny": Profile("tiny", 200, 10, 500, 30, 5, 30.0, (0.1, 0.05), ("native",), 40, 20.0,
                    ("float64",), 40, 400.0, 0.05, (1000,), 2000, (1000,), 200, (0.1,), ("fixed_prob",), 10.0, 0.1,
                    transient_ms=50.0, repeat=1),
    "quick": Profile("quick", 2000, 100, 10_000, 100, 10, 200.0, (0.1, 0.05, 0.02, 0.01),
                     ("native", "brainevent", "dense"), 200, 200.0, ("float64", "float32"), 500, 2000.0, 0.05,
                     (1000, 10_000, 100_000), 200_000, (1000, 10_000, 100_000), 3000, (0.5, 1.0),
                     ("fixed_prob",), 200.0, 0.5),
    "thorough": Profile("thorough", 10_000, 100, 100_000, 400, 20, 100.0, (0.2, 0.1, 0.05, 0.02, 0.01, 0.005),
                        ("native", "brainevent", "dense"), 400, 1000.0, ("float64", "float32"), 2000, 10_000.0,
                        0.05, (1000, 10_000, 100_000, 1_000_000), 1_000_000, (1000, 10_000, 100_000, 1_000_000),
                        5000, (0.5, 1.0, 2.0, 4.0), ("fixed_prob", "jitc_scalar_r"), 500.0, 0.5),
}


# ----------------------------------------------------------------------------- networks


def _params(model: str, k: int, **kw):
    from ..spiking import sparseprop as sp

    return sp.balanced_params(model, k, tau_m=TAU_MS, **kw)


def _network(model: str, n: int, k: int, *, chaotic=False, seed=1):
    from ..spiking import sparseprop as sp

    j0 = 1.0 if (model == "lif" or chaotic) else 0.3
    return sp.balanced_network(n, k, j0=j0, seed=seed), j0


# ----------------------------------------------------------------------------- exact vs exact


def compare_exact(a, b, tau_m: float) -> dict:
    """Spike-for-spike comparison of two exact runs (see the ``exact`` table)."""
    n = min(len(a), len(b))
    diff = np.flatnonzero(a.neurons[:n] != b.neurons[:n])
    first = int(diff[0]) if diff.size else (n if len(a) != len(b) else -1)
    identical = first == -1
    m = first if first >= 0 else n
    err = np.abs(a.times[:m] - b.times[:m]) / np.maximum(np.abs(a.times[:m]), tau_m)
    max_err = float(err.max()) if err.size else 0.0
    status = "pass" if identical and max_err <= EXACT_RTOL else "FAIL"
    return dict(n_spikes=n, identical_indices=identical, max_rel_time_error=max_err, first_mismatch=first,
                status=status)


def exact_rows(pr: Profile, tick):
    from reference import spiking as ref

    from ..spiking import sparseprop as sp

    rows = []
    for model in ("lif", "qif"):
        for delay, t_ref in [(d, 0.0) for d in pr.exact_delays] + [(pr.exact_delays[-1], 2.0)]:
            net, j0 = _network(model, pr.exact_n, pr.exact_k)
            params = _params(model, pr.exact_k, delay=delay, t_ref=t_ref)
            v0 = sp.initial_state(params, pr.exact_n, 3)
            t = time.perf_counter()
            a = ref.simulate(net, params, v0, n_spikes=pr.exact_spikes)
            t_ref_s = time.perf_counter() - t
            t = time.perf_counter()
            b = sp.simulate(net, params, v0, n_spikes=pr.exact_spikes)
            t_sp = time.perf_counter() - t
            rows.append(dict(model=model, n=pr.exact_n, k=pr.exact_k, delay=delay, t_ref=t_ref,
                             **compare_exact(a, b, params.tau_m), j0=j0, seconds_reference=t_ref_s,
                             seconds_sparseprop=t_sp))
            tick(f"exact {model} d={delay} tref={t_ref}")
    return rows


# ----------------------------------------------------------------------------- stepped vs exact


def match_spikes(exact, stepped, t_end: float, tol: float = DIVERGENCE_MS, *, with_pairs: bool = False) -> dict:
    """Pair the spikes of each neuron in order; the first pair further apart than ``tol`` (or a
    spike without a partner, unless within ``tol`` of ``t_end``) is that neuron's divergence."""
    n = exact.n_neurons
    first_div = math.inf
    per_a = np.split(exact.times[np.argsort(exact.neurons, kind="stable")],
                     np.cumsum(np.bincount(exact.neurons, minlength=n))[:-1])
    per_b = np.split(stepped.times[np.argsort(stepped.neurons, kind="stable")],
                     np.cumsum(np.bincount(stepped.neurons, minlength=n))[:-1])
    pairs_t, pairs_e = [], []
    for a, b in zip(per_a, per_b):
        m = min(len(a), len(b))
        d = np.abs(a[:m] - b[:m])
        bad = np.flatnonzero(d > tol)
        if bad.size:
            i = int(bad[0])
            first_div = min(first_div, min(a[i], b[i]))
            m = i
        elif len(a) != len(b):
            extra = a[m] if len(a) > m else b[m]
            if extra < t_end - tol:
                first_div = min(first_div, extra)
        pairs_t.append(a[:m])
        pairs_e.append(d[:m])
    t = np.concatenate(pairs_t) if pairs_t else np.zeros(0)
    e = np.concatenate(pairs_e) if pairs_e else np.zeros(0)
    keep = t < first_div
    out = dict(n_matched=int(keep.sum()), mean_abs_error_ms=float(e[keep].mean()) if keep.any() else math.nan,
               max_abs_error_ms=float(e[keep].max()) if keep.any() else math.nan,
               first_divergence_ms=first_div if math.isfinite(first_div) else math.nan)
    if with_pairs:
        out["pairs"] = (t[keep], e[keep])
    return out


def convergence_rows(pr: Profile, tick):
    from ..spiking import sparseprop as sp
    from ..spiking import stepped as st
    from ..peers import Unsupported

    rows = []
    for model in ("lif", "qif"):
        net, _ = _network(model, pr.conv_n, pr.conv_k)
        params = _params(model, pr.conv_k)
        v0 = sp.initial_state(params, pr.conv_n, 3)
        exact = sp.simulate(net, params, v0, t_end=pr.conv_t_ms)
        for backend in pr.conv_backends:
            for interp in st.INTERPOLATIONS:
                group = []
                for dt in pr.conv_dts:
                    row = dict(model=model, backend=backend, option="", interpolate=interp != "none",
                               interpolation=interp, dt_ms=dt, n_spikes_ref=len(exact), n_spikes_stepped=0,
                               n_matched=0, mean_abs_error_ms=math.nan, max_abs_error_ms=math.nan,
                               first_divergence_ms=math.nan, t_end_ms=pr.conv_t_ms, seconds=math.nan, status="ok",
                               reason="")
                    try:
                        t = time.perf_counter()
                        run = st.simulate(net, params, v0, dt=dt, t_end=pr.conv_t_ms, backend=backend,
                                          interpolate=interp)
                        m = match_spikes(exact, run, pr.conv_t_ms, with_pairs=True)
                        row["pairs"] = m.pop("pairs")
                        row.update(seconds=time.perf_counter() - t, option=run.option, n_spikes_stepped=len(run), **m)
                    except Unsupported as exc:
                        row.update(status="unsupported", reason=str(exc)[:200])
                    except Exception as exc:  # recorded, not hidden
                        row.update(status="error", reason=f"{type(exc).__name__}: {exc}"[:200])
                    group.append(row)
                    tick(f"convergence {model} {backend} {interp} dt={dt}")
                _common_window(group, pr.conv_t_ms)
                rows += group
    return rows


def _common_window(group, t_end):
    """Errors of every dt over the same spikes: those before the earliest divergence of the group."""
    divs = [r["first_divergence_ms"] for r in group if r["status"] == "ok" and not math.isnan(r["first_divergence_ms"])]
    window = min(divs, default=t_end)
    for r in group:
        t, e = r.pop("pairs", (np.zeros(0), np.zeros(0)))
        keep = t < window
        r.update(window_ms=window, n_window=int(keep.sum()),
                 mean_abs_error_window_ms=float(e[keep].mean()) if keep.any() else math.nan)


def order_rows(conv) -> list:
    rows = []
    for (model, backend, interp), g in conv.groupby(["model", "backend", "interpolation"], sort=False):
        ok = g[(g.status == "ok") & (g.n_window >= MIN_MATCHED) & (g.mean_abs_error_window_ms > ERROR_FLOOR_MS)]
        x, y = np.log(ok.dt_ms.to_numpy(float)), np.log(ok.mean_abs_error_window_ms.to_numpy(float))
        order = stderr = math.nan
        if len(x) >= 2 and np.ptp(x) > 0:
            A = np.stack([x, np.ones_like(x)], axis=1)
            coef, res, *_ = np.linalg.lstsq(A, y, rcond=None)
            order = float(coef[0])
            if len(x) >= 3:
                resid = y - A @ coef
                s2 = float(resid @ resid) / (len(x) - 2)
                stderr = math.sqrt(s2 / float(((x - x.mean()) ** 2).sum()))
        rows.append(dict(model=model, backend=backend, interpolate=interp != "none", interpolation=interp,
                         order=order, order_stderr=stderr, n_points=int(len(x)),
                         window_ms=float(g.window_ms.iloc[0]) if "window_ms" in g and len(g) else math.nan,
                         n_spikes_window=int(g.n_window.min()) if "n_window" in g and len(g) else 0))
    return rows


# ----------------------------------------------------------------------------- operators vs dense


def _ulps(x, dtype):
    return np.spacing(np.abs(np.asarray(x, dtype)).astype(dtype)).astype(np.float64)


def divergence_cause(a, b, params, dtype: str) -> dict:
    """Where two stepped runs' rasters part, and why (see the ``operators`` table)."""
    ra, rb = a.raster(), b.raster()
    diff = np.argwhere(ra != rb)
    in_diff = np.flatnonzero(np.any(a.inputs != b.inputs, axis=1))
    first_in = int(in_diff[0]) if in_diff.size else -1
    if not diff.size:
        return dict(identical=True, first_divergent_step=-1, first_divergent_neuron=-1, first_divergent_ms=math.nan,
                    first_input_difference_step=first_in, max_input_difference_ulps=_max_ulps(a, b, None, dtype),
                    cause="")
    s, j = (int(v) for v in diff[0])
    ulps_in = _max_ulps(a, b, s, dtype)
    out = dict(identical=False, first_divergent_step=s, first_divergent_neuron=j, first_divergent_ms=(s + 1) * a.dt,
               first_input_difference_step=first_in, max_input_difference_ulps=ulps_in)
    if ulps_in > 1e3:
        out["cause"] = f"inputs differ beyond rounding ({ulps_in:.3g} ulps) before step {s}: the operators disagree"
        return out
    va, vb = float(a.v_check[s, j]), float(b.v_check[s, j])
    if params.model == "lif":
        ua, ub = (abs(v - params.v_th) / _ulps(params.v_th, dtype) for v in (va, vb))
        if min(ua, ub) <= 64:
            out["cause"] = (f"summation order at threshold: neuron {j} at step {s} has V = {va!r} (event) vs "
                            f"{vb!r} (dense), {min(ua, ub):.0f} ulps from v_th = {params.v_th}; the summed inputs "
                            f"differ by <= {ulps_in:.0f} ulps (order of summation)")
            return out
    prev = a.v_check[s - 1, j] if s > 0 else math.nan
    prev_b = b.v_check[s - 1, j] if s > 0 else math.nan
    rel = abs(prev - prev_b) / max(abs(prev), abs(prev_b), 1e-300) if np.isfinite(prev) and np.isfinite(prev_b) else math.nan
    out["cause"] = (f"rounding differences amplified by the dynamics: summed inputs first differ at step {first_in} "
                    f"by <= {ulps_in:.0f} ulps (order of summation); by step {s - 1} neuron {j}'s state differs by "
                    f"{rel:.2g} relative, and at step {s} it crosses in one run only (V = {va!r} vs {vb!r})")
    return out


def _max_ulps(a, b, upto, dtype) -> float:
    ia, ib = a.inputs[:upto], b.inputs[:upto]
    if not ia.size:
        return 0.0
    d = np.abs(ia - ib) / _ulps(np.maximum(np.abs(ia), np.abs(ib)), dtype)
    return float(np.nanmax(d)) if d.size else 0.0


def operator_rows(pr: Profile, tick, backend_names=None):
    from ..spiking import sparseprop as sp
    from ..spiking import stepped as st
    from ..peers import Unsupported, backends

    rows = []
    dt = 0.1
    for model in ("lif", "qif"):
        net, _ = _network(model, pr.ops_n, 20, chaotic=True)
        params = _params(model, 20)
        v0 = sp.initial_state(params, pr.ops_n, 5)
        for dtype in pr.ops_dtypes:
            ref_run = st.simulate(net, params, v0, dt=dt, t_end=pr.ops_t_ms, backend="dense", record=True,
                                  dtype=dtype)
            for be in backends():
                if be.name == "dense" or (backend_names is not None and be.name not in backend_names):
                    continue
                row = dict(model=model, backend=be.name, option="", dtype=dtype, n_steps=ref_run.n_steps,
                           identical=False, first_divergent_step=-1, first_divergent_neuron=-1,
                           first_divergent_ms=math.nan, first_input_difference_step=-1,
                           max_input_difference_ulps=math.nan, cause="", status="ok", reason="")
                try:
                    run = st.simulate(net, params, v0, dt=dt, t_end=pr.ops_t_ms, backend=be.name, record=True,
                                      dtype=dtype)
                    row.update(option=run.option, **divergence_cause(run, ref_run, params, dtype))
                except Unsupported as exc:
                    row.update(status="unsupported", reason=str(exc)[:200])
                except Exception as exc:  # recorded, not hidden
                    row.update(status="error", reason=f"{type(exc).__name__}: {exc}"[:200])
                rows.append(row)
                tick(f"operators {model} {be.name} {dtype}")
    return rows


# ----------------------------------------------------------------------------- statistics


def spike_statistics(times, neurons, n, t0, t1, *, window=100.0, boot=2000, seed=0) -> list[dict]:
    """Rate (Hz), ISI CV and Fano factor over neurons, each with a bootstrap 95 % interval."""
    keep = (times >= t0) & (times < t1)
    times, neurons = times[keep], neurons[keep]
    dur = t1 - t0
    counts = np.bincount(neurons, minlength=n)
    rate = counts / (dur / 1000.0)
    order = np.lexsort((times, neurons))
    ts, ns = times[order], neurons[order]
    cv = np.full(n, np.nan)
    starts = np.concatenate([[0], np.cumsum(counts)])
    for j in np.flatnonzero(counts >= 3):
        isi = np.diff(ts[starts[j]:starts[j + 1]])
        cv[j] = isi.std() / isi.mean()
    n_win = int(dur // window)
    win = np.minimum(((times - t0) // window).astype(np.int64), n_win - 1)
    per = np.zeros((n, n_win))
    np.add.at(per, (neurons, win), 1)
    mean = per.mean(axis=1)
    fano = np.where(mean > 0, per.var(axis=1) / np.where(mean > 0, mean, 1), np.nan)
    rng = np.random.default_rng(seed)
    out = []
    for name, vals in (("rate_hz", rate), ("cv_isi", cv), ("fano", fano)):
        v = vals[np.isfinite(vals)]
        if v.size == 0:
            out.append(dict(statistic=name, value=math.nan, ci_low=math.nan, ci_high=math.nan, n_units=0))
            continue
        means = v[rng.integers(0, v.size, (boot, v.size))].mean(axis=1)
        lo, hi = np.percentile(means, [2.5, 97.5])
        out.append(dict(statistic=name, value=float(v.mean()), ci_low=float(lo), ci_high=float(hi), n_units=int(v.size)))
    return out


def statistics_rows(pr: Profile, tick):
    from ..spiking import sparseprop as sp
    from ..spiking import stepped as st

    model = "qif"
    net, _ = _network(model, pr.stat_n, 50, chaotic=True)
    params = _params(model, 50)
    v0 = sp.initial_state(params, pr.stat_n, 7)
    method = "bootstrap over neurons (2000 resamples), 95 % percentile interval of the mean"
    exact = sp.simulate(net, params, v0, t_end=pr.stat_t_ms)
    t0, t1 = pr.transient_ms, pr.stat_t_ms
    rows = [dict(model=model, impl="exact", **s, ci_method=method, dt_ms=math.nan, t_ms=t1 - t0,
                 divergence_ms=math.nan, consistent=True)
            for s in spike_statistics(exact.times, exact.neurons, pr.stat_n, t0, t1)]
    tick("statistics exact")
    run = st.simulate(net, params, v0, dt=pr.stat_dt, t_end=pr.stat_t_ms, backend="native", interpolate="exact")
    div = match_spikes(exact, run, pr.stat_t_ms)["first_divergence_ms"]
    for s, e in zip(spike_statistics(run.times, run.neurons, pr.stat_n, t0, t1), rows[:3]):
        rows.append(dict(model=model, impl="stepped:native", **s, ci_method=method, dt_ms=pr.stat_dt, t_ms=t1 - t0,
                         divergence_ms=div, consistent=bool(s["ci_low"] <= e["ci_high"] and e["ci_low"] <= s["ci_high"])))
    tick("statistics stepped")
    return rows


# ----------------------------------------------------------------------------- scaling, E/I


def scaling_rows(pr: Profile, tick):
    from ..spiking import sparseprop as sp

    rows = []
    for impl, ns, spikes in (("sparseprop", pr.scale_ns, pr.scale_spikes), ("naive", pr.naive_ns, pr.naive_spikes)):
        for n in ns:
            r = sp.measure(n, 100, spikes, "lif", impl="sparseprop" if impl == "sparseprop" else "reference",
                           repeat=pr.repeat if impl == "sparseprop" else 1)
            rows.append(dict(impl=impl, model="lif", n=n, k=100, n_spikes=r["n_spikes"], seconds=r["seconds"],
                             spikes_per_s=r["spikes_per_s"], ns_per_synaptic_update=r["ns_per_synaptic_update"],
                             cpu_seconds=r["cpu_seconds"], spikes_per_cpu_s=r["n_spikes"] / r["cpu_seconds"],
                             synaptic_updates=r["synaptic_updates"]))
            tick(f"scaling {impl} n={n}")
    return rows


def ei_rows(pr: Profile, tick):
    """The ``ei`` table. A case predicted to take longer than ``EI_MAX_CASE_S`` (its backend's wall
    time per simulated second at the previous scale, times the squared scale ratio: the synapses
    grow as n²) is recorded as ``too_slow`` instead of run."""
    from ..spiking import ei
    from ..peers import backends

    rows = []
    for family in pr.ei_families:
        for model in ei.MODELS:
            last = {}
            for scale in pr.ei_scales:
                for be in backends():
                    n_exc, n_inh = ei.sizes(scale)
                    skip = dict(model=model, backend=be.name, family=family, scale=scale, n_neurons=n_exc + n_inh,
                                sim_ms=pr.ei_sim_ms, in_regime=False)
                    prev = last.get(be.name)
                    predicted = (prev[1] * (scale / prev[0]) ** 2 * 2 * pr.ei_sim_ms / 1000.0) if prev else 0.0
                    if be.name == "dense" and scale > pr.ei_dense_max_scale:
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


def run_all(pr: Profile, *, progress: bool = True, tables=TABLES) -> tuple[dict, dict]:
    """Every table of the profile: ``({name: DataFrame}, {name: seconds})``."""
    import pandas as pd
    from tqdm.auto import tqdm

    counts = dict(exact=2 * (len(pr.exact_delays) + 1),
                  convergence=2 * len(pr.conv_backends) * 3 * len(pr.conv_dts), order=0,
                  operators=2 * len(pr.ops_dtypes) * 5, statistics=2,
                  scaling=len(pr.scale_ns) + len(pr.naive_ns),
                  ei=len(pr.ei_families) * 2 * len(pr.ei_scales) * 6)
    bar = tqdm(total=sum(counts[t] for t in tables), desc=f"evbench spiketimes ({pr.name})", unit="run",
               disable=not progress, dynamic_ncols=True)

    def tick(text):
        bar.set_postfix_str(text, refresh=False)
        bar.update(1)

    out, seconds = {}, {}
    makers = dict(exact=exact_rows, convergence=convergence_rows, operators=operator_rows,
                  statistics=statistics_rows, scaling=scaling_rows, ei=ei_rows)
    for name in tables:
        t = time.perf_counter()
        if name == "order":
            conv = out.get("convergence")
            out[name] = pd.DataFrame(order_rows(conv) if conv is not None else [],
                                     columns=["model", "backend", "interpolate", "interpolation", "order",
                                              "order_stderr", "n_points", "window_ms", "n_spikes_window"])
        else:
            out[name] = pd.DataFrame(makers[name](pr, tick))
        seconds[name] = time.perf_counter() - t
    bar.close()
    return out, seconds


def cmd_spiketimes(args) -> int:
    from .results import write_frame, write_json
    from ..cli import _enable_x64, _metadata, _stamp, _table, output_dir

    _enable_x64()
    pr = PROFILES[args.profile]
    tables = tuple(args.table) if args.table else TABLES
    if "order" in tables and "convergence" not in tables:
        tables = tuple(t for t in TABLES if t in tables or t == "convergence")
    t0 = time.perf_counter()
    frames, seconds = run_all(pr, progress=not args.no_progress, tables=tables)
    total = time.perf_counter() - t0
    out_dir = output_dir(args)
    stamp = _stamp()
    written = []
    for name, frame in frames.items():
        written += write_frame(out_dir / f"spiketimes-{name}-{args.profile}-{stamp}", frame)
    meta = out_dir / f"spiketimes-{args.profile}-{stamp}.meta.json"
    write_json(meta, _metadata(seconds=total, profile=args.profile, table_seconds=seconds, tables=list(frames),
                               sizes={k: v for k, v in pr.__dict__.items()}))
    summary = _summary(frames, _table)
    print(summary)
    print(f"\n{total:.0f} s. Written: {len(written)} files in {out_dir} (spiketimes-*-{args.profile}-{stamp}.*), "
          f"{meta.name}")
    bad = "exact" in frames and (frames["exact"].status != "pass").any()
    return 1 if bad else 0


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
    )
    for name, frame in frames.items():
        if frame.empty:
            continue
        f = frame.copy()
        if name == "convergence":
            f = f[f.backend == f.backend.iloc[0]]
        if name == "operators":
            f["cause"] = f["cause"].str.slice(0, 60)
        parts.append(f"== {name}\n" + table(f, [c for c in cols[name] if c in f.columns]))
    return "\n\n".join(parts)


def add_parser(sub) -> None:
    """``evbench spiketimes``: registered in :data:`evbench.cli.COMMANDS`."""
    from ..cli import add_output_args

    p = sub.add_parser("spiketimes", help="are the spikes right? exact vs exact, stepped vs exact, operators, "
                                          "statistics, SparseProp scaling and the E/I networks")
    p.add_argument("--profile", choices=tuple(PROFILES), default="quick",
                   help="quick (minutes; the default), thorough (the issue's sizes), tiny (seconds, for tests)")
    p.add_argument("--table", action="append", choices=TABLES, metavar="NAME",
                   help=f"only this table (repeatable); one of: {', '.join(TABLES)}")
    add_output_args(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_spiketimes)


if __name__ == "__main__":
    from ..cli import main

    sys.exit(main(["spiketimes", *sys.argv[1:]]))
