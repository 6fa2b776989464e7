"""What the measured costs imply past this machine: a model of one step of a sharded network.

Fitted from a scaling table (:mod:`.bench`):

* **local** cost per synaptic event ``c`` (seconds): ``t = a + c W`` over the unsharded native
  product at every size the table holds (``W`` the synaptic events of a call), per family and
  product. This is one CPU core of this machine; an accelerator's is not measured here.
* **communication** ``t = alpha + alpha_d (D - 1) + beta B`` per collective (all-gather,
  reduce-scatter), over the collectives timed alone at message sizes from 4 KiB to 16 MiB per
  device (``B`` bytes one device receives, ``D`` devices). On virtual CPU devices ``beta`` is
  the host's copy bandwidth and ``alpha`` its thread synchronisation, not an interconnect's.

Both are least-squares fits of the relative error; ``rel_rms`` is the fit's root-mean-square
relative error. A fit is only used where it can be trusted (``status`` ``ok``); it is refused
(``status`` ``refused``, ``reason`` saying why) when its points do not exceed its parameters or
do not determine them (with as many points as parameters any costs fit exactly, and the error
says nothing), or when it is not physical: a cost per synaptic event or per byte that is not
positive, a negative latency, or a predicted time that is not positive at a fitted point.
Nothing is projected from a refused fit.

Projected, for a network of ``N`` neurons with ``k`` synapses each, firing ``rate_hz``, stepped
every ``dt_ms``, its state sharded over ``D`` devices by neuron (the E/I network's layout):

* synaptic events per device per step ``W = N (rate dt) k / D``;
* bytes one device receives per step: cut by presynaptic rows (every family; the only
  event-driven cut of a just-in-time one), a reduce-scatter of the partial inputs,
  ``receptors (D-1)/D N 4`` (float32) whatever the activity; cut by postsynaptic columns
  (stored families), an all-gather of the spikes, ``(D-1)/D N`` bytes as booleans, or
  ``(D-1)/D N (rate dt) 4`` as a list of the active indices (not implemented here: projected);
* ``break_even_c_s = t_comm / W``: a device whose cost per synaptic event is below this spends
  longer communicating than computing (what an accelerator's cost, not measured here, would
  have to be compared with);
* time per step ``c W + alpha + alpha_d (D - 1) + beta B``, with this machine's fitted
  figures and with stated interconnect assumptions (:data:`INTERCONNECTS`). Nothing overlaps
  the local product with the communication (the sharded products do not).
"""
from __future__ import annotations

import itertools
import re

import numpy as np

from ..tables import TABLES

#: assumed figures of interconnects that were not measured here: (effective GB/s one device
#: receives in a collective, seconds of latency per collective, and per device more). Order-of-magnitude values
#: from vendors' specifications (NVLink 4: 450 GB/s per direction per GPU; InfiniBand NDR:
#: 400 Gb/s = 50 GB/s per port), derated for what collectives achieve; not measurements.
INTERCONNECTS = {
    "nvlink (one node, assumed)": (300.0, 10e-6, 0.0),
    "infiniband ndr (several hosts, assumed)": (40.0, 20e-6, 0.0),
}
#: the projection's network: synapses per neuron, rate, step, receptor types (g_e, g_i)
NETWORK = dict(k=10_000, rate_hz=10.0, dt_ms=0.1, receptors=2)
SIZES = (1_000_000, 10_000_000, 100_000_000)
DEVICES = (8, 16, 32, 64)


def _lstsq(X, y):
    """Least squares of the *relative* error (each row divided by its ``y``), so that
    microsecond latencies and second-long transfers weigh alike; returns the coefficients, the
    root-mean-square relative error of the fit and why it cannot be trusted ("" when it can:
    more points than parameters, and points that determine every parameter)."""
    X, y = np.asarray(X, float), np.asarray(y, float)
    n, k = X.shape
    coef, *_ = np.linalg.lstsq(X / y[:, None], np.ones_like(y), rcond=None)
    rms = float(np.sqrt(np.mean(((X @ coef - y) / y) ** 2)))
    if n <= k:
        return coef, rms, f"{n} points for {k} parameters: any costs fit them exactly"
    if np.linalg.matrix_rank(X / y[:, None]) < k:
        return coef, rms, f"the {n} points do not determine the {k} parameters"
    return coef, rms, ""


