"""Time-stepped networks (``evbench.spiking.stepped``) against the exact simulators, operators against
each other, the E/I networks and the ``evbench spiketimes`` command.

The convergence tests assert what the scheme promises and could fail if it were wrong: without
interpolation the spike-time error is first order in dt, linear interpolation of an uncoupled
LIF neuron's crossing is second order, exact inversion is exact to rounding, and an inhibitory
LIF network whose pulses are weighted by their decay inside the step reproduces the exact spike
times to rounding once dt is small enough that no two interacting events share a step.
"""
import json
import math

import numpy as np
import pandas as pd
import pytest

from evbench.harness import spikecompare, spiketimes
from evbench.spiking import ei, stepped
from evbench.spiking import sparseprop as sp
from evbench_reference.spiking import Network, SpikingParams

from .twins import assert_twins_equal


def slope(dts, errors):
    return float(np.polyfit(np.log(dts), np.log(errors), 1)[0])


def uncoupled(n):
    return Network(n, np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0))


@pytest.fixture(scope="module")
def lif_single():
    n = 8
    params = SpikingParams("lif", tau_m=10.0, drive=np.linspace(12.0, 30.0, n), v_th=-50.0, v_reset=-60.0,
                           v_rest=-65.0, t_ref=1.0)
    v0 = np.linspace(-60.0, -51.0, n)
    return uncoupled(n), params, v0, sp.simulate(uncoupled(n), params, v0, t_end=60.0)


def errors(exact, run):
    m = spikecompare.match_spikes(exact, run, 60.0)
    assert math.isnan(m["first_divergence_ms"]) and m["n_matched"] == len(exact), m
    return m["mean_abs_error_ms"]


def test_uncoupled_lif_orders(lif_single):
    net, params, v0, exact = lif_single
    assert len(exact) > 20
    dts = [0.08, 0.04, 0.02]
    err = {i: [errors(exact, stepped.simulate(net, params, v0, dt=dt, t_end=60.0, interpolate=i)) for dt in dts]
           for i in stepped.INTERPOLATIONS}
    assert 0.7 <= slope(dts, err["none"]) <= 1.3, err["none"]
    assert 1.7 <= slope(dts, err["linear"]) <= 2.3, err["linear"]
    assert max(err["exact"]) <= 1e-9, err["exact"]


def test_qif_network_first_order():
    net, _ = spikecompare.network("qif", 30, 5)
    params = spikecompare.network_params("qif", 5)
    v0 = sp.initial_state(params, 30, 3)
    exact = sp.simulate(net, params, v0, t_end=30.0)
    dts = [0.1, 0.05, 0.025]
    err = []
    for dt in dts:
        m = spikecompare.match_spikes(exact, stepped.simulate(net, params, v0, dt=dt, t_end=30.0), 30.0)
        assert math.isnan(m["first_divergence_ms"]), m
        err.append(m["mean_abs_error_ms"])
    assert 0.7 <= slope(dts, err) <= 1.4, err


def test_inhibitory_lif_network_exact_with_weighted_pulses():
    net, _ = spikecompare.network("lif", 60, 6)
    params = spikecompare.network_params("lif", 6)
    v0 = sp.initial_state(params, 60, 3)
    exact = sp.simulate(net, params, v0, t_end=40.0)
    run = stepped.simulate(net, params, v0, dt=0.005, t_end=40.0, interpolate="exact")
    m = spikecompare.match_spikes(exact, run, 40.0)
    assert math.isnan(m["first_divergence_ms"]) and m["n_matched"] == len(exact) > 100, m
    assert m["max_abs_error_ms"] <= 1e-9, m
    coarse = stepped.simulate(net, params, v0, dt=0.005, t_end=40.0, interpolate="none")
    assert spikecompare.match_spikes(exact, coarse, 40.0)["mean_abs_error_ms"] > 1e-4  # the grid is not exact


@pytest.mark.parametrize("model", ["lif", "qif"])
def test_event_operator_raster_equals_dense(model):
    net, _ = spikecompare.network(model, 30, 6, chaotic=True)
    params = spikecompare.network_params(model, 6)
    v0 = sp.initial_state(params, 30, 5)
    kw = dict(dt=0.1, t_end=15.0, record=True)
    dense = stepped.simulate(net, params, v0, backend="dense", **kw)
    assert len(dense) > 15
    for backend in ["native"] + (["brainevent"] if _has("brainevent") else []):
        run = stepped.simulate(net, params, v0, backend=backend, **kw)
        out = spikecompare.divergence_cause(run, dense, params, "float64")
        assert out["identical"], (backend, out)
        assert out["max_input_difference_ulps"] <= 64, (backend, out)  # only the order of summation differs


