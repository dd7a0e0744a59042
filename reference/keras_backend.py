"""Keras 3 backend on TensorFlow: a `Sequential` of `Dense` layers, one step =
`GradientTape` + `optimizer.apply`, compiled with `tf.function` (graph mode, no XLA).

Exactness set-up (shared/research/conventions.md §0, §5):
* `KERAS_BACKEND=tensorflow` and `TF_ENABLE_ONEDNN_OPTS=0` before TensorFlow is imported, op
  determinism on, one intra/inter-op thread where TF still allows setting it;
* floatx and the global dtype policy set to the problem's dtype before any layer, loss or
  optimizer exists (Keras caches the policy, `dtype_policies/dtype_policy.py`);
* every hyperparameter passed as `np.float64`: on TensorFlow, Keras casts Python floats through
  float32 (`backend/tensorflow/core.py::cast`), so momentum 0.9 would become 0.8999999761581421;
* L2 through `kernel_regularizer`, but a float64-exact one: `keras.regularizers.L2` stores its
  coefficient as a Python float and TF rounds it to float32 (`regularizers.py::L2`);
* sigmoid/softmax on the Dense layers, so Keras' cross-entropy takes its logits path
  (`backend/tensorflow/nn.py::_get_logits`), as scratchnet and torch do;
* leaky ReLU as `where(z > 0, z, slope * z)`: Keras' built-in passes the slope as a float32 op
  attribute (0.2 becomes 0.2 - 2.98e-9).
Layers: each scratchnet layer kind maps to Keras through one entry of `LAYERS` (dense:
`keras.layers.Dense`; Keras kernels are (in, out): the canonical layout, no transpose).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

from reference.protocol import MissingFramework, Params, Problem, StepRecord

_CONFIGURED = False


def import_keras():
    """Import TensorFlow and Keras once, configured for exact, repeatable float64 runs."""
    global _CONFIGURED
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import keras
        import tensorflow as tf
    except ImportError as error:  # pragma: no cover - exercised where keras is absent
        raise MissingFramework(
            "the 'keras' backend needs TensorFlow and Keras 3: pip install "
            "'scratchnet-parity[keras]' -c constraints.txt"
        ) from error
    if keras.backend.backend() != "tensorflow":
        raise MissingFramework(
            f"the 'keras' backend needs Keras on TensorFlow, but KERAS_BACKEND is {keras.backend.backend()!r}; "
            "set KERAS_BACKEND=tensorflow before anything imports keras"
        )
    if not _CONFIGURED:
        tf.config.experimental.enable_op_determinism()
        for setter in (tf.config.threading.set_intra_op_parallelism_threads, tf.config.threading.set_inter_op_parallelism_threads):
            try:
                setter(1)
            except RuntimeError:  # TF already initialised by other code: keep its setting
                pass
        _CONFIGURED = True
    return keras, tf


_OPTIMIZERS = {  # scratchnet name -> (Keras class, scratchnet option -> Keras keyword)
    "sgd": ("SGD", {"lr": "learning_rate", "momentum": "momentum", "nesterov": "nesterov", "weight_decay": "weight_decay"}),
    "adam": ("Adam", {"lr": "learning_rate", "beta_1": "beta_1", "beta_2": "beta_2", "epsilon": "epsilon", "amsgrad": "amsgrad", "weight_decay": "weight_decay"}),
    "adamw": ("AdamW", {"lr": "learning_rate", "beta_1": "beta_1", "beta_2": "beta_2", "epsilon": "epsilon", "amsgrad": "amsgrad", "weight_decay": "weight_decay"}),
    "rmsprop": ("RMSprop", {"lr": "learning_rate", "rho": "rho", "momentum": "momentum", "epsilon": "epsilon", "centered": "centered", "weight_decay": "weight_decay"}),
    "adagrad": ("Adagrad", {"lr": "learning_rate", "initial_accumulator_value": "initial_accumulator_value", "epsilon": "epsilon", "weight_decay": "weight_decay"}),
}


def keras_optimizer_defaults(optimizer_class) -> dict:
    """Keyword -> default of a Keras optimizer constructor, read from its signature."""
    import inspect

    return {name: parameter.default for name, parameter in inspect.signature(optimizer_class.__init__).parameters.items()
            if parameter.default is not inspect.Parameter.empty}


def _exact_hyperparameter(keyword: str, value, default):
    """None (Keras' "off") unchanged, a flag as bool, every number as np.float64 (exact through
    TF's cast); the type is the one the Keras default has."""
    if value is None:
        return None
    if isinstance(default, bool):
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"Keras optimizer option {keyword} must be True or False, got {value!r}")
        return bool(value)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"Keras optimizer option {keyword} must be a number, got {type(value).__name__}")
    return np.float64(value)


