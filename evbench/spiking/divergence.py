"""Where two exact spike trains part, and why: the comparison behind ``evbench spiketimes --against nest``.

Trains are compared in canonical order (by time, then neuron: two simulators may record the
spikes of one instant in different orders). The first divergence is the first index whose
neuron differs, or the shorter length. Its cause is diagnosed from the common prefix: the
prefix fixes every neuron's history, so the membrane value of the neuron that fires in one run
only can be replayed from its inputs (``replay``), and the pulses it takes at that instant
show whether the rule for simultaneous pulses decides the spike.
"""
from __future__ import annotations

import math

import numpy as np

from evbench_reference.spiking import Network, SpikeTrain, SpikingParams, lif_evolve, lif_time_to_spike

TIME_TOL_MS = 1e-9  # spike-for-spike agreement: the same neurons, times within this


def canonical(train: SpikeTrain) -> SpikeTrain:
    """The train sorted by time, then neuron (stable)."""
    order = np.lexsort((train.neurons, train.times))
    return SpikeTrain(train.times[order], train.neurons[order], train.n_neurons, train.t_stop, train.stop,
                      train.v_final)


def compare(a: SpikeTrain, b: SpikeTrain) -> dict:
    """Canonical trains ``a`` and ``b``: identical neuron sequences?, max |dt| before they part.

    ``first_divergence`` is the first index whose neuron differs, or the shorter length when one
    run has more spikes, or -1; ``max_abs_dt_ms`` is over the spikes before it.
    """
    n = min(len(a), len(b))
    diff = np.flatnonzero(a.neurons[:n] != b.neurons[:n])
    first = int(diff[0]) if diff.size else (n if len(a) != len(b) else -1)
    m = first if first >= 0 else n
    dt = np.abs(a.times[:m] - b.times[:m])
    return dict(identical=first == -1, max_abs_dt_ms=float(dt.max()) if m else 0.0,
                worst_index=int(np.argmax(dt)) if m else -1, first_divergence=first)


def incoming(network: Network, j: int) -> tuple[np.ndarray, np.ndarray]:
    """Synapses onto ``j`` in emission order of one batch: ``(pre, weight)`` in CSR order."""
    indptr, post, weight = network.csr
    pre = np.repeat(np.arange(network.n_neurons), np.diff(indptr))
    on = post == j
    return pre[on], weight[on]


def replay(network: Network, params: SpikingParams, v0, prefix: SpikeTrain, j: int, t: float) -> dict:
    """Neuron ``j`` just before ``t``, its history fixed by ``prefix`` (spikes before the divergence).

    Returns ``v`` (``V(t-)``; earlier instants are applied summed: the prefix is common, so the
    rules agreed on them), ``ref_end`` (the end of its last refractory period, or -inf),
    ``refractory`` (at ``t``; an end within ``TIME_TOL_MS`` of ``t`` counts as over) and ``pulses``
    (the weights arriving at ``t``, in emission then synapse order).
    """
    p = params
    pre, w = incoming(network, j)
    own = prefix.times[(prefix.neurons == j) & (prefix.times < t)]
    t0, v = (float(own[-1]) + p.t_ref, p.v_reset) if own.size else (0.0, float(v0[j]))
    refractory = bool(own.size) and t < t0 - TIME_TOL_MS
    mu = p.v_rest + p.drive_array(network.n_neurons)[j]
    arrive = prefix.times + p.delay
    keep = np.isin(prefix.neurons, pre) & (arrive >= t0 - TIME_TOL_MS) & (arrive <= t + TIME_TOL_MS)
    at_t, before = [], []
    for s in np.flatnonzero(keep):
        ws = w[pre == prefix.neurons[s]].tolist()
        (at_t if abs(arrive[s] - t) <= TIME_TOL_MS else before).append((float(arrive[s]), ws))
    for ta in sorted({x[0] for x in before}):  # earlier instants, each wave summed
        total = sum(sum(ws) for tb, ws in before if tb == ta)
        v = float(lif_evolve(v, max(ta - t0, 0.0), mu, p.tau_m)[0]) + total
        t0 = max(ta, t0)
    if not refractory:
        v = float(lif_evolve(v, max(t - t0, 0.0), mu, p.tau_m)[0])
    return dict(v=v, ref_end=float(own[-1]) + p.t_ref if own.size else -math.inf, refractory=refractory,
                pulses=[x for _, ws in at_t for x in ws])


