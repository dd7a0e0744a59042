"""report.md: the report's one `blocks.Page` as Markdown, with image links to the PNGs beside it.

It renders the same page as report.html (`content.build_page`), so both show the same sections
in the same order. Text from scenarios and errors is escaped (HTML special characters as
entities, table pipes and line breaks neutralised) so a Markdown viewer shows it literally;
tracebacks and the spec go in fenced code blocks.
"""
from __future__ import annotations

import html
import re
from typing import Iterable, Mapping

from comparisons.report import content
from comparisons.report.blocks import (Block, Bullets, Code, Group, Heading, Image, KeyValues, Page, Section, Status,
                                       Table, Text)
from comparisons.report.records import ReportRecords


def md_escape(text: object) -> str:
    """Inline text that renders literally: HTML escaped, Markdown punctuation backslashed."""
    escaped = html.escape(str(text), quote=False)
    escaped = re.sub(r"([\\`*\[\]|])", r"\\\1", escaped)
    escaped = re.sub(r"(?<!\w)_|_(?!\w)", r"\\_", escaped)  # intraword underscores are literal already
    return escaped.replace("\r", " ").replace("\n", " ")


def md_table(headers: Iterable[str], rows: Iterable[Iterable[str]], numeric: set[int] = frozenset(),
             code: set[int] = frozenset(), links: Mapping[tuple[int, int], str] | None = None) -> str:
    headers = list(headers)
    links = links or {}

    def cell(i: int, j: int, value: str) -> str:
        text = f"`{value}`" if j in code and "`" not in value else md_escape(value)
        if (i, j) in links:
            return f"[{text}](<{links[(i, j)].replace('>', '%3E')}>)"
        return text

    lines = ["| " + " | ".join(md_escape(h) for h in headers) + " |",
             "|" + "|".join("---:" if i in numeric else "---" for i in range(len(headers))) + "|"]
    lines += ["| " + " | ".join(cell(i, j, c) for j, c in enumerate(row)) + " |" for i, row in enumerate(rows)]
    return "\n".join(lines)


def _fence(text: str, language: str = "") -> str:
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n{text.rstrip()}\n{fence}"


def render_markdown(records: ReportRecords, image_names: Iterable[str]) -> str:
    return render_page(content.build_page(records, image_names))


def render_page(page: Page) -> str:
    out: list[str] = []
    if page.incomplete:
        out += [f"> **INCOMPLETE**: {md_escape(page.incomplete)}", ""]
    out += [f"# {md_escape(page.title)}", ""]
    if page.description:
        out += [f"_{md_escape(page.description)}_", ""]
    out += [f"## {'✅ PASS' if page.passed else '❌ FAIL'}", "", md_escape(page.verdict), ""]
    out += [_block(alert) + "\n" for alert in page.alerts]
    out += [md_table(["", ""], page.facts), ""]
    out += [_block(note) + "\n" for note in page.notes]
    out += [render_section(section) for section in page.sections]
    return "\n".join(out).rstrip() + "\n"


def render_section(section: Section) -> str:
    """`## title` and the section's blocks, each followed by a blank line."""
    return "\n\n".join([f"## {md_escape(section.title)}", *[_block(block) for block in section.blocks]]) + "\n"


def _block(block: Block) -> str:
    if isinstance(block, Text):
        label = f"**{md_escape(block.label)}:** " if block.label else ""
        if block.style == "alert":
            return f"> {label}**{md_escape(block.text)}**"
        return f"{label}{md_escape(block.text)}"
    if isinstance(block, Heading):
        return f"### {md_escape(block.text)}"
    if isinstance(block, Table):
        table = md_table(block.headers, block.rows, block.numeric, block.code, block.links)
        return f"{md_escape(block.caption)}:\n\n{table}" if block.caption else table
    if isinstance(block, KeyValues):
        return md_table(["", ""], block.rows)
    if isinstance(block, Bullets):
        return "\n".join(f"- {md_escape(item)}" for item in block.items)
    if isinstance(block, Image):
        return f"![{md_escape(block.caption)}]({block.name})"
    if isinstance(block, Code):
        return _fence(block.text, block.language)
    if isinstance(block, Status):
        return f"**{md_escape(block.label)}**: {md_escape(block.text)}"
    if isinstance(block, Group):
        return "\n\n".join(_block(b) for b in block.blocks)
    raise TypeError(f"unknown report block {type(block).__name__}")
