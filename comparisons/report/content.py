"""The report's content as plain rows of strings, shared by the HTML and Markdown renderers.

Everything here is computed from `ReportRecords` (summary dict, diffs and losses tables) only, so
a report rendered from the saved files shows the same as one rendered straight after the run.
Strings are raw (unescaped); each renderer escapes them for its own format.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import pandas as pd

from comparisons.report.records import ReportRecords

PLOT_FILES = {
    "loss.png": "Loss curves of all backends (top) and the loss error of each pairing (bottom)",
    "errors.png": "Largest relative error per parameter and step, for gradients and updated weights",
    "heatmap.png": "log10 of the largest relative error by parameter and step, one panel per pairing",
}


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]
    numeric: set[int] = field(default_factory=set)  # column positions to right-align


def number(value: Any, digits: int = 3) -> str:
    """A float in scientific notation; strings (the JSON spellings of NaN/inf) pass through."""
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
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


# ---------------------------------------------------------------------- header facts
def title(records: ReportRecords) -> str:
    return f"Parity report: {records.summary.get('scenario', '?')}"


def description(records: ReportRecords) -> str:
    return str((records.summary.get("scenario_spec") or {}).get("description", ""))


def incomplete_notice(records: ReportRecords) -> str | None:
    """Why the report is INCOMPLETE (the renderers put that word in front), or None when complete."""
    if not records.incomplete:
        return None
    summary = records.summary
    done, total = summary.get("steps_completed", 0), summary.get("steps", 0)
    why = "the run was interrupted" if summary.get("interrupted") else "no backend was left running"
    covered = f"covers steps 0–{done - 1} only" if done else "covers no step"
    return (f"{why[0].upper()}{why[1:]} after {done} of {total} steps. This report {covered}; "
            f"the verdict says nothing about the steps that did not run.")


def no_failures(records: ReportRecords) -> str:
    """The sentence for a run in which no backend failed or produced NaN/Inf."""
    done = records.summary.get("steps_completed", 0)
    if records.incomplete:
        return f"No backend failed or produced NaN/Inf in the {done} steps that ran."
    return f"Every backend ran all {done} steps with finite losses, gradients and weights."


def facts(records: ReportRecords) -> list[tuple[str, str]]:
    summary = records.summary
    tolerance = summary.get("tolerance") or {}
    tolerance_text = f"rtol={short(tolerance.get('rtol'))}, atol={short(tolerance.get('atol'))}"
    if tolerance.get("override_reason"):
        tolerance_text += f" (override: {tolerance['override_reason']})"
    rows = [
        ("Scenario", str(summary.get("scenario", ""))),
        ("Mode", str(summary.get("mode", ""))),
        ("dtype", str(summary.get("dtype", ""))),
        ("Steps", f"{summary.get('steps_completed', 0)} of {summary.get('steps', 0)}"),
        ("Reference", str(summary.get("reference", ""))),
        ("Backends", ", ".join(str(b) for b in summary.get("backends") or [])),
        ("Tolerance", tolerance_text),
        ("Seed", str(summary.get("seed", ""))),
    ]
    generated = records.report.get("generated")
    if generated:
        rows.append(("Written", str(generated)))
    return rows


# ---------------------------------------------------------------------- first divergence
def divergence(records: ReportRecords) -> list[tuple[str, str]] | None:
    found = records.summary.get("first_divergence")
    if not found:
        return None
    where = "loss" if found.get("quantity") == "loss" else f"{found.get('param')} at index {found.get('index')}"
    return [
        ("Step", str(found.get("step"))),
        ("Pairing", pair_label(str(found.get("backend")), str(found.get("reference")))),
        ("Quantity", f"{found.get('quantity')}: {where}"),
        (f"{found.get('backend')} value", exact(found.get("value"))),
        (f"{found.get('reference')} value", exact(found.get("reference_value"))),
        ("Absolute error", number(found.get("error"))),
        ("Relative error", number(found.get("relative_error"))),
        ("Allowed", f"{number(found.get('allowed'))} (atol + rtol × max|reference|, "
                    f"rtol={short(found.get('rtol'))}, atol={short(found.get('atol'))})"),
    ]


def divergence_tensors(records: ReportRecords) -> tuple[list[tuple[str, str]], Table] | None:
    """Statistics of the two whole tensors at the first divergence and their worst elements."""
    tensors = records.report.get("first_divergence_tensors")
    found = records.summary.get("first_divergence")
    if not tensors or not found:
        return None
    stats = [
        ("Shape", str(tuple(tensors.get("shape", [])))),
        ("Elements beyond allowed", f"{tensors.get('mismatched')} of {tensors.get('size')}"),
        ("Norms (checked, reference)", f"{number(tensors.get('checked_norm'))}, {number(tensors.get('reference_norm'))}"),
        ("Cosine", exact(tensors.get("cosine"))),
        ("Least-squares factor k in checked ≈ k × reference", exact(tensors.get("scale_factor"))),
    ]
    table = Table(["index", str(found.get("backend")), str(found.get("reference")), "|difference|"],
                  [[str(tuple(e.get("index", []))), exact(e.get("value")), exact(e.get("reference_value")),
                    number(e.get("error"))] for e in tensors.get("worst_elements", [])],
                  numeric={1, 2, 3})
    return stats, table


# ---------------------------------------------------------------------- failures
def failures(records: ReportRecords) -> list[dict[str, str]]:
    out = []
    for name, failure in (records.summary.get("failures") or {}).items():
        step = failure.get("step")
        out.append({"backend": str(name), "when": "while being built" if step is None else f"at step {step}",
                    "error": str(failure.get("error", "")), "traceback": str(failure.get("traceback", ""))})
    return out


def nonfinite(records: ReportRecords) -> Table | None:
    steps = records.summary.get("nonfinite") or {}
    if not steps:
        return None
    return Table(["backend", "first step with NaN/Inf (loss, gradient or weight)"],
                 [[str(b), str(s)] for b, s in steps.items()], numeric={1})


# ---------------------------------------------------------------------- full-batch optimizers
def full_batch(records: ReportRecords) -> list[tuple[str, Table]]:
    """Tables for scipy/Levenberg-Marquardt runs (summary["extras"]): the race against gradient
    descent, each backend's run, and scipy's least_squares outcome. Empty for step-wise runs."""
    extras = records.summary.get("extras") or {}
    tables: list[tuple[str, Table]] = []
    race = extras.get("race")
    if race:
        rows = [[str(r.get("method", "")), "yes" if r.get("reached") else "no",
                 "—" if r.get("epochs") is None else str(r["epochs"]),
                 "—" if r.get("function_evaluations") is None else str(r["function_evaluations"]),
                 number(r.get("seconds_total")), number(r.get("final"))] for r in race.get("rows", [])]
        tables.append((f"Race to {race.get('metric', '')} <= {race.get('goal', '')} from the same weights",
                       Table(["method", "reached", "iterations / epochs", "function evaluations", "seconds (whole run)",
                              "final"], rows, numeric={2, 3, 4, 5})))
    runs = extras.get("runs") or {}
    if runs:
        keys = sorted({key for run in runs.values() for key in run})
        tables.append((f"Runs ({extras.get('method', '')}, scipy {extras.get('scipy_version', '')})".replace(", scipy )", ")"),
                       Table(["backend", *keys], [[str(name), *[_cell(run.get(k)) for k in keys]] for name, run in runs.items()])))
    least_squares = extras.get("least_squares_lm")
    if least_squares:
        tables.append(("scipy least_squares(method='lm') on the same problem",
                       Table(["item", "value"], [[str(k), _cell(v)] for k, v in least_squares.items()])))
    if extras.get("note"):
        tables.append(("Note", Table(["note"], [[str(extras["note"])]])))
    return tables


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


# ---------------------------------------------------------------------- conventions
def conventions(records: ReportRecords) -> Table | None:
    entries = records.summary.get("conventions") or []
    if not entries:
        return None
    return Table(["difference", "torch", "keras", "source"],
                 [[str(c.get("title", c.get("key", ""))), str(c.get("torch", "")), str(c.get("keras", "")),
                   str(c.get("source", ""))] for c in entries])


def convention_sizes(records: ReportRecords) -> Table | None:
    """Measured size of the convention differences: rows labelled expected == "convention"."""
    diffs = records.diffs
    frame = diffs[diffs.expected == "convention"]
    if frame.empty:
        return None
    rows = []
    for (backend, reference, quantity), group in frame.groupby(["backend", "reference", "quantity"], sort=False):
        worst = group.loc[group.max_rel.idxmax()] if group.max_rel.notna().any() else group.iloc[0]
        beyond = group[~group.passed]
        rows.append([pair_label(backend, reference), quantity, number(group.max_abs.max()), number(group.max_rel.max()),
                     f"{worst.param} @ step {int(worst.step)}", f"{len(beyond)} of {len(group)}",
                     "—" if beyond.empty else str(int(beyond.step.min()))])
    return Table(["pairing", "quantity", "max |error|", "max relative", "largest at", "rows beyond tolerance",
                  "first step beyond"], rows, numeric={2, 3, 5, 6})


# ---------------------------------------------------------------------- worst errors
def ordered_pairs(diffs: pd.DataFrame) -> list[tuple[str, str]]:
    """Pairings in run order, those with exact (judged) rows first, convention-only ones last."""
    if diffs.empty:
        return []
    pairs = list(dict.fromkeys(zip(diffs.backend, diffs.reference)))
    judged = set(zip(diffs.backend[diffs.expected == ""], diffs.reference[diffs.expected == ""]))
    return [p for p in pairs if p in judged] + [p for p in pairs if p not in judged]


def worst(records: ReportRecords) -> Table | None:
    diffs = records.diffs
    if diffs.empty:
        return None
    rows = []
    order = {pair: i for i, pair in enumerate(ordered_pairs(diffs))}
    quantity_order = {"loss": 0, "grad": 1, "param": 2, "state": 3}
    groups = diffs.groupby(["backend", "reference", "quantity", "expected"], sort=False)
    keys = sorted(groups.groups, key=lambda k: (order[(k[0], k[1])], quantity_order.get(k[2], 9), k[3]))
    for key in keys:
        group = groups.get_group(key)
        backend, reference, quantity, expected = key
        row = group.loc[group.max_rel.idxmax()] if group.max_rel.notna().any() else group.iloc[0]
        failed = int((~group.passed).sum())
        where = "" if quantity == "loss" else f"{row.param} [{int(row['index'])}]"
        rows.append([pair_label(backend, reference), quantity, "convention (expected)" if expected else "exact",
                     number(row.max_rel), number(row.max_abs), number(row.allowed), str(int(row.step)), where,
                     f"{failed} of {len(group)}"])
    return Table(["pairing", "quantity", "kind", "worst relative", "its |error|", "allowed there", "step",
                  "parameter [flat index]", "rows beyond tolerance"], rows, numeric={3, 4, 5, 6, 8})


# ---------------------------------------------------------------------- environment, timing, spec
def environment(records: ReportRecords) -> Table:
    rows = []
    for key, value in (records.summary.get("environment") or {}).items():
        if isinstance(value, Mapping):
            rows += [[f"{key}.{inner}", str(item)] for inner, item in value.items()]
        else:
            rows.append([str(key), str(value)])
    return Table(["name", "value"], rows)


def timings(records: ReportRecords) -> Table | None:
    seconds = records.summary.get("seconds") or {}
    if not seconds:
        return None
    return Table(["backend", "seconds (build + steps)"],
                 [[str(b), f"{s:.3f}" if isinstance(s, (int, float)) else str(s)] for b, s in seconds.items()],
                 numeric={1})


def spec_toml(records: ReportRecords) -> str:
    """The scenario spec as TOML (the form users write); unset values are listed as comments."""
    spec = records.summary.get("scenario_spec") or {}
    return _toml_table(spec, []).strip() + "\n"


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
DATA_FILES = {
    "summary.json": "the verdict, versions, tolerances and first divergence (machine-readable)",
    "diffs.csv": "every diff row: step × backend × reference × quantity × parameter",
    "losses.csv": "loss per step and backend",
    "diffs.parquet": "the diff rows as Parquet",
}


def data_files(records: ReportRecords) -> list[tuple[str, str]]:
    """(file, what it holds) for the data files written beside the report; a file that was asked
    for but skipped (diffs.parquet without pyarrow) says why."""
    written = records.report.get("data_files") or {name: "written" for name in ("summary.json", "diffs.csv", "losses.csv")}
    out = []
    for name, status in written.items():
        what = DATA_FILES.get(name, "")
        if name == "diffs.csv":
            what += f" ({len(records.diffs)} rows)"
        out.append((name, what if status == "written" else f"not written: {status}"))
    return out
