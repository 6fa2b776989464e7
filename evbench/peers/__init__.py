"""Every implementation under test, behind one interface (:mod:`evbench.peers.base`): evbench's
own operators, the baselines (:mod:`~evbench.peers.baselines`) and the peer libraries
(:mod:`~evbench.peers.brainevent`, :mod:`~evbench.peers.brainstate`,
:mod:`~evbench.peers.jaxsparse`).

Validation and benchmarks iterate over :data:`BACKENDS`; nothing else lists them. A peer module
imports its library only when used, so a missing package makes its backend ``missing`` and
nothing else.
"""
from __future__ import annotations

from ..registry import Registry
from . import baselines, brainevent, brainstate, jaxsparse
from .base import (  # noqa: F401  (the interface, re-exported)
    SEMANTICS, Backend, Generated, GradSpec, Implementation, Request, Unsupported, coo_triples, option_label,
    scatter_dense,
)

#: every backend, in the order tables list them
BACKENDS: Registry[Backend] = Registry("backend")


def register_backend(backend: Backend) -> Backend:
    return BACKENDS.register(backend)


def backends() -> tuple[Backend, ...]:
    return BACKENDS.all()


def get_backend(name: str) -> Backend:
    return BACKENDS.get(name)


def select_backends(names=None) -> list[Backend]:
    """The backends called ``names`` in registry order (none, or ``"all"``: every one)."""
    return BACKENDS.select(names)


for _backend in (*baselines.BACKENDS, brainevent.BACKEND, brainstate.BACKEND, jaxsparse.BACKEND):
    register_backend(_backend)
