"""`diagnose`: compare a hand-written backprop with the declared network's reference gradients.

Triangulation, in this order:
1. the user's weights go into the declared network (float64) and torch autograd gives the
   reference loss and gradients (scratchnet's exact backprop where torch is absent);
2. the user's loss against the reference loss (forward pass and loss formula);
3. each user gradient against the reference (in the user's layout) and, when something is off,
   against central differences of the user's own loss (grad_fn only);
4. per-tensor classification plus the layer rule; a wrong tensor is taken apart (`terms`: the
   data term against the L2 term, weights against the bias row/column of augmented weights) and
   known mistakes are replayed (`mistakes`, update loops included) for a likely cause;
5. probes: a second call (state), half the batch (factors that follow m), lr/2 (factors that
   follow lr, step_fn);
6. conventions are normalised first: declared layouts, bias forms and reductions are the
   reference's; ReLU'(0) = 1 at exact zeros is accepted as a convention;
7. a declaration that explains every finding at once (`specfit`: reduction, scale, l2, layout)
   is said as such: "your code is consistent with <that spec>; declare it";
8. blind points: zero biases hide every use of the bias values, so the doctor checks again at
   biases it draws itself and says so; a hidden layer that is dead on the whole batch is noted.

Every tolerance comes from `comparisons.tolerances.doctor_tolerance` (float64 code, or
float32/float16 code) and every tensor comparison goes through `comparisons.diff.compare`.
"""
from __future__ import annotations

import itertools
from typing import Callable, Mapping

import numpy as np

import scratchnet as sn

from comparisons.doctor.agreement import same_number
from comparisons.doctor.backprop import right_derivative_at_zero, tie_layers, variant_gradients
from comparisons.doctor.batch import Batch, make_batch
from comparisons.doctor.classify import TensorComparison, bias_part_only, compare_tensor, tensors_close
from comparisons.doctor.explain import DATA_TERM, Observations, evidence, layer_rule
from comparisons.doctor.factors import Context
from comparisons.doctor.layered import diagnose_layers
from comparisons.doctor.layout import AugmentedWeight, Bias, NetworkLayout, Placement, Weight, canonical_name
from comparisons.doctor.losscheck import LossCheck, check_loss
from comparisons.doctor.mistakes import match_mistake
from comparisons.doctor.numeric import own_loss_differences, own_loss_probe
from comparisons.doctor.probes import StateOutcome, normalise_shapes, probe_batch_size, probe_learning_rate, probe_state
from comparisons.doctor.reference import reference_gradients
from comparisons.doctor.result import DiagnosisResult, Finding, ProbeResult
from comparisons.doctor.spec import DoctorInputError, NetSpec
from comparisons.doctor.specfit import SpecChange, consistent_spec
from comparisons.doctor.terms import TermSplit, penalty_cause, split_terms
from comparisons.doctor.usercode import UserCode, UserCodeFailed
from comparisons.tolerances import DoctorTolerance, doctor_tolerance

GradFn = Callable[[dict, np.ndarray, np.ndarray], tuple]
StepFn = Callable[..., dict]


