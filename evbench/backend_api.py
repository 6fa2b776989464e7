"""The public backend interface: what a library imports to plug its operators into evbench.

A backend is a :class:`Backend` object. evbench finds backends through the Python entry-point
group ``evbench.backends`` (each entry ``name = "module:attribute"`` naming a ``Backend``; evbench's
own are registered the same way in its pyproject.toml) and through ``EVBENCH_BACKENDS``
(``module:attribute`` entries, comma-separated) or ``evbench --plugin module:attribute``; see
:mod:`evbench.peers` and README "Your own backend".

This interface is versioned (:data:`API_VERSION`, ``major.minor``). A backend declares the
version it was written for (``Backend(..., api="1.0")``); evbench loads it when the major
versions agree and the backend's minor version is not newer than evbench's, and otherwise
reports it ``missing`` with a message saying which versions disagree.

One way to call a backend::

    impl = backend.prepare(family, conn, product, request, **mode)
    out = impl.run(events)

* ``family`` and ``product`` come from the catalogue, ``conn`` is evbench's structure of the
  family (built from shape, parameters and seed), ``request`` a :class:`Request`: what else a
  backend may need of the case (the connection probability and seed the structure was drawn with,
  and its structure options), for backends that draw their own matrix of the same law.
* ``mode`` is one of the backend's *modes* (``backend.modes(family)``: its own settings, such
  as brainevent's event wrapper or the dense baseline's precision); every mode is validated as a
  backend of its own, and ``backend.timed(family)`` names the one the benchmarks time. (A
  family's *options* — scalar weights, duplicates — are the structure's; a backend's *modes*
  are its own.)
* ``prepare`` raises :class:`Unsupported` (with the reason) for a family, product or mode the
  backend does not offer: it is reported as ``unsupported``, never skipped silently.

An :class:`Implementation` is the product as a pure function ``apply(operand, events)`` of the
backend's own structure (``operand``, a pytree of arrays) and the events, so that every backend
is compiled alike (``jax.jit`` with both as arguments: :attr:`Implementation.compiled_fn`). A
backend that is not a JAX function (scipy) gives ``host(events)`` instead, and one that cannot be
compiled says so (``compiles=False``): it is then run, and timed, op by op.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

#: the version of this interface (``major.minor``): a new minor version only adds; a new major
#: version changes something a backend relies on
API_VERSION = "1.0"


def api_mismatch(declared) -> str:
    """Why a backend written for interface version ``declared`` cannot be loaded by this evbench,
    or ``""`` when it can."""
    if declared is None:
        return (f"it declares no backend API version (add api={API_VERSION!r} to its Backend(...): the version "
                "of evbench.backend_api it was written for)")
    try:
        major, minor = (int(x) for x in str(declared).split("."))
    except ValueError:
        return f"its api={declared!r} is not a version 'major.minor'"
    have_major, have_minor = (int(x) for x in API_VERSION.split("."))
    if major != have_major or minor > have_minor:
        return (f"it was written for evbench backend API {declared}, and this evbench offers {API_VERSION} "
                f"(evbench {_evbench_version()}); "
                + ("upgrade evbench" if (major, minor) > (have_major, have_minor) else "update the plugin"))
    return ""


def _evbench_version() -> str:
    try:
        from importlib.metadata import version

        return version("evbench")
    except Exception:  # not installed: running from a source tree
        return "from source"


class Unsupported(Exception):
    """The backend does not offer this family, product or mode."""


#: the event semantics a backend can document for floating events (see evbench.events):
#: "value": an event contributes its value (evbench's); "nonzero": any non-zero entry counts 1
SEMANTICS = ("value", "nonzero")


@dataclass(frozen=True)
class Request:
    """What a backend may need of a case besides the structure itself: the connection
    probability and seed it was drawn with, and its structure options (the family's options,
    as a dict; given as a dict or as ``(option, value)`` pairs), so that a backend drawing its
    own connectivity draws a matrix of the same law."""

    conn_prob: float
    seed: int
    options: dict = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "options", dict(self.options))


@dataclass
class GradSpec:
    """What a backend differentiates: ``apply(params, events)`` is the product as a function
    of the backend's own parameters (stored weights, or the weight parameters of a generated
    matrix), ``dense_of(params)`` the dense matrix those parameters stand for (a linear map),
    so that the dense gradient follows by the chain rule."""

    params: object
    apply: Callable | None
    dense_of: Callable
    #: whether the gradient w.r.t. floating events is claimed (value semantics)
    events: bool = True
    #: ``(events, cotangent) -> (d params, d events)`` through the backend's own gradient
    #: transformation, for backends whose state plain ``jax.grad`` cannot see (brainstate)
    vjp: Callable | None = None


#: ``jax.jit`` of each ``apply`` function, shared by every implementation that uses it
_COMPILED: dict = {}


@dataclass
class Implementation:
    """A backend's prepared product (see the module docstring)."""

    #: ``apply(operand, events) -> output``: the product as a pure JAX function; None for a
    #: backend that is not a JAX function (then ``host``)
    apply: Callable | None = None
    #: ``apply``'s first argument: the backend's structure, or the arrays it is rebuilt from
    operand: object = None
    #: everything the backend holds for this product (its memory figures); None: ``operand``
    holds: object = None
    #: ``host(events) -> output`` for a backend that computes outside JAX
    host: Callable | None = None
    #: whether ``apply`` works under ``jax.jit``; False: it runs (and is timed) op by op
    compiles: bool = True
    #: ``events -> output`` compiled by the backend's own transformation, where plain
    #: ``jax.jit`` cannot see its state (brainstate's jit passes a layer's states as
    #: arguments); None: ``jax.jit(apply)`` with operand and events as arguments
    jit: Callable | None = None
    #: the dense float64 matrix to compare against, when the backend generates its own
    #: connectivity (for example brainevent's just-in-time matrices), or a function computing it
    #: on first use (benchmarks never need it); None: the family's reference
    reference: np.ndarray | Callable | None = None
    note: str = ""
    #: ``(sum of |w| per entry, synapses per entry)`` for the error bound, with ``reference``;
    #: None: ``|reference|`` and one synapse per non-zero entry
    terms: tuple | None = None
    #: what the backend documents a floating event to contribute (one of SEMANTICS)
    semantics: str = "value"
    #: the backend's own dense materialisation of the matrix this product multiplies
    #: (``M.T`` for the transposed products), for the orientation identities; None if it has none
    own_dense: Callable | None = None
    #: gradients, when the backend claims autodiff
    grad: GradSpec | None = None

    def __post_init__(self):
        if (self.apply is None) == (self.host is None):
            raise ValueError("an Implementation needs exactly one of apply (a JAX function) and host")
        if self.holds is None:
            self.holds = self.operand

    @property
    def timing(self) -> str:
        """How :meth:`run` executes: "compiled" (``jax.jit``), "eager" (op by op) or "host"."""
        if self.host is not None:
            return "host"
        return "compiled" if self.compiles else "eager"

    @property
    def compiled_fn(self) -> Callable | None:
        """``jax.jit(apply)``, operand and events as arguments (one per ``apply``: every
        implementation sharing it shares its compilations); None when it does not compile."""
        if self.apply is None or not self.compiles:
            return None
        fn = _COMPILED.get(self.apply)
        if fn is None:
            import jax

            fn = _COMPILED[self.apply] = jax.jit(self.apply)
        return fn

    def run(self, events):
        """The product on ``events``: compiled where the backend compiles, else op by op."""
        if self.host is not None:
            return self.host(events)
        if self.jit is not None and self.compiles:
            return self.jit(events)
        fn = self.compiled_fn
        return fn(self.operand, events) if fn is not None else self.apply(self.operand, events)

    @property
    def jax_fn(self) -> Callable | None:
        """``events -> output`` as a JAX function (the operand closed over), for ``vmap``,
        ``lax.scan`` and the op-by-op comparison; None for a host backend."""
        if self.apply is None:
            return None
        apply, operand = self.apply, self.operand
        return lambda events: apply(operand, events)

    def reference_matrix(self) -> np.ndarray | None:
        """``reference``, computed now if it was given as a function."""
        if callable(self.reference):
            self.reference = np.asarray(self.reference(), dtype=np.float64)
        return self.reference

    def reference_terms(self) -> tuple[np.ndarray, np.ndarray]:
        if self.terms is not None:
            return self.terms
        ref = np.asarray(self.reference_matrix(), dtype=np.float64)
        return np.abs(ref), (ref != 0).astype(np.float64)


