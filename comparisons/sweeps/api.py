"""`comparisons.sweep(grid, workers=..., scheduler=...)`: run every point of a grid, classify
every pairing, stream the results into a folder and write the sweep report."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import pandas as pd

from comparisons.sweeps import execute, report, store as store_module, worker
from comparisons.sweeps.grid import Grid, Point


@dataclass
class SweepResult:
    """What a sweep produced. `table`: one row per scenario x pairing (the sweep.csv columns),
    unexplained first."""

    name: str
    points: list[Point]
    table: pd.DataFrame
    out: Path | None
    interrupted: bool
    executor: str
    wall_seconds: float
    ran: int  # scenarios run by this call (the others were resumed from the folder)
    resumed: int
    crashes: int = 0
    minimal: list[dict[str, Any]] = field(default_factory=list)  # fuzz: the shrunk disagreements

    @property
    def unexplained(self) -> pd.DataFrame:
        return self.table[self.table.classification == "unexplained"]

    @property
    def errors(self) -> pd.DataFrame:
        return self.table[self.table.classification == "error"]

    @property
    def counts(self) -> dict[str, int]:
        return {name: int(n) for name, n in self.table.classification.value_counts().items()}

    @property
    def complete(self) -> bool:
        return not self.interrupted and self.table.scenario_id.nunique() == len(self.points)

    @property
    def passed(self) -> bool:
        """Complete, with no unexplained row and no error."""
        return self.complete and self.unexplained.empty and self.errors.empty

    @property
    def report(self) -> Path | None:
        return None if self.out is None else self.out / "report.html"

    def __repr__(self) -> str:
        return (f"SweepResult({self.name!r}, scenarios={len(self.points)}, rows={len(self.table)}, counts={self.counts}, "
                f"interrupted={self.interrupted})")


def sweep(grid: Grid | Mapping[str, Any] | str | os.PathLike, workers: int = 1, scheduler: Any = None, *,
          out: str | os.PathLike | None = None, threads_per_worker: int = 1, batch_seconds: float = 2.0,
          backend_modules: Sequence[str | os.PathLike] = (), scenario_reports: str = "notable", resume: bool = True,
          retries: int = 1, explain: bool = True, progress: Callable[[int, int], None] | None = None) -> SweepResult:
    """Run every point of `grid` and classify every pairing.

    grid: a `Grid`, a dict in the grid format, or a path to a grid .toml.
    workers: worker processes. 1 runs serially in this process; more start a local process pool.
    scheduler: None (as above), "local" (an embedded Dask LocalCluster of `workers` workers),
        a Dask scheduler address ("tcp://host:8786") or a `distributed.Client`.
    out: folder for rows.jsonl, sweep.csv/.parquet, the report and each scenario's files; a
        sweep that finds records there skips the scenarios already done (``resume=False``
        starts over). None keeps everything in memory.
    threads_per_worker: BLAS/OpenMP threads per worker (the serial run is limited the same way).
    batch_seconds: target seconds of work per task.
    backend_modules: module names or .py paths that register extra backends, imported here and
        on every worker (`comparisons.sweeps.worker`).
    scenario_reports: "notable" (default: a full report for scenarios with an unexplained,
        error or rounding row; within tolerance and known conventions need none), "all" or
        "none"; every scenario gets its scenario.toml.
    retries: times a scenario that killed its worker *alone* is run again before it is recorded.
    explain: run the control runs behind "float32 noise" and activation conventions.
    progress: ``progress(done, total)`` after each scenario.
    """
    modules = worker.backend_modules(backend_modules)
    with worker.backend_modules_loaded(modules):  # the grid's base and points may name those backends
        grid = Grid.load(grid)
        points = grid.points()
    meta = {"kind": "sweep", "name": grid.name, "description": grid.description, "grid": grid.to_dict(),
            "axes": list(grid.axes)}
    return run_points(points, meta, out=out, workers=workers, scheduler=scheduler, threads_per_worker=threads_per_worker,
                      batch_seconds=batch_seconds, modules=modules, scenario_reports=scenario_reports, resume=resume,
                      retries=retries, explain=explain, progress=progress)


def run_points(points: list[Point], meta: dict[str, Any], *, out: str | os.PathLike | None, workers: int,
               scheduler: Any, threads_per_worker: int, batch_seconds: float,
               modules: tuple[tuple[str, str | None], ...], scenario_reports: str, resume: bool, retries: int,
               explain: bool, progress: Callable[[int, int], None] | None,
               after: Callable[[SweepResult, Any], list[dict[str, Any]]] | None = None) -> SweepResult:
    """The pipeline shared by sweep and fuzz: skip what is done, execute, write table and report.
    `after(result, engine)` runs while the engine is still up (fuzz shrinking) and returns the
    minimal reproductions for the report."""
    if scenario_reports not in worker.SCENARIO_REPORTS:
        raise ValueError(f"scenario_reports must be one of {worker.SCENARIO_REPORTS}, got {scenario_reports!r}")
    if workers < 1 or threads_per_worker < 1:
        raise ValueError(f"workers and threads_per_worker must be >= 1, got {workers} and {threads_per_worker}")
    started = time.perf_counter()
    records = store_module.Store(out, resume=resume)
    todo = records.skip(points)
    backends = sorted({b for p in points if p.valid for b in (p.spec.get("run") or {}).get("backends", [])})
    options = worker.WorkOptions(threads=threads_per_worker, backend_modules=modules, scenario_reports=scenario_reports,
                                 files=out is not None, explain=explain, warm_backends=tuple(backends))
    meta = {**meta, "scenarios": len(points), "ids": [p.id for p in points], "resumed": records.resumed, "workers": workers,
            "threads_per_worker": threads_per_worker, "batch_seconds": batch_seconds,
            "backend_modules": [name for name, _ in modules], "started": _now()}
    if records.out is not None:
        store_module.write_meta(records.out, {**meta, "finished": None, "interrupted": None})
    # no worker is started when every scenario is already done (a resumed, finished sweep)
    engine = execute.engine_for(options, workers, scheduler) if todo or after is not None else _Idle()
    meta["executor"] = engine.describe()
    minimal: list[dict[str, Any]] = []
    interrupted = False
    crashes = 0
    outcome = None
    try:
        if todo:
            outcome = execute.execute(todo, _Keeping(engine), records.add, batch_seconds=batch_seconds, retries=retries,
                                      progress=progress)
            interrupted, crashes = outcome.interrupted, outcome.crashes
        wall = time.perf_counter() - started
        result = _result(meta, points, records, out, interrupted, meta["executor"], wall, len(todo), crashes)
        if after is not None and not interrupted:
            try:
                minimal = after(result, engine)
            except KeyboardInterrupt:
                interrupted = True
    finally:
        records.close()
        engine.close(cancel=interrupted)
    wall = time.perf_counter() - started
    result = _result(meta, points, records, out, interrupted, meta["executor"], wall, len(todo), crashes)
    result.minimal = minimal
    ran = len(todo) if not interrupted else sum(1 for p in todo if records.done(p))
    result.ran = ran
    if records.out is not None:
        meta.update(finished=_now(), interrupted=interrupted, wall_seconds=wall, ran=ran, crashes=crashes,
                    counts=result.counts, written=_now(), parquet=_parquet(),
                    seconds_per_scenario=outcome.seconds_per_scenario if outcome else None,
                    largest_batch=outcome.largest_batch if outcome else 0)
        store_module.write_table(result.table, records.out)
        report.write(records.out, result.table, meta, minimal)
        store_module.write_meta(records.out, meta)
    return result


class _Idle:
    """The executor of a sweep with nothing left to run."""

    def describe(self) -> str:
        return "none (every scenario was already done)"

    def close(self, cancel: bool = False) -> None:
        pass


class _Keeping:
    """The engine as `execute` sees it, except that `close()` (end of the scenarios) keeps it
    running for the fuzz shrinker; the pipeline closes it itself."""

    def __init__(self, engine: Any):
        self._engine = engine

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)

    def close(self, cancel: bool = False) -> None:
        if cancel:
            self._engine.close(cancel=True)
            self._engine.close = lambda cancel=False: None  # closed once


def _result(meta, points, records, out, interrupted, executor, wall, ran, crashes) -> SweepResult:
    frame = store_module.table(records.for_points(points), meta.get("axes") or [])
    return SweepResult(meta["name"], points, frame, Path(out) if out is not None else None, interrupted, executor,
                       wall, ran, records.resumed, crashes)


def _parquet() -> bool:
    from comparisons.report.records import parquet_available

    return parquet_available()


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def render(out: str | os.PathLike) -> dict[str, Path]:
    """Re-render a sweep folder's report and table from sweep.json and rows.jsonl."""
    import json

    folder = Path(out)
    meta = store_module.read_meta(folder)
    records = store_module.read_rows(folder / store_module.ROWS_FILE)
    latest: dict[str, dict[str, Any]] = {}
    for record in records:
        latest[record["id"]] = record
    wanted = set(meta.get("ids") or latest)
    ordered = sorted((r for i, r in latest.items() if i in wanted), key=lambda r: r["index"])
    frame = store_module.table(ordered, meta.get("axes") or [])
    minimal = []
    minimal_file = folder / "minimal" / "minimal.json"
    if minimal_file.exists():
        minimal = json.loads(minimal_file.read_text())
    written = store_module.write_table(frame, folder)
    written.update(report.write(folder, frame, {**meta, "written": _now()}, minimal))
    return written
