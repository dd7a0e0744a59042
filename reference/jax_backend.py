"""JAX backend: the problem's layers as pure JAX functions, gradients by `jax.grad`, optimizers
from optax, in the problem's dtype with float64 exact.

Exactness set-up (shared/research/turn2-anchors-layers-jax-scale.md §3):
* ``jax_enable_x64`` is switched on by `import_jax` before this module creates any array (without
  it a float64 request silently gives float32); `import_jax` checks that float64 really is float64;
* every dense matmul runs at ``Precision.HIGHEST`` and every call under
  ``jax.default_matmul_precision("highest")`` (no TF32/bf16 passes where a GPU would allow them);
* XLA's CPU fast-math stays off (XLA's default): `import_jax` refuses ``XLA_FLAGS`` that turn it on;
* jit: the whole training step (loss, ``jax.value_and_grad``, ``optax`` update,
  ``optax.apply_updates``) is one ``jax.jit`` computation by default (`JIT`). XLA then fuses the
  elementwise chains and, on CPUs with FMA, contracts ``a * b + c`` into one rounding (measured on
  this machine), so jit and op-by-op results differ in the last bits. The registered backend
  ``jax_nojit`` runs the same code op by op under ``jax.disable_jit()`` (optax's own jitted helpers
  included); the environment record says which one ran (``settings.jax.jit``). The compiled
  functions depend only on the network and the optimizer (weights and states are arguments), so
  the backends of one configuration share them (`_FunctionCache`, the 32 most recently used;
  `clear_function_cache()` forgets them): a repeated run does not trace and compile again;
* hyperparameters are passed as Python floats (weak types), so float32 runs stay float32 and
  float64 runs are never rounded through float32.

Layers: each scratchnet layer kind maps to JAX through one entry of `LAYERS` (dense:
``x @ W + b``; conv2d: ``lax.conv_general_dilated`` NCHW/OIHW with scratchnet's padding; max and
average pooling: ``lax.reduce_window``; flatten: C-order reshape). JAX takes the canonical layouts
as they are (W (fan_in, fan_out), K (out, in, kh, kw)), so nothing converts. JAX itself has no
batch norm: batch_norm is ``flax.linen.BatchNorm``'s formulas in jax.numpy (flax is not a
dependency; `FLAX_BATCH_NORM` holds its defaults), on the feature axis 1, the running statistics
the layer state, carried through the jitted step as an argument and its result and exported under
the canonical names (``batch_norm_1.running_mean``); eval mode (`JaxBackend.predict`) normalises
with them. dropout multiplies by the step's mask / (1 - rate) that
`scratchnet.layers.dropout_scale` draws for (seed, the backend's step, layer index, shape), as
torch and Keras do (``jax.random`` would drop other units): the masks are an argument of the
jitted step, drawn on the host per step, never constants of the compiled function. Activations
are ``jax.nn``'s; losses are ``optax.losses``' (``squared_error``, ``sigmoid_binary_cross_entropy``
on the logits of a sigmoid output, ``softmax_cross_entropy`` on the logits of a softmax output)
with the declared reduction and scale, plus ``l2 * sum(W**2)`` over the regularized slots.

Optimizers: the optax aliases (``optax.sgd``, ``adam``, ``amsgrad``, ``adamw``, ``rmsprop``,
``adagrad``) built with only the options the scenario sets, so the others take optax's own defaults
(never scratchnet's). ``weight_decay`` of sgd/adam/rmsprop/adagrad, which optax's aliases do not
take, is optax's idiom ``optax.chain(optax.add_decayed_weights(wd), alias)``; AdamW with
``amsgrad`` is ``optax.adamw``'s chain with ``scale_by_amsgrad`` in place of ``scale_by_adam``.
optax's state is exported under canonical names, one entry per field of its state NamedTuples:
``dense_0.W/mu``, ``dense_0.W/nu``, ``dense_0.W/count`` (the transformation's int32 step count,
repeated per parameter), ``dense_0.W/trace``, ``dense_0.W/sum_of_squares``, ...; scratchnet's
``convention="optax"`` keeps the same slots (`scratchnet.optim`).

Devices: ``device="cpu"`` (the default; arrays and computations are placed on JAX's CPU device)
or ``"cuda"`` (JAX's GPU platform; needs a CUDA build of jaxlib, e.g. ``pip install
'jax[cuda12]'``). Asking for a device JAX does not have raises a ValueError naming what it has:
nothing falls back silently. `cuda_backend_info` returns a registry entry for a GPU lane.

JAX is imported here only, lazily; without it `import_jax` raises `MissingFramework` naming the
extra to install.
"""
from __future__ import annotations

import inspect
import os
import threading
from collections import OrderedDict
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping

import numpy as np

from reference.protocol import MissingFramework, OptimizerSpec, Params, Problem, StepRecord

#: jit on by default for the ``jax`` backend (the ``jax_nojit`` backend runs with jit off)
JIT = True
#: JAX's default matmul precision during every call (and Precision.HIGHEST on every dense matmul)
MATMUL_PRECISION = "highest"
#: devices a backend can be asked for (JAX platform names; "gpu" is accepted for "cuda")
DEVICES = ("cpu", "cuda")
INSTALL_HINT = ("pip install 'scratchnet-parity[jax]' -c constraints.txt "
                "(pins the CPU builds jax==0.10.2, jaxlib==0.10.2, optax==0.2.8)")


