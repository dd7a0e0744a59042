"""Parity sweeps and differential fuzzing: many scenarios, serially, on a local process pool or on Dask.

    import comparisons
    result = comparisons.sweep("grid.toml", workers=2, out="reports/sweep")   # or a dict, or a Grid
    result.table             # one row per scenario x pairing, unexplained first (= sweep.csv)
    result.unexplained       # the rows no convention or float32 rounding explains
    comparisons.fuzz(budget=200, seed=0, out="reports/fuzz")                # Hypothesis-generated scenarios

Modules: `grid` (grids and points), `classify` (row classes), `worker` (what runs on a worker),
`execute` (serial / pool / Dask executors and the scheduling loop), `store` (the output folder,
resume), `report` (the sweep report), `fuzzing` (strategies and shrinking), `api` (the functions).
"""
from __future__ import annotations

from comparisons.sweeps.api import SweepResult, render, sweep
from comparisons.sweeps.classify import CLASSES
from comparisons.sweeps.grid import Grid, Point


def fuzz(*args, **kwargs):
    """`comparisons.sweeps.fuzzing.fuzz` (imported on first use: it needs Hypothesis)."""
    from comparisons.sweeps.fuzzing import fuzz as run_fuzz

    return run_fuzz(*args, **kwargs)


__all__ = ["sweep", "fuzz", "render", "Grid", "Point", "SweepResult", "CLASSES"]