def diagnose(spec: NetSpec, params: Mapping[str, np.ndarray], X: np.ndarray, y: np.ndarray, *,
             mapping: Mapping[str, Placement] | None = None, grad_fn: GradFn | None = None,
             step_fn: StepFn | None = None, lr: float | None = None, samples_as_columns: bool = False,
             labels: str | None = None) -> DiagnosisResult:
    """Diagnose the user's gradients at `params` on the batch X, y.

    Args:
        spec: the network the code is meant to implement: a `NetSpec` (an MLP), or a network
            description with layers (``{"input_shape": [1, 8, 8], "layers": [...], ...}``, as
            `scratchnet.Network.spec()` gives, or the Network) for conv, pooling, batch norm:
            then `mapping` holds `Param` placements and `comparisons.doctor.layered` judges.
        params: the user's arrays {name: array}, in the layouts `mapping` declares (None: the
            canonical names "dense_0.W" (fan_in, fan_out), "dense_0.b" (fan_out,), ...).
        X, y: one batch as the user's code holds it: (m, features)/(m, outputs), or
            (features, m)/(outputs, m) with ``samples_as_columns=True``.
        grad_fn: ``(params, X, y) -> (loss, {name: gradient})``.
        step_fn: ``(params, X, y[, lr]) -> {name: new array}`` for update-only code (momentum
            allowed: the first update has zero velocity); needs `lr`, the step size it uses.
        lr: learning rate of `step_fn` (also names a factor equal to it for grad_fn).
        labels: how y holds classes when it is not one target per output: "zero_based" (0..k-1)
            or "one_based" (1..k, Ng's ex4), shape (m,), (m, 1) or (1, m); "one_hot" or None
            otherwise (see `comparisons.doctor.batch`). Your code gets y as given.

    The user's arrays are never modified: their code gets copies on every call. When the user's
    biases are all zero (glorot_uniform, cs231n's init), which hides every use of the bias
    values, the doctor also diagnoses at the same weights with biases it draws itself and says
    so (`result.point`, `result.notes`).
    Raises `DoctorInputError` for a bad spec, mapping, params or data; failures of the user's code
    come back in `result.error`.
    """
    if not (isinstance(spec, (NetSpec, sn.Network)) or (isinstance(spec, Mapping) and "layers" in spec)):
        hint = "; for a dict with sizes: NetSpec(**that dict)" if isinstance(spec, Mapping) and "sizes" in spec else ""
        raise DoctorInputError(f"spec must be a NetSpec (an MLP) or a network description {{input_shape, layers, ...}} "
                               f"(conv, pooling, batch norm...), got {type(spec).__name__}{hint}")
    if (grad_fn is None) == (step_fn is None):
        raise DoctorInputError("pass exactly one of grad_fn=(params, X, y) -> (loss, grads) or step_fn=(params, X, y) -> new params")
    if not callable(grad_fn or step_fn):
        raise DoctorInputError(f"{'grad_fn' if grad_fn is not None else 'step_fn'} must be callable, got {grad_fn or step_fn!r}")
    if lr is not None and (isinstance(lr, bool) or not isinstance(lr, (int, float, np.number)) or not np.isfinite(lr) or lr <= 0):
        raise DoctorInputError(f"lr must be a positive number, got {lr!r}")
    if step_fn is not None and lr is None:
        raise DoctorInputError("step_fn needs lr=, the learning rate it uses: the implied gradient is (old - new) / lr")
    if not isinstance(spec, NetSpec):
        if samples_as_columns or labels not in (None, "one_hot"):
            raise DoctorInputError("a network of layers takes X as (batch, ...) and y as (batch, outputs): "
                                   "samples_as_columns and class labels are for the MLP doctor (NetSpec) only")
        return diagnose_layers(spec, params, X, y, mapping=mapping, grad_fn=grad_fn, step_fn=step_fn,
                               lr=None if lr is None else float(lr))
    layout = NetworkLayout.for_params(spec, mapping, params)
    batch = make_batch(spec.build(), X, y, samples_as_columns, labels)
    mine = {name: np.array(params[name], copy=True, subok=True) for name in layout.names}
    user = UserCode(grad_fn, step_fn, None if lr is None else float(lr), layout.names, layout.shapes)
    point = _Point(spec, layout, batch, user, None if lr is None else float(lr))
    result, state = point.diagnose(mine, YOUR_POINT)
    if result.error is None:
        result = _check_blind_biases(point, mine, result, state)
    return result


YOUR_POINT = "your weights"


