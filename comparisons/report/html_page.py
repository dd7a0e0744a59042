"""report.html: one self-contained page (inline CSS, PNGs as base64 data URIs, no JavaScript, no
external URL). Every string that comes from a scenario, a backend or an error is escaped with
`html.escape`.
"""
from __future__ import annotations

import base64
import html
from typing import Mapping

from comparisons.report import content
from comparisons.report.content import Table
from comparisons.report.doctor_section import render_doctor_section
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
.muted { color: var(--muted); }
footer { margin-top: 40px; color: var(--muted); font-size: 12px; }
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _table(table: Table, row_classes: list[str] | None = None, caption: str = "") -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in table.headers)
    body = []
    for i, row in enumerate(table.rows):
        cls = f' class="{row_classes[i]}"' if row_classes and row_classes[i] else ""
        cells = "".join(f'<td class="num">{_e(c)}</td>' if j in table.numeric else f"<td>{_e(c)}</td>"
                        for j, c in enumerate(row))
        body.append(f"<tr{cls}>{cells}</tr>")
    caption_html = f"<caption class=\"muted\">{_e(caption)}</caption>" if caption else ""
    return f'<div class="scroll"><table>{caption_html}<thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def _key_values(rows: list[tuple[str, str]]) -> str:
    body = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows)
    return f'<div class="scroll"><table class="kv"><tbody>{body}</tbody></table></div>'


def _figure(images: Mapping[str, bytes], name: str) -> str:
    if name not in images:
        return '<p class="muted">Nothing to plot.</p>'
    data = base64.b64encode(images[name]).decode("ascii")
    caption = content.PLOT_FILES[name]
    return (f'<figure><img src="data:image/png;base64,{data}" alt="{_e(caption)}">'
            f"<figcaption>{_e(caption)} ({_e(name)})</figcaption></figure>")


def render_html(records: ReportRecords, images: Mapping[str, bytes]) -> str:
    """The whole page as a string."""
    summary = records.summary
    passed = bool(summary.get("passed"))
    parts = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>{'INCOMPLETE ' if records.incomplete else ''}{'PASS' if passed else 'FAIL'}: "
             f"{_e(content.title(records))}</title>", f"<style>{CSS}</style>", "</head>", "<body>", "<main>", "<header>"]
    notice = content.incomplete_notice(records)
    if notice:
        parts.append(f'<div class="incomplete" id="incomplete"><strong>INCOMPLETE</strong>{_e(notice)}</div>')
    parts.append(f"<h1>{_e(content.title(records))}</h1>")
    if content.description(records):
        parts.append(f'<p class="description">{_e(content.description(records))}</p>')
    parts.append(f'<div class="verdict {"pass" if passed else "fail"}" id="verdict">'
                 f'<span class="big">{"PASS" if passed else "FAIL"}</span><p>{_e(summary.get("verdict", ""))}</p></div>')
    parts.append('<dl class="facts">' + "".join(f"<div><dt>{_e(k)}</dt><dd>{_e(v)}</dd></div>"
                                                for k, v in content.facts(records)) + "</dl>")
    full_batch = content.full_batch(records)
    sections = [("loss", "Loss")] + ([("optimizer", "Optimizer runs")] if full_batch else []) + [
                ("divergence", "First divergence"), ("failures", "Failures"),
                ("errors", "Errors per parameter"), ("heatmap", "Heat map"), ("worst", "Worst errors"),
                ("conventions", "Conventions")]
    doctor = records.report.get("doctor")
    if doctor:
        sections.append(("doctor", "Doctor"))
    sections += [("environment", "Environment"), ("spec", "Scenario"), ("files", "Files")]
    parts.append("<nav>" + "".join(f'<a href="#{key}">{_e(name)}</a>' for key, name in sections) + "</nav>")
    parts.append("</header>")

    parts += ['<section id="loss">', "<h2>Loss</h2>", _figure(images, "loss.png"), "</section>"]
    if full_batch:
        parts += ['<section id="optimizer">', "<h2>Optimizer runs</h2>"]
        for caption, table in full_batch:
            parts += [f"<h3>{_e(caption)}</h3>", _table(table)]
        parts.append("</section>")
    parts += _divergence_section(records)
    parts += _failures_section(records)
    parts += ['<section id="errors">', "<h2>Errors per parameter</h2>",
              '<p class="muted">Largest relative error (max |a − b| / max |reference|) per parameter and step; '
              "the dashed red line is the tolerance. Grey: a pairing whose difference is a known convention.</p>",
              _figure(images, "errors.png"), "</section>"]
    parts += ['<section id="heatmap">', "<h2>Heat map</h2>",
              '<p class="muted">Red cells exceed the tolerance, blue ones are within it; grey cells are '
              "convention differences, white ones steps a backend did not run.</p>",
              _figure(images, "heatmap.png"), "</section>"]
    parts += _worst_section(records)
    parts += _conventions_section(records)
    if doctor:
        parts.append(render_doctor_section(doctor))
    parts += ['<section id="environment">', "<h2>Environment</h2>", _table(content.environment(records))]
    timing = content.timings(records)
    if timing:
        parts += ["<h3>Time per backend</h3>", _table(timing)]
    parts.append("</section>")
    parts += ['<section id="spec">', "<h2>Scenario</h2>", f"<pre>{_e(content.spec_toml(records))}</pre>", "</section>"]
    parts += _files_section(records, images)
    parts += [f'<footer>scratchnet-parity report format {_e(records.report.get("format", "?"))}. '
              "Re-render from the saved files with <code>parity report DIR</code>.</footer>",
              "</main>", "</body>", "</html>"]
    return "\n".join(parts) + "\n"


