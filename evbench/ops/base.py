"""Connectivity structures as JAX pytrees, the public products, and the event-driven drivers.

Conventions
-----------
A structure ``M`` has ``shape == (n_rows, n_cols)``; for a synaptic projection rows are the
presynaptic neurons and columns the postsynaptic ones, so ``events @ M`` delivers presynaptic
spikes to the postsynaptic population (brainevent's convention).

Internally every structure implements four raw products on 2-D operands:

* ``_vecmat(S)``: ``S (b, n_rows) @ M -> (b, n_cols)``
* ``_matvec(S)``: ``M @ S (n_cols, b) -> (n_rows, b)``
* ``_vecmat_ad`` / ``_matvec_ad``: the same products written with differentiable gathers and
  scatters over the stored synapses (cost O(synapses)), used for the backward pass.

The public ``vecmat`` / ``matvec`` validate the events, run the fast (event-driven) product
forward, and differentiate through the ``_ad`` form (``jax.custom_vjp``), so ``grad`` with
respect to the weights and to floating events equals the gradient of the dense product.

Three implementations of the forward products
---------------------------------------------
* *portable*: ``_vecmat`` / ``_matvec``, pure JAX (loops over chunks of active inputs,
  scatters and segment sums): every device.
* *CPU kernels*: ``_vecmat_cpu`` / ``_matvec_cpu`` of the structures listing the product in
  ``_cpu_products``: numba kernels (:mod:`evbench.ops.cpu.kernels`) called from XLA through its FFI
  (:mod:`evbench.ops.cpu.ffi`), selected by ``lax.platform_dependent`` on the CPU only, so the
  same jitted function runs the portable path on any other device.
* *GPU formulations* (:mod:`evbench.ops.gpu`): loop-free XLA products (bucketed capacities,
  gathers, sums in a fixed order: bitwise deterministic), selected the same way on ``cuda``
  and ``rocm``.

:func:`use_kernels` (a context manager) or the environment variable ``EVBENCH_KERNELS``
(read at import) chooses: ``"auto"`` (default: the CPU kernels on the CPU where numba is
installed, the GPU formulations on a GPU, the portable path elsewhere), ``"portable"`` (pure
JAX everywhere) or ``"gpu"`` (the GPU formulations on every device, the CPU included: how CI
tests them). The choice is part of JAX's jit cache key, so a function traced under one is
retraced under another. Every path is tested against the same references
(``tests/test_portable.py`` and ``tests/test_gpu_paths.py`` run the equivalence and property
tests again under ``"portable"`` and ``"gpu"``).
"""
from __future__ import annotations

import abc
import contextlib
import os

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from .._arguments import dtype_of

#: active rows processed per iteration of the event-driven loops
CHUNK = 16

# -- the choice of implementation -------------------------------------------------------------

KERNEL_MODES = ("auto", "portable", "gpu")
_ENV = "EVBENCH_KERNELS"
if os.environ.get(_ENV, "auto") not in KERNEL_MODES:
    raise ValueError(f"{_ENV} must be one of {KERNEL_MODES}, got {os.environ[_ENV]!r}")


def _make_mode_state():
    """The mode as a JAX configuration state (thread-local, part of the jit cache key), or
    None where this JAX has no such private API (then a global, and caches are cleared)."""
    try:
        from jax._src import config as jax_config

        return jax_config.enum_state(
            _ENV.lower(), list(KERNEL_MODES), "auto",
            "evbench products: 'auto' (numba kernels on the CPU, XLA formulations on a GPU), 'portable' "
            "(pure JAX) or 'gpu' (the GPU formulations on every device)",
            include_in_jit_key=True, include_in_trace_context=True)
    except Exception:  # pragma: no cover - depends on the JAX version
        return None


_MODE_STATE = _make_mode_state()
_MODE_FALLBACK = [os.environ.get(_ENV, "auto")]


