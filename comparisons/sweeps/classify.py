"""Classify every pairing of a run: within tolerance, a known convention, float32 noise, unexplained.

One row per (backend, reference, kind) pairing of a comparison (`Comparison.diffs`), in run
order. The classes, in the order a sweep report lists them:

``unexplained``
    a judged row (kind ``exact``, or ``cross`` without ``expected = "convention"``) is beyond
    its tolerance and neither rule below explains it. The row carries the pairing's first
    divergence: step, quantity, parameter, element, both values, error and allowed error.
``error``
    the comparison could not be made: a backend of the pairing failed (built or mid-run), the
    spec is invalid, the scenario raised, or the worker running it died (recorded by the
    executor).
``float32 noise``
    a float32 run whose judged rows fail, while the *same scenario in float64* (only
    ``run.dtype`` changed: same weights, batches and steps) keeps that pairing within the
    float64 tolerance. (When the float64 control is itself unexplained, so is the float32 row:
    float32 only blurs a real difference.) The backends then compute the same function and the float32 difference
    is rounding (amplified by training in free mode). ``detail`` gives the float32 error in
    units of float32's machine epsilon (2^-23) and the float64 control's error (``control_max_rel``).
``free-run drift``
    a free-running run whose judged rows fail (after the float32 rule) while the *same scenario
    anchored* (only ``run.mode`` changed: every backend handed the reference's weights before
    every step) keeps that pairing within the anchored tolerance at every step: each step computes
    the same thing, and the trajectories separate only by rounding that training amplifies
    (momentum, large learning rates; in float64 too).
``convention``
    a known, deliberate difference with its measured size (``max_abs``, ``max_rel``):
    * a ``gap`` pairing beyond tolerance (scratchnet against its twin following the other
      optimizer convention: the size of the optimizer conventions in play);
    * a ``cross`` pairing whose failing rows the measured gap explains (the runner's
      ``expected = "convention"``), with no judged row beyond tolerance;
    * a judged pairing that fails while, for each framework in it, the same scenario agrees
      with scratchnet switched to that framework's convention for an activation
      (`ACTIVATION_CONVENTIONS`: torch's softplus returns z above 20, TensorFlow's above
      ~34 in float64). The control runs use a scratchnet variant registered for them only; a
      backend without a known variant is assumed to compute the activation exactly and must
      agree with plain scratchnet in its control run.
``within tolerance``
    every judged row within tolerance and no convention difference beyond it.

``conventions`` names the keys of `comparisons.conventions.CONVENTIONS` that explain a
``convention`` row (the run's conventions in play, or the activation convention found).
``error_ratio`` is the worst ``max_abs / allowed`` of the rows the class rests on: below 1 is
within tolerance, whatever the dtype and mode, which is what the sweep's plots draw.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd

CLASSES = ("unexplained", "error", "float32 noise", "free-run drift", "convention", "within tolerance")
RANK = {name: i for i, name in enumerate(CLASSES)}
FLOAT32_EPS = float(np.finfo(np.float32).eps)  # 2**-23

ROW_FIELDS = ("backend", "reference", "kind", "classification", "detail", "conventions", "max_abs", "max_rel",
              "error_ratio", "rtol", "atol", "worst_step", "worst_quantity", "worst_param", "failed_rows", "rows",
              "first_step", "first_quantity", "first_param", "first_index", "first_value", "first_reference_value",
              "first_error", "first_allowed", "first_mismatched", "first_size", "first_finding", "control_max_rel",
              "steps_completed")


def empty_row() -> dict[str, Any]:
    row: dict[str, Any] = {name: None for name in ROW_FIELDS}
    row.update(backend="", reference="", kind="", detail="", conventions="", failed_rows=0, rows=0)
    return row


def error_row(detail: str, backend: str = "", reference: str = "", kind: str = "") -> dict[str, Any]:
    """A row for a comparison that could not be made."""
    row = empty_row()
    row.update(backend=backend, reference=reference, kind=kind, classification="error", detail=detail)
    return row


# ---------------------------------------------------------------------- activation conventions
@dataclass(frozen=True)
class ActivationConvention:
    """An activation a framework computes by another formula than scratchnet's exact one.

    `variants` maps a backend name to a factory ``(dtype) -> scratchnet Activation`` computing
    what that backend computes. A failing pairing is explained when each framework in it
    agrees with scratchnet using that framework's variant (a control run)."""

    key: str  # the entry of comparisons.conventions.CONVENTIONS
    activation: str
    variants: Mapping[str, Callable[[str], Any]]

    def applies(self, scenario: Any) -> bool:
        network = scenario.network
        activations = list(network.get("activations") or [])
        activations += [layer.get("activation") for layer in network.get("layers") or []
                        if isinstance(layer, Mapping) and layer.get("activation")]
        return any((a if isinstance(a, str) else a.get("name")) == self.activation for a in activations)


