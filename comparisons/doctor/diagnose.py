"""`diagnose`: compare a hand-written backprop with the declared network's reference gradients.

Triangulation, in this order:
1. the user's weights go into the declared network (float64) and torch autograd gives the
   reference loss and gradients (scratchnet's exact backprop where torch is absent);
2. the user's loss against the reference loss (forward pass and loss formula);
3. each user gradient against the reference (in the user's layout) and, when something is off,
   against central differences of the user's own loss (grad_fn only);
4. per-tensor classification plus the layer rule, and known mistakes replayed for a likely cause;
5. probes: a second call (state), half the batch (factors that follow m), lr/2 (factors that
   follow lr, step_fn);
6. conventions are normalised first: declared layouts, bias forms and reductions are the
   reference's; ReLU'(0) = 1 at exact zeros is accepted as a convention.

Every tolerance comes from `comparisons.tolerances.doctor_tolerance` (float64 code, or
float32/float16 code) and every tensor comparison goes through `comparisons.diff.compare`.
"""
from __future__ import annotations

import itertools
from typing import Callable, Mapping

import numpy as np

from comparisons.doctor.agreement import same_number
from comparisons.doctor.backprop import right_derivative_at_zero, tie_layers, variant_gradients
from comparisons.doctor.batch import Batch, make_batch
from comparisons.doctor.classify import TensorComparison, bias_part_only, compare_tensor, tensors_close
from comparisons.doctor.explain import Observations, evidence, layer_rule
from comparisons.doctor.factors import Context
from comparisons.doctor.layout import Bias, NetworkLayout, Placement
from comparisons.doctor.losscheck import check_loss
from comparisons.doctor.mistakes import match_mistake
from comparisons.doctor.numeric import own_loss_differences
from comparisons.doctor.probes import normalise_shapes, probe_batch_size, probe_learning_rate, probe_state
from comparisons.doctor.reference import reference_gradients
from comparisons.doctor.result import DiagnosisResult, Finding, ProbeResult
from comparisons.doctor.spec import DoctorInputError, NetSpec
from comparisons.doctor.usercode import UserCode, UserCodeFailed
from comparisons.tolerances import DoctorTolerance, doctor_tolerance

GradFn = Callable[[dict, np.ndarray, np.ndarray], tuple]
StepFn = Callable[..., dict]


