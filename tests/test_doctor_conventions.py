"""No false alarms across conventions: a correct hand-written backprop in any declared layout
(in_out/out_in, bias vectors of any shape, augmented weights with +-1 first/last, samples as
columns, bias-free, with L2) comes out ok, and the same code with its sign flipped comes out
sign_flipped everywhere, whatever the convention."""
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from comparisons.doctor import AugmentedWeight, Bias, NetSpec, Weight, diagnose

ACTIVATIONS = {
    "sigmoid": (lambda z: 1 / (1 + np.exp(-z)), lambda z, a: a * (1 - a)),
    "tanh": (np.tanh, lambda z, a: 1 - a * a),
    "relu": (lambda z: np.maximum(z, 0), lambda z, a: (z > 0) * 1.0),
    "linear": (lambda z: z, lambda z, a: np.ones_like(z)),
    "softplus": (lambda z: np.log1p(np.exp(z)), lambda z, a: 1 / (1 + np.exp(-z))),
    "elu": (lambda z: np.where(z > 0, z, np.expm1(z)), lambda z, a: np.where(z > 0, 1.0, a + 1)),
}


@st.composite
def networks(draw):
    """(spec, mapping, placements) for a random 1-3 layer network with random conventions."""
    depth = draw(st.integers(1, 3))
    loss = draw(st.sampled_from(["squared_error", "binary_cross_entropy", "categorical_cross_entropy"]))
    widths = [draw(st.integers(1, 4)) for _ in range(depth)]
    outputs = draw(st.integers(2, 3)) if loss == "categorical_cross_entropy" else draw(st.integers(1, 3))
    sizes = widths + [outputs]
    hidden = [draw(st.sampled_from(sorted(ACTIVATIONS))) for _ in range(depth - 1)]
    last = {"squared_error": draw(st.sampled_from(["linear", "sigmoid", "tanh"])), "binary_cross_entropy": "sigmoid",
            "categorical_cross_entropy": "softmax"}[loss]
    bias = draw(st.booleans())
    spec = NetSpec(sizes=sizes, activations=hidden + [last], loss=loss, reduction=draw(st.sampled_from(["mean", "sum", "batch_mean"])),
                   scale=draw(st.sampled_from([1.0, 0.5])), bias=bias, l2=draw(st.sampled_from([0.0, 0.1])))
    mapping = {}
    for layer in range(depth):
        layout = draw(st.sampled_from(["in_out", "out_in"]))
        if bias and draw(st.booleans()):
            mapping[f"T{layer}"] = AugmentedWeight(layer, layout, draw(st.sampled_from(["first", "last"])),
                                                   draw(st.sampled_from([1.0, -1.0])))
        else:
            mapping[f"W{layer}"] = Weight(layer, layout)
            if bias:
                mapping[f"b{layer}"] = Bias(layer, shape=draw(st.sampled_from([(sizes[layer + 1],), (sizes[layer + 1], 1), (1, sizes[layer + 1])])))
    return spec, mapping


def draw_params(spec, mapping, rng):
    params = {}
    for name, placement in mapping.items():
        fan_in, fan_out = spec.sizes[placement.layer], spec.sizes[placement.layer + 1]
        shape = placement.shape if isinstance(placement, Bias) else placement.default_shape(fan_in, fan_out)
        params[name] = rng.normal(0, 0.8, shape)
    return params


