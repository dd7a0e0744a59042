"""The report as data: a `Page` is a header plus ONE ordered list of `Section`s, each a list of
blocks (text, tables, key/value lists, images, code). `content.build_page` makes it from the
records once; `html_page` and `markdown_page` only render it, so both pages -- and the HTML
navigation -- show the same sections in the same order.

Strings are raw (unescaped); each renderer escapes them for its own format.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union


@dataclass
class Text:
    """A paragraph. style: "" | "muted" | "ok" | "bad" | "alert" (a boxed warning) | "code"
    (the whole text as inline code). label: a bold lead-in ("Culprit")."""

    text: str
    style: str = ""
    label: str = ""


@dataclass
class Heading:
    """A sub-heading inside a section."""

    text: str


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]
    numeric: set[int] = field(default_factory=set)  # column positions to right-align
    code: set[int] = field(default_factory=set)  # column positions shown as code (file names)
    row_styles: list[str] = field(default_factory=list)  # per row: "" | "bad" | "convention"
    caption: str = ""
    links: dict[tuple[int, int], str] = field(default_factory=dict)  # (row, column) -> relative URL of that cell


@dataclass
class KeyValues:
    rows: list[tuple[str, str]]


@dataclass
class Bullets:
    items: list[str]


@dataclass
class Image:
    """A PNG written beside the pages (embedded in the HTML, linked from the Markdown)."""

    name: str
    caption: str


@dataclass
class Code:
    """A preformatted block; `collapsible` names a <details> summary in HTML (open by default)."""

    text: str
    language: str = ""
    collapsible: str = ""


@dataclass
class Status:
    """A badge (OK / PROBLEM) followed by a sentence."""

    ok: bool
    label: str
    text: str


@dataclass
class Group:
    """Blocks that belong together, boxed by `style` (e.g. one failure with its traceback)."""

    style: str
    blocks: list["Block"]


Block = Union[Text, Heading, Table, KeyValues, Bullets, Image, Code, Status, Group]


@dataclass
class Section:
    id: str  # HTML anchor, unique on the page
    title: str
    blocks: list[Block]


@dataclass
class Page:
    title: str
    description: str
    incomplete: str | None  # why the report is INCOMPLETE, or None
    passed: bool
    verdict: str
    facts: list[tuple[str, str]]
    alerts: list[Text]  # shown right under the verdict (shape/dtype findings)
    notes: list[Text]  # shown under the facts (the reason for a tolerance override)
    sections: list[Section]  # the one ordered list both pages and the navigation follow
    schema_version: int
