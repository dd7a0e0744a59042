"""The doctor on networks of layers (conv, pooling, flatten, dense): cs231n-style code composed
from layer functions, correct and broken, diagnosed directly and as a user backend in lockstep."""
from __future__ import annotations

import textwrap

import numpy as np
import pytest

import comparisons
import scratchnet as sn
from comparisons.cli import main as cli_main
from comparisons.doctor import Param, diagnose, diagnose_file, load_spec_file
from comparisons.doctor.spec import DoctorInputError
from tests.zoo_conv import convnet as zoo

MAPPING = {name: Param(param) for name, param in zoo.MAPPING.items()}


@pytest.fixture(scope="module")
def point():
    """Your weights (the network's draw, moved off its init) and one batch of digits images."""
    net = sn.network_from_spec(zoo.NETWORK, seed=1)
    rng = np.random.default_rng(0)
    digits = sn.data.digits(as_images=True)
    X, y = digits.X, digits.y
    users = {param: name for name, param in zoo.MAPPING.items()}
    params = {users[param]: value + 0.1 * rng.normal(size=value.shape) for param, value in net.params.items()}
    return params, X[:6], y[:6]


@pytest.mark.parametrize("name, grad_fn, kinds, culprit", zoo.ZOO, ids=[entry[0] for entry in zoo.ZOO])
def test_each_zoo_network_is_diagnosed_with_its_kind_and_culprit(point, name, grad_fn, kinds, culprit):
    params, X, y = point
    result = diagnose(zoo.NETWORK, params, X, y, mapping=MAPPING, grad_fn=grad_fn)
    assert result.error is None
    assert result.kinds == {array: kinds.get(array, "ok") for array in zoo.MAPPING}, str(result)
    assert result.culprit == culprit
    assert result.ok == (not kinds)


def test_the_layer_rule_names_the_layers_the_gradient_passes_through_and_the_own_loss_probe_says_backward(point):
    params, X, y = point
    name, grad_fn, _, _ = zoo.ZOO[2]  # max-pool gradient to every window element
    result = diagnose(zoo.NETWORK, params, X, y, mapping=MAPPING, grad_fn=grad_fn)
    assert "passes back through max_pool2d_1, flatten_2" in result.layer_rule
    assert "`parity doctor FILE --layer max_pool2d`" in result.layer_rule
    [probe] = result.probes
    assert probe.name == "own loss" and probe.summary.startswith(
        "your gradients disagree with central differences of your own loss: the backprop is wrong")
    assert {check["status"] for check in probe.details.values()} == {"disagrees"}
    assert result.loss.status == "match"


def test_a_summed_loss_is_said_to_be_another_reduction(point):
    params, X, y = point
    result = diagnose(zoo.NETWORK, params, X, y, mapping=MAPPING, grad_fn=zoo.ZOO[4][1])
    assert result.consistent_spec == "reduction='sum'" and result.loss.ratio == pytest.approx(6.0)
    assert "agree with central differences of your own loss, but not with the reference" in result.probes[0].summary


def test_layouts_are_declared_by_axes_and_shape(point):
    params, X, y = point
    correct = zoo.ZOO[0][1]

    def torch_layout(mine, X, y):  # W2 kept as (out, in) and b1 as a column, as torch / MATLAB code does
        loss, grads = correct({**mine, "W2": mine["W2"].T, "b1": mine["b1"].ravel()}, X, y)
        return loss, {**grads, "W2": grads["W2"].T, "b1": grads["b1"].reshape(-1, 1)}

    mapping = {**MAPPING, "W2": Param("dense_3.W", axes=(1, 0)), "b1": Param("conv2d_0.b", shape=(2, 1))}
    theirs = {**params, "W2": params["W2"].T.copy(), "b1": params["b1"].reshape(-1, 1)}
    assert diagnose(zoo.NETWORK, theirs, X, y, mapping=mapping, grad_fn=torch_layout).ok

    def transposed(mine, X, y):
        loss, grads = torch_layout(mine, X, y)
        return loss, {**grads, "W2": grads["W2"].T}

    result = diagnose(zoo.NETWORK, theirs, X, y, mapping=mapping, grad_fn=transposed)
    assert result.kinds["W2"] == "transposed" and result.kinds["W1"] == "ok"


