"""The two rules for simultaneous pulses (``SpikingParams.simultaneous``) in both exact simulators.

Hand-made networks whose spike trains are worked out by hand (dimensionless LIF: ``tau_m = 1``,
threshold 1, reset and rest 0; a neuron with ``drive = x < 1`` sits at its fixed point ``V = x``),
and SparseProp against the reference under the summed rule on random networks where waves of
several batches, multapses and exact ties at the end of refractoriness all happen.
"""
import dataclasses
import math

import numpy as np
import pytest

from evbench.spiking import sparseprop as sp
from evbench_reference import spiking as ref
from evbench_reference.spiking import Network, SpikingParams

from .test_spiketimes import SIMULATORS, assert_same_spikes, both, lif_params, lif_v0, random_network

RULES = ("sequential", "summed")
T1 = math.log(1.5)  # first spike of a neuron with drive 2 from V = 0.5


def params(drive, rule, **kw):
    return SpikingParams("lif", drive=np.asarray(drive, dtype=float), simultaneous=rule, **kw)


@pytest.mark.parametrize("simulate", SIMULATORS.values(), ids=SIMULATORS.keys())
@pytest.mark.parametrize("rule", RULES)
def test_partial_sum_crosses_whole_does_not(simulate, rule):
    """0 and 1 fire together; their pulses +0.6 (0's, emitted first) and -0.5 reach 2 at V = 0.5.
    One by one 0.5 + 0.6 >= 1 fires 2; summed, 0.5 + 0.1 does not."""
    p = params([2.0, 2.0, 0.5], rule, delay=0.1, t_ref=0.05)
    net = Network(3, [0, 1], [2, 2], [0.6, -0.5])
    st = simulate(net, p, [0.5, 0.5, 0.5], t_end=T1 + 0.3)
    if rule == "sequential":
        assert st.neurons.tolist() == [0, 1, 2]
        np.testing.assert_allclose(st.times, [T1, T1, T1 + 0.1], rtol=1e-14)
        assert st.v_final[2] == pytest.approx(0.5 * -math.expm1(-0.15), rel=1e-12)  # reset, refractory 0.05
    else:
        assert st.neurons.tolist() == [0, 1]
        assert st.v_final[2] == pytest.approx(0.5 + 0.1 * math.exp(-0.2), rel=1e-12)
    # emitted in the other order, the inhibitory pulse comes first: no spike under either rule
    st = simulate(Network(3, [0, 1], [2, 2], [-0.5, 0.6]), p, [0.5, 0.5, 0.5], t_end=T1 + 0.3)
    assert st.neurons.tolist() == [0, 1]


@pytest.mark.parametrize("simulate", SIMULATORS.values(), ids=SIMULATORS.keys())
@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("hops", [1, 2])
def test_pulse_at_the_end_of_refractoriness(simulate, rule, hops):
    """0 fires and pushes 1 and 2 over at T1 + d. 2 reaches 3 after ``hops`` delays (via 1 when
    hops == 2); with t_ref = hops * d the pulse arrives exactly as 3's refractoriness ends: applied.
    With d = 0.1 (not a binary fraction) T1 + d + d and T1 + 0.2 round apart."""
    d = 0.1
    p = params([2.0, 0.5, 0.5, 0.5], rule, delay=d, t_ref=hops * d)
    if hops == 1:  # 0 -> 2, 3; 2 -> 3
        net = Network(4, [0, 0, 2], [2, 3, 3], [0.6, 0.6, 1.2])
    else:  # 0 -> 2, 3; 2 -> 1; 1 -> 3
        net = Network(4, [0, 0, 2, 1], [2, 3, 1, 3], [0.6, 0.6, 0.6, 1.2])
    st = simulate(net, p, [0.5] * 4, t_end=T1 + (hops + 1) * d + 0.01)
    assert st.neurons[st.neurons == 3].size == 2, st.neurons.tolist()
    t3 = st.times[st.neurons == 3]
    assert t3[0] == pytest.approx(T1 + d, rel=1e-14) and t3[1] == pytest.approx(T1 + (hops + 1) * d, rel=1e-14)
    # a weaker pulse at the same instant lands on v_reset
    net = Network(4, net.pre, net.post, np.where(np.arange(net.n_synapses) == net.n_synapses - 1, 0.3, net.weight))
    st = simulate(net, p, [0.5] * 4, t_end=T1 + (hops + 1) * d + 1e-9)
    assert (st.neurons == 3).sum() == 1 and st.v_final[3] == pytest.approx(0.3, abs=1e-8)


