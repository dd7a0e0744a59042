"""Issue 12: the doctor on real public from-scratch code with one bug injected at a time.

Nielsen's network.py / network2.py (trimmed MIT copies), two cs231n ``TwoLayerNet.loss(X, y, reg)``
solutions (0.5*reg and reg forms) and an Ng ex4 ``nnCostFunction`` port (faithful
re-implementations: no licence found for a copy) live in tests/zoo/real/; `zoo.real.cases`
builds each case. Every case gets the verdict a demanding user expects: the right kind, the right
culprit, true evidence, no crash.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pytest

from comparisons.cli import main
from comparisons.doctor import DoctorInputError, diagnose
from zoo.real import cases as c

DRAWN = "your weights with non-zero biases drawn by the doctor (yours are all zero)"


@dataclass(frozen=True)
class Case:
    build: Callable[[], tuple]
    kinds: dict[str, str]
    culprit: list[str] | None
    phrases: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()
    cause: str | None = None
    factors: dict[str, float] = field(default_factory=dict)
    terms: dict[str, str] = field(default_factory=dict)
    spec: str | None = None
    point: str = "your weights"


def same(kind, *names):
    return {name: kind for name in names}


NIELSEN = ("w0", "b0", "w1", "b1")
CS231N = ("W1", "b1", "W2", "b2")
THETAS = ("Theta1", "Theta2")

CASES = {
    # --- Nielsen network.py, update-only (--step) -----------------------------------------------
    "nielsen_correct_update": Case(lambda: c.nielsen(), same("ok", *NIELSEN), None, ("all 4 gradients match",)),
    "nielsen_declared_with_the_default_reduction": Case(
        lambda: c.nielsen(spec=c.nielsen_spec(reduction="mean", scale=1.0)), same("scaled", *NIELSEN), ["w1", "b1"],
        ("your code is consistent with reduction='batch_mean', scale=0.5; declare it",
         "the declared spec has reduction='mean', scale=1.0"),
        absent=("gradients are wrong", "Likely cause"), factors=dict.fromkeys(NIELSEN, 5.0),
        spec="reduction='batch_mean', scale=0.5"),
    "nielsen_weights_updated_inside_the_sample_loop": Case(
        lambda: c.nielsen(c.PER_SAMPLE_UPDATE), same("wrong", *NIELSEN), ["w1", "b1"],
        ("replaying that update loop reproduces your gradients exactly", "the layer rule does not apply"),
        absent=("the error enters at",), cause="the weights are updated inside the per-sample loop"),
    # --- Nielsen network2.py: cross-entropy, L2 decay (1 - eta*lmbda/n) w ------------------------
    "nielsen2_correct_update_with_l2": Case(lambda: c.nielsen2(), same("ok", *NIELSEN), None),
    "nielsen2_eta_not_divided_by_m": Case(
        lambda: c.nielsen2(c.ETA_NOT_OVER_M), same("scaled", *NIELSEN), ["w1", "b1"],
        ("20 is the batch size m = 20", "x the reference's data term", "the factor follows the batch size m"),
        factors=dict.fromkeys(NIELSEN, 20.0), terms={"w0": "data term", "w1": "data term"}),
    "nielsen2_decay_on_the_biases": Case(
        lambda: c.nielsen2(c.DECAY_ON_BIASES), {**same("ok", "w0", "w1"), **same("wrong", "b0", "b1")}, ["b1"],
        ("0.005 = 2*l2 with the declared l2 = 0.0025", "only bias gradients are wrong"),
        cause="the L2 gradient is applied to the biases too"),
    # --- cs231n TwoLayerNet at its own init (std 1e-4, zero biases) ------------------------------
    "cs231n_reg_correct": Case(lambda: c.cs231n(c.FULL), same("ok", *CS231N), None,
                               ("your biases are all zero (layer 0, layer 1)", "every gradient matches there too")),
    "cs231n_half_reg_correct": Case(lambda: c.cs231n(c.HALF), same("ok", *CS231N), None),
    "cs231n_data_term_sign_flipped": Case(
        lambda: c.cs231n(c.FULL, c.SIGN_FLIPPED_DATA), same("sign_flipped", *CS231N), ["W2", "b2"],
        ("equals -1 x the reference's data term: the sign is flipped", "2*l2*W with l2 = 0.05, which matches"),
        factors=dict.fromkeys(CS231N, -1.0), terms={"W1": "data term", "W2": "data term"}),
    "cs231n_data_term_missing_one_over_m": Case(
        lambda: c.cs231n(c.FULL, c.MISSING_ONE_OVER_M), same("scaled", *CS231N), ["W2", "b2"],
        ("5 is the batch size m = 5", "the factor follows the batch size m"), factors=dict.fromkeys(CS231N, 5.0),
        terms={"W1": "data term", "W2": "data term"}),
    "cs231n_two_reg_w_for_a_half_reg_loss": Case(
        lambda: c.cs231n(c.HALF, c.DOUBLE_DECAY), {**same("wrong", "W1", "W2"), **same("ok", "b1", "b2")}, ["W2"],
        ("the L2 term is 2 x the declared 2*l2*W", "only the L2 terms are wrong"),
        cause="twice the declared penalty's"),
    "cs231n_decay_with_the_wrong_sign": Case(
        lambda: c.cs231n(c.FULL, c.DECAY_WRONG_SIGN), {**same("wrong", "W1", "W2"), **same("ok", "b1", "b2")}, ["W2"],
        ("weight decay with the wrong sign (the data term matches)",), cause="weight decay with the wrong sign"),
    "cs231n_decay_on_the_zero_biases": Case(
        lambda: c.cs231n(c.FULL, c.DECAY_ON_CS231N_BIASES), {**same("ok", "W1", "W2"), **same("wrong", "b1", "b2")}, ["b2"],
        ("at your weights every gradient matches, but your biases are all zero",
         "0.1 = 2*l2 with the declared l2 = 0.05", f"at {DRAWN} on 5 samples"),
        cause="the L2 gradient is applied to the biases too", point=DRAWN),
    "cs231n_b1_left_at_zeros": Case(
        lambda: c.cs231n(c.FULL, c.B1_LEFT_AT_ZEROS), {**same("ok", "W1", "W2", "b2"), "b1": "zero"}, ["b1"],
        ("your gradients disagree with central differences of your own loss: the backprop is wrong",), absent=(" agree with central", " agrees with central")),
    "cs231n_relu_mask_from_the_gradient": Case(
        lambda: c.cs231n(c.FULL, c.RELU_MASK_FROM_GRADIENT), {**same("wrong", "W1", "b1"), **same("ok", "W2", "b2")},
        ["W1", "b1"], ("your gradients disagree with central differences of your own loss: the backprop is wrong",),
        absent=(" agree with central", " agrees with central", "your loss is not the declared one")),
    "cs231n_reg_code_declared_with_half_reg": Case(
        lambda: c.cs231n(c.FULL, l2=0.5 * c.REG), {**same("wrong", "W1", "W2"), **same("ok", "b1", "b2")}, ["W2"],
        ("your code is consistent with l2=0.05; declare it",), absent=("instead of 2*l2*W", "gradients are wrong"),
        spec="l2=0.05"),
    "cs231n_half_reg_code_declared_with_reg": Case(
        lambda: c.cs231n(c.HALF, l2=c.REG), {**same("wrong", "W1", "W2"), **same("ok", "b1", "b2")}, ["W2"],
        ("your code is consistent with l2=0.025; declare it",), absent=("instead of 2*l2*W", "gradients are wrong"),
        spec="l2=0.025"),
    # --- Ng ex4: unrolled Theta, bias column first, labels 1..K as (m, 1), lambda/(2m) ------------
    "ng_correct": Case(lambda: c.ng(), same("ok", *THETAS), None, ("l2 0.05 (l2 / (2m) with l2 = 1, m = 10)",)),
    "ng_correct_zero_based_labels": Case(
        lambda: c.ng(c.ZERO_BASED_LABELS, labels="zero_based", targets=lambda y: y.ravel() - 1), same("ok", *THETAS), None),
    "ng_correct_one_hot_targets": Case(
        lambda: c.ng(c.ONE_HOT_TARGETS, labels="one_hot", targets=lambda y: np.eye(3)[y.ravel() - 1]), same("ok", *THETAS), None),
    "ng_theta1_unrolled_column_major": Case(
        lambda: c.ng(c.THETA1_UNROLLED_COLUMN_MAJOR), {"Theta1": "transposed", "Theta2": "ok"}, ["Theta1"],
        ("unrolled column-major (MATLAB's Theta(:), ravel(order='F')) and rolled back row-major", "unroll-order mistake")),
    "ng_l2_on_the_bias_column": Case(
        lambda: c.ng(*c.L2_ON_BIAS_COLUMNS), same("wrong", *THETAS), ["Theta2"],
        ("only column 0 (the bias column) of 7 differs", "an L2 term on the bias column (column 0)",
         "0.1 = 2*l2 with the declared l2 = 0.05"), cause="the L2 gradient is applied to the biases too"),
    "ng_bias_column_zeroed": Case(
        lambda: c.ng(c.BIAS_COLUMN_ZEROED), same("zero", *THETAS), ["Theta2"],
        ("its bias column (column 0) is all zeros", "its weights match the reference"), cause="Theta_grad[:, 0] = 0",
        terms=dict.fromkeys(THETAS, "bias column (column 0)")),
    "ng_data_term_missing_one_over_m": Case(
        lambda: c.ng(*c.NG_MISSING_ONE_OVER_M), same("scaled", *THETAS), ["Theta2"],
        ("10 is the batch size m = 10", "the factor follows the batch size m"), factors=dict.fromkeys(THETAS, 10.0),
        terms=dict.fromkeys(THETAS, "data term")),
}


@pytest.mark.parametrize("name", CASES)
def test_real_code_verdict(name):
    case = CASES[name]
    spec, params, X, y, kwargs = case.build()
    result = diagnose(spec, params, X, y, **kwargs)
    report = str(result)
    assert result.error is None, report
    assert result.kinds == case.kinds, report
    assert result.culprit == case.culprit, report
    assert result.ok is (case.culprit is None), report
    assert result.point == case.point, report
    assert result.consistent_spec == case.spec, report
    for phrase in case.phrases:
        assert phrase in report, f"{phrase!r} is not in the report:\n{report}"
    for phrase in case.absent:
        assert phrase not in report, f"{phrase!r} should not be in the report:\n{report}"
    if case.cause:
        assert result.cause and case.cause in result.cause, report
    for param, factor in case.factors.items():
        assert result.finding(param).factor == pytest.approx(factor, rel=1e-6), report
    for param, term in case.terms.items():
        assert result.finding(param).term == term, report


def test_own_loss_claims_only_what_it_measured_at_cs231n_init():
    """At std 1e-4 weights (gradients ~1e-5, pre-activations ~1e-3) the steps shrink to fit
    between the kinks and the allowed error is the measured one: the correct code agrees
    everywhere, the bugs disagree, and nothing is called agreeing unless it was checked."""
    from comparisons.doctor.batch import make_batch
    from comparisons.doctor.layout import NetworkLayout
    from comparisons.doctor.numeric import own_loss_differences
    from comparisons.doctor.reference import reference_gradients
    from comparisons.doctor.usercode import UserCode
    from comparisons.tolerances import doctor_tolerance

    def statuses(*edits):
        spec, params, X, y, kwargs = c.cs231n(c.FULL, *edits)
        layout = NetworkLayout.for_params(spec, kwargs["mapping"], params)
        net = spec.build()
        batch = make_batch(net, X, y, False)
        user = UserCode(kwargs["grad_fn"], None, None, layout.names, layout.shapes)
        first = user.evaluate(params, X, y, "first")
        reference = layout.to_user(reference_gradients(spec, layout.to_canonical(params), batch.X, batch.y).grads)
        checks = own_loss_differences(user, params, batch, layout, net, layout.names, first.grads, reference,
                                      doctor_tolerance(False))
        assert all(check.step < 1e-3 for check in checks.values())
        return {name: check.status for name, check in checks.items()}

    assert statuses() == same("agrees", *CS231N)
    assert statuses(c.B1_LEFT_AT_ZEROS) == {**same("agrees", "W1", "W2", "b2"), "b1": "disagrees"}
    assert statuses(c.RELU_MASK_FROM_GRADIENT) == {**same("disagrees", "W1", "b1"), **same("agrees", "W2", "b2")}


def test_unresolvable_gradients_are_not_called_agreeing():
    """A bias gradient below the stencil's measured error (a loss of 2e12, gradients of 1e-7)
    returned as 50: central differences cannot tell 50 from 0 there, and the report says so."""
    from comparisons.doctor import Bias, NetSpec, Weight

    spec = NetSpec(sizes=[2, 2, 1], activations=["tanh", "linear"], loss="squared_error", reduction="sum", scale=0.5)
    mapping = {"W1": Weight(0), "b1": Bias(0), "W2": Weight(1), "b2": Bias(1)}
    rng = np.random.default_rng(0)
    params = {"W1": rng.normal(size=(2, 2)), "b1": rng.normal(size=2), "W2": 1e-13 * rng.normal(size=(2, 1)), "b2": np.ones(1)}
    X, y = rng.normal(size=(4, 2)), np.full((4, 1), 1e6)

    def constant_bias_gradient(params, X, y):
        a = np.tanh(X @ params["W1"] + params["b1"])
        out = a @ params["W2"] + params["b2"]
        d = out - y
        da = (d @ params["W2"].T) * (1 - a ** 2)
        return 0.5 * np.sum(d ** 2), {"W1": X.T @ da, "b1": np.full(2, 50.0), "W2": a.T @ d, "b2": d.sum(0)}

    result = diagnose(spec, params, X, y, mapping=mapping, grad_fn=constant_bias_gradient)
    assert result.kinds == {"W1": "ok", "b1": "wrong", "W2": "ok", "b2": "ok"}, str(result)
    own = next(p for p in result.probes if p.name == "own loss")
    assert own.summary.startswith("b1 could not be checked against your loss: at this point its gradient is below what "
                                  "central differences resolve"), str(result)
    assert own.details["b1"]["status"] == "unresolved"
    assert "could not check it" in result.finding("b1").evidence


def test_nielsen_raw_backprop_return_is_an_error_with_the_dict_to_return():
    spec, params, X, Y, kwargs = c.nielsen_raw_backprop()
    result = diagnose(spec, params, X, Y, **kwargs)
    assert not result.ok and result.findings == [] and result.error.kind == "bad_return", str(result)
    assert ("return loss, {'w0': nabla_w[0], 'b0': nabla_b[0].sum(axis=1, keepdims=True), 'w1': nabla_w[1], "
            "'b1': nabla_b[1].sum(axis=1, keepdims=True)}") in result.error.message
    assert "could not judge the gradients, your code failed" in str(result)


NIELSEN_FILE = '''
import sys
sys.path.insert(0, {root!r})
import numpy as np
from zoo.real import harness

network = harness.load("nielsen_network")


def backprop(params, X, Y):
    return harness.nielsen_net(network, params).backprop(X, Y)
'''

NIELSEN_TOML = '''
sizes = [4, 6, 10]
activations = ["sigmoid", "sigmoid"]
loss = "squared_error"
reduction = "batch_mean"
scale = 0.5
samples_as_columns = true
[mapping.w0]
kind = "weight"
layer = 0
layout = "out_in"
[mapping.b0]
kind = "bias"
layer = 0
[mapping.w1]
kind = "weight"
layer = 1
layout = "out_in"
[mapping.b1]
kind = "bias"
layer = 1
[data]
npz = "batch.npz"
[params]
init = "uniform"
'''


def test_cli_does_not_exit_1_when_the_code_returns_the_wrong_structure(tmp_path, capsys):
    from pathlib import Path

    _, _, X, Y, _ = c.nielsen_raw_backprop()
    np.savez(tmp_path / "batch.npz", X=X, y=Y)
    (tmp_path / "net.py").write_text(NIELSEN_FILE.format(root=str(Path(__file__).parent)))
    (tmp_path / "net.toml").write_text(NIELSEN_TOML)
    code = main(["doctor", f"{tmp_path / 'net.py'}:backprop", "--spec", str(tmp_path / "net.toml")])
    out = capsys.readouterr().out
    assert code == 2, out
    assert "returned the wrong structure" in out and "nabla_w[0]" in out


NG_TOML = '''
sizes = [4, 6, 3]
activations = ["sigmoid", "sigmoid"]
loss = "binary_cross_entropy"
reduction = "batch_mean"
l2 = {{lambda = 1.0, per = "2m"}}
labels = "one_based"
[mapping.Theta1]
kind = "augmented_weight"
layer = 0
layout = "out_in"
[mapping.Theta2]
kind = "augmented_weight"
layer = 1
layout = "out_in"
[data]
npz = "batch.npz"
{batch}
[params]
npz = "weights.npz"
'''

NG_FILE = '''
import sys
sys.path.insert(0, {root!r})
from zoo.real import harness

cost = harness.ng_grad_fn(harness.load("ng_ex4"), 1.0)
'''


@pytest.mark.parametrize("batch", ["", "batch = 6"])
def test_ng_l2_per_sample_and_one_based_labels_declared_once_in_toml(tmp_path, batch):
    """l2 = {lambda, per = "2m"} is Ng's lambda / (2 m) on whatever batch the doctor uses (the
    whole file, the first 6 samples, and the half batch of the probe), with labels 1..K as (m, 1)."""
    from pathlib import Path

    from comparisons.doctor import diagnose_file, load_spec_file

    params, X, y = c.h.ng_point()
    np.savez(tmp_path / "batch.npz", X=X, y=y)
    np.savez(tmp_path / "weights.npz", **params)
    (tmp_path / "ng.toml").write_text(NG_TOML.format(batch=batch))
    (tmp_path / "ng.py").write_text(NG_FILE.format(root=str(Path(__file__).parent)))
    loaded = load_spec_file(tmp_path / "ng.toml")
    assert (loaded.spec.l2, loaded.spec.l2_per, loaded.labels) == (1.0, "2m", "one_based")
    result = diagnose_file(tmp_path / "ng.py", "cost", tmp_path / "ng.toml")
    m = 6 if batch else 10
    assert result.ok, str(result)
    assert f"l2 {1 / (2 * m):g} (l2 / (2m) with l2 = 1, m = {m})" in str(result)


@pytest.mark.parametrize("table, message", [
    ('l2 = {lambda = 1.0, per = "2m"}\nl2_per = "m"', "not both"),
    ('l2 = {lambda = 1.0, per = "3m"}', "l2_per must be one of None, 'm', '2m'"),
    ('l2 = {lamda = 1.0}', r"unknown key\(s\) \['lamda'\]"),
])
def test_bad_per_sample_l2_declarations(tmp_path, table, message):
    from comparisons.doctor import load_spec_file

    params, X, y = c.h.ng_point()
    np.savez(tmp_path / "batch.npz", X=X, y=y)
    np.savez(tmp_path / "weights.npz", **params)
    (tmp_path / "ng.toml").write_text(NG_TOML.format(batch="").replace('l2 = {lambda = 1.0, per = "2m"}', table))
    with pytest.raises(DoctorInputError, match=message):
        load_spec_file(tmp_path / "ng.toml")


@pytest.mark.parametrize("labels, targets, message", [
    (None, None, 'y has shape (10, 1) and holds integer class labels 1..3, but the network has 3 outputs, so the reference '
                 'needs one target per output: declare the label encoding, labels="one_based" (class labels 1..3, as Ng\'s '
                 'ex4 data holds them) (1..3 fit); the doctor then one-hot encodes y for the reference and your code still '
                 'gets y as it is. Or pass one-hot targets of shape (10, 3)'),
    (None, lambda y: y.ravel() - 1, 'declare the label encoding, labels="zero_based" (class labels 0..2) (0..2 fit)'),
    (None, lambda y: (y.ravel() % 2) + 1, 'labels="one_based" (class labels 1..3, as Ng\'s ex4 data holds them) or '
                                          'labels="zero_based" (class labels 0..2) (1..2 fit both; say which your code uses)'),
    ("zero_based", None, "labels='zero_based' means class labels 0..2 for 3 outputs, but y holds 3; y holds 1..3, which "
                         "fits labels='one_based'"),
    ("one_based", lambda y: y.astype(float) + 0.5, "labels='one_based' needs one integer class label per sample"),
    ("one_based", lambda y: np.eye(3)[y.ravel() - 1], r"needs one integer class label per sample, as an array of shape (10,)"),
])
def test_label_encodings_are_declared_or_named_exactly(labels, targets, message):
    spec, params, X, y, kwargs = c.ng(labels=labels, targets=targets)
    with pytest.raises(DoctorInputError) as raised:
        diagnose(spec, params, X, y, **kwargs)
    text = str(raised.value)
    assert message in text, text
    assert text.count("y has shape") <= 1, text


def test_integer_labels_of_a_softmax_network_stay_zero_based_by_default():
    spec, params, X, y, kwargs = c.cs231n(c.FULL)
    assert diagnose(spec, params, X, y, **kwargs).ok
    with pytest.raises(DoctorInputError, match='labels="one_based"'):
        diagnose(spec, params, X, y + 1, **kwargs)


def test_transposed_x_under_samples_as_columns_is_one_plain_sentence():
    spec, params, X, Y, kwargs = c.nielsen()
    with pytest.raises(DoctorInputError) as raised:
        diagnose(spec, params, X.T, Y.T, **kwargs)
    assert str(raised.value) == (
        "X has shape (8, 4): with samples_as_columns=True X must be (features, m) = (4, m), but yours has the 4 features "
        "on axis 1, so it holds samples as rows: pass samples_as_columns=False if your code takes samples as rows, or "
        "pass X.T (and y.T)")
    with pytest.raises(DoctorInputError) as raised:
        diagnose(spec, params, X, Y.T, **kwargs)
    assert str(raised.value).startswith("y has shape (8, 10): it must be (outputs, m) with samples_as_columns=True = (10, 8)")


def test_glorot_uniform_zero_biases_are_checked_at_biases_the_doctor_draws():
    """Nielsen's network2 with the decay on the biases too, at glorot_uniform weights (zero
    biases): invisible at the user's point, found at the drawn one, and the report says where."""
    import scratchnet as sn
    from comparisons.doctor.layout import NetworkLayout

    spec, params, X, Y, kwargs = c.nielsen2(c.DECAY_ON_BIASES)
    canonical = sn.init.initialize("glorot_uniform", list(spec.sizes), spec.build().activations, True, np.float64, 0)
    layout = NetworkLayout(spec, kwargs["mapping"], {name: value.shape for name, value in params.items()})
    glorot = layout.to_user(canonical, parameters=True)
    assert not any(np.any(glorot[name]) for name in ("b0", "b1"))
    result = diagnose(spec, glorot, X, Y, **kwargs)
    assert result.point == DRAWN and result.kinds == {"w0": "ok", "b0": "wrong", "w1": "ok", "b1": "wrong"}, str(result)
    assert "at your weights every gradient matches, but your biases are all zero (layer 0, layer 1)" in result.notes[0]
    assert "the L2 gradient is applied to the biases too" in result.cause


def test_a_dead_hidden_layer_is_said_to_hide_the_layers_below():
    spec, params, X, y, kwargs = c.cs231n(c.FULL, c.B1_LEFT_AT_ZEROS)
    params = {**params, "W1": -np.abs(params["W1"])}
    result = diagnose(spec, params, np.abs(X), y, **kwargs)
    assert any("every unit of layer 0 (relu) is inactive on every sample" in note for note in result.notes), str(result)
