"""The doctor for one layer: a hand-written ``*_forward`` / ``*_backward`` pair, checked against
torch autograd, with the mistakes named.

    from comparisons.doctor import check_layer
    result = check_layer("conv2d", forward=conv_forward_naive, backward=conv_backward_naive,
                         params={"stride": 1, "pad": 1}, style="cs231n")
    result.ok, result.findings      # per output (out, dx, dw, db): kind, evidence
    print(result)

Layers, in cs231n's signatures (``style="cs231n"``; forward returns ``(out, cache)``, backward
takes ``(dout, cache)`` and returns the gradients in the order of the inputs):

============== ================================================ =====================================
layer          forward                                          backward returns
============== ================================================ =====================================
affine         ``affine_forward(x, w, b)``, x (N, d1..dk),        dx (x's shape), dw (D, M), db (M,)
               w (D, M)
relu           ``relu_forward(x)``                              dx
conv2d         ``conv_forward_naive(x, w, b, conv_param)``,     dx, dw, db
               x (N, C, H, W), w (F, C, HH, WW), conv_param
               {stride, pad}
max_pool2d     ``max_pool_forward_naive(x, pool_param)``,       dx
               {pool_height, pool_width, stride}
batchnorm      ``batchnorm_forward(x, gamma, beta, bn_param)``, dx, dgamma, dbeta
               x (N, D); bn_param {mode, eps, momentum,
               running_mean, running_var}
spatial_       the same on x (N, C, H, W), per channel          dx, dgamma, dbeta
batchnorm
dropout        ``dropout_forward(x, dropout_param)``,           dx
               {p (the keep probability), mode, seed}
softmax_loss   ``softmax_loss(x, y)`` -> (loss, dx), scores     (no backward function)
svm_loss       x (N, C), integer labels y (N,)
============== ================================================ =====================================

``style="generic"`` takes other calling conventions, declared with `inputs` (the array arguments
in order), `options` (``"dict"``: one dict after the arrays, as cs231n; ``"keywords"``: keyword
arguments; None: none) and `cache` (True: forward returns (out, cache), backward(dout, cache);
False: forward returns out, backward(dout, *arrays, options)). Backward may return a tuple in the
order of `inputs`, a single array (one input) or a dict keyed by input name or ``"d" + name``.

Each of `trials` random shapes and configurations (seeded; the layer's ``params`` fixed when
given, as numpy-ml's layer tests do) runs the user's forward, then their backward with a random
upstream gradient, and compares every output with torch autograd in float64 (tolerances
`comparisons.tolerances.DOCTOR`, comparisons `comparisons.diff.compare`). Each output gets one
`LayerFinding`: ``ok``; ``sign_flipped`` / ``scaled`` (a constant multiple, named when it is
N, 1/N, 2, p, ...); ``transposed`` (axes permuted); ``flipped_kernel`` (convolution instead of
cross-correlation); ``argmax_routing`` (a pooling gradient sent to every window element instead of
the argmax); ``missing_batchnorm_terms`` (the backward without the mean or variance terms);
``overwrites_overlap`` (a max-pool gradient assigned with ``=`` where overlapping windows must add);
``wrong_axes`` (spatial batch norm over the batch alone, per position: a forward that raises with
running statistics of shape (C,) is called again without them, as cs231n's notebook does);
``mask_not_reused`` (dropout's backward draws a new mask); ``zero`` (all zeros: not written yet?);
``shape_mismatch``; ``not_finite``; ``raised`` (the user's function raised, with a porting hint
for Python 2 / NumPy 1 code: xrange, integer ``/``, ``np.lib.pad``, ``int()`` of an array);
``wrong``. Dropout code that keeps 1 - p of the units reads p as the drop probability (cs231n's
2016-2017 convention) and is judged in that convention, which the finding names. Running statistics of batch norm are checked
against cs231n's update (``running = momentum * running + (1 - momentum) * batch``, biased
variance).
"""
from __future__ import annotations

import itertools
import math
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from comparisons.diff import compare
from comparisons.doctor.result import _plain
from comparisons.tolerances import Tolerance, doctor_tolerance

#: kinds of a layer finding, most specific first
LAYER_KINDS = ("ok", "flipped_kernel", "argmax_routing", "overwrites_overlap", "missing_batchnorm_terms", "wrong_axes",
               "mask_not_reused", "sign_flipped",
               "scaled", "transposed", "zero", "shape_mismatch", "not_finite", "raised", "wrong")
STYLES = ("cs231n", "generic")


@dataclass(frozen=True)
class _Kind:
    """One supported layer: its array inputs in cs231n's order, the name of its options dict,
    and whether it is a loss (forward returns (loss, dx), no backward function)."""

    inputs: tuple[str, ...]
    options: str | None = None
    loss: bool = False


