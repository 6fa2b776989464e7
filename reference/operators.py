"""Dense float64 references: one materialiser per stored family, and the products.

Conventions: a matrix has shape ``(n_rows, n_cols)``; ``vecmat(events, M)`` is
``events @ M`` for events ``(n_rows,)`` or ``(batch, n_rows)``; ``matvec(M, events)`` is
``M @ events`` for events ``(n_cols,)`` or ``(n_cols, batch)``. Boolean events count as 1.
"""
import numpy as np


def _weights(weights, n):
    """Per-synapse weights, or a scalar repeated ``n`` times, in float64."""
    w = np.asarray(weights, dtype=np.float64)
    return np.full(n, float(w)) if w.ndim == 0 else w.reshape(n)


def dense_to_dense(weights):
    return np.array(weights, dtype=np.float64)


def coo_to_dense(row, col, weights, shape):
    """Entry k adds weights[k] at (row[k], col[k]); duplicates are summed."""
    out = np.zeros(shape)
    np.add.at(out, (np.asarray(row), np.asarray(col)), _weights(weights, len(row)))
    return out


def csr_to_dense(indptr, indices, weights, shape):
    """Row i holds columns indices[indptr[i]:indptr[i+1]]."""
    out = np.zeros(shape)
    w = _weights(weights, len(indices))
    for i in range(shape[0]):
        for k in range(indptr[i], indptr[i + 1]):
            out[i, indices[k]] += w[k]
    return out


def csc_to_dense(indptr, indices, weights, shape):
    """Column j holds rows indices[indptr[j]:indptr[j+1]]."""
    return csr_to_dense(indptr, indices, weights, shape[::-1]).T


def fixed_per_pre_to_dense(indices, weights, shape):
    """Row i connects to the columns indices[i, :] (repeats summed)."""
    indices = np.asarray(indices)
    w = _weights(weights, indices.size).reshape(indices.shape)
    out = np.zeros(shape)
    for i in range(indices.shape[0]):
        for k in range(indices.shape[1]):
            out[i, indices[i, k]] += w[i, k]
    return out


def fixed_per_post_to_dense(indices, weights, shape):
    """Column j receives from the rows indices[j, :] (repeats summed)."""
    return fixed_per_pre_to_dense(indices, weights, shape[::-1]).T


def vecmat(events, matrix):
    """events @ M in float64."""
    return np.asarray(events, dtype=np.float64) @ matrix


def matvec(matrix, events):
    """M @ events in float64."""
    return matrix @ np.asarray(events, dtype=np.float64)
