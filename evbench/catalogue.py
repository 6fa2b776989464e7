"""The operator catalogue: the one list of families and products the whole harness reads.

Tests, validation, benchmark suites, the CLI and reports iterate over :func:`families` and
:data:`PRODUCTS`; nothing else lists operators by hand.

A *family* builds a structure deterministically from ``(n_rows, n_cols, conn_prob, seed,
dtype, **options)``, and materialises it with the NumPy references in ``reference/``. A
*product* is one way of multiplying events with a structure.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

import evbench_reference as ref

from . import _generate as gen
from .ops.base import Connectivity
from ._arguments import ensure_dtype, ensure_int, ensure_prob, ensure_seed
from .registry import Registry
from .ops.dense import DenseMatrix
from .ops.fixed import FixedNumPerPost, FixedNumPerPre
from .ops.sparse import COO, CSC, CSR

# -- products -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Product:
    """One product of events with a structure ``M`` of shape ``(n_rows, n_cols)``."""

    key: str
    expr: str
    #: which side of M the events index: "rows" (length n_rows) or "cols" (length n_cols)
    input_axis: str
    batched: bool
    run: Callable = field(repr=False)         # (M, events) -> output, native
    reference: Callable = field(repr=False)   # (dense float64, events) -> output
    #: whether the product multiplies ``M.T`` (``events @ M.T``, ``M.T @ events``)
    transposed: bool = False

    @property
    def events_left(self) -> bool:
        """Whether the events stand left of the matrix (``events @ ...``)."""
        return (self.input_axis == "rows") != self.transposed

    @property
    def jitted(self) -> Callable:
        """``run`` under ``jax.jit`` (one compilation per structure type and shape)."""
        fn = _JITTED.get(self.key)
        if fn is None:
            import jax

            fn = _JITTED[self.key] = jax.jit(self.run)
        return fn

    def n_inputs(self, shape: tuple[int, int]) -> int:
        """The length of the event axis for a structure of this shape."""
        return shape[0] if self.input_axis == "rows" else shape[1]

    def n_outputs(self, shape: tuple[int, int]) -> int:
        return shape[1] if self.input_axis == "rows" else shape[0]

    def event_shape(self, shape: tuple[int, int], batch: int = 1) -> tuple[int, ...]:
        n = self.n_inputs(shape)
        if not self.batched:
            return (n,)
        return (batch, n) if self.events_left else (n, batch)

    def events_from_samples(self, samples: np.ndarray) -> np.ndarray:
        """Lay out ``(batch, n)`` samples as this product expects them."""
        if not self.batched:
            return samples[0]
        return samples if self.events_left else samples.T


_JITTED: dict[str, Callable] = {}

#: every product, in catalogue order (a :class:`~evbench.registry.Registry` keyed by ``key``)
PRODUCT_REGISTRY: Registry[Product] = Registry("product", key=lambda p: p.key)
PRODUCTS: tuple[Product, ...] = tuple(PRODUCT_REGISTRY.register(p) for p in (
    Product("vecmat", "events @ M", "rows", False, lambda M, e: e @ M, lambda D, e: ref.vecmat(e, D)),
    Product("matvec", "M @ events", "cols", False, lambda M, e: M @ e, ref.matvec),
    Product("vecmat_batch", "events[b, :] @ M", "rows", True, lambda M, e: e @ M, lambda D, e: ref.vecmat(e, D)),
    Product("matvec_batch", "M @ events[:, b]", "cols", True, lambda M, e: M @ e, ref.matvec),
    Product("vecmat_T", "events @ M.T", "cols", False, lambda M, e: e @ M.T, lambda D, e: ref.vecmat(e, D.T),
            transposed=True),
    Product("matvec_T", "M.T @ events", "rows", False, lambda M, e: M.T @ e, lambda D, e: ref.matvec(D.T, e),
            transposed=True),
))


#: the product of a key (``"vecmat"``…); ``ValueError`` listing the valid keys
get_product = PRODUCT_REGISTRY.get


# -- families -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Family:
    """A family of connectivity structures, with its generator and its reference."""

    name: str
    title: str
    #: builds the structure: (n_rows, n_cols, conn_prob, rng_or_seed, dtype, **options)
    generate: Callable = field(repr=False)
    #: ``reference(conn, f)``: the dense float64 matrix computed by ``reference/`` from the
    #: structure's stored data, each synapse's weight ``w`` replaced by ``f(w)``
    materialise: Callable = field(repr=False)
    #: discrete options, each a tuple of allowed values; the first is the default
    options: dict = field(default_factory=dict)
    #: which inputs a product can skip when inactive: "rows", "cols", "both" or "none"
    event_driven: str = "none"
    #: how the synapses are stored: "dense", "coo", "csr" (compressed lists), "fixed" (a fixed
    #: number per row) or "jitc" (generated from a seed); what backends dispatch on
    storage: str = ""
    #: which axis the storage runs along: "rows" (M itself) or "cols" (M.T stored, as CSC and
    #: the per-post and column-generated families do); "" for dense and COO
    orientation: str = ""
    #: the law of a structure the family draws at random (what the statistical checks test):
    #: "bernoulli" (each entry with probability conn_prob, independently, generated along the
    #: ``event_driven`` axis), "per_row" / "per_col" (exactly ``conn_num`` partners, no
    #: repeats), or "" for a structure built from given synapses
    law: str = ""
    #: the law of the drawn weights, as ``Generated.weight_law``: ("scalar", w),
    #: ("normal", mean, std), ("uniform", low, high)
    weight_law: tuple = ()
    #: build options of the structure the statistical checks draw
    drawn_options: dict = field(default_factory=dict)
    #: names of the same structure in the peer libraries
    peers: dict = field(default_factory=dict)
    #: bound on |stored weight - reference weight| per synapse (weights generated on device)
    weight_error: Callable = field(default=lambda conn: 0.0, repr=False)

    @property
    def bernoulli(self) -> bool:
        """Drawn with per-entry probability conn_prob (binomial density law)."""
        return self.law == "bernoulli"

    def reference(self, conn) -> np.ndarray:
        """The dense float64 matrix the structure represents (duplicates summed)."""
        return self.materialise(conn, lambda w: w)

    def reference_terms(self, conn) -> tuple[np.ndarray, np.ndarray]:
        """``(sum of |w| over the synapses of each entry, number of synapses of each entry)``:
        what the error bound needs, duplicates counted one by one."""
        return self.materialise(conn, np.abs), self.materialise(conn, np.ones_like)

    def option_sets(self) -> list[dict]:
        """Every combination of the structure options, the default one first."""
        keys = list(self.options)
        return [dict(zip(keys, combo)) for combo in itertools.product(*(self.options[k] for k in keys))]

    def resolve_options(self, options: dict) -> dict:
        """``options`` with the defaults of the others filled in; ``ValueError`` naming an
        unknown option or value."""
        full = {k: v[0] for k, v in self.options.items()}
        for k, v in options.items():
            if k not in self.options:
                raise ValueError(f"unknown option {k!r} for family {self.name!r}; valid options: {sorted(self.options)}")
            if v not in self.options[k]:
                raise ValueError(f"option {k}={v!r} for family {self.name!r} must be one of {self.options[k]}")
            full[k] = v
        return full

    def build(self, n_rows: int, n_cols: int, *, conn_prob: float = 0.1, seed: int = 0,
              dtype="float32", **options) -> Connectivity:
        """The structure for these sizes and parameters; the same arguments give the same
        structure, bitwise."""
        n_rows = ensure_int("n_rows", n_rows, minimum=1)
        n_cols = ensure_int("n_cols", n_cols, minimum=1)
        conn_prob = ensure_prob("conn_prob", conn_prob)
        seed = ensure_seed("seed", seed)
        dtype = ensure_dtype("dtype", dtype)
        return self.generate(n_rows, n_cols, conn_prob, seed, dtype, **self.resolve_options(options))

    def event_driven_for(self, product: Product) -> bool:
        """Whether ``product`` costs O(active inputs) rather than O(stored synapses)."""
        return self.event_driven in ("both", product.input_axis)


    @property
    def weight_kind(self) -> str:
        """The kind of the drawn weights ("scalar", "normal", "uniform"), or "" when the
        weights are given."""
        return self.weight_law[0] if self.weight_law else ""


#: every family, in catalogue order (``FAMILIES.select(names)``: some of them, by name)
FAMILIES: Registry[Family] = Registry("family", plural="families")
#: the family of a name; ``ValueError`` listing the valid names
get_family = FAMILIES.get


# -- the families ------------------------------------------------------------------------------

WEIGHTS = ("per_synapse", "scalar")
#: the homogeneous weight of the "scalar" structure option (any finite value would do)
SCALAR_WEIGHT = 0.5


def _weights(rng, n, dtype, weights):
    return SCALAR_WEIGHT if weights == "scalar" else gen.per_synapse_weights(rng, n, dtype)


def _dense(n_rows, n_cols, p, seed, dtype):
    rng = np.random.default_rng(seed)
    w = gen.per_synapse_weights(rng, (n_rows, n_cols), dtype)
    mask = rng.random((n_rows, n_cols)) < p  # conn_prob sets the fraction of non-zero weights
    return DenseMatrix(np.where(mask, w, 0).astype(dtype))


def _sparse(cls, transpose=False):
    def generate(n_rows, n_cols, p, seed, dtype, weights, duplicates):
        rng = np.random.default_rng(seed)
        if cls is COO:
            row, col = gen.coo_pairs(rng, n_rows, n_cols, p, duplicates)
            perm = rng.permutation(len(row))  # COO carries no order
            return COO(row[perm], col[perm], _weights(rng, len(row), dtype, weights), (n_rows, n_cols), dtype=dtype)
        major, minor = (n_cols, n_rows) if transpose else (n_rows, n_cols)
        r, c = gen.coo_pairs(rng, major, minor, p, duplicates)
        indptr = np.searchsorted(r, np.arange(major + 1))
        return cls(indptr, c, _weights(rng, len(c), dtype, weights), (n_rows, n_cols), dtype=dtype)
    return generate


def fixed_num(n_pre: int, n_post: int, conn_num: int, *, per_post: bool = False, multapses: bool = False,
              weight: float | None = None, seed: int = 0, dtype="float32"):
    """A seeded fixed-number structure: each presynaptic neuron (``per_post=False``,
    :class:`FixedNumPerPre`) or each postsynaptic neuron (:class:`FixedNumPerPost`) has exactly
    ``conn_num`` partners, drawn uniformly without (or with, ``multapses=True``) repetition.
    ``weight`` is a homogeneous weight, or ``None`` for standard-normal per-synapse weights."""
    n_pre = ensure_int("n_pre", n_pre, minimum=1)
    n_post = ensure_int("n_post", n_post, minimum=1)
    owners, partners = (n_post, n_pre) if per_post else (n_pre, n_post)
    k = ensure_int("conn_num", conn_num, minimum=0)
    if k > partners and not multapses:
        raise ValueError(f"conn_num={k} exceeds the {partners} possible partners; "
                         "allow multapses=True or lower conn_num")
    dtype = ensure_dtype("dtype", dtype)
    rng = np.random.default_rng(ensure_seed("seed", seed))
    idx = gen.fixed_num_indices(rng, owners, k, partners, multapses)
    w = weight if weight is not None else gen.per_synapse_weights(rng, idx.shape, dtype)
    cls = FixedNumPerPost if per_post else FixedNumPerPre
    return cls(idx, w, (n_pre, n_post), dtype=dtype)


def _fixed(per_post):
    def generate(n_rows, n_cols, p, seed, dtype, weights, multapses):
        k = conn_num(p, n_rows if per_post else n_cols)
        return fixed_num(n_rows, n_cols, k, per_post=per_post, multapses=multapses, seed=seed, dtype=dtype,
                         weight=SCALAR_WEIGHT if weights == "scalar" else None)
    return generate


def conn_num(conn_prob: float, partners: int) -> int:
    """Connections per neuron for a connection probability: ``round(conn_prob · partners)``."""
    return int(round(conn_prob * partners))


def _fixed_prob(n_rows, n_cols, p, seed, dtype, weights):
    rng = np.random.default_rng(seed)
    indptr, indices = gen.bernoulli_rows(rng, n_rows, n_cols, p)
    return CSR(indptr, indices, _weights(rng, len(indices), dtype, weights), (n_rows, n_cols), dtype=dtype)


def _np(x):
    return np.asarray(x)


def _ref_csr(conn, f):
    return ref.csr_to_dense(_np(conn.indptr), _np(conn.indices), f(_np(conn.weights)), conn.shape)


FAMILIES.register(Family(
    "dense", "event × dense weights",
    lambda n_rows, n_cols, p, seed, dtype: _dense(n_rows, n_cols, p, seed, dtype),
    lambda conn, f: ref.dense_to_dense(np.where(_np(conn.weights) != 0, f(_np(conn.weights)), 0)),
    event_driven="both", storage="dense",
    peers={"brainevent": "BinaryArray @ ndarray (binary_densemv/mm)", "brainstate": "EventLinear"},
))
FAMILIES.register(Family(
    "coo", "explicit sparse, COO (unordered)",
    _sparse(COO),
    lambda conn, f: ref.coo_to_dense(_np(conn.row), _np(conn.col), f(_np(conn.weights)), conn.shape),
    options={"weights": WEIGHTS, "duplicates": (True, False)},
    event_driven="none", storage="coo",
    peers={"brainevent": "COO (older releases)", "jax.experimental.sparse": "BCOO"},
))
FAMILIES.register(Family(
    "csr", "explicit sparse, CSR",
    _sparse(CSR), _ref_csr,
    options={"weights": WEIGHTS, "duplicates": (True, False)},
    event_driven="rows", storage="csr", orientation="rows",
    peers={"brainevent": "CSR", "jax.experimental.sparse": "BCSR", "scipy.sparse": "csr_array"},
))
FAMILIES.register(Family(
    "csc", "explicit sparse, CSC",
    _sparse(CSC, transpose=True),
    lambda conn, f: ref.csc_to_dense(_np(conn.base.indptr), _np(conn.base.indices), f(_np(conn.base.weights)),
                                     conn.shape),
    options={"weights": WEIGHTS, "duplicates": (True, False)},
    event_driven="cols", storage="csr", orientation="cols",
    peers={"brainevent": "CSC", "scipy.sparse": "csc_array"},
))
FAMILIES.register(Family(
    "fixed_per_pre", "fixed number of connections per presynaptic neuron",
    _fixed(per_post=False),
    lambda conn, f: ref.fixed_per_pre_to_dense(_np(conn.indices), f(_np(conn.weights)), conn.shape),
    options={"weights": WEIGHTS, "multapses": (False, True)},
    event_driven="rows", storage="fixed", orientation="rows",
    law="per_row", weight_law=("scalar", SCALAR_WEIGHT), drawn_options={"weights": "scalar"},
    peers={"brainevent": "FixedNumPerPre (formerly FixedPostNumConn)", "brainstate": "FixedNumConn / EventFixedNumConn"},
))
FAMILIES.register(Family(
    "fixed_per_post", "fixed number of connections per postsynaptic neuron",
    _fixed(per_post=True),
    lambda conn, f: ref.fixed_per_post_to_dense(_np(conn.base.indices), f(_np(conn.base.weights)), conn.shape),
    options={"weights": WEIGHTS, "multapses": (False, True)},
    event_driven="cols", storage="fixed", orientation="cols",
    law="per_col", weight_law=("scalar", SCALAR_WEIGHT), drawn_options={"weights": "scalar"},
    peers={"brainevent": "FixedNumPerPost (formerly FixedPreNumConn)"},
))
FAMILIES.register(Family(
    "fixed_prob", "fixed connection probability, stored as CSR",
    _fixed_prob, _ref_csr,
    options={"weights": WEIGHTS},
    event_driven="rows", storage="csr", orientation="rows",
    law="bernoulli", weight_law=("scalar", SCALAR_WEIGHT), drawn_options={"weights": "scalar"},
    peers={"brainstate": "EventFixedProb", "brainevent": "CSR (built by brainstate)"},
))

# -- just-in-time connectivity (evbench/ops/jitc.py, reference/jitconn.py) ---------------------
# JITC-SECTION: registrations of the six just-in-time families follow.
import functools  # noqa: E402

from .ops.jitc import (  # noqa: E402
    JITCNormalC,
    JITCNormalR,
    JITCScalarC,
    JITCScalarR,
    JITCUniformC,
    JITCUniformR,
)

#: fixed weight parameters of the just-in-time families
JITC_WEIGHTS = {
    "scalar": {"weight": SCALAR_WEIGHT},
    "normal": {"w_mean": 0.0, "w_std": 1.0},
    "uniform": {"w_low": -1.0, "w_high": 1.0},
}


def _jitc(cls, kind):
    def generate(n_rows, n_cols, p, seed, dtype):
        return cls((n_rows, n_cols), p, seed=seed, dtype=dtype, **JITC_WEIGHTS[kind])
    return generate


@functools.lru_cache(maxsize=4)
def _jitc_reference(spec: tuple):
    counts, dense = ref.jitc_to_dense(**dict(spec))
    if counts.max(initial=0) > 1:
        raise AssertionError("just-in-time connectivity never repeats a synapse")
    return counts, dense


def _ref_jitc(conn, f):
    """The reference matrix with ``f`` applied to each synapse's weight (one per entry at most);
    the last few are cached, since validation asks for three views of one structure."""
    counts, dense = _jitc_reference(tuple(sorted(conn.reference_spec().items())))
    return np.where(counts > 0, f(dense), 0.0)


def _register_jitc():
    kinds = (("scalar", "scalar weight 0.5", JITCScalarR, JITCScalarC, "JITCScalar"),
             ("normal", "normal weights N(0, 1)", JITCNormalR, JITCNormalC, "JITCNormal"),
             ("uniform", "uniform weights in [-1, 1)", JITCUniformR, JITCUniformC, "JITCUniform"))
    for kind, title, row_cls, col_cls, peer in kinds:
        for suffix, cls, axis, what in (("r", row_cls, "rows", "rows"), ("c", col_cls, "cols", "columns")):
            FAMILIES.register(Family(
                f"jitc_{kind}_{suffix}", f"just-in-time random connectivity, {title}, {what} generated",
                _jitc(cls, kind), _ref_jitc,
                event_driven=axis, storage="jitc", orientation=axis,
                law="bernoulli", weight_law=(kind, *JITC_WEIGHTS[kind].values()),  # the law's parameter order
                peers={"brainevent": f"{peer}{suffix.upper()}"},
                weight_error=lambda conn: conn.weight_error,
            ))


_register_jitc()
