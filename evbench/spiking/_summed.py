"""SparseProp's LIF loop under the ``"summed"`` rule for simultaneous pulses (NEST's rule).

``reference.spiking`` specifies the rule: the pulses arriving at one instant form a *wave*; each
neuron adds the sum of its pulses in the wave, then one threshold test; the neurons that cross
spike at that instant, lowest index first.

How it stays as fast as the sequential loop. Within one batch, the synapses of one presynaptic
neuron to the same target are merged into one (weights summed in synapse order) when the
network is prepared, so a batch's targets are distinct. A wave of one batch, the usual case,
then runs through the sequential pulse loop (``sparseprop._lif_pulses``) unchanged: firing a
target as soon as its pulse crosses leaves the other targets as they would be, and only the
order in which the wave's spikes are recorded changes (sorted by neuron index afterwards). With
equal weights a batch's single synapses come first and keep the unstreamed-weight path; its
merged ones follow. A wave of several batches (spikes of one instant: common in E/I networks,
absent in purely inhibitory ones) is first summed per target into a scratch list, which then
goes through the same pulse loop. The wave helpers are inlined into the loop: as calls they cost
a fifth of the run.
"""
from __future__ import annotations

import math

import numpy as np

import numba as nb

from .sparseprop import (
    _LIF_BITS,
    _N_SPIKES,
    _NEED,
    _QUIET,
    _T_END,
    _grow,
    _hot,
    _jit,
    _lif_fire,
    _lif_pulses,
    _lif_pulses_any,
    _lif_result,
    _lif_setup,
    _room,
)

# inlined into the loop: the calls would cost as much as a batch's pulses otherwise
_inline = nb.njit(cache=True, error_model="numpy", nogil=True, _nrt=False, inline="always")


def merge_multapses(indptr: np.ndarray, post: np.ndarray, weight: np.ndarray, homogeneous: bool):
    """CSR with each presynaptic neuron's synapses to one target merged into one.

    The merged weight is their sum, added in synapse order (``np.add.at`` adds in index order).
    Within a batch the order of the merged synapses does not matter under the summed rule; with
    ``homogeneous`` weights each neuron's single synapses come first (weight ``weight[0]``, not
    streamed), then its merged ones, from ``mid[p]`` on. Otherwise ``mid = indptr[1:]``.
    Returns ``(indptr, mid, post, weight)``.
    """
    n = indptr.shape[0] - 1
    pre = np.repeat(np.arange(n, dtype=np.int64), np.diff(indptr))
    key = pre * n + post.astype(np.int64)
    _, first, inverse, count = np.unique(key, return_index=True, return_inverse=True, return_counts=True)
    total = np.zeros(first.size)
    np.add.at(total, inverse, weight)
    p_first = pre[first]
    multiple = count > 1 if homogeneous else np.zeros(first.size, dtype=bool)
    order = np.lexsort((first, multiple, p_first))  # by neuron, singles first, then synapse order
    new_indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(p_first, minlength=n), out=new_indptr[1:])
    mid = new_indptr[1:] - np.bincount(p_first[multiple], minlength=n)
    return new_indptr, mid, np.ascontiguousarray(post[first[order]]), total[order]


def interleave(indptr: np.ndarray, mid: np.ndarray) -> np.ndarray:
    """``ptr[2p] = indptr[p]``, ``ptr[2p + 1] = mid[p]``: one cache line holds a batch's bounds."""
    ptr = np.empty(2 * indptr.shape[0] - 1, dtype=np.int64)
    ptr[0::2] = indptr
    ptr[1::2] = mid
    return ptr


@_hot
def _sort_run(x, a, b):
    """Insertion sort of ``x[a:b]`` (a wave's spikes: a handful)."""
    for i in range(a + 1, b):
        v = x[i]
        k = i - 1
        while k >= a and x[k] > v:
            x[k + 1] = x[k]
            k -= 1
        x[k + 1] = v


@_inline
def _wave_need(ptr, qp, a, e, n):
    """At most one spike per target: room for ``min(n, pulses of the wave)`` spikes."""
    m = 0
    for q in range(a, e):
        m += ptr[2 * qp[q] + 2] - ptr[2 * qp[q]]
    return min(m, n)


# Numba (Python 3.13) takes at most 30 arguments per call: arrays travel in tuples, ``net = (ptr,
# tgt, w, w1)`` (``ptr`` from ``interleave``), ``neu = (I, supra, invD, Q, u)``, ``tree = (tn, win, off)``, ``scratch =
# (acc, mark, wt, ww)``.


