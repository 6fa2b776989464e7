"""Exact spike times: SparseProp (``evbench.spiking.sparseprop``) against the naive reference.

Both simulators are exact and share one semantics (``reference.spiking``), so they must agree
spike for spike: the same neuron sequence, and times within ``RTOL * max(|t|, tau_m)`` (a spike
time is computed to an absolute precision of a few ulps of the time unit, so very early spikes
are compared on the scale of ``tau_m``). Hand-made cases pin the tie rules down in both.
"""
import math
import os

import numpy as np
import pytest

from evbench.spiking import sparseprop as sp
from evbench_reference import spiking as ref
from evbench_reference.spiking import Network, SpikingParams

RTOL = 1e-12
SIMULATORS = {"reference": ref.simulate, "sparseprop": sp.simulate}


def assert_same_spikes(a, b, params, *, v_atol=None):
    n = min(len(a), len(b))
    diff = np.flatnonzero(a.neurons[:n] != b.neurons[:n])
    first = int(diff[0]) if diff.size else n
    assert first == n and len(a) == len(b), (
        f"spike sequences differ: {len(a)} vs {len(b)} spikes, first difference at spike {first}: "
        f"reference {a.neurons[first:first + 3].tolist()} at {a.times[first:first + 3].tolist()}, "
        f"sparseprop {b.neurons[first:first + 3].tolist()} at {b.times[first:first + 3].tolist()}"
    )
    err = np.abs(a.times - b.times) / np.maximum(np.abs(a.times), params.tau_m)
    if err.size:
        worst = int(np.argmax(err))
        assert err[worst] <= RTOL, (
            f"spike {worst} (neuron {a.neurons[worst]}): reference t={a.times[worst]!r}, "
            f"sparseprop t={b.times[worst]!r}, relative difference {err[worst]:.2e} > {RTOL}"
        )
    assert a.stop == b.stop and a.t_stop == pytest.approx(b.t_stop, rel=RTOL, abs=RTOL * params.tau_m)
    if a.v_final is not None or b.v_final is not None:
        va, vb = a.v_final, b.v_final
        if params.model == "qif":  # compare angles: V spans [-inf, inf)
            va, vb, scale = 2 * np.arctan(va), 2 * np.arctan(vb), 1.0
        else:
            scale = params.v_th - params.v_reset
        err = np.abs(va - vb)
        err[va == vb] = 0.0  # equal infinities
        assert err.max() <= (v_atol or RTOL * 10) * scale, f"final states differ by {err.max():.2e}"


def both(network, params, v0, **run):
    return ref.simulate(network, params, v0, **run), sp.simulate(network, params, v0, **run)


def random_network(n, k, seed, *, w_exc, w_inh, p_exc, dup=0.1):
    """Random synapses (self-connections allowed), a share repeated exactly, in shuffled order."""
    rng = np.random.default_rng(seed)
    m = n * k
    pre, post = rng.integers(0, n, m), rng.integers(0, n, m)
    exc = rng.random(m) < p_exc
    w = np.where(exc, w_exc, -w_inh) * rng.uniform(0.5, 1.5, m)
    rep = rng.random(m) < dup
    pre, post, w = (np.concatenate([x, x[rep]]) for x in (pre, post, w))
    order = rng.permutation(pre.size)
    return Network(n, pre[order], post[order], w[order])


def lif_params(n, seed, *, hetero=False, sub_fraction=0.0, **kw):
    """Physical units (ms, mV): tau_m 20, rest -70, threshold -50, reset -60."""
    rng = np.random.default_rng(seed)
    drive = rng.uniform(22.0, 30.0, n) if hetero else 26.0
    if sub_fraction:
        drive = np.where(rng.random(n) < sub_fraction, rng.uniform(5.0, 20.0, n), drive)
    return SpikingParams("lif", tau_m=20.0, drive=drive, v_th=-50.0, v_reset=-60.0, v_rest=-70.0, **kw)


def lif_v0(n, seed):
    return np.random.default_rng(seed + 7).uniform(-60.0, -50.5, n)