def make_user_code(spec, mapping, samples_as_columns, sign=1.0):
    """A hand-written backprop that works directly in the declared layouts."""
    by_layer = {}
    for name, placement in mapping.items():
        by_layer.setdefault(placement.layer, {})[type(placement).__name__] = name

    def layer_forward(params, layer, inputs):
        names = by_layer[layer]
        if "AugmentedWeight" in names:
            placement = mapping[names["AugmentedWeight"]]
            U = params[names["AugmentedWeight"]]
            column = np.full((inputs.shape[0], 1), placement.bias_input)
            augmented = np.hstack([column, inputs] if placement.bias_position == "first" else [inputs, column])
            return augmented @ (U if placement.layout == "in_out" else U.T), augmented
        W = params[names["Weight"]]
        z = inputs @ (W if mapping[names["Weight"]].layout == "in_out" else W.T)
        if "Bias" in names:
            z = z + params[names["Bias"]].reshape(-1)
        return z, inputs

    def grad_fn(params, X, y):
        if samples_as_columns:
            X, y = X.T, y.T
        m, k = y.shape
        acts = list(spec.activations)
        inputs, cache = X, []
        for layer in range(spec.n_layers):
            z, used = layer_forward(params, layer, inputs)
            if acts[layer] == "softmax":
                e = np.exp(z - z.max(axis=1, keepdims=True))
                a = e / e.sum(axis=1, keepdims=True)
            else:
                a = ACTIVATIONS[acts[layer]][0](z)
            cache.append((z, a, used))
            inputs = a
        a = inputs
        denominator = {"mean": m * k, "sum": 1, "batch_mean": m}[spec.reduction]
        factor = spec.scale / denominator
        if spec.loss == "squared_error":
            loss = np.sum((a - y) ** 2) * factor
            delta = 2 * (a - y) * factor * ACTIVATIONS[acts[-1]][1](cache[-1][0], a)
        elif spec.loss == "binary_cross_entropy":
            loss = -np.sum(y * np.log(a) + (1 - y) * np.log(1 - a)) * factor
            delta = (a - y) * factor
        else:
            loss = -np.sum(y * np.log(a)) * factor
            delta = (a - y) * factor
        grads = {}
        for layer in range(spec.n_layers - 1, -1, -1):
            z, a, used = cache[layer]
            names = by_layer[layer]
            key = names.get("AugmentedWeight", names.get("Weight"))
            placement, U = mapping[key], params[key]
            grad = used.T @ delta if placement.layout == "in_out" else delta.T @ used
            penalty = 2 * spec.l2 * U
            if isinstance(placement, AugmentedWeight):
                index = 0 if placement.bias_position == "first" else -1
                if placement.layout == "in_out":
                    penalty[index, :] = 0
                else:
                    penalty[:, index] = 0
            grads[key] = sign * (grad + penalty)
            if "Bias" in names:
                grads[names["Bias"]] = sign * delta.sum(axis=0).reshape(params[names["Bias"]].shape)
            upstream = delta @ (U if placement.layout == "out_in" else U.T)
            if isinstance(placement, AugmentedWeight):
                upstream = upstream[:, 1:] if placement.bias_position == "first" else upstream[:, :-1]
            if layer:
                z_prev, a_prev, _ = cache[layer - 1]
                delta = upstream * ACTIVATIONS[acts[layer - 1]][1](z_prev, a_prev)
        loss += spec.l2 * sum(np.sum(np.delete(U, 0 if mapping[n].bias_position == "first" else -1,
                                                axis=0 if mapping[n].layout == "in_out" else 1) ** 2)
                              if isinstance(mapping[n], AugmentedWeight) else np.sum(U ** 2)
                              for n, U in params.items() if not isinstance(mapping[n], Bias))
        return loss, grads

    return grad_fn


def batch(spec, rng, m, samples_as_columns):
    X = rng.normal(size=(m, spec.sizes[0]))
    k = spec.sizes[-1]
    if spec.loss == "categorical_cross_entropy":
        y = np.eye(k)[rng.integers(0, k, m)]
    elif spec.loss == "binary_cross_entropy":
        y = (rng.random((m, k)) > 0.5).astype(float)
    else:
        y = rng.normal(size=(m, k))
    return (X.T, y.T) if samples_as_columns else (X, y)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(networks(), st.booleans(), st.integers(2, 6), st.integers(0, 2**16))
def test_correct_code_in_any_convention_is_ok(network, samples_as_columns, m, seed):
    spec, mapping = network
    rng = np.random.default_rng(seed)
    params = draw_params(spec, mapping, rng)
    X, y = batch(spec, rng, m, samples_as_columns)
    result = diagnose(spec, params, X, y, mapping=mapping, samples_as_columns=samples_as_columns,
                      grad_fn=make_user_code(spec, mapping, samples_as_columns))
    assert result.ok, str(result)
    assert set(result.kinds.values()) == {"ok"}, str(result)
    assert result.loss.status == "match", str(result)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(networks(), st.booleans(), st.integers(2, 6), st.integers(0, 2**16))
def test_flipped_sign_is_found_in_any_convention(network, samples_as_columns, m, seed):
    spec, mapping = network
    rng = np.random.default_rng(seed)
    params = draw_params(spec, mapping, rng)
    X, y = batch(spec, rng, m, samples_as_columns)
    result = diagnose(spec, params, X, y, mapping=mapping, samples_as_columns=samples_as_columns,
                      grad_fn=make_user_code(spec, mapping, samples_as_columns, sign=-1.0))
    _, right = make_user_code(spec, mapping, samples_as_columns)(params, X, y)
    expected = {name: "sign_flipped" if np.any(right[name] != 0) else "ok" for name in mapping}
    assert result.kinds == expected, str(result)
    wrong = [n for n in result.kinds if expected[n] != "ok"]
    top = max((mapping[n].layer for n in wrong), default=None)
    assert result.culprit == ([n for n in wrong if mapping[n].layer == top] or None), str(result)
