"""numba kernels called from XLA on the CPU, through XLA's typed FFI, with no Python per call.

Each kernel is a ``numba.njit`` function ``kernel(*inputs, *outputs)`` on C-contiguous arrays.
:func:`ffi_kernel` compiles, for one signature (dtype and rank of every argument), a
``numba.cfunc`` with XLA's handler signature ``XLA_FFI_Error* handler(XLA_FFI_CallFrame*)``
that reads the buffers out of the call frame itself (pointer arithmetic on the C structs of
``xla/ffi/api/c_api.h``, shipped with jaxlib), calls the kernel and returns NULL (success).
The handler is registered once with ``jax.ffi.register_ffi_target(..., platform="cpu")``; a
product then calls it with ``jax.ffi.ffi_call``. Unlike a ``ctypes`` callback (which holds the
GIL and builds NumPy views for every call), the whole call stays in compiled code.

Kernels must not raise: their inputs are validated before the call (shapes and dtypes by the
structures and :func:`evbench.ops.base._as_events`, indices at construction).

Call-frame layout (64-bit; offsets in 8-byte words), from ``c_api.h``::

    XLA_FFI_CallFrame   0 struct_size  1 extension_start  2 api  3 ctx  4 stage
                        5..9 args (struct_size, extension_start, size, types, args)
                        10..14 rets (the same)   15.. attrs, future
    XLA_FFI_Buffer      0 struct_size  1 extension_start  2 dtype  3 data  4 rank  5 dims
    extension node      0 struct_size  1 type (int32; 1 = metadata)  2 next  3 metadata*
    XLA_FFI_Metadata    int32 words: 6 api major, 7 api minor, 8 traits

XLA first calls a handler with a metadata extension to ask the FFI version it was built for;
the handler answers with jaxlib's own version (read from the header, so that any jaxlib whose
structs have this layout is accepted).
"""
from __future__ import annotations

import contextlib
import functools
import os
import re

import numpy as np

_NUMBA_TYPES = {}
#: the XLA FFI API major version whose struct layout this module mirrors (the API keeps the
#: layout within a major version: structs only grow, at their end, announced by struct_size)
LAYOUT_MAJOR = 0


def api_version() -> tuple[int, int]:
    """``(major, minor)`` of the XLA FFI API of the installed jaxlib (its ``c_api.h``)."""
    import jaxlib

    header = os.path.join(os.path.dirname(jaxlib.__file__), "include", "xla", "ffi", "api", "c_api.h")
    with open(header) as fh:
        text = fh.read()
    major = re.search(r"#define\s+XLA_FFI_API_MAJOR\s+(\d+)", text)
    minor = re.search(r"#define\s+XLA_FFI_API_MINOR\s+(\d+)", text)
    if not (major and minor):
        raise RuntimeError(f"cannot read the XLA FFI API version from {header}")
    return int(major.group(1)), int(minor.group(1))


@functools.lru_cache(maxsize=None)
def _pointer_to(nbtype_name: str):
    """An intrinsic turning an integer address into a typed pointer (``inttoptr``)."""
    from numba import types
    from numba.extending import intrinsic

    nbtype = getattr(types, nbtype_name)

    @intrinsic
    def pointer(typingctx, addr):
        sig = types.CPointer(nbtype)(types.int64)

        def codegen(context, builder, signature, args):
            return builder.inttoptr(args[0], context.get_value_type(signature.return_type))

        return sig, codegen

    return pointer


_HANDLER_SOURCE = """
def handler(frame):
    ext = frame[1]
    while ext != 0:
        node = p_i64(ext)
        if (node[1] & 0xFFFFFFFF) == 1:
            meta = p_i32(node[3])
            meta[6] = MAJOR
            meta[7] = MINOR
            meta[8] = 0
            return 0
        ext = node[2]
    args = p_i64(frame[9])
    rets = p_i64(frame[14])
{unpack}
    kernel({names})
    return 0
"""


