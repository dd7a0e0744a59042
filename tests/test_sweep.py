"""Parity sweeps: grids, row classification, the output folder (streaming, resume, Ctrl-C), the
report and the CLI. Serial (in-process) runs with scratchnet-based test backends, so these are
fast; tests/test_sweep_distributed.py covers the process pool and Dask."""
import json
from pathlib import Path

import pandas as pd
import pytest

import comparisons
from comparisons.cli import main
from comparisons.spec import SpecError
from comparisons.sweeps import Grid, store, worker
from comparisons.sweeps.classify import CLASSES

BACKENDS = str(Path(__file__).with_name("sweep_backends.py"))
VOLATILE = ["host", "pid", "seconds", "cpu_seconds", "report"]

# scratchnet against two variants of itself: tanh' rounded differently (rounding only) and tanh'
# off by 1e-6 (a bug); trained free-running with momentum, so rounding grows
ROUNDING = {
    "name": "rounding",
    "base": {"name": "b", "network": {"sizes": [4, 8, 8, 1], "activations": ["tanh", "tanh", "linear"]},
             "loss": {"name": "squared_error"}, "optimizer": {"name": "sgd", "lr": 0.2, "momentum": 0.9},
             "data": {"name": "regression", "n_samples": 32, "n_features": 4},
             "run": {"steps": 50, "batch_size": 8, "mode": "free",
                     "backends": ["scratchnet", "reordered_tanh", "buggy_tanh"], "reference": "scratchnet"}},
    "axes": {"network.sizes": [[4, 8, 8, 1], [4, 12, 12, 1]], "run.dtype": ["float64", "float32"]},
}
SMALL = {
    "name": "small",
    "base": "xor-sigmoid-sgd",
    "set": {"run.steps": 3, "run.backends": ["scratchnet", "buggy_tanh"], "run.reference": "scratchnet",
            "run.mode": "anchored"},
    "axes": {"network.activations": [["sigmoid", "sigmoid"], ["tanh", "sigmoid"]], "run.seed": [0, 1, 2]},
}


def test_a_grid_expands_deterministically_over_dotted_keys():
    grid = Grid.from_dict({
        "name": "g", "base": "xor-sigmoid-sgd", "set": {"run.steps": 2},
        "axes": {"network.sizes.1": [3, 5], "optimizer": [{"name": "sgd", "lr": 0.5}, {"name": "adam", "lr": 0.01}],
                 "run.dtype": ["float64", "float32"]}})
    points = grid.points()
    assert grid.size == len(points) == 8 and [p.name for p in points] == [f"g-{i}" for i in range(8)]
    # the first axis varies slowest
    assert [(p.spec["network"]["sizes"][1], p.spec["optimizer"]["name"], p.spec["run"]["dtype"]) for p in points][:3] == [
        (3, "sgd", "float64"), (3, "sgd", "float32"), (3, "adam", "float64")]
    assert all(p.spec["run"]["steps"] == 2 and p.valid for p in points)
    assert [p.id for p in points] == [p.id for p in Grid.from_dict(grid.to_dict()).points()]  # content ids are stable
    assert len({p.id for p in points}) == 8


def test_a_point_the_spec_refuses_is_kept_as_invalid_and_a_wrong_grid_is_refused_whole():
    grid = Grid.from_dict({"base": "xor-sigmoid-sgd", "axes": {"optimizer.momentum": [0.5, -1.0]}})
    valid, invalid = grid.points()
    assert valid.valid and not invalid.valid and any("momentum" in p for p in invalid.problems)
    with pytest.raises(SpecError) as error:
        Grid.from_dict({"base": "xor-sigmod-sgd", "axes": {"optimzer.lr": [0.1], "run.seed": 3}})
    problems = "\n".join(error.value.problems)
    assert "did you mean 'xor-sigmoid-sgd'" in problems and "did you mean 'optimizer'" in problems
    assert "axes.\"run.seed\": must be a non-empty list" in problems
    with pytest.raises(SpecError, match="every point of the grid is invalid"):
        Grid.from_dict({"base": "xor-sigmoid-sgd", "axes": {"run.steps": [0, -1]}}).points()


