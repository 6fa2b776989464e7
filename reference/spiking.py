"""Naive exact event-driven simulation of LIF and QIF networks: the ground truth for spike times.

Imports NumPy only. Every neuron keeps its membrane value at the time it was last touched, and its
next spike time in closed form; the next event is found by an O(N) search (``np.argmin``). Slow
on purpose, simple enough to check by eye. ``evbench.sparseprop`` must reproduce it spike for
spike.

Models (``SpikingParams.model``), in physical units (any consistent units of time and voltage):

* ``"lif"``: ``tau_m dV/dt = -(V - v_rest) + drive`` (``drive`` is R*I, in voltage units, so the
  neuron relaxes towards ``mu = v_rest + drive``); a spike when ``V`` reaches ``v_th``, then
  ``V = v_reset`` (``v_reset < v_th``).
* ``"qif"``: the canonical quadratic integrate-and-fire / theta neuron
  ``tau_m dV/dt = V**2 + drive`` with ``V`` dimensionless, threshold ``+inf`` and reset ``-inf``
  (``V = tan(theta/2)``: the spike is theta crossing pi). ``drive > 0``: oscillator of period
  ``pi tau_m / sqrt(drive)``; ``drive <= 0``: excitable, a neuron below ``sqrt(-drive)`` never fires
  on its own. ``v_th``, ``v_reset``, ``v_rest`` are fixed at ``+inf``, ``-inf``, ``0``.

``to_dimensionless`` gives SparseProp's dimensionless form (time in units of ``tau_m``; for the
LIF ``v = (V - v_reset)/(v_th - v_reset)``, threshold 1, reset 0, ``dv/dt = -v + I``), with the
phase, voltage and phase transition curve of each model.

Semantics (both simulators, exactly):

* Coupling: a spike of neuron ``i`` at time ``t`` sends, for every synapse ``(i, j, w)`` in the
  order the synapse arrays give (duplicates are separate synapses, applied one after another), a
  delta pulse ``V_j -> V_j + w`` at ``t + delay``. Pulses of one spike form a *batch*.
* Refractoriness: after a spike at ``t``, ``V`` is held at ``v_reset`` on ``[t, t + t_ref)``; a
  pulse arriving at a time ``< t + t_ref`` is discarded; free evolution restarts at ``t + t_ref``.
  A pulse arriving exactly at ``t + t_ref`` is applied. Exact ties happen (a neuron that fires
  together with its source and ``t_ref`` a multiple of ``delay``), but the two times are sums of
  different floating-point terms that round apart, so an arrival within ``TIE_ULPS`` (64) ulps
  before ``t + t_ref`` counts as at the end (SparseProp: within ``2**-40 tau_m``; either way at
  most ``t_ref / 2``).
* A pulse that brings an LIF neuron to ``V >= v_th`` makes it spike at once, at the pulse's time,
  before the next pulse of the batch is applied (it is reset, so a later pulse of the same batch
  acts on the reset value, or is discarded when ``t_ref > 0``). QIF neurons cannot be pulsed over
  an infinite threshold: they spike only by evolution.
* Order of events at equal times: first pending pulse batches, in the order their spikes were
  emitted; then spontaneous threshold crossings, lowest neuron index first. With ``delay == 0``
  the batch of a spike is delivered immediately; the batches of spikes it causes are queued
  behind it (first in, first out) and delivered, still at the same time, before any other event.
  With ``delay == 0`` and ``t_ref == 0`` an excitatory loop can fire without end at one instant:
  bound such runs with ``n_spikes``.
* Simultaneous pulses (``SpikingParams.simultaneous``), LIF:

  - ``"sequential"`` (the default): as above, pulse by pulse, a threshold test after each.
  - ``"summed"`` (NEST's ``iaf_psc_delta_ps``): the pulses that arrive at one instant form a
    *wave*, applied at once. With ``delay > 0`` a wave is every batch arriving at that time (the
    batches of all spikes emitted at ``t - delay``); with ``delay == 0`` it is every batch queued
    when the previous wave is done (the first wave: the spontaneous spike's batch; the next: the
    batches of the spikes the first caused, and so on). Each neuron not refractory at ``t`` adds
    the sum of its pulses in the wave (summed in emission, then synapse order) to ``V(t)``; then
    one threshold test per neuron; those at or above ``v_th`` spike at ``t``, lowest index
    first, and are reset. Pulses of the wave to a neuron refractory at ``t`` are discarded.

  The rules differ only where a neuron takes two or more pulses of one wave: sequentially, a
  partial sum that crosses fires it even when the whole would not (an excitatory pulse applied
  before an inhibitory one), and with ``t_ref == 0`` the rest of the wave then acts on
  ``v_reset`` and may fire it again; summed, it fires at most once per wave, iff the whole sum
  crosses. Everything else (pulses before crossings at equal times, refractoriness, stops) is
  the same.
  A QIF neuron cannot be pulsed over its threshold, so for the QIF the two rules are the same
  dynamics; both simulators then apply its pulses one by one.
* Start: ``V = v0`` at ``t = 0``, nobody refractory; LIF needs ``v0 < v_th``, QIF ``v0`` finite or
  ``-inf`` (just reset).
* Stop: before the first event later than ``t_end`` (then ``SpikeTrain.v_final`` holds ``V`` at
  ``t_end``), or right after the ``n_spikes``-th spike is recorded, or when nothing can happen.

Two exact simulators differ by rounding only (spike times to a few ulps of ``tau_m``). In a
chaotic network (balanced QIF networks with strong coupling are) that difference grows
exponentially, so spike-for-spike agreement within a fixed tolerance holds for a limited number of
spikes. (Inhibition-dominated LIF networks are stable: tested runs of 1e5 spikes stay within a
few ulps.)
"""
from __future__ import annotations