def test_update_only_code_is_diagnosed_from_its_update(point):
    params, X, y = point
    flipped = zoo.ZOO[1][1]

    def step(mine, X, y, lr):
        _, grads = flipped(mine, X, y)
        return {name: mine[name] - lr * grads[name] for name in mine}

    result = diagnose(zoo.NETWORK, params, X, y, mapping=MAPPING, step_fn=step, lr=0.05)
    assert result.kinds == {"W1": "flipped_kernel", "b1": "ok", "W2": "ok", "b2": "ok"}
    assert result.loss.status == "unavailable"


@pytest.mark.parametrize("change, message", [
    (lambda m, p, n: ({**m, "W1": Param("conv2d_0.k")}, p, n), r"mapping\['W1'\]: unknown parameter 'conv2d_0.k'; did you mean 'conv2d_0.K'"),
    (lambda m, p, n: ({**m, "W2": Param("conv2d_0.K")}, p, n), r"mapping places conv2d_0.K twice: 'W1' and 'W2'"),
    (lambda m, p, n: ({k: v for k, v in m.items() if k != "b2"}, {k: v for k, v in p.items() if k != "b2"}, n),
     r"missing dense_3.b \(10,\)"),
    (lambda m, p, n: ({**m, "W1": Param("conv2d_0.K", axes=(0, 1, 2, 2))}, p, n), r"axes \[0, 1, 2, 2\] is not a permutation"),
    (lambda m, p, n: (m, {**p, "W2": p["W2"].T}, n), r"params\['W2'\] has shape \(10, 32\), but Param\('dense_3.W'\) expects \(32, 10\)"),
    (lambda m, p, n: (m, p, {**n, "layers": [*n["layers"][:3], {"type": "dropout", "rate": 0.5}, n["layers"][3]]}),
     r"your code draws its own dropout masks.*--layer dropout"),
], ids=["unknown-param", "twice", "missing", "bad-axes", "wrong-shape", "dropout"])
def test_bad_declarations_say_what_and_how(point, change, message):
    params, X, y = point
    mapping, params, network = change(dict(MAPPING), dict(params), dict(zoo.NETWORK))
    with pytest.raises(DoctorInputError, match=message):
        diagnose(network, params, X, y, mapping=mapping, grad_fn=zoo.ZOO[0][1])


def test_a_spec_file_with_layers_and_the_cli(tmp_path, capsys):
    (tmp_path / "doctor.toml").write_text(textwrap.dedent("""
        [network]
        input_shape = [1, 8, 8]
        layers = [
          {type = "conv2d", filters = 2, kernel_size = 3, padding = 1, activation = "relu"},
          {type = "max_pool2d", pool_size = 2},
          {type = "flatten"},
          {type = "dense", units = 10, activation = "softmax"},
        ]
        loss = "categorical_cross_entropy"
        reduction = "batch_mean"
        [mapping.W1]
        kind = "param"
        param = "conv2d_0.K"
        [mapping.b1]
        kind = "param"
        param = "conv2d_0.b"
        [mapping.W2]
        kind = "param"
        param = "dense_3.W"
        axes = [1, 0]
        [mapping.b2]
        kind = "param"
        param = "dense_3.b"
        [data]
        name = "digits"
        as_images = true
        batch = 8
        [params]
        init = "he_normal"
        seed = 3
    """))
    (tmp_path / "net.py").write_text(textwrap.dedent("""
        from tests.zoo_conv import convnet
        from tests.zoo_layers import broken

        flipped = convnet.make_loss_and_grads(conv_backward=broken.conv_backward_flipped)

        def loss_and_grads(params, X, y):  # W2 kept as (10, 32), as torch stores it
            loss, grads = flipped({**params, "W2": params["W2"].T}, X, y)
            return loss, {**grads, "W2": grads["W2"].T}
    """))
    loaded = load_spec_file(tmp_path / "doctor.toml")
    assert loaded.params["W2"].shape == (10, 32) and loaded.X.shape == (8, 1, 8, 8)
    result = diagnose_file(tmp_path / "net.py", "loss_and_grads", tmp_path / "doctor.toml")
    assert result.kinds == {"W1": "flipped_kernel", "b1": "ok", "W2": "ok", "b2": "ok"}
    assert cli_main(["doctor", f"{tmp_path / 'net.py'}:loss_and_grads", "--spec", str(tmp_path / "doctor.toml")]) == 1
    assert "W1 is the kernel gradient with its spatial axes reversed" in capsys.readouterr().out


