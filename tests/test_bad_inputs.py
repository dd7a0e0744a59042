"""The bad-input catalogue: each entry ends in a clear error naming the field, shape or value and
the fix, and nothing is half-written."""
import numpy as np
import pytest

import comparisons
from comparisons import catalog
from comparisons.cli import main
from comparisons.spec import SpecError

torch = pytest.importorskip("torch")


def _spec(**sections):
    raw = catalog.get("xor-sigmoid-sgd").to_dict()
    raw["run"]["backends"] = ["scratchnet", "torch"]
    for section, values in sections.items():
        raw[section] = {**raw.get(section, {}), **values} if isinstance(values, dict) else values
    return raw


def _npz(tmp_path, X, y):
    path = tmp_path / "data.npz"
    np.savez(path, X=X, y=y)
    return str(path)


SPEC_ENTRIES = [
    ("wrong type: steps as text", {"run": {"steps": "100"}}, r"run.steps: must be an integer >= 1, got '100'"),
    ("wrong type: shuffle", {"run": {"shuffle": "yes"}}, "run.shuffle: must be true or false"),
    ("wrong type: lr as text", {"optimizer": {"name": "sgd", "lr": "0.1"}}, "lr must be a number, got str"),
    ("wrong type: bias", {"network": {"sizes": [2, 3, 1], "activations": ["sigmoid", "sigmoid"], "bias": "yes"}}, "bias must be True or False"),
    ("negative steps", {"run": {"steps": -5}}, "run.steps: must be an integer >= 1"),
    ("zero lr", {"optimizer": {"name": "sgd", "lr": 0}}, "lr must be a finite number > 0"),
    ("unknown top-level key", {"optimiser": {}}, "optimiser.*did you mean 'optimizer'"),
    ("misspelled run key", {"run": {"stpes": 3}}, "run.stpes.*did you mean 'steps'"),
    ("unknown dtype", {"run": {"dtype": "float16"}}, "run.dtype.*valid: float32, float64"),
    ("backends not a list", {"run": {"backends": "torch"}}, "run.backends: must be a non-empty list"),
    ("unknown initializer", {"network": {"sizes": [2, 3, 1], "activations": ["sigmoid", "sigmoid"], "init": "xavier"}}, "unknown initializer 'xavier'"),
    ("softmax not last", {"network": {"sizes": [2, 3, 1], "activations": ["softmax", "sigmoid"]}}, "softmax is only allowed on the last layer"),
    ("CE with a linear output", {"network": {"sizes": [2, 3, 1], "activations": ["tanh", "linear"]},
                                 "loss": {"name": "binary_cross_entropy"}}, "needs probabilities from the last layer"),
    ("tolerance without reason", {"tolerances": {"float64": {"free": {"rtol": 1, "atol": 0}}}}, "must say why"),
]


@pytest.mark.parametrize("change, message", [e[1:] for e in SPEC_ENTRIES], ids=[e[0] for e in SPEC_ENTRIES])
def test_spec_entry(change, message):
    with pytest.raises(SpecError, match=message):
        comparisons.Scenario.from_dict(_spec(**change))


def test_toml_syntax_error_names_the_file(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("name = 'x'\n[network\n")
    with pytest.raises(SpecError, match="broken.toml: not valid TOML"):
        comparisons.Scenario.from_toml(path)


@pytest.mark.parametrize("value, where", [(np.nan, "NaN"), (np.inf, "Inf")])
def test_nan_or_inf_in_data(tmp_path, value, where):
    X = np.array([[0.0, 0], [0, 1], [1, 0], [1, value]])
    spec = comparisons.Scenario.from_dict(_spec(data={"name": "npz", "path": _npz(tmp_path, X, np.array([0.0, 1, 1, 0]))}))
    with pytest.raises(SpecError, match=r"X contains NaN or Inf \(first at index \(3, 1\)\)"):
        comparisons.run(spec)


def test_labels_out_of_range(tmp_path):
    raw = _spec(network={"sizes": [2, 3, 2], "activations": ["sigmoid", "softmax"]},
                loss={"name": "categorical_cross_entropy", "reduction": "batch_mean"})
    X = np.zeros((4, 2))
    raw["data"] = {"name": "npz", "path": _npz(tmp_path, X, np.array([[1.0, 0], [0, 1], [0, 1], [0.5, 0.7]]))}
    with pytest.raises(SpecError, match="row 3 sums to 1.2"):
        comparisons.run(comparisons.Scenario.from_dict(raw))
    raw["data"] = {"name": "npz", "path": _npz(tmp_path, X, np.array([0, 1, 2, 1]))}  # 3 classes, 2 outputs
    with pytest.raises(SpecError, match=r"network.sizes\[-1\] is 2 but data 'npz' has 3 target columns"):
        comparisons.run(comparisons.Scenario.from_dict(raw))


def test_npz_is_loaded_without_pickle(tmp_path):
    path = tmp_path / "objects.npz"
    np.savez(path, X=np.array([object(), object()], dtype=object), y=np.zeros(2))
    with pytest.raises(SpecError, match="allow_pickle"):
        comparisons.run(comparisons.Scenario.from_dict(_spec(data={"name": "npz", "path": str(path)})))


def test_missing_data_file():
    with pytest.raises(SpecError, match="npz data file '/nonexistent.npz' does not exist"):
        comparisons.run(comparisons.Scenario.from_dict(_spec(data={"name": "npz", "path": "/nonexistent.npz"})))


def test_cli_bad_spec_exits_2_and_writes_nothing(tmp_path, capsys):
    spec = tmp_path / "bad.toml"
    spec.write_text('name = "bad"\n[network]\nsizes = [2, 1]\nactivations = ["sigmoid"]\n'
                    '[optimizer]\nname = "sgd"\nlr = 0.1\nmomentun = 0.9\n[data]\nname = "xor"\n')
    out = tmp_path / "report"
    assert main(["run", str(spec), "--out", str(out)]) == 2
    assert "did you mean 'momentum'" in capsys.readouterr().err
    assert not out.exists()


def test_cli_unknown_backend_and_format(tmp_path, capsys):
    assert main(["run", "xor-sigmoid-sgd", "--backends", "scratchnet,jaxx", "--out", str(tmp_path / "a")]) == 2
    assert "unknown backend 'jaxx'" in capsys.readouterr().err
    assert main(["run", "xor-sigmoid-sgd", "--format", "pdf", "--out", str(tmp_path / "b")]) == 2
    assert "unknown format 'pdf'" in capsys.readouterr().err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_unknown_catalog_name_suggests():
    with pytest.raises(ValueError, match="did you mean 'xor-sigmoid-sgd'"):
        comparisons.run("xor-sigmoid")
