"""User code as a backend: the [user.<name>] contract through the API, the CLI and the plugin,
and every bad input a user can cause (each a clear message; nothing else lost)."""
import inspect
import textwrap

import numpy as np
import pytest

import comparisons
from comparisons.cli import main as cli_main
from comparisons.testing import ParityError, assert_parity

pytest_plugins = ["pytester"]

MAPPING = {"W1": {"kind": "weight", "layer": 0, "layout": "in_out"}, "b1": {"kind": "bias", "layer": 0},
           "W2": {"kind": "weight", "layer": 1, "layout": "in_out"}, "b2": {"kind": "bias", "layer": 1}}


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def loss_and_grads(params, X, y):
    """A correct 2-3-1 sigmoid network with the mean squared error (canonical layouts)."""
    a1 = sigmoid(X @ params["W1"] + params["b1"])
    a2 = sigmoid(a1 @ params["W2"] + params["b2"])
    d2 = 2.0 * (a2 - y) / y.size * a2 * (1 - a2)
    d1 = d2 @ params["W2"].T * a1 * (1 - a1)
    return float(np.mean((a2 - y) ** 2)), {"W1": X.T @ d1, "b1": d1.sum(0), "W2": a1.T @ d2, "b2": d2.sum(0)}


def spec(code, kind="grad", mode="anchored", steps=20, optimizer=None, **user):
    return {
        "name": "user-xor",
        "network": {"sizes": [2, 3, 1], "activations": ["sigmoid", "sigmoid"]},
        "optimizer": optimizer or {"name": "sgd", "lr": 0.5},
        "data": {"name": "xor"},
        "run": {"steps": steps, "backends": ["mine", "scratchnet"], "reference": "scratchnet", "mode": mode},
        "user": {"mine": {"code": code, "kind": kind, "mapping": MAPPING, **user}},
    }


def run(code, **kwargs):
    return comparisons.run(comparisons.Scenario.from_dict(spec(code, **kwargs)))


@pytest.mark.parametrize("mode", ["anchored", "free"])
def test_correct_grad_code_holds_parity_and_keeps_its_names(mode):
    result = run(loss_and_grads, mode=mode)
    assert result.passed, result.verdict()
    assert result.steps_completed == 20 and set(result.diffs.quantity) == {"loss", "grad", "param"}
    assert result.extras["user_names"]["mine"] == {"dense_0.W": "W1", "dense_0.b": "b1", "dense_1.W": "W2", "dense_1.b": "b2"}


def test_a_wrong_gradient_is_localised_named_in_the_users_terms_and_diagnosed():
    def doubled(params, X, y):
        loss, grads = loss_and_grads(params, X, y)
        return loss, {**grads, "W2": 2 * grads["W2"]}

    result = run(doubled)
    divergence = result.first_divergence
    assert (divergence.step, divergence.backend, divergence.quantity, divergence.param, divergence.alias) == (
        0, "mine", "grad", "dense_1.W", "W2")
    assert result.diagnosis.culprit == ["W2"] and result.diagnosis.finding("W2").kind == "scaled"
    assert "(W2 in mine's code)" in result.verdict() and "backprop doctor at step 0" in result.verdict()
    with pytest.raises(ParityError, match=r"(?s)Backprop doctor at step 0.*W2 .*scaled"):
        assert_parity(comparisons.Scenario.from_dict(spec(doubled)))


def test_the_users_arrays_are_copies_for_the_code_and_mutating_them_changes_nothing():
    seen = []

    def mutating(params, X, y):
        seen.append(params["W1"])
        loss, grads = loss_and_grads(params, X, y)
        params["W1"] += 100.0  # a careless in-place update of its inputs
        X[...] = 0.0
        return loss, grads

    result = run(mutating, steps=5)
    assert result.passed, result.verdict()
    assert len({id(array) for array in seen}) == 5  # a fresh copy every call


def test_step_kind_with_plain_sgd_compares_the_implied_gradient():
    def sgd_step(params, X, y, lr):
        _, grads = loss_and_grads(params, X, y)
        return {name: params[name] - lr * grads[name] for name in params}

    result = run(sgd_step, kind="step")
    assert result.passed, result.verdict()
    assert set(result.diffs[result.diffs.backend == "mine"].quantity) == {"grad", "param"}  # no loss: step code has none


