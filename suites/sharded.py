"""Sharded products over the number of devices (``evbench.harness.shard.bench``): strong and
weak scaling, the time split into the devices' local products and the communication.

``setup_cache`` runs ``evbench sharded bench`` once per asv run, in a process of its own with
``--devices`` virtual CPU devices (the device count is fixed when JAX starts, and the other
suites keep one device); its table is written to ``results/asv-meta/<machine>/``. Parameters:
family (every family that can be sharded; ``EVBENCH_FAMILY`` narrows), product, scaling
("strong": n fixed; "weak": n per device fixed) and number of devices. A case the sweep
skipped (a dense matrix too large) is a ``NotImplementedError`` in ``setup``: asv's skip.

* ``track_total_s``: the sharded product; ``track_local_s``: the devices' block products
  alone; ``track_comm_s``: the collective alone; ``track_unsharded_s``: the native product
  on one device, measured side by side.

The grid is ``$EVBENCH_SHARDED_GRID`` (default ``asv``: n = 8192 strong, 1024 per device
weak). On virtual CPU devices the figures measure the communication pattern on one host, not
an interconnect.
"""
import os
import subprocess
import sys
from pathlib import Path

from evbench.harness import bench
from evbench.harness.results import Output, newest_files
from evbench.harness.shard.bench import SHARDED_GRIDS, SCALINGS
from evbench.harness.shard.command import SHARD_TABLES
from evbench.harness.shard.validate import sharded_families

GRID = SHARDED_GRIDS.get(os.environ.get("EVBENCH_SHARDED_GRID") or "asv")
FAMILY_FILTER = bench.env_filter("EVBENCH_FAMILY")
SIDECAR = Path(__file__).resolve().parents[1] / "results" / "asv-meta"


def _families():
    names = [f.name for f in sharded_families()]
    chosen = FAMILY_FILTER or GRID.families
    return [n for n in names if not chosen or n in chosen]


class Scaling:
    """Every sharded family × product × scaling × number of devices: seconds per call."""

    param_names = ["family", "product", "scaling", "n_devices"]
    params = [_families(), list(GRID.products), list(SCALINGS), list(GRID.devices)]
    version = "1"
    timeout = 120

    def setup_cache(self):
        import pandas as pd

        out = SIDECAR
        cmd = [sys.executable, "-m", "evbench", "sharded", "bench", "--devices", str(max(GRID.devices)),
               "--profile", GRID.name, "--out", str(out), "--no-progress"]
        for fam in _families():
            cmd += ["--family", fam]
        env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={max(GRID.devices)}")
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if done.returncode not in (0, 1):  # 1: some case raised, recorded in the table
            raise RuntimeError(done.stderr[-2000:])
        tables = [f for f in newest_files(Output(out).folder, SHARD_TABLES["bench"]) if f"-{GRID.name}-" in f.name]
        frame = pd.read_csv(tables[-1])
        return {(r["family"], r["product"], r["scaling"], int(r["n_devices"])): r for r in frame.to_dict("records")}

    setup_cache.timeout = 3600

    def setup(self, sweep, family, product, scaling, n_devices):
        rec = sweep.get((family, product, scaling, n_devices))
        if rec is None or rec["status"] != "ok":
            why = "not in the sweep" if rec is None else f"{rec['status']}: {rec['reason']}"
            raise NotImplementedError(f"{family} {product} {scaling} on {n_devices} devices: {why}")
        self.rec = rec

    def track_total_s(self, sweep, *params):
        return self.rec["total_median_s"]

    track_total_s.unit = "seconds"

    def track_local_s(self, sweep, *params):
        return self.rec["local_median_s"]

    track_local_s.unit = "seconds"

    def track_comm_s(self, sweep, *params):
        return self.rec["comm_median_s"]

    track_comm_s.unit = "seconds"

    def track_unsharded_s(self, sweep, *params):
        return self.rec["unsharded_median_s"]

    track_unsharded_s.unit = "seconds"
