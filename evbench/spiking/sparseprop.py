"""SparseProp: exact event-driven simulation of LIF and QIF networks in O(k log N) per spike.

The algorithm of Engelken (NeurIPS 2023), compiled with numba, with the models, parameters and
semantics of ``reference.spiking`` (see its docstring: pulse order, refractoriness, ties, stops,
and the two rules for simultaneous pulses, ``"sequential"`` and ``"summed"``); it reproduces
``reference.spiking.simulate`` spike for spike under either rule.

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

Priority queue: a ``FANOUT``-ary (16) tournament tree over the neuron-indexed keys: leaves in
neuron order, each inner node holds the minimum of its children and the leaf it comes from (lowest
index on ties, the reference's rule). The next spike is the root. A pulse changes one leaf and
touches the tree above only when the leaf held its block's minimum: O(log N) worst case, O(1)
expected, and, unlike a binary heap, no position index to look up. Connectivity is CSR by
presynaptic neuron, duplicates kept in order.

Speed (the hot loop is ``_lif_pulses``, one copy per case of equal weights and refractoriness):
one random access per pulse (the key's block, two cache lines), prefetched a few synapses ahead;
a node's 16 children are compared as one vector (``_min16``); weights are not streamed when they
are all equal. From N ~ 1e5 on, memory latency dominates: after each spike the likely next spiker
(the tree's new minimum) is known, and its synapses and reset data are prefetched during the
current batch (``_guess_next``). The hot functions run without numba's reference counting.
"""
from __future__ import annotations

import math
import time

import llvmlite
import numba as nb
import numpy as np
from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

from evbench_reference.spiking import Network, SpikeTrain, SpikingParams, check_run, to_dimensionless

_SHIFT = 4
FANOUT = 1 << _SHIFT
_PREFETCH = 16  # synapses ahead
_LIF_BITS = 32
_LIF_EMAX = 2.0**_LIF_BITS  # LIF: a new epoch when E reaches it...
_LIF_SCALE = 2.0**-_LIF_BITS  # ...then keys and E are scaled by this (exactly)...
_LIF_EPOCH = _LIF_BITS * math.log(2.0)  # ...and the times move back by this (tau_m)
_QIF_WINDOW = 16.0  # QIF: a new epoch every this many tau_m
_LIF_MAX_T_REF = 500.0  # in units of tau_m: exp(t_ref) scales the LIF keys
# A pulse arriving this close (in tau_m) before the end of refractoriness arrives at its end: the
# two times are sums of different terms (tr + t_ref, tr' + delay) that round apart on exact ties
# (see reference.spiking). Times are relative to the epoch (< 23 tau_m): 2**-40 is ~256 ulps there.
_LIF_TIE = 2.0**-40

_jit = nb.njit(cache=True, error_model="numpy", nogil=True)
# Hot paths run without numba's reference counting (they never allocate): passing an array to a
# function would otherwise cost atomic increments and decrements per call.
_hot = nb.njit(cache=True, error_model="numpy", nogil=True, _nrt=False)
# Helpers inlined into their callers (numba IR inlining): code shared by the loops, at no call cost.
_inline = nb.njit(cache=True, error_model="numpy", nogil=True, _nrt=False, inline="always")
_PREFETCH_FN = "llvm.prefetch.p0" if getattr(llvmlite, "opaque_pointers_enabled", False) else "llvm.prefetch.p0i8"


@intrinsic
def _prefetch(typingctx, arr, idx):
    """Hint the cache to load ``arr[idx]`` (no bounds check: a prefetch never faults)."""

    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [args[1]], wraparound=False)
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]), _PREFETCH_FN
        )
        builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return types.void(arr, idx), codegen


@intrinsic
def _min16(typingctx, arr, idx):
    """``(m, c)``: the minimum of the float64 ``arr[idx:idx + 16]`` and the first ``c`` with
    ``arr[idx + c] == m``, as vector code. Exactly the sequential scan's result (``x < m`` picks
    the first minimum; comparisons do not round), for keys that are never NaN."""

    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [args[1]], wraparound=False)
        vty = ir.VectorType(ir.DoubleType(), FANOUT)
        v = builder.load(builder.bitcast(ptr, vty.as_pointer()), align=8)
        x = v
        half = FANOUT // 2
        while half >= 1:  # pairwise minimum of the two halves
            lo = builder.shuffle_vector(x, x, ir.Constant(ir.VectorType(ir.IntType(32), half), list(range(half))))
            hi = builder.shuffle_vector(x, x, ir.Constant(ir.VectorType(ir.IntType(32), half),
                                                          list(range(half, 2 * half))))
            x = builder.select(builder.fcmp_ordered("<", hi, lo), hi, lo)
            half //= 2
        m = builder.extract_element(x, ir.IntType(32)(0))
        splat = builder.shuffle_vector(x, x, ir.Constant(ir.VectorType(ir.IntType(32), FANOUT), [0] * FANOUT))
        bits = builder.bitcast(builder.fcmp_ordered("==", v, splat), ir.IntType(FANOUT))
        i16, i1 = ir.IntType(FANOUT), ir.IntType(1)
        cttz = cgutils.get_or_insert_function(builder.module, ir.FunctionType(i16, [i16, i1]), f"llvm.cttz.i{FANOUT}")
        c = builder.zext(builder.call(cttz, [bits, i1(1)]), ir.IntType(64))
        return context.make_tuple(builder, signature.return_type, (m, c))

    return types.Tuple((types.float64, types.int64))(arr, idx), codegen


_u = nb.njit(lambda i: np.uint64(i), inline="always")  # index without wraparound code


# ----------------------------------------------------------------------------- tournament tree


