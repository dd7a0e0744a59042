"""`write_report` (a Comparison to a report folder) and `render` (a report folder to its pages again)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable, Mapping

from comparisons.report import plots, records as rec
from comparisons.report.content import PLOT_FILES
from comparisons.report.html_page import render_html
from comparisons.report.markdown_page import render_markdown
from comparisons.report.records import ReportRecords, atomic_write_bytes, atomic_write_text, load_records

FORMATS = ("html", "md", "csv", "json", "parquet")
PAGES = ("html", "md")


def _check_formats(formats: Iterable[str], valid: tuple[str, ...]) -> tuple[str, ...]:
    if isinstance(formats, str):
        formats = (formats,)
    chosen = tuple(dict.fromkeys(formats))
    unknown = [f for f in chosen if f not in valid]
    if unknown:
        raise ValueError(f"formats: unknown format(s) {unknown}; choose from {list(valid)}")
    return chosen


def write_report(comparison: Any, out_dir: str | os.PathLike, formats: Iterable[str] = FORMATS, *,
                 doctor: Mapping[str, Any] | None = None) -> dict[str, Path]:
    """Write a comparison's report into `out_dir` (created if missing) and return the paths written,
    keyed by file name.

    formats: "json" -> summary.json (`comparison.summary()` plus a "report" entry, in the schema of
    `comparisons.report.schema`, version `SCHEMA_VERSION`); "csv" -> diffs.csv
    and losses.csv; "parquet" -> diffs.parquet, only when pyarrow is importable (otherwise skipped and
    noted in summary.json and the pages); "md" -> report.md; "html" -> report.html (self-contained).
    "md" and "html" also write the plots (loss.png, errors.png, heatmap.png) beside the pages.
    `render(out_dir)` can redo the pages later from summary.json, diffs.csv and losses.csv.
    doctor: an optional doctor result dict (keys ok, culprit, findings, notes) shown as a section;
    by default the comparison's own diagnosis (user code's first divergence), if any.
    Every file is written atomically (temporary file in out_dir, then os.replace).
    """
    chosen = _check_formats(formats, FORMATS)
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    if doctor is None and getattr(comparison, "diagnosis", None) is not None:
        doctor = comparison.diagnosis.to_dict()
    records = rec.records_from_comparison(comparison, doctor)
    written: dict[str, Path] = {}
    data_files = records.report.data_files
    if "json" in chosen:
        data_files[rec.SUMMARY_FILE] = "written"
    if "csv" in chosen:
        data_files[rec.DIFFS_FILE] = data_files[rec.LOSSES_FILE] = "written"
    if "parquet" in chosen:
        data_files[rec.DIFFS_PARQUET_FILE] = "written" if rec.parquet_available() else rec.PARQUET_SKIPPED
    if "csv" in chosen:
        written[rec.DIFFS_FILE] = atomic_write_bytes(folder / rec.DIFFS_FILE, rec.diffs_csv(records.diffs))
        written[rec.LOSSES_FILE] = atomic_write_bytes(folder / rec.LOSSES_FILE, rec.losses_csv(records.losses))
    if data_files.get(rec.DIFFS_PARQUET_FILE) == "written":
        written[rec.DIFFS_PARQUET_FILE] = atomic_write_bytes(folder / rec.DIFFS_PARQUET_FILE,
                                                             rec.diffs_parquet(records.diffs))
    if "json" in chosen:
        written[rec.SUMMARY_FILE] = atomic_write_text(folder / rec.SUMMARY_FILE, rec.dumps(records.summary))
    written.update(_pages(records, folder, tuple(f for f in chosen if f in PAGES)))
    return written


def render(out_dir: str | os.PathLike, formats: Iterable[str] = PAGES) -> dict[str, Path]:
    """Re-render report.html / report.md and the plots in `out_dir` from its summary.json, diffs.csv
    and losses.csv, without running anything. Returns the paths written, keyed by file name."""
    chosen = _check_formats(formats, PAGES)
    folder = Path(out_dir)
    return _pages(load_records(folder), folder, chosen)


def _pages(records: ReportRecords, folder: Path, formats: tuple[str, ...]) -> dict[str, Path]:
    if not formats:
        return {}
    images = plots.figures(records)
    written = {name: atomic_write_bytes(folder / name, data) for name, data in images.items()}
    for stale in set(PLOT_FILES) - set(images):  # a re-render with less to plot leaves no old figure behind
        (folder / stale).unlink(missing_ok=True)
    if "md" in formats:
        written["report.md"] = atomic_write_text(folder / "report.md", render_markdown(records, images))
    if "html" in formats:
        written["report.html"] = atomic_write_text(folder / "report.html", render_html(records, images))
    return written
