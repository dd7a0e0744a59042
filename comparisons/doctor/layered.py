"""The doctor for layer-list networks: convolutions, pooling, flatten, batch norm and dense layers.

    from comparisons.doctor import diagnose, Param
    network = {"input_shape": [1, 8, 8], "loss": "categorical_cross_entropy", "reduction": "mean",
               "layers": [{"type": "conv2d", "filters": 4, "kernel_size": 3, "activation": "relu"},
                          {"type": "max_pool2d", "pool_size": 2}, {"type": "flatten"},
                          {"type": "dense", "units": 10, "activation": "softmax"}]}
    mapping = {"W1": Param("conv2d_0.K"), "b1": Param("conv2d_0.b"),
               "W2": Param("dense_3.W", axes=(1, 0))}          # yours (10, 36): the transpose
    result = diagnose(network, params, X, y, mapping=mapping, grad_fn=loss_and_grads)

`diagnose` sends a network description (a dict as ``scratchnet.Network.spec()`` gives, or a
`scratchnet.Network`) here; a `NetSpec` goes to the MLP doctor, which knows more dense-layer
mistakes (augmented weights, L2 terms, update loops). Each of your arrays is declared by one
`Param`: the canonical parameter it holds (``conv2d_0.K`` (out, in, kh, kw), ``conv2d_0.b``
(out,), ``dense_3.W`` (fan_in, fan_out), ``batch_norm_1.gamma`` ...), as
``canonical.transpose(axes)`` reshaped to `shape` when those are given. Without a mapping your
arrays carry the canonical names and layouts.

The reference is scratchnet's backprop of the declared network in float64 (every layer is
gradient-checked and equal to torch autograd to ~1e-15, tests/test_conv_backends.py), evaluated
at your weights on your batch (X as (batch, channels, height, width), y as (batch, outputs)).
Each array gets a `Finding`: ok, zero, sign_flipped, scaled (the factor named: batch size m,
1/m, lr, 2, ...), transposed (axes permuted), flipped_kernel (a kernel gradient with its spatial
axes reversed: convolution where the forward pass cross-correlates), shape_mismatch, stateful (a
second call on the same inputs differs) or wrong. The culprit is the wrong layer nearest the
output; the layer rule also names the parameter-free layers between it and the next layer whose
gradients are right (pooling, flatten, activations), since the gradient flowing back through
them reaches it first. For grad_fn code, central differences of your own loss tell a backward
mistake (your gradient disagrees with your own loss) from a forward one (it agrees, but your
loss is another function).

Not supported here (a clear error): samples as columns, class-label targets, dropout in training
mode (its masks are drawn by your code; check the layer alone: ``parity doctor --layer dropout``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

import scratchnet as sn
from comparisons.diff import compare
from comparisons.doctor.agreement import same_number
from comparisons.doctor.batch import Batch
from comparisons.doctor.layers import judge_output
from comparisons.doctor.losscheck import LossCheck
from comparisons.doctor.numeric import own_loss_differences, own_loss_probe
from comparisons.doctor.result import DiagnosisResult, Finding, ProbeResult
from comparisons.doctor.spec import DoctorInputError
from comparisons.doctor.usercode import UserCode, UserCodeFailed
from comparisons.tolerances import doctor_tolerance

REFERENCE = "scratchnet backprop of the declared network (float64; every layer equal to torch autograd)"


@dataclass(frozen=True)
class Param:
    """One of your arrays: the canonical parameter `param` ("conv2d_0.K"), as
    ``canonical.transpose(axes)`` (axes None: as it is) reshaped to `shape` (None: no reshape)."""

    param: str
    axes: tuple[int, ...] | None = None
    shape: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.param, str) or "." not in self.param:
            raise DoctorInputError(f"Param: param must be a canonical parameter name such as 'conv2d_0.K', got {self.param!r}")
        for field_name in ("axes", "shape"):
            value = getattr(self, field_name)
            if value is not None:
                if isinstance(value, (str, bytes)) or not all(isinstance(n, (int, np.integer)) and not isinstance(n, bool)
                                                              and n >= 0 for n in value):
                    raise DoctorInputError(f"Param({self.param!r}): {field_name} must be a list of integers >= 0, got {value!r}")
                object.__setattr__(self, field_name, tuple(int(n) for n in value))

    def user_shape(self, canonical_shape: tuple[int, ...]) -> tuple[int, ...]:
        if self.shape is not None:
            return self.shape
        return tuple(canonical_shape[axis] for axis in self.axes) if self.axes else tuple(canonical_shape)

    def to_user(self, value: np.ndarray) -> np.ndarray:
        moved = np.transpose(value, self.axes) if self.axes else value
        return np.array(moved.reshape(self.user_shape(value.shape)), dtype=np.float64)

    def to_canonical(self, value: np.ndarray, canonical_shape: tuple[int, ...]) -> np.ndarray:
        moved_shape = tuple(canonical_shape[axis] for axis in self.axes) if self.axes else tuple(canonical_shape)
        moved = np.asarray(value, dtype=np.float64).reshape(moved_shape)
        return np.ascontiguousarray(np.transpose(moved, np.argsort(self.axes)) if self.axes else moved)

    def describe(self) -> str:
        extra = "".join(f", {name}={value}" for name, value in (("axes", self.axes), ("shape", self.shape)) if value)
        return f"Param({self.param!r}{extra})"


class LayerLayout:
    """Your arrays against a layer-list network: `names` (mapping order), `placements`, your
    `shapes`, each array's network `layer`, and the conversions. Raises `DoctorInputError` for
    a parameter the network does not have (with the nearest name), one placed twice or not at
    all, an `axes` that is not a permutation, or a shape that does not hold the parameter."""

    def __init__(self, net: sn.Network, mapping: Mapping[str, Param] | None, shapes: Mapping[str, tuple[int, ...]]):
        self.net = net
        canonical = {name: tuple(value.shape) for name, value in net.params.items()}
        self.owner_layer = {name: layer for layer in range(net.n_layers) for name in net.param_names(layer).values()}
        mapping = {name: Param(name) for name in canonical} if mapping is None else mapping
        if not isinstance(mapping, Mapping) or not mapping:
            raise DoctorInputError(f"mapping must be a dict {{your array name: Param('conv2d_0.K', ...)}}, got {mapping!r}")
        owners: dict[str, str] = {}
        for name, placement in mapping.items():
            if not isinstance(placement, Param):
                raise DoctorInputError(f"mapping[{name!r}] must be Param(canonical name, axes=..., shape=...) for a "
                                       f"network of layers, got {placement!r}")
            if placement.param not in canonical:
                from scratchnet._checks import unknown_name

                same = [other for other in canonical if other.lower() == placement.param.lower()]
                message = (f"unknown parameter {placement.param!r}; did you mean {same[0]!r}? (names are case-sensitive)"
                           if same else unknown_name("parameter", placement.param, list(canonical)))
                raise DoctorInputError(f"mapping[{name!r}]: {message}")
            if placement.param in owners:
                raise DoctorInputError(f"mapping places {placement.param} twice: {owners[placement.param]!r} and {name!r}")
            owners[placement.param] = name
            size = len(canonical[placement.param])
            if placement.axes is not None and sorted(placement.axes) != list(range(size)):
                raise DoctorInputError(f"mapping[{name!r}]: axes {list(placement.axes)} is not a permutation of the "
                                       f"{size} axes of {placement.param} {canonical[placement.param]}")
        missing = [name for name in canonical if name not in owners]
        if missing:
            raise DoctorInputError("mapping does not cover every network parameter; missing " + ", ".join(
                f"{name} {canonical[name]}" for name in missing))
        self.names = list(mapping)
        self.placements = dict(mapping)
        self.canonical_shapes = canonical
        self.shapes: dict[str, tuple[int, ...]] = {}
        for name in self.names:
            if name not in shapes:
                raise DoctorInputError(f"params has no array {name!r}, which the mapping places as {mapping[name].describe()}")
            shape = tuple(int(n) for n in shapes[name])
            placement = self.placements[name]
            expected = placement.user_shape(canonical[placement.param])
            if int(np.prod(shape)) != int(np.prod(canonical[placement.param])) or (placement.shape is None and shape != expected):
                raise DoctorInputError(f"params[{name!r}] has shape {shape}, but {placement.describe()} expects {expected} "
                                       f"({placement.param} is {canonical[placement.param]} in the canonical layout)")
            self.shapes[name] = shape
        extra = [name for name in shapes if name not in self.placements]
        if extra:
            raise DoctorInputError(f"params has {extra} which the mapping does not place (mapped: {self.names})")

    @classmethod
    def declared(cls, net: sn.Network, mapping: Mapping[str, Param] | None) -> "LayerLayout":
        """The layout with every array in the shape its placement declares (no arrays yet: a user
        backend, or parameters drawn for a spec file)."""
        canonical = {name: tuple(value.shape) for name, value in net.params.items()}
        shapes = canonical if mapping is None else {
            name: placement.user_shape(canonical[placement.param]) if placement.param in canonical else ()
            for name, placement in mapping.items()}  # an unknown parameter is refused by name first
        return cls(net, mapping, shapes)

    def layer(self, name: str) -> int:
        return self.owner_layer[self.placements[name].param]

    def canonical_names(self) -> dict[str, str]:
        """canonical parameter -> your array holding it."""
        return {placement.param: name for name, placement in self.placements.items()}

    def to_canonical(self, arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Your arrays as canonical float64 parameters, in network order."""
        by_param = {placement.param: name for name, placement in self.placements.items()}
        return {param: self.placements[by_param[param]].to_canonical(arrays[by_param[param]], shape)
                for param, shape in self.canonical_shapes.items()}

    def to_user(self, canonical: Mapping[str, np.ndarray], parameters: bool = False) -> dict[str, np.ndarray]:
        """Canonical gradients (or parameters) in your names, layouts and shapes."""
        return {name: self.placements[name].to_user(np.asarray(canonical[self.placements[name].param], dtype=np.float64))
                for name in self.names}