def diagnose(spec: NetSpec, params: Mapping[str, np.ndarray], X: np.ndarray, y: np.ndarray, *,
             mapping: Mapping[str, Placement] | None = None, grad_fn: GradFn | None = None,
             step_fn: StepFn | None = None, lr: float | None = None, samples_as_columns: bool = False) -> DiagnosisResult:
    """Diagnose the user's gradients at `params` on the batch X, y.

    Args:
        spec: the network the code is meant to implement.
        params: the user's arrays {name: array}, in the layouts `mapping` declares (None: the
            canonical names "dense_0.W" (fan_in, fan_out), "dense_0.b" (fan_out,), ...).
        X, y: one batch as the user's code holds it: (m, features)/(m, outputs), or
            (features, m)/(outputs, m) with ``samples_as_columns=True``.
        grad_fn: ``(params, X, y) -> (loss, {name: gradient})``.
        step_fn: ``(params, X, y[, lr]) -> {name: new array}`` for update-only code (momentum
            allowed: the first update has zero velocity); needs `lr`, the step size it uses.
        lr: learning rate of `step_fn` (also names a factor equal to it for grad_fn).

    The user's arrays are never modified: their code gets copies on every call.
    Raises `DoctorInputError` for a bad spec, mapping, params or data; failures of the user's code
    come back in `result.error`.
    """
    if not isinstance(spec, NetSpec):
        raise DoctorInputError(f"spec must be a NetSpec, got {type(spec).__name__}")
    if (grad_fn is None) == (step_fn is None):
        raise DoctorInputError("pass exactly one of grad_fn=(params, X, y) -> (loss, grads) or step_fn=(params, X, y) -> new params")
    if not callable(grad_fn or step_fn):
        raise DoctorInputError(f"{'grad_fn' if grad_fn is not None else 'step_fn'} must be callable, got {grad_fn or step_fn!r}")
    if lr is not None and (isinstance(lr, bool) or not isinstance(lr, (int, float, np.number)) or not np.isfinite(lr) or lr <= 0):
        raise DoctorInputError(f"lr must be a positive number, got {lr!r}")
    if step_fn is not None and lr is None:
        raise DoctorInputError("step_fn needs lr=, the learning rate it uses: the implied gradient is (old - new) / lr")
    layout = NetworkLayout.for_params(spec, mapping, params)
    net = spec.build()
    batch = make_batch(net, X, y, samples_as_columns)
    mine = {name: np.array(params[name], copy=True, subok=True) for name in layout.names}
    canonical = layout.to_canonical(mine)
    reference = reference_gradients(spec, canonical, batch.X, batch.y)
    user = UserCode(grad_fn, step_fn, None if lr is None else float(lr), layout.names, layout.shapes)
    context = Context(batch.m, spec.sizes[-1], None if lr is None else float(lr))
    result = DiagnosisResult(ok=False, culprit=None, findings=[], mode=user.mode, network=spec.describe(),
                             reference=reference.source, batch_size=batch.m)
    try:
        first = user.evaluate(mine, batch.X_user, batch.y_user, "first call, at your weights")
    except UserCodeFailed as failed:
        result.error = failed.failure
        return result
    policy = doctor_tolerance(first.low_precision)
    if first.low_precision:
        result.notes.append(f"your arrays are float32/float16: gradients are compared with relative tolerance "
                            f"{_short(policy.gradient_rtol)} instead of {_short(doctor_tolerance(False).gradient_rtol)} (the reference is float64)")
    if first.mutated:
        result.notes.append(f"{user.function_name} changed {', '.join(first.mutated)} in place; your own arrays were "
                            "not touched (the doctor passes copies), but in a training loop that matters")
    grads = normalise_shapes(first.grads, layout)
    expected, tie_note = _reference_with_ties(net, layout, canonical, batch, layout.to_user(reference.grads), grads, policy)
    if tie_note:
        result.notes.append(tie_note)
    largest = max((float(np.max(np.abs(v), initial=0.0)) for v in expected.values()), default=0.0)
    tolerance = policy.gradient(largest)
    comparisons = {name: compare_tensor(grads[name], expected[name], layout.placements[name], layout.fans(name), context,
                                        policy, tolerance, batch.samples_as_columns) for name in layout.names}
    _corroborate_single_entries(comparisons, layout, expected, grads, policy)
    loss = check_loss(first.loss, reference.loss, spec, canonical, batch.X, batch.y, context, policy)
    result.loss = loss

    state, state_probe = probe_state(user, mine, batch, layout, grads, first.loss, policy, largest)
    result.probes.append(state_probe)
    seen = Observations(user.mode, spec, context, state, loss, shape_notes=first.shape_notes)
    factors = {n: c.factor for n, c in comparisons.items() if c.kind == "scaled"}
    loss_ratio = loss.ratio if loss.status == "mismatch" and loss.ratio else None
    blocked = "skipped: the code carries state between calls (see state), so more calls would not be comparable"
    if factors or loss_ratio:
        if state.carries_state:
            result.probes.append(ProbeResult("batch size", "skipped", blocked))
        else:
            seen.batch_follows, probe = probe_batch_size(user, mine, batch, net, spec, layout, canonical, factors, loss_ratio, policy)
            result.probes.append(probe)
    if user.mode == "step_fn" and factors:
        if state.carries_state:
            result.probes.append(ProbeResult("learning rate", "skipped", blocked))
        else:
            seen.lr_follows, probe = probe_learning_rate(user, mine, batch, expected, layout, factors, policy)
            result.probes.append(probe)
    anything_off = any(c.kind != "ok" for c in comparisons.values()) or loss.status == "mismatch"
    if user.mode == "step_fn":
        result.probes.append(ProbeResult("own loss", "skipped", "central differences of your own loss need a loss: "
                                         "step_fn exposes none, so this leg was skipped"))
    elif anything_off and state.carries_state:
        result.probes.append(ProbeResult("own loss", "skipped", blocked))
    elif anything_off:
        result.probes.append(_own_loss_probe(user, mine, batch, layout, net, comparisons, grads, expected, first, seen, policy))
    cause = None
    if any(c.kind == "wrong" for c in comparisons.values()):
        comparable = [n for n in layout.names if grads[n].shape == expected[n].shape and n not in state.stateful]
        match = match_mistake(net, canonical, batch.X, batch.y, grads, comparable, layout, context.lr, policy, tolerance)
        if match is not None:
            factor = "" if match.factor == 1.0 else f" (times {match.factor:.6g}, a constant on top)"
            cause = f"{match.mistake.label}{factor}; backprop with that mistake reproduces your gradients exactly"
    for name in state.stateful:
        comparison = comparisons[name]
        comparison.first_call = None if comparison.kind == "ok" else comparison.kind
        comparison.kind = "stateful"
        comparison.factor = state.changed[name]
    result.findings = [_finding(name, comparisons[name], layout, seen) for name in layout.names]
    bias_only = {n for n in layout.names if comparisons[n].kind != "stateful" and grads[n].shape == expected[n].shape
                 and bias_part_only(grads[n], expected[n], layout.placements[n], layout.fans(n), tolerance)}
    bias_only |= {n for n in layout.names if comparisons[n].kind == "shape_mismatch" and isinstance(layout.placements[n], Bias)}
    result.culprit, result.layer_rule = layer_rule(result.findings, layout.placements, bias_only, spec.n_layers)
    if cause and result.culprit:
        result.cause = cause
        for finding in result.findings:
            if finding.kind == "wrong":
                finding.cause = cause
    result.ok = not result.culprit
    return result


