"""The one run pipeline: backends from the registry, drivers for every method, the runner's
isolation, interruption and findings (each test fails on the code before the pipeline)."""
import numpy as np
import pytest

import comparisons
import reference
from comparisons.cli import main as cli_main
from reference.scratchnet_backend import ScratchnetBackend

XOR = {
    "name": "pipeline-xor",
    "network": {"sizes": [2, 3, 1], "activations": ["sigmoid", "sigmoid"]},
    "loss": {"name": "squared_error"},
    "optimizer": {"name": "sgd", "lr": 0.5},
    "data": {"name": "xor"},
    "run": {"steps": 6, "backends": ["scratchnet", "mine"], "reference": "scratchnet", "mode": "anchored"},
}
SIN_TNC = {
    "name": "pipeline-tnc",
    "network": {"sizes": [1, 5, 1], "activations": ["tanh", "linear"]},
    "loss": {"name": "squared_error"},
    "optimizer": {"name": "tnc", "maxfun": 60},
    "data": {"name": "sin", "n_samples": 40},
    "run": {"steps": 100, "backends": ["scratchnet", "mine"], "reference": "scratchnet", "mode": "anchored"},
}


@pytest.fixture
def register():
    """Register backends for one test; unregister them afterwards."""
    added = []

    def add(name, factory, **declared):
        reference.register(reference.BackendInfo(name, declared.pop("convention", "torch"), factory, **declared))
        added.append(name)

    yield add
    for name in added:
        reference.unregister(name)


class Wrapped(ScratchnetBackend):
    """scratchnet with a hook on every gradient computation (steps and provider calls)."""

    hook = staticmethod(lambda calls, grads: grads)

    def __init__(self, problem, convention="torch"):
        super().__init__(problem, convention)
        self.calls = 0

    def _touch(self, loss, grads):
        self.calls += 1
        return loss, type(self).hook(self.calls, grads)

    def step(self, X, y):
        record = super().step(X, y)
        _, record.grads = self._touch(record.loss, record.grads)
        return record

    def loss_and_grads(self, params, X, y):
        return self._touch(*super().loss_and_grads(params, X, y))


def wrapped(hook):
    return type("Hooked", (Wrapped,), {"hook": staticmethod(hook)})


def test_registry_declarations_drive_the_pairings(register):
    register("mine", ScratchnetBackend, convention="keras", packages=("numpy",), settings={"exact": True})
    momentum = {**XOR, "optimizer": {"name": "sgd", "lr": 0.1, "momentum": 0.9}}  # the two momentum forms differ
    result = comparisons.run(comparisons.Scenario.from_dict(momentum), mode="free")
    pairs = set(map(tuple, result.diffs[["backend", "reference", "kind"]].drop_duplicates().to_numpy()))
    # "mine" declares the keras convention: judged exactly against scratchnet[keras], and against
    # the reference only where the measured gap allows
    assert pairs == {("mine", "scratchnet", "cross"), ("mine", "scratchnet[keras]", "exact"),
                     ("scratchnet[keras]", "scratchnet", "gap")}
    assert result.environment["settings"]["mine"] == {"exact": True}


def test_a_registered_name_is_refused_twice_and_unknown_names_get_suggestions(register):
    register("mine", ScratchnetBackend)
    with pytest.raises(ValueError, match="already registered"):
        reference.register(reference.BackendInfo("mine", "torch", ScratchnetBackend))
    with pytest.raises(ValueError, match="did you mean 'torch'"):
        reference.get("troch")
    with pytest.raises(ValueError, match=r"must not contain '\['"):
        reference.register(reference.BackendInfo("scratchnet[x]", "torch", ScratchnetBackend))


def test_wrong_gradient_shape_is_a_finding_for_that_backend_not_a_crash(register):
    def transposed(calls, grads):
        return {**grads, "dense_0.W": grads["dense_0.W"].T} if calls >= 3 else grads

    register("mine", wrapped(transposed))
    result = comparisons.run(comparisons.Scenario.from_dict(XOR))
    assert not result.passed and result.steps_completed == 6  # the run went on
    divergence = result.first_divergence
    assert (divergence.step, divergence.backend, divergence.quantity, divergence.param) == (2, "mine", "grad", "dense_0.W")
    assert divergence.finding == "shape (3, 2) differs from the reference's (2, 3)"
    rows = result.diffs[result.diffs.finding != ""]
    assert set(rows.step) == {2, 3, 4, 5} and set(rows.param) == {"dense_0.W"} and not rows.passed.any()
    assert "shape (3, 2) differs" in result.verdict()


