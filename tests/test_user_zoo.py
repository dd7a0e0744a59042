"""The multi-step zoo (tests/zoo_steps/): user code whose bug lives across steps, run in lockstep
with torch through a scenario's [user.mine] table. Each case first diverges at a measured step,
backend, quantity and parameter (the module's FIRST, explained in its docstring), and the
verdict and the backprop doctor say what they can about it. The correct controls, in every
layout and kind, hold parity over 20+ steps anchored and free at the default float64
tolerances; Michael Nielsen's network.py (MIT) holds it three ways."""
import importlib
import importlib.util
import inspect
from pathlib import Path

import pytest

import comparisons
from comparisons.cli import main as cli_main
from comparisons.testing import ParityError, assert_parity

import zoo_steps
from zoo_steps import (adam_without_bias_correction, bias_never_updated, gradients_accumulate_across_steps,
                       lr_decay_per_sample, momentum_local_to_train, real_nielsen, update_inside_sample_loop,
                       velocity_wrong_sign, weight_decay_batch_size)

BUGS = {
    "a_momentum_local_to_train": momentum_local_to_train,
    "b_velocity_wrong_sign": velocity_wrong_sign,
    "c_lr_decay_per_sample": lr_decay_per_sample,
    "d_weight_decay_batch_size": weight_decay_batch_size,
    "e_update_inside_sample_loop": update_inside_sample_loop,
    "f_bias_never_updated": bias_never_updated,
    "g_adam_without_bias_correction": adam_without_bias_correction,
    "h_gradients_accumulate_across_steps": gradients_accumulate_across_steps,
}
CONTROLS = sorted(path.stem for path in Path(zoo_steps.__file__).parent.glob("correct_*.py"))
_RUNS: dict = {}


def run(spec_fn, **overrides):
    return comparisons.run(comparisons.Scenario.from_dict(spec_fn()), **overrides)


def bug(name):
    """The case's run, once per worker (the tests below read the same result)."""
    if name not in _RUNS:
        _RUNS[name] = run(BUGS[name].scenario)
    return _RUNS[name]


def first(result):
    divergence = result.first_divergence
    assert divergence is not None, result.verdict()
    return {"step": divergence.step, "backend": divergence.backend, "quantity": divergence.quantity,
            "param": divergence.param, "alias": divergence.alias}


# ---------------------------------------------------------------------------------------- the bugs
@pytest.mark.parametrize("name", BUGS)
def test_each_bug_first_shows_at_its_measured_step(name):
    result = bug(name)
    assert not result.passed and not result.failures, result.verdict()
    assert first(result) == BUGS[name].FIRST, BUGS[name].WHY
    assert result.steps_completed == result.scenario.steps  # a divergence never stops the run
    verdict = result.verdict()
    assert verdict.startswith(f"FAIL: first divergence at step {BUGS[name].FIRST['step']}, mine vs torch")
    if BUGS[name].FIRST["alias"]:
        assert f"({BUGS[name].FIRST['alias']} in mine's code)" in verdict


def test_a_momentum_buffer_local_to_train_looks_like_plain_sgd_to_the_doctor():
    result = bug("a_momentum_local_to_train")
    diagnosis = result.diagnosis
    # the backprop is right: with no velocity the implied gradient is exactly the gradient ...
    assert diagnosis.ok and diagnosis.culprit is None
    assert diagnosis.kinds == {"weights1": "ok", "weights2": "ok", "weights3": "ok"}
    # ... and the state probe says what is missing: nothing carries over from one call to the next
    state = next(probe for probe in diagnosis.probes if probe.name == "state")
    assert state.status == "ran" and state.details["changed"] == {} and not state.details["accumulating"]
    assert f"backprop doctor at step 1: {diagnosis.headline()}" in result.verdict()


def test_a_the_fix_holds_parity_and_plain_sgd_shows_the_bug_is_the_buffer():
    """The same class under plain SGD (momentum 0) is right: only the buffer is wrong."""
    spec = momentum_local_to_train.scenario()
    spec["optimizer"]["momentum"] = 0.0
    assert comparisons.run(comparisons.Scenario.from_dict(spec)).passed


def test_a_through_a_toml_spec_the_cli_and_assert_parity(tmp_path, capsys):
    source = "import numpy as np\n\n\n" + inspect.getsource(momentum_local_to_train.mlp)
    (tmp_path / "mlp.py").write_text(source)
    (tmp_path / "mnist_mlp.toml").write_text(MLP_TOML)
    code = cli_main(["run", str(tmp_path / "mnist_mlp.toml"), "--out", str(tmp_path / "report"), "--format", "md,json"])
    out = capsys.readouterr().out
    assert code == 1, out
    assert "first divergence at step 1, mine vs torch, param dense_0.W" in out
    assert "(weights1 in mine's code)" in out
    with pytest.raises(ParityError) as raised:
        assert_parity(str(tmp_path / "mnist_mlp.toml"))
    diagnosis = raised.value.comparison.diagnosis
    assert diagnosis.ok and "backprop doctor at step 1" in out
    assert str(diagnosis) in str(raised.value)  # the doctor's whole report is in assert_parity's message
    assert diagnosis.headline() in (tmp_path / "report" / "report.md").read_text()


