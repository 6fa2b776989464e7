"""The structure cache of a benchmark process: built structures (in memory and, for expensive
ones, on disk for the other processes of an asv run) and the backend's prepared product, reused
by consecutive cases."""
from __future__ import annotations

import os
import pickle
import time
from pathlib import Path

import numpy as np

from .grid import BenchCase, Skipped, variant_mode


class Structures:
    """Built structures, per process: the last ``keep`` in memory and, with ``disk``, the
    expensive ones (built in over ``disk_min_s`` seconds) pickled there for other processes
    (the asv benchmarks of one run share the directory of its ``setup_cache``)."""

    def __init__(self, keep: int = 1, disk: str | os.PathLike | None = None, disk_min_s: float = 1.0):
        self.keep, self.disk, self.disk_min_s = keep, Path(disk) if disk else None, disk_min_s
        self._memory: dict = {}

    def _path(self, key):
        return self.disk / "structures" / ("-".join(str(k) for k in key) + ".pkl")

    def get(self, case: BenchCase, seed: int = 0):
        """``(structure, seconds it took to build or load)``."""
        from ...catalogue import get_family

        key = (*case.structure_key, seed)
        if key in self._memory:
            return self._memory[key], 0.0
        while self._memory and len(self._memory) >= self.keep:  # free memory before building
            self._memory.pop(next(iter(self._memory)))
        t0 = time.perf_counter()
        path = self._path(key) if self.disk else None
        if path is not None and path.exists():
            with open(path, "rb") as fh:
                conn = pickle.load(fh)
        else:
            conn = get_family(case.family).build(case.n, case.n, conn_prob=case.conn_prob, seed=seed,
                                                 dtype=case.dtype)
            if path is not None and time.perf_counter() - t0 > self.disk_min_s:
                self._save(path, conn)
        seconds = time.perf_counter() - t0
        if self.keep:
            self._memory[key] = conn
        return conn, seconds

    @staticmethod
    def _save(path: Path, conn) -> None:
        import jax

        from ..results import write_atomic

        host = jax.tree_util.tree_map(np.asarray, conn)
        write_atomic(path, pickle.dumps(host, protocol=pickle.HIGHEST_PROTOCOL))


def request_for(case: BenchCase, seed: int):
    """The :class:`~evbench.peers.Request` of a case: its connection probability, seed and the
    options of the structure the benchmarks build (the family's defaults)."""
    from ...catalogue import get_family
    from ...peers import Request

    return Request(case.conn_prob, seed, tuple(sorted(get_family(case.family).resolve_options({}).items())))


class Reuse:
    """What consecutive cases of one process share: the structure on its device and the
    backend's prepared product (kept while the cases ask for the same ones)."""

    def __init__(self, structures: Structures | None = None, modes: dict | None = None):
        self.structures = structures or Structures(keep=0)
        #: ``{backend name: mode}`` timed instead of the mode the backend declares
        self.modes = dict(modes or {})
        self._conn_key = self._impl_key = None
        self.conn = self.impl = None
        self.mode: dict = {}
        self.build_s = self.prepare_s = 0.0

    def structure(self, case: BenchCase, dev, seed: int):
        import jax

        key = (case.structure_key, case.device, seed)
        if key != self._conn_key:
            self._conn_key = self._impl_key = None
            self.conn = self.impl = None  # free the previous one before building the next
            host, self.build_s = self.structures.get(case, seed)
            self.conn = jax.device_put(host, dev)
            self._conn_key = key
        return self.conn

    def implementation(self, case: BenchCase, fam, be, prod, conn):
        """The backend's prepared product in the mode it declares timed (``be.timed``), or
        the one ``modes`` names for it."""
        import jax

        from ...peers import Unsupported

        key = (self._conn_key, case.backend, case.product)
        if key != self._impl_key:
            self._impl_key, self.impl = None, None
            t0 = time.perf_counter()
            self.mode = dict(self.modes[be.name]) if be.name in self.modes else be.timed(fam, prod)
            if case.backend != be.name:  # a timed variant (grid.TIMED_VARIANTS)
                self.mode = variant_mode(be, fam, prod, case.backend)
                if self.mode is None:
                    raise Skipped("unsupported", f"{be.name} offers no mode {case.backend} for {fam.name}")
            try:
                self.impl = be.prepare(fam, conn, prod, request_for(case, self._conn_key[2]), **self.mode)
            except Unsupported as exc:
                raise Skipped("unsupported", str(exc) or f"{case.backend} does not offer {case.product}") from None
            held = self.impl.holds
            if held is not None and not hasattr(held, "states"):
                jax.block_until_ready(held)
            self.prepare_s = time.perf_counter() - t0
            self._impl_key = key
        return self.impl
