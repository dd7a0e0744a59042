"""Is the code right for another spec? One consistent change of the declaration that explains
every finding at once (the loss too, where the code returns one).

Correct code checked against a mistaken declaration looks like "N of N gradients are wrong":
Nielsen's quadratic cost ``0.5 * sum((a - y)**2)`` averaged over the samples, declared with the
default ``reduction="mean"`` (which also averages over the k outputs), differs by k/2 in every
gradient; a cs231n loss with ``reg * sum(W**2)`` declared as ``l2 = 0.5 * reg`` differs in every
weight. Before any of that is blamed on the backprop, the doctor tries the changes a declaration
can be wrong by, fewest first:

* ``reduction`` (mean, sum, batch_mean) and ``scale`` (1, 0.5, 2);
* ``l2``, fitted to the gradients (code that returns its loss only: the loss must agree too);
* the ``layout`` of square weights whose gradients came out transposed.

A change is accepted only when every gradient agrees with the reference of the changed spec
(`comparisons.diff.compare` under the gradient tolerance) and, where the code returns a loss, the
loss agrees under the loss tolerance. Candidates are screened with scratchnet's exact backprop
and the accepted one is confirmed with the reference (torch autograd) itself.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from typing import Mapping

import numpy as np

import scratchnet as sn
from comparisons.doctor.agreement import close, same_number
from comparisons.doctor.backprop import Variant, variant_gradients
from comparisons.doctor.batch import Batch
from comparisons.doctor.layout import AugmentedWeight, NetworkLayout, Placement, Weight, canonical_name
from comparisons.doctor.reference import reference_gradients
from comparisons.doctor.spec import NetSpec
from comparisons.tolerances import DoctorTolerance

SCALES = (1.0, 0.5, 2.0)


@dataclass(frozen=True)
class SpecChange:
    """`text`: the changed fields as they are declared (``reduction='batch_mean', scale=0.5``);
    `declared`: the same fields as declared now; `fields`: the new values as plain data."""

    text: str
    declared: str
    fields: dict

    def sentence(self) -> str:
        return (f"your code is consistent with {self.text}; declare it (the declared spec has {self.declared}; every "
                "difference above is exactly that change, so if the declared spec is the one you mean, the evidence says what "
                "to change in the code instead)")


def consistent_spec(declared: NetSpec, spec: NetSpec, layout: NetworkLayout, params: Mapping[str, np.ndarray],
                    batch: Batch, grads: Mapping[str, np.ndarray], user_loss: float | None, transposed: list[str],
                    policy: DoctorTolerance, allow_l2: bool) -> SpecChange | None:
    """The smallest change of `declared` (resolved for this batch: `spec`) under which the user's
    gradients `grads` (user layout) and `user_loss` (None for update-only code) are right.
    `transposed`: user names of square weights whose gradient came out transposed."""
    canonical = layout.to_canonical(params)
    for change in _candidates(spec, layout, canonical, batch, grads, transposed, allow_l2, policy):
        fields, mapping = change
        candidate_layout = layout if mapping is None else NetworkLayout(spec, mapping, layout.shapes)
        candidate_spec = replace(spec, **{k: v for k, v in fields.items() if k in ("reduction", "scale", "l2")})
        candidate_params = candidate_layout.to_canonical(params)
        if not _agrees(candidate_spec.build(), candidate_layout, candidate_params, batch, grads, user_loss, policy):
            continue
        reference = reference_gradients(candidate_spec, candidate_params, batch.X, batch.y)
        expected = candidate_layout.to_user(reference.grads)
        largest = max(float(np.max(np.abs(v), initial=0.0)) for v in expected.values())
        tolerance = policy.gradient(largest)
        if not all(close(grads[n], expected[n], tolerance) for n in layout.names):
            continue
        if user_loss is not None and not same_number(user_loss, reference.loss, policy.loss()):
            continue
        return _describe(declared, spec, fields, layout, batch.m)
    return None


def _candidates(spec: NetSpec, layout: NetworkLayout, canonical, batch: Batch, grads, transposed, allow_l2: bool,
                policy: DoctorTolerance):
    """(fields, mapping or None) to try, fewest changes first."""
    loss_changes = [(r, s) for r, s in itertools.product(sn.losses.REDUCTIONS, dict.fromkeys((spec.scale,) + SCALES))
                    if (r, s) != (spec.reduction, spec.scale)]
    found = []
    for reduction, scale in [(spec.reduction, spec.scale)] + loss_changes:
        fields = {}
        if reduction != spec.reduction:
            fields["reduction"] = reduction
        if scale != spec.scale:
            fields["scale"] = scale
        if fields:
            found.append((dict(fields), None))
        if allow_l2:
            l2 = _fitted_l2(replace(spec, reduction=reduction, scale=scale), layout, canonical, batch, grads)
            if l2 is not None and not same_number(l2, spec.l2, policy.l2_match):
                found.append(({**fields, "l2": l2}, None))
    if transposed:
        flipped = {name: _flipped(placement) if name in transposed else placement for name, placement in layout.placements.items()}
        found.append(({"layout": {name: flipped[name].layout for name in transposed}}, flipped))
    return sorted(found, key=lambda change: len(change[0]) + (1 if "l2" in change[0] else 0))


def _fitted_l2(spec: NetSpec, layout: NetworkLayout, canonical, batch: Batch, grads) -> float | None:
    """The L2 coefficient that best explains the user's gradients on top of `spec`'s data term
    (a least-squares fit along 2*W on the weights), or None when the weights are 0."""
    net = spec.without_l2().build()
    data = layout.to_user(variant_gradients(net, canonical, batch.X, batch.y, Variant()))
    weights = {canonical_name(layer, "W") for layer in range(spec.n_layers)}
    unit = {name: (2.0 * value if name in weights else np.zeros_like(value)) for name, value in canonical.items()}
    direction = layout.to_user(unit)
    energy = sum(float(np.vdot(direction[n], direction[n])) for n in layout.names)
    if energy == 0:
        return None
    l2 = sum(float(np.vdot(grads[n] - data[n], direction[n])) for n in layout.names) / energy
    return l2 if l2 >= 0 else None


def _agrees(net: sn.MLP, layout: NetworkLayout, canonical, batch: Batch, grads, user_loss, policy: DoctorTolerance) -> bool:
    """Screening with scratchnet's exact backprop (cheap): gradients and loss of `net` agree."""
    with np.errstate(all="ignore"):
        expected = layout.to_user(variant_gradients(net, canonical, batch.X, batch.y, Variant()))
        if user_loss is not None:
            zs, outs = net.forward(batch.X, canonical)
            loss = net.loss.value_and_delta(zs[-1], outs[-1], batch.y, net.activations[-1])[0]
            weights = sum(float(np.vdot(canonical[net.param_names(i)["W"]], canonical[net.param_names(i)["W"]]))
                          for i in range(net.n_layers))
            if not same_number(user_loss, float(loss) + net.l2 * weights, policy.loss()):
                return False
    largest = max(float(np.max(np.abs(v), initial=0.0)) for v in expected.values())
    tolerance = policy.gradient(largest)
    return all(grads[n].shape == expected[n].shape and close(grads[n], expected[n], tolerance) for n in layout.names)