def import_jax():
    """Import JAX and optax, float64 enabled (``jax_enable_x64``) before this module creates any
    array. Raises `MissingFramework` when either is absent, ValueError when ``XLA_FLAGS`` turns
    XLA's CPU fast-math on (it reassociates float arithmetic)."""
    flags = os.environ.get("XLA_FLAGS", "").replace(" ", "").lower()
    if "--xla_cpu_enable_fast_math=true" in flags:
        raise ValueError("XLA_FLAGS turns on --xla_cpu_enable_fast_math, which reorders float arithmetic: "
                         "remove it for a reference run (XLA's default is off)")
    try:
        import jax
        import optax
    except ImportError as error:
        raise MissingFramework(f"the 'jax' backend needs JAX and optax: {INSTALL_HINT}") from error
    if not jax.config.jax_enable_x64:
        jax.config.update("jax_enable_x64", True)
    if jax.numpy.zeros((), dtype=jax.numpy.float64).dtype != np.float64:  # pragma: no cover - guard
        raise RuntimeError("JAX still makes float32 arrays for float64 after jax_enable_x64: "
                           "something switched it off again")
    return jax, optax


def resolve_device(jax, device: str):
    """The first JAX device of the platform `device` ("cpu" or "cuda"); a ValueError that names
    the platforms JAX has when it has not this one."""
    if not isinstance(device, str):
        raise TypeError(f"device must be a string, one of {list(DEVICES)}, got {device!r}")
    platform = "cuda" if device.lower() in ("cuda", "gpu") else device.lower()
    if platform not in DEVICES:
        raise ValueError(f"unknown device {device!r} for the jax backend (valid: {', '.join(DEVICES)})")
    try:
        return jax.devices(platform)[0]
    except RuntimeError as error:
        available = sorted({d.platform for d in jax.devices()})
        raise ValueError(
            f"the jax backend was asked for device {device!r}, but JAX here has only {available} ({error}); "
            "install a CUDA build of jaxlib (pip install 'jax[cuda12]') on a machine with an NVIDIA GPU, "
            "or use device='cpu'") from None


def activation_function(spec, jax) -> Callable[[Any], Any]:
    """The ``jax.nn`` function of a scratchnet activation spec (name or table)."""
    import scratchnet as sn

    activation = sn.activations.get(spec)
    nn, options = jax.nn, activation.options()
    return {
        "sigmoid": lambda: nn.sigmoid,
        "tanh": lambda: jax.numpy.tanh,
        "relu": lambda: nn.relu,  # custom JVP: derivative 0 at 0, as torch and scratchnet
        "leaky_relu": lambda: lambda z: nn.leaky_relu(z, float(options.get("negative_slope", 0.01))),
        "elu": lambda: lambda z: nn.elu(z, float(options.get("alpha", 1.0))),
        "softplus": lambda: nn.softplus,  # logaddexp(z, 0): exact, no threshold
        "linear": lambda: lambda z: z,
        "softmax": lambda: lambda z: nn.softmax(z, axis=1),
    }[activation.name]()


@dataclass(frozen=True)
class JaxLayer:
    """How one scratchnet layer kind is computed in JAX.

    `apply(jax, layer, params, x, training=True, state=None, **draws)` is the layer before its
    activation, on `params` {slot: array} in JAX's layout: `training` (a Python bool, fixed when
    traced) picks training or eval mode, `draws` are the layer's random arrays of the pass
    (dropout's ``scale``, `scratchnet.layers.Layer.draws`); a stateful entry (`state`, its state
    slots, canonical layout) takes its state {slot: array} and returns ``(z, new state)``, the
    state after a training pass (the same state in eval mode), the others return z. `to_jax` /
    `to_canonical` convert a slot's array between the canonical layout and JAX's (slots not listed
    have the same layout in both)."""

    apply: Callable[..., Any]
    to_jax: Mapping[str, Callable[[Any], Any]] = field(default_factory=dict)
    to_canonical: Mapping[str, Callable[[Any], Any]] = field(default_factory=dict)
    state: tuple[str, ...] = ()


def _dense(jax, layer, params, x, **inputs):
    z = jax.numpy.matmul(x, params["W"], precision=jax.lax.Precision.HIGHEST)
    return z + params["b"] if "b" in params else z


def _conv2d(jax, layer, params, x, **inputs):
    """Cross-correlation on channels-first images with scratchnet's padding (`Conv2D.pads`:
    TensorFlow's uneven 'same' rule included); the canonical K (out, in, kh, kw) is OIHW."""
    top, bottom, left, right = layer.pads(tuple(x.shape[2:]))
    z = jax.lax.conv_general_dilated(x, params["K"], window_strides=tuple(layer.stride),
                                     padding=[(top, bottom), (left, right)],
                                     dimension_numbers=("NCHW", "OIHW", "NCHW"), precision=jax.lax.Precision.HIGHEST)
    return z + params["b"][:, None, None] if "b" in params else z


def _pool(jax, layer, x, initial, operation):
    # a Python-scalar initial value lets lax recognise the max/add monoid (reduce_window_max/sum),
    # which has a derivative; a generic reduce_window has none
    return jax.lax.reduce_window(x, initial, operation, (1, 1, *layer.pool_size), (1, 1, *layer.stride), "VALID")


