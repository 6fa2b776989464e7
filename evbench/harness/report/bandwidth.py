"""Effective bandwidth against the machine's, and synaptic events per second."""
from __future__ import annotations


import pandas as pd

from .figures import Figure, Section, SectionSpec, colour_map, ok_cases, ordered, png, pyplot, x_active


def draw(res) -> Section:
    sec = Section(SECTION.key, SECTION.title)
    ok = ok_cases(res.bench, "effective_gb_s", "bytes_touched")
    if not len(ok):
        sec.missing = "No benchmark results with effective bandwidth (bench-* files)."
        return sec
    plt = pyplot()
    colours = colour_map(ordered(ok["backend"]))
    machine_bw = pd.to_numeric(ok.get("machine_read_gb_s"), errors="coerce").dropna()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.8))
    ok = ok.assign(x=x_active(ok))
    for be in ordered(ok["backend"]):
        b = ok[(ok["backend"] == be) & (ok["bytes_touched"] > 0) & (ok["effective_gb_s"] > 0)]
        ax1.scatter(b["bytes_touched"], b["effective_gb_s"], s=10, alpha=0.6, color=colours[be], label=be)
        if "events_per_s" in ok.columns:
            e = ok[(ok["backend"] == be)]
            e = e[pd.to_numeric(e["events_per_s"], errors="coerce") > 0]
            ax2.scatter(e["x"], pd.to_numeric(e["events_per_s"]), s=10, alpha=0.6, color=colours[be], label=be)
    if len(machine_bw):
        bw = float(machine_bw.median())
        ax1.axhline(bw, color="black", ls="--", lw=1.2, label=f"machine read bandwidth {bw:.1f} GB/s")
    ax1.set_xscale("log")
    ax1.set_yscale("log")
    ax1.set_xlabel("bytes the product must touch per call (B)")
    ax1.set_ylabel("effective bandwidth (GB/s)")
    ax1.set_title("Effective bandwidth (every case; dashed: machine's measured read bandwidth)")
    ax1.legend(loc="lower right")
    ax2.set_xscale("log")
    ax2.set_yscale("log")
    ax2.set_xlabel("measured active fraction")
    ax2.set_ylabel("synaptic events per second (1/s)")
    ax2.set_title("Synaptic events per second (every case)")
    ax2.legend(loc="best")
    fig.tight_layout()
    sec.figures.append(Figure("bandwidth", "Effective bandwidth and synaptic events per second", png(fig)))
    agg = {"effective_gb_s": ["median", "max"]}
    if "bandwidth_fraction" in ok.columns:
        ok["bandwidth_fraction"] = pd.to_numeric(ok["bandwidth_fraction"], errors="coerce")
        agg["bandwidth_fraction"] = ["max"]
    if "events_per_s" in ok.columns:
        ok["events_per_s"] = pd.to_numeric(ok["events_per_s"], errors="coerce")
        agg["events_per_s"] = ["median", "max"]
    table = ok.groupby(["device", "backend"], sort=False).agg(agg)
    table.columns = [f"{a}_{b}" for a, b in table.columns]
    sec.tables.append(("Per backend, over every case", table.reset_index()))
    if "bandwidth_fraction" in ok.columns:
        sec.tables.append(("Every kernel's achieved fraction of the machine's read bandwidth: evbench's products "
                           "(native and its timed variants) per family and product, median and best over the cases",
                           _kernel_fractions(ok)))
    sec.intro = ("Bytes touched are what evbench's structure of the family must read (its stored bytes, times the "
                 "active fraction when the product is event-driven) plus events and outputs: the same for every "
                 "backend. Points near the dashed line are bandwidth-bound; just-in-time structures store nothing, "
                 "so their figure is small by construction (compute-bound).")
    if len(machine_bw):
        sec.notes.append(f"Machine's single-core read bandwidth: {float(machine_bw.median()):.2f} GB/s.")
    return sec


def _kernel_fractions(ok):
    """``bandwidth_fraction`` of evbench's own rows (``native`` and ``native:…`` variants) per family,
    product and variant: what each kernel reaches."""
    own = ok[ok["backend"].astype(str).str.split(":").str[0] == "native"]
    own = own[own["bandwidth_fraction"] > 0]
    table = own.groupby(["device", "family", "product", "backend"], sort=False)["bandwidth_fraction"].agg(
        ["median", "max"]).reset_index()
    return table.rename(columns={"median": "fraction_median", "max": "fraction_best"})


SECTION = SectionSpec('bandwidth', "Effective bandwidth against the machine's (roofline-style), synaptic events per second", ('bench',), draw)
