"""The report's figures as PNG bytes (matplotlib, Agg backend, no display needed).

* ``loss.png``: the loss of every backend per step, overlaid with distinct line styles (the curves
  usually coincide exactly), and below it the relative loss error of each pairing on a log axis.
* ``errors.png``: one row per pairing, gradients left, updated weights right: max_rel per parameter
  and step on a log axis with the tolerance line. Judged rows (`schema.judged`: kind exact or
  cross, no convention gap explaining them) are coloured; the other rows are grey.
* ``heatmap.png``: log10(max_rel) by quantity/parameter (rows) and step (columns), one panel per
  pairing with judged rows, coloured around the tolerance; rows not judged grey, missing cells
  white, failed cells without a finite error (shape/dtype findings, NaN) at the top colour.

A relative error of exactly 0 cannot sit on a log axis: it is drawn at a floor one decade below the
smallest non-zero error (said in each figure). PNGs carry no timestamp or software metadata, so the
same records always give the same bytes.
"""
from __future__ import annotations

import io
import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from PIL import Image  # noqa: E402  (pillow: a matplotlib dependency)
from matplotlib.colors import ListedColormap, TwoSlopeNorm  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator  # noqa: E402

from comparisons.report.content import pair_label  # noqa: E402
from comparisons.report.records import ReportRecords  # noqa: E402
from comparisons.report.schema import judged as judged_rows, ordered_pairs  # noqa: E402

DPI = 80
PALETTE = 128
LINE_STYLES = ("-", "--", ":", "-.", (0, (5, 1, 1, 1)), (0, (1, 2)), (0, (8, 2)), (0, (3, 1, 1, 1, 1, 1)))
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
TOLERANCE_COLOUR = "#cf222e"
CONVENTION_COLOUR = "#9aa0a6"
PARAM_COLOURS = plt.get_cmap("tab10").colors


def figures(records: ReportRecords) -> dict[str, bytes]:
    """PNG bytes by file name; a figure with nothing to show is left out."""
    out = {}
    with plt.rc_context({"font.size": 9, "axes.titlesize": 9, "axes.labelsize": 9, "legend.fontsize": 8,
                         "xtick.labelsize": 8, "ytick.labelsize": 8, "axes.spines.top": False,
                         "axes.spines.right": False, "path.simplify": True}):
        if not records.losses.empty and len(records.losses.columns):
            out["loss.png"] = _png(loss_figure(records))
        quantities = records.diffs[records.diffs.quantity.isin(("grad", "param"))]
        if not quantities.empty:
            out["errors.png"] = _png(error_figure(records))
            heatmap = heatmap_figure(records)
            if heatmap is not None:
                out["heatmap.png"] = _png(heatmap)
    return out


def _png(figure: plt.Figure) -> bytes:
    """PNG bytes of the drawn figure, reduced to an adaptive palette (a third of the size, same
    look) and without metadata, so the same records always give the same bytes."""
    try:
        figure.canvas.draw()
        image = Image.frombuffer("RGBA", figure.canvas.get_width_height(), figure.canvas.buffer_rgba())
    finally:
        plt.close(figure)
    palette = image.convert("RGB").quantize(colors=PALETTE, method=Image.Quantize.FASTOCTREE)
    out = io.BytesIO()
    palette.save(out, format="png")
    return out.getvalue()


def _rtol(records: ReportRecords) -> float:
    rtol = records.summary.tolerance.rtol
    return float(rtol) if rtol > 0 else 1e-12


def _floor(values: np.ndarray, rtol: float) -> float:
    """One decade below the smallest positive finite value (or three below rtol when none)."""
    positive = values[np.isfinite(values) & (values > 0)]
    smallest = float(positive.min()) if positive.size else rtol * 1e-2
    return 10.0 ** (math.floor(math.log10(min(smallest, rtol))) - 1)