def _divergence_section(records: ReportRecords) -> list[str]:
    parts = ['<section id="divergence">', "<h2>First divergence</h2>"]
    rows = content.divergence(records)
    if rows is None:
        parts.append('<p class="ok">No exact pairing left the tolerance at any step.</p>')
    else:
        parts.append(_key_values(rows))
        tensors = content.divergence_tensors(records)
        if tensors:
            stats, worst = tensors
            parts += ["<h3>The two tensors at that step</h3>", _key_values(stats),
                      _table(worst, caption="Largest element differences")]
    parts.append("</section>")
    return parts


def _failures_section(records: ReportRecords) -> list[str]:
    parts = ['<section id="failures">', "<h2>Failures</h2>"]
    failures = content.failures(records)
    nonfinite = content.nonfinite(records)
    if not failures and not nonfinite:
        parts.append(f'<p class="ok">{_e(content.no_failures(records))}</p>')
    for failure in failures:
        parts.append(f'<div class="failure"><h3>{_e(failure["backend"])} failed {_e(failure["when"])}</h3>'
                     f"<p><code>{_e(failure['error'])}</code></p>"
                     f"<details open><summary>Traceback</summary><pre>{_e(failure['traceback'])}</pre></details></div>")
    if nonfinite:
        parts += ["<h3>Non-finite values</h3>", _table(nonfinite),
                  '<p class="muted">A backend stops at its first NaN/Inf; the others continue.</p>']
    parts.append("</section>")
    return parts


def _worst_section(records: ReportRecords) -> list[str]:
    parts = ['<section id="worst">', "<h2>Worst errors</h2>"]
    table = content.worst(records)
    if table is None:
        parts.append('<p class="muted">No pairing produced diff rows.</p>')
    else:
        classes = []
        for row in table.rows:
            classes.append("convention" if row[2] != "exact" else ("bad" if not row[-1].startswith("0 of") else ""))
        parts.append(_table(table, classes, caption="Per pairing and quantity, over all steps and parameters"))
    parts.append("</section>")
    return parts


def _conventions_section(records: ReportRecords) -> list[str]:
    parts = ['<section id="conventions">', "<h2>Conventions</h2>"]
    table = content.conventions(records)
    if table is None:
        parts.append('<p class="muted">No known convention difference applies to this scenario '
                     "(they arise when Keras runs beside a torch-convention backend).</p>")
    else:
        parts += ["<p>Deliberate differences between the frameworks that apply here. Each framework is also "
                  "compared with scratchnet following its own convention, so these are measured, not "
                  "mistaken for bugs.</p>", _table(table)]
        sizes = content.convention_sizes(records)
        if sizes is not None:
            parts += ["<h3>Measured size</h3>",
                      '<p class="muted">Rows labelled as convention differences (the combined effect of all '
                      "the differences above).</p>", _table(sizes)]
    parts.append("</section>")
    return parts


def _files_section(records: ReportRecords, images: Mapping[str, bytes]) -> list[str]:
    rows = content.data_files(records) + [(name, content.PLOT_FILES[name]) for name in images]
    body = "".join(f"<tr><td><code>{_e(name)}</code></td><td>{_e(what)}</td></tr>" for name, what in rows)
    return ['<section id="files">', "<h2>Files</h2>",
            f'<div class="scroll"><table><thead><tr><th>file</th><th>contents</th></tr></thead><tbody>{body}</tbody>'
            "</table></div>", "</section>"]