# Keras optimizer attribute holding each slot list, by the slot names scratchnet's keras convention uses.
_SLOTS = {
    "SGD": {"momentum": "momentums"},
    "Adam": {"momentum": "_momentums", "velocity": "_velocities", "velocity_hat": "_velocity_hats"},
    "AdamW": {"momentum": "_momentums", "velocity": "_velocities", "velocity_hat": "_velocity_hats"},
    "RMSprop": {"velocity": "_velocities", "momentum": "_momentums", "average_gradient": "_average_gradients"},
    "Adagrad": {"accumulator": "_accumulators"},
}


def _numpy(tensor, dtype) -> np.ndarray:
    """A NumPy copy of a TF tensor or Keras variable (`.numpy()`, which avoids NumPy 2's
    deprecated __array__ path)."""
    value = tensor.numpy() if hasattr(tensor, "numpy") else np.asarray(tensor)
    return np.array(value, dtype=dtype, copy=True)


def _keras_activation(spec, keras):
    import scratchnet as sn

    activation = sn.activations.get(spec)
    ops = keras.ops
    if activation.name == "leaky_relu":
        slope = np.float64(activation.negative_slope)
        return lambda z: ops.where(z > 0, z, z * slope)
    if activation.name == "elu":
        alpha = np.float64(activation.alpha)
        return lambda z: keras.activations.elu(z, alpha=alpha)
    return activation.name


@dataclass(frozen=True)
class KerasLayer:
    """How one scratchnet layer kind is built in Keras, and how its variables convert.

    `layer(keras, layer, input_shape, dtype, name, regularizer)` builds the Keras layer, activation
    included, with `regularizer` (None without L2) on the slots the scratchnet layer declares
    `regularized`; `variables` maps each canonical slot to its Keras variable name, in canonical
    order; `to_keras` / `to_canonical` convert a slot's array between the canonical layout and
    Keras' (slots not listed have the same layout in both)."""

    layer: Callable[..., Any]
    variables: Mapping[str, str]
    to_keras: Mapping[str, Callable[[np.ndarray], np.ndarray]] = field(default_factory=dict)
    to_canonical: Mapping[str, Callable[[np.ndarray], np.ndarray]] = field(default_factory=dict)


def _dense(keras, layer, input_shape, dtype, name, regularizer):
    return keras.layers.Dense(layer.units, activation=_keras_activation(layer.activation, keras), use_bias=layer.bias,
                              kernel_regularizer=regularizer, dtype=dtype, name=name)


#: scratchnet layer kind -> Keras; a new layer type needs one entry here
LAYERS: dict[str, KerasLayer] = {
    "dense": KerasLayer(_dense, {"W": "kernel", "b": "bias"}),  # kernel (in, out) is the canonical W: no conversion
}


def layer_entry(layer) -> KerasLayer:
    """The `LAYERS` entry of a scratchnet layer; a clear error for a kind Keras cannot build yet."""
    if layer.kind not in LAYERS:
        raise ValueError(f"the keras backend has no {layer.kind!r} layer yet (supported: {', '.join(LAYERS)})")
    return LAYERS[layer.kind]