class _Point:
    """Everything fixed for one diagnosis (spec, layout, batch, the user's code); `diagnose`
    judges the user's gradients at one set of parameters."""

    def __init__(self, declared: NetSpec, layout: NetworkLayout, batch: Batch, user: UserCode, lr: float | None):
        self.declared = declared
        self.spec = declared.at_batch(batch.m)
        self.net = self.spec.build()
        self.layout = layout
        self.batch = batch
        self.user = user
        self.lr = lr

    def diagnose(self, mine: dict[str, np.ndarray], point: str) -> tuple[DiagnosisResult, StateOutcome | None]:
        spec, net, layout, batch, user = self.spec, self.net, self.layout, self.batch, self.user
        canonical = layout.to_canonical(mine)
        reference = reference_gradients(spec, canonical, batch.X, batch.y)
        context = Context(batch.m, spec.sizes[-1], self.lr)
        result = DiagnosisResult(ok=False, culprit=None, findings=[], mode=user.mode, network=spec.describe(),
                                 reference=reference.source, batch_size=batch.m, point=point)
        try:
            first = user.evaluate(mine, batch.X_user, batch.y_user, f"first call, at {point}")
        except UserCodeFailed as failed:
            result.error = failed.failure
            return result, None
        policy = doctor_tolerance(first.low_precision)
        if first.low_precision:
            result.notes.append(f"your arrays are float32/float16: gradients are compared with relative tolerance "
                                f"{_short(policy.gradient_rtol)} instead of {_short(doctor_tolerance(False).gradient_rtol)} (the reference is float64)")
        if first.mutated:
            result.notes.append(f"{user.function_name} changed {', '.join(first.mutated)} in place; your own arrays were "
                                "not touched (the doctor passes copies), but in a training loop that matters")
        result.notes.extend(_dead_layer_notes(net, canonical, batch))
        grads = normalise_shapes(first.grads, layout)
        expected, tie_note = _reference_with_ties(net, layout, canonical, batch, layout.to_user(reference.grads), grads, policy)
        if tie_note:
            result.notes.append(tie_note)
        largest = max((float(np.max(np.abs(v), initial=0.0)) for v in expected.values()), default=0.0)
        tolerance = policy.gradient(largest)
        comparisons = {name: compare_tensor(grads[name], expected[name], layout.placements[name], layout.fans(name), context,
                                            policy, tolerance, batch.samples_as_columns) for name in layout.names}
        _corroborate_single_entries(comparisons, layout, expected, grads, policy)
        data = layout.to_user(reference_gradients(spec.without_l2(), canonical, batch.X, batch.y).grads) if spec.l2 else expected
        splits = _split_terms(comparisons, layout, grads, expected, data, mine, context, policy, tolerance, batch, spec)
        loss = check_loss(first.loss, reference.loss, spec, canonical, batch.X, batch.y, context, policy)
        result.loss = loss

        state, state_probe = probe_state(user, mine, batch, layout, grads, first.loss, policy, largest)
        result.probes.append(state_probe)
        seen = Observations(user.mode, spec, context, state, loss, shape_notes=first.shape_notes, policy=policy)
        factors = {n: c.factor for n, c in comparisons.items() if c.kind == "scaled"}
        data_only = {n for n, c in comparisons.items() if c.term == DATA_TERM}
        loss_ratio = loss.ratio if loss.status == "mismatch" and loss.ratio else None
        blocked = "skipped: the code carries state between calls (see state), so more calls would not be comparable"
        if factors or loss_ratio:
            if state.carries_state:
                result.probes.append(ProbeResult("batch size", "skipped", blocked))
            else:
                seen.batch_follows, probe = probe_batch_size(user, mine, batch, net, self.declared, layout, canonical, factors,
                                                             loss_ratio, policy, data_only)
                result.probes.append(probe)
        if user.mode == "step_fn" and factors:
            if state.carries_state:
                result.probes.append(ProbeResult("learning rate", "skipped", blocked))
            else:
                seen.lr_follows, probe = probe_learning_rate(user, mine, batch, expected, layout, factors, policy, data, data_only)
                result.probes.append(probe)
        anything_off = any(c.kind != "ok" for c in comparisons.values()) or loss.status == "mismatch"
        if user.mode == "step_fn":
            result.probes.append(ProbeResult("own loss", "skipped", "central differences of your own loss need a loss: "
                                             "step_fn exposes none, so this leg was skipped"))
        elif anything_off and state.carries_state:
            result.probes.append(ProbeResult("own loss", "skipped", blocked))
        elif anything_off:
            result.probes.append(_own_loss_probe(user, mine, batch, layout, net, comparisons, grads, expected, seen, policy))
        cause, update_loop = None, False
        if any(c.kind == "wrong" for c in comparisons.values()):
            comparable = [n for n in layout.names if grads[n].shape == expected[n].shape and n not in state.stateful]
            match = match_mistake(net, canonical, batch.X, batch.y, grads, comparable, layout, context.lr, policy, tolerance,
                                  step=user.mode == "step_fn")
            if match is not None:
                factor = "" if match.factor == 1.0 else f" (times {match.factor:.6g}, a constant on top)"
                replay = "replaying that update loop" if match.mistake.replay else "backprop with that mistake"
                cause = f"{match.mistake.label}{factor}; {replay} reproduces your gradients exactly"
                update_loop = match.mistake.replay is not None
        for name in state.stateful:
            comparison = comparisons[name]
            comparison.first_call = None if comparison.kind == "ok" else comparison.kind
            comparison.kind = "stateful"
            comparison.factor = state.changed[name]
        result.findings = [_finding(name, comparisons[name], layout, seen) for name in layout.names]
        term_causes = _term_causes(splits, spec, loss, policy)
        bias_only = {n for n in layout.names if comparisons[n].kind != "stateful" and grads[n].shape == expected[n].shape
                     and bias_part_only(grads[n], expected[n], layout.placements[n], layout.fans(n), tolerance)}
        bias_only |= {n for n in layout.names if comparisons[n].kind == "shape_mismatch" and isinstance(layout.placements[n], Bias)}
        penalty_only = {n for n, split in splits.items() if split.parts and all(p.name == "L2 term" for p in split.parts)}
        result.culprit, result.layer_rule = layer_rule(result.findings, layout.placements, bias_only, spec.n_layers, penalty_only)
        if update_loop and result.culprit:
            result.layer_rule = ("the layer rule does not apply: every gradient of the batch after the first sample is taken at "
                                 "weights the update loop has already moved (see the likely cause), not at the weights given")
        if result.culprit:
            for finding in result.findings:
                finding.cause = term_causes.get(finding.param) or (cause if finding.kind == "wrong" else None)
            distinct = list(dict.fromkeys(c for c in term_causes.values() if c))
            result.cause = cause or ("; ".join(distinct) if distinct else None)
            change = self._consistent_spec(comparisons, grads, first.loss, state, policy, mine)
            if change is not None:
                result.consistent_spec = change.text
                result.cause = change.sentence()
                for finding in result.findings:
                    if finding.kind != "ok":
                        finding.cause = result.cause
        result.ok = not result.culprit
        return result, state

    def _consistent_spec(self, comparisons: dict[str, TensorComparison], grads, user_loss, state: StateOutcome,
                         policy: DoctorTolerance, mine) -> SpecChange | None:
        """A change of the declaration that explains every finding (`specfit`), where one can:
        never with state, shape mismatches or NaN; for update-only code (no loss to agree with)
        only reduction, scale and layout, and not when a factor follows m or lr (a bug)."""
        kinds = {c.kind for c in comparisons.values()}
        if state.carries_state or kinds & {"stateful", "shape_mismatch"}:
            return None
        if any(grads[n].shape != self.layout.shapes[n] or not np.all(np.isfinite(grads[n])) for n in self.layout.names):
            return None
        step = self.user.mode == "step_fn"
        if step:
            named = {n.key for c in comparisons.values() if c.kind == "scaled" for n in c.factor_names}
            if named & {"m", "1/m", "lr"}:
                return None
        transposed = [n for n, c in comparisons.items() if c.kind == "transposed" and c.unroll is None
                      and isinstance(self.layout.placements[n], (Weight, AugmentedWeight)) and grads[n].shape == grads[n].T.shape]
        return consistent_spec(self.declared, self.spec, self.layout, mine, self.batch, grads, None if step else user_loss,
                               transposed, policy, allow_l2=not step)