def layer_network(network: Mapping[str, Any] | sn.Network) -> sn.Network:
    """The float64 scratchnet network a description (or a Network) declares, in training mode."""
    if isinstance(network, sn.Network):
        network = network.spec()
    try:
        net = sn.network_from_spec({**network, "dtype": "float64"})
    except (ValueError, TypeError) as error:
        raise DoctorInputError(f"network: {error}") from None
    if any(layer.kind == "dropout" and layer.rate > 0 for layer in net.layers):
        raise DoctorInputError("network: your code draws its own dropout masks, which no reference can share, so "
                               "gradients would differ by chance: use rate = 0 (or leave the dropout layer out) for "
                               "your code, and check your dropout layer alone with `parity doctor FILE --layer dropout`")
    return net


def diagnose_layers(network: Mapping[str, Any] | sn.Network, params: Mapping[str, np.ndarray], X: np.ndarray,
                    y: np.ndarray, *, mapping: Mapping[str, Param] | None = None, grad_fn: Callable | None = None,
                    step_fn: Callable | None = None, lr: float | None = None) -> DiagnosisResult:
    """Diagnose the gradients of code for a layer-list network (see the module docstring);
    `diagnose` calls this for a network description. The arguments are `diagnose`'s."""
    net = layer_network(network)
    if not isinstance(params, Mapping):
        raise DoctorInputError(f"params must be a dict {{name: array}}, got {type(params).__name__}")
    layout = LayerLayout(net, mapping, {name: np.shape(value) for name, value in params.items()})
    X = net.check_inputs(np.asarray(X, dtype=np.float64))
    y = net.check_targets(np.asarray(y, dtype=np.float64), X.shape[0])
    mine = {name: np.array(params[name], copy=True) for name in layout.names}
    user = UserCode(grad_fn, step_fn, lr, layout.names, layout.shapes)
    canonical = layout.to_canonical(mine)
    loss, grads = net.loss_and_grads_checked(X, y, canonical)
    expected = layout.to_user(grads)
    result = DiagnosisResult(ok=False, culprit=None, findings=[], mode=user.mode, network=_describe(net),
                             reference=REFERENCE, batch_size=X.shape[0])
    try:
        first = user.evaluate(mine, X, y, "first call, at your weights")
        second = user.evaluate(mine, X, y, "second call, same inputs")
    except UserCodeFailed as failed:
        result.error = failed.failure
        return result
    policy = doctor_tolerance(first.low_precision)
    largest = max((float(np.max(np.abs(value), initial=0.0)) for value in expected.values()), default=0.0)
    tolerance = policy.gradient(largest)
    context = {"m": X.shape[0], "1/m": 1.0 / X.shape[0], **({"lr": lr} if lr else {}), "2": 2.0, "1/2": 0.5}
    for name in layout.names:
        variants = _kernel_variants(layout, name, expected[name], tolerance)
        judged = judge_output(name, first.grads[name], expected[name], variants, {}, context, None, tolerance)
        finding = Finding(name, judged.kind, layout.layer(name),
                          layout.placements[name].describe(), factor=judged.factor, max_abs=judged.max_abs,
                          max_rel=judged.max_rel,
                          evidence=judged.evidence.replace("torch autograd", "the reference") or "matches the reference",
                          expected_shape=layout.shapes[name], got_shape=tuple(np.shape(first.grads[name])))
        if finding.kind == "not_finite":
            finding.kind = "wrong"
        if np.shape(second.grads[name]) == np.shape(first.grads[name]) and not np.array_equal(
                np.nan_to_num(second.grads[name]), np.nan_to_num(first.grads[name])):
            finding.evidence = f"a second call on the same inputs returned another gradient (first call: {finding.kind})"
            finding.kind = "stateful"
        result.findings.append(finding)
    result.loss = _loss_check(first.loss, loss, policy)
    if first.mutated:
        result.notes.append(f"{user.function_name} changed {', '.join(first.mutated)} in place; your arrays were not "
                            "touched (the doctor passes copies), but in a training loop that matters")
    wrong = [finding for finding in result.findings if finding.kind != "ok"]
    result.ok = not wrong and result.loss.status != "mismatch"
    if wrong:
        _declare_reduction(result, net, canonical, X, y, first.grads, layout, tolerance, policy)
    if wrong:
        culprit_layer = max(finding.layer for finding in wrong)
        result.culprit = [finding.param for finding in wrong if finding.layer == culprit_layer]
        result.layer_rule = _layer_rule(net, layout, result.findings, culprit_layer)
        if user.mode == "grad_fn":
            result.probes.append(_own_loss_probe(user, mine, X, y, layout, [f.param for f in wrong if f.kind != "stateful"],
                                                 first.grads, expected, policy, result.loss.status))
    return result


