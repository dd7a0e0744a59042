"""What a report is made from, and how it is saved and read back.

A report is rendered from three records only, so `render(out_dir)` can redo it without running
anything:

* ``summary.json``: `Comparison.summary()` plus a ``"report"`` entry this package adds (when it was
  written, what the first divergence's tensors looked like, which data files were written, an
  optional doctor result), in the versioned schema of `comparisons.report.schema` (typed
  `Summary`; an older file is refused with the advice to re-run). Strict JSON: NaN and
  infinities are stored as the strings ``"NaN"``, ``"Infinity"`` and ``"-Infinity"``.
* ``diffs.csv``: `Comparison.diffs`, one row per step x backend x reference x quantity x parameter
  (columns in `schema.DIFF_COLUMNS`, each row with its ``kind``); floats written with full
  precision, so they read back bit-exact.
* ``losses.csv``: `Comparison.losses`, one row per step, one column per backend (NaN where a backend
  had stopped).

Every file is written atomically: to a temporary file in the same folder, then `os.replace`d over
the final name, so a reader never sees half a file and a crash leaves the previous version.
"""
from __future__ import annotations

import importlib.util
import io
import json
import math
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from comparisons.diff import compare
from comparisons.report import schema
from comparisons.report.schema import (DIFF_COLUMNS, FLOAT_COLUMNS, STRING_COLUMNS, DivergenceTensors, Element,
                                       ReportInfo, Summary, SummaryError, normalise_diffs)

SUMMARY_FILE = "summary.json"
DIFFS_FILE = "diffs.csv"
DIFFS_PARQUET_FILE = "diffs.parquet"
LOSSES_FILE = "losses.csv"
WORST_ELEMENTS = 10
SMALL_TENSOR = 64  # tensors up to this many elements are kept whole in summary.json

__all__ = ["ReportRecords", "load_records", "records_from_comparison", "divergence_tensors", "normalise_diffs",
           "normalise_losses", "DIFF_COLUMNS", "SummaryError"]


@dataclass
class ReportRecords:
    """The saved material of one report: the typed summary, the tidy diffs and the loss table."""

    summary: Summary
    diffs: pd.DataFrame
    losses: pd.DataFrame

    @property
    def incomplete(self) -> bool:
        """True when the run stopped before its last step (interrupted, or every backend stopped)."""
        return self.summary.incomplete

    @property
    def report(self) -> ReportInfo:
        assert self.summary.report is not None, "records always carry the report entry"
        return self.summary.report