def test_every_pairing_is_classified_and_the_report_leads_with_the_unexplained(tmp_path):
    out = tmp_path / "sweep"
    result = comparisons.sweep(ROUNDING, out=out, backend_modules=[BACKENDS])
    table = result.table
    assert result.complete and not result.passed and len(table) == 8
    got = {(row.scenario, row.backend): row.classification for row in table.itertuples()}
    assert got == {
        ("rounding-0", "reordered_tanh"): "within tolerance",
        ("rounding-1", "reordered_tanh"): "float32 noise",  # float32 fails, the float64 control agrees
        ("rounding-2", "reordered_tanh"): "free-run drift",  # float64 free fails, anchored agrees every step
        ("rounding-3", "reordered_tanh"): "free-run drift",
        **{(f"rounding-{i}", "buggy_tanh"): "unexplained" for i in range(4)},
    }
    assert list(table.classification[:4]) == ["unexplained"] * 4  # unexplained first
    bug = table.iloc[0]
    assert (bug.scenario, bug.first_step, bug.first_quantity, bug.kind) == ("rounding-0", 0, "grad", "exact")
    assert bug.first_error > bug.first_allowed and bug.first_param.startswith("dense_")
    noise = table[table.classification == "float32 noise"].iloc[0]
    assert noise.control_max_rel < 1e-10 < noise.max_rel and "float64 control run agrees" in noise.detail
    assert table["axis:network.sizes"].iloc[0] == "[4, 8, 8, 1]" and set(table["axis:run.dtype"]) == {"float64", "float32"}
    assert (table.cpu != "").all() and table.blas.str.contains("x1").all()  # each row: the worker's CPU and BLAS

    # the folder: streamed records, the table (CSV and Parquet), the report, scenario files
    assert len(store.read_rows(out / "rows.jsonl")) == 4
    csv = pd.read_csv(out / "sweep.csv")
    assert list(csv.columns) == list(table.columns)
    assert list(csv.classification) == list(table.classification) and list(csv.scenario) == list(table.scenario)
    assert csv.max_rel.tolist() == table.max_rel.tolist()  # written with all digits
    parquet = pd.read_parquet(out / "sweep.parquet")
    pd.testing.assert_frame_equal(parquet, table)
    assert (out / "scenarios/rounding-0/report.html").exists() and (out / "scenarios/rounding-0/scenario.toml").exists()
    html = (out / "report.html").read_text()
    assert html.index('id="unexplained"') < html.index('id="classes"') < html.index('id="axes"')
    assert 'href="scenarios/rounding-0/report.html"' in html and "sweep-axes.png" in html
    assert "Rounding: float32 noise and free-run drift" in html and "INCOMPLETE" not in html
    markdown = (out / "report.md").read_text()
    assert "[rounding-0](<scenarios/rounding-0/report.html>)" in markdown
    meta = json.loads((out / "sweep.json").read_text())
    assert meta["counts"] == {"unexplained": 4, "free-run drift": 2, "float32 noise": 1, "within tolerance": 1}
    # the scenario file reproduces the scenario
    with worker.backend_modules_loaded(worker.backend_modules([BACKENDS])):
        again = comparisons.Scenario.from_toml(out / "scenarios/rounding-2/scenario.toml")
    assert again.to_dict()["network"] == result.points[2].spec["network"]
    assert set(CLASSES) >= set(table.classification)


def test_the_softplus_threshold_is_found_and_labelled_a_convention_with_its_size():
    pytest.importorskip("torch")
    grid = {"name": "softplus", "base": {
        "name": "b", "network": {"sizes": [2, 3, 1], "activations": ["softplus", "linear"]},
        "loss": {"name": "squared_error"}, "optimizer": {"name": "sgd", "lr": 1e-4},
        "data": {"name": "regression", "n_features": 2, "n_samples": 20},
        "run": {"steps": 2, "mode": "anchored", "backends": ["scratchnet", "torch"]}},
        "axes": {"network.init": ["glorot_uniform", {"name": "uniform", "a": 10, "b": 12}]}}
    table = comparisons.sweep(grid).table.set_index("scenario")
    small, large = table.loc["softplus-0"], table.loc["softplus-1"]
    assert small.classification == "within tolerance"
    # pre-activations above 20: torch returns z, scratchnet log1p(e^z); torch agrees with a
    # scratchnet computing softplus torch's way
    assert large.classification == "convention" and large.conventions == "softplus_threshold"
    assert 1e-12 < large.max_rel < 1e-8 and large.error_ratio > 1