def _kernel_variants(layout: LayerLayout, name: str, expected: np.ndarray, tolerance) -> dict[str, list]:
    """The flipped-kernel mistake for a convolution kernel: the gradient with its spatial axes
    reversed (in the canonical layout, then in yours)."""
    placement = layout.placements[name]
    if not placement.param.endswith(".K"):
        return {}
    flipped = placement.to_user(placement.to_canonical(expected, layout.canonical_shapes[placement.param])[..., ::-1, ::-1])
    text = ("is the kernel gradient with its spatial axes reversed: your backward convolves where the forward pass "
            "cross-correlates (or the other way round); index the kernel the same way in both")

    def match(value, dout, low):
        return text if value.shape == flipped.shape and compare(value, flipped, tolerance, False).passed else None

    return {name: [("flipped_kernel", match)]}


def _declare_reduction(result: DiagnosisResult, net: sn.Network, canonical, X, y, grads, layout: LayerLayout,
                       tolerance, policy) -> None:
    """When another reduction of the declared loss explains your loss and every gradient at once,
    say so: your code is consistent with that declaration (`result.consistent_spec`)."""
    spec = net.spec()
    for reduction in sn.losses.REDUCTIONS:
        if reduction == spec.get("reduction"):
            continue
        other = sn.network_from_spec({**spec, "reduction": reduction})
        loss, other_grads = other.loss_and_grads_checked(X, y, canonical)
        expected = layout.to_user(other_grads)
        if (result.loss.user is None or same_number(result.loss.user, loss, policy.loss())) and all(
                np.shape(grads[name]) == expected[name].shape and compare(grads[name], expected[name], tolerance, False).passed
                for name in layout.names):
            result.consistent_spec = f"reduction={reduction!r}"
            result.cause = (f"your loss and every gradient are those of reduction={reduction!r} (declared "
                            f"{spec.get('reduction')!r}): declare it, or divide as the declared reduction does")
            return


