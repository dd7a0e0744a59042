"""The report's content, built once from the records as one `blocks.Page`: the header and the
ordered list of sections that both report.html and report.md render (and the HTML navigation
lists).

Everything here is read from `ReportRecords` (the typed `schema.Summary`, the diffs and losses
tables) only, so a report rendered from the saved files shows the same as one rendered straight
after the run. Which rows are judged comes from the diff rows' ``kind`` and ``expected``
columns (`schema.judged`), never from backend names. Strings are raw (unescaped); each renderer
escapes them for its own format.
"""
from __future__ import annotations

import json
import math
from typing import Any, Iterable, Mapping

import numpy as np

from comparisons.comparison import failure_line
from comparisons.report import schema
from comparisons.report.blocks import Block, Code, Group, Heading, Image, KeyValues, Page, Section, Table, Text
from comparisons.report.doctor_section import doctor_blocks
from comparisons.report.records import ReportRecords
from comparisons.report.schema import Summary

PLOT_FILES = {
    "loss.png": "Loss curves of all backends (top) and the loss error of each pairing (bottom)",
    "errors.png": "Largest relative error per parameter and step, for gradients and updated weights",
    "heatmap.png": "log10 of the largest relative error by parameter and step, one panel per pairing",
}
DATA_FILES = {
    "summary.json": "the verdict, versions, tolerances and first divergence (machine-readable)",
    "diffs.csv": "every diff row: step × backend × reference × quantity × parameter",
    "losses.csv": "loss per step and backend",
    "diffs.parquet": "the diff rows as Parquet",
}


# ---------------------------------------------------------------------- formatting
def number(value: Any, digits: int = 3) -> str:
    """A float in scientific notation; ints and text pass through, None is a dash."""
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, int)):
        return str(value)
    if not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return f"{value:.{digits}e}"


def short(value: Any) -> str:
    """A tolerance-like number as written by people: 1e-10, 0.5."""
    return f"{value:g}" if isinstance(value, (int, float)) and not isinstance(value, bool) else number(value)


def exact(value: Any) -> str:
    """A value with all its digits (repr of the float)."""
    if isinstance(value, float):
        return repr(value)
    return "—" if value is None else str(value)


def pair_label(backend: str, reference: str) -> str:
    return f"{backend} vs {reference}"


def elements(mismatched: int, size: int) -> str:
    """"k of n elements" beyond the allowed error (as torch.testing reports it)."""
    return f"{mismatched} of {size} element{'' if size == 1 else 's'}"


def _cell(value: Any) -> str:
    """A table cell for numbers, text, lists and None."""
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        return ", ".join(_cell(v) for v in value)
    if isinstance(value, Mapping):
        return json.dumps(value, default=str)
    return short(value)


# ---------------------------------------------------------------------- the page
def build_page(records: ReportRecords, image_names: Iterable[str]) -> Page:
    """The whole report as data; `image_names`: the PNGs written beside the pages."""
    summary = records.summary
    images = set(image_names)
    sections = [
        _findings_section(summary),
        Section("loss", "Loss", [_image(images, "loss.png")]),
        _optimizer_section(summary),
        _divergence_section(records),
        _failures_section(records),
        Section("errors", "Errors per parameter", [
            Text("Largest relative error (max |a − b| / max |reference|) per parameter and step; the dashed red line "
                 "is the tolerance. Grey: rows not judged (a measured convention gap, or a cross-convention row "
                 "that gap explains).", "muted"),
            _image(images, "errors.png")]),
        Section("heatmap", "Heat map", [
            Text("Red cells exceed the tolerance, blue ones are within it; grey cells are rows not judged "
                 "(convention differences), white ones steps a backend did not run.", "muted"),
            _image(images, "heatmap.png")]),
        _worst_section(summary),
        _conventions_section(records),
        None if records.report.doctor is None else Section("doctor", "Doctor", doctor_blocks(records.report.doctor)),
        _environment_section(summary),
        Section("spec", "Scenario", [Code(spec_toml(summary), "toml")]),
        Section("files", "Files", [Table(["file", "contents"], data_files(records) + [
            [name, PLOT_FILES[name]] for name in PLOT_FILES if name in images], code={0})]),
    ]
    return Page(title=f"Parity report: {summary.scenario}", description=summary.description,
                incomplete=incomplete_notice(summary), passed=summary.passed, verdict=summary.verdict,
                facts=facts(records), alerts=_alerts(summary), notes=_notes(summary),
                sections=[section for section in sections if section is not None],
                schema_version=summary.schema_version)


