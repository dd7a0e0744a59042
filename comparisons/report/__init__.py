"""Reports of a comparison: summary.json, diffs.csv (+ .parquet), losses.csv, report.md and a
self-contained report.html with plots.

    import comparisons
    from comparisons.report import write_report, render
    comparison = comparisons.run("xor-sigmoid-sgd")
    write_report(comparison, "reports/xor-sigmoid-sgd")   # -> {"report.html": Path(...), ...}
    render("reports/xor-sigmoid-sgd")                     # redo the pages from the saved files
"""
from comparisons.report.doctor_section import render_doctor_markdown, render_doctor_section
from comparisons.report.records import ReportRecords, load_records
from comparisons.report.writer import FORMATS, render, write_report

__all__ = ["write_report", "render", "load_records", "ReportRecords", "render_doctor_section",
           "render_doctor_markdown", "FORMATS"]
