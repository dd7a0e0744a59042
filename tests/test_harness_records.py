"""Zero-copy step records and the runner's lifecycle that makes them safe, and the Keras models and
JAX compiled steps reused across runs: each test fails if a record could change before it is
diffed, or if something reused carried anything from one run to the next."""
import importlib

import numpy as np
import pytest

import comparisons
import reference
from comparisons import catalog, runner
from comparisons.diff import compare
from reference.protocol import OptimizerSpec, Problem
from reference.scratchnet_backend import ScratchnetBackend

BACKENDS = ["scratchnet", "torch", "keras"]


def _problem(name):
    scenario = catalog.get(name)
    net = scenario.build_network()
    data = scenario.load_data()
    problem = Problem(net.spec(), net.params, OptimizerSpec(scenario.optimizer["name"], scenario.optimizer_options))
    return problem, net.check_inputs(data.X), net.check_targets(data.y, data.n_samples)


def _tensor(record, quantity, param):
    if quantity == "loss":
        return np.float64(record.loss)
    return {"grad": record.grads, "param": record.params, "state": record.state}[quantity][param]


@pytest.mark.parametrize("mode", ["free", "anchored"])
def test_every_row_comes_from_the_records_as_they_were_pushed(monkeypatch, mode):
    """Records may be views of live tensors that the backend's next step (in-place updates of
    weights, optimizer slots, running statistics) or anchoring (set_params) overwrite. Every
    diff row must equal the statistics of copies taken when the records were pushed: this fails
    if any step were diffed after a lane had moved on. rmsprop: the Keras twin runs too."""
    pytest.importorskip("torch")
    pytest.importorskip("keras")
    pushed = {}
    push = runner._Run.push

    def copying_push(self, name, step, record):
        pushed[name, step] = record.copy()
        return push(self, name, step, record)

    monkeypatch.setattr(runner._Run, "push", copying_push)
    result = comparisons.run("digits-relu-rmsprop", steps=4, mode=mode)
    assert "scratchnet[keras]" in set(result.diffs.backend) and set(result.diffs.quantity) == {"loss", "grad", "param", "state"}
    for row in result.diffs.itertuples():
        left = _tensor(pushed[row.backend, row.step], row.quantity, row.param)
        right = _tensor(pushed[row.reference, row.step], row.quantity, row.param)
        expected = compare(left, right, result.tolerance)
        assert (row.max_abs, row.index, row.value, row.reference_value) == (
            expected.max_abs, expected.index, expected.value, expected.reference_value), row


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_record_shows_the_state_after_its_step(backend):
    """A record's views show the weights and state right after the step (as the copies of
    `get_params` do), and the gradients stay those of the step after the update."""
    if backend != "scratchnet":
        pytest.importorskip(backend)
    problem, X, y = _problem("digits-sigmoid-softmax-momentum")
    lane = reference.create(backend, problem)
    loss, grads = lane.loss_and_grads(problem.initial_params, X[:16], y[:16])
    record = lane.step(X[:16], y[:16])
    params = lane.get_params()
    assert all(np.array_equal(record.params[name], params[name]) for name in problem.initial_params)
    assert record.loss == loss and all(np.array_equal(record.grads[name], value) for name, value in grads.items())


@pytest.mark.parametrize("backend", BACKENDS)
def test_views_handed_out_are_read_only(backend):
    """A consumer cannot change a backend's state through a record (a view is read-only)."""
    if backend != "scratchnet":
        pytest.importorskip(backend)
    problem, X, y = _problem("digits-sigmoid-softmax-momentum")
    record = reference.create(backend, problem).step(X[:16], y[:16])
    for group in (record.params, record.state):
        for value in group.values():
            if not value.flags.owndata:
                with pytest.raises(ValueError, match="read-only"):
                    value[...] = 0.0


def test_step_record_copy_owns_its_arrays():
    problem, X, y = _problem("digits-sigmoid-softmax-momentum")
    lane = ScratchnetBackend(problem)
    record = lane.step(X[:16], y[:16])
    kept = record.copy()
    lane.step(X[16:32], y[16:32])
    assert all(value.flags.owndata and value.flags.writeable for value in kept.params.values())
    assert not all(np.array_equal(kept.params[name], value) for name, value in record.params.items())  # the views moved on


class CrashesAtStep3(ScratchnetBackend):
    """The last lane of every step; it raises in its fourth step."""

    def step(self, X, y):
        if self.optimizer.iterations == 3:
            raise RuntimeError("boom")
        return super().step(X, y)


def test_a_step_whose_last_lane_fails_is_diffed_before_the_others_step_again(monkeypatch):
    """The failing lane pushes nothing, so the step is complete when it fails: it must be diffed
    then, not after the other lanes' next step has updated the tensors their records view."""
    create = reference.create
    monkeypatch.setattr(reference, "create", lambda n, p, c=None: CrashesAtStep3(p) if n == "keras" else create(n, p, c))
    crashed = comparisons.run("xor-sigmoid-sgd", backends=["scratchnet", "torch", "keras"], steps=6)
    clean = comparisons.run("xor-sigmoid-sgd", backends=["scratchnet", "torch"], steps=6)
    assert crashed.failures["keras"].step == 3 and "boom" in crashed.failures["keras"].error
    rows = crashed.diffs[(crashed.diffs.backend != "keras") & (crashed.diffs.reference != "keras")].reset_index(drop=True)
    expected = clean.diffs.reset_index(drop=True)
    assert len(rows) == len(expected) and set(rows.step) == set(range(6))
    for column in ("max_abs", "value", "reference_value", "scale", "index"):
        np.testing.assert_array_equal(rows[column].to_numpy(), expected[column].to_numpy(), err_msg=column)


