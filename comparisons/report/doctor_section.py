"""A report section for a doctor result, from a plain dict (HTML and Markdown).

The dict has the keys ``ok`` (bool), ``culprit`` (str or None), ``findings`` (list of dicts with
``param``, ``kind``, ``factor``, ``max_abs``, ``max_rel``, ``evidence``; other keys are shown too)
and ``notes`` (a string or a list of strings). Missing keys are treated as empty; other non-empty
keys (a cause, the network, ...) are listed as they are, so any producer of such a dict can use
these renderers. Every string is escaped.
"""
from __future__ import annotations

import html
import json
import math
from typing import Any, Mapping

FINDING_COLUMNS = ("param", "kind", "factor", "max_abs", "max_rel", "evidence")
TOP_LEVEL = ("ok", "culprit", "findings", "notes")


def _text(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return f"{value:.6g}" if 1e-3 <= abs(value) < 1e6 or value == 0 else f"{value:.3e}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_text(v) for v in value)
    return str(value)


def _columns(findings: list[Mapping[str, Any]]) -> list[str]:
    """The standard columns, then any other key that some finding fills in."""
    extra = [key for finding in findings for key, value in finding.items()
             if key not in FINDING_COLUMNS and value not in (None, "", [], {})]
    return list(FINDING_COLUMNS) + list(dict.fromkeys(extra))


def _details(result: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Other non-empty top-level entries (scalars as text, nested data as compact JSON)."""
    rows = []
    for key, value in result.items():
        if key in TOP_LEVEL or value in (None, "", [], {}):
            continue
        text = _text(value) if not isinstance(value, (Mapping, list, tuple)) or _flat(value) else json.dumps(
            value, default=str, separators=(", ", ": "))
        rows.append((str(key), text))
    return rows


def _flat(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and all(not isinstance(v, (Mapping, list, tuple)) for v in value)


def _notes(result: Mapping[str, Any]) -> list[str]:
    notes = result.get("notes") or []
    return [notes] if isinstance(notes, str) else [_text(n) for n in notes]


def render_doctor_section(result: Mapping[str, Any]) -> str:
    """An HTML <section id="doctor"> for a doctor result dict (see module docstring)."""
    ok = bool(result.get("ok"))
    findings = [f for f in (result.get("findings") or []) if isinstance(f, Mapping)]
    parts = ['<section id="doctor" class="doctor">', "<h2>Doctor</h2>",
             f'<p><span class="badge {"pass" if ok else "fail"}">{"OK" if ok else "PROBLEM"}</span> '
             + ("the gradients check out." if ok else "the gradients do not match the reference.") + "</p>"]
    culprit = result.get("culprit")
    if culprit:
        parts.append(f'<p class="culprit"><strong>Culprit:</strong> {html.escape(_text(culprit))}</p>')
    if findings:
        columns = _columns(findings)
        parts.append('<div class="scroll"><table><thead><tr>'
                     + "".join(f"<th>{html.escape(c)}</th>" for c in columns) + "</tr></thead><tbody>")
        for finding in findings:
            parts.append("<tr>" + "".join(f"<td>{html.escape(_text(finding.get(c)))}</td>" for c in columns) + "</tr>")
        parts.append("</tbody></table></div>")
    elif not ok:
        parts.append("<p>No finding named a pattern.</p>")
    details = _details(result)
    if details:
        parts.append('<div class="scroll"><table class="kv"><tbody>' + "".join(
            f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in details) + "</tbody></table></div>")
    notes = _notes(result)
    if notes:
        parts.append("<ul class=\"notes\">" + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>")
    parts.append("</section>")
    return "\n".join(parts)


def render_doctor_markdown(result: Mapping[str, Any]) -> str:
    """The same section as Markdown."""
    from comparisons.report.markdown_page import md_escape, md_table

    ok = bool(result.get("ok"))
    findings = [f for f in (result.get("findings") or []) if isinstance(f, Mapping)]
    lines = ["## Doctor", "", ("**OK**: the gradients check out." if ok
                               else "**PROBLEM**: the gradients do not match the reference."), ""]
    if result.get("culprit"):
        lines += [f"**Culprit:** {md_escape(_text(result['culprit']))}", ""]
    if findings:
        columns = _columns(findings)
        lines += [md_table(columns, [[_text(f.get(c)) for c in columns] for f in findings]), ""]
    details = _details(result)
    if details:
        lines += [md_table(["", ""], details), ""]
    lines += [f"- {md_escape(n)}" for n in _notes(result)]
    return "\n".join(lines).rstrip() + "\n"
