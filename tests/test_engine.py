"""Runner behaviour: weight transfer, localisation of a broken backend, isolation, determinism."""
import numpy as np
import pytest

import comparisons
import reference
from comparisons import catalog
from comparisons.spec import SpecError
from comparisons.testing import ParityError, assert_parity
from reference.protocol import MissingFramework, OptimizerSpec, Problem
from reference.scratchnet_backend import ScratchnetBackend

torch = pytest.importorskip("torch")


def _problem(name="digits-sigmoid-softmax-momentum"):
    scenario = catalog.get(name)
    net = scenario.build_network()
    return Problem(net.spec(), net.params, OptimizerSpec(scenario.optimizer["name"], scenario.optimizer_options))


@pytest.mark.parametrize("backend", ["scratchnet", "torch", "keras"])
def test_weight_transfer_round_trip_is_bit_exact(backend):
    if backend == "keras":
        pytest.importorskip("keras")
    problem = _problem()
    exported = reference.create(backend, problem).get_params()
    assert list(exported) == list(problem.initial_params)
    for name, value in problem.initial_params.items():
        assert exported[name].dtype == value.dtype and np.array_equal(exported[name], value), name


class ScaledGradient(ScratchnetBackend):
    """A deliberately broken backend: from step 3 on, dense_1.W's gradient is doubled."""

    def step(self, X, y):
        if self.optimizer.iterations >= 3:
            loss, grads = self.net.loss_and_grads_checked(X, y, self.net.params)
            grads["dense_1.W"] = 2.0 * grads["dense_1.W"]
            self.optimizer.step(self.net.params, grads)
            return reference.StepRecord(self.optimizer.iterations, loss, grads, self.get_params(), {})
        return super().step(X, y)


@pytest.fixture
def broken_scratchnet(monkeypatch):
    create = reference.create

    def fake(name, problem, convention=None):
        if name == "scratchnet":
            return ScaledGradient(problem, convention or "torch")
        return create(name, problem, convention)

    monkeypatch.setattr(reference, "create", fake)


@pytest.mark.parametrize("mode", ["anchored", "free"])
def test_broken_backend_is_localised(broken_scratchnet, mode):
    result = comparisons.run("digits-sigmoid-softmax-momentum", backends=["scratchnet", "torch"], mode=mode, steps=8)
    assert not result.passed
    divergence = result.first_divergence
    assert (divergence.step, divergence.backend, divergence.quantity, divergence.param) == (3, "scratchnet", "grad", "dense_1.W")
    assert divergence.relative_error == pytest.approx(1.0, rel=1e-9)  # a doubled gradient is off by 100 %


def test_assert_parity_message_names_step_backend_param_and_tolerance(broken_scratchnet):
    with pytest.raises(ParityError) as failure:
        assert_parity("digits-sigmoid-softmax-momentum", backends=["scratchnet", "torch"], mode="anchored", steps=6)
    message = str(failure.value)
    for fragment in ("step 3", "scratchnet vs torch", "grad dense_1.W at index", "allowed", "rtol=1e-12"):
        assert fragment in message, message


def test_a_missing_framework_keeps_the_other_backends(monkeypatch):
    create = reference.create

    def no_keras(name, problem, convention=None):
        if name == "keras":
            raise MissingFramework("the 'keras' backend needs TensorFlow and Keras 3: pip install 'scratchnet-parity[keras]'")
        return create(name, problem, convention)

    monkeypatch.setattr(reference, "create", no_keras)
    result = comparisons.run("xor-sigmoid-sgd", steps=5)
    assert not result.passed and "keras" in result.failures
    assert "scratchnet-parity[keras]" in result.failures["keras"].error
    assert set(result.losses.columns) >= {"scratchnet", "torch"} and len(result.losses) == 5
    assert result.diffs[result.diffs.backend == "scratchnet"].passed.all()


def test_a_backend_raising_mid_run_is_isolated(monkeypatch):
    create = reference.create

    class Exploding(ScratchnetBackend):
        def step(self, X, y):
            if self.optimizer.iterations == 2:
                raise RuntimeError("boom at step 2")
            return super().step(X, y)

    monkeypatch.setattr(reference, "create", lambda n, p, c=None: Exploding(p, c or "torch") if n == "scratchnet" else create(n, p, c))
    result = comparisons.run("xor-sigmoid-sgd", backends=["scratchnet", "torch"], steps=6)
    failure = result.failures["scratchnet"]
    assert failure.step == 2 and "boom at step 2" in failure.error and "Traceback" in failure.traceback
    assert result.losses["torch"].notna().all() and result.steps_completed == 6


@pytest.mark.filterwarnings("error::RuntimeWarning")
def test_divergence_to_nan_is_a_result_not_a_crash():
    scenario = catalog.get("sin-tanh-linear").to_dict()
    scenario["optimizer"]["lr"] = 1e6
    result = comparisons.run(comparisons.Scenario.from_dict(scenario), backends=["scratchnet", "torch"], steps=60)
    assert set(result.nonfinite) == {"scratchnet", "torch"}
    assert result.nonfinite["scratchnet"] == result.nonfinite["torch"] < 60
    assert not result.passed or result.steps_completed == 60
    assert result.losses.shape[1] == 2 and len(result.losses) == result.steps_completed


def test_same_spec_and_seed_give_identical_diffs():
    first = comparisons.run("regression-adam", backends=["scratchnet", "torch"], steps=20)
    second = comparisons.run("regression-adam", backends=["scratchnet", "torch"], steps=20)
    assert first.diffs.to_csv(index=False) == second.diffs.to_csv(index=False)