def qif_params(n, seed, *, hetero=False, signs=False, **kw):
    rng = np.random.default_rng(seed)
    if signs:  # oscillators, excitable neurons and some exactly at the bifurcation
        drive = rng.choice([1.5, 0.0, -0.5, 2.5], n)
    else:
        drive = rng.uniform(1.0, 3.0, n) if hetero else 2.0
    return SpikingParams("qif", tau_m=10.0, drive=drive, **kw)


def qif_v0(n, seed):
    v = np.random.default_rng(seed + 7).normal(0.0, 2.0, n)
    v[::17] = -np.inf  # just reset
    return v


# ----------------------------------------------------------------------------- agreement

LIF_CASES = [  # (id, params kwargs, run kwargs)
    ("plain", dict(), dict(t_end=150.0)),
    ("delay", dict(delay=1.5), dict(t_end=150.0)),
    ("refractory", dict(t_ref=2.0), dict(t_end=150.0)),
    ("delay+refractory", dict(delay=1.5, t_ref=2.0), dict(t_end=150.0)),
    ("delay=t_ref", dict(delay=2.0, t_ref=2.0), dict(t_end=150.0)),
    ("heterogeneous", dict(hetero=True, delay=0.5), dict(t_end=150.0)),
    ("subthreshold share", dict(hetero=True, sub_fraction=0.4, t_ref=1.0), dict(t_end=150.0)),
    ("n_spikes", dict(hetero=True), dict(n_spikes=1500)),
]


@pytest.mark.parametrize("case", LIF_CASES, ids=[c[0] for c in LIF_CASES])
def test_lif_agrees(case):
    _, pkw, run = case
    n = 300
    net = random_network(n, 25, 1, w_exc=2.5, w_inh=3.0, p_exc=0.3)
    params = lif_params(n, 2, **pkw)
    a, b = both(net, params, lif_v0(n, 3), **run)
    assert len(a) > 500
    assert_same_spikes(a, b, params)


QIF_CASES = [
    ("plain", dict(), dict(t_end=250.0)),
    ("delay", dict(delay=0.7), dict(t_end=250.0)),
    ("refractory", dict(t_ref=0.5), dict(t_end=250.0)),
    ("delay+refractory", dict(delay=0.7, t_ref=0.5), dict(t_end=250.0)),
    ("heterogeneous", dict(hetero=True, delay=0.3), dict(t_end=250.0)),
    ("excitable and zero drive", dict(signs=True, t_ref=0.2), dict(t_end=250.0)),
    ("n_spikes", dict(hetero=True), dict(n_spikes=2000)),
]


@pytest.mark.parametrize("case", QIF_CASES, ids=[c[0] for c in QIF_CASES])
def test_qif_agrees(case):
    _, pkw, run = case
    n = 250
    # weak coupling: these QIF networks are chaotic, and at w ~ 1 rounding differences between
    # the two simulators grow tenfold per spike per neuron
    net = random_network(n, 20, 4, w_exc=0.12, w_inh=0.16, p_exc=0.4)
    params = qif_params(n, 5, **pkw)
    a, b = both(net, params, qif_v0(n, 6), **run)
    assert len(a) > 500
    assert_same_spikes(a, b, params)


def test_excitable_qif_fires_only_when_pushed():
    n = 60
    net = random_network(n, 10, 8, w_exc=0.8, w_inh=0.2, p_exc=0.9)
    drive = np.where(np.arange(n) < 5, 1.0, -0.25)  # five pacemakers drive the rest
    params = SpikingParams("qif", tau_m=5.0, drive=drive, delay=0.2)
    v0 = np.full(n, -1.0)
    a, b = both(net, params, v0, t_end=100.0)
    assert np.any(a.neurons >= 5)
    assert_same_spikes(a, b, params)


@pytest.mark.parametrize("model", ["lif", "qif"])
def test_subthreshold_network_is_silent(model):
    n = 80
    net = random_network(n, 10, 9, w_exc=1.0, w_inh=1.0, p_exc=0.5)
    if model == "lif":
        params = lif_params(n, 10, hetero=True, sub_fraction=1.0)
        v0 = lif_v0(n, 11)
    else:
        params = SpikingParams("qif", tau_m=10.0, drive=np.linspace(-2.0, 0.0, n))
        v0 = np.random.default_rng(12).uniform(-5.0, -1.5, n)
        v0[::9] = -np.inf
    a, b = both(net, params, v0, t_end=500.0)
    assert len(a) == 0 and a.stop == "t_end"
    assert_same_spikes(a, b, params)