def _image(images: set[str], name: str) -> Block:
    return Image(name, PLOT_FILES[name]) if name in images else Text("Nothing to plot.", "muted")


# ---------------------------------------------------------------------- header
def incomplete_notice(summary: Summary) -> str | None:
    """Why the report is INCOMPLETE (the renderers put that word in front), or None when complete."""
    if not summary.incomplete:
        return None
    done, total = summary.steps_completed, summary.expected_steps
    why = "the run was interrupted" if summary.interrupted else "no backend was left running"
    covered = f"covers steps 0–{done - 1} only" if done else "covers no step"
    return (f"{why[0].upper()}{why[1:]} after {done} of {total} steps. This report {covered}; "
            f"the verdict says nothing about the steps that did not run.")


def facts(records: ReportRecords) -> list[tuple[str, str]]:
    summary = records.summary
    tolerance = summary.tolerance
    tolerance_text = f"rtol={short(tolerance.rtol)}, atol={short(tolerance.atol)}"
    if tolerance.override_reason:
        tolerance_text += " (scenario override, reason below)"
    steps = f"{summary.steps_completed} of {summary.expected_steps}"
    if summary.expected_steps != summary.steps:
        steps += f" (stops on its own; limit {summary.steps})"
    return [
        ("Scenario", summary.scenario), ("Mode", summary.mode), ("dtype", summary.dtype), ("Steps", steps),
        ("Reference", summary.reference), ("Backends", ", ".join(summary.backends)), ("Tolerance", tolerance_text),
        ("Seed", str(summary.seed)), ("Written", records.report.generated),
    ]


def _alerts(summary: Summary) -> list[Text]:
    alerts = []
    if summary.findings:
        first = summary.findings[0]
        more = f" (and {len(summary.findings) - 1} more)" if len(summary.findings) > 1 else ""
        alerts.append(Text(f"{len(summary.findings)} tensor{'s' if len(summary.findings) > 1 else ''} could not be "
                           f"compared value by value: at step {first.first_step}, {first.quantity} {first.param} of "
                           f"{pair_label(first.backend, first.reference)}: {first.finding}{more}. "
                           f"See “Shape and dtype mismatches”.", "alert"))
    return alerts


def _notes(summary: Summary) -> list[Text]:
    reason = summary.tolerance.override_reason
    return [Text(reason, "muted", label="Tolerance override")] if reason else []


# ---------------------------------------------------------------------- shape/dtype findings
def _findings_section(summary: Summary) -> Section | None:
    if not summary.findings:
        return None
    rows = [[pair_label(f.backend, f.reference), f.kind, f.quantity, f.param, f.finding, str(f.first_step),
             str(f.steps), elements(f.size, f.size)] for f in summary.findings]
    styles = ["convention" if f.kind == "gap" else "bad" for f in summary.findings]
    return Section("findings", "Shape and dtype mismatches", [
        Text("These tensors have a shape or dtype other than the reference's, so they were not compared value by "
             "value: each such row failed with every element counted as mismatched.", "bad"),
        Table(["pairing", "kind", "quantity", "parameter", "finding", "first step", "steps", "elements beyond allowed"],
              rows, numeric={5, 6}, row_styles=styles)])