#: flax.linen.BatchNorm's settings (flax 0.12.8, flax/linen/normalization.py, class BatchNorm):
#: momentum is the old running value's weight (default 0.99), epsilon its default 1e-5; the batch
#: variance is _compute_stats' two-pass form, flax's ``use_fast_variance=False``, not its default
#: one-pass E[x^2] - E[x]^2: that one's rounding is amplified ~1/epsilon where a feature
#: saturates, so no two correct implementations agree to the anchored rtol there (measured:
#: comparisons/conventions.py, batch_norm_batch_variance). Written here because flax is not a
#: dependency (the reference never takes its settings from scratchnet, the code under test;
#: tests/test_jax_layers.py checks the two agree).
FLAX_BATCH_NORM = {"momentum": 0.99, "epsilon": 1e-5}


def _batch_norm(jax, layer, params, x, training=True, state=None, **draws):
    """``flax.linen.BatchNorm`` (``normalization.py``: ``_compute_stats``, ``BatchNorm.__call__``,
    ``_normalize``) with ``axis=1`` and ``use_fast_variance=False``, operation for operation: in
    training, mean = E[x] and var = E[(x - mean)**2] over every axis but 1, and the running
    statistics become
    ``momentum * ra + (1 - momentum) * batch`` (momentum as a Python float: a scenario's momentum
    m, the batch's weight, is flax's 1 - m); in eval mode mean and var are the running ones; then
    ``(x - mean) * (rsqrt(var + epsilon) * gamma) + beta``. Returns (z, new state)."""
    jnp, lax = jax.numpy, jax.lax
    axes = (0, *range(2, x.ndim))
    if training:
        mean = jnp.mean(x, axis=axes)
        var = jnp.mean(lax.square(x - jnp.expand_dims(mean, axes)), axis=axes)
        momentum = FLAX_BATCH_NORM["momentum"] if layer.momentum is None else 1.0 - layer.momentum
        state = {"running_mean": momentum * state["running_mean"] + (1.0 - momentum) * mean,
                 "running_var": momentum * state["running_var"] + (1.0 - momentum) * var}
    else:
        mean, var = state["running_mean"], state["running_var"]
    epsilon = FLAX_BATCH_NORM["epsilon"] if layer.eps is None else layer.eps
    mul = lax.rsqrt(jnp.expand_dims(var, axes) + epsilon) * jnp.expand_dims(params["gamma"], axes)
    return (x - jnp.expand_dims(mean, axes)) * mul + jnp.expand_dims(params["beta"], axes), state


def _dropout(jax, layer, params, x, training=True, scale=None, **inputs):
    """Inverted dropout with the injected ``scale`` (the step's mask / (1 - rate)); x in eval mode."""
    if not training:
        return x
    if scale is None or tuple(scale.shape) != tuple(x.shape):
        raise ValueError(f"dropout in the jax backend needs the step's scale for input shape {tuple(x.shape)} "
                         f"(JaxNetwork.draws), got {None if scale is None else tuple(scale.shape)}")
    return x * scale


#: scratchnet layer kind -> JAX; a new layer type needs one entry here
LAYERS: dict[str, JaxLayer] = {
    "dense": JaxLayer(apply=_dense),  # canonical W (fan_in, fan_out) is x @ W's layout: no conversion
    "conv2d": JaxLayer(apply=_conv2d),  # canonical K (out, in, kh, kw) is lax's OIHW: no conversion
    "max_pool2d": JaxLayer(apply=lambda jax, layer, params, x, **inputs: _pool(jax, layer, x, -np.inf, jax.lax.max)),
    "avg_pool2d": JaxLayer(apply=lambda jax, layer, params, x, **inputs: _pool(jax, layer, x, 0.0, jax.lax.add)
                           / (layer.pool_size[0] * layer.pool_size[1])),
    "flatten": JaxLayer(apply=lambda jax, layer, params, x, **inputs: x.reshape(x.shape[0], -1)),  # C order, as nn.Flatten
    "batch_norm": JaxLayer(apply=_batch_norm, state=("running_mean", "running_var")),  # gamma, beta, state (features,)
    "dropout": JaxLayer(apply=_dropout),
}


def layer_entry(layer) -> JaxLayer:
    """The `LAYERS` entry of a scratchnet layer; a clear error for a kind JAX cannot build yet."""
    if layer.kind not in LAYERS:
        raise ValueError(f"the jax backend has no {layer.kind!r} layer yet (supported: {', '.join(LAYERS)})")
    return LAYERS[layer.kind]


def _owned(array: np.ndarray) -> np.ndarray:
    """A C-ordered copy for ``jax.device_put``: on the CPU, JAX may alias the NumPy memory it is
    given (zero copy), and a caller's array (a view of another backend's live weights, handed
    around by anchoring) must not change JAX's parameters when the caller changes it."""
    return np.array(array, order="C", copy=True)


