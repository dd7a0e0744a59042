"""`diagnose_file`: a function in a .py file written the way the questions write code, and a TOML spec."""
import re
import textwrap
from pathlib import Path

import numpy as np
import pytest

from comparisons.doctor import AugmentedWeight, DoctorInputError, diagnose_file, load_spec_file

USER_CODE = '''
import numpy as np


class mlp:
    """XOR with a -1 bias input appended last, sigmoid units, sum-of-squares error."""

    def __init__(self, weights1, weights2, eta=0.5):
        self.weights1, self.weights2, self.eta = weights1, weights2, eta

    def forward(self, inputs):
        inputs = np.concatenate((inputs, -np.ones((np.shape(inputs)[0], 1))), axis=1)
        self.hidden = 1.0 / (1.0 + np.exp(-np.dot(inputs, self.weights1)))
        self.hidden = np.concatenate((self.hidden, -np.ones((np.shape(inputs)[0], 1))), axis=1)
        return inputs, 1.0 / (1.0 + np.exp(-np.dot(self.hidden, self.weights2)))

    def backward(self, inputs, outputs, targets):
        deltao = (outputs - targets) * outputs * (1.0 - outputs)
        deltah = self.hidden * (1.0 - self.hidden) * np.dot(deltao, np.transpose(self.weights2))
        return np.dot(np.transpose(inputs), deltah[:, :-1]), np.dot(np.transpose(self.hidden), deltao)


def train_step(params, X, y, eta):
    net = mlp(params["weights1"], params["weights2"], eta)
    inputs, outputs = net.forward(X)
    grad1, grad2 = net.backward(inputs, outputs, y)
    net.weights1 -= eta * grad1
    net.weights2 -= eta * grad2
    return {"weights1": net.weights1, "weights2": net.weights2}


def error_and_gradients(params, X, y):
    net = mlp(params["weights1"], params["weights2"])
    inputs, outputs = net.forward(X)
    grad1, grad2 = net.backward(inputs, outputs, y)
    return 0.5 * np.sum((outputs - y) ** 2), {"weights1": grad1, "weights2": -grad2}
'''

SPEC_TOML = '''
sizes = [2, 3, 1]
activations = ["sigmoid", "sigmoid"]
loss = "squared_error"
reduction = "sum"
scale = 0.5
lr = 0.5

[mapping.weights1]
kind = "augmented_weight"
layer = 0
layout = "in_out"
bias_position = "last"
bias_input = -1.0

[mapping.weights2]
kind = "augmented_weight"
layer = 1
layout = "in_out"
bias_position = "last"
bias_input = -1.0

[data]
name = "xor"

[params]
init = "uniform"
seed = 3
'''


@pytest.fixture
def files(tmp_path):
    code = tmp_path / "xor_mlp.py"
    code.write_text(USER_CODE)
    spec = tmp_path / "xor.toml"
    spec.write_text(SPEC_TOML)
    return code, spec


def test_update_only_code_from_a_file(files):
    result = diagnose_file(files[0], "train_step", files[1], step=True)
    assert result.ok and result.kinds == {"weights1": "ok", "weights2": "ok"}, str(result)
    assert result.batch_size == 4


def test_gradient_code_from_a_file(files):
    result = diagnose_file(files[0], "error_and_gradients", files[1])
    assert result.kinds == {"weights1": "ok", "weights2": "sign_flipped"}, str(result)
    assert result.culprit == ["weights2"]


def test_loading_the_spec(files):
    loaded = load_spec_file(files[1])
    assert loaded.mapping["weights1"] == AugmentedWeight(0, "in_out", "last", -1.0)
    assert loaded.params["weights1"].shape == (3, 3) and loaded.params["weights2"].shape == (4, 1)
    assert loaded.X.shape == (4, 2) and loaded.lr == 0.5


def test_npz_params_and_data_with_samples_as_columns(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "batch.npz", X=rng.normal(size=(3, 6)), y=rng.normal(size=(2, 6)))
    np.savez(tmp_path / "weights.npz", W1=rng.normal(size=(4, 3)), b1=rng.normal(size=(4, 1)),
             W2=rng.normal(size=(2, 4)), b2=rng.normal(size=(2, 1)))
    (tmp_path / "net.py").write_text(textwrap.dedent('''
        import numpy as np

        def grads(params, X, Y):
            m = X.shape[1]
            A1 = np.tanh(params["W1"] @ X + params["b1"])
            A2 = params["W2"] @ A1 + params["b2"]
            dZ2 = (A2 - Y) / m
            dZ1 = params["W2"].T @ dZ2 * (1 - A1 ** 2)
            return 0.5 * np.sum((A2 - Y) ** 2) / m, {"W1": dZ1 @ X.T, "b1": dZ1.sum(axis=1, keepdims=True),
                                                      "W2": dZ2 @ A1.T, "b2": dZ2.sum(axis=1, keepdims=True)}
    '''))
    (tmp_path / "net.toml").write_text(textwrap.dedent('''
        samples_as_columns = true
        [network]
        sizes = [3, 4, 2]
        activations = ["tanh", "linear"]
        reduction = "batch_mean"
        scale = 0.5
        [mapping.W1]
        kind = "weight"
        layer = 0
        layout = "out_in"
        [mapping.b1]
        kind = "bias"
        layer = 0
        [mapping.W2]
        kind = "weight"
        layer = 1
        layout = "out_in"
        [mapping.b2]
        kind = "bias"
        layer = 1
        [data]
        npz = "batch.npz"
        batch = 5
        [params]
        npz = "weights.npz"
    '''))
    result = diagnose_file(tmp_path / "net.py", "grads", tmp_path / "net.toml")
    assert result.ok and result.batch_size == 5, str(result)


