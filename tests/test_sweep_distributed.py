"""Sweeps on a local process pool and on a real 2-worker Dask LocalCluster: the same rows as a
serial sweep, and a worker killed mid-task loses no scenario (retried, or recorded when it kills
its worker every time). Scenarios are tiny (scratchnet-based test backends, a few steps)."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import comparisons
from comparisons.sweeps import store

BACKENDS = str(Path(__file__).with_name("sweep_backends.py"))
# where and how long a scenario ran; the BLAS/OpenMP list also names the libraries a process happens
# to have loaded (libgomp once torch is imported), so it is the worker's, not the result's
VOLATILE = ["host", "pid", "seconds", "cpu_seconds", "report", "blas"]
ROOT = Path(__file__).resolve().parents[1]

# scratchnet vs a wrong tanh derivative (unexplained) and vs tanh' rounded differently (float32
# noise), float64 and float32, free-running: every class a control run decides
MIXED = {
    "name": "mixed",
    "base": {"name": "b", "network": {"sizes": [4, 8, 8, 1], "activations": ["tanh", "tanh", "linear"]},
             "loss": {"name": "squared_error"}, "optimizer": {"name": "sgd", "lr": 0.2, "momentum": 0.9},
             "data": {"name": "regression", "n_samples": 32, "n_features": 4},
             "run": {"steps": 50, "batch_size": 8, "mode": "free",
                     "backends": ["scratchnet", "reordered_tanh", "buggy_tanh"], "reference": "scratchnet"}},
    "axes": {"network.activations": [["tanh", "tanh", "linear"], ["relu", "tanh", "linear"]],
             "run.dtype": ["float64", "float32"], "run.seed": [0, 1]},
}
# `crashy` kills its worker for lr 0.123 every time, for lr 0.321 the first time only
CRASHING = {
    "name": "crashing",
    "base": "xor-sigmoid-sgd",
    "set": {"run.steps": 3, "run.backends": ["scratchnet", "crashy"], "run.reference": "scratchnet"},
    "axes": {"optimizer.lr": [0.1, 0.123, 0.2, 0.321, 0.3]},
}


def _rows(result):
    return result.table.drop(columns=VOLATILE).reset_index(drop=True)


def _check_crashes(result):  # CRASHING with retries=1
    table = result.table.set_index("scenario")
    assert result.complete and len(table) == 5  # every scenario has its row: none lost
    died = table.loc["crashing-1"]
    assert (died.status, died.classification) == ("worker died", "error") and "worker died" in died.detail
    assert table.loc["crashing-3"].classification == "within tolerance"  # killed once, retried
    assert (table.drop(index="crashing-1").classification == "within tolerance").all()
    assert result.crashes >= 3


@pytest.fixture
def crash_marker(tmp_path, monkeypatch):
    folder = tmp_path / "markers"
    folder.mkdir()
    monkeypatch.setenv("CRASHY_MARKER", str(folder))  # inherited by the worker processes started after this
    return folder


def test_dask_local_cluster_gives_the_serial_rows(tmp_path):
    pytest.importorskip("distributed")
    serial = comparisons.sweep(MIXED, backend_modules=[BACKENDS])
    distributed = comparisons.sweep(MIXED, workers=2, scheduler="local", out=tmp_path / "dask", batch_seconds=0.5,
                                    backend_modules=[BACKENDS], scenario_reports="none")
    assert "embedded LocalCluster" in distributed.executor and distributed.complete
    assert {"unexplained", "float32 noise"} <= set(serial.table.classification)
    pd.testing.assert_frame_equal(_rows(distributed), _rows(serial))
    assert distributed.table.pid.nunique() == 2  # both workers ran scenarios
    assert len(store.read_rows(tmp_path / "dask" / "rows.jsonl")) == 8


def test_dask_worker_killed_mid_task_loses_no_scenario(tmp_path, crash_marker):
    pytest.importorskip("distributed")
    import dask
    import distributed

    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                           silence_logs=50)
    try:
        result = comparisons.sweep(CRASHING, workers=2, scheduler=cluster.scheduler_address, out=tmp_path / "out",
                                   backend_modules=[BACKENDS], retries=1, batch_seconds=0.01, scenario_reports="none")
    finally:
        cluster.close()
    assert cluster.scheduler_address.split(":")[0] in ("tcp", "inproc") or "scheduler" in result.executor
    _check_crashes(result)


def test_pool_worker_killed_mid_task_loses_no_scenario_and_matches_serial(tmp_path):
    # retries=0: the scenario that kills its worker is recorded after its first crash alone; the
    # one that was in flight beside it when the pool broke is run again alone, and completes
    grid = {**CRASHING, "axes": {"optimizer.lr": [0.1, 0.123, 0.2]}}
    result = comparisons.sweep(grid, workers=2, out=tmp_path / "out", backend_modules=[BACKENDS], retries=0,
                               batch_seconds=0.01, scenario_reports="none")
    assert "local process pool, 2 workers" in result.executor and result.complete and result.crashes >= 2
    table = result.table.set_index("scenario")
    assert (table.loc["crashing-1"].status, table.loc["crashing-1"].classification) == ("worker died", "error")
    survivors = {**CRASHING, "axes": {"optimizer.lr": [0.1, 0.2]}}
    serial = comparisons.sweep(survivors, backend_modules=[BACKENDS])
    pooled = result.table[result.table.scenario.isin(["crashing-0", "crashing-2"])]
    columns = ["backend", "reference", "kind", "classification", "max_abs", "max_rel", "error_ratio", "rows", "cpu"]
    assert pooled[columns].reset_index(drop=True).equals(serial.table[columns].reset_index(drop=True))


def test_ctrl_c_on_a_pool_sweep_keeps_finished_results_and_resumes(tmp_path):
    grid = tmp_path / "grid.toml"
    # two fast scenarios, then four that take 1 s each (sleepy: 50 ms per step at lr >= 0.7), so
    # the interrupt lands while they run on any machine; the resumed sweep runs them without sleeping
    grid.write_text('base = "xor-sigmoid-sgd"\n[set]\n"run.steps" = 20\n"run.backends" = ["scratchnet", "sleepy"]\n'
                    '"run.reference" = "scratchnet"\n[axes]\n"optimizer.lr" = [0.5, 0.6, 0.7, 0.8, 0.9, 1.0]\n')
    out = tmp_path / "out"
    arguments = ["sweep", str(grid), "--out", str(out), "--workers", "2", "--backend-module", BACKENDS,
                 "--batch-seconds", "0.01", "--scenario-reports", "none"]
    # a runner that starts the suite in the background leaves SIGINT ignored, and ignored signals are
    # inherited: the sweep process turns Ctrl-C into KeyboardInterrupt itself, as a terminal's would
    command = [sys.executable, "-c", "import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
               f"sys.argv = ['parity'] + {arguments!r}; runpy.run_module('comparisons', run_name='__main__')"]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True, env={**os.environ, "SLEEPY_STEPS": "1"})
    rows = out / "rows.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (rows.exists() and rows.read_text().count("\n") >= 2):
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGINT)  # Ctrl-C reaches the whole process group, workers included
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    finished = len(store.read_rows(rows))
    assert 2 <= finished < 6 and "INCOMPLETE" in (out / "report.html").read_text()
    resumed = comparisons.sweep(grid, out=out, backend_modules=[BACKENDS], scenario_reports="none")
    assert (resumed.resumed, resumed.ran) == (finished, 6 - finished) and resumed.passed
    assert len(store.read_rows(rows)) == 6