def _flipped(placement: Placement) -> Placement:
    layout = "out_in" if placement.layout == "in_out" else "in_out"
    if isinstance(placement, AugmentedWeight):
        return replace(placement, layout=layout)
    return Weight(placement.layer, layout)


def _describe(declared: NetSpec, spec: NetSpec, fields: dict, layout: NetworkLayout, m: int) -> SpecChange:
    new, old = [], []
    for key in ("reduction", "scale"):
        if key in fields:
            new.append(f"{key}={fields[key]!r}")
            old.append(f"{key}={getattr(spec, key)!r}")
    if "l2" in fields:
        l2 = fields["l2"]
        if declared.l2_per:
            divisor = m if declared.l2_per == "m" else 2 * m
            new.append(f"l2={l2 * divisor:.6g} with l2_per={declared.l2_per!r} ({l2:.6g} on this batch)")
            old.append(f"l2={declared.l2:g} with l2_per={declared.l2_per!r}")
        else:
            new.append(f"l2={l2:.6g}")
            old.append(f"l2={declared.l2:g}")
    if "layout" in fields:
        for name, value in fields["layout"].items():
            new.append(f"layout={value!r} for {name}")
            old.append(f"layout={layout.placements[name].layout!r} for {name}")
    plain = {k: (float(v) if k in ("scale", "l2") else v) for k, v in fields.items()}
    return SpecChange(", ".join(new), ", ".join(old), plain)

