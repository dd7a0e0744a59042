"""What the doctor returns: one `Finding` per user parameter inside a `DiagnosisResult`, which
prints as a report a person can act on and converts to plain JSON-able data (`to_dict`)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from comparisons.doctor.losscheck import LossCheck
from comparisons.doctor.usercode import UserCodeFailure

KINDS = ("ok", "sign_flipped", "scaled", "transposed", "zero", "stateful", "shape_mismatch", "wrong",
         "flipped_kernel")


def _plain(value: Any) -> Any:
    """JSON-able: NaN/Inf floats become None, tuples become lists."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


@dataclass
class Finding:
    """The verdict on one of the user's arrays.

    `kind` is one of `KINDS`; `factor` is the constant multiple of the reference for
    sign_flipped/scaled (and the second-to-first call ratio for stateful); `max_abs`/`max_rel` are
    the largest absolute and relative differences from the reference (None when the shapes do
    not match); `evidence` says why, in words; `expected_shape`/`fix` are set for shape problems;
    `cause` names a known mistake that reproduces the user's gradients exactly, where one does.
    `term`: the part of the tensor the kind and factor describe when not the whole of it ("data
    term": the gradient without the declared L2 term; "bias column (column 0)" of an augmented
    weight); `parts`: every part of a tensor taken apart, {part: {"kind", "factor"}}.
    """

    param: str
    kind: str
    layer: int
    placement: str
    factor: float | None = None
    max_abs: float | None = None
    max_rel: float | None = None
    evidence: str = ""
    expected_shape: tuple[int, ...] | None = None
    got_shape: tuple[int, ...] | None = None
    fix: str | None = None
    cosine: float | None = None
    best_fit: float | None = None
    residual: float | None = None
    cause: str | None = None
    term: str | None = None
    parts: dict[str, dict[str, Any]] | None = None

    def to_dict(self) -> dict[str, Any]:
        return _plain({
            "param": self.param, "kind": self.kind, "layer": self.layer, "placement": self.placement,
            "factor": self.factor, "max_abs": self.max_abs, "max_rel": self.max_rel, "evidence": self.evidence,
            "expected_shape": self.expected_shape, "got_shape": self.got_shape, "fix": self.fix,
            "cosine": self.cosine, "best_fit": self.best_fit, "residual": self.residual, "cause": self.cause,
            "term": self.term, "parts": self.parts,
        })


@dataclass
class ProbeResult:
    """One probe: `name` (state, batch size, learning rate, own loss), `status` (ran, skipped,
    failed), `summary` in words, `details` as plain data."""

    name: str
    status: str
    summary: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return _plain({"name": self.name, "status": self.status, "summary": self.summary, "details": self.details})


