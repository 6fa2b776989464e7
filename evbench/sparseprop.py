"""SparseProp: exact event-driven simulation of LIF and QIF networks in O(k log N) per spike.

The algorithm of Engelken (NeurIPS 2023), compiled with numba, with the models, parameters and
semantics of ``reference.spiking`` (see its docstring: pulse order, refractoriness, ties, stops);
it reproduces ``reference.spiking.simulate`` spike for spike.

Representation. All neurons advance equally in time, so each neuron keeps one number that free
evolution leaves unchanged, its *key*, a monotone function of its next spike time; a global
quantity carries the common advance (SparseProp's global phase shift).

* LIF (dimensionless, ``dv/dt = -v + I``, threshold 1, reset 0): the global factor is
  ``E = exp(t - t0)``; a neuron above rheobase (``I > 1``) keeps ``s = (v - I) E / (1 - I)``, which
  equals ``E`` at the instant it spikes. A pulse ``J`` adds ``J E / (1 - I)``: one multiply-add and
  no transcendental function (SparseProp's phase transition curve is additive in ``exp(-phase)``).
  The pulse brings the neuron to threshold iff the new key is ``<= E``. Neurons at or below
  rheobase keep ``u = (v - I) E`` and never fire on their own (key ``+inf``). With homogeneous
  drive this key is the exponentiated phase of the paper; with heterogeneous drive it is the
  (exponentiated) next spike time, the paper's time-based variant.
* QIF: the key is the next spike time; a pulse goes through the voltage
  (``v = sqrt(I) cot(sqrt(I) r)`` for the time to spike ``r``, then back with ``atan2``), the
  phase transition curve of the theta neuron.

Renormalisation: every ``2**32`` in ``E`` (LIF: keys are scaled by ``2**-32``, exactly) or every 16
time units (QIF), the epoch ``t0`` moves on, so keys keep full precision in runs of any length.

Priority queue: a ``FANOUT``-ary tournament tree over the neuron-indexed keys (leaves in neuron
order, each inner node the minimum of its children, levels aligned to cache lines). The next spike
is the root; the leftmost leaf equal to it is the lowest neuron index, the reference's tie rule.
A pulse changes one leaf and touches its parent only when it crosses the minimum of its block:
O(log N) worst case, O(1) expected, and no position index to look up. Connectivity is CSR by
presynaptic neuron, duplicates kept in order.
"""
from __future__ import annotations

import math
import time

import numba as nb
import numpy as np

from reference.spiking import Network, SpikeTrain, SpikingParams, check_run, to_dimensionless

FANOUT = 8
_LIF_BITS = 32
_QIF_WINDOW = 16.0
_LIF_MAX_T_REF = 500.0  # in units of tau_m: exp(t_ref) scales the LIF keys
_STOPS = ("quiescent", "t_end", "n_spikes")

_jit = nb.njit(cache=True, error_model="numpy", nogil=True)


# ----------------------------------------------------------------------------- tournament tree