def _log_axis(axes, floor: float, rtol: float, highest: float) -> None:
    """A log y axis from just below `floor` to above both `highest` and the tolerance line.
    Major ticks only, labelled 1e-14 etc. (minor ticks and mathtext labels are what make
    matplotlib slow here)."""
    axes.set_yscale("log")
    axes.set_ylim(floor / 3, max(highest, rtol) * 30)
    axes.yaxis.set_major_locator(LogLocator(numticks=6))
    axes.yaxis.set_minor_locator(NullLocator())
    axes.yaxis.set_major_formatter(FuncFormatter(_power_of_ten))
    axes.axhline(rtol, color=TOLERANCE_COLOUR, linestyle="--", linewidth=1.2, zorder=5)
    axes.axhline(floor, color="#d0d7de", linewidth=0.8, zorder=0)
    axes.grid(True, which="major", axis="y", color="#eaeef2", linewidth=0.6)


def _power_of_ten(value: float, _position: int) -> str:
    return f"1e{round(math.log10(value))}" if value > 0 else ""


def _highest(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.max()) if finite.size else 0.0


def _grid(width: float, height: float, rows: int, columns: int, *, left: float, right: float, top: float,
          bottom: float, row_gap: float = 0.0, column_gap: float = 0.0, **options):
    """plt.subplots with margins and gaps in inches: a fixed layout draws several times faster
    than matplotlib's constrained layout."""
    axes_height = (height - top - bottom - row_gap * (rows - 1)) / rows
    axes_width = (width - left - right - column_gap * (columns - 1)) / columns
    spacing = {"left": left / width, "right": 1 - right / width, "top": 1 - top / height, "bottom": bottom / height,
               "hspace": row_gap / axes_height, "wspace": column_gap / axes_width}
    return plt.subplots(rows, columns, figsize=(width, height), dpi=DPI, squeeze=False, gridspec_kw=spacing, **options)


def _clipped(values: pd.Series, floor: float) -> np.ndarray:
    array = values.to_numpy(dtype=np.float64, copy=True)
    array[array < floor] = floor
    return array


