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
    SEMANTICS, Backend, Generated, GradSpec, Implementation, Request, Unsupported, coo_triples, mode_label,
    scatter_dense,
)

#: every backend, in the order tables list them (``BACKENDS.select(names)``: some, by name)
BACKENDS: Registry[Backend] = Registry("backend")
#: the backend of a name; ``ValueError`` listing the valid names
get_backend = BACKENDS.get

for _backend in (baselines.NATIVE, baselines.DENSE, baselines.DENSE_DEFAULT, baselines.SCIPY, brainevent.BACKEND,
                 brainstate.BACKEND, jaxsparse.BACKEND):
    BACKENDS.register(_backend)
