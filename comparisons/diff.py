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
from typing import Sequence

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


@dataclass(frozen=True)
class DiffBatch:
    """The statistics of several tensor pairs at once: each field has one entry per pair."""

    max_abs: np.ndarray
    max_rel: np.ndarray
    cosine: np.ndarray
    scale: np.ndarray
    index: np.ndarray
    value: np.ndarray
    reference_value: np.ndarray
    allowed: np.ndarray
    passed: np.ndarray

    def __len__(self) -> int:
        return len(self.max_abs)

    def row(self, i: int) -> TensorDiff:
        return TensorDiff(float(self.max_abs[i]), float(self.max_rel[i]), float(self.cosine[i]), float(self.scale[i]),
                          int(self.index[i]), float(self.value[i]), float(self.reference_value[i]),
                          float(self.allowed[i]), bool(self.passed[i]))


_CONCATENATE_BELOW = 65536  # total elements below which one concatenated pass beats per-tensor calls


def compare_many(checked: Sequence[np.ndarray], reference: Sequence[np.ndarray], tolerance: Tolerance) -> DiffBatch:
    """`compare` for a list of tensor pairs in a few vectorized passes over their concatenation
    (segment reductions), so that many small tensors cost little more than one large one.
    Pairs holding NaN/Inf, or empty ones, take `compare`'s per-tensor path."""
    if len(checked) != len(reference):
        raise ValueError(f"compare_many needs as many checked tensors as references, got {len(checked)} and {len(reference)}")
    for left, right in zip(checked, reference):
        if np.shape(left) != np.shape(right):
            raise ValueError(f"cannot compare shapes {np.shape(left)} and {np.shape(right)}")
    sizes = np.array([np.size(r) for r in reference], dtype=np.int64)
    if not len(sizes) or not sizes.all() or sizes.sum() > _CONCATENATE_BELOW:
        # large tensors: one lean pass set each (concatenating would only add two copies)
        rows = [compare(left, right, tolerance) for left, right in zip(checked, reference)]
        return _batch_from_rows(rows)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    a = np.concatenate([np.asarray(x, dtype=np.float64).ravel() for x in checked])
    b = np.concatenate([np.asarray(x, dtype=np.float64).ravel() for x in reference])
    with np.errstate(invalid="ignore", over="ignore"):
        error = np.abs(a - b)
        max_abs = np.maximum.reduceat(error, starts)
        finite = np.isfinite(max_abs) & np.isfinite(np.add.reduceat(a, starts))
        scale = np.maximum.reduceat(np.abs(b), starts)
        dot = np.add.reduceat(a * b, starts)
        norms = np.sqrt(np.add.reduceat(a * a, starts)) * np.sqrt(np.add.reduceat(b * b, starts))
    index = np.array([int(np.argmax(error[start:start + size])) for start, size in zip(starts, sizes)])
    value, reference_value = a[starts + index], b[starts + index]
    floor = tolerance.atol / tolerance.rtol if tolerance.rtol > 0 else 0.0
    max_rel = max_abs / np.maximum(np.maximum(scale, floor), np.finfo(np.float64).tiny)
    with np.errstate(invalid="ignore", divide="ignore"):
        cosine = np.where(norms > 0, np.clip(dot / np.where(norms > 0, norms, 1.0), -1.0, 1.0), 0.0)
    zero_both = (scale == 0) & (np.maximum.reduceat(np.abs(a), starts) == 0)
    cosine[zero_both] = 1.0
    allowed = tolerance.atol + tolerance.rtol * scale
    batch = DiffBatch(max_abs, max_rel, cosine, scale, index, value, reference_value, allowed, max_abs <= allowed)
    for i in np.flatnonzero(~finite | ~np.isfinite(norms)):
        row = compare(checked[i], reference[i], tolerance)
        for name in DiffBatch.__dataclass_fields__:
            getattr(batch, name)[i] = getattr(row, name)
    return batch


def _batch_from_rows(rows: list[TensorDiff]) -> DiffBatch:
    columns = {name: np.array([getattr(row, name) for row in rows]) for name in DiffBatch.__dataclass_fields__}
    columns["index"] = columns["index"].astype(np.int64) if rows else np.zeros(0, dtype=np.int64)
    columns["passed"] = columns["passed"].astype(bool) if rows else np.zeros(0, dtype=bool)
    return DiffBatch(**columns)


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

    def extend(self, step: int, backend: str, reference: str, quantities: Sequence[str], params: Sequence[str],
               batch: DiffBatch, expected: Sequence[str]) -> None:
        """Append one row per entry of `batch` (quantities[i], params[i], expected[i])."""
        n = len(batch)
        while self._size + n > len(self._step):
            self._grow()
        rows = slice(self._size, self._size + n)
        self._step[rows] = step
        self._index[rows] = batch.index
        self._passed[rows] = batch.passed
        for name in self.NUMERIC:
            self._numeric[name][rows] = getattr(batch, name)
        for name, value in (("backend", backend), ("reference", reference)):
            self._codes[name][rows] = self._vocab[name].setdefault(value, len(self._vocab[name]))
        for name, values in (("quantity", quantities), ("param", params), ("expected", expected)):
            vocab = self._vocab[name]
            self._codes[name][rows] = [vocab.setdefault(v, len(vocab)) for v in values]
        self._size += n

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
