"""The sharded E/I network measured: its raster against the unsharded one, wall time per
simulated second over the number of devices, and the bytes its compiled step moves.

One row per model × family × weights × dtype × cut × number of devices
(:func:`evbench.spiking.sharded_ei.compare_rasters` for the rasters; ``EINetwork.run`` for the
timing, the sharded and the unsharded network side by side; the step's collectives read from
its compiled HLO by :func:`.model.collective_volume`).
"""
from __future__ import annotations

import itertools
import time
from dataclasses import dataclass

from ...registry import Registry
from ..results import TABLES


@dataclass(frozen=True)
class ShardedNetworkProfile:
    name: str
    models: tuple = ("coba",)
    families: tuple = ("fixed_prob", "jitc_scalar_r")
    weights: tuple = ("scalar", "jittered")
    dtypes: tuple = ("float64", "float32")
    devices: tuple = (2, 4, 8)
    scale: float = 0.5
    n_steps: int = 2000
    #: simulated milliseconds of the timed run
    sim_ms: float = 200.0


SHARDED_NETWORK_PROFILES: Registry[ShardedNetworkProfile] = Registry("sharded network profile")
for _p in (
    ShardedNetworkProfile("tiny", families=("fixed_prob",), weights=("jittered",), dtypes=("float64",), devices=(2,),
                   scale=0.1, n_steps=100, sim_ms=10.0),
    ShardedNetworkProfile("quick"),
):
    SHARDED_NETWORK_PROFILES.register(_p)


def axes_for(family: str) -> tuple:
    """Presynaptic rows for every family; postsynaptic columns too where the synapses are stored."""
    return ("rows",) if family.startswith("jitc") else ("rows", "cols")


def network_rows(profile: ShardedNetworkProfile, *, progress: bool = True) -> list[dict]:
    """Every setting of ``profile`` (the devices must exist already)."""
    from tqdm.auto import tqdm

    from ...ops.shard import device_mesh
    from ...spiking.ei import EINetwork
    from ...spiking.sharded_ei import ShardedEINetwork, compare_rasters, step_hlo
    from .bench import devices_label
    from .model import collective_volume

    todo = [(m, f, w, dt, ax, D) for m, f, w, dt in itertools.product(profile.models, profile.families,
                                                                      profile.weights, profile.dtypes)
            for ax in axes_for(f) for D in profile.devices]
    rows, wall_ref = [], {}
    for m, f, w, dt, ax, D in tqdm(todo, desc="sharded network", unit="case", disable=not progress, leave=False):
        mesh = device_mesh(D)
        row = dict(status="ok", reason="")
        try:
            row.update(compare_rasters(m, profile.scale, mesh, family=f, weights=w, axis=ax, dtype=dt,
                                       n_steps=profile.n_steps))
            net = ShardedEINetwork(m, profile.scale, mesh, family=f, weights=w, axis=ax, dtype=dt)
            volume = collective_volume(step_hlo(net), D)
            key = (m, f, w, dt)
            if key not in wall_ref:
                ref = (EINetwork(m, profile.scale, "native", family=f, dtype=dt) if w == "scalar" else
                       ShardedEINetwork(m, profile.scale, None, family=f, weights=w, dtype=dt))
                wall_ref[key] = ref.run(profile.sim_ms)["wall_per_sim_s"]
            t0 = time.perf_counter()
            res = net.run(profile.sim_ms)
            row.update(wall_per_sim_s=res["wall_per_sim_s"], unsharded_wall_per_sim_s=wall_ref[key],
                       compile_s=res["compile_s"], run_s=time.perf_counter() - t0,
                       bytes_per_device_per_step=sum(volume.values()),
                       collectives=";".join(f"{k}={v:.0f}" for k, v in sorted(volume.items())))
        except Exception as exc:  # recorded, and the sweep goes on
            row.update(model=m, family=f, weights=w, dtype=dt, axis=ax, n_devices=D, status="error",
                       reason=f"{type(exc).__name__}: {exc}"[:300])
        row.update(devices=devices_label())
        rows.append(row)
    return rows


NETWORK_COLUMNS = TABLES.get("sharded-network").columns  # declared in evbench.harness.results
