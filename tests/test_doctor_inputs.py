"""Bad input to the doctor raises DoctorInputError naming the argument and the fix."""
import numpy as np
import pytest

from comparisons.doctor import AugmentedWeight, Bias, DoctorInputError, NetSpec, Weight, diagnose

SPEC = NetSpec(sizes=[4, 5, 3], activations=["sigmoid", "softmax"], loss="categorical_cross_entropy", reduction="batch_mean")
MAPPING = {"W1": Weight(0), "b1": Bias(0), "W2": Weight(1), "b2": Bias(1)}


def params():
    rng = np.random.default_rng(0)
    return {"W1": rng.normal(size=(4, 5)), "b1": rng.normal(size=5), "W2": rng.normal(size=(5, 3)), "b2": rng.normal(size=3)}


def batch():
    rng = np.random.default_rng(1)
    return rng.normal(size=(6, 4)), np.eye(3)[np.arange(6) % 3]


def unused_grad_fn(params, X, y):
    raise AssertionError("not called: the input is rejected first")


def run(params_=None, mapping=MAPPING, X=None, y=None, **kwargs):
    X0, y0 = batch()
    kwargs.setdefault("grad_fn", unused_grad_fn)
    return diagnose(SPEC, params() if params_ is None else params_, X0 if X is None else X, y0 if y is None else y,
                    mapping=mapping, **kwargs)


@pytest.mark.parametrize("make, message", [
    (lambda: Weight(0, "in-out"), "did you mean 'in_out'"),
    (lambda: AugmentedWeight(0, "out_in", "front"), "unknown bias_position 'front'"),
    (lambda: AugmentedWeight(0, "out_in", "first", 0.0), "bias_input must be the constant fed to the bias row"),
    (lambda: Bias(-1), "layer must be a weight-layer index >= 0"),
    (lambda: NetSpec(sizes=[2, 1], activations=["sigmod"]), "did you mean 'sigmoid'"),
    (lambda: NetSpec(sizes=[2, 3, 1], activations=["tanh"]), "one activation per weight layer"),
    (lambda: NetSpec(sizes=[2, 1], activations="tanh"), "one activation per weight layer"),
])
def test_bad_declarations(make, message):
    with pytest.raises(DoctorInputError, match=message):
        make()


@pytest.mark.parametrize("mapping, message", [
    ({**MAPPING, "W3": Weight(2)}, r"places layer 2, but the network sizes \[4, 5, 3\] has 2 weight layers \(0..1\)"),
    ({"W1": Weight(0), "b1": Bias(0), "W2": Weight(1)}, "does not cover every network parameter; missing the bias of layer 1"),
    ({"W1": Weight(0), "b1": Bias(0), "b2": Bias(1)}, "missing the weights of layer 1"),
    ({**MAPPING, "T1": AugmentedWeight(1, "in_out")}, "places the weights of layer 1 twice: 'W2' and 'T1'"),
    ({**MAPPING, "W1": "in_out"}, r"mapping\['W1'\] must be Weight\(layer, layout\)"),
])
def test_bad_mappings(mapping, message):
    with pytest.raises(DoctorInputError, match=message):
        run(mapping=mapping)


def test_bias_in_a_bias_free_network():
    spec = NetSpec(sizes=[4, 3], activations=["softmax"], loss="categorical_cross_entropy", bias=False)
    with pytest.raises(DoctorInputError, match="holds a bias, but the NetSpec has bias=False"):
        diagnose(spec, {"W": np.zeros((4, 3)), "b": np.zeros(3)}, *batch(), mapping={"W": Weight(0), "b": Bias(0)},
                 grad_fn=unused_grad_fn)


@pytest.mark.parametrize("name, shape, message", [
    ("W1", (5, 4), "that is the 'out_in' layout: declare Weight\\(0, layout='out_in'\\)"),
    ("W1", (5, 5), "it has one extra row/column: declare AugmentedWeight"),
    ("W1", (7, 7), r"expects \(fan_in, fan_out\) = \(4, 5\)"),
    ("b1", (5, 2), r"expects any of \(5,\), \(5, 1\), \(1, 5\)"),
])
def test_shapes_no_declared_layout_has(name, shape, message):
    bad = params()
    bad[name] = np.zeros(shape)
    with pytest.raises(DoctorInputError, match=message):
        run(bad)


def test_params_must_match_the_mapping_exactly():
    with pytest.raises(DoctorInputError, match="params has no array 'b2'"):
        run({k: v for k, v in params().items() if k != "b2"})
    with pytest.raises(DoctorInputError, match=r"params has \['lr'\] which the mapping does not place"):
        run({**params(), "lr": np.array(0.1)})
    with pytest.raises(DoctorInputError, match="must be a numeric array"):
        run({**params(), "W1": np.array([["a"] * 5] * 4)})


def test_data_in_the_wrong_orientation_suggests_samples_as_columns():
    X, y = batch()
    with pytest.raises(DoctorInputError, match="pass samples_as_columns=True"):
        run(X=X.T, y=y.T)
    with pytest.raises(DoctorInputError, match="pass samples_as_columns=False"):
        run(X=X, y=y, samples_as_columns=True)
    with pytest.raises(DoctorInputError, match="y has shape"):
        run(y=y[:, :2])


def test_function_arguments():
    with pytest.raises(DoctorInputError, match="exactly one of grad_fn"):
        run(step_fn=unused_grad_fn)
    with pytest.raises(DoctorInputError, match="exactly one of grad_fn"):
        run(grad_fn=None)
    with pytest.raises(DoctorInputError, match="step_fn needs lr="):
        run(grad_fn=None, step_fn=unused_grad_fn)
    with pytest.raises(DoctorInputError, match="lr must be a positive number"):
        run(grad_fn=None, step_fn=unused_grad_fn, lr=-0.1)
    with pytest.raises(DoctorInputError, match="must be callable"):
        run(grad_fn="loss_and_grads")
    with pytest.raises(DoctorInputError, match="spec must be a NetSpec"):
        diagnose({"sizes": [4, 5, 3]}, params(), *batch(), grad_fn=unused_grad_fn)