import math
import numbers
from collections import deque
from dataclasses import dataclass
from functools import cached_property

import numpy as np

MODELS = ("lif", "qif")
SIMULTANEOUS = ("sequential", "summed")
TIE_ULPS = 64  # an arrival this close before the end of refractoriness is at its end


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _real(name: str, value, *, minimum: float | None = None, strict: bool = False, allow=()) -> float:
    """A finite real scalar (or one of ``allow``), optionally bounded below."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        raise TypeError(f"{name} must be a real number, got {_show(value)}")
    value = float(value)
    if value in allow:
        return value
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if minimum is not None and (value < minimum or (strict and value == minimum)):
        raise ValueError(f"{name} must be {'>' if strict else '>='} {minimum}, got {value!r}")
    return value


def _finite_array(name: str, arr: np.ndarray) -> None:
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise ValueError(f"{name} must be finite, got {arr[bad[0]]!r} at index {bad[0]}")


@dataclass(frozen=True, eq=False)
class SpikingParams:
    """Neuron and coupling parameters shared by every neuron (``drive`` may be per neuron).

    ``v_th``, ``v_reset``, ``v_rest`` default to 1, 0, 0 for the LIF and to ``+inf``, ``-inf``, 0
    for the QIF (the only values it accepts). ``delay`` and ``t_ref`` are in the time unit of
    ``tau_m``; ``drive`` is R*I in voltage units (LIF) or the dimensionless current (QIF).
    ``simultaneous`` is the rule for pulses arriving at one instant: ``"sequential"`` or
    ``"summed"`` (see the module docstring).
    """

    model: str = "lif"
    tau_m: float = 1.0
    drive: float | np.ndarray = 2.0
    v_th: float | None = None
    v_reset: float | None = None
    v_rest: float | None = None
    t_ref: float = 0.0
    delay: float = 0.0
    simultaneous: str = "sequential"

    def __post_init__(self):
        if self.model not in MODELS:
            raise ValueError(f"model must be one of {MODELS}, got {_show(self.model)}")
        if self.simultaneous not in SIMULTANEOUS:
            raise ValueError(f"simultaneous must be one of {SIMULTANEOUS}, got {_show(self.simultaneous)}")
        put = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731
        put("tau_m", _real("tau_m", self.tau_m, minimum=0.0, strict=True))
        put("t_ref", _real("t_ref", self.t_ref, minimum=0.0))
        put("delay", _real("delay", self.delay, minimum=0.0))
        if self.model == "lif":
            for name, default in (("v_th", 1.0), ("v_reset", 0.0), ("v_rest", 0.0)):
                value = getattr(self, name)
                put(name, default if value is None else _real(name, value))
            if not self.v_reset < self.v_th:
                raise ValueError(f"v_reset must be < v_th, got v_reset={self.v_reset!r}, v_th={self.v_th!r}")
        else:
            for name, fixed in (("v_th", math.inf), ("v_reset", -math.inf), ("v_rest", 0.0)):
                value = getattr(self, name)
                if value is not None and value != fixed:
                    raise ValueError(
                        f"the QIF (theta neuron) has {name}={fixed!r}; got {name}={_show(value)}"
                    )
                put(name, fixed)
        drive = self.drive
        if np.ndim(drive) == 0:
            put("drive", _real("drive", drive))
        else:
            arr = np.array(drive, dtype=np.float64)
            if arr.ndim != 1:
                raise ValueError(f"drive must be a scalar or a 1-D array, got shape {arr.shape}")
            _finite_array("drive", arr)
            arr.flags.writeable = False
            put("drive", arr)

    def drive_array(self, n: int) -> np.ndarray:
        """``drive`` for ``n`` neurons, float64."""
        if np.ndim(self.drive) == 0:
            return np.full(n, float(self.drive))
        if self.drive.shape != (n,):
            raise ValueError(f"drive has {self.drive.shape[0]} entries for a network of {n} neurons")
        return np.array(self.drive)


@dataclass(frozen=True, eq=False)
class Dimensionless:
    """SparseProp's dimensionless form: time in units of ``tau_m``.

    LIF: ``v = (V - v_reset)/v_scale`` with ``v_scale = v_th - v_reset``; ``dv/dt = -v + I``,
    threshold 1, reset 0, pulse ``J = w/v_scale``. QIF: ``v = V``, ``dv/dt = v**2 + I``, pulse
    ``J = w``. ``t_ref`` and ``delay`` are divided by ``tau_m``.

    Phase (neurons with ``I`` above rheobase: LIF ``I > 1``, QIF ``I > 0``): the time since the
    last reset under free evolution, ``dphi/dt = 1``, spike at ``phi = period``. A pulse maps a
    phase through the phase transition curve ``ptc(phi, J) = phase(voltage(phi) + J)``; for the LIF
    ``exp(-ptc(phi, J)) = exp(-phi) - J/I`` is additive, the fact SparseProp exploits.
    """

    model: str
    tau_m: float
    v_offset: float
    v_scale: float
    drive: np.ndarray
    t_ref: float
    delay: float

    def to_v(self, v_physical):
        return (np.asarray(v_physical, dtype=np.float64) - self.v_offset) / self.v_scale

    def to_physical(self, v):
        return np.asarray(v, dtype=np.float64) * self.v_scale + self.v_offset

    def period(self):
        I = self.drive
        with np.errstate(all="ignore"):
            if self.model == "lif":
                return np.where(I > 1, np.log(I / (I - 1)), np.inf)
            return np.where(I > 0, np.pi / np.sqrt(np.abs(I)), np.inf)

    def voltage(self, phi):
        I = self.drive
        if self.model == "lif":
            return I * -np.expm1(-np.asarray(phi, dtype=np.float64))
        sq = np.sqrt(I)
        return -sq / np.tan(sq * np.asarray(phi, dtype=np.float64))

    def phase(self, v):
        I = self.drive
        v = np.asarray(v, dtype=np.float64)
        if self.model == "lif":
            return -np.log1p(-v / I)
        sq = np.sqrt(I)
        return (np.pi - np.arctan2(sq, v)) / sq

    def ptc(self, phi, J):
        return self.phase(self.voltage(phi) + J)


def to_dimensionless(params: SpikingParams, n: int) -> Dimensionless:
    """The dimensionless form of ``params`` for a network of ``n`` neurons."""
    drive = params.drive_array(n)
    if params.model == "lif":
        scale = params.v_th - params.v_reset
        I = (params.v_rest + drive - params.v_reset) / scale
        offset = params.v_reset
    else:
        scale, I, offset = 1.0, drive, 0.0
    return Dimensionless(
        params.model, params.tau_m, offset, scale, I, params.t_ref / params.tau_m, params.delay / params.tau_m
    )


@dataclass(frozen=True, eq=False)
class Network:
    """Synapses as arrays: synapse ``s`` goes from ``pre[s]`` to ``post[s]`` with ``weight[s]``.

    Any structure can be given this way; duplicates stay separate synapses. ``weight`` may be a
    scalar (the same for every synapse).
    """

    n_neurons: int
    pre: np.ndarray
    post: np.ndarray
    weight: np.ndarray

    def __post_init__(self):
        n = self.n_neurons
        if isinstance(n, (bool, np.bool_)) or not isinstance(n, (numbers.Integral, np.integer)):
            raise TypeError(f"n_neurons must be an integer, got {_show(n)}")
        if n < 1:
            raise ValueError(f"n_neurons must be >= 1, got {n}")
        object.__setattr__(self, "n_neurons", int(n))
        arrays = {}
        for name in ("pre", "post"):
            arr = np.asarray(getattr(self, name))
            if arr.ndim != 1:
                raise ValueError(f"{name} must be a 1-D integer array, got shape {arr.shape}")
            if arr.size and arr.dtype.kind not in "iu":
                raise ValueError(f"{name} must hold integers, got dtype {arr.dtype}")
            if arr.size and (arr.min() < 0 or arr.max() >= n):
                bad = arr.min() if arr.min() < 0 else arr.max()
                raise ValueError(f"{name} must hold neuron indices in [0, {n}), got {bad}")
            arrays[name] = arr if arr.size else arr.astype(np.int64)
        if arrays["pre"].shape != arrays["post"].shape:
            raise ValueError(
                f"pre and post must have the same length, got {arrays['pre'].shape[0]} and {arrays['post'].shape[0]}"
            )
        weight = np.asarray(self.weight, dtype=np.float64)
        if weight.ndim == 0:
            _real("weight", float(weight))
            weight = np.full(arrays["pre"].shape, float(weight))
        elif weight.shape != arrays["pre"].shape:
            raise ValueError(
                f"weight must be a scalar or have the length of pre ({arrays['pre'].shape[0]}), got shape {weight.shape}"
            )
        _finite_array("weight", weight)
        for name, arr in (*arrays.items(), ("weight", weight)):
            object.__setattr__(self, name, arr)

    @property
    def n_synapses(self) -> int:
        return int(self.pre.shape[0])

    @cached_property
    def csr(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(indptr, post, weight)`` grouped by presynaptic neuron, keeping the given order."""
        pre = self.pre
        if pre.size and np.any(pre[1:] < pre[:-1]):
            order = np.argsort(pre, kind="stable")
            post, weight = self.post[order], self.weight[order]
        else:
            post, weight = self.post, self.weight
        indptr = np.zeros(self.n_neurons + 1, dtype=np.int64)
        np.cumsum(np.bincount(pre, minlength=self.n_neurons), out=indptr[1:])
        return indptr, post, weight


