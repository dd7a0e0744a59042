"""A spec's problems are reported all at once, each naming its field; TOML specs may omit `name`."""
import pickle

import pytest

from comparisons import catalog
from comparisons.spec import Scenario, SpecError


def _xor(**sections):
    raw = catalog.get("xor-sigmoid-sgd").to_dict()
    for section, values in sections.items():
        raw[section] = {**raw[section], **values} if section == "run" else values
    return raw


def test_three_independent_mistakes_are_reported_in_one_error():
    raw = _xor(run={"steps": 0}, optimizer={"name": "sgd", "lr": 0.1, "momentun": 0.9},
               network={"sizes": [2, 3, 1], "activations": ["sigmoid", "sigmod"]})
    with pytest.raises(SpecError) as caught:
        Scenario.from_dict(raw)
    problems = caught.value.problems
    assert len(problems) == 3, problems
    assert problems[0] == "run.steps: must be an integer >= 1, got 0"
    assert problems[1].startswith("optimizer.momentun: ") and "did you mean 'momentum'" in problems[1]
    assert problems[2].startswith("network.activations[1]: ") and "did you mean 'sigmoid'" in problems[2]
    lines = str(caught.value).splitlines()
    assert lines[0] == "scenario spec: 3 problems"
    assert lines[1:] == [f"  - {problem}" for problem in problems]


def test_a_single_problem_reads_as_before():
    with pytest.raises(SpecError) as caught:
        Scenario.from_dict(_xor(run={"steps": 0}))
    assert str(caught.value) == "run.steps: must be an integer >= 1, got 0"
    assert caught.value.problems == ["run.steps: must be an integer >= 1, got 0"]
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize("change, only", [
    # backends is not a list: whether the reference is among them cannot be checked
    ({"run": {"backends": "torch"}}, "run.backends: must be a non-empty list of backend names, got 'torch'"),
    # a misspelled backend may be the reference: whether the reference is listed is not checked
    ({"run": {"backends": ["scratchnet", "torhc"]}}, "run.backends: unknown backend 'torhc'; did you mean 'torch'?"),
    # the network cannot be built without sizes: no whole-network check
    ({"network": {"activations": ["sigmoid", "sigmoid"]}}, "network.sizes: required"),
    # an unknown optimizer: its options cannot be checked
    ({"optimizer": {"name": "sgdd", "lr": 0.1, "whatever": 1}}, "optimizer.name: unknown optimizer 'sgdd'"),
])
def test_checks_that_depend_on_a_wrong_field_are_skipped(change, only):
    with pytest.raises(SpecError) as caught:
        Scenario.from_dict(_xor(**change))
    assert len(caught.value.problems) == 1 and caught.value.problems[0].startswith(only), caught.value.problems


def test_a_misspelled_section_is_not_also_reported_missing():
    raw = _xor()
    raw["optimiser"] = raw.pop("optimizer")
    with pytest.raises(SpecError) as caught:
        Scenario.from_dict(raw)
    assert len(caught.value.problems) == 1 and "did you mean 'optimizer'" in caught.value.problems[0]


def test_problems_survive_pickling():
    with pytest.raises(SpecError) as caught:
        Scenario.from_dict(_xor(run={"steps": 0, "seed": -1}))
    copy = pickle.loads(pickle.dumps(caught.value))
    assert copy.problems == caught.value.problems and len(copy.problems) == 2 and str(copy) == str(caught.value)


TOML = ('[network]\nsizes = [2, 2, 1]\nactivations = ["tanh", "sigmoid"]\n'
        '[optimizer]\nname = "sgd"\nlr = 0.1\n[data]\nname = "xor"\n[run]\nsteps = 3\nbackends = ["scratchnet", "torch"]\n')


def test_a_toml_spec_without_name_takes_the_file_stem(tmp_path):
    (tmp_path / "runs").mkdir()
    path = tmp_path / "runs" / "my-xor.toml"
    path.write_text(TOML)
    assert Scenario.from_toml(path).name == "my-xor"
    assert Scenario.from_toml(str(path)).name == "my-xor"
    path.write_text('name = "given"\n' + TOML)
    assert Scenario.from_toml(path).name == "given"


def test_a_dict_spec_without_name_is_still_an_error():
    raw = _xor()
    raw.pop("name")
    with pytest.raises(SpecError, match="^name: required, a non-empty string$"):
        Scenario.from_dict(raw)


def test_a_toml_spec_with_several_problems_names_the_file(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(TOML.replace("steps = 3", "steps = 0").replace("lr = 0.1", "lr = -1.0"))
    with pytest.raises(SpecError) as caught:
        Scenario.from_toml(path)
    assert str(caught.value).startswith(f"{path}: 2 problems\n")
    assert caught.value.problems[0] == "run.steps: must be an integer >= 1, got 0"
    assert "lr must be a finite number > 0" in caught.value.problems[1]
