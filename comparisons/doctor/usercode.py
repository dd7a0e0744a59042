"""Calling the user's code: copies in, copies out, failures as data.

Two kinds of user function:
* ``grad_fn(params, X, y) -> (loss, {name: gradient})``, gradients in the same layouts as params;
* ``step_fn(params, X, y[, lr=...]) -> {name: new array}`` for code that only exposes an update
  (returning None means it updated the arrays it was given in place). The implied gradient is
  ``(old - new) / lr``, which is the gradient for plain SGD and for the first step of momentum
  (velocity zero). If the function takes an ``lr``, ``learning_rate`` or ``eta`` argument the
  doctor passes the learning rate, which lets it vary it (the learning-rate probe); ``alpha``
  and ``step_size`` count too.

Every call gets fresh copies of params, X and y, and everything returned is copied (float64)
before the next call, so the user's arrays are never modified and a function that returns the
same buffer twice cannot rewrite an earlier result. An exception in user code, or a return value
of the wrong structure, raises `UserCodeFailed` carrying a `UserCodeFailure` (the call, the
message and the user's traceback).
"""
from __future__ import annotations

import inspect
import traceback
from pathlib import Path
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

LR_KEYWORDS = ("lr", "learning_rate", "eta", "alpha", "step_size")


@dataclass(frozen=True)
class UserCodeFailure:
    """The user's code raised (`kind` "exception") or returned the wrong structure ("bad_return")."""

    call: str
    kind: str
    message: str
    traceback: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"call": self.call, "kind": self.kind, "message": self.message, "traceback": self.traceback}

    def __str__(self) -> str:
        what = "raised" if self.kind == "exception" else "returned the wrong structure"
        text = f"{self.call} {what}: {self.message}"
        if self.traceback:
            text += "\nTraceback (your code):\n" + self.traceback.rstrip()
        return text


class UserCodeFailed(Exception):
    """Raised by `UserCode` calls; `.failure` describes what went wrong."""

    def __init__(self, failure: UserCodeFailure):
        super().__init__(str(failure))
        self.failure = failure


@dataclass
class Evaluation:
    """One call's results: `loss` (grad_fn only), float64 `grads` in the user's names and the
    shapes returned, `low_precision` when the user's arrays were float32/float16, `shape_notes`
    (step_fn updates that changed an array's shape), `mutated` (inputs changed in place)."""

    loss: float | None
    grads: dict[str, np.ndarray]
    low_precision: bool = False
    shape_notes: dict[str, str] = field(default_factory=dict)
    mutated: list[str] = field(default_factory=list)


def _copy(value: Any) -> Any:
    """A private copy that keeps ndarray subclasses (np.matrix code relies on matrix semantics)."""
    return np.array(value, copy=True, subok=True)


