"""Known, deliberate differences between optimizer conventions (PyTorch 2.13, Keras 3.15 on
TensorFlow), keyed by convention name.

Each entry gives one formula per convention (``formulas["torch"]``, ``formulas["keras"]``; a
backend registering a new convention adds a column by adding its key), the source they come
from and when it applies to a scenario. A run pairs every framework with scratchnet following
that framework's convention, so these differences are measured (scratchnet vs
scratchnet[keras]) and labelled, never mistaken for bugs. Sources:
shared/research/conventions.md, which cites the framework files.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

import reference
from comparisons.spec import Scenario


@dataclass(frozen=True)
class Convention:
    """One difference: what each convention computes (by convention name), the sources, and
    when it applies to a scenario."""

    key: str
    title: str
    formulas: Mapping[str, str]
    source: str
    applies: Callable[[Scenario], bool]

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "title": self.title, "formulas": dict(self.formulas), "source": self.source}


def _both(torch: str, keras: str) -> dict[str, str]:
    return {"torch": torch, "keras": keras}


def _optimizer(*names: str) -> Callable[[Scenario], bool]:
    return lambda s: s.optimizer["name"] in names


def _omits(name: str, *options: str) -> Callable[[Scenario], bool]:
    return lambda s: s.optimizer["name"] == name and any(o not in s.optimizer for o in options)


def _activation(name: str) -> Callable[[Scenario], bool]:
    def applies(s: Scenario) -> bool:
        return any((a if isinstance(a, str) else a.get("name")) == name for a in s.network["activations"])
    return applies


CONVENTIONS: tuple[Convention, ...] = (
    Convention("sgd_momentum_form", "SGD momentum: buffer of gradients vs velocity of steps",
               _both("b = g (first step), b = mu*b + (1-dampening)*g; w -= lr*b (nesterov: w -= lr*(g + mu*b))",
               "v = mu*v - lr*g; w += v (nesterov: w += mu*v - lr*g); no dampening"),
               "torch/optim/sgd.py::_single_tensor_sgd; keras/src/optimizers/sgd.py::update_step",
               lambda s: s.optimizer["name"] == "sgd" and bool(s.optimizer.get("momentum"))),
    Convention("weight_decay_coupling", "Weight decay: added to the gradient (torch) vs decoupled (Keras)",
               _both("SGD/Adam/RMSprop/Adagrad: g += wd*w before the update; AdamW: w *= 1 - lr*wd",
               "every optimizer: w -= w*wd*lr before update_step"),
               "torch/optim/*.py; keras/src/optimizers/base_optimizer.py::_apply_weight_decay",
               lambda s: bool(s.optimizer.get("weight_decay")) or s.optimizer["name"] == "adamw"),
    Convention("adam_epsilon", "Adam epsilon placement",
               _both("w -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps), eps default 1e-8",
               "w -= m * lr*sqrt(1-b2^t)/(1-b1^t) / (sqrt(v) + eps_hat), eps default 1e-7; eps_hat = eps*sqrt(1-b2^t) in torch terms"),
               "torch/optim/adam.py::_single_tensor_adam; keras/src/optimizers/adam.py::update_step",
               _optimizer("adam", "adamw")),
    Convention("rmsprop_epsilon", "RMSprop epsilon inside (Keras) or outside (torch) the square root; defaults",
               _both("w -= lr*g/(sqrt(s) + eps); alpha (rho) default 0.99, eps 1e-8",
               "w -= lr*g/sqrt(v + eps); rho default 0.9, eps 1e-7"),
               "torch/optim/rmsprop.py::_single_tensor_rmsprop; keras/src/optimizers/rmsprop.py::update_step",
               _optimizer("rmsprop")),
    Convention("adagrad_accumulator", "Adagrad epsilon placement and initial accumulator",
               _both("S starts at 0; w -= lr*g/(sqrt(S) + eps), eps 1e-10",
               "S starts at 0.1; w -= lr*g/sqrt(S + eps), eps 1e-7"),
               "torch/optim/adagrad.py::_single_tensor_adagrad; keras/src/optimizers/adagrad.py::update_step",
               _optimizer("adagrad")),
    Convention("optimizer_defaults", "Hyperparameters left out take each framework's own default",
               _both("SGD lr 1e-3; Adam eps 1e-8; RMSprop alpha 0.99, eps 1e-8; Adagrad eps 1e-10, init 0; AdamW wd 1e-2",
               "SGD lr 0.01; Adam eps 1e-7; RMSprop rho 0.9, eps 1e-7; Adagrad eps 1e-7, init 0.1; AdamW wd 0.004"),
               "torch.optim constructors; keras.optimizers constructors",
               lambda s: _omits("adam", "epsilon")(s) or _omits("adamw", "epsilon", "weight_decay")(s)
               or _omits("rmsprop", "rho", "epsilon")(s) or _omits("adagrad", "epsilon", "initial_accumulator_value")(s)),
    Convention("keras_float32_hyperparameters", "Keras on TensorFlow rounds Python-float hyperparameters to float32",
               _both("exact float64",
               "momentum, betas, weight decay, regularizer and leaky-ReLU slopes pass through float32 unless given as np.float64; this harness passes np.float64 and an exact L2 regularizer"),
               "keras/src/backend/tensorflow/core.py::cast; keras/src/regularizers/regularizers.py::L2",
               lambda s: True),
    Convention("softplus_threshold", "softplus switches to the identity for large inputs",
               _both("nn.Softplus(beta=1, threshold=20): returns z when z > 20 (differs from log1p(e^z) by up to 7.6e-10)",
               "TF kernel: returns z above about 34"),
               "torch/nn/modules/activation.py::Softplus; tensorflow/core/kernels/softplus_op.h",
               _activation("softplus")),
    Convention("cross_entropy_logits", "Cross-entropy on sigmoid/softmax outputs",
               _both("BCEWithLogitsLoss / cross_entropy take logits (used here); BCELoss clamps log at -100",
               "BinaryCrossentropy/CategoricalCrossentropy silently use the logits of a Keras sigmoid/softmax; on plain probabilities they clip to [1e-7, 1-1e-7] and the gradient is 0 where clipped"),
               "aten/src/ATen/native/Loss.cpp; keras/src/backend/tensorflow/nn.py::_get_logits",
               lambda s: s.loss["name"] != "squared_error"),
    Convention("relu_grad_at_zero", "ReLU derivative at exactly 0",
               _both("0 (threshold_backward)", "0 (ReluGrad: g*(x > 0))"),
               "tools/autograd/derivatives.yaml; tensorflow/core/kernels/relu_op_functor.h",
               _activation("relu")),
    Convention("default_initializers", "Default initial weights (not used in comparisons: weights are copied)",
               _both("Linear: U(+-1/sqrt(fan_in)) for weight and bias", "Dense: glorot_uniform kernel, zero bias"),
               "torch/nn/modules/linear.py::reset_parameters; keras/src/layers/core/dense.py",
               lambda s: False),
)


def followed(scenario: Scenario) -> list[str]:
    """The optimizer conventions the scenario's backends declare, in order of first appearance
    (scratchnet follows the reference's)."""
    return list(dict.fromkeys(reference.get(name).convention for name in [scenario.reference, *scenario.backends]
                              if name != "scratchnet" or name == scenario.reference))


def names() -> list[str]:
    """Every convention some difference describes (the columns of `describe`)."""
    return list(dict.fromkeys(key for c in CONVENTIONS for key in c.formulas))


def in_play(scenario: Scenario) -> list[dict[str, Any]]:
    """The differences that apply to a scenario: none unless its backends follow two or more
    conventions that a difference describes."""
    conventions = followed(scenario)
    if len(conventions) < 2:
        return []
    return [c.to_dict() for c in CONVENTIONS
            if c.applies(scenario) and sum(name in c.formulas for name in conventions) >= 2]


def describe() -> str:
    """All known differences as text (the `parity conventions` output), one line per convention."""
    blocks = []
    for c in CONVENTIONS:
        lines = [f"{c.key}: {c.title}"] + [f"  {name}: {formula}" for name, formula in c.formulas.items()]
        blocks.append("\n".join(lines + [f"  source: {c.source}"]))
    return "\n\n".join(blocks)
