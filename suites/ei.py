"""The Vogels–Abbott E/I networks (``evbench.spiking.ei``): wall time per simulated step, and firing rates.

One class per model (``ei.Coba``, ``ei.Cuba``), parameters: connectivity family (catalogue
``fixed_prob`` or ``jitc_scalar_r``), backend (every registered backend; one that cannot run the
network inside ``lax.scan``, an unavailable one, or the dense baseline beyond ``DENSE_MAX_SCALE``
is a ``NotImplementedError`` in ``setup``: a skip), scale (``3200 + 800`` neurons times it) and
device (an absent one is a skip). ``setup`` builds the network, compiles the scan of
``STEPS`` steps (0.1 ms each) and runs it once, so that the network has left its initial state.

* ``Coba.time_steps`` / ``Cuba.time_steps``: ``STEPS`` steps of the network (divide by
  ``STEPS * 0.1 ms`` for wall time per simulated second);
* ``CobaRates`` / ``CubaRates``: ``track_rate_exc_hz``, ``track_rate_inh_hz`` (the populations'
  mean rates, to check against the published regime ``evbench.spiking.ei.RATE_RANGE_HZ``) and
  ``track_wall_per_sim_s``, from one sweep of every case in ``setup_cache`` (one process builds
  and runs each network once: ``evbench.spiking.ei.case_row``, the rows of ``evbench spiketimes``'s
  ``ei`` table).

The scales and families follow the grid (``EVBENCH_GRID``): ``SCALES``, ``EI_FAMILIES``.

``EVBENCH_BACKEND`` (comma-separated names) narrows the backends, as in the other suites.
"""
import jax

from evbench.harness import bench
from evbench.spiking import ei
from evbench.peers import BACKENDS, get_backend

STEPS = 200  # 20 ms of simulated time (brainevent's just-in-time network takes seconds for it)
#: scales per grid (``EVBENCH_GRID``; another grid: the default's)
SCALES = {"tiny": [0.25], "asv": [0.5], "quick": [0.5, 1.0], "full": [0.5, 1.0, 2.0, 4.0]}
#: connectivity families per grid: the default grid (``asv run --quick`` in under 10 minutes)
#: leaves out the just-in-time network, where brainevent spends seconds per simulated 20 ms
EI_FAMILIES = {"asv": ["fixed_prob"]}
DENSE_MAX_SCALE = 1.0
SIM_MS = 50.0
_SELECTED = bench.env_filter("EVBENCH_BACKEND")
BACKEND_NAMES = [b.name for b in BACKENDS.all() if _SELECTED is None or b.name in _SELECTED]


def _scales():
    return SCALES.get(bench.grid().name, SCALES[bench.ASV_GRID])


def _families():
    return EI_FAMILIES.get(bench.grid().name, list(ei.NETWORK_FAMILIES))


def _params():
    return [_families(), BACKEND_NAMES, _scales(), list(bench.DEVICE_KINDS)]


def _too_large(backend, scale):
    if get_backend(backend).materialises and scale > DENSE_MAX_SCALE:
        return f"too_large: dense matrices of {ei.dense_bytes(scale) / 2**20:.0f} MiB"
    return ""


class _EI:
    param_names = ["family", "backend", "scale", "device"]
    params = _params()
    version = bench.SUITE_VERSION
    timeout = 300
    warmup_time = 0
    repeat = (3, 10, 20.0)
    model = None

    def setup(self, family, backend, scale, device):
        from evbench.peers import Unsupported

        jax.config.update("jax_enable_x64", True)
        dev = bench.device_for(device)  # a skip when JAX sees no such device
        if _too_large(backend, scale):
            raise NotImplementedError(_too_large(backend, scale))
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


class _Rates:
    param_names = _EI.param_names
    params = _params()
    version = bench.SUITE_VERSION
    timeout = 1800
    model = None

    def setup_cache(self):
        jax.config.update("jax_enable_x64", True)
        rows = {}
        for device in bench.DEVICE_KINDS:
            try:
                dev = bench.device_for(device)
            except NotImplementedError:
                continue
            with jax.default_device(dev):
                for family in _families():
                    for backend in BACKEND_NAMES:
                        for scale in _scales():
                            if not _too_large(backend, scale):
                                rows[family, backend, scale, device] = ei.case_row(
                                    self.model, scale, backend, family=family, sim_ms=SIM_MS)
        return rows

    def setup(self, rows, family, backend, scale, device):
        bench.device_for(device)
        if _too_large(backend, scale):
            raise NotImplementedError(_too_large(backend, scale))
        row = rows[family, backend, scale, device]
        if row["status"] != "ok":
            raise NotImplementedError(f"{row['status']}: {row['reason']}")
        self.row = row

    def track_rate_exc_hz(self, rows, family, backend, scale, device):
        return float(self.row["rate_exc_hz"])

    track_rate_exc_hz.unit = "Hz"

    def track_rate_inh_hz(self, rows, family, backend, scale, device):
        return float(self.row["rate_inh_hz"])

    track_rate_inh_hz.unit = "Hz"

    def track_wall_per_sim_s(self, rows, family, backend, scale, device):
        return float(self.row["wall_per_sim_s"])

    track_wall_per_sim_s.unit = "s/s"


class Coba(_EI):
    """COBA: conductance-based synapses (Brette et al. 2007, benchmark 1)."""

    model = "coba"


class Cuba(_EI):
    """CUBA: current-based synapses (Brette et al. 2007, benchmark 2)."""

    model = "cuba"


class CobaRates(_Rates):
    """COBA rates and wall time per simulated second, from one sweep."""

    model = "coba"


class CubaRates(_Rates):
    """CUBA rates and wall time per simulated second, from one sweep."""

    model = "cuba"
