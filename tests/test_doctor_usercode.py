"""User code that raises, returns the wrong structure, or mutates its inputs: reported clearly,
and the user's arrays are never modified (copy in, copy out)."""
import json
import re

import numpy as np
import pytest

from comparisons.doctor import Bias, NetSpec, Weight, diagnose

SPEC = NetSpec(sizes=[3, 4, 2], activations=["tanh", "linear"], loss="squared_error", reduction="batch_mean", scale=0.5)
MAPPING = {"W1": Weight(0), "b1": Bias(0), "W2": Weight(1), "b2": Bias(1)}


def data():
    rng = np.random.default_rng(3)
    params = {"W1": rng.normal(size=(3, 4)), "b1": rng.normal(size=4), "W2": rng.normal(size=(4, 2)), "b2": rng.normal(size=2)}
    return params, rng.normal(size=(5, 3)), rng.normal(size=(5, 2))


def correct(params, X, y):
    m = len(X)
    a1 = np.tanh(X @ params["W1"] + params["b1"])
    out = a1 @ params["W2"] + params["b2"]
    d2 = (out - y) / m
    d1 = d2 @ params["W2"].T * (1 - a1 ** 2)
    loss = 0.5 * np.sum((out - y) ** 2) / m
    return loss, {"W1": X.T @ d1, "b1": d1.sum(0), "W2": a1.T @ d2, "b2": d2.sum(0)}


def run(grad_fn=None, **kwargs):
    params, X, y = data()
    return diagnose(SPEC, params, X, y, mapping=MAPPING, grad_fn=grad_fn, **kwargs)


def test_an_exception_is_reported_with_the_call_and_the_users_traceback():
    def backprop_that_divides_by_zero(params, X, y):
        scale = 1 // 0
        return scale, {}

    result = run(backprop_that_divides_by_zero)
    assert not result.ok and result.findings == [] and result.culprit is None
    assert result.error.kind == "exception"
    assert "first call, at your weights" in result.error.call
    assert result.error.message == "ZeroDivisionError: integer division or modulo by zero"
    assert "backprop_that_divides_by_zero" in result.error.traceback and "scale = 1 // 0" in result.error.traceback
    assert "comparisons/doctor" not in result.error.traceback
    report = str(result)
    assert "could not judge the gradients, your code failed" in report and "Traceback (your code)" in report
    json.dumps(result.to_dict(), allow_nan=False)


def test_an_exception_in_a_probe_keeps_the_findings():
    calls = []

    def fails_the_second_time(params, X, y):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("out of coffee")
        return correct(params, X, y)

    result = run(fails_the_second_time)
    assert result.ok and result.error is None
    state = next(p for p in result.probes if p.name == "state")
    assert state.status == "failed" and "RuntimeError: out of coffee" in state.summary


def wrong_structure(returned):
    return lambda params, X, y: returned(correct(params, X, y))


@pytest.mark.parametrize("returned, message", [
    (lambda out: out[1], r"it returned a dict only; return \(loss, \{name: gradient\}\)"),
    (lambda out: (out[0], out[1], None), r"expected \(loss, \{name: gradient\}\), got a tuple of length 3"),
    (lambda out: (np.ones(2), out[1]), "the first item must be the loss, one number"),
    (lambda out: (out[0], list(out[1].values())), "key them by parameter name"),
    (lambda out: (out[0], {("d" + k): v for k, v in out[1].items()}), "'W1' is there as 'dW1'"),
    (lambda out: (out[0], {**out[1], "b2": None}), r"the gradient for 'b2' is NoneType None; expected a numeric array of shape \(2,\)"),
    (lambda out: (out[0], {k: v for k, v in out[1].items() if k != "W2"}), r"no gradient for 'W2' \(shape \(4, 2\)\)"),
])
def test_wrong_structure_names_the_parameter_and_what_was_expected(returned, message):
    result = run(wrong_structure(returned))
    assert result.error is not None and result.error.kind == "bad_return", str(result)
    assert re.search(message, result.error.message), result.error.message


def test_a_step_function_returning_the_wrong_type():
    result = run(grad_fn=None, step_fn=lambda params, X, y: [params["W1"]], lr=0.1)
    assert result.error.kind == "bad_return"
    assert "expected the updated parameters {name: array} (or None after updating in place), got list" in result.error.message


def test_inputs_are_never_modified_even_when_the_code_mutates_its_own():
    params, X, y = data()
    saved = {k: v.copy() for k, v in params.items()}, X.copy(), y.copy()

    def vandal(p, X_, y_):
        out = correct(p, X_, y_)
        p["W1"] += 1.0
        X_ *= 0.0
        y_[:] = 7.0
        return out

    result = diagnose(SPEC, params, X, y, mapping=MAPPING, grad_fn=vandal)
    assert result.ok, str(result)
    assert all(np.array_equal(params[k], saved[0][k]) for k in params)
    assert np.array_equal(X, saved[1]) and np.array_equal(y, saved[2])
    assert any("changed W1, X, y in place" in note for note in result.notes), result.notes


def test_a_step_function_updating_in_place_leaves_the_callers_arrays_alone():
    params, X, y = data()
    saved = {k: v.copy() for k, v in params.items()}

    def sgd(p, X_, y_, lr):
        _, grads = correct(p, X_, y_)
        for name in p:
            p[name] -= lr * grads[name]

    result = diagnose(SPEC, params, X, y, mapping=MAPPING, step_fn=sgd, lr=0.3)
    assert result.ok, str(result)
    assert all(np.array_equal(params[k], saved[k]) for k in params)


def test_results_are_copied_out_of_a_reused_buffer():
    buffers = {"W1": np.zeros((3, 4)), "b1": np.zeros(4), "W2": np.zeros((4, 2)), "b2": np.zeros(2)}
    calls = []

    def overwrites_its_buffers(params, X, y):
        calls.append(1)
        loss, grads = correct(params, X, y)
        for name, value in grads.items():
            buffers[name][...] = value if len(calls) == 1 else -value
        return loss, buffers

    result = run(overwrites_its_buffers)
    assert set(result.kinds.values()) == {"stateful"}, str(result)
    assert all(f.factor == pytest.approx(-1) for f in result.findings)


@pytest.mark.filterwarnings("ignore:the matrix subclass:PendingDeprecationWarning")
def test_np_matrix_code_gets_matrices():
    spec = NetSpec(sizes=[3, 2], activations=["linear"], loss="squared_error", reduction="sum", bias=False)

    def matrix_code(params, X, y):
        assert isinstance(params["W"], np.matrix) and isinstance(X, np.matrix)
        error = X * params["W"].T - y
        return float(np.sum(np.multiply(error, error))), {"W": 2 * error.T * X}

    rng = np.random.default_rng(0)
    result = diagnose(spec, {"W": np.matrix(rng.normal(size=(2, 3)))}, np.matrix(rng.normal(size=(4, 3))),
                      rng.normal(size=(4, 2)), mapping={"W": Weight(0, "out_in")}, grad_fn=matrix_code)
    assert result.ok, str(result)
