"""Validation of the weight arrays that structures store."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .._arguments import ensure_dtype, ensure_finite_array, dtype_of

#: the most synapses (and the largest index) a stored structure can hold: indices are int32
INT32_MAX = int(np.iinfo(np.int32).max)


def as_weights(name: str, weights, *, shape: tuple[int, ...] | None, dtype=None):
    """Weights as a JAX array: a scalar (homogeneous) or an array of exactly ``shape``.

    A Python scalar takes ``dtype`` (default float32); an array must already be float32 or
    float64 (and ``dtype``, when given). Non-finite values are rejected.
    """
    if isinstance(weights, (bool, np.bool_)):
        raise TypeError(f"{name} must be a real number or a floating array, got {weights!r}")
    if isinstance(weights, (int, float, np.integer, np.floating)) and not hasattr(weights, "shape"):
        dt = ensure_dtype("dtype", "float32" if dtype is None else dtype)
        ensure_finite_array(name, weights)
        return jnp.asarray(weights, dtype=dt)
    src = dtype_of(weights)
    if src.kind != "f":
        raise TypeError(f"{name} must be float32 or float64, got dtype {src.name}")
    ensure_dtype(f"{name}.dtype", src)
    if dtype is not None and np.dtype(dtype) != src:
        raise TypeError(f"{name} has dtype {src.name} but dtype={np.dtype(dtype).name} was asked for")
    arr = jnp.asarray(weights)
    if arr.ndim != 0 and shape is not None and tuple(arr.shape) != tuple(shape):
        raise ValueError(f"{name} must be a scalar or have shape {tuple(shape)}, got {tuple(arr.shape)}")
    if not isinstance(arr, jax.core.Tracer):
        ensure_finite_array(name, np.asarray(arr))
    return arr


def as_index(name: str, value, *, ndim: int, upper: int):
    """Integer index array with entries in ``[0, upper)``, stored as int32."""
    src = dtype_of(value)
    if src.kind not in "iu":
        raise TypeError(f"{name} must be an integer array, got dtype {src.name}")
    arr = np.asarray(value)
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {arr.shape}")
    if arr.size > INT32_MAX:
        raise ValueError(f"{name} has {arr.size} entries; evbench indexes synapses with int32, so a structure "
                         f"holds at most 2**31 - 1 = {INT32_MAX} of them")
    if arr.size:
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi >= upper:
            bad = lo if lo < 0 else hi
            raise ValueError(f"{name} entries must be in [0, {upper}), got {bad}")
    if upper > INT32_MAX:
        raise ValueError(f"{name}: sizes above 2**31 - 1 are not supported, got {upper}")
    return jnp.asarray(arr.astype(np.int32))