def _verdict(why: str, checks) -> dict:
    """``status`` and ``reason`` of a fit: the first of ``why`` and the failed physical ``checks``
    (``(ok, reason)`` pairs)."""
    reasons = [why] if why else []
    reasons += [reason for ok, reason in checks if not ok]
    return dict(status="refused" if reasons else "ok", reason="; ".join(reasons))


def fit_local(frame):
    """``t = a + c W`` per family × product over the unsharded timings: rows with ``a``, ``c``
    (seconds, seconds per synaptic event), the points, the relative RMS error and the verdict."""
    import pandas as pd

    ok = frame[frame.status == "ok"]
    rows = []
    for (fam, prod), g in ok.groupby(["family", "product"], sort=False):
        g = g.drop_duplicates("n")
        work = (g.synapses_per_device * g.n_devices).to_numpy(float)  # the whole product's work
        (a, c), rms, why = _lstsq(np.c_[np.ones(len(g)), work], g.unsharded_median_s.to_numpy())
        verdict = _verdict(why, [(c > 0, f"cost per synaptic event {c:.3g} s is not positive"),
                                 (bool(np.all(a + c * work > 0)), "a predicted time is not positive")])
        rows.append(dict(family=fam, product=prod, event_driven=bool(g.event_driven.iloc[0]), a_s=a,
                         c_s_per_synapse=c, points=len(g), rel_rms=rms, **verdict))
    return pd.DataFrame(rows, columns=list(TABLES.get("sharded-model-local").columns))


def fit_comm(frame):
    """``t = alpha + alpha_d (D-1) + beta B`` per collective over every sharded case."""
    import pandas as pd

    ok = frame[(frame.status == "ok") & (frame.n_devices > 1)]
    rows = []
    for kind, g in ok.groupby("communication"):
        X = np.c_[np.ones(len(g)), g.n_devices - 1, g.comm_bytes_per_device].astype(float)
        (alpha, alpha_d, beta), rms, why = _lstsq(X, g.comm_median_s.to_numpy())
        verdict = _verdict(why, [(beta > 0, f"cost per byte {beta:.3g} s is not positive"),
                                 (alpha >= 0, f"latency {alpha:.3g} s is negative"),
                                 (alpha_d >= 0, f"latency per device {alpha_d:.3g} s is negative")])
        rows.append(dict(communication=kind, alpha_s=alpha, alpha_per_device_s=alpha_d, beta_s_per_byte=beta,
                         gb_per_s=(1e-9 / beta) if beta > 0 else float("inf"), points=len(g), rel_rms=rms,
                         **verdict))
    return pd.DataFrame(rows, columns=list(TABLES.get("sharded-model-comm").columns))


def step_volume(N: int, D: int, *, rate_hz: float, dt_ms: float, receptors: int = 2) -> dict:
    """Bytes one device receives per step under each cut (see the module docstring)."""
    active = rate_hz * dt_ms / 1000.0
    share = (D - 1) / D
    return {"reduce-scatter (rows)": share * N * 4 * receptors, "all-gather bool (cols)": share * N,
            "all-gather indices (cols)": share * N * active * 4}