LAYERS: dict[str, _Kind] = {
    "affine": _Kind(("x", "w", "b")),
    "relu": _Kind(("x",)),
    "conv2d": _Kind(("x", "w", "b"), "conv_param"),
    "max_pool2d": _Kind(("x",), "pool_param"),
    "batchnorm": _Kind(("x", "gamma", "beta"), "bn_param"),
    "spatial_batchnorm": _Kind(("x", "gamma", "beta"), "bn_param"),
    "dropout": _Kind(("x",), "dropout_param"),
    "softmax_loss": _Kind(("x", "y"), loss=True),
    "svm_loss": _Kind(("x", "y"), loss=True),
}


@dataclass
class LayerFinding:
    """The verdict on one output of the user's layer (``out``, ``dx``, ``dw``, ``running_mean``,
    ``loss``...): `kind` (one of `LAYER_KINDS`), the trial it comes from (its shapes and options
    in `trial`), the largest absolute and relative (normwise) difference from the reference,
    the fitted `factor` for sign_flipped / scaled, and `evidence` in words."""

    output: str
    kind: str
    evidence: str = ""
    max_abs: float | None = None
    max_rel: float | None = None
    factor: float | None = None
    trial: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.kind == "ok"

    def to_dict(self) -> dict[str, Any]:
        return _plain({"output": self.output, "kind": self.kind, "evidence": self.evidence, "max_abs": self.max_abs,
                       "max_rel": self.max_rel, "factor": self.factor, "trial": self.trial})


@dataclass
class LayerCheckResult:
    """`findings`: one per output, the first failing trial's verdict (or ok); `trials`: every
    trial's findings."""

    layer: str
    style: str
    findings: dict[str, LayerFinding]
    trials: list[dict[str, LayerFinding]]

    @property
    def ok(self) -> bool:
        return all(finding.ok for finding in self.findings.values())

    def to_dict(self) -> dict[str, Any]:
        return {"layer": self.layer, "style": self.style, "ok": self.ok,
                "findings": {name: finding.to_dict() for name, finding in self.findings.items()},
                "trials": [{name: finding.to_dict() for name, finding in trial.items()} for trial in self.trials]}

    def __str__(self) -> str:
        lines = [f"check_layer({self.layer!r}, style={self.style!r}): {'ok' if self.ok else 'MISTAKES FOUND'} "
                 f"({len(self.trials)} trials against torch autograd, float64)"]
        for name, finding in self.findings.items():
            error = "" if finding.max_rel is None else f"  max_rel {finding.max_rel:.2e}"
            lines.append(f"  {name:<13} {finding.kind}{error}")
            if finding.evidence:
                lines.append(f"      {finding.evidence}")
            if not finding.ok:
                if finding.trial:
                    lines.append(f"      trial: {finding.trial}")
        return "\n".join(lines)


class LayerCheckError(ValueError):
    """check_layer was called wrongly (unknown layer, style or option); the message says how."""