@pytest.mark.parametrize("simulate", SIMULATORS.values(), ids=SIMULATORS.keys())
@pytest.mark.parametrize("t_ref", [0.0, 0.1])
def test_multapse_is_one_pulse_when_summed(simulate, t_ref):
    """0 reaches 1 twice with 1.2: sequentially 1 fires, then again (t_ref = 0) or not; summed, once."""
    net = Network(2, [0, 0], [1, 1], [1.2, 1.2])
    for rule, expected in (("sequential", [0, 1, 1] if t_ref == 0 else [0, 1]), ("summed", [0, 1])):
        st = simulate(net, params([2.0, 0.5], rule, t_ref=t_ref), [0.9, 0.2], t_end=0.5)
        assert st.neurons[st.times == st.times[0]].tolist() == expected


@pytest.mark.parametrize("simulate", SIMULATORS.values(), ids=SIMULATORS.keys())
def test_waves_at_one_instant_with_zero_delay(simulate):
    """delay 0: 0's batch (to 2, then 1) fires 2 and 1; their batches reach 3 at V = 0.8: +0.3
    from 2 and -0.2 from 1. Sequentially the spikes go in synapse order (2, 1) and so do their
    batches: +0.3 first fires 3. Summed, 1 and 2 go in index order, one wave, and 3 gets +0.1.
    With the signs swapped, -0.2 comes first and neither rule fires 3."""
    v0, drive = [0.9, 0.5, 0.5, 0.8], [2.0, 0.5, 0.5, 0.8]
    net = Network(4, [0, 0, 1, 2], [2, 1, 3, 3], [0.6, 0.6, -0.2, 0.3])
    seq = simulate(net, params(drive, "sequential"), v0, t_end=0.2)
    assert seq.neurons.tolist() == [0, 2, 1, 3] and np.all(seq.times == seq.times[0])
    summed = simulate(net, params(drive, "summed"), v0, t_end=0.2)
    assert summed.neurons.tolist() == [0, 1, 2] and np.all(summed.times == summed.times[0])
    assert summed.v_final[3] == pytest.approx(0.9 - 0.1 * -math.expm1(-(0.2 - math.log(1.1))), rel=1e-12)
    swapped = Network(4, net.pre, net.post, [0.6, 0.6, 0.3, -0.2])
    assert simulate(swapped, params(drive, "sequential"), v0, t_end=0.2).neurons.tolist() == [0, 2, 1]
    assert simulate(swapped, params(drive, "summed"), v0, t_end=0.2).neurons.tolist() == [0, 1, 2]


def test_rule_is_checked():
    with pytest.raises(ValueError, match="simultaneous"):
        SpikingParams("lif", simultaneous="together")


# ----------------------------------------------------------------------------- agreement


def exc_network(n, seed, *, w):
    """Excitation only, a fifth of the synapses doubled (multapses), equal or random weights."""
    rng = np.random.default_rng(seed)
    pre, post = np.repeat(np.arange(n), 12), rng.integers(0, n, 12 * n)
    rep = rng.random(pre.size) < 0.2
    pre, post = np.concatenate([pre, pre[rep]]), np.concatenate([post, post[rep]])
    weight = np.full(pre.size, w) if np.ndim(w) == 0 else rng.uniform(*w, pre.size)
    return Network(n, pre, post, weight)


