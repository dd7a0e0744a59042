"""Differences between a checked tensor and its reference, and the tidy table that keeps them.

Statistics for a checked tensor a and reference b (same shape):
* ``max_abs``  = max |a - b|
* ``max_rel``  = max |a - b| / max(max |b|, atol / rtol): normwise relative error, with the
  magnitude below which the tolerance's atol dominates as the floor (so a tensor that is
  exactly 0 in the reference does not report an astronomic ratio); ``max_rel <= rtol`` then
  means the same as passing, to within a factor 2.
* ``cosine``   = <a, b> / (|a| |b|) (1 when both are zero)
* ``index``    = flat index of the largest |a - b|, with both values there.
* ``mismatched`` of ``size``: elements with |a - b| > allowed ("k of n", as torch.testing
  reports), counted only for tensors that fail (0 otherwise).
Entries where both tensors hold the same non-finite value (both NaN, or the same infinity)
count as equal: two backends that diverge together agree.

Shape and dtype are checked before values: a mismatch is a *finding* (``finding`` says what,
``passed`` is False, the statistics are NaN, ``mismatched == size``) -- never an exception that
would stop the run, and never a silent broadcast or upcast. The dtype check is on by default
(``check_dtype=False`` where a float64 reference is compared with a user's float32 on purpose,
as the doctor does).

This module is the one comparison engine: the runner, the report and the doctor all use
`compare` / `compare_many`, with tolerances from `comparisons.tolerances`.

`DiffTable` stores one row per (step, backend, reference, quantity, param) in typed, growing
columns (about 100 bytes per row), never the tensors themselves, so memory grows with the
number of statistics, not with tensor size x steps.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from comparisons import _fused
from comparisons.tolerances import Tolerance

QUANTITIES = ("loss", "grad", "param", "state")
#: Row kinds: ``exact`` -- a backend against a reference following the same convention (judged);
#: ``cross`` -- a backend against a reference of another convention (judged unless the measured
#: convention gap at the same step, quantity and parameter explains it: ``expected="convention"``);
#: ``gap`` -- a convention twin against scratchnet (measures the convention gap, never judged).
KINDS = ("exact", "cross", "gap")


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
    mismatched: int = 0
    size: int = 0
    finding: str = ""


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
    mismatched: np.ndarray
    size: np.ndarray
    finding: np.ndarray  # object array of str, "" where shape and dtype agree

    def __len__(self) -> int:
        return len(self.max_abs)

    def rows(self, rows: slice) -> "DiffBatch":
        """The batch of the pairs in `rows` (views)."""
        return DiffBatch(*(getattr(self, name)[rows] for name in self.__dataclass_fields__))

    def row(self, i: int) -> TensorDiff:
        return TensorDiff(float(self.max_abs[i]), float(self.max_rel[i]), float(self.cosine[i]), float(self.scale[i]),
                          int(self.index[i]), float(self.value[i]), float(self.reference_value[i]),
                          float(self.allowed[i]), bool(self.passed[i]), int(self.mismatched[i]), int(self.size[i]),
                          str(self.finding[i]))


def check_structure(checked, reference, check_dtype: bool = True) -> str:
    """"" when `checked` can be compared value by value with `reference`; otherwise what differs
    (shape first, then dtype), phrased for a report. ``checked=None`` means the backend's record
    lacks the tensor."""
    if checked is None:
        return "missing from the backend's record"
    shape_a, shape_b = np.shape(checked), np.shape(reference)
    if shape_a != shape_b:
        return f"shape {shape_a} differs from the reference's {shape_b}"
    dtype_a, dtype_b = _dtype(checked), _dtype(reference)
    if dtype_a.kind not in "fiub" or dtype_a.kind == "b":
        return f"dtype {dtype_a} is not a real number type (the reference is {dtype_b})"
    if check_dtype and dtype_a != dtype_b:
        return f"dtype {dtype_a} differs from the reference's {dtype_b}"
    return ""


def _dtype(value) -> np.dtype:
    if isinstance(value, (float, int)) and not isinstance(value, bool):
        return np.dtype(np.float64)  # a Python scalar loss is float64
    return np.asarray(value).dtype


def _structural(finding: str, reference, tolerance: Tolerance) -> TensorDiff:
    size = int(np.size(reference))
    return TensorDiff(np.nan, np.nan, np.nan, np.nan, 0, np.nan, np.nan, tolerance.atol, False, size, size, finding)


_CONCATENATE_BELOW = 65536  # without numba: total elements below which one concatenated pass beats per-tensor calls


def compare_many(checked: Sequence[np.ndarray], reference: Sequence[np.ndarray], tolerance: Tolerance,
                 check_dtype: bool = True) -> DiffBatch:
    """`compare` for a list of tensor pairs, with the same statistics, in few calls: the fused
    pass over every pair (`comparisons._fused.many`), or without numba NumPy segment reductions
    over the concatenation of small pairs. Pairs whose shape or dtype differ (findings), empty
    pairs and pairs holding NaN/Inf take `compare`'s per-tensor path."""
    if len(checked) != len(reference):
        raise ValueError(f"compare_many needs as many checked tensors as references, got {len(checked)} and {len(reference)}")
    plain, sizes = [], []
    for i, (left, right) in enumerate(zip(checked, reference)):
        size = right.size if isinstance(right, (np.ndarray, np.generic)) else np.size(right)
        if size and not _structure(left, right, check_dtype):
            plain.append(i)
            sizes.append(size)
    lefts = [checked[i] for i in plain]
    rights = [reference[i] for i in plain]
    floor = _floor(tolerance)
    if _fused.AVAILABLE:
        statistics = _fused.many(lefts, rights, sizes, floor, tolerance.atol, tolerance.rtol)
    elif sum(sizes) < _CONCATENATE_BELOW:
        statistics = _reduceat_statistics(lefts, rights, floor, tolerance)
    else:  # large tensors without numba: one lean pass set each (concatenating would only add two copies)
        plain, lefts, rights, statistics = [], [], [], None
    if plain and len(plain) == len(reference):
        batch = _batch_from_statistics(lefts, rights, statistics)
    else:
        batch = _empty_batch(len(reference))
        if plain:
            _fill(batch, np.array(plain), _batch_from_statistics(lefts, rights, statistics))
    redo = np.isnan(batch.max_abs)  # NaN/Inf, or a cosine that needs the tensors
    if len(plain) < len(reference):
        redo[np.setdiff1d(np.arange(len(reference)), plain)] = True
    for i in np.flatnonzero(redo).tolist():
        row = compare(checked[i], reference[i], tolerance, check_dtype)
        for name in DiffBatch.__dataclass_fields__:
            getattr(batch, name)[i] = getattr(row, name)
    return batch


