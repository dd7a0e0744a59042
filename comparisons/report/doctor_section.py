"""A report section for a doctor result, from a plain dict (HTML and Markdown).

The dict has the keys ``ok`` (bool), ``culprit`` (str, list or None), ``findings`` (list of
dicts with ``param``, ``kind``, ``factor``, ``max_abs``, ``max_rel``, ``evidence``; other keys
are shown too) and ``notes`` (a string or a list of strings). It is free-form on purpose (any
producer of such a dict can use these renderers): `DoctorView.of` reads it once, missing keys
as empty, and other non-empty keys (a cause, the network, ...) are listed as they are.
`doctor_blocks` turns it into report blocks, which the report's one section list holds and
`html_page` / `markdown_page` render and escape like every other section.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Mapping

from comparisons.report.blocks import Block, Bullets, KeyValues, Section, Status, Table, Text

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


def _flat(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and all(not isinstance(v, (Mapping, list, tuple)) for v in value)


def _is_empty(value: Any) -> bool:
    """None, "", [] or {} (a finding's or result's key left unset)."""
    return value is None or (isinstance(value, (str, list, tuple, dict)) and not value)


@dataclass
class DoctorView:
    """A doctor result dict read once: the four known keys, and the other non-empty ones."""

    ok: bool
    culprit: str  # "" when none
    findings: list[dict[str, Any]]
    notes: list[str]
    details: list[tuple[str, str]]  # other non-empty top-level entries, scalars as text, nested data as JSON

    @classmethod
    def of(cls, result: Mapping[str, Any]) -> "DoctorView":
        known = {key: result[key] for key in TOP_LEVEL if key in result}
        notes = known["notes"] if "notes" in known and known["notes"] else []
        findings = known["findings"] if "findings" in known and known["findings"] else []
        culprit = known["culprit"] if "culprit" in known and known["culprit"] else None
        details = []
        for key, value in result.items():
            if key in TOP_LEVEL or _is_empty(value):
                continue
            text = _text(value) if not isinstance(value, (Mapping, list, tuple)) or _flat(value) else json.dumps(
                value, default=str, separators=(", ", ": "))
            details.append((str(key), text))
        return cls(ok=bool(known["ok"]) if "ok" in known else False,
                   culprit="" if culprit is None else _text(culprit),
                   findings=[dict(f) for f in findings if isinstance(f, Mapping)],
                   notes=[notes] if isinstance(notes, str) else [_text(n) for n in notes], details=details)

    def columns(self) -> list[str]:
        """The standard columns, then any other key that some finding fills in."""
        extra = [key for finding in self.findings for key, value in finding.items()
                 if key not in FINDING_COLUMNS and not _is_empty(value)]
        return list(FINDING_COLUMNS) + list(dict.fromkeys(extra))


def doctor_blocks(result: Mapping[str, Any]) -> list[Block]:
    """The doctor section's content: a badge, the culprit, the findings, other details and notes."""
    view = DoctorView.of(result)
    blocks: list[Block] = [Status(view.ok, "OK" if view.ok else "PROBLEM",
                                  "the gradients check out." if view.ok
                                  else "the gradients do not match the reference.")]
    if view.culprit:
        blocks.append(Text(view.culprit, label="Culprit"))
    if view.findings:
        columns = view.columns()
        blocks.append(Table(columns, [[_text(f[c]) if c in f else "—" for c in columns] for f in view.findings]))
    elif not view.ok:
        blocks.append(Text("No finding named a pattern."))
    if view.details:
        blocks.append(KeyValues(view.details))
    if view.notes:
        blocks.append(Bullets(view.notes))
    return blocks


def doctor_section(result: Mapping[str, Any]) -> Section:
    return Section("doctor", "Doctor", doctor_blocks(result))


def render_doctor_section(result: Mapping[str, Any]) -> str:
    """An HTML <section id="doctor"> for a doctor result dict (see module docstring)."""
    from comparisons.report.html_page import render_section

    return render_section(doctor_section(result))


def render_doctor_markdown(result: Mapping[str, Any]) -> str:
    """The same section as Markdown."""
    from comparisons.report.markdown_page import render_section

    return render_section(doctor_section(result))
