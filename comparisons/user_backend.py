"""Your own scratch network as a backend: user code in lockstep runs, reports and parity suites.

A scenario declares user backends in ``[user.<name>]`` tables and names them in ``run.backends``
like any other backend. The runner registers each one for the run through the public
`reference.register` (the same door any third-party backend uses) with the reference's
optimizer convention (or the declared ``convention``).

Three kinds of code:

* ``kind = "grad"``: ``code(params, X, y) -> (loss, {name: gradient})``. The engine updates the
  user's arrays with the scenario's optimizer in the backend's convention (scratchnet's
  optimizers, operation for operation), so the backprop is what is under test.
* ``kind = "step"``: ``code(params, X, y[, lr]) -> {name: new array}`` (or None after updating
  the arrays it was given in place): update-only code with its own optimizer and its own state
  across calls (momentum in a closure or object). With plain SGD the implied gradient
  ``(old - new) / lr`` is compared with the reference's gradient; for every optimizer the new
  weights are compared with the reference's new weights. The learning rate is passed when the
  function takes ``lr``, ``learning_rate``, ``eta``, ``alpha`` or ``step_size``.
* ``kind = "object"``: ``code`` is a class (or factory) called with ``init`` as keyword
  arguments; the weights are its attributes named in the mapping, and ``method`` (default
  ``"train"``) performs one step, called with the keyword arguments in ``call``, where the
  strings ``"X"``, ``"y"`` and ``"lr"`` stand for the step's batch and the learning rate (e.g.
  ``call = {inputs = "X", targets = "y", eta = "lr", niterations = 1}`` for a
  ``train(inputs, targets, eta, niterations)`` method). Compared like ``step``.

Layouts are declared, never guessed, with the doctor's options and its adapter
(`comparisons.doctor.layout`): ``samples_as_columns`` and a ``mapping`` of the user's array
names to placements (weight ``in_out``/``out_in``, bias of any shape, augmented weights with a
+1/-1 bias input). Without a mapping the canonical names and layouts are used. The user's
arrays keep their own names in the backend; records are canonical, and diffs name the
canonical parameter. The user's arrays are never modified behind their back except where
anchored mode writes the reference's weights into them, in their layout. The scenario's dtype
applies: arrays are handed to the code in it, and what the code returns is cast to it.

When a user backend first leaves the tolerance, the runner runs the backprop doctor at that
step's weights and batch (`diagnose_at`), and the report, the verdict and `assert_parity`
show its diagnosis.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

import scratchnet as sn
from comparisons.doctor.layout import NetworkLayout, Placement
from comparisons.doctor.spec import DoctorInputError, NetSpec
from comparisons.doctor.usercode import UserCode, UserCodeFailed, UserCodeFailure, user_traceback
from reference.protocol import Params, Problem, StepRecord

KINDS = ("grad", "step", "object")
PLACEHOLDERS = ("X", "y", "lr")
TABLE_KEYS = ("code", "kind", "samples_as_columns", "mapping", "convention", "init", "method", "call", "grads_order")


class UserCodeError(RuntimeError):
    """The user's code raised or returned something unusable; the message says what and how to fix
    it, and `failure.traceback` holds the user's own traceback."""

    def __init__(self, failure: UserCodeFailure):
        super().__init__(str(failure))
        self.failure = failure


