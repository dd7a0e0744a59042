"""A report for a doctor run (no comparison): doctor.json, doctor.md and a self-contained
doctor.html with the same style as report.html, plus the plain-text report a person reads
in the terminal. Every file is written atomically."""
from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any, Mapping

from comparisons.report.doctor_section import DoctorView, render_doctor_markdown, render_doctor_section
from comparisons.report.html_page import CSS
from comparisons.report.records import atomic_write_text, plain


def write_doctor_report(result: Any, out_dir: str | Path) -> dict[str, Path]:
    """Write a `DiagnosisResult` (or its `to_dict()`) into out_dir: doctor.json, doctor.md, doctor.html."""
    data: Mapping[str, Any] = result.to_dict() if hasattr(result, "to_dict") else result
    text = str(result)
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    ok = DoctorView.of(data).ok
    page = "\n".join([
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        f"<title>Backprop doctor: {'OK' if ok else 'PROBLEM'}</title>", f"<style>{CSS}</style>", "</head>",
        "<body>", "<main>", "<h1>Backprop doctor</h1>",
        f'<div class="verdict {"pass" if ok else "fail"}" id="verdict"><span class="big">{"OK" if ok else "WRONG"}</span>'
        f"<p>{html.escape(text.splitlines()[0] if text else '')}</p></div>",
        render_doctor_section(data),
        "<h2>Full report</h2>", f"<pre>{html.escape(text)}</pre>",
        "</main>", "</body>", "</html>",
    ])
    return {
        "doctor.json": atomic_write_text(folder / "doctor.json", json.dumps(plain(data), indent=2, allow_nan=False) + "\n"),
        "doctor.md": atomic_write_text(folder / "doctor.md", "# Backprop doctor\n\n" + render_doctor_markdown(data)
                                       + "\n\n```\n" + text + "\n```\n"),
        "doctor.html": atomic_write_text(folder / "doctor.html", page + "\n"),
    }
