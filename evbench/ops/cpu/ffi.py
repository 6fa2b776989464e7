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


@functools.lru_cache(maxsize=None)
def _handler(kernel, signature: tuple):
    """The compiled ``cfunc`` handler of ``kernel`` for ``signature``: ``(dtype name, ndim)``
    per input, then per output; ``n_in`` inputs come first (``signature[0]``)."""
    import numba
    from numba import carray, types

    n_in, specs = signature[0], signature[1:]
    env = dict(kernel=kernel, carray=carray, p_i64=_pointer_to("int64"), p_i32=_pointer_to("int32"))
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
    src = _HANDLER_SOURCE.format(unpack="\n".join(lines), names=", ".join(names))
    exec(compile(src, f"<evbench ffi handler {kernel.__name__}>", "exec"), env)
    return numba.cfunc(types.int64(types.CPointer(types.int64)), nopython=True)(env["handler"])


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


def call(kernel, out_shapes, *inputs):
    """``kernel(*inputs, *outputs)`` as an XLA FFI call: ``out_shapes`` are
    ``jax.ShapeDtypeStruct``; every operand has rank >= 1 (scalars are passed as ``(1,)``)."""
    import jax
    import jax.numpy as jnp

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
