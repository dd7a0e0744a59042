"""The sweep report: one `blocks.Page` rendered by the report package's HTML and Markdown renderers.

Sections, in order: unexplained disagreements (each with its first divergence and a link to the
scenario's own report), minimal reproductions (fuzz), errors, the classification counts, error
against the swept axes (plots), float32 noise, conventions with their measured sizes, all rows
(the first `MAX_ROWS`; sweep.csv holds every one), the workers' CPUs and BLAS, what was swept,
and the files. Everything is read from sweep.json and rows.jsonl, so `parity report DIR`
re-renders it without running anything.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from comparisons.report.blocks import Block, Code, Heading, Image, KeyValues, Page, Section, Table, Text
from comparisons.report.content import number
from comparisons.sweeps import classify
from comparisons.sweeps.store import axis_column

MAX_ROWS = 300
PLOT_FILE = "sweep-axes.png"
CLASS_COLOURS = {"unexplained": "#cf222e", "error": "#8250df", "float32 noise": "#bf8700", "free-run drift": "#0969da",
                 "convention": "#9aa0a6", "within tolerance": "#1a7f37"}
SWEEP_VERSION = 1


def pairing(row: Mapping[str, Any]) -> str:
    return f"{row['backend']} vs {row['reference']}" if row["reference"] else (row["backend"] or "—")


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dicts with plain values (NaN and <NA> as None)."""
    out = []
    for record in frame.to_dict("records"):
        out.append({k: (None if not isinstance(v, (list, tuple, dict)) and pd.isna(v) else v) for k, v in record.items()})
    return out


def _where(row: Mapping[str, Any]) -> str:
    if row.get("first_step") is None:
        return "—"
    if row["first_quantity"] == "loss":
        return f"step {row['first_step']}: loss"
    return f"step {row['first_step']}: {row['first_quantity']} {row['first_param']}[{row['first_index']}]"