def test_step_kind_with_its_own_momentum_is_compared_on_weights():
    velocity = {}

    def momentum_step(params, X, y, lr):
        _, grads = loss_and_grads(params, X, y)
        for name in params:  # torch's form: b = mu * b + g (b = g at the first step); w -= lr * b
            velocity[name] = grads[name] if name not in velocity else 0.9 * velocity[name] + grads[name]
        return {name: params[name] - lr * velocity[name] for name in params}

    result = run(momentum_step, kind="step", optimizer={"name": "sgd", "lr": 0.5, "momentum": 0.9})
    assert result.passed, result.verdict()
    assert set(result.diffs[result.diffs.backend == "mine"].quantity) == {"param"}


class Marsland:
    """Object kind: weights as attributes with a -1 bias input, one method that trains."""

    def __init__(self, beta=1.0):
        self.beta = beta
        self.weights1 = np.zeros((3, 3))
        self.weights2 = np.zeros((4, 1))

    def train(self, inputs, targets, eta, niterations):
        inputs = np.concatenate((inputs, -np.ones((inputs.shape[0], 1))), axis=1)
        for _ in range(niterations):
            hidden = sigmoid(self.beta * inputs @ self.weights1)
            hidden = np.concatenate((hidden, -np.ones((hidden.shape[0], 1))), axis=1)
            outputs = sigmoid(hidden @ self.weights2)
            deltao = 2.0 * (outputs - targets) / targets.size * outputs * (1 - outputs)
            deltah = hidden * (1.0 - hidden) * (deltao @ self.weights2.T)
            self.weights1 -= eta * inputs.T @ deltah[:, :-1]
            self.weights2 -= eta * hidden.T @ deltao


def test_object_kind_trains_a_class_with_weights_as_attributes():
    mapping = {"weights1": {"kind": "augmented_weight", "layer": 0, "layout": "in_out", "bias_position": "last", "bias_input": -1},
               "weights2": {"kind": "augmented_weight", "layer": 1, "layout": "in_out", "bias_position": "last", "bias_input": -1}}
    raw = spec(Marsland, kind="object", init={"beta": 1.0},
               call={"inputs": "X", "targets": "y", "eta": "lr", "niterations": 1})
    raw["user"]["mine"]["mapping"] = mapping
    result = comparisons.run(comparisons.Scenario.from_dict(raw))
    assert result.passed, result.verdict()
    assert result.extras["user_names"]["mine"]["dense_1.b"] == "weights2"


def test_natural_return_forms_map_through_a_declared_order_or_are_refused_with_the_fix():
    def nielsen_like(params, X, y):
        loss, g = loss_and_grads(params, X, y)
        return loss, ([g["b1"], g["b2"]], [g["W1"], g["W2"]])

    refused = run(nielsen_like)
    assert "mine" in refused.failures and not refused.passed
    message = refused.failures["mine"].error
    assert "the second item must be a dict {name: gradient}, got tuple" in message
    assert "declare their order in the spec: grads_order = [['b1', 'b2'], ['W1', 'W2']]" in message
    assert "scratchnet" in set(refused.losses.columns)  # the reference's results are kept
    ordered = run(nielsen_like, grads_order=[["b1", "b2"], ["W1", "W2"]])
    assert ordered.passed, ordered.verdict()


def test_code_that_raises_is_isolated_with_its_traceback():
    def fails_later(params, X, y, calls=[]):
        calls.append(1)
        if len(calls) == 4:
            raise ZeroDivisionError("my bug")
        return loss_and_grads(params, X, y)

    result = run(fails_later)
    failure = result.failures["mine"]
    assert failure.step == 3 and "ZeroDivisionError: my bug" in failure.error
    assert "fails_later" in failure.traceback and result.steps_completed == 20  # the reference ran on


@pytest.mark.parametrize("returned, message", [
    (lambda loss, grads: grads, "it returned a dict only; return (loss, {name: gradient})"),
    (lambda loss, grads: (loss, {**grads, "W1": grads["W1"][:1]}), "the gradient for 'W1' has shape (1, 3), but W1 has shape (2, 3) (Weight(0, layout='in_out'))"),
    (lambda loss, grads: (loss, {k: v for k, v in grads.items() if k != "b2"}), "no gradient for 'b2'"),
    (lambda loss, grads: (np.ones(3), grads), "the first item must be the loss, one number"),
])
def test_wrong_structures_are_explained(returned, message):
    def code(params, X, y):
        return returned(*loss_and_grads(params, X, y))

    result = run(code, steps=3)
    assert not result.passed and message in result.verdict()


def test_nan_is_recorded_as_the_first_non_finite_step():
    def nan_at_step_2(params, X, y, calls=[]):
        calls.append(1)
        loss, grads = loss_and_grads(params, X, y)
        return (float("nan") if len(calls) == 3 else loss), grads

    result = run(nan_at_step_2)
    assert result.nonfinite == {"mine": 2} and not result.passed