class JaxNetwork:
    """The model as pure functions of a parameter dict {canonical name: array}, the layer state
    {canonical state name: array} (batch-norm running statistics) and the pass's draws {layer
    index: {key: array}} (dropout masks), the canonical <-> JAX conversions and the loss.
    `network` is `scratchnet.Network.spec()`."""

    def __init__(self, network: Mapping, jax, optax):
        import scratchnet as sn

        self.jax, self.optax, self.spec = jax, optax, network
        self.dtype = np.dtype(network["dtype"])
        self.layers = sn.layers.layers_from_spec(network["layers"])
        self.input_shape = sn.layers.check_input_shape(network["input_shape"])
        #: the input shape of each layer (without the batch axis); refuses layers that cannot take their input
        self.shapes = sn.layers.input_shapes(self.layers, self.input_shape)[:-1]
        self.entries = [layer_entry(layer) for layer in self.layers]
        self.activations = [None if layer.activation is None else activation_function(layer.activation, jax)
                            for layer in self.layers]
        last = self.layers[-1].activation
        self.last_name = "linear" if last is None else sn.activations.get(last).name
        self.last = self.activations[-1] or (lambda z: z)
        self.layer_names = sn.layers.layer_param_names(self.layers)
        self.names = [name for names in self.layer_names for name in names.values()]
        self.layer_state_names = sn.layers.layer_state_names(self.layers)
        self.state_names = [name for names in self.layer_state_names for name in names.values()]
        for layer, entry in zip(self.layers, self.entries):
            if tuple(entry.state) != tuple(layer.state_slots()):
                raise ValueError(f"the jax backend's {layer.kind!r} entry carries the state {list(entry.state)}, "
                                 f"the layer has {list(layer.state_slots())}")
        #: the layers that draw random arrays in a training pass (dropout), by index
        self.drawing = [index for index, layer in enumerate(self.layers) if type(layer).draws is not sn.layers.Layer.draws]
        self._to_jax, self._to_canonical, self.regularized = {}, {}, []
        for layer, entry, names in zip(self.layers, self.entries, self.layer_names):
            for slot, name in names.items():
                self._to_jax[name] = entry.to_jax.get(slot)
                self._to_canonical[name] = entry.to_canonical.get(slot)
                if slot in layer.regularized():
                    self.regularized.append(name)

    def to_jax(self, params: Mapping[str, np.ndarray], device=None) -> dict[str, Any]:
        """Parameters as device arrays of JAX's own (`_owned`)."""
        out = {}
        for name in self.names:
            value = np.asarray(params[name], dtype=self.dtype)
            convert = self._to_jax[name]
            out[name] = self.jax.device_put(_owned(value if convert is None else convert(value)), device)
        return out

    def initial_state(self) -> Params:
        """The layers' initial state (running mean 0, running variance 1), canonical names."""
        out: Params = {}
        for layer, names, shape in zip(self.layers, self.layer_state_names, self.shapes):
            values = layer.init_state(shape, self.dtype)
            out.update((name, values[slot]) for slot, name in names.items())
        return out

    def to_jax_state(self, state: Mapping[str, np.ndarray], device=None) -> dict[str, Any]:
        """Layer state (every canonical state name; same layout in JAX) as device arrays."""
        return {name: self.jax.device_put(_owned(np.asarray(state[name], dtype=self.dtype)), device)
                for name in self.state_names}

    def draws(self, step: int, batch: int, device=None) -> dict[int, dict[str, Any]]:
        """The random arrays of training step `step` for a batch of `batch` samples, {layer index:
        {key: array}}: each drawing layer's own `draws` (dropout: `scratchnet.layers.dropout_scale`
        for (seed, step, index, (batch, *input shape))), the arrays every backend injects."""
        return {index: {key: self.jax.device_put(value, device) for key, value in
                        self.layers[index].draws(step, index, (batch, *self.shapes[index]), self.dtype).items()}
                for index in self.drawing}

    def canonical(self, name: str, value) -> np.ndarray:
        """A C-ordered NumPy copy of an array shaped like parameter `name` (its value, its gradient
        or an optimizer slot) or like layer state, in the canonical layout."""
        array = np.asarray(value)
        convert = self._to_canonical.get(name)
        return np.array(array if convert is None else convert(array), order="C", copy=True)

    def export(self, tree: Mapping[str, Any], names: list[str] | None = None) -> Params:
        return {name: self.canonical(name, tree[name]) for name in (self.names if names is None else names)}

    def logits(self, params: Mapping[str, Any], X, state: Mapping[str, Any], draws: Mapping[int, Mapping[str, Any]],
               training: bool = True):
        """(the last layer's pre-activation for X (batch, *input_shape), the layer state after the
        pass): training mode uses `draws` and batch statistics, eval mode (`training` False) the
        running statistics and no dropout."""
        current, new_state = X, dict(state)
        last = len(self.layers) - 1
        for index, (layer, entry, names, state_names, activation) in enumerate(zip(
                self.layers, self.entries, self.layer_names, self.layer_state_names, self.activations)):
            layer_params = {slot: params[name] for slot, name in names.items()}
            inputs = dict(draws.get(index, {})) if training else {}
            if entry.state:
                current, layer_state = entry.apply(self.jax, layer, layer_params, current, training=training,
                                                   state={slot: state[name] for slot, name in state_names.items()}, **inputs)
                new_state.update((name, layer_state[slot]) for slot, name in state_names.items())
            else:
                current = entry.apply(self.jax, layer, layer_params, current, training=training, **inputs)
            if index < last and activation is not None:
                current = activation(current)
        return current, new_state

    def outputs(self, params, X, state, draws, training: bool = True):
        """The network's output for X (the last activation of `logits`)."""
        return self.last(self.logits(params, X, state, draws, training)[0])

    def objective(self, params: Mapping[str, Any], X, y, state, draws):
        """(scalar loss of a training pass, layer state after it): the declared loss
        (optax.losses), reduction and scale, plus L2. For ``jax.value_and_grad(has_aux=True)``."""
        jnp, losses, spec = self.jax.numpy, self.optax.losses, self.spec
        z, new_state = self.logits(params, X, state, draws)
        name, reduction, scale = spec["loss"], spec["reduction"], float(spec["scale"])
        per_sample = False
        if name == "squared_error":
            values = losses.squared_error(self.last(z), y)
        elif name == "binary_cross_entropy":
            if self.last_name == "sigmoid":
                values = losses.sigmoid_binary_cross_entropy(z, y)
            else:
                a = self.last(z)
                values = -(y * jnp.log(a) + (1.0 - y) * jnp.log1p(-a))
        elif self.last_name == "softmax":  # categorical CE from the logits, one value per sample
            values, per_sample = losses.softmax_cross_entropy(z, y), True
        else:  # categorical CE on sigmoid outputs
            values = -(y * self.jax.nn.log_sigmoid(z))
        if reduction == "sum":
            value = jnp.sum(values)
        elif reduction == ("batch_mean" if per_sample else "mean"):
            value = jnp.mean(values)
        else:  # a sum divided by the other count: samples (batch_mean) or elements (mean)
            value = jnp.sum(values) / (y.size if per_sample else y.shape[0])
        if scale != 1.0:
            value = value * scale
        if spec["l2"]:
            value = value + float(spec["l2"]) * sum(jnp.sum(params[name] ** 2) for name in self.regularized)
        return value, new_state

    def loss(self, params, X, y, state, draws):
        """The scalar loss of `objective` alone."""
        return self.objective(params, X, y, state, draws)[0]