def _exact_l2(keras, coefficient: float):
    class ExactL2(keras.regularizers.Regularizer):
        """l2 * sum(W**2) with the coefficient kept in float64."""

        def __init__(self, l2):
            self.l2 = np.float64(l2)

        def __call__(self, x):
            return keras.ops.multiply(keras.ops.sum(keras.ops.square(x)), keras.ops.cast(self.l2, x.dtype))

        def get_config(self):
            return {"l2": float(self.l2)}

    return ExactL2(coefficient)


class KerasBackend:
    name = "keras"
    convention = "keras"

    def __init__(self, problem: Problem):
        keras, tf = self.keras, self.tf = import_keras()
        spec = self.spec = problem.network
        keras.config.set_floatx(spec["dtype"])
        keras.config.set_dtype_policy(spec["dtype"])
        self.dtype = np.dtype(spec["dtype"])
        self._build_model(spec)
        self.set_params(problem.initial_params)
        self.optimizer = self._build_optimizer(problem.optimizer)
        self._state_variables = [
            (f"{name}/{slot}", variable)
            for slot, attribute in _SLOTS[type(self.optimizer).__name__].items()
            for name, variable in zip(self.names, getattr(self.optimizer, attribute, None) or [])
        ]
        self._compile()

    def _build_model(self, spec) -> None:
        """The Sequential model of the description's layers, each through its `LAYERS` entry, and
        the canonical name and layout conversions of every trainable variable."""
        import scratchnet as sn

        keras = self.keras
        layers = sn.layers.layers_from_spec(spec["layers"])
        self.input_shape = sn.layers.check_input_shape(spec["input_shape"])
        shapes = sn.layers.input_shapes(layers, self.input_shape)
        self.output_shape = shapes[-1]
        entries = [layer_entry(layer) for layer in layers]
        built = [
            entry.layer(keras, layer, shape, spec["dtype"], sn.layers.layer_prefix(layer.kind, index),
                        _exact_l2(keras, spec["l2"]) if spec["l2"] else None)
            for index, (entry, layer, shape) in enumerate(zip(entries, layers, shapes))
        ]
        self.model = keras.Sequential([keras.Input(self.input_shape, dtype=spec["dtype"]), *built])
        self.names, self._to_keras, self._to_canonical = [], [], {}  # names and to_keras in model variable order
        for layer, entry, keras_layer, names in zip(layers, entries, built, sn.layers.layer_param_names(layers)):
            slots = {variable: slot for slot, variable in entry.variables.items()}
            for variable in keras_layer.trainable_variables:
                slot = slots[variable.name]
                self.names.append(names[slot])
                self._to_keras.append(entry.to_keras.get(slot))
                self._to_canonical[names[slot]] = entry.to_canonical.get(slot)
        if self.names != sn.layers.param_names(layers):
            raise ValueError(f"Keras orders the variables {self.names}, not in the canonical order {sn.layers.param_names(layers)}")

    def _build_optimizer(self, optimizer_spec):
        class_name, mapping = _OPTIMIZERS[optimizer_spec.name]
        options = {key: value for key, value in optimizer_spec.options.items() if value is not None}
        if "dampening" in options:
            raise ValueError("Keras SGD has no dampening; remove it or leave 'keras' out of the backends")
        unknown = [key for key in options if key not in mapping]
        if unknown:
            raise ValueError(f"Keras {class_name} has no option {unknown[0]!r} (known: {sorted(mapping)})")
        optimizer_class = getattr(self.keras.optimizers, class_name)
        # Options the scenario leaves out take Keras' own constructor defaults, read from Keras
        # (a reference never takes its settings from the code under test, scratchnet.optim).
        # Every option is still passed explicitly, floats as np.float64: a Python-float default
        # would be rounded to float32 by TF (backend/tensorflow/core.py::cast).
        defaults = keras_optimizer_defaults(optimizer_class)
        kwargs = {}
        for key, keyword in mapping.items():
            value = options[key] if key in options else defaults[keyword]
            kwargs[keyword] = _exact_hyperparameter(keyword, value, defaults[keyword])
        optimizer = optimizer_class(**kwargs)
        optimizer.build(self.model.trainable_variables)
        return optimizer

    def _loss(self, X, y):
        ops, spec = self.keras.ops, self.spec
        output = self.model(X, training=True)
        name = spec["loss"]
        if name == "squared_error":
            total = ops.sum(ops.square(output - y))
        elif name == "binary_cross_entropy":
            total = ops.sum(ops.binary_crossentropy(y, output))
        else:
            total = ops.sum(ops.categorical_crossentropy(y, output))
        shape = ops.shape(y)  # dynamic inside tf.function: one trace serves every batch size
        denominator = {"mean": shape[0] * shape[1], "batch_mean": shape[0], "sum": 1}[spec["reduction"]]
        if spec["reduction"] != "sum" or spec["scale"] != 1:
            # scale / denominator in the model dtype: the same IEEE division NumPy does
            factor = ops.divide(ops.cast(np.float64(spec["scale"]), total.dtype), ops.cast(denominator, total.dtype))
            total = total * factor
        loss = total
        if self.model.losses:
            loss = loss + ops.sum(ops.stack(self.model.losses))
        return loss

    def _loss_and_grad_tensors(self, X, y):
        with self.tf.GradientTape() as tape:
            loss = self._loss(X, y)
        return loss, tape.gradient(loss, self.model.trainable_variables)

    def _train_step(self, X, y):
        """One update; returns loss and gradients (before it), weights, optimizer state and
        iteration count (after it) as tensors, so that reading them costs no variable reads."""
        tf = self.tf
        loss, grads = self._loss_and_grad_tensors(X, y)
        self.optimizer.apply(grads, self.model.trainable_variables)
        weights = [tf.identity(v) for v in self.model.trainable_variables]
        state = [tf.identity(v) for _, v in self._state_variables]
        return loss, grads, weights, state, tf.identity(self.optimizer.iterations)

    def _compile(self):
        """The step and the gradient evaluation as `tf.function`s (graph mode, one trace for
        every batch size): about 3x faster than eager, and exact (the catalog's anchored float64
        parity is unchanged)."""
        tf = self.tf
        signature = [tf.TensorSpec([None, *self.input_shape], self.dtype.name),
                     tf.TensorSpec([None, *self.output_shape], self.dtype.name)]
        self._compiled_step = tf.function(self._train_step, input_signature=signature)
        self._compiled_gradients = tf.function(self._loss_and_grad_tensors, input_signature=signature)

    def _tensors(self, X, y):
        tf = self.tf
        return (tf.constant(np.ascontiguousarray(X, dtype=self.dtype)),
                tf.constant(np.ascontiguousarray(y, dtype=self.dtype)))

    def _canonical(self, tensors) -> Params:
        return {name: self._canonical_like(name, tensor) for name, tensor in zip(self.names, tensors)}

    def _canonical_like(self, name: str, tensor) -> np.ndarray:
        """A NumPy copy of a tensor shaped like parameter `name` (its value, gradient or an
        optimizer slot), converted to the canonical layout by the parameter's `LAYERS` entry."""
        value = _numpy(tensor, self.dtype)
        convert = self._to_canonical[name]
        return value if convert is None else np.ascontiguousarray(convert(value))

    def step(self, X: np.ndarray, y: np.ndarray) -> StepRecord:
        loss, grads, weights, state, iterations = self._compiled_step(*self._tensors(X, y))
        state = {key: self._canonical_like(key.rpartition("/")[0], value) for (key, _), value in zip(self._state_variables, state)}
        return StepRecord(int(iterations), float(loss), self._canonical(grads), self._canonical(weights), state)

    def get_params(self) -> Params:
        return self._canonical(self.model.trainable_variables)

    def set_params(self, params: Mapping[str, np.ndarray]) -> None:
        for name, variable, convert in zip(self.names, self.model.trainable_variables, self._to_keras):
            value = np.asarray(params[name])
            variable.assign(np.ascontiguousarray(value if convert is None else convert(value), dtype=self.dtype))

    def loss_and_grads(self, params, X, y):
        saved = self.get_params()
        try:
            self.set_params(params)
            loss, grads = self._compiled_gradients(*self._tensors(X, y))
            return float(loss), self._canonical(grads)
        finally:
            self.set_params(saved)
