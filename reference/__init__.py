"""Ground truth for evbench: dense NumPy float64 references.

Imports NumPy (and SciPy) only, never JAX or evbench, so that it can judge them. Every
function is short enough to check by eye: materialise the matrix, multiply.
"""
from .operators import (  # noqa: F401
    coo_to_dense,
    csc_to_dense,
    csr_to_dense,
    dense_to_dense,
    fixed_per_post_to_dense,
    fixed_per_pre_to_dense,
    matvec,
    vecmat,
)
from .jitconn import jitc_to_dense  # noqa: F401
