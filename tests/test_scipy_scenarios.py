"""The full-batch catalog scenarios: TNC and Levenberg-Marquardt through the engine."""
import numpy as np
import pytest

import comparisons
from comparisons.spec import SpecError

pytest.importorskip("torch")


@pytest.fixture(scope="module")
def lm_anchored():
    """sin-lm-trainlm anchored with its own backends, run once for the tests that read it (none changes it)."""
    return comparisons.run("sin-lm-trainlm", mode="anchored")


def test_lm_scenario_reaches_the_matlab_goal_and_beats_gradient_descent(lm_anchored):
    result = lm_anchored
    assert result.passed
    lm, gd = result.extras["race"]["rows"]
    assert lm["reached"] and gd["reached"] and lm["epochs"] < gd["epochs"] / 100
    mu = result.diffs[(result.diffs.quantity == "state") & (result.diffs.param == "mu")]
    assert len(mu) == result.steps_completed and (mu.max_abs == 0).all()  # identical mu sequence


def test_least_squares_lm_is_compared_on_outcome():
    outcome = comparisons.run("sin-lm-trainlm", backends=["scratchnet"], reference="scratchnet").extras["least_squares_lm"]
    assert "MINPACK" in outcome["algorithm"] and outcome["final_mse"] < 3e-4 and outcome["nfev"] > 0


def test_tnc_free_running_drift_is_reported_not_hidden():
    # Free-running TNC is chaotic by design (its Hessian-vector products are finite differences of
    # gradients), so how far the trajectories drift apart depends on the CPU's vector units and BLAS
    # kernels (final costs 0.8151 vs 0.8174 here, 0.8151 vs 0.8259 on an AMD EPYC). Only that the
    # drift is reported is asserted, never its size.
    result = comparisons.run("digits-ng-tnc", backends=["scratchnet", "torch"], mode="free")
    divergence = result.first_divergence
    assert divergence is not None and not result.passed
    beyond = result.diffs[~result.diffs.passed & (result.diffs.expected == "")]
    assert divergence.step == beyond.step.min() and divergence.backend == "torch"
    assert f"first divergence at {divergence}" in result.verdict()
    assert result.summary()["first_divergence"]["step"] == divergence.step
    assert set(result.extras["runs"]) == {"scratchnet", "torch"}
    assert all(np.isfinite(run["final_cost"]) for run in result.extras["runs"].values())


def test_lm_free_running_drift_is_measured_not_asserted():
    # Free-running, each LM epoch solves (J'J + mu I) d = -J'e with condition numbers up to 6e10, so
    # last-bit Jacobian differences grow ~10x per epoch; their size depends on the CPU's vector units
    # and BLAS kernels. Asserted: every epoch is diffed and the verdict follows the diffs.
    result = comparisons.run("sin-lm-trainlm", backends=["scratchnet", "torch"], mode="free")
    assert result.mode == "free" and result.steps_completed > 0 and not result.failures
    exact = result.diffs[result.diffs.expected == ""]
    assert set(exact.step) == set(range(result.steps_completed)) and {"loss", "grad", "param"} <= set(exact.quantity)
    beyond = exact[~exact.passed]
    assert (result.first_divergence is None) == beyond.empty == result.passed
    if not beyond.empty:
        assert result.first_divergence.step == beyond.step.min()


def test_tnc_anchored_agrees_to_float64_precision():
    result = comparisons.run("digits-ng-tnc", backends=["scratchnet", "torch"], mode="anchored")
    grads = result.diffs[result.diffs.quantity == "grad"]
    assert result.passed and grads.max_rel.max() < 1e-13
    assert result.extras["race"]["rows"][0]["epochs"] < result.extras["race"]["rows"][1]["epochs"]


@pytest.mark.parametrize("change, message", [
    ({"optimizer": {"name": "lm", "mu": -1.0}}, "mu must be a finite number"),
    ({"optimizer": {"name": "tnc", "maxfunn": 3}}, "did you mean 'maxfun'"),
    ({"optimizer": {"name": "lm"}, "run": {"backends": ["scratchnet", "keras"], "reference": "scratchnet"}}, r"run.backends: lm .*; remove \['keras'\]"),
    ({"optimizer": {"name": "tnc"}, "run": {"batch_size": 10}}, "tnc trains on the full batch"),
    ({"race": {"goal": 1e-3}}, "race.gd_lr: required"),
    ({"loss": {"name": "squared_error", "scale": 0.5}, "race": {"goal": 1e-3, "gd_lr": 0.1}},
     'race.metric: "mse" needs the loss to be the mean squared error'),
])
def test_full_batch_spec_errors(change, message):
    raw = comparisons.catalog.get("sin-lm-trainlm").to_dict()
    for section, values in change.items():
        raw[section] = {**raw[section], **values} if section == "run" else values
    with pytest.raises(SpecError, match=message):
        comparisons.Scenario.from_dict(raw)


def test_lm_with_fewer_residuals_than_parameters_explains_least_squares():
    raw = comparisons.catalog.get("sin-lm-trainlm").to_dict()
    raw["data"]["n_samples"] = 10  # 10 residuals, 16 parameters
    result = comparisons.run(comparisons.Scenario.from_dict(raw), backends=["scratchnet"], reference="scratchnet")
    error = result.extras["least_squares_lm"]["error"]
    assert "10 residuals" in error and "16 parameters" in error and "method='trf'" in error


@pytest.mark.parametrize("method, options", [("lbfgs", {"maxiter": 15}), ("cg", {"maxiter": 10})])
def test_lbfgs_and_cg_run_through_the_same_engine(method, options):
    raw = comparisons.catalog.get("digits-ng-tnc").to_dict()
    raw["optimizer"] = {"name": method, **options}
    raw.pop("race")
    result = comparisons.run(comparisons.Scenario.from_dict(raw), backends=["scratchnet", "torch"], mode="anchored")
    assert result.passed and result.steps_completed > 5
    assert result.extras["runs"]["scratchnet"]["iterations"] == result.steps_completed - 1


def test_report_shows_the_race_and_the_runs(lm_anchored, tmp_path):
    from comparisons.report import write_report

    write_report(lm_anchored, tmp_path, formats=("html", "md", "json", "csv"))
    page = (tmp_path / "report.html").read_text()
    assert "Optimizer runs" in page and "gradient descent lr=0.2 (scratchnet)" in page and "least_squares" in page
    assert "Race to mse" in (tmp_path / "report.md").read_text()
