"""Time-stepped LIF and QIF networks in JAX, their synaptic input delivered by a backend's operator.

The networks, parameters and semantics of ``reference.spiking`` (``Network``, ``SpikingParams``),
advanced with a fixed step ``dt`` by ``jax.lax.scan`` (jit-compiled, in chunks of ``CHUNK`` steps
so that one compilation serves every ``dt``). The recurrent input of a step is one product
``events @ W`` computed by any backend of :mod:`evbench.peers` (``native``, ``brainevent``,
``dense``, ...): the synapses are handed over as the catalogue's ``csr`` family, ``W[i, j]`` the
summed weight of the synapses from ``i`` to ``j``, and the backend prepares its own structure
from it (``backends.get_backend(name).prepare``).

One step, from ``t0 = n dt`` to ``t1 = t0 + dt``:

1. **Free evolution, integrated exactly** (closed forms of ``reference.spiking``) from
   ``max(t0, end of refractoriness)`` to ``t1``. A neuron whose closed-form time to spike is
   within the step spikes (at most once per step: ``dt`` must be shorter than the shortest
   inter-spike interval for the scheme to be meaningful). Its spike time is, by ``interpolate``:
   ``"none"``: ``t1`` (the grid); ``"linear"``: linear interpolation of the threshold crossing
   between the values at the start and the end of the step (QIF: of the theta-neuron angle
   ``2 atan(V)``, continued past ``pi``); ``"exact"``: inversion of the closed form, the exact
   free-evolution crossing. After the spike the neuron is held at reset for ``t_ref`` and then
   evolves freely to ``t1`` (with ``"none"`` it is at reset at ``t1``).
2. **Synaptic input at ``t1``**: the spikes of step ``n - D`` (``D = delay/dt``, which must be an
   integer) pass through the operator and their summed pulses are added at ``t1`` to every
   neuron not refractory at ``t1`` (input arriving during refractoriness is discarded). With an
   interpolated spike time, an LIF pulse carries the factor ``exp(-(t_spike_end - t_spike)/tau_m)``,
   its decay from its true arrival time to the step's end (``t_spike_end`` the end of the step the
   spike fell in): the subthreshold dynamics are linear, so this is the exact effect at ``t1`` of a
   pulse that arrived inside the step. The events are then floats, and a backend variant with
   value semantics is chosen. QIF pulses (nonlinear dynamics) act at ``t1`` unweighted.
3. **LIF**: a neuron the input brings to ``V >= v_th`` spikes at ``t1`` and is reset; its pulses
   join those of the next step (a zero-delay cascade is spread over steps, one per generation).

What stays approximate: pulses delivered at step boundaries (LIF: exact in effect unless a pulse
crosses the threshold inside the step, QIF: up to ``dt`` late), the order of events inside a
step, and the refractory test of a pulse made at ``t1``. The error against the exact simulators
is therefore first order in ``dt`` without interpolation, and is measured (not assumed) by
``evbench spiketimes``.

``simulate`` returns a :class:`SteppedTrain` (spike times and neurons in time order, each spike's
step), optionally the checked state of every step (``record=True``: the membrane value the
threshold was tested on, and the input), which ``evbench spiketimes`` uses to explain where two
operators' rasters part.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from evbench_reference.spiking import Network, SpikingParams, check_run

INTERPOLATIONS = ("none", "linear", "exact")
DTYPES = ("float64", "float32")
#: steps per compiled scan (the last chunk runs past the end; its extra steps are dropped)
CHUNK = 512


@dataclass(frozen=True, eq=False)
class SteppedTrain:
    """Spikes of a stepped run in time order (ties: lower neuron first), with their step index.

    ``v_check`` and ``inputs`` (``record=True`` only), each ``(n_steps, n)``: the membrane value
    the step's threshold test saw (LIF: after the step's input; QIF: the free value at ``t1``, or
    ``inf`` for a neuron that crossed) and the synaptic input of the step.
    """

    times: np.ndarray
    neurons: np.ndarray
    steps: np.ndarray
    n_neurons: int
    dt: float
    n_steps: int
    backend: str
    mode: str
    interpolate: str
    v_final: np.ndarray
    v_check: np.ndarray | None = None
    inputs: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.times.shape[0])

    def raster(self) -> np.ndarray:
        """``(n_steps, n)`` boolean: which neuron spiked in which step."""
        r = np.zeros((self.n_steps, self.n_neurons), dtype=bool)
        r[self.steps, self.neurons] = True
        return r


def _positive(name, value):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be finite and > 0, got {value!r}")
    return value


def delay_steps(delay: float, dt: float) -> int:
    """``delay / dt`` as an integer; a ``ValueError`` naming both when it is not one."""
    ratio = delay / dt
    d = int(round(ratio))
    if abs(ratio - d) > 1e-9 * max(1.0, ratio):
        raise ValueError(f"delay must be a multiple of dt for a stepped network, got delay={delay!r}, dt={dt!r} "
                         f"(delay/dt = {ratio!r})")
    return d


def to_csr(network: Network, dtype="float64"):
    """The network's synapses as the catalogue's ``csr`` structure (rows: presynaptic)."""
    from ..ops.sparse import CSR

    indptr, post, weight = network.csr
    n = network.n_neurons
    return CSR(np.asarray(indptr, np.int64), np.asarray(post, np.int64), np.asarray(weight, dtype), (n, n),
               dtype=dtype)


def _enable_x64():
    import jax

    jax.config.update("jax_enable_x64", True)


def operator(network: Network, backend: str = "native", *, values: bool = False, dtype="float64"):
    """``(fn, mode_label)``: ``fn(events) -> events @ W`` through ``backend``'s operator for the
    network's synapses (the catalogue's ``csr`` family); see :func:`family_operator`."""
    return family_operator("csr", to_csr(network, dtype), backend, values=values)


def family_operator(family: str, conn, backend: str = "native", *, values: bool = False, product: str = "vecmat",
                    request=None):
    """``(fn, mode_label)``: ``fn(events)``, the catalogue ``product`` of ``conn`` (a structure
    of catalogue ``family``) as ``backend`` computes it, a pure JAX function.

    ``values``: the events carry float values that must count (value semantics); otherwise they
    are booleans. The mode the backend declares timed is used where it satisfies this, else
    its first mode that does. Raises ``peers.Unsupported`` when none does, when the backend is
    unavailable, or when it has no JAX function (it could not run inside ``lax.scan``).
    ``request`` (a :class:`~evbench.peers.Request`) goes to backends that draw their own
    connectivity of the same law.
    """
    from ..catalogue import get_family, get_product
    from ..peers import Request, Unsupported, get_backend, mode_label

    be = get_backend(backend)
    ok, why = be.available()
    if not ok:
        raise Unsupported(f"backend {backend} unavailable: {why}")
    fam, prod = get_family(family), get_product(product)
    request = request or Request(getattr(conn, "conn_prob", 0.0), 0)
    timed = be.timed(fam, prod)
    reasons = []
    for mode in [timed] + [m for m in be.modes(fam) if m != timed]:
        try:
            impl = be.prepare(fam, conn, prod, request, **mode)
        except Unsupported as exc:
            reasons.append(str(exc))
            continue
        if impl.jax_fn is None:
            raise Unsupported(f"backend {backend} is not a JAX function (it cannot run inside lax.scan)")
        if values and impl.semantics != "value":
            reasons.append(f"{mode_label(mode)}: semantics {impl.semantics}")
            continue
        return impl.jax_fn, mode_label(mode)
    raise Unsupported(f"backend {backend} offers no usable {family} {product} mode: {'; '.join(reasons)}")


# ----------------------------------------------------------------------------- single-step physics


def _qif_parts(jnp, drive):
    a = jnp.sqrt(jnp.abs(drive))
    return a, drive > 0, drive < 0


def _qif_evolve(jnp, v, x, drive):
    """``tau dV/dt = V**2 + drive`` for ``x = s/tau`` (no spike in between), ``v`` may be -inf."""
    a, pos, neg = _qif_parts(jnp, drive)
    sa = jnp.where(a > 0, a, 1.0)
    osc = sa * jnp.tan(jnp.minimum(sa * x + jnp.arctan(v / sa), jnp.pi / 2))
    e = jnp.exp(-2 * sa * x)
    exc = sa * ((v + sa) * e + (v - sa)) / ((v + sa) * e - (v - sa))
    exc = jnp.where(v == sa, sa, exc)
    exc = jnp.where(v == -jnp.inf, -sa / jnp.tanh(sa * x), exc)
    zero = jnp.where(v == -jnp.inf, -1 / x, v / (1 - v * x))
    out = jnp.where(pos, osc, jnp.where(neg, exc, zero))
    return jnp.where(x > 0, out, v)


def _qif_tts(jnp, v, drive):
    """Free time to spike from ``v`` in units of tau (``inf``: never)."""
    a, pos, neg = _qif_parts(jnp, drive)
    sa = jnp.where(a > 0, a, 1.0)
    osc = (jnp.pi / 2 - jnp.arctan(v / sa)) / sa
    exc = jnp.where(v > sa, jnp.log((v + sa) / (v - sa)) / (2 * sa), jnp.inf)
    zero = jnp.where(v > 0, 1 / v, jnp.inf)
    return jnp.where(pos, osc, jnp.where(neg, exc, zero))


def _lif_free(jnp, v, p, t_free, s, t1, active, interpolate):
    """An LIF step's free evolution: ``(crossed, spike time, end of refractoriness, membrane at
    the step's end, membrane at the end without a spike)``."""
    tau, v_th, v_reset, t_ref, mu = p["tau"], p["v_th"], p["v_reset"], p["t_ref"], p["mu"]
    v_free = mu + (v - mu) * jnp.exp(-s / tau)
    crossed = active & (v_free >= v_th)
    if interpolate == "exact":
        tts = tau * jnp.log((mu - v) / jnp.where(crossed, mu - v_th, 1.0))
        ts = t_free + jnp.clip(tts, 0, s)
    elif interpolate == "linear":
        frac = (v_th - v) / jnp.where(crossed, v_free - v, 1.0)
        ts = t_free + s * jnp.clip(frac, 0, 1)
    else:
        ts = t1
    ts = jnp.where(crossed, ts, t1)
    re = ts + t_ref
    after = jnp.where(re < t1, mu + (v_reset - mu) * jnp.exp(-(t1 - re) / tau), v_reset)
    return crossed, ts, re, jnp.where(crossed, after, v_free), v_free


