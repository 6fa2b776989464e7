"""Every implementation under test, found one way: the backends registry.

A backend is an object of the public interface :mod:`evbench.backend_api`. evbench finds them

1. through the entry-point group ``evbench.backends`` of every installed distribution (each
   entry ``name = "module:attribute"``): evbench's own (``native``, the baselines of
   :mod:`~evbench.peers.baselines`, the peer adapters :mod:`~evbench.peers.brainevent`,
   :mod:`~evbench.peers.brainstate`, :mod:`~evbench.peers.jaxsparse`) are declared in its
   pyproject.toml like any library's, and listed first, in that order;
2. through ``EVBENCH_BACKENDS`` (``module:attribute`` entries, comma-separated), and
   ``evbench --plugin module:attribute``, which adds to it so that worker processes see it too.

Every process (a command, a validation worker, an asv benchmark, the pytest-benchmark suite)
finds the same set. A plugin that fails to import, is not a :class:`~evbench.backend_api.Backend`,
was written for another version of the interface, or clashes with a registered name is still
listed, as ``missing`` with the reason, and never stops the others. :data:`ORIGINS` says where
each backend came from (``evbench catalogue --list backends``). A backend module imports its
library only when used, so a missing package makes its backend ``missing`` and nothing else.
"""
from __future__ import annotations

import dataclasses
import importlib
import os
from dataclasses import dataclass
from pathlib import Path

from ..backend_api import (  # noqa: F401  (the interface, re-exported)
    API_VERSION, SEMANTICS, Backend, Generated, GradSpec, Implementation, Request, Unsupported, api_mismatch,
    coo_triples, mode_label, scatter_dense,
)
from ..registry import Registry

#: the entry-point group a library registers its backends in
ENTRY_POINT_GROUP = "evbench.backends"
#: ``module:attribute`` entries naming backends, comma-separated
ENV_VAR = "EVBENCH_BACKENDS"


@dataclass(frozen=True)
class Origin:
    """Where a backend came from: ``how`` ("entry point", "EVBENCH_BACKENDS" or "registered":
    by code in this process, which other processes do not see), the ``module:attribute`` it was
    loaded from, and the distribution that declared it with its version."""

    how: str
    target: str = ""
    package: str = ""
    version: str = ""

    @property
    def reproducible(self) -> bool:
        """Whether a fresh process (a validation worker, an asv benchmark) finds it too."""
        return self.how != "registered"

    def describe(self) -> str:
        where = f"{self.package} {self.version}".strip()
        return ", ".join(x for x in (where, f"{self.how} {self.target}".strip()) if x)


#: every backend, in the order tables list them (``BACKENDS.select(names)``: some, by name)
BACKENDS: Registry[Backend] = Registry("backend")
#: the backend of a name; ``ValueError`` listing the valid names
get_backend = BACKENDS.get
#: where each backend came from, by name
ORIGINS: dict[str, Origin] = {}


def origin(name: str) -> Origin:
    """Where the backend ``name`` came from (``registered``: by code in this process)."""
    return ORIGINS.get(name) or Origin("registered")


def _broken(name: str, target: str, why: str) -> Backend:
    """A plugin that could not be registered, listed as ``missing`` with the reason."""

    def prepare(*args, **kwargs):
        raise Unsupported(why)

    return Backend(name, f"{target}: did not load", prepare=prepare, broken=why, api=API_VERSION)


def _load(target: str):
    module, _, attribute = target.partition(":")
    obj = importlib.import_module(module.strip())
    for part in attribute.strip().split(".") if attribute.strip() else ():
        obj = getattr(obj, part)
    return obj


#: the order of the tables: evbench's own operators, the baselines, the libraries under test
ROLES = ("native", "baseline", "peer")