def _short(value: float) -> str:
    """A tolerance for the notes: 1e-3, 1e-6, 2.5e-4."""
    mantissa, exponent = f"{value:.1e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


def _finding(name: str, comparison: TensorComparison, layout: NetworkLayout, seen: Observations) -> Finding:
    placement = layout.placements[name]
    return Finding(
        param=name, kind=comparison.kind, layer=placement.layer, placement=placement.describe(), factor=comparison.factor,
        max_abs=comparison.max_abs, max_rel=comparison.max_rel, evidence=evidence(name, comparison, placement, seen),
        expected_shape=comparison.expected_shape if comparison.kind == "shape_mismatch" else None,
        got_shape=comparison.got_shape if comparison.kind == "shape_mismatch" else None,
        fix=comparison.fix, cosine=comparison.cosine, best_fit=comparison.best_fit, residual=comparison.residual,
    )


def _reference_with_ties(net, layout: NetworkLayout, canonical, batch: Batch, expected: dict, grads: dict,
                         policy: DoctorTolerance):
    """The reference under the ReLU'(0) convention that matches the most user gradients: torch's
    0, or 1 (``z >= 0``, ``np.heaviside(z, 1)``) in some of the layers with exact zeros (each
    tensor judged relative to itself: the gradient tolerance without a floor)."""
    ties = tie_layers(net, canonical, batch.X)
    if not ties:
        return expected, None
    tolerance = policy.gradient(0.0)
    scores = []
    layers = sorted(ties)[:3]
    candidates = [((), expected)]
    for count in range(1, len(layers) + 1):
        for subset in itertools.combinations(layers, count):
            variant = right_derivative_at_zero(net, subset)
            candidates.append((subset, layout.to_user(variant_gradients(net, canonical, batch.X, batch.y, variant))))
    for subset, candidate in candidates:
        scores.append(sum(tensors_close(grads[n], candidate[n], tolerance) for n in layout.names))
    best = int(np.argmax(scores))
    where = ", ".join(f"layer {layer} ({ties[layer]})" for layer in sorted(ties))
    subset, chosen = candidates[best]
    if not subset:
        return expected, (f"pre-activations exactly 0 at a kink in {where}: the derivative there is a convention "
                          "(torch: 0); your gradients were compared with torch's")
    return chosen, (f"pre-activations exactly 0 at a kink in {where}: your code uses derivative 1 there in layer(s) "
                    f"{', '.join(map(str, subset))} (e.g. z >= 0), torch uses 0; that is a convention, not a bug, so the "
                    "reference follows yours")


