"""The CPU implementation of the native products: numba kernels (:mod:`.kernels`) called from
XLA through its FFI (:mod:`.ffi`), on as many threads as :mod:`.threads` allows."""
from .threads import get_threads, set_threads, threads  # noqa: F401


def thresholds() -> dict:
    """Where the kernels change path, so that validation can draw cases on both sides:
    ``group_elements`` (a batch is processed in groups of samples whose outputs hold at most
    this many elements) and ``max_block`` (the most slots a just-in-time kernel generates at
    once: longer rows continue in further blocks)."""
    from .common import _GROUP_ELEMENTS
    from .jitc import MAX_BLOCK

    return dict(group_elements=int(_GROUP_ELEMENTS), max_block=int(MAX_BLOCK))
