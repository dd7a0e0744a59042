"""The doctor measures with `comparisons.diff.compare` and judges with `comparisons.tolerances.DOCTOR`:
its numbers are compare's numbers, and its decisions follow the policy when the policy changes."""
import ast
import dataclasses
from pathlib import Path

import numpy as np
import pytest

import comparisons.tolerances as tolerances
from comparisons.diff import compare
from comparisons.doctor import Bias, NetSpec, Weight, diagnose
from comparisons.doctor.layout import NetworkLayout
from comparisons.doctor.reference import reference_gradients
from comparisons.tolerances import DOCTOR, DoctorTolerance, Tolerance, doctor_tolerance

DOCTOR_DIR = Path(__file__).parent.parent / "comparisons" / "doctor"
SPEC = NetSpec(sizes=[2, 3, 1], activations=["sigmoid", "sigmoid"], loss="binary_cross_entropy", reduction="batch_mean")
MAPPING = {"W1": Weight(0, layout="in_out"), "b1": Bias(0), "W2": Weight(1, layout="in_out"), "b2": Bias(1)}
X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
Y = np.array([[0.0], [1.0], [1.0], [0.0]])


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def make_params(dtype=np.float64):
    rng = np.random.default_rng(3)
    return {"W1": rng.uniform(-1, 1, (2, 3)).astype(dtype), "b1": rng.uniform(-1, 1, 3).astype(dtype),
            "W2": rng.uniform(-1, 1, (3, 1)).astype(dtype), "b2": rng.uniform(-1, 1, 1).astype(dtype)}


def loss_and_grads(params, X, y):
    """The README's network, written correctly."""
    m = X.shape[0]
    a1 = sigmoid(X @ params["W1"] + params["b1"])
    a2 = sigmoid(a1 @ params["W2"] + params["b2"])
    loss = -np.mean(y * np.log(a2) + (1 - y) * np.log(1 - a2))
    d2 = (a2 - y) / m
    d1 = (d2 @ params["W2"].T) * a1 * (1 - a1)
    return loss, {"W1": X.T @ d1, "b1": d1.sum(axis=0), "W2": a1.T @ d2, "b2": d2.sum(axis=0)}


def perturbed(relative: float, loss_relative: float = 0.0, scale_W1: float = 1.0):
    """Correct code with W2's gradient off by `relative` in one entry (not a multiple of the
    reference), W1's times `scale_W1`, and the loss times (1 + loss_relative)."""
    def grad_fn(params, X, y):
        loss, grads = loss_and_grads(params, X, y)
        grads["W2"] = grads["W2"].copy()
        grads["W2"][0, 0] += relative * np.max(np.abs(grads["W2"]))
        grads["W1"] = scale_W1 * grads["W1"]
        return loss * (1 + loss_relative), grads
    return grad_fn


def the_reference(params):
    """The arrays the doctor compares with, in the user's layout (float64)."""
    layout = NetworkLayout.for_params(SPEC, MAPPING, params)
    canonical = layout.to_canonical({n: np.asarray(v, dtype=np.float64) for n, v in params.items()})
    reference = reference_gradients(SPEC, canonical, X, Y)
    return reference.loss, layout.to_user(reference.grads)


def run(grad_fn, params=None):
    return diagnose(SPEC, make_params() if params is None else params, X, Y, mapping=MAPPING, grad_fn=grad_fn)


# ------------------------------------------------------------------ the doctor's numbers are compare's
def test_reported_errors_are_compare_statistics():
    params = make_params()
    grad_fn = perturbed(0.3, scale_W1=4.0)
    result = run(grad_fn, params)
    assert result.kinds == {"W1": "scaled", "b1": "ok", "W2": "wrong", "b2": "ok"}
    _, yours = grad_fn(params, X, Y)
    _, expected = the_reference(params)
    largest = max(float(np.max(np.abs(v))) for v in expected.values())
    tolerance = doctor_tolerance(False).gradient(largest)
    for name in MAPPING:
        diff = compare(yours[name], expected[name], tolerance)
        finding = result.finding(name)
        assert finding.max_rel == diff.max_rel, name
        assert finding.max_abs == diff.max_abs, name
    wrong = compare(yours["W2"], expected["W2"], tolerance)
    assert result.finding("W2").cosine == wrong.cosine
    assert f"cosine {wrong.cosine:.3f} with the reference" in result.finding("W2").evidence
    # normwise: a gradient 4 x the reference is off by 3 x the reference's largest entry
    assert result.finding("W1").max_rel == pytest.approx(3.0, rel=1e-12)


def test_the_own_loss_error_is_compare_max_rel():
    result = run(perturbed(0.3))
    own = next(p for p in result.probes if p.name == "own loss")
    details = own.details["W2"]
    assert details["entries"] == 3
    assert 0.1 < details["error_yours"] < 1.0 and details["error_reference"] < 1e-8
    assert "disagree with central differences of your own loss" in own.summary


