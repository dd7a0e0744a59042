"""Differences between a checked tensor and its reference, and the tidy table that keeps them.

Statistics for a checked tensor a and reference b (same shape):
* ``max_abs``  = max |a - b|
* ``max_rel``  = max |a - b| / max(max |b|, atol / rtol): normwise relative error, with the
  magnitude below which the tolerance's atol dominates as the floor (so a tensor that is
  exactly 0 in the reference does not report an astronomic ratio); ``max_rel <= rtol`` then
  means the same as passing, to within a factor 2.
* ``cosine``   = <a, b> / (|a| |b|) (1 when both are zero)
* ``index``    = flat index of the largest |a - b|, with both values there.
Entries where both tensors hold the same non-finite value (both NaN, or the same infinity)
count as equal: two backends that diverge together agree.

`DiffTable` stores one row per (step, backend, reference, quantity, param) in typed, growing
columns (about 100 bytes per row), never the tensors themselves, so memory grows with the
number of statistics, not with tensor size x steps.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from comparisons.tolerances import Tolerance

QUANTITIES = ("loss", "grad", "param", "state")


@dataclass(frozen=True)
class TensorDiff:
    max_abs: float
    max_rel: float
    cosine: float
    scale: float
    index: int
    value: float
    reference_value: float
    allowed: float
    passed: bool


def compare(checked: np.ndarray, reference: np.ndarray, tolerance: Tolerance) -> TensorDiff:
    """Diff statistics of `checked` against `reference` (see module docstring)."""
    a = np.asarray(checked, dtype=np.float64).ravel()
    b = np.asarray(reference, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"cannot compare shapes {np.shape(checked)} and {np.shape(reference)}")
    if a.size == 0:
        return TensorDiff(0.0, 0.0, 1.0, 0.0, 0, 0.0, 0.0, tolerance.atol, True)
    with np.errstate(invalid="ignore", over="ignore"):
        error = np.subtract(a, b)
        np.abs(error, out=error)
        index = int(np.argmax(error))  # NaN wins argmax, so a finite maximum means every entry is finite
        max_abs = float(error[index])
        if np.isfinite(max_abs) and np.isfinite(a[index]):
            scale = float(max(b.max(), -b.min()))
            dot, norm_a, norm_b = float(a @ b), float(np.sqrt(a @ a)), float(np.sqrt(b @ b))
        else:
            index, max_abs, scale, dot, norm_a, norm_b = _nonfinite_statistics(a, b, error)
    floor = tolerance.atol / tolerance.rtol if tolerance.rtol > 0 else 0.0
    max_rel = max_abs / max(scale, floor, np.finfo(np.float64).tiny)
    if norm_a == 0 and norm_b == 0:
        cosine = 1.0
    elif norm_a == 0 or norm_b == 0 or not np.isfinite(norm_a * norm_b):
        cosine = 0.0 if norm_a == 0 or norm_b == 0 else float(np.dot(a / norm_a, b / norm_b))
    else:
        cosine = min(1.0, max(-1.0, dot / (norm_a * norm_b)))
    allowed = tolerance.allowed(scale)
    return TensorDiff(max_abs, max_rel, cosine, scale, index, float(a[index]), float(b[index]), allowed, max_abs <= allowed)


def _nonfinite_statistics(a: np.ndarray, b: np.ndarray, error: np.ndarray):
    """The slow path when NaN/Inf appear: equal non-finite entries count as equal, the others as
    an infinite error; scale, dot products and norms use the entries finite in both."""
    same_nonfinite = ~np.isfinite(a) & ((a == b) | (np.isnan(a) & np.isnan(b)))
    error[same_nonfinite] = 0.0
    error[np.isnan(error)] = np.inf
    index = int(np.argmax(error))
    finite_b = np.abs(b[np.isfinite(b)])
    scale = float(finite_b.max()) if finite_b.size else 0.0
    finite = np.isfinite(a) & np.isfinite(b)
    fa, fb = a[finite], b[finite]
    with np.errstate(over="ignore", invalid="ignore"):
        return index, float(error[index]), scale, float(fa @ fb), float(np.linalg.norm(fa)), float(np.linalg.norm(fb))


class DiffTable:
    """Append-only tidy table of diff rows in typed columns."""

    NUMERIC = ("max_abs", "max_rel", "cosine", "scale", "value", "reference_value", "allowed")
    CODED = ("backend", "reference", "quantity", "param", "expected")

    def __init__(self, capacity: int = 1024):
        self._size = 0
        self._step = np.empty(capacity, dtype=np.int64)
        self._index = np.empty(capacity, dtype=np.int64)
        self._passed = np.empty(capacity, dtype=bool)
        self._numeric = {name: np.empty(capacity) for name in self.NUMERIC}
        self._codes = {name: np.empty(capacity, dtype=np.int32) for name in self.CODED}
        self._vocab: dict[str, dict[str, int]] = {name: {} for name in self.CODED}

    def __len__(self) -> int:
        return self._size

    def _grow(self) -> None:
        capacity = 2 * len(self._step)
        self._step = np.resize(self._step, capacity)
        self._index = np.resize(self._index, capacity)
        self._passed = np.resize(self._passed, capacity)
        self._numeric = {k: np.resize(v, capacity) for k, v in self._numeric.items()}
        self._codes = {k: np.resize(v, capacity) for k, v in self._codes.items()}

    def append(self, step: int, backend: str, reference: str, quantity: str, param: str, diff: TensorDiff, expected: str = "") -> None:
        if self._size == len(self._step):
            self._grow()
        row = self._size
        self._step[row] = step
        self._index[row] = diff.index
        self._passed[row] = diff.passed
        for name in self.NUMERIC:
            self._numeric[name][row] = getattr(diff, name)
        for name, value in zip(self.CODED, (backend, reference, quantity, param, expected)):
            self._codes[name][row] = self._vocab[name].setdefault(value, len(self._vocab[name]))
        self._size += 1

    def to_frame(self) -> pd.DataFrame:
        """Columns: step, backend, reference, quantity, param, max_abs, max_rel, cosine, scale,
        index, value, reference_value, allowed, passed, expected ("" or "convention")."""
        n = self._size
        columns: dict[str, object] = {"step": self._step[:n].copy()}
        for name in ("backend", "reference", "quantity", "param"):
            columns[name] = self._decode(name, n)
        for name in ("max_abs", "max_rel", "cosine", "scale"):
            columns[name] = self._numeric[name][:n].copy()
        columns["index"] = self._index[:n].copy()
        for name in ("value", "reference_value", "allowed"):
            columns[name] = self._numeric[name][:n].copy()
        columns["passed"] = self._passed[:n].copy()
        columns["expected"] = self._decode("expected", n)
        return pd.DataFrame(columns)

    def _decode(self, name: str, n: int) -> np.ndarray:
        words = np.empty(len(self._vocab[name]), dtype=object)
        for word, code in self._vocab[name].items():
            words[code] = word
        return words[self._codes[name][:n]] if n else np.empty(0, dtype=object)