MLP_TOML = """\
name = "mnist-mlp-momentum"
[network]
sizes = [64, 16, 12, 10]
activations = ["sigmoid", "sigmoid", "softmax"]
[loss]
name = "squared_error"
reduction = "sum"
scale = 0.5
[optimizer]
name = "sgd"
lr = 0.05
momentum = 0.9
[data]
name = "digits"
[run]
steps = 4
batch_size = 20
backends = ["mine", "torch"]
reference = "torch"
mode = "anchored"
[user.mine]
code = "mlp.py:mlp"
kind = "object"
init = {inputs = 64, targets = 10, nhidden1 = 16, nhidden2 = 12}
call = {inputs = "X", targets = "y", eta = "lr", niterations = 1}
[user.mine.mapping.weights1]
kind = "augmented_weight"
layer = 0
layout = "in_out"
bias_position = "last"
bias_input = -1.0
[user.mine.mapping.weights2]
kind = "augmented_weight"
layer = 1
layout = "in_out"
bias_position = "last"
bias_input = -1.0
[user.mine.mapping.weights3]
kind = "augmented_weight"
layer = 2
layout = "in_out"
bias_position = "last"
bias_input = -1.0
"""


def test_b_wrong_velocity_sign_is_state_to_the_doctor():
    diagnosis = bug("b_velocity_wrong_sign").diagnosis
    assert diagnosis.kinds == {"W1": "stateful", "b1": "stateful", "W2": "stateful", "b2": "stateful"}
    assert diagnosis.culprit == ["W2", "b2"]


def test_c_per_sample_decay_is_state_with_the_ratio_of_two_decayed_rates():
    diagnosis = bug("c_lr_decay_per_sample").diagnosis
    decay, seen = lr_decay_per_sample.DECAY, 20 * 8  # the doctor runs after the 20 steps of 8 samples
    assert set(diagnosis.kinds.values()) == {"stateful"}
    ratio = (1 + decay * seen) / (1 + decay * (seen + 8))  # 0.970149: the second call's rate over the first's
    for finding in diagnosis.findings:
        assert finding.factor == pytest.approx(ratio, rel=1e-9)
    state = next(probe for probe in diagnosis.probes if probe.name == "state")
    assert state.details["changed"] == pytest.approx({name: ratio for name in ("W1", "b1", "W2", "b2")}, rel=1e-9)


def test_d_weight_decay_by_batch_size_is_an_l2_ten_times_the_declared_one():
    result = bug("d_weight_decay_batch_size")
    diagnosis = result.diagnosis
    assert diagnosis.kinds == {"W1": "wrong", "b1": "ok", "W2": "wrong", "b2": "ok"}
    assert diagnosis.culprit == ["W2"]
    declared = weight_decay_batch_size.LAM / (2 * weight_decay_batch_size.N_TRAIN)
    assert declared == 0.00125
    # the likely cause names the L2 the code has, 10 = n / m times the declared one
    assert "0.0125" in diagnosis.cause and "0.00125" in diagnosis.cause
    assert f"backprop doctor at step 0: {diagnosis.headline()}" in result.verdict() and "0.0125" in result.verdict()
    # invisible to a full-batch (one-batch) check: there the batch is the training set
    assert run(weight_decay_batch_size.full_batch).passed


def test_e_updates_inside_the_sample_loop_are_wrong_everywhere_and_right_online():
    diagnosis = bug("e_update_inside_sample_loop").diagnosis
    assert diagnosis.kinds == {"W1": "wrong", "b1": "wrong", "W2": "wrong", "b2": "wrong"}
    assert diagnosis.culprit == ["W2", "b2"]
    assert run(update_inside_sample_loop.online).passed  # batch_size 1: the loop is plain SGD


def test_f_a_bias_never_updated_has_a_zero_implied_gradient():
    result = bug("f_bias_never_updated")
    diagnosis = result.diagnosis
    assert diagnosis.kinds == {"W1": "ok", "b1": "ok", "W2": "ok", "b2": "zero"}
    assert diagnosis.culprit == ["b2"]
    assert result.first_divergence.values[0] == 0.0
    failing = result.diffs[~result.diffs.passed & (result.diffs.quantity == "grad")]
    assert set(failing.param) == {"dense_1.b"}  # only b2's gradient; its weights drift later


def test_g_adam_with_a_frozen_step_counter_first_shows_at_step_1():
    result = run(adam_without_bias_correction.frozen_step)
    assert first(result) == adam_without_bias_correction.FIRST_FROZEN, adam_without_bias_correction.WHY_FROZEN


def test_g_update_only_adam_gets_no_gradient_diagnosis():
    assert bug("g_adam_without_bias_correction").diagnosis is None


