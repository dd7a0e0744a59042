"""report.html: one self-contained page (inline CSS, PNGs as base64 data URIs, no JavaScript, no
external URL), rendered from the one `blocks.Page` that `content.build_page` makes (report.md
renders the same page, so both show the same sections in the same order; the navigation is
that list too). Every string that comes from a scenario, a backend or an error is escaped with
`html.escape`.
"""
from __future__ import annotations

import base64
import html
from typing import Mapping

from comparisons.report import content
from comparisons.report.blocks import (Block, Bullets, Code, Group, Heading, Image, KeyValues, Page, Section, Status,
                                       Table, Text)
from comparisons.report.records import ReportRecords

CSS = """
:root { --pass: #1a7f37; --fail: #cf222e; --warn: #9a6700; --ink: #1f2328; --muted: #57606a;
        --line: #d0d7de; --soft: #f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff; line-height: 1.45;
       font: 15px/1.45 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; }
main { max-width: 1120px; margin: 0 auto; padding: 24px 28px 60px; }
h1 { font-size: 26px; margin: 8px 0 4px; word-break: break-word; }
h2 { font-size: 20px; margin: 36px 0 10px; padding-bottom: 6px; border-bottom: 1px solid var(--line); }
h3 { font-size: 16px; margin: 20px 0 8px; }
p.description { color: var(--muted); margin: 0 0 16px; }
.incomplete { background: #fff8c5; border: 2px solid var(--warn); color: #4d2d00; border-radius: 8px;
              padding: 12px 16px; font-weight: 600; margin-bottom: 12px; }
.incomplete strong { font-size: 20px; letter-spacing: .04em; margin-right: 8px; }
.verdict { display: flex; gap: 20px; align-items: center; border-radius: 10px; padding: 18px 22px;
           margin: 12px 0 18px; border: 2px solid; }
.verdict.pass { background: #dafbe1; border-color: var(--pass); }
.verdict.fail { background: #ffebe9; border-color: var(--fail); }
.verdict .big { font-size: 46px; font-weight: 800; letter-spacing: .05em; line-height: 1; }
.verdict.pass .big { color: var(--pass); }
.verdict.fail .big { color: var(--fail); }
.verdict p { margin: 0; font-size: 16px; word-break: break-word; }
dl.facts { display: grid; grid-template-columns: repeat(auto-fill, minmax(200px, 1fr)); gap: 8px; margin: 0; }
dl.facts div { background: var(--soft); border: 1px solid var(--line); border-radius: 6px; padding: 6px 10px; }
dl.facts dt { font-size: 12px; color: var(--muted); text-transform: uppercase; letter-spacing: .04em; }
dl.facts dd { margin: 0; font-weight: 600; word-break: break-word; }
nav { margin: 20px 0 0; font-size: 14px; }
nav a { color: #0969da; text-decoration: none; margin-right: 14px; white-space: nowrap; }
td a { color: #0969da; }
figure { margin: 8px 0 0; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); border-radius: 6px; }
figcaption { color: var(--muted); font-size: 13px; margin-top: 4px; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 13px; margin: 6px 0 12px; }
th, td { border: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: var(--soft); font-weight: 600; }
tbody tr:nth-child(even) { background: #fbfcfd; }
td.num { text-align: right; font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; white-space: nowrap; }
table.kv th { width: 32%; }
tr.convention td { color: var(--muted); }
tr.bad td { background: #ffebe9; }
pre { background: var(--soft); border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px;
      overflow-x: auto; font-size: 12.5px; line-height: 1.35; }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
.badge { display: inline-block; border-radius: 999px; padding: 1px 10px; font-weight: 700; font-size: 13px;
         color: #fff; }
.badge.pass { background: var(--pass); }
.badge.fail { background: var(--fail); }
.failure { border-left: 4px solid var(--fail); padding-left: 12px; margin: 12px 0; }
.ok { color: var(--pass); font-weight: 600; }
p.bad { color: var(--fail); font-weight: 600; }
.alert { background: #ffebe9; border: 2px solid var(--fail); color: #82071e; border-radius: 8px;
         padding: 10px 14px; font-weight: 600; margin: 0 0 12px; }
p.note { font-size: 13px; margin: 10px 0 0; }
.muted { color: var(--muted); }
footer { margin-top: 40px; color: var(--muted); font-size: 12px; }
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def render_html(records: ReportRecords, images: Mapping[str, bytes]) -> str:
    """The whole page as a string."""
    return render_page(content.build_page(records, images), images)


def render_page(page: Page, images: Mapping[str, bytes]) -> str:
    word = "PASS" if page.passed else "FAIL"
    parts = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>{'INCOMPLETE ' if page.incomplete else ''}{word}: {_e(page.title)}</title>",
             f"<style>{CSS}</style>", "</head>", "<body>", "<main>", "<header>"]
    if page.incomplete:
        parts.append(f'<div class="incomplete" id="incomplete"><strong>INCOMPLETE</strong>{_e(page.incomplete)}</div>')
    parts.append(f"<h1>{_e(page.title)}</h1>")
    if page.description:
        parts.append(f'<p class="description">{_e(page.description)}</p>')
    parts.append(f'<div class="verdict {word.lower()}" id="verdict"><span class="big">{word}</span>'
                 f"<p>{_e(page.verdict)}</p></div>")
    parts += [_block(alert, images) for alert in page.alerts]
    parts.append('<dl class="facts">' + "".join(f"<div><dt>{_e(k)}</dt><dd>{_e(v)}</dd></div>"
                                                for k, v in page.facts) + "</dl>")
    parts += [_block(note, images) for note in page.notes]
    parts.append("<nav>" + "".join(f'<a href="#{_e(s.id)}">{_e(s.title)}</a>' for s in page.sections) + "</nav>")
    parts.append("</header>")
    parts += [render_section(section, images) for section in page.sections]
    parts += [f"<footer>scratchnet-parity report, summary.json schema {_e(page.schema_version)}. "
              "Re-render from the saved files with <code>parity report DIR</code>.</footer>",
              "</main>", "</body>", "</html>"]
    return "\n".join(parts) + "\n"


def render_section(section: Section, images: Mapping[str, bytes] | None = None) -> str:
    """One <section id=...> with its <h2> title and its blocks."""
    return "\n".join([f'<section id="{_e(section.id)}">', f"<h2>{_e(section.title)}</h2>",
                      *[_block(block, images or {}) for block in section.blocks], "</section>"])


def _block(block: Block, images: Mapping[str, bytes]) -> str:
    if isinstance(block, Text):
        label = f"<strong>{_e(block.label)}:</strong> " if block.label else ""
        if block.style == "code":
            return f"<p>{label}<code>{_e(block.text)}</code></p>"
        if block.style == "alert":
            return f'<div class="alert">{label}{_e(block.text)}</div>'
        if block.label and block.style == "muted":
            return f'<p class="note muted">{label}{_e(block.text)}</p>'
        cls = f' class="{block.style}"' if block.style else ""
        return f"<p{cls}>{label}{_e(block.text)}</p>"
    if isinstance(block, Heading):
        return f"<h3>{_e(block.text)}</h3>"
    if isinstance(block, Table):
        return _table(block)
    if isinstance(block, KeyValues):
        body = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in block.rows)
        return f'<div class="scroll"><table class="kv"><tbody>{body}</tbody></table></div>'
    if isinstance(block, Bullets):
        return '<ul class="notes">' + "".join(f"<li>{_e(item)}</li>" for item in block.items) + "</ul>"
    if isinstance(block, Image):
        return _figure(block, images)
    if isinstance(block, Code):
        pre = f"<pre>{_e(block.text)}</pre>"
        return f"<details open><summary>{_e(block.collapsible)}</summary>{pre}</details>" if block.collapsible else pre
    if isinstance(block, Status):
        return (f'<p><span class="badge {"pass" if block.ok else "fail"}">{_e(block.label)}</span> '
                f"{_e(block.text)}</p>")
    if isinstance(block, Group):
        return f'<div class="{_e(block.style)}">' + "".join(_block(b, images) for b in block.blocks) + "</div>"
    raise TypeError(f"unknown report block {type(block).__name__}")


def _table(table: Table) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in table.headers)
    body = []
    for i, row in enumerate(table.rows):
        style = table.row_styles[i] if i < len(table.row_styles) else ""
        cls = f' class="{style}"' if style else ""
        cells = []
        for j, cell in enumerate(row):
            text = f"<code>{_e(cell)}</code>" if j in table.code else _e(cell)
            if (i, j) in table.links:
                text = f'<a href="{_e(table.links[(i, j)])}">{text}</a>'
            cells.append(f'<td class="num">{text}</td>' if j in table.numeric else f"<td>{text}</td>")
        body.append(f"<tr{cls}>{''.join(cells)}</tr>")
    caption = f'<caption class="muted">{_e(table.caption)}</caption>' if table.caption else ""
    return (f'<div class="scroll"><table>{caption}<thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody>'
            "</table></div>")


def _figure(image: Image, images: Mapping[str, bytes]) -> str:
    if image.name not in images:
        return '<p class="muted">Nothing to plot.</p>'
    data = base64.b64encode(images[image.name]).decode("ascii")
    return (f'<figure><img src="data:image/png;base64,{data}" alt="{_e(image.caption)}">'
            f"<figcaption>{_e(image.caption)} ({_e(image.name)})</figcaption></figure>")