def _torch_softplus(dtype: str):
    from scratchnet.activations import Softplus

    class TorchSoftplus(Softplus):
        """torch.nn.functional.softplus(beta=1, threshold=20): z above 20, else log1p(e^z);
        backward 1 above 20, else e^z / (e^z + 1) (aten/src/ATen/native/cpu/Activation.cpp)."""

        def forward(self, z):
            with np.errstate(over="ignore"):
                return np.where(z > 20, z, np.log1p(np.exp(np.minimum(z, 20))))

        def derivative(self, z, a):
            e = np.exp(np.minimum(z, 20))
            return np.where(z > 20, z.dtype.type(1), e / (e + 1))

    return TorchSoftplus()


def _tensorflow_softplus(dtype: str):
    from scratchnet.activations import Softplus

    threshold = float(np.log(np.finfo(dtype).eps)) + 2.0  # -34.04 in float64, -13.94 in float32

    class TensorFlowSoftplus(Softplus):
        """tf.nn.softplus (tensorflow/core/kernels/softplus_op.h): z above -threshold, e^z below
        threshold, else log1p(e^z), threshold = log(eps) + 2; gradient g / (1 + e^-z)."""

        def forward(self, z):
            with np.errstate(over="ignore"):
                middle = np.log1p(np.exp(np.clip(z, threshold, -threshold)))
            return np.where(z > -threshold, z, np.where(z < threshold, np.exp(np.minimum(z, 0)), middle))

        def derivative(self, z, a):
            with np.errstate(over="ignore"):
                return 1 / (1 + np.exp(-z))

    return TensorFlowSoftplus()


ACTIVATION_CONVENTIONS: tuple[ActivationConvention, ...] = (
    ActivationConvention("softplus_threshold", "softplus", {"torch": _torch_softplus, "keras": _tensorflow_softplus}),
)


def variant_backend(convention: ActivationConvention, backend: str, follows: str):
    """A registry entry: scratchnet computing `convention.activation` as `backend` does, following
    the optimizer convention `follows`. Its name is ``scratchnet-<activation>-<backend>``."""
    import reference
    from reference.scratchnet_backend import ScratchnetBackend

    make = convention.variants[backend]

    class Variant(ScratchnetBackend):
        def __init__(self, problem, convention_name: str | None = None):
            super().__init__(problem, convention_name or follows)
            net = self.net
            for layer in net.layers:
                activation = getattr(layer, "activation", None)
                if activation is not None and activation.name == convention.activation:
                    layer.activation = make(problem.dtype)
            net.activations = [layer.activation if getattr(layer, "activation", None) is not None else a
                               for layer, a in zip(net.layers, net.activations)]

    def factory(problem, convention: str | None = None):
        return Variant(problem, convention)

    name = f"scratchnet-{convention.activation}-{backend}"
    return reference.BackendInfo(name, follows, factory, packages=("numpy",),
                                 settings={"variant": f"{convention.activation} as {backend} computes it"},
                                 description=f"scratchnet with {backend}'s {convention.activation} (sweep control run)")