@dataclass
class DiagnosisResult:
    """The whole diagnosis. `ok`: the user's gradients are right. `culprit`: the user names of the
    wrong parameters in the wrong layer nearest the output (None when nothing is wrong).
    `error`: set when the user's code raised or returned the wrong structure before any
    gradient could be judged (then `findings` is empty). `point`: where the gradients were
    judged ("your weights", or your weights with non-zero biases the doctor drew because yours
    are all zero). `consistent_spec`: the declaration the code is consistent with, when one
    change of the declared spec explains every finding (then `cause` says to declare it)."""

    ok: bool
    culprit: list[str] | None
    findings: list[Finding]
    mode: str
    network: str
    reference: str
    batch_size: int
    loss: LossCheck | None = None
    probes: list[ProbeResult] = field(default_factory=list)
    layer_rule: str = ""
    cause: str | None = None
    notes: list[str] = field(default_factory=list)
    error: UserCodeFailure | None = None
    point: str = "your weights"
    consistent_spec: str | None = None

    def finding(self, param: str) -> Finding:
        """The finding for user parameter `param`."""
        for finding in self.findings:
            if finding.param == param:
                return finding
        raise KeyError(f"no finding for {param!r}; parameters: {[f.param for f in self.findings]}")

    @property
    def kinds(self) -> dict[str, str]:
        """{param: kind} for every finding."""
        return {finding.param: finding.kind for finding in self.findings}

    def to_dict(self) -> dict[str, Any]:
        return _plain({
            "ok": self.ok, "culprit": self.culprit, "mode": self.mode, "network": self.network,
            "reference": self.reference, "batch_size": self.batch_size,
            "findings": [finding.to_dict() for finding in self.findings],
            "loss": self.loss.to_dict() if self.loss else None,
            "probes": [probe.to_dict() for probe in self.probes],
            "layer_rule": self.layer_rule, "cause": self.cause, "notes": list(self.notes),
            "error": self.error.to_dict() if self.error else None, "point": self.point,
            "consistent_spec": self.consistent_spec,
        })

    def __str__(self) -> str:
        lines = [self._headline()]
        lines.append(f"  network    {self.network}")
        if self.batch_size:
            lines.append(f"  reference  {self.reference}, at {self.point} on {self.batch_size} samples")
        if self.error is not None:
            lines.append("")
            lines.extend(str(self.error).splitlines())
            lines.extend(self._tail())
            return "\n".join(lines)
        if self.loss is not None:
            lines.append(f"  loss       {self._loss_line()}")
        lines.append("")
        lines.append(f"  {'param':<12} {'layer':>5}  {'kind':<15} {'factor':>9}  {'max_abs':>9}  {'max_rel':>9}")
        for finding in self.findings:
            factor = "" if finding.factor is None else f"{finding.factor:.4g}"
            max_abs = "-" if finding.max_abs is None else f"{finding.max_abs:.2e}"
            max_rel = "-" if finding.max_rel is None else f"{finding.max_rel:.2e}"
            lines.append(f"  {finding.param:<12} {finding.layer:>5}  {finding.kind:<15} {factor:>9}  {max_abs:>9}  {max_rel:>9}")
        lines.append("")
        lines.append("Evidence")
        groups: dict[str, list[str]] = {}
        for finding in self.findings:
            groups.setdefault(finding.evidence, []).append(finding.param)
        for text, params in groups.items():
            lines.append(f"  {', '.join(params)}: {text}")
        if self.layer_rule and not self.consistent_spec:
            lines.append(f"Layer rule: {self.layer_rule}")
        if self.consistent_spec:
            lines.append(f"Spec: {self.cause}")
        elif self.cause:
            lines.append(f"Likely cause: {self.cause}")
        lines.extend(self._tail())
        return "\n".join(lines)

    def headline(self) -> str:
        """One line: the verdict, the culprit and, when known, the likely cause."""
        line = self._headline()
        return f"{line} Likely cause: {self.cause}" if self.cause and not self.consistent_spec else line

    def _headline(self) -> str:
        if self.error is not None:
            return "Backprop doctor: could not judge the gradients, your code failed."
        wrong = [f for f in self.findings if f.kind != "ok"]
        if not wrong:
            return f"Backprop doctor: all {len(self.findings)} gradients match the reference."
        layer = self.finding(self.culprit[0]).layer if self.culprit else None
        if self.consistent_spec:
            return (f"Backprop doctor: your code is consistent with {self.consistent_spec}; declare it. "
                    f"{len(wrong)} of {len(self.findings)} gradients differ from the declared spec by exactly that change.")
        return (f"Backprop doctor: {len(wrong)} of {len(self.findings)} gradients are wrong. "
                f"Culprit: {', '.join(self.culprit or [])} (layer {layer}, the wrong layer nearest the output).")

    def _loss_line(self) -> str:
        loss = self.loss
        if loss.status == "unavailable":
            return loss.explanation
        if loss.status == "match":
            return f"yours {loss.user:.10g} = reference {loss.reference:.10g} ({loss.explanation})"
        return f"yours {loss.user:.10g} != reference {loss.reference:.10g}: {loss.explanation}"

    def _tail(self) -> list[str]:
        lines = []
        if self.probes:
            lines.append("Probes")
            for probe in self.probes:
                lines.append(f"  {probe.name:<13} {probe.summary}")
        if self.notes:
            lines.append("Notes")
            lines.extend(f"  - {note}" for note in self.notes)
        return lines