_THREADED_SOURCE = """
def worker(block):
    frame = p_i64(block[0])
    args = p_i64(frame[9])
    rets = p_i64(frame[14])
{unpack}
    kernel({names}, block[1], block[2])
    return 0


def run(frame, args, rets):
{unpack}
    work, units = plan({names})
    settings = p_i64(SETTINGS)
    parts = max(1, min(settings[0], units, work // settings[1]))
    if parts <= 1 or WORKER == 0:
        kernel({names}, 0, 1)
        return
    block = np.empty((parts, 3), np.int64)
    tids = np.zeros(parts, np.int64)
    started = np.zeros(parts, np.int64)
    for t in range(1, parts):
        block[t, 0] = address(frame)
        block[t, 1] = t
        block[t, 2] = parts
        started[t] = pthread_create(tids[t:].ctypes.data, 0, WORKER, block[t:].ctypes.data) == 0
    kernel({names}, 0, parts)
    for t in range(1, parts):
        if started[t]:
            pthread_join(tids[t], 0)
        else:
            kernel({names}, t, parts)
    block[0, 0] = 0  # a use after the joins: the threads read their rows of block until then
"""


def threaded(kernel) -> bool:
    """Whether ``kernel`` computes a part of its outputs (last arguments ``part, parts``)."""
    import inspect

    return tuple(inspect.signature(kernel.py_func).parameters)[-2:] == ("part", "parts")


def plan_of(kernel):
    """``<kernel>_parts`` of the kernel's module (how many parts a call is worth), or None."""
    import sys

    return getattr(sys.modules.get(kernel.py_func.__module__), kernel.__name__ + "_parts", None)


@functools.lru_cache(maxsize=None)
def _handler(kernel, signature: tuple):
    """The compiled ``cfunc`` handler of ``kernel`` for ``signature``: ``(dtype name, ndim)``
    per input, then per output; ``n_in`` inputs come first (``signature[0]``). A kernel that
    computes parts of its outputs (:func:`threaded`) runs them on threads
    (:mod:`evbench.ops.cpu.threads`), as many as its plan says the call is worth."""
    import numba
    from numba import carray, types

    from .threads import address_of, pthreads, settings_address

    n_in, specs = signature[0], signature[1:]
    env = dict(kernel=kernel, carray=carray, np=np, p_i64=_pointer_to("int64"), p_i32=_pointer_to("int32"))
    env["MAJOR"], env["MINOR"] = api_version()
    lines, names = [], []
    for k, (dtype, ndim) in enumerate(specs):
        where, slot = ("args", k) if k < n_in else ("rets", k - n_in)
        ptr = f"p_{dtype}"
        env[ptr] = _pointer_to(dtype)
        lines.append(f"    b{k} = p_i64({where}[{slot}])")
        lines.append(f"    d{k} = p_i64(b{k}[5])")
        shape = ", ".join(f"d{k}[{i}]" for i in range(ndim))
        lines.append(f"    a{k} = carray({ptr}(b{k}[3]), ({shape},))")
        names.append(f"a{k}")
    handler_type = types.int64(types.CPointer(types.int64))
    fmt = dict(unpack="\n".join(lines), names=", ".join(names))
    if threaded(kernel):
        plan, pt = plan_of(kernel), pthreads()
        if plan is None:  # one part: a kernel without a plan (a test's mutant) runs on the calling thread
            exec(f"def plan({fmt['names']}):\n    return 0, 1\n", env)
            plan = numba.njit(env["plan"])
        env.update(plan=plan, SETTINGS=settings_address(), address=address_of(), WORKER=0)
        env["pthread_create"], env["pthread_join"] = pt if pt else (None, None)
        exec(compile(_THREADED_SOURCE.format(**fmt), f"<evbench ffi worker {kernel.__name__}>", "exec"), env)
        if pt is not None:
            worker = numba.cfunc(handler_type, nopython=True)(env["worker"])
            env["WORKER"], env["_worker_cfunc"] = worker.address, worker
        run = numba.njit(env["run"])
        src = _HANDLER_SOURCE.format(unpack="", names="").replace("    kernel()\n", "    run(frame, args, rets)\n")
        env["run"] = run
    else:
        src = _HANDLER_SOURCE.format(**fmt)
    exec(compile(src, f"<evbench ffi handler {kernel.__name__}>", "exec"), env)
    fn = numba.cfunc(handler_type, nopython=True)(env["handler"])
    fn._evbench_keep = env  # the worker cfunc must live as long as the handler
    return fn