class UserCode:
    """The user's grad_fn or step_fn, called safely. `names`/`shapes`: the mapped arrays."""

    def __init__(self, grad_fn: Callable | None, step_fn: Callable | None, lr: float | None,
                 names: list[str], shapes: Mapping[str, tuple[int, ...]]):
        self.mode = "grad_fn" if grad_fn is not None else "step_fn"
        self.fn = grad_fn if grad_fn is not None else step_fn
        self.lr = lr
        self.names = names
        self.shapes = dict(shapes)
        self.lr_keyword = _lr_keyword(self.fn) if self.mode == "step_fn" else None

    @property
    def function_name(self) -> str:
        return getattr(self.fn, "__name__", self.mode)

    def evaluate(self, params: Mapping[str, np.ndarray], X: np.ndarray, y: np.ndarray, call: str,
                 lr: float | None = None) -> Evaluation:
        """Call the function once on copies; `call` says which call this is, for messages."""
        inputs = {name: _copy(value) for name, value in params.items()}
        X_in, y_in = _copy(X), _copy(y)
        label = f"{self.mode} {self.function_name!r} ({call})"
        lr = self.lr if lr is None else lr
        kwargs = {self.lr_keyword: lr} if self.lr_keyword else {}
        try:
            returned = self.fn(inputs, X_in, y_in, **kwargs)
        except Exception as error:  # user code: any failure is reported, not raised
            raise UserCodeFailed(UserCodeFailure(label, "exception", f"{type(error).__name__}: {error}", user_traceback(error))) from None
        low = any(_low_precision(value) for value in params.values())
        if self.mode == "grad_fn":
            loss, grads = self._check_grad_return(returned, label)
            mutated = [n for n in self.names if not np.array_equal(inputs[n], params[n])]
            mutated += [n for n, new, old in (("X", X_in, X), ("y", y_in, y)) if not np.array_equal(new, old)]
            low = low or any(_low_precision(grads[n]) for n in self.names)
            return Evaluation(loss, {n: np.array(grads[n], dtype=np.float64) for n in self.names}, low, mutated=mutated)
        new = inputs if returned is None else returned
        return self._implied_gradients(params, new, lr, label, low)

    def _check_grad_return(self, returned: Any, label: str) -> tuple[float, Mapping[str, Any]]:
        expected = "(loss, {name: gradient})"
        if isinstance(returned, Mapping):
            raise UserCodeFailed(UserCodeFailure(label, "bad_return", f"it returned a dict only; return {expected}, the loss first"))
        if not isinstance(returned, (tuple, list)) or len(returned) != 2:
            got = f"a {type(returned).__name__}" + (f" of length {len(returned)}" if isinstance(returned, (tuple, list)) else "")
            raise UserCodeFailed(UserCodeFailure(label, "bad_return", f"expected {expected}, got {got}"))
        lists = self._per_layer_lists_hint(returned)
        if lists:
            raise UserCodeFailed(UserCodeFailure(label, "bad_return", lists))
        loss, grads = returned
        loss_array = _numeric(loss) if not isinstance(loss, Mapping) else None
        if loss_array is None or loss_array.dtype.kind not in "biuf" or loss_array.size != 1:
            shape = "" if loss_array is None else f" with shape {np.shape(loss_array)}"
            raise UserCodeFailed(UserCodeFailure(
                label, "bad_return", f"the first item must be the loss, one number; got {type(loss).__name__}{shape}"))
        if not isinstance(grads, Mapping):
            hint = (f" (a {type(grads).__name__} of {len(grads)} items: key them by parameter name, "
                    f"{{{', '.join(repr(n) for n in self.names)}: ...}})" if isinstance(grads, (list, tuple)) else "")
            raise UserCodeFailed(UserCodeFailure(label, "bad_return", f"the second item must be a dict {{name: gradient}}, got {type(grads).__name__}{hint}"))
        self._check_arrays(grads, label, "gradient")
        return float(loss_array.reshape(-1)[0]), grads

    def _per_layer_lists_hint(self, returned: tuple | list) -> str | None:
        """The message for two per-layer lists of arrays and no loss (Nielsen's ``backprop`` returns
        ``(nabla_b, nabla_w)``): which entry is which of the user's arrays, by shape."""
        if not all(isinstance(part, (list, tuple)) and part and all(_numeric(a) is not None and np.ndim(a) >= 1 for a in part)
                   for part in returned):
            return None
        first, second = ([np.asarray(a) for a in part] for part in returned)
        weight_shapes = {tuple(shape) for shape in self.shapes.values() if len(shape) == 2 and min(shape) > 1}
        weights_in = [sum(a.shape in weight_shapes for a in part) for part in (first, second)]
        variables = (("nabla_b", "nabla_w") if weights_in[1] > weights_in[0] else
                     ("nabla_w", "nabla_b") if weights_in[0] > weights_in[1] else ("first", "second"))
        entries = [(variables[0], i, a) for i, a in enumerate(first)] + [(variables[1], i, a) for i, a in enumerate(second)]
        used, parts = set(), []
        for name in self.names:
            choice = _entry_for(self.shapes[name], entries, used)
            if choice is None:
                parts = []
                break
            used.add(choice[:2])
            parts.append(f"{name!r}: {choice[2]}")
        example = (f": e.g. `{variables[0]}, {variables[1]} = net.backprop(X, Y)` then `return loss, {{{', '.join(parts)}}}`"
                   if parts else f", keyed {', '.join(map(repr, self.names))}")
        return (f"it returned two lists of arrays ({len(first)} and {len(second)}) and no loss, like the (nabla_b, nabla_w) of "
                "backprop in Nielsen's network.py; a grad_fn must return (loss, {name: gradient}) for the whole batch"
                f"{example}, where loss is the declared loss of the same batch. Code that only updates the weights "
                "(update_mini_batch) can be diagnosed as it is: pass it as step_fn with its learning rate (--step --lr)")

    def _check_arrays(self, arrays: Mapping[str, Any], label: str, what: str) -> None:
        missing = [n for n in self.names if n not in arrays]
        if missing:
            details = ", ".join(f"{n!r} (shape {self.shapes[n]})" for n in missing)
            hints = [f"{n!r} is there as {'d' + n!r}" for n in missing if "d" + n in arrays]
            hint = f"; {', '.join(hints)}: key the {what}s by parameter name" if hints else ""
            raise UserCodeFailed(UserCodeFailure(
                label, "bad_return", f"no {what} for {details}; it returned keys {sorted(map(str, arrays))}{hint}"))
        for name in self.names:
            value = arrays[name]
            array = _numeric(value) if value is not None else None
            if array is None or array.dtype.kind not in "biuf":
                raise UserCodeFailed(UserCodeFailure(
                    label, "bad_return",
                    f"the {what} for {name!r} is {type(value).__name__} {_short(value)}; expected a numeric array of shape {self.shapes[name]}"))

    def _implied_gradients(self, old: Mapping[str, np.ndarray], new: Any, lr: float, label: str, low: bool) -> Evaluation:
        if not isinstance(new, Mapping):
            raise UserCodeFailed(UserCodeFailure(
                label, "bad_return", f"expected the updated parameters {{name: array}} (or None after updating in place), got {type(new).__name__}"))
        self._check_arrays(new, label, "updated array")
        grads, notes = {}, {}
        for name in self.names:
            before = np.asarray(old[name], dtype=np.float64)
            after = np.array(new[name], dtype=np.float64)
            low = low or _low_precision(new[name])
            if after.shape != before.shape and np.squeeze(after).shape == np.squeeze(before).shape:
                after = after.reshape(before.shape)
            if after.shape != before.shape:
                notes[name] = f"the update turned {name!r} from shape {before.shape} into {after.shape}"
                grads[name] = np.full(after.shape, np.nan)
                continue
            grads[name] = (before - after) / lr
        return Evaluation(None, grads, low, notes)

    def loss_at(self, params: Mapping[str, np.ndarray], X: np.ndarray, y: np.ndarray, call: str) -> float:
        """The user's loss at `params` (grad_fn only), for central differences."""
        return self.evaluate(params, X, y, call).loss


