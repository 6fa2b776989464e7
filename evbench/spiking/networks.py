"""The LIF networks compared against NEST (``evbench.spiking.nest``), in ms and mV.

All share ``tau_m = 20`` ms, ``v_rest = -70``, ``v_reset = -60`` (reset above rest),
``v_th = -50`` mV, start from voltages drawn uniformly in ``[v_reset, v_th - 0.5]`` and are seeded.
Each neuron sends a fixed number of synapses to targets drawn with replacement (multapses and
autapses occur), listed in shuffled order.

* ``inhibitory``: inhibition only (``-0.5`` mV), heterogeneous drive all above rheobase
  (``mu = v_rest + drive`` 5 to 15 mV above threshold), ``delay = 1.5``, ``t_ref = 2`` ms. No
  pulse can fire a neuron, so the two rules agree here.
* ``ei``: 80 % excitatory, 20 % inhibitory (Dale's law), per-synapse weights (excitatory
  ``0.3 U(0.5, 1.5)`` mV, inhibitory ``-8`` times that: inhibition dominates), drive 2 to 15 mV above
  rheobase, ``delay = 1``, ``t_ref = 2`` ms. An excitatory spike often fires several neurons at one
  instant; their batches then arrive together, with both signs. (With stronger excitation the
  rounding differences between simulators grow exponentially: measured against NEST at N = 1000,
  to 1e-6 ms within 330 ms with 0.8 mV, ``g = 5`` and drive from 5 mV below rheobase; to 7e-11 ms
  within 450 ms with 0.5 mV and ``g = 8``. These weights stay within 4e-12 ms over 4 s.)
* ``excitatory``: excitation only, with many multapses (a third of the synapses repeated 1 to 3
  more times); 20 % pacemakers above rheobase that take no input, the rest below rheobase
  (firing only when pushed; weights ``0.5 U(0.5, 1.5)`` mV from pacemakers, ``0.1 U(0.5, 1.5)``
  from the others), ``delay = t_ref = 2`` ms: a neuron that fires together with a source takes
  its pulse exactly when its refractoriness ends (a tie, applied).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from evbench_reference.spiking import Network, SpikingParams

NAMES = ("inhibitory", "ei", "excitatory")
TAU_M, V_REST, V_RESET, V_TH = 20.0, -70.0, -60.0, -50.0
W_PACE, W_SUB = 0.5, 0.1  # excitatory network: weights from pacemakers and from the others


@dataclass(frozen=True, eq=False)
class NestCase:
    """One network to compare against NEST: its connectivity, parameters, initial voltages, NEST's step."""

    name: str
    network: Network
    params: SpikingParams
    v0: np.ndarray
    resolution: float  # NEST's step (ms): divides delay and t_ref


def _targets(rng, n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    pre = np.repeat(np.arange(n), k)
    return pre, rng.integers(0, n, n * k)


def _shuffled(n, pre, post, w, rng) -> Network:
    order = rng.permutation(pre.size)
    return Network(n, pre[order], post[order], w[order])


def make(name: str, n: int, *, seed: int = 1) -> NestCase:
    """Network ``name`` (one of ``NAMES``) of ``n`` neurons."""
    if name not in NAMES:
        raise ValueError(f"name must be one of {NAMES}, got {name!r}")
    if not (isinstance(n, (int, np.integer)) and n >= 10):
        raise ValueError(f"n must be an integer >= 10, got {n!r}")
    rng = np.random.default_rng([seed, NAMES.index(name)])
    lif = dict(tau_m=TAU_M, v_rest=V_REST, v_reset=V_RESET, v_th=V_TH)
    rheobase = V_TH - V_REST
    if name == "inhibitory":
        pre, post = _targets(rng, n, 100)
        net = _shuffled(n, pre, post, np.full(pre.size, -0.5), rng)
        params = SpikingParams("lif", drive=rng.uniform(rheobase + 5, rheobase + 15, n), delay=1.5, t_ref=2.0,
                               **lif)
        resolution = 0.5
    elif name == "ei":
        pre, post = _targets(rng, n, 100)
        exc = pre < int(0.8 * n)
        w = 0.3 * rng.uniform(0.5, 1.5, pre.size) * np.where(exc, 1.0, -8.0)
        net = _shuffled(n, pre, post, w, rng)
        params = SpikingParams("lif", drive=rng.uniform(rheobase + 2, rheobase + 15, n), delay=1.0, t_ref=2.0,
                               **lif)
        resolution = 1.0
    else:
        pace = rng.random(n) < 0.2
        pre = np.repeat(np.arange(n), 40)
        post = rng.choice(np.flatnonzero(~pace), pre.size)  # pacemakers take no input
        rep = rng.integers(1, 4, pre.size) * (rng.random(pre.size) < 1 / 3)  # 0-3 extra copies of a third
        pre, post = np.repeat(pre, 1 + rep), np.repeat(post, 1 + rep)
        w = np.where(pace[pre], W_PACE, W_SUB) * rng.uniform(0.5, 1.5, pre.size)
        net = _shuffled(n, pre, post, w, rng)
        drive = np.where(pace, rng.uniform(rheobase + 2, rheobase + 10, n), rng.uniform(rheobase - 15, rheobase - 2, n))
        params = SpikingParams("lif", drive=drive, delay=2.0, t_ref=2.0, **lif)
        resolution = 2.0
    v0 = rng.uniform(V_RESET, V_TH - 0.5, n)
    return NestCase(name, net, params, v0, resolution)