_REGISTERED: dict[str, object] = {}


def target(kernel, in_avals, out_avals) -> str:
    """The name of the FFI target running ``kernel`` on these operands (compiled and
    registered on first use; kept alive for the life of the process)."""
    import jax

    specs = tuple((np.dtype(a.dtype).name, max(1, len(a.shape))) for a in (*in_avals, *out_avals))
    signature = (len(in_avals),) + specs
    name = "evbench_" + kernel.__name__ + "_" + "_".join(f"{d}{r}" for d, r in specs)
    if name not in _REGISTERED:
        fn = _handler(kernel, signature)
        jax.ffi.register_ffi_target(name, jax.ffi.pycapsule(fn.address), platform="cpu")
        _REGISTERED[name] = fn
    return name


def out(shape, dtype):
    """The shape and dtype of a kernel's output."""
    import jax

    return jax.ShapeDtypeStruct(tuple(shape), dtype)


#: the kernel paths traced while :func:`recording` is active: ``{(kernel name, path), ...}``
_RECORDED: list[set] = []


@contextlib.contextmanager
def recording():
    """``with recording() as seen:`` collects ``(kernel name, path)`` of every FFI call traced
    inside (a product compiled earlier in the process is not traced again: clear JAX's caches
    first), ``path`` as :func:`path` names it."""
    seen: set = set()
    _RECORDED.append(seen)
    try:
        yield seen
    finally:
        _RECORDED.remove(seen)


def path(S, sample_axis: int, weights=None, kind: str | None = None) -> str:
    """The path a kernel takes for events ``S`` (samples along ``sample_axis``): ``vector`` or
    ``batch``, ``bool`` or ``float`` events, and the weights: ``scalar`` or ``per_synapse`` for a
    stored weight array (``weights``), or a generated ``kind``."""
    parts = ["vector" if S.shape[sample_axis] == 1 else "batch", "bool" if S.dtype == np.bool_ else "float"]
    if weights is not None:
        parts.append("scalar" if np.ndim(weights) == 0 else "per_synapse")
    if kind is not None:
        parts.append(kind)
    return ",".join(parts)


def call(kernel, out_shapes, *inputs, path: str = ""):
    """``kernel(*inputs, *outputs)`` as an XLA FFI call: ``out_shapes`` are
    ``jax.ShapeDtypeStruct``; every operand has rank >= 1 (scalars are passed as ``(1,)``).
    ``path`` names the kernel's path for these operands (:func:`path`, :func:`recording`)."""
    import jax
    import jax.numpy as jnp

    for seen in _RECORDED:
        seen.add((kernel.__name__, path))
    inputs = [jnp.reshape(x, (1,)) if jnp.ndim(x) == 0 else x for x in inputs]
    single = not isinstance(out_shapes, (list, tuple))
    outs = [out_shapes] if single else list(out_shapes)
    name = target(kernel, inputs, outs)
    res = jax.ffi.ffi_call(name, outs, vmap_method="sequential")(*inputs)
    return res[0] if single else res


@functools.lru_cache(maxsize=1)
def available() -> tuple[bool, str]:
    """Whether the CPU kernels can run here (numba importable, jaxlib's FFI header found)."""
    try:
        import numba  # noqa: F401

        major, minor = api_version()
    except Exception as exc:  # pragma: no cover - depends on the installation
        return False, f"{type(exc).__name__}: {exc}"
    if major != LAYOUT_MAJOR:  # pragma: no cover - depends on the installation
        return False, (f"jaxlib's XLA FFI API is {major}.{minor}; the call-frame layout mirrored here is that "
                       f"of API major {LAYOUT_MAJOR}: the portable path runs instead")
    return True, ""