# ---------------------------------------------------------------------- full-batch optimizers
def full_batch(summary: Summary) -> list[Block]:
    """Blocks for scipy/Levenberg-Marquardt runs (summary.extras): the race against gradient
    descent, each backend's run, scipy's least_squares outcome, the LM options and a note. Empty
    for step-wise runs."""
    extras = summary.extras
    blocks: list[Block] = []
    if extras.race is not None:
        race = extras.race
        rows = [[r.method, "yes" if r.reached else "no", _cell(r.epochs), _cell(r.function_evaluations),
                 number(r.seconds_total), number(r.final)] for r in race.rows]
        blocks += [Heading(f"Race to {race.metric} <= {short(race.goal)} from the same weights"),
                   Table(["method", "reached", "iterations / epochs", "function evaluations", "seconds (whole run)",
                          "final"], rows, numeric={2, 3, 4, 5})]
    if extras.runs:
        keys = sorted({key for run in extras.runs.values() for key in run})
        method = ", ".join(part for part in (extras.method, extras.scipy_version and f"scipy {extras.scipy_version}")
                           if part)
        blocks += [Heading(f"Runs ({method})" if method else "Runs"),
                   Table(["backend", *keys], [[name, *[_cell(run[k]) if k in run else "—" for k in keys]]
                                              for name, run in extras.runs.items()])]
    if extras.iterations:
        blocks += [Heading("Iterations per backend"),
                   Table(["backend", "iterations"], [[name, str(n)] for name, n in extras.iterations.items()],
                         numeric={1})]
    if extras.least_squares_lm is not None:
        blocks += [Heading("scipy least_squares(method='lm') on the same problem"),
                   Table(["item", "value"], [[k, _cell(v)] for k, v in extras.least_squares_lm.items()])]
    if extras.lm_options:
        blocks += [Heading("Levenberg–Marquardt options"),
                   Table(["option", "value"], [[k, _cell(v)] for k, v in extras.lm_options.items()])]
    if extras.note:
        blocks.append(Text(f"Note: {extras.note}", "muted"))
    return blocks


def _optimizer_section(summary: Summary) -> Section | None:
    blocks = full_batch(summary)
    return Section("optimizer", "Optimizer runs", blocks) if blocks else None


# ---------------------------------------------------------------------- first divergence
def divergence(summary: Summary) -> list[tuple[str, str]] | None:
    found = summary.first_divergence
    if found is None:
        return None
    where = "loss" if found.quantity == "loss" else (
        found.param if found.finding else f"{found.param} at index {found.index}")
    rows = [("Step", str(found.step)), ("Pairing", pair_label(found.backend, found.reference)),
            ("Kind", found.kind), ("Quantity", f"{found.quantity}: {where}")]
    if found.finding:
        return rows + [("Finding", found.finding), ("Elements beyond allowed", elements(found.mismatched, found.size))]
    return rows + [
        (f"{found.backend} value", exact(found.value)),
        (f"{found.reference} value", exact(found.reference_value)),
        ("Absolute error", number(found.error)),
        ("Relative error", number(found.relative_error)),
        ("Allowed", f"{number(found.allowed)} (atol + rtol × max|reference|, rtol={short(found.rtol)}, "
                    f"atol={short(found.atol)})"),
        ("Elements beyond allowed", elements(found.mismatched, found.size)),
    ]


def divergence_tensors(summary: Summary) -> list[Block]:
    """The two whole tensors at the first divergence: their statistics and their worst elements."""
    tensors = summary.report.first_divergence_tensors if summary.report is not None else None
    found = summary.first_divergence
    if tensors is None or found is None:
        return []
    stats = [("Shape of the reference" if tensors.finding else "Shape", str(tuple(tensors.shape))),
             ("Elements beyond allowed", elements(tensors.mismatched, tensors.size))]
    if tensors.finding:
        return [Heading("The two tensors at that step"), KeyValues(stats + [("Finding", tensors.finding)])]
    stats += [("max |reference|", number(tensors.scale)), ("Cosine", exact(tensors.cosine)),
              ("Least-squares factor k in checked ≈ k × reference", exact(tensors.scale_factor))]
    table = Table(["index", found.backend, found.reference, "|difference|"],
                  [[str(tuple(e.index)), exact(e.value), exact(e.reference_value), number(e.error)]
                   for e in tensors.worst_elements], numeric={1, 2, 3}, caption="Largest element differences")
    return [Heading("The two tensors at that step"), KeyValues(stats), table]