def test_long_delays_and_runaway_cascades():
    """Queues and outputs outgrow their first allocation: many pending batches (long delay), and
    an excitatory avalanche at one instant (delay 0, t_ref 0) bounded by ``n_spikes``."""
    n, k = 2000, 20
    net = sp.balanced_network(n, k, seed=2)
    params = sp.balanced_params("lif", k, delay=1.0)
    a, b = both(net, params, sp.initial_state(params, n, 1), n_spikes=8000)
    assert_same_spikes(a, b, params)
    rng = np.random.default_rng(0)
    n = 1500
    net = Network(n, rng.integers(0, n, 10 * n), rng.integers(0, n, 10 * n), 0.6)
    params = SpikingParams("lif", drive=1.5)
    a, b = both(net, params, rng.uniform(0.0, 0.99, n), n_spikes=6000)
    assert np.all(a.times == a.times[0])
    assert_same_spikes(a, b, params)


def test_balanced_network_long_renormalised():
    """Hundreds of tau_m: many renormalisations of SparseProp's global shift."""
    n, k = 40, 8
    for model, j0 in (("lif", 1.0), ("qif", 0.2)):  # weak QIF coupling: no chaotic growth
        net = sp.balanced_network(n, k, j0=j0, seed=3)
        params = sp.balanced_params(model, k, delay=0.05)
        a, b = both(net, params, sp.initial_state(params, n, 4), t_end=400.0)
        assert a.times[-1] > 390.0
        assert_same_spikes(a, b, params, v_atol=1e-10)


# ----------------------------------------------------------------------------- semantics by hand


@pytest.mark.parametrize("simulate", SIMULATORS.values(), ids=SIMULATORS.keys())
def test_single_neurons_fire_periodically(simulate):
    empty = Network(2, np.zeros(0, int), np.zeros(0, int), np.zeros(0))
    lif = SpikingParams("lif", tau_m=10.0, drive=np.array([15.0, 30.0]), v_th=10.0, v_reset=0.0, t_ref=1.0)
    st = simulate(empty, lif, [0.0, 0.0], t_end=100.0)
    for j, mu in enumerate([15.0, 30.0]):
        period = 10.0 * math.log(mu / (mu - 10.0))
        t = st.times[st.neurons == j]
        np.testing.assert_allclose(t, period + np.arange(t.size) * (period + 1.0), rtol=1e-13)
    qif = SpikingParams("qif", tau_m=10.0, drive=np.array([1.0, 4.0]), t_ref=0.5)
    st = simulate(empty, qif, [-np.inf, -np.inf], t_end=100.0)
    for j, drive in enumerate([1.0, 4.0]):
        period = math.pi * 10.0 / math.sqrt(drive)
        t = st.times[st.neurons == j]
        np.testing.assert_allclose(t, period + np.arange(t.size) * (period + 0.5), rtol=1e-13)


@pytest.mark.parametrize("simulate", SIMULATORS.values(), ids=SIMULATORS.keys())
def test_equal_times_fire_in_index_order(simulate):
    empty = Network(4, np.zeros(0, int), np.zeros(0, int), np.zeros(0))
    params = SpikingParams("lif", drive=2.0)
    st = simulate(empty, params, np.full(4, 0.3), n_spikes=12)
    assert st.neurons.tolist() == [0, 1, 2, 3] * 3
    assert np.all(st.times.reshape(3, 4) == st.times.reshape(3, 4)[:, :1])


@pytest.mark.parametrize("simulate", SIMULATORS.values(), ids=SIMULATORS.keys())
def test_cascade_is_breadth_first(simulate):
    # 0 fires at once; its pulses bring 3 then 1 over threshold, then 3's pulse brings 2 over
    net = Network(4, [0, 0, 3], [3, 1, 2], [1.0, 1.0, 1.0])
    params = SpikingParams("lif", drive=np.array([2.0, 0.5, 0.5, 0.5]))
    v0 = [1.0 - 1e-9, 0.5, 0.5, 0.5]
    st = simulate(net, params, v0, n_spikes=4)
    assert st.neurons.tolist() == [0, 3, 1, 2]
    assert np.all(st.times == st.times[0])


