"""What a report is made from, and how it is saved and read back.

A report is rendered from three records only, so `render(out_dir)` can redo it without running
anything:

* ``summary.json``: `Comparison.summary()` plus a ``"report"`` entry this package adds (when it was
  written, what the first divergence's tensors looked like, which data files were written, an
  optional doctor result). Strict JSON: NaN and infinities are stored as the strings ``"NaN"``,
  ``"Infinity"`` and ``"-Infinity"``.
* ``diffs.csv``: `Comparison.diffs`, one row per step x backend x reference x quantity x parameter
  (columns in `DIFF_COLUMNS`); floats written with full precision, so they read back bit-exact.
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

SUMMARY_FILE = "summary.json"
DIFFS_FILE = "diffs.csv"
DIFFS_PARQUET_FILE = "diffs.parquet"
LOSSES_FILE = "losses.csv"
REPORT_FORMAT = 1

STRING_COLUMNS = ("backend", "reference", "quantity", "param", "expected")
INTEGER_COLUMNS = ("step", "index")
FLOAT_COLUMNS = ("max_abs", "max_rel", "cosine", "scale", "value", "reference_value", "allowed")
DIFF_COLUMNS = ("step", "backend", "reference", "quantity", "param", "max_abs", "max_rel", "cosine", "scale",
                "index", "value", "reference_value", "allowed", "passed", "expected")
WORST_ELEMENTS = 10
SMALL_TENSOR = 64  # tensors up to this many elements are kept whole in summary.json


@dataclass
class ReportRecords:
    """The saved material of one report: the summary dict, the tidy diffs and the loss table."""

    summary: dict[str, Any]
    diffs: pd.DataFrame
    losses: pd.DataFrame

    @property
    def incomplete(self) -> bool:
        """True when the run stopped before its last step (interrupted, or every backend stopped)."""
        summary = self.summary
        return bool(summary.get("interrupted")) or summary.get("steps_completed", 0) < summary.get("steps", 0)

    @property
    def report(self) -> dict[str, Any]:
        return self.summary.get("report") or {}


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


def dumps(summary: Mapping[str, Any]) -> str:
    return json.dumps(plain(summary), indent=2, allow_nan=False) + "\n"


# ---------------------------------------------------------------------- building records
def records_from_comparison(comparison: Any, doctor: Mapping[str, Any] | None = None) -> ReportRecords:
    """The records of a `comparisons.Comparison`, normalised exactly as `load_records` reads them
    back (so a report rendered now and one rendered later from the files are identical)."""
    summary = comparison.summary()
    divergence = comparison.first_divergence
    tensors = None
    if divergence is not None and divergence.checked_tensor is not None and divergence.reference_tensor is not None:
        tensors = tensor_summary(divergence.checked_tensor, divergence.reference_tensor, divergence.allowed)
    summary["report"] = {
        "format": REPORT_FORMAT,
        "generated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "first_divergence_tensors": tensors,
        "data_files": {},
        "doctor": None if doctor is None else dict(doctor),
    }
    return ReportRecords(json.loads(dumps(summary)), normalise_diffs(comparison.diffs), normalise_losses(comparison.losses))


def tensor_summary(checked: np.ndarray, reference: np.ndarray, allowed: float) -> dict[str, Any]:
    """What the two tensors at the first divergence looked like: shape, how many elements differ
    by more than `allowed`, the largest differences with their indices, norms, cosine and the
    least-squares factor k in checked ~ k * reference (2.0 for a doubled gradient, -1.0 for a
    flipped sign). Small tensors (up to SMALL_TENSOR elements) are kept whole."""
    a = np.asarray(checked, dtype=np.float64)
    b = np.asarray(reference, dtype=np.float64)
    shape = list(b.shape)
    flat_a, flat_b = a.ravel(), b.ravel()
    with np.errstate(invalid="ignore", over="ignore"):
        error = np.abs(flat_a - flat_b)
    error = np.where(np.isnan(error), np.inf, error)
    order = np.argsort(-error, kind="stable")[:WORST_ELEMENTS]
    worst = [{"index": [int(i) for i in np.unravel_index(int(k), b.shape)] if b.ndim else [],
              "value": float(flat_a[k]), "reference_value": float(flat_b[k]), "error": float(error[k])}
             for k in order]
    finite = np.isfinite(flat_a) & np.isfinite(flat_b)
    fa, fb = flat_a[finite], flat_b[finite]
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        norm_a, norm_b = float(np.linalg.norm(fa)), float(np.linalg.norm(fb))
        cosine = float(np.dot(fa, fb) / (norm_a * norm_b)) if norm_a > 0 and norm_b > 0 else None
        factor = float(np.dot(fa, fb) / np.dot(fb, fb)) if norm_b > 0 else None
    out: dict[str, Any] = {
        "shape": shape, "size": int(flat_b.size), "allowed": float(allowed),
        "mismatched": int(np.count_nonzero(error > allowed)),
        "checked_norm": norm_a, "reference_norm": norm_b, "cosine": cosine, "scale_factor": factor,
        "worst_elements": worst,
    }
    if flat_b.size <= SMALL_TENSOR:
        out["checked"] = a.tolist()
        out["reference"] = b.tolist()
    return out


def normalise_diffs(diffs: pd.DataFrame) -> pd.DataFrame:
    """The diff table with the documented columns and plain dtypes (int64, float64, bool, str)."""
    missing = [column for column in DIFF_COLUMNS if column not in diffs.columns]
    if missing:
        raise ValueError(f"diffs: missing columns {missing}; expected {list(DIFF_COLUMNS)}")
    frame = diffs.loc[:, list(DIFF_COLUMNS)].reset_index(drop=True)
    columns: dict[str, Any] = {}
    for column in DIFF_COLUMNS:
        values = frame[column]
        if column in STRING_COLUMNS:
            columns[column] = np.array(["" if pd.isna(v) else str(v) for v in values], dtype=object)
        elif column in INTEGER_COLUMNS:
            columns[column] = values.to_numpy(dtype=np.int64)
        elif column == "passed":
            columns[column] = values.to_numpy(dtype=bool) if values.dtype == bool else np.array(
                [v in (True, "True", "true") for v in values], dtype=bool)
        else:
            columns[column] = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
    return pd.DataFrame(columns)


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
    """Read summary.json, diffs.csv and losses.csv from a report folder written by `write_report`."""
    folder = Path(out_dir)
    paths = {name: folder / name for name in (SUMMARY_FILE, DIFFS_FILE, LOSSES_FILE)}
    missing = [name for name, path in paths.items() if not path.is_file()]
    if missing:
        raise FileNotFoundError(
            f"out_dir {str(folder)!r} lacks {', '.join(missing)}: render needs the summary.json, diffs.csv and "
            f"losses.csv that comparisons.report.write_report(comparison, out_dir) writes; run the comparison "
            f"again with a report to create them")
    try:
        summary = json.loads(paths[SUMMARY_FILE].read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{paths[SUMMARY_FILE]}: not valid JSON ({error})") from None
    if not isinstance(summary, dict) or "verdict" not in summary:
        raise ValueError(f"{paths[SUMMARY_FILE]}: not a comparison summary (no 'verdict' key)")
    summary.setdefault("report", {"format": REPORT_FORMAT, "data_files": {}})
    na = ["NaN", "nan", ""]
    diffs = pd.read_csv(paths[DIFFS_FILE], dtype={column: str for column in STRING_COLUMNS}, keep_default_na=False,
                        na_values={column: na for column in FLOAT_COLUMNS})
    losses = pd.read_csv(paths[LOSSES_FILE], index_col="step", keep_default_na=False, na_values=na)
    return ReportRecords(summary, normalise_diffs(diffs), normalise_losses(losses))