# ---------------------------------------------------------------------- classification
class _Controls:
    """The control runs of one scenario, each run once."""

    def __init__(self, comparison: Any, rerun: Callable[..., Any]):
        self.comparison = comparison
        self.rerun = rerun
        self.cache: dict[Any, Any] = {}

    def float64(self) -> Any:
        if "float64" not in self.cache:
            self.cache["float64"] = self._safely(lambda: self.rerun(self.comparison.scenario.with_overrides(dtype="float64")))
        return self.cache["float64"]

    def anchored(self) -> Any:
        if "anchored" not in self.cache:
            self.cache["anchored"] = self._safely(lambda: self.rerun(self.comparison.scenario.with_overrides(mode="anchored")))
        return self.cache["anchored"]

    def variant(self, convention: ActivationConvention, backend: str) -> Any:
        key = (convention.key, backend)
        if key not in self.cache:
            self.cache[key] = self._safely(lambda: self._variant_run(convention, backend))
        return self.cache[key]

    def _variant_run(self, convention: ActivationConvention, backend: str) -> Any:
        import reference

        if backend not in convention.variants:  # assumed exact: checked against plain scratchnet
            scenario = self.comparison.scenario.with_overrides(backends=[backend, "scratchnet"], reference=backend)
            return self.rerun(scenario), "scratchnet"
        info = variant_backend(convention, backend, reference.get(backend).convention)
        with reference.registry.temporarily([info]):
            scenario = self.comparison.scenario.with_overrides(backends=[backend, info.name], reference=backend)
            return self.rerun(scenario), info.name

    @staticmethod
    def _safely(make: Callable[[], Any]) -> Any:
        try:
            return make()
        except Exception:  # a control that cannot run explains nothing
            return None


def classify(comparison: Any, explain: bool = True, rerun: Callable[..., Any] | None = None) -> list[dict[str, Any]]:
    """One row per pairing of `comparison` (see the module docstring). `explain=False` skips
    the control runs (failing judged pairings are then unexplained)."""
    if rerun is None:
        from comparisons.runner import run as rerun
    controls = _Controls(comparison, rerun)
    diffs = comparison.diffs
    tolerance = comparison.tolerance
    rows = []
    failed = comparison.failures
    nonfinite = comparison.nonfinite
    for (backend, reference_name, kind), group in _pairings(diffs):
        row = measure(group, tolerance)
        row.update(backend=backend, reference=reference_name, kind=kind, steps_completed=comparison.steps_completed)
        broken = [failed[name] for name in (backend, reference_name) if name in failed]
        notes = [f"{name} produced NaN/Inf at step {nonfinite[name]}" for name in (backend, reference_name)
                 if name in nonfinite]
        if broken:
            row.update(classification="error", detail="; ".join(str(failure) for failure in broken))
        else:
            _judge(row, group, comparison, controls if explain else None)
        if notes:
            row["detail"] = "; ".join([row["detail"], *notes]) if row["detail"] else "; ".join(notes)
        rows.append(row)
    names = set(diffs.backend) | set(diffs.reference) if not diffs.empty else set()
    for name, failure in failed.items():
        if name not in names:  # failed before producing any row: no pairing carries it
            rows.append(error_row(str(failure), backend=name, reference=comparison.scenario.reference))
    if not rows:
        rows.append(error_row("no pairing was compared (the scenario runs a single backend?)"))
    return rows


