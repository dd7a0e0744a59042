"""The output folder of a sweep: results stream in as they finish, and a sweep resumes from it.

```
DIR/
  sweep.json        what was swept (grid or fuzz settings), executor, counts, timing, complete or not
  rows.jsonl        one line per finished scenario (its rows, worker, status), appended and
                    flushed as each result arrives: the record a resumed sweep starts from
  scenarios/NAME/   scenario.toml (`parity run` reproduces it) and, for notable scenarios, the
                    scenario's own report (report.html, report.md, summary.json, diffs.csv)
  sweep.csv         the table: one row per scenario x pairing, unexplained first
  sweep.parquet     the same table (when pyarrow is installed)
  report.html, report.md, *.png   the sweep report
```

Each record is flushed to the operating system as it arrives (so killing the sweep loses none)
and fsynced at least once a second (so a machine crash loses at most that). A scenario is *done*
when rows.jsonl holds a record of it with a final status (ok, invalid,
error); a record of a worker that died is retried on resume. Records are keyed by the scenario's
content id (`grid.scenario_id`), so a resumed sweep skips exactly the scenarios already run,
even after the grid was extended. A line cut short by a crash is ignored.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from comparisons.sweeps import classify
from comparisons.sweeps.grid import Point, axis_text

ROWS_FILE = "rows.jsonl"
META_FILE = "sweep.json"
TABLE_FILE = "sweep.csv"
PARQUET_FILE = "sweep.parquet"
SCENARIOS = "scenarios"
FSYNC_SECONDS = 1.0  # rows.jsonl is flushed after every record and fsynced at least this often
FINAL = ("ok", "invalid", "error")  # statuses a resumed sweep does not run again
#: scenario-level columns every row gets (descriptors of the spec, for fuzz runs and filters)
DESCRIPTORS = ("dtype", "mode", "optimizer", "activations", "loss", "reduction", "batch_size", "layers", "sizes",
               "steps", "seed", "data", "backends")
WORKER_COLUMNS = ("host", "pid", "cpu", "simd", "blas", "seconds", "cpu_seconds")


class Store:
    """Records of one sweep, in memory and (when `out` is given) in its folder."""

    def __init__(self, out: str | os.PathLike | None, resume: bool = True):
        self.out = Path(out) if out is not None else None
        self.records: dict[str, dict[str, Any]] = {}  # scenario id -> latest record
        self.resumed = 0
        self._handle = None
        self._synced = time.monotonic()
        if self.out is None:
            return
        self.out.mkdir(parents=True, exist_ok=True)
        path = self.out / ROWS_FILE
        if resume and path.exists():
            for record in read_rows(path):
                self.records[record["id"]] = record
            with open(path, "rb+") as handle:  # a line cut short by a crash: the next record starts a new one
                handle.seek(0, os.SEEK_END)
                if handle.tell():
                    handle.seek(-1, os.SEEK_END)
                    if handle.read(1) != b"\n":
                        handle.write(b"\n")
        elif path.exists():
            path.replace(self.out / (ROWS_FILE + ".old"))

    def done(self, point: Point) -> bool:
        record = self.records.get(point.id)
        return record is not None and record.get("status") in FINAL

    def skip(self, points: Sequence[Point]) -> list[Point]:
        """The points still to run (those without a final record)."""
        todo = [point for point in points if not self.done(point)]
        self.resumed = len(points) - len(todo)
        return todo

    def add(self, result: Mapping[str, Any], point: Point) -> dict[str, Any]:
        """Write a finished scenario's files, then append its record (flushed to disk)."""
        record = {key: value for key, value in result.items() if key != "files"}
        record.update(name=point.name, index=point.index, axes={k: axis_text(v) for k, v in point.axes.items()},
                      spec=dict(point.spec))
        files = result.get("files") or {}
        if self.out is not None and files:
            from comparisons.report.records import atomic_write_bytes

            folder = self.out / SCENARIOS / point.name
            folder.mkdir(parents=True, exist_ok=True)
            for name, data in files.items():
                atomic_write_bytes(folder / name, data)
            record["files"] = sorted(files)
            main = "report.html" if "report.html" in files else ("scenario.toml" if "scenario.toml" in files else sorted(files)[0])
            record["report"] = f"{SCENARIOS}/{point.name}/{main}"
        if self.out is not None:
            line = json.dumps(_plain(record), default=str) + "\n"
            if self._handle is None:
                self._handle = open(self.out / ROWS_FILE, "a", encoding="utf-8")
            self._handle.write(line)
            self._handle.flush()  # in the OS now: survives this process being killed
            if time.monotonic() - self._synced > FSYNC_SECONDS:  # and on disk, at most a second later
                self.sync()
        self.records[point.id] = record
        return record

    def sync(self) -> None:
        """Flush rows.jsonl to disk (fsync)."""
        if self._handle is not None:
            self._handle.flush()
            os.fsync(self._handle.fileno())
        self._synced = time.monotonic()

    def close(self) -> None:
        if self._handle is not None:
            self.sync()
            self._handle.close()
            self._handle = None

    def for_points(self, points: Iterable[Point]) -> list[dict[str, Any]]:
        """The latest record of each point that has one, in point order (stale records of
        scenarios no longer in the grid are left out)."""
        return [self.records[point.id] for point in points if point.id in self.records]