# ---------------------------------------------------------------------- atomic files
def atomic_write_bytes(path: Path, data: bytes) -> Path:
    """Write `data` to `path` through a temporary file in the same folder and `os.replace`."""
    path = Path(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


# ---------------------------------------------------------------------- plain JSON
def plain(value: Any) -> Any:
    """`value` as strict-JSON data: numpy scalars and arrays unwrapped, tuples as lists,
    non-finite floats as the strings "NaN", "Infinity", "-Infinity"."""
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, np.generic):
        return plain(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    return str(value)


def dumps(summary: Summary | Mapping[str, Any]) -> str:
    data = summary.to_dict() if isinstance(summary, Summary) else summary
    return json.dumps(plain(data), indent=2, allow_nan=False) + "\n"


# ---------------------------------------------------------------------- building records
def records_from_comparison(comparison: Any, doctor: Mapping[str, Any] | None = None) -> ReportRecords:
    """The records of a `comparisons.Comparison`, normalised exactly as `load_records` reads them
    back (so a report rendered now and one rendered later from the files are identical)."""
    data = comparison.summary()
    divergence = comparison.first_divergence
    tensors = None
    if divergence is not None and divergence.checked_tensor is not None and divergence.reference_tensor is not None:
        tensors = divergence_tensors(divergence.checked_tensor, divergence.reference_tensor, divergence.tolerance)
    data["report"] = schema.as_data(ReportInfo(
        generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"), data_files={},
        first_divergence_tensors=tensors, doctor=None if doctor is None else dict(doctor)))
    summary = Summary.from_dict(json.loads(dumps(data)), "Comparison.summary()")  # the same path as load_records
    return ReportRecords(summary, normalise_diffs(comparison.diffs), normalise_losses(comparison.losses))


def divergence_tensors(checked: np.ndarray, reference: np.ndarray, tolerance: Any) -> DivergenceTensors:
    """The two tensors at the first divergence: `comparisons.diff.compare`'s statistics, plus the
    largest element differences with their indices and the least-squares factor k in
    checked ~ k * reference (2.0 for a doubled gradient, -1.0 for a flipped sign), which the diff
    engine does not compute. Small tensors (up to SMALL_TENSOR elements) are kept whole."""
    diff = compare(checked, reference, tolerance)
    b = np.asarray(reference, dtype=np.float64)
    small = b.size <= SMALL_TENSOR
    if diff.finding:  # shape or dtype differ: no element-wise comparison
        return DivergenceTensors(
            shape=list(b.shape), size=diff.size, mismatched=diff.mismatched, allowed=diff.allowed,
            max_abs=diff.max_abs, scale=diff.scale, cosine=diff.cosine, finding=diff.finding, scale_factor=None,
            worst_elements=[], checked=np.asarray(checked).tolist() if np.size(checked) <= SMALL_TENSOR else None,
            reference=b.tolist() if small else None)
    a = np.asarray(checked, dtype=np.float64)
    flat_a, flat_b = a.ravel(), b.ravel()
    with np.errstate(invalid="ignore", over="ignore"):
        error = np.abs(flat_a - flat_b)
    error = np.where(np.isnan(error), np.inf, error)
    order = np.argsort(-error, kind="stable")[:WORST_ELEMENTS]
    worst = [Element(index=[int(i) for i in np.unravel_index(int(k), b.shape)] if b.ndim else [],
                     value=float(flat_a[k]), reference_value=float(flat_b[k]), error=float(error[k])) for k in order]
    finite = np.isfinite(flat_a) & np.isfinite(flat_b)
    fa, fb = flat_a[finite], flat_b[finite]
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        denominator = float(np.dot(fb, fb))
        factor = float(np.dot(fa, fb) / denominator) if denominator > 0 else None
    return DivergenceTensors(
        shape=list(b.shape), size=diff.size, mismatched=diff.mismatched, allowed=diff.allowed, max_abs=diff.max_abs,
        scale=diff.scale, cosine=diff.cosine, finding="", scale_factor=factor, worst_elements=worst,
        checked=a.tolist() if small else None, reference=b.tolist() if small else None)


def normalise_losses(losses: pd.DataFrame) -> pd.DataFrame:
    """The loss table as float64 with an int64 index named "step"."""
    frame = losses.apply(pd.to_numeric, errors="coerce").astype(np.float64) if len(losses.columns) else losses.copy()
    frame.columns = [str(column) for column in frame.columns]
    frame.index = pd.Index(np.asarray(losses.index, dtype=np.int64), name="step")
    return frame


# ---------------------------------------------------------------------- saving and loading
def parquet_available() -> bool:
    return importlib.util.find_spec("pyarrow") is not None


PARQUET_SKIPPED = "skipped: pyarrow is not installed (pip install pyarrow to get diffs.parquet)"


def diffs_csv(diffs: pd.DataFrame) -> bytes:
    return diffs.to_csv(index=False, na_rep="NaN", lineterminator="\n").encode("utf-8")


def losses_csv(losses: pd.DataFrame) -> bytes:
    return losses.to_csv(index=True, index_label="step", na_rep="NaN", lineterminator="\n").encode("utf-8")


def diffs_parquet(diffs: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    diffs.to_parquet(buffer, index=False, engine="pyarrow")
    return buffer.getvalue()


def load_records(out_dir: str | os.PathLike) -> ReportRecords:
    """Read summary.json (validated against `schema.Summary`), diffs.csv and losses.csv from a
    report folder written by `write_report`. Raises FileNotFoundError naming the missing files and
    `SummaryError` (a ValueError) naming the file and key that do not follow the schema."""
    folder = Path(out_dir)
    paths = {name: folder / name for name in (SUMMARY_FILE, DIFFS_FILE, LOSSES_FILE)}
    missing = [name for name, path in paths.items() if not path.is_file()]
    if missing:
        raise FileNotFoundError(
            f"out_dir {str(folder)!r} lacks {', '.join(missing)}: render needs the summary.json, diffs.csv and "
            f"losses.csv that comparisons.report.write_report(comparison, out_dir) writes; run the comparison "
            f"again with a report to create them")
    summary = schema.load_summary(paths[SUMMARY_FILE])
    na = ["NaN", "nan", ""]
    diffs = pd.read_csv(paths[DIFFS_FILE], dtype={column: str for column in STRING_COLUMNS}, keep_default_na=False,
                        na_values={column: na for column in FLOAT_COLUMNS})
    losses = pd.read_csv(paths[LOSSES_FILE], index_col="step", keep_default_na=False, na_values=na)
    return ReportRecords(summary, normalise_diffs(diffs, str(paths[DIFFS_FILE])), normalise_losses(losses))
