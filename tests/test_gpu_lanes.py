"""The GPU lanes `torch_cuda` and `jax_cuda`: further references where CUDA exists, TF32 off and
float64 kept. Without a GPU (this project's CI) building one fails with the reason and the run's
other lanes go on; with one, the lanes hold anchored float64 parity with scratchnet."""
from __future__ import annotations

import numpy as np
import pytest

import comparisons
import reference
from reference.protocol import OptimizerSpec, Problem

torch = pytest.importorskip("torch", reason="needs torch: pip install -e '.[torch]'")


def _jax_has_cuda() -> bool:
    try:
        import jax

        return bool(jax.devices("cuda"))
    except Exception:  # no jax, or a CPU-only jaxlib
        return False


GPU = torch.cuda.is_available()
NO_GPU = "no CUDA device here: the GPU lanes need an NVIDIA GPU and CUDA builds of torch / jaxlib"


def test_both_lanes_are_registered_and_say_what_they_set():
    for name, convention in (("torch_cuda", "torch"), ("jax_cuda", "optax")):
        info = reference.get(name)
        assert info.convention == convention and info.settings["device"] == "cuda"
    assert reference.get("torch_cuda").settings["cuda_matmul_fp32_precision"] == "ieee (no TF32)"


def test_the_device_is_checked_and_cpu_is_the_same_backend():
    from reference.torch_backend import TorchBackend
    import scratchnet as sn

    net = sn.MLP([2, 3, 1], ["tanh", "sigmoid"], seed=0)
    problem = Problem(net.spec(), net.params, OptimizerSpec("sgd", {"lr": 0.5, "momentum": 0.9}))
    with pytest.raises(ValueError, match=r"unknown device 'tpu' for the torch backend \(valid: cpu, cuda\)"):
        TorchBackend(problem, device="tpu")
    X, y = sn.data.xor().X, sn.data.xor().y
    default, cpu = TorchBackend(problem), TorchBackend(problem, device="cpu")
    for _ in range(3):
        a, b = default.step(X, y), cpu.step(X, y)
        assert a.loss == b.loss and all(np.array_equal(a.params[k], b.params[k]) for k in a.params)


@pytest.mark.skipif(GPU, reason="a CUDA device exists here (the GPU test below runs instead)")
def test_without_a_gpu_the_lanes_fail_with_the_reason_and_the_others_go_on():
    result = comparisons.run("xor-sigmoid-sgd", backends=["scratchnet", "torch", "torch_cuda", "jax_cuda"], steps=3,
                             mode="anchored")
    assert "sees no CUDA device; install a CUDA build of torch" in result.failures["torch_cuda"].error
    if "jax_cuda" in result.failures:  # without JAX installed it is a MissingFramework, with it a device error
        assert "cuda" in result.failures["jax_cuda"].error.lower()
    rows = result.diffs[result.diffs.backend == "scratchnet"]
    assert len(rows) and rows.passed.all() and not result.passed


@pytest.mark.skipif(not GPU, reason=NO_GPU)
@pytest.mark.parametrize("scenario", ["xor-sigmoid-sgd", "digits-cnn-adam"])
def test_on_a_gpu_the_lanes_hold_anchored_float64_parity(scenario):
    backends = ["scratchnet", "torch", "torch_cuda"] + (["jax_cuda"] if _jax_has_cuda() else [])
    result = comparisons.run(scenario, backends=backends, mode="anchored", steps=5)
    assert not result.failures, result.failures
    assert result.passed, result.verdict()
    assert torch.backends.cuda.matmul.fp32_precision == "ieee" and torch.backends.cudnn.conv.fp32_precision == "ieee"
