"""The E/I networks of :mod:`evbench.spiking.ei` with both products sharded over a device mesh.

:class:`ShardedEINetwork` is :class:`~evbench.spiking.ei.EINetwork` with its two operators
(``E -> all``, ``I -> all``) replaced by :func:`evbench.ops.shard.shard` of the same catalogue
structures, and its state (membrane, conductances, refractory counters) sharded over the mesh
by neuron: the same network, the same code, stepped over several devices.
:func:`compare_rasters` runs it beside the unsharded network and says whether the rasters are
identical, and where the summed inputs first differ (the sums of a reduce-scatter are added in
another order: see :mod:`evbench.ops.shard.sharded`).

The published networks have one weight per population and boolean spikes: every summed input
is a multiple of that weight, computed exactly in any order, so sharding cannot change a bit
of it. ``weights="jittered"`` gives each synapse its own weight, ``w (1 + 0.1 u)`` with ``u``
uniform in [-1, 1) (the same mean, so the same regime): then the order of the sums shows in
the last bits, and the comparison says whether the rasters stay identical all the same.
"""
from __future__ import annotations

import numpy as np

from .ei import EINetwork, structures

WEIGHT_KINDS = ("scalar", "jittered")
#: relative spread of the jittered weights
JITTER = 0.1


def network_structures(family: str, scale: float, weights: str = "scalar", *, seed: int = 0, dtype="float32"):
    """``(exc, inh)`` of :func:`evbench.spiking.ei.structures`, with one weight per population
    (``"scalar"``) or per-synapse weights around it (``"jittered"``: the same synapses)."""
    from ..catalogue import SCALAR_WEIGHT
    from ..ops.jitc import JITCScalarR, JITCUniformR
    from ..ops.sparse import CSR

    if weights not in WEIGHT_KINDS:
        raise ValueError(f"weights must be one of {WEIGHT_KINDS}, got {weights!r}")
    pair = structures(family, scale, seed=seed, dtype=dtype)
    if weights == "scalar":
        return pair
    out = []
    for k, conn in enumerate(pair):
        lo, hi = SCALAR_WEIGHT * (1 - JITTER), SCALAR_WEIGHT * (1 + JITTER)
        if isinstance(conn, CSR):
            w = np.random.default_rng(seed + 10 + k).uniform(lo, hi, conn.nnz).astype(dtype)
            out.append(CSR(np.asarray(conn.indptr), np.asarray(conn.indices), w, conn.shape, dtype=dtype))
        elif isinstance(conn, JITCScalarR):
            out.append(JITCUniformR(conn.shape, conn.conn_prob, lo, hi, int(np.asarray(conn.seed)), dtype=dtype))
        else:
            raise ValueError(f"family {family!r} has no jittered form")
    return tuple(out)


class ShardedEINetwork(EINetwork):
    """An :class:`~evbench.spiking.ei.EINetwork` (native operators) whose products run sharded
    over ``mesh`` (a 1-D mesh whose size divides both populations), partitioned along ``axis``
    ("rows": each device delivers its own neurons' spikes, then a reduce-scatter; "cols",
    stored families only: every spike is all-gathered and each device computes its own
    neurons' inputs). ``mesh=None``: the same network unsharded."""

    def __init__(self, model: str, scale: float, mesh=None, *, family: str = "fixed_prob", weights: str = "scalar",
                 axis: str | None = None, reduction: str = "xla", dt: float = 0.1, seed: int = 0,
                 dtype: str = "float32"):
        from ..ops.shard import shard

        super().__init__(model, scale, "native", family=family, dt=dt, seed=seed, dtype=dtype)
        exc, inh = network_structures(family, scale, weights, seed=seed, dtype=dtype)
        self.mesh, self.weights = mesh, weights
        if mesh is not None:
            exc, inh = (shard(c, mesh, axis=axis, reduction=reduction) for c in (exc, inh))
            self.backend = f"native sharded over {mesh.size} devices"
        self.sharded = (exc, inh)
        # closed over, as the unsharded network's operators close over their structures
        self.op_e = lambda spikes: spikes @ exc
        self.op_i = lambda spikes: spikes @ inh

    def initial(self):
        import jax
        from jax.sharding import NamedSharding
        from jax.sharding import PartitionSpec as P

        if self.mesh is None:
            return super().initial()
        sharding = NamedSharding(self.mesh, P(self.mesh.axis_names[0]))
        return tuple(jax.device_put(x, sharding) for x in super().initial())


def trajectory(net: EINetwork, n_steps: int):
    """``(spikes, g_e, g_i)``, each ``(n_steps, n)``: the raster and the conductances after
    every step, from the network's initial state."""
    import jax

    step = net._step()

    def body(c, _):
        c, spk = step(c)
        return c, (spk, c[1], c[2])

    run = jax.jit(lambda s: jax.lax.scan(body, s, None, length=n_steps)[1])
    spikes, ge, gi = jax.device_get(run(net.initial()))
    return np.asarray(spikes), np.asarray(ge), np.asarray(gi)


def step_hlo(net: EINetwork) -> str:
    """The compiled HLO of one step of ``net`` (what its collectives move can be read there)."""
    import jax

    return jax.jit(net._step()).lower(net.initial()).compile().as_text()


def compare_rasters(model: str, scale: float, mesh, *, family: str = "fixed_prob", weights: str = "scalar",
                    axis: str | None = None, dtype: str = "float64", n_steps: int = 2000, reduction: str = "xla",
                    seed: int = 0) -> dict:
    """The sharded network against the unsharded one over ``n_steps`` steps: identical rasters
    or the first divergent step, and the first step whose summed inputs differ in any bit.
    The unsharded network is :class:`~evbench.spiking.ei.EINetwork` itself for the published
    weights, else the same network with ``mesh=None``."""
    if weights == "scalar":
        ref = EINetwork(model, scale, "native", family=family, seed=seed, dtype=dtype)
    else:
        ref = ShardedEINetwork(model, scale, None, family=family, weights=weights, seed=seed, dtype=dtype)
    net = ShardedEINetwork(model, scale, mesh, family=family, weights=weights, axis=axis, reduction=reduction,
                           seed=seed, dtype=dtype)
    s0, ge0, gi0 = trajectory(ref, n_steps)
    s1, ge1, gi1 = trajectory(net, n_steps)
    differ = np.flatnonzero((s0 != s1).any(axis=1))
    inputs = np.flatnonzero(((ge0 != ge1) | (gi0 != gi1)).any(axis=1))
    scale_g = max(float(np.abs(ge0).max()), float(np.abs(gi0).max()), 1e-300)
    return dict(model=model, family=family, weights=weights, axis=net.sharded[0].axis, dtype=dtype, scale=scale,
                n_neurons=net.n, n_devices=int(mesh.size), reduction=reduction, n_steps=n_steps, sim_ms=n_steps * net.dt,
                spikes_unsharded=int(s0.sum()), spikes_sharded=int(s1.sum()),
                identical=bool(differ.size == 0), first_divergent_step=int(differ[0]) if differ.size else -1,
                first_input_difference_step=int(inputs[0]) if inputs.size else -1,
                max_input_difference=float(max(np.abs(ge0 - ge1).max(), np.abs(gi0 - gi1).max())) / scale_g,
                rate_hz=float(s0.sum()) / (net.n * n_steps * net.dt / 1000.0))
