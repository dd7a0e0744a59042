"""Networks: an ordered list of layers, a loss, forward, backprop, flat-vector and Jacobian views.

A network is described by plain data (``Network.spec()``, ``MLP.spec()``)::

    {"input_shape": [2],
     "layers": [{"type": "dense", "units": 3, "activation": "sigmoid", "bias": True},
                {"type": "dense", "units": 1, "activation": "sigmoid", "bias": True}],
     "loss": "squared_error", "reduction": "mean", "scale": 1.0, "l2": 0.0, "dtype": "float64"}

and `network_from_spec` is the one function that builds a network from it. `MLP(sizes,
activations, ...)` is the constructor of a list of dense layers.

Canonical layout (see ARCHITECTURE.md and `scratchnet.layers`): parameters are an ordered dict
``{"dense_0.W": (fan_in, fan_out), "dense_0.b": (fan_out,), "dense_1.W": ...}`` (names from
`scratchnet.layers.param_names`) and the forward pass of dense layer l is
``z_l = a_{l-1} @ W_l + b_l``, ``a_l = act_l(z_l)`` with samples as rows.

The total loss is ``scale * reduce(per-element loss) + l2 * sum_l sum(W_l ** 2)`` (weights only,
as Keras' ``L2`` kernel regularizer; biases are not penalised).

Layer state and modes: ``net.state`` holds the layers' state (batch-norm running statistics)
under canonical names (``batch_norm_1.running_mean``). A training step
(``loss_and_grads(..., update_state=True)``) updates it in place and advances ``net.step_count``,
the step whose dropout masks the next pass uses (`scratchnet.layers.dropout_mask`); a gradient
evaluation (the default) changes neither, so it is a deterministic function of the parameters.
``net.eval()`` switches every layer to evaluation (batch norm normalises with the running
statistics, dropout passes its input through); ``net.train()`` back.
"""
from __future__ import annotations

import difflib
from typing import Any, Mapping, Sequence

import numpy as np

from scratchnet import activations as activations_module
from scratchnet import init as init_module
from scratchnet import layers as layers_module
from scratchnet._checks import as_float_array, positive_number, resolve_dtype
from scratchnet.layers import Dense, Dropout, Layer
from scratchnet.losses import Loss
from scratchnet.params import flatten, slices, unflatten

Params = dict[str, np.ndarray]

#: keys of a network description; the last five have defaults
SPEC_KEYS = ("input_shape", "layers", "loss", "reduction", "scale", "l2", "dtype")
SPEC_DEFAULTS = {"loss": "squared_error", "reduction": "mean", "scale": 1.0, "l2": 0.0, "dtype": "float64"}
_IDENTITY = activations_module.Linear()