@pytest.mark.parametrize("simulate", SIMULATORS.values(), ids=SIMULATORS.keys())
def test_pulse_at_the_same_instant(simulate):
    params = SpikingParams("lif", drive=2.0)
    v0 = [0.5, 0.5]
    # 0 goes first on the tie and inhibits 1 at that instant: 1 no longer fires then
    st = simulate(Network(2, [0], [1], [-0.3]), params, v0, n_spikes=2)
    assert st.neurons.tolist() == [0, 0] or st.times[1] > st.times[0]
    # 1 inhibits 0 only after 0 has fired: both fire at the same time
    st = simulate(Network(2, [1], [0], [-0.3]), params, v0, n_spikes=2)
    assert st.neurons.tolist() == [0, 1] and st.times[0] == st.times[1]


@pytest.mark.parametrize("simulate", SIMULATORS.values(), ids=SIMULATORS.keys())
@pytest.mark.parametrize("t_ref", [0.0, 0.1])
def test_duplicate_synapses_apply_one_after_another(simulate, t_ref):
    # 0 reaches 1 twice with weight 1.2: the first pulse fires 1 and resets it; the second fires it
    # again (t_ref = 0) or is discarded (refractory)
    net = Network(2, [0, 0], [1, 1], [1.2, 1.2])
    params = SpikingParams("lif", drive=np.array([2.0, 0.5]), t_ref=t_ref)
    st = simulate(net, params, [0.9, 0.2], t_end=0.5)
    first = st.times[0]
    same = st.neurons[st.times == first].tolist()
    assert same == ([0, 1, 1] if t_ref == 0 else [0, 1])


@pytest.mark.parametrize("simulate", SIMULATORS.values(), ids=SIMULATORS.keys())
def test_refractory_discards_input(simulate):
    # 1 fires at ln 2 and is refractory until ln 2 + 1; 0 fires at t = 1 and pulses 1 meanwhile
    net = Network(2, [0], [1], [0.5])
    params = SpikingParams("lif", drive=2.0, t_ref=1.0)
    v0 = [2.0 - math.e, 0.0]
    st = simulate(net, params, v0, t_end=1.2)
    assert st.neurons.tolist() == [1, 0]
    np.testing.assert_allclose(st.times, [math.log(2.0), 1.0], rtol=1e-14)
    assert st.v_final[1] == 0.0  # held at reset, the pulse discarded
    st = simulate(net, params, v0, t_end=2.5)
    assert st.neurons.tolist() == [1, 0, 1]
    assert st.times[2] == pytest.approx(2 * math.log(2.0) + 1.0, rel=1e-14)


def test_dimensionless_form():
    params = SpikingParams("lif", tau_m=20.0, drive=np.array([26.0, 30.0]), v_th=-50.0, v_reset=-60.0, v_rest=-70.0,
                           delay=2.0, t_ref=4.0)
    d = ref.to_dimensionless(params, 2)
    np.testing.assert_allclose(d.drive, [1.6, 2.0])
    assert (d.delay, d.t_ref, d.v_scale) == (0.1, 0.2, 10.0)
    np.testing.assert_allclose(d.to_v([-60.0, -50.0]), [0.0, 1.0])
    phi = np.array([0.1, 0.4])
    np.testing.assert_allclose(d.phase(d.voltage(phi)), phi, rtol=1e-12)
    # the LIF phase transition curve is additive in exp(-phase)
    np.testing.assert_allclose(np.exp(-d.ptc(phi, -0.2)), np.exp(-phi) + 0.2 / d.drive, rtol=1e-12)
    np.testing.assert_allclose(d.period(), np.log(d.drive / (d.drive - 1)))
    q = ref.to_dimensionless(SpikingParams("qif", tau_m=5.0, drive=4.0), 2)
    np.testing.assert_allclose(q.period(), np.pi / 2)
    np.testing.assert_allclose(q.phase(q.voltage(np.array([0.2, 1.0]))), [0.2, 1.0], rtol=1e-12)


