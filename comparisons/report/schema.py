"""The schema of summary.json and of the diffs table (diffs.csv / diffs.parquet), version 2.

One module defines what a report folder holds, typed:

* `Summary` (dataclasses below) -- what `Comparison.summary()` returns (as a dict, `to_dict`),
  what `write_report` writes to summary.json (plus `report`: `ReportInfo`) and what the
  renderers read. `Summary.from_dict(data, source)` validates every key: a missing, unknown or
  ill-typed key raises `SummaryError` naming the file and the key path
  (``reports/x/summary.json: first_divergence.step: expected an integer, got 'three'``).
* `DIFF_COLUMNS` and `judged` -- the diff table's columns and which of its rows are judged.

Version history. 1 (no ``schema_version`` key): written before this module existed; its
diff rows carry no ``kind``, ``mismatched``, ``size`` or ``finding``, and telling a convention
twin from a judged row would mean parsing backend names. It is **refused** (not upgraded) with a
message that says to re-run ``parity run``: a report is cheap to regenerate, a guessed upgrade
could call a measured convention gap a failure. 2: this module.

Floats that are not finite are written as the strings "NaN", "Infinity" and "-Infinity"
(strict JSON); `from_dict` reads them back as floats, `to_dict` returns floats (the writer's
`records.plain` spells them again), so ``plain(load_summary(p).to_dict()) == json.load(p)``.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import numpy as np
import pandas as pd

SCHEMA_VERSION = 2

#: the diff table's columns, in order (`comparisons.diff.DiffTable.COLUMNS`)
DIFF_COLUMNS = ("step", "backend", "reference", "kind", "quantity", "param", "max_abs", "max_rel", "cosine", "scale",
                "index", "value", "reference_value", "allowed", "passed", "mismatched", "size", "expected", "finding")
STRING_COLUMNS = ("backend", "reference", "kind", "quantity", "param", "expected", "finding")
INTEGER_COLUMNS = ("step", "index", "mismatched", "size")
FLOAT_COLUMNS = ("max_abs", "max_rel", "cosine", "scale", "value", "reference_value", "allowed")
#: row kinds (`comparisons.diff.KINDS`): exact and cross rows are judged, gap rows never
KINDS = ("exact", "cross", "gap")
QUANTITY_ORDER = {"loss": 0, "grad": 1, "param": 2, "state": 3}


class SummaryError(ValueError):
    """summary.json (or a summary dict) does not follow the schema; the message names the file and the key."""


# ---------------------------------------------------------------------- the summary
@dataclass
class Tolerance:
    rtol: float
    atol: float
    override_reason: str  # "" when the scenario keeps the default tolerance


@dataclass
class FirstDivergence:
    """The first judged diff row beyond tolerance (step order), with the element where it is largest."""

    step: int
    backend: str
    reference: str
    kind: str  # "exact" or "cross"
    quantity: str
    param: str
    index: list[int]  # element index in the tensor ([] for the loss or a shape/dtype finding)
    value: float  # checked backend's value there (NaN for a finding)
    reference_value: float
    error: float
    relative_error: float
    allowed: float
    rtol: float
    atol: float
    mismatched: int  # elements beyond `allowed` ...
    size: int  # ... of this many
    finding: str  # "" or the shape/dtype mismatch


@dataclass
class Failure:
    backend: str
    step: int | None  # None: failed while being built
    error: str
    traceback: str


@dataclass
class WorstRow:
    """The worst diff row of one (backend, reference, kind, quantity, expected) group over all
    steps and parameters: a finding row when the group has one, else the largest max_rel."""

    backend: str
    reference: str
    kind: str
    quantity: str
    expected: str
    judged: bool  # kind in {exact, cross} and expected == ""
    max_abs: float  # largest over the group
    max_rel: float  # largest over the group
    min_cosine: float
    failed_rows: int  # rows beyond tolerance ...
    rows: int  # ... of this many
    step: int  # where the worst row is
    param: str
    index: int  # flat index of the largest |a - b| in that tensor
    allowed: float
    mismatched: int  # elements beyond allowed in the worst row ...
    size: int  # ... of this many
    finding: str


@dataclass
class Finding:
    """A shape or dtype mismatch of one (backend, reference, quantity, param), over the steps it occurred at."""

    backend: str
    reference: str
    kind: str
    quantity: str
    param: str
    finding: str
    first_step: int
    steps: int  # number of steps with this finding
    size: int  # elements of the reference tensor


@dataclass
class Convention:
    key: str
    title: str
    formulas: dict[str, str]  # convention name ("torch", "keras", ...) -> what it computes
    source: str


@dataclass
class RaceRow:
    method: str
    reached: bool
    epochs: int | None
    function_evaluations: int | None
    seconds_total: float | None
    final: float | None


@dataclass
class Race:
    goal: float
    metric: str
    rows: list[RaceRow]


@dataclass
class Extras:
    """Method-specific results of full-batch runs (tnc, lbfgs, cg, lm), and the names user backends
    give their arrays; every field None when it does not apply."""

    method: str | None = None
    scipy_version: str | None = None
    runs: dict[str, dict[str, Any]] | None = None  # backend -> free-form facts of its run
    race: Race | None = None
    least_squares_lm: dict[str, Any] | None = None  # scipy's outcome, or {"error": ...}
    note: str | None = None
    iterations: dict[str, int] | None = None
    lm_options: dict[str, Any] | None = None
    user_names: dict[str, dict[str, str]] | None = None  # user backend -> canonical param -> the user's array name
    doctor_error: str | None = None  # the doctor could not run at user code's first divergence
    twins_skipped: dict[str, str] | None = None  # backend -> why it needs no convention twin in this run

    @property
    def empty(self) -> bool:
        return all(getattr(self, f.name) is None for f in dataclasses.fields(self))


@dataclass
class Element:
    index: list[int]
    value: float
    reference_value: float
    error: float


@dataclass
class DivergenceTensors:
    """The two whole tensors at the first divergence. The statistics are `comparisons.diff.compare`'s;
    only the largest elements and the least-squares factor k (checked ~ k * reference) are added."""

    shape: list[int]
    size: int
    mismatched: int
    allowed: float
    max_abs: float
    scale: float  # max |reference|
    cosine: float
    finding: str
    scale_factor: float | None
    worst_elements: list[Element]
    checked: Any  # the whole tensor (nested lists) when small, else None
    reference: Any


@dataclass
class ReportInfo:
    """What the writer adds to the summary: when, the data files and the report-only material."""

    generated: str
    data_files: dict[str, str]  # file -> "written" or why not
    first_divergence_tensors: DivergenceTensors | None
    doctor: dict[str, Any] | None  # a doctor result dict (free-form, see doctor_section)


@dataclass
class Summary:
    schema_version: int
    scenario: str
    passed: bool
    verdict: str
    mode: str
    dtype: str
    seed: int
    steps: int  # the scenario's steps (for full-batch runs: the iteration limit)
    expected_steps: int  # steps a complete run has (full-batch runs stop on their own)
    steps_completed: int
    interrupted: bool
    reference: str
    backends: list[str]
    tolerance: Tolerance
    first_divergence: FirstDivergence | None
    failures: dict[str, Failure]
    nonfinite: dict[str, int]  # backend -> first step with NaN/Inf
    findings: list[Finding]
    worst: list[WorstRow]
    conventions: list[Convention]
    environment: dict[str, Any]  # free-form: versions, cpu, threadpools, settings
    seconds: dict[str, float]
    extras: Extras
    scenario_spec: dict[str, Any]  # `Scenario.to_dict()`
    report: ReportInfo | None = None  # summary.json always has it; `Comparison.summary()` does not

    @property
    def incomplete(self) -> bool:
        """True when the run stopped before its last step (interrupted, or every backend stopped)."""
        return self.interrupted or self.steps_completed < self.expected_steps

    @property
    def description(self) -> str:
        description = self.scenario_spec["description"] if "description" in self.scenario_spec else ""
        return "" if description is None else str(description)

    @classmethod
    def from_dict(cls, data: Any, source: str = "summary") -> "Summary":
        """Validate `data` (a parsed summary.json or `Comparison.summary()`) and return the typed summary."""
        if not isinstance(data, dict):
            raise SummaryError(f"{source}: expected a JSON object, got {_kind(data)}")
        if "schema_version" not in data:
            raise SummaryError(
                f"{source}: this summary has no 'schema_version', so it was written by an older scratchnet-parity "
                f"(summary schema 1) and cannot be read by this one (schema {SCHEMA_VERSION}): its diff rows lack "
                f"'kind', 'mismatched', 'size' and 'finding'. Re-run the comparison with `parity run SCENARIO "
                f"--out DIR` to write the report again.")
        version = data["schema_version"]
        if version != SCHEMA_VERSION or isinstance(version, bool):
            newer = isinstance(version, int) and not isinstance(version, bool) and version > SCHEMA_VERSION
            hint = ("upgrade scratchnet-parity to read it" if newer else
                    "re-run the comparison with `parity run SCENARIO --out DIR` to write the report again")
            raise SummaryError(f"{source}: schema_version is {version!r}; this scratchnet-parity reads schema "
                               f"{SCHEMA_VERSION} only: {hint}")
        return _build(cls, data, source, "")

    def to_dict(self) -> dict[str, Any]:
        """Plain data (dicts, lists, str, int, float, bool, None) in the schema's key order."""
        return as_data(self)


