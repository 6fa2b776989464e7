"""brainevent (0.3) as a backend under test.

Every structure brainevent offers for the catalogue's families, fed the same synapses as
evbench's structure where evbench builds them:

========================  ==============================================================
family                    brainevent
========================  ==============================================================
``dense``                 ``BinaryArray``/``WeightedArray`` ``@`` a ``jax.Array``, or ``Dense``
``csr``, ``fixed_prob``   ``CSR((data, indices, indptr))``
``csc``                   ``CSC((data, indices, indptr))``
``fixed_per_pre/post``    ``FixedNumPerPre/Post((data, indices))``
``jitc_*_r/c``            ``JITC{Scalar,Normal,Uniform}{R,C}((params..., prob, seed))``:
                          brainevent draws its own matrix; the reference is its own
                          ``todense()`` and its statistics are checked separately
``coo``                   unsupported (brainevent removed COO in 0.1.0)
========================  ==============================================================

Variants: ``events`` is how events are handed over: ``binary`` (``BinaryArray``: brainevent
documents that a non-zero entry counts 1, its value unused), ``weighted`` (``WeightedArray``:
the value is multiplied) or ``float`` (a plain array: the float kernels); ``corder`` (the
just-in-time families' generation layout); ``matrix`` for the dense family (a plain array or
brainevent's ``Dense``). Products use brainevent's own ``@`` and ``.T``. Kernels run with
brainevent's default backend for the device (numba on CPU).
"""
from __future__ import annotations

import os

import numpy as np

from ..backend_api import API_VERSION, Backend, Generated, GradSpec, Implementation, Unsupported, matmul_form, oriented, scatter_dense

EVENTS = ("binary", "weighted", "float")
_JITC = {"scalar": "JITCScalar", "normal": "JITCNormal", "uniform": "JITCUniform"}
#: the weight parameters of brainevent's just-in-time classes, in their order
_JITC_PARAMS = {"scalar": ("weight",), "normal": ("w_mean", "w_std"), "uniform": ("w_low", "w_high")}


def modes(family) -> list[dict]:
    if family.storage == "coo":
        return [{}]
    if family.storage == "dense":
        return ([{"matrix": "array", "events": e} for e in EVENTS[:2]]
                + [{"matrix": "Dense", "events": e} for e in EVENTS] + [{"matrix": "array", "events": "binary",
                                                                          "parallel": True}])
    if family.storage == "jitc":
        return [{"events": e, "corder": c} for c in (False, True) for e in EVENTS]
    return [{"events": e} for e in EVENTS] + [{"events": "binary", "parallel": True}]


def parallel_mode(family, product=None) -> dict | None:
    """The timed mode with brainevent's numba parallel mode on, or None where brainevent has no
    parallel kernels for the family (just-in-time, COO)."""
    mode = dict(timed_mode(BACKEND, family, product), parallel=True)
    return mode if mode in modes(family) else None


def _distinct_targets():
    """Make brainevent 0.3 name a numba kernel's FFI target after its ``parallel`` option too
    (its name is a fingerprint of the kernel's Python code only: a serial and a parallel kernel
    of one source would otherwise share a target, the first registered serving both)."""
    from brainevent._op import numba_ffi

    fingerprint = numba_ffi.kernel_content_fingerprint
    if getattr(fingerprint, "evbench", False):
        return

    def with_options(kernel, extra=()):
        parallel = bool(getattr(kernel, "targetoptions", {}).get("parallel", False))
        return fingerprint(kernel, extra=tuple(extra) + (("numba parallel", parallel),))

    with_options.evbench = True
    numba_ffi.kernel_content_fingerprint = with_options


def set_parallel(parallel: bool):
    """brainevent's numba parallel setting for the kernels it generates next (at the lowering
    that follows this trace)."""
    import brainevent
    import numba

    _distinct_targets()
    if parallel and numba.config.THREADING_LAYER == "default" and "NUMBA_THREADING_LAYER" not in os.environ:
        numba.config.THREADING_LAYER = "workqueue"  # not OpenMP: it crashes NEST in the same process
    brainevent.config.set_numba_parallel(bool(parallel))


def timed_mode(backend, family, product=None) -> dict:
    """brainevent's event-driven form for spikes: ``BinaryArray`` events; for a row-generated
    just-in-time matrix multiplied by events on its rows (``events @ M``), ``corder=True``, the
    layout in which brainevent visits the active rows only (with the default it visits every row)."""
    corder = family.storage == "jitc" and family.orientation == "rows" and (
        product is not None and product.input_axis == "rows")
    binary = [m for m in modes(family) if m.get("events", "binary") == "binary"]
    return next((m for m in binary if m.get("corder", corder) == corder), binary[0] if binary else modes(family)[0])


def _binary(e):
    import brainevent as be
    import jax.numpy as jnp

    return be.BinaryArray(jnp.asarray(e))


def _weighted(e):
    import brainevent as be
    import jax.numpy as jnp

    return be.WeightedArray(jnp.asarray(e))


def _plain(e):
    import jax.numpy as jnp

    return jnp.asarray(e)


_WRAP = {"binary": _binary, "weighted": _weighted, "float": _plain}


def _jitc_params(family, dtype):
    import jax.numpy as jnp

    from ..catalogue import JITC_WEIGHTS

    kind = family.weight_kind
    w = JITC_WEIGHTS[kind]
    return kind, tuple(jnp.asarray(w[n], dtype) for n in _JITC_PARAMS[kind])


def _jitc_builder(family, shape, conn_prob, seed, corder):
    import brainevent as be

    cls = getattr(be, _JITC[family.weight_kind] + ("R" if family.orientation == "rows" else "C"))

    def build(params):
        return cls((*params, float(conn_prob), int(seed)), shape=tuple(shape), corder=corder)

    return build


