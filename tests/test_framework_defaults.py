"""scratchnet's optimizer defaults against the frameworks' own, read from the frameworks.

* `convention="keras"` defaults == the `keras.optimizers.<Class>.__init__` signature defaults,
  `convention="torch"` defaults == the `torch.optim.<Class>.__init__` signature defaults, option
  by option. Options one side has and the other lacks, and defaults that differ in form only,
  are listed below as explicit, commented exceptions (their framework default is checked too).
* `convention="optax"` defaults == the signature defaults of the optax aliases the jax backend
  builds (`optax.sgd`, `adam`, `adamw`, `rmsprop`, `adagrad`; `optax.add_decayed_weights` for the
  chained weight decay), optax's required learning rate required in scratchnet too.
* The references take the defaults of options a scenario leaves out from their framework, never
  from scratchnet (the code under test): with scratchnet's defaults sabotaged, the Keras, torch
  and jax backends still build exactly the framework-default optimizers.

A missing framework skips its tests with the reason (the backend's install hint).
"""
from __future__ import annotations

import inspect
import os

import numpy as np
import pytest

# As reference.keras_backend.import_keras does, before anything imports TensorFlow.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import reference  # noqa: E402
import scratchnet as sn  # noqa: E402
from optim_support import problem  # noqa: E402
from reference.protocol import MissingFramework  # noqa: E402

CLASSES = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW", "rmsprop": "RMSprop", "adagrad": "Adagrad"}
OPTIMIZERS = sorted(CLASSES)

# scratchnet option -> framework keyword; (keyword, index) for one element of a tuple default.
# Written out here, independently of the backends' own tables, so that a wrong table shows.
TORCH_KEYWORDS = {
    "lr": "lr", "momentum": "momentum", "dampening": "dampening", "nesterov": "nesterov",
    "weight_decay": "weight_decay", "beta_1": ("betas", 0), "beta_2": ("betas", 1), "epsilon": "eps",
    "amsgrad": "amsgrad", "rho": "alpha", "centered": "centered",
    "initial_accumulator_value": "initial_accumulator_value",
}
KERAS_KEYWORDS = {
    "lr": "learning_rate", "momentum": "momentum", "nesterov": "nesterov", "weight_decay": "weight_decay",
    "beta_1": "beta_1", "beta_2": "beta_2", "epsilon": "epsilon", "amsgrad": "amsgrad", "rho": "rho",
    "centered": "centered", "initial_accumulator_value": "initial_accumulator_value",
}

# Defaults that differ in form only: (optimizer, option) -> (framework default, scratchnet default).
KERAS_SAME_EFFECT = {
    # Keras' weight_decay=None means "no weight decay" (base_optimizer.py::_apply_weight_decay
    # returns at once); scratchnet's 0.0 is the same no-op (it skips the decay when it is 0).
    # Keras' AdamW has a real default (0.004), compared like any other.
    ("sgd", "weight_decay"): (None, 0.0),
    ("adam", "weight_decay"): (None, 0.0),
    ("rmsprop", "weight_decay"): (None, 0.0),
    ("adagrad", "weight_decay"): (None, 0.0),
}
TORCH_SAME_EFFECT: dict[tuple[str, str], tuple] = {}  # none: every torch default is compared as is

# Framework options scratchnet does not have, each with the default it must keep: scratchnet
# always behaves as that default, so scratchnet's behaviour is the framework's default behaviour.
_TORCH_COMMON = {
    "maximize": False,  # minimise, as scratchnet always does
    "foreach": None,  # implementation path only; None picks the single-tensor path on CPU (the backend forces foreach=False)
    "differentiable": False,  # autograd through step(); no effect on the values
}
TORCH_ONLY = {
    "sgd": {**_TORCH_COMMON, "fused": None},  # fused kernels: implementation path only
    "adam": {**_TORCH_COMMON, "fused": None, "capturable": False,  # capturable: CUDA graphs only
             "decoupled_weight_decay": False},  # scratchnet's decoupled Adam is its own class, AdamW
    "adamw": {**_TORCH_COMMON, "fused": None, "capturable": False},
    "rmsprop": {**_TORCH_COMMON, "capturable": False},
    "adagrad": {**_TORCH_COMMON, "fused": None,
                "lr_decay": 0},  # lr / (1 + (t - 1) lr_decay): scratchnet implements only no decay
}
_KERAS_BASE = {  # keras/src/optimizers/base_optimizer.py::BaseOptimizer.__init__, all "off"
    "clipnorm": None, "clipvalue": None, "global_clipnorm": None,  # no gradient clipping
    "use_ema": False, "ema_momentum": 0.99, "ema_overwrite_frequency": None,  # no EMA (momentum unused then)
    "loss_scale_factor": None,  # no loss scaling
    "gradient_accumulation_steps": None,  # a step on every apply
    "name": None,  # a label
}
KERAS_ONLY = {name: dict(_KERAS_BASE) for name in OPTIMIZERS}


