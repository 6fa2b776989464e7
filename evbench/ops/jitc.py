"""Just-in-time random connectivity (brainevent's ``JITCScalarR/C``, ``JITCNormalR/C``,
``JITCUniformR/C``): only the shape, the parameters and a seed are stored; every product
regenerates the synapses it needs from a counter-based hash.

The scheme (hash, skips, quantisation, weights, orientation) is documented in
:mod:`evbench.ops.jitc_scheme`; ``reference/jitconn.py`` writes it out with loops.

Products
--------
Along the generation axis (``events @ M`` for R) only the active rows are generated: cost
O(active × n_cols × p). Rows are generated ``capacity`` slots at a time (default
``ceil(n p + 8 sqrt(n p (1 - p)) + 16)``); a row longer than that continues in further
chunks inside a while loop, so nothing is ever truncated. Against it (``M @ events`` for R)
every row is generated, in blocks of rows: O(n_rows × n_cols × p) work, memory independent
of the size. The backward pass of both products regenerates the synapses (``jax.custom_vjp``):
the gradient w.r.t. the events is the other product, the one w.r.t. the weight parameters
a sum over the generated synapses.
"""
from __future__ import annotations

import math
import numbers

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from .cpu import ffi as _ffi
from .base import Connectivity, Transposed, for_active_chunks
from .jitc_scheme import (  # noqa: F401  (_mix, _thresholds: tests read the scheme through this module)
    _ALWAYS, _BITS, _BLOCK_SLOTS, _DRAW_KEYS, _EPS64, _MAX_SIZE, _OVERFLOW, _SEED_KEY, _U1, _U2, _as_param, _as_seed,
    _draw, _is_tracer, _mix, _thresholds, default_capacity,
)
from .._arguments import ensure_dtype, ensure_prob, ensure_shape

#: float32 sums as float32 on every device (a GPU's default matmul precision is TF32)
_HIGHEST = lax.Precision.HIGHEST


# -- row-oriented structures ----------------------------------------------------------------------

