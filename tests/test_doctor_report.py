"""The report: plain data, the torch fallback, and classifications the zoo does not pin down."""
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

import reference.torch_backend as torch_backend
import scratchnet as sn
from comparisons.doctor import KINDS, Bias, NetSpec, Weight, diagnose
from comparisons.doctor.reference import FALLBACK_SOURCE, TORCH_SOURCE
from reference.protocol import MissingFramework

ZOO = Path(__file__).parent / "zoo"
NEEDS_TORCH = "the doctor's torch reference needs torch: pip install -e '.[torch]'"


def zoo_result(name):
    spec = importlib.util.spec_from_file_location(f"doctor_zoo_{name}", ZOO / f"{name}.py")
    case = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(case)
    params, X, y = case.data()
    return case, diagnose(case.SPEC, params, X, y, mapping=case.MAPPING,
                          samples_as_columns=getattr(case, "SAMPLES_AS_COLUMNS", False), **case.doctor_kwargs())


@pytest.mark.parametrize("name", ["correct_canonical", "bias_summed_over_wrong_axis", "accumulating_buffer",
                                  "softmax_elementwise_jacobian", "lr_folded_into_delta"])
def test_to_dict_is_plain_json(name):
    _, result = zoo_result(name)
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert data["ok"] == result.ok and data["culprit"] == result.culprit
    assert [f["kind"] for f in data["findings"]] == [f.kind for f in result.findings]
    assert all(f["kind"] in KINDS for f in data["findings"])
    assert {p["name"] for p in data["probes"]} >= {"state"}


def test_the_report_names_everything_a_person_acts_on():
    pytest.importorskip("torch", reason=NEEDS_TORCH)
    _, result = zoo_result("missing_one_over_m")
    report = str(result)
    assert report.startswith("Backprop doctor: 4 of 4 gradients are wrong. Culprit: W2, b2 (layer 1")
    for piece in ("reference  torch autograd in float64", "param", "max_abs", "Evidence", "Layer rule:", "Probes",
                  "batch size    with the first 4 of 8 samples"):
        assert piece in report
    assert result.finding("W2").factor == pytest.approx(8)
    with pytest.raises(KeyError, match="no finding for 'W9'"):
        result.finding("W9")


def _without_torch(monkeypatch):
    def no_torch():
        raise MissingFramework("the 'torch' backend needs PyTorch")

    monkeypatch.setattr(torch_backend, "import_torch", no_torch)
    return zoo_result("sigmoid_prime_of_z")


def test_without_torch_scratchnet_stands_in_and_says_so(monkeypatch):
    case, without = _without_torch(monkeypatch)  # runs with or without torch installed
    assert without.reference == FALLBACK_SOURCE
    assert "torch is not installed" in str(without)
    assert without.kinds == case.EXPECTED and without.culprit == case.CULPRIT
    assert "sigmoid' is computed as z*(1-z)" in without.finding("W1").cause


def test_the_scratchnet_stand_in_diagnoses_as_torch_does(monkeypatch):
    pytest.importorskip("torch", reason=NEEDS_TORCH)
    case, with_torch = zoo_result("sigmoid_prime_of_z")
    assert with_torch.reference == TORCH_SOURCE
    _, without = _without_torch(monkeypatch)
    assert without.kinds == with_torch.kinds == case.EXPECTED and without.culprit == with_torch.culprit
    assert without.finding("W1").cause == with_torch.finding("b1").cause


def test_reference_helper_matches_scratchnet():
    pytest.importorskip("torch", reason=NEEDS_TORCH)
    net = sn.MLP([3, 4, 2], ["elu", "softmax"], loss="categorical_cross_entropy", reduction="batch_mean", l2=0.01,
                 init="uniform", seed=4)
    rng = np.random.default_rng(4)
    X, y = rng.normal(size=(6, 3)), np.eye(2)[np.arange(6) % 2]
    loss, grads = torch_backend.reference_loss_and_grads(net.spec(), net.params, X, y)
    expected_loss, expected = net.loss_and_grads(X, y)
    assert loss == pytest.approx(expected_loss, rel=1e-12)
    for name in expected:
        np.testing.assert_allclose(grads[name], expected[name], rtol=1e-10, atol=1e-14)


SPEC = NetSpec(sizes=[3, 4, 2], activations=["sigmoid", "linear"], loss="squared_error", reduction="batch_mean")
MAPPING = {"W1": Weight(0), "b1": Bias(0), "W2": Weight(1), "b2": Bias(1)}