@_inline
def _run(syn, b, t_, w_, homo, E, tr, t0, fast, neu, wscale, R, t_ref, ref, delay, tree, qt, qp, qn, out_t, out_i,
         n_out):
    """Pulses ``syn..b`` of ``(t_, w_)`` to distinct targets; a target that crosses fires at once."""
    I, supra, invD, Q, u = neu
    tn, win, off = tree
    has_ref = t_ref > 0
    F = E * wscale * invD[0]
    G = E * wscale
    while syn < b:
        if fast:
            syn = _lif_pulses(tn, win, off, t_, w_, homo, ref, has_ref, tr, syn, b, F, E)
        else:
            syn = _lif_pulses_any(tn, win, off, t_, w_, ref, has_ref, tr, syn, b, G, E, supra, invD, u, I)
        if syn == b:
            break
        n_out, qn = _lif_fire(t_[syn], E, tr, t0, tn, win, off, supra, Q, I, u, R, t_ref, ref, delay,
                              out_t, out_i, n_out, qt, qp, qn)
        syn += 1
    return n_out, qn


@_inline
def _wave(a, e, E, tr, t0, net, w_homo, wscale, neu, fast, R, t_ref, ref, delay, tree, qt, qp, qn, out_t, out_i,
          n_out, scratch, wave_id):
    """Deliver the batches ``qp[a:e]`` at ``tr`` as one wave. Returns ``(n_out, qn, wave_id)``."""
    ptr, tgt, w, w1 = net
    first_out, first_q = n_out, qn
    if e - a == 1:
        p2 = 2 * qp[a]
        a_syn = ptr[p2]
        if w_homo:  # single synapses of weight w1[0], then merged ones
            n_out, qn = _run(a_syn, ptr[p2 + 1], tgt, w1, True, E, tr, t0, fast, neu, wscale, R, t_ref, ref, delay,
                             tree, qt, qp, qn, out_t, out_i, n_out)
            a_syn = ptr[p2 + 1]
        n_out, qn = _run(a_syn, ptr[p2 + 2], tgt, w, False, E, tr, t0, fast, neu, wscale, R, t_ref, ref, delay,
                         tree, qt, qp, qn, out_t, out_i, n_out)
    else:
        acc, mark, wt, ww = scratch
        wave_id += 1
        m = 0
        for q in range(a, e):
            p2 = 2 * qp[q]
            for s in range(ptr[p2], ptr[p2 + 2]):
                j = tgt[s]
                if t_ref > 0 and tr < ref[j]:
                    continue
                if mark[j] != wave_id:
                    mark[j] = wave_id
                    acc[j] = w[s]
                    wt[m] = j
                    m += 1
                else:
                    acc[j] += w[s]
        for i in range(m):
            ww[i] = acc[wt[i]]
        n_out, qn = _run(0, m, wt, ww, False, E, tr, t0, fast, neu, wscale, R, t_ref, ref, delay, tree, qt, qp, qn,
                         out_t, out_i, n_out)
    if n_out - first_out > 1:  # the same neurons in both lists, in the same order
        _sort_run(out_i, first_out, n_out)
        _sort_run(qp, first_q, qn)
    return n_out, qn, wave_id


