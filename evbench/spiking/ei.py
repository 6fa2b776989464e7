"""The Vogels–Abbott E/I networks (COBA and CUBA) on the catalogue's structures, stepped in JAX.

The two networks of Brette et al. (2007), benchmarks 1 and 2, after Vogels & Abbott (2005), with
the parameters brainpy/brainstate and ANNarchy use for them: ``3200 * scale`` excitatory and
``800 * scale`` inhibitory leaky integrate-and-fire neurons, every pair connected with probability
0.02, exponential synapses (``tau_e = 5 ms``, ``tau_i = 10 ms``), ``tau_m = 20 ms``, threshold
-50 mV, reset -60 mV, refractory period 5 ms, step ``dt = 0.1 ms``.

* COBA: ``tau_m dV/dt = (E_L - V) + g_e (E_e - V) + g_i (E_i - V) + I`` with ``E_L = -60 mV``,
  ``E_e = 0``, ``E_i = -80 mV``, ``I = 20 mV`` (the constant drive of brainpy's/brainstate's
  version); a spike adds ``0.6`` (excitatory) or ``6.7`` (inhibitory) to the conductance, in units
  of the leak conductance. ``V(0) ~ N(-55, 2) mV``.
* CUBA: ``tau_m dV/dt = (E_L - V) + g_e - g_i`` with ``E_L = -49 mV``, jumps of ``1.62 mV``
  (excitatory) and ``9 mV`` (inhibitory). ``V(0)`` uniform between reset and threshold.

Weights are divided by ``scale`` (as brainpy's examples do): the number of inputs grows with the
network, the mean input stays that of the published network.

Integration: conductances decay exactly; over a step the membrane equation, linear in ``V`` with
the conductances held at their start-of-step values, is solved exactly (exponential Euler); a
neuron at or above threshold at the end of a step spikes, is reset and held for ``t_ref``; its
spike reaches its targets' conductances at the end of the step (a synaptic delay of one step).

Connectivity: two structures of a catalogue family (``fixed_prob``: a Bernoulli CSR; or a
just-in-time family, ``jitc_scalar_r``), ``E -> all`` of shape ``(n_exc, n)`` and ``I -> all`` of
shape ``(n_inh, n)``, built with the catalogue's homogeneous weight and rescaled; the product
``spikes @ M`` is the backend's (``stepped.family_operator``). A backend that draws its own
connectivity (brainevent's just-in-time matrices, brainstate's ``EventFixedProb``) simulates its
own network of the same law.

Expected regime (``in_regime``): self-sustained asynchronous irregular firing, mean rates of both
populations between ``RATE_RANGE_HZ`` (1 to 50 Hz). Source: Brette et al. (2007), benchmarks 1–2
(and Vogels & Abbott 2005): both networks settle into low-rate asynchronous irregular activity;
the bounds are this module's reading of that description (a silent network, or one firing near
the refractory limit of 200 Hz, is out of regime), not a number printed in the papers.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

MODELS = ("coba", "cuba")
NETWORK_FAMILIES = ("fixed_prob", "jitc_scalar_r")
RATE_RANGE_HZ = (1.0, 50.0)
CONN_PROB = 0.02


@dataclass(frozen=True)
class EIParams:
    model: str
    tau_m: float = 20.0
    v_th: float = -50.0
    v_reset: float = -60.0
    e_leak: float = -60.0
    t_ref: float = 5.0
    tau_e: float = 5.0
    tau_i: float = 10.0
    w_e: float = 0.6
    w_i: float = 6.7
    e_e: float = 0.0
    e_i: float = -80.0
    drive: float = 20.0


def params_for(model: str) -> EIParams:
    if model == "coba":
        return EIParams("coba")
    if model == "cuba":
        return EIParams("cuba", e_leak=-49.0, w_e=60 * 0.27 / 10, w_i=20 * 4.5 / 10, drive=0.0)
    raise ValueError(f"model must be one of {MODELS}, got {model!r}")


def sizes(scale: float) -> tuple[int, int]:
    if not (isinstance(scale, (int, float)) and math.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be a finite number > 0, got {scale!r}")
    n_exc, n_inh = int(round(3200 * scale)), int(round(800 * scale))
    if n_exc < 1 or n_inh < 1:
        raise ValueError(f"scale={scale!r} leaves an empty population ({n_exc} E, {n_inh} I)")
    return n_exc, n_inh


def structures(family: str, scale: float, *, seed: int = 0, dtype="float32"):
    """``(exc, inh)``: the catalogue structures ``E -> all`` and ``I -> all``."""
    from ..catalogue import get_family

    if family not in NETWORK_FAMILIES:
        raise ValueError(f"family must be one of {NETWORK_FAMILIES}, got {family!r}")
    n_exc, n_inh = sizes(scale)
    fam = get_family(family)
    n = n_exc + n_inh
    kw = {"weights": "scalar"} if "weights" in fam.options else {}
    exc = fam.build(n_exc, n, conn_prob=CONN_PROB, seed=seed, dtype=dtype, **kw)
    inh = fam.build(n_inh, n, conn_prob=CONN_PROB, seed=seed + 1, dtype=dtype, **kw)
    return exc, inh


def _request(family, seed):
    """What a backend drawing its own connectivity needs: the probability, seed and options."""
    from ..catalogue import get_family
    from ..peers import Request

    options = {"weights": "scalar"} if "weights" in get_family(family).options else {}
    return Request(CONN_PROB, seed, options)


class EINetwork:
    """One network (model, scale, family, backend) compiled for ``n_steps`` steps of ``dt``."""

    def __init__(self, model: str, scale: float, backend: str = "native", *, family: str = "fixed_prob",
                 dt: float = 0.1, seed: int = 0, dtype: str = "float32"):
        from ..catalogue import SCALAR_WEIGHT
        from .stepped import family_operator

        self.p = params_for(model)
        if not (math.isfinite(dt) and dt > 0):
            raise ValueError(f"dt must be finite and > 0, got {dt!r}")
        self.model, self.scale, self.backend, self.family, self.dt = model, scale, backend, family, float(dt)
        self.n_exc, self.n_inh = sizes(scale)
        self.n = self.n_exc + self.n_inh
        self.dtype = dtype
        exc, inh = structures(family, scale, seed=seed, dtype=dtype)
        self.op_e, self.mode = family_operator(family, exc, backend, request=_request(family, seed))
        self.op_i, _ = family_operator(family, inh, backend, request=_request(family, seed + 1))
        self.unit = 1.0 / (SCALAR_WEIGHT * scale)  # catalogue weight -> 1, divided by scale
        rng = np.random.default_rng(seed + 2)
        if model == "coba":
            v0 = np.minimum(rng.normal(-55.0, 2.0, self.n), self.p.v_th - 1e-3)
        else:
            v0 = self.p.v_reset + rng.random(self.n) * (self.p.v_th - self.p.v_reset)
        self.v0 = v0
        self._compiled = {}

    def _step(self):
        import jax.numpy as jnp

        p, dt, ne = self.p, self.dt, self.n_exc
        dtype = jnp.dtype(self.dtype)
        de, di = math.exp(-dt / p.tau_e), math.exp(-dt / p.tau_i)
        we, wi = p.w_e * self.unit, p.w_i * self.unit
        ref_steps = int(round(p.t_ref / dt))
        op_e, op_i, coba = self.op_e, self.op_i, self.model == "coba"

        def step(c):
            v, ge, gi, ref = c
            if coba:
                g = 1.0 + ge + gi
                v_inf = (p.e_leak + ge * p.e_e + gi * p.e_i + p.drive) / g
                decay = jnp.exp(-dt * g / p.tau_m)
            else:
                v_inf = p.e_leak + ge - gi + p.drive
                decay = math.exp(-dt / p.tau_m)
            free = ref <= 0
            v = jnp.where(free, v_inf + (v - v_inf) * decay, p.v_reset).astype(dtype)
            spk = free & (v >= p.v_th)
            v = jnp.where(spk, p.v_reset, v)
            ref = jnp.where(spk, ref_steps, ref - 1)
            ge = (ge * de + we * op_e(spk[:ne]).astype(dtype)).astype(dtype)
            gi = (gi * di + wi * op_i(spk[ne:]).astype(dtype)).astype(dtype)
            return (v, ge, gi, ref), spk

        return step

    def run_fn(self, n_steps: int):
        """``(state) -> (state, spikes per neuron)`` over ``n_steps``, jit-compiled (cached)."""
        import jax
        import jax.numpy as jnp

        if n_steps not in self._compiled:
            step = self._step()

            def run(state):
                def body(c, _):
                    s, counts = c
                    s, spk = step(s)
                    return (s, counts + spk.astype(jnp.int32)), None

                (state, counts), _ = jax.lax.scan(body, (state, jnp.zeros(self.n, jnp.int32)), None,
                                                  length=n_steps)
                return state, counts

            self._compiled[n_steps] = jax.jit(run)
        return self._compiled[n_steps]

    def initial(self):
        import jax.numpy as jnp

        z = jnp.zeros(self.n, self.dtype)
        return (jnp.asarray(self.v0, self.dtype), z, z, jnp.zeros(self.n, jnp.int32))

    def run(self, sim_ms: float) -> dict:
        """Two runs of ``sim_ms``: the first compiles and serves as warm-up (the network leaves its
        initial state); the second, from where the first ended, is timed and counted."""
        import jax

        n_steps = int(round(sim_ms / self.dt))
        if n_steps < 1:
            raise ValueError(f"sim_ms must be at least one step of {self.dt} ms, got {sim_ms!r}")
        fn = self.run_fn(n_steps)
        t = time.perf_counter()
        state, _ = jax.block_until_ready(fn(self.initial()))
        first = time.perf_counter() - t
        t = time.perf_counter()
        _, counts = jax.block_until_ready(fn(state))
        wall = time.perf_counter() - t
        counts = np.asarray(jax.device_get(counts))
        sec = n_steps * self.dt / 1000.0
        return dict(compile_s=max(first - wall, 0.0), wall_s=wall, wall_per_sim_s=wall / sec, sim_ms=n_steps * self.dt,
                    rate_exc_hz=float(counts[:self.n_exc].sum()) / (self.n_exc * sec),
                    rate_inh_hz=float(counts[self.n_exc:].sum()) / (self.n_inh * sec),
                    spikes=int(counts.sum()), per_neuron=counts)


def in_regime(rate_exc_hz: float, rate_inh_hz: float) -> bool:
    lo, hi = RATE_RANGE_HZ
    return bool(lo <= rate_exc_hz <= hi and lo <= rate_inh_hz <= hi)


def dense_bytes(scale: float, dtype="float32") -> int:
    """Bytes of the two dense matrices a dense backend materialises."""
    n_exc, n_inh = sizes(scale)
    return (n_exc + n_inh) ** 2 * np.dtype(dtype).itemsize


def case_row(model: str, scale: float, backend: str, *, family: str = "fixed_prob", sim_ms: float = 200.0,
             seed: int = 0) -> dict:
    """One row of the ``ei`` table (see ``evbench.harness.spiketimes``); never raises for a backend's
    shortcoming: the status says what happened."""
    from ..peers import Unsupported

    n_exc, n_inh = sizes(scale)
    row = dict(model=model, backend=backend, family=family, scale=scale, n_neurons=n_exc + n_inh, sim_ms=sim_ms,
               mode="", status="ok", reason="", compile_s=math.nan, wall_s=math.nan, wall_per_sim_s=math.nan,
               rate_exc_hz=math.nan, rate_inh_hz=math.nan, in_regime=False, expected_rate_hz=str(RATE_RANGE_HZ))
    try:
        t = time.perf_counter()
        net = EINetwork(model, scale, backend, family=family, seed=seed)
        build_s = time.perf_counter() - t
        res = net.run(sim_ms)
        row.update(mode=net.mode, compile_s=res["compile_s"], wall_s=res["wall_s"],
                   wall_per_sim_s=res["wall_per_sim_s"],
                   rate_exc_hz=res["rate_exc_hz"], rate_inh_hz=res["rate_inh_hz"],
                   in_regime=in_regime(res["rate_exc_hz"], res["rate_inh_hz"]),
                   build_s=build_s)
    except Unsupported as exc:
        row.update(status="unsupported", reason=str(exc)[:200])
    except Exception as exc:  # recorded, never hidden
        row.update(status="error", reason=f"{type(exc).__name__}: {exc}"[:200])
    return row