def load_summary(path: str | os.PathLike) -> Summary:
    """Read and validate a summary.json written by `write_report`; `SummaryError` names what is wrong."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise SummaryError(f"{path}: not valid JSON ({error})") from None
    summary = Summary.from_dict(data, str(path))
    if summary.report is None:
        raise SummaryError(f"{path}: missing key 'report' (summary.json written by write_report always has it)")
    return summary


# ---------------------------------------------------------------------- the diff table
def judged(diffs: pd.DataFrame) -> pd.Series:
    """Rows the verdict rests on: exact and cross rows that no measured convention gap explains."""
    return diffs.kind.isin(("exact", "cross")) & (diffs.expected == "")


def kind_label(kind: str, expected: str) -> str:
    """How a row kind reads in a report."""
    if kind == "gap":
        return "convention gap (measured)"
    if expected:
        return f"{kind}: {expected} (expected)"
    return kind


def worst_rows(diffs: pd.DataFrame) -> list[WorstRow]:
    """One `WorstRow` per (backend, reference, kind, quantity, expected), judged pairings first
    (in run order), then by quantity (loss, grad, param, state)."""
    if diffs.empty:
        return []
    order = {pair: i for i, pair in enumerate(ordered_pairs(diffs))}
    groups = diffs.groupby(["backend", "reference", "kind", "quantity", "expected"], sort=False)
    keys = sorted(groups.groups, key=lambda k: (order[(k[0], k[1])], QUANTITY_ORDER.get(k[3], 9), k[4], k[2]))
    rows = []
    for key in keys:
        group = groups.get_group(key)
        backend, reference, kind, quantity, expected = key
        findings = group[group.finding != ""]
        if not findings.empty:
            worst = findings.iloc[0]
        elif group.max_rel.notna().any():
            worst = group.loc[group.max_rel.idxmax()]
        else:
            worst = group.iloc[0]
        rows.append(WorstRow(
            backend=str(backend), reference=str(reference), kind=str(kind), quantity=str(quantity),
            expected=str(expected), judged=kind in ("exact", "cross") and not expected,
            max_abs=float(group.max_abs.max()), max_rel=float(group.max_rel.max()),
            min_cosine=float(group.cosine.min()), failed_rows=int((~group.passed).sum()), rows=len(group),
            step=int(worst.step), param=str(worst.param), index=int(worst["index"]), allowed=float(worst.allowed),
            mismatched=int(worst.mismatched), size=int(worst["size"]), finding=str(worst.finding)))
    return rows


def findings(diffs: pd.DataFrame) -> list[Finding]:
    """The shape/dtype mismatches, one per (backend, reference, kind, quantity, param, finding), in step order."""
    rows = diffs[diffs.finding != ""] if not diffs.empty else diffs
    out = []
    for key, group in rows.groupby(["backend", "reference", "kind", "quantity", "param", "finding"], sort=False):
        backend, reference, kind, quantity, param, finding = key
        out.append(Finding(str(backend), str(reference), str(kind), str(quantity), str(param), str(finding),
                           int(group.step.min()), int(group.step.nunique()), int(group["size"].iloc[0])))
    return out


def ordered_pairs(diffs: pd.DataFrame) -> list[tuple[str, str]]:
    """(backend, reference) pairings in run order, those with judged rows first."""
    if diffs.empty:
        return []
    pairs = list(dict.fromkeys(zip(diffs.backend, diffs.reference)))
    mask = judged(diffs)
    with_judged = set(zip(diffs.backend[mask], diffs.reference[mask]))
    return [p for p in pairs if p in with_judged] + [p for p in pairs if p not in with_judged]


def normalise_diffs(diffs: pd.DataFrame, source: str = "diffs") -> pd.DataFrame:
    """The diff table with the schema's columns, in order, and plain dtypes (int64, float64, bool, str)."""
    missing = [column for column in DIFF_COLUMNS if column not in diffs.columns]
    if missing:
        raise SummaryError(f"{source}: missing columns {missing}; schema {SCHEMA_VERSION} has {list(DIFF_COLUMNS)} "
                           f"(re-run `parity run` to write the report again)")
    frame = diffs.loc[:, list(DIFF_COLUMNS)].reset_index(drop=True)
    columns: dict[str, Any] = {}
    for column in DIFF_COLUMNS:
        values = frame[column]
        if column in STRING_COLUMNS:
            columns[column] = np.array(["" if pd.isna(v) else str(v) for v in values], dtype=object)
        elif column in INTEGER_COLUMNS:
            columns[column] = values.to_numpy(dtype=np.int64)
        elif column == "passed":
            columns[column] = values.to_numpy(dtype=bool) if values.dtype == bool else np.array(
                [v in (True, "True", "true") for v in values], dtype=bool)
        else:
            columns[column] = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
    out = pd.DataFrame(columns)
    unknown = sorted(set(out.kind) - set(KINDS))
    if unknown:
        raise SummaryError(f"{source}: column 'kind' holds {unknown}; expected one of {list(KINDS)}")
    return out


