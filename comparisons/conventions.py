"""Known, deliberate differences between optimizer conventions (PyTorch 2.13, Keras 3.15 on
TensorFlow, optax 0.2.8 on JAX 0.10; batch norm on JAX: flax 0.12.8's formulas), keyed by convention name.

Each entry gives one formula per convention (``formulas["torch"]``, ``formulas["keras"]``,
``formulas["optax"]``, the last also saying what the JAX backend does outside the optimizer; a
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


def _both(torch: str, keras: str, optax: str | None = None) -> dict[str, str]:
    return {"torch": torch, "keras": keras} if optax is None else {"torch": torch, "keras": keras, "optax": optax}


def _optimizer(*names: str) -> Callable[[Scenario], bool]:
    return lambda s: s.optimizer["name"] in names


def _omits(name: str, *options: str) -> Callable[[Scenario], bool]:
    return lambda s: s.optimizer["name"] == name and any(o not in s.optimizer for o in options)


def _activation(name: str) -> Callable[[Scenario], bool]:
    def applies(s: Scenario) -> bool:
        activations = s.network.get("activations") or [layer.get("activation") for layer in _layers(s)]
        return any((a if isinstance(a, str) else (a or {}).get("name")) == name for a in activations)
    return applies


def _layers(s: Scenario) -> list[Mapping[str, Any]]:
    """The scenario's layer specs (empty for an MLP given by sizes + activations)."""
    return [layer for layer in s.network.get("layers") or [] if isinstance(layer, Mapping)]


def _layer(kind: str, test: Callable[[Mapping[str, Any]], bool] = lambda layer: True) -> Callable[[Scenario], bool]:
    """Applies when a layer of `kind` (for which `test` holds) is in the network."""
    return lambda s: any(layer.get("type") == kind and test(layer) for layer in _layers(s))