def test_balanced_network_is_seeded():
    a, b = sp.balanced_network(300, 20, seed=5), sp.balanced_network(300, 20, seed=5)
    assert np.array_equal(a.post, b.post) and np.array_equal(a.pre, b.pre)
    assert np.all(np.bincount(a.pre, minlength=300) == 20)
    assert not np.any(a.pre == a.post)
    assert not np.array_equal(a.post, sp.balanced_network(300, 20, seed=6).post)


# ----------------------------------------------------------------------------- bad input

GOOD_NET = Network(3, [0, 1], [1, 2], [0.1, -0.1])


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: SpikingParams("lif", delay=-1.0), "delay"),
        (lambda: SpikingParams("lif", t_ref=-0.5), "t_ref"),
        (lambda: SpikingParams("lif", tau_m=0.0), "tau_m"),
        (lambda: SpikingParams("lif", tau_m=math.inf), "tau_m"),
        (lambda: SpikingParams("lif", drive=math.nan), "drive"),
        (lambda: SpikingParams("lif", drive=[1.0, math.inf]), "drive"),
        (lambda: SpikingParams("lif", v_th=0.0, v_reset=0.0), "v_reset"),
        (lambda: SpikingParams("lif", v_rest=math.inf), "v_rest"),
        (lambda: SpikingParams("qif", v_th=1.0), "v_th"),
        (lambda: SpikingParams("lfi"), "model"),
        (lambda: Network(3, [0, 1], [1], [0.1]), "pre and post"),
        (lambda: Network(3, [0, 1], [1, 2], [0.1, 0.2, 0.3]), "weight"),
        (lambda: Network(3, [0, 3], [1, 2], [0.1, 0.2]), "pre"),
        (lambda: Network(3, [0, 1], [1, -1], [0.1, 0.2]), "post"),
        (lambda: Network(3, [0, 1], [1, 2], [0.1, math.nan]), "weight"),
    ],
)
def test_bad_parameters(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize("simulate", SIMULATORS.values(), ids=SIMULATORS.keys())
@pytest.mark.parametrize(
    "params, v0, run, match",
    [
        (SpikingParams(drive=[2.0, 2.0]), [0.0] * 3, dict(t_end=1.0), "drive"),
        (SpikingParams(), [0.0] * 2, dict(t_end=1.0), "v0"),
        (SpikingParams(), [0.0, math.nan, 0.0], dict(t_end=1.0), "v0"),
        (SpikingParams(), [0.0, 1.0, 0.0], dict(t_end=1.0), "v0"),
        (SpikingParams("qif"), [0.0, math.inf, 0.0], dict(t_end=1.0), "v0"),
        (SpikingParams(), [0.0] * 3, dict(t_end=0.0), "t_end"),
        (SpikingParams(), [0.0] * 3, dict(t_end=-2.0), "t_end"),
        (SpikingParams(), [0.0] * 3, dict(t_end=math.inf), "t_end"),
        (SpikingParams(), [0.0] * 3, dict(n_spikes=0), "n_spikes"),
        (SpikingParams(), [0.0] * 3, dict(), "t_end or n_spikes"),
    ],
)
def test_bad_runs(simulate, params, v0, run, match):
    with pytest.raises(ValueError, match=match):
        simulate(GOOD_NET, params, v0, **run)


# ----------------------------------------------------------------------------- long run


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("EVBENCH_SLOW") != "1", reason="long check: set EVBENCH_SLOW=1")
@pytest.mark.parametrize("model, j0", [("lif", 1.0), ("qif", 0.3)])
@pytest.mark.parametrize("delay", [0.0, 0.1])
def test_long_run_matches_reference(model, j0, delay):
    """1e5 spikes of a balanced network of 1e4 neurons (k = 100).

    The QIF coupling is weakened (j0 = 0.3): at j0 = 1 the network is chaotic enough that rounding
    differences grow to ~1e-11 relative within 1e5 spikes (the sequence still agrees).
    """
    n, k = 10_000, 100
    net = sp.balanced_network(n, k, j0=j0, seed=1)
    params = sp.balanced_params(model, k, delay=delay)
    a, b = both(net, params, sp.initial_state(params, n, 3), n_spikes=100_000)
    assert_same_spikes(a, b, params)
