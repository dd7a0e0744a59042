"""`diagnose_file`: the doctor on a function in a .py file, described by a TOML spec (for the CLI).

The TOML file (paths inside it are relative to it)::

    sizes = [2, 3, 1]                  # the NetSpec fields, top level (or in a [network] table)
    activations = ["sigmoid", "sigmoid"]
    loss = "squared_error"
    reduction = "sum"
    scale = 0.5
    bias = true
    l2 = 0.0                           # or per sample, as Ng's lambda / (2 m): l2 = {lambda = 1.0, per = "2m"}
    samples_as_columns = false         # optional: X is (features, m), y (outputs, m)
    labels = "one_based"               # optional: y holds class labels 1..k ("zero_based": 0..k-1)
    lr = 0.5                           # optional: learning rate of a step function

    [mapping.W1]                       # one table per array of yours
    kind = "weight"                    # weight | bias | augmented_weight
    layer = 0
    layout = "out_in"                  # weight, augmented_weight: in_out | out_in
    [mapping.b1]
    kind = "bias"
    layer = 0
    shape = [3, 1]                     # optional, used when the doctor draws the parameters
    [mapping.Theta2]
    kind = "augmented_weight"
    layer = 1
    layout = "out_in"
    bias_position = "first"            # first | last
    bias_input = 1.0                   # +1 (Ng) or -1 (Marsland)

    [data]
    name = "xor"                       # a scratchnet.data set; its options go alongside
    # npz = "batch.npz"                # or arrays X and y, stored as your code holds them
    batch = 4                          # optional: the first N samples

    [params]                           # optional; default init = "uniform", seed = 0
    npz = "weights.npz"                # arrays named as in [mapping], in your layouts
    # init = "uniform"                 # or drawn with a scratchnet initializer ...
    # seed = 0                         # ... and converted to your layouts

A network of layers (conv, pooling, batch norm; `comparisons.doctor.layered`) is a [network]
table with ``input_shape``, ``layers`` (scratchnet's layer tables), ``loss``, ``reduction``,
``scale``, ``l2``, and each array mapped with ``kind = "param"``, ``param = "conv2d_0.K"``
(optional ``axes = [...]``, ``shape = [...]``); [data] then holds images, e.g. ``name =
"digits"``, ``as_images = true``.

The function gets ``(params, X, y)`` and returns ``(loss, {name: gradient})``; with ``step=True``
it returns the updated parameters (and may take ``lr``).
"""
from __future__ import annotations

import hashlib
import inspect
import importlib.util
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

import scratchnet as sn
from comparisons.doctor.diagnose import diagnose
from comparisons.doctor.layered import Param
from comparisons.doctor.layout import AugmentedWeight, Bias, NetworkLayout, Placement, Weight, canonical_mapping
from comparisons.doctor.result import DiagnosisResult
from comparisons.doctor.spec import DoctorInputError, NetSpec
from comparisons.doctor.usercode import UserCodeFailure, user_traceback

SPEC_FIELDS = ("sizes", "activations", "loss", "reduction", "scale", "bias", "l2", "l2_per")
LAYERED_NETWORK_KEYS = ("input_shape", "layers", "loss", "reduction", "scale", "l2")
TOP_LEVEL = SPEC_FIELDS + ("network", "samples_as_columns", "labels", "lr", "mapping", "data", "params")
L2_TABLE_KEYS = ("lambda", "per")
PLACEMENTS = {"weight": Weight, "bias": Bias, "augmented_weight": AugmentedWeight, "param": Param}
PLACEMENT_KEYS = {"weight": ("layer", "layout"), "bias": ("layer", "shape"),
                  "augmented_weight": ("layer", "layout", "bias_position", "bias_input"),
                  "param": ("param", "axes", "shape")}
DEFAULT_INIT = "uniform"


@dataclass(frozen=True)
class SpecFile:
    """A loaded doctor TOML: the network, your mapping, the batch, the parameters, and options."""

    spec: NetSpec | dict  # a dict: a network description with layers
    mapping: dict[str, Placement]
    X: np.ndarray
    y: np.ndarray
    params: dict[str, np.ndarray]
    samples_as_columns: bool
    lr: float | None
    labels: str | None = None


def _unknown_keys(where: str, table: Mapping[str, Any], known: tuple[str, ...]) -> None:
    unknown = [key for key in table if key not in known]
    if unknown:
        raise DoctorInputError(f"{where}: unknown key(s) {unknown} (known: {', '.join(known)})")