# scratchnet option -> optax alias keyword; weight_decay (not adamw) and amsgrad are built by chaining
_OPTAX_OPTIONS = {
    "sgd": {"lr": "learning_rate", "momentum": "momentum", "nesterov": "nesterov"},
    "adam": {"lr": "learning_rate", "beta_1": "b1", "beta_2": "b2", "epsilon": "eps", "eps_root": "eps_root"},
    "adamw": {"lr": "learning_rate", "beta_1": "b1", "beta_2": "b2", "epsilon": "eps", "eps_root": "eps_root",
              "weight_decay": "weight_decay"},
    "rmsprop": {"lr": "learning_rate", "rho": "decay", "epsilon": "eps", "momentum": "momentum",
                "centered": "centered", "eps_in_sqrt": "eps_in_sqrt", "initial_scale": "initial_scale"},
    "adagrad": {"lr": "learning_rate", "initial_accumulator_value": "initial_accumulator_value", "epsilon": "eps"},
}
_CHAINED = {"sgd": ("weight_decay",), "adam": ("weight_decay", "amsgrad"), "adamw": ("amsgrad",),
            "rmsprop": ("weight_decay",), "adagrad": ("weight_decay",)}


def _plain(value):
    """A Python bool or float: JAX treats Python scalars as weak types (they take the array's
    dtype), whereas a np.float64 would promote float32 arrays and state to float64."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    return float(value)


def _signature_defaults(function) -> dict[str, Any]:
    return {name: parameter.default for name, parameter in inspect.signature(function).parameters.items()
            if parameter.default is not inspect.Parameter.empty}


def build_optimizer(optax, optimizer: OptimizerSpec):
    """The optax GradientTransformation of a scratchnet optimizer spec, with only the options it
    sets (the others take optax's defaults). Unknown options raise ValueError naming them."""
    name = optimizer.name
    if name not in _OPTAX_OPTIONS:
        raise ValueError(f"the jax backend has no optimizer {name!r} (known: {', '.join(_OPTAX_OPTIONS)})")
    options = {key: value for key, value in optimizer.options.items() if value is not None}
    if name == "sgd" and options.get("dampening") == 0:
        del options["dampening"]  # no dampening is what optax's trace does
    mapping, chained = _OPTAX_OPTIONS[name], _CHAINED[name]
    unknown = [key for key in options if key not in mapping and key not in chained]
    if unknown:
        hint = ("; optax's momentum trace has no dampening (t = g + momentum * t)" if unknown[0] == "dampening" else "")
        raise ValueError(f"optax {name} has no option {unknown[0]!r} (known: {sorted([*mapping, *chained])}){hint}")
    kwargs = {mapping[key]: _plain(value) for key, value in options.items() if key in mapping}
    if "learning_rate" not in kwargs:
        raise ValueError(f"optax.{name} has no default learning rate: set the optimizer's lr")
    if kwargs.get("momentum") == 0.0:
        kwargs["momentum"] = None  # optax: momentum=None means no trace; 0 would keep a trace equal to g
    amsgrad = bool(options.get("amsgrad", False))
    if name == "adam" and amsgrad:
        transform = optax.amsgrad(**kwargs)
    elif name == "adamw" and amsgrad:  # alias.py::adamw's chain with scale_by_amsgrad for scale_by_adam
        defaults = _signature_defaults(optax.adamw)
        transform = optax.chain(
            optax.scale_by_amsgrad(**{key: kwargs.get(key, defaults[key]) for key in ("b1", "b2", "eps", "eps_root")}),
            optax.add_decayed_weights(kwargs.get("weight_decay", defaults["weight_decay"])),
            optax.scale_by_learning_rate(kwargs["learning_rate"]),
        )
    else:
        transform = getattr(optax, name)(**kwargs)
    if "weight_decay" in options and "weight_decay" in chained:  # coupled: g + wd * w before the alias
        transform = optax.chain(optax.add_decayed_weights(_plain(options["weight_decay"])), transform)
    return transform


def export_state(state, names: list[str], canonical: Callable[[str, Any], np.ndarray]) -> Params:
    """optax's state as {"<param>/<field>": array}: every field of every state NamedTuple in the
    (possibly chained) state; a per-parameter field (a dict keyed by parameter name) gives one
    entry per parameter, a scalar field (``count``) is repeated for each parameter."""
    out: Params = {}

    def add(key: str, value) -> None:
        if key in out:
            raise ValueError(f"two optax state fields export as {key!r}; the chain holds the same field twice")
        out[key] = value

    def visit(node) -> None:
        if hasattr(node, "_fields"):
            for field_name in node._fields:
                value = getattr(node, field_name)
                if isinstance(value, Mapping):
                    for name in names:
                        add(f"{name}/{field_name}", canonical(name, value[name]))
                elif hasattr(value, "_fields") or isinstance(value, (tuple, list)):
                    visit(value)
                elif value is not None and np.ndim(value) == 0:
                    for name in names:
                        add(f"{name}/{field_name}", np.array(value, copy=True))
        elif isinstance(node, (tuple, list)):
            for child in node:
                visit(child)

    visit(state)
    return out


def _check_jit(jit) -> bool:
    if not isinstance(jit, (bool, np.bool_)):
        raise TypeError(f"jit must be True or False, got {jit!r}")
    return bool(jit)


class _Calls:
    """The context of every JAX call: matmul precision, device, and jit off when asked."""

    def __init__(self, jax, jit: bool, device):
        self.jax, self.jit, self.device = jax, jit, device

    @contextmanager
    def __call__(self) -> Iterator[None]:
        jax = self.jax
        with ExitStack() as stack:
            stack.enter_context(jax.default_matmul_precision(MATMUL_PRECISION))
            stack.enter_context(jax.default_device(self.device))
            if not self.jit:
                stack.enter_context(jax.disable_jit())
            yield

    def compile(self, function):
        return self.jax.jit(function) if self.jit else function


def _outputs_in_mode(network: JaxNetwork, training: bool) -> Callable[..., Any]:
    """`JaxNetwork.outputs` as a function of (params, state, X, draws), the mode fixed (a Python
    bool is not an argument jit can trace)."""
    return lambda params, state, X, draws: network.outputs(params, X, state, draws, training)


@dataclass(frozen=True)
class _Functions:
    """The pure functions of one configuration: the network, the optax transformation, and the
    training step, the loss gradient and the outputs per mode, compiled by `_Calls.compile`."""

    network: JaxNetwork
    optimizer: Any
    train_step: Callable[..., Any]
    value_and_grad: Callable[..., Any]
    outputs: dict[bool, Callable[..., Any]]

    @classmethod
    def build(cls, problem: Problem, calls: _Calls) -> "_Functions":
        jax, optax = import_jax()
        network = JaxNetwork(problem.network, jax, optax)
        optimizer = build_optimizer(optax, problem.optimizer)

        def train_step(params, opt_state, state, X, y, draws):
            # the draws (dropout masks) are an argument: under jit a closed-over mask would be a constant
            (loss, state), grads = jax.value_and_grad(network.objective, has_aux=True)(params, X, y, state, draws)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return loss, grads, optax.apply_updates(params, updates), opt_state, state

        return cls(network, optimizer, calls.compile(train_step), calls.compile(jax.value_and_grad(network.loss)),
                   {mode: calls.compile(_outputs_in_mode(network, mode)) for mode in (True, False)})


class _FunctionCache:
    """`_Functions` by configuration (`Problem.configuration`) and jit, the `size` most recently
    used. Tracing and compiling a step takes ~1 s, longer than a short run, and the functions are
    pure (parameters, optimizer state and layer state are their arguments), so every backend of
    one configuration shares them: jax.jit's own cache then serves each batch shape it has seen.
    The same compiled computation gives the same bits (tests check a reused function against a
    new one)."""

    def __init__(self, size: int = 32):
        self.size = size
        self.entries: OrderedDict[tuple[str, bool], _Functions] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, problem: Problem, calls: _Calls) -> _Functions:
        key = (problem.configuration(), calls.jit)
        with self.lock:
            functions = self.entries.get(key)
            if functions is not None:
                self.entries.move_to_end(key)
                return functions
        functions = _Functions.build(problem, calls)  # outside the lock: building may take a while
        with self.lock:
            functions = self.entries.setdefault(key, functions)
            self.entries.move_to_end(key)
            while len(self.entries) > self.size:
                self.entries.popitem(last=False)
        return functions

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()