def _loaded(name: str | None, target: str, loader=None) -> Backend:
    """The backend ``target`` names, or, whatever goes wrong, a ``missing`` stand-in saying why
    (never raised). ``name``: the name it is declared under (an entry point's), or None."""
    try:
        obj = (loader or (lambda: _load(target)))()
    except Exception as exc:  # a broken plugin must not stop the others
        return _broken(name or target, target, f"plugin {target} did not import: {type(exc).__name__}: {exc}")
    if not isinstance(obj, Backend):
        return _broken(name or target, target,
                       f"plugin {target} is a {type(obj).__name__}, not an evbench.backend_api.Backend")
    if name is not None and obj.name != name:
        return _broken(name, target, f"entry point {name!r} ({target}) names a backend called {obj.name!r}")
    mismatch = api_mismatch(obj.api)
    return dataclasses.replace(obj, broken=f"plugin {target}: {mismatch}") if mismatch else obj


def add(name: str | None, target: str, source: Origin, loader=None) -> Backend:
    """Load the backend ``target`` names and register it (see :func:`_loaded`)."""
    return _register(_loaded(name, target, loader), source)


def _register(backend: Backend, source: Origin) -> Backend:
    """Register ``backend``; the same plugin found twice (a wheel and a source tree) once, and a
    second plugin of a registered name as a ``missing`` stand-in saying whose name it took."""
    if backend.name in BACKENDS:
        first = ORIGINS.get(backend.name)
        if first is not None and first.target == source.target:
            return BACKENDS.get(backend.name)
        backend = _broken(f"{backend.name}@{source.target}", source.target,
                          f"plugin {source.target} ({source.describe()}) is called {backend.name!r}, which "
                          f"{first.describe() if first else 'code in this process'} registered first")
    BACKENDS.register(backend)
    ORIGINS[backend.name] = source
    return backend


def _own_entry_points() -> list:
    """evbench's own ``(name, target)`` entries: from its installed metadata, or, running from a
    source tree that is not installed, from its pyproject.toml."""
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        dist = distribution("evbench")
        found = [(ep.name, ep.value) for ep in dist.entry_points if ep.group == ENTRY_POINT_GROUP]
        if found:
            return found
    except PackageNotFoundError:
        pass
    import tomllib

    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    table = tomllib.loads(pyproject.read_text())["project"]["entry-points"][ENTRY_POINT_GROUP]
    return list(table.items())


def _discover() -> None:
    """Every backend of the entry points and of ``EVBENCH_BACKENDS``, registered by role, then name."""
    from importlib.metadata import entry_points

    from .. import __version__

    found = [(name, target, Origin("entry point", target, "evbench", __version__), None)
             for name, target in _own_entry_points()]
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(ep, "dist", None)
        package = dist.metadata["Name"] if dist is not None else ""
        if package != "evbench":  # evbench's own come from its metadata above (once, however installed)
            found.append((ep.name, ep.value, Origin("entry point", ep.value, package,
                                                    dist.version if dist is not None else ""), ep.load))
    found += [(None, target, Origin(ENV_VAR, target), None) for target in environment_targets()]
    loaded = [(_loaded(name, target, loader), origin_) for name, target, origin_, loader in found]
    rank = {role: i for i, role in enumerate(ROLES)}
    for backend, origin_ in sorted(loaded, key=lambda b: (rank.get(b[0].role, len(ROLES)), b[0].name)):
        _register(backend, origin_)


def environment_targets() -> list[str]:
    """The ``module:attribute`` entries of ``EVBENCH_BACKENDS``."""
    return [t.strip() for t in os.environ.get(ENV_VAR, "").split(",") if t.strip()]


def add_plugin(target: str) -> Backend:
    """Load and register the backend ``target`` (``module:attribute``) now, and add it to
    ``EVBENCH_BACKENDS`` so that the processes this one starts find it too."""
    if ":" not in target:
        raise ValueError(f"--plugin must name module:attribute, got {target!r}")
    if target not in environment_targets():
        os.environ[ENV_VAR] = ",".join([*environment_targets(), target])
    for name, where in ORIGINS.items():
        if where.target == target:
            return BACKENDS.get(name)
    return add(None, target, Origin(ENV_VAR, target))


_discover()