def _divergence_section(records: ReportRecords) -> Section:
    summary = records.summary
    rows = divergence(summary)
    if rows is None:
        blocks: list[Block] = [Text("No judged pairing (exact, or cross-convention beyond the measured convention "
                                    "gap) left the tolerance at any step.", "ok")]
    else:
        found = summary.first_divergence
        blocks = ([Text(f"{found.param}: {found.finding}", "bad")] if found is not None and found.finding else [])
        blocks += [KeyValues(rows), *divergence_tensors(summary)]
        user_names = summary.extras.user_names or {}
        if found is not None and found.backend in user_names:
            names = user_names[found.backend]
            blocks.append(Text(f"In {found.backend}'s own code: " + ", ".join(
                f"{canonical} is {mine}" for canonical, mine in names.items()), "muted"))
    return Section("divergence", "First divergence", blocks)


# ---------------------------------------------------------------------- failures
def no_failures(summary: Summary) -> str:
    """The sentence for a run in which no backend failed or produced NaN/Inf."""
    done = summary.steps_completed
    if summary.incomplete:
        return f"No backend failed or produced NaN/Inf in the {done} steps that ran."
    return f"Every backend ran all {done} steps with finite losses, gradients and weights."


def _failures_section(records: ReportRecords) -> Section:
    summary = records.summary
    blocks: list[Block] = []
    if not summary.failures and not summary.nonfinite:
        blocks.append(Text(no_failures(summary), "ok"))
    for name, failure in summary.failures.items():
        blocks.append(Group("failure", [Heading(failure_line(name, failure.step, "").removesuffix(": ")), Text(failure.error, "code"),
                                        Code(failure.traceback, "text", collapsible="Traceback")]))
    if summary.nonfinite:
        blocks += [Heading("Non-finite values"),
                   Table(["backend", "first step with NaN/Inf (loss, gradient or weight)"],
                         [[b, str(s)] for b, s in summary.nonfinite.items()], numeric={1}),
                   Text("A backend stops at its first NaN/Inf; the others continue.", "muted")]
    return Section("failures", "Failures", blocks)


# ---------------------------------------------------------------------- worst errors
def worst(summary: Summary) -> Table | None:
    """summary.worst as a table: per pairing, kind and quantity, the worst row over all steps and parameters."""
    if not summary.worst:
        return None
    rows, styles = [], []
    for row in summary.worst:
        where = "" if row.quantity == "loss" else (row.param if row.finding else f"{row.param} [{row.index}]")
        measured = [number(row.max_rel), number(row.max_abs), number(row.allowed)] if not row.finding else ["—"] * 3
        rows.append([pair_label(row.backend, row.reference), row.quantity, schema.kind_label(row.kind, row.expected),
                     *measured, str(row.step), where, f"{row.mismatched} of {row.size}",
                     f"{row.failed_rows} of {row.rows}", row.finding])
        styles.append("convention" if not row.judged else ("bad" if row.failed_rows else ""))
    headers = ["pairing", "quantity", "kind", "worst relative", "largest |error|", "allowed there", "step",
               "parameter [flat index]", "elements beyond allowed there", "rows beyond tolerance", "shape/dtype finding"]
    if not any(row.finding for row in summary.worst):  # the finding column only when there is one
        headers, rows = headers[:-1], [row[:-1] for row in rows]
    return Table(headers, rows, numeric={3, 4, 5, 6, 8, 9}, row_styles=styles,
                 caption="Per pairing, kind and quantity, over all steps and parameters: the worst row (a shape/dtype "
                         "finding when there is one, else the largest relative error)")


def _worst_section(summary: Summary) -> Section:
    table = worst(summary)
    return Section("worst", "Worst errors", [table if table is not None else Text("No pairing produced diff rows.",
                                                                                  "muted")])


# ---------------------------------------------------------------------- conventions
def convention_sizes(records: ReportRecords) -> Table | None:
    """Measured size of the convention differences: the rows that are not judged (gap rows, and
    cross rows the measured gap explains)."""
    diffs = records.diffs
    frame = diffs[~schema.judged(diffs)]
    if frame.empty:
        return None
    rows = []
    for (backend, reference, kind, quantity), group in frame.groupby(["backend", "reference", "kind", "quantity"],
                                                                     sort=False):
        worst_row = group.loc[group.max_rel.idxmax()] if group.max_rel.notna().any() else group.iloc[0]
        beyond = group[~group.passed]
        rows.append([pair_label(backend, reference), schema.kind_label(kind, worst_row.expected), quantity,
                     number(group.max_abs.max()), number(group.max_rel.max()),
                     f"{worst_row.param} @ step {int(worst_row.step)}", f"{len(beyond)} of {len(group)}",
                     "—" if beyond.empty else str(int(beyond.step.min()))])
    return Table(["pairing", "kind", "quantity", "max |error|", "max relative", "largest at", "rows beyond tolerance",
                  "first step beyond"], rows, numeric={3, 4, 6, 7})