# ---------------------------------------------------------------------- loss
def loss_figure(records: ReportRecords) -> plt.Figure:
    losses = records.losses
    rtol = _rtol(records)
    figure, axes = _grid(9, 6.2, 2, 1, left=0.95, right=0.2, top=0.55, bottom=1.1, row_gap=0.15, sharex=True,
                         height_ratios=(3, 2))
    top, bottom = axes[:, 0]
    steps = losses.index.to_numpy()
    every = max(1, len(steps) // 12)
    for i, backend in enumerate(losses.columns):
        start = min(i * max(1, every // 4), max(len(steps) - 1, 0))
        top.plot(steps, losses[backend].to_numpy(), linestyle=LINE_STYLES[i % len(LINE_STYLES)],
                 linewidth=max(0.9, 2.6 - 0.45 * i), marker=MARKERS[i % len(MARKERS)], markersize=4,
                 markevery=(start, every), label=backend, alpha=0.9)
    values = losses.to_numpy(dtype=np.float64)
    finite = values[np.isfinite(values)]
    if finite.size and finite.min() > 0 and finite.max() / finite.min() > 20:
        top.set_yscale("log")
        top.yaxis.set_minor_locator(NullLocator())
    top.set_ylabel("loss (before the update)")
    top.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=min(5, len(losses.columns)), frameon=False,
               title="backends (identical curves sit on top of each other)", title_fontsize=8, alignment="left")
    top.grid(True, color="#eaeef2", linewidth=0.6)

    diffs = records.diffs[records.diffs.quantity == "loss"]
    floor = _floor(diffs.max_rel.to_numpy(), rtol)
    _log_axis(bottom, floor, rtol, _highest(diffs.max_rel.to_numpy()))
    for i, (backend, reference) in enumerate(ordered_pairs(diffs)):
        pair = diffs[(diffs.backend == backend) & (diffs.reference == reference)]
        judged = judged_rows(pair).to_numpy()
        y = _clipped(pair.max_rel, floor)
        label = pair_label(backend, reference)
        style = LINE_STYLES[i % len(LINE_STYLES)]
        if judged.any():
            bottom.plot(pair.step, np.where(judged, y, np.nan), linestyle=style, marker=MARKERS[i % len(MARKERS)],
                        markersize=3, markevery=every, linewidth=1.2, label=label)
        if (~judged).any():
            bottom.plot(pair.step, np.where(~judged, y, np.nan), color=CONVENTION_COLOUR, linestyle=style,
                        linewidth=1.0, label=f"{label} (convention)")
    bottom.plot([], [], color=TOLERANCE_COLOUR, linestyle="--", label=f"tolerance rtol={rtol:g}")
    bottom.set_ylabel(f"relative loss error\n(0 drawn at {floor:.0e})")
    bottom.set_xlabel("step")
    figure.legend(*bottom.get_legend_handles_labels(), loc="lower left", bbox_to_anchor=(0.95 / 9, 0.0), ncol=3,
                  frameon=False)
    return figure


# ---------------------------------------------------------------------- per-parameter errors
def error_figure(records: ReportRecords) -> plt.Figure:
    diffs = records.diffs[records.diffs.quantity.isin(("grad", "param"))]
    rtol = _rtol(records)
    floor = _floor(diffs.max_rel.to_numpy(), rtol)
    highest = _highest(diffs.max_rel.to_numpy())
    pairs = ordered_pairs(diffs)
    params = list(dict.fromkeys(diffs.param))
    colour = {p: PARAM_COLOURS[i % len(PARAM_COLOURS)] for i, p in enumerate(params)}
    rows = len(pairs)
    figure, axes = _grid(10, 0.75 + 0.55 + 1.8 * rows + 0.2 * (rows - 1), rows, 2, left=0.95, right=0.15, top=0.75,
                         bottom=0.55, row_gap=0.2, column_gap=0.12, sharex=True, sharey=True)
    for row, (backend, reference) in enumerate(pairs):
        pair = diffs[(diffs.backend == backend) & (diffs.reference == reference)]
        convention_only = not judged_rows(pair).any()
        for column, quantity in enumerate(("grad", "param")):
            ax = axes[row, column]
            _log_axis(ax, floor, rtol, highest)
            for param, lines in pair[pair.quantity == quantity].groupby("param", sort=False):
                judged = judged_rows(lines).to_numpy()
                y = _clipped(lines.max_rel, floor)
                if judged.any():
                    ax.plot(lines.step, np.where(judged, y, np.nan), color=colour[param], linewidth=1.2)
                if (~judged).any():
                    ax.plot(lines.step, np.where(~judged, y, np.nan), color=CONVENTION_COLOUR, linewidth=1.0)
            if convention_only:
                ax.text(0.99, 0.96, "known convention difference (expected)", transform=ax.transAxes, ha="right",
                        va="top", fontsize=8, color="#57606a")
            if row == 0:
                ax.set_title("gradient" if quantity == "grad" else "weights after the update", fontsize=10,
                             fontweight="bold")
        axes[row, 0].set_ylabel(f"{backend}\nvs {reference}", color="#57606a" if convention_only else "black")
    for ax in axes[-1]:
        ax.set_xlabel(f"step  (max relative error; 0 drawn at {floor:.0e})")
    handles = [Line2D([], [], color=colour[p], linewidth=1.5) for p in params]
    labels = list(params)
    handles += [Line2D([], [], color=TOLERANCE_COLOUR, linestyle="--"), Line2D([], [], color=CONVENTION_COLOUR)]
    labels += [f"tolerance rtol={rtol:g}", "convention difference"]
    figure.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 1.0), ncol=min(len(labels), 6),
                  frameon=False)
    return figure