def _check_blind_biases(point: _Point, mine: dict[str, np.ndarray], result: DiagnosisResult,
                        state: StateOutcome | None) -> DiagnosisResult:
    """Zero biases hide every use of the bias values (an L2 penalty on the biases, a bias left
    out of the forward pass); then diagnose again at the same weights with non-zero biases the
    doctor draws itself, and report the point that shows more, saying which."""
    layers = _zero_bias_layers(point, mine)
    if not layers:
        return result
    where = ", ".join(f"layer {layer}" for layer in layers)
    hidden = (f"your biases are all zero ({where}), which hides every use of the bias values: an L2 penalty on the biases, a "
              "bias left out of the forward pass or added with the wrong sign")
    if state is None or state.carries_state or state.momentum is not None:
        result.notes.append(f"{hidden}; the doctor could not check at other biases because your code carries state between calls")
        return result
    drawn, how = _drawn_biases(point, mine, layers)
    second, _ = point.diagnose(drawn, DRAWN_POINT)
    first_wrong = [f.param for f in result.findings if f.kind != "ok"]
    second_wrong = [f.param for f in second.findings if f.kind != "ok"] if second.error is None else []
    if second.error is not None:
        result.notes.append(f"{hidden}; the doctor's check at non-zero biases failed: {second.error.message}")
        return result
    if second_wrong and not first_wrong:
        yours = [f"at your weights: {note}" for note in result.notes if note not in second.notes]
        second.notes[:0] = [f"at your weights every gradient matches, but {hidden}. The findings above are at the same "
                            f"weights with non-zero biases drawn by the doctor ({how})"] + yours
        return second
    extra = [name for name in second_wrong if name not in first_wrong]
    if extra:
        details = "; ".join(f"{f.param}: {f.kind}" + (f" ({f.cause})" if f.cause else "") for f in second.findings if f.param in extra)
        result.notes.append(f"{hidden}; at the same weights with non-zero biases drawn by the doctor ({how}), more is wrong: {details}")
    else:
        there = "every gradient matches there too" if not second_wrong else "the findings are the same there"
        result.notes.append(f"{hidden}; the doctor also checked at the same weights with non-zero biases it drew itself ({how}): {there}")
    return result