def _floor(tolerance: Tolerance) -> float:
    """The reference magnitude below which atol dominates: max_rel's floor."""
    return tolerance.atol / tolerance.rtol if tolerance.rtol > 0 else 0.0


def _structure(checked, reference, check_dtype: bool) -> str:
    """`check_structure`, answered at once for the common case of two real arrays alike."""
    if (type(checked) is np.ndarray and type(reference) is np.ndarray and checked.shape == reference.shape
            and checked.dtype == reference.dtype and checked.dtype.kind == "f"):
        return ""
    return check_structure(checked, reference, check_dtype)


def _reduceat_statistics(lefts: list, rights: list, floor: float, tolerance: Tolerance) -> _fused.Statistics:
    """The fused pass's statistics by NumPy segment reductions over the concatenation (no numba)."""
    sizes = np.array([np.size(v) for v in rights], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    a = np.concatenate([np.ravel(v) for v in lefts], dtype=np.float64)
    b = np.concatenate([np.ravel(v) for v in rights], dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        error = np.abs(a - b)
        max_abs = np.maximum.reduceat(error, starts)
        scale = np.maximum.reduceat(np.abs(b), starts)
        dot, aa, bb = (np.add.reduceat(x * y, starts) for x, y in ((a, b), (a, a), (b, b)))
        index = np.array([int(np.argmax(error[start:start + size])) for start, size in zip(starts, sizes)])
        value, reference_value = a[starts + index], b[starts + index]
        max_abs, max_rel, cosine, allowed, passed = _fused._judge(max_abs, value, scale, dot, aa, bb, floor,
                                                                  tolerance.atol, tolerance.rtol)
    return _fused.Statistics(max_abs, max_rel, cosine, scale, index, value, reference_value, allowed, passed, sizes)


def _batch_from_statistics(lefts, rights, statistics: _fused.Statistics) -> DiffBatch:
    """The rows of the pairs whose statistics are finite (the others have max_abs NaN, for
    `compare` to redo), with the mismatched count of those that fail."""
    mismatched = np.zeros(len(rights), dtype=np.int64)
    if not statistics.passed.all():
        for k in np.flatnonzero(~statistics.passed & ~np.isnan(statistics.max_abs)).tolist():
            mismatched[k] = _mismatched(_fused.vector(lefts[k]), _fused.vector(rights[k]), statistics.allowed[k])
    return DiffBatch(statistics.max_abs, statistics.max_rel, statistics.cosine, statistics.scale, statistics.index,
                     statistics.value, statistics.reference_value, statistics.allowed, statistics.passed, mismatched,
                     statistics.size, np.full(len(rights), "", dtype=object))


def _empty_batch(count: int) -> DiffBatch:
    return DiffBatch(*(np.empty(count) for _ in range(4)), np.zeros(count, dtype=np.int64), np.empty(count),
                     np.empty(count), np.empty(count), np.zeros(count, dtype=bool), np.zeros(count, dtype=np.int64),
                     np.zeros(count, dtype=np.int64), np.full(count, "", dtype=object))


def _fill(batch: DiffBatch, rows: np.ndarray, part: DiffBatch) -> None:
    for name in DiffBatch.__dataclass_fields__:
        getattr(batch, name)[rows] = getattr(part, name)


def _mismatched(a: np.ndarray, b: np.ndarray, allowed: float) -> int:
    """Elements with |a - b| > allowed (a NaN difference counts), for a tensor that failed."""
    with np.errstate(invalid="ignore", over="ignore"):
        return int(np.count_nonzero(~(np.abs(a - b) <= allowed)))


def compare(checked: np.ndarray, reference: np.ndarray, tolerance: Tolerance, check_dtype: bool = True) -> TensorDiff:
    """Diff statistics of `checked` against `reference` (see module docstring). A shape or
    dtype mismatch is returned as a failing `TensorDiff` whose `finding` says what differs."""
    finding = check_structure(checked, reference, check_dtype)
    if finding:
        return _structural(finding, reference, tolerance)
    a = np.asarray(checked, dtype=np.float64).ravel()
    b = np.asarray(reference, dtype=np.float64).ravel()
    if a.size == 0:
        return TensorDiff(0.0, 0.0, 1.0, 0.0, 0, 0.0, 0.0, tolerance.atol, True, 0, 0)
    error, fused = None, False
    if _fused.AVAILABLE:
        max_abs, index, scale, dot, aa, bb, finite = _fused.pair(a, b)
        fused = finite and np.isfinite(max_abs) and np.isfinite(a[index])
        if fused:
            with np.errstate(over="ignore"):
                norm_a, norm_b = float(np.sqrt(aa)), float(np.sqrt(bb))
    if not fused:  # no numba, or NaN/Inf: the NumPy formulation
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
    max_rel, cosine, allowed, passed = _fused.row_statistics(float(max_abs), float(scale), float(dot), float(norm_a),
                                                             float(norm_b), _floor(tolerance), tolerance.atol, tolerance.rtol)
    if np.isnan(cosine):  # the norms' product overflows (or underflows): normalise first
        cosine = float(np.dot(a / norm_a, b / norm_b))
    if passed:
        mismatched = 0
    elif error is not None:
        mismatched = int(np.count_nonzero(~(error <= allowed)))
    else:
        mismatched = _mismatched(a, b, allowed)
    return TensorDiff(float(max_abs), max_rel, cosine, float(scale), int(index), float(a[index]), float(b[index]),
                      allowed, bool(passed), mismatched, int(a.size))


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
    """Append-only tidy table of diff rows in typed columns.

    Columns (see `to_frame`): step, backend, reference, kind, quantity, param, max_abs,
    max_rel, cosine, scale, index, value, reference_value, allowed, passed, mismatched, size,
    expected ("" or "convention": a cross row explained by the measured convention gap),
    finding ("" or the shape/dtype mismatch)."""

    NUMERIC = ("max_abs", "max_rel", "cosine", "scale", "value", "reference_value", "allowed")
    INTEGER = ("index", "mismatched", "size")
    CODED = ("backend", "reference", "kind", "quantity", "param", "expected", "finding")
    COLUMNS = ("step", "backend", "reference", "kind", "quantity", "param", "max_abs", "max_rel", "cosine", "scale",
               "index", "value", "reference_value", "allowed", "passed", "mismatched", "size", "expected", "finding")

    def __init__(self, capacity: int = 1024):
        self._size = 0
        self._step = np.empty(capacity, dtype=np.int64)
        self._passed = np.empty(capacity, dtype=bool)
        self._numeric = {name: np.empty(capacity) for name in self.NUMERIC}
        self._integer = {name: np.empty(capacity, dtype=np.int64) for name in self.INTEGER}
        self._codes = {name: np.empty(capacity, dtype=np.int32) for name in self.CODED}
        self._vocab: dict[str, dict[str, int]] = {name: {} for name in self.CODED}
        self._encoded: dict[tuple[str, tuple[str, ...]], np.ndarray] = {}

    def __len__(self) -> int:
        return self._size

    def _grow(self) -> None:
        capacity = 2 * len(self._step)
        self._step = np.resize(self._step, capacity)
        self._passed = np.resize(self._passed, capacity)
        for columns in (self._numeric, self._integer, self._codes):
            for name, values in columns.items():
                columns[name] = np.resize(values, capacity)

    def extend(self, step: int, backend: str, reference: str, kind: str, quantities: Sequence[str],
               params: Sequence[str], batch: DiffBatch, expected: Sequence[str]) -> None:
        """Append one row per entry of `batch` (quantities[i], params[i], expected[i])."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        n = len(batch)
        while self._size + n > len(self._step):
            self._grow()
        rows = slice(self._size, self._size + n)
        self._step[rows] = step
        self._passed[rows] = batch.passed
        for name in self.NUMERIC:
            self._numeric[name][rows] = getattr(batch, name)
        for name in self.INTEGER:
            self._integer[name][rows] = getattr(batch, name)
        for name, value in (("backend", backend), ("reference", reference), ("kind", kind)):
            self._codes[name][rows] = self._vocab[name].setdefault(value, len(self._vocab[name]))
        for name, values in (("quantity", quantities), ("param", params), ("expected", expected), ("finding", batch.finding)):
            self._codes[name][rows] = self._encode(name, tuple(values))
        self._size += n

    def _encode(self, name: str, values: tuple[str, ...]) -> np.ndarray:
        """The codes of `values` in column `name` (the same sequences come back every step)."""
        codes = self._encoded.get((name, values))
        if codes is None:
            vocab = self._vocab[name]
            codes = self._encoded[name, values] = np.array([vocab.setdefault(v, len(vocab)) for v in values], dtype=np.int32)
        return codes

    def to_frame(self) -> pd.DataFrame:
        """The rows as a DataFrame with the columns `COLUMNS`, in that order."""
        n = self._size
        columns: dict[str, object] = {"step": self._step[:n].copy(), "passed": self._passed[:n].copy()}
        for name in self.CODED:
            columns[name] = self._decode(name, n)
        for group in (self._numeric, self._integer):
            for name, values in group.items():
                columns[name] = values[:n].copy()
        return pd.DataFrame({name: columns[name] for name in self.COLUMNS})

    def _decode(self, name: str, n: int) -> np.ndarray:
        words = np.empty(len(self._vocab[name]), dtype=object)
        for word, code in self._vocab[name].items():
            words[code] = word
        return words[self._codes[name][:n]] if n else np.empty(0, dtype=object)