def _qif_free(jnp, v, p, t_free, s, t1, active, interpolate):
    """A QIF step's free evolution, as :func:`_lif_free` (the spike at ``v = +inf``, the reset
    to ``-inf``)."""
    tau, t_ref, drive = p["tau"], p["t_ref"], p["drive"]
    tts = tau * _qif_tts(jnp, v, drive)
    crossed = active & (tts <= s)
    v_free = _qif_evolve(jnp, v, s / tau, drive)
    if interpolate == "exact":
        ts = t_free + jnp.clip(tts, 0, s)
    elif interpolate == "linear":
        th0 = 2 * jnp.arctan(v)
        rest = jnp.maximum(s - jnp.where(crossed, tts, 0), 0)
        th1 = 2 * jnp.pi + 2 * jnp.arctan(_qif_evolve(jnp, jnp.full_like(v, -jnp.inf), rest / tau, drive))
        frac = (jnp.pi - th0) / jnp.where(crossed, th1 - th0, 1.0)
        ts = t_free + s * jnp.clip(frac, 0, 1)
    else:
        ts = t1
    ts = jnp.where(crossed, ts, t1)
    re = ts + t_ref
    after = jnp.where(re < t1, _qif_evolve(jnp, jnp.full_like(v, -jnp.inf), (t1 - re) / tau, drive), -jnp.inf)
    return crossed, ts, re, jnp.where(crossed, after, v_free), v_free


