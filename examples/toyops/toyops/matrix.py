"""A sparse matrix as its synapse list, with the products evbench multiplies."""
from __future__ import annotations

import os

import jax
import jax.numpy as jnp


@jax.tree_util.register_pytree_node_class
class SynapseMatrix:
    """An ``(n_pre, n_post)`` matrix stored as ``weights[k]`` at ``(pre[k], post[k])``; repeated
    pairs add up. ``M.T`` swaps the roles of pre and post."""

    #: NumPy defers ``ndarray @ M`` to :meth:`__rmatmul__` (without it, NumPy treats M as a 0-d
    #: object array and fails: evbench's ``jit`` check, which runs the product op by op on NumPy
    #: events, found that)
    __array_ufunc__ = None

    def __init__(self, pre, post, weights, shape):
        self.pre, self.post, self.weights, self.shape = pre, post, weights, tuple(shape)

    def tree_flatten(self):
        return (self.pre, self.post, self.weights), self.shape

    @classmethod
    def tree_unflatten(cls, shape, leaves):
        return cls(*leaves, shape)

    @property
    def T(self) -> "SynapseMatrix":
        return SynapseMatrix(self.post, self.pre, self.weights, self.shape[::-1])

    def _terms(self, events, axis_in, n_out, index_out):
        """``events[..., axis_in[k]] * weights[k]`` summed into ``n_out`` outputs at ``index_out``."""
        events = events.astype(self.weights.dtype) if events.dtype == bool else events
        if os.environ.get("TOYOPS_BUG") == "drop-last-synapse":  # a planted bug (evbench's tests use it)
            axis_in, index_out, w = axis_in[:-1], index_out[:-1], self.weights[:-1]
        else:
            w = self.weights
        contrib = jnp.take(events, axis_in, axis=-1) * w
        out = jax.ops.segment_sum(jnp.moveaxis(contrib, -1, 0), index_out, num_segments=n_out)
        return jnp.moveaxis(out, 0, -1)

    def __rmatmul__(self, events):
        """``events @ M``: events indexed by pre, one output per post (a batch: one row each)."""
        return self._terms(jnp.asarray(events), self.pre, self.shape[1], self.post)

    def __matmul__(self, events):
        """``M @ events``: events indexed by post, one output per pre (a batch: one column each)."""
        events = jnp.asarray(events)
        if events.ndim == 1:
            return self._terms(events, self.post, self.shape[0], self.pre)
        return self._terms(events.T, self.post, self.shape[0], self.pre).T