@dataclass(frozen=True, eq=False)
class SpikeTrain:
    """Spikes in the order they happened; ``v_final`` is ``V`` at ``t_end`` (else ``None``)."""

    times: np.ndarray
    neurons: np.ndarray
    n_neurons: int
    t_stop: float
    stop: str  # "t_end", "n_spikes" or "quiescent"
    v_final: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.times.shape[0])


def check_run(network, params, v0, t_end, n_spikes):
    """Validate a run's arguments; return ``(v0, t_end, n_spikes)`` with ``inf``/-1 for none."""
    if not isinstance(network, Network):
        raise TypeError(f"network must be a Network, got {type(network).__name__}")
    if not isinstance(params, SpikingParams):
        raise TypeError(f"params must be SpikingParams, got {type(params).__name__}")
    n = network.n_neurons
    params.drive_array(n)
    v = np.array(v0, dtype=np.float64)
    if v.shape != (n,):
        raise ValueError(f"v0 must have shape ({n},), got {v.shape}")
    if params.model == "lif":
        _finite_array("v0", v)
        if np.any(v >= params.v_th):
            bad = int(np.flatnonzero(v >= params.v_th)[0])
            raise ValueError(f"v0 must be below v_th={params.v_th!r}, got {v[bad]!r} at index {bad}")
    else:
        bad = np.flatnonzero(np.isnan(v) | (v == np.inf))
        if bad.size:
            raise ValueError(f"v0 must be finite or -inf for the QIF, got {v[bad[0]]!r} at index {bad[0]}")
    if t_end is None and n_spikes is None:
        raise ValueError("give t_end or n_spikes (or both), got neither")
    t_end = math.inf if t_end is None else _real("t_end", t_end, minimum=0.0, strict=True)
    if n_spikes is None:
        n_spikes = -1
    else:
        if isinstance(n_spikes, (bool, np.bool_)) or not isinstance(n_spikes, (numbers.Integral, np.integer)):
            raise TypeError(f"n_spikes must be an integer, got {_show(n_spikes)}")
        n_spikes = int(n_spikes)
        if n_spikes < 1:
            raise ValueError(f"n_spikes must be >= 1, got {n_spikes}")
    return v, t_end, n_spikes