def test_spec_problems_of_user_tables_come_together():
    raw = spec(loss_and_grads)
    raw["user"]["mine"].update(kind="gradient", samples_as_columns="yes")
    raw["user"]["torch"] = {"code": "x.py:f"}
    raw["user"]["spare"] = {"code": "x.py"}
    with pytest.raises(comparisons.SpecError) as info:
        comparisons.Scenario.from_dict(raw)
    problems = "\n".join(info.value.problems)
    for text in ("user.mine.kind: must be one of ['grad', 'step', 'object'], got 'gradient'",
                 "user.mine.samples_as_columns: must be true or false", "user.torch: 'torch' is a built-in backend",
                 "user.spare.code: required, \"path/to/file.py:function\"", "user.spare: declared but not in run.backends"):
        assert text in problems


def write_spec(folder, code_line, body="", name="mine.toml"):
    (folder / "my_net.py").write_text(body or "import numpy as np\n\n\n" + inspect.getsource(sigmoid) + "\n\n"
                                      + inspect.getsource(loss_and_grads) + textwrap.dedent('''

        def off_by_m(params, X, y):
            loss, grads = loss_and_grads(params, X, y)
            return loss, {k: v * X.shape[0] for k, v in grads.items()}
    '''))
    mapping = "".join(f'[user.mine.mapping.{n}]\nkind = "{e["kind"]}"\nlayer = {e["layer"]}\n' for n, e in MAPPING.items())
    path = folder / name
    path.write_text(textwrap.dedent(f'''
        [network]
        sizes = [2, 3, 1]
        activations = ["sigmoid", "sigmoid"]
        [optimizer]
        name = "sgd"
        lr = 0.5
        [data]
        name = "xor"
        [run]
        steps = 10
        backends = ["mine", "scratchnet"]
        reference = "scratchnet"
        mode = "anchored"
        [user.mine]
        {code_line}
    ''') + mapping)
    return path


@pytest.mark.parametrize("code_line, exit_code, text", [
    ('code = "my_net.py:loss_and_grads"', 0, "PASS"),
    ('code = "my_net.py:off_by_m"', 1, "backprop doctor at step 0"),
    ('code = "missing.py:loss_and_grads"', 2, "does not exist"),
    ('code = "my_net.py:loss_and_grad"', 2, "my_net.py has no attribute 'loss_and_grad'"),
])
def test_cli_exit_codes_for_user_code(tmp_path, capsys, code_line, exit_code, text):
    path = write_spec(tmp_path, code_line)
    code = cli_main(["run", str(path), "--out", str(tmp_path / "out"), "--format", "json"])
    out = capsys.readouterr()
    assert code == exit_code and text in out.out + out.err
    assert (tmp_path / "out" / "summary.json").exists() == (exit_code != 2)


def test_cli_refuses_code_whose_import_raises(tmp_path, capsys):
    path = write_spec(tmp_path, 'code = "my_net.py:loss_and_grads"', body="raise RuntimeError('no data here')\n")
    assert cli_main(["run", str(path), "--out", str(tmp_path / "out")]) == 2
    assert "importing" in capsys.readouterr().err and not (tmp_path / "out").exists()


def test_toml_user_backend_round_trips_through_overrides(tmp_path):
    scenario = comparisons.Scenario.from_toml(write_spec(tmp_path, 'code = "my_net.py:loss_and_grads"'))
    assert scenario.name == "mine" and scenario.user["mine"].code == f"{(tmp_path / 'my_net.py').resolve()}:loss_and_grads"
    result = comparisons.run(scenario, mode="free", steps=4)  # with_overrides keeps the user table
    assert result.passed and result.steps_completed == 4


def test_the_plugin_fixture_takes_user_scenarios(pytester):
    pytester.makepyfile(test_mine=textwrap.dedent('''
        import numpy as np
        import comparisons

        def code(params, X, y):
            a = 1 / (1 + np.exp(-(X @ params["dense_0.W"] + params["dense_0.b"])))
            d = 2 * (a - y) / y.size * a * (1 - a)
            return float(np.mean((a - y) ** 2)), {"dense_0.W": X.T @ d, "dense_0.b": d.sum(0)}

        SPEC = {"name": "and-mine", "network": {"sizes": [2, 1], "activations": ["sigmoid"]},
                "optimizer": {"name": "sgd", "lr": 1.0}, "data": {"name": "and"},
                "run": {"steps": 10, "backends": ["mine", "scratchnet"], "reference": "scratchnet"},
                "user": {"mine": {"code": code}}}

        def test_mine(assert_parity):
            assert_parity(comparisons.Scenario.from_dict(SPEC))
    '''))
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)