def _value(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return repr(float(value))


def _ratio(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return "inf" if math.isinf(value) else f"{value:.3g}"


# ---------------------------------------------------------------------- the page
def build_page(frame: pd.DataFrame, meta: Mapping[str, Any], images: Sequence[str],
               minimal: Sequence[Mapping[str, Any]] = ()) -> Page:
    axes = list(meta.get("axes") or [])
    counts = frame.classification.value_counts().to_dict() if not frame.empty else {}
    unexplained = frame[frame.classification == "unexplained"]
    errors = frame[frame.classification == "error"]
    scenarios_done = int(frame.scenario_id.nunique()) if not frame.empty else 0
    total = int(meta.get("scenarios", scenarios_done))
    passed = unexplained.empty and errors.empty
    if passed:
        verdict = (f"PASS: {scenarios_done} scenarios, {len(frame)} pairing rows, no unexplained disagreement "
                   f"({_counts_text(counts)})")
    else:
        parts = []
        if not unexplained.empty:
            first = _records(unexplained.head(1))[0]
            parts.append(f"{len(unexplained)} unexplained row(s) in {unexplained.scenario_id.nunique()} scenario(s); "
                         f"first: {first['scenario']}, {pairing(first)}, {_where(first)}")
        if not errors.empty:
            parts.append(f"{len(errors)} error row(s) in {errors.scenario_id.nunique()} scenario(s)")
        verdict = "FAIL: " + "; ".join(parts)
    incomplete = None
    if meta.get("interrupted") or scenarios_done < total:
        why = "The sweep was interrupted" if meta.get("interrupted") else "The sweep has not finished"
        incomplete = (f"{why}: {scenarios_done} of {total} scenarios have results. Run the same command again to "
                      "resume (finished scenarios are skipped).")
    facts = [("Scenarios", f"{scenarios_done} of {total}"), ("Rows (scenario × pairing)", str(len(frame))),
             ("Unexplained", str(counts.get("unexplained", 0))), ("Errors", str(counts.get("error", 0))),
             ("Executor", str(meta.get("executor", "—"))), ("Wall time", _seconds(meta.get("wall_seconds"))),
             ("Scenarios per minute", _rate(meta)), ("Resumed (skipped)", str(meta.get("resumed", 0))),
             ("Written", str(meta.get("written", "—")))]
    sections = [
        _unexplained_section(unexplained, axes),
        _minimal_section(minimal) if meta.get("kind") == "fuzz" else None,
        _errors_section(errors),
        _classes_section(frame),
        Section("axes", "Error against the swept axes" if axes else "Error against the scenario features",
                [Text("Worst error of each pairing in units of its allowed error (max |a − b| / (atol + rtol·max|b|), "
                      "over steps, quantities and parameters): below the red line at 1 a pairing is within tolerance, "
                      "whatever its dtype and mode. Colour: classification; exact zeros sit at the bottom edge; "
                      "error rows are left out.", "muted"),
                 Image(PLOT_FILE, "Error ratio per pairing against each axis") if PLOT_FILE in images
                 else Text("Nothing to plot.", "muted")]),
        _noise_section(frame),
        _conventions_section(frame),
        _rows_section(frame, axes),
        _workers_section(frame),
        _what_section(meta),
        Section("files", "Files", [Table(["file", "contents"], _files(meta, images), code={0})]),
    ]
    title = f"Parity {'fuzz' if meta.get('kind') == 'fuzz' else 'sweep'}: {meta.get('name', '')}"
    return Page(title=title, description=str(meta.get("description", "")), incomplete=incomplete, passed=passed,
                verdict=verdict, facts=facts, alerts=[], notes=[], sections=[s for s in sections if s is not None],
                schema_version=SWEEP_VERSION)


def _counts_text(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{counts[c]} {c}" for c in classify.CLASSES if counts.get(c))


def _seconds(value: Any) -> str:
    return "—" if value is None else f"{float(value):.1f} s"


def _rate(meta: Mapping[str, Any]) -> str:
    ran, wall = meta.get("ran", 0), meta.get("wall_seconds")
    if not ran or not wall:
        return "—"
    return f"{60.0 * ran / wall:.0f} (this invocation: {ran} scenarios)"


def _link_table(headers: list[str], rows: list[list[str]], links: list[str], styles: list[str], numeric: set[int],
                caption: str = "", link_column: int = 0) -> Table:
    return Table(headers, rows, numeric=numeric, row_styles=styles, caption=caption,
                 links={(i, link_column): link for i, link in enumerate(links) if link})


def _unexplained_section(rows: pd.DataFrame, axes: list[str]) -> Section:
    if rows.empty:
        return Section("unexplained", "Unexplained disagreements", [Text(
            "No pairing of any scenario disagrees beyond its tolerance without an explanation (a known convention or "
            "float32 rounding).", "ok")])
    shown = rows.head(MAX_ROWS)
    features = [] if axes else ["sizes", "activations", "optimizer", "loss", "dtype", "mode"]  # fuzz: what it was
    body = [[r["scenario"], pairing(r), r["kind"], _where(r), _value(r["first_value"]),
             _value(r["first_reference_value"]), number(r["first_error"]), number(r["first_allowed"]),
             _ratio(r["error_ratio"]), *[str(r[axis_column(a)]) for a in axes], *[str(r[f]) for f in features]]
            for r in _records(shown)]
    headers = ["scenario", "pairing", "kind", "first divergence", "value", "reference value", "|error|", "allowed",
               "worst error / allowed", *axes, *features]
    blocks: list[Block] = [
        Text(f"{len(rows)} row(s) in {rows.scenario_id.nunique()} scenario(s): a judged pairing beyond tolerance that "
             "no known convention explains and that is not float32 rounding. Each scenario links to its own report "
             "(or its scenario.toml: `parity run` reproduces it).", "bad"),
        _link_table(headers, body, list(shown.report), ["bad"] * len(body), numeric={4, 5, 6, 7, 8})]
    if len(rows) > MAX_ROWS:
        blocks.append(Text(f"… and {len(rows) - MAX_ROWS} more in sweep.csv.", "muted"))
    return Section("unexplained", "Unexplained disagreements", blocks)


def _minimal_section(minimal: Sequence[Mapping[str, Any]]) -> Section:
    if not minimal:
        return Section("minimal", "Minimal reproductions", [Text("Nothing to shrink: no unexplained disagreement.",
                                                                 "muted")])
    blocks: list[Block] = [Text("Each unexplained disagreement below was shrunk to a smallest scenario that still "
                                "shows it for the same pairing (fewer layers and units, plainer optimizer, loss and "
                                "data, fewer steps, float64, anchored), and written as a TOML file.", "muted")]
    for item in minimal:
        blocks += [Heading(f"{item['pairing']}: {item['file']}"),
                   KeyValues([("Found in", str(item["origin"])), ("Shrunk", f"{item['rounds']} round(s), "
                              f"{item['candidates']} candidate runs"),
                              ("Minimal scenario", item["summary"]), ("Still shows", item["detail"]),
                              ("Reproduce", item["command"])]),
                   Code(item["toml"], "toml")]
    return Section("minimal", "Minimal reproductions", blocks)


def _errors_section(rows: pd.DataFrame) -> Section | None:
    if rows.empty:
        return None
    shown = rows.head(MAX_ROWS)
    body = [[r["scenario"], pairing(r), r["status"], r["detail"]] for r in _records(shown)]
    return Section("errors", "Errors", [
        Text("Comparisons that could not be made: a backend that failed, an invalid spec, a scenario that raised, or a "
             "worker that died running it (after the retries).", "muted"),
        _link_table(["scenario", "pairing", "status", "what happened"], body, list(shown.report),
                    ["bad"] * len(body), numeric=set())])


def _classes_section(frame: pd.DataFrame) -> Section:
    if frame.empty:
        return Section("classes", "Classification", [Text("No results yet.", "muted")])
    kinds = [k for k in ("exact", "cross", "gap", "") if k in set(frame.kind)]
    rows = []
    for name in classify.CLASSES:
        part = frame[frame.classification == name]
        rows.append([name, str(len(part)), str(part.scenario_id.nunique()),
                     *[str(int((part.kind == k).sum())) for k in kinds]])
    return Section("classes", "Classification", [
        Text("Every scenario × pairing row is one of: unexplained; error; float32 noise (fails in float32, the same "
             "scenario in float64 agrees); free-run drift (fails free-running, the same scenario anchored agrees at "
             "every step); convention (a known, deliberate difference, with its measured size); within tolerance.",
             "muted"),
        Table(["class", "rows", "scenarios", *[f"kind {k or '—'}" for k in kinds]], rows,
              numeric=set(range(1, 3 + len(kinds))),
              row_styles=["bad" if r[0] in ("unexplained", "error") and r[1] != "0" else
                          ("convention" if r[0] == "convention" else "") for r in rows])])


def _noise_section(frame: pd.DataFrame) -> Section | None:
    rows = frame[frame.classification.isin(("float32 noise", "free-run drift"))]
    if rows.empty:
        return None
    shown = rows.head(MAX_ROWS)
    body = [[r["scenario"], pairing(r), r["classification"], r["dtype"], r["mode"], number(r["max_rel"]),
             f"{(r['max_rel'] or 0) / classify.FLOAT32_EPS:.3g}" if r["dtype"] == "float32" else "—",
             number(r["control_max_rel"]), _where(r)] for r in _records(shown)]
    return Section("rounding", "Rounding: float32 noise and free-run drift", [
        Text("float32 noise: a float32 run beyond the float32 tolerance whose float64 control run (the same scenario, "
             "only run.dtype changed) is within the float64 tolerance. Free-run drift: a free-running run beyond "
             "tolerance whose anchored control run (only run.mode changed) agrees at every step. Both are rounding, "
             "not a different computation.", "muted"),
        _link_table(["scenario", "pairing", "class", "dtype", "mode", "max relative", "in float32 eps",
                     "float64 control max relative", "first beyond tolerance"], body, list(shown.report),
                    [""] * len(body), numeric={5, 6, 7})])


def _conventions_section(frame: pd.DataFrame) -> Section | None:
    rows = frame[frame.classification == "convention"]
    if rows.empty:
        return None
    from comparisons.conventions import CONVENTIONS

    titles = {c.key: c.title for c in CONVENTIONS}
    out = []
    for (key, kind), group in rows.groupby(["conventions", "kind"], sort=True):
        first = _records(group.head(1))[0]
        keys = [k.strip() for k in str(key).split(",") if k.strip()]
        out.append(([", ".join(titles.get(k, k) for k in keys) or "—", kind, str(len(group)),
                     f"{number(group.max_rel.min())} – {number(group.max_rel.max())}",
                     f"{number(group.max_abs.min())} – {number(group.max_abs.max())}", first["scenario"]],
                    first["report"]))
    return Section("conventions", "Conventions", [
        Text("Known, deliberate differences found and labelled by the sweep, with their measured size: optimizer "
             "conventions (the gap between scratchnet and its twin following the other framework, and the cross rows "
             "it explains) and activation conventions (a control run with scratchnet computing the activation as the "
             "framework does agrees).", "muted"),
        Table(["convention", "kind", "rows", "max relative (range)", "max |error| (range)", "example"],
              [r for r, _ in out], numeric={2}, row_styles=["convention"] * len(out),
              links={(i, 5): link for i, (_, link) in enumerate(out) if link})])


def _rows_section(frame: pd.DataFrame, axes: list[str]) -> Section:
    shown = frame.head(MAX_ROWS)
    body, styles = [], []
    for r in _records(shown):
        body.append([r["scenario"], pairing(r), r["kind"], r["classification"], number(r["max_rel"]),
                     _ratio(r["error_ratio"]), *[str(r[axis_column(a)]) for a in axes], r["conventions"] or "—"])
        styles.append({"unexplained": "bad", "error": "bad", "convention": "convention"}.get(r["classification"], ""))
    blocks: list[Block] = [_link_table(["scenario", "pairing", "kind", "class", "max relative", "error / allowed",
                                        *axes, "conventions"], body, list(shown.report), styles, numeric={4, 5})]
    if len(frame) > MAX_ROWS:
        blocks.append(Text(f"First {MAX_ROWS} of {len(frame)} rows; sweep.csv (and sweep.parquet) hold all of them.",
                           "muted"))
    return Section("rows", "All rows", blocks)


def _workers_section(frame: pd.DataFrame) -> Section:
    if frame.empty:
        return Section("workers", "Workers", [Text("No results yet.", "muted")])
    ran = frame[frame.host != ""]
    groups = ran.groupby(["host", "cpu", "simd", "blas"], sort=True)
    rows = [[host, cpu, simd, blas, str(g.scenario_id.nunique()), str(g.pid.nunique())]
            for (host, cpu, simd, blas), g in groups]
    blocks: list[Block] = [Text("Where the scenarios ran. float64 trajectories can differ between CPUs (vector "
                                "extensions, FMA) and BLAS builds and thread counts, so each row of sweep.csv records "
                                "its worker's.", "muted"),
                           Table(["host", "CPU", "SIMD extensions", "BLAS / OpenMP (threads)", "scenarios",
                                  "processes"], rows, numeric={4, 5})]
    if ran.host.nunique() > 1 or len(rows) > 1:
        blocks.append(Text("More than one machine type: compare float64 free-running rows across workers with care.",
                           "alert"))
    return Section("workers", "Workers", blocks)


def _what_section(meta: Mapping[str, Any]) -> Section:
    if meta.get("kind") == "fuzz":
        return Section("swept", "Fuzz settings", [Code(json.dumps(meta.get("settings", {}), indent=2), "json")])
    from comparisons.report.content import _toml_table

    return Section("swept", "Grid", [Code(_toml_table(meta.get("grid") or {}, []).strip() + "\n", "toml")])


def _files(meta: Mapping[str, Any], images: Sequence[str]) -> list[list[str]]:
    files = [["sweep.json", "what was swept, the executor, counts and timing"],
             ["rows.jsonl", "one record per finished scenario (the resume log)"],
             ["sweep.csv", "every scenario × pairing row, unexplained first"]]
    if meta.get("parquet"):
        files.append(["sweep.parquet", "the same table as Parquet"])
    files.append(["scenarios/NAME/", "each scenario's scenario.toml and, for those with an unexplained, error or "
                                      "rounding row, its own report"])
    if meta.get("kind") == "fuzz":
        files.append(["minimal/", "the shrunk scenarios (TOML) and minimal.json"])
    files += [[name, "plot"] for name in images]
    return files


# ---------------------------------------------------------------------- plots
def figures(frame: pd.DataFrame, axes: Sequence[str]) -> dict[str, bytes]:
    """`PLOT_FILE`: one panel per axis (or per scenario feature when there are no axes), error
    ratio on a log scale against the axis values, coloured by classification."""
    data = frame[frame.classification != "error"]
    data = data[pd.notna(data.error_ratio)] if not data.empty else data
    if data.empty:
        return {}
    from comparisons.report import plots

    plt = plots.plt
    keys = [axis_column(a) for a in axes] or [k for k in ("activations", "optimizer", "loss", "dtype", "mode",
                                                          "batch_size", "layers") if data[k].nunique() > 1] or ["dtype"]
    keys = keys[:8]
    ratio = data.error_ratio.to_numpy(dtype=float)
    finite = ratio[np.isfinite(ratio) & (ratio > 0)]
    floor = 10 ** math.floor(math.log10(finite.min())) / 10 if finite.size else 1e-6
    ceiling = 10 ** math.ceil(math.log10(max(finite.max(), 1.0))) * 10 if finite.size else 10.0
    shown = np.clip(np.where(np.isfinite(ratio), ratio, ceiling), floor, ceiling)
    shown = np.where(ratio > 0, shown, floor)
    columns = 2 if len(keys) > 1 else 1
    rows = math.ceil(len(keys) / columns)
    with plt.rc_context({"font.size": 9, "axes.titlesize": 9, "legend.fontsize": 8, "axes.spines.top": False,
                         "axes.spines.right": False}):
        figure, grid = plt.subplots(rows, columns, figsize=(6.2 * columns, 3.0 * rows + 0.4), squeeze=False)
        rng = np.random.default_rng(0)
        for panel, key in zip(grid.ravel(), keys):
            values = data[key].astype(str).to_numpy()
            order = list(dict.fromkeys(frame[key].astype(str)))  # grid order
            positions = {value: i for i, value in enumerate(order)}
            x = np.array([positions[v] for v in values], dtype=float) + rng.uniform(-0.18, 0.18, len(values))
            for name, colour in CLASS_COLOURS.items():
                mask = data.classification.to_numpy() == name
                if mask.any():
                    panel.scatter(x[mask], shown[mask], s=16, color=colour, alpha=0.8, label=name, linewidths=0)
            panel.axhline(1.0, color=plots.TOLERANCE_COLOUR, linestyle="--", linewidth=1)
            panel.set_yscale("log")
            panel.set_ylim(floor / 2, ceiling * 2)
            panel.set_xticks(range(len(order)))
            crowded = len(order) > 4 or sum(len(v) for v in order) > 60
            panel.set_xticklabels([_tick(v) for v in order], rotation=35 if crowded else 0,
                                  ha="right" if crowded else "center", fontsize=7 if len(order) > 8 else 8)
            panel.set_title(key.removeprefix("axis:"))
            panel.set_ylabel("worst error / allowed")
        for panel in grid.ravel()[len(keys):]:
            panel.set_visible(False)
        handles, labels = grid.ravel()[0].get_legend_handles_labels()
        seen = dict(zip(labels, handles))
        for panel in grid.ravel()[1:len(keys)]:
            for handle, label in zip(*panel.get_legend_handles_labels()):
                seen.setdefault(label, handle)
        ordered = [name for name in CLASS_COLOURS if name in seen]
        figure.legend([seen[n] for n in ordered], ordered, loc="upper center", ncol=len(ordered), frameon=False)
        # fixed margins: tight_layout costs more than drawing the figure
        figure.subplots_adjust(left=0.09 if columns == 1 else 0.07, right=0.98, top=1 - 0.42 / (3.0 * rows + 0.4),
                               bottom=1.0 / (3.0 * rows), hspace=0.75, wspace=0.22)
        return {PLOT_FILE: plots._png(figure)}


def _tick(value: str) -> str:
    return value if len(value) <= 24 else value[:22] + "…"


# ---------------------------------------------------------------------- writing
def write(out: Path, frame: pd.DataFrame, meta: Mapping[str, Any], minimal: Sequence[Mapping[str, Any]] = ()) -> dict[str, Path]:
    """report.html, report.md and the plot into `out` (atomically)."""
    from comparisons.report import html_page, markdown_page
    from comparisons.report.records import atomic_write_bytes, atomic_write_text

    images = figures(frame, meta.get("axes") or [])
    written = {name: atomic_write_bytes(out / name, data) for name, data in images.items()}
    if not images:
        (out / PLOT_FILE).unlink(missing_ok=True)
    page = build_page(frame, meta, list(images), minimal)
    html = html_page.render_page(page, images).replace(
        f"summary.json schema {SWEEP_VERSION}.", f"sweep.json version {SWEEP_VERSION}; each scenario's summary.json "
        "has its own schema.")
    written["report.html"] = atomic_write_text(out / "report.html", html)
    written["report.md"] = atomic_write_text(out / "report.md", markdown_page.render_page(page))
    return written