DRAWN_POINT = "your weights with non-zero biases drawn by the doctor (yours are all zero)"


BIAS_SEED = 0


def _zero_bias_layers(point: _Point, mine: Mapping[str, np.ndarray]) -> list[int]:
    """Layers whose biases are all exactly zero at `mine`."""
    if not point.spec.bias:
        return []
    canonical = point.layout.to_canonical(mine)
    return [layer for layer in range(point.spec.n_layers) if not np.any(canonical[canonical_name(layer, "b")])]


def _drawn_biases(point: _Point, mine: Mapping[str, np.ndarray], layers: list[int]) -> tuple[dict[str, np.ndarray], str]:
    """`mine` with the biases of `layers` drawn from a normal distribution whose standard
    deviation is the spread of that layer's pre-activations on the batch (so a ReLU-family layer
    keeps its kink among the samples), at least 1 for an activation without a kink (where a tiny
    bias would keep hiding what it should show); in the user's layouts and dtypes, and how they
    were drawn, in words."""
    canonical = point.layout.to_canonical(mine)
    zs, _ = point.net.forward(point.batch.X, canonical)
    rng = np.random.default_rng(BIAS_SEED)
    spreads = []
    for layer in layers:
        spread = float(np.std(zs[layer]))
        if not point.net.activations[layer].kinked:
            spread = max(spread, 1.0)  # no kink to keep among the samples: a bias of order 1 is plainly visible
        elif not spread > 0:
            weights = canonical[canonical_name(layer, "W")]
            spread = float(np.sqrt(np.mean(weights ** 2))) or 1.0
        spreads.append(f"{spread:.3g} in layer {layer}")
        bias = canonical_name(layer, "b")
        canonical[bias] = rng.normal(0.0, spread, size=canonical[bias].shape)
    user = point.layout.to_user(canonical, parameters=True)
    drawn = {name: user[name].astype(mine[name].dtype) if mine[name].dtype.kind == "f" else user[name] for name in mine}
    return drawn, (f"normal, standard deviation = the spread of each layer's pre-activations on your batch (at least 1 where "
                   f"the activation has no kink): {', '.join(spreads)}; seed {BIAS_SEED}")


def _dead_layer_notes(net, canonical: Mapping[str, np.ndarray], batch: Batch) -> list[str]:
    """A hidden ReLU-family layer inactive on every sample zeroes every gradient below it: say so."""
    zs, _ = net.forward(batch.X, canonical)
    notes = []
    for layer, activation in enumerate(net.activations[:-1]):
        if activation.kinked and np.all(zs[layer] <= 0):
            notes.append(f"every unit of layer {layer} ({activation.name}) is inactive on every sample at this point, so every "
                         f"gradient from layer {layer} down is 0 here and cannot show a mistake there; check at other weights too")
    return notes


