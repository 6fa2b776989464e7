"""Devices for the sharded products: a 1-D mesh, and virtual CPU devices where there is one CPU.

XLA splits the host into ``n`` CPU devices when asked before JAX initialises its CPU backend
(``jax_num_cpu_devices``, the same as ``XLA_FLAGS=--xla_force_host_platform_device_count=n``).
They share the host's cores and memory: a program sharded over them runs the collectives of a
real mesh (the same partitioning, the same bytes moved), but their timings measure that
pattern on this host, not an interconnect.
"""
from __future__ import annotations

import numpy as np

#: the name of the mesh axis the structures are partitioned over
AXIS = "shards"


def virtual_cpu_devices(n: int) -> int:
    """Ask for ``n`` CPU devices (before JAX has run anything); returns how many JAX sees.

    Once the CPU backend has started its device count is fixed: then at least ``n`` devices
    must exist already, or a ``RuntimeError`` says how to start the process instead.
    """
    import jax

    from ..._arguments import ensure_int

    n = ensure_int("n", n, minimum=1)
    try:
        jax.config.update("jax_num_cpu_devices", n)
    except RuntimeError:
        have = len(jax.devices("cpu"))
        if have < n:
            raise RuntimeError(
                f"n={n} virtual CPU devices asked for, but JAX has started with {have}; set "
                f"XLA_FLAGS=--xla_force_host_platform_device_count={n} (or call virtual_cpu_devices first) "
                "before JAX runs anything") from None
    return len(jax.devices("cpu"))


def device_mesh(n_devices: int | None = None, *, devices=None, axis_name: str = AXIS):
    """A 1-D mesh of the first ``n_devices`` of ``devices`` (default: every device JAX sees;
    in a multi-process run, every process's devices)."""
    import jax
    from jax.sharding import Mesh

    from ..._arguments import ensure_int

    devices = list(jax.devices() if devices is None else devices)
    if n_devices is None:
        n_devices = len(devices)
    n_devices = ensure_int("n_devices", n_devices, minimum=1)
    if n_devices > len(devices):
        raise ValueError(f"n_devices={n_devices}, but only {len(devices)} devices are available "
                         f"({', '.join(sorted({d.platform for d in devices}))}); on the CPU, "
                         "virtual_cpu_devices(n) or XLA_FLAGS=--xla_force_host_platform_device_count=n "
                         "before JAX starts makes more")
    return Mesh(np.array(devices[:n_devices]), (axis_name,))