@dataclass
class Generated:
    """A matrix a backend generated itself (from a probability or a count and a seed), with
    the law it documents, for the statistical checks."""

    #: synapses per entry (repeats counted)
    counts: np.ndarray
    #: the weight of every synapse, one value each
    weights: np.ndarray
    #: "bernoulli" (each entry present with probability p, independently), "per_row" or
    #: "per_col" (exactly ``k`` partners per row / column)
    law: str
    #: the weight law: ("scalar", w), ("normal", mean, std), ("uniform", low, high) or
    #: ("given",) for weights the caller chose
    weight_law: tuple
    k: int = 0
    #: repeated synapses allowed (fixed-number laws)
    multapses: bool = False
    #: generation axis of a Bernoulli law: rows generated one by one ("rows") or columns
    axis: str = "rows"


def _first_mode(backend: "Backend", family, product=None) -> dict:
    return dict(backend.modes(family)[0])


@dataclass(frozen=True)
class Backend:
    name: str
    title: str
    #: modules that must import for the backend to be available
    requires: tuple = ()
    #: (family, conn, product, request, **mode) -> Implementation; raises Unsupported
    prepare: Callable = field(default=None, repr=False)
    #: what this backend is: "native" (evbench's own), "baseline" or "peer" (a library under test)
    role: str = "peer"
    #: family -> list of mode dicts, each validated as a backend of its own
    modes: Callable = field(default=lambda family: [{}], repr=False)
    #: (family, shape, conn_prob, seed, dtype, **mode) -> Generated, for families whose
    #: connectivity the backend draws itself; raises Unsupported otherwise
    generate: Callable | None = field(default=None, repr=False)
    #: mode keys that change the generated matrix (the others only change the products)
    matrix_modes: tuple = ()
    #: (backend, family, product) -> the mode the benchmarks time (default: the first)
    timed_mode: Callable = field(default=_first_mode, repr=False)
    #: whether it multiplies a materialised dense matrix (O(n²) memory and work whatever the
    #: structure): a dense baseline
    materialises: bool = False
    #: the version of this interface the backend was written for (:data:`API_VERSION`)
    api: str | None = None
    #: set by evbench for a plugin that could not be loaded: why (the backend is then ``missing``)
    broken: str = ""

    def timed(self, family, product=None) -> dict:
        """The mode of this backend that the benchmarks time for ``family`` (and ``product``,
        where the backend's fastest form depends on it)."""
        return dict(self.timed_mode(self, family, product))

    def available(self) -> tuple[bool, str]:
        """``(True, versions)`` or ``(False, why)``."""
        if self.broken:
            return False, self.broken
        versions = []
        for mod in self.requires:
            try:
                m = importlib.import_module(mod)
            except Exception as exc:  # a broken install is "missing", not a crash
                return False, f"{mod} not importable: {type(exc).__name__}: {exc}"
            versions.append(f"{mod} {_version_of(m, mod)}")
        return True, ", ".join(versions)


