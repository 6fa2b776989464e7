"""Past one device: the sharded products' checks, their strong and weak scaling with the time split
into local product and communication, the sharded E/I network, and the model's projections."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .figures import Figure, Section, SectionSpec, colour_map, ordered, panels, png


def _num(frame: pd.DataFrame, *cols) -> pd.DataFrame:
    frame = frame.copy()
    for c in cols:
        if c in frame.columns:
            frame[c] = pd.to_numeric(frame[c], errors="coerce")
    return frame


def _scaling_figure(bench: pd.DataFrame, scaling: str) -> Figure | None:
    b = _num(bench, "n_devices", "total_median_s", "local_median_s", "comm_median_s", "unsharded_median_s")
    b = b[(b.get("scaling") == scaling) & (b.get("status").astype(str) == "ok")]
    if not len(b):
        return None
    families = ordered(b["family"])
    fig, axes = panels(len(families), width=3.6, height=2.9)
    parts = ("total_median_s", "local_median_s", "comm_median_s")
    colours = colour_map(parts)
    for ax, fam in zip(axes, families):
        f = b[b["family"] == fam]
        for prod, ls in zip(ordered(f["product"]), ("-", "--")):
            p = f[f["product"] == prod].sort_values("n_devices")
            for part in parts:
                ax.plot(p["n_devices"], p[part] * 1e3, ls=ls, marker="o", ms=3, color=colours[part],
                        label=f"{prod} {part.split('_')[0]}")
            if "unsharded_median_s" in p:
                ax.plot(p["n_devices"], p["unsharded_median_s"] * 1e3, ls=ls, color="black", lw=0.8,
                        label=f"{prod} unsharded")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("devices")
        ax.set_ylabel("median time per call (ms)")
        ax.set_title(fam, fontsize=8)
    axes[0].legend(fontsize=6, loc="best")
    fig.suptitle(f"{scaling} scaling: total, local product and communication (virtual devices of one host)",
                 y=1.0)
    fig.tight_layout()
    return Figure(f"sharded-{scaling}", f"Sharded products, {scaling} scaling", png(fig))


def draw(res) -> Section:
    sec = Section(SECTION.key, SECTION.title)
    val = res.table("sharded-validate")
    if len(val) and "status" in val.columns:
        counts = val.groupby(["n_devices", "status"]).size().unstack(fill_value=0).reset_index()
        sec.tables.append(("Checks of the sharded products (sharded against the reference and the unsharded "
                           "product), by mesh size and status", counts))
        bad = val[val["status"].astype(str).isin(["FAIL", "error"])]
        if len(bad):
            cols = [c for c in ("family", "product", "n_devices", "axis", "check", "status", "detail") if c in bad]
            sec.tables.append((f"{len(bad)} failing sharded checks", bad[cols].head(40)))
    bench = res.table("sharded-bench")
    if len(bench):
        for scaling in ("strong", "weak"):
            fig = _scaling_figure(bench, scaling)
            if fig is not None:
                sec.figures.append(fig)
        b = _num(bench, "n_devices", "total_median_s", "local_median_s", "comm_median_s", "unsharded_median_s")
        top = b[b["n_devices"] == b["n_devices"].max()]
        cols = [c for c in ("family", "product", "scaling", "n_devices", "n", "communication", "total_median_s",
                            "local_median_s", "comm_median_s", "unsharded_median_s", "comm_bytes_per_device")
                if c in top.columns]
        sec.tables.append(("At the largest mesh: time split into local product and communication", top[cols]))
    net = res.table("sharded-network")
    if len(net):
        cols = [c for c in ("model", "family", "weights", "axis", "dtype", "n_devices", "identical",
                            "first_divergent_step", "bytes_per_device_per_step", "wall_per_sim_s",
                            "unsharded_wall_per_sim_s") if c in net.columns]
        sec.tables.append(("The sharded E/I network against the unsharded one (identical rasters)", net[cols]))
    proj = res.table("sharded-model-projection")
    if len(proj):
        p = _num(proj, "n_neurons", "n_devices", "step_s", "comm_share")
        p = p[np.isin(p["n_devices"], [8, 64])]
        cols = [c for c in ("local", "n_neurons", "n_devices", "cut", "interconnect", "bytes_per_device", "local_s",
                            "comm_s", "step_s", "comm_share") if c in p.columns]
        sec.tables.append(("The model's projection per step (assumptions in the README)", p[cols].head(60)))
    sec.intro = ("Timings on one host's virtual CPU devices show the communication pattern, not an "
                 "interconnect: a collective here costs about as much as an event-driven product. "
                 "Multi-GPU and multi-host speeds are not measured.")
    return sec


SECTION = SectionSpec("sharded", "Past one device: sharded products, scaling, the sharded E/I network",
                      ("sharded-validate", "sharded-bench", "sharded-network", "sharded-model-projection"), draw)