def test_a_missing_gradient_is_a_finding(register):
    register("mine", wrapped(lambda calls, grads: {k: v for k, v in grads.items() if k != "dense_1.b"}))
    divergence = comparisons.run(comparisons.Scenario.from_dict(XOR)).first_divergence
    assert (divergence.step, divergence.param, divergence.finding) == (0, "dense_1.b", "missing from the backend's record")


def test_a_float32_gradient_in_a_float64_run_is_a_dtype_finding_not_an_upcast(register):
    register("mine", wrapped(lambda calls, grads: {k: v.astype(np.float32) for k, v in grads.items()}))
    divergence = comparisons.run(comparisons.Scenario.from_dict(XOR)).first_divergence
    assert divergence.finding == "dtype float32 differs from the reference's float64"


def test_mismatched_elements_are_counted(register):
    def bump(calls, grads):
        grads = {k: v.copy() for k, v in grads.items()}
        grads["dense_0.W"][0, :2] += 1.0
        return grads

    register("mine", wrapped(bump))
    result = comparisons.run(comparisons.Scenario.from_dict(XOR))
    divergence = result.first_divergence
    assert (divergence.param, divergence.mismatched, divergence.size) == ("dense_0.W", 2, 6)
    assert "2 of 6 elements" in str(divergence)


def test_tnc_anchored_localises_a_halved_gradient_through_the_engine(register):
    register("mine", wrapped(lambda calls, grads: {k: 0.5 * v for k, v in grads.items()}))
    result = comparisons.run(comparisons.Scenario.from_dict(SIN_TNC))
    divergence = result.first_divergence
    assert (divergence.step, divergence.backend, divergence.quantity) == (0, "mine", "grad")
    assert divergence.relative_error == pytest.approx(0.5, rel=1e-9)
    grads = result.diffs[(result.diffs.backend == "mine") & (result.diffs.quantity == "grad")]
    assert grads.cosine.min() > 1 - 1e-12  # the right direction at every iterate of the reference
    assert set(grads.step) == set(range(result.steps_completed)) and result.steps_completed > 10


def test_tnc_anchored_scratchnet_vs_torch_agree_to_float64_precision():
    pytest.importorskip("torch", reason="needs the torch extra")
    spec = {**SIN_TNC, "run": {**SIN_TNC["run"], "backends": ["scratchnet", "torch"]}}
    result = comparisons.run(comparisons.Scenario.from_dict(spec))
    assert result.passed, result.verdict()
    worst = result.worst().set_index("quantity")
    assert worst.loc["grad", "max_rel"] <= 1e-12 and result.steps_completed > 10


def _interrupt_after(n_calls):
    def hook(calls, grads):
        if calls > n_calls:
            raise KeyboardInterrupt
        return grads
    return hook


@pytest.mark.parametrize("mode", ["anchored", "free"])
def test_ctrl_c_during_tnc_keeps_the_steps_so_far(register, mode):
    register("mine", wrapped(_interrupt_after(25)))
    # free: scratchnet (the reference) runs its whole minimize first, then "mine" is interrupted
    # during its own; anchored: "mine" drives and is interrupted
    first = "scratchnet" if mode == "free" else "mine"
    spec = {**SIN_TNC, "run": {**SIN_TNC["run"], "mode": mode, "reference": first}}
    result = comparisons.run(comparisons.Scenario.from_dict(spec))
    assert result.interrupted and not result.passed and "interrupted" in result.verdict()
    compared = result.diffs[result.diffs.backend != first]
    assert result.steps_completed > 0 and set(compared.step) == set(range(int(compared.step.max()) + 1))
    assert result.losses["mine"].notna().sum() > 0