_FUNCTIONS = _FunctionCache()


def clear_function_cache() -> None:
    """Forget the compiled functions kept for reuse (the next backend of each configuration
    traces and compiles its step again, as the first one did)."""
    _FUNCTIONS.clear()


class JaxBackend:
    """The `Backend` protocol on JAX + optax. ``jit`` (default `JIT`) compiles the training step;
    ``device`` is "cpu" (default) or "cuda". The layer state (batch-norm running statistics)
    travels with the parameters (`get_params` / `set_params`) and is recorded after each step
    beside optax's state; each step injects the dropout masks of its own step count."""

    convention = "optax"

    def __init__(self, problem: Problem, jit: bool | None = None, device: str = "cpu", convention: str | None = None):
        if convention not in (None, "optax"):
            raise ValueError(f"the jax backend follows optax's optimizer convention only, not {convention!r}")
        self.jit = JIT if jit is None else _check_jit(jit)
        jax, optax = self.jax, self.optax = import_jax()
        self.device = resolve_device(jax, device)
        self.name = "jax" if self.jit else "jax_nojit"
        if self.device.platform != "cpu":
            self.name += f"_{self.device.platform}"
        self.calls = _Calls(jax, self.jit, self.device)
        functions = _FUNCTIONS.get(problem, self.calls)
        self.network, self.optimizer = network, optimizer = functions.network, functions.optimizer
        with self.calls():
            self.params = network.to_jax(problem.initial_params, self.device)
            self.state = network.to_jax_state({**network.initial_state(), **problem.initial_params}, self.device)
            self.opt_state = optimizer.init(self.params)
        self._train_step, self._value_and_grad, self._outputs = functions.train_step, functions.value_and_grad, functions.outputs
        self.steps_taken = 0

    def _data(self, array):
        return self.jax.device_put(np.ascontiguousarray(array, dtype=self.network.dtype), self.device)

    def _draws(self, X) -> dict[int, dict[str, Any]]:
        """The masks of the backend's next training step (its step count) for the batch X."""
        return self.network.draws(self.steps_taken, len(X), self.device)

    def step(self, X: np.ndarray, y: np.ndarray) -> StepRecord:
        with self.calls():
            loss, grads, self.params, self.opt_state, self.state = self._train_step(
                self.params, self.opt_state, self.state, self._data(X), self._data(y), self._draws(X))
        self.steps_taken += 1
        network = self.network
        state = export_state(self.opt_state, network.names, network.canonical)
        state.update(network.export(self.state, network.state_names))
        return StepRecord(self.steps_taken, float(loss), network.export(grads), network.export(self.params), state)

    def get_params(self) -> Params:
        """Parameters, then layer state (running statistics), canonical names, copies."""
        return {**self.network.export(self.params), **self.network.export(self.state, self.network.state_names)}

    def set_params(self, params: Mapping[str, np.ndarray]) -> None:
        """Parameters (every one) and layer state (when given: anchoring carries it)."""
        self.params = self.network.to_jax(params, self.device)
        if any(name in params for name in self.network.state_names):
            current = self.network.export(self.state, self.network.state_names)
            self.state = self.network.to_jax_state({**current, **params}, self.device)

    def loss_and_grads(self, params, X, y):
        """Loss and gradients of a training pass at `params` with the masks of the next step; the
        layer state is read, not updated."""
        with self.calls():
            loss, grads = self._value_and_grad(self.network.to_jax(params, self.device), self._data(X), self._data(y),
                                               self.state, self._draws(X))
        return float(loss), self.network.export(grads)

    def predict(self, X: np.ndarray, training: bool = False) -> np.ndarray:
        """The network's output for canonical X: eval mode (running statistics, no dropout) unless
        `training` (batch statistics and the masks of the next step; the state is not updated)."""
        draws = self._draws(X) if training else {}
        with self.calls():
            return np.array(self._outputs[bool(training)](self.params, self.state, self._data(X), draws), copy=True)