def _after_input(jnp, model, v1, v_free, crossed, inp, ref_end, t1, p):
    """The step's delivered input added outside refractoriness; an LIF neuron it brings to
    threshold spikes at the step's end (a boundary spike): ``(membrane, end of refractoriness,
    boundary spikes, the value those carry next step, the membrane checked)``."""
    dt, tau, v_th, v_reset, t_ref = p["dt"], p["tau"], p["v_th"], p["v_reset"], p["t_ref"]
    receive = ~(t1 < ref_end)
    v2 = v1 + jnp.where(receive, inp, 0)
    if model == "lif":
        boundary = receive & (v2 >= v_th)
        v_chk = v2
        v2 = jnp.where(boundary, v_reset, v2)
        ref_end = jnp.where(boundary, t1 + t_ref, ref_end)
        return v2, ref_end, boundary, jnp.exp(-dt / tau) * jnp.ones_like(v2), v_chk
    return v2, ref_end, jnp.zeros_like(crossed), jnp.ones_like(v2), jnp.where(crossed, jnp.inf, v_free)


@lru_cache(maxsize=64)
def _chunk_fn(model, interpolate, weighted, n_buf, dtype, record, fn_key):
    """The jit-compiled scan over ``CHUNK`` steps (cached by its static configuration)."""
    import jax
    import jax.numpy as jnp

    op = _OPS[fn_key][1]
    dt_ = jnp.dtype(dtype)
    free = _lif_free if model == "lif" else _qif_free

    def step(c, n, p):
        v, ref_end, carry_spk, carry_val, buf = c
        t0 = n.astype(dt_) * p["dt"]
        t1 = (n + 1).astype(dt_) * p["dt"]
        t_free = jnp.maximum(t0, ref_end)
        s = jnp.maximum(t1 - t_free, 0)
        crossed, ts, re, v1, v_free = free(jnp, v, p, t_free, s, t1, t1 > t_free, interpolate)
        ref_end = jnp.where(crossed, re, ref_end)
        # spikes of this step for delivery: free crossings, and the boundary spikes at t0
        spk = crossed | carry_spk
        if weighted:
            val = jnp.where(crossed, jnp.exp(-(t1 - ts) / p["tau"]), carry_val)
            ev = jnp.where(spk, val, 0).astype(dt_)
        else:
            ev = spk
        buf = buf.at[n % n_buf].set(ev)
        inp = op(buf[(n - (n_buf - 1)) % n_buf]).astype(dt_)
        v2, ref_end, boundary, new_val, v_chk = _after_input(jnp, model, v1, v_free, crossed, inp, ref_end, t1, p)
        out = (crossed, ts, boundary)
        if record:
            out = out + (v_chk, inp)
        return (v2, ref_end, boundary, new_val, buf), out

    def chunk(c, start, stop, p):
        def body(cc, n):
            new, out = step(cc, n, p)
            live = n < stop  # steps past the end leave the state as it is
            return jax.tree_util.tree_map(lambda a, b: jnp.where(live, a, b), new, cc), out

        return jax.lax.scan(body, c, start + jnp.arange(CHUNK, dtype=jnp.int32))

    return jax.jit(chunk)