def kernel_mode() -> str:
    """The current implementation choice: ``"auto"``, ``"portable"`` or ``"gpu"``."""
    return _MODE_STATE.value if _MODE_STATE is not None else _MODE_FALLBACK[0]


@contextlib.contextmanager
def use_kernels(mode: str):
    """``with use_kernels("portable"): ...`` runs (and traces) the products inside with the
    pure-JAX implementation, ``"gpu"`` with the GPU formulations on any device; ``"auto"``
    selects the CPU kernels on the CPU and the GPU formulations on a GPU."""
    if mode not in KERNEL_MODES:
        raise ValueError(f"mode must be one of {KERNEL_MODES}, got {mode!r}")
    if _MODE_STATE is not None:
        with _MODE_STATE(mode):
            yield
        return
    old, _MODE_FALLBACK[0] = _MODE_FALLBACK[0], mode  # pragma: no cover
    jax.clear_caches()  # pragma: no cover
    try:  # pragma: no cover
        yield
    finally:  # pragma: no cover
        _MODE_FALLBACK[0] = old
        jax.clear_caches()


def cpu_kernels_available() -> tuple[bool, str]:
    """Whether the CPU kernels can run in this installation, and why not."""
    from .cpu.ffi import available

    return available()


def _gpu_visible() -> bool:
    """Whether this process has a GPU backend (``cuda`` or ``rocm``): only then does
    ``"auto"`` stage the GPU formulations out (every ``platform_dependent`` branch is traced,
    and a CPU-only process would trace them for nothing)."""
    global _GPU_VISIBLE
    if _GPU_VISIBLE is None:
        try:
            _GPU_VISIBLE = any(d.platform in ("gpu", "cuda", "rocm") for d in jax.devices("gpu"))
        except Exception:  # no such backend: RuntimeError; a broken plugin may raise others
            _GPU_VISIBLE = False
    return _GPU_VISIBLE


_GPU_VISIBLE: bool | None = None


def _forward(conn, S, which: str):
    """The forward product ``which`` ("vecmat" or "matvec") of events ``S`` (bool or the
    weight dtype): under ``"auto"`` the CPU kernel on the CPU and the GPU formulation on
    ``cuda``/``rocm`` where the structure has them (``lax.platform_dependent``), the portable
    product (on ``S`` cast to the weight dtype) elsewhere; ``"gpu"`` and ``"portable"`` force
    theirs on every device."""
    raw = getattr(conn, "_" + which)

    def portable(S):
        return raw(S.astype(conn.dtype))

    mode = kernel_mode()
    if mode == "portable":
        return portable(S)
    gpu = getattr(conn, f"_{which}_gpu") if which in conn._gpu_products else None
    if mode == "gpu":
        return portable(S) if gpu is None else gpu(S)
    branches = {}
    if which in conn._cpu_products and cpu_kernels_available()[0]:
        # the kernels read bool events as they are (no converted copy of the events)
        branches["cpu"] = getattr(conn, f"_{which}_cpu")
    if gpu is not None and _gpu_visible():
        branches["cuda"] = branches["rocm"] = gpu
    if not branches:
        return portable(S)
    return lax.platform_dependent(S, default=portable, **branches)