def read_rows(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Every complete record of a rows.jsonl (a line cut short by a crash is skipped)."""
    out = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict) and "id" in record:
                out.append(record)
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


# ---------------------------------------------------------------------- the table
def axis_column(key: str) -> str:
    """The table column of a swept dotted key: ``axis:run.dtype``."""
    return f"axis:{key}"


def describe(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Scenario-level descriptor columns from a (normalised) spec."""
    network, run = spec.get("network") or {}, spec.get("run") or {}
    batch = run.get("batch_size")
    layers = network.get("layers")
    if isinstance(layers, list):  # a layer list: input_shape + layers (conv, pooling, ...)
        activations = [layer.get("activation") for layer in layers if isinstance(layer, Mapping) and layer.get("activation")]
        shape = "x".join(str(n) for n in network.get("input_shape") or [])
        count = len(layers)
        sizes = " ".join([shape] + [_layer_text(layer) for layer in layers])
    else:
        activations = network.get("activations") or []
        count = max(len(network.get("sizes") or []) - 1, 0)
        sizes = "-".join(str(n) for n in network.get("sizes") or [])
    return {
        "dtype": run.get("dtype"), "mode": run.get("mode"), "optimizer": (spec.get("optimizer") or {}).get("name"),
        "activations": ",".join(a if isinstance(a, str) else str(a.get("name")) for a in activations),
        "loss": (spec.get("loss") or {}).get("name"), "reduction": (spec.get("loss") or {}).get("reduction"),
        "batch_size": "full" if batch is None else str(batch), "layers": count,
        "sizes": sizes, "steps": run.get("steps"), "seed": run.get("seed"),
        "data": (spec.get("data") or {}).get("name"), "backends": ",".join(run.get("backends") or []),
    }


def _layer_text(layer: Any) -> str:
    if not isinstance(layer, Mapping):
        return str(layer)
    width = layer.get("units", layer.get("filters"))
    return f"{layer.get('type', '?')}({width})" if width is not None else str(layer.get("type", "?"))


def table(records: Sequence[Mapping[str, Any]], axes: Sequence[str] = ()) -> pd.DataFrame:
    """One row per scenario x pairing, unexplained first (then errors, float32 noise,
    conventions, within tolerance), then by scenario index and the run's pairing order."""
    rows = []
    for record in records:
        worker = record.get("worker") or {}
        common = {"scenario": record["name"], "index": record["index"], "scenario_id": record["id"],
                  "status": record.get("status", "")}
        descriptors = describe(record.get("spec") or {})
        axis_values = {axis_column(key): (record.get("axes") or {}).get(key, "") for key in axes}
        for order, row in enumerate(record.get("rows") or [classify.error_row(f"no rows ({record.get('status')})")]):
            rows.append({**common, **{k: row.get(k) for k in classify.ROW_FIELDS}, **axis_values, **descriptors,
                         "host": worker.get("host", ""), "pid": worker.get("pid"), "cpu": worker.get("cpu", ""),
                         "simd": worker.get("simd", ""), "blas": worker.get("blas", ""),
                         "seconds": record.get("seconds"), "cpu_seconds": record.get("cpu_seconds"),
                         "report": record.get("report", ""), "_order": order})
    columns = ["scenario", "index", "scenario_id", "status", *classify.ROW_FIELDS,
               *[axis_column(a) for a in axes], *DESCRIPTORS, *WORKER_COLUMNS, "report"]
    frame = pd.DataFrame(rows, columns=[*dict.fromkeys(columns), "_order"])
    if frame.empty:
        return frame.drop(columns="_order")
    frame["_rank"] = frame.classification.map(classify.RANK).fillna(len(classify.RANK))
    frame = frame.sort_values(["_rank", "index", "_order"], kind="stable").drop(columns=["_rank", "_order"])
    for column in ("max_abs", "max_rel", "error_ratio", "rtol", "atol", "first_value", "first_reference_value",
                   "first_error", "first_allowed", "control_max_rel", "seconds", "cpu_seconds"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    for column in ("worst_step", "first_step", "first_index", "first_mismatched", "first_size", "steps_completed",
                   "failed_rows", "rows", "pid", "layers", "steps", "seed", "index"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("Int64")
    for column in frame.columns:
        if frame[column].dtype == object:
            frame[column] = frame[column].map(lambda v: "" if v is None or (isinstance(v, float) and np.isnan(v))
                                              else str(v))
    return frame.reset_index(drop=True)


def write_table(frame: pd.DataFrame, out: Path) -> dict[str, Path]:
    from comparisons.report.records import atomic_write_bytes, parquet_available

    written = {TABLE_FILE: atomic_write_bytes(out / TABLE_FILE, frame.to_csv(index=False, float_format="%.17g").encode())}
    if parquet_available():
        import io

        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        written[PARQUET_FILE] = atomic_write_bytes(out / PARQUET_FILE, buffer.getvalue())
    return written


def write_meta(out: Path, meta: Mapping[str, Any]) -> Path:
    from comparisons.report.records import atomic_write_text

    return atomic_write_text(out / META_FILE, json.dumps(_plain(dict(meta)), indent=2, default=str) + "\n")


def read_meta(out: str | os.PathLike) -> dict[str, Any]:
    path = Path(out) / META_FILE
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)