def diagnose(network: Network, params: SpikingParams, v0, a: SpikeTrain, b: SpikeTrain, first: int,
             names=("evbench", "NEST")) -> dict:
    """The first divergence of canonical trains ``a``, ``b`` at index ``first``: time, neuron, cause."""
    if first < 0:
        return dict(first_divergence_ms=math.nan, first_divergence_neuron=-1, cause="")
    t = min(float(x.times[first]) for x in (a, b) if first < len(x))
    near = [x.neurons[first:][np.abs(x.times[first:] - t) <= TIME_TOL_MS].tolist() for x in (a, b)]
    extra = [sorted(set(near[k]) - set(near[1 - k])) for k in (0, 1)]
    if not extra[0] and not extra[1]:
        return dict(first_divergence_ms=t, first_divergence_neuron=int(a.neurons[first]),
                    cause=f"order of near-simultaneous spikes at {t!r} ms: {near[0][:6]} in {names[0]}, "
                          f"{near[1][:6]} in {names[1]}")
    k = 0 if extra[0] and (not extra[1] or extra[0][0] < extra[1][0]) else 1
    j = int(extra[k][0])
    prefix = SpikeTrain(a.times[:first], a.neurons[:first], a.n_neurons, t, "t_end")
    r = replay(network, params, v0, prefix, j, t)
    v, pulses, p = r["v"], r["pulses"], params
    out = dict(first_divergence_ms=t, first_divergence_neuron=j)
    where = f"neuron {j} fires at {t:.6f} ms in {names[k]} only"
    if r["refractory"]:
        out["cause"] = f"unexplained: {where}, refractory then in the common history"
        return out
    if abs(t - r["ref_end"]) <= TIME_TOL_MS:
        out["cause"] = (f"pulse at the end of refractoriness: {where}; its refractoriness ends at {t:.6f} ms, as "
                        f"{len(pulses)} pulse(s) arrive (sum {sum(pulses):+.6f} on V = v_reset = {p.v_reset}); a tie "
                        f"that NEST resolves exactly (the end first, then the pulses)")
        return out
    partial = v + np.cumsum(pulses) if pulses else np.zeros(0)
    seq = int(np.argmax(partial >= p.v_th)) if np.any(partial >= p.v_th) else -1
    total = v + sum(pulses)
    exc, inh = sum(x > 0 for x in pulses), sum(x < 0 for x in pulses)
    free = float(lif_time_to_spike(v, p.v_rest + p.drive_array(network.n_neurons)[j], p.v_th, p.tau_m)[0])
    if len(pulses) >= 2 and seq >= 0 and total < p.v_th:
        out["cause"] = (f"simultaneous pulses: {where}; {len(pulses)} pulses arrive together ({exc} excitatory, "
                        f"{inh} inhibitory) on V = {v:.6f}; one by one the first {seq + 1} reach "
                        f"{partial[seq]:.6f} >= v_th = {p.v_th} (sequential rule fires), together they reach "
                        f"{total:.6f} (summed rule, NEST's: no spike)")
    elif abs(total - p.v_th) <= 1e-9 * max(1.0, abs(p.v_th)):
        out["cause"] = f"threshold within rounding: {where}; V after the pulses {total!r}, v_th = {p.v_th}"
    elif free <= TIME_TOL_MS:
        out["cause"] = f"own threshold crossing at that instant: {where}; it reaches v_th by itself then"
    else:
        out["cause"] = (f"unexplained: {where}; V(t-) = {v:.9f}, pulses at t: {[round(x, 9) for x in pulses]}, "
                        f"free-run crossing in {free:.3g} ms")
    return out


def coincidences(network: Network, params: SpikingParams, train: SpikeTrain) -> dict:
    """How often a train puts the rules to the test (``delay > 0``).

    ``n_shared_instants``: instants at which two or more neurons spike (their batches arrive
    together); ``n_mixed_waves``: (instant, neuron) pairs where a neuron not refractory then takes
    pulses of both signs at once; ``n_at_refractory_end``: pulses that arrive exactly as their
    target's refractoriness ends (``delay == t_ref``: the target fired with the source; applied,
    in evbench and NEST alike).
    """
    times, neurons = train.times, train.neurons
    indptr, post, weight = network.csr
    pre = np.repeat(np.arange(network.n_neurons), np.diff(indptr))
    autapses = np.bincount(pre[pre == post], minlength=network.n_neurons)
    key = pre * network.n_neurons + post
    pos, neg = np.unique(key[weight > 0]), np.unique(key[weight < 0])
    mixed_self = np.bincount(np.intersect1d(pos, neg) // network.n_neurons, minlength=network.n_neurons)
    _, start, count = np.unique(times, return_index=True, return_counts=True)
    order = np.argsort(neurons, kind="stable")
    own = np.split(times[order], np.cumsum(np.bincount(neurons, minlength=network.n_neurons))[:-1])
    same_t = params.delay == params.t_ref
    mixed = 0
    at_end = int(autapses[neurons[start[count == 1]]].sum()) if same_t else 0
    for s, c in zip(start, count):
        src = neurons[s:s + c]
        if c == 1 and not mixed_self[src[0]]:
            continue
        t = times[s] + params.delay
        tg = np.concatenate([post[indptr[i]:indptr[i + 1]] for i in src])
        wt = np.concatenate([weight[indptr[i]:indptr[i + 1]] for i in src])
        both = np.intersect1d(tg[wt > 0], tg[wt < 0])
        mixed += sum(not _refractory(own[j], t, params.t_ref) for j in both)
        if same_t and c > 1:
            at_end += int(np.isin(tg, src).sum())
    return dict(n_shared_instants=int((count > 1).sum()), n_mixed_waves=int(mixed), n_at_refractory_end=at_end)


def _refractory(spikes: np.ndarray, t: float, t_ref: float) -> bool:
    """Whether a neuron with these (sorted) spike times is refractory at ``t``."""
    k = np.searchsorted(spikes, t, side="left")
    return bool(k > 0 and t < spikes[k - 1] + t_ref)