class Connectivity(abc.ABC):
    """Base class of every connectivity structure (a JAX pytree); abstract: a structure that
    lacks ``dtype``, ``_dense``, ``_vecmat`` or ``_matvec`` cannot be created.

    Subclasses name their array leaves in ``_leaf_fields`` and their static (hashable)
    configuration in ``_static_fields``; ``shape`` is always static.
    """

    _leaf_fields: tuple[str, ...] = ()
    _static_fields: tuple[str, ...] = ("shape",)
    #: products with a CPU kernel (``_vecmat_cpu`` / ``_matvec_cpu``)
    _cpu_products: tuple[str, ...] = ()
    #: products with a GPU formulation (``_vecmat_gpu`` / ``_matvec_gpu``, :mod:`evbench.ops.gpu`)
    _gpu_products: tuple[str, ...] = ()
    #: stops NumPy from treating a structure as an object array in ``ndarray @ M``
    __array_ufunc__ = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        jax.tree_util.register_pytree_node_class(cls)

    # -- pytree -----------------------------------------------------------------------------
    def tree_flatten(self):
        children = tuple(getattr(self, f) for f in self._leaf_fields)
        aux = tuple(getattr(self, f) for f in self._static_fields)
        return children, aux

    @classmethod
    def tree_unflatten(cls, aux, children):
        obj = object.__new__(cls)
        for f, v in zip(cls._leaf_fields, children):
            object.__setattr__(obj, f, v)
        for f, v in zip(cls._static_fields, aux):
            object.__setattr__(obj, f, v)
        return obj

    def _set(self, **fields):
        for f, v in fields.items():
            object.__setattr__(self, f, v)

    # -- description ------------------------------------------------------------------------
    @property
    @abc.abstractmethod
    def dtype(self):
        """The weight dtype."""

    @property
    def n_rows(self) -> int:
        return self.shape[0]

    @property
    def n_cols(self) -> int:
        return self.shape[1]

    @property
    def nbytes(self) -> int:
        """Bytes held by the structure's arrays (what it stores, nothing materialised)."""
        return int(sum(np.dtype(x.dtype).itemsize * int(np.prod(x.shape))
                       for x in jax.tree_util.tree_leaves(self)))

    @property
    def T(self) -> "Connectivity":
        return Transposed(self)

    def __repr__(self):
        return f"{type(self).__name__}(shape={self.shape}, dtype={np.dtype(self.dtype).name})"

    # -- raw products (subclasses) ----------------------------------------------------------
    @abc.abstractmethod
    def _dense(self):
        """The dense matrix as a JAX array (differentiable w.r.t. the weights)."""

    @abc.abstractmethod
    def _vecmat(self, S):
        """``S (b, n_rows) @ M``, the portable (pure JAX) product."""

    @abc.abstractmethod
    def _matvec(self, S):
        """``M @ S (n_cols, b)``, the portable (pure JAX) product."""

    def _vecmat_ad(self, S):
        return S @ self._dense()

    def _matvec_ad(self, S):
        return self._dense() @ S

    # -- public API -------------------------------------------------------------------------
    def to_dense(self):
        """The matrix this structure represents, as a dense JAX array."""
        return self._dense()

    def to_coo(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(row, col, weight)`` NumPy arrays of the stored synapses, duplicates kept
        (structures that store no explicit list give the non-zero entries of ``to_dense``)."""
        dense = np.asarray(self._dense())
        row, col = np.nonzero(dense)
        return row, col, dense[row, col]

    def vecmat(self, events):
        """``events @ M``: events ``(n_rows,)`` -> ``(n_cols,)``, or ``(b, n_rows)`` -> ``(b, n_cols)``."""
        S = _as_events(events, self.dtype, self.n_rows, "events @ M", batch_axis=0)
        if S.ndim == 2 and S.shape[0] == 0:  # an empty batch: nothing to multiply
            return jnp.zeros((0, self.n_cols), self.dtype)
        out = _vecmat_p(self, S if S.ndim == 2 else S[None, :])
        return out if S.ndim == 2 else out[0]

    def matvec(self, events):
        """``M @ events``: events ``(n_cols,)`` -> ``(n_rows,)``, or ``(n_cols, b)`` -> ``(n_rows, b)``."""
        S = _as_events(events, self.dtype, self.n_cols, "M @ events", batch_axis=1)
        if S.ndim == 2 and S.shape[1] == 0:  # an empty batch: nothing to multiply
            return jnp.zeros((self.n_rows, 0), self.dtype)
        out = _matvec_p(self, S if S.ndim == 2 else S[:, None])
        return out if S.ndim == 2 else out[:, 0]

    def __rmatmul__(self, events):
        return self.vecmat(events)

    def __matmul__(self, events):
        return self.matvec(events)


def _as_events(events, dtype, n, where, batch_axis):
    """Validate an event array against a structure: bool (kept as it is: the products cast
    it where they need to) or the weight dtype."""
    src_dtype = dtype_of(events)
    if src_dtype == np.bool_:
        arr = jnp.asarray(events)
    elif src_dtype.kind == "f":
        if src_dtype != np.dtype(dtype):
            raise TypeError(
                f"events must be bool or {np.dtype(dtype).name} (the weight dtype) in {where}, "
                f"got {src_dtype.name}; cast explicitly"
            )
        arr = jnp.asarray(events)
    else:
        raise TypeError(f"events must be bool or floating in {where}, got dtype {src_dtype.name}")
    shape = tuple(arr.shape)
    if arr.ndim == 1:
        ok = shape[0] == n
        want = f"({n},)"
    elif arr.ndim == 2:
        ok = shape[1 - batch_axis] == n
        want = "(batch, %d)" % n if batch_axis == 0 else "(%d, batch)" % n
    else:
        ok, want = False, f"({n},) or a 2-D batch"
    if not ok:
        raise ValueError(f"events has shape {shape}; {where} needs {want}")
    return arr


def _bilinear(fast, slow):
    """A product that runs ``fast`` forward and differentiates through ``slow``. Bool events
    have no cotangent (None: zero); the weights' gradient is taken with them as 0/1."""

    @jax.custom_vjp
    def product(conn, S):
        return fast(conn, S)

    def fwd(conn, S):
        return fast(conn, S), (conn, S)

    def bwd(res, g):
        conn, S = res
        if S.dtype == np.bool_:
            _, vjp = jax.vjp(lambda c: slow(c, S.astype(conn.dtype)), conn)
            return vjp(g)[0], None
        _, vjp = jax.vjp(slow, conn, S)
        return vjp(g)

    product.defvjp(fwd, bwd)
    return product


def nan_where_not_finite(out, S, sample_axis: int):
    """``out`` with every output of a sample that holds a non-finite event (±inf, NaN) set to
    NaN (README "Event semantics"): an event-driven product skips the absent synapses whose
    ``inf * 0`` make the dense product NaN, so it would otherwise give finite-looking values; a
    jitted function cannot raise on a value, so the sample is marked invalid instead. Samples
    lie along ``sample_axis`` of ``S`` and ``out`` (0 for ``events @ M``, 1 for ``M @ events``).
    Bool events are always finite: nothing is checked (no cost)."""
    if S.dtype == np.bool_:
        return out
    other = 1 - sample_axis
    bad = jnp.logical_not(jnp.all(jnp.isfinite(S), axis=other, keepdims=True))
    return jnp.where(bad, jnp.asarray(jnp.nan, out.dtype), out)


# jitted so that eager calls reuse one compilation per structure type and shape
_vecmat_p = jax.jit(_bilinear(lambda c, S: nan_where_not_finite(_forward(c, S, "vecmat"), S, 0),
                              lambda c, S: c._vecmat_ad(S)))
_matvec_p = jax.jit(_bilinear(lambda c, S: nan_where_not_finite(_forward(c, S, "matvec"), S, 1),
                              lambda c, S: c._matvec_ad(S)))


class Transposed(Connectivity):
    """``M.T`` for any structure: products swap, nothing is copied.

    ``events @ M.T == M @ events`` and ``M.T @ events == events @ M``.
    """

    _leaf_fields = ("base",)
    _static_fields = ()

    def __init__(self, base: Connectivity):
        self._set(base=base)

    @property
    def shape(self):
        return self.base.shape[::-1]

    @property
    def dtype(self):
        return self.base.dtype

    @property
    def T(self):
        return self.base

    def _dense(self):
        return self.base._dense().T

    def to_coo(self):
        row, col, w = self.base.to_coo()
        return col, row, w

    def _vecmat(self, S):
        return self.base._matvec(S.T).T

    def _matvec(self, S):
        return self.base._vecmat(S.T).T

    def _vecmat_ad(self, S):
        return self.base._matvec_ad(S.T).T

    def _matvec_ad(self, S):
        return self.base._vecmat_ad(S.T).T

    @property
    def _cpu_products(self):
        swap = {"vecmat": "matvec", "matvec": "vecmat"}
        return tuple(swap[p] for p in self.base._cpu_products)

    def _vecmat_cpu(self, S):
        return self.base._matvec_cpu(S.T).T

    def _matvec_cpu(self, S):
        return self.base._vecmat_cpu(S.T).T

    @property
    def _gpu_products(self):
        swap = {"vecmat": "matvec", "matvec": "vecmat"}
        return tuple(swap[p] for p in self.base._gpu_products)

    def _vecmat_gpu(self, S):
        return self.base._matvec_gpu(S.T).T

    def _matvec_gpu(self, S):
        return self.base._vecmat_gpu(S.T).T


# -- event-driven drivers ---------------------------------------------------------------------

def active_rows(S):
    """Indices of the inputs active in any sample of ``S (b, n)``, padded, and their count."""
    mask = jnp.any(S != 0, axis=0)
    n = mask.shape[0]
    count = jnp.sum(mask, dtype=jnp.int32)
    idx = jnp.nonzero(mask, size=n, fill_value=0)[0].astype(jnp.int32)
    return jnp.concatenate([idx, jnp.zeros(CHUNK, jnp.int32)]), count


def _chunk(idx, count, c):
    rows = lax.dynamic_slice(idx, (c * CHUNK,), (CHUNK,))
    ok = c * CHUNK + jnp.arange(CHUNK, dtype=jnp.int32) < count
    return rows, ok


def for_active_chunks(S, init, body):
    """Run ``body(rows, ok, acc)`` over the active inputs of ``S`` in chunks of ``CHUNK``.

    The loop's trip count is ``ceil(active / CHUNK)``: the cost is proportional to the number
    of active inputs, plus one O(n) scan to find them. Rows are visited in increasing index
    order, so the summation order (and the result, bitwise) depends only on the inputs.
    """
    idx, count = active_rows(S)
    n_chunks = (count + CHUNK - 1) // CHUNK

    def step(c, acc):
        rows, ok = _chunk(idx, count, c)
        return body(rows, ok, acc)

    return lax.fori_loop(0, n_chunks, step, init)


def scatter_active_rows(S, row_fn, n_out):
    """``S (b, n_in) @ M`` for a structure whose row ``i`` is given by ``row_fn``.

    ``row_fn(rows)`` maps ``CHUNK`` row indices to ``(pos, w, valid)``, each ``(CHUNK, cap)``:
    the column of each stored synapse, its weight and whether the slot holds a synapse.
    Duplicate positions within a row are summed, one after another.
    """
    b = S.shape[0]

    def body(rows, ok, out):
        pos, w, valid = row_fn(rows)
        valid = valid & ok[:, None]
        coef = jnp.where(ok[None, :], S[:, rows], 0)               # (b, CHUNK)
        contrib = coef[:, :, None] * jnp.where(valid, w, 0)[None]   # (b, CHUNK, cap)
        pos = jnp.where(valid, pos, n_out)                           # dropped below
        return out.at[:, pos.reshape(-1)].add(contrib.reshape(b, -1), mode="drop")

    return for_active_chunks(S, jnp.zeros((b, n_out), S.dtype), body)


def scalar_or_gather(weights, slots):
    """Per-synapse weights gathered at ``slots``, or a scalar weight broadcast to them."""
    if weights.ndim == 0:
        return jnp.broadcast_to(weights, slots.shape)
    return weights[slots]