@dataclass(frozen=True)
class UserSpec:
    """A validated ``[user.<name>]`` table (see the module docstring). `code` is
    ``"/abs/path.py:attribute"`` or a callable (dict specs only)."""

    name: str
    code: str | Callable[..., Any]
    kind: str = "grad"
    samples_as_columns: bool = False
    mapping: Mapping[str, Placement] | None = None
    mapping_table: Mapping[str, Any] | None = None
    convention: str | None = None
    init: Mapping[str, Any] = field(default_factory=dict)
    method: str = "train"
    call: Mapping[str, Any] = field(default_factory=dict)
    grads_order: tuple | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain data that `parse_user_table` reads back (a callable `code` stays a callable)."""
        out: dict[str, Any] = {"code": self.code, "kind": self.kind, "samples_as_columns": self.samples_as_columns}
        if self.mapping_table is not None:
            out["mapping"] = {name: dict(entry) for name, entry in self.mapping_table.items()}
        if self.convention is not None:
            out["convention"] = self.convention
        if self.kind == "object":
            out.update(init=dict(self.init), method=self.method, call=dict(self.call))
        if self.grads_order is not None:
            out["grads_order"] = _plain_order(self.grads_order)
        return out

    def load(self) -> Callable[..., Any]:
        """The user's function or class; raises ValueError naming the file or attribute when it
        cannot be loaded (missing file, missing attribute, an exception while importing)."""
        if callable(self.code):
            return self.code
        path_text, _, attribute = self.code.rpartition(":")
        from comparisons.doctor.files import _import_user_file

        path = Path(path_text)
        if not path.is_file():
            raise ValueError(f"user.{self.name}.code: file {path} does not exist")
        try:
            module, failure = _import_user_file(path)
        except DoctorInputError as error:
            raise ValueError(f"user.{self.name}.code: {error}") from None
        if failure is not None:
            raise ValueError(f"user.{self.name}.code: importing {path} failed: {failure.message}\n{failure.traceback}")
        target = module
        for part in attribute.split("."):
            if not hasattr(target, part):
                names = sorted(n for n in vars(module) if not n.startswith("_"))
                raise ValueError(f"user.{self.name}.code: {path.name} has no attribute {attribute!r} "
                                 f"(it defines {', '.join(names[:12])})")
            target = getattr(target, part)
        if not callable(target):
            raise ValueError(f"user.{self.name}.code: {attribute!r} in {path.name} is a {type(target).__name__}, not a "
                             "function or class")
        return target


def parse_user_table(table: Any, base: Path, problems: Callable[[str], None]) -> dict[str, UserSpec]:
    """Validate the scenario's ``user`` table; report each problem through `problems` (one line
    naming the field and the fix) and return the tables that are valid. `base` is the folder
    relative code paths start from (the spec file's folder; the working directory for dicts)."""
    from comparisons.doctor.files import _mapping

    if not isinstance(table, Mapping):
        problems(f"user: must be a table of user backends, e.g. [user.mine] code = \"my_net.py:loss_and_grads\", "
                 f"got {type(table).__name__}")
        return {}
    users = {}
    for name, entry in table.items():
        where = f"user.{name}"
        if not isinstance(entry, Mapping):
            problems(f"{where}: must be a table with code = \"file.py:function\" and kind = one of {list(KINDS)}")
            continue
        count = len(_problems := [])
        for key in entry:
            if key not in TABLE_KEYS:
                from scratchnet._checks import unknown_name
                _problems.append(f"{where}.{key}: {unknown_name('key', key, TABLE_KEYS)}")
        kind = entry.get("kind", "grad")
        if kind not in KINDS:
            _problems.append(f"{where}.kind: must be one of {list(KINDS)}, got {kind!r}")
        code = entry.get("code")
        if callable(code):
            pass
        elif not isinstance(code, str) or ":" not in code or not code.rpartition(":")[2]:
            _problems.append(f"{where}.code: required, \"path/to/file.py:function\" (the path relative to the spec "
                             f"file), or a callable in a dict spec; got {code!r}")
        else:
            path_text, _, attribute = code.rpartition(":")
            path = Path(path_text).expanduser()
            code = f"{(path if path.is_absolute() else base / path).resolve()}:{attribute}"
        samples_as_columns = entry.get("samples_as_columns", False)
        if not isinstance(samples_as_columns, bool):
            _problems.append(f"{where}.samples_as_columns: must be true or false, got {samples_as_columns!r}")
        mapping, mapping_table = None, entry.get("mapping")
        if mapping_table is not None:
            try:
                mapping = _mapping(Path(where), dict(mapping_table) if isinstance(mapping_table, Mapping) else mapping_table)
            except DoctorInputError as error:
                _problems.append(str(error).replace(f"{where} [mapping.", f"{where}.mapping.").replace("]:", ":", 1))
        convention = entry.get("convention")
        if convention is not None and convention not in sn.optim.CONVENTIONS:
            _problems.append(f"{where}.convention: must be one of {list(sn.optim.CONVENTIONS)}, got {convention!r}")
        init, method, call = entry.get("init", {}), entry.get("method", "train"), entry.get("call", {})
        if kind != "object" and any(key in entry for key in ("init", "method", "call")):
            _problems.append(f"{where}: init, method and call are for kind = \"object\" only")
        if not isinstance(init, Mapping):
            _problems.append(f"{where}.init: must be a table of keyword arguments, got {init!r}")
        if not isinstance(method, str) or not method.isidentifier():
            _problems.append(f"{where}.method: must be the name of the method that performs one step, got {method!r}")
        if not isinstance(call, Mapping) or (kind == "object" and not any(v in ("X", "y") for v in call.values())):
            _problems.append(f"{where}.call: must be a table of the method's keyword arguments, with \"X\" and \"y\" "
                             f"where the batch goes, e.g. call = {{inputs = \"X\", targets = \"y\", eta = \"lr\"}}; got {call!r}")
        grads_order = entry.get("grads_order")
        if grads_order is not None and (kind != "grad" or not _valid_order(grads_order)):
            _problems.append(f"{where}.grads_order: for kind = \"grad\" only: the names of the returned gradients in "
                             f"the order your code returns them, nested like its return, e.g. [[\"b1\", \"b2\"], "
                             f"[\"W1\", \"W2\"]] for Nielsen's (nabla_b, nabla_w); got {grads_order!r}")
        for problem in _problems:
            problems(problem)
        if len(_problems) > count:
            continue
        users[name] = UserSpec(str(name), code, kind, samples_as_columns, mapping,
                               None if mapping_table is None else {k: dict(v) for k, v in mapping_table.items()},
                               convention, dict(init), method, dict(call),
                               None if grads_order is None else _tuple_order(grads_order))
    return users


def _valid_order(order: Any) -> bool:
    if isinstance(order, str):
        return True
    return isinstance(order, (list, tuple)) and bool(order) and all(_valid_order(item) for item in order)


def _tuple_order(order: Any) -> Any:
    return order if isinstance(order, str) else tuple(_tuple_order(item) for item in order)


def _plain_order(order: Any) -> Any:
    return order if isinstance(order, str) else [_plain_order(item) for item in order]


def _by_order(order: Any, returned: Any, where: str) -> dict[str, Any]:
    """The arrays of a nested return (lists/tuples), keyed by the names in `order`."""
    if isinstance(order, str):
        return {order: returned}
    if not isinstance(returned, (list, tuple)) or len(returned) != len(order):
        got = f"a {type(returned).__name__}" + (f" of {len(returned)} items" if isinstance(returned, (list, tuple)) else "")
        raise ValueError(f"grads_order {_plain_order(order)} expects {len(order)} items at {where}, got {got}")
    out: dict[str, Any] = {}
    for index, (names, item) in enumerate(zip(order, returned)):
        out.update(_by_order(names, item, f"{where}[{index}]"))
    return out


def _suggested_order(returned: Any, shapes: Mapping[str, tuple[int, ...]]) -> list | None:
    """The ``grads_order`` that names a (loss, nested lists of arrays) return by matching each
    array's shape to exactly one of the user's arrays; None when that is ambiguous or impossible."""
    if not isinstance(returned, (tuple, list)) or len(returned) != 2 or not isinstance(returned[1], (tuple, list)):
        return None
    unused = dict(shapes)

    def name(item: Any) -> Any:
        if isinstance(item, (tuple, list)):
            return [name(inner) for inner in item]
        matches = [n for n, shape in unused.items() if np.shape(item) == shape]
        if len(matches) != 1:
            raise LookupError
        del unused[matches[0]]
        return matches[0]

    try:
        order = name(returned[1])
    except LookupError:
        return None
    return order if not unused else None


def net_spec(network: Mapping[str, Any]) -> NetSpec | None:
    """The doctor's NetSpec of a fully connected network description (`scratchnet.MLP.spec()`);
    None for a network with other layers (conv, pooling, batch norm), which the layer doctor
    (`comparisons.doctor.layered`) handles."""
    layers = network["layers"]
    if len(network["input_shape"]) != 1 or any(layer["type"] != "dense" for layer in layers) \
            or len({bool(layer.get("bias", True)) for layer in layers}) != 1:
        return None
    return NetSpec(list(network["input_shape"]) + [layer["units"] for layer in layers],
                   [layer["activation"] for layer in layers], loss=network["loss"], reduction=network["reduction"],
                   scale=network["scale"], bias=bool(layers[0]["bias"]), l2=network["l2"])


class UserBackend:
    """The user's code behind the backend protocol (see the module docstring)."""

    def __init__(self, problem: Problem, user: UserSpec, convention: str, target: Callable[..., Any] | None = None):
        self.name, self.user, self.convention = user.name, user, convention
        self.dtype = np.dtype(problem.dtype)
        self.spec = net_spec(problem.network)
        if self.spec is not None:
            shapes = _declared_shapes(self.spec, user.mapping, user.samples_as_columns)
            self.layout = NetworkLayout(self.spec, user.mapping, shapes)
        else:
            self.spec = problem.network
            self.layout = _layer_layout(problem.network, user)
        self.target = user.load() if target is None else target
        self.lr = problem.optimizer.options.get("lr")
        self.optimizer_name = problem.optimizer.name
        self.plain_sgd = problem.optimizer.name == "sgd" and not any(
            problem.optimizer.options.get(key) for key in ("momentum", "weight_decay", "nesterov"))
        self.steps_taken = 0
        self.last: tuple[dict[str, np.ndarray], np.ndarray, np.ndarray] | None = None
        if user.kind == "grad":
            self.optimizer = sn.optim.get(problem.optimizer.name, convention=convention, **problem.optimizer.options)
            self.code = UserCode(self._grad_fn(), None, self.lr, self.layout.names, self.layout.shapes)
        elif user.kind == "step":
            self.code = UserCode(None, self._recording(self.target), self.lr, self.layout.names, self.layout.shapes)
        else:
            try:
                self.object = self.target(**user.init)
            except Exception as error:
                raise UserCodeError(UserCodeFailure(f"{_label(self.target)}(**init)", "exception",
                                                    f"{type(error).__name__}: {error}", user_traceback(error))) from None
            method = getattr(self.object, user.method, None)
            if not callable(method):
                raise ValueError(f"user.{self.name}.method: {type(self.object).__name__} has no method {user.method!r}")
            self.method = method
            self.code = UserCode(None, self._recording(self._object_step_fn()), self.lr, self.layout.names,
                                 self.layout.shapes)
        self.arrays: dict[str, np.ndarray] = {}
        self.set_params(problem.initial_params)

    # ------------------------------------------------------------------ the user's arrays
    @property
    def user_names(self) -> dict[str, str]:
        """canonical parameter -> the user's array holding it ("dense_0.W" -> "W1")."""
        return self.layout.canonical_names()

    def _user_arrays(self) -> dict[str, np.ndarray]:
        if self.user.kind != "object":
            return self.arrays
        missing = [name for name in self.layout.names if not hasattr(self.object, name)]
        if missing:
            raise ValueError(f"user.{self.name}: the object has no attribute(s) {missing} named in the mapping")
        return {name: getattr(self.object, name) for name in self.layout.names}

    def get_params(self) -> Params:
        return self._canonical(self._user_arrays())

    def set_params(self, params: Mapping[str, np.ndarray]) -> None:
        """Write canonical weights into the user's arrays, in the user's layout and dtype (in
        place where an array of that shape exists, so code holding a reference sees them)."""
        for name, value in self.layout.to_user(params, parameters=True).items():
            value = value.astype(self.dtype)
            current = self._user_arrays().get(name) if self.user.kind != "object" else getattr(self.object, name, None)
            if isinstance(current, np.ndarray) and current.shape == value.shape and current.flags.writeable:
                np.copyto(current, value, casting="unsafe")
            elif self.user.kind == "object":
                setattr(self.object, name, value)
            else:
                self.arrays[name] = value

    def _canonical(self, arrays: Mapping[str, Any]) -> Params:
        return {name: value.astype(self.dtype) for name, value in self.layout.to_canonical(arrays).items()}

    def _batch(self, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        X, y = np.asarray(X, dtype=self.dtype), np.asarray(y, dtype=self.dtype)
        return (X.T.copy(), y.T.copy()) if self.user.samples_as_columns else (X.copy(), y.copy())

    # ------------------------------------------------------------------ one step
    def step(self, X: np.ndarray, y: np.ndarray) -> StepRecord:
        X_user, y_user = self._batch(X, y)
        before = {name: np.array(value, copy=True) for name, value in self._user_arrays().items()}
        self.last = (before, X_user, y_user)
        self.steps_taken += 1
        call = f"step {self.steps_taken - 1}"
        if self.user.kind == "grad":
            evaluation = self._evaluate(before, X_user, y_user, call)
            self._check_shapes(evaluation.grads, call)
            grads = self._canonical(evaluation.grads)
            params = self._canonical(before)
            self.optimizer.step(params, grads)
            self.set_params(params)
            state = {f"{name}/{slot}": value.copy() for name, slots in self.optimizer.state.items()
                     for slot, value in slots.items()}
            return StepRecord(self.steps_taken, float(evaluation.loss), grads, self.get_params(), state)
        evaluation = self._evaluate(before, X_user, y_user, call)
        new = self._updated
        if self.user.kind == "step":
            self._write_user(new)
        grads = self._canonical(evaluation.grads) if self.plain_sgd else {}
        return StepRecord(self.steps_taken, None, grads, self.get_params())

    def _check_shapes(self, grads: Mapping[str, np.ndarray], call: str) -> None:
        """Each gradient has its array's shape (a squeezable difference such as (3, 1) for (3,)
        is accepted)."""
        for name, gradient in grads.items():
            shape = self.layout.shapes[name]
            if gradient.shape != shape and np.squeeze(gradient).shape != np.squeeze(np.empty(shape)).shape:
                raise UserCodeError(UserCodeFailure(
                    f"grad code ({call})", "bad_return",
                    f"the gradient for {name!r} has shape {gradient.shape}, but {name} has shape {shape} "
                    f"({self.layout.placements[name].describe()}); return it in the array's own shape"))

    def _evaluate(self, params, X_user, y_user, call):
        try:
            if self.user.kind == "grad":
                return self.code.evaluate(params, X_user, y_user, call)
            return self._evaluate_step(params, X_user, y_user, call)
        except UserCodeFailed as failed:
            failure = failed.failure
            suggestion = _suggested_order(getattr(self, "_returned", None), self.layout.shapes)
            if suggestion is not None and failure.kind == "bad_return":
                failure = UserCodeFailure(failure.call, failure.kind, f"{failure.message}; or, to keep returning "
                                          f"lists, declare their order in the spec: grads_order = {suggestion}",
                                          failure.traceback)
            raise UserCodeError(failure) from None

    def _recording(self, step_fn: Callable[..., Any]) -> Callable[..., Any]:
        """`step_fn` keeping what it returned (or the arrays it updated in place) in `_returned`,
        with the user's name and signature (the learning-rate keyword is read from it)."""
        @functools.wraps(step_fn)
        def recording(inputs, X, y, **kwargs):
            returned = step_fn(inputs, X, y, **kwargs)
            self._returned = inputs if returned is None else returned
            return returned
        return recording

    def _evaluate_step(self, params, X_user, y_user, call):
        """The step code once; keeps the new arrays (`_updated`) and returns the implied gradients."""
        evaluation = self.code.evaluate(params, X_user, y_user, call)
        self._updated = {name: np.asarray(self._returned[name]).reshape(params[name].shape) for name in self.layout.names}
        if evaluation.shape_notes:
            raise UserCodeError(UserCodeFailure(f"{call}", "bad_return", "; ".join(evaluation.shape_notes.values())))
        return evaluation

    def _write_user(self, new: Mapping[str, np.ndarray]) -> None:
        for name in self.layout.names:
            self.arrays[name] = np.array(new[name], dtype=self.dtype)

    # ------------------------------------------------------------------ adapters of the code
    def _grad_fn(self) -> Callable[..., Any]:
        """The user's grad code, its gradients keyed through `grads_order` when declared; keeps
        the last return so a refused structure can be answered with the order to declare."""
        target, order, backend = self.target, self.user.grads_order, self

        def grad_fn(params, X, y):
            returned = backend._returned = target(params, X, y)
            if order is None or not isinstance(returned, (tuple, list)) or len(returned) != 2:
                return returned  # UserCode explains the expected structure
            loss, grads = returned
            return loss, _by_order(order, grads, "the gradients")
        grad_fn.__name__ = getattr(target, "__name__", "grad")
        return grad_fn

    def _object_step_fn(self) -> Callable[..., Any]:
        """A step_fn over the object: write the arrays in, call the method, read them back."""
        user, backend = self.user, self

        def object_step(params, X, y, lr=None):
            for name, value in params.items():
                current = getattr(backend.object, name, None)
                if isinstance(current, np.ndarray) and current.shape == np.shape(value) and current.flags.writeable:
                    np.copyto(current, value, casting="unsafe")
                else:
                    setattr(backend.object, name, value)
            values = {"X": X, "y": y, "lr": backend.lr if lr is None else lr}
            kwargs = {key: values[value] if isinstance(value, str) and value in PLACEHOLDERS else value
                      for key, value in user.call.items()}
            backend.method(**kwargs)
            return {name: np.array(getattr(backend.object, name), copy=True) for name in backend.layout.names}
        object_step.__name__ = f"{type(self.object).__name__}.{user.method}"
        return object_step

    def loss_and_grads(self, params, X, y):
        if self.user.kind != "grad":
            raise ValueError(f"user backend {self.name!r} is kind {self.user.kind!r}: only kind = \"grad\" code "
                             "provides gradients for scipy's minimize and the anchored evaluations")
        X_user, y_user = self._batch(X, y)
        evaluation = self._evaluate(self.layout.to_user(params, parameters=True), X_user, y_user, "gradient evaluation")
        return float(evaluation.loss), self._canonical(evaluation.grads)

    # ------------------------------------------------------------------ the doctor at a divergence
    def snapshot(self) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray] | None:
        """The user's arrays before the last step and that step's batch, as the code saw them."""
        return self.last

    def diagnose_at(self, snapshot: tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]):
        """The backprop doctor (`comparisons.doctor.diagnose`) at a snapshot's weights and batch.
        It calls the code several times (probes), so the runner calls it after the last step."""
        from comparisons.doctor import diagnose

        params, X_user, y_user = snapshot
        if self.user.kind != "grad" and self.optimizer_name != "sgd":
            return None  # (old - new) / lr is the gradient for SGD only: no honest gradient diagnosis
        if self.user.kind == "grad":
            return diagnose(self.spec, params, X_user, y_user, mapping=self.user.mapping or None,
                            grad_fn=self._grad_fn(), samples_as_columns=self.user.samples_as_columns, lr=self.lr)
        return diagnose(self.spec, params, X_user, y_user, mapping=self.user.mapping or None, step_fn=self.code.fn,
                        samples_as_columns=self.user.samples_as_columns, lr=self.lr)