def _stored(family, conn):
    """``(build(data), data, positions())``: brainevent's structure holding evbench's synapses,
    rebuilt from its data (for gradients), and a function giving the dense position ``(row,
    col)`` of each datum (computed on demand: O(synapses) memory)."""
    import brainevent as be

    if family.storage not in ("csr", "fixed"):
        raise Unsupported(f"family {family.name}")
    base = conn.base if family.orientation == "cols" else conn  # the stored (row-major) structure
    if family.storage == "csr":
        indptr, indices = np.asarray(base.indptr), np.asarray(base.indices)
        cls = be.CSR if family.orientation == "rows" else be.CSC

        def build(d):
            return cls((d, indices, indptr), shape=conn.shape)

        def major_minor():
            return np.repeat(np.arange(base.n_rows), np.diff(indptr)), indices.astype(np.int64)
    else:
        idx = np.asarray(base.indices)
        cls = be.FixedNumPerPre if family.orientation == "rows" else be.FixedNumPerPost

        def build(d):
            return cls((d, idx), shape=conn.shape)

        def major_minor():
            return np.repeat(np.arange(base.n_rows), idx.shape[1]), idx.reshape(-1)

    def positions():
        major, minor = major_minor()
        return (major, minor) if family.orientation == "rows" else (minor, major)

    return build, base.weights, positions


def counterpart(family, conn, corder=False):
    """brainevent's structure of ``conn``: the same stored synapses and weights, or for a
    just-in-time family brainevent's own matrix of the same law (its generator draws its own),
    as :func:`prepare` builds it; for tools that time brainevent outside the harness."""
    if family.storage == "dense":
        import jax.numpy as jnp

        return jnp.asarray(conn.weights)
    if family.storage == "jitc":
        _, params = _jitc_params(family, conn.dtype)
        spec = conn.reference_spec()
        return _jitc_builder(family, conn.shape, spec["conn_prob"], spec["seed"], corder)(params)
    build, weights, _ = _stored(family, conn)
    return build(weights)


def prepare(family, conn, product, request, events="float", corder=False, matrix="array", parallel=False):
    import jax.numpy as jnp

    if parallel and family.storage not in ("dense", "csr", "fixed"):
        raise Unsupported(f"brainevent 0.3 has no parallel kernels for {family.name}")
    if family.storage == "coo":
        raise Unsupported("brainevent 0.3 has no COO format (removed in 0.1.0; use CSR/CSC)")
    fn = matmul_form(product, _WRAP[events])
    semantics = "nonzero" if events == "binary" else "value"
    reference = None
    note = f"{events} events" + (", numba parallel" if parallel else "")
    if family.storage == "dense":
        W = jnp.asarray(conn.weights)
        if matrix == "Dense":
            import brainevent as be

            build = be.Dense
        else:
            build = (lambda d: d)
        S, params, dense_of = build(W), W, (lambda d: d)
        note += f", weights as {'brainevent.Dense' if matrix == 'Dense' else 'a jax.Array'}"
    elif family.storage == "jitc":
        kind, params = _jitc_params(family, conn.dtype)
        spec = conn.reference_spec()
        build = _jitc_builder(family, conn.shape, spec["conn_prob"], spec["seed"], corder)
        S = build(params)
        dense_of = (lambda p: build(p).todense())
        # materialised only when a check needs it: benchmarks never do, and todense()
        # compiles a kernel of its own in every fresh process
        reference = (lambda: np.asarray(S.todense(), dtype=np.float64))
        note += f", corder={corder}; brainevent draws its own matrix (reference: its todense())"
    else:
        build, params, positions = _stored(family, conn)
        S = build(params)
        row, col = positions()
        dense_of = scatter_dense(jnp.asarray(row), jnp.asarray(col), conn.shape)

    def own_dense():
        M = oriented(S, product)
        return np.asarray(M if isinstance(M, jnp.ndarray) else M.todense())

    def apply(p, e):
        # brainevent's structures keep their index arrays (and a workspace cache that their
        # first call fills in) as pytree metadata: handed to jax.jit as an argument they cannot
        # be compared as cache keys. So the structure is rebuilt from its data inside the
        # compiled function, its index arrays constants of it (as in a user's jitted step)
        set_parallel(parallel)  # read by brainevent when JAX lowers what this trace builds
        return fn(build(p), e)

    return Implementation(
        apply=apply, operand=params, holds=S, reference=reference, note=note, semantics=semantics,
        own_dense=own_dense, grad=GradSpec(params, apply, dense_of, events=events != "binary"),
    )


def generate(family, shape, conn_prob, seed, dtype, corder=False, **_):
    """brainevent's own just-in-time matrix, with the law its docstrings state:
    ``W[i, j] = w * B[i, j]``, ``B[i, j] ~ Bernoulli(p)``."""
    if family.storage != "jitc":
        raise Unsupported(f"brainevent does not draw {family.name} connectivity itself")
    kind, params = _jitc_params(family, dtype)
    dense = np.asarray(_jitc_builder(family, shape, conn_prob, seed, corder)(params).todense(), dtype=np.float64)
    counts = (dense != 0).astype(np.float64)
    return Generated(counts, dense[dense != 0], "bernoulli", (kind, *(float(p) for p in params)))


BACKEND = Backend(
    "brainevent", "brainevent 0.3: BinaryArray/WeightedArray with dense weights, CSR, CSC, FixedNumPerPre/Post, "
    "JITC*R/C", ("brainevent",), prepare, modes=modes, generate=generate, matrix_modes=("corder",),
    timed_mode=timed_mode, api=API_VERSION)