def test_diffs_have_the_documented_columns():
    result = comparisons.run("and-single-neuron", backends=["scratchnet", "torch"], steps=3)
    assert {"step", "backend", "quantity", "param", "max_abs", "max_rel", "cosine"} <= set(result.diffs.columns)
    assert set(result.diffs.quantity) == {"loss", "grad", "param"}
    assert list(result.losses.index) == [0, 1, 2]


def test_state_is_compared_for_same_convention_pairs():
    result = comparisons.run("regression-adam", backends=["scratchnet", "torch"], steps=3)
    state = result.diffs[result.diffs.quantity == "state"]
    assert {"dense_0.W/exp_avg", "dense_0.W/exp_avg_sq"} <= set(state.param) and state.passed.all()


@pytest.mark.parametrize("change, message", [
    ({"run": {"steps": 0}}, "run.steps: must be an integer >= 1"),
    ({"run": {"backends": ["scratchnet", "pytorch"]}}, "did you mean 'torch'"),
    ({"run": {"reference": "keras", "backends": ["scratchnet", "torch"]}}, "must be one of run.backends"),
    ({"run": {"mode": "anchor"}}, "did you mean 'anchored'"),
    ({"optimizer": {"name": "adamm", "lr": 0.1}}, "did you mean 'adam'"),
    ({"optimizer": {"name": "sgd", "lr": 0.1, "momentun": 0.9}}, "did you mean 'momentum'"),
    ({"optimizer": {"name": "sgd", "lr": -1.0}}, "lr must be a finite number > 0"),
    ({"optimizer": {"name": "sgd"}}, "optimizer.lr: required"),
    ({"network": {"sizes": [2, 3, 1], "activations": ["softmax", "sigmoid"]}}, "softmax is only allowed on the last layer"),
    ({"network": {"sizes": [2, 3, 1], "activations": ["sigmoid", "sigmod"]}}, "did you mean 'sigmoid'"),
    ({"loss": {"nmae": "squared_error"}}, "loss.nmae.*did you mean 'name'"),
    ({"data": {"name": "xorr"}}, "did you mean 'xor'"),
])
def test_bad_specs_name_the_field(change, message):
    raw = catalog.get("xor-sigmoid-sgd").to_dict()
    for section, values in change.items():
        raw[section] = {**raw[section], **values} if section == "run" else values
    with pytest.raises(SpecError, match=message):
        comparisons.Scenario.from_dict(raw)


def test_data_that_does_not_fit_the_network_is_refused_before_any_backend_runs():
    raw = catalog.get("xor-sigmoid-sgd").to_dict()
    raw["network"]["sizes"] = [3, 3, 1]
    with pytest.raises(SpecError, match=r"network.sizes\[0\] is 3 but data 'xor' has 2 features"):
        comparisons.run(comparisons.Scenario.from_dict(raw))
    with pytest.raises(SpecError, match="run.batch_size is 10 but data 'xor' has only 4 samples"):
        comparisons.run("xor-sigmoid-sgd", batch_size=10)


def test_toml_round_trip(tmp_path):
    path = tmp_path / "spec.toml"
    path.write_text('name = "mine"\n[network]\nsizes = [2, 2, 1]\nactivations = ["tanh", "sigmoid"]\n'
                    '[optimizer]\nname = "sgd"\nlr = 0.1\n[data]\nname = "xor"\n[run]\nsteps = 3\nbackends = ["scratchnet", "torch"]\n')
    scenario = comparisons.Scenario.from_toml(path)
    assert comparisons.Scenario.from_dict(scenario.to_dict()) == scenario
    assert comparisons.run(str(path)).passed


def test_tolerance_override_needs_a_reason():
    raw = catalog.get("xor-sigmoid-sgd").to_dict()
    raw["tolerances"] = {"float64": {"free": {"rtol": 1e-8, "atol": 1e-12}}}
    with pytest.raises(SpecError, match="must say why"):
        comparisons.Scenario.from_dict(raw)
    raw["tolerances"]["reason"] = "chaotic"
    assert comparisons.Scenario.from_dict(raw).tolerance().rtol == 1e-8


def test_ctrl_c_keeps_the_records_so_far(monkeypatch):
    create = reference.create

    class Interrupted(ScratchnetBackend):
        def step(self, X, y):
            if self.optimizer.iterations == 4:
                raise KeyboardInterrupt
            return super().step(X, y)

    monkeypatch.setattr(reference, "create", lambda n, p, c=None: Interrupted(p, c or "torch") if n == "scratchnet" else create(n, p, c))
    result = comparisons.run("xor-sigmoid-sgd", backends=["scratchnet", "torch"], steps=10)
    assert result.interrupted and not result.passed and result.steps_completed == 4
    assert len(result.losses) == 4 and set(result.diffs.step) == {0, 1, 2, 3}
    assert "interrupted after 4 of 10 steps" in result.verdict()


def test_backends_override_picks_a_listed_reference():
    assert comparisons.catalog.get("xor-sigmoid-sgd").with_overrides(backends=["scratchnet", "keras"]).reference == "scratchnet"
    assert comparisons.catalog.get("xor-sigmoid-sgd").with_overrides(backends=["keras", "torch"]).reference == "torch"
    with pytest.raises(SpecError, match="must be one of run.backends"):
        comparisons.catalog.get("xor-sigmoid-sgd").with_overrides(backends=["scratchnet"], reference="torch")