# ------------------------------------------------------------------ decisions follow tolerances.py
def _with(monkeypatch, key, **changes):
    monkeypatch.setitem(DOCTOR, key, dataclasses.replace(DOCTOR[key], **changes))


def test_the_gradient_decision_follows_the_policy(monkeypatch):
    params = make_params()
    grad_fn = perturbed(1e-4)
    _, yours = grad_fn(params, X, Y)
    _, expected = the_reference(params)
    largest = max(float(np.max(np.abs(v))) for v in expected.values())
    error = compare(yours["W2"], expected["W2"], Tolerance(rtol=1.0, atol=0.0)).max_rel
    assert run(grad_fn, params).finding("W2").kind == "wrong"
    for rtol, verdict in ((2 * error, "ok"), (error / 2, "wrong")):
        _with(monkeypatch, "float64", gradient_rtol=rtol, floor_fraction=rtol)
        assert compare(yours["W2"], expected["W2"], doctor_tolerance(False).gradient(largest)).passed is (verdict == "ok")
        result = run(grad_fn, params)
        assert result.finding("W2").kind == verdict, (rtol, str(result))
        assert result.ok is (verdict == "ok")


def test_the_loss_decision_follows_the_policy(monkeypatch):
    grad_fn = perturbed(0.0, loss_relative=1e-6)
    assert run(grad_fn).loss.status == "mismatch"
    _with(monkeypatch, "float64", loss_rtol=1e-5)
    assert run(grad_fn).loss.status == "match"
    _with(monkeypatch, "float64", loss_rtol=1e-7)
    assert run(grad_fn).loss.status == "mismatch"


def test_float32_code_gets_the_low_precision_policy(monkeypatch):
    params = make_params(np.float32)
    X32, Y32 = X.astype(np.float32), Y.astype(np.float32)

    def float32_run():
        return diagnose(SPEC, params, X32, Y32, mapping=MAPPING, grad_fn=loss_and_grads)

    result = float32_run()
    assert result.ok, str(result)
    assert 1e-9 < max(f.max_rel for f in result.findings) < 1e-3  # float32 rounding, within 1e-3
    assert any("relative tolerance 1e-3 instead of 1e-6" in note for note in result.notes)
    _with(monkeypatch, "low_precision", gradient_rtol=1e-9, floor_fraction=1e-9)
    _with(monkeypatch, "float64", gradient_rtol=2e-6)
    strict = float32_run()
    assert not strict.ok, str(strict)  # float32 rounding is far beyond 1e-9
    assert any("relative tolerance 1e-9 instead of 2e-6" in note for note in strict.notes)


def test_naming_a_factor_follows_the_policy(monkeypatch):
    grad_fn = perturbed(0.0, scale_W1=4.0 * (1 + 1e-4))  # W1 is 4.0004 x the reference
    finding = run(grad_fn).finding("W1")
    assert finding.kind == "scaled" and "the factor is none of m, 1/m, lr, 2, 1/2" in finding.evidence
    _with(monkeypatch, "float64", gradient_rtol=1e-3, floor_fraction=1e-6)
    finding = run(grad_fn).finding("W1")
    assert finding.kind == "scaled" and "4.0004 is the batch size m = 4" in finding.evidence


def test_the_policy_values():
    full, low = doctor_tolerance(False), doctor_tolerance(True)
    assert isinstance(full, DoctorTolerance) and isinstance(low, DoctorTolerance)
    assert (full.gradient_rtol, full.loss_rtol, full.own_loss_rtol) == (1e-6, 1e-8, 1e-5)
    assert (low.gradient_rtol, low.loss_rtol, low.own_loss_rtol) == (1e-3, 1e-4, 1e-2)
    assert full.gradient(2.0) == Tolerance(rtol=1e-6, atol=1e-6 * 1e-6 * 2.0)
    assert full.gradient(2.0, repeat=True).rtol == pytest.approx(1e-5)
    assert full.loss() == Tolerance(rtol=1e-8, atol=1e-8 * 1e-12)
    # the floor compare measures against (atol / rtol) is floor_fraction x the largest entry
    assert full.gradient(3.0).atol / full.gradient(3.0).rtol == pytest.approx(1e-6 * 3.0)
    # the lockstep defaults are untouched
    assert tolerances.DEFAULTS[("float64", "anchored")] == Tolerance(rtol=1e-12, atol=1e-15)


def test_no_tolerance_literal_is_left_in_the_doctor():
    """Float literals in the doctor are factors (0.5, 1, 2), zero, or the stencil exponent 0.2 of
    numeric.py; tolerances live in comparisons/tolerances.py. (layout.py and backprop.py hold
    none and are maintained with the network layout.)"""
    allowed = {0.0, 0.5, 1.0, 2.0}
    found = []
    for path in sorted(DOCTOR_DIR.glob("*.py")):
        if path.name in ("layout.py", "backprop.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, float) and node.value not in allowed:
                if (path.name, node.value) != ("numeric.py", 0.2):
                    found.append(f"{path.name}:{node.lineno}: {node.value!r}")
    assert not found, found
