"""The adapter interface every backend implements (see :mod:`evbench.peers`): kept apart
from the registry so that the peer modules and the registry can import it in either order."""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Callable

import numpy as np


class Unsupported(Exception):
    """The backend does not offer this family, product or option."""


#: the event semantics a backend can document for floating events (see evbench.events):
#: "value": an event contributes its value (evbench's); "nonzero": any non-zero entry counts 1
SEMANTICS = ("value", "nonzero")


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


@dataclass
class Implementation:
    """A backend's prepared product: ``run(events) -> output`` in evbench's layout."""

    run: Callable
    #: the dense float64 matrix to compare against, when the backend generates its own
    #: connectivity (for example brainevent's just-in-time matrices), or a function computing it
    #: on first use (benchmarks never need it); None: the family's reference
    reference: np.ndarray | Callable | None = None
    #: the backend's own structure, for memory figures and statistical checks
    structure: object = None
    note: str = ""
    #: ``(sum of |w| per entry, synapses per entry)`` for the error bound, with ``reference``;
    #: None: ``|reference|`` and one synapse per non-zero entry
    terms: tuple | None = None
    #: what the backend documents a floating event to contribute (one of SEMANTICS)
    semantics: str = "value"
    #: ``fn(events)``, the product as a pure JAX function (the structure closed over), for the
    #: jit and vmap checks; None when the backend is not a JAX function (scipy)
    jax_fn: Callable | None = None
    #: the product already compiled with ``jax.jit`` (when ``run`` is), so that the jit check
    #: reuses that compilation; None: ``jax.jit(jax_fn)``
    jitted: Callable | None = None
    #: the backend's own dense materialisation of the matrix this product multiplies
    #: (``M.T`` for the transposed products), for the orientation identities; None if it has none
    own_dense: Callable | None = None
    #: gradients, when the backend claims autodiff
    grad: GradSpec | None = None

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


@dataclass(frozen=True)
class Backend:
    name: str
    title: str
    #: modules that must import for the backend to be available
    requires: tuple = ()
    #: (family, conn, product, **option) -> Implementation; raises Unsupported
    prepare: Callable = field(default=None, repr=False)
    #: what this backend is: "native" (evbench's own), "baseline" or "peer" (a library under test)
    role: str = "peer"
    #: family -> list of option dicts, each validated as its own variant
    variants: Callable = field(default=lambda family: [{}], repr=False)
    #: (family, shape, conn_prob, seed, dtype, **option) -> Generated, for families whose
    #: connectivity the backend draws itself; raises Unsupported otherwise
    generate: Callable | None = field(default=None, repr=False)
    #: option keys that change the generated matrix (the others only change the products)
    structure_options: tuple = ()
    #: whether ``prepare`` takes the case (``case=``): backends that draw their own matrix
    #: need its seed and connection probability
    wants_case: bool = False

    def available(self) -> tuple[bool, str]:
        """``(True, versions)`` or ``(False, why)``."""
        versions = []
        for mod in self.requires:
            try:
                m = importlib.import_module(mod)
            except Exception as exc:  # a broken install is "missing", not a crash
                return False, f"{mod} not importable: {type(exc).__name__}: {exc}"
            # a submodule (jax.experimental.sparse) has its package's version
            version = getattr(m, "__version__", None) or getattr(
                importlib.import_module(mod.split(".")[0]), "__version__", "?")
            versions.append(f"{mod} {version}")
        return True, ", ".join(versions)


def option_label(option: dict) -> str:
    """``"events=binary,corder=True"``: how a variant is named in tables."""
    return ",".join(f"{k}={v}" for k, v in option.items())


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
