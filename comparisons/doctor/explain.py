"""Words: the evidence line of each finding and the layer rule.

The layer rule (bug-taxonomy.md sec. 1): backprop flows from the output to the input, so a wrong
delta at layer k breaks the gradients of layer k and of every layer nearer the input, while the
layers above stay exact. The culprit is therefore the wrong layer nearest the output; a wrong
tensor whose lower layers are right is an isolated formula error in that tensor.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from comparisons.doctor.classify import TensorComparison
from comparisons.doctor.factors import Context, format_factor
from comparisons.doctor.layout import AugmentedWeight, Bias, Placement, Weight
from comparisons.doctor.losscheck import LossCheck
from comparisons.doctor.numeric import OwnLossCheck
from comparisons.doctor.probes import StateOutcome
from comparisons.doctor.result import Finding
from comparisons.doctor.spec import NetSpec
from comparisons.doctor.terms import describe_part
from comparisons.tolerances import DoctorTolerance, doctor_tolerance

DATA_TERM = "data term"


@dataclass
class Observations:
    """Everything measured beyond the per-tensor comparison, for the evidence lines."""

    mode: str
    spec: NetSpec
    context: Context
    state: StateOutcome
    loss: LossCheck
    batch_follows: dict[str, str] = field(default_factory=dict)
    lr_follows: dict[str, str] = field(default_factory=dict)
    own: dict[str, OwnLossCheck] = field(default_factory=dict)
    shape_notes: dict[str, str] = field(default_factory=dict)
    policy: DoctorTolerance | None = None


def evidence(name: str, comparison: TensorComparison, placement: Placement, seen: Observations) -> str:
    """The evidence sentence for one finding (`comparison.kind` already final)."""
    kind = comparison.kind
    if kind == "ok":
        return "matches the reference"
    prefix = _part_prefix(comparison, seen)
    if kind == "stateful":
        text = _stateful(name, comparison, seen)
    elif kind == "shape_mismatch":
        note = seen.shape_notes.get(name)
        text = (f"{note}: expected {comparison.expected_shape}" if note else
                f"has shape {comparison.got_shape}, but {comparison.expected_shape} is due (the shape of the parameter): {comparison.fix}")
    elif kind == "zero":
        text = ("is all zeros while the reference is not: the gradient is never computed, or is reset before it is returned")
    elif kind == "sign_flipped":
        text = "equals -1 x the reference: the sign is flipped; " + (
            "the update moves uphill (+= lr * gradient where -= is due), or the error term is y - a where a - y is due"
            if seen.mode == "step_fn" else "the error term is probably y - a where a - y is due")
    elif kind == "scaled":
        text = _scaled(name, comparison, seen)
    elif kind == "transposed":
        text = _transposed(comparison, placement)
    else:
        text = _wrong(comparison)
    if comparison.term == DATA_TERM:
        text = text.replace("x the reference", "x the reference's data term", 1)
    return prefix + text + _other_parts(comparison, seen) + _own_loss(name, seen)


def _part_prefix(comparison: TensorComparison, seen: Observations) -> str:
    """Which part of the tensor the kind describes, when it is not the whole tensor."""
    term = comparison.term
    if term is None:
        return ""
    if term == DATA_TERM:
        return (f"its data term (your gradient minus the declared L2 term 2*l2*W with l2 = {seen.spec.l2:g}, which matches; "
                "the gradient of the loss without the penalty) ")
    return f"its {term} "


def _other_parts(comparison: TensorComparison, seen: Observations) -> str:
    """The parts of a tensor taken apart that the kind does not already describe."""
    split = comparison.split
    if split is None:
        return ""
    policy = seen.policy or doctor_tolerance(False)
    texts = []
    for part in split.parts:
        if part.name == comparison.term:
            continue
        if part.name.startswith("L2 term"):
            texts.append(describe_part(part, seen.spec.l2, policy))
        elif part.comparison is not None and part.kind != "ok":
            factor = f" {part.factor:.6g} x" if part.kind == "scaled" and part.factor is not None else ""
            verb = "are" if part.name == "weights" else "is"
            texts.append(f"its {part.name} {verb} {part.kind}{factor} against the reference's")
    for matching in split.matching if texts or comparison.term else []:
        texts.append(f"its {matching} {'match' if matching == 'weights' else 'matches'} the reference")
    return "; " + "; ".join(texts) if texts else ""


def _stateful(name: str, comparison: TensorComparison, seen: Observations) -> str:
    ratio = seen.state.changed.get(name)
    if name in seen.state.accumulating:
        text = ("a second call at the same weights returned 2 x the first: gradients accumulate across calls; create "
                "or zero the accumulator inside the function (e.g. dW = np.zeros_like(W)) on every call")
    elif ratio is not None:
        text = (f"a second call at the same weights returned {format_factor(ratio)} x the first: the code keeps state "
                "between calls; every call at the same weights must return the same gradient")
    else:
        text = ("a second call at the same weights returned a different gradient: the code keeps state between calls "
                "(or is random); every call at the same weights must return the same gradient")
    return text + (f" (and the first call on its own is {comparison.first_call})" if comparison.first_call else "")


def _scaled(name: str, comparison: TensorComparison, seen: Observations) -> str:
    factor = comparison.factor
    text = f"equals {format_factor(factor)} x the reference"
    if factor < 0:
        text += ", the sign flipped as well"
    names = comparison.factor_names
    keys = {n.key for n in names}
    follows_m = seen.batch_follows.get(name)
    follows_lr = seen.lr_follows.get(name)
    if names:
        plain = names[0].key in ("2", "1/2")
        others = names[1:]
        if plain:
            text += f" (a factor {names[0].text})"
        else:
            text += f"; {format_factor(abs(factor))} is {names[0].text}"
        if others:
            text += f"; it also equals {', '.join(n.text for n in others)}"
    else:
        text += "; the factor is none of m, 1/m, lr, 2, 1/2"
    spec = seen.spec
    declared = f"the declared loss (reduction={spec.reduction!r}, scale={spec.scale:g})"
    if follows_m == "m":
        text += (f"; with half the samples the factor halves, so it follows the batch size: the gradient sums over the "
                 f"samples where {declared} averages; divide it by m")
    elif follows_m == "1/m":
        text += (f"; with half the samples the factor doubles, so it follows 1/m: the gradient averages over the samples "
                 f"once more than {declared}; remove the extra division by m")
    elif follows_lr == "lr":
        text += ("; with the learning rate halved the factor halves, so it follows lr: the learning rate is folded into "
                 "the gradient (or the deltas) and applied again by the update; remove it from the delta")
    elif follows_lr == "1/lr":
        text += "; with the learning rate halved the factor doubles: the update ignores the lr it is given"
    elif "m" in keys:
        text += f"; the gradient probably sums over the samples where {declared} averages; divide it by m"
    elif "1/m" in keys:
        text += f"; the gradient probably divides by m once more than {declared}"
    elif "lr" in keys:
        text += "; the learning rate is probably folded into the gradient or the deltas"
    elif keys & {"2", "1/2"}:
        text += "; " + _squared_error_hint("2" in keys, spec)
    elif keys & {"k", "1/k", "mk", "1/mk"}:
        text += ("; reduction 'mean' divides by every output element (m*k) and 'batch_mean' by the samples only (m): "
                 f"the code and {declared} use different reductions")
    if follows_m == "none" and not keys & {"m", "1/m"}:
        text += "; it does not change with the batch size"
    return text


def _squared_error_hint(double: bool, spec: NetSpec) -> str:
    if spec.loss != "squared_error":
        return f"a constant {'2' if double else '1/2'} multiplies this gradient"
    if double:
        if spec.scale == 0.5:
            return ("the declared loss has scale=0.5 (half the squared error), whose derivative is (a - y); the code uses "
                    "2 (a - y), the derivative of the squared error without the 1/2: drop the 2, or declare scale=1.0")
        return "the derivative of (a - y)**2 is 2 (a - y); the code doubles it once more than the declared loss"
    if spec.scale != 0.5:
        return (f"the declared loss (scale={spec.scale:g}) has derivative 2 (a - y) per squared error; the code uses "
                "(a - y), the derivative of the half squared error: multiply by 2, or declare scale=0.5")
    return "the code halves the derivative once more than the declared loss (scale=0.5)"


def _transposed(comparison: TensorComparison, placement: Placement) -> str:
    if comparison.unroll == "F":
        return ("holds the reference's entries in column-major order: the block was unrolled column-major (MATLAB's "
                "Theta(:), ravel(order='F')) and rolled back row-major (reshape), an unroll-order mistake; " + comparison.fix)
    if comparison.unroll == "C":
        return ("holds the reference's entries in the wrong order: the block was unrolled row-major (ravel()) and rolled "
                "back column-major (reshape(..., order='F')), an unroll-order mistake; " + comparison.fix)
    text = "equals the reference transposed"
    if comparison.got_shape != comparison.expected_shape:
        text += f" and has shape {comparison.got_shape} where {comparison.expected_shape} is due"
    if isinstance(placement, (Weight, AugmentedWeight)) and placement.layout == "out_in":
        formula = "delta.T @ a_prev with samples as rows (delta @ a_prev.T with samples as columns), shape (fan_out, fan_in)"
    else:
        formula = "a_prev.T @ delta with samples as rows, shape (fan_in, fan_out)"
    unrolled = (" (inside an unrolled parameter vector the same happens when the block is unrolled column-major, as "
                "MATLAB's Theta(:), and rolled back row-major: unroll and roll back in the same order)"
                if isinstance(placement, AugmentedWeight) else "")
    return f"{text}: return its transpose; for layout {getattr(placement, 'layout', 'in_out')!r} the gradient is {formula}{unrolled}"


def _wrong(comparison: TensorComparison) -> str:
    parts = []
    if comparison.cosine is not None:
        parts.append(f"cosine {comparison.cosine:.3f} with the reference, best-fit scale {comparison.best_fit:.4g}, "
                     f"residual {comparison.residual:.3g} x |reference|")
    parts.extend(comparison.pattern)
    return "; ".join(parts) if parts else "differs from the reference"


def _own_loss(name: str, seen: Observations) -> str:
    check = seen.own.get(name)
    if check is None:
        return ""
    status = check.status
    if status == "skipped":
        return "; central differences of your own loss could not check it (every step crossed a ReLU-family kink)"
    if status == "unresolved":
        return ("; central differences of your own loss could not check it: its gradient is below what they resolve at "
                "this point")
    if status == "agrees" and not check.agrees_reference:
        if seen.loss.status == "match":
            return ("; it agrees with central differences of your own loss, which equals the declared loss at this point: "
                    "your loss differs from the declared one only away from this point")
        return ("; it agrees with central differences of your own loss: your backprop matches your loss, so your loss "
                "is not the declared one")
    if status == "disagrees":
        return "; it disagrees with central differences of your own loss too: the backprop is wrong"
    return ""


def layer_rule(findings: list[Finding], placements: dict[str, Placement], bias_only: set[str],
               n_layers: int, penalty_only: set[str] = frozenset()) -> tuple[list[str] | None, str]:
    """(culprit, explanation): the wrong parameters of the wrong layer nearest the output.
    `bias_only`: wrong parameters whose weight part is right (biases, bias rows of augmented weights);
    `penalty_only`: wrong parameters whose data term is right and only the L2 term is off."""
    wrong = [f for f in findings if f.kind != "ok"]
    if not wrong:
        return None, ""
    top = max(f.layer for f in wrong)
    culprit = [f.param for f in wrong if f.layer == top]
    place = "the output layer" if top == n_layers - 1 else f"layer {top}"
    above = "" if top == n_layers - 1 else "; the layers above it match"
    if all(f.kind == "stateful" for f in wrong):
        return culprit, "every wrong gradient is wrong because state carries over between calls, not because of a formula"
    if all(f.param in penalty_only for f in wrong):
        return culprit, ("only the L2 terms are wrong: the data terms (the backprop proper) match in every layer, so the "
                         "penalty's gradient itself is wrong (each weight's L2 term is its own formula, not a delta)")
    if all(f.param in bias_only for f in wrong):
        return culprit, ("only bias gradients are wrong (biases, or the bias rows/columns of augmented weights) and every "
                         "weight gradient matches: the bias-gradient formula itself is wrong (it should be the layer's delta "
                         "summed over the samples, times bias_input for an augmented weight)")
    biases_fine = {f.layer for f in findings if isinstance(placements[f.param], Bias) and f.kind == "ok"}
    if all(isinstance(placements[f.param], Weight) and f.layer in biases_fine for f in wrong):
        return culprit, ("only weight gradients are wrong while the biases of the same layers match: the deltas are "
                         "probably right (a bias gradient is the delta summed over the samples), so the weight-gradient "
                         "formula itself differs (an extra factor or term, a transpose, or the wrong input)")
    below = [f for f in findings if f.layer <= top]
    if all(f.kind != "ok" for f in below):
        if top == 0:
            return culprit, f"only layer 0, nearest the input, is wrong{above}: its delta or its gradient formulas are wrong"
        entry = " (the output delta or the loss derivative)" if top == n_layers - 1 else ""
        return culprit, (f"{place} and every layer below it are wrong{above}: a wrong delta at layer k breaks layer k and "
                         f"every layer nearer the input, so the error enters at {place}{entry}")
    if all(f.kind != "ok" for f in below if f.layer == top) and all(f.kind == "ok" for f in below if f.layer < top):
        return culprit, (f"{place} is wrong but the layers below it match: the error is isolated in the gradient formulas "
                         f"of {', '.join(culprit)} (a wrong delta would break the layers below too)")
    return culprit, ("the wrong gradients do not follow the layer rule (a wrong delta breaks every gradient of its layer "
                     f"and of the layers below): each wrong gradient's own formula is wrong ({', '.join(f.param for f in wrong)})")