# ----------------------------------------------------------------------------- single neurons
# Closed forms in physical time. ``s`` is the time since ``v`` was set (``s >= 0``); ``v`` below
# threshold. The underscored versions skip ``np.errstate`` (the simulator sets it once).


def _lif_evolve(v, s, mu, tau):
    return mu + (v - mu) * np.exp(-s / tau)


def _lif_time_to_spike(v, mu, v_th, tau):
    return np.where(mu > v_th, tau * np.log((mu - v) / (mu - v_th)), np.inf)


def _qif_evolve(v, s, drive, tau):
    out = np.array(v, dtype=np.float64)
    moved = s > 0
    x = s / tau
    sq = np.sqrt(np.abs(drive))
    m = moved & (drive > 0)
    if m.any():  # oscillator: V = a tan(a x + atan(v/a)); the angle cannot pass pi/2 before the spike
        a, vm, xm = sq[m], v[m], x[m]
        out[m] = a * np.tan(np.minimum(a * xm + np.arctan(vm / a), np.pi / 2))
    m = moved & (drive < 0)
    if m.any():  # excitable: fixed points -a (stable), +a (unstable); from -inf: -a coth(a x)
        a, vm, xm = sq[m], v[m], x[m]
        e = np.exp(-2 * a * xm)
        new = a * ((vm + a) * e + (vm - a)) / ((vm + a) * e - (vm - a))
        new = np.where(vm == a, a, new)
        out[m] = np.where(vm == -np.inf, -a / np.tanh(a * xm), new)
    m = moved & (drive == 0)
    if m.any():  # V = v / (1 - v x); from -inf: -1/x
        vm, xm = v[m], x[m]
        out[m] = np.where(vm == -np.inf, -1 / xm, vm / (1 - vm * xm))
    return out