# ---------------------------------------------------------------------------------- the check
def layer_kind(layer: str) -> _Kind:
    """The supported layer `layer`; a LayerCheckError naming the nearest one otherwise."""
    if layer not in LAYERS:
        import difflib

        close = difflib.get_close_matches(str(layer), LAYERS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise LayerCheckError(f"unknown layer {layer!r}{hint} (supported: {', '.join(LAYERS)})")
    return LAYERS[layer]


def check_layer(layer: str, forward: Callable[..., Any], backward: Callable[..., Any] | None = None,
                params: Mapping[str, Any] | None = None, style: str = "cs231n", *, inputs: Sequence[str] | None = None,
                options: str | None = "dict", cache: bool = True, trials: int = 3, seed: int = 0) -> LayerCheckResult:
    """Check a hand-written layer (`forward`, `backward`) against torch autograd; see the module
    docstring for the layers, signatures and kinds. `params`: the layer's options (cs231n's
    ``conv_param``, ``pool_param``, ``bn_param``, ``dropout_param`` contents), fixed for every
    trial when given, else varied. Raises `LayerCheckError` for a wrong call and
    `reference.protocol.MissingFramework` without torch."""
    kind = layer_kind(layer)
    if style not in STYLES:
        raise LayerCheckError(f"style must be one of {STYLES}, got {style!r}")
    if not callable(forward):
        raise LayerCheckError(f"forward must be a function such as {layer}_forward(...), got {forward!r}")
    if kind.loss and backward is not None:
        raise LayerCheckError(f"{layer} returns (loss, dx) from one function: pass it as forward, without backward")
    if not kind.loss and not callable(backward):
        raise LayerCheckError(f"{layer} needs backward, a function (dout, cache) -> gradients, got {backward!r}")
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise LayerCheckError(f"trials must be a positive integer, got {trials!r}")
    if params is not None and not isinstance(params, Mapping):
        raise LayerCheckError(f"params must be a dict of the layer's options (e.g. {{'stride': 1, 'pad': 1}}), got {params!r}")
    if style == "cs231n":
        call = _Call(kind.inputs, "dict" if kind.options else None, True, kind.loss)
    else:
        if options not in ("dict", "keywords", None):
            raise LayerCheckError(f"options must be 'dict', 'keywords' or None, got {options!r}")
        names = tuple(inputs) if inputs is not None else kind.inputs
        if sorted(names) != sorted(kind.inputs):
            raise LayerCheckError(f"inputs must name {layer}'s arrays {kind.inputs} in your order, got {tuple(names)}")
        call = _Call(names, options if kind.options or options is None else None, bool(cache), kind.loss)
    from reference.torch_backend import import_torch

    torch = import_torch()
    rng = np.random.default_rng(seed)
    results = []
    for number in range(trials):
        arrays, settings = _TRIALS[layer](rng, dict(params or {}), number)
        results.append(_run_trial(layer, torch, call, forward, backward, arrays, settings, rng))
    merged: dict[str, LayerFinding] = {}
    for trial in results:
        for name, finding in trial.items():
            if name not in merged or (merged[name].ok and not finding.ok):
                merged[name] = finding
    return LayerCheckResult(layer, style, merged, results)


@dataclass(frozen=True)
class _Call:
    inputs: tuple[str, ...]
    options: str | None
    cache: bool
    loss: bool


def _run_trial(layer, torch, call: _Call, forward, backward, arrays, settings, rng) -> dict[str, LayerFinding]:
    described = {**{name: list(value.shape) for name, value in arrays.items()}, **_describe(settings)}
    user_settings = {key: (value.copy() if isinstance(value, np.ndarray) else value) for key, value in settings.items()}
    positional = [arrays[name].copy() for name in call.inputs]

    def run_forward(options):
        if call.options == "dict":
            return forward(*positional, options)
        if call.options == "keywords":
            return forward(*positional, **options)
        return forward(*positional)

    retried = None
    try:
        returned = run_forward(user_settings)
    except Exception:
        first = _raised("forward", described)
        if not (layer in ("batchnorm", "spatial_batchnorm") and settings["mode"] == "train"):
            return {"out": first}
        # cs231n's notebooks call batchnorm_forward without running statistics first (the code starts
        # them at np.zeros): retry so, and check the running statistics it then keeps
        user_settings = {key: value for key, value in user_settings.items() if key not in ("running_mean", "running_var")}
        try:
            positional = [arrays[name].copy() for name in call.inputs]
            returned = run_forward(user_settings)
        except Exception:
            return {"out": first}
        features = arrays["x"].shape[1]
        settings = {**settings, "running_mean": np.zeros(features), "running_var": np.zeros(features)}
        raised = first.evidence.removeprefix("your forward raised: ")
        retried = (f"your forward raised with running statistics of shape ({features},) passed ({raised}); called "
                   "without them, as cs231n's notebook first calls it, it ran")
    if call.loss:
        if not (isinstance(returned, tuple) and len(returned) == 2):
            return {"loss": LayerFinding("loss", "wrong", f"{layer} must return (loss, dx), got {type(returned).__name__}", trial=described)}
        user = {"loss": returned[0], "dx": returned[1]}
        reference = _LOSSES[layer](torch, arrays)
        context = _context(layer, arrays, settings)
        return {name: judge_output(name, user[name], reference[name], {}, described, context, None) for name in ("loss", "dx")}
    if call.cache:
        if not (isinstance(returned, tuple) and len(returned) == 2):
            return {"out": LayerFinding("out", "wrong", f"forward must return (out, cache), got {type(returned).__name__}", trial=described)}
        out, cache = returned
    else:
        out, cache = returned, None
    reference, variants = _REFERENCES[layer](torch, arrays, settings, np.asarray(out))
    problems = reference.pop("_problems", {})  # mistakes the values alone do not show (dropout's kept fraction)
    notes = reference.pop("_notes", {})  # conventions the user's code follows (dropout's p as the drop probability)
    dout = rng.normal(size=reference["out"].shape)
    reference.update(_gradients(reference, dout))
    context = _context(layer, arrays, settings)
    findings = {"out": judge_output("out", out, reference["out"], variants, described, context, dout)}
    if retried:
        notes = {**notes, "out": retried}
    for name, note in notes.items():
        findings[name].evidence = note if findings[name].ok else f"{findings[name].evidence}; {note}"
    for name, (kind, evidence) in problems.items():
        also = "" if findings[name].ok else f"; and {findings[name].evidence}"
        findings[name].kind, findings[name].evidence = kind, evidence + also
    if layer in ("batchnorm", "spatial_batchnorm") and settings["mode"] != "train":
        return findings  # cs231n's batchnorm_backward is the training-mode one: test mode checks the forward only
    try:
        if call.cache:
            grads = backward(dout.copy(), cache)
        elif call.options == "dict":
            grads = backward(dout.copy(), *[arrays[name].copy() for name in call.inputs], dict(settings))
        elif call.options == "keywords":
            grads = backward(dout.copy(), *[arrays[name].copy() for name in call.inputs], **dict(settings))
        else:
            grads = backward(dout.copy(), *[arrays[name].copy() for name in call.inputs])
    except Exception:
        findings["dx"] = _raised("backward", described)
        return findings
    grads = _named_grads(grads, call.inputs, arrays)
    if isinstance(grads, str):
        findings["dx"] = LayerFinding("dx", "wrong", grads, trial=described)
        return findings
    for name in call.inputs:
        key = f"d{name}"
        if key in reference:
            findings[key] = judge_output(key, grads.get(key), reference[key], variants, described, context, dout)
    for key in ("running_mean", "running_var"):
        if key in reference:
            findings[key] = judge_output(key, user_settings.get(key), reference[key], variants, described, context, dout)
    return findings


def _describe(settings: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in settings.items() if not isinstance(value, np.ndarray)}


#: (part of an exception message, why) for code written for Python 2 or NumPy 1, common in
#: cs231n solutions from 2016-2019 (seen on real files; see the module docstring)
PORTING_HINTS = (
    ("name 'xrange' is not defined", "Python 2 code: use range"),
    ("'range' and 'range'", "Python 2's range returned a list: use list(range(...))"),
    ("has no attribute 'pad'", "np.lib.pad was removed in NumPy 2: use np.pad"),
    ("cannot be interpreted as an integer", "Python 2's / divided integers exactly: use // for sizes and indices"),
    ("to dtype('int64')", "Python 2's / divided integers exactly: use // for sizes and indices"),
    ("only 0-dimensional arrays can be converted", "NumPy 2 refuses int()/float() of a one-element array: use .item()"),
    ("only length-1 arrays can be converted", "NumPy 2 refuses int()/float() of a one-element array: use .item()"),
)


def _raised(where: str, described) -> LayerFinding:
    last = traceback.format_exc().strip().splitlines()[-1]
    hints = list(dict.fromkeys(hint for text, hint in PORTING_HINTS if text in last))
    hint = f" ({'; '.join(hints)})" if hints else ""
    return LayerFinding("out" if where == "forward" else "dx", "raised", f"your {where} raised: {last}{hint}", trial=described)


def _named_grads(grads, inputs: tuple[str, ...], arrays) -> dict[str, Any] | str:
    """The user's backward result as {"dx": ..., "dw": ...} (inputs without a gradient, such as
    labels, are skipped)."""
    wanted = [name for name in inputs if name != "y"]
    if isinstance(grads, Mapping):
        return {f"d{name}": grads.get(f"d{name}", grads.get(name)) for name in wanted}
    if isinstance(grads, np.ndarray) or not isinstance(grads, (tuple, list)):
        grads = (grads,)
    if len(grads) != len(wanted):
        return (f"backward returned {len(grads)} value(s); expected {len(wanted)}: "
                f"({', '.join('d' + name for name in wanted)}) in the order of the inputs")
    return {f"d{name}": value for name, value in zip(wanted, grads)}


# ---------------------------------------------------------------------------------- judging
def _context(layer, arrays, settings) -> dict[str, float]:
    """Quantities a constant factor may be named after."""
    n = arrays["x"].shape[0]
    names = {"N": n, "1/N": 1.0 / n, "2": 2.0, "1/2": 0.5}
    if layer == "dropout":
        names.update({"p": settings["p"], "1/p": 1.0 / settings["p"]})
    if layer == "max_pool2d":
        size = settings["pool_height"] * settings["pool_width"]
        names.update({"pool size": size, "1/pool size": 1.0 / size})
    if layer in ("softmax_loss", "svm_loss"):
        names.update({"C": arrays["x"].shape[1], "1/C": 1.0 / arrays["x"].shape[1]})
    return names


def _tolerance(reference: np.ndarray, low_precision: bool) -> Tolerance:
    return doctor_tolerance(low_precision).gradient(float(np.max(np.abs(reference), initial=0.0)))


#: a known mistake: (kind, match); match(value, dout, low_precision) returns the evidence when the
#: user's value is what the mistake computes, else None
Variant = tuple[str, Callable[[np.ndarray, Any, bool], "str | None"]]


def _equals(candidate: Callable[[Any], np.ndarray] | np.ndarray, text: str) -> Callable[[np.ndarray, Any, bool], str | None]:
    """A mistake that computes one array (`candidate`, or `candidate(dout)` for a gradient)."""
    def match(value, dout, low):
        expected = candidate(dout) if callable(candidate) else candidate
        agree = expected.shape == value.shape and compare(value, expected, _tolerance(expected, low), False).passed
        return text if agree else None
    return match


def judge_output(name, user, reference, variants: Mapping[str, list[Variant]], described, context, dout,
                 tolerance: Tolerance | None = None) -> LayerFinding:
    """One output of the user's code against the reference: ok, a known mistake (`variants`),
    sign_flipped / scaled (named from `context`, {name: number}), transposed, shape_mismatch,
    not_finite or wrong. `tolerance`: the gradient tolerance (default: relative to this
    reference's own largest entry, in the precision of the user's array)."""
    reference = np.asarray(reference, dtype=np.float64)
    if user is None:
        return LayerFinding(name, "wrong", f"{name} is missing (None)", trial=described)
    raw = np.asarray(user)
    if raw.dtype.kind not in "biuf":
        return LayerFinding(name, "wrong", f"{name} is not numeric (dtype {raw.dtype})", trial=described)
    low = raw.dtype in (np.float32, np.float16)
    value = raw.astype(np.float64)
    tolerance = _tolerance(reference, low) if tolerance is None else tolerance
    if value.shape != reference.shape:
        if value.size == reference.size and compare(value.reshape(reference.shape), reference, tolerance, False).passed:
            return LayerFinding(name, "shape_mismatch", f"{name} has shape {value.shape}, expected {reference.shape}; its values "
                                f"are right: reshape it to {reference.shape}", trial=described)
        permuted = _permutation(value, reference, tolerance)
        if permuted is not None:
            return LayerFinding(name, "transposed", f"{name} has shape {value.shape}: it is the reference with its axes "
                                f"permuted {permuted} (expected shape {reference.shape})", trial=described)
        empty = (" (an axis of length 0: a slice such as dxp[:, :, pad:-pad] is empty when pad = 0; slice "
                 "pad:pad + H)") if 0 in value.shape and 0 not in reference.shape else ""
        return LayerFinding(name, "shape_mismatch", f"{name} has shape {value.shape}, expected {reference.shape}{empty}",
                            trial=described)
    if not np.all(np.isfinite(value)):
        return LayerFinding(name, "not_finite", f"{name} holds NaN or Inf", trial=described)
    diff = compare(value, reference, tolerance, False)
    errors = dict(max_abs=float(diff.max_abs), max_rel=float(diff.max_rel), trial=described)
    if diff.passed:
        return LayerFinding(name, "ok", **errors)
    if not np.any(value):
        return LayerFinding(name, "zero", f"{name} is all zeros where the reference is not (not written yet?)", **errors)
    for kind, match in variants.get(name, []):
        text = match(value, dout, low)
        if text is not None:
            return LayerFinding(name, kind, f"{name} {text}", **errors)
    scale = float(np.vdot(reference, reference))
    if scale > 0:
        factor = float(np.vdot(value, reference) / scale)
        if compare(value, factor * reference, tolerance, False).passed:
            rtol = doctor_tolerance(low).factor_rtol  # a fitted factor is as accurate as the gradient
            named = [key for key, number in context.items() if math.isclose(abs(factor), number, rel_tol=rtol)]
            if math.isclose(factor, -1.0, rel_tol=rtol):
                return LayerFinding(name, "sign_flipped", f"{name} is the reference with its sign flipped (factor -1)",
                                    factor=factor, **errors)
            what = f" ({', '.join(named)})" if named else ""
            sign = "minus " if factor < 0 else ""
            return LayerFinding(name, "scaled", f"{name} is {sign}{abs(factor):.6g}{what} times the reference", factor=factor, **errors)
    permuted = _permutation(value, reference, tolerance)
    if permuted is not None:
        return LayerFinding(name, "transposed", f"{name} is the reference with its axes permuted {permuted}", **errors)
    return LayerFinding(name, "wrong", f"{name} differs from torch autograd (max_rel {diff.max_rel:.3g}) and matches none of "
                        "the known mistakes", **errors)


def _permutation(value: np.ndarray, reference: np.ndarray, tolerance: Tolerance) -> tuple[int, ...] | None:
    if value.ndim < 2 or value.ndim > 4:
        return None
    for axes in itertools.permutations(range(value.ndim)):
        if axes == tuple(range(value.ndim)):
            continue
        moved = np.transpose(value, axes)
        if moved.shape == reference.shape and compare(moved, reference, tolerance, False).passed:
            return axes
    return None


# ---------------------------------------------------------------------------------- trials
def _setting(params: dict, key: str, choices: Sequence[Any], number: int) -> Any:
    return params[key] if key in params else choices[number % len(choices)]


def _affine_trial(rng, params, number):
    shape = [(4, 5), (3, 2, 2), (6,)][number % 3]
    n, units = 3 + number % 2, 3 + 2 * (number % 2)
    x = rng.normal(size=(n, *shape))
    return {"x": x, "w": rng.normal(size=(int(np.prod(shape)), units)), "b": rng.normal(size=units)}, {}


def _relu_trial(rng, params, number):
    shape = [(4, 5), (2, 3, 4, 4)][number % 2]
    return {"x": rng.normal(size=shape)}, {}  # autograd is exact at any point but 0, which a draw never hits


def _conv_trial(rng, params, number):
    stride = int(_setting(params, "stride", (1, 2, 1), number))
    pad = int(_setting(params, "pad", (1, 1, 0), number))
    kernel = [3, 3, 1][number % 3] if pad <= 1 else 2 * pad + 1
    n, channels, filters = 2, [3, 1, 2][number % 3], [2, 3, 4][number % 3]
    # (size + 2 pad - kernel) divisible by the stride, as cs231n's naive layer asserts
    size = max(kernel + stride * (3 + number % 2) - 2 * pad, kernel - 2 * pad + stride, 1)
    width = size + stride
    x = rng.normal(size=(n, channels, size, width))
    return ({"x": x, "w": rng.normal(size=(filters, channels, kernel, kernel)), "b": rng.normal(size=filters)},
            {**params, "stride": stride, "pad": pad})


def _pool_trial(rng, params, number):
    height = int(_setting(params, "pool_height", (2, 3, 2), number))
    width = int(_setting(params, "pool_width", (2, 3, 2), number))
    stride = int(_setting(params, "stride", (2, 1, 2), number))
    rows, columns = height + stride * (2 + number % 2), width + stride * 3
    return ({"x": rng.normal(size=(2, [3, 1, 2][number % 3], rows, columns))},
            {**params, "pool_height": height, "pool_width": width, "stride": stride})


def _batchnorm_trial(spatial):
    def trial(rng, params, number):
        mode = _setting(params, "mode", ("train", "train", "test"), number)
        features = 4 + number
        shape = (5 + number, features, 3, 3) if spatial else (6 + number, features)
        x = rng.normal(loc=2, scale=3, size=shape)
        # cs231n's defaults: eps 1e-5, momentum 0.9 (the weight of the old running value)
        settings = {"mode": mode, "eps": float(params.get("eps", 10 ** -5)), "momentum": float(params.get("momentum", 9 / 10)),
                    "running_mean": rng.normal(size=features), "running_var": rng.uniform(0.5, 2.0, size=features)}
        return {"x": x, "gamma": 0.5 + rng.random(size=features), "beta": rng.normal(size=features)}, settings
    return trial


def _dropout_trial(rng, params, number):
    mode = _setting(params, "mode", ("train", "train", "test"), number)
    p = float(params.get("p", (number % 3 + 1) / 4))  # keep probabilities 1/4, 1/2, 3/4
    x = rng.normal(size=(40, 30))
    return {"x": np.where(x == 0, 1.0, x)}, {"p": p, "mode": mode, "seed": int(params.get("seed", 123 + number))}


def _loss_trial(rng, params, number):
    n, classes = 5 + number, 4 + number % 2
    return {"x": rng.normal(size=(n, classes)), "y": rng.integers(0, classes, n)}, {}


_TRIALS: dict[str, Callable[..., tuple[dict[str, np.ndarray], dict[str, Any]]]] = {
    "affine": _affine_trial, "relu": _relu_trial, "conv2d": _conv_trial, "max_pool2d": _pool_trial,
    "batchnorm": _batchnorm_trial(False), "spatial_batchnorm": _batchnorm_trial(True), "dropout": _dropout_trial,
    "softmax_loss": _loss_trial, "svm_loss": _loss_trial,
}


# ---------------------------------------------------------------------------------- references
class _Graph:
    """A float64 torch computation of `out` from leaf tensors, for vector-Jacobian products."""

    def __init__(self, torch, leaves: Mapping[str, np.ndarray], compute: Callable[..., Any]):
        self.torch = torch
        self.leaves = {name: torch.tensor(value, dtype=torch.float64, requires_grad=True) for name, value in leaves.items()}
        self.out = compute(**self.leaves)

    def value(self) -> np.ndarray:
        return self.out.detach().numpy().copy()

    def vjp(self, dout: np.ndarray) -> dict[str, np.ndarray]:
        grads = self.torch.autograd.grad(self.out, list(self.leaves.values()), self.torch.from_numpy(dout), retain_graph=True,
                                         allow_unused=True)
        return {f"d{name}": (np.zeros_like(leaf.detach().numpy()) if grad is None else grad.numpy().copy())
                for (name, leaf), grad in zip(self.leaves.items(), grads)}


def _gradients(reference: dict[str, Any], dout: np.ndarray) -> dict[str, np.ndarray]:
    graph = reference.pop("_graph", None)
    direct = reference.pop("_vjp", None)
    if direct is not None:
        return direct(dout)
    return graph.vjp(dout) if graph is not None else {}


def _affine_reference(torch, arrays, settings, user_out):
    n = arrays["x"].shape[0]
    graph = _Graph(torch, arrays, lambda x, w, b: x.reshape(n, -1) @ w + b)
    return {"out": graph.value(), "_graph": graph}, {}


def _relu_reference(torch, arrays, settings, user_out):
    graph = _Graph(torch, arrays, lambda x: torch.relu(x))
    return {"out": graph.value(), "_graph": graph}, {}


def _conv_reference(torch, arrays, settings, user_out):
    F = torch.nn.functional
    stride, pad = int(settings["stride"]), int(settings["pad"])

    def conv(x, w, b):
        return F.conv2d(x, w, b, stride=stride, padding=pad)

    graph = _Graph(torch, arrays, conv)
    flipped = _Graph(torch, arrays, lambda x, w, b: conv(x, torch.flip(w, dims=(2, 3)), b))
    text = ("matches the layer with the kernel flipped (w[:, :, ::-1, ::-1]): a true convolution; cs231n, torch and "
            "Keras compute cross-correlation (no flip)")
    return {"out": graph.value(), "_graph": graph}, {
        "out": [("flipped_kernel", _equals(flipped.value(), text))],
        "dx": [("flipped_kernel", _equals(lambda dout: flipped.vjp(dout)["dx"], text))],
        "dw": [("flipped_kernel", _equals(lambda dout: flipped.vjp(dout)["dw"], text)),
               ("flipped_kernel", _equals(lambda dout: graph.vjp(dout)["dw"][:, :, ::-1, ::-1].copy(),
                                          "is the right dw flipped (dw[:, :, ::-1, ::-1]): the backward correlates with a "
                                          "flipped kernel"))],
    }


def _pool_reference(torch, arrays, settings, user_out):
    F = torch.nn.functional
    size = (int(settings["pool_height"]), int(settings["pool_width"]))
    stride = int(settings["stride"])
    graph = _Graph(torch, arrays, lambda x: F.max_pool2d(x, size, stride))
    spread = _Graph(torch, arrays, lambda x: F.avg_pool2d(x, size, stride))
    area = size[0] * size[1]
    overwritten = (f"routes each window's gradient with = instead of +=: where windows overlap (stride {stride} < "
                   f"pool {size[0]}x{size[1]}) a later window overwrites what an earlier one wrote; accumulate with +=")
    return {"out": graph.value(), "_graph": graph}, {
        "dx": [("overwrites_overlap", _equals(lambda dout: _pool_assigned(arrays["x"], dout, size, stride, True), overwritten)),
               ("overwrites_overlap", _equals(lambda dout: _pool_assigned(arrays["x"], dout, size, stride, False),
                                              overwritten)),
               ("argmax_routing", _equals(lambda dout: area * spread.vjp(dout)["dx"],
                                          "sends each window's gradient to every element of the window; it belongs to the "
                                          "window's maximum (argmax) only")),
               ("argmax_routing", _equals(lambda dout: spread.vjp(dout)["dx"],
                                          "spreads each window's gradient evenly over the window (average pooling's "
                                          "backward); max pooling sends it to the maximum (argmax) only"))],
    }


def _pool_assigned(x: np.ndarray, dout: np.ndarray, size: tuple[int, int], stride: int, whole_window: bool) -> np.ndarray:
    """Max pooling's dx built window by window by assignment, as code with ``=`` for ``+=`` does:
    each window writes its gradient at its first maximum (`whole_window`: the window's whole
    region, zeros included, ``dx[window] = (window == max) * dout``) over what earlier windows wrote."""
    dx = np.zeros_like(x)
    (height, width), (rows, columns) = size, dout.shape[2:]
    for i in range(rows):
        for j in range(columns):
            region = dx[:, :, i * stride:i * stride + height, j * stride:j * stride + width]
            window = x[:, :, i * stride:i * stride + height, j * stride:j * stride + width].reshape(*x.shape[:2], -1)
            mask = np.zeros_like(window)
            np.put_along_axis(mask, window.argmax(axis=2)[..., None], 1.0, axis=2)
            mask = mask.reshape(region.shape)
            np.copyto(region, mask * dout[:, :, i, j][..., None, None], where=True if whole_window else mask > 0)
    return dx


def _batchnorm_reference(torch, arrays, settings, user_out):
    x = arrays["x"]
    axes = (0,) if x.ndim == 2 else (0, 2, 3)
    shape = (1, -1) if x.ndim == 2 else (1, -1, 1, 1)
    eps, momentum = float(settings["eps"]), float(settings["momentum"])
    train = settings["mode"] == "train"

    def normalise(x, gamma, beta):
        if train:
            mean = x.mean(dim=axes, keepdim=True)
            variance = ((x - mean) ** 2).mean(dim=axes, keepdim=True)
        else:
            mean = torch.from_numpy(settings["running_mean"]).reshape(shape)
            variance = torch.from_numpy(settings["running_var"]).reshape(shape)
        return gamma.reshape(shape) * (x - mean) / torch.sqrt(variance + eps) + beta.reshape(shape)

    graph = _Graph(torch, arrays, normalise)
    reference = {"out": graph.value(), "_graph": graph}
    variants: dict[str, list] = {}
    if train and x.ndim == 4:  # seen in real solutions: each (channel, position) normalised over the batch alone
        def per_position(x, gamma, beta):
            mean = x.mean(dim=0, keepdim=True)
            return gamma.reshape(shape) * (x - mean) / torch.sqrt(((x - mean) ** 2).mean(dim=0, keepdim=True) + eps) \
                + beta.reshape(shape)

        positions = _Graph(torch, arrays, per_position)
        text = ("normalises each (channel, position) over the batch alone (axis 0); spatial batch norm normalises each "
                "channel over the batch and every position, axes (0, 2, 3): reshape x to (N*H*W, C) first")
        variants["out"] = [("wrong_axes", _equals(positions.value(), text))]
        variants["dx"] = [("wrong_axes", _equals(lambda dout: positions.vjp(dout)["dx"], text))]
    if train:
        mean, variance = x.mean(axis=axes), x.var(axis=axes)
        reference["running_mean"] = momentum * settings["running_mean"] + (1 - momentum) * mean
        reference["running_var"] = momentum * settings["running_var"] + (1 - momentum) * variance
        inv_std = (1.0 / np.sqrt(variance + eps)).reshape(shape)
        xhat = (x - mean.reshape(shape)) * inv_std
        gamma = arrays["gamma"].reshape(shape)

        def mean_of(values):
            return values.mean(axis=axes).reshape(shape)

        variants["dx"] = variants.get("dx", []) + [
            ("missing_batchnorm_terms", _equals(lambda dout: gamma * inv_std * dout,
                                                "is gamma * dout / sqrt(var + eps): the terms through the batch mean and "
                                                "variance are missing (the eval-mode gradient); in training both depend on x")),
            ("missing_batchnorm_terms", _equals(lambda dout: gamma * inv_std * (dout - mean_of(dout)),
                                                "lacks the term through the batch variance: gamma/std * (dout - mean(dout)) "
                                                "without - xhat * mean(dout * xhat)")),
            ("missing_batchnorm_terms", _equals(lambda dout: gamma * inv_std * (dout - xhat * mean_of(dout * xhat)),
                                                "lacks the term through the batch mean: - mean(dout) is missing")),
        ]
        variants["running_var"] = [("wrong", _equals(momentum * settings["running_var"] + (1 - momentum) * x.var(axis=axes, ddof=1),
                                                     "uses the unbiased batch variance (torch's convention); cs231n's "
                                                     "running_var takes the biased one (np.var)"))]
        variants["running_mean"] = [("wrong", _equals((1 - momentum) * settings["running_mean"] + momentum * mean,
                                                      "weighs the old running mean with 1 - momentum: cs231n's momentum is the "
                                                      "weight of the old value (running = momentum * running + (1 - momentum) "
                                                      "* batch)"))]
    return reference, variants


def _dropout_reference(torch, arrays, settings, user_out):
    """Dropout's reference takes the units the user's forward kept (the nonzero outputs): any
    mask is right if it keeps about p of the units, and the backward must reuse it. Code that
    keeps about 1 - p of them reads p as the drop probability, as cs231n's 2016-2017
    assignments did: it is judged in that convention (scale 1 / (1 - p)) and the convention is
    named in the finding."""
    x, p = arrays["x"], float(settings["p"])
    if settings["mode"] != "train":
        return {"out": x.copy(), "_vjp": lambda dout: {"dx": dout.copy()}}, {}
    keep = (user_out != 0) if user_out.shape == x.shape else np.ones(x.shape, dtype=bool)
    kept = float(keep.mean())
    spread = 5 * math.sqrt(p * (1 - p) / keep.size)
    kept_share = 1 - p if abs(kept - p) > spread and abs(kept - (1 - p)) <= spread else p
    reference: dict[str, Any] = {"out": x * keep / kept_share, "_vjp": lambda dout: {"dx": dout * keep / kept_share}}
    if kept_share != p:
        reference["_notes"] = {"out": f"p = {p} is used as the probability of dropping a unit (cs231n's 2016-2017 "
                                      f"convention: keep 1 - p, scale by 1 / (1 - p)); judged in that convention, the "
                                      "later assignments keep p"}
    elif abs(kept - p) > spread:
        reference["_problems"] = {"out": ("wrong", f"out keeps {kept:.0%} of the units with p = {p}: p is cs231n's "
                                          "probability of keeping a unit")}

    def redrawn(value, dout, low):
        """dx of dropout's form (dout / p or 0) whose zeros are not the forward's dropped units."""
        passed = value != 0
        if np.array_equal(passed, keep) or not compare(value, dout * passed / kept_share,
                                                       _tolerance(dout / kept_share, low), False).passed:
            return None
        return (f"has dropout's form (dout / p or 0) but not the forward's mask: {int((keep & ~passed).sum())} kept units get "
                f"no gradient and {int((~keep & passed).sum())} dropped units get one; the backward draws a new mask instead "
                "of reusing the forward's (keep it in the cache)")

    return reference, {"dx": [("mask_not_reused", redrawn)]}


def _loss_softmax(torch, arrays):
    graph = _Graph(torch, {"x": arrays["x"]}, lambda x: torch.nn.functional.cross_entropy(x, torch.from_numpy(arrays["y"])))
    return {"loss": graph.value(), "dx": graph.vjp(np.array(1.0))["dx"]}


def _loss_svm(torch, arrays):
    y = torch.from_numpy(arrays["y"])

    def hinge(x):
        correct = x.gather(1, y[:, None])
        margins = torch.clamp(x - correct + 1.0, min=0.0)
        margins = margins * (1 - torch.nn.functional.one_hot(y, x.shape[1]).to(x.dtype))
        return margins.sum() / x.shape[0]

    graph = _Graph(torch, {"x": arrays["x"]}, hinge)
    return {"loss": graph.value(), "dx": graph.vjp(np.array(1.0))["dx"]}


_REFERENCES = {
    "affine": _affine_reference, "relu": _relu_reference, "conv2d": _conv_reference, "max_pool2d": _pool_reference,
    "batchnorm": _batchnorm_reference, "spatial_batchnorm": _batchnorm_reference, "dropout": _dropout_reference,
}
_LOSSES = {"softmax_loss": _loss_softmax, "svm_loss": _loss_svm}