class _Rows:
    """Columns of diff rows as NumPy arrays (pandas' per-call overhead is most of the cost of
    classifying a small run); indexing with a boolean mask selects rows."""

    COLUMNS = ("step", "backend", "reference", "kind", "quantity", "param", "max_abs", "max_rel", "index", "value",
               "reference_value", "allowed", "passed", "mismatched", "size", "expected", "finding")

    def __init__(self, columns: Mapping[str, np.ndarray]):
        self.columns = columns

    @classmethod
    def of(cls, diffs: pd.DataFrame) -> "_Rows":
        return cls({name: diffs[name].to_numpy() for name in cls.COLUMNS})

    def __getattr__(self, name: str) -> np.ndarray:
        try:
            return self.__dict__["columns"][name]
        except KeyError:
            raise AttributeError(name) from None

    def __getitem__(self, mask: np.ndarray) -> "_Rows":
        return _Rows({name: values[mask] for name, values in self.columns.items()})

    def __len__(self) -> int:
        return len(self.columns["step"])

    @property
    def empty(self) -> bool:
        return len(self) == 0

    @property
    def judged(self) -> np.ndarray:
        return np.isin(self.kind, ("exact", "cross")) & (self.expected == "")


def _pairings(diffs: pd.DataFrame) -> list[tuple[tuple[str, str, str], _Rows]]:
    if diffs.empty:
        return []
    rows = _Rows.of(diffs)
    keys = list(dict.fromkeys(zip(rows.backend, rows.reference, rows.kind)))
    out = []
    for backend, reference_name, kind in keys:
        mask = (rows.backend == backend) & (rows.reference == reference_name) & (rows.kind == kind)
        out.append(((str(backend), str(reference_name), str(kind)), rows[mask]))
    return out


def measure(group: _Rows, tolerance: Any) -> dict[str, Any]:
    """The worst judged row of a pairing (or of its convention rows when nothing is judged),
    its error ratio, and the first judged row beyond tolerance."""
    row = empty_row()
    judged = group.judged
    passed = group.passed.astype(bool)
    basis = group[judged] if judged.any() else group
    row.update(rtol=tolerance.rtol, atol=tolerance.atol, rows=int(len(group)), failed_rows=int((judged & ~passed).sum()))
    _worst_into(row, basis)
    failing = group[judged & ~passed]
    if not failing.empty:
        i = int(np.argmin(failing.step))  # rows are in step order; the first of the earliest step
        row.update(first_step=int(failing.step[i]), first_quantity=str(failing.quantity[i]),
                   first_param=str(failing.param[i]), first_index=int(failing.index[i]),
                   first_value=_float(failing.value[i]), first_reference_value=_float(failing.reference_value[i]),
                   first_error=_float(failing.max_abs[i]), first_allowed=_float(failing.allowed[i]),
                   first_mismatched=int(failing.mismatched[i]), first_size=int(failing.size[i]),
                   first_finding=str(failing.finding[i]))
    return row


def _worst_into(row: dict[str, Any], frame: _Rows) -> None:
    if frame.empty:
        return
    max_abs = frame.max_abs.astype(float)
    allowed = frame.allowed.astype(float)
    max_rel = frame.max_rel.astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(allowed > 0, max_abs / allowed, np.inf)
    ratio = np.where(np.isnan(ratio), np.inf, ratio)  # a finding or NaN: infinitely beyond
    worst = int(np.argmax(ratio))
    row.update(max_abs=_float(np.nanmax(max_abs)) if not np.isnan(max_abs).all() else None,
               max_rel=_float(np.nanmax(max_rel)) if not np.isnan(max_rel).all() else None,
               error_ratio=_float(ratio[worst]), worst_step=int(frame.step[worst]),
               worst_quantity=str(frame.quantity[worst]), worst_param=str(frame.param[worst]))


