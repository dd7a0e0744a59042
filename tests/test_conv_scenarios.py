"""Scenarios with a layer list: the [network] section (input_shape + layers), its errors, the
image data check, and the full-batch methods on conv networks (TNC / L-BFGS through flat
parameters on any network; LM on networks whose layers act on each sample separately). The
catalog's conv scenarios run in tests/test_parity_catalog.py."""
from __future__ import annotations

import copy

import numpy as np
import pytest

import scratchnet as sn
from comparisons import runner
from comparisons.spec import Scenario, SpecError

CNN = {
    "name": "tiny-cnn",
    "network": {"input_shape": [1, 8, 8], "layers": [
        {"type": "conv2d", "filters": 2, "kernel_size": 3, "padding": 1, "activation": "relu"},
        {"type": "max_pool2d", "pool_size": 2},
        {"type": "flatten"},
        {"type": "dropout", "rate": 0.25},
        {"type": "dense", "units": 10, "activation": "softmax"},
    ]},
    "loss": {"name": "categorical_cross_entropy", "reduction": "batch_mean"},
    "optimizer": {"name": "sgd", "lr": 0.1},
    "data": {"name": "digits", "as_images": True, "n_samples": 60},
    "run": {"steps": 3, "batch_size": 20, "seed": 5},
}


def spec(**changes):
    raw = copy.deepcopy(CNN)
    for dotted, value in changes.items():
        section, _, key = dotted.partition(".")
        if key:
            raw[section][key] = value
        else:
            raw[section] = value
    return raw


def test_a_layer_list_scenario_builds_its_network():
    scenario = Scenario.from_dict(CNN)
    net = scenario.build_network()
    assert type(net) is sn.Network and net.input_shape == (1, 8, 8)
    assert list(net.params) == ["conv2d_0.K", "conv2d_0.b", "dense_4.W", "dense_4.b"]
    assert net.layers[3].seed == 5  # dropout masks follow run.seed
    assert "sizes" not in scenario.network and Scenario.from_dict(scenario.to_dict()).network == scenario.network
    assert "input_shape" not in Scenario.from_dict({**spec(network={"sizes": [2, 1], "activations": ["sigmoid"]}),
                                                    "data": {"name": "xor"}}).network  # MLPs keep their form


@pytest.mark.parametrize("changes, problems", [
    ({"network.layers": [{"type": "conv2d", "filters": 2, "kernel_size": 9}, {"type": "flatten"}, {"type": "dense", "units": 10}]},
     [r"network.layers\[0\] \(conv2d\): the 9x9 kernel does not fit the input 8x8 padded to 8x8"]),
    ({"network.layers": [{"type": "max_pool2d", "pool_size": 9}, {"type": "flatten"}, {"type": "dense", "units": 10}]},
     [r"network.layers\[0\] \(max_pool2d\): the 9x9 pool is larger than its input 8x8"]),
    ({"network.layers": [{"type": "conv2d", "filters": 2, "kernel_size": 3, "padding": "full"}, {"type": "pool"},
                         {"type": "dense", "units": 10, "activation": "softmax"}], "network.input_shape": [0, 8]},
     [r"network.input_shape: input_shape\[0\] must be a positive integer, got 0",
      r"network.layers\[0\]: padding must be 'valid', 'same', an integer >= 0 or a pair",
      r"network.layers\[1\]: unknown layer type 'pool'"]),
    ({"network.layers": [{"type": "conv2d", "filters": 2, "kernel_size": 3}, {"type": "dense", "units": 10}]},
     [r"network.layers\[1\] \(dense\): a dense layer takes flat samples \(features,\), got input shape \(2, 6, 6\); flatten"]),
    ({"network.sizes": [64, 10]}, [r"network.sizes: a network with layers takes input_shape \+ layers"]),
    ({"network.input_shape": None}, [r"network.input_shape: required with layers"]),
    ({"network.layers": []}, [r"network.layers: must be a non-empty list of layer tables"]),
    ({"optimizer": {"name": "lm"}, "loss": {"name": "squared_error"}, "run.batch_size": None, "run.backends": ["scratchnet", "torch"],
      "network.layers": [{"type": "flatten"}, {"type": "batch_norm"}, {"type": "dense", "units": 10}]},
     [r"optimizer.name: lm needs layers that act on each sample separately .* batch_norm in training mode couples"]),
])
def test_bad_layer_specs_name_every_problem(changes, problems):
    with pytest.raises(SpecError) as caught:
        Scenario.from_dict(spec(**changes))
    import re
    assert len(caught.value.problems) == len(problems), caught.value.problems
    for pattern in problems:
        assert any(re.search(pattern, problem) for problem in caught.value.problems), (pattern, caught.value.problems)