def project(c_local: dict, comm_fit, *, sizes=SIZES, devices=DEVICES, network=None):
    """One row per local cost × N × D × cut × interconnect: per-device synaptic events, bytes
    and seconds per step, and seconds per simulated second. ``c_local``: ``{label: seconds
    per synaptic event}``; ``comm_fit``: :func:`fit_comm`'s rows (this machine's figures)."""
    import pandas as pd

    net = dict(NETWORK, **(network or {}))
    bad = {label: c for label, c in c_local.items() if not c > 0}
    if bad:
        raise ValueError(f"a cost per synaptic event must be positive, got {bad}")
    links = dict(INTERCONNECTS)
    for _, r in comm_fit.iterrows():
        if r.get("status", "ok") == "ok":  # a refused fit projects nothing
            links[f"this host, fitted {r.communication}"] = (r.gb_per_s, r.alpha_s, r.alpha_per_device_s)
    rows = []
    steps_per_s = 1000.0 / net["dt_ms"]
    for (local_label, c), N in itertools.product(c_local.items(), sizes):
        for D in devices:
            W = N * net["rate_hz"] * net["dt_ms"] / 1000.0 * net["k"] / D
            for cut, B in step_volume(N, D, rate_hz=net["rate_hz"], dt_ms=net["dt_ms"],
                                      receptors=net["receptors"]).items():
                for link, (gb_s, alpha, alpha_d) in links.items():
                    if link.startswith("this host") and link.split()[-1] not in cut:
                        continue
                    t_comm = alpha + alpha_d * (D - 1) + B / (gb_s * 1e9)
                    t_local = c * W
                    if not (t_comm > 0 and t_local > 0):
                        raise ValueError(f"{link}: a projected time is not positive ({t_local=}, {t_comm=})")
                    rows.append(dict(local=local_label, c_s_per_synapse=c, n_neurons=N, n_devices=D, cut=cut,
                                     interconnect=link,
                                     synapses_per_device=W, bytes_per_device=B, local_s=t_local, comm_s=t_comm,
                                     step_s=t_local + t_comm, comm_share=t_comm / (t_local + t_comm),
                                     break_even_c_s=t_comm / W,
                                     wall_per_sim_s=(t_local + t_comm) * steps_per_s,
                                     synapse_bytes_per_device=N * net["k"] / D * 8))
    return pd.DataFrame(rows)


# -- what a compiled program moves ---------------------------------------------------------------

_ITEM = {"pred": 1, "s8": 1, "u8": 1, "s16": 2, "u16": 2, "f16": 2, "bf16": 2, "s32": 4, "u32": 4, "f32": 4,
         "s64": 8, "u64": 8, "f64": 8}
_OP = re.compile(r"=\s*(.+?)\s+(all-gather|reduce-scatter|all-reduce|all-to-all|collective-permute)(?:-start)?\(")
_SHAPE = re.compile(r"\b(" + "|".join(_ITEM) + r")\[([\d,]*)\]")
_PAIRS = re.compile(r"source_target_pairs=\{((?:\{\d+,\d+\},?)*)\}")


def collective_volume(hlo: str, n_devices: int) -> dict:
    """Bytes one device receives, on average, in the collectives of a compiled (SPMD) HLO
    module, per kind: ring algorithms for all-gather (``(D-1)/D`` of the gathered result),
    reduce-scatter (``D-1`` times the scattered block), all-reduce (twice ``(D-1)/D``) and
    all-to-all; a collective-permute moves its buffer along each source-target pair. Each op
    is counted once (a collective inside a loop body runs once per iteration)."""
    D = n_devices
    out: dict = {}
    for line in hlo.splitlines():
        m = _OP.search(line)
        if not m:
            continue
        size = sum(_ITEM[t] * int(np.prod([int(x) for x in dims.split(",") if x] or [1]))
                   for t, dims in _SHAPE.findall(m.group(1)))
        kind = m.group(2)
        if kind == "all-gather" or kind == "all-to-all":
            moved = size * (D - 1) / D
        elif kind == "reduce-scatter":
            moved = size * (D - 1)
        elif kind == "all-reduce":
            moved = 2 * size * (D - 1) / D
        else:
            pairs = _PAIRS.search(line)
            n_pairs = pairs.group(1).count("{") if pairs else D
            moved = size * n_pairs / D
        out[kind] = out.get(kind, 0.0) + moved
    return out