def _layer_layout(network: Mapping[str, Any], user: UserSpec):
    """The layer doctor's layout of the user's arrays for a network of layers (conv, pooling,
    batch norm): `Param` placements, or the canonical names when there is no mapping."""
    from comparisons.doctor.layered import LayerLayout, Param, layer_network

    if user.samples_as_columns:
        raise ValueError(f"user.{user.name}.samples_as_columns: a network of layers takes X as (batch, channels, height, "
                         "width); samples as columns are for dense networks only")
    net = layer_network(network)
    mapping = user.mapping
    if mapping is not None and not all(isinstance(placement, Param) for placement in mapping.values()):
        raise ValueError(f"user.{user.name}.mapping: a network of layers maps each array with kind = \"param\" and the "
                         f"canonical parameter it holds, e.g. param = \"conv2d_0.K\" (parameters: {', '.join(net.params)})")
    return LayerLayout.declared(net, mapping)


def _declared_shapes(spec: NetSpec, mapping: Mapping[str, Placement] | None, samples_as_columns: bool) -> dict[str, tuple[int, ...]]:
    from comparisons.doctor.layout import canonical_mapping

    mapping = canonical_mapping(spec) if mapping is None else mapping
    shapes = {}
    for name, placement in mapping.items():
        declared = getattr(placement, "shape", None)
        fan_in, fan_out = spec.fans(placement.layer) if placement.layer < spec.n_layers else (0, 0)
        shapes[name] = tuple(declared) if declared else placement.default_shape(fan_in, fan_out, samples_as_columns)
    return shapes


def _label(target: Any) -> str:
    return getattr(target, "__qualname__", getattr(target, "__name__", repr(target)))