def test_data_that_does_not_fit_the_input_shape_is_named_with_the_fix():
    with pytest.raises(SpecError, match=r"network.input_shape is \[1, 8, 8\] but data 'digits' has samples of shape \[64\] "
                                        r"\(the same number of values: for the digits set use data.as_images = true"):
        runner.run(Scenario.from_dict(spec(data={"name": "digits", "n_samples": 60})), backends=["scratchnet"])
    mlp = {**spec(network={"sizes": [64, 10], "activations": ["softmax"]})}
    with pytest.raises(SpecError, match=r"network.sizes\[0\] is 64 but data 'digits' has image samples of shape \[1, 8, 8\]"):
        runner.run(Scenario.from_dict(mlp), backends=["scratchnet"])


def test_a_conv_scenario_with_dropout_runs_exactly_against_torch():
    pytest.importorskip("torch", reason="needs torch: pip install -e '.[torch]'")
    comparison = runner.run(Scenario.from_dict(CNN), backends=["scratchnet", "torch"], mode="free")
    assert comparison.passed and not comparison.failures, comparison.first_divergence
    assert comparison.diffs.max_rel.max() < 1e-13


@pytest.mark.parametrize("method", ["lbfgs", "tnc"])
def test_full_batch_minimizers_work_on_any_network_through_flat_parameters(method):
    pytest.importorskip("torch", reason="needs torch: pip install -e '.[torch]'")
    layers = [{"type": "conv2d", "filters": 2, "kernel_size": 3, "bias": False}, {"type": "batch_norm"},
              {"type": "avg_pool2d", "pool_size": 2}, {"type": "flatten"}, {"type": "dropout", "rate": 0.2},
              {"type": "dense", "units": 10, "activation": "softmax"}]
    raw = spec(**{"network.layers": layers, "optimizer": {"name": method}, "run.batch_size": None,
                  "run.backends": ["scratchnet", "torch"], "run.steps": 4})
    comparison = runner.run(Scenario.from_dict(raw), mode="anchored")
    assert comparison.passed and not comparison.failures, comparison.first_divergence
    assert comparison.steps_completed >= 3


def test_levenberg_marquardt_on_a_conv_network():
    pytest.importorskip("torch", reason="needs torch: pip install -e '.[torch]'")
    layers = [{"type": "conv2d", "filters": 2, "kernel_size": 3, "stride": 2, "padding": "same", "activation": "tanh"},
              {"type": "max_pool2d", "pool_size": 2}, {"type": "flatten"}, {"type": "dense", "units": 10}]
    raw = spec(**{"network.layers": layers, "loss": {"name": "squared_error"}, "optimizer": {"name": "lm", "epochs": 3},
                  "run.batch_size": None, "run.backends": ["scratchnet", "torch"], "run.steps": 3,
                  "data": {"name": "digits", "as_images": True, "n_samples": 12}})
    comparison = runner.run(Scenario.from_dict(raw), mode="anchored")
    assert comparison.passed and not comparison.failures, comparison.first_divergence
    assert np.isfinite(comparison.losses.to_numpy()).all()