#: prepared operators, one per compiled chunk function (a backend may cache work buffers on its
#: structure while it is traced, so a structure is never traced twice): key -> (network, fn, mode);
#: the network is held so that its id is not reused while the entry lives
_OPS: dict = {}
_MAX_OPS = 8


def _cached_operator(network, backend, weighted, dtype, config):
    key = (id(network), backend, weighted, dtype, config)
    hit = _OPS.get(key)
    if hit is None or hit[0] is not network:
        if len(_OPS) >= _MAX_OPS:
            _OPS.clear()
            _chunk_fn.cache_clear()
        fn, mode = operator(network, backend, values=weighted, dtype=dtype)
        hit = _OPS[key] = (network, fn, mode)
    return key, hit[2]


def simulate(network: Network, params: SpikingParams, v0, *, dt, t_end, backend: str = "native",
             interpolate: str = "none", record: bool = False, dtype: str = "float64", progress=None) -> SteppedTrain:
    """Run the stepped network from ``V(0) = v0`` for ``ceil(t_end/dt)`` steps (see module doc).

    Times in the unit of ``params.tau_m``. ``dtype`` is the state's and the operator's
    (``float64`` enables JAX's 64-bit mode). ``progress(n_done, n_steps)`` is called per chunk.
    """
    import jax
    import jax.numpy as jnp

    if interpolate not in INTERPOLATIONS:
        raise ValueError(f"interpolate must be one of {INTERPOLATIONS}, got {interpolate!r}")
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES}, got {dtype!r}")
    dt = _positive("dt", dt)
    t_end = _positive("t_end", t_end)
    v0, _, _ = check_run(network, params, v0, t_end, None)
    d = delay_steps(params.delay, dt)
    n_steps = int(math.ceil(t_end / dt - 1e-9))
    if dtype == "float64":
        _enable_x64()
    model = params.model
    weighted = model == "lif" and interpolate != "none"
    key, mode = _cached_operator(network, backend, weighted, dtype, (model, interpolate, d + 1, bool(record)))
    n = network.n_neurons
    drive = params.drive_array(n)
    p = dict(dt=dt, tau=params.tau_m, v_th=params.v_th, v_reset=params.v_reset, t_ref=params.t_ref)
    p = {k: jnp.asarray(v, dtype) for k, v in p.items()}
    if model == "lif":
        p["mu"] = jnp.asarray(params.v_rest + drive, dtype)
    else:
        p["drive"] = jnp.asarray(drive, dtype)
    chunk = _chunk_fn(model, interpolate, weighted, d + 1, dtype, bool(record), key)
    ev_dtype = dtype if weighted else bool
    c = (jnp.asarray(v0, dtype), jnp.full(n, -jnp.inf, dtype), jnp.zeros(n, bool), jnp.ones(n, dtype),
         jnp.zeros((d + 1, n), ev_dtype))
    times, neurons, steps, vs, ins = [], [], [], [], []
    for start in range(0, n_steps, CHUNK):
        c, out = chunk(c, np.int32(start), np.int32(n_steps), p)
        out = jax.device_get(out)
        crossed, ts, boundary = out[:3]
        keep = min(CHUNK, n_steps - start)
        crossed, ts, boundary = crossed[:keep], ts[:keep], boundary[:keep]
        s_idx, j_idx = np.nonzero(crossed)
        times.append(np.asarray(ts[s_idx, j_idx], np.float64))
        neurons.append(j_idx)
        steps.append(s_idx + start)
        b_s, b_j = np.nonzero(boundary)
        times.append((b_s + start + 1) * dt)
        neurons.append(b_j)
        steps.append(b_s + start)
        if record:
            vs.append(np.asarray(out[3][:keep]))
            ins.append(np.asarray(out[4][:keep]))
        if progress is not None:
            progress(start + keep, n_steps)
    times = np.concatenate(times) if times else np.zeros(0)
    neurons = np.concatenate(neurons).astype(np.int64) if neurons else np.zeros(0, np.int64)
    steps = np.concatenate(steps).astype(np.int64) if steps else np.zeros(0, np.int64)
    order = np.lexsort((neurons, times))
    v_final = np.asarray(jax.device_get(c[0]), np.float64)
    return SteppedTrain(times[order], neurons[order], steps[order], n, dt, n_steps, backend, mode, interpolate,
                        v_final, np.concatenate(vs) if record and vs else None,
                        np.concatenate(ins) if record and ins else None)