def _qif_time_to_spike(v, drive, tau):
    out = np.empty(v.shape)
    sq = np.sqrt(np.abs(drive))
    m = drive > 0
    if m.any():
        out[m] = (np.pi / 2 - np.arctan(v[m] / sq[m])) / sq[m]
    m = drive < 0
    if m.any():
        vm, a = v[m], sq[m]
        out[m] = np.where(vm > a, np.log((vm + a) / (vm - a)) / (2 * a), np.inf)
    m = drive == 0
    if m.any():
        out[m] = np.where(v[m] > 0, 1 / v[m], np.inf)
    return tau * out


def _arrays(*xs):
    return np.broadcast_arrays(*(np.atleast_1d(np.asarray(x, dtype=np.float64)) for x in xs))


def lif_evolve(v, s, mu, tau):
    """LIF: ``V`` after free evolution for ``s`` from ``v``."""
    return _lif_evolve(*_arrays(v, s, mu), tau)


def lif_time_to_spike(v, mu, v_th, tau):
    """LIF: free-run time from ``v`` (< v_th) to ``v_th``; ``inf`` when ``mu <= v_th``."""
    with np.errstate(all="ignore"):
        return _lif_time_to_spike(*_arrays(v, mu), v_th, tau)


def qif_evolve(v, s, drive, tau):
    """QIF ``tau dV/dt = V**2 + drive``: ``V`` after free evolution for ``s`` (no spike between)."""
    with np.errstate(all="ignore"):
        return _qif_evolve(*_arrays(v, s, drive), tau)