def _split_terms(comparisons: dict[str, TensorComparison], layout: NetworkLayout, grads, expected, data, mine,
                 context: Context, policy: DoctorTolerance, tolerance, batch: Batch, spec: NetSpec) -> dict[str, TermSplit]:
    """Take every wrong tensor apart (`terms.split_terms`): the data term against the L2 term,
    weights against bias rows/columns. A tensor takes the kind of its data term or of its bias
    part when that part alone is off (an L2-term mistake keeps ``wrong`` and gets a named cause)."""
    splits = {}
    for name, comparison in comparisons.items():
        placement = layout.placements[name]
        if comparison.kind != "wrong" or not (spec.l2 or isinstance(placement, (AugmentedWeight, Bias))):
            continue
        values = np.asarray(mine[name], dtype=np.float64).reshape(expected[name].shape)
        split = split_terms(grads[name], expected[name], data[name], values, placement, layout.fans(name), context, policy,
                            tolerance, batch.samples_as_columns)
        if split is None:
            continue
        splits[name] = split
        comparison.split = split
        lead = split.lead(policy)
        if lead is not None and lead.comparison is not None and not lead.name.startswith("L2 term"):
            comparison.kind, comparison.factor = lead.kind, lead.factor
            comparison.factor_names = lead.comparison.factor_names
            comparison.term = lead.name
            if lead.comparison.unroll:
                comparison.unroll, comparison.fix = lead.comparison.unroll, lead.comparison.fix
    return splits


def _term_causes(splits: dict[str, TermSplit], spec: NetSpec, loss: LossCheck, policy: DoctorTolerance) -> dict[str, str]:
    """A named cause for each tensor whose split shows an L2 mistake or a zeroed bias part."""
    causes = {}
    for name, split in splits.items():
        texts = []
        for part in split.parts:
            if part.name.startswith("L2 term"):
                texts.append(penalty_cause(part, spec.l2, loss.status == "match", policy))
            elif part.name.startswith("bias ") and part.kind == "zero" and "weights" in split.matching:
                texts.append(f"the {part.name.split(' (')[0]} of the gradient is all zeros while the weights match: the bias "
                             "gradient is never computed, or reset after it is computed (e.g. Theta_grad[:, 0] = 0, meant to keep "
                             "the penalty off the bias column, which drops its data term too: skip only the penalty there)")
        if texts:
            causes[name] = "; ".join(dict.fromkeys(texts))
    return causes


def _short(value: float) -> str:
    """A tolerance for the notes: 1e-3, 1e-6, 2.5e-4."""
    mantissa, exponent = f"{value:.1e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


def _finding(name: str, comparison: TensorComparison, layout: NetworkLayout, seen: Observations) -> Finding:
    placement = layout.placements[name]
    split = comparison.split
    parts = None
    if split is not None:
        parts = {part: {"kind": "ok", "factor": None} for part in split.matching}
        parts.update({part.name: part.to_dict() for part in split.parts})
    return Finding(
        param=name, kind=comparison.kind, layer=placement.layer, placement=placement.describe(), factor=comparison.factor,
        max_abs=comparison.max_abs, max_rel=comparison.max_rel, evidence=evidence(name, comparison, placement, seen),
        expected_shape=comparison.expected_shape if comparison.kind == "shape_mismatch" else None,
        got_shape=comparison.got_shape if comparison.kind == "shape_mismatch" else None,
        fix=comparison.fix, cosine=comparison.cosine, best_fit=comparison.best_fit, residual=comparison.residual,
        term=comparison.term, parts=parts,
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
                    seen: Observations, policy: DoctorTolerance) -> ProbeResult:
    comparable = [n for n in layout.names if grads[n].shape == expected[n].shape]
    names = [n for n in comparable if comparisons[n].kind != "ok"] or (comparable if seen.loss.status == "mismatch" else [])
    if not names:
        return ProbeResult("own loss", "skipped", "not needed: the only wrong gradients have the wrong shape")
    try:
        seen.own = own_loss_differences(user, params, batch, layout, net, names, grads, expected, policy)
    except UserCodeFailed as failed:
        return ProbeResult("own loss", "failed", f"a call for central differences failed: {failed.failure.message}",
                           {"error": failed.failure.to_dict()})
    off = [n for n in names if comparisons[n].kind != "ok"]
    return own_loss_probe(seen.own, names, off, seen.loss.status)
