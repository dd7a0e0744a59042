"""Fast comparisons for the report tests: scratchnet stands in for torch and Keras (following each
framework's optimizer convention), so no framework is imported and a run takes milliseconds.
Broken variants make failing, crashing, NaN and interrupted runs on demand."""
from __future__ import annotations

import numpy as np

import comparisons
import reference
from comparisons import catalog
from reference.scratchnet_backend import ScratchnetBackend

HOSTILE = "<script>alert(1)</script>"


class DoubledGradient(ScratchnetBackend):
    """From step 3 on, dense_1.W's gradient is doubled before the update."""

    def step(self, X, y):
        if self.optimizer.iterations < 3:
            return super().step(X, y)
        loss, grads = self.net.loss_and_grads_checked(X, y, self.net.params)
        grads["dense_1.W"] = 2.0 * grads["dense_1.W"]
        self.optimizer.step(self.net.params, grads)
        return reference.StepRecord(self.optimizer.iterations, loss, grads, self.get_params(), {})


class Crashing(ScratchnetBackend):
    def step(self, X, y):
        if self.optimizer.iterations == 2:
            raise RuntimeError(f"boom at step 2 {HOSTILE}")
        return super().step(X, y)


class Exploding(ScratchnetBackend):
    def step(self, X, y):
        record = super().step(X, y)
        if self.optimizer.iterations == 4:
            record.grads["dense_0.b"] = np.full_like(record.grads["dense_0.b"], np.nan)
        return record


class WrongShape(ScratchnetBackend):
    """From step 2 on, reports dense_0.b's gradient with its last element cut off (a shape finding)."""

    def step(self, X, y):
        record = super().step(X, y)
        if self.optimizer.iterations > 2:
            record.grads["dense_0.b"] = record.grads["dense_0.b"][:-1]
        return record


class Interrupting(ScratchnetBackend):
    def step(self, X, y):
        if self.optimizer.iterations == 5:
            raise KeyboardInterrupt
        return super().step(X, y)


class Unbuildable(ScratchnetBackend):
    def __init__(self, problem, convention="torch"):
        raise ImportError("torch is not installed")


def fake_frameworks(monkeypatch, torch_class=ScratchnetBackend, keras_class=ScratchnetBackend):
    """Make "torch" and "keras" scratchnet backends with those frameworks' conventions."""
    create = reference.create

    def fake(name, problem, convention=None):
        if name == "torch":
            return torch_class(problem, "torch")
        if name == "keras":
            return keras_class(problem, "keras")
        return create(name, problem, convention)

    monkeypatch.setattr(reference, "create", fake)


def run(monkeypatch, scenario="xor-sigmoid-sgd", torch_class=ScratchnetBackend, keras_class=ScratchnetBackend,
        **overrides):
    fake_frameworks(monkeypatch, torch_class, keras_class)
    overrides.setdefault("steps", 12)
    return comparisons.run(scenario, **overrides)


def momentum_xor() -> comparisons.Scenario:
    """xor with momentum SGD at lr 0.1, where the torch and Keras momentum forms round
    differently: the run builds a scratchnet[keras] twin and measures its gap (at the catalog's
    lr 0.5 the two forms coincide bit for bit and the runner skips the twin)."""
    raw = catalog.get("xor-sigmoid-sgd").to_dict()
    raw["optimizer"] = {"name": "sgd", "lr": 0.1, "momentum": 0.9}
    return comparisons.Scenario.from_dict(raw)


def hostile_scenario() -> comparisons.Scenario:
    raw = catalog.get("xor-sigmoid-sgd").to_dict()
    raw["name"] = f"evil {HOSTILE}"
    raw["description"] = f"description {HOSTILE} & <b>bold</b>"
    return comparisons.Scenario.from_dict(raw)