def qif_time_to_spike(v, drive, tau):
    """QIF: free-run time from ``v`` to ``+inf``; ``inf`` for an excitable neuron that never fires."""
    with np.errstate(all="ignore"):
        return _qif_time_to_spike(*_arrays(v, drive), tau)


# ----------------------------------------------------------------------------- the simulator


class _Stop(Exception):
    pass


def _repeat_rank(targets: np.ndarray) -> np.ndarray | None:
    """For each synapse of a batch, how many earlier synapses of the batch share its target."""
    order = np.argsort(targets, kind="stable")
    sorted_t = targets[order]
    first = np.ones(targets.size, dtype=bool)
    first[1:] = sorted_t[1:] != sorted_t[:-1]
    if first.all():
        return None
    pos = np.arange(targets.size)
    rank = np.empty(targets.size, dtype=np.int64)
    rank[order] = pos - np.maximum.accumulate(np.where(first, pos, 0))
    return rank


class _Naive:
    """State: each neuron's ``V`` at its time ``t_last`` (held at ``v_reset`` until then) and its
    next spike time in closed form; the next event is the argmin (lowest index first on ties)."""

    def __init__(self, network: Network, params: SpikingParams, v0, t_end, n_spikes):
        self.p = params
        self.n = network.n_neurons
        self.indptr, self.post, self.weight = network.csr
        self.ranks = {}  # per presynaptic neuron: repeat ranks of its targets, None if all distinct
        self.drive = params.drive_array(self.n)
        self.mu = params.v_rest + self.drive
        self.v = np.array(v0, dtype=np.float64)
        self.t_last = np.zeros(self.n)
        self.ref_end = np.full(self.n, -np.inf)
        self.t_end, self.n_max = t_end, n_spikes
        self.times, self.neurons = [], []
        self.fifo, self.arrivals = deque(), deque()
        with np.errstate(all="ignore"):
            self.t_next = self._time_to_spike(np.arange(self.n))

    def _time_to_spike(self, idx):
        p = self.p
        if p.model == "lif":
            return self.t_last[idx] + _lif_time_to_spike(self.v[idx], self.mu[idx], p.v_th, p.tau_m)
        return self.t_last[idx] + _qif_time_to_spike(self.v[idx], self.drive[idx], p.tau_m)

    def _v_at(self, idx, t):
        p = self.p
        s = np.maximum(t - self.t_last[idx], 0.0)
        if p.model == "lif":
            return _lif_evolve(self.v[idx], s, self.mu[idx], p.tau_m)
        return _qif_evolve(self.v[idx], s, self.drive[idx], p.tau_m)

    def _emit(self, j, t):
        """Record a spike of ``j`` at ``t`` and queue its batch."""
        self.times.append(t)
        self.neurons.append(j)
        if len(self.times) == self.n_max:
            raise _Stop
        if self.p.delay == 0:
            self.fifo.append(j)
        else:
            self.arrivals.append((t + self.p.delay, j))

    def _live(self, idx, t):
        """Which of neurons ``idx`` take a pulse at ``t`` (not refractory; ties at the end count as live)."""
        end = self.ref_end[idx]
        return ~(t < end - np.minimum(TIE_ULPS * np.spacing(np.abs(end)), 0.5 * self.p.t_ref))

    def _reset(self, j, t):
        self.v[j] = self.p.v_reset
        self.t_last[j] = self.ref_end[j] = t + self.p.t_ref
        self.t_next[j] = self._time_to_spike(np.array([j]))[0]

    def _deliver(self, t, i):
        """The batch of ``i`` at ``t``, synapse by synapse in order.

        Vectorised: pulses to distinct neurons commute, so the batch is applied in rounds (a
        target's first pulse, then its second...); a neuron brought to threshold is reset at once,
        and the spikes are recorded in synapse order.
        """
        a, b = self.indptr[i], self.indptr[i + 1]
        if a == b:
            return
        if i not in self.ranks:
            self.ranks[i] = _repeat_rank(self.post[a:b])
        rank = self.ranks[i]
        rounds = [np.arange(b - a)] if rank is None else [np.flatnonzero(rank == r) for r in range(rank.max() + 1)]
        crossed = []
        for pos in rounds:
            idx, w = self.post[a + pos], self.weight[a + pos]
            live = self._live(idx, t)
            idx, w, pos = idx[live], w[live], pos[live]
            if not idx.size:
                continue
            v = self._v_at(idx, t) + w
            self.v[idx] = v
            self.t_last[idx] = t
            self.t_next[idx] = self._time_to_spike(idx)
            if self.p.model == "lif":
                hit = v >= self.p.v_th
                for k, j in zip(pos[hit].tolist(), idx[hit].tolist()):
                    self._reset(j, t)
                    crossed.append((k, j))
        for _, j in sorted(crossed):
            self._emit(j, t)

    def _deliver_summed(self, t, sources):
        """The batches of ``sources`` as one wave (the ``"summed"`` rule): per target, the sum of its
        pulses (``np.bincount`` adds in input order: emission, then synapse order), one test."""
        parts = [np.arange(self.indptr[i], self.indptr[i + 1]) for i in sources]
        syn = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
        idx, w = self.post[syn], self.weight[syn]
        live = self._live(idx, t)
        idx, w = idx[live], w[live]
        if not idx.size:
            return
        total = np.bincount(idx, weights=w, minlength=self.n)
        targets = np.unique(idx)  # sorted: spikes go lowest index first
        v = self._v_at(targets, t) + total[targets]
        self.v[targets] = v
        self.t_last[targets] = t
        self.t_next[targets] = self._time_to_spike(targets)
        crossed = targets[v >= self.p.v_th].tolist()
        for j in crossed:
            self._reset(j, t)
        for j in crossed:
            self._emit(j, t)

    def run(self) -> SpikeTrain:
        stop = "quiescent"
        summed = self.p.simultaneous == "summed" and self.p.model == "lif"
        with np.errstate(all="ignore"):
            try:
                while True:
                    i = int(np.argmin(self.t_next))
                    t_spike = self.t_next[i]
                    if self.arrivals and self.arrivals[0][0] <= t_spike:
                        t = self.arrivals[0][0]
                        if t > self.t_end:
                            stop = "t_end"
                            break
                        if summed:
                            wave = []
                            while self.arrivals and self.arrivals[0][0] == t:
                                wave.append(self.arrivals.popleft()[1])
                            self._deliver_summed(t, wave)
                        else:
                            self._deliver(t, self.arrivals.popleft()[1])
                    elif t_spike < np.inf:
                        t = t_spike
                        if t > self.t_end:
                            stop = "t_end"
                            break
                        self._emit(i, t)
                        self._reset(i, t)
                        while self.fifo:
                            if summed:
                                wave = list(self.fifo)
                                self.fifo.clear()
                                self._deliver_summed(t, wave)
                            else:
                                self._deliver(t, self.fifo.popleft())
                    else:
                        if self.t_end < np.inf:
                            stop = "t_end"
                        break
            except _Stop:
                stop = "n_spikes"
            times = np.array(self.times, dtype=np.float64)
            if stop == "t_end":
                t_stop = self.t_end
                v_final = self._v_at(np.arange(self.n), self.t_end)
                v_final[self.t_end < self.ref_end] = self.p.v_reset
            else:
                t_stop, v_final = (float(times[-1]) if times.size else 0.0), None
        return SpikeTrain(times, np.array(self.neurons, dtype=np.int64), self.n, t_stop, stop, v_final)


def simulate(network: Network, params: SpikingParams, v0, t_end=None, n_spikes=None) -> SpikeTrain:
    """Exact event-driven run from ``V(0) = v0`` until ``t_end`` and/or ``n_spikes`` spikes."""
    v0, t_end, n_spikes = check_run(network, params, v0, t_end, n_spikes)
    return _Naive(network, params, v0, t_end, n_spikes).run()