class Network:
    """A feed-forward network: `layers` applied in order to inputs of shape (batch, *input_shape).

    Args:
        layers: Layer objects or their specs ({"type": "dense", "units": 3, ...}), input side first.
        input_shape: shape of one sample, e.g. ``[4]`` or channels-first ``[1, 28, 28]``.
        loss, reduction, scale, l2, dtype, init, seed: as for `MLP`.
    """

    def __init__(
        self,
        layers: Sequence[Layer | Mapping[str, Any]],
        input_shape: int | Sequence[int],
        loss: str = "squared_error",
        reduction: str = "mean",
        scale: float = 1.0,
        l2: float = 0.0,
        dtype: str = "float64",
        init: str | Mapping[str, Any] | init_module.Initializer = "glorot_uniform",
        seed: int | None = 0,
    ):
        layers = layers_module.layers_from_spec(layers)
        input_shape = layers_module.check_input_shape(input_shape)
        shapes = layers_module.input_shapes(layers, input_shape)
        for index, layer in enumerate(layers[:-1]):
            if layer.activation is not None and layer.activation.name == "softmax":
                raise ValueError(
                    f"softmax is only allowed on the last layer, found at layer {index} of {len(layers)}; "
                    "use e.g. 'sigmoid' or 'tanh' for hidden layers"
                )
        if len(shapes[-1]) != 1:
            raise ValueError(
                f"the last layer must output flat samples (outputs,) for the loss, got shape {shapes[-1]}; "
                "end the network with a dense layer"
            )
        last = layers[-1].activation
        if last is not None and last.name == "softmax" and shapes[-1][0] == 1:
            raise ValueError(
                "softmax over a single output unit is always 1 (its gradient is 0); use 'sigmoid' for one "
                "output, or give the last layer one unit per class"
            )
        loss_object = _make_loss(loss, reduction, scale, last or _IDENTITY)
        l2 = positive_number("l2", l2, allow_zero=True)
        self._setup(layers, input_shape, loss_object, l2, dtype, init, seed)

    def _setup(self, layers: list[Layer], input_shape: tuple[int, ...], loss: Loss, l2: float,
               dtype: Any, init: Any, seed: int | None) -> None:
        """Everything after the argument checks: shapes, names, initial parameters and state."""
        # the network owns its layers (it switches their mode and convention); dropout layers
        # without a seed take the network's, so the spec says which masks it draws
        self.layers = [_seeded(layer.copy(), seed) for layer in layers]
        self.input_shape = tuple(input_shape)
        self.shapes = layers_module.input_shapes(self.layers, self.input_shape)  # per layer input, then output
        self.output_shape = self.shapes[-1]
        self.activations = [layer.activation if layer.activation is not None else _IDENTITY for layer in self.layers]
        self.loss = loss
        self.l2 = l2
        self.dtype = resolve_dtype(dtype)
        self.init = init_module.get(init)
        self.seed = seed
        self.training = True
        self.convention = "torch"
        #: training steps taken (`loss_and_grads(..., update_state=True)`): the step of the next masks
        self.step_count = 0
        self._names = layers_module.layer_param_names(self.layers)
        self._state_names = layers_module.layer_state_names(self.layers)
        self._regularized = [names[slot] for layer, names in zip(self.layers, self._names) for slot in layer.regularized()
                             if slot in names]
        self.params: Params = init_module.initialize_layers(self.init, self.layers, self.input_shape, self.dtype, seed)
        self.state: Params = {}
        for layer, names, shape in zip(self.layers, self._state_names, self.shapes):
            values = layer.init_state(shape, self.dtype)
            self.state.update({name: values[slot] for slot, name in names.items()})

    # ------------------------------------------------------------------ description
    def spec(self) -> dict[str, Any]:
        """The network as plain data (see the module docstring); `network_from_spec` rebuilds it."""
        return {
            "input_shape": list(self.input_shape),
            "layers": [layer.to_spec() for layer in self.layers],
            "loss": self.loss.name,
            "reduction": self.loss.reduction,
            "scale": self.loss.scale,
            "l2": self.l2,
            "dtype": np.dtype(self.dtype).name,
        }

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any], params: Mapping[str, np.ndarray] | None = None, *,
                  init: Any = "glorot_uniform", seed: int | None = 0) -> "Network":
        """`network_from_spec`."""
        return network_from_spec(spec, params, init=init, seed=seed)

    # ------------------------------------------------------------------ parameters and state
    @property
    def n_params(self) -> int:
        return sum(value.size for value in self.params.values())

    @property
    def n_layers(self) -> int:
        return len(self.layers)

    def param_names(self, layer: int) -> dict[str, str]:
        """{slot: canonical name} of the parameters of layer `layer` (0 = nearest the input)."""
        return dict(self._names[layer])

    def set_params(self, params: Mapping[str, np.ndarray]) -> None:
        """Copy canonical parameters into the network (names and shapes must match exactly)."""
        self.params = self.check_params(params)

    def state_names(self, layer: int) -> dict[str, str]:
        """{state slot: canonical name} of layer `layer` (empty for stateless layers)."""
        return dict(self._state_names[layer])

    def set_state(self, state: Mapping[str, np.ndarray]) -> None:
        """Copy layer state (``{"batch_norm_1.running_mean": ..., ...}``, every name of
        ``net.state``, canonical shapes) into the network, in place."""
        missing = [name for name in self.state if name not in state]
        extra = [name for name in state if name not in self.state]
        if missing or extra:
            raise ValueError(f"state names do not match the network: missing {missing}, unexpected {extra} "
                             f"(expected {list(self.state)})")
        checked = {}
        for name, reference in self.state.items():
            value = as_float_array(f"state[{name!r}]", state[name], self.dtype)
            if value.shape != reference.shape:
                raise ValueError(f"state[{name!r}] has shape {value.shape}, expected {reference.shape}")
            checked[name] = value
        for name, value in checked.items():
            self.state[name][...] = value

    def check_params(self, params: Mapping[str, np.ndarray]) -> Params:
        """Validate a canonical mapping against this network and return a copy in its dtype."""
        missing = [name for name in self.params if name not in params]
        extra = [name for name in params if name not in self.params]
        if missing or extra:
            raise ValueError(
                f"parameter names do not match the network: missing {missing}, unexpected {extra} "
                f"(expected {list(self.params)})"
            )
        out: Params = {}
        for layer, names in zip(self.layers, self._names):
            for name in names.values():
                reference = self.params[name]
                value = as_float_array(f"params[{name!r}]", params[name], self.dtype)
                if value.shape != reference.shape:
                    raise ValueError(
                        f"params[{name!r}] has shape {value.shape}, expected {reference.shape} "
                        f"(canonical layout: {layer.layout_text()})"
                    )
                out[name] = value.copy()
        return out

    def copy(self):
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone.layers = [layer.copy() for layer in self.layers]
        clone.params = {name: value.copy() for name, value in self.params.items()}
        clone.state = {name: value.copy() for name, value in self.state.items()}
        return clone

    # ------------------------------------------------------------------ train / eval
    def train(self, mode: bool = True):
        """Training (True) or evaluation (False) behaviour of every layer; returns the network."""
        for layer in self.layers:
            layer.train(mode)
        self.training = bool(mode)
        return self

    def eval(self):
        return self.train(False)

    def set_convention(self, convention: str) -> "Network":
        """Follow a framework's convention where layers differ between frameworks (batch norm's
        default momentum and eps and its running variance; `scratchnet.layers.BatchNorm`).
        ``"torch"`` (the default) or ``"keras"``; returns the network."""
        if not isinstance(convention, str):
            raise TypeError(f"convention must be a name such as 'torch' or 'keras', got {convention!r}")
        for layer in self.layers:
            layer.convention = convention
            if isinstance(layer, layers_module.BatchNorm):
                layer.effective_eps  # an unknown convention fails here, naming the known ones
        self.convention = convention
        return self

    # ------------------------------------------------------------------ data checks
    def check_inputs(self, X: Any) -> np.ndarray:
        """X as a C-contiguous (batch, *input_shape) array in the network's dtype."""
        X = as_float_array("X", X, self.dtype)
        if len(self.input_shape) == 1:
            fan_in = self.input_shape[0]
            if X.ndim != 2 or X.shape[1] != fan_in:
                hint = ""
                if X.ndim == 1:
                    hint = "; for one sample use X.reshape(1, -1), for a 1-feature batch X.reshape(-1, 1)"
                elif X.ndim == 2 and X.shape[0] == fan_in:
                    hint = "; it looks transposed (samples must be rows): pass X.T"
                raise ValueError(f"X has shape {X.shape}, expected (batch, {fan_in}){hint}")
        elif X.shape[1:] != self.input_shape:
            hint = ""
            if X.shape == self.input_shape:
                hint = "; for one sample use X[None]"
            elif X.ndim == 4 and X.shape[1:] == self.input_shape[1:] + self.input_shape[:1]:
                hint = "; it looks channels-last: pass X.transpose(0, 3, 1, 2)"
            raise ValueError(f"X has shape {X.shape}, expected (batch, {', '.join(map(str, self.input_shape))}){hint}")
        if X.shape[0] == 0:
            raise ValueError("X has no samples (shape (0, ...))")
        return X

    def check_targets(self, y: Any, batch: int) -> np.ndarray:
        """y as (batch, k) in the network's dtype; integer labels become one-hot for CE."""
        raw = np.asarray(y)
        if raw.dtype.kind not in "biuf":
            raise TypeError(f"y must hold real numbers, got dtype {raw.dtype}")
        if not (self.loss.name == "categorical_cross_entropy" and raw.ndim == 1):
            raw = as_float_array("y", raw, self.dtype)
        return np.ascontiguousarray(self.loss.check_targets(raw, self.output_shape[0], batch), dtype=self.dtype)

    # ------------------------------------------------------------------ forward / backward
    def forward(self, X: np.ndarray, params: Mapping[str, np.ndarray] | None = None, *, update_state: bool = False):
        """Pre-activations and activations of every layer: (zs, outs), lists with one
        (batch, *shape) array per layer; outs[-1] is the network output. X must already be checked.
        Layer state is left unchanged unless `update_state` (a training step's forward pass, in
        training mode); dropout uses the masks of step ``step_count``."""
        zs, outs, _ = self._forward(X, self.params if params is None else params, update_state)
        return zs, outs

    def _forward(self, X: np.ndarray, params: Mapping[str, np.ndarray], update_state: bool):
        """(zs, outs, per layer the keyword arguments its backward pass needs: its draws and,
        for stateful layers, its state)."""
        zs, outs, extras = [], [], []
        current = X
        for index, (layer, names, state_names) in enumerate(zip(self.layers, self._names, self._state_names)):
            kwargs = layer.draws(self.step_count, index, current.shape, self.dtype)
            state = None
            if state_names:
                own_state = {slot: self.state[name] for slot, name in state_names.items()}
                state = own_state if (update_state or not layer.training) else None
            z, current = layer.forward({slot: params[name] for slot, name in names.items()}, current, state, **kwargs)
            if state_names:
                kwargs = {**kwargs, "state": own_state}
            zs.append(z)
            outs.append(current)
            extras.append(kwargs)
        return zs, outs, extras

    def predict(self, X: Any) -> np.ndarray:
        """Network output, shape (batch, outputs)."""
        return self.forward(self.check_inputs(X))[1][-1]

    def loss_value(self, X: Any, y: Any) -> float:
        """Total loss (data term plus L2) at the current parameters."""
        X = self.check_inputs(X)
        zs, outs = self.forward(X)
        value, _ = self.loss.value_and_delta(zs[-1], outs[-1], self.check_targets(y, X.shape[0]), self.activations[-1])
        return value + self._l2_value(self.params)

    def loss_and_grads(self, X: Any, y: Any, params: Mapping[str, np.ndarray] | None = None, *,
                       update_state: bool = False) -> tuple[float, Params]:
        """Loss and its exact gradient wrt every parameter (same keys and shapes as params).

        ``params`` evaluates at other canonical parameters without changing the network.
        ``update_state=True`` makes it a training step's pass: layer state (running statistics)
        is updated in place and ``step_count`` advances (the next pass draws new dropout masks).
        """
        X = self.check_inputs(X)
        y = self.check_targets(y, X.shape[0])
        params = self.params if params is None else self.check_params(params)
        return self.loss_and_grads_checked(X, y, params, update_state=update_state)

    def loss_and_grads_checked(self, X: np.ndarray, y: np.ndarray, params: Mapping[str, np.ndarray], *,
                               update_state: bool = False) -> tuple[float, Params]:
        """`loss_and_grads` for inputs that already passed `check_inputs`/`check_targets`
        (training loops check the data once, not every step)."""
        zs, outs, extras = self._forward(X, params, update_state)
        value, delta = self.loss.value_and_delta(zs[-1], outs[-1], y, self.activations[-1])
        grads: Params = {}
        for index in range(self.n_layers - 1, -1, -1):
            layer, names = self.layers[index], self._names[index]
            inputs = X if index == 0 else outs[index - 1]
            own = {slot: params[name] for slot, name in names.items()}
            layer_grads, grad_inputs = layer.backward(own, inputs, zs[index], outs[index], delta, need_input_grad=index > 0,
                                                      **extras[index])
            if self.l2:
                for slot in layer.regularized():
                    if slot in layer_grads:
                        layer_grads[slot] += (2.0 * self.l2) * own[slot]
            for slot, name in names.items():
                grads[name] = layer_grads[slot]
            if index:
                delta = self.layers[index - 1].activation_vjp(zs[index - 1], outs[index - 1], grad_inputs)
        ordered = {name: grads[name] for name in params}
        if update_state:
            self.step_count += 1
        return value + self._l2_value(params), ordered

    def _l2_value(self, params: Mapping[str, np.ndarray]) -> float:
        if not self.l2:
            return 0.0
        return self.l2 * sum(float(np.vdot(params[name], params[name])) for name in self._regularized)

    # ------------------------------------------------------------------ flat views for scipy
    def loss_and_grad_flat(self, theta: np.ndarray, X: Any, y: Any) -> tuple[float, np.ndarray]:
        """(loss, gradient) at the flat parameter vector theta, as scipy.optimize wants them:
        a Python float and a 1-D float64 array of length n_params. The network is unchanged."""
        value, grads = self.loss_and_grads(X, y, unflatten(theta, self.params))
        return value, flatten(grads)

    def residual_jacobian(self, X: Any, y: Any, params: Mapping[str, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Residuals r = (output - y).ravel() of shape (m*k,) (sample-major) and their Jacobian
        J = dr/dtheta of shape (m*k, n_params) wrt the flat parameters, in float64.

        Squared-error networks only; sum(r**2) is the unreduced, unscaled data loss. Computed by
        one batched backward pass with a (m, k, units) seed, with no Python loop over samples.
        Every layer must act on each sample separately (`Layer.backward_seeds`): dense, conv2d,
        the pooling layers, flatten, dropout (the mask of step ``step_count``) and batch norm in
        eval mode; batch norm in training mode couples the samples and raises
        NotImplementedError.
        """
        if self.loss.name != "squared_error":
            raise ValueError(f"residual_jacobian needs loss='squared_error', this network uses {self.loss.name!r}")
        if self.l2:
            raise ValueError("residual_jacobian covers the data term only; build the network with l2=0")
        X = self.check_inputs(X).astype(np.float64)
        y = self.check_targets(y, X.shape[0]).astype(np.float64)
        params = {k: v.astype(np.float64) for k, v in (self.params if params is None else self.check_params(params)).items()}
        zs, outs, extras = self._forward(X, params, False)
        m, k = outs[-1].shape
        jacobian = np.empty((m, k, self.n_params))
        where = slices(params)
        last = self.activations[-1]
        if last.name == "softmax":
            a = outs[-1]
            delta = a[:, :, None] * (np.eye(k)[None] - a[:, None, :])  # [i, j, :] = d a_ij / d z_i
        else:
            delta = np.eye(k)[None] * last.derivative(zs[-1], outs[-1])[:, None, :]
        for index in range(self.n_layers - 1, -1, -1):
            layer, names = self.layers[index], self._names[index]
            inputs = X if index == 0 else outs[index - 1]
            own = {slot: params[name] for slot, name in names.items()}
            try:
                blocks, seeds = layer.backward_seeds(own, inputs, delta, need_input_grad=index > 0, **extras[index])
            except NotImplementedError as error:
                raise NotImplementedError(f"residual_jacobian: layers[{index}] ({layer.kind}): {error}") from None
            for slot, name in names.items():
                jacobian[:, :, where[name]] = blocks[slot]
            if index:
                delta = self.layers[index - 1].activation_seeds(zs[index - 1], outs[index - 1], seeds)
        return (outs[-1] - y).ravel(), jacobian.reshape(m * k, -1)

    def __repr__(self) -> str:
        layers = ", ".join(repr(layer) for layer in self.layers)
        return (
            f"Network(input_shape={list(self.input_shape)}, layers=[{layers}], loss={self.loss.name!r}, "
            f"reduction={self.loss.reduction!r}, scale={self.loss.scale}, l2={self.l2}, "
            f"dtype={np.dtype(self.dtype).name!r})"
        )


class MLP(Network):
    """A fully connected network trained by exact backpropagation: a list of `Dense` layers.

    Args:
        sizes: units per layer including the input, e.g. ``[4, 5, 3]``.
        activations: one per weight layer (``len(sizes) - 1``): names, tables such as
            ``{"name": "leaky_relu", "negative_slope": 0.2}``, or Activation objects.
            ``softmax`` is allowed on the last layer only.
        loss: ``squared_error``, ``binary_cross_entropy`` or ``categorical_cross_entropy``.
        reduction: ``mean`` (over all elements), ``sum`` or ``batch_mean`` (sum over outputs,
            mean over samples).
        scale: multiplies the reduced loss (0.5 gives the half sum of squares).
        l2: adds ``l2 * sum(W**2)`` over weights (not biases).
        bias: whether layers have biases.
        dtype: ``float32`` or ``float64`` (the reference precision).
        init: initializer name/table/object (see ``scratchnet.init``).
        seed: seed of the ``numpy.random.Generator`` that draws the initial weights.

    ``spec()`` describes it as plain data (input_shape, layers, loss fields, dtype) and
    `network_from_spec` turns that back into an equal MLP.
    """

    def __init__(
        self,
        sizes: Sequence[int],
        activations: Sequence[str | Mapping[str, Any] | activations_module.Activation],
        loss: str = "squared_error",
        reduction: str = "mean",
        scale: float = 1.0,
        l2: float = 0.0,
        bias: bool = True,
        dtype: str = "float64",
        init: str | Mapping[str, Any] | init_module.Initializer = "glorot_uniform",
        seed: int | None = 0,
    ):
        sizes = _check_sizes(sizes)
        if isinstance(activations, (str, Mapping)) or len(activations) != len(sizes) - 1:
            count = 1 if isinstance(activations, (str, Mapping)) else len(activations)
            raise ValueError(
                f"activations must list one activation per weight layer: sizes {sizes} "
                f"has {len(sizes) - 1} layers, got {count}"
            )
        resolved = [activations_module.get(spec) for spec in activations]
        for index, activation in enumerate(resolved[:-1]):
            if activation.name == "softmax":
                raise ValueError(
                    f"softmax is only allowed on the last layer, found at layer {index} of "
                    f"{len(resolved)}; use e.g. 'sigmoid' or 'tanh' for hidden layers"
                )
        if resolved[-1].name == "softmax" and sizes[-1] == 1:
            raise ValueError(
                "softmax over a single output unit is always 1 (its gradient is 0); use 'sigmoid' for one "
                "output, or give the last layer one unit per class"
            )
        loss_object = _make_loss(loss, reduction, scale, resolved[-1])
        l2 = positive_number("l2", l2, allow_zero=True)
        if not isinstance(bias, (bool, np.bool_)):
            raise TypeError(f"bias must be True or False, got {bias!r}")
        self.sizes = sizes
        self.bias = bool(bias)
        layers = [Dense(units, activation, self.bias) for units, activation in zip(sizes[1:], resolved)]
        self._setup(layers, (sizes[0],), loss_object, l2, dtype, init, seed)

    def __repr__(self) -> str:
        acts = ", ".join(a.name for a in self.activations)
        return (
            f"MLP(sizes={self.sizes}, activations=[{acts}], loss={self.loss.name!r}, "
            f"reduction={self.loss.reduction!r}, scale={self.loss.scale}, l2={self.l2}, "
            f"bias={self.bias}, dtype={np.dtype(self.dtype).name!r})"
        )


def network_from_spec(spec: Mapping[str, Any], params: Mapping[str, np.ndarray] | None = None, *,
                      init: str | Mapping[str, Any] | init_module.Initializer = "glorot_uniform",
                      seed: int | None = 0) -> Network:
    """Build the network a description (``Network.spec()`` / ``MLP.spec()``, plain data) declares.

    ``input_shape`` and ``layers`` are required; ``loss`` (squared_error), ``reduction`` (mean),
    ``scale`` (1), ``l2`` (0) and ``dtype`` (float64) default as shown. The weights are drawn by
    `init` from `seed`, then replaced by `params` (canonical mapping) when given. A flat input
    followed by dense layers that all have or all lack a bias gives an `MLP`; any other list a
    `Network`.
    """
    if not isinstance(spec, Mapping):
        raise TypeError(f"a network spec must be a table with input_shape and layers (see MLP.spec()), got {type(spec).__name__}")
    unknown = [key for key in spec if key not in SPEC_KEYS]
    if unknown:
        close = difflib.get_close_matches(str(unknown[0]), SPEC_KEYS, n=1, cutoff=0.5)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown network spec key {unknown[0]!r}{hint} (valid: {', '.join(SPEC_KEYS)})")
    missing = [key for key in ("input_shape", "layers") if key not in spec]
    if missing:
        raise ValueError(f"network spec needs {' and '.join(missing)}, e.g. "
                         "{'input_shape': [2], 'layers': [{'type': 'dense', 'units': 1, 'activation': 'sigmoid'}]}")
    options = {key: spec.get(key, default) for key, default in SPEC_DEFAULTS.items()}
    input_shape = layers_module.check_input_shape(spec["input_shape"])
    layers = layers_module.layers_from_spec(spec["layers"])
    if (len(input_shape) == 1 and all(type(layer) is Dense for layer in layers)
            and len({layer.bias for layer in layers}) == 1):
        net: Network = MLP([input_shape[0], *(layer.units for layer in layers)], [layer.activation for layer in layers],
                           bias=layers[0].bias, init=init, seed=seed, **options)
    else:
        net = Network(layers, input_shape, init=init, seed=seed, **options)
    if params is not None:
        net.set_params(params)
    return net


def _seeded(layer: Layer, seed: int | None) -> Layer:
    """A dropout layer without a seed gets the network's (0 when that is None)."""
    if isinstance(layer, Dropout) and layer.seed is None:
        layer.seed = 0 if seed is None else int(seed)
    return layer


def _make_loss(loss: str, reduction: str, scale: float, last: activations_module.Activation) -> Loss:
    loss_object = Loss(loss, reduction, positive_number("scale", scale))
    loss_object.check_activation(last)
    return loss_object


def _check_sizes(sizes: Sequence[int]) -> list[int]:
    if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__len__") or len(sizes) < 2:
        raise ValueError(f"sizes must list at least the input and output units, e.g. [4, 5, 3], got {sizes!r}")
    out = []
    for index, size in enumerate(sizes):
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
            raise ValueError(f"sizes[{index}] must be a positive integer, got {size!r}")
        out.append(int(size))
    return out