class _JITCRow(Connectivity):
    """Shared machinery of the row-oriented just-in-time structures (see the module docstring).

    Arguments common to every constructor: ``shape`` ``(n_rows, n_cols)``, each in
    [1, 2^31 - 1]; ``conn_prob`` in [0, 1]; ``seed`` an int in [0, 2^32); ``dtype`` float32 or
    float64; ``capacity`` the slots generated per row and pass (default
    :func:`default_capacity`; any value gives the same matrix, only the speed changes).
    Array leaves: ``seed``, the threshold ``table`` and the weight parameters (a new seed or new
    weights do not recompile); static: shape, ``conn_prob`` and what derives from it.
    """

    kind: str = ""
    _params: tuple[str, ...] = ()
    _cpu_products = _gpu_products = ("vecmat", "matvec")
    _static_fields = ("shape", "conn_prob", "cap", "n_bits", "overflow", "block", "quantisation_error")

    def __init_subclass__(cls, **kwargs):
        cls._leaf_fields = ("seed", "table") + cls._params
        super().__init_subclass__(**kwargs)

    def _setup(self, shape, conn_prob, seed, params: dict, dtype, capacity):
        shape = _check_jitc_shape(shape)
        p = ensure_prob("conn_prob", conn_prob)
        dtype = ensure_dtype("dtype", dtype)
        seed = _as_seed(seed)
        leaves = {name: _as_param(name, v, dtype) for name, v in params.items()}
        self._check_params({k: None if _is_tracer(v) else float(np.asarray(v)) for k, v in params.items()}, dtype)
        table, delta = _thresholds(p)
        n = shape[1]
        empty = int(table[_OVERFLOW]) == _ALWAYS
        if capacity is None:
            cap = 1 if empty else default_capacity(n, p)
        else:
            cap = min(n, _check_capacity(capacity))
        nonzero = np.flatnonzero(table[:_BITS])
        n_bits = 0 if empty or nonzero.size == 0 else int(nonzero[-1]) + 1
        self._set(shape=shape, conn_prob=p, seed=seed, table=jnp.asarray(table), cap=cap,
                  n_bits=n_bits, overflow=int(table[_OVERFLOW]) != 0,
                  block=max(1, min(shape[0], _BLOCK_SLOTS // cap)), quantisation_error=delta,
                  **leaves)

    # -- description ------------------------------------------------------------------------
    @property
    def dtype(self):
        return getattr(self, self._params[0]).dtype

    @property
    def weight_error(self) -> float:
        """Bound on |generated weight - float64 evaluation of the same formula|."""
        raise NotImplementedError

    def reference_spec(self) -> dict:
        """Keyword arguments of ``reference.jitc_to_dense`` that rebuild this matrix."""
        return dict(kind=self.kind, shape=tuple(self.shape), conn_prob=self.conn_prob,
                    seed=int(np.asarray(self.seed)), orientation="R",
                    **{name: float(np.asarray(getattr(self, name))) for name in self._params})

    def __repr__(self):
        return (f"{type(self).__name__}(shape={self.shape}, conn_prob={self.conn_prob!r}, "
                f"dtype={np.dtype(self.dtype).name})")

    # -- weights (subclasses) ---------------------------------------------------------------
    def _check_params(self, params: dict, dtype) -> None:
        """Relations between the (concrete, else None) parameters."""

    def _param_values(self):
        return tuple(getattr(self, name) for name in self._params)

    def _basis(self, base):
        """Per-synapse values that do not depend on the parameters (from draws 33, 34)."""
        return ()

    def _formula(self, params, basis, shape):
        """The weights from the parameters and the basis values."""
        raise NotImplementedError

    def _partials(self, basis, shape):
        """d weight / d parameter, one array per parameter."""
        raise NotImplementedError

    def _uniform(self, base, j, plus_one=False):
        k = lax.shift_right_logical(_draw(base, j), jnp.uint32(8))
        if plus_one:
            k = k + jnp.uint32(1)
        return k.astype(self.dtype) * jnp.asarray(2.0 ** -24, self.dtype)

    # -- generation -------------------------------------------------------------------------
    def _gen(self, rows, slot0, offset):
        """``cap`` slots, from ``slot0``, of each row in ``rows``.

        ``offset`` (uint32, per row) is the column after the previous chunk's last synapse
        (0 for the first chunk). Returns the columns (int32, ``n_cols`` where no synapse),
        validity, the basis values, the next offset, and whether the row may continue.
        """
        n = self.n_cols
        cap = self.cap
        t = jnp.arange(cap, dtype=jnp.uint32)
        row_key = _mix(_mix(self.seed ^ jnp.uint32(_SEED_KEY)) ^ rows.astype(jnp.uint32))
        base = _mix(row_key[:, None] ^ (slot0 + t)[None, :])
        # digits l >= n_bits have threshold 0 (never set): they are not drawn
        skip = jnp.zeros(base.shape, jnp.uint32)
        for level in range(self.n_bits):
            bit = _draw(base, level) < self.table[level]
            skip = skip | (bit.astype(jnp.uint32) << level)
        skip = jnp.minimum(skip, jnp.uint32(n))
        if self.overflow:  # a skip >= 2^32 > n_cols ends the row
            t_over = self.table[_OVERFLOW]
            ends = (_draw(base, _OVERFLOW) < t_over) | (t_over == jnp.uint32(_ALWAYS))
            skip = jnp.where(ends, jnp.uint32(n), skip)
        # running sum of the skips, saturating at n (no uint32 wrap-around)
        if cap * n < 2**32:
            cum = jnp.minimum(jnp.cumsum(skip, axis=1, dtype=jnp.uint32), jnp.uint32(n))
        else:
            cum = lax.associative_scan(lambda a, b: jnp.minimum(a + b, jnp.uint32(n)), skip, axis=1)
        col = jnp.minimum(offset[:, None] + cum, jnp.uint32(n)) + t[None, :]
        valid = col < n
        last = col[:, -1]
        more = valid[:, -1] & (last + 1 < n)
        nxt = jnp.minimum(last + 1, jnp.uint32(n))
        pos = jnp.where(valid, col, jnp.uint32(n)).astype(jnp.int32)
        return pos, valid, self._basis(base), nxt, more

    def _visit(self, rows, ok, carry, fn):
        """Fold ``fn(carry, pos, valid, basis)`` over every synapse of ``rows`` (where ``ok``),
        ``cap`` slots per row at a time, until no row continues."""

        def body(state):
            carry, slot0, offset, going = state
            pos, valid, basis, nxt, more = self._gen(rows, slot0, offset)
            carry = fn(carry, pos, valid & going[:, None], basis)
            return carry, slot0 + jnp.uint32(self.cap), nxt, more & going

        state = (carry, jnp.uint32(0), jnp.zeros(rows.shape, jnp.uint32), ok)
        return lax.while_loop(lambda state: jnp.any(state[3]), body, state)[0]

    def _blocks(self, block_fn):
        """``block_fn(rows, ok)`` over every block of ``self.block`` rows (``lax.map``)."""
        B, m = self.block, self.n_rows
        n_blocks = -(-m // B)

        def one(start):
            # no int32 overflow past the last row (m may be 2^31 - 1): rows past it repeat it, masked
            k = jnp.arange(B, dtype=jnp.int32)
            return block_fn(start + jnp.minimum(k, m - 1 - start), k < m - start)

        return lax.map(one, jnp.arange(n_blocks, dtype=jnp.int32) * B)

    def _structure_and_basis(self):
        """Dense synapse indicator ``(m, n)`` and the dense basis values."""
        m, n, B = self.n_rows, self.n_cols, self.block
        n_basis = len(self._basis_names())

        def block(rows, ok):
            init = (jnp.zeros((B, n), bool),) + tuple(jnp.zeros((B, n), self.dtype) for _ in range(n_basis))

            def fn(acc, pos, valid, basis):
                r = jnp.broadcast_to(jnp.arange(B)[:, None], pos.shape)
                p = jnp.where(valid, pos, n)
                ind = acc[0].at[r, p].set(True, mode="drop")
                return (ind,) + tuple(a.at[r, p].set(v, mode="drop") for a, v in zip(acc[1:], basis))

            return self._visit(rows, ok, init, fn)

        out = self._blocks(block)
        out = tuple(x.reshape(-1, n)[:m] for x in out)
        return out[0], out[1:]

    def _basis_names(self):
        return ()

    # -- public extras ----------------------------------------------------------------------
    def structure(self):
        """Synapses per entry, ``(n_rows, n_cols)`` int32 (0 or 1: no repeated synapses)."""
        return _structure_jit(self)

    def to_coo(self):
        """``(row, col, weight)`` of every generated synapse, a zero weight included."""
        row, col = np.nonzero(np.asarray(self.structure()))
        return row, col, np.asarray(self._dense())[row, col]

    # -- products ---------------------------------------------------------------------------
    def _dense(self):
        return _dense_jit(self)

    def _dense_impl(self):
        ind, basis = _structure_and_basis_jit(self)
        w = self._formula(self._param_values(), basis, ind.shape)
        return jnp.where(ind, w, jnp.zeros((), self.dtype))

    def _vecmat(self, S):
        b, n = S.shape[0], self.n_cols
        params = self._param_values()

        def body(rows, ok, out):
            coef = jnp.where(ok[None, :], S[:, rows], 0)  # (b, CHUNK)

            def fn(out, pos, valid, basis):
                w = jnp.where(valid, self._formula(params, basis, pos.shape), 0)
                contrib = coef[:, :, None] * w[None]
                return out.at[:, pos.reshape(-1)].add(contrib.reshape(b, -1), mode="drop")

            return self._visit(rows, ok, out, fn)

        return for_active_chunks(S, jnp.zeros((b, n), self.dtype), body)

    def _matvec(self, S):
        b, n = S.shape[1], self.n_cols
        params = self._param_values()

        def block(rows, ok):
            def fn(acc, pos, valid, basis):
                w = jnp.where(valid, self._formula(params, basis, pos.shape), 0)
                return acc + jnp.einsum("rc,rcb->rb", w, S[jnp.minimum(pos, n - 1)], precision=_HIGHEST)

            return self._visit(rows, ok, jnp.zeros((self.block, b), self.dtype), fn)

        return self._blocks(block).reshape(-1, b)[: self.n_rows]

    # -- CPU kernels (evbench.ops.cpu.kernels: the same scheme, one row at a time) -------------------
    def _kernel_args(self):
        """``seed, table, draw keys, params, meta`` as the kernels take them."""
        from .cpu.jitc import MAX_BLOCK

        dt = self.dtype
        values = list(self._param_values()) + [jnp.zeros((), dt)] * (2 - len(self._params))
        consts = [jnp.asarray(2.0 ** -24, dt), jnp.asarray(-2.0, dt), jnp.asarray(2.0 * np.pi, dt),
                  jnp.asarray(self.conn_prob, dt)]  # p sizes the blocks (any size: the same matrix)
        params = jnp.stack([jnp.asarray(v, dt) for v in values] + consts)
        expected = self.n_cols * self.conn_prob
        block = int(min(MAX_BLOCK, max(8, math.ceil(expected + math.sqrt(expected) + 4.0))))
        meta = np.array([self.n_bits, int(self.overflow), ("scalar", "uniform", "normal").index(self.kind), block],
                        np.int32)
        keys = np.array(_DRAW_KEYS, np.uint32)
        return self.seed.reshape(1), self.table, keys, params, meta

    def _vecmat_cpu(self, S):
        from .cpu.jitc import jitc_vecmat

        return _ffi.call(jitc_vecmat, _ffi.out((S.shape[0], self.n_cols), self.dtype), S, *self._kernel_args(),
                         path=_ffi.path(S, 0, kind=self.kind))

    def _matvec_cpu(self, S):
        from .cpu.jitc import jitc_matvec

        return _ffi.call(jitc_matvec, _ffi.out((self.n_rows, S.shape[1]), self.dtype), *self._kernel_args(), S,
                         path=_ffi.path(S, 1, kind=self.kind))

    def _vecmat_gpu(self, S):
        from .gpu import jitc

        return jitc.jitc_vecmat(self, S)

    def _matvec_gpu(self, S):
        from .gpu import jitc

        return jitc.jitc_matvec(self, S)

    def _vecmat_ad(self, S):
        return _vecmat_cv(self, S)

    def _matvec_ad(self, S):
        return _matvec_cv(self, S)

    # -- gradients w.r.t. the parameters ----------------------------------------------------
    def _vecmat_param_grad(self, S, g):
        """d/dθ of sum(g * (S @ M)), S (b, n_rows), g (b, n_cols)."""
        n = self.n_cols

        def body(rows, ok, acc):
            coef = jnp.where(ok[None, :], S[:, rows], 0)  # (b, R)

            def fn(acc, pos, valid, basis):
                c = jnp.einsum("br,brc->rc", coef, g[:, jnp.minimum(pos, n - 1)], precision=_HIGHEST)
                parts = self._partials(basis, pos.shape)
                return tuple(a + jnp.sum(jnp.where(valid, c * d, 0)) for a, d in zip(acc, parts))

            return self._visit(rows, ok, acc, fn)

        init = tuple(jnp.zeros((), self.dtype) for _ in self._params)
        return for_active_chunks(S, init, body)

    def _matvec_param_grad(self, S, g):
        """d/dθ of sum(g * (M @ S)), S (n_cols, b), g (n_rows, b)."""
        m, n = self.n_rows, self.n_cols

        def block(rows, ok):
            gr = g[jnp.minimum(rows, m - 1)]  # (B, b)

            def fn(acc, pos, valid, basis):
                c = jnp.einsum("rcb,rb->rc", S[jnp.minimum(pos, n - 1)], gr, precision=_HIGHEST)
                parts = self._partials(basis, pos.shape)
                return tuple(a + jnp.sum(jnp.where(valid, c * d, 0)) for a, d in zip(acc, parts))

            return self._visit(rows, ok, tuple(jnp.zeros((), self.dtype) for _ in self._params), fn)

        return tuple(jnp.sum(x) for x in self._blocks(block))

    def _cotangent(self, dparams):
        """A cotangent of this structure: zeros (float0) for the integer leaves."""
        leaves = [np.zeros(np.shape(self.seed), jax.dtypes.float0),
                  np.zeros(np.shape(self.table), jax.dtypes.float0)] + list(dparams)
        return jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(self), leaves)


def _check_jitc_shape(shape):
    shape = ensure_shape("shape", shape)
    for k, size in enumerate(shape):
        if size > _MAX_SIZE:
            raise ValueError(f"shape[{k}] must be <= 2**31 - 1, got {size}")
    return shape


def _check_capacity(capacity):
    if isinstance(capacity, (bool, np.bool_)) or not isinstance(capacity, (numbers.Integral, np.integer)):
        raise TypeError(f"capacity must be an integer, got {capacity!r}")
    if capacity < 1:
        raise ValueError(f"capacity must be >= 1, got {capacity}")
    return int(capacity)


_structure_and_basis_jit = jax.jit(lambda c: c._structure_and_basis())
_structure_jit = jax.jit(lambda c: c._structure_and_basis()[0].astype(jnp.int32))
_dense_jit = jax.jit(lambda c: c._dense_impl())


@jax.custom_vjp
def _vecmat_cv(conn, S):
    return conn._vecmat(S)


def _vecmat_fwd(conn, S):
    return conn._vecmat(S), (conn, S)


def _vecmat_bwd(res, g):
    conn, S = res
    return conn._cotangent(conn._vecmat_param_grad(S, g)), conn._matvec(g.T).T


_vecmat_cv.defvjp(_vecmat_fwd, _vecmat_bwd)


@jax.custom_vjp
def _matvec_cv(conn, S):
    return conn._matvec(S)


def _matvec_fwd(conn, S):
    return conn._matvec(S), (conn, S)


def _matvec_bwd(res, g):
    conn, S = res
    return conn._cotangent(conn._matvec_param_grad(S, g)), conn._vecmat(g.T).T


_matvec_cv.defvjp(_matvec_fwd, _matvec_bwd)


class JITCScalarR(_JITCRow):
    """Just-in-time connectivity with one weight ``weight`` for every synapse, rows generated.

    ``events @ M`` is event-driven: O(active × n_cols × conn_prob).
    """

    kind = "scalar"
    _params = ("weight",)

    def __init__(self, shape, conn_prob, weight, seed, *, dtype="float32", capacity=None):
        self._setup(shape, conn_prob, seed, {"weight": weight}, dtype, capacity)

    @property
    def weight_error(self) -> float:
        return 0.0

    def _formula(self, params, basis, shape):
        return jnp.broadcast_to(params[0], shape)

    def _partials(self, basis, shape):
        return (jnp.ones(shape, self.dtype),)


class JITCUniformR(_JITCRow):
    """Just-in-time connectivity with weights uniform in ``[w_low, w_high)``, rows generated."""

    kind = "uniform"
    _params = ("w_low", "w_high")

    def __init__(self, shape, conn_prob, w_low, w_high, seed, *, dtype="float32", capacity=None):
        self._setup(shape, conn_prob, seed, {"w_low": w_low, "w_high": w_high}, dtype, capacity)

    def _check_params(self, params, dtype):
        lo, hi = params["w_low"], params["w_high"]
        if lo is None or hi is None:
            return
        if lo > hi:
            raise ValueError(f"w_low must be <= w_high, got w_low={lo!r} > w_high={hi!r}")
        with np.errstate(over="ignore"):
            span = np.asarray(hi, dtype=dtype) - np.asarray(lo, dtype=dtype)
        if not np.isfinite(span):
            raise ValueError(f"w_high - w_low must be finite in {np.dtype(dtype).name}, "
                             f"got w_low={lo!r}, w_high={hi!r}")

    @property
    def weight_error(self) -> float:
        lo, hi = float(np.asarray(self.w_low)), float(np.asarray(self.w_high))
        eps = float(np.finfo(self.dtype).eps)
        return (eps + _EPS64) * (abs(lo) + 2.0 * abs(hi - lo))

    def _basis_names(self):
        return ("u",)

    def _basis(self, base):
        return (self._uniform(base, _U1),)

    def _formula(self, params, basis, shape):
        lo, hi = params
        return lo + (hi - lo) * basis[0]

    def _partials(self, basis, shape):
        u = basis[0]
        return (1 - u, u)


class JITCNormalR(_JITCRow):
    """Just-in-time connectivity with weights ``N(w_mean, w_std^2)``, rows generated."""

    kind = "normal"
    _params = ("w_mean", "w_std")

    def __init__(self, shape, conn_prob, w_mean, w_std, seed, *, dtype="float32", capacity=None):
        self._setup(shape, conn_prob, seed, {"w_mean": w_mean, "w_std": w_std}, dtype, capacity)

    def _check_params(self, params, dtype):
        if params["w_std"] is not None and params["w_std"] < 0:
            raise ValueError(f"w_std must be >= 0, got {params['w_std']!r}")

    @property
    def weight_error(self) -> float:
        mean, std = float(np.asarray(self.w_mean)), float(np.asarray(self.w_std))
        eps = float(np.finfo(self.dtype).eps)
        return (eps + _EPS64) * (abs(mean) + 80.0 * std)

    def _basis_names(self):
        return ("z",)

    def _basis(self, base):
        dt = self.dtype
        u1 = self._uniform(base, _U1, plus_one=True)
        u2 = self._uniform(base, _U2)
        r = jnp.sqrt(jnp.asarray(-2.0, dt) * jnp.log(u1))
        return (r * jnp.cos(jnp.asarray(2.0 * np.pi, dt) * u2),)

    def _formula(self, params, basis, shape):
        mean, std = params
        return mean + std * basis[0]

    def _partials(self, basis, shape):
        return (jnp.ones(shape, self.dtype), basis[0])


# -- column-oriented structures: the transposes of row-oriented ones -------------------------------

class _JITCCol(Transposed):
    """``JITCxC(shape=(m, n), seed=s)`` is ``JITCxR(shape=(n, m), seed=s).T``:
    column ``j`` is generated from ``(seed, j)``; ``M @ events`` is event-driven."""

    @property
    def conn_prob(self) -> float:
        return self.base.conn_prob

    @property
    def weight_error(self) -> float:
        return self.base.weight_error

    @property
    def quantisation_error(self) -> float:
        return self.base.quantisation_error

    def reference_spec(self) -> dict:
        spec = self.base.reference_spec()
        spec.update(shape=tuple(self.shape), orientation="C")
        return spec

    def structure(self):
        """Synapses per entry, ``(n_rows, n_cols)`` int32."""
        return self.base.structure().T

    def __repr__(self):
        return (f"{type(self).__name__}(shape={self.shape}, conn_prob={self.conn_prob!r}, "
                f"dtype={np.dtype(self.dtype).name})")


def _reversed(shape):
    return _check_jitc_shape(shape)[::-1]


class JITCScalarC(_JITCCol):
    """Just-in-time connectivity, one weight for every synapse, columns generated."""

    def __init__(self, shape, conn_prob, weight, seed, *, dtype="float32", capacity=None):
        self._set(base=JITCScalarR(_reversed(shape), conn_prob, weight, seed, dtype=dtype, capacity=capacity))


class JITCUniformC(_JITCCol):
    """Just-in-time connectivity, weights uniform in ``[w_low, w_high)``, columns generated."""

    def __init__(self, shape, conn_prob, w_low, w_high, seed, *, dtype="float32", capacity=None):
        self._set(base=JITCUniformR(_reversed(shape), conn_prob, w_low, w_high, seed, dtype=dtype,
                                    capacity=capacity))


class JITCNormalC(_JITCCol):
    """Just-in-time connectivity, weights ``N(w_mean, w_std^2)``, columns generated."""

    def __init__(self, shape, conn_prob, w_mean, w_std, seed, *, dtype="float32", capacity=None):
        self._set(base=JITCNormalR(_reversed(shape), conn_prob, w_mean, w_std, seed, dtype=dtype,
                                   capacity=capacity))