def test_drawn_bias_shapes_follow_samples_as_columns(tmp_path):
    (tmp_path / "s.toml").write_text(textwrap.dedent('''
        sizes = [2, 3, 1]
        activations = ["relu", "sigmoid"]
        loss = "binary_cross_entropy"
        samples_as_columns = true
        [mapping.W1]
        kind = "weight"
        layer = 0
        layout = "out_in"
        [mapping.b1]
        kind = "bias"
        layer = 0
        [mapping.W2]
        kind = "weight"
        layer = 1
        layout = "out_in"
        [mapping.b2]
        kind = "bias"
        layer = 1
        shape = [1]
        [data]
        name = "xor"
    '''))
    loaded = load_spec_file(tmp_path / "s.toml")
    assert {k: v.shape for k, v in loaded.params.items()} == {"W1": (3, 2), "b1": (3, 1), "W2": (1, 3), "b2": (1,)}
    assert loaded.X.shape == (2, 4) and loaded.y.shape == (1, 4)


def test_an_import_error_in_the_file_is_reported(files, tmp_path):
    broken = tmp_path / "broken.py"
    broken.write_text("import numpy as np\n\ndef grads(params, X, y):\n    return 0\n\nnp.zeros((2, 2)) @ np.zeros((3, 3))\n")
    result = diagnose_file(broken, "grads", files[1])
    assert not result.ok and result.error.kind == "exception"
    assert result.error.call == f"importing {broken}"
    assert "matmul" in result.error.message and "broken.py" in result.error.traceback
    assert "<frozen" not in result.error.traceback


def test_file_errors(files, tmp_path):
    with pytest.raises(DoctorInputError, match="defines no function 'train' \\(it defines: error_and_gradients, train_step\\)"):
        diagnose_file(files[0], "train", files[1])
    with pytest.raises(DoctorInputError, match="is not a file"):
        diagnose_file(tmp_path / "missing.py", "f", files[1])
    bad = tmp_path / "bad.toml"
    for text, message in [
        (SPEC_TOML.replace("scale = 0.5", "scale = 0.5\noptimiser = 'sgd'"), r"unknown key\(s\) \['optimiser'\]"),
        (SPEC_TOML.replace('kind = "augmented_weight"', 'kind = "augmented"', 1), "unknown kind 'augmented'"),
        (SPEC_TOML.replace('layout = "in_out"', 'layout = "io"', 1), r"\[mapping.weights1\]: AugmentedWeight: unknown layout 'io'"),
        (SPEC_TOML.replace('name = "xor"', 'name = "xr"'), "did you mean 'xor'"),
        (SPEC_TOML.replace("[data]\nname = \"xor\"", ""), r"\[data\] needs either name"),
        (SPEC_TOML.replace("sizes = [2, 3, 1]", ""), r"the network needs \['sizes'\]"),
        (SPEC_TOML + "\n[mapping.extra]\nkind = 'bias'\nlayer = 5\n", "places layer 5"),
        ("sizes = [", "is not valid TOML"),
    ]:
        bad.write_text(text)
        with pytest.raises(DoctorInputError, match=message):
            diagnose_file(files[0], "train_step", bad, step=True)
    bad.write_text(SPEC_TOML.replace("lr = 0.5", ""))
    with pytest.raises(DoctorInputError, match="a step function needs its learning rate"):
        diagnose_file(files[0], "train_step", bad, step=True)


def test_the_readme_walkthrough_runs_as_shown(tmp_path):
    root = Path(__file__).parent.parent
    readme = (root / "README.md").read_text()
    section = readme[readme.index("## The backprop doctor"):]
    blocks = re.findall(r"```(\w*)\n(.*?)```", section, flags=re.S)
    code = next(body for lang, body in blocks if lang == "python" and "def loss_and_grads" in body)
    spec = next(body for lang, body in blocks if lang == "toml")
    shown = next(body for lang, body in blocks if lang == "" and body.startswith("Backprop doctor:"))
    (tmp_path / "my_net.py").write_text(code)
    (tmp_path / "my_net.toml").write_text(spec)
    report = str(diagnose_file(tmp_path / "my_net.py", "loss_and_grads", tmp_path / "my_net.toml"))
    keep = [line for line in shown.splitlines() if not line.startswith("  reference")]
    assert [line for line in report.splitlines() if not line.startswith("  reference")] == keep