def _torch():
    from reference.torch_backend import import_torch

    try:
        return import_torch()
    except MissingFramework as error:
        pytest.skip(str(error))


def _keras():
    try:
        from reference.keras_backend import import_keras

        return import_keras()[0]
    except (MissingFramework, ImportError) as error:
        pytest.skip(str(error))


def scratchnet_class(name: str) -> type:
    return type(sn.optim.get(name))


def signature_defaults(cls) -> dict:
    """Keyword -> default of a constructor; parameters without a default (params) left out."""
    return {name: parameter.default for name, parameter in inspect.signature(cls.__init__).parameters.items()
            if parameter.default is not inspect.Parameter.empty}


def framework_default(defaults: dict, keyword):
    if isinstance(keyword, tuple):
        keyword, index = keyword
        return defaults[keyword][index]
    return defaults[keyword]


def assert_same_default(where: str, option: str, scratchnet_value, framework_value) -> None:
    if isinstance(framework_value, bool) or isinstance(scratchnet_value, bool):
        assert isinstance(scratchnet_value, bool) and isinstance(framework_value, bool), (where, option)
        assert scratchnet_value is framework_value, f"{where} {option}: scratchnet {scratchnet_value!r}, framework {framework_value!r}"
    else:
        assert framework_value is not None, f"{where} {option}: framework default is None, scratchnet {scratchnet_value!r}"
        assert float(scratchnet_value) == float(framework_value), (
            f"{where} {option}: scratchnet {scratchnet_value!r}, framework {framework_value!r}")


def check_defaults(name: str, convention: str, framework_defaults: dict, keywords: dict, same_effect: dict,
                   only: dict, where: str) -> None:
    scratchnet_defaults = sn.optim.get(name, convention=convention).options
    assert scratchnet_defaults == scratchnet_class(name).defaults[convention]  # what the class declares
    mapped = set()
    for option, value in scratchnet_defaults.items():
        assert option in keywords, f"{where}: scratchnet option {option!r} has no framework keyword in this test"
        keyword = keywords[option]
        mapped.add(keyword[0] if isinstance(keyword, tuple) else keyword)
        expected = framework_default(framework_defaults, keyword)
        if (name, option) in same_effect:
            assert (expected, value) == same_effect[(name, option)], (where, option)
            continue
        assert_same_default(where, option, value, expected)
    # every framework option is either compared above or an explicit exception
    assert set(framework_defaults) - mapped == set(only), f"{where}: uncompared framework options"
    for keyword, value in only.items():
        assert framework_defaults[keyword] == value and type(framework_defaults[keyword]) is type(value), (where, keyword)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_keras_convention_defaults_are_keras_defaults(name):
    keras = _keras()
    cls = getattr(keras.optimizers, CLASSES[name])
    check_defaults(name, "keras", signature_defaults(cls), KERAS_KEYWORDS, KERAS_SAME_EFFECT, KERAS_ONLY[name],
                   f"keras.optimizers.{cls.__name__}")


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_torch_convention_defaults_are_torch_defaults(name):
    torch = _torch()
    cls = getattr(torch.optim, CLASSES[name])
    check_defaults(name, "torch", signature_defaults(cls), TORCH_KEYWORDS, TORCH_SAME_EFFECT, TORCH_ONLY[name],
                   f"torch.optim.{cls.__name__}")


def _sabotaged(defaults: dict) -> dict:
    """Every default changed (still valid): a reference that reads them would show it."""
    return {key: (not value) if isinstance(value, bool) else (value / 2 if value else 0.25)
            for key, value in defaults.items()}


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_keras_backend_takes_its_defaults_from_keras(name, monkeypatch):
    keras = _keras()
    cls = scratchnet_class(name)
    monkeypatch.setitem(cls.defaults, "keras", _sabotaged(cls.defaults["keras"]))
    spec, _, _ = problem(name, {})
    optimizer = reference.create("keras", spec).optimizer
    defaults = signature_defaults(getattr(keras.optimizers, CLASSES[name]))
    learning_rate = optimizer.learning_rate
    assert learning_rate.dtype == "float64"
    assert float(learning_rate.numpy()) == defaults["learning_rate"]  # exact: no float32 rounding
    for option in cls.defaults["keras"]:
        keyword = KERAS_KEYWORDS[option]
        if keyword == "learning_rate":
            continue
        value, default = getattr(optimizer, keyword), defaults[keyword]
        if default is None or isinstance(default, bool):
            assert value is default, (keyword, value, default)
        else:  # passed explicitly as np.float64, so TF's cast keeps it exact
            assert type(value) is np.float64 and value == default, (keyword, type(value), value, default)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_torch_backend_passes_only_the_scenario_options(name, monkeypatch):
    torch = _torch()
    cls = scratchnet_class(name)
    monkeypatch.setitem(cls.defaults, "torch", _sabotaged(cls.defaults["torch"]))
    spec, _, _ = problem(name, {"lr": 0.05})
    group = reference.create("torch", spec).optimizer.param_groups[0]
    parameter = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    expected = getattr(torch.optim, CLASSES[name])([parameter], lr=0.05, foreach=False).param_groups[0]
    assert {k: v for k, v in group.items() if k != "params"} == {k: v for k, v in expected.items() if k != "params"}


