"""The sharded products across several processes (``jax.distributed``), on this machine.

Starts ``--processes`` Python processes, each with ``--devices`` virtual CPU devices, joined by
``jax.distributed.initialize`` (coordinator on localhost; CPU collectives by gloo) into one mesh
of processes × devices, as several hosts would be. Each process builds every shardable family's
structure from the same seed (the same structure everywhere), shards it over the global mesh,
runs ``events @ M`` and ``M @ events`` on global events, gathers the outputs and checks them
against the float64 reference within the error bound of ``evbench.tolerance``. Exit status 0
when every product in every process passes.

    python tools/sharded_processes.py                   # 2 processes × 4 devices
    python tools/sharded_processes.py --processes 4 --devices 2
"""
from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def worker(pid: int, processes: int, devices: int, port: int) -> int:
    import jax

    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.config.update("jax_num_cpu_devices", devices)
    jax.distributed.initialize(coordinator_address=f"localhost:{port}", num_processes=processes, process_id=pid)
    jax.config.update("jax_enable_x64", True)
    import numpy as np
    from jax.experimental import multihost_utils
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P

    from evbench.catalogue import get_product
    from evbench.harness.cases import Built, Case
    from evbench.harness.checks import Reference
    from evbench.harness.shard.validate import sharded_families
    from evbench.ops.shard import device_mesh, shard
    from evbench.tolerance import compare

    mesh = device_mesh()
    D = mesh.size
    failed = 0
    for fam in sharded_families():
        case = Case(fam.name, (8 * D, 6 * D), 0.2, 0, "float64", "float64", "signed", 0.3)
        built = Built(case)
        S = shard(built.conn, mesh)
        ref = Reference(built)
        for key in ("vecmat", "matvec", "vecmat_batch", "matvec_batch"):
            prod = get_product(key)
            ev = case.events(prod)
            spec = P(mesh.axis_names[0]) if ev.ndim == 1 else (
                P(None, mesh.axis_names[0]) if prod.events_left else P(mesh.axis_names[0], None))
            glob = jax.make_array_from_callback(ev.shape, NamedSharding(mesh, spec), lambda i: ev[i])
            out = multihost_utils.process_allgather(prod.run(S, glob), tiled=True)
            err, tol, ratio, ok = compare(np.asarray(out), ref.expected(prod, ev), ref.bound(prod, ev, "float64"))
            failed += not ok
            if pid == 0:
                print(f"{fam.name:15s} {prod.expr:18s} {S.communication('vecmat' if prod.input_axis == 'rows' else 'matvec'):15s}"
                      f" error/bound {ratio:.3f} {'pass' if ok else 'FAIL'}", flush=True)
    if pid == 0:
        print(f"{jax.process_count()} processes × {len(jax.local_devices())} devices = {D}: "
              f"{'every product passes' if not failed else f'{failed} FAIL'}")
    return int(failed > 0)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--processes", type=int, default=2)
    p.add_argument("--devices", type=int, default=4, help="virtual CPU devices per process")
    p.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker is not None:
        return worker(args.worker, args.processes, args.devices, args.port)
    with socket.socket() as s:
        s.bind(("localhost", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    procs = [subprocess.Popen([sys.executable, __file__, "--worker", str(k), "--processes", str(args.processes),
                               "--devices", str(args.devices), "--port", str(port)], env=env,
                              stdout=None if k == 0 else subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for k in range(args.processes)]
    codes = [proc.wait(timeout=900) for proc in procs]
    return max(codes)


if __name__ == "__main__":
    sys.exit(main())