def _tree_layout(n: int) -> np.ndarray:
    """Level offsets into one flat array: level 0 holds the keys, the last level the root; at
    least two inner levels (``_leaf_set`` reads level 2)."""
    sizes = [-(-n // FANOUT) * FANOUT]
    m = n
    while True:
        m = -(-m // FANOUT)
        if m == 1 and len(sizes) > 1:
            sizes.append(1)
            break
        sizes.append(-(-m // FANOUT) * FANOUT)
    return np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)


def _aligned_full(n: int, value: float) -> np.ndarray:
    """A float64 array of ``n`` entries starting on a 128-byte boundary: a tree block (16 keys) is
    two whole cache lines."""
    buf = np.empty(n + 16)
    start = (-buf.ctypes.data % 128) // 8
    out = buf[start : start + n]
    out[:] = value
    return out


@_hot
def _node_update(tn, win, off, lev, node):
    """Recompute inner ``node`` of level ``lev`` from its children: minimum, lowest index first
    (``_min16``: vector code), indexed with unsigned integers (no negative-index wraparound code)."""
    c0 = off[lev - 1] + (node << _SHIFT)
    m, best = _min16(tn, _u(c0))
    k = _u(off[lev] + node)
    tn[k] = m
    win[k] = (node << _SHIFT) + best if lev == 1 else win[_u(c0 + best)]


@_hot
def _tree_build(tn, win, off):
    L = off.shape[0] - 2
    for lev in range(1, L + 1):
        blocks = (off[lev] - off[lev - 1]) // FANOUT
        for b in range(off[lev + 1] - off[lev]):
            if b < blocks:
                _node_update(tn, win, off, lev, b)
            else:
                tn[off[lev] + b] = np.inf
                win[off[lev] + b] = 0


@_hot
def _tree_up(tn, win, off, j, i, lev):
    """Leaf ``j`` has grown, and the levels below ``lev`` are done (``i``: its node on level
    ``lev - 1``, ``j`` itself on level 0): recompute the nodes from ``lev`` up it was winning."""
    L = off.shape[0] - 2
    for lev in range(lev, L + 1):
        i >>= _SHIFT
        if win[off[lev] + i] != j:
            return
        _node_update(tn, win, off, lev, i)


@_hot
def _tree_down(tn, win, off, j, new):
    """Leaf ``j`` has shrunk to ``new``: it wins upwards as far as it beats the holders."""
    L = off.shape[0] - 2
    i = j
    for lev in range(1, L + 1):
        i >>= _SHIFT
        k = off[lev] + i
        v = tn[k]
        if v < new or (v == new and win[k] <= j):
            return
        tn[k] = new
        win[k] = j


@_hot
def _tree_set(tn, win, off, j, old, new):
    """Leaf ``j`` goes from ``old`` to ``new``. (Small, so that LLVM inlines it into its callers.)"""
    tn[j] = new
    if new < old:
        _tree_down(tn, win, off, j, new)
    elif new > old:
        _tree_up(tn, win, off, j, j, 1)


@_inline
def _leaf_set(tn, win, off, off1, off2, j, old, new):
    """``_tree_set`` for the hot loops (``off1, off2 = off[1], off[2]``): a grown leaf touches the
    tree only when it held its block's minimum; the first level inline, and the test of the
    second (``_tree_up`` is a call with many arguments)."""
    tn[_u(j)] = new
    if new > old:
        i = j >> _SHIFT
        if win[_u(off1 + i)] == j:
            _node_update(tn, win, off, 1, i)
            if win[_u(off2 + (i >> _SHIFT))] == j:
                _tree_up(tn, win, off, j, i, 2)
    elif new < old:
        _tree_down(tn, win, off, j, new)


@_inline
def _prefetch_span(tgt, a, b):
    """Prefetch the synapse targets ``tgt[a:b]`` (a batch: a few lines, fetched in parallel)."""
    for s in range(a, b, 16):
        _prefetch(tgt, s)
    _prefetch(tgt, b - 1)


@_inline
def _guess_next(indptr, win, off, tn, Q, supra):
    """After a spontaneous spike (its neuron reset): the tree's minimum now, most likely the next to
    fire (a batch of inhibition rarely touches it). What its spike will read is fetched now (its
    synapse range, its reset constants, its key's block and level-1 node), its targets once the
    current batch is delivered (``_prefetch_guess``): they arrive while it is found."""
    guess = win[off[off.shape[0] - 2]]
    _prefetch(indptr, guess)
    _prefetch(Q, guess)
    _prefetch(supra, guess)
    i = guess >> _SHIFT
    _prefetch(tn, guess)
    _prefetch(tn, guess ^ 8)
    _prefetch(tn, off[1] + i)
    _prefetch(tn, (off[1] + i) ^ 8)
    _prefetch(win, off[1] + i)
    return guess


@_inline
def _prefetch_guess(indptr, tgt, guess):
    """Prefetch the targets of ``guess`` (if any); returns -1 (no guess pending)."""
    if guess >= 0:
        _prefetch_span(tgt, indptr[guess], indptr[guess + 1])
    return -1


@_inline
def _prefetch_ahead(tn, win, off1, j):
    """Prefetch the key of target ``j`` (a few synapses ahead), the other line of its block (read
    when ``j`` held the block's minimum) and its first tree level."""
    _prefetch(tn, j)
    _prefetch(tn, j ^ 8)
    _prefetch(win, off1 + (j >> _SHIFT))


# ----------------------------------------------------------------------------- shared bookkeeping
# The event loops (``_lif_loop``, ``_lif_loop_summed``, ``_qif_loop``) never reallocate: when the
# queue of batches (``qt``: arrival times, ``qp``: source neurons) or the output is short of room
# for the next event they save their state and return ``_NEED``; the caller grows the arrays and
# calls again. (Reassigning arrays inside a numba loop costs atomic reference counting on every
# iteration.) Their state between calls is two small arrays, made by ``_new_state``, read by
# ``_load`` and written by ``_save``; times in tau_m, relative to the epoch (renormalisation):
#   ``fs`` (float64):
_FS_E = 0  # LIF: the global factor E = exp(tr) (unused by the QIF)
_FS_TR = 1  # the current time
_FS_T0 = 2  # the epoch's start, absolute (epochs * epoch length)
_FS_T_END = 3  # t_end
#   ``ist`` (int64):
_EPOCHS = 0  # renormalisations so far
_QUEUE_HEAD = 1  # the queue's first live entry
_QUEUE_TAIL = 2  # one past its last
_N_OUT = 3  # spikes recorded
_MODE = 4  # 0: find the next event; 1: deliver (an arrived batch, or a cascade at one instant)
_PENDING = 5  # the arrived batch (its source) being delivered, -1 when none (not the summed rule)
_ROOM = 6  # summed rule, on _NEED: entries needed in the queue and the output
_WAVE = 7  # summed rule: waves so far (the marks of ``_note``)

# The loops' stop codes; ``_next_event`` also returns the two events below.
_NEED, _T_END, _N_SPIKES, _QUIET = 0, 1, 2, 3
_ARRIVAL, _SPIKE = 4, 5


@_jit
def _new_state(t_end):
    fs = np.zeros(_FS_T_END + 1)
    fs[_FS_E] = 1.0
    fs[_FS_T_END] = t_end
    ist = np.zeros(_WAVE + 1, np.int64)
    ist[_PENDING] = -1
    return fs, ist


@_inline
def _load(fs, ist):
    """``E, tr, t0, t_end_rel, epochs, qh, qn, n_out, mode, pend, wave``."""
    return (fs[_FS_E], fs[_FS_TR], fs[_FS_T0], fs[_FS_T_END], ist[_EPOCHS], ist[_QUEUE_HEAD], ist[_QUEUE_TAIL],
            ist[_N_OUT], ist[_MODE], ist[_PENDING], ist[_WAVE])


@_inline
def _save(fs, ist, E, tr, t0, t_end_rel, epochs, qh, qn, n_out, mode, pend, wave):
    fs[_FS_E], fs[_FS_TR], fs[_FS_T0], fs[_FS_T_END] = E, tr, t0, t_end_rel
    ist[_EPOCHS], ist[_QUEUE_HEAD], ist[_QUEUE_TAIL], ist[_N_OUT] = epochs, qh, qn, n_out
    ist[_MODE], ist[_PENDING], ist[_WAVE] = mode, pend, wave


@_inline
def _shift_back(c, ref, has_ref, qt, qh, qn):
    """A new epoch: the times kept (ends of refractoriness, queued arrivals) move back by ``c``."""
    if has_ref:
        for i in range(ref.shape[0]):
            ref[i] -= c
    for q in range(qh, qn):
        qt[q] -= c


@_inline
def _next_event(ts, qt, qh, qn, delay, t_end_rel, n_out, out_t):
    """Mode 0 of every loop, given ``ts``, the time of the next spontaneous spike (``inf``: none):
    ``_ARRIVAL`` (the queue's first batch arrives before it or with it, at ``qt[qh]``), ``_SPIKE``
    (there is room to record it), or the stop code. (One return: helpers inlined into the loops
    with several measured slower.)"""
    if delay > 0 and qh < qn and qt[qh] <= ts:
        event = _T_END if qt[qh] > t_end_rel else _ARRIVAL
    elif ts == np.inf:
        event = _QUIET
    elif ts > t_end_rel:
        event = _T_END
    elif qn >= qt.shape[0] or n_out >= out_t.shape[0]:
        event = _NEED
    else:
        event = _SPIKE
    return event


@_inline
def _next_batch(pend, delay, qp, qh, qn):
    """Mode 1 (sequential rule): the batch to deliver, the arrived one (``pend``), else (``delay ==
    0``) the cascade's next queued one. Returns ``(p, qh, qn)``: ``p = -1`` when none is left, then
    back to mode 0, and a cascade's queue restarts empty."""
    p = pend
    if pend < 0 and delay == 0:
        if qh < qn:
            p = qp[qh]
        else:
            qh = 0
            qn = 0
    return p, qh, qn


@_inline
def _record(j, tr, t0, delay, out_t, out_i, n_out, qt, qp, qn):
    """A spike of ``j`` at ``tr``: into the output, and its batch into the queue. Returns ``(n_out, qn)``."""
    out_t[n_out] = t0 + tr
    out_i[n_out] = j
    qt[qn] = tr + delay
    qp[qn] = j
    return n_out + 1, qn + 1


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


@_jit
def _room(qt, qp, out_t, out_i, ist, need):
    """Room for ``need`` more queue entries (compacted, or grown) and spikes (grown), after ``_NEED``."""
    qh, qn = ist[_QUEUE_HEAD], ist[_QUEUE_TAIL]
    live = qn - qh
    ist[_QUEUE_HEAD], ist[_QUEUE_TAIL] = 0, live
    out_t, out_i = _grow(out_t, out_i, ist[_N_OUT], need)
    cap = qt.shape[0]
    if live + need <= cap:
        for i in range(live):
            qt[i] = qt[qh + i]
            qp[i] = qp[qh + i]
        return qt, qp, out_t, out_i
    while live + need > cap:
        cap *= 2
    nt = np.empty(cap)
    nq = np.empty(cap, np.int64)
    nt[:live] = qt[qh:qn]
    nq[:live] = qp[qh:qn]
    return nt, nq, out_t, out_i


# ----------------------------------------------------------------------------- LIF
# Numba (Python 3.13) takes at most 30 arguments per call: arrays travel in tuples, ``net = (indptr,
# tgt, w)``, ``neu = (I, supra, invD, Q, u)``, ``tree = (tn, win, off)``, ``scratch = (mark, cand)``.


@_inline
def _lif_pulse(tn, tgt, w, ref, tr, syn, c, F, homo, has_ref):
    """Pulse ``syn`` above rheobase, homogeneous drive (``key += w F``, ``c = w[0] F`` when ``homo``):
    ``(discarded, j, old key, new key)``; a pulse to a refractory target is discarded."""
    j = tgt[_u(syn)]
    if has_ref and tr < ref[_u(j)]:
        return True, j, 0.0, 0.0
    old = tn[_u(j)]
    return False, j, old, old + (c if homo else w[_u(syn)] * F)


@_inline
def _seq_step(tn, win, off, off1, off2, tgt, w, ref, tr, syn, c, F, E, homo, has_ref):
    """One pulse under the sequential rule: ``True`` when it brings its target to threshold
    (then it is left unapplied: the target fires)."""
    discarded, j, old, new = _lif_pulse(tn, tgt, w, ref, tr, syn, c, F, homo, has_ref)
    fire = not discarded and new <= E
    if not (discarded or fire):
        _leaf_set(tn, win, off, off1, off2, j, old, new)
    return fire


@_inline
def _seq_run(tn, win, off, tgt, w, ref, tr, a, b, c, F, E, homo, has_ref):
    """``_lif_pulses`` for constant ``homo`` and ``has_ref``. The last ``_PREFETCH`` pulses run
    without prefetching (the synapses ahead belong to another neuron)."""
    off1, off2 = off[1], off[2]
    for syn in range(a, b - _PREFETCH):
        _prefetch_ahead(tn, win, off1, tgt[_u(syn + _PREFETCH)])
        if _seq_step(tn, win, off, off1, off2, tgt, w, ref, tr, syn, c, F, E, homo, has_ref):
            return syn
    for syn in range(max(a, b - _PREFETCH), b):
        if _seq_step(tn, win, off, off1, off2, tgt, w, ref, tr, syn, c, F, E, homo, has_ref):
            return syn
    return b


@_hot
def _lif_pulses(tn, win, off, tgt, w, w_homo, ref, has_ref, tr, a, b, F, E):
    """Pulses ``a..b`` of a batch, homogeneous drive above rheobase: ``key += w F``.

    Returns the first synapse whose pulse brings its target to threshold (unapplied), else ``b``.
    This loop is where the time goes: one copy per case of ``w_homo`` and ``has_ref`` (tests out of
    the loop). With ``w_homo`` (all weights equal) it does not stream the weights, which would
    evict keys from the cache, and adds ``w[0] F``, the product it would compute per pulse.
    """
    _prefetch_span(tgt, a, b)
    c = w[0] * F
    if w_homo:
        if has_ref:
            return _seq_run(tn, win, off, tgt, w, ref, tr, a, b, c, F, E, True, True)
        return _seq_run(tn, win, off, tgt, w, ref, tr, a, b, c, F, E, True, False)
    if has_ref:
        return _seq_run(tn, win, off, tgt, w, ref, tr, a, b, c, F, E, False, True)
    return _seq_run(tn, win, off, tgt, w, ref, tr, a, b, c, F, E, False, False)


@_hot
def _lif_pulses_any(tn, win, off, tgt, w, ref, has_ref, tr, a, b, G, E, supra, invD, u, I):
    """Pulses ``a..b`` for per-neuron drive, above or below rheobase (``G = E * wscale``)."""
    for syn in range(a, b):
        j = tgt[syn]
        if has_ref and tr < ref[j]:
            continue
        if supra[j]:
            old = tn[j]
            new = old + w[syn] * G * invD[j]
            if new <= E:
                return syn
            _tree_set(tn, win, off, j, old, new)
        else:
            uj = u[j] + w[syn] * G
            if uj >= (1.0 - I[j]) * E:
                return syn
            u[j] = uj
    return b


@_hot
def _lif_fire(j, E, tr, t0, tn, win, off, supra, Q, I, u, R, t_ref, ref, delay, out_t, out_i, n_out, qt, qp, qn):
    """Record a spike of ``j`` now, reset it, queue its batch. Returns ``(n_out, qn)``."""
    if supra[j]:
        _tree_set(tn, win, off, j, tn[j], E * R * Q[j])
    else:
        u[j] = -I[j] * (E * R)
    if t_ref > 0:
        ref[j] = tr + t_ref - min(_LIF_TIE, 0.5 * t_ref)
    return _record(j, tr, t0, delay, out_t, out_i, n_out, qt, qp, qn)


@_inline
def _lif_next(E, tr, t0, t_end_rel, epochs, qh, qn, n_out, n_max, R, t_ref, ref, delay, neu, tree, qt, qp, out_t,
              out_i):
    """Mode 0 of both LIF loops: a new epoch when ``E`` is due for one, then the next event; a
    spontaneous spike is recorded here. Returns ``(event, E, tr, t0, t_end_rel, epochs, n_out, qn)``,
    the event ``_next_event``'s (``_N_SPIKES`` when the spike recorded was the last one)."""
    I, supra, invD, Q, u = neu
    tn, win, off = tree
    while E >= _LIF_EMAX:
        epochs += 1
        t0 = epochs * _LIF_EPOCH
        E *= _LIF_SCALE
        tr -= _LIF_EPOCH
        t_end_rel -= _LIF_EPOCH
        for i in range(tn.shape[0]):
            tn[i] *= _LIF_SCALE
        for i in range(u.shape[0]):
            u[i] *= _LIF_SCALE
        _shift_back(_LIF_EPOCH, ref, t_ref > 0, qt, qh, qn)
    root = off[off.shape[0] - 2]
    smin = tn[root]
    ls = math.log(smin) if smin < np.inf else np.inf
    event = _next_event(ls, qt, qh, qn, delay, t_end_rel, n_out, out_t)
    if event == _SPIKE:
        E = smin
        tr = ls
        n_out, qn = _lif_fire(win[root], E, tr, t0, tn, win, off, supra, Q, I, u, R, t_ref, ref, delay, out_t, out_i,
                              n_out, qt, qp, qn)
        if n_out == n_max:
            event = _N_SPIKES
    return event, E, tr, t0, t_end_rel, epochs, n_out, qn


@_hot
def _lif_loop(fs, ist, net, w_homo, wscale, neu, fast, R, t_ref, ref, delay, n_max, tree, qt, qp, out_t, out_i):
    """The sequential rule's event loop, until a stop code or ``_NEED``."""
    E, tr, t0, t_end_rel, epochs, qh, qn, n_out, mode, pend, wave = _load(fs, ist)
    indptr, tgt, w = net
    I, supra, invD, Q, u = neu
    tn, win, off = tree
    has_ref = t_ref > 0
    invD0 = invD[0]
    cap_q = qt.shape[0]
    cap_o = out_t.shape[0]
    guess = -1  # the likely next spiker (_guess_next)
    code = _NEED
    while True:
        if mode == 0:
            event, E, tr, t0, t_end_rel, epochs, n_out, qn = _lif_next(E, tr, t0, t_end_rel, epochs, qh, qn, n_out,
                                                                       n_max, R, t_ref, ref, delay, neu, tree, qt, qp,
                                                                       out_t, out_i)
            if event == _SPIKE:
                guess = _guess_next(indptr, win, off, tn, Q, supra)
                if delay > 0:
                    continue
            elif event == _ARRIVAL:
                tr = qt[qh]
                E = math.exp(tr)
                pend = qp[qh]
                qh += 1
            else:
                code = event
                break
            mode = 1
        # mode 1: deliver the arrived batch (delay > 0) or the cascade's next batch (delay == 0)
        p, qh, qn = _next_batch(pend, delay, qp, qh, qn)
        if p < 0:
            mode = 0
            continue
        syn = indptr[p]
        b = indptr[p + 1]
        if qn + (b - syn) > cap_q or n_out + (b - syn) > cap_o:
            break
        if pend >= 0:
            pend = -1
        else:
            qh += 1
        F = E * wscale * invD0
        G = E * wscale
        while syn < b:
            if fast:
                syn = _lif_pulses(tn, win, off, tgt, w, w_homo, ref, has_ref, tr, syn, b, F, E)
            else:
                syn = _lif_pulses_any(tn, win, off, tgt, w, ref, has_ref, tr, syn, b, G, E, supra, invD, u, I)
            if syn == b:
                guess = _prefetch_guess(indptr, tgt, guess)
                break
            n_out, qn = _lif_fire(tgt[syn], E, tr, t0, tn, win, off, supra, Q, I, u, R, t_ref, ref, delay,
                                  out_t, out_i, n_out, qt, qp, qn)
            if n_out == n_max:
                break
            syn += 1
        if n_out == n_max:
            code = _N_SPIKES
            break
        if delay > 0:
            mode = 0
    _save(fs, ist, E, tr, t0, t_end_rel, epochs, qh, qn, n_out, mode, pend, wave)
    return code


@_jit
def _lif_setup(indptr, tgt, w, I, homo, v0, t_ref, t_end, n_max, max_deg, tn, win, off):
    """Keys, tree, queues, output and loop state of a LIF run (shared by both rules' kernels)."""
    n = v0.shape[0]
    supra = I > 1.0
    invD = np.zeros(n)
    Q = np.full(n, np.inf)
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
    _tree_build(tn, win, off)
    ref = np.full(n if t_ref > 0 else 1, -np.inf)
    qt = np.empty(max(1024, 2 * max_deg + 2))
    qp = np.empty(qt.shape[0], np.int64)
    cap = n_max + max_deg + 1 if n_max > 0 else max(4096, 2 * max_deg + 2)
    out_t = np.empty(cap)
    out_i = np.empty(cap, np.int64)
    fs, ist = _new_state(t_end)
    neu = (I, supra, invD, Q, u)
    net, tree = (indptr, tgt, w), (tn, win, off)
    return net, neu, tree, homo and all_supra, math.exp(t_ref), ref, qt, qp, out_t, out_i, fs, ist


@_jit
def _lif_result(code, fs, ist, neu, tn, ref, t_ref, t_end, out_t, out_i):
    """Spikes, stop code and (when stopped by ``t_end``) the final voltages."""
    I, supra, invD, Q, u = neu
    n = I.shape[0]
    n_out = ist[_N_OUT]
    stop = code == _T_END or (code == _QUIET and t_end < np.inf)
    v_final = np.empty(n if stop else 0)
    if stop:
        t_end_rel = fs[_FS_T_END]
        E_end = math.exp(t_end_rel)
        for j in range(n):
            if t_ref > 0 and t_end_rel < ref[j]:
                v_final[j] = 0.0
            elif supra[j]:
                v_final[j] = I[j] + tn[j] / E_end * (1.0 - I[j])
            else:
                v_final[j] = I[j] + u[j] / E_end
    return out_t[:n_out].copy(), out_i[:n_out].copy(), code, v_final


# Each rule has its own kernel: one kernel calling either loop measured slower on the sequential one.


@_jit
def _lif_kernel(indptr, tgt, w, w_homo, wscale, I, homo, v0, t_ref, delay, t_end, n_max, max_deg, tn, win, off):
    """A LIF run, sequential rule: the loop, called again with more room until it stops."""
    net, neu, tree, fast, R, ref, qt, qp, out_t, out_i, fs, ist = _lif_setup(indptr, tgt, w, I, homo, v0, t_ref, t_end,
                                                                             n_max, max_deg, tn, win, off)
    while True:
        code = _lif_loop(fs, ist, net, w_homo, wscale, neu, fast, R, t_ref, ref, delay, n_max, tree, qt, qp, out_t,
                         out_i)
        if code != _NEED:
            return _lif_result(code, fs, ist, neu, tn, ref, t_ref, t_end, out_t, out_i)
        qt, qp, out_t, out_i = _room(qt, qp, out_t, out_i, ist, max_deg + 1)


# ----------------------------------------------------------------------------- LIF, summed rule
# The "summed" rule for simultaneous pulses (NEST's), specified in ``reference.spiking``: the pulses
# arriving at one instant form a wave; each neuron adds their sum, then one threshold test; the
# neurons that cross spike at that instant, lowest index first. (In this file, not its own module:
# numba's cache does not notice when functions of another file that a cached function calls change.)
#
# Pulses are additive in the keys, so a wave is applied pulse by pulse, as the sequential loop
# does, but without testing: a target whose key reaches the threshold is noted (once per wave),
# and after the wave the noted targets still at or over it fire, in index order. The cost per
# pulse is the sequential loop's; a key over threshold sits in the tree only until the wave ends.
# The wave helpers are inlined into the loop (as calls they would cost as much as a batch).


@_inline
def _note(j, mark, wave, cand, nc):
    """Note ``j`` as a candidate of this wave (once)."""
    if mark[j] != wave:
        mark[j] = wave
        cand[nc] = j
        nc += 1
    return nc


@_inline
def _wave_step(tn, win, off, off1, off2, tgt, w, ref, tr, syn, c, F, E, homo, has_ref, mark, wave, cand, nc):
    """One pulse of a wave: applied, and a target brought to threshold noted. Returns ``nc``."""
    discarded, j, old, new = _lif_pulse(tn, tgt, w, ref, tr, syn, c, F, homo, has_ref)
    if not discarded:
        if new <= E:
            nc = _note(j, mark, wave, cand, nc)
        _leaf_set(tn, win, off, off1, off2, j, old, new)
    return nc


@_inline
def _wave_run(tn, win, off, tgt, w, ref, tr, a, b, c, F, E, homo, has_ref, mark, wave, cand, nc):
    """``_lif_wave_pulses`` for constant ``homo`` and ``has_ref`` (see ``_seq_run``)."""
    off1, off2 = off[1], off[2]
    for syn in range(a, b - _PREFETCH):
        _prefetch_ahead(tn, win, off1, tgt[_u(syn + _PREFETCH)])
        nc = _wave_step(tn, win, off, off1, off2, tgt, w, ref, tr, syn, c, F, E, homo, has_ref, mark, wave, cand, nc)
    for syn in range(max(a, b - _PREFETCH), b):
        nc = _wave_step(tn, win, off, off1, off2, tgt, w, ref, tr, syn, c, F, E, homo, has_ref, mark, wave, cand, nc)
    return nc


@_hot
def _lif_wave_pulses(tn, win, off, tgt, w, w_homo, ref, has_ref, tr, a, b, F, E, mark, wave, cand, nc):
    """``_lif_pulses`` that applies every pulse and notes the targets brought to threshold."""
    _prefetch_span(tgt, a, b)
    c = w[0] * F
    if w_homo:
        if has_ref:
            return _wave_run(tn, win, off, tgt, w, ref, tr, a, b, c, F, E, True, True, mark, wave, cand, nc)
        return _wave_run(tn, win, off, tgt, w, ref, tr, a, b, c, F, E, True, False, mark, wave, cand, nc)
    if has_ref:
        return _wave_run(tn, win, off, tgt, w, ref, tr, a, b, c, F, E, False, True, mark, wave, cand, nc)
    return _wave_run(tn, win, off, tgt, w, ref, tr, a, b, c, F, E, False, False, mark, wave, cand, nc)


@_hot
def _lif_wave_pulses_any(tn, win, off, tgt, w, ref, has_ref, tr, a, b, G, E, supra, invD, u, I, mark, wave, cand,
                         nc):
    """``_lif_pulses_any`` that applies every pulse and notes the targets brought to threshold."""
    for syn in range(a, b):
        j = tgt[syn]
        if has_ref and tr < ref[j]:
            continue
        if supra[j]:
            old = tn[j]
            new = old + w[syn] * G * invD[j]
            _tree_set(tn, win, off, j, old, new)
            if new <= E:
                nc = _note(j, mark, wave, cand, nc)
        else:
            u[j] += w[syn] * G
            if u[j] >= (1.0 - I[j]) * E:
                nc = _note(j, mark, wave, cand, nc)
    return nc


@_hot
def _sort_run(x, a, b):
    """Insertion sort of ``x[a:b]`` (a wave's candidates: a handful)."""
    for i in range(a + 1, b):
        v = x[i]
        k = i - 1
        while k >= a and x[k] > v:
            x[k + 1] = x[k]
            k -= 1
        x[k + 1] = v


@_inline
def _wave_need(indptr, qp, a, e, n):
    """At most one spike per target: room for ``min(n, pulses of the wave)`` spikes."""
    m = 0
    for q in range(a, e):
        m += indptr[qp[q] + 1] - indptr[qp[q]]
    return min(m, n)


@_inline
def _wave(a, e, E, tr, t0, net, w_homo, wscale, neu, fast, R, t_ref, ref, delay, tree, qt, qp, qn, out_t, out_i,
          n_out, scratch, wave):
    """Deliver the batches ``qp[a:e]`` at ``tr`` as one wave. Returns ``(n_out, qn)``."""
    indptr, tgt, w = net
    I, supra, invD, Q, u = neu
    tn, win, off = tree
    mark, cand = scratch
    has_ref = t_ref > 0
    F = E * wscale * invD[0]
    G = E * wscale
    nc = 0
    for q in range(a, e):
        p = qp[q]
        if fast:
            nc = _lif_wave_pulses(tn, win, off, tgt, w, w_homo, ref, has_ref, tr, indptr[p], indptr[p + 1], F, E,
                                  mark, wave, cand, nc)
        else:
            nc = _lif_wave_pulses_any(tn, win, off, tgt, w, ref, has_ref, tr, indptr[p], indptr[p + 1], G, E, supra,
                                      invD, u, I, mark, wave, cand, nc)
    _sort_run(cand, 0, nc)
    for k in range(nc):
        j = cand[k]
        if (tn[j] <= E) if supra[j] else (u[j] >= (1.0 - I[j]) * E):
            n_out, qn = _lif_fire(j, E, tr, t0, tn, win, off, supra, Q, I, u, R, t_ref, ref, delay, out_t, out_i,
                                  n_out, qt, qp, qn)
    return n_out, qn


@_hot
def _lif_loop_summed(fs, ist, net, w_homo, wscale, neu, fast, R, t_ref, ref, delay, n_max, tree, qt, qp, out_t, out_i,
                     scratch):
    """``_lif_loop`` with waves. Mode 1: a cascade at one instant (``delay == 0``: the next wave is
    the queue); on ``_NEED``, ``ist[_ROOM]`` says how much room."""
    E, tr, t0, t_end_rel, epochs, qh, qn, n_out, mode, pend, wave = _load(fs, ist)
    indptr, tgt = net[0], net[1]
    tn, win, off = tree
    supra, Q = neu[1], neu[3]
    n = neu[0].shape[0]
    guess = -1  # the likely next spiker (_guess_next)
    code = _NEED
    while True:
        if mode == 0:
            event, E, tr, t0, t_end_rel, epochs, n_out, qn = _lif_next(E, tr, t0, t_end_rel, epochs, qh, qn, n_out,
                                                                       n_max, R, t_ref, ref, delay, neu, tree, qt, qp,
                                                                       out_t, out_i)
            if event == _SPIKE:
                guess = _guess_next(indptr, win, off, tn, Q, supra)
                if delay == 0:
                    mode = 1
                continue
            if event != _ARRIVAL:
                ist[_ROOM] = 1
                code = event
                break
            e = qh + 1  # the wave: every batch arriving at qt[qh]
            while e < qn and qt[e] == qt[qh]:
                e += 1
        elif qh < qn:
            e = qn  # the wave: every batch queued
        else:
            mode = 0
            qh = 0
            qn = 0
            continue
        need = _wave_need(indptr, qp, qh, e, n)
        if qn + need > qt.shape[0] or n_out + need > out_t.shape[0]:
            ist[_ROOM] = need
            break
        if mode == 0:
            tr = qt[qh]
            E = math.exp(tr)
        wave += 1
        n_out, qn = _wave(qh, e, E, tr, t0, net, w_homo, wscale, neu, fast, R, t_ref, ref, delay, tree, qt, qp, qn,
                          out_t, out_i, n_out, scratch, wave)
        guess = _prefetch_guess(indptr, tgt, guess)
        qh = e
        if n_max > 0 and n_out >= n_max:
            n_out = n_max
            code = _N_SPIKES
            break
    _save(fs, ist, E, tr, t0, t_end_rel, epochs, qh, qn, n_out, mode, pend, wave)
    return code


@_jit
def _lif_kernel_summed(indptr, tgt, w, w_homo, wscale, I, homo, v0, t_ref, delay, t_end, n_max, max_deg, tn, win,
                       off):
    """``_lif_kernel`` under the summed rule."""
    net, neu, tree, fast, R, ref, qt, qp, out_t, out_i, fs, ist = _lif_setup(indptr, tgt, w, I, homo, v0, t_ref, t_end,
                                                                             n_max, max_deg, tn, win, off)
    scratch = (np.zeros(v0.shape[0], np.int64), np.zeros(v0.shape[0], np.int64))
    while True:
        code = _lif_loop_summed(fs, ist, net, w_homo, wscale, neu, fast, R, t_ref, ref, delay, n_max, tree, qt, qp,
                                out_t, out_i, scratch)
        if code != _NEED:
            return _lif_result(code, fs, ist, neu, tn, ref, t_ref, t_end, out_t, out_i)
        qt, qp, out_t, out_i = _room(qt, qp, out_t, out_i, ist, ist[_ROOM])


# ----------------------------------------------------------------------------- QIF


@_hot
def _qif_v(r, I, sq):
    """Voltage of a neuron ``r`` time units before its spike."""
    if I > 0:
        # a whole period ahead is the reset (-inf); rounding must not wrap it to +0 (spike now)
        return sq / math.tan(min(sq * r, math.pi))
    if I < 0:
        return sq / math.tanh(sq * r)
    return 1.0 / r


@_hot
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


@_hot
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


@_hot
def _qif_pulses(tn, win, off, tgt, w, w_homo, ref, has_ref, tr, a, b, sq, isq):
    """Pulses ``a..b``, homogeneous drive ``I = sq**2 > 0``: through the voltage and back."""
    off1, off2 = off[1], off[2]
    last = tgt.shape[0] - 1
    for syn in range(a, b):
        _prefetch_ahead(tn, win, off1, tgt[min(syn + _PREFETCH, last)])
        j = tgt[syn]
        if has_ref and tr < ref[j]:
            continue
        old = tn[j]
        v = sq / math.tan(min(sq * (old - tr), math.pi)) + (w[0] if w_homo else w[syn])
        _leaf_set(tn, win, off, off1, off2, j, old, tr + math.atan2(sq, v) * isq)


@_hot
def _qif_pulses_any(tn, win, off, tgt, w, ref, has_ref, tr, a, b, I, sq, vv, tl):
    """Pulses ``a..b``, per-neuron drive of any sign."""
    for syn in range(a, b):
        j = tgt[syn]
        if has_ref and tr < ref[j]:
            continue
        old = tn[j]
        if old < np.inf:
            v = _qif_v(old - tr, I[j], sq[j])
        else:
            v = _qif_evolve(vv[j], tr - tl[j], I[j], sq[j])
        v += w[syn]
        r = _qif_r(v, I[j], sq[j])
        if r < np.inf:
            _tree_set(tn, win, off, j, old, tr + r)
        else:
            _tree_set(tn, win, off, j, old, np.inf)
            vv[j] = v
            tl[j] = tr


@_hot
def _qif_fire(j, tr, t0, tn, win, off, I, ref_next, vv, tl, t_ref, ref, delay, out_t, out_i, n_out, qt, qp, qn):
    if I[j] > 0:
        _tree_set(tn, win, off, j, tn[j], tr + ref_next[j])
    else:
        _tree_set(tn, win, off, j, tn[j], np.inf)
        vv[j] = -np.inf
        tl[j] = tr + t_ref
    if t_ref > 0:
        ref[j] = tr + t_ref
    return _record(j, tr, t0, delay, out_t, out_i, n_out, qt, qp, qn)


@_hot
def _qif_loop(fs, ist, net, w_homo, neu, fast, t_ref, ref, delay, n_max, tree, qt, qp, out_t, out_i):
    """The QIF event loop (one rule: a pulse cannot fire a QIF neuron), until a stop code or ``_NEED``."""
    E, tr, t0, t_end_rel, epochs, qh, qn, n_out, mode, pend, wave = _load(fs, ist)
    indptr, tgt, w = net
    I, sq, ref_next, vv, tl = neu
    tn, win, off = tree
    has_ref = t_ref > 0
    root = off[off.shape[0] - 2]
    sq0 = sq[0]
    isq0 = 1.0 / sq0 if sq0 > 0 else 0.0
    code = _NEED
    while True:
        if mode == 0:
            while tr >= _QIF_WINDOW:
                epochs += 1
                t0 = epochs * _QIF_WINDOW
                tr -= _QIF_WINDOW
                t_end_rel -= _QIF_WINDOW
                for i in range(tn.shape[0]):
                    tn[i] -= _QIF_WINDOW
                for i in range(tl.shape[0]):
                    tl[i] -= _QIF_WINDOW
                _shift_back(_QIF_WINDOW, ref, has_ref, qt, qh, qn)
            smin = tn[root]
            event = _next_event(smin, qt, qh, qn, delay, t_end_rel, n_out, out_t)
            if event == _ARRIVAL:
                tr = qt[qh]
                pend = qp[qh]
                qh += 1
            elif event != _SPIKE:
                code = event
                break
            else:
                tr = smin
                n_out, qn = _qif_fire(win[root], tr, t0, tn, win, off, I, ref_next, vv, tl, t_ref, ref, delay,
                                      out_t, out_i, n_out, qt, qp, qn)
                if n_out == n_max:
                    code = _N_SPIKES
                    break
                if delay > 0:
                    continue
            mode = 1
        p, qh, qn = _next_batch(pend, delay, qp, qh, qn)
        if p < 0:
            mode = 0
            continue
        if pend >= 0:
            pend = -1
        else:
            qh += 1
        if fast:
            _qif_pulses(tn, win, off, tgt, w, w_homo, ref, has_ref, tr, indptr[p], indptr[p + 1], sq0, isq0)
        else:
            _qif_pulses_any(tn, win, off, tgt, w, ref, has_ref, tr, indptr[p], indptr[p + 1], I, sq, vv, tl)
        if delay > 0:
            mode = 0
    _save(fs, ist, E, tr, t0, t_end_rel, epochs, qh, qn, n_out, mode, pend, wave)
    return code


@_jit
def _qif_kernel(indptr, tgt, w, w_homo, I, homo, v0, t_ref, delay, t_end, n_max, max_deg, tn, win, off):
    n = v0.shape[0]
    sq = np.sqrt(np.abs(I))
    ref_next = np.full(n, np.inf)  # t_ref + period
    vv = np.full(n, -np.inf)  # voltage at time tl, for neurons with an infinite key
    tl = np.zeros(n)
    for j in range(n):
        if I[j] > 0:
            ref_next[j] = t_ref + math.pi / sq[j]
        r = _qif_r(v0[j], I[j], sq[j])
        tn[j] = r
        if r == np.inf:
            vv[j] = v0[j]
    _tree_build(tn, win, off)
    ref = np.full(n if t_ref > 0 else 1, -np.inf)
    qt = np.empty(1024)
    qp = np.empty(1024, np.int64)
    cap = n_max + 1 if n_max > 0 else 4096
    out_t = np.empty(cap)
    out_i = np.empty(cap, np.int64)
    fs, ist = _new_state(t_end)
    net = (indptr, tgt, w)
    neu = (I, sq, ref_next, vv, tl)
    tree = (tn, win, off)
    while True:
        code = _qif_loop(fs, ist, net, w_homo, neu, homo and I[0] > 0, t_ref, ref, delay, n_max, tree, qt, qp, out_t,
                         out_i)
        if code != _NEED:
            break
        qt, qp, out_t, out_i = _room(qt, qp, out_t, out_i, ist, 1)
    n_out = ist[_N_OUT]
    stop = code == _T_END or (code == _QUIET and t_end < np.inf)
    v_final = np.empty(n if stop else 0)
    if stop:
        t_end_rel = fs[_FS_T_END]
        for j in range(n):
            if t_ref > 0 and t_end_rel < ref[j]:
                v_final[j] = -np.inf
            elif tn[j] < np.inf:
                v_final[j] = _qif_v(tn[j] - t_end_rel, I[j], sq[j])
            else:
                v_final[j] = _qif_evolve(vv[j], t_end_rel - tl[j], I[j], sq[j])
    return out_t[:n_out].copy(), out_i[:n_out].copy(), code, v_final


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
        # unsigned indices (targets, tree winners): zero-extended for free when addressing
        self.tgt = np.ascontiguousarray(post, dtype=np.int32).view(np.uint32)
        self.weight = np.ascontiguousarray(weight, dtype=np.float64)
        if not self.weight.size:
            self.weight = np.zeros(1)
        self.w_homo = bool(np.all(self.weight == self.weight[0]))
        self.summed = params.simultaneous == "summed" and params.model == "lif"
        self.drive = np.ascontiguousarray(self.dimless.drive, dtype=np.float64)
        self.homo = bool(np.all(self.drive == self.drive[0]))
        self.off = _tree_layout(n)
        self.max_deg = int(np.diff(self.indptr).max(initial=0))

    def run(self, v0, t_end=None, n_spikes=None) -> SpikeTrain:
        p, d = self.params, self.dimless
        v0, t_end, n_spikes = check_run(self.network, p, v0, t_end, n_spikes)
        t_end_d = t_end / p.tau_m
        tn = _aligned_full(int(self.off[-1]), np.inf)
        win = np.zeros(int(self.off[-1]), dtype=np.uint32)
        if p.model == "lif":
            common = (1.0 / d.v_scale, self.drive, self.homo, d.to_v(v0), d.t_ref, d.delay, t_end_d, n_spikes,
                      self.max_deg, tn, win, self.off)
            kernel = _lif_kernel_summed if self.summed else _lif_kernel
            times, neurons, stop, v_final = kernel(self.indptr, self.tgt, self.weight, self.w_homo, *common)
        else:
            times, neurons, stop, v_final = _qif_kernel(
                self.indptr, self.tgt, self.weight, self.w_homo, self.drive, self.homo,
                v0, d.t_ref, d.delay, t_end_d, n_spikes, self.max_deg, tn, win, self.off,
            )
        times = times * p.tau_m
        if stop == _N_SPIKES:
            stop = "n_spikes"
        else:
            stop = "t_end" if t_end < math.inf else "quiescent"
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


def time_run(n: int, k: int, n_spikes: int, model: str = "lif", *, impl: str = "sparseprop",
            seed: int = 0, warmup_time: float = 1.0, repeat: int = 3) -> dict:
    """Speed of a run of ``n_spikes`` spikes on ``balanced_network(n, k)`` (one core).

    The network first relaxes for ``warmup_time`` (in ``tau_m``) with SparseProp; the timed run
    (``impl``: ``"sparseprop"`` or ``"reference"``) starts from that state, ``repeat`` times, and
    the fastest counts. Network construction, the first call (numba compilation or cache load)
    and the warm-up are timed separately. ``ns_per_synaptic_update`` divides the run's time by the
    pulses it delivered (one per synapse of every spike).
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
        run = lambda: sim.run(v_warm, n_spikes=n_spikes)  # noqa: E731
    else:
        from evbench_reference.spiking import simulate as ref_simulate

        run = lambda: ref_simulate(net, params, v_warm, n_spikes=n_spikes)  # noqa: E731
    seconds, cpu_seconds = math.inf, math.inf
    for _ in range(max(1, repeat)):
        t, c = time.perf_counter(), time.process_time()
        st = run()
        seconds = min(seconds, time.perf_counter() - t)
        cpu_seconds = min(cpu_seconds, time.process_time() - c)
    updates = int(np.diff(sim.indptr)[st.neurons].sum())
    return {
        "impl": impl,
        "model": model,
        "n": n,
        "k": k,
        "n_spikes": len(st),
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "spikes_per_s": len(st) / seconds,
        "ns_per_synaptic_update": seconds / max(updates, 1) * 1e9,
        "synaptic_updates": updates,
        "simulated_time": st.t_stop,
        "rate_per_tau": len(st) / (n * st.t_stop / params.tau_m) if st.t_stop > 0 else float("nan"),
        "build_s": build_s,
        "first_call_s": first_call_s,
        "warmup_s": warmup_s,
    }


if __name__ == "__main__":  # python -m evbench.spiking.sparseprop N K N_SPIKES [lif|qif] [sparseprop|reference] [repeat]
    import json
    import sys

    a = sys.argv[1:]
    result = time_run(int(float(a[0])), int(a[1]), int(float(a[2])), a[3] if len(a) > 3 else "lif",
                     impl=a[4] if len(a) > 4 else "sparseprop", repeat=int(a[5]) if len(a) > 5 else 3)
    print(json.dumps({key: round(v, 4) if isinstance(v, float) else v for key, v in result.items()}))
