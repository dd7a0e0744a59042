"""Keras 3 backend on TensorFlow: the problem's layers as Keras layers, one step =
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

Images: TensorFlow's CPU convolution supports channels-last only, so the model runs
channels-last, as Keras users write it, and this module converts at its boundary (`_Layout`):
inputs (batch, C, H, W) go in as (batch, H, W, C); conv kernels (out, in, kh, kw) are Keras'
(kh, kw, in, out); Keras' `Flatten` of (H, W, C) orders features (h, w, c), not the canonical
(c, h, w), so every parameter or state indexed by the features after a flatten (a dense layer's
weight rows, batch-norm vectors) is permuted, as each table entry declares (`feature_axes`), and
so are dropout masks. Conv padding given as numbers is a `ZeroPadding2D` before a "valid"
`Conv2D` ("same" is Keras' own: TensorFlow's rule, as scratchnet's). Batch norm is
`BatchNormalization(axis=-1)`: Keras' momentum is the weight of the old statistic, so a
canonical momentum m is passed as 1 - m; unset momentum and eps take Keras' defaults (0.99,
1e-3); moving_mean / moving_variance are the canonical running_mean / running_var. Dropout is a
layer that multiplies by the mask `scratchnet.layers.dropout_mask` draws for the backend's step
(fed to the compiled step as an input), so Keras drops the units every other backend drops.

Speed: the step is traced when the model is built and called through its concrete function
(skipping the `tf.function`'s argument binding, 0.3 -> 0.18 ms a call); a step's record reads
the step's output tensors in place (read-only, `_view`). Building and tracing a model takes
longer than a short run, so models are reused across runs of the same network and optimizer
(`_Pool`, at most 32 idle models and 4M variable entries; every variable is reset on reuse, and
a reused model computes the same bits as a new one); `clear_model_cache()` forgets them.
"""
from __future__ import annotations

import os
import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import lru_cache
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


