"""The threads of the CPU kernels: how many, and how an FFI handler starts them.

A kernel that splits its work takes two more arguments, ``part`` and ``parts``, and computes
part ``part`` of ``parts``: a share of the *outputs* (columns of ``events @ W``, rows of
``M @ events``, samples of a batch), never a share of the terms of one output sum, so every
output is summed in the same order whatever the number of parts: the result is bitwise the
same for any number of threads (``tests/test_threads.py``). Its module names, beside it, a
*plan* ``<kernel>_parts(*operands) -> (work, units)``: the synapses or elements this call
visits and the outputs or samples there are to share. The call is split into at most ``units``
parts of at least :data:`MIN_WORK` each (starting a thread costs 15-50 µs here), and at most
the thread count.

The FFI handler (:mod:`.ffi`) runs part 0 on XLA's calling thread and parts 1 .. parts - 1 on
POSIX threads it starts (``pthread_create`` from compiled code: no Python, no GIL) and joins
before it returns. Not numba's ``parallel=True``: its OpenMP layer crashed NEST's in the same
process, its workqueue layer is not safe for concurrent callers, and its TBB layer needs a
package evbench does not depend on. A part whose thread cannot be started runs on the calling
thread after its own.

The number of threads is ``EVBENCH_THREADS`` (read at import; default: the cores this process
may run on), changed at run time by :func:`set_threads` or ``with threads(n):`` (read at every
call: nothing is retraced or recompiled). The column index's build (:mod:`evbench.ops.colindex`)
uses the same number.
"""
from __future__ import annotations

import contextlib
import ctypes
import functools
import os

import numpy as np

_ENV = "EVBENCH_THREADS"
#: at least this much work (synapses or matrix elements visited) per part before a call is split
MIN_WORK = 1 << 18


def cores() -> int:
    """The CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _from_environment() -> int:
    value = os.environ.get(_ENV, "").strip()
    if not value:
        return cores()
    try:
        n = int(value)
    except ValueError:
        raise ValueError(f"{_ENV} must be a positive integer, got {value!r}") from None
    if n < 1:
        raise ValueError(f"{_ENV} must be a positive integer, got {value!r}")
    return n


#: what the handlers read at every call (its address is compiled into them): the thread count
#: and the least work (synapses or elements visited) per part
_SETTINGS = np.array([_from_environment(), MIN_WORK], np.int64)
_THREADS = _SETTINGS[:1]


def get_threads() -> int:
    """The most threads a kernel call uses."""
    return int(_THREADS[0])


@contextlib.contextmanager
def min_work(work: int):
    """``with min_work(w):`` split calls from ``w`` units of work per part (tests: small
    structures on several threads)."""
    old = int(_SETTINGS[1])
    _SETTINGS[1] = max(1, int(work))
    try:
        yield
    finally:
        _SETTINGS[1] = old


def set_threads(n: int) -> None:
    """Use at most ``n`` threads per kernel call from now on (1: every kernel on the calling
    thread); the results do not change, bitwise."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"the thread count must be a positive integer, got {n!r}")
    _THREADS[0] = int(n)


@contextlib.contextmanager
def threads(n: int):
    """``with threads(n):`` kernel calls inside use at most ``n`` threads."""
    old = get_threads()
    set_threads(n)
    try:
        yield
    finally:
        set_threads(old)


def settings_address() -> int:
    return int(_SETTINGS.ctypes.data)


@functools.lru_cache(maxsize=1)
def pthreads():
    """``(pthread_create, pthread_join)`` as ctypes functions numba can call (pointers passed as
    64-bit integers), or None where the C library has none."""
    try:
        libc = ctypes.CDLL(None)
        create, join = libc.pthread_create, libc.pthread_join
    except (OSError, AttributeError):  # pragma: no cover - not a POSIX system
        return None
    create.argtypes = (ctypes.c_int64, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64)
    create.restype = ctypes.c_int32
    join.argtypes = (ctypes.c_int64, ctypes.c_int64)
    join.restype = ctypes.c_int32
    return create, join


@functools.lru_cache(maxsize=1)
def address_of():
    """An intrinsic giving the address of a typed pointer as an int64 (``ptrtoint``)."""
    from numba import types
    from numba.extending import intrinsic

    @intrinsic
    def address(typingctx, ptr):
        sig = types.int64(ptr)

        def codegen(context, builder, signature, args):
            return builder.ptrtoint(args[0], context.get_value_type(types.int64))

        return sig, codegen

    return address