def _tree_layout(n: int) -> np.ndarray:
    """Level offsets into one flat array: level 0 holds the keys, the last level the root."""
    sizes = [-(-n // FANOUT) * FANOUT]
    m = n
    while True:
        m = -(-m // FANOUT)
        if m == 1:
            sizes.append(1)
            break
        sizes.append(-(-m // FANOUT) * FANOUT)
    return np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)


def _aligned_full(n: int, value: float) -> np.ndarray:
    """A float64 array of ``n`` entries starting on a 64-byte boundary."""
    buf = np.empty(n + 8)
    start = (-buf.ctypes.data % 64) // 8
    out = buf[start : start + n]
    out[:] = value
    return out


@_jit
def _tree_build(tn, off):
    L = off.shape[0] - 2
    for lev in range(1, L + 1):
        blocks = (off[lev] - off[lev - 1]) // FANOUT
        for b in range(off[lev + 1] - off[lev]):
            m = np.inf
            if b < blocks:
                c0 = off[lev - 1] + b * FANOUT
                for c in range(FANOUT):
                    x = tn[c0 + c]
                    if x < m:
                        m = x
            tn[off[lev] + b] = m


@_jit
def _tree_set(tn, off, j, old, new):
    """Leaf ``j`` goes from ``old`` to ``new``; repair the minima above it."""
    tn[j] = new
    L = off.shape[0] - 2
    i = j
    if new < old:
        for lev in range(1, L + 1):
            i //= FANOUT
            k = off[lev] + i
            if tn[k] <= new:
                return
            tn[k] = new
    elif new > old:
        for lev in range(1, L + 1):
            parent = i // FANOUT
            k = off[lev] + parent
            if tn[k] != old:
                return
            c0 = off[lev - 1] + parent * FANOUT
            m = tn[c0]
            for c in range(1, FANOUT):
                x = tn[c0 + c]
                if x < m:
                    m = x
            if m == old:
                return
            tn[k] = m
            i = parent


@_jit
def _tree_argmin(tn, off):
    """The lowest-index leaf holding the root's value."""
    L = off.shape[0] - 2
    i = 0
    for lev in range(L, 0, -1):
        val = tn[off[lev] + i]
        c0 = off[lev - 1] + i * FANOUT
        c = 0
        while tn[c0 + c] != val:
            c += 1
        i = i * FANOUT + c
    return i


# ----------------------------------------------------------------------------- shared bookkeeping


@_jit
def _room(qt, qp, qh, qn, need):
    """Make room for ``need`` more queue entries; returns the (maybe new) arrays and indices."""
    if qn + need <= qt.shape[0]:
        return qt, qp, qh, qn
    live = qn - qh
    cap = qt.shape[0]
    while live + need > cap:
        cap *= 2
    nt = np.empty(cap)
    nq = np.empty(cap, np.int64)
    nt[:live] = qt[qh:qn]
    nq[:live] = qp[qh:qn]
    return nt, nq, 0, live


@_jit
def _grow(out_t, out_i, n_out, need):
    if n_out + need <= out_t.shape[0]:
        return out_t, out_i
    cap = out_t.shape[0]
    while n_out + need > cap:
        cap *= 2
    nt = np.empty(cap)
    ni = np.empty(cap, np.int64)
    nt[:n_out] = out_t[:n_out]
    ni[:n_out] = out_i[:n_out]
    return nt, ni


# ----------------------------------------------------------------------------- LIF


@_jit
def _lif_fire(j, E, tr, t0, tn, off, supra, Q, I, u, R, t_ref, ref, delay, out_t, out_i, n_out, qt, qp, qn):
    """Record a spike of ``j`` now, reset it, queue its pulses. Returns ``(n_out, qn)``."""
    out_t[n_out] = t0 + tr
    out_i[n_out] = j
    if supra[j]:
        _tree_set(tn, off, j, tn[j], E * R * Q[j])
    else:
        u[j] = -I[j] * (E * R)
    if t_ref > 0:
        ref[j] = tr + t_ref
    qt[qn] = tr + delay
    qp[qn] = j
    return n_out + 1, qn + 1


@_jit
def _lif_kernel(indptr, tgt, w, wscale, I, homo, v0, t_ref, delay, t_end, n_max, tn, off):
    n = v0.shape[0]
    L = off.shape[0] - 2
    root = off[L]
    inf = np.inf
    supra = I > 1.0
    invD = np.zeros(n)
    Q = np.full(n, inf)
    u = np.zeros(n)
    all_supra = True
    for j in range(n):
        if supra[j]:
            invD[j] = 1.0 / (1.0 - I[j])
            Q[j] = I[j] / (I[j] - 1.0)
            tn[j] = (v0[j] - I[j]) / (1.0 - I[j])
        else:
            all_supra = False
            u[j] = v0[j] - I[j]
    _tree_build(tn, off)
    fast = homo and all_supra
    invD0 = invD[0]
    has_ref = t_ref > 0
    R = math.exp(t_ref)
    ref = np.full(n if has_ref else 1, -inf)
    C = _LIF_BITS * math.log(2.0)
    emax = 2.0**_LIF_BITS
    scale = 2.0**-_LIF_BITS
    qt = np.empty(1024)
    qp = np.empty(1024, np.int64)
    qh = 0
    qn = 0
    cap = n_max + 1 if n_max > 0 else 4096
    out_t = np.empty(cap)
    out_i = np.empty(cap, np.int64)
    n_out = 0
    E = 1.0
    tr = 0.0
    epochs = 0
    t0 = 0.0
    t_end_rel = t_end
    stop = 0
    while True:
        if E >= emax:
            epochs += 1
            t0 = epochs * C
            E *= scale
            tr -= C
            t_end_rel -= C
            tn *= scale
            u *= scale
            if has_ref:
                ref -= C
            for q in range(qh, qn):
                qt[q] -= C
        smin = tn[root]
        ls = math.log(smin) if smin < inf else inf
        pend = -1
        if delay > 0 and qh < qn and qt[qh] <= ls:
            tr = qt[qh]
            if tr > t_end_rel:
                stop = 1
                break
            E = math.exp(tr)
            pend = qp[qh]
            qh += 1
        elif smin < inf:
            if ls > t_end_rel:
                stop = 1
                break
            E = smin
            tr = ls
            j = _tree_argmin(tn, off)
            qt, qp, qh, qn = _room(qt, qp, qh, qn, 1)
            if n_max <= 0:
                out_t, out_i = _grow(out_t, out_i, n_out, 1)
            n_out, qn = _lif_fire(j, E, tr, t0, tn, off, supra, Q, I, u, R, t_ref, ref, delay,
                                  out_t, out_i, n_out, qt, qp, qn)
            if n_out == n_max:
                stop = 2
                break
            if delay > 0:
                continue
        else:
            stop = 1 if t_end < inf else 0
            break
        # deliver: one arrival batch (delay > 0) or the instantaneous cascade (delay == 0)
        while True:
            if pend >= 0:
                p = pend
                pend = -1
            elif delay == 0 and qh < qn:
                p = qp[qh]
                qh += 1
            else:
                break
            a = indptr[p]
            b = indptr[p + 1]
            qt, qp, qh, qn = _room(qt, qp, qh, qn, b - a)
            if n_max <= 0:
                out_t, out_i = _grow(out_t, out_i, n_out, b - a + 1)
            if fast:
                F = E * wscale * invD0
                for syn in range(a, b):
                    j = tgt[syn]
                    if has_ref and tr < ref[j]:
                        continue
                    old = tn[j]
                    new = old + w[syn] * F
                    if new <= E:
                        n_out, qn = _lif_fire(j, E, tr, t0, tn, off, supra, Q, I, u, R, t_ref, ref, delay,
                                              out_t, out_i, n_out, qt, qp, qn)
                        if n_out == n_max:
                            stop = 2
                            break
                    else:
                        _tree_set(tn, off, j, old, new)
            else:
                G = E * wscale
                for syn in range(a, b):
                    j = tgt[syn]
                    if has_ref and tr < ref[j]:
                        continue
                    if supra[j]:
                        old = tn[j]
                        new = old + w[syn] * G * invD[j]
                        if new > E:
                            _tree_set(tn, off, j, old, new)
                            continue
                    else:
                        uj = u[j] + w[syn] * G
                        if uj < (1.0 - I[j]) * E:
                            u[j] = uj
                            continue
                    n_out, qn = _lif_fire(j, E, tr, t0, tn, off, supra, Q, I, u, R, t_ref, ref, delay,
                                          out_t, out_i, n_out, qt, qp, qn)
                    if n_out == n_max:
                        stop = 2
                        break
            if stop:
                break
        if stop:
            break
        if delay == 0:
            qh = 0
            qn = 0
    v_final = np.empty(n if stop == 1 else 0)
    if stop == 1:
        E_end = math.exp(t_end_rel)
        for j in range(n):
            if has_ref and t_end_rel < ref[j]:
                v_final[j] = 0.0
            elif supra[j]:
                v_final[j] = I[j] + tn[j] / E_end * (1.0 - I[j])
            else:
                v_final[j] = I[j] + u[j] / E_end
    return out_t[:n_out].copy(), out_i[:n_out].copy(), stop, v_final


# ----------------------------------------------------------------------------- QIF


@_jit
def _qif_v(r, I, sq):
    """Voltage of a neuron ``r`` time units before its spike."""
    if I > 0:
        return sq / math.tan(sq * r)
    if I < 0:
        return sq / math.tanh(sq * r)
    return 1.0 / r


@_jit
def _qif_r(v, I, sq):
    """Time to spike from voltage ``v``; ``inf`` when it never fires."""
    if I > 0:
        return math.atan2(sq, v) / sq
    if I < 0:
        if v > sq:
            return math.log1p(2.0 * sq / (v - sq)) / (2.0 * sq)
        return np.inf
    if v > 0:
        return 1.0 / v
    return np.inf


@_jit
def _qif_evolve(v, s, I, sq):
    """Free evolution over ``s`` of a neuron that never fires (``I <= 0``)."""
    if s <= 0:
        return v
    if I < 0:
        if v == -np.inf:
            return -sq / math.tanh(sq * s)
        if v == sq:
            return v
        e = math.exp(-2.0 * sq * s)
        return sq * ((v + sq) * e + (v - sq)) / ((v + sq) * e - (v - sq))
    if v == -np.inf:
        return -1.0 / s
    return v / (1.0 - v * s)


@_jit
def _qif_fire(j, tr, t0, tn, off, I, ref_next, vv, tl, t_ref, ref, delay, out_t, out_i, n_out, qt, qp, qn):
    out_t[n_out] = t0 + tr
    out_i[n_out] = j
    if I[j] > 0:
        _tree_set(tn, off, j, tn[j], tr + ref_next[j])
    else:
        _tree_set(tn, off, j, tn[j], np.inf)
        vv[j] = -np.inf
        tl[j] = tr + t_ref
    if t_ref > 0:
        ref[j] = tr + t_ref
    qt[qn] = tr + delay
    qp[qn] = j
    return n_out + 1, qn + 1


@_jit
def _qif_kernel(indptr, tgt, w, I, homo, v0, t_ref, delay, t_end, n_max, tn, off):
    n = v0.shape[0]
    L = off.shape[0] - 2
    root = off[L]
    inf = np.inf
    sq = np.sqrt(np.abs(I))
    ref_next = np.full(n, inf)  # t_ref + period
    vv = np.full(n, -inf)  # voltage at tl, for neurons with an infinite key
    tl = np.zeros(n)
    for j in range(n):
        if I[j] > 0:
            ref_next[j] = t_ref + math.pi / sq[j]
        r = _qif_r(v0[j], I[j], sq[j])
        tn[j] = r
        if r == inf:
            vv[j] = v0[j]
    _tree_build(tn, off)
    fast = homo and I[0] > 0
    sq0 = sq[0]
    isq0 = 1.0 / sq0 if sq0 > 0 else 0.0
    has_ref = t_ref > 0
    ref = np.full(n if has_ref else 1, -inf)
    qt = np.empty(1024)
    qp = np.empty(1024, np.int64)
    qh = 0
    qn = 0
    cap = n_max + 1 if n_max > 0 else 4096
    out_t = np.empty(cap)
    out_i = np.empty(cap, np.int64)
    n_out = 0
    tr = 0.0
    epochs = 0
    t0 = 0.0
    t_end_rel = t_end
    stop = 0
    while True:
        if tr >= _QIF_WINDOW:
            epochs += 1
            t0 = epochs * _QIF_WINDOW
            tr -= _QIF_WINDOW
            t_end_rel -= _QIF_WINDOW
            tn -= _QIF_WINDOW
            tl -= _QIF_WINDOW
            if has_ref:
                ref -= _QIF_WINDOW
            for q in range(qh, qn):
                qt[q] -= _QIF_WINDOW
        smin = tn[root]
        pend = -1
        if delay > 0 and qh < qn and qt[qh] <= smin:
            tr = qt[qh]
            if tr > t_end_rel:
                stop = 1
                break
            pend = qp[qh]
            qh += 1
        elif smin < inf:
            if smin > t_end_rel:
                stop = 1
                break
            tr = smin
            j = _tree_argmin(tn, off)
            qt, qp, qh, qn = _room(qt, qp, qh, qn, 1)
            if n_max <= 0:
                out_t, out_i = _grow(out_t, out_i, n_out, 1)
            n_out, qn = _qif_fire(j, tr, t0, tn, off, I, ref_next, vv, tl, t_ref, ref, delay,
                                  out_t, out_i, n_out, qt, qp, qn)
            if n_out == n_max:
                stop = 2
                break
            if delay > 0:
                continue
        else:
            stop = 1 if t_end < inf else 0
            break
        while True:
            if pend >= 0:
                p = pend
                pend = -1
            elif delay == 0 and qh < qn:
                p = qp[qh]
                qh += 1
            else:
                break
            a = indptr[p]
            b = indptr[p + 1]
            qt, qp, qh, qn = _room(qt, qp, qh, qn, b - a)
            if fast:
                for syn in range(a, b):
                    j = tgt[syn]
                    if has_ref and tr < ref[j]:
                        continue
                    old = tn[j]
                    v = sq0 / math.tan(sq0 * (old - tr)) + w[syn]
                    _tree_set(tn, off, j, old, tr + math.atan2(sq0, v) * isq0)
            else:
                for syn in range(a, b):
                    j = tgt[syn]
                    if has_ref and tr < ref[j]:
                        continue
                    old = tn[j]
                    Ij = I[j]
                    if old < inf:
                        v = _qif_v(old - tr, Ij, sq[j])
                    else:
                        v = _qif_evolve(vv[j], tr - tl[j], Ij, sq[j])
                    v += w[syn]
                    r = _qif_r(v, Ij, sq[j])
                    if r < inf:
                        _tree_set(tn, off, j, old, tr + r)
                    else:
                        _tree_set(tn, off, j, old, inf)
                        vv[j] = v
                        tl[j] = tr
        if delay == 0:
            qh = 0
            qn = 0
    v_final = np.empty(n if stop == 1 else 0)
    if stop == 1:
        for j in range(n):
            if has_ref and t_end_rel < ref[j]:
                v_final[j] = -inf
            elif tn[j] < inf:
                v_final[j] = _qif_v(tn[j] - t_end_rel, I[j], sq[j])
            else:
                v_final[j] = _qif_evolve(vv[j], t_end_rel - tl[j], I[j], sq[j])
    return out_t[:n_out].copy(), out_i[:n_out].copy(), stop, v_final


# ----------------------------------------------------------------------------- public API


class SparseProp:
    """A network and its parameters prepared once (CSR, dimensionless form); ``run`` many times."""

    def __init__(self, network: Network, params: SpikingParams):
        if not isinstance(network, Network):
            raise TypeError(f"network must be a Network, got {type(network).__name__}")
        if not isinstance(params, SpikingParams):
            raise TypeError(f"params must be SpikingParams, got {type(params).__name__}")
        self.network, self.params = network, params
        n = network.n_neurons
        self.dimless = to_dimensionless(params, n)
        if params.model == "lif" and self.dimless.t_ref > _LIF_MAX_T_REF:
            raise ValueError(
                f"t_ref must be <= {_LIF_MAX_T_REF} tau_m for SparseProp's LIF keys, got t_ref={params.t_ref!r} "
                f"with tau_m={params.tau_m!r}; use reference.spiking for such runs"
            )
        indptr, post, weight = network.csr
        self.indptr = np.ascontiguousarray(indptr, dtype=np.int64)
        self.tgt = np.ascontiguousarray(post, dtype=np.int32)
        self.weight = np.ascontiguousarray(weight, dtype=np.float64)
        self.drive = np.ascontiguousarray(self.dimless.drive, dtype=np.float64)
        self.homo = bool(np.all(self.drive == self.drive[0]))
        self.off = _tree_layout(n)

    def run(self, v0, t_end=None, n_spikes=None) -> SpikeTrain:
        p, d = self.params, self.dimless
        v0, t_end, n_spikes = check_run(self.network, p, v0, t_end, n_spikes)
        t_end_d = t_end / p.tau_m
        tn = _aligned_full(int(self.off[-1]), np.inf)
        if p.model == "lif":
            times, neurons, stop, v_final = _lif_kernel(
                self.indptr, self.tgt, self.weight, 1.0 / d.v_scale, self.drive, self.homo,
                d.to_v(v0), d.t_ref, d.delay, t_end_d, n_spikes, tn, self.off,
            )
        else:
            times, neurons, stop, v_final = _qif_kernel(
                self.indptr, self.tgt, self.weight, self.drive, self.homo,
                v0, d.t_ref, d.delay, t_end_d, n_spikes, tn, self.off,
            )
        times = times * p.tau_m
        stop = _STOPS[stop]
        if stop == "t_end":
            return SpikeTrain(times, neurons, self.network.n_neurons, t_end, stop, d.to_physical(v_final))
        return SpikeTrain(times, neurons, self.network.n_neurons, float(times[-1]) if times.size else 0.0, stop)


def simulate(network: Network, params: SpikingParams, v0, t_end=None, n_spikes=None) -> SpikeTrain:
    """SparseProp run from ``V(0) = v0`` until ``t_end`` and/or ``n_spikes`` spikes."""
    return SparseProp(network, params).run(v0, t_end, n_spikes)


# ----------------------------------------------------------------------------- benchmark networks


def balanced_network(n: int, k: int, *, j0: float = 1.0, seed: int = 0) -> Network:
    """Inhibitory random network: each neuron sends ``k`` synapses of weight ``-j0/sqrt(k)``.

    Targets are drawn uniformly, with replacement, among the other ``n - 1`` neurons (so a rare
    duplicate synapse can occur), from ``numpy.random.default_rng(seed)``. Synapses come grouped by
    presynaptic neuron. Weights are in units of ``v_th - v_reset`` (LIF) or of ``V`` (QIF) for the
    parameters of ``balanced_params``.
    """
    if not (isinstance(n, (int, np.integer)) and n >= 2):
        raise ValueError(f"n must be an integer >= 2, got {n!r}")
    if not (isinstance(k, (int, np.integer)) and k >= 1):
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
    rng = np.random.default_rng(seed)
    idx = np.int32 if n < 2**31 - 1 else np.int64
    pre = np.repeat(np.arange(n, dtype=idx), k)
    post = rng.integers(0, n - 1, size=n * k, dtype=idx)
    post += post >= pre
    return Network(n, pre, post, np.full(n * k, -j0 / math.sqrt(k)))


def balanced_params(model: str = "lif", k: int = 100, *, i0: float = 1.0, **kw) -> SpikingParams:
    """Dimensionless parameters balancing ``balanced_network``: drive ``sqrt(k) i0``.

    The recurrent inhibition cancels the drive at a mean rate near ``i0/j0`` per ``tau_m``.
    """
    if model == "lif":
        kw.setdefault("v_th", 1.0)
        kw.setdefault("v_reset", 0.0)
        kw.setdefault("v_rest", 0.0)
        scale = kw["v_th"] - kw["v_reset"]
    else:
        scale = 1.0
    return SpikingParams(model=model, drive=math.sqrt(k) * i0 * scale, **kw)


def initial_state(params: SpikingParams, n: int, seed: int = 0) -> np.ndarray:
    """Voltages at uniformly random phases of free evolution (for drive above rheobase)."""
    d = to_dimensionless(params, n)
    phase = np.random.default_rng(seed).uniform(0.0, 1.0, n) * np.where(np.isfinite(d.period()), d.period(), 1.0)
    v = d.voltage(phase)
    if params.model == "lif":
        v = np.minimum(v, np.nextafter(1.0, 0.0))
    return d.to_physical(v)


def measure(n: int, k: int, n_spikes: int, model: str = "lif", *, impl: str = "sparseprop",
            seed: int = 0, warmup_time: float = 1.0) -> dict:
    """Spikes per second of one run of ``n_spikes`` spikes on ``balanced_network(n, k)``.

    The network first relaxes for ``warmup_time`` (in ``tau_m``) with SparseProp, then the timed run
    (``impl``: ``"sparseprop"`` or ``"reference"``) starts from that state. Compilation, network
    construction and warm-up are timed separately.
    """
    if impl not in ("sparseprop", "reference"):
        raise ValueError(f"impl must be 'sparseprop' or 'reference', got {impl!r}")
    t = time.perf_counter()
    net = balanced_network(n, k, seed=seed)
    params = balanced_params(model, k)
    sim = SparseProp(net, params)
    build_s = time.perf_counter() - t
    v0 = initial_state(params, n, seed + 1)
    t = time.perf_counter()
    sim.run(v0, n_spikes=1)
    first_call_s = time.perf_counter() - t
    t = time.perf_counter()
    v_warm = sim.run(v0, t_end=warmup_time * params.tau_m).v_final if warmup_time > 0 else v0
    warmup_s = time.perf_counter() - t
    if impl == "sparseprop":
        t = time.perf_counter()
        st = sim.run(v_warm, n_spikes=n_spikes)
        seconds = time.perf_counter() - t
    else:
        from reference.spiking import simulate as ref_simulate

        t = time.perf_counter()
        st = ref_simulate(net, params, v_warm, n_spikes=n_spikes)
        seconds = time.perf_counter() - t
    degree = np.diff(sim.indptr)
    updates = int(degree[st.neurons].sum())
    duration = st.t_stop - 0.0
    return {
        "impl": impl,
        "model": model,
        "n": n,
        "k": k,
        "n_spikes": len(st),
        "seconds": seconds,
        "spikes_per_s": len(st) / seconds,
        "ns_per_synaptic_update": seconds / max(updates, 1) * 1e9,
        "synaptic_updates": updates,
        "simulated_time": duration,
        "rate_per_tau": len(st) / (n * duration / params.tau_m) if duration > 0 else float("nan"),
        "build_s": build_s,
        "first_call_s": first_call_s,
        "warmup_s": warmup_s,
    }
