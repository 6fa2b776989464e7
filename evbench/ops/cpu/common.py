"""What the CPU kernels share: numba's compile options, the batch grouping, event lists."""
from __future__ import annotations

import numba as nb
import numpy as np

_jit = nb.njit(cache=True, nogil=True, boundscheck=False, error_model="numpy")
_inline = nb.njit(cache=True, nogil=True, boundscheck=False, error_model="numpy", inline="always")

#: output elements of the samples handled together by the ``*_vecmat`` kernels: a batch is
#: processed in groups of samples whose outputs fit in the L2 cache (512 KB of float32), so a
#: scatter into a long output row does not miss the cache once per synapse
_GROUP_ELEMENTS = 1 << 17


@_inline
def _group(b, n_out):
    """Samples per group for outputs of length ``n_out``: at least 1, at most ``b``."""
    return max(1, min(b, _GROUP_ELEMENTS // max(n_out, 1)))


@_jit
def _event_lists(A):
    """The non-zero entries of ``A (r, c)`` listed row by row, CSR-like: row ``i`` has columns
    ``idx[ptr[i]:ptr[i + 1]]`` (increasing) with values ``vals[...]``. Two passes: count, fill."""
    r, c = A.shape
    ptr = np.zeros(r + 1, np.int64)
    for i in range(r):
        for j in range(c):
            if A[i, j] != 0:
                ptr[i + 1] += 1
    for i in range(r):
        ptr[i + 1] += ptr[i]
    idx = np.empty(ptr[r], np.int64)
    vals = np.empty(ptr[r], A.dtype)
    for i in range(r):
        q = ptr[i]
        for j in range(c):
            if A[i, j] != 0:
                idx[q] = j
                vals[q] = A[i, j]
                q += 1
    return ptr, idx, vals



def _prefetch_name():
    import llvmlite.binding as llvm

    # opaque pointers from LLVM 15 on: the intrinsic's name mangles the pointer type
    return "llvm.prefetch.p0" if llvm.llvm_version_info[0] >= 15 else "llvm.prefetch.p0i8"


@nb.extending.intrinsic
def _prefetch(typingctx, arr, i):
    """A hint to load element ``i`` of the 1-D array ``arr`` into the cache (no effect on the
    result; an address past the end is harmless: a prefetch never faults)."""
    from llvmlite import ir
    from numba import types
    from numba.core import cgutils

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        i8p = ir.IntType(8).as_pointer()
        ptr = builder.bitcast(builder.gep(ary.data, [args[1]]), i8p)
        i32 = ir.IntType(32)
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]),
                                            _prefetch_name())
        builder.call(fn, [ptr, ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)])  # read, keep, data
        return context.get_dummy_value()

    return types.void(arr, i), codegen


#: active inputs listed at a time by :func:`_active_batch`
ACTIVE_BATCH = 64


@_inline
def _active_batch(v, i, buf):
    """The next active inputs of the vector ``v`` from index ``i`` on, into ``buf`` (at most its
    length): returns their count and the index to continue from. Listing a few ahead lets a
    kernel prefetch the next input's data while it works on the current one."""
    m = v.shape[0]
    cnt = 0
    while i < m and cnt < buf.shape[0]:
        if v[i] != 0:
            buf[cnt] = i
            cnt += 1
        i += 1
    return cnt, i