def _version_of(module, name: str) -> str:
    """A module's version: its ``__version__``, its package's (a submodule such as
    ``jax.experimental.sparse``), or its distribution's metadata."""
    top = name.split(".")[0]
    version = getattr(module, "__version__", None) or getattr(importlib.import_module(top), "__version__", None)
    if version:
        return str(version)
    try:
        from importlib.metadata import packages_distributions, version as dist_version

        return dist_version(packages_distributions()[top][0])
    except Exception:  # no metadata: a module on the path
        return "?"


def mode_label(mode: dict) -> str:
    """``"events=binary,corder=True"``: how a mode is named in tables."""
    return ",".join(f"{k}={v}" for k, v in mode.items())


def coo_triples(conn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(row, col, weight)`` of a structure's synapses, the order its own storage gives."""
    row, col, w = conn.to_coo()
    return np.asarray(row, np.int64), np.asarray(col, np.int64), np.asarray(w)


def scatter_dense(row, col, shape):
    """``params -> dense``: per-synapse weights (or a scalar) placed at ``(row, col)``,
    duplicates summed; the linear map whose chain rule gives the dense gradient."""
    import jax.numpy as jnp

    def dense_of(w):
        w = jnp.broadcast_to(w, row.shape) if jnp.ndim(w) == 0 else jnp.reshape(w, row.shape)
        return jnp.zeros(shape, w.dtype).at[row, col].add(w)

    return dense_of


def _as_is(events):
    return events


#: ``(product key, wrap) -> apply``: one function object per form, so compilations are shared
_FORMS: dict = {}


def matmul_form(product, wrap: Callable = _as_is) -> Callable:
    """``apply(S, events)``: ``product`` written with the ``@`` and ``.T`` of a backend's own
    structure ``S``, the events handed over as ``wrap(events)`` (a module-level function, so
    that the same form is the same function object)."""
    key = (product.key, wrap)
    fn = _FORMS.get(key)
    if fn is None:
        if product.events_left:
            fn = (lambda S, e: wrap(e) @ S.T) if product.transposed else (lambda S, e: wrap(e) @ S)
        else:
            fn = (lambda S, e: S.T @ wrap(e)) if product.transposed else (lambda S, e: S @ wrap(e))
        _FORMS[key] = fn
    return fn


def oriented(matrix, product):
    """``matrix`` as ``product`` multiplies it: its transpose for the transposed products."""
    return matrix.T if product.transposed else matrix