def test_a_sweep_resumes_skipping_done_scenarios_even_after_a_crash_mid_line(tmp_path):
    out = tmp_path / "sweep"
    first = comparisons.sweep(SMALL, out=out, backend_modules=[BACKENDS], scenario_reports="none")
    assert first.ran == 6 and first.resumed == 0
    lines = (out / "rows.jsonl").read_text().splitlines(keepends=True)
    (out / "rows.jsonl").write_text("".join(lines[:2]) + lines[2][:40])  # as if killed while writing
    calls = []
    again = comparisons.sweep(SMALL, out=out, backend_modules=[BACKENDS], progress=lambda d, t: calls.append((d, t)),
                              scenario_reports="none")
    assert again.resumed == 2 and again.ran == 4 and calls[-1] == (4, 4)
    pd.testing.assert_frame_equal(again.table.drop(columns=VOLATILE), first.table.drop(columns=VOLATILE))
    # a grown grid runs only its new points
    grown = {**SMALL, "axes": {**SMALL["axes"], "run.seed": [0, 1, 2, 3]}}
    more = comparisons.sweep(grown, out=out, backend_modules=[BACKENDS], scenario_reports="none")
    assert (more.resumed, more.ran, len(more.table)) == (6, 2, 8)


def test_ctrl_c_keeps_every_finished_result_and_the_report_says_incomplete(tmp_path):
    out = tmp_path / "sweep"

    def interrupt(done, total):
        if done == 2:
            raise KeyboardInterrupt

    result = comparisons.sweep(SMALL, out=out, backend_modules=[BACKENDS], progress=interrupt, scenario_reports="none")
    assert result.interrupted and not result.complete and result.ran == 2
    assert len(store.read_rows(out / "rows.jsonl")) == 2
    assert "INCOMPLETE" in (out / "report.html").read_text()
    assert json.loads((out / "sweep.json").read_text())["interrupted"] is True
    resumed = comparisons.sweep(SMALL, out=out, backend_modules=[BACKENDS], scenario_reports="none")
    assert (resumed.resumed, resumed.ran) == (2, 4) and resumed.complete


def test_the_parent_registry_is_left_as_found():
    import reference

    before = reference.names()
    comparisons.sweep({**SMALL, "axes": {"run.seed": [0]}}, backend_modules=[BACKENDS])
    assert reference.names() == before and "buggy_tanh" not in before


def test_cli_sweep_exit_codes_and_report_re_rendering(tmp_path, capsys):
    grid = tmp_path / "grid.toml"
    grid.write_text('base = "xor-sigmoid-sgd"\n[set]\n"run.steps" = 2\n"run.backends" = ["scratchnet", "buggy_tanh"]\n'
                    '"run.reference" = "scratchnet"\n[axes]\n"network.activations" = [["sigmoid", "sigmoid"], '
                    '["tanh", "sigmoid"]]\n')
    out = tmp_path / "out"
    assert main(["sweep", str(grid), "--out", str(out), "--backend-module", BACKENDS, "--scenario-reports", "none"]) == 1
    printed = capsys.readouterr().out
    assert printed.startswith("FAIL: 2 scenarios") and "unexplained: grid-1 buggy_tanh vs scratchnet" in printed
    (out / "report.html").unlink()
    assert main(["report", str(out)]) == 0 and (out / "report.html").exists()
    assert main(["sweep", str(grid), "--out", str(out), "--backend-module", BACKENDS]) == 1
    assert "0 run now, 2 resumed" in capsys.readouterr().out
    bad = tmp_path / "bad.toml"
    bad.write_text('base = "xor-sigmoid-sgd"\n[axes]\n"run.stepz" = [1]\n')
    assert main(["sweep", str(bad), "--out", str(tmp_path / "bad")]) == 2
    assert "run.stepz" in capsys.readouterr().err
    assert main(["sweep", str(grid), "--out", str(out), "--workers", "0"]) == 2
    for command in ("sweep", "fuzz"):
        with pytest.raises(SystemExit) as done:
            main([command, "--help"])
        assert done.value.code == 0
    assert "--scheduler tcp://head:8786" in capsys.readouterr().out
