"""Argument checking shared by the whole package: ``ensure_*`` return a checked value.

Every check raises ``ValueError`` or ``TypeError`` naming the argument and the value it got,
so that bad input never reaches an operator as silently broadcast or truncated data.
"""
from __future__ import annotations

import numbers

import numpy as np

FLOAT_DTYPES = ("float32", "float64")


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def ensure_int(name: str, value, *, minimum: int | None = None) -> int:
    """Return ``value`` as a Python int; reject bools, floats and values below ``minimum``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Integral, np.integer)):
        raise TypeError(f"{name} must be an integer, got {_show(value)} of type {type(value).__name__}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def ensure_shape(name: str, value) -> tuple[int, int]:
    """A 2-D matrix shape of positive sizes."""
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ValueError(f"{name} must be a pair (n_rows, n_cols), got {_show(value)}")
    return (ensure_int(f"{name}[0]", value[0], minimum=1), ensure_int(f"{name}[1]", value[1], minimum=1))


def ensure_prob(name: str, value) -> float:
    """A probability in [0, 1]."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        raise TypeError(f"{name} must be a real number in [0, 1], got {_show(value)}")
    value = float(value)
    if not (0.0 <= value <= 1.0):  # also rejects nan
        raise ValueError(f"{name} must be in [0, 1], got {value!r}")
    return value


def ensure_finite_scalar(name: str, value) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        raise TypeError(f"{name} must be a real number, got {_show(value)}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return value


def ensure_dtype(name: str, value) -> np.dtype:
    """float32 or float64, given as a string or dtype."""
    try:
        dtype = np.dtype(value)
    except TypeError:
        raise TypeError(f"{name} must be one of {FLOAT_DTYPES}, got {_show(value)}") from None
    if dtype.name not in FLOAT_DTYPES:
        raise TypeError(f"{name} must be one of {FLOAT_DTYPES}, got {dtype.name}")
    if dtype == np.float64:
        import jax

        if not jax.config.jax_enable_x64:
            raise TypeError(
                f"{name}=float64 needs 64-bit JAX: call jax.config.update('jax_enable_x64', True) "
                "or set JAX_ENABLE_X64=1 before using evbench with float64"
            )
    return dtype


def ensure_finite_array(name: str, value) -> None:
    arr = np.asarray(value)
    if arr.size and not np.all(np.isfinite(arr)):
        bad = np.flatnonzero(~np.isfinite(arr.ravel()))[0]
        raise ValueError(f"{name} must be finite, got {arr.ravel()[bad]!r} at flat index {bad}")


def ensure_seed(name: str, value) -> int:
    seed = ensure_int(name, value, minimum=0)
    if seed >= 2**32:
        raise ValueError(f"{name} must be < 2**32, got {seed}")
    return seed


def dtype_of(value) -> np.dtype:
    """The dtype of an array, a tracer or anything NumPy can turn into an array."""
    dt = getattr(value, "dtype", None)
    return np.dtype(dt) if dt is not None else np.asarray(value).dtype
