"""Ctrl-C that is never lost.

Python raises ``KeyboardInterrupt`` wherever the main thread is when SIGINT arrives. Inside a
callback from compiled code (numba's LLVM object cache calls back through ctypes while a kernel
compiles) the exception is printed as "ignored" and the work goes on as if nothing happened. The
handler installed by :func:`catching` also records the interrupt, and :func:`checkpoint`, called
between checks and before a command's files are renamed into place, raises it again: an
interrupted command never completes and never commits results.
"""

from __future__ import annotations

import contextlib
import signal
import threading

_hit = False


def _handler(signum, frame):
    global _hit
    _hit = True
    raise KeyboardInterrupt


@contextlib.contextmanager
def catching():
    """Record SIGINT for the duration of the block (main thread only; elsewhere a no-op)."""
    global _hit
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _hit = False
    previous = signal.signal(signal.SIGINT, _handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        _hit = False


def checkpoint() -> None:
    """Raise ``KeyboardInterrupt`` if SIGINT arrived, even where its first raise was swallowed."""
    if _hit:
        raise KeyboardInterrupt