def test_samples_as_columns_is_refused_for_a_network_of_layers(point):
    params, X, y = point
    with pytest.raises(DoctorInputError, match="samples_as_columns and class labels are for the MLP doctor"):
        diagnose(zoo.NETWORK, params, X, y, mapping=MAPPING, grad_fn=zoo.ZOO[0][1], samples_as_columns=True)


# ---------------------------------------------------------------------------------- in lockstep
def _scenario(code, mode, **user):
    return comparisons.Scenario.from_dict({
        "name": "user-cnn", "network": {"input_shape": zoo.NETWORK["input_shape"], "layers": zoo.LAYERS},
        "loss": {"name": zoo.NETWORK["loss"], "reduction": zoo.NETWORK["reduction"]},
        "optimizer": {"name": "sgd", "lr": 0.1, "momentum": 0.9},
        "data": {"name": "digits", "as_images": True, "n_samples": 24},
        "run": {"steps": 3, "backends": ["mine", "scratchnet", "torch"], "reference": "torch", "mode": mode,
                "batch_size": 8},
        "user": {"mine": {"code": code, **user}},
    })


TOML_MAPPING = {name: {"kind": "param", "param": param} for name, param in zoo.MAPPING.items()}


@pytest.mark.parametrize("mode", ["anchored", "free"])
def test_correct_conv_code_holds_parity_with_torch_in_lockstep(mode):
    pytest.importorskip("torch", reason="the reference is torch: pip install -e '.[torch]'")
    result = comparisons.run(_scenario(zoo.ZOO[0][1], mode, mapping=TOML_MAPPING))
    assert result.passed, result.verdict()
    mine = result.diffs[result.diffs.backend == "mine"]
    assert set(mine.quantity) == {"loss", "grad", "param", "state"} and mine.passed.all()  # state: the momentum
    assert result.extras["user_names"]["mine"] == {param: name for name, param in zoo.MAPPING.items()}


def test_a_flipped_kernel_in_lockstep_is_localised_and_diagnosed():
    pytest.importorskip("torch", reason="the reference is torch: pip install -e '.[torch]'")
    result = comparisons.run(_scenario(zoo.ZOO[1][1], "anchored", mapping=TOML_MAPPING))
    assert not result.passed
    assert (result.first_divergence.backend, result.first_divergence.param) == ("mine", "conv2d_0.K")
    assert result.diagnosis.kinds == {"W1": "flipped_kernel", "b1": "ok", "W2": "ok", "b2": "ok"}
    assert "(W1 in mine's code)" in result.verdict()


def test_mapping_mistakes_for_a_conv_network_are_named_and_lose_no_other_backend():
    with pytest.raises(comparisons.SpecError, match=r"user.mine.mapping.W1: needs param = the canonical parameter"):
        _scenario(zoo.ZOO[0][1], "anchored", mapping={**TOML_MAPPING, "W1": {"kind": "param"}})
    pytest.importorskip("torch", reason="the reference is torch: pip install -e '.[torch]'")
    result = comparisons.run(_scenario(zoo.ZOO[0][1], "anchored", mapping={**TOML_MAPPING, "W1": {"kind": "weight", "layer": 0}}))
    assert 'a network of layers maps each array with kind = "param"' in result.failures["mine"].error
    assert set(result.diffs.backend) == {"scratchnet"} and result.diffs.passed.all()


def test_update_only_conv_code_runs_in_lockstep_too():
    """kind = "step": the user's own momentum SGD on the cs231n-style ConvNet, torch's form."""
    pytest.importorskip("torch", reason="the reference is torch: pip install -e '.[torch]'")
    velocity = {}

    def train_step(params, X, y, lr):
        _, grads = zoo.ZOO[0][1](params, X, y)
        for name, grad in grads.items():
            velocity[name] = 0.9 * velocity[name] + grad if name in velocity else grad.copy()
            params[name] -= lr * velocity[name]

    result = comparisons.run(_scenario(train_step, "free", kind="step", mapping=TOML_MAPPING))
    assert result.passed, result.verdict()
    assert set(result.diffs[result.diffs.backend == "mine"].quantity) >= {"param"}