def test_ctrl_c_during_lm_keeps_the_epochs_so_far(register):
    class Interrupting:
        def __init__(self, provider):
            self.provider, self.calls = provider, 0

        def residuals(self, theta):
            return self.provider.residuals(theta)

        def residuals_and_jacobian(self, theta):
            self.calls += 1
            if self.calls > 3:
                raise KeyboardInterrupt
            return self.provider.residuals_and_jacobian(theta)

    from reference.scratchnet_backend import jacobian_provider
    register("mine", ScratchnetBackend, jacobian=lambda problem, X, y: Interrupting(jacobian_provider(problem, X, y)))
    result = comparisons.run("sin-lm-trainlm", backends=["scratchnet", "mine"], reference="scratchnet", mode="free")
    # calls: 1 at the start, 1 after each accepted epoch; the 4th (epoch 2) is interrupted, so
    # epochs 0 and 1 are complete and kept, and the epoch in progress is not
    assert result.interrupted and result.steps_completed == 2 and not result.passed
    assert set(result.diffs.step) == {0, 1} and result.losses["mine"].notna().sum() == 2


def test_cli_exits_130_and_writes_an_incomplete_report_when_tnc_is_interrupted(register, tmp_path, monkeypatch):
    import json

    register("mine", wrapped(_interrupt_after(25)))
    spec = tmp_path / "tnc.toml"
    spec.write_text(
        'name = "tnc-interrupted"\n[network]\nsizes = [1, 5, 1]\nactivations = ["tanh", "linear"]\n'
        '[optimizer]\nname = "tnc"\nmaxfun = 60\n[data]\nname = "sin"\nn_samples = 40\n'
        '[run]\nsteps = 100\nbackends = ["mine", "scratchnet"]\nreference = "mine"\nmode = "anchored"\n')
    code = cli_main(["run", str(spec), "--out", str(tmp_path / "out"), "--format", "json"])
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert code == 130 and summary["interrupted"] and summary["steps_completed"] > 0 and not summary["passed"]


def test_lm_lanes_come_from_registry_declarations(register):
    from reference.scratchnet_backend import jacobian_provider

    register("mine", ScratchnetBackend)  # declares no Jacobian provider
    with pytest.raises(comparisons.SpecError, match=r"lm needs a Jacobian provider.*remove \['mine'\]"):
        comparisons.run("sin-lm-trainlm", backends=["scratchnet", "mine"], reference="scratchnet")
    reference.unregister("mine")
    register("mine", ScratchnetBackend, jacobian=jacobian_provider)
    result = comparisons.run("sin-lm-trainlm", backends=["scratchnet", "mine"], reference="scratchnet")
    assert result.passed and result.steps_completed == 5


def test_race_is_fed_by_the_runs_records():
    result = comparisons.run("sin-lm-trainlm", backends=["scratchnet"], reference="scratchnet")
    method, gradient_descent = result.extras["race"]["rows"]
    losses_after = result.losses["scratchnet"]
    assert method["epochs"] == result.steps_completed == len(losses_after)
    assert gradient_descent["epochs"] > 100 * method["epochs"]
    assert gradient_descent["final"] <= result.extras["race"]["goal"] < result.losses["scratchnet"].iloc[0]


@pytest.mark.parametrize("options, skipped", [({"lr": 0.5, "momentum": 0.9}, True), ({"lr": 0.1, "momentum": 0.9}, False)])
def test_the_twin_is_skipped_exactly_when_the_conventions_coincide(register, options, skipped):
    """lr 0.5 is a power of two, so torch's momentum buffer and Keras' velocity round alike and
    the twin would equal scratchnet bit for bit; lr 0.1 does not. Checked on the run's own
    batches, not the dry run's."""
    import scratchnet as sn
    from reference.protocol import OptimizerSpec, Problem

    register("mine", ScratchnetBackend, convention="keras")
    spec = {**XOR, "optimizer": {"name": "sgd", **options}, "run": {**XOR["run"], "mode": "free", "steps": 40}}
    scenario = comparisons.Scenario.from_dict(spec)
    result = comparisons.run(scenario)
    assert result.passed and ("mine" in (result.extras.get("twins_skipped") or {})) == skipped
    assert ("scratchnet[keras]" in set(result.diffs.backend)) != skipped
    net = scenario.build_network()
    problem = Problem(net.spec(), net.params, OptimizerSpec("sgd", options))
    lanes = [ScratchnetBackend(problem, convention) for convention in ("torch", "keras")]
    data = scenario.load_data()
    for indices in sn.data.batch_schedule(4, None, 40, True, 0):
        records = [lane.step(data.X[indices], data.y[indices]) for lane in lanes]
    identical = all(np.array_equal(records[0].params[k], records[1].params[k]) for k in records[0].params)
    assert identical == skipped