def _loss_check(user_loss: float | None, reference: float, policy) -> LossCheck:
    if user_loss is None:
        return LossCheck("unavailable", None, reference, explanation="a step function exposes no loss")
    if same_number(user_loss, reference, policy.loss()):
        return LossCheck("match", user_loss, reference, explanation="the declared loss")
    ratio = user_loss / reference if reference else None
    return LossCheck("mismatch", user_loss, reference, ratio,
                     "your forward pass or loss formula is not the declared one" +
                     (f" (yours is {ratio:.6g} times the reference)" if ratio else ""))


def _layer_rule(net: sn.Network, layout: LayerLayout, findings: list[Finding], culprit: int) -> str:
    """Where the mistake enters: the culprit layer, and the parameter-free layers after it up to
    the next layer with parameters (the gradient reaches the culprit through them)."""
    kinds = [layer.kind for layer in net.layers]
    after = []
    for index in range(culprit + 1, net.n_layers):
        if net.param_names(index):
            break
        after.append(index)
    right_after = [f.param for f in findings if f.layer > culprit and f.kind == "ok"]
    rule = f"layer {culprit} ({kinds[culprit]}_{culprit}) is the wrong layer nearest the output"
    rule += f"; every gradient after it is right ({', '.join(right_after)})" if right_after else ""
    rule += ": look at its backward pass and its activation derivative"
    if after:
        rule += (f"; the gradient it receives passes back through {', '.join(f'{kinds[i]}_{i}' for i in after)} "
                 "(no parameters of their own, so a mistake in their backward shows up here first)")
    checks = [LAYER_CHECKS[kind] for kind in dict.fromkeys(kinds[i] for i in [culprit, *after]) if kind in LAYER_CHECKS]
    if checks:
        rule += "; check those layer functions alone: " + ", ".join(f"`parity doctor FILE --layer {c}`" for c in checks)
    return rule