def _float(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value


def _judge(row: dict[str, Any], group: _Rows, comparison: Any, controls: _Controls | None) -> None:
    kind = row["kind"]
    activation_keys = {c.key for c in ACTIVATION_CONVENTIONS}  # not part of an optimizer gap
    in_play = ", ".join(c["key"] for c in comparison.conventions if c["key"] not in activation_keys)
    if kind == "gap":
        beyond = not group.passed.astype(bool).all()
        row.update(classification="convention" if beyond else "within tolerance", conventions=in_play if beyond else "",
                   detail=("measured optimizer-convention gap beyond tolerance" if beyond else ""))
        return
    explained = group[(group.expected == "convention") & ~group.passed.astype(bool)]
    if row["failed_rows"] == 0:
        if explained.empty:
            row.update(classification="within tolerance")
        else:
            _worst_into(row, explained)
            row.update(classification="convention", conventions=in_play,
                       detail=f"{len(explained)} cross-convention rows beyond tolerance, explained by the measured gap")
        return
    first = (f"first divergence at step {row['first_step']}: {row['first_quantity']} {row['first_param']}"
             f"[{row['first_index']}] {row['first_value']!r} vs {row['first_reference_value']!r}, error "
             f"{_sci(row['first_error'])} > allowed {_sci(row['first_allowed'])}")
    if row["first_finding"]:
        first = f"first divergence at step {row['first_step']}: {row['first_quantity']} {row['first_param']}: " \
                f"{row['first_finding']}"
    if controls is not None:
        found = _activation_convention(row, comparison, controls)
        if found is not None:
            row.update(classification="convention", conventions=found.key,
                       detail=f"{found.key}: each framework agrees with scratchnet computing {found.activation} its "
                              f"way (control run); {first}")
            return
        scenario = comparison.scenario
        if scenario.dtype == "float32":
            same = _same_pairing(controls.float64(), row, controls)
            if same is not None:
                row["control_max_rel"] = same["max_rel"]
                eps = (row["max_rel"] or 0.0) / FLOAT32_EPS
                if same["classification"] == "within tolerance":
                    row.update(classification="float32 noise",
                               detail=f"float32 error {_sci(row['max_rel'])} relative ({eps:.3g} float32 eps); the "
                                      f"float64 control run agrees (max_rel {_sci(same['max_rel'])}); {first}")
                    return
                if same["classification"] == "convention":
                    row.update(classification="convention", conventions=same["conventions"],
                               detail=f"the float64 control run shows a known convention ({same['conventions']}); "
                                      f"float32 adds rounding ({eps:.3g} float32 eps); {first}")
                    return
                if same["classification"] == "unexplained":  # float64 shows a real difference float32 blurs
                    row.update(classification="unexplained",
                               detail=f"{first}; the float64 control run disagrees too: {same['detail']}")
                    return
                first += f"; the float64 control run: {same['classification']}"
        if scenario.mode == "free":
            same = _same_pairing(controls.anchored(), row, controls)
            if same is not None:
                if same["classification"] in ("within tolerance", "convention", "float32 noise"):
                    row.update(classification="free-run drift",
                               detail=f"the anchored control run agrees at every step ({same['classification']}, "
                                      f"max_rel {_sci(same['max_rel'])}): rounding amplified by free-running "
                                      f"training; {first}")
                    return
                first += f"; the anchored control run: {same['classification']}"
    row.update(classification="unexplained", detail=first)


def _same_pairing(control: Any, row: Mapping[str, Any], controls: _Controls) -> dict[str, Any] | None:
    """The control run's row of the same pairing (classified with its own controls), or None."""
    if control is None:
        return None
    for other in classify(control, explain=True, rerun=controls.rerun):
        if (other["backend"], other["reference"], other["kind"]) == (row["backend"], row["reference"], row["kind"]):
            return other
    return None


def _activation_convention(row: dict[str, Any], comparison: Any, controls: _Controls) -> ActivationConvention | None:
    scenario = comparison.scenario
    sides = [name for name in (row["backend"], row["reference"]) if not name.startswith("scratchnet")]
    if not sides:
        return None
    for convention in ACTIVATION_CONVENTIONS:
        if not convention.applies(scenario) or not any(side in convention.variants for side in sides):
            continue
        if all(_variant_agrees(controls.variant(convention, side)) for side in sides):
            return convention
    return None


def _variant_agrees(control: Any) -> bool:
    if control is None:
        return False
    comparison, name = control
    rows = classify(comparison, explain=False)
    mine = [r for r in rows if r["backend"] == name]
    return bool(mine) and all(r["classification"] == "within tolerance" for r in mine)


def _sci(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "NaN"
    return f"{value:.3e}"
