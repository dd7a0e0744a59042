"""Optimizers with framework conventions implemented exactly.

Every optimizer updates canonical parameters in place: ``optimizer.step(params, grads)``, with
``params`` and ``grads`` dicts of the same names and shapes. Where PyTorch 2.13, Keras 3.15 and
optax 0.2.8 use different formulas, ``convention="torch" | "keras" | "optax"`` selects one,
operation for operation:

* torch: the single-tensor CPU path of ``torch/optim/{sgd,adam,rmsprop,adagrad}.py``
  (``_single_tensor_sgd``, ``_single_tensor_adam``, ...). Weight decay is coupled
  (``g += weight_decay * w``) except in AdamW (``w *= 1 - lr * weight_decay``).
* keras: ``keras/src/optimizers/{sgd,adam,rmsprop,adagrad}.py::update_step`` preceded by
  ``base_optimizer.py::_apply_weight_decay`` (decoupled: ``w -= w * weight_decay * lr``).
* optax: the gradient transformations its aliases chain (``optax/_src/alias.py``: ``sgd``,
  ``adam``, ``amsgrad``, ``adamw``, ``rmsprop``, ``adagrad``), each from
  ``optax/_src/transform.py`` (``scale_by_adam``, ``scale_by_amsgrad``, ``scale_by_rms``,
  ``scale_by_stddev``, ``scale_by_rss``, ``scale_by_learning_rate``),
  ``optax/transforms/_accumulation.py::trace``, ``optax/transforms/_adding.py::add_decayed_weights``,
  ``optax/tree_utils/_tree_math.py`` (``tree_update_moment``, ``tree_bias_correction``) and
  ``optax/_src/update.py::apply_updates`` (``w + u`` with ``u = -lr * ...``). optax has no
  default learning rate (``lr`` is required), and no weight decay outside AdamW: ``weight_decay``
  of the other optimizers is optax's documented idiom ``optax.chain(optax.add_decayed_weights(wd),
  optax.<alias>(...))``, i.e. coupled (``g + wd * w``) as in torch. ``jax.lax.rsqrt`` (RMSprop,
  Adagrad) is computed here as ``1 / sqrt``: XLA's rsqrt is within 1 ulp of it, not bit-equal.

The differences that remain with equal hyperparameters (shared/research/conventions.md §2):
Keras SGD keeps ``v = mu v - lr g`` (equal to torch's ``-lr * b`` for a constant lr), Adam's
Keras epsilon is "epsilon hat" (torch eps * sqrt(1 - beta2^t)), RMSprop and Adagrad put
Keras' epsilon inside the square root, Keras' Adagrad accumulator starts at 0.1. optax (same
source) computes Adam like torch up to the order of operations (bias corrections divide m and v,
``eps_root`` inside the root), RMSprop and Adagrad like Keras (epsilon inside the root; RMSprop
decay 0.9, Adagrad accumulator 0.1), SGD momentum as torch's buffer (``trace``: ``t = g + mu t``),
and AdamW's default weight decay is 1e-4 (multiplied by the learning rate).

`LevenbergMarquardt` (MATLAB trainlm's rule, full batch) lives in `scratchnet.lm` and is
re-exported here.

State is inspectable: ``optimizer.state[param_name][slot]`` (arrays) and ``optimizer.iterations``;
slots carry the framework's own names (torch: ``momentum_buffer``, ``exp_avg``, ``exp_avg_sq``,
``square_avg``, ``grad_avg``, ``sum``; keras: ``momentum``, ``velocity``, ``velocity_hat``,
``average_gradient``, ``accumulator``; optax: ``trace``, ``count``, ``mu``, ``nu``, ``nu_max``,
``sum_of_squares``, the fields of its state NamedTuples) so state can be diffed against the
framework's. optax's ``count`` (int32, one per transformation) is kept per parameter as a 0-d
int32 array, as optax holds it for a single-array parameter tree.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

from scratchnet._checks import positive_number, unknown_name
from scratchnet.lm import LevenbergMarquardt  # full-batch second-order trainer (trainlm's rule)

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "LevenbergMarquardt", "CONVENTIONS", "NAMES", "get"]

CONVENTIONS = ("torch", "keras", "optax")


class Optimizer:
    """Base class: subclasses implement `_update(name, w, g, state)` for one tensor."""

    name = ""
    #: defaults per convention; None means "required" (optax has no default learning rate)
    defaults: dict[str, dict[str, float | bool]] = {}

    def __init__(self, convention: str = "torch", **options):
        if convention not in CONVENTIONS:
            raise unknown_name("optimizer convention", convention, CONVENTIONS)
        self.convention = convention
        chosen = dict(self.defaults[convention])
        unknown = [key for key in options if key not in chosen]
        if unknown:
            raise unknown_name(f"{self.name} option", unknown[0], chosen)
        chosen.update({key: value for key, value in options.items() if value is not None})
        for key, default in self.defaults[convention].items():
            value = chosen[key]
            if value is None:  # required (optax's lr): refused by step(), see _before_step
                continue
            if isinstance(default, bool):
                if not isinstance(value, (bool, np.bool_)):
                    raise TypeError(f"{self.name} option {key} must be True or False, got {value!r}")
                chosen[key] = bool(value)
            else:
                chosen[key] = positive_number(f"{self.name} option {key}", value, allow_zero=key != "lr")
        self.options: dict[str, float | bool] = chosen
        self.state: dict[str, dict[str, np.ndarray]] = {}
        self.iterations = 0
        self._validate()

    def _validate(self) -> None:
        """Subclass hook for option combinations a framework refuses."""

    def _before_step(self) -> None:
        """Refuse to step without a required option (optax's lr, which has no default). This is
        checked here, not at construction, because scenario validation builds every convention's
        optimizer from the scenario's options and reports a missing lr once, itself."""
        missing = [key for key, value in self.options.items() if value is None]
        if missing:
            raise TypeError(f"{self.name} option {missing[0]} is required in the {self.convention} convention "
                            f"(it has no default there): pass {missing[0]}=...")

    @property
    def lr(self) -> float:
        if self.options["lr"] is None:
            Optimizer._before_step(self)  # raises: the learning rate is required
        return float(self.options["lr"])

    def step(self, params: Mapping[str, np.ndarray], grads: Mapping[str, np.ndarray]) -> None:
        """Update every parameter in place from its gradient (gradients are not modified)."""
        self._before_step()
        self.iterations += 1
        for name, w in params.items():
            if name not in grads:
                raise ValueError(f"no gradient for parameter {name!r}")
            g = grads[name]
            if g.shape != w.shape:
                raise ValueError(f"gradient for {name!r} has shape {g.shape}, parameter has {w.shape}")
            state = self.state.setdefault(name, {})
            if self.convention == "keras" and self.options.get("weight_decay"):
                # keras/src/optimizers/base_optimizer.py::_apply_weight_decay
                w -= w * self.options["weight_decay"] * self.options["lr"]
            self._update(name, w, g, state)

    def _update(self, name: str, w: np.ndarray, g: np.ndarray, state: dict[str, np.ndarray]) -> None:
        raise NotImplementedError

    def _optax_decayed(self, w: np.ndarray, g: np.ndarray) -> np.ndarray:
        """optax convention, coupled weight decay: ``optax.add_decayed_weights(wd)`` chained before
        the alias, ``g + wd * w`` (optax/transforms/_adding.py::add_decayed_weights; skipped at 0)."""
        decay = self.options.get("weight_decay")
        return g + decay * w if decay else g

    def _optax_count(self, state: dict[str, np.ndarray]) -> int:
        """optax convention: the transformation's int32 step ``count`` after this step
        (``numerics.safe_increment``), kept in `state` as a 0-d int32 array; returns it."""
        state["count"] = np.array(min(self.iterations, np.iinfo(np.int32).max), dtype=np.int32)
        return int(state["count"])

    def __repr__(self) -> str:
        options = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        return f"{type(self).__name__}({options}, convention={self.convention!r})"


class SGD(Optimizer):
    """SGD with momentum. torch: b = g (first step) else mu b + (1 - dampening) g;
    w -= lr * (g + mu b if nesterov else b). keras: v = mu v - lr g; w += v
    (nesterov: w += mu v - lr g). Keras has no dampening. nesterov with momentum 0: torch refuses
    it, Keras takes plain steps w -= g lr (nesterov has no effect).
    optax (``alias.py::sgd`` = chain(trace, scale_by_learning_rate)): t = g + mu t (slot ``trace``,
    from zeros); u = g + mu t if nesterov else t; w = w + (-lr) u. ``optax.sgd``'s momentum
    default is None (no trace: plain steps; momentum 0 is that here); no dampening (only
    dampening=0 can step)."""

    name = "sgd"
    defaults = {
        "torch": {"lr": 1e-3, "momentum": 0.0, "dampening": 0.0, "nesterov": False, "weight_decay": 0.0},
        "keras": {"lr": 0.01, "momentum": 0.0, "nesterov": False, "weight_decay": 0.0},
        "optax": {"lr": None, "momentum": 0.0, "nesterov": False, "weight_decay": 0.0, "dampening": 0.0},
    }

    def _before_step(self):
        super()._before_step()
        # optax's trace has no dampening. Only 0 can step; any other value is refused here rather
        # than at construction, so that scenario validation (which builds every convention from the
        # scenario's options) keeps accepting torch's dampening in runs without an optax backend.
        if self.convention == "optax" and self.options["dampening"]:
            raise ValueError(f"sgd option dampening={self.options['dampening']!r} has no optax equivalent "
                             "(optax's trace is t = g + momentum * t, without dampening); use 0")

    def _validate(self):
        # torch/optim/sgd.py::SGD.__init__ refuses nesterov with momentum <= 0 or dampening != 0.
        # Keras accepts SGD(nesterov=True) with momentum 0 (its default): update_step then takes
        # the plain branch, w -= g * lr, and nesterov has no effect (keras/src/optimizers/sgd.py).
        if self.convention != "torch" or not self.options["nesterov"]:
            return
        if self.options["momentum"] == 0 or self.options["dampening"]:
            raise ValueError(
                "nesterov momentum needs momentum > 0 and dampening = 0 in the torch convention "
                f"(got momentum={self.options['momentum']!r}, dampening={self.options['dampening']!r}; "
                "torch.optim.SGD refuses it: 'Nesterov momentum requires a momentum and zero dampening'). "
                "Keras' SGD accepts nesterov=True with momentum 0 and then takes plain SGD steps"
            )

    def _update(self, name, w, g, state):
        lr, mu = self.options["lr"], self.options["momentum"]
        if self.convention == "optax":
            g = self._optax_decayed(w, g)
            if mu:  # optax/transforms/_accumulation.py::trace: f = lambda g, t: g + decay * t
                trace = state.setdefault("trace", np.zeros_like(w))
                trace[...] = g + mu * trace
                g = g + mu * trace if self.options["nesterov"] else trace
            w += -lr * g  # transform.py::scale(-lr): step_size * g; update.py::apply_updates: p + u
            return
        if self.convention == "keras":
            if mu == 0:
                w -= g * lr
                return
            v = state.setdefault("momentum", np.zeros_like(w))
            np.subtract(v * mu, g * lr, out=v)
            w += (v * mu - g * lr) if self.options["nesterov"] else v
            return
        if self.options["weight_decay"]:
            g = g + self.options["weight_decay"] * w
        if mu:
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = g.copy()
            else:
                buffer = state["momentum_buffer"]
                buffer *= mu
                buffer += (1.0 - self.options["dampening"]) * g
            buffer = state["momentum_buffer"]
            g = g + mu * buffer if self.options["nesterov"] else buffer
        w += -lr * g


class Adam(Optimizer):
    """Adam. torch: m = lerp(m, g, 1-b1); v = b2 v + (1-b2) g^2;
    w -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps); weight_decay is L2 (coupled).
    keras: alpha = lr sqrt(1-b2^t)/(1-b1^t); m += (g-m)(1-b1); v += (g^2-v)(1-b2);
    w -= m alpha / (sqrt(v) + eps_hat); weight_decay is decoupled.
    optax (``transform.py::scale_by_adam``, then ``scale_by_learning_rate``): mu = (1-b1) g + b1 mu;
    nu = (1-b2) g^2 + b2 nu; count += 1; u = (mu / (1-b1^count)) / (sqrt(nu / (1-b2^count) + eps_root)
    + eps); w = w + (-lr) u. amsgrad is ``optax.amsgrad`` (``scale_by_amsgrad``): nu_max =
    max(nu_max, nu / (1-b2^count)) replaces the corrected nu (torch takes the max before the
    correction). weight_decay: Adam chains ``add_decayed_weights`` before (coupled, optax#417),
    AdamW after the Adam scaling, u + wd w (``alias.py::adamw``), so the decay is multiplied by lr."""

    name = "adam"
    decoupled = False
    defaults = {
        "torch": {"lr": 1e-3, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-8, "weight_decay": 0.0, "amsgrad": False},
        "keras": {"lr": 1e-3, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7, "weight_decay": 0.0, "amsgrad": False},
        "optax": {"lr": None, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-8, "eps_root": 0.0, "weight_decay": 0.0,
                  "amsgrad": False},
    }

    def _validate(self):
        for beta in ("beta_1", "beta_2"):
            if not self.options[beta] < 1:
                raise ValueError(f"{self.name} option {beta} must be in [0, 1), got {self.options[beta]!r}")

    def _update(self, name, w, g, state):
        o = self.options
        lr, b1, b2, eps, t = o["lr"], o["beta_1"], o["beta_2"], o["epsilon"], self.iterations
        if self.convention == "optax":
            if not self.decoupled:
                g = self._optax_decayed(w, g)
            mu = state.setdefault("mu", np.zeros_like(w))
            nu = state.setdefault("nu", np.zeros_like(w))
            # _tree_math.py::tree_update_moment(_per_elem_norm): (1 - decay) * g**order + decay * t
            mu[...] = (1 - b1) * g + b1 * mu
            nu[...] = (1 - b2) * (g * g) + b2 * nu
            count = self._optax_count(state)
            # tree_bias_correction: t / (1 - decay**count), the divisor in the moment's dtype
            mu_hat = mu / (1 - b1**count)
            nu_hat = nu / (1 - b2**count)
            if o["amsgrad"]:  # scale_by_amsgrad: the max of the bias-corrected nu
                nu_max = state.setdefault("nu_max", np.zeros_like(w))
                np.maximum(nu_max, nu_hat, out=nu_max)
                nu_hat = nu_max
            u = mu_hat / (np.sqrt(nu_hat + o["eps_root"]) + eps)
            if self.decoupled and o["weight_decay"]:  # alias.py::adamw: add_decayed_weights after the scaling
                u = u + o["weight_decay"] * w
            w += -lr * u
            return
        if self.convention == "keras":
            m = state.setdefault("momentum", np.zeros_like(w))
            v = state.setdefault("velocity", np.zeros_like(w))
            alpha = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
            m += (g - m) * (1 - b1)
            v += (np.square(g) - v) * (1 - b2)
            if o["amsgrad"]:
                v_hat = state.setdefault("velocity_hat", np.zeros_like(w))
                np.maximum(v_hat, v, out=v_hat)
                v = v_hat
            w -= (m * alpha) / (np.sqrt(v) + eps)
            return
        m = state.setdefault("exp_avg", np.zeros_like(w))
        v = state.setdefault("exp_avg_sq", np.zeros_like(w))
        if o["weight_decay"]:
            if self.decoupled:
                w *= 1 - lr * o["weight_decay"]
            else:
                g = g + o["weight_decay"] * w
        weight = 1 - b1  # torch lerp: self + w (end - self) for w < 0.5, else end - (end - self)(1 - w)
        if weight < 0.5:
            m += weight * (g - m)
        else:
            m[...] = g - (g - m) * (1 - weight)
        v *= b2
        v += (1 - b2) * g * g
        if o["amsgrad"]:
            v_max = state.setdefault("max_exp_avg_sq", np.zeros_like(w))
            np.maximum(v_max, v, out=v_max)
            v = v_max
        step_size = lr / (1 - b1**t)
        denom = np.sqrt(v) / (1 - b2**t) ** 0.5 + eps
        w += -step_size * (m / denom)


class AdamW(Adam):
    """Adam with decoupled weight decay (torch default 1e-2, keras 0.004, optax 1e-4; optax
    multiplies it by the learning rate: w = w - lr (u + wd w))."""

    name = "adamw"
    decoupled = True
    defaults = {
        "torch": {**Adam.defaults["torch"], "weight_decay": 1e-2},
        "keras": {**Adam.defaults["keras"], "weight_decay": 0.004},
        "optax": {**Adam.defaults["optax"], "weight_decay": 1e-4},
    }


class RMSprop(Optimizer):
    """RMSprop. torch: s = a s + (1-a) g^2; w -= lr g / (sqrt(s) + eps) (eps outside the root).
    keras: v = rho v + (1-rho) g^2; w -= lr g / sqrt(v + eps) (eps inside). `rho` is torch's
    `alpha`; both support momentum and centered.
    optax (``alias.py::rmsprop`` = chain(scale_by_rms | scale_by_stddev, scale_by_learning_rate,
    trace)): nu = (1-decay) g^2 + decay nu, from ``initial_scale``; centered: mu = (1-decay) g +
    decay mu, nu - mu^2; s = rsqrt(nu + eps) (``eps_in_sqrt``, the default) or 1 / (sqrt(nu) + eps);
    u = (-lr) (s g); momentum traces the lr-scaled update, t = u + momentum t; w = w + t.
    ``rho`` is optax's ``decay`` (default 0.9), eps default 1e-8."""

    name = "rmsprop"
    defaults = {
        "torch": {"lr": 1e-2, "rho": 0.99, "epsilon": 1e-8, "momentum": 0.0, "centered": False, "weight_decay": 0.0},
        "keras": {"lr": 1e-3, "rho": 0.9, "epsilon": 1e-7, "momentum": 0.0, "centered": False, "weight_decay": 0.0},
        "optax": {"lr": None, "rho": 0.9, "epsilon": 1e-8, "momentum": 0.0, "centered": False, "weight_decay": 0.0,
                  "eps_in_sqrt": True, "initial_scale": 0.0},
    }

    def _update(self, name, w, g, state):
        o = self.options
        lr, rho, eps, mu = o["lr"], o["rho"], o["epsilon"], o["momentum"]
        if self.convention == "optax":
            g = self._optax_decayed(w, g)
            nu = state.setdefault("nu", np.full_like(w, o["initial_scale"]))
            nu[...] = (1 - rho) * (g * g) + rho * nu
            if o["centered"]:  # transform.py::scale_by_stddev
                first = state.setdefault("mu", np.zeros_like(w))
                first[...] = (1 - rho) * g + rho * first
                variance = nu - first * first
            else:  # transform.py::scale_by_rms
                variance = nu
            if o["eps_in_sqrt"]:
                scaling = 1 / np.sqrt(variance + eps)  # jax.lax.rsqrt(n + eps), within 1 ulp
            else:
                scaling = 1 / (np.sqrt(variance) + eps)
            update = -lr * (scaling * g)
            if mu:  # trace after scale_by_learning_rate: it accumulates lr-scaled updates
                trace = state.setdefault("trace", np.zeros_like(w))
                trace[...] = update + mu * trace
                update = trace
            w += update
            return
        if self.convention == "keras":
            s = state.setdefault("velocity", np.zeros_like(w))
            s[...] = rho * s + (1 - rho) * np.square(g)
            if o["centered"]:
                avg = state.setdefault("average_gradient", np.zeros_like(w))
                avg[...] = rho * avg + (1 - rho) * g
                denominator = s - np.square(avg) + eps
            else:
                denominator = s + eps
            increment = (lr * g) / np.sqrt(denominator)
            if mu > 0:
                buffer = state.setdefault("momentum", np.zeros_like(w))
                buffer[...] = mu * buffer + increment
                w -= buffer
            else:
                w -= increment
            return
        s = state.setdefault("square_avg", np.zeros_like(w))
        if o["weight_decay"]:
            g = g + o["weight_decay"] * w
        s *= rho
        s += (1 - rho) * g * g
        if o["centered"]:
            avg = state.setdefault("grad_avg", np.zeros_like(w))
            avg += (1 - rho) * (g - avg)
            denom = np.sqrt(s - avg * avg) + eps
        else:
            denom = np.sqrt(s) + eps
        if mu > 0:
            buffer = state.setdefault("momentum_buffer", np.zeros_like(w))
            buffer *= mu
            buffer += g / denom
            w += -lr * buffer
        else:
            w += -lr * (g / denom)


class Adagrad(Optimizer):
    """Adagrad. torch: S += g^2; w -= lr g / (sqrt(S) + eps), S starts at 0, eps 1e-10.
    keras: S += g^2; w -= lr g / sqrt(S + eps), S starts at 0.1, eps 1e-7.
    optax (``transform.py::scale_by_rss``, then ``scale_by_learning_rate``): S = g^2 + S from 0.1;
    u = where(S > 0, rsqrt(S + eps), 0) g; w = w + (-lr) u; eps 1e-7."""

    name = "adagrad"
    defaults = {
        "torch": {"lr": 1e-2, "initial_accumulator_value": 0.0, "epsilon": 1e-10, "weight_decay": 0.0},
        "keras": {"lr": 1e-3, "initial_accumulator_value": 0.1, "epsilon": 1e-7, "weight_decay": 0.0},
        "optax": {"lr": None, "initial_accumulator_value": 0.1, "epsilon": 1e-7, "weight_decay": 0.0},
    }

    def _update(self, name, w, g, state):
        o = self.options
        if self.convention == "optax":
            g = self._optax_decayed(w, g)
            total = state.setdefault("sum_of_squares", np.full_like(w, o["initial_accumulator_value"]))
            total[...] = g * g + total
            with np.errstate(divide="ignore"):
                scaling = np.where(total > 0, 1 / np.sqrt(total + o["epsilon"]), 0.0)
            w += -o["lr"] * (scaling * g)
            return
        slot = "accumulator" if self.convention == "keras" else "sum"
        if slot not in state:
            state[slot] = np.full_like(w, o["initial_accumulator_value"])
        accumulator = state[slot]
        if self.convention == "keras":
            accumulator += np.square(g)
            w -= (o["lr"] * g) / np.sqrt(accumulator + o["epsilon"])
            return
        if o["weight_decay"]:
            g = g + o["weight_decay"] * w
        accumulator += g * g
        w += -o["lr"] * (g / (np.sqrt(accumulator) + o["epsilon"]))


_REGISTRY: dict[str, type[Optimizer]] = {cls.name: cls for cls in (SGD, Adam, AdamW, RMSprop, Adagrad)}
NAMES = tuple(_REGISTRY)


def get(name: str, convention: str = "torch", **options) -> Optimizer:
    """Build an optimizer by name: ``get("adam", convention="keras", lr=1e-3)``."""
    if name not in _REGISTRY:
        raise unknown_name("optimizer", name, NAMES)
    return _REGISTRY[name](convention=convention, **options)