@pytest.mark.parametrize("name", ["adam", "adamw"])
@pytest.mark.parametrize("option, index", [("beta_1", 0), ("beta_2", 1)])
def test_torch_backend_completes_a_lone_beta_from_torch(name, option, index, monkeypatch):
    """A scenario setting one of beta_1 / beta_2 gets the other from torch's own `betas`
    default (here changed in torch's signature, as a new torch release could)."""
    torch = _torch()
    init = getattr(torch.optim, CLASSES[name]).__init__
    defaults = list(init.__defaults__)
    position = list(inspect.signature(init).parameters)[2:].index("betas")  # after self, params
    assert defaults[position] == (0.9, 0.999)
    defaults[position] = (0.85, 0.995)
    monkeypatch.setattr(init, "__defaults__", tuple(defaults))
    spec, _, _ = problem(name, {option: 0.5})
    betas = reference.create("torch", spec).optimizer.param_groups[0]["betas"]
    expected = [0.85, 0.995]
    expected[index] = 0.5
    assert tuple(betas) == tuple(expected)


# ---------------------------------------------------------------------------------------- optax
# scratchnet's `convention="optax"` defaults == the signature defaults of the optax aliases
# (optax/_src/alias.py) the jax backend builds, option by option. `weight_decay` of every
# optimizer but AdamW is optax's chained `add_decayed_weights` (optax/transforms/_adding.py), so its
# default is that function's. optax has no default learning rate: both sides require it.
OPTAX_KEYWORDS = {  # scratchnet option -> (optax function, keyword)
    "sgd": {"lr": ("sgd", "learning_rate"), "momentum": ("sgd", "momentum"), "nesterov": ("sgd", "nesterov"),
            "weight_decay": ("add_decayed_weights", "weight_decay")},
    "adam": {"lr": ("adam", "learning_rate"), "beta_1": ("adam", "b1"), "beta_2": ("adam", "b2"),
             "epsilon": ("adam", "eps"), "eps_root": ("adam", "eps_root"),
             "weight_decay": ("add_decayed_weights", "weight_decay")},
    "adamw": {"lr": ("adamw", "learning_rate"), "beta_1": ("adamw", "b1"), "beta_2": ("adamw", "b2"),
              "epsilon": ("adamw", "eps"), "eps_root": ("adamw", "eps_root"), "weight_decay": ("adamw", "weight_decay")},
    "rmsprop": {"lr": ("rmsprop", "learning_rate"), "rho": ("rmsprop", "decay"), "epsilon": ("rmsprop", "eps"),
                "momentum": ("rmsprop", "momentum"), "centered": ("rmsprop", "centered"),
                "eps_in_sqrt": ("rmsprop", "eps_in_sqrt"), "initial_scale": ("rmsprop", "initial_scale"),
                "weight_decay": ("add_decayed_weights", "weight_decay")},
    "adagrad": {"lr": ("adagrad", "learning_rate"), "initial_accumulator_value": ("adagrad", "initial_accumulator_value"),
                "epsilon": ("adagrad", "eps"), "weight_decay": ("add_decayed_weights", "weight_decay")},
}
OPTAX_SAME_EFFECT = {
    # optax's momentum=None means "no trace" (alias.py::sgd / rmsprop use base.identity()); scratchnet's
    # 0.0 takes plain steps too (and the jax backend passes 0 as None).
    ("sgd", "momentum"): (None, 0.0),
    ("rmsprop", "momentum"): (None, 0.0),
}
# scratchnet options the optax aliases lack: amsgrad=True selects optax.amsgrad (Adam) or
# scale_by_amsgrad in adamw's chain; False (scratchnet's default) is the plain alias. dampening:
# optax's trace has none, and only 0 (no dampening) can step in the optax convention.
OPTAX_SCRATCHNET_ONLY = {("adam", "amsgrad"): False, ("adamw", "amsgrad"): False, ("sgd", "dampening"): 0.0}
# optax options scratchnet does not have, each with the default scratchnet's behaviour equals.
OPTAX_ONLY = {
    "sgd": {"accumulator_dtype": None},  # the trace keeps the parameters' dtype
    "adam": {"mu_dtype": None, "nesterov": False},  # mu in the parameters' dtype; no NAdam
    "adamw": {"mu_dtype": None, "mask": None, "nesterov": False},  # decay on every parameter
    "rmsprop": {"nesterov": False, "bias_correction": False},
    "adagrad": {},
}