def _has(module):
    import importlib.util

    return importlib.util.find_spec(module) is not None


def test_divergence_is_found_and_explained():
    """A raster made to differ at one step is reported there, with a cause."""
    net, _ = spikecompare.network("lif", 20, 4)
    params = spikecompare.network_params("lif", 4)
    v0 = sp.initial_state(params, 20, 5)
    a = stepped.simulate(net, params, v0, dt=0.1, t_end=10.0, record=True)
    j = int(a.neurons[3])
    s = int(a.steps[3])
    b = stepped.SteppedTrain(a.times[np.arange(len(a)) != 3], a.neurons[np.arange(len(a)) != 3],
                             a.steps[np.arange(len(a)) != 3], a.n_neurons, a.dt, a.n_steps, "x", "", "none",
                             a.v_final, a.v_check, a.inputs * (1 + 1e-6))
    out = spikecompare.divergence_cause(a, b, params, "float64")
    assert not out["identical"] and out["first_divergent_step"] == s and out["first_divergent_neuron"] == j
    assert out["cause"].startswith("inputs differ beyond rounding"), out


def test_subthreshold_drive_never_fires():
    params = SpikingParams("lif", tau_m=10.0, drive=5.0, v_th=-50.0, v_reset=-60.0, v_rest=-65.0)
    net = sp.balanced_network(10, 3)
    run = stepped.simulate(net, params, np.full(10, -64.0), dt=0.1, t_end=100.0, interpolate="exact")
    assert len(run) == 0
    np.testing.assert_allclose(run.v_final, -60.0 - 4.0 * np.exp(-10.0), rtol=1e-12)
    qif = SpikingParams("qif", tau_m=10.0, drive=-1.0)
    run = stepped.simulate(net, qif, np.full(10, 0.5), dt=0.1, t_end=50.0, interpolate="linear")
    assert len(run) == 0 and np.all(run.v_final < 0)


def test_delay_in_steps_and_refractoriness():
    """Two oscillators inhibit each other through a 1 ms delay; input during the 0.5 ms
    refractory period is discarded. The inhibitory pulses never cross the threshold, so the
    stepped run with exact inversion and decay-weighted pulses reproduces the exact times."""
    params = SpikingParams("lif", tau_m=10.0, drive=np.array([20.0, 14.0]), v_th=1.0, v_reset=0.0, delay=1.0,
                           t_ref=0.5)
    net = Network(2, np.array([0, 1]), np.array([1, 0]), np.array([-0.3, -0.2]))
    exact = sp.simulate(net, params, np.array([0.5, 0.0]), t_end=30.0)
    run = stepped.simulate(net, params, np.array([0.5, 0.0]), dt=0.01, t_end=30.0, interpolate="exact")
    m = spikecompare.match_spikes(exact, run, 30.0)
    assert np.sum(exact.neurons == 1) > 10 and m["n_matched"] == len(exact), m
    assert m["max_abs_error_ms"] <= 1e-9, m
    free = sp.simulate(Network(2, np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)), params,
                       np.array([0.5, 0.0]), t_end=30.0)
    assert len(free) > len(exact)  # the inhibition mattered


@pytest.mark.parametrize("kw, match", [
    (dict(dt=0.0), "dt must be finite and > 0, got 0.0"),
    (dict(dt=-0.1), "dt must be finite and > 0, got -0.1"),
    (dict(dt=float("nan")), "dt must be finite and > 0, got nan"),
    (dict(t_end=float("inf")), "t_end must be finite and > 0, got inf"),
    (dict(dt=0.3), r"delay must be a multiple of dt .* delay=1.0, dt=0.3"),
    (dict(interpolate="cubic"), "interpolate must be one of .* got 'cubic'"),
    (dict(dtype="float16"), "dtype must be one of .* got 'float16'"),
    (dict(backend="nope"), "unknown backend 'nope'"),
    (dict(v0=np.zeros(3)), r"v0 must have shape \(4,\), got \(3,\)"),
    (dict(v0=np.array([0.0, 0.0, np.nan, 0.0])), "v0 must be finite, got .*nan.* at index 2"),
])
def test_bad_input(kw, match):
    params = SpikingParams("lif", tau_m=10.0, drive=2.0, delay=1.0)
    net = sp.balanced_network(4, 2)
    args = dict(dt=0.1, t_end=5.0)
    v0 = kw.pop("v0", np.zeros(4))
    args.update(kw)
    with pytest.raises(ValueError, match=match):
        stepped.simulate(net, params, v0, **args)


