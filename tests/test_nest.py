"""evbench's exact simulators against NEST's ``iaf_psc_delta_ps`` (``evbench.spiking.nest``).

NEST is optional: the tests that run it are skipped, with the reason, where it is not installed.
The hand-made networks are those of ``test_simultaneous`` in ms and mV (``tau_m = 1`` ms,
``v_th = 1`` mV): NEST must give the trains worked out there for the summed rule.
"""
import math
import sys

import numpy as np
import pytest

from evbench.spiking import divergence as dv
from evbench.spiking import nest as en
from evbench.spiking import networks as nw
from evbench.spiking import sparseprop as sp
from evbench_reference import spiking as ref
from evbench_reference.spiking import Network, SpikingParams

MISSING = en.nest_missing()
needs_nest = pytest.mark.skipif(MISSING is not None, reason=f"NEST not available: {MISSING}")
T1 = math.log(1.5)


def params(drive, rule="summed", **kw):
    return SpikingParams("lif", drive=np.asarray(drive, dtype=float), simultaneous=rule, **kw)


def exact(net, p, v0, t_end):
    return [dv.canonical(f(net, p, v0, t_end=t_end)) for f in (ref.simulate, sp.simulate)]


@needs_nest
def test_units_single_neuron():
    """Reset above rest, refractoriness: NEST's period is tau_m ln((mu - v_reset)/(mu - v_th)) + t_ref."""
    p = SpikingParams("lif", tau_m=20.0, drive=np.array([26.0, 35.0]), v_rest=-70.0, v_reset=-60.0, v_th=-50.0,
                      t_ref=2.0, delay=1.0)
    net = Network(2, np.zeros(0, int), np.zeros(0, int), np.zeros(0))
    st = en.simulate_nest(net, p, [-65.0, -70.0], 200.0)
    for j, (mu, v0) in enumerate([(-44.0, -65.0), (-35.0, -70.0)]):
        first = 20.0 * math.log((mu - v0) / (mu + 50.0))
        period = 20.0 * math.log((mu + 60.0) / (mu + 50.0)) + 2.0
        t = st.times[st.neurons == j]
        np.testing.assert_allclose(t, first + period * np.arange(t.size), rtol=0, atol=1e-9)
    for a in exact(net, p, [-65.0, -70.0], 200.0):
        assert dv.compare(a, st)["identical"] and dv.compare(a, st)["max_abs_dt_ms"] <= 1e-9


@needs_nest
def test_nest_sums_simultaneous_pulses():
    """0 and 1 fire together; +0.6 (0's) and -0.5 reach 2 at V = 0.5: NEST sums them (no spike),
    as the summed rule does; the sequential rule fires 2 on the partial sum."""
    net = Network(3, [0, 1], [2, 2], [0.6, -0.5])
    p = params([2.0, 2.0, 0.5], delay=0.1, t_ref=0.05)
    t_end = T1 + 0.3
    nest_train = en.simulate_nest(net, p, [0.5] * 3, t_end)
    assert nest_train.neurons.tolist() == [0, 1]
    for a in exact(net, p, [0.5] * 3, t_end):
        c = dv.compare(a, nest_train)
        assert c["identical"] and c["max_abs_dt_ms"] <= 1e-12
    seq = dv.canonical(ref.simulate(net, params([2.0, 2.0, 0.5], "sequential", delay=0.1, t_ref=0.05), [0.5] * 3,
                                    t_end=t_end))
    c = dv.compare(seq, nest_train)
    assert seq.neurons.tolist() == [0, 1, 2] and c["first_divergence"] == 2
    d = dv.diagnose(net, p, [0.5] * 3, seq, nest_train, c["first_divergence"])
    assert d["first_divergence_neuron"] == 2 and d["cause"].startswith("simultaneous pulses")


