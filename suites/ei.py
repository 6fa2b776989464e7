"""The Vogels–Abbott E/I networks (``evbench.ei``): wall time per simulated step, and firing rates.

One class per model (``ei.Coba``, ``ei.Cuba``), parameters: connectivity family (catalogue
``fixed_prob`` or ``jitc_scalar_r``), backend (every registered backend; one that cannot run the
network inside ``lax.scan``, an unavailable one, or the dense baseline beyond ``DENSE_MAX_SCALE``
is a ``NotImplementedError`` in ``setup``: a skip), scale (``3200 + 800`` neurons times it) and
device (an absent one is a skip). ``setup`` builds the network, compiles the scan of
``STEPS`` steps (0.1 ms each) and runs it once, so that the network has left its initial state.

* ``time_steps``: ``STEPS`` steps of the network (divide by ``STEPS * 0.1 ms`` for wall time per
  simulated second);
* ``track_rate_exc_hz`` / ``track_rate_inh_hz``: the populations' mean rates over one more run,
  to check against the published regime (``evbench.ei.RATE_RANGE_HZ``).

``EVBENCH_BACKEND`` (comma-separated names) narrows the backends, as in the other suites.
"""
import jax

from evbench import bench, ei
from evbench.backends import backends

STEPS = 1000  # 100 ms of simulated time
SCALES = [0.5, 1.0, 2.0]
DENSE_MAX_SCALE = 1.0
_SELECTED = bench.env_filter("EVBENCH_BACKEND")
BACKENDS = [b.name for b in backends() if _SELECTED is None or b.name in _SELECTED]


class _EI:
    param_names = ["family", "backend", "scale", "device"]
    params = [list(ei.FAMILIES), BACKENDS, SCALES, list(bench.DEVICE_KINDS)]
    version = bench.SUITE_VERSION
    timeout = 300
    warmup_time = 0
    repeat = (3, 10, 20.0)
    model = None

    def setup(self, family, backend, scale, device):
        from evbench.backends import Unsupported

        jax.config.update("jax_enable_x64", True)
        dev = bench.device_for(device)  # a skip when JAX sees no such device
        if backend == "dense" and scale > DENSE_MAX_SCALE:
            raise NotImplementedError(f"too_large: dense matrices of {ei.dense_bytes(scale) / 2**20:.0f} MiB")
        with jax.default_device(dev):
            try:
                self.net = ei.EINetwork(self.model, scale, backend, family=family)
            except Unsupported as exc:
                raise NotImplementedError(f"unsupported: {exc}") from None
            self.fn = self.net.run_fn(STEPS)
            self.state, _ = jax.block_until_ready(self.fn(self.net.initial()))
        self.device = dev

    def time_steps(self, family, backend, scale, device):
        with jax.default_device(self.device):
            jax.block_until_ready(self.fn(self.state))

    def _rates(self):
        with jax.default_device(self.device):
            _, counts = jax.block_until_ready(self.fn(self.state))
        counts = jax.device_get(counts)
        sec = STEPS * self.net.dt / 1000.0
        return counts[:self.net.n_exc].sum() / (self.net.n_exc * sec), counts[self.net.n_exc:].sum() / (self.net.n_inh * sec)

    def track_rate_exc_hz(self, family, backend, scale, device):
        return float(self._rates()[0])

    track_rate_exc_hz.unit = "Hz"

    def track_rate_inh_hz(self, family, backend, scale, device):
        return float(self._rates()[1])

    track_rate_inh_hz.unit = "Hz"


class Coba(_EI):
    """COBA: conductance-based synapses (Brette et al. 2007, benchmark 1)."""

    model = "coba"


class Cuba(_EI):
    """CUBA: current-based synapses (Brette et al. 2007, benchmark 2)."""

    model = "cuba"