def _optax():
    try:
        from reference.jax_backend import import_jax

        return import_jax()[1]
    except MissingFramework as error:
        pytest.skip(str(error))


def function_defaults(function) -> dict:
    return {name: parameter.default for name, parameter in inspect.signature(function).parameters.items()
            if parameter.default is not inspect.Parameter.empty}


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_optax_convention_defaults_are_optax_defaults(name):
    optax = _optax()
    declared = scratchnet_class(name).defaults["optax"]
    alias = getattr(optax, name)
    compared = set()
    for option, value in declared.items():
        if (name, option) in OPTAX_SCRATCHNET_ONLY:
            expected = OPTAX_SCRATCHNET_ONLY[(name, option)]
            assert value == expected and type(value) is type(expected), (name, option)
            continue
        function_name, keyword = OPTAX_KEYWORDS[name][option]
        function = getattr(optax, function_name)
        parameters = inspect.signature(function).parameters
        assert keyword in parameters, f"optax.{function_name} has no {keyword!r}"
        default = parameters[keyword].default
        if function is alias:
            compared.add(keyword)
        if default is inspect.Parameter.empty:  # required in optax: required in scratchnet
            assert value is None, f"optax.{function_name}({keyword}) is required, scratchnet defaults {option}={value!r}"
            with pytest.raises(TypeError, match=f"{option} is required in the optax convention"):
                sn.optim.get(name, convention="optax").step({"w": np.ones(2)}, {"w": np.ones(2)})
            continue
        if (name, option) in OPTAX_SAME_EFFECT:
            assert (default, value) == OPTAX_SAME_EFFECT[(name, option)], (name, option)
            continue
        assert_same_default(f"optax.{function_name}", option, value, default)
    assert sn.optim.get(name, convention="optax", lr=0.1).options == {**declared, "lr": 0.1}
    uncompared = set(inspect.signature(alias).parameters) - compared  # every alias option compared or listed
    assert uncompared == set(OPTAX_ONLY[name]), f"optax.{name}: uncompared options {sorted(uncompared)}"
    defaults = function_defaults(alias)
    for keyword, value in OPTAX_ONLY[name].items():
        assert defaults[keyword] == value and type(defaults[keyword]) is type(value), (name, keyword)
    if name in ("adam", "adamw"):  # amsgrad=True gets optax.amsgrad's / scale_by_amsgrad's defaults: the same
        for other in (optax.amsgrad, optax.scale_by_amsgrad):
            other_defaults = function_defaults(other)
            for keyword in ("b1", "b2", "eps", "eps_root"):
                assert other_defaults[keyword] == defaults[keyword], (other.__name__, keyword)


def _one_update(optax, transform, seed=0):
    """The update of `transform` for fixed random gradients and parameters (two steps)."""
    import jax.numpy as jnp

    rng = np.random.default_rng(seed)
    params = {"w": jnp.asarray(rng.normal(size=(3, 4)))}
    state = transform.init(params)
    for _ in range(2):
        grads = {"w": jnp.asarray(rng.normal(size=(3, 4)))}
        updates, state = transform.update(grads, state, params)
        params = optax.apply_updates(params, updates)
    return np.asarray(params["w"])


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_jax_backend_takes_its_defaults_from_optax(name, monkeypatch):
    """With scratchnet's optax defaults sabotaged, the jax backend still builds optax's own
    default optimizer (only the scenario's lr is passed)."""
    optax = _optax()
    from reference.jax_backend import build_optimizer
    from reference.protocol import OptimizerSpec

    cls = scratchnet_class(name)
    sabotaged = _sabotaged({key: value for key, value in cls.defaults["optax"].items() if value is not None})
    monkeypatch.setitem(cls.defaults, "optax", {**cls.defaults["optax"], **sabotaged})
    built = build_optimizer(optax, OptimizerSpec(name, {"lr": 0.05}))
    expected = getattr(optax, name)(learning_rate=0.05)
    np.testing.assert_array_equal(_one_update(optax, built), _one_update(optax, expected))