def _conventions_section(records: ReportRecords) -> Section:
    conventions = records.summary.conventions
    skipped = [Text(reason, "muted") for reason in (records.summary.extras.twins_skipped or {}).values()]
    if not conventions:
        return Section("conventions", "Conventions", [Text(
            "No known convention difference applies to this scenario (they arise when Keras runs beside a "
            "torch-convention backend).", "muted"), *skipped])
    names = list(dict.fromkeys(name for c in conventions for name in c.formulas))  # one column per convention
    blocks: list[Block] = [
        Text("Deliberate differences between the frameworks that apply here. Each framework is also compared with "
             "scratchnet following its own convention, so these are measured, not mistaken for bugs."),
        Table(["difference", *names, "source"],
              [[c.title, *[c.formulas[n] if n in c.formulas else "—" for n in names], c.source] for c in conventions]),
        *skipped]
    sizes = convention_sizes(records)
    if sizes is not None:
        blocks += [Heading("Measured size"),
                   Text("Rows that are not judged: the convention gap measured between scratchnet and its twin "
                        "following the other convention, and cross-convention rows that gap explains (the combined "
                        "effect of all the differences above).", "muted"), sizes]
    return Section("conventions", "Conventions", blocks)


# ---------------------------------------------------------------------- environment, timing, spec
def environment(summary: Summary) -> Table:
    rows: list[list[str]] = []
    for key, value in summary.environment.items():
        _flatten(key, value, rows)
    return Table(["name", "value"], rows)


def _flatten(name: str, value: Any, rows: list[list[str]]) -> None:
    if isinstance(value, Mapping) and value:
        for key, item in value.items():
            _flatten(f"{name}.{key}", item, rows)
    elif isinstance(value, list) and value and all(isinstance(item, Mapping) for item in value):
        for i, item in enumerate(value):
            _flatten(f"{name}[{i}]", item, rows)
    else:
        rows.append([name, _cell(value) if value not in ({}, []) else "—"])


def _environment_section(summary: Summary) -> Section:
    blocks: list[Block] = [environment(summary)]
    if summary.seconds:
        blocks += [Heading("Time per backend"),
                   Table(["backend", "seconds (build + steps)"], [[b, f"{s:.3f}"] for b, s in summary.seconds.items()],
                         numeric={1})]
    return Section("environment", "Environment", blocks)


def spec_toml(summary: Summary) -> str:
    """The scenario spec as TOML (the form users write); unset values are listed as comments."""
    return _toml_table(summary.scenario_spec, []).strip() + "\n"


def _toml_table(table: Mapping[str, Any], path: list[str]) -> str:
    lines, nested = [], []
    if path:
        lines.append(f"[{'.'.join(_toml_key(p) for p in path)}]")
    for key, value in table.items():
        if isinstance(value, Mapping) and value:
            nested.append((key, value))
        elif value is None:
            lines.append(f"# {_toml_key(key)} is not set")
        else:
            lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
    text = "\n".join(lines) + "\n"
    for key, value in nested:
        text += "\n" + _toml_table(value, path + [str(key)])
    return text


def _toml_key(key: Any) -> str:
    key = str(key)
    return key if key and all(c.isalnum() or c in "_-" for c in key) else json.dumps(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items() if v is not None) + "}"
    if isinstance(value, (list, tuple, np.ndarray)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value))


# ---------------------------------------------------------------------- files
def data_files(records: ReportRecords) -> list[list[str]]:
    """[file, what it holds] for the data files written beside the report; a file that was asked
    for but skipped (diffs.parquet without pyarrow) says why."""
    out = []
    for name, status in records.report.data_files.items():
        what = DATA_FILES[name] if name in DATA_FILES else ""
        if name == "diffs.csv":
            what += f" ({len(records.diffs)} rows)"
        out.append([name, what if status == "written" else f"not written: {status}"])
    return out