def _corroborate_single_entries(comparisons: dict[str, TensorComparison], layout: NetworkLayout,
                                expected: dict, grads: dict, policy: DoctorTolerance) -> None:
    """A one-entry tensor is a multiple of its reference whatever its value: call it scaled only
    when the factor has a name or another tensor shows the same factor, else wrong."""
    solid = [c.factor for c in comparisons.values() if c.kind == "scaled" and not c.needs_corroboration]
    for name, comparison in comparisons.items():
        if not comparison.needs_corroboration:
            continue
        if any(same_number(comparison.factor, factor, policy.repeat_factor()) for factor in solid):
            comparison.needs_corroboration = False
            continue
        index = np.unravel_index(int(np.argmax(np.abs(expected[name]))), expected[name].shape)
        yours, reference = float(grads[name][index]), float(expected[name][index])
        comparison.kind, comparison.factor, comparison.cosine, comparison.residual = "wrong", None, None, None
        comparison.pattern = [f"yours is {yours:.6g} where the reference is {reference:.6g} (one informative entry, so any "
                              f"wrong value is a multiple of it; the ratio {yours / reference:.4g} is no known factor)"]


def _own_loss_probe(user: UserCode, params, batch: Batch, layout: NetworkLayout, net, comparisons, grads, expected,
                    first, seen: Observations, policy: DoctorTolerance) -> ProbeResult:
    comparable = [n for n in layout.names if grads[n].shape == expected[n].shape]
    names = [n for n in comparable if comparisons[n].kind != "ok"] or (comparable if seen.loss.status == "mismatch" else [])
    if not names:
        return ProbeResult("own loss", "skipped", "not needed: the only wrong gradients have the wrong shape")
    try:
        seen.own = own_loss_differences(user, params, batch, layout, net, names, grads, expected, first.loss, policy)
    except UserCodeFailed as failed:
        return ProbeResult("own loss", "failed", f"a call for central differences failed: {failed.failure.message}",
                           {"error": failed.failure.to_dict()})
    off = [n for n in names if comparisons[n].kind != "ok" and seen.own[n].entries]
    consistent = [n for n in off if seen.own[n].agrees_yours]
    inconsistent = [n for n in off if not seen.own[n].agrees_yours]
    loss_word = "matches the declared one" if seen.loss.status == "match" else "differs from the declared one as well"
    if off and not inconsistent:
        summary = ("your gradients agree with central differences of your own loss, but not with the reference: your loss "
                   "is not the declared one (see loss)")
    elif off and not consistent:
        summary = f"your gradients disagree with central differences of your own loss: the backprop is wrong (your loss {loss_word})"
    elif off:
        summary = (f"{', '.join(consistent)} agree with central differences of your own loss, {', '.join(inconsistent)} do "
                   "not: those are backprop errors")
    elif seen.loss.status == "mismatch":
        wrong = [n for n in names if seen.own[n].entries and not seen.own[n].agrees_yours]
        summary = ("your gradients match the reference, but not central differences of your own loss: the loss you "
                   "return is not the function your gradients differentiate" if wrong else
                   "your gradients match the reference and your own loss")
    else:
        summary = "central differences of your loss agree with your gradients"
    details = {n: {"entries": c.entries, "kinks_skipped": c.kinks, "error_yours": c.error_yours,
                   "error_reference": c.error_reference} for n, c in seen.own.items()}
    return ProbeResult("own loss", "ran", summary, details)