def _view(tensor, dtype) -> np.ndarray:
    """A read-only view of a TF tensor's memory (CPU): ``np.asarray(memoryview(tensor))``, the
    zero-copy read TensorFlow documents for `Tensor.numpy`. TF tensors are immutable (a variable
    update that shares the buffer copies first), so the view keeps the values the step returned."""
    value = np.asarray(memoryview(tensor))
    return value if value.dtype == dtype else value.astype(dtype)


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
    Keras' (slots not listed have the same layout in both). `state` maps each canonical state
    slot to its Keras non-trainable variable. `feature_axes` ({slot: axis}, parameters and
    state) names the axis indexed by the layer's input features, which Keras orders differently
    after a `Flatten` of channels-last images (a dense layer's weight rows): the backend permutes
    it (`_Layout.features`). `layout` says how Keras' activations are laid out after the layer:
    ``"natural"`` (channels-last images, flat vectors as they are), ``"elementwise"`` (as its
    input: batch norm, dropout) or ``"flatten"`` (its input's order, flattened)."""

    layer: Callable[..., Any]
    variables: Mapping[str, str]
    to_keras: Mapping[str, Callable[[np.ndarray], np.ndarray]] = field(default_factory=dict)
    to_canonical: Mapping[str, Callable[[np.ndarray], np.ndarray]] = field(default_factory=dict)
    state: Mapping[str, str] = field(default_factory=dict)
    feature_axes: Mapping[str, int] = field(default_factory=dict)
    layout: str = "natural"


@dataclass(frozen=True)
class _Layout:
    """How Keras holds a canonical activation (batch, *shape): each Keras sample is the canonical
    sample's flat entries taken in `order`, shaped `keras_shape`. Natural layouts: flat samples
    as they are, images channels-last ((C, H, W) -> (H, W, C)); a flatten keeps its input's
    order."""

    shape: tuple[int, ...]
    keras_shape: tuple[int, ...]
    order: np.ndarray

    @classmethod
    def natural(cls, shape: tuple[int, ...]) -> "_Layout":
        axes = (*range(1, len(shape)), 0)
        return cls(tuple(shape), tuple(shape[axis] for axis in axes),
                   np.arange(int(np.prod(shape))).reshape(shape).transpose(axes).ravel())

    def flattened(self) -> "_Layout":
        return _Layout((int(np.prod(self.shape)),), (int(np.prod(self.shape)),), self.order)

    @property
    def identity(self) -> bool:
        return bool(np.array_equal(self.order, np.arange(self.order.size)))

    @property
    def features(self) -> np.ndarray | None:
        """Canonical index of each Keras feature (the last axis), None when they agree: only flat
        samples from a flatten of images are permuted (image channels keep their order)."""
        return None if len(self.shape) != 1 or self.identity else self.order

    def to_keras(self, batch: np.ndarray) -> np.ndarray:
        """Canonical (n, *shape) -> Keras (n, *keras_shape)."""
        n = batch.shape[0]
        if self.identity:  # e.g. one channel: channels-last is a reshape
            return batch.reshape(n, *self.keras_shape)
        return np.ascontiguousarray(batch.reshape(n, -1)[:, self.order].reshape(n, *self.keras_shape))

    def to_canonical(self, batch: np.ndarray) -> np.ndarray:
        """Keras (n, *keras_shape) -> canonical (n, *shape)."""
        n = batch.shape[0]
        if self.identity:
            return batch.reshape(n, *self.shape)
        out = np.empty((n, self.order.size), dtype=batch.dtype)
        out[:, self.order] = batch.reshape(n, -1)
        return out.reshape(n, *self.shape)


def _permuted(convert, features: np.ndarray | None, axis: int | None, to_keras: bool):
    """A slot's conversion with its feature axis permuted (canonical order -> Keras' or back)."""
    if features is None or axis is None:
        return convert
    if to_keras:
        def forward(value):
            taken = np.take(value, features, axis=axis)
            return taken if convert is None else convert(taken)
        return forward
    inverse = np.argsort(features)

    def backward(value):
        return np.take(value if convert is None else convert(value), inverse, axis=axis)
    return backward


@lru_cache(maxsize=None)
def _injected_dropout(keras):
    class InjectedDropout(keras.layers.Layer):
        """Dropout with the mask from outside: ``inputs * scale`` (the step's mask / (1 - rate),
        `scratchnet.layers.dropout_scale`, in Keras' layout); without `scale` (eval, or the
        symbolic build) the inputs pass through."""

        def __init__(self, rate, **kwargs):
            super().__init__(**kwargs)
            self.rate = rate

        def call(self, inputs, scale=None):
            return inputs if scale is None else inputs * scale

        def compute_output_shape(self, input_shape):
            return input_shape

    return InjectedDropout


def _dense(keras, layer, input_shape, dtype, name, regularizer):
    return keras.layers.Dense(layer.units, activation=_keras_activation(layer.activation, keras), use_bias=layer.bias,
                              kernel_regularizer=regularizer, dtype=dtype, name=name)


def _conv2d(keras, layer, input_shape, dtype, name, regularizer):
    options = dict(strides=layer.stride, activation=_keras_activation(layer.activation, keras), use_bias=layer.bias,
                   kernel_regularizer=regularizer, dtype=dtype)
    pads = layer.pads(tuple(input_shape[1:]))
    if layer.padding in ("valid", "same") or not any(pads):
        padding = "same" if layer.padding == "same" else "valid"
        return keras.layers.Conv2D(layer.filters, layer.kernel_size, padding=padding, name=name, **options)
    top, bottom, left, right = pads
    return keras.Sequential([keras.layers.ZeroPadding2D(((top, bottom), (left, right)), dtype=dtype, name=f"{name}_pad"),
                             keras.layers.Conv2D(layer.filters, layer.kernel_size, padding="valid", name=f"{name}_conv", **options)],
                            name=name)


def _pool(class_name):
    def build(keras, layer, input_shape, dtype, name, regularizer):
        return getattr(keras.layers, class_name)(layer.pool_size, strides=layer.stride, padding="valid", dtype=dtype, name=name)
    return build


def _batch_norm(keras, layer, input_shape, dtype, name, regularizer):
    options = {}
    if layer.momentum is not None:
        options["momentum"] = 1.0 - layer.momentum  # Keras weighs the old statistic
    if layer.eps is not None:
        options["epsilon"] = layer.eps
    return keras.layers.BatchNormalization(axis=-1, dtype=dtype, name=name, **options)


#: scratchnet layer kind -> Keras; a new layer type needs one entry here
LAYERS: dict[str, KerasLayer] = {
    # kernel (in, out) is the canonical W; its rows follow the input features (permuted after a flatten)
    "dense": KerasLayer(_dense, {"W": "kernel", "b": "bias"}, feature_axes={"W": 0}),
    "conv2d": KerasLayer(_conv2d, {"K": "kernel", "b": "bias"},
                         to_keras={"K": lambda K: K.transpose(2, 3, 1, 0)},  # (out, in, kh, kw) -> (kh, kw, in, out)
                         to_canonical={"K": lambda k: k.transpose(3, 2, 0, 1)}),
    "max_pool2d": KerasLayer(_pool("MaxPooling2D"), {}),
    "avg_pool2d": KerasLayer(_pool("AveragePooling2D"), {}),
    "flatten": KerasLayer(lambda keras, layer, input_shape, dtype, name, regularizer: keras.layers.Flatten(dtype=dtype, name=name),
                          {}, layout="flatten"),
    "batch_norm": KerasLayer(_batch_norm, {"gamma": "gamma", "beta": "beta"},
                             state={"running_mean": "moving_mean", "running_var": "moving_variance"},
                             feature_axes={"gamma": 0, "beta": 0, "running_mean": 0, "running_var": 0}, layout="elementwise"),
    "dropout": KerasLayer(lambda keras, layer, input_shape, dtype, name, regularizer:
                          _injected_dropout(keras)(layer.rate, dtype=dtype, name=name), {}, layout="elementwise"),
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
    """The Keras backend of one run. Its model, optimizer and compiled step (a `_KerasModel`)
    come from `_POOL`, which reuses them across runs of the same network and optimizer: building
    and tracing them takes longer than a short run. Every attribute of the model is readable here."""

    name = "keras"
    convention = "keras"

    def __init__(self, problem: Problem):
        self._model = _POOL.checkout(problem)
        weakref.finalize(self, _POOL.checkin, self._model).atexit = False

    def __getattr__(self, name: str):
        if name == "_model":  # not set yet (or being unpickled)
            raise AttributeError(name)
        return getattr(self._model, name)

    def step(self, X: np.ndarray, y: np.ndarray) -> StepRecord:
        return self._model.step(X, y)

    def get_params(self) -> Params:
        return self._model.get_params()

    def set_params(self, params: Mapping[str, np.ndarray]) -> None:
        self._model.set_params(params)

    def loss_and_grads(self, params, X, y):
        return self._model.loss_and_grads(params, X, y)

    def predict(self, X: np.ndarray, training: bool = False) -> np.ndarray:
        return self._model.predict(X, training)


class _Pool:
    """Idle `_KerasModel`s by configuration, at most `size` models and `values` variable entries
    in all (least recently used go first; a model holds about 20 bytes per entry: the variables,
    their initial values and the traced step, 17 MiB for a 267k-parameter network with Adam, so
    the default bound keeps five of those or 32 small ones). A model serves one `KerasBackend` at
    a time and comes back when that backend is garbage collected; on checkout every variable is
    reset (`_KerasModel.reset`), so nothing of one run reaches the next and a reused model
    computes the same bits as a new one (tests check this)."""

    def __init__(self, size: int = 32, values: int = 1 << 22):
        self.size = size
        self.values = values
        self.idle: OrderedDict[str, list[_KerasModel]] = OrderedDict()
        self.lock = threading.Lock()

    def checkout(self, problem: Problem) -> "_KerasModel":
        key = problem.configuration()
        with self.lock:
            models = self.idle.get(key)
            model = models.pop() if models else None
            if models == []:
                del self.idle[key]
        if model is None:
            return _KerasModel(problem, key)
        model.reset(problem)
        return model

    def checkin(self, model: "_KerasModel") -> None:
        with self.lock:
            self.idle.setdefault(model.key, []).append(model)
            self.idle.move_to_end(model.key)
            while self.idle and (sum(len(models) for models in self.idle.values()) > self.size or sum(
                    m.values for models in self.idle.values() for m in models) > self.values):
                oldest = next(iter(self.idle))
                self.idle[oldest].pop(0)
                if not self.idle[oldest]:
                    del self.idle[oldest]

    def clear(self) -> None:
        with self.lock:
            self.idle.clear()


class _KerasModel:
    """The Keras model, optimizer and compiled step of one configuration (`Problem.configuration`)."""

    def __init__(self, problem: Problem, key: str):
        keras, tf = self.keras, self.tf = import_keras()
        self.key = key
        spec = self.spec = problem.network
        self._set_dtype_policy()
        self.dtype = np.dtype(spec["dtype"])
        self.steps_taken = 0  # the step whose dropout masks the next pass uses
        self._state_to_keras = {}
        self._build_model(spec)
        self.set_params(problem.initial_params)
        self.optimizer = self._build_optimizer(problem.optimizer)
        self._state_variables = [
            (f"{name}/{slot}", variable)
            for slot, attribute in _SLOTS[type(self.optimizer).__name__].items()
            for name, variable in zip(self.names, getattr(self.optimizer, attribute, None) or [])
        ]
        self._variables = [*self.model.variables, *self.optimizer.variables]
        self._initial = [variable.numpy() for variable in self._variables]  # weights are set by every run
        self.values = sum(value.size for value in self._initial)  # what the pool's bound counts
        self._compile()

    def _set_dtype_policy(self) -> None:
        """floatx and the global dtype policy in the problem's dtype, before any layer, loss or
        optimizer is made (Keras caches the policy)."""
        self.keras.config.set_floatx(self.spec["dtype"])
        self.keras.config.set_dtype_policy(self.spec["dtype"])

    def reset(self, problem: Problem) -> None:
        """The model as new for `problem` (same configuration): every model and optimizer variable
        (layer state, optimizer slots, iteration count, learning rate) back to its value when it
        was built, then the problem's initial weights; the step count at 0."""
        self._set_dtype_policy()
        for variable, value in zip(self._variables, self._initial):
            variable.assign(value)
        self.set_params(problem.initial_params)
        self.steps_taken = 0

    def _build_model(self, spec) -> None:
        """The Sequential model of the description's layers, each through its `LAYERS` entry, the
        Keras layout of every activation, and the canonical name and layout conversions of every
        trainable variable and layer-state variable."""
        import scratchnet as sn

        keras = self.keras
        layers = self.layers = sn.layers.layers_from_spec(spec["layers"])
        self.input_shape = sn.layers.check_input_shape(spec["input_shape"])
        shapes = sn.layers.input_shapes(layers, self.input_shape)
        self.output_shape = shapes[-1]
        entries = [layer_entry(layer) for layer in layers]
        self.layouts = [_Layout.natural(self.input_shape)]  # per layer input, then the output
        for entry, shape in zip(entries, shapes[1:]):
            previous = self.layouts[-1]
            self.layouts.append({"elementwise": previous, "flatten": previous.flattened()}.get(entry.layout, _Layout.natural(shape)))
        built = self.built = [
            entry.layer(keras, layer, shape, spec["dtype"], sn.layers.layer_prefix(layer.kind, index),
                        _exact_l2(keras, spec["l2"]) if spec["l2"] else None)
            for index, (entry, layer, shape) in enumerate(zip(entries, layers, shapes))
        ]
        self.model = keras.Sequential([keras.Input(self.layouts[0].keras_shape, dtype=spec["dtype"]), *built])
        self.names, self._to_keras, self._to_canonical = [], [], {}  # names and to_keras in model variable order
        self.state_names, self._state_variables_of_layers = [], []
        for layer, entry, keras_layer, names, state_names, layout in zip(
                layers, entries, built, sn.layers.layer_param_names(layers), sn.layers.layer_state_names(layers), self.layouts):
            features = layout.features
            slots = {variable: slot for slot, variable in entry.variables.items()}
            for variable in keras_layer.trainable_variables:
                slot = slots[variable.name]
                self.names.append(names[slot])
                axis = entry.feature_axes.get(slot)
                self._to_keras.append(_permuted(entry.to_keras.get(slot), features, axis, True))
                self._to_canonical[names[slot]] = _permuted(entry.to_canonical.get(slot), features, axis, False)
            state_slots = {variable: slot for slot, variable in entry.state.items()}
            for variable in keras_layer.non_trainable_variables:
                if variable.name in state_slots:
                    slot = state_slots[variable.name]
                    self.state_names.append(state_names[slot])
                    self._state_variables_of_layers.append(variable)
                    axis = entry.feature_axes.get(slot)
                    self._state_to_keras[state_names[slot]] = _permuted(None, features, axis, True)
                    self._to_canonical[state_names[slot]] = _permuted(None, features, axis, False)
        if self.names != sn.layers.param_names(layers):
            raise ValueError(f"Keras orders the variables {self.names}, not in the canonical order {sn.layers.param_names(layers)}")
        if sorted(self.state_names) != sorted(sn.layers.state_names(layers)):
            raise ValueError(f"Keras holds the layer state {self.state_names}, not {sn.layers.state_names(layers)}")
        # layers that draw (dropout): the Keras shape of each draw, in layer order
        self._draws = [(index, layout) for index, (layer, layout) in enumerate(zip(layers, self.layouts))
                       if type(layer).draws is not sn.layers.Layer.draws]

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

    def _forward(self, X, scales=(), training: bool = True):
        """The model's output (Keras layout) for X (Keras layout); `scales` are the dropout
        layers' masks in layer order (Keras layout), used in training only."""
        current = X
        scales = dict(zip((index for index, _ in self._draws), scales))
        for index, keras_layer in enumerate(self.built):
            if index in scales:
                current = keras_layer(current, scale=scales[index]) if training else current
            else:
                current = keras_layer(current, training=training)
        return current

    def _loss(self, X, y, *scales):
        ops, spec = self.keras.ops, self.spec
        output = self._forward(X, scales)
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

    def _loss_and_grad_tensors(self, X, y, *scales):
        with self.tf.GradientTape() as tape:
            loss = self._loss(X, y, *scales)
        return loss, tape.gradient(loss, self.model.trainable_variables)

    def _train_step(self, X, y, *scales):
        """One update; returns loss and gradients (before it), weights, optimizer state, layer
        state and iteration count (after it) as tensors, so that reading them costs no variable
        reads."""
        tf = self.tf
        loss, grads = self._loss_and_grad_tensors(X, y, *scales)
        self.optimizer.apply(grads, self.model.trainable_variables)
        weights = [tf.identity(v) for v in self.model.trainable_variables]
        state = [tf.identity(v) for _, v in self._state_variables]
        layer_state = [tf.identity(v) for v in self._state_variables_of_layers]
        return loss, grads, weights, state, layer_state, tf.identity(self.optimizer.iterations)

    def _compile(self):
        """The step and the gradient evaluation as `tf.function`s (graph mode, one trace for
        every batch size): about 3x faster than eager, and exact (the catalog's anchored float64
        parity is unchanged)."""
        tf = self.tf
        signature = [tf.TensorSpec([None, *self.layouts[0].keras_shape], self.dtype.name),
                     tf.TensorSpec([None, *self.layouts[-1].keras_shape], self.dtype.name),
                     *[tf.TensorSpec([None, *layout.keras_shape], self.dtype.name) for _, layout in self._draws]]
        self._compiled_step = tf.function(self._train_step, input_signature=signature)
        # traced here, with the build; the step calls the concrete function, which skips the
        # tf.function's argument binding and trace lookup (0.3 ms -> 0.18 ms a call)
        self._step_function = self._compiled_step.get_concrete_function()
        self._compiled_gradients = tf.function(self._loss_and_grad_tensors, input_signature=signature)

    def _tensors(self, X, y):
        """X, y and the dropout masks of the backend's next step, as Keras-layout tensors."""
        tf = self.tf
        X = np.ascontiguousarray(X, dtype=self.dtype)
        scales = [layout.to_keras(self.layers[index].draws(self.steps_taken, index, (X.shape[0], *layout.shape), self.dtype)["scale"])
                  for index, layout in self._draws]
        return (tf.constant(self.layouts[0].to_keras(X)),
                tf.constant(self.layouts[-1].to_keras(np.ascontiguousarray(y, dtype=self.dtype))),
                *[tf.constant(scale) for scale in scales])

    def predict(self, X: np.ndarray, training: bool = False) -> np.ndarray:
        """The model's output for canonical X, canonical layout; eval mode (running statistics, no
        dropout) unless `training` (then the masks of the next step; the state is restored)."""
        tensors = self._tensors(X, np.zeros((len(X), *self.output_shape)))
        saved = self.get_params()
        try:
            output = self._forward(tensors[0], tensors[2:], training=training)
        finally:
            self.set_params(saved)
        return self.layouts[-1].to_canonical(_numpy(output, self.dtype))

    def _canonical(self, tensors, copy: bool = True) -> Params:
        return {name: self._canonical_like(name, tensor, copy) for name, tensor in zip(self.names, tensors)}

    def _canonical_like(self, name: str, tensor, copy: bool = True) -> np.ndarray:
        """A tensor shaped like parameter `name` (its value, gradient or an optimizer slot) in the
        canonical layout (the parameter's `LAYERS` entry converts it): a NumPy copy, or with
        `copy=False` (a step's output tensors) a read-only view where the layouts agree."""
        value = _numpy(tensor, self.dtype) if copy else _view(tensor, self.dtype)
        convert = self._to_canonical[name]
        return value if convert is None else np.ascontiguousarray(convert(value))

    def step(self, X: np.ndarray, y: np.ndarray) -> StepRecord:
        """One step; the record reads the step's output tensors in place (`_view`)."""
        loss, grads, weights, state, layer_state, iterations = self._step_function(*self._tensors(X, y))
        self.steps_taken += 1
        state = {key: self._canonical_like(key.rpartition("/")[0], value, copy=False)
                 for (key, _), value in zip(self._state_variables, state)}
        state.update((name, self._canonical_like(name, value, copy=False)) for name, value in zip(self.state_names, layer_state))
        return StepRecord(int(iterations), float(loss), self._canonical(grads, copy=False),
                          self._canonical(weights, copy=False), state)

    def get_params(self) -> Params:
        """Parameters, then layer state (running statistics), canonical names, copies."""
        return {**self._canonical(self.model.trainable_variables),
                **{name: self._canonical_like(name, variable) for name, variable in zip(self.state_names, self._state_variables_of_layers)}}

    def set_params(self, params: Mapping[str, np.ndarray]) -> None:
        """Parameters (every one) and layer state (when given: anchoring carries it)."""
        for name, variable, convert in zip(self.names, self.model.trainable_variables, self._to_keras):
            value = np.asarray(params[name])
            variable.assign(np.ascontiguousarray(value if convert is None else convert(value), dtype=self.dtype))
        for name, variable in zip(self.state_names, self._state_variables_of_layers):
            if name in params:
                convert = self._state_to_keras[name]
                value = np.asarray(params[name])
                variable.assign(np.ascontiguousarray(value if convert is None else convert(value), dtype=self.dtype))

    def loss_and_grads(self, params, X, y):
        saved = self.get_params()  # the state too: a training-mode pass moves batch norm's moving statistics
        try:
            self.set_params(params)
            loss, grads = self._compiled_gradients(*self._tensors(X, y))
            return float(loss), self._canonical(grads)
        finally:
            self.set_params(saved)


_POOL = _Pool()


def clear_model_cache() -> None:
    """Forget the idle models kept for reuse (the next run of each configuration builds and
    traces its model again, as the first run did)."""
    _POOL.clear()
