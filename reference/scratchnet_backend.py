"""scratchnet as a backend, following the optimizer convention of the framework it is paired with
(and that framework's layer conventions: batch norm's defaults and running variance).

Layer state (batch-norm running statistics) is updated by `step` only, recorded in
``StepRecord.state`` under canonical names (``batch_norm_1.running_mean``) beside the optimizer
slots, and travels with the parameters through `get_params` / `set_params` (anchoring). Dropout
masks are those of the network's step counter (`scratchnet.layers.dropout_mask`)."""
from __future__ import annotations

from typing import Mapping

import numpy as np

import scratchnet as sn
from reference.protocol import Params, Problem, StepRecord, readonly


def build_network(problem: Problem) -> sn.Network:
    """The problem's network (its description, `scratchnet.network_from_spec`) with its initial parameters."""
    return sn.network_from_spec(problem.network, problem.initial_params)


class ScratchnetBackend:
    def __init__(self, problem: Problem, convention: str = "torch"):
        self.name = "scratchnet" if convention == "torch" else f"scratchnet[{convention}]"
        self.convention = convention
        self.net = build_network(problem).set_convention(convention)
        self.optimizer = sn.optim.get(problem.optimizer.name, convention=convention, **problem.optimizer.options)

    def step(self, X: np.ndarray, y: np.ndarray) -> StepRecord:
        """One step; the record's weights and state are read-only views of the live arrays."""
        loss, grads = self.net.loss_and_grads_checked(X, y, self.net.params, update_state=True)
        self.optimizer.step(self.net.params, grads)
        state = {
            f"{name}/{slot}": readonly(value)
            for name, slots in self.optimizer.state.items()
            for slot, value in slots.items()
        }
        state.update((name, readonly(value)) for name, value in self.net.state.items())
        params = {name: readonly(value) for name, value in self.net.params.items()}
        return StepRecord(self.optimizer.iterations, loss, grads, params, state)

    def get_params(self) -> Params:
        """Parameters, then layer state (running statistics), canonical names, copies."""
        out = {name: value.copy() for name, value in self.net.params.items()}
        out.update((name, value.copy()) for name, value in self.net.state.items())
        return out

    def set_params(self, params: Mapping[str, np.ndarray]) -> None:
        """Parameters (every one) and layer state (when given: anchoring carries it)."""
        state = {name: value for name, value in params.items() if name in self.net.state}
        for name, value in self.net.check_params({k: v for k, v in params.items() if k not in state}).items():
            self.net.params[name][...] = value
        if state:
            self.net.set_state({**self.net.state, **state})

    def loss_and_grads(self, params, X, y):
        return self.net.loss_and_grads_checked(X, y, self.net.check_params(params))


def jacobian_provider(problem: Problem, X: np.ndarray, y: np.ndarray) -> sn.lm.NetworkResiduals:
    """The registry's Levenberg-Marquardt provider for scratchnet: its batched residual
    Jacobian (one backward pass) on fixed data."""
    return sn.lm.NetworkResiduals(build_network(problem), X, y)