CONVENTIONS: tuple[Convention, ...] = (
    Convention("sgd_momentum_form", "SGD momentum: buffer of gradients vs velocity of steps",
               _both("b = g (first step), b = mu*b + (1-dampening)*g; w -= lr*b (nesterov: w -= lr*(g + mu*b))",
               "v = mu*v - lr*g; w += v (nesterov: w += mu*v - lr*g); no dampening",
               "trace t = g + mu*t from 0 (t = g at step 1); w += -lr*t (nesterov: w += -lr*(g + mu*t)); no dampening; "
               "momentum default None (no trace): torch's buffer without dampening, bit for bit"),
               "torch/optim/sgd.py::_single_tensor_sgd; keras/src/optimizers/sgd.py::update_step; "
               "optax/_src/alias.py::sgd, optax/transforms/_accumulation.py::trace",
               lambda s: s.optimizer["name"] == "sgd" and bool(s.optimizer.get("momentum"))),
    Convention("weight_decay_coupling", "Weight decay: added to the gradient (torch) vs decoupled (Keras)",
               _both("SGD/Adam/RMSprop/Adagrad: g += wd*w before the update; AdamW: w *= 1 - lr*wd",
               "every optimizer: w -= w*wd*lr before update_step",
               "AdamW only: u + wd*w after the Adam scaling, times lr (w -= lr*(u + wd*w)); the other aliases take "
               "none: optax.chain(add_decayed_weights(wd), alias) adds wd*w to g (coupled, as torch; used here)"),
               "torch/optim/*.py; keras/src/optimizers/base_optimizer.py::_apply_weight_decay; "
               "optax/_src/alias.py::adamw, optax/transforms/_adding.py::add_decayed_weights",
               lambda s: bool(s.optimizer.get("weight_decay")) or s.optimizer["name"] == "adamw"),
    Convention("adam_epsilon", "Adam epsilon placement",
               _both("w -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps), eps default 1e-8",
               "w -= m * lr*sqrt(1-b2^t)/(1-b1^t) / (sqrt(v) + eps_hat), eps default 1e-7; eps_hat = eps*sqrt(1-b2^t) in torch terms",
               "w -= lr * (m/(1-b1^t)) / (sqrt(v/(1-b2^t) + eps_root) + eps), eps 1e-8, eps_root 0: torch's placement, "
               "other operation order (last bits); amsgrad: max of the corrected v (torch: of the raw v)"),
               "torch/optim/adam.py::_single_tensor_adam; keras/src/optimizers/adam.py::update_step; "
               "optax/_src/transform.py::scale_by_adam, scale_by_amsgrad",
               _optimizer("adam", "adamw")),
    Convention("rmsprop_epsilon", "RMSprop epsilon inside (Keras) or outside (torch) the square root; defaults",
               _both("w -= lr*g/(sqrt(s) + eps); alpha (rho) default 0.99, eps 1e-8",
               "w -= lr*g/sqrt(v + eps); rho default 0.9, eps 1e-7",
               "w -= lr*g*rsqrt(v + eps) (eps_in_sqrt=True; False gives torch's sqrt(v) + eps); decay default 0.9, "
               "eps 1e-8; momentum traces the lr-scaled step: t = -lr*g*rsqrt(v + eps) + mu*t; w += t"),
               "torch/optim/rmsprop.py::_single_tensor_rmsprop; keras/src/optimizers/rmsprop.py::update_step; "
               "optax/_src/alias.py::rmsprop, optax/_src/transform.py::scale_by_rms, scale_by_stddev",
               _optimizer("rmsprop")),
    Convention("adagrad_accumulator", "Adagrad epsilon placement and initial accumulator",
               _both("S starts at 0; w -= lr*g/(sqrt(S) + eps), eps 1e-10",
               "S starts at 0.1; w -= lr*g/sqrt(S + eps), eps 1e-7",
               "S starts at 0.1; w -= lr*g*rsqrt(S + eps) (0 where S = 0), eps 1e-7: Keras' formula"),
               "torch/optim/adagrad.py::_single_tensor_adagrad; keras/src/optimizers/adagrad.py::update_step; "
               "optax/_src/transform.py::scale_by_rss",
               _optimizer("adagrad")),
    Convention("optimizer_defaults", "Hyperparameters left out take each framework's own default",
               _both("SGD lr 1e-3; Adam eps 1e-8; RMSprop alpha 0.99, eps 1e-8; Adagrad eps 1e-10, init 0; AdamW wd 1e-2",
               "SGD lr 0.01; Adam eps 1e-7; RMSprop rho 0.9, eps 1e-7; Adagrad eps 1e-7, init 0.1; AdamW wd 0.004",
               "no default lr; Adam eps 1e-8, eps_root 0; RMSprop decay 0.9, eps 1e-8 (in the root); Adagrad eps 1e-7, "
               "init 0.1; AdamW wd 1e-4"),
               "torch.optim constructors; keras.optimizers constructors; optax aliases (optax/_src/alias.py)",
               lambda s: _omits("adam", "epsilon")(s) or _omits("adamw", "epsilon", "weight_decay")(s)
               or _omits("rmsprop", "rho", "epsilon")(s) or _omits("adagrad", "epsilon", "initial_accumulator_value")(s)),
    Convention("keras_float32_hyperparameters", "Keras on TensorFlow rounds Python-float hyperparameters to float32",
               _both("exact float64",
               "momentum, betas, weight decay, regularizer and leaky-ReLU slopes pass through float32 unless given as np.float64; this harness passes np.float64 and an exact L2 regularizer",
               "exact float64 once jax_enable_x64 is on before any array exists (else float64 silently becomes float32); "
               "Python-float hyperparameters are weak-typed"),
               "keras/src/backend/tensorflow/core.py::cast; keras/src/regularizers/regularizers.py::L2",
               lambda s: True),
    Convention("softplus_threshold", "softplus switches to the identity for large inputs",
               _both("nn.Softplus(beta=1, threshold=20): returns z when z > 20 (differs from log1p(e^z) by up to 7.6e-10)",
               "TF kernel: returns z above about 34",
               "jax.nn.softplus = logaddexp(z, 0): no threshold (as scratchnet)"),
               "torch/nn/modules/activation.py::Softplus; tensorflow/core/kernels/softplus_op.h",
               _activation("softplus")),
    Convention("cross_entropy_logits", "Cross-entropy on sigmoid/softmax outputs",
               _both("BCEWithLogitsLoss / cross_entropy take logits (used here); BCELoss clamps log at -100",
               "BinaryCrossentropy/CategoricalCrossentropy silently use the logits of a Keras sigmoid/softmax; on plain probabilities they clip to [1e-7, 1-1e-7] and the gradient is 0 where clipped",
               "optax.losses.sigmoid_binary_cross_entropy / softmax_cross_entropy take logits (used here); no clipping"),
               "aten/src/ATen/native/Loss.cpp; keras/src/backend/tensorflow/nn.py::_get_logits",
               lambda s: s.loss["name"] != "squared_error"),
    Convention("relu_grad_at_zero", "ReLU derivative at exactly 0",
               _both("0 (threshold_backward)", "0 (ReluGrad: g*(x > 0))",
                     "0 (jax.nn.relu's custom JVP); jax.nn.leaky_relu is where(x >= 0, ...): slope 1 at exactly 0"),
               "tools/autograd/derivatives.yaml; tensorflow/core/kernels/relu_op_functor.h",
               _activation("relu")),
    Convention("default_initializers", "Default initial weights (not used in comparisons: weights are copied)",
               _both("Linear: U(+-1/sqrt(fan_in)) for weight and bias", "Dense: glorot_uniform kernel, zero bias",
                     "none: plain JAX has no layers (weights are passed in)"),
               "torch/nn/modules/linear.py::reset_parameters; keras/src/layers/core/dense.py",
               lambda s: False),
    # Layer conventions (conv nets). Measured by tests/test_layer_conventions.py and on the
    # catalog scenario digits-cnn-batchnorm-dropout (20 momentum-SGD steps, float64, one
    # difference changed at a time); in a run the batch-norm ones are measured again, as the gap
    # between scratchnet and scratchnet[keras].
    Convention("batch_norm_momentum", "Batch-norm momentum weighs the new batch (torch) or the old statistic (Keras)",
               _both("running = (1 - m)*running + m*batch, m default 0.1",
               "moving = moving*m + batch*(1 - m), m default 0.99: the same number means the other weight. A scenario's "
               "momentum m is torch's (the batch's weight); Keras gets 1 - m. Measured: the defaults leave the running means "
               "83% apart after 20 steps; momentum = 0.1 written for both, 49%",
               "flax.linen.BatchNorm's (JAX has no batch norm; the jax backend computes flax's formulas): ra = momentum*ra + "
               "(1 - momentum)*batch, momentum default 0.99, the old statistic's weight as in Keras (a scenario's m: flax gets "
               "1 - m). Measured with the optimizer fixed, 20 steps: running means 81-83% from torch's defaults, the loss the "
               "same up to rounding (3.5e-13: training mode normalises with the batch's statistics)"),
               "torch/nn/modules/batchnorm.py::_BatchNorm; keras/src/layers/normalization/batch_normalization.py::call; "
               "flax/linen/normalization.py::BatchNorm.__call__",
               _layer("batch_norm")),
    Convention("batch_norm_eps", "Batch-norm epsilon defaults",
               _both("eps 1e-5", "epsilon 1e-3. Measured at step 0: loss 0.15% and gradients up to 9.8% apart (ReLU "
               "features of 8x8 digits have small variances, so eps matters)",
               "epsilon 1e-5 (flax.linen.BatchNorm), as torch. Measured against Keras' 1e-3 (all else equal): loss 0.15% "
               "and gradients up to 11% apart at step 0, the loss up to 22% within 20 steps, running means 23-33% after them"),
               "torch.nn.BatchNorm2d / keras.layers.BatchNormalization / flax.linen.BatchNorm constructors",
               _layer("batch_norm", lambda layer: layer.get("eps") is None)),
    Convention("batch_norm_running_variance", "Batch-norm running variance: unbiased (torch) or biased (Keras)",
               _both("running_var takes the unbiased batch variance (sum / (n - 1)); the output is normalised with the "
               "biased one (sum / n)",
               "moving_variance takes the biased batch variance, as the output. Measured with the same momentum and eps: "
               "running variances 2.7% apart after 20 steps behind a dense layer (32 values per feature), 0.032% behind a "
               "convolution (2048 values per channel)",
               "the biased batch variance, as Keras (flax.linen.BatchNorm; its batch variance: batch_norm_batch_variance). "
               "Measured with the optimizer fixed: running variances 107% (behind the dense layer) and 261% (behind the "
               "convolution) from torch's defaults after 20 steps, momentum included"),
               "aten/src/ATen/native/Normalization.cpp (batch_norm_cpu_update_stats); "
               "keras/src/layers/normalization/batch_normalization.py::call; flax/linen/normalization.py::BatchNorm.__call__",
               _layer("batch_norm")),
    Convention("batch_norm_batch_variance", "Batch-norm batch variance: mean of squared deviations or one pass E[x^2] - E[x]^2",
               _both("var = sum((x - mean)^2) / n, two passes over x",
                     "var = mean((x - mean)^2), two passes (ops.moments on TensorFlow: tf.nn.moments)",
               "two passes as well: flax's use_fast_variance=False. Not followed: flax.linen.BatchNorm's default "
               "use_fast_variance=True, var = max(0, mean(x^2) - mean(x)^2), one pass. The same number in exact "
               "arithmetic; its rounding error is about eps_machine * mean^2, so where a feature saturates (tanh near +-1: "
               "var ~1e-13 << eps) one ulp of mean(x^2) moves var + eps by ~2e-11 relative. Measured on "
               "digits-cnn-batchnorm-dropout, anchored, one pass against two: gradients up to 2.1e-11 apart (step 19; "
               "<= 1e-13 before step 7), running statistics 1e-16; with the one pass on both sides, the jax lane against "
               "scratchnet[optax] (XLA's summation order, and under jit E[x^2] - E[x]*E[x] fused into one multiply-add, "
               "against NumPy's) differed by up to 1.3e-11 (jax_nojit 8.9e-12) from step 10 on, beyond the anchored rtol "
               "1e-12: no two correct implementations of the one-pass form agree there; with two passes on both sides the "
               "same run stays within 3.4e-13. So the jax lane uses the two-pass form"),
               "aten/src/ATen/native/cpu/batch_norm_kernel.cpp::batch_norm_cpu_collect_stats_contiguous_impl; "
               "keras/src/backend/tensorflow/nn.py::moments, tensorflow/python/ops/nn_impl.py::moments; "
               "flax/linen/normalization.py::_compute_stats",
               lambda s: False),  # every backend computes two passes: documented, never in play
    Convention("max_pool_ties", "Max-pooling gradient on tied maxima",
               _both("the first maximum of each window in row-major order gets the gradient",
               "the same (TensorFlow MaxPoolGrad); measured identical on windows with tied maxima, overlapping windows "
               "too, and so is scratchnet's",
               "the same: the derivative of lax.reduce_window's max (select_and_scatter_add) routes to the first maximum in "
               "row-major order (measured on tied windows)"),
               "aten/src/ATen/native/cpu/MaxPoolKernel.cpp; tensorflow/core/kernels/maxpooling_op.cc",
               _layer("max_pool2d")),
    Convention("conv_same_padding", "Convolution padding \"same\" for even kernels and strides",
               _both("padding='same' only with stride 1 (RuntimeError for strided convolutions); even kernels pad the extra "
               "row and column at the bottom and right; an int pads both sides (kernel 4, padding 2: 7x7 gives 8x8)",
               "'same' is TensorFlow's SAME for any stride: output ceil(n / stride), total padding max((out - 1)*stride + k "
               "- n, 0), the odd one at the bottom and right (7x7, kernel 4, stride 2: 1 above, 2 below). scratchnet follows "
               "it; the torch backend pads explicitly (F.pad) before the convolution. Measured: torch's 'same' equals "
               "TensorFlow's for stride 1 and kernel 4 (7e-15)",
               "lax.conv_general_dilated takes explicit (low, high) pads per axis; the jax backend passes scratchnet's "
               "(TensorFlow's rule for 'same'); lax's own padding='SAME' is that rule too"),
               "torch/nn/modules/conv.py::_conv_forward; tensorflow/python/ops/nn_ops.py (SAME); keras/src/layers/convolutional",
               _layer("conv2d", lambda layer: layer.get("padding") == "same")),
    Convention("image_layout", "Image layout: channels-first (torch) or channels-last (Keras on a CPU)",
               _both("(N, C, H, W); Conv2d.weight (out, in, kh, kw); nn.Flatten orders features (c, h, w)",
               "TensorFlow's CPU convolutions are channels-last only (channels_first raises UnimplementedError): (N, H, W, C); "
               "kernel (kh, kw, in, out); Flatten orders features (h, w, c), so a dense layer after a flatten needs its weight "
               "rows permuted (the Keras backend converts at its boundary). Measured: rows loaded unpermuted give a loss 0.58% "
               "and gradients 149% off",
               "channels-first as used here: lax.conv_general_dilated with dimension_numbers (NCHW, OIHW, NCHW), the "
               "canonical layouts as they are; flatten is a C-order reshape, (c, h, w) as torch"),
               "torch/nn/modules/conv.py, flatten.py; keras/src/layers/convolutional/base_conv.py, reshaping/flatten.py",
               lambda s: bool(_layers(s)) and any(layer.get("type") in ("conv2d", "flatten") for layer in _layers(s))),
    Convention("dropout_masks", "Dropout masks come from each framework's own generator",
               _both("nn.Dropout: out = x * bernoulli(1 - p) / (1 - p) from torch's generator",
               "Dropout: out = x * mask / (1 - rate) from TensorFlow's RNG; no two frameworks draw the same units. This "
               "harness draws one mask per step (scratchnet.layers.dropout_mask(seed, step, layer_index, shape)) and injects it "
               "into every backend, so a dropout scenario compares exactly",
               "flax.linen.Dropout draws from jax.random keys; the jax backend multiplies by the same injected mask / (1 - rate) "
               "instead, an argument of its jitted step (a closed-over mask would be a constant of the compiled step)"),
               "torch/nn/functional.py::dropout; keras/src/layers/regularization/dropout.py",
               _layer("dropout")),
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


def layers_coincide(network: Mapping[str, Any], first: str, second: str) -> bool:
    """Whether a scenario's layers (its ``network`` section) compute the same in conventions
    `first` and `second`. False as soon as a layer's behaviour depends on the convention (batch
    norm: default momentum and eps, and torch's unbiased running variance), whatever the
    optimizer: then a framework of the other convention needs its scratchnet twin even when
    `coincide` says the optimizers agree."""
    import scratchnet as sn

    if first == second:
        return True
    kinds = [layer.get("type") for layer in network.get("layers") or [] if isinstance(layer, Mapping)]
    return not any(getattr(sn.layers.LAYER_TYPES.get(kind), "CONVENTIONS", None) for kind in kinds)


def coincide(optimizer: str, options: Mapping[str, Any], first: str, second: str, dtype: str = "float64") -> bool:
    """Whether scratchnet's `optimizer(**options)` makes bit-identical updates in conventions
    `first` and `second`: a dry run of 4 steps on random weights with gradients at scales from
    1e-8 to 1e3 (where epsilons, accumulators and momentum forms show). True means a twin run in
    `second` would equal the run in `first` bit for bit, so the runner judges a `second`-convention
    framework exactly against the reference instead of building the twin. Options one of the
    conventions refuses count as a difference."""
    import numpy as np

    import scratchnet as sn

    rng = np.random.default_rng(0)
    shapes = {"W": (7, 5), "b": (5,)}
    for scale in (1e-8, 1e-4, 1.0, 1e3):
        try:
            optimizers = [sn.optim.get(optimizer, convention=c, **options) for c in (first, second)]
        except (TypeError, ValueError):
            return False
        start = {name: rng.standard_normal(shape).astype(dtype) for name, shape in shapes.items()}
        params = [{name: value.copy() for name, value in start.items()} for _ in optimizers]
        for _ in range(4):
            grads = {name: (scale * rng.standard_normal(shape)).astype(dtype) for name, shape in shapes.items()}
            for optimizer_, weights in zip(optimizers, params):
                optimizer_.step(weights, {name: value.copy() for name, value in grads.items()})
            if any(not np.array_equal(params[0][name], params[1][name]) for name in shapes):
                return False
    return True
