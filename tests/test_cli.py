"""The `parity` command line: commands, artefacts, exit codes."""
import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from comparisons.cli import main

pytest.importorskip("torch")


def test_list_names_every_catalog_scenario(capsys):
    from comparisons import catalog

    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in catalog.list_scenarios())


def test_run_writes_every_artefact_and_exits_0(tmp_path, capsys):
    out = tmp_path / "xor"
    assert main(["run", "xor-sigmoid-sgd", "--backends", "scratchnet,torch", "--steps", "5", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("PASS") and "scratchnet" in printed and str(out / "report.html") in printed
    for name in ("summary.json", "diffs.csv", "losses.csv", "report.md", "report.html"):
        assert (out / name).exists(), name
    summary = json.loads((out / "summary.json").read_text())
    assert summary["passed"] is True and summary["environment"]["torch"].startswith("2.")


def test_divergence_beyond_tolerance_exits_1(tmp_path, capsys):
    spec = tmp_path / "strict.toml"
    spec.write_text('name = "strict"\n[network]\nsizes = [64, 20, 10]\nactivations = ["tanh", "softmax"]\n'
                    '[loss]\nname = "categorical_cross_entropy"\nreduction = "batch_mean"\n'
                    '[optimizer]\nname = "sgd"\nlr = 0.3\n[data]\nname = "digits"\nn_samples = 300\n'
                    '[run]\nsteps = 5\nbackends = ["scratchnet", "torch"]\n'
                    '[tolerances]\nreason = "demonstrate exit code 1: no rounding allowed at all"\n'
                    '[tolerances.float64]\nfree = {rtol = 0.0, atol = 0.0}\n')
    assert main(["run", str(spec), "--out", str(tmp_path / "out"), "--format", "json"]) == 1
    assert capsys.readouterr().out.startswith("FAIL: first divergence at step 0")


def test_report_re_renders_from_saved_records(tmp_path, capsys):
    out = tmp_path / "and"
    assert main(["run", "and-single-neuron", "--backends", "scratchnet,torch", "--steps", "3", "--out", str(out)]) == 0
    (out / "report.html").unlink()
    assert main(["report", str(out)]) == 0
    assert (out / "report.html").exists()
    assert main(["report", str(tmp_path / "nothing")]) == 2


def test_conventions_lists_formulas_and_sources(capsys):
    assert main(["conventions"]) == 0
    out = capsys.readouterr().out
    assert "adam_epsilon" in out and "keras/src/optimizers/adam.py" in out and "torch/optim/adam.py" in out


@pytest.mark.parametrize("command", ["list", "run", "report", "conventions", "doctor"])
def test_every_command_has_help_with_examples(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert "examples:" in capsys.readouterr().out


def test_python_dash_m_comparisons_works():
    done = subprocess.run([sys.executable, "-m", "comparisons", "list"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "xor-sigmoid-sgd" in done.stdout


def test_run_and_doctor_work_in_a_fresh_interpreter(tmp_path):
    """In-process tests share modules another test imported; a user's `parity run` starts from
    nothing (`import comparisons` is lazy: this caught `comparisons.runner` missing there)."""
    run = subprocess.run([sys.executable, "-m", "comparisons", "run", "and-single-neuron", "--backends", "scratchnet",
                          "--steps", "1", "--out", str(tmp_path / "run"), "--format", "json"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and run.stdout.startswith("PASS"), run.stderr
    layers = Path(__file__).parent / "zoo_layers" / "correct.py"
    doctor = subprocess.run([sys.executable, "-m", "comparisons", "doctor", f"{layers}:relu_forward", "--trials", "1"],
                            capture_output=True, text=True, timeout=300)
    assert doctor.returncode == 0 and "1 layer function pair(s) checked against torch autograd: 1 ok" in doctor.stdout, \
        doctor.stderr


def test_bad_usage_exits_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["run"])
    assert exit_info.value.code == 2


SEED_STYLE_NET = '''
import numpy as np

def sigmoid(z):
    return 1 / (1 + np.exp(-z))

def loss_and_grads(params, X, y):
    a1 = sigmoid(X @ params["W1"] + params["b1"])
    a2 = sigmoid(a1 @ params["W2"] + params["b2"])
    loss = -np.mean(y * np.log(a2) + (1 - y) * np.log(1 - a2))
    d2 = a2 - y                      # forgot to divide by m
    d1 = (d2 @ params["W2"].T) * a1 * (1 - a1)
    return loss, {"W1": X.T @ d1, "b1": d1.sum(axis=0), "W2": a1.T @ d2, "b2": d2.sum(axis=0)}
'''
SEED_STYLE_SPEC = '''
sizes = [2, 3, 1]
activations = ["sigmoid", "sigmoid"]
loss = "binary_cross_entropy"
reduction = "batch_mean"
[mapping.W1]
kind = "weight"
layer = 0
[mapping.b1]
kind = "bias"
layer = 0
[mapping.W2]
kind = "weight"
layer = 1
[mapping.b2]
kind = "bias"
layer = 1
[data]
name = "xor"
[params]
init = "uniform"
seed = 0
'''


def test_doctor_command_names_the_missing_one_over_m(tmp_path, capsys):
    (tmp_path / "my_net.py").write_text(SEED_STYLE_NET)
    (tmp_path / "my_net.toml").write_text(SEED_STYLE_SPEC)
    code = main(["doctor", f"{tmp_path / 'my_net.py'}:loss_and_grads", "--spec", str(tmp_path / "my_net.toml"),
                 "--out", str(tmp_path / "doctor")])
    out = capsys.readouterr().out
    assert code == 1
    assert "Culprit: W2, b2" in out and "4 is the batch size m = 4" in out
    page = (tmp_path / "doctor" / "doctor.html").read_text()
    assert "WRONG" in page and "batch size" in page


def test_doctor_command_bad_target_exits_2(tmp_path, capsys):
    (tmp_path / "my_net.toml").write_text(SEED_STYLE_SPEC)
    assert main(["doctor", "no_function_here", "--spec", str(tmp_path / "my_net.toml")]) == 2


def _row(backend, reference, kind, expected="", passed=True, finding="", mismatched=0):
    return {"step": 0, "backend": backend, "reference": reference, "kind": kind, "quantity": "grad", "param": "W",
            "max_abs": 0.0 if passed else 1.0, "max_rel": 0.0 if passed else 0.5, "cosine": 1.0, "scale": 1.0,
            "index": 0, "value": 0.0, "reference_value": 0.0, "allowed": 1e-12, "passed": passed,
            "mismatched": mismatched, "size": 4, "expected": expected, "finding": finding}


def test_the_verdict_table_reads_row_kinds_not_backend_names(capsys):
    """A twin whose name has no brackets is still a measured gap; a judged backend whose name has
    brackets still fails; a cross row explained by the gap is labelled; a finding is named."""
    import pandas as pd

    from comparisons.cli import _print_verdict

    diffs = pd.DataFrame([
        _row("twin", "scratchnet", "gap", "convention", passed=False, mismatched=4),
        _row("scratchnet[torch]", "scratchnet", "exact", passed=False, mismatched=3),
        _row("keras", "torch", "cross", "convention", passed=False, mismatched=4),
        _row("jax", "torch", "exact", passed=False, finding="shape (3,) differs from the reference's (4,)"),
        _row("torch", "scratchnet", "exact"),
    ])
    _print_verdict(SimpleNamespace(verdict=lambda: "FAIL: made up", diffs=diffs))
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[2:]}
    assert lines["twin"].endswith("convention gap (measured)")
    assert lines["scratchnet[torch]"].endswith("FAIL (1 of 1 rows; 3 of 4 elements at step 0)")
    assert lines["keras"].endswith("cross: convention (expected)")
    assert lines["jax"].endswith("FAIL: W: shape (3,) differs from the reference's (4,)")
    assert lines["torch"].endswith("ok") and " exact " in lines["torch"]


def test_report_of_an_older_summary_says_to_re_run(tmp_path, capsys):
    """`parity report` on a folder written before the versioned schema: refused with the advice to
    re-run (an exit code 2 with the message, or the SummaryError itself)."""
    from comparisons.report.schema import SummaryError

    out = tmp_path / "old"
    assert main(["run", "and-single-neuron", "--backends", "scratchnet,torch", "--steps", "2", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    del summary["schema_version"]
    (out / "summary.json").write_text(json.dumps(summary))
    capsys.readouterr()
    try:
        code = main(["report", str(out)])
    except SummaryError as error:
        message = str(error)
    else:
        assert code == 2
        message = capsys.readouterr().err
    assert str(out / "summary.json") in message and "schema 1" in message and "`parity run SCENARIO --out DIR`" in message
