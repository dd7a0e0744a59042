"""Differential fuzzing: Hypothesis-generated scenarios, an injected disagreement found and shrunk
to a minimal scenario that `parity run` reproduces."""
from pathlib import Path

import pytest

pytest.importorskip("hypothesis")

import comparisons  # noqa: E402
from comparisons.cli import main  # noqa: E402
from comparisons.sweeps import fuzzing, worker  # noqa: E402
from comparisons.sweeps.fuzzing import FuzzSpace  # noqa: E402

BACKENDS = str(Path(__file__).with_name("sweep_backends.py"))
SPACE = FuzzSpace(backends=("scratchnet", "buggy_tanh"), reference="scratchnet")


def _names(activations):
    return [a if isinstance(a, str) else a["name"] for a in activations]


def test_generation_is_deterministic_valid_and_covers_the_space():
    with worker.backend_modules_loaded(worker.backend_modules([BACKENDS])):
        first = fuzzing.generate(60, seed=3, space=SPACE)
        again = fuzzing.generate(60, seed=3, space=SPACE)
        other = fuzzing.generate(60, seed=4, space=SPACE)
    assert [p.spec for p in first] == [p.spec for p in again] and [p.id for p in first] != [p.id for p in other]
    assert len(first) == 60 and len({p.id for p in first}) == 60 and all(p.valid for p in first)
    specs = [p.spec for p in first]
    assert {s["optimizer"]["name"] for s in specs} == set(SPACE.optimizers)
    assert {s["loss"]["name"] for s in specs} == {"squared_error", "binary_cross_entropy", "categorical_cross_entropy"}
    assert {s["run"]["dtype"] for s in specs} == {"float64", "float32"} and {s["run"]["mode"] for s in specs} == {
        "free", "anchored"}
    assert {len(s["network"]["sizes"]) - 1 for s in specs} == {1, 2, 3}
    used = {a for s in specs for a in _names(s["network"]["activations"])}
    assert {"tanh", "relu", "softplus", "elu", "leaky_relu", "sigmoid", "softmax", "linear"} <= used
    assert any(s["run"]["batch_size"] is None for s in specs) and any(s["run"]["batch_size"] for s in specs)


def test_fuzzing_finds_an_injected_derivative_error_and_shrinks_it(tmp_path, capsys):
    out = tmp_path / "fuzz"
    result = comparisons.fuzz(30, seed=0, out=out, space=SPACE, backend_modules=[BACKENDS], scenario_reports="none")
    unexplained = result.unexplained
    assert not unexplained.empty and set(unexplained.backend) == {"buggy_tanh"}
    # every unexplained scenario uses tanh; every float64 scenario with tanh is unexplained
    assert all("tanh" in row.activations.split(",") for row in unexplained.itertuples())
    with_tanh = result.table[result.table.activations.str.contains("tanh") & (result.table.dtype == "float64")]
    assert set(with_tanh.classification) == {"unexplained"}

    [minimal] = result.minimal
    spec = minimal["spec"]
    assert minimal["pairing"] == "buggy_tanh vs scratchnet" and minimal["rounds"] >= 1
    assert "tanh" in _names(spec["network"]["activations"]) and len(spec["network"]["sizes"]) - 1 <= 2
    assert spec["run"]["dtype"] == "float64" and spec["run"]["steps"] == 1 and spec["optimizer"] == {"name": "sgd",
                                                                                                       "lr": spec["optimizer"]["lr"]}
    assert minimal["cost"] == sorted(minimal["cost"], reverse=True)  # each round simpler
    toml = out / minimal["file"]
    assert toml.exists() and "Reproduce: parity run --backend-module" in toml.read_text()
    html = (out / "report.html").read_text()
    assert html.index('id="unexplained"') < html.index('id="minimal"') and minimal["summary"] in html

    # `parity run` reproduces the minimal scenario: the same pairing diverges, with the test backend module
    assert main(["run", "--backend-module", BACKENDS, str(toml), "--out", str(tmp_path / "repro"), "--format", "json"]) == 1
    assert "buggy_tanh vs scratchnet" in capsys.readouterr().out


def test_cli_fuzz(tmp_path, capsys):
    out = tmp_path / "fuzz"
    code = main(["fuzz", "--budget", "3", "--seed", "5", "--backends", "scratchnet,buggy_tanh", "--reference",
                 "scratchnet", "--backend-module", BACKENDS, "--shrink", "0", "--scenario-reports", "none",
                 "--out", str(out)])
    printed = capsys.readouterr().out
    assert code in (0, 1) and "3 scenarios" in printed and (out / "report.html").exists()
    assert main(["fuzz", "--budget", "0", "--out", str(out)]) == 2
    assert main(["fuzz", "--budget", "2", "--backends", "scratchnet", "--reference", "torch", "--out", str(out)]) == 2
