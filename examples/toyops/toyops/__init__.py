"""toyops: a toy event-driven operator library (evbench's example plugin).

A sparse matrix is its synapse list (row, column, weight); ``events @ M`` adds each synapse's
weight times its presynaptic event into its postsynaptic output with ``jax.ops.segment_sum``.
Pure JAX: it runs under ``jit``, ``vmap`` and ``grad``.
"""
from .matrix import SynapseMatrix

__all__ = ["SynapseMatrix"]
