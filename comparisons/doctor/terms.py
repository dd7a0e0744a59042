"""A wrong gradient taken apart: the data term against the L2 term, the weights against the bias.

With an L2 penalty the reference gradient of a weight is the data term D (the gradient of the
loss without the penalty, torch autograd on the same network with ``l2 = 0``) plus the penalty
term P = ``2 * l2 * W``. A flipped sign or a missing 1/m in the backprop changes D only, so the
whole tensor is no multiple of the reference and reads as ``wrong``; taken apart, the data term
is ``sign_flipped`` or ``scaled`` and the L2 term matches. Conversely an L2 mistake (``2*reg*W``
for a ``0.5*reg`` loss, decay with the wrong sign, decay on the biases) leaves D intact and
changes the L2 term only. An augmented weight (bias as an extra row/column) is split the same way
into its weight block and its bias row/column, so "the bias column is zeroed" is a ``zero`` bias
part next to matching weights.

Each part is judged by `classify.compare_tensor` under the same gradient tolerance as the whole
tensor; a decay on the biases is found as ``u_b - D_b = c * b`` (`agreement.close`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from comparisons.doctor.agreement import close, same_number
from comparisons.doctor.classify import TensorComparison, compare_tensor
from comparisons.doctor.factors import Context, format_factor
from comparisons.doctor.layout import AugmentedWeight, Bias, Placement, Weight
from comparisons.tolerances import DoctorTolerance, Tolerance


@dataclass
class Part:
    """One part of a tensor: `name` ("data term", "L2 term", "bias column", ...), its `kind` and
    `factor`, the comparison behind it (None for an L2 term on a bias, which has no reference
    counterpart) and, for a decay on the biases, its coefficient."""

    name: str
    kind: str
    factor: float | None = None
    comparison: TensorComparison | None = None
    bias_decay: float | None = None

    def to_dict(self) -> dict:
        return {"kind": self.kind, "factor": self.factor}


@dataclass
class TermSplit:
    """The parts of one tensor that are not right, and which one its kind is taken from."""

    parts: list[Part] = field(default_factory=list)
    matching: list[str] = field(default_factory=list)  # parts that are right, for the evidence

    def lead(self, policy: DoctorTolerance) -> Part | None:
        """The part whose kind the finding takes: the only wrong part, or the data term when every
        wrong part shows the same kind and factor (a missing 1/m reaches the bias row of an
        augmented weight too); None when they disagree."""
        if len(self.parts) == 1:
            return self.parts[0]
        first = self.parts[0]
        same = all(p.kind == first.kind and p.kind in ("scaled", "sign_flipped", "zero") and
                   (first.factor is None or (p.factor is not None and same_number(p.factor, first.factor, policy.repeat_factor())))
                   for p in self.parts)
        return first if same and first.name == "data term" else None


def split_terms(user: np.ndarray, full: np.ndarray, data: np.ndarray, values: np.ndarray, placement: Placement,
                fans: tuple[int, int], context: Context, policy: DoctorTolerance, tolerance: Tolerance,
                samples_as_columns: bool) -> TermSplit | None:
    """The parts of a wrong tensor (user layout, all the same shape): `full` the reference, `data`
    its data term, `values` the parameter's own values. None when taking it apart explains nothing."""
    if user.shape != full.shape or not np.all(np.isfinite(user)):
        return None
    blocks = _blocks(placement, fans[0], user.shape)
    split = TermSplit()
    for block_name, index, block_placement in blocks:
        u, r, d, v = user[index], full[index], data[index], values[index]
        if close(u, r, tolerance):
            split.matching.append(block_name)
            continue
        part = _penalty_part(u, r, d, v, block_name, block_placement, fans, context, policy, tolerance, samples_as_columns)
        if part is None:
            comparison = compare_tensor(u, r, block_placement, fans, context, policy, tolerance, samples_as_columns)
            part = Part(block_name, comparison.kind, comparison.factor, comparison)
        split.parts.append(part)
    if not split.parts or (len(blocks) == 1 and split.parts[0].name == blocks[0][0]):
        return None  # one block, nothing separated: the tensor's own comparison says it all
    return split


def _blocks(placement: Placement, fan_in: int, shape: tuple[int, ...]):
    """(name, index, placement used to compare it) for each block of the tensor."""
    everything = tuple(slice(None) for _ in shape)
    if isinstance(placement, AugmentedWeight):
        axis = 0 if placement.layout == "in_out" else 1
        bias_index = placement.bias_index(fan_in)
        weights = [i for i in range(shape[axis]) if i != bias_index]
        weight_index = (weights, slice(None)) if axis == 0 else (slice(None), weights)
        bias = (bias_index, slice(None)) if axis == 0 else (slice(None), bias_index)
        name = f"bias {placement.bias_axis} ({placement.bias_axis} {bias_index})"
        return [("weights", weight_index, Weight(placement.layer, placement.layout)), (name, bias, Bias(placement.layer))]
    name = "bias" if isinstance(placement, Bias) else "weights"
    return [(name, everything, placement)]