SUMMED_CASES = [  # (id, network, params, v0, run)
    ("equal weights, equal drive", lambda: exc_network(300, 1, w=0.03),
     lambda n: SpikingParams("lif", drive=1.3, delay=0.02, t_ref=0.04), dict(t_end=3.0)),
    ("equal weights, per-neuron drive", lambda: exc_network(300, 2, w=0.06),
     lambda n: SpikingParams("lif", drive=np.random.default_rng(3).uniform(0.6, 1.4, n), delay=0.02, t_ref=0.02),
     dict(t_end=3.0)),
    ("equal weights, delay 0", lambda: exc_network(300, 1, w=0.03),
     lambda n: SpikingParams("lif", drive=1.3, t_ref=0.05), dict(t_end=3.0)),
    ("mixed weights, equal drive", lambda: random_network(300, 25, 1, w_exc=2.5, w_inh=3.0, p_exc=0.3),
     lambda n: lif_params(n, 2, delay=2.0, t_ref=2.0), dict(t_end=150.0)),
    ("mixed weights, per-neuron drive", lambda: random_network(300, 25, 1, w_exc=2.5, w_inh=3.0, p_exc=0.3),
     lambda n: lif_params(n, 2, hetero=True, sub_fraction=0.3, delay=0.5, t_ref=1.0), dict(t_end=150.0)),
    ("mixed weights, delay 0", lambda: random_network(300, 25, 1, w_exc=2.5, w_inh=3.0, p_exc=0.3),
     lambda n: lif_params(n, 2, hetero=True), dict(n_spikes=2000)),
]


def canonical(st):
    order = np.lexsort((st.neurons, st.times))
    return st.neurons[order], st.times[order]


@pytest.mark.parametrize("case", SUMMED_CASES, ids=[c[0] for c in SUMMED_CASES])
def test_sparseprop_reproduces_reference_summed(case):
    name, make_net, make_params, run = case
    net = make_net()
    p = dataclasses.replace(make_params(net.n_neurons), simultaneous="summed")
    v0 = lif_v0(net.n_neurons, 3) if p.v_th == -50.0 else np.random.default_rng(5).uniform(0.0, 0.95, net.n_neurons)
    a, b = both(net, p, v0, **run)
    _, count = np.unique(a.times, return_counts=True)
    assert len(a) > 500 and (count > 1).sum() > 20, "the case must have waves of several batches"
    assert_same_spikes(a, b, p)
    seq = ref.simulate(net, dataclasses.replace(p, simultaneous="sequential"), v0, **run)
    (na, ta), (ns, ts) = canonical(a), canonical(seq)
    if name.startswith("equal"):  # excitation only, t_ref > 0: a partial sum crosses iff the whole does
        assert np.array_equal(na, ns)
        np.testing.assert_allclose(ta, ts, rtol=1e-12)
    else:  # mixed signs: the rules part
        assert na.size != ns.size or not np.array_equal(na, ns)


def test_summed_runaway_cascade():
    """delay 0, t_ref 0: an excitatory avalanche at one instant, waves after waves, bounded by n_spikes."""
    rng = np.random.default_rng(0)
    n = 1500
    net = Network(n, rng.integers(0, n, 10 * n), rng.integers(0, n, 10 * n), 0.6)
    p = SpikingParams("lif", drive=1.5, simultaneous="summed")
    a, b = both(net, p, rng.uniform(0.0, 0.99, n), n_spikes=6000)
    assert np.all(a.times == a.times[0])
    assert_same_spikes(a, b, p)


def test_qif_rules_coincide():
    """A pulse cannot fire a QIF neuron: both rules give the same spikes, computed alike."""
    net = random_network(100, 10, 4, w_exc=0.12, w_inh=0.16, p_exc=0.4)
    p = SpikingParams("qif", tau_m=10.0, drive=2.0, delay=0.5)
    v0 = np.random.default_rng(6).normal(0.0, 2.0, 100)
    for simulate in SIMULATORS.values():
        a = simulate(net, p, v0, t_end=100.0)
        b = simulate(net, dataclasses.replace(p, simultaneous="summed"), v0, t_end=100.0)
        assert np.array_equal(a.neurons, b.neurons) and np.array_equal(a.times, b.times)


def test_rules_agree_without_excitation():
    """On a purely inhibitory network no pulse can fire a neuron: both rules give the same spikes
    (SparseProp's summed loop applies the pulses in the same order, so to the bit here)."""
    net = sp.balanced_network(500, 20, seed=2)
    p = sp.balanced_params("lif", 20, delay=0.05)
    v0 = sp.initial_state(p, 500, 1)
    a = sp.simulate(net, p, v0, n_spikes=3000)
    b = sp.simulate(net, dataclasses.replace(p, simultaneous="summed"), v0, n_spikes=3000)
    assert np.array_equal(a.neurons, b.neurons) and np.array_equal(a.times, b.times)
