"""Layers: canonical names made in one place, the plain-data network description and its round trip,
the Dense layer's gradients, and the torch / Keras backends building from the layer list."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

import scratchnet as sn
from scratchnet.layers import Dense, Layer

ROOT = Path(__file__).resolve().parents[1]
TORCH_TOLERANCE = 1e-10  # normwise relative, float64, as tests/test_scratchnet_gradients.py


class Double(Layer):
    """A test layer without parameters (like a future flatten): out = 2 x."""

    kind = "double"

    def output_shape(self, input_shape):
        return tuple(input_shape)

    def forward(self, params, x, state=None):
        out = 2.0 * x
        return out, out

    def backward(self, params, x, z, out, grad_z, need_input_grad=True):
        return {}, (2.0 * grad_z if need_input_grad else None)

    def backward_seeds(self, params, x, seeds, need_input_grad=True):
        return {}, (2.0 * seeds if need_input_grad else None)


class Tally(Double):
    """A test layer with state (like batch-norm running statistics) and no parameters."""

    kind = "tally"

    def state_slots(self):
        return ("count",)

    def state_shapes(self, input_shape):
        return {"count": (1,)}

    def init_state(self, input_shape, dtype):
        return {"count": np.zeros(1, dtype=dtype)}


def data(n_in, n_out, m=6, seed=0, classes=False):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(m, n_in))
    y = np.eye(n_out)[rng.integers(0, n_out, m)] if classes else rng.normal(size=(m, n_out))
    return X, y


def normwise_relative(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300))


MLPS = {
    "xor": dict(sizes=[2, 3, 1], activations=["sigmoid", "sigmoid"]),
    "ce-no-bias-l2": dict(sizes=[4, 5, 3], activations=[{"name": "leaky_relu", "negative_slope": 0.2}, "softmax"],
                          loss="categorical_cross_entropy", reduction="batch_mean", bias=False, l2=0.01),
    "bce-scale": dict(sizes=[3, 4, 4, 2], activations=["elu", "tanh", "sigmoid"], loss="binary_cross_entropy",
                      reduction="sum", scale=0.5),
    "float32": dict(sizes=[3, 6, 2], activations=["relu", "linear"], dtype="float32", init="he_normal"),
}


# ---------------------------------------------------------------------------------- names
def test_names_come_from_one_function():
    assert sn.layers.layer_prefix("dense", 0) == "dense_0"
    assert sn.layers.param_name("dense", 2, "W") == "dense_2.W"
    assert sn.layers.parse_name("dense_12.b") == ("dense", 12, "b")
    assert sn.layers.parse_name("batch_norm_3.running_mean") == ("batch_norm", 3, "running_mean")
    with pytest.raises(ValueError, match="not a canonical name"):
        sn.layers.parse_name("W1")


@pytest.mark.parametrize("bias", [True, False])
def test_mlp_names_are_unchanged_and_generated_by_the_layers(bias):
    net = sn.MLP([5, 7, 3], ["tanh", "sigmoid"], bias=bias)
    expected = ["dense_0.W", "dense_0.b", "dense_1.W", "dense_1.b"] if bias else ["dense_0.W", "dense_1.W"]
    assert list(net.params) == expected
    assert sn.layers.param_names(net.layers) == expected
    assert list(sn.layers.param_shapes(net.layers, net.input_shape).items()) == [
        (name, value.shape) for name, value in net.params.items()]
    assert net.param_names(1) == ({"W": "dense_1.W", "b": "dense_1.b"} if bias else {"W": "dense_1.W"})
    assert [type(layer) for layer in net.layers] == [Dense, Dense]


def test_layers_without_parameters_still_take_an_index():
    layers = [Dense(3, "tanh"), Double(), Tally(), Dense(2, "linear", bias=False)]
    assert sn.layers.param_names(layers) == ["dense_0.W", "dense_0.b", "dense_3.W"]
    assert sn.layers.state_names(layers) == ["tally_2.count"]
    net = sn.Network(layers, input_shape=[4])
    assert list(net.params) == ["dense_0.W", "dense_0.b", "dense_3.W"]
    assert list(net.state) == ["tally_2.count"] and net.layers[2].has_state and not net.layers[0].has_state


def test_no_dense_name_is_built_outside_the_naming_function():
    pattern = re.compile(r"""f["'][^"'\n]*dense_\{""")
    offenders = [f"{path.relative_to(ROOT)}:{number}"
                 for package in ("scratchnet", "reference", "comparisons")
                 for path in sorted((ROOT / package).rglob("*.py"))
                 for number, line in enumerate(path.read_text().splitlines(), 1) if pattern.search(line)]
    assert offenders == []


# ---------------------------------------------------------------------------------- description
@pytest.mark.parametrize("name", MLPS)
def test_spec_round_trip_is_bit_identical(name):
    options = MLPS[name]
    net = sn.MLP(seed=3, **options)
    spec = net.spec()
    assert json.loads(json.dumps(spec)) == spec  # plain data
    assert set(spec) == {"input_shape", "layers", "loss", "reduction", "scale", "l2", "dtype"}
    assert spec["input_shape"] == [options["sizes"][0]]
    assert [layer["type"] for layer in spec["layers"]] == ["dense"] * net.n_layers
    rebuilt = sn.network_from_spec(spec, net.params)
    assert isinstance(rebuilt, sn.MLP) and rebuilt.spec() == spec
    assert list(rebuilt.params) == list(net.params)
    for key, value in net.params.items():
        assert rebuilt.params[key].dtype == value.dtype and np.array_equal(rebuilt.params[key], value)
    X, y = data(options["sizes"][0], options["sizes"][-1], classes=options.get("loss", "").startswith("categorical"))
    if options.get("loss") == "binary_cross_entropy":
        y = (y > 0).astype(float)
    loss, grads = net.loss_and_grads(X, y)
    loss_again, grads_again = rebuilt.loss_and_grads(X, y)
    assert loss_again == loss
    assert list(grads_again) == list(grads)
    assert all(np.array_equal(grads_again[k], grads[k]) and grads_again[k].dtype == grads[k].dtype for k in grads)


@pytest.mark.parametrize("init", ["glorot_uniform", "torch_default", "nguyen_widrow"])
def test_network_from_spec_draws_what_the_mlp_constructor_draws(init):
    net = sn.MLP([3, 5, 2], ["tanh", "linear"], init=init, seed=7)
    rebuilt = sn.network_from_spec(net.spec(), init=init, seed=7)
    assert all(np.array_equal(rebuilt.params[k], v) for k, v in net.params.items())
    same = sn.Network([Dense(5, "tanh"), Dense(2, "linear")], input_shape=3, init=init, seed=7)
    assert all(np.array_equal(same.params[k], v) for k, v in net.params.items())


def test_spec_defaults_and_general_networks():
    spec = {"input_shape": [2], "layers": [{"type": "dense", "units": 3, "activation": "tanh"},
                                           {"type": "dense", "units": 1, "activation": "linear", "bias": False}]}
    net = sn.network_from_spec(spec)
    assert type(net) is sn.Network  # mixed biases: not an MLP
    assert list(net.params) == ["dense_0.W", "dense_0.b", "dense_1.W"]
    assert net.spec() == {**spec, "layers": [{**spec["layers"][0], "bias": True}, spec["layers"][1]],
                          "loss": "squared_error", "reduction": "mean", "scale": 1.0, "l2": 0.0, "dtype": "float64"}
    assert sn.network_from_spec(net.spec()).spec() == net.spec()
    assert Dense.from_spec(Dense(4, {"name": "elu", "alpha": 0.5}).to_spec()) == Dense(4, {"name": "elu", "alpha": 0.5})


@pytest.mark.parametrize("spec, error, message", [
    ({"input_shape": [2], "layers": [{"type": "dense", "units": 1}], "los": "squared_error"}, ValueError,
     "unknown network spec key 'los'; did you mean 'loss'"),
    ({"layers": [{"type": "dense", "units": 1}]}, ValueError, "network spec needs input_shape"),
    ({"input_shape": [2], "layers": [{"type": "dens", "units": 1}]}, ValueError,
     r"layers\[0\]: unknown layer type 'dens'; did you mean 'dense'"),
    ({"input_shape": [2], "layers": [{"type": "dense", "unit": 1}]}, ValueError,
     r"layers\[0\]: dense layer has no option 'unit'; did you mean 'units'"),
    ({"input_shape": [2], "layers": [{"type": "dense", "units": 0}]}, ValueError,
     r"layers\[0\]: units must be a positive integer, got 0"),
    ({"input_shape": [2], "layers": [{"type": "dense", "units": 2, "activation": "softmax"},
                                     {"type": "dense", "units": 2}]}, ValueError, "softmax is only allowed on the last layer"),
    ({"input_shape": [1, 4, 4], "layers": [{"type": "dense", "units": 2}]}, ValueError,
     r"layers\[0\] \(dense\): a dense layer takes flat samples"),
    ({"input_shape": [2], "layers": []}, ValueError, "layers must be a non-empty list"),
])
def test_bad_descriptions_name_the_field(spec, error, message):
    with pytest.raises(error, match=message):
        sn.network_from_spec(spec)


def test_train_eval_switch_reaches_every_layer():
    net = sn.MLP([3, 4, 2], ["tanh", "linear"])
    X, _ = data(3, 2)
    before = net.predict(X)
    assert net.training and all(layer.training for layer in net.layers)
    assert net.eval() is net and not net.training and not any(layer.training for layer in net.layers)
    assert np.array_equal(net.predict(X), before)  # dense: the same in both modes
    net.train()
    assert all(layer.training for layer in net.layers)
    clone = net.copy().eval()
    assert net.layers[0].training and not clone.layers[0].training


# ---------------------------------------------------------------------------------- Dense
def test_dense_declares_its_layout_and_computes_x_at_W_plus_b():
    layer = Dense(3, "tanh")
    assert layer.param_shapes((4,)) == {"W": (4, 3), "b": (3,)}
    assert layer.output_shape((4,)) == (3,) and layer.regularized() == ("W",) and not layer.has_state
    assert layer.layout_text() == "W is (fan_in, fan_out), b is (fan_out,)"
    rng = np.random.default_rng(1)
    params = {"W": rng.normal(size=(4, 3)), "b": rng.normal(size=3)}
    x = rng.normal(size=(5, 4))
    z, out = layer.forward(params, x)
    assert np.array_equal(z, x @ params["W"] + params["b"]) and np.array_equal(out, np.tanh(z))
    grad_z = rng.normal(size=(5, 3))
    grads, grad_x = layer.backward(params, x, z, out, grad_z)
    assert np.array_equal(grads["W"], x.T @ grad_z) and np.array_equal(grads["b"], grad_z.sum(axis=0))
    assert np.array_equal(grad_x, grad_z @ params["W"].T)
    assert layer.backward(params, x, z, out, grad_z, need_input_grad=False)[1] is None


@pytest.mark.parametrize("layers, options", [
    ([Dense(4, "tanh")], {}),
    ([Dense(5, "softplus"), Dense(3, "sigmoid", bias=False)], {"loss": "binary_cross_entropy", "l2": 0.02}),
    ([Dense(4, {"name": "elu", "alpha": 0.5}), Double(), Dense(3, "softmax")],
     {"loss": "categorical_cross_entropy", "reduction": "batch_mean"}),
])
def test_dense_gradcheck(layers, options):
    net = sn.Network(layers, input_shape=[3], init="uniform", seed=2, **options)
    X, y = data(3, net.output_shape[0], classes=True)
    result = sn.gradcheck(net, X, y)
    assert result.ok, str(result)


def test_residual_jacobian_of_a_general_network():
    net = sn.Network([Dense(4, "tanh"), Double(), Dense(2, "linear", bias=False)], input_shape=[3], seed=1)
    X, y = data(3, 2)
    r, J = net.residual_jacobian(X, y)
    theta = sn.params.flatten(net.params)
    h = 1e-6
    numeric = np.stack([(net.forward(X, sn.params.unflatten(theta + h * e, net.params))[1][-1]
                         - net.forward(X, sn.params.unflatten(theta - h * e, net.params))[1][-1]).ravel() / (2 * h)
                        for e in np.eye(theta.size)], axis=1)
    assert np.allclose(J, numeric, rtol=1e-6, atol=1e-8)
    assert np.array_equal(r, (net.predict(X) - y).ravel())


# ---------------------------------------------------------------------------------- backends
SPECS = {
    "mlp": lambda: sn.MLP([3, 4, 2], ["tanh", "softmax"], loss="categorical_cross_entropy", l2=0.01, seed=4),
    "mixed-bias": lambda: sn.Network([Dense(5, {"name": "leaky_relu", "negative_slope": 0.2}), Dense(2, "sigmoid", bias=False)],
                                     input_shape=[3], loss="binary_cross_entropy", l2=0.03, seed=4),
}


@pytest.mark.parametrize("case", SPECS)
def test_torch_builds_from_the_layer_list(case):
    torch = pytest.importorskip("torch", reason="the torch backend needs torch: pip install -e '.[torch]'")
    from reference.torch_backend import LAYERS, TorchNetwork, reference_loss_and_grads
    from reference.torch_jacobian import TorchFlatNetwork

    net = SPECS[case]()
    model = TorchNetwork(net.spec(), torch)
    assert model.names == sn.layers.param_names(net.layers)
    assert [type(module) for module in model.modules] == [torch.nn.Linear] * net.n_layers
    assert set(LAYERS) >= {layer.kind for layer in net.layers}
    assert "W" in LAYERS["dense"].to_torch and "b" not in LAYERS["dense"].to_torch  # declared by the table entry
    model.load(net.params)
    for module, names in zip(model.modules, [net.param_names(i) for i in range(net.n_layers)]):
        assert np.array_equal(module.weight.detach().numpy(), net.params[names["W"]].T)
        assert (module.bias is None) == ("b" not in names)
    exported = model.export()
    assert list(exported) == list(net.params) and all(np.array_equal(exported[k], v) for k, v in net.params.items())
    X, y = data(3, net.output_shape[0], classes=True)
    loss, grads = net.loss_and_grads(X, y)
    torch_loss, torch_grads = reference_loss_and_grads(net.spec(), net.params, X, y)
    assert list(torch_grads) == list(grads)
    assert max([normwise_relative(torch_grads[k], grads[k]) for k in grads] + [normwise_relative(torch_loss, loss)]) < TORCH_TOLERANCE
    flat = TorchFlatNetwork(net.spec(), X, y)
    assert [name for name, _ in flat.layout] == list(net.params)
    value, gradient = flat.loss_and_grad_flat(sn.params.flatten(net.params))
    assert normwise_relative(gradient, sn.params.flatten(grads)) < TORCH_TOLERANCE


@pytest.mark.parametrize("case", SPECS)
def test_keras_builds_from_the_layer_list(case):
    pytest.importorskip("keras", reason="the keras backend needs Keras 3 on TensorFlow: pip install -e '.[keras]'")
    from reference.keras_backend import LAYERS, KerasBackend
    from reference.protocol import OptimizerSpec, Problem

    net = SPECS[case]()
    backend = KerasBackend(Problem(net.spec(), net.params, OptimizerSpec("sgd", {"lr": 0.1})))
    assert backend.names == sn.layers.param_names(net.layers)
    assert [layer.name for layer in backend.model.layers] == [sn.layers.layer_prefix("dense", i) for i in range(net.n_layers)]
    assert LAYERS["dense"].variables == {"W": "kernel", "b": "bias"} and not LAYERS["dense"].to_keras
    params = backend.get_params()
    assert list(params) == list(net.params) and all(np.array_equal(params[k], v) for k, v in net.params.items())
    X, y = data(3, net.output_shape[0], classes=True)
    loss, grads = net.loss_and_grads(X, y)
    keras_loss, keras_grads = backend.loss_and_grads(net.params, X, y)
    assert list(keras_grads) == list(grads)
    assert max([normwise_relative(keras_grads[k], grads[k]) for k in grads] + [normwise_relative(keras_loss, loss)]) < TORCH_TOLERANCE