@pytest.mark.parametrize("make, match", [
    (lambda: SpikingParams("lif", delay=-1.0), "delay must be >= 0.0, got -1.0"),
    (lambda: SpikingParams("lif", t_ref=-0.5), "t_ref must be >= 0.0, got -0.5"),
    (lambda: SpikingParams("lif", tau_m=float("inf")), "tau_m must be finite, got inf"),
    (lambda: SpikingParams("lif", drive=[1.0, float("nan")]), "drive must be finite, got .*nan.* at index 1"),
    (lambda: ei.sizes(0.0), "scale must be a finite number > 0, got 0.0"),
    (lambda: ei.params_for("hh"), "model must be one of .* got 'hh'"),
    (lambda: ei.EINetwork("cuba", 0.05, dt=0.0), "dt must be finite and > 0, got 0.0"),
])
def test_bad_parameters(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_ei_network_runs_and_counts():
    row = ei.case_row("cuba", 0.05, "native", sim_ms=20.0)
    assert row["status"] == "ok" and row["n_neurons"] == 200, row
    assert row["rate_exc_hz"] >= 0 and math.isfinite(row["wall_per_sim_s"])
    assert ei.in_regime(5.0, 20.0) and not ei.in_regime(0.0, 5.0) and not ei.in_regime(5.0, 150.0)


def test_compare_exact_reports_first_mismatch():
    params = spikecompare.network_params("lif", 4)
    net, _ = spikecompare.network("lif", 20, 4)
    v0 = sp.initial_state(params, 20, 3)
    a = sp.simulate(net, params, v0, n_spikes=50)
    assert spikecompare.compare_exact(a, a, params.tau_m)["status"] == "pass"
    neurons = a.neurons.copy()
    neurons[[10, 11]] = neurons[[11, 10]] if neurons[10] != neurons[11] else (neurons[10] + 1) % 20
    b = type(a)(a.times, neurons, a.n_neurons, a.t_stop, a.stop)
    out = spikecompare.compare_exact(a, b, params.tau_m)
    assert out["status"] == "FAIL" and out["first_mismatch"] == 10 and not out["identical_indices"]


REQUIRED = {
    "exact": ["model", "n", "k", "delay", "t_ref", "n_spikes", "identical_indices", "max_rel_time_error",
              "first_mismatch", "status"],
    "convergence": ["model", "backend", "interpolate", "dt_ms", "n_spikes_ref", "n_matched", "mean_abs_error_ms",
                    "max_abs_error_ms", "first_divergence_ms"],
    "order": ["model", "backend", "interpolate", "order", "order_stderr", "n_points"],
    "statistics": ["model", "impl", "statistic", "value", "ci_low", "ci_high"],
    "scaling": ["impl", "model", "n", "k", "n_spikes", "seconds", "spikes_per_s", "ns_per_synaptic_update"],
    "operators": ["model", "backend", "n_steps", "identical", "first_divergent_step", "first_divergent_neuron", "cause"],
    "ei": ["model", "backend", "scale", "n_neurons", "sim_ms", "wall_s", "wall_per_sim_s", "rate_exc_hz",
           "rate_inh_hz", "in_regime"],
}


def test_command_writes_tables(tmp_path, capsys):
    from evbench.cli import main

    tables = ["exact", "order", "statistics"]
    rc = main(["spiketimes", "--profile", "tiny", "--into", str(tmp_path), "--no-progress",
               *[a for t in tables for a in ("--table", t)]])
    assert rc == 0
    written = {t: sorted(tmp_path.glob(f"spiketimes-{t}-tiny-*.csv")) for t in REQUIRED}
    for t in ["exact", "convergence", "order", "statistics"]:
        assert len(written[t]) == 1, written
        frame = assert_twins_equal(written[t][0])  # the project's reader, both twins, value for value
        assert set(REQUIRED[t]) <= set(frame.columns), (t, frame.columns)
        assert len(frame)
    exact = pd.read_csv(written["exact"][0])
    assert (exact.status == "pass").all() and exact.identical_indices.all()
    meta = json.loads(next(tmp_path.glob("spiketimes-tiny-*.meta.json")).read_text())
    assert meta["profile"] == "tiny" and "machine" in meta
    assert "== exact" in capsys.readouterr().out


def test_operator_and_ei_rows_have_their_columns():
    pr = spiketimes.SPIKETIME_PROFILES["tiny"]
    ops = pd.DataFrame(spikecompare.operator_rows(pr, lambda text: None, backend_names=("native",)))
    assert len(ops) == 2 and ops.identical.all()
    assert set(REQUIRED["operators"]) <= set(ops.columns)
    row = ei.case_row("coba", 0.05, "dense", sim_ms=10.0)
    assert set(REQUIRED["ei"]) <= set(row)
