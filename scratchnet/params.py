"""Flat parameter vectors, in the canonical order (the mapping's order, each array C-ordered).

This is the layout scipy.optimize works on: ``theta = flatten(net.params)``.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np


def flatten(params: Mapping[str, np.ndarray]) -> np.ndarray:
    """Concatenate every array (C order) into one 1-D float64 vector."""
    if not params:
        return np.zeros(0)
    return np.concatenate([np.asarray(value, dtype=np.float64).ravel() for value in params.values()])


def unflatten(vector: np.ndarray, like: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Split a flat vector into new arrays with the names, shapes and dtypes of `like`."""
    vector = np.asarray(vector)
    expected = sum(int(np.size(value)) for value in like.values())
    if vector.ndim != 1 or vector.size != expected:
        raise ValueError(
            f"flat parameter vector must be 1-D of length {expected} "
            f"({', '.join(f'{k}{tuple(np.shape(v))}' for k, v in like.items())}), "
            f"got shape {vector.shape}"
        )
    out: dict[str, np.ndarray] = {}
    offset = 0
    for name, value in like.items():
        size = int(np.size(value))
        out[name] = vector[offset : offset + size].reshape(np.shape(value)).astype(np.asarray(value).dtype)
        offset += size
    return out


def slices(like: Mapping[str, np.ndarray]) -> dict[str, slice]:
    """Where each named array lives in the flat vector."""
    out, offset = {}, 0
    for name, value in like.items():
        out[name] = slice(offset, offset + int(np.size(value)))
        offset += int(np.size(value))
    return out