def data():
    rng = np.random.default_rng(5)
    params = {"W1": rng.normal(size=(3, 4)), "b1": rng.normal(size=4), "W2": rng.normal(size=(4, 2)), "b2": rng.normal(size=2)}
    return params, rng.normal(size=(6, 3)), rng.normal(size=(6, 2))


def grads_of(params, X, y):
    m = len(X)
    a1 = 1 / (1 + np.exp(-(X @ params["W1"] + params["b1"])))
    out = a1 @ params["W2"] + params["b2"]
    d2 = 2 * (out - y) / m
    d1 = d2 @ params["W2"].T * a1 * (1 - a1)
    return np.sum((out - y) ** 2) / m, {"W1": X.T @ d1, "b1": d1.sum(0), "W2": a1.T @ d2, "b2": d2.sum(0)}


def test_a_step_function_that_ignores_its_lr():
    def hard_coded_step(params, X, y, lr):
        _, grads = grads_of(params, X, y)
        return {name: params[name] - 0.5 * grads[name] for name in params}

    result = diagnose(SPEC, *data(), mapping=MAPPING, step_fn=hard_coded_step, lr=0.1)
    assert set(result.kinds.values()) == {"scaled"}
    assert result.finding("W1").factor == pytest.approx(5)
    assert "the update ignores the lr it is given" in str(result)


def test_a_non_square_gradient_returned_transposed():
    def transposed_w1(params, X, y):
        loss, grads = grads_of(params, X, y)
        return loss, {**grads, "W1": grads["W1"].T}

    result = diagnose(SPEC, *data(), mapping=MAPPING, grad_fn=transposed_w1)
    finding = result.finding("W1")
    assert finding.kind == "transposed" and result.culprit == ["W1"]
    assert "has shape (4, 3) where (3, 4) is due" in finding.evidence


def test_random_gradients_are_stateful():
    rng = np.random.default_rng(0)

    def noisy(params, X, y):
        loss, grads = grads_of(params, X, y)
        return loss, {name: g + 1e-3 * rng.normal(size=g.shape) for name, g in grads.items()}

    result = diagnose(SPEC, *data(), mapping=MAPPING, grad_fn=noisy)
    assert set(result.kinds.values()) == {"stateful"}, str(result)
    assert "keeps state between calls (or is random)" in str(result)


def test_a_loss_with_another_scale_is_named():
    def half_loss(params, X, y):
        loss, grads = grads_of(params, X, y)
        return 0.5 * loss, {name: 0.5 * g for name, g in grads.items()}

    result = diagnose(SPEC, *data(), mapping=MAPPING, grad_fn=half_loss)
    assert result.loss.status == "mismatch" and result.loss.ratio == pytest.approx(0.5)
    assert "your loss is the declared network's with reduction='mean' or scale=0.5" in result.loss.explanation
    assert "your loss is not the declared one" in str(result)
    assert set(result.kinds.values()) == {"scaled"}


def test_a_bias_update_that_changes_the_bias_shape():
    def broadcasting_step(params, X, y):
        _, grads = grads_of(params, X, y)
        new = {name: params[name] - 0.1 * grads[name] for name in params}
        new["b2"] = params["b2"] - 0.1 * np.ones((len(X), 1)) * grads["b2"]
        return new

    result = diagnose(SPEC, *data(), mapping=MAPPING, step_fn=broadcasting_step, lr=0.1)
    assert result.kinds == {"W1": "ok", "b1": "ok", "W2": "ok", "b2": "shape_mismatch"}
    assert "the update turned 'b2' from shape (2,) into (6, 2)" in result.finding("b2").evidence


def test_lr_folded_into_a_step_without_an_lr_argument_is_still_named():
    def step(params, X, y):
        _, grads = grads_of(params, X, y)
        return {name: params[name] - 0.1 * (0.1 * grads[name]) for name in params}

    result = diagnose(SPEC, *data(), mapping=MAPPING, step_fn=step, lr=0.1)
    assert set(result.kinds.values()) == {"scaled"}
    assert "0.1 is the learning rate lr = 0.1" in result.finding("W2").evidence
    probe = next(p for p in result.probes if p.name == "learning rate")
    assert probe.status == "skipped" and "takes no lr" in probe.summary