def load_spec_file(path: str | Path) -> SpecFile:
    """Read and validate a doctor TOML file (format in this module's docstring)."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            table = tomllib.load(handle)
    except FileNotFoundError:
        raise DoctorInputError(f"spec file {path} does not exist") from None
    except tomllib.TOMLDecodeError as error:
        raise DoctorInputError(f"spec file {path} is not valid TOML: {error}") from None
    _unknown_keys(str(path), table, TOP_LEVEL)
    network = table.get("network")
    if isinstance(network, dict) and "layers" in network:
        spec, mapping, X, y, params = _network_of_layers(path, table, network)
        return SpecFile(spec, mapping, X, y, params, False, _lr(path, table), None)
    if network is not None:
        if any(key in table for key in SPEC_FIELDS):
            raise DoctorInputError(f"{path}: put the network fields either at the top level or in [network], not both")
        _unknown_keys(f"{path} [network]", network, SPEC_FIELDS)
    fields = network if network is not None else {key: table[key] for key in SPEC_FIELDS if key in table}
    missing = [key for key in ("sizes", "activations") if key not in fields]
    if missing:
        raise DoctorInputError(f"{path}: the network needs {missing} (e.g. sizes = [2, 3, 1], activations = ['sigmoid', 'sigmoid'])")
    spec = NetSpec(**_l2_fields(path, fields))
    samples_as_columns = table.get("samples_as_columns", False)
    if not isinstance(samples_as_columns, bool):
        raise DoctorInputError(f"{path}: samples_as_columns must be true or false, got {samples_as_columns!r}")
    mapping = _mapping(path, table.get("mapping"))
    X, y = _data(path, table.get("data"), samples_as_columns)
    params = _params(path, table.get("params", {}), spec, mapping, samples_as_columns)
    labels = table.get("labels")
    if labels is not None and not isinstance(labels, str):
        raise DoctorInputError(f"{path}: labels must be \"one_hot\", \"zero_based\" or \"one_based\", got {labels!r}")
    return SpecFile(spec, mapping, X, y, params, samples_as_columns, _lr(path, table), labels)


def _lr(path: Path, table: Mapping[str, Any]) -> float | None:
    lr = table.get("lr")
    if lr is not None and (isinstance(lr, bool) or not isinstance(lr, (int, float))):
        raise DoctorInputError(f"{path}: lr must be a number, got {lr!r}")
    return None if lr is None else float(lr)


def _network_of_layers(path: Path, table: Mapping[str, Any], network: Mapping[str, Any]):
    """(network description, mapping, X, y, params) of a spec file whose [network] has layers
    (conv, pooling, batch norm: `comparisons.doctor.layered`)."""
    from comparisons.doctor.layered import LayerLayout, layer_network

    _unknown_keys(f"{path} [network]", network, LAYERED_NETWORK_KEYS)
    for key in ("samples_as_columns", "labels"):
        if table.get(key):
            raise DoctorInputError(f"{path}: {key} is for networks given by sizes; a network of layers takes X as "
                                   "(batch, channels, height, width) and y as (batch, outputs)")
    net = layer_network(network)
    mapping = _mapping(path, table.get("mapping"))
    X, y = _data(path, table.get("data"), False)
    options = table.get("params", {})
    if not isinstance(options, dict):
        raise DoctorInputError(f"{path}: [params] must be a table with npz = ... or init = ... and seed = ...")
    if "npz" in options:
        _unknown_keys(f"{path} [params]", options, ("npz",))
        return dict(network), mapping, X, y, _load_npz(path, options["npz"], None)
    _unknown_keys(f"{path} [params]", options, ("init", "seed"))
    try:
        drawn = sn.network_from_spec({**network, "dtype": "float64"}, init=options.get("init", DEFAULT_INIT),
                                     seed=options.get("seed", 0)).params
    except (TypeError, ValueError) as error:
        raise DoctorInputError(f"{path} [params]: {error}") from None
    return dict(network), mapping, X, y, LayerLayout.declared(net, mapping).to_user(drawn, parameters=True)


def _l2_fields(path: Path, fields: Mapping[str, Any]) -> dict[str, Any]:
    """The NetSpec fields with ``l2 = {lambda = 1.0, per = "2m"}`` spelled as ``l2``, ``l2_per``."""
    fields = dict(fields)
    l2 = fields.get("l2")
    if isinstance(l2, dict):
        _unknown_keys(f"{path} l2", l2, L2_TABLE_KEYS)
        if "lambda" not in l2 or "l2_per" in fields:
            raise DoctorInputError(f"{path}: write a per-sample L2 once, as l2 = {{lambda = 1.0, per = \"2m\"}} (Ng's "
                                   "lambda / (2 m)) or l2 = 1.0 with l2_per = \"2m\", not both")
        fields["l2"], fields["l2_per"] = l2["lambda"], l2.get("per", "2m")
    return fields


def _mapping(path: Path, table: Any) -> dict[str, Placement] | None:
    if table is None:
        return None
    if not isinstance(table, dict) or not table:
        raise DoctorInputError(f"{path}: [mapping] must hold one table per array, e.g. [mapping.W1] kind = \"weight\" layer = 0")
    mapping = {}
    for name, entry in table.items():
        where = f"{path} [mapping.{name}]"
        if not isinstance(entry, dict) or "kind" not in entry:
            raise DoctorInputError(f"{where}: needs kind = one of {', '.join(map(repr, PLACEMENTS))}")
        options = dict(entry)
        kind = options.pop("kind")
        if kind not in PLACEMENTS:
            raise DoctorInputError(f"{where}: unknown kind {kind!r} (valid: {', '.join(map(repr, PLACEMENTS))})")
        _unknown_keys(where, options, PLACEMENT_KEYS[kind])
        if kind == "param" and "param" not in options:
            raise DoctorInputError(f"{where}: needs param = the canonical parameter it holds, e.g. \"conv2d_0.K\"")
        if kind != "param" and "layer" not in options:
            raise DoctorInputError(f"{where}: needs layer = the weight-layer index (0 is nearest the input)")
        if "shape" in options and kind != "param":
            options["shape"] = tuple(options["shape"])
        try:
            mapping[name] = PLACEMENTS[kind](**options)
        except DoctorInputError as error:
            raise DoctorInputError(f"{where}: {error}") from None
    return mapping


def _resolve(path: Path, name: str) -> Path:
    candidate = Path(name)
    return candidate if candidate.is_absolute() else path.parent / candidate


def _load_npz(path: Path, file: str, keys: tuple[str, ...] | None) -> dict[str, np.ndarray]:
    location = _resolve(path, file)
    try:
        with np.load(location, allow_pickle=False) as archive:
            arrays = {key: np.array(archive[key]) for key in archive.files}
    except FileNotFoundError:
        raise DoctorInputError(f"{path}: npz file {location} does not exist") from None
    except ValueError as error:
        raise DoctorInputError(f"{path}: cannot read {location} without pickle ({error})") from None
    if keys:
        missing = [key for key in keys if key not in arrays]
        if missing:
            raise DoctorInputError(f"{path}: {location} has no {missing} (it holds {sorted(arrays)})")
    return arrays


def _data(path: Path, table: Any, samples_as_columns: bool) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(table, dict) or ("name" in table) == ("npz" in table):
        raise DoctorInputError(f"{path}: [data] needs either name = a scratchnet data set (e.g. \"xor\") or npz = a file with X and y")
    options = dict(table)
    batch = options.pop("batch", None)
    if batch is not None and (isinstance(batch, bool) or not isinstance(batch, int) or batch < 1):
        raise DoctorInputError(f"{path} [data]: batch must be a positive integer, got {batch!r}")
    if "npz" in options:
        _unknown_keys(f"{path} [data]", options, ("npz",))
        arrays = _load_npz(path, options["npz"], ("X", "y"))
        X, y = arrays["X"], arrays["y"]
        if batch is not None:
            m = X.shape[1] if samples_as_columns and X.ndim == 2 else X.shape[0]
            X = X[:, :batch] if samples_as_columns else X[:batch]
            y = y[:, :batch] if y.ndim == 2 and y.shape[1] == m and (samples_as_columns or y.shape[0] != m) else y[:batch]
        return X, y
    name = options.pop("name")
    try:
        dataset = sn.data.load(name, **options)
    except (TypeError, ValueError) as error:
        raise DoctorInputError(f"{path} [data]: {error}") from None
    X, y = dataset.X[:batch], dataset.y[:batch]
    return (X.T.copy(), y.T.copy()) if samples_as_columns else (X, y)


def _params(path: Path, table: Any, spec: NetSpec, mapping: Mapping[str, Placement] | None, samples_as_columns: bool) -> dict[str, np.ndarray]:
    if not isinstance(table, dict):
        raise DoctorInputError(f"{path}: [params] must be a table with npz = ... or init = ... and seed = ...")
    if "npz" in table:
        _unknown_keys(f"{path} [params]", table, ("npz",))
        return _load_npz(path, table["npz"], None)
    _unknown_keys(f"{path} [params]", table, ("init", "seed"))
    shapes = {}
    placements = canonical_mapping(spec) if mapping is None else mapping
    for name, placement in placements.items():
        if placement.layer < spec.n_layers:
            shapes[name] = placement.default_shape(*spec.fans(placement.layer), samples_as_columns)
    layout = NetworkLayout(spec, mapping, shapes)
    net = spec.build()
    try:
        canonical = sn.init.initialize(table.get("init", DEFAULT_INIT), net.sizes, net.activations, net.bias, np.float64,
                                       table.get("seed", 0))
    except (TypeError, ValueError) as error:
        raise DoctorInputError(f"{path} [params]: {error}") from None
    return layout.to_user(canonical, parameters=True)


def diagnose_file(path: str | Path, function_name: str, spec_path: str | Path, step: bool = False,
                  lr: float | None = None) -> DiagnosisResult:
    """Diagnose `function_name` from the Python file `path` with the TOML spec `spec_path`.

    `step=True`: the function is update-only, ``(params, X, y[, lr]) -> new params``; `lr`
    (or the spec's ``lr``) is its learning rate. Import errors in the file come back in
    `result.error` like any failure of user code.
    """
    loaded = load_spec_file(spec_path)
    lr = loaded.lr if lr is None else lr
    if step and lr is None:
        raise DoctorInputError("a step function needs its learning rate: pass lr= or set lr = ... in the spec file")
    module, failure = _import_user_file(Path(path))
    if failure is not None:
        return DiagnosisResult(ok=False, culprit=None, findings=[], mode="step_fn" if step else "grad_fn",
                               network=loaded.spec.describe() if isinstance(loaded.spec, NetSpec) else "a network of layers",
                               reference="not computed", batch_size=0, error=failure)
    function = getattr(module, function_name, None)
    if not callable(function):
        defined = sorted(n for n, v in vars(module).items() if inspect.isfunction(v) and v.__module__ == module.__name__)
        raise DoctorInputError(f"{path} defines no function {function_name!r} (it defines: {', '.join(defined) or 'none'})")
    kwargs = {"step_fn": function, "lr": lr} if step else {"grad_fn": function, "lr": lr}
    return diagnose(loaded.spec, loaded.params, loaded.X, loaded.y, mapping=loaded.mapping,
                    samples_as_columns=loaded.samples_as_columns, labels=loaded.labels, **kwargs)


def _import_user_file(path: Path):
    """Import the user's file with its folder on sys.path meanwhile. A file inside a package
    (its folder has ``__init__.py``, as cs231n's ``assignment2/cs231n/layers.py``) is imported
    under its dotted name (``cs231n.layers``) with the package's parent folder on sys.path, so
    its ``from cs231n.im2col import *`` and relative imports work; any other file under a
    private module name."""
    if not path.is_file():
        raise DoctorInputError(f"{path} is not a file")
    path = path.resolve()
    root, parts = path.parent, [path.stem]
    while (root / "__init__.py").is_file():
        parts.insert(0, root.name)
        root = root.parent
    loaded = sys.modules.get(parts[0])
    if loaded is not None and not str(getattr(loaded, "__file__", "") or "").startswith(str(root / parts[0])):
        parts = [path.stem]  # a package of that name from elsewhere is in use: never shadow it
    folders = [str(path.parent)] + ([str(root)] if len(parts) > 1 else [])
    sys.path[:0] = folders
    try:
        if len(parts) > 1:
            module = importlib.import_module(".".join(parts))
        else:
            digest = hashlib.sha1(str(path).encode()).hexdigest()[:12]
            spec = importlib.util.spec_from_file_location(f"_doctor_user_{path.stem}_{digest}", path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
    except Exception as error:  # user code: reported, not raised
        return None, UserCodeFailure(f"importing {path}", "exception", f"{type(error).__name__}: {error}", user_traceback(error))
    finally:
        for folder in folders:
            if folder in sys.path:
                sys.path.remove(folder)
    return module, None