# ---------------------------------------------------------------------- heat map
def heatmap_figure(records: ReportRecords) -> plt.Figure | None:
    diffs = records.diffs[records.diffs.quantity.isin(("loss", "grad", "param"))]
    judged = judged_rows(diffs)
    judged_pairs = [p for p in ordered_pairs(diffs)
                    if ((diffs.backend == p[0]) & (diffs.reference == p[1]) & judged).any()]
    if not judged_pairs:
        return None
    rtol = _rtol(records)
    floor = _floor(diffs.max_rel.to_numpy(), rtol)
    steps = int(diffs.step.max()) + 1
    rank = {"loss": 0, "grad": 1, "param": 2}
    panels = []
    for backend, reference in judged_pairs:
        pair = diffs[(diffs.backend == backend) & (diffs.reference == reference)]
        names = sorted(dict.fromkeys(zip(pair.quantity, pair.param)), key=lambda qp: rank[qp[0]])
        row_of = {name: i for i, name in enumerate(names)}
        rows = np.array([row_of[qp] for qp in zip(pair.quantity, pair.param)], dtype=np.int64)
        cols = pair.step.to_numpy()
        values = np.full((len(names), steps), np.nan)
        convention = np.zeros((len(names), steps), dtype=bool)
        values[rows, cols] = np.log10(np.maximum(pair.max_rel.to_numpy(dtype=np.float64), floor))
        convention[rows, cols] = (~judged_rows(pair)).to_numpy()
        failed = np.zeros((len(names), steps), dtype=bool)
        failed[rows, cols] = (~pair.passed).to_numpy()
        values[convention] = np.nan
        labels = ["loss" if q == "loss" else f"{q} {p}" for q, p in names]
        # a failed cell without a finite error (a shape/dtype finding, NaN/Inf) is drawn at the top colour
        panels.append((pair_label(backend, reference), values, convention, labels, failed & ~np.isfinite(values)))
    finite = np.concatenate([values[np.isfinite(values)] for _, values, _, _, _ in panels])
    centre = math.log10(rtol)
    lowest = min(float(finite.min()) if finite.size else centre, centre) - 0.5
    top = max(float(finite.max()) if finite.size else centre, centre) + 0.5
    for _, values, convention, _, unmeasured in panels:
        values[unmeasured & ~convention] = top
    panels = [panel[:4] for panel in panels]
    norm = TwoSlopeNorm(vmin=lowest, vcenter=centre, vmax=top)
    colours = plt.get_cmap("RdBu_r").with_extremes(bad="white")
    grey = ListedColormap([CONVENTION_COLOUR])
    heights = [0.16 * len(labels) + 0.1 for _, _, _, labels in panels]
    longest = max(len(name) for _, _, _, labels in panels for name in labels)
    width, left, top_margin, bottom_margin, gap = 10.0, 0.3 + 0.06 * longest, 0.3, 0.5, 0.35
    height = top_margin + bottom_margin + sum(heights) + gap * (len(panels) - 1)
    figure, axes = _grid(width, height, len(panels), 1, left=left, right=1.2, top=top_margin, bottom=bottom_margin,
                         row_gap=gap, sharex=True, height_ratios=heights)
    image = None
    for ax, (label, values, convention, names) in zip(axes[:, 0], panels):
        extent = (-0.5, steps - 0.5, len(names) - 0.5, -0.5)
        image = ax.imshow(values, aspect="auto", interpolation="nearest", cmap=colours, norm=norm, extent=extent)
        if convention.any():
            ax.imshow(np.where(convention, 1.0, np.nan), aspect="auto", interpolation="nearest", cmap=grey,
                      extent=extent)
        ax.set_yticks(range(len(names)), names, fontsize=7)
        ax.set_title(label, loc="left", fontsize=9)
        for side in ("top", "right"):
            ax.spines[side].set_visible(True)
    axes[-1, 0].set_xlabel("step")
    bar_axes = figure.add_axes((1 - 1.0 / width, bottom_margin / height, 0.15 / width,
                                1 - (top_margin + bottom_margin) / height))
    bar = figure.colorbar(image, cax=bar_axes)
    bar.set_label(f"log10 max relative error (black line: tolerance {rtol:g})")
    bar.ax.axhline(centre, color="black", linewidth=2)
    bar.ax.yaxis.set_minor_locator(NullLocator())
    return figure