# ---------------------------------------------------------------------- validation
_NONFINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _kind(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 60 else text[:57] + '...'}"


def _where(source: str, path: str) -> str:
    return f"{source}: {path}" if path else source


def _build(cls: type, data: Any, source: str, path: str) -> Any:
    if not isinstance(data, dict):
        raise SummaryError(f"{_where(source, path)}: expected an object, got {_kind(data)}")
    hints = typing.get_type_hints(cls)
    fields = dataclasses.fields(cls)
    names = [f.name for f in fields]
    unknown = [key for key in data if key not in names]
    if unknown:
        raise SummaryError(f"{_where(source, path)}: unknown key {unknown[0]!r} (schema {SCHEMA_VERSION} has: "
                           f"{', '.join(names)})")
    values = {}
    for f in fields:
        inner = f"{path}.{f.name}" if path else f.name
        if f.name not in data:
            if f.default is not dataclasses.MISSING:
                continue
            raise SummaryError(f"{source}: missing key {inner!r}")
        values[f.name] = _value(hints[f.name], data[f.name], source, inner)
    return cls(**values)


def _value(hint: Any, value: Any, source: str, path: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        if value is None:
            return None
        return _value(options[0], value, source, path)
    if hint is Any:
        return value
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, source, path)
    if origin is list:
        if not isinstance(value, list):
            raise SummaryError(f"{source}: {path}: expected a list, got {_kind(value)}")
        (item,) = typing.get_args(hint)
        return [_value(item, v, source, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise SummaryError(f"{source}: {path}: expected an object, got {_kind(value)}")
        _, item = typing.get_args(hint)
        return {k: _value(item, v, source, f"{path}.{k}") for k, v in value.items()}
    if hint is bool:
        if not isinstance(value, bool):
            raise SummaryError(f"{source}: {path}: expected true or false, got {_kind(value)}")
        return value
    if hint is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise SummaryError(f"{source}: {path}: expected an integer, got {_kind(value)}")
        return value
    if hint is float:
        if isinstance(value, str) and value in _NONFINITE:
            return _NONFINITE[value]
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise SummaryError(f"{source}: {path}: expected a number, got {_kind(value)}")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise SummaryError(f"{source}: {path}: expected a string, got {_kind(value)}")
        return value
    raise TypeError(f"schema: unsupported type {hint!r} at {path}")  # a bug in this module, not in the file


def as_data(value: Any) -> Any:
    """Dataclasses of this module (and dicts, lists of them) as plain dicts and lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: as_data(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): as_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [as_data(v) for v in value]
    return value