def _penalty_part(u, r, d, v, block_name, placement, fans, context, policy, tolerance, samples_as_columns) -> Part | None:
    """The data term or the L2 term of a block, whichever alone is off; a decay on a bias."""
    penalty = r - d
    if np.any(penalty != 0):
        data_part = compare_tensor(u - penalty, d, placement, fans, context, policy, tolerance, samples_as_columns)
        if data_part.kind in ("sign_flipped", "scaled", "zero", "transposed"):
            return Part("data term", data_part.kind, data_part.factor, data_part)
        own = u - d
        factor = float(np.vdot(own, penalty)) / float(np.vdot(penalty, penalty))
        if close(own, factor * penalty, tolerance):
            if close(own, np.zeros_like(own), tolerance):
                return Part("L2 term", "zero", 0.0)
            kind = "sign_flipped" if same_number(factor, -1.0, policy.factor()) else "scaled"
            return Part("L2 term", kind, factor)
        return None
    own = u - d
    if block_name != "weights" and np.any(v != 0) and not close(own, np.zeros_like(own), tolerance):
        coefficient = float(np.vdot(own, v)) / float(np.vdot(v, v))
        if close(own, coefficient * v, tolerance):
            return Part(f"L2 term on the {block_name}", "wrong", None, bias_decay=coefficient)
    return None


def describe_part(part: Part, l2: float, policy: DoctorTolerance) -> str:
    """Words for one part that is not right (the part's own comparison, for data terms, is worded
    by the caller; this covers the L2 terms)."""
    if part.bias_decay is not None:
        c = part.bias_decay
        named = f"; {format_factor(c)} = 2*l2 with the declared l2 = {l2:g}" if l2 and same_number(c, 2 * l2, policy.factor()) else ""
        return (f"it differs from the reference by exactly {format_factor(c)} x the bias values: an L2 term on the "
                f"{part.name.removeprefix('L2 term on the ')}{named}")
    factor = part.factor
    if part.kind == "zero":
        return "the L2 term 2*l2*W is missing (the data term matches)"
    if part.kind == "sign_flipped":
        return ("the L2 term is -2*l2*W where +2*l2*W is due: weight decay with the wrong sign (the data term matches)")
    return (f"the L2 term is {format_factor(factor)} x the declared 2*l2*W (with l2 = {l2:g}: {format_factor(2 * l2 * factor)}*W "
            f"instead of {format_factor(2 * l2)}*W; the data term matches)")


def penalty_cause(part: Part, l2: float, loss_matches: bool, policy: DoctorTolerance) -> str | None:
    """The named L2 mistake of an L2 part, in words."""
    own_loss = "; your loss has the declared penalty, so this gradient is not the derivative of your own loss" if loss_matches else ""
    if part.bias_decay is not None:
        where = part.name.removeprefix("L2 term on the ")
        declared = same_number(part.bias_decay, 2 * l2, policy.factor()) if l2 else False
        what = ("the declared L2 gradient 2*l2*b" if declared else f"an L2 term {format_factor(part.bias_decay)}*b")
        return (f"the L2 gradient is applied to the biases too: {what} is added to the {where}, which the declared l2 does "
                f"not penalise (penalise the weights only: skip the bias {'column' if 'column' in where else 'entries'})")
    if part.kind == "zero":
        return f"the L2 gradient term 2*l2*W is missing{own_loss}"
    if part.kind == "sign_flipped":
        return ("weight decay with the wrong sign: the gradient gets -2*l2*W where d/dW of l2*sum(W**2) is +2*l2*W (the "
                f"update must shrink the weights){own_loss}")
    factor = part.factor
    if same_number(factor, 2.0, policy.factor()):
        return ("the L2 gradient is twice the declared penalty's: 4*l2*W where d/dW of l2*sum(W**2) is 2*l2*W; with a loss "
                "written 0.5*reg*sum(W**2) (l2 = 0.5*reg) the gradient is reg*W, not 2*reg*W" + own_loss)
    if same_number(factor, 0.5, policy.factor()):
        return "the L2 gradient is l2*W instead of 2*l2*W (d/dW of l2*W**2 is 2*l2*W)" + own_loss
    return (f"the L2 gradient is {format_factor(factor)} x the declared 2*l2*W: an L2 coefficient {format_factor(factor * l2)} "
            f"where l2 = {l2:g} is declared" + own_loss)
