"""report.md: the report's content as Markdown, with image links to the PNGs beside it.

Text from scenarios and errors is escaped (HTML special characters as entities, table pipes and
line breaks neutralised) so a Markdown viewer shows it literally; tracebacks and the spec go in
fenced code blocks.
"""
from __future__ import annotations

import html
import re
from typing import Iterable

from comparisons.report import content
from comparisons.report.content import Table
from comparisons.report.records import ReportRecords


def md_escape(text: object) -> str:
    """Inline text that renders literally: HTML escaped, Markdown punctuation backslashed."""
    escaped = html.escape(str(text), quote=False)
    escaped = re.sub(r"([\\`*\[\]|])", r"\\\1", escaped)
    escaped = re.sub(r"(?<!\w)_|_(?!\w)", r"\\_", escaped)  # intraword underscores are literal already
    return escaped.replace("\r", " ").replace("\n", " ")


def md_table(headers: Iterable[str], rows: Iterable[Iterable[str]], numeric: set[int] = frozenset()) -> str:
    headers = list(headers)
    lines = ["| " + " | ".join(md_escape(h) for h in headers) + " |",
             "|" + "|".join("---:" if i in numeric else "---" for i in range(len(headers))) + "|"]
    lines += ["| " + " | ".join(md_escape(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _table(table: Table) -> str:
    return md_table(table.headers, table.rows, table.numeric)


def _key_values(rows: list[tuple[str, str]]) -> str:
    return md_table(["", ""], rows)


def _fence(text: str, language: str = "") -> str:
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n{text.rstrip()}\n{fence}"


def render_markdown(records: ReportRecords, image_names: Iterable[str]) -> str:
    summary = records.summary
    images = set(image_names)
    passed = bool(summary.get("passed"))
    out: list[str] = []
    notice = content.incomplete_notice(records)
    if notice:
        out += [f"> **INCOMPLETE**: {md_escape(notice)}", ""]
    out += [f"# {md_escape(content.title(records))}", ""]
    if content.description(records):
        out += [f"_{md_escape(content.description(records))}_", ""]
    out += [f"## {'✅ PASS' if passed else '❌ FAIL'}", "", md_escape(summary.get("verdict", "")), "",
            _key_values(content.facts(records)), ""]

    out += ["## Loss", "", _image(images, "loss.png"), ""]
    full_batch = content.full_batch(records)
    if full_batch:
        out += ["## Optimizer runs", ""]
        for caption, table in full_batch:
            out += [f"### {md_escape(caption)}", "", _table(table), ""]

    out += ["## First divergence", ""]
    rows = content.divergence(records)
    if rows is None:
        out += ["No exact pairing left the tolerance at any step.", ""]
    else:
        out += [_key_values(rows), ""]
        tensors = content.divergence_tensors(records)
        if tensors:
            stats, worst = tensors
            out += ["### The two tensors at that step", "", _key_values(stats), "", "Largest element differences:", "",
                    _table(worst), ""]

    out += ["## Failures", ""]
    failures, nonfinite = content.failures(records), content.nonfinite(records)
    if not failures and not nonfinite:
        out += [content.no_failures(records), ""]
    for failure in failures:
        out += [f"### {md_escape(failure['backend'])} failed {md_escape(failure['when'])}", "",
                f"{md_escape(failure['error'])}", "", _fence(failure["traceback"], "text"), ""]
    if nonfinite:
        out += ["### Non-finite values", "", _table(nonfinite), ""]

    out += ["## Errors per parameter", "",
            "Largest relative error per parameter and step; dashed red line: the tolerance; grey: a known "
            "convention difference.", "", _image(images, "errors.png"), ""]
    out += ["## Heat map", "", "Red: beyond the tolerance; blue: within; grey: convention difference; "
            "white: not run.", "", _image(images, "heatmap.png"), ""]

    out += ["## Worst errors", ""]
    worst = content.worst(records)
    out += [_table(worst) if worst else "No pairing produced diff rows.", ""]

    out += ["## Conventions", ""]
    conventions = content.conventions(records)
    if conventions is None:
        out += ["No known convention difference applies to this scenario.", ""]
    else:
        out += [_table(conventions), ""]
        sizes = content.convention_sizes(records)
        if sizes is not None:
            out += ["Measured size (rows labelled as convention differences, all of the above combined):", "",
                    _table(sizes), ""]

    doctor = records.report.get("doctor")
    if doctor:
        from comparisons.report.doctor_section import render_doctor_markdown

        out += [render_doctor_markdown(doctor), ""]

    out += ["## Environment", "", _table(content.environment(records)), ""]
    timing = content.timings(records)
    if timing:
        out += [_table(timing), ""]
    out += ["## Scenario", "", _fence(content.spec_toml(records), "toml"), ""]
    out += ["## Files", "", md_table(["file", "contents"],
                                     content.data_files(records) + [(n, w) for n, w in content.PLOT_FILES.items() if n in images]), ""]
    return "\n".join(out).rstrip() + "\n"


def _image(images: set[str], name: str) -> str:
    if name not in images:
        return "Nothing to plot."
    return f"![{md_escape(content.PLOT_FILES[name])}]({name})"
