"""The spike-time comparisons behind ``evbench spiketimes`` (its docstring describes each table
and column): exact against exact, time-stepped against exact, each backend's operator in a
stepped network, and statistics beyond a chaotic network's horizon. Each ``*_rows(profile,
tick)`` returns the rows of one table and calls ``tick(text)`` after each run."""
from __future__ import annotations

import math
import time

import numpy as np

TAU_MS = 10.0
DIVERGENCE_MS = TAU_MS / 10
EXACT_RTOL = 1e-12
ERROR_FLOOR_MS = 1e-9
MIN_MATCHED = 5


# ----------------------------------------------------------------------------- networks


def network_params(model: str, k: int, **kw):
    from ..spiking import sparseprop as sp

    return sp.balanced_params(model, k, tau_m=TAU_MS, **kw)


def network(model: str, n: int, k: int, *, chaotic=False, seed=1):
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


def exact_rows(pr, tick):
    from evbench_reference import spiking as ref

    from ..spiking import sparseprop as sp

    rows = []
    for model in ("lif", "qif"):
        for delay, t_ref in [(d, 0.0) for d in pr.exact_delays] + [(pr.exact_delays[-1], 2.0)]:
            net, j0 = network(model, pr.exact_n, pr.exact_k)
            params = network_params(model, pr.exact_k, delay=delay, t_ref=t_ref)
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


def convergence_rows(pr, tick):
    from ..spiking import sparseprop as sp
    from ..spiking import stepped as st
    from ..peers import Unsupported

    rows = []
    for model in ("lif", "qif"):
        net, _ = network(model, pr.conv_n, pr.conv_k)
        params = network_params(model, pr.conv_k)
        v0 = sp.initial_state(params, pr.conv_n, 3)
        exact = sp.simulate(net, params, v0, t_end=pr.conv_t_ms)
        for backend in pr.conv_backends:
            for interp in st.INTERPOLATIONS:
                group = []
                for dt in pr.conv_dts:
                    row = dict(model=model, backend=backend, mode="", interpolate=interp != "none",
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
                        row.update(seconds=time.perf_counter() - t, mode=run.mode, n_spikes_stepped=len(run), **m)
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


def operator_rows(pr, tick, backend_names=None):
    from ..spiking import sparseprop as sp
    from ..spiking import stepped as st
    from ..peers import Unsupported, BACKENDS

    rows = []
    dt = 0.1
    for model in ("lif", "qif"):
        net, _ = network(model, pr.ops_n, 20, chaotic=True)
        params = network_params(model, 20)
        v0 = sp.initial_state(params, pr.ops_n, 5)
        for dtype in pr.ops_dtypes:
            ref_run = st.simulate(net, params, v0, dt=dt, t_end=pr.ops_t_ms, backend="dense", record=True,
                                  dtype=dtype)
            for be in BACKENDS.all():
                if be.name == "dense" or (backend_names is not None and be.name not in backend_names):
                    continue
                row = dict(model=model, backend=be.name, mode="", dtype=dtype, n_steps=ref_run.n_steps,
                           identical=False, first_divergent_step=-1, first_divergent_neuron=-1,
                           first_divergent_ms=math.nan, first_input_difference_step=-1,
                           max_input_difference_ulps=math.nan, cause="", status="ok", reason="")
                try:
                    run = st.simulate(net, params, v0, dt=dt, t_end=pr.ops_t_ms, backend=be.name, record=True,
                                      dtype=dtype)
                    row.update(mode=run.mode, **divergence_cause(run, ref_run, params, dtype))
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


def statistics_rows(pr, tick):
    from ..spiking import sparseprop as sp
    from ..spiking import stepped as st

    model = "qif"
    net, _ = network(model, pr.stat_n, 50, chaotic=True)
    params = network_params(model, 50)
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