def test_h_an_accumulator_never_zeroed_is_stateful_with_the_right_loss():
    diagnosis = bug("h_gradients_accumulate_across_steps").diagnosis
    assert diagnosis.kinds == {"W1": "stateful", "b1": "stateful", "W2": "stateful", "b2": "stateful"}
    assert diagnosis.culprit == ["W2", "b2"]
    assert diagnosis.loss.status == "match"  # the forward pass and the loss are right


# ------------------------------------------------------------------------------------ the controls
@pytest.mark.parametrize("mode", ["anchored", "free"])
@pytest.mark.parametrize("name", CONTROLS)
def test_correct_controls_hold_parity(name, mode):
    module = importlib.import_module(f"zoo_steps.{name}")
    result = run(module.scenario, mode=mode)
    assert result.passed, result.verdict()
    assert result.steps_completed >= 20 and result.diagnosis is None
    assert result.tolerance == result.scenario.tolerance()  # the default float64 tolerance, never loosened
    assert set(result.diffs.backend) == {"mine"} and (result.diffs.quantity == "param").any()


# ------------------------------------------------------------------------- Nielsen's network.py
@pytest.mark.parametrize("mode", ["anchored", "free"])
@pytest.mark.parametrize("variant", ["scenario_wrapper", "scenario_grads_order", "scenario_object"])
def test_nielsen_network_py_holds_parity(variant, mode):
    result = run(getattr(real_nielsen, variant), mode=mode)
    assert result.passed, result.verdict()
    quantities = set(result.diffs.quantity)
    # grad kind: loss, gradients and weights; object kind under plain SGD: implied gradients and weights
    assert quantities == ({"grad", "param"} if variant == "scenario_object" else {"loss", "grad", "param"})


def test_nielsen_with_grads_order_and_the_wrapper_give_the_same_records():
    wrapper, ordered = run(real_nielsen.scenario_wrapper), run(real_nielsen.scenario_grads_order)
    assert wrapper.losses["mine"].tolist() == ordered.losses["mine"].tolist()
    assert wrapper.diffs.max_rel.tolist() == ordered.diffs.max_rel.tolist()


@pytest.mark.parametrize("mode", ["anchored", "free"])
def test_a_cs231n_style_two_layer_net_holds_parity(mode):
    """cs231n's TwoLayerNet.loss(X, y, reg) in lockstep (tests/zoo/real/cs231n_two_layer_reg.py: a
    re-implementation in the course's style, since the public solutions carry no licence; the
    original solution was run the same way from a local copy, worst 4.6e-15)."""
    spec_ = importlib.util.spec_from_file_location(
        "cs231n_two_layer_reg", Path(__file__).parent / "zoo" / "real" / "cs231n_two_layer_reg.py")
    module = importlib.util.module_from_spec(spec_)
    spec_.loader.exec_module(module)
    net, reg = module.TwoLayerNet(64, 20, 10), 5e-4

    def loss_and_grads(params, X, y):
        net.params = params
        return net.loss(X, y=y.argmax(axis=1), reg=reg)  # cs231n: loss += reg * sum(W**2) (2019 and later)

    scenario = zoo_steps.spec("cs231n", sizes=[64, 20, 10], activations=["relu", "softmax"],
                              loss={"name": "categorical_cross_entropy", "reduction": "batch_mean", "l2": reg},
                              optimizer={"name": "sgd", "lr": 0.1}, data={"name": "digits"}, run={"batch_size": 32},
                              user={"code": loss_and_grads, "kind": "grad", "mapping": zoo_steps.canonical(2)})
    result = comparisons.run(comparisons.Scenario.from_dict(scenario), mode=mode)
    assert result.passed, result.verdict()


# ------------------------------------------------------------- found while building the zoo
def _raising(kind):
    def train_step(params, X, y, lr):
        return params["no_such_array"]

    class Trainer:
        def train(self, X, y):
            raise RuntimeError("boom")

    user = {"code": train_step, "kind": "step"} if kind == "step" else {"code": Trainer, "kind": "object",
                                                                        "call": {"X": "X", "y": "y"}}
    scenario = zoo_steps.spec(f"raises-{kind}", sizes=[2, 3, 1], activations=["sigmoid", "sigmoid"],
                              loss={"name": "squared_error"}, optimizer={"name": "sgd", "lr": 0.1},
                              data={"name": "xor"}, run={"steps": 2}, user={**user, "mapping": zoo_steps.canonical(2)})
    result = comparisons.run(comparisons.Scenario.from_dict(scenario))
    return result.failures["mine"].error


@pytest.mark.parametrize("kind", ["step", "object"])
def test_a_failing_update_is_named_by_the_users_function(kind):
    error = _raising(kind)
    assert "'recording'" not in error
    assert ("'train_step'" if kind == "step" else "'Trainer.train'") in error


@pytest.mark.parametrize("kind", ["step", "object"])
def test_the_traceback_of_a_failing_update_holds_only_user_frames(kind):
    error = _raising(kind)
    assert "Traceback (your code):" in error
    assert "user_backend.py" not in error.partition("Traceback (your code):")[2]
