"""Argument checks shared by scratchnet modules: every error names the argument and the fix."""
from __future__ import annotations

import difflib
from typing import Iterable

import numpy as np

FLOAT_DTYPES = {"float32": np.float32, "float64": np.float64}


def unknown_name(kind: str, name: object, valid: Iterable[str]) -> ValueError:
    """A ValueError for an unknown registry name, suggesting the nearest valid one."""
    valid = sorted(valid)
    message = f"unknown {kind} {name!r}"
    close = difflib.get_close_matches(str(name), valid, n=1, cutoff=0.5)
    if close:
        message += f"; did you mean {close[0]!r}?"
    return ValueError(f"{message} (valid: {', '.join(valid)})")


def resolve_dtype(dtype: object) -> type[np.floating]:
    """Map "float32"/"float64" (or the NumPy types) to the NumPy scalar type."""
    key = np.dtype(dtype).name if isinstance(dtype, (type, np.dtype)) else dtype
    if key not in FLOAT_DTYPES:
        raise TypeError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    return FLOAT_DTYPES[key]


def as_float_array(name: str, value: object, dtype: type[np.floating]) -> np.ndarray:
    """Convert a real numeric array-like to `dtype`, refusing non-numeric data and NaN/Inf."""
    array = np.asarray(value)
    if array.dtype.kind not in "biuf":
        raise TypeError(
            f"{name} must hold real numbers (bool, int or float), got dtype {array.dtype}"
        )
    array = np.ascontiguousarray(array, dtype=dtype)
    if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
        bad = np.argwhere(~np.isfinite(array))[0]
        raise ValueError(
            f"{name} contains NaN or Inf (first at index {tuple(int(i) for i in bad)}); "
            "clean or impute the data before training"
        )
    return array


def positive_number(name: str, value: object, allow_zero: bool = False) -> float:
    """A finite float > 0 (or >= 0 with allow_zero)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    number = float(value)
    if not np.isfinite(number) or number < 0 or (number == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}")
    return number
