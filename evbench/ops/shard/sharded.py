"""Event-driven products of a structure partitioned over a 1-D device mesh (``shard_map``).

``shard(M, mesh)`` cuts ``M`` (shape ``(n_rows, n_cols)``: presynaptic × postsynaptic) into
equal blocks along one axis, one block per device (:mod:`.blocks`), and returns a
:class:`Sharded`: ``events @ S`` and ``S @ events``, vectors and batches, ``S.T``, under ``jit``
and ``vmap``. Events and outputs are sharded along their neuron axis over the same mesh, as
the state of a distributed network is: device ``d`` owns neurons ``d n / D .. (d + 1) n / D``
of each population, so both axes must divide by the number of devices ``D``.

Communication, chosen per orientation. A product whose *input* axis is the partitioned one
runs the device's block on its own events and **reduce-scatters** the partial outputs; one
whose *output* axis is partitioned **all-gathers** the events and computes its own outputs:

==================  ===========================================  ===========================================
M partitioned by     ``events @ M`` (input: rows)                 ``M @ events`` (input: columns)
==================  ===========================================  ===========================================
rows (pre)           local rows → partial ``(b, n_cols)`` →       all-gather events ``(n_cols, b)`` →
                     reduce-scatter: ``(D-1)/D · b n_cols``       local rows: ``(D-1)/D · n_cols b`` event
                     output words per device                      words per device
cols (post)          all-gather events ``(b, n_rows)`` →          local columns → partial ``(n_rows, b)`` →
                     local columns                                reduce-scatter
==================  ===========================================  ===========================================

Rows are the natural axis of CSR, fixed number per pre and the row-generated just-in-time
families; columns of CSC, fixed number per post and the column-generated ones (each is the
transpose of a row-stored structure). Dense weights and CSR/CSC take either axis: a CSR cut
by columns gives each device the synapses onto its own (postsynaptic) neurons, still stored
by presynaptic row, so ``events @ M`` all-gathers the events and stays event-driven on every
device, as simulators that send spikes to the owners of their targets do. A generated
structure cannot be cut across its generation axis (a row is generated as a whole), nor a
fixed-number one (its blocks would not hold a fixed number). On one device a product of the
natural axis costs O(active inputs of that device), then a reduce-scatter.

Summation order (``reduction``): an output of a reduce-scatter product is the sum over devices
of each device's partial sum (itself summed by the block's own kernel, in increasing input
index). ``"xla"`` (default) is ``lax.psum_scatter``: on the CPU XLA adds the partials left to
right in device order, ``((p_0 + p_1) + p_2) + ...`` (checked by ``tests/test_sharded.py``);
other backends' collectives (NCCL's rings) choose their own order, deterministic for a fixed
topology. ``"ordered"`` moves the partials with ``all_to_all`` (the same bytes) and adds them
in device order on every backend. Either way the result is bitwise repeatable, and within the
error bound of :mod:`evbench.tolerance` (which holds for any order) of the unsharded product,
from which it may differ in the last bits. All-gather products compute each output as the
unsharded product does.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from ..base import Connectivity, Transposed, _as_events, nan_where_not_finite
from . import blocks as _blocks

REDUCTIONS = ("xla", "ordered")
AXES = ("rows", "cols")


def _other(axis: str) -> str:
    return "cols" if axis == "rows" else "rows"


def natural_axis(conn) -> str:
    """The axis a structure is partitioned along by default: the one it is stored (or
    generated) along; rows for dense weights."""
    return "cols" if isinstance(conn, Transposed) else "rows"


def shard(conn, mesh=None, *, axis: str | None = None, reduction: str = "xla") -> "Sharded":
    """``conn`` partitioned over the 1-D ``mesh`` (default: every device) along ``axis``
    ("rows" or "cols"; default :func:`natural_axis`). ``ValueError`` for an axis the structure
    cannot be cut along, a mesh that does not divide both axes, or an unknown ``reduction``;
    ``TypeError`` for a structure that cannot be sharded (COO: unordered, nothing to cut)."""
    from .devices import device_mesh

    if isinstance(conn, Sharded):
        raise TypeError("conn is sharded already")
    if not isinstance(conn, Connectivity):
        raise TypeError(f"conn must be an evbench structure, got {type(conn).__name__}")
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    mesh = device_mesh() if mesh is None else mesh
    if len(mesh.axis_names) != 1:
        raise ValueError(f"mesh must be 1-D, got axes {tuple(mesh.axis_names)}")
    transposed = isinstance(conn, Transposed)
    base = conn.base if transposed else conn
    allowed = _blocks.partitions(base)
    name = type(conn).__name__
    if not allowed:
        raise TypeError(f"a {name} cannot be sharded: only dense, CSR/CSC, fixed-number and just-in-time "
                        "structures are cut into blocks (a COO list is unordered: no block of rows or columns)")
    axis = natural_axis(conn) if axis is None else axis
    if axis not in AXES:
        raise ValueError(f"axis must be one of {AXES}, got {axis!r}")
    part = _other(axis) if transposed else axis
    if part not in allowed:
        can = [_other(a) if transposed else a for a in allowed]
        raise ValueError(f"axis={axis!r}: a {name} can only be partitioned along {' or '.join(can)} "
                         f"(the axis it is {'generated' if isinstance(base, _blocks.GENERATED) else 'stored'} along)")
    D = int(mesh.size)
    for k, label in enumerate(("n_rows", "n_cols")):
        if conn.shape[k] % D:
            raise ValueError(f"{label}={conn.shape[k]} is not divisible by the mesh's {D} devices: events and "
                             "outputs are sharded in equal blocks along both axes")
    b = _blocks.split(base, part, D)
    sharding = NamedSharding(mesh, P(mesh.axis_names[0]))
    leaves = tuple(jax.device_put(x, sharding) for x in b.leaves)
    return Sharded(leaves, b.treedef, mesh, part=part, kind=b.kind, dummy=b.dummy, base_shape=tuple(base.shape),
                   dtype=np.dtype(base.dtype).name, transposed=transposed, reduction=reduction)


class Sharded:
    """A structure partitioned over a 1-D mesh (see the module docstring); a JAX pytree whose
    leaves are the stacked blocks' arrays, each sharded along its leading (device) axis."""

    __array_ufunc__ = None  # ``ndarray @ S`` reaches __rmatmul__

    def __init__(self, leaves, treedef, mesh, *, part, kind, dummy, base_shape, dtype, transposed, reduction):
        self.leaves, self.treedef, self.mesh = tuple(leaves), treedef, mesh
        self.part, self.kind, self.dummy = part, kind, dummy
        self.base_shape, self.dtype_name = tuple(base_shape), dtype
        self.transposed, self.reduction = transposed, reduction

    def tree_flatten(self):
        aux = (self.treedef, self.mesh, self.part, self.kind, self.dummy, self.base_shape, self.dtype_name,
               self.transposed, self.reduction)
        return self.leaves, aux

    @classmethod
    def tree_unflatten(cls, aux, leaves):
        treedef, mesh, part, kind, dummy, base_shape, dtype, transposed, reduction = aux
        return cls(leaves, treedef, mesh, part=part, kind=kind, dummy=dummy, base_shape=base_shape, dtype=dtype,
                   transposed=transposed, reduction=reduction)

    # -- description ------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int]:
        return self.base_shape[::-1] if self.transposed else self.base_shape

    @property
    def dtype(self):
        return np.dtype(self.dtype_name)

    @property
    def n_devices(self) -> int:
        return int(self.mesh.size)

    @property
    def axis_name(self) -> str:
        return self.mesh.axis_names[0]

    @property
    def axis(self) -> str:
        """The partitioned axis of the matrix this represents: "rows" or "cols"."""
        return _other(self.part) if self.transposed else self.part

    @property
    def T(self) -> "Sharded":
        return Sharded(self.leaves, self.treedef, self.mesh, part=self.part, kind=self.kind, dummy=self.dummy,
                       base_shape=self.base_shape, dtype=self.dtype_name, transposed=not self.transposed,
                       reduction=self.reduction)

    @property
    def nbytes(self) -> int:
        """Bytes held over every device together (one block each)."""
        return int(sum(x.nbytes for x in self.leaves))

    def communication(self, product: str) -> str:
        """"reduce-scatter" or "all-gather": what ``product`` ("vecmat": ``events @ S``,
        "matvec": ``S @ events``) moves between devices."""
        return "reduce-scatter" if _input_partitioned(self, _base_product(self, product)) else "all-gather"

    def communication_bytes(self, product: str, batch: int = 1, event_dtype="bool") -> int:
        """Bytes one device receives in ``product`` (ring algorithms): ``(D-1)/D`` of the full
        events (all-gather, in ``event_dtype``) or of the partial outputs (reduce-scatter, in
        the weight dtype)."""
        D = self.n_devices
        if self.communication(product) == "all-gather":
            n_in = self.shape[0] if product == "vecmat" else self.shape[1]
            return (D - 1) * (n_in // D) * batch * np.dtype(event_dtype).itemsize
        n_out = self.shape[1] if product == "vecmat" else self.shape[0]
        return (D - 1) * (n_out // D) * batch * self.dtype.itemsize

    def __repr__(self):
        return (f"Sharded(shape={self.shape}, dtype={self.dtype_name}, axis={self.axis!r}, "
                f"n_devices={self.n_devices}, block={self.treedef})")

    # -- products ---------------------------------------------------------------------------
    def vecmat(self, events):
        """``events @ S``: ``(n_rows,)`` -> ``(n_cols,)``, or ``(b, n_rows)`` -> ``(b, n_cols)``."""
        S = _as_events(events, self.dtype, self.shape[0], "events @ M", batch_axis=0)
        if S.ndim == 2 and S.shape[0] == 0:  # an empty batch: nothing to multiply (as unsharded)
            return jnp.zeros((0, self.shape[1]), self.dtype)
        out = _vecmat_jit(self, S if S.ndim == 2 else S[None, :])
        return out if S.ndim == 2 else out[0]

    def matvec(self, events):
        """``S @ events``: ``(n_cols,)`` -> ``(n_rows,)``, or ``(n_cols, b)`` -> ``(n_rows, b)``."""
        S = _as_events(events, self.dtype, self.shape[1], "M @ events", batch_axis=1)
        if S.ndim == 2 and S.shape[1] == 0:  # an empty batch: nothing to multiply (as unsharded)
            return jnp.zeros((self.shape[0], 0), self.dtype)
        out = _matvec_jit(self, S if S.ndim == 2 else S[:, None])
        return out if S.ndim == 2 else out[:, 0]

    def __rmatmul__(self, events):
        return self.vecmat(events)

    def __matmul__(self, events):
        return self.matvec(events)


jax.tree_util.register_pytree_node_class(Sharded)


def _base_product(sh: Sharded, product: str) -> str:
    """The product of the stored (untransposed) structure that computes ``product``."""
    if product not in ("vecmat", "matvec"):
        raise ValueError(f"product must be 'vecmat' or 'matvec', got {product!r}")
    return {"vecmat": "matvec", "matvec": "vecmat"}[product] if sh.transposed else product


def _input_partitioned(sh: Sharded, which: str) -> bool:
    """Whether the input axis of the stored structure's product ``which`` is the cut one."""
    return (which == "vecmat") == (sh.part == "rows")


def _spec(sh: Sharded, which: str):
    """Events and outputs of the stored structure's product: ``(b, n)`` sharded along ``n``
    for vecmat, ``(n, b)`` for matvec."""
    return P(None, sh.axis_name) if which == "vecmat" else P(sh.axis_name, None)


def _vecmat_2d(sh, S):
    return _run(sh, S, "vecmat") if not sh.transposed else _run(sh, S.T, "matvec").T


def _matvec_2d(sh, S):
    return _run(sh, S, "matvec") if not sh.transposed else _run(sh, S.T, "vecmat").T


_vecmat_jit = jax.jit(_vecmat_2d)
_matvec_jit = jax.jit(_matvec_2d)


def _run(sh: Sharded, S, which: str):
    """The stored structure's product ``which`` on 2-D events, over the mesh."""
    ax, spec = sh.axis_name, _spec(sh, which)
    gather_axis = 1 if which == "vecmat" else 0

    def body(leaves, s):
        block = sh.treedef.unflatten([x[0] for x in leaves])
        if _input_partitioned(sh, which):
            return _reduce(_local(sh, block, s, which), sh, gather_axis)
        return _local(sh, block, lax.all_gather(s, ax, axis=gather_axis, tiled=True), which)

    leaf_specs = tuple(P(ax) for _ in sh.leaves)
    return _shard_map(body, sh.mesh, (leaf_specs, spec), spec)(sh.leaves, S)


def _shard_map(fn, mesh, in_specs, out_specs):
    # the blocks' products carry loops whose carries start replicated (zeros): per-device
    # values are not tracked (check_vma=False); every output is per device by construction
    return jax.shard_map(fn, mesh=mesh, in_specs=in_specs, out_specs=out_specs, check_vma=False)


def _local(sh: Sharded, block, s, which: str):
    """One device's product: its block with its own events (input cut: a partial output of
    full length) or with every event (output cut: its own outputs)."""
    if sh.kind == "generated":
        idx = lax.axis_index(sh.axis_name)
        m = sh.base_shape[0]
        R = m // sh.n_devices
        if which == "vecmat":  # the device's rows, as rows of the whole matrix (the others zero)
            full = jnp.zeros((s.shape[0], m), s.dtype)
            return block.vecmat(lax.dynamic_update_slice(full, s, (jnp.int32(0), (idx * R).astype(jnp.int32))))
        return generated_rows_matvec(block, s, (idx * R).astype(jnp.int32), R)
    if which == "vecmat":  # (the padding synapses' column, last, is dropped)
        out = block.vecmat(s)
        return out[:, :-1] if sh.dummy else out
    if sh.dummy:  # the padding synapses' column reads a zero event
        s = jnp.concatenate([s, jnp.zeros((1, s.shape[1]), s.dtype)])
    return block.matvec(s)


def _reduce(partial, sh: Sharded, axis: int):
    """Sum the devices' partial outputs, each device keeping its block of ``axis``."""
    ax, D = sh.axis_name, sh.n_devices
    if sh.reduction == "xla":
        return lax.psum_scatter(partial, ax, scatter_dimension=axis, tiled=True)
    shape = list(partial.shape)
    parts = partial.reshape(shape[:axis] + [D, shape[axis] // D] + shape[axis + 1:])
    # received[k]: device k's partial of this device's block, then added in device order
    received = lax.all_to_all(parts, ax, split_axis=axis, concat_axis=0, tiled=False)
    return functools.reduce(lambda acc, k: acc + received[k], range(1, D), received[0])


def generated_rows_matvec(conn, S, row0, n_local: int):
    """``M[row0 : row0 + n_local] @ S`` for a row-generated just-in-time structure ``conn``
    (``S (n_cols, b)``): the structure's own generation (``_visit``, ``_formula``) over global
    row indices, in blocks of rows as its own ``M @ events`` does. O(n_local n_cols p)."""
    b, n = S.shape[1], conn.n_cols
    S = S.astype(conn.dtype)
    params = conn._param_values()
    B = max(1, min(conn.block, n_local))

    def one(start):
        local = start + jnp.arange(B, dtype=jnp.int32)
        ok = local < n_local
        rows = row0 + jnp.minimum(local, n_local - 1)

        def fn(acc, pos, valid, basis):
            w = jnp.where(valid, conn._formula(params, basis, pos.shape), 0)
            return acc + jnp.einsum("rc,rcb->rb", w, S[jnp.minimum(pos, n - 1)])

        return conn._visit(rows, ok, jnp.zeros((B, b), conn.dtype), fn)

    out = lax.map(one, jnp.arange(-(-n_local // B), dtype=jnp.int32) * B)
    # (no -1: b may be 0); a sample with a non-finite event is NaN, as every product's
    return nan_where_not_finite(out.reshape(out.shape[0] * B, b)[:n_local], S, 1)


# -- the phases apart, for the benchmarks ------------------------------------------------------

def phases(sh: Sharded, product: str):
    """``(local, communicate)``: the two halves of ``product`` ("vecmat" or "matvec") as
    separate jitted functions, so that a benchmark can time each alone. Events are 2-D, laid
    out as ``product`` takes them.

    * ``local(sh, events)``: every device's block product, no communication. For an
      all-gather product ``events`` are the full events, replicated on every device, and the
      result is the product's; for a reduce-scatter product the sharded events, and the
      result the devices' partial outputs stacked (in the stored structure's layout).
    * ``communicate(x)``: the collective alone: the reduce-scatter of ``local``'s partial
      outputs (the product's result), or the all-gather of the sharded events (every
      device's copy of them, stacked).
    """
    which = _base_product(sh, product)
    ax, spec = sh.axis_name, _spec(sh, which)
    axis = 1 if which == "vecmat" else 0
    cut = _input_partitioned(sh, which)
    stacked = P(ax, None, None)

    def local_body(leaves, s):
        out = _local(sh, sh.treedef.unflatten([x[0] for x in leaves]), s, which)
        return out[None] if cut else out

    leaf_specs = tuple(P(ax) for _ in sh.leaves)
    local = _shard_map(local_body, sh.mesh, (leaf_specs, spec if cut else P()), stacked if cut else spec)
    if cut:
        comm = _shard_map(lambda x: _reduce(x[0], sh, axis), sh.mesh, (stacked,), spec)
    else:
        comm = _shard_map(lambda s: lax.all_gather(s, ax, axis=axis, tiled=True)[None], sh.mesh, (spec,), stacked)

    def base(S):  # the stored structure's layout (and back: a transpose is its own inverse)
        return S.T if sh.transposed else S

    def local_fn(s, S):
        out = local(s.leaves, base(S))
        return out if cut else base(out)

    def comm_fn(x):
        if cut:
            return base(comm(x))
        gathered = comm(base(x))
        return jnp.swapaxes(gathered, 1, 2) if sh.transposed else gathered

    return jax.jit(local_fn), jax.jit(comm_fn)