@needs_nest
@pytest.mark.parametrize("hops", [1, 2])
def test_nest_applies_a_pulse_at_the_end_of_refractoriness(hops):
    """The network of ``test_simultaneous.test_pulse_at_the_end_of_refractoriness``: 3's
    refractoriness ends as a pulse arrives (delay 0.1 ms, t_ref = hops * 0.1 ms); NEST applies it."""
    if hops == 1:
        net = Network(4, [0, 0, 2], [2, 3, 3], [0.6, 0.6, 1.2])
    else:
        net = Network(4, [0, 0, 2, 1], [2, 3, 1, 3], [0.6, 0.6, 0.6, 1.2])
    p = params([2.0, 0.5, 0.5, 0.5], delay=0.1, t_ref=0.1 * hops)
    t_end = T1 + 0.5
    nest_train = en.simulate_nest(net, p, [0.5] * 4, t_end, resolution=0.1)
    t3 = nest_train.times[nest_train.neurons == 3]
    np.testing.assert_allclose(t3, [T1 + 0.1, T1 + 0.1 * (hops + 1)], rtol=0, atol=1e-12)
    for a in exact(net, p, [0.5] * 4, t_end):
        c = dv.compare(a, nest_train)
        assert c["identical"] and c["max_abs_dt_ms"] <= 1e-12


@needs_nest
def test_tiny_table():
    """The three networks at N = 200 (2000 spikes each): the summed rule reproduces NEST spike
    for spike in both simulators; the sequential rule parts on the E/I network, on simultaneous
    pulses, and nowhere else."""
    rows = en.nest_rows(en.NEST_SIZES["tiny"], networks=nw.NAMES)
    assert len(rows) == en.n_ticks() - len(nw.NAMES) and all(set(r) == set(en.COLUMNS) for r in rows)
    for r in rows:
        assert r["n_spikes_nest"] >= 1900, r
        if r["rule"] == "summed":
            assert r["status"] == "pass", r
        elif r["network"] == "ei":
            assert r["status"] == "parts" and r["cause"].startswith("simultaneous pulses"), r
        else:
            assert r["status"] == "identical", r
    ei = next(r for r in rows if r["network"] == "ei")
    assert ei["n_mixed_waves"] > 100 and ei["n_shared_instants"] > 100
    exc = next(r for r in rows if r["network"] == "excitatory")
    assert exc["n_at_refractory_end"] > 100


# ----------------------------------------------------------------------------- without NEST


def test_missing_nest_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "nest", None)  # makes ``import nest`` fail
    with pytest.raises(en.NestMissing, match="pip install"):
        en.import_nest()
    assert "pip install" in en.nest_missing()


@pytest.mark.parametrize("kw, resolution, match", [
    (dict(delay=0.0, t_ref=2.0), None, "delay"),
    (dict(delay=1.0, t_ref=0.0), None, "t_ref"),
    (dict(delay=1.0, t_ref=2.0), 0.3, "resolution"),
    (dict(delay=1.5, t_ref=2.0), 1.0, "resolution"),
    (dict(delay=1.0, t_ref=2.0), -0.1, "resolution"),
])
def test_grid_is_checked(kw, resolution, match):
    with pytest.raises(ValueError, match=match):
        en.resolution_for(SpikingParams("lif", **kw), resolution)


def test_coarsest_grid():
    assert en.resolution_for(SpikingParams("lif", delay=1.5, t_ref=2.0)) == 0.5
    assert en.resolution_for(SpikingParams("lif", delay=0.1, t_ref=0.2)) == 0.1
    with pytest.raises(ValueError, match="LIF"):
        en.resolution_for(SpikingParams("qif", delay=1.0, t_ref=1.0))


@needs_nest
def test_spiketimes_against_nest_writes_the_nest_table(tmp_path, capsys):
    """``evbench spiketimes --against nest``: only the nest table, the exit status of the summed rule."""
    import pandas as pd

    from evbench.cli import main

    assert main(["spiketimes", "--against", "nest", "--profile", "tiny", "--no-progress", "--out", str(tmp_path)]) == 0
    (machine,) = tmp_path.iterdir()
    (csv,) = machine.glob("spiketimes-nest-tiny-*.csv")
    assert [p.name.split("-")[1] for p in machine.glob("spiketimes-*.csv")] == ["nest"]
    table = pd.read_csv(csv)
    assert set(table[table.rule == "summed"].status) == {"pass"}
    assert set(table.network) == set(nw.NAMES)


def test_against_nest_without_nest_is_a_clear_error(monkeypatch, tmp_path, capsys):
    from evbench.cli import main

    monkeypatch.setattr(en, "nest_missing", lambda: "NEST is not installed: pip install 'nest-simulator>=3.10'")
    assert main(["spiketimes", "--against", "nest", "--no-progress", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "error: --against nest: NEST is not installed: pip install" in err and "Traceback" not in err