class JaxNoJitBackend(JaxBackend):
    """The ``jax_nojit`` backend: `JaxBackend` with every JAX call op by op (``jax.disable_jit()``)."""

    def __init__(self, problem: Problem, convention: str | None = None, device: str = "cpu"):
        super().__init__(problem, jit=False, device=device, convention=convention)


class JaxFlatNetwork:
    """Flat-vector views of a network (``scratchnet.Network.spec()``) on fixed data X (m, ...),
    y (m, k), in float64 whatever the spec's dtype: residuals r = (output - y).ravel() (sample
    major), their Jacobian by ``jax.jacrev`` or ``jax.jacfwd``, and the loss with its gradient.
    theta is in ``scratchnet.params.flatten`` order (canonical names, each C-ordered).

    ``mode``: "rev" (``jax.jacrev``, one VJP per residual, vmapped), "fwd" (``jax.jacfwd``, one JVP
    per parameter) or "auto" (fwd when there are no more parameters than residuals, else rev).

    Layers run in training mode, as `reference.torch_jacobian.TorchFlatNetwork`'s: batch norm with
    the batch statistics (its running statistics are not used), dropout with the masks of step 0
    (the step a full-batch run stays at, so the objective is one deterministic function; fixed,
    like X and y)."""

    MODES = ("auto", "rev", "fwd")

    def __init__(self, network: Mapping[str, Any], X: np.ndarray, y: np.ndarray, jit: bool | None = None,
                 mode: str = "auto", device: str = "cpu"):
        import scratchnet as sn

        if mode not in self.MODES:
            raise ValueError(f"unknown Jacobian mode {mode!r} (valid: {', '.join(self.MODES)})")
        jit = JIT if jit is None else _check_jit(jit)
        jax, optax = self.jax, _ = import_jax()
        self.device = resolve_device(jax, device)
        self.calls = _Calls(jax, jit, self.device)
        self.spec = {**dict(network), "dtype": "float64"}
        self.network = JaxNetwork(self.spec, jax, optax)
        layers, input_shape = self.network.layers, self.network.input_shape
        #: (canonical name, canonical shape) in flat-vector order
        self.layout = list(sn.layers.param_shapes(layers, input_shape).items())
        self.n_params = sum(int(np.prod(shape)) for _, shape in self.layout)
        X, y = sn.layers.fixed_data(layers, input_shape, X, y)
        self.mode = ("fwd" if self.n_params <= y.size else "rev") if mode == "auto" else mode
        with self.calls():
            self.X, self.y = jax.device_put(X, self.device), jax.device_put(y, self.device)
            state = self.network.to_jax_state(self.network.initial_state(), self.device)
            draws = self.network.draws(0, len(X), self.device)
        network, layout = self.network, self.layout

        def unflatten(theta):
            pieces, offset = {}, 0
            for name, shape in layout:
                size = int(np.prod(shape))
                pieces[name] = theta[offset:offset + size].reshape(shape)
                offset += size
            return pieces

        def residual(theta):
            return (network.outputs(unflatten(theta), self.X, state, draws) - self.y).reshape(-1)

        jacobian = jax.jacfwd(residual) if self.mode == "fwd" else jax.jacrev(residual)
        self._residual = self.calls.compile(residual)
        self._both = self.calls.compile(lambda theta: (residual(theta), jacobian(theta)))
        self._loss_and_grad = self.calls.compile(jax.value_and_grad(
            lambda theta: network.loss(unflatten(theta), self.X, self.y, state, draws)))

    def _theta(self, theta: np.ndarray):
        theta = np.asarray(theta, dtype=np.float64)
        if theta.shape != (self.n_params,):
            raise ValueError(f"theta must be a 1-D vector of length {self.n_params}, got shape {theta.shape}")
        return self.jax.device_put(np.array(theta, copy=True), self.device)

    def residuals(self, theta: np.ndarray) -> np.ndarray:
        """r = (output - y).ravel(), shape (m*k,), float64."""
        with self.calls():
            return np.array(self._residual(self._theta(theta)), copy=True)

    def residuals_and_jacobian(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(r (m*k,), J (m*k, P)), J by ``jax.jacrev`` / ``jax.jacfwd`` (see `mode`)."""
        with self.calls():
            r, J = self._both(self._theta(theta))
        return np.array(r, copy=True), np.array(J, copy=True)

    def loss_and_grad_flat(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """(loss, gradient) of the spec's loss at the flat vector, as scipy.optimize wants them."""
        with self.calls():
            loss, grad = self._loss_and_grad(self._theta(theta))
        return float(loss), np.array(grad, copy=True)


def jacobian_provider(problem: Problem, X: np.ndarray, y: np.ndarray) -> JaxFlatNetwork:
    """The registry's Levenberg-Marquardt provider for ``jax``: the Jacobian of the problem's
    network by ``jax.jacfwd``/``jax.jacrev`` (float64, jit on)."""
    return JaxFlatNetwork(problem.network, X, y)


def jacobian_provider_nojit(problem: Problem, X: np.ndarray, y: np.ndarray) -> JaxFlatNetwork:
    """The same for ``jax_nojit``: op by op, jit off."""
    return JaxFlatNetwork(problem.network, X, y, jit=False)


SETTINGS = {
    "jax_enable_x64": True,
    "jax_default_matmul_precision": MATMUL_PRECISION,
    "dense_matmul_precision": "jax.lax.Precision.HIGHEST",
    "jit": True,
    "jit_scope": "the whole training step (loss, jax.value_and_grad, optax update, apply_updates) in one jax.jit; "
                 "XLA fuses elementwise ops and may contract a*b+c into FMA (last-bit differences from op by op)",
    "xla_cpu_enable_fast_math": "off (XLA's default; XLA_FLAGS turning it on are refused)",
    "XLA_FLAGS": os.environ.get("XLA_FLAGS", ""),
    "device": "cpu",
    "gradients": "jax.value_and_grad",
    "optimizers": "optax aliases, only the scenario's options passed (the others take optax's defaults); "
                  "weight_decay outside adamw as optax.chain(add_decayed_weights, alias)",
    "losses": "optax.losses (squared_error, sigmoid_binary_cross_entropy, softmax_cross_entropy)",
    "batch_norm": "flax.linen.BatchNorm's formulas in jax.numpy (flax 0.12.8 defaults: momentum 0.99 on the old "
                  "statistic, epsilon 1e-5, two-pass variance: use_fast_variance=False); running statistics as state",
    "dropout": "the injected scratchnet.layers.dropout_mask of the backend's step, an argument of the jitted step",
    "hyperparameters": "Python floats (weak types: float32 runs stay float32)",
    "jacobian": "jax.jacfwd when parameters <= residuals, else jax.jacrev (float64)",
}
NOJIT_SETTINGS = {**SETTINGS, "jit": False, "jit_scope": "none: every call under jax.disable_jit() (op by op)"}


def cuda_backend_info(name: str = "jax_cuda"):
    """A registry entry for JAX on the GPU (register it where a CUDA build of jaxlib and a GPU
    exist: ``reference.register(cuda_backend_info())``). float64 stays float64 on the GPU
    (``jax_enable_x64``; HIGHEST precision keeps float32 matmuls off TF32 too)."""
    from functools import partial

    from reference.registry import BackendInfo

    return BackendInfo(
        name, convention="optax", factory=partial(JaxBackend, device="cuda"),
        packages=("jax", "jaxlib", "optax", "jax-cuda12-plugin", "jax-cuda12-pjrt"),
        settings={**SETTINGS, "device": "cuda"},
        description="JAX + optax on the GPU (CUDA)",
        jacobian=lambda problem, X, y: JaxFlatNetwork(problem.network, X, y, device="cuda"),
    )