#: scratchnet layer kind -> the `check_layer` layer that checks hand-written code for it
LAYER_CHECKS = {"conv2d": "conv2d", "dense": "affine", "max_pool2d": "max_pool2d", "batch_norm": "batchnorm"}


def _own_loss_probe(user: UserCode, mine: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray, layout: LayerLayout,
                    names: list[str], grads: Mapping[str, np.ndarray], expected: Mapping[str, np.ndarray], policy,
                    loss_status: str) -> ProbeResult:
    """Central differences of your own loss (the MLP doctor's stencil and tolerances,
    `comparisons.doctor.numeric`): does your gradient follow your own loss (then the forward pass
    or the loss is another function) or not (then the backward pass is wrong)? Steps shrink to
    keep ReLU-family units off their kinks; a max-pool window whose maximum changes within a step
    is not guarded against (the first step is ~7e-4 of the entry, so it takes a near tie)."""
    names = [name for name in names if np.shape(grads[name]) == np.shape(expected[name])]
    if not names:
        return ProbeResult("own loss", "skipped", "not needed: the only wrong gradients have the wrong shape")
    batch = Batch(X_user=X, y_user=y, X=X, y=y, samples_as_columns=False)
    try:
        checks = own_loss_differences(user, mine, batch, layout, layout.net, names, grads, expected, policy)
    except UserCodeFailed as failed:
        return ProbeResult("own loss", "failed", f"a call for central differences failed: {failed.failure.message}",
                           {"error": failed.failure.to_dict()})
    return own_loss_probe(checks, names, names, loss_status)


def _describe(net: sn.Network) -> str:
    layers = ", ".join(f"{layer.kind}_{index}" for index, layer in enumerate(net.layers))
    return f"input {tuple(net.input_shape)} -> {layers}; loss {net.loss.name}, reduction {net.loss.reduction}"
