"""scratchnet as a backend, following the optimizer convention of the framework it is paired with."""
from __future__ import annotations

from typing import Mapping

import numpy as np

import scratchnet as sn
from reference.protocol import Params, Problem, StepRecord


def build_network(problem: Problem) -> sn.Network:
    """The problem's network (its description, `scratchnet.network_from_spec`) with its initial parameters."""
    return sn.network_from_spec(problem.network, problem.initial_params)


class ScratchnetBackend:
    def __init__(self, problem: Problem, convention: str = "torch"):
        self.name = "scratchnet" if convention == "torch" else f"scratchnet[{convention}]"
        self.convention = convention
        self.net = build_network(problem)
        self.optimizer = sn.optim.get(problem.optimizer.name, convention=convention, **problem.optimizer.options)

    def step(self, X: np.ndarray, y: np.ndarray) -> StepRecord:
        loss, grads = self.net.loss_and_grads_checked(X, y, self.net.params)
        self.optimizer.step(self.net.params, grads)
        state = {
            f"{name}/{slot}": value.copy()
            for name, slots in self.optimizer.state.items()
            for slot, value in slots.items()
        }
        return StepRecord(self.optimizer.iterations, loss, grads, self.get_params(), state)

    def get_params(self) -> Params:
        return {name: value.copy() for name, value in self.net.params.items()}

    def set_params(self, params: Mapping[str, np.ndarray]) -> None:
        for name, value in self.net.check_params(params).items():
            self.net.params[name][...] = value

    def loss_and_grads(self, params, X, y):
        return self.net.loss_and_grads_checked(X, y, self.net.check_params(params))


def jacobian_provider(problem: Problem, X: np.ndarray, y: np.ndarray) -> sn.lm.NetworkResiduals:
    """The registry's Levenberg-Marquardt provider for scratchnet: its batched residual
    Jacobian (one backward pass) on fixed data."""
    return sn.lm.NetworkResiduals(build_network(problem), X, y)