@_hot
def _lif_loop_summed(fs, ist, net, w_homo, wscale, neu, fast, R, t_ref, ref, delay, n_max, tree, qt, qp, out_t, out_i,
                     scratch):
    """``sparseprop._lif_loop`` with waves. ``ist[4]`` (mode): 0 next event, 1 a cascade at one
    instant (``delay == 0``: the next wave is the queue); ``ist[6]``: room needed on ``_NEED``."""
    E, tr, t0, t_end_rel = fs[0], fs[1], fs[2], fs[3]
    epochs, qh, qn, n_out, mode, wave_id = ist[0], ist[1], ist[2], ist[3], ist[4], ist[7]
    ptr = net[0]
    I, supra, invD, Q, u = neu
    tn, win, off = tree
    n = I.shape[0]
    inf = np.inf
    has_ref = t_ref > 0
    root = off[off.shape[0] - 2]
    C = _LIF_BITS * math.log(2.0)
    emax = 2.0**_LIF_BITS
    scale = 2.0**-_LIF_BITS
    cap_q = qt.shape[0]
    cap_o = out_t.shape[0]
    code = _NEED
    while True:
        if mode == 0:
            while E >= emax:
                epochs += 1
                t0 = epochs * C
                E *= scale
                tr -= C
                t_end_rel -= C
                for i in range(tn.shape[0]):
                    tn[i] *= scale
                for i in range(u.shape[0]):
                    u[i] *= scale
                if has_ref:
                    for i in range(ref.shape[0]):
                        ref[i] -= C
                for q in range(qh, qn):
                    qt[q] -= C
            smin = tn[root]
            ls = math.log(smin) if smin < inf else inf
            if delay > 0 and qh < qn and qt[qh] <= ls:
                if qt[qh] > t_end_rel:
                    code = _T_END
                    break
                e = qh + 1
                while e < qn and qt[e] == qt[qh]:
                    e += 1
                need = _wave_need(ptr, qp, qh, e, n)
                if qn + need > cap_q or n_out + need > cap_o:
                    ist[6] = need
                    break
                tr = qt[qh]
                E = math.exp(tr)
                a = qh
                qh = e
                n_out, qn, wave_id = _wave(a, e, E, tr, t0, net, w_homo, wscale, neu, fast, R, t_ref, ref, delay,
                                           tree, qt, qp, qn, out_t, out_i, n_out, scratch, wave_id)
                if n_max > 0 and n_out >= n_max:
                    n_out = n_max
                    code = _N_SPIKES
                    break
                continue
            elif smin < inf:
                if ls > t_end_rel:
                    code = _T_END
                    break
                if qn >= cap_q or n_out >= cap_o:
                    ist[6] = 1
                    break
                E = smin
                tr = ls
                n_out, qn = _lif_fire(win[root], E, tr, t0, tn, win, off, supra, Q, I, u, R, t_ref, ref, delay,
                                      out_t, out_i, n_out, qt, qp, qn)
                if n_out == n_max:
                    code = _N_SPIKES
                    break
                if delay > 0:
                    continue
                mode = 1
            else:
                code = _QUIET
                break
        # mode 1 (delay == 0): the queued batches are the next wave at this instant
        if qh < qn:
            e = qn
            need = _wave_need(ptr, qp, qh, e, n)
            if qn + need > cap_q or n_out + need > cap_o:
                ist[6] = need
                break
            a = qh
            qh = e
            n_out, qn, wave_id = _wave(a, e, E, tr, t0, net, w_homo, wscale, neu, fast, R, t_ref, ref, delay, tree,
                                       qt, qp, qn, out_t, out_i, n_out, scratch, wave_id)
            if n_max > 0 and n_out >= n_max:
                n_out = n_max
                code = _N_SPIKES
                break
        else:
            mode = 0
            qh = 0
            qn = 0
    fs[0], fs[1], fs[2], fs[3] = E, tr, t0, t_end_rel
    ist[0], ist[1], ist[2], ist[3], ist[4], ist[7] = epochs, qh, qn, n_out, mode, wave_id
    return code


@_jit
def lif_kernel_summed(ptr, tgt, w, w1, w_homo, wscale, I, homo, v0, t_ref, delay, t_end, n_max, max_deg, tn, win,
                      off):
    """``sparseprop._lif_kernel`` under the summed rule: ``tgt, w`` from ``merge_multapses``, ``ptr``
    its ``interleave``d bounds; with ``w_homo`` the single synapses weigh ``w1[0]``."""
    supra, invD, Q, u, all_supra, ref, qt, qp, out_t, out_i, fs, ist = _lif_setup(I, v0, t_ref, n_max, max_deg,
                                                                                  tn, win, off)
    fs[3] = t_end
    n = v0.shape[0]
    net = (ptr, tgt, w, w1)
    neu = (I, supra, invD, Q, u)
    tree = (tn, win, off)
    scratch = (np.zeros(n), np.zeros(n, np.int64), np.zeros(n, tgt.dtype), np.zeros(n))
    R = math.exp(t_ref)
    fast = homo and all_supra
    while True:
        code = _lif_loop_summed(fs, ist, net, w_homo, wscale, neu, fast, R, t_ref, ref, delay, n_max, tree, qt, qp,
                                out_t, out_i, scratch)
        if code != _NEED:
            break
        qt, qp, ist[1], ist[2] = _room(qt, qp, ist[1], ist[2], ist[6])
        out_t, out_i = _grow(out_t, out_i, ist[3], ist[6])
    return _lif_result(code, fs, ist, I, supra, tn, u, ref, t_ref, t_end, out_t, out_i)
