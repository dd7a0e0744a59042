"""Reports of a comparison: summary.json, diffs.csv (+ .parquet), losses.csv, report.md and a
self-contained report.html with plots.

    import comparisons
    from comparisons.report import write_report, render
    comparison = comparisons.run("xor-sigmoid-sgd")
    write_report(comparison, "reports/xor-sigmoid-sgd")   # -> {"report.html": Path(...), ...}
    render("reports/xor-sigmoid-sgd")                     # redo the pages from the saved files

summary.json follows the versioned schema of `comparisons.report.schema` (`load_summary`).
The names below are imported on first use, so `Comparison.summary()` (which needs only the
schema) does not load matplotlib.
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "write_report": "comparisons.report.writer", "render": "comparisons.report.writer",
    "FORMATS": "comparisons.report.writer", "load_records": "comparisons.report.records",
    "ReportRecords": "comparisons.report.records", "render_doctor_section": "comparisons.report.doctor_section",
    "render_doctor_markdown": "comparisons.report.doctor_section", "load_summary": "comparisons.report.schema",
    "Summary": "comparisons.report.schema", "SummaryError": "comparisons.report.schema",
    "SCHEMA_VERSION": "comparisons.report.schema",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'comparisons.report' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