def _lr_keyword(fn: Callable) -> str | None:
    try:
        parameters = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return None
    for name in LR_KEYWORDS:
        if name in parameters and parameters[name].kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY):
            return name
    return None


def user_traceback(error: BaseException) -> str:
    """The traceback of an exception from user code, without the doctor's, the user backend's
    and importlib's frames."""
    summary = traceback.TracebackException.from_exception(error)
    harness = (str(Path(__file__).parent), str(Path(__file__).parent.parent / "user_backend.py"), "<frozen")
    frames = [frame for frame in summary.stack if not frame.filename.startswith(harness)]
    return "".join(traceback.format_list(frames)) + "".join(summary.format_exception_only())


def _numeric(value: Any) -> np.ndarray | None:
    """`value` as an array, or None when NumPy cannot make one (ragged lists, odd objects)."""
    try:
        return np.asarray(value)
    except (ValueError, TypeError):
        return None


def _entry_for(shape: tuple[int, ...], entries: list, used: set) -> tuple[str, int, str] | None:
    """(variable, index, expression) of the first unused list entry that is the array of `shape`,
    exactly or as per-sample columns to sum (a bias delta of a whole batch)."""
    for variable, index, array in entries:
        if (variable, index) not in used and array.shape == tuple(shape):
            return variable, index, f"{variable}[{index}]"
    units = shape[0] if shape else 0
    for variable, index, array in entries:
        if (variable, index) in used or array.ndim != 2 or len(shape) not in (1, 2) or int(np.prod(shape)) != units:
            continue
        if array.shape[0] == units:
            keep = ", keepdims=True" if len(shape) == 2 else ""
            return variable, index, f"{variable}[{index}].sum(axis=1{keep})"
    return None


def _low_precision(value: Any) -> bool:
    dtype = np.asarray(value).dtype
    return dtype.kind == "f" and dtype.itemsize < 8


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
