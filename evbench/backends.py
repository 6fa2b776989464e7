"""Implementations under test, behind one adapter interface: the catalogue of backends.

A backend turns a catalogue structure (built by evbench from shape, parameters and seed)
and a product into a callable on events, using its own data structures. Validation and
benchmarks iterate over :func:`backends`; nothing else lists them.

``prepare`` raises :class:`Unsupported` (with the reason) for a family, product or option the
backend does not offer: it is reported as ``unsupported``, never skipped silently.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Callable

import numpy as np


class Unsupported(Exception):
    """The backend does not offer this family, product or option."""


@dataclass
class Implementation:
    """A backend's prepared product: ``run(events) -> output`` in evbench's layout."""

    run: Callable
    #: the dense float64 matrix to compare against, when the backend generates its own
    #: connectivity (for example brainevent's just-in-time matrices); None: the family's reference
    reference: np.ndarray | None = None
    #: the backend's own structure, for memory figures and statistical checks
    structure: object = None
    note: str = ""


@dataclass(frozen=True)
class Backend:
    name: str
    title: str
    #: modules that must import for the backend to be available
    requires: tuple = ()
    #: (family, conn, product) -> Implementation; raises Unsupported
    prepare: Callable = field(default=None, repr=False)
    #: what this backend is: "native" (evbench's own), "baseline" or "peer" (a library under test)
    role: str = "peer"

    def available(self) -> tuple[bool, str]:
        """``(True, versions)`` or ``(False, why)``."""
        versions = []
        for mod in self.requires:
            try:
                m = importlib.import_module(mod)
            except Exception as exc:  # a broken install is "missing", not a crash
                return False, f"{mod} not importable: {type(exc).__name__}: {exc}"
            versions.append(f"{mod} {getattr(m, '__version__', '?')}")
        return True, ", ".join(versions)


_BACKENDS: dict[str, Backend] = {}


def register_backend(backend: Backend) -> Backend:
    if backend.name in _BACKENDS:
        raise ValueError(f"backend {backend.name!r} is already registered")
    _BACKENDS[backend.name] = backend
    return backend


def backends() -> tuple[Backend, ...]:
    return tuple(_BACKENDS.values())


def get_backend(name: str) -> Backend:
    try:
        return _BACKENDS[name]
    except KeyError:
        raise ValueError(f"unknown backend {name!r}; valid backends: {', '.join(_BACKENDS)}") from None


# -- native, dense XLA, scipy ------------------------------------------------------------------

def _native(family, conn, product):
    return Implementation(run=lambda events: product.jitted(conn, events), structure=conn)


def _dense_xla(family, conn, product):
    dense = conn.to_dense()
    return Implementation(run=lambda events: product.jitted(dense, events), structure=dense,
                          note="plain jnp matmul of the materialised matrix")


def _scipy(family, conn, product):
    import scipy.sparse as sp

    row, col, w = conn.to_coo()
    mat = sp.coo_array((np.asarray(w), (row, col)), shape=conn.shape).tocsr()  # sums duplicates
    mat_t = mat.T.tocsr()

    def run(events):
        e = np.asarray(events)
        e = e.astype(mat.dtype) if e.dtype == bool else e
        if product.key in ("vecmat", "matvec_T"):
            return mat_t @ e
        if product.key in ("matvec", "vecmat_T"):
            return mat @ e
        if product.key == "vecmat_batch":
            return (mat_t @ e.T).T
        if product.key == "matvec_batch":
            return mat @ e
        raise Unsupported(f"product {product.key}")

    return Implementation(run=run, structure=mat, note="CSR on the host; CPU only")


register_backend(Backend("native", "evbench's own event-driven operators", ("jax",), _native, role="native"))
register_backend(Backend("dense", "dense XLA product (jnp matmul), the baseline", ("jax",), _dense_xla,
                         role="baseline"))
register_backend(Backend("scipy", "scipy.sparse CSR, CPU reference baseline", ("scipy",), _scipy,
                         role="baseline"))