# per backend: the framework it needs, the function that forgets what it reuses, and the builder
# of what it reuses (counted: the second run must build nothing)
REUSED = {"keras": ("keras", "clear_model_cache", "_KerasModel", "__init__"),
          "jax": ("optax", "clear_function_cache", "_Functions", "build")}


@pytest.mark.parametrize("backend, scenario", [("keras", "regression-adam"), ("keras", "digits-cnn-batchnorm-dropout"),
                                               ("jax", "digits-cnn-batchnorm-dropout")])
def test_a_reused_model_runs_as_a_new_one(monkeypatch, backend, scenario):
    """A run that reuses the Keras model, or the JAX compiled step, of an earlier run (its
    weights, optimizer slots, iteration count and running statistics moved on by 3 steps on other
    batches) gives the bits a freshly built one gives. The earlier run differs only in what the
    configuration does not hold (steps, batch size, shuffling): a seed would change the dropout
    layer's seed, which the configuration holds, and nothing would be reused."""
    framework, forget, owner, builder = REUSED[backend]
    pytest.importorskip(framework)
    module = importlib.import_module(f"reference.{backend}_backend")
    builds = []
    build = getattr(getattr(module, owner), builder)
    if builder == "build":  # a classmethod: the bound method, called with the same arguments
        monkeypatch.setattr(getattr(module, owner), builder, classmethod(lambda cls, *a: builds.append(1) or build(*a)))
    else:
        monkeypatch.setattr(getattr(module, owner), builder, lambda self, *a: builds.append(1) or build(self, *a))
    base = catalog.get(scenario).with_overrides(steps=4, backends=["scratchnet", backend])
    getattr(module, forget)()
    comparisons.run(base.with_overrides(steps=3, batch_size=16, shuffle=True))
    reused = comparisons.run(base)
    assert len(builds) == 1, "the second run should have reused what the first built"
    getattr(module, forget)()
    fresh = comparisons.run(base)
    assert len(builds) == 2
    for name in ("diffs", "losses"):
        assert getattr(reused, name).equals(getattr(fresh, name)), name


def test_keras_models_are_reused_by_configuration_only():
    pytest.importorskip("keras")
    from reference import keras_backend

    problem, _, _ = _problem("xor-sigmoid-sgd")
    keras_backend.clear_model_cache()
    first = reference.create("keras", problem)
    model = first._model
    other = reference.create("keras", problem)  # the first still holds its model
    assert other._model is not model
    del first
    assert reference.create("keras", problem)._model is model
    changed = Problem(problem.network, problem.initial_params, OptimizerSpec("sgd", {"lr": 0.25}))
    assert reference.create("keras", changed)._model is not model


def test_the_keras_model_cache_is_bounded_by_models_and_by_variable_entries():
    """The least recently used configuration loses its oldest idle model first, while the pool
    holds more than `size` models or more than `values` variable entries; a model larger than
    the whole budget is not kept."""
    pytest.importorskip("keras")
    from types import SimpleNamespace

    from reference import keras_backend

    pool = keras_backend._Pool(size=3, values=100)

    def held():
        return {key: [model.values for model in models] for key, models in pool.idle.items()}

    for key in "aba":
        pool.checkin(SimpleNamespace(key=key, values=10))
    assert list(held()) == ["b", "a"] and held()["a"] == [10, 10]  # "a" used last
    pool.checkin(SimpleNamespace(key="c", values=10))  # 4 models > 3: "b", used least recently, goes
    assert held() == {"a": [10, 10], "c": [10]}
    pool.checkin(SimpleNamespace(key="d", values=75))  # 4 models: one of "a" goes; 95 entries fit
    assert held() == {"a": [10], "c": [10], "d": [75]}
    pool.checkin(SimpleNamespace(key="e", values=25))  # 4 models, then 110 entries > 100: "a", then "c" go
    assert held() == {"d": [75], "e": [25]}
    pool.checkin(SimpleNamespace(key="f", values=101))  # more than the whole budget: nothing is kept
    assert held() == {}


@pytest.mark.parametrize("backend", BACKENDS)
def test_get_params_copies_even_where_the_layout_conversion_is_a_view(backend):
    """Canonical W = torch's weight.T is C-contiguous when the layer has one unit (xor's output),
    so the conversion alone would hand out the tensor's own memory: get_params must still copy
    (loss_and_grads restores the weights from it)."""
    if backend != "scratchnet":
        pytest.importorskip(backend)
    problem, X, y = _problem("xor-sigmoid-sgd")
    lane = reference.create(backend, problem)
    before = lane.get_params()
    frozen = {name: value.copy() for name, value in before.items()}
    lane.step(X, y)
    assert all(np.array_equal(before[name], value) for name, value in frozen.items())
    assert any(not np.array_equal(lane.get_params()[name], value) for name, value in frozen.items())
