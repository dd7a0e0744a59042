"""Reference backends: PyTorch, Keras (TensorFlow), JAX/optax and scratchnet behind one protocol, in one registry.

Frameworks are imported lazily, inside their own module only. `create(name, problem)` builds a
registered backend by name; a missing framework raises `MissingFramework` naming the extra to
install. `register(BackendInfo(...))` adds a backend (see `reference.registry`). ``torch_cuda`` and
``jax_cuda`` are the GPU lanes (TF32 off, float64 kept): where no CUDA device exists, building one
fails with the reason and the other lanes of the run go on.
"""
from __future__ import annotations

from reference.protocol import Backend, MissingFramework, OptimizerSpec, Problem, StepRecord
from reference.registry import BackendInfo, create, get, names, register, twin_name, unregister, with_jacobian
from reference.jax_backend import cuda_backend_info as jax_cuda_backend_info  # imports no JAX until a backend is built
from reference.torch_backend import CUDA_SETTINGS  # imports no torch (torch is imported when a backend is built)


def _jax_settings(jit: bool) -> dict:
    from reference.jax_backend import NOJIT_SETTINGS, SETTINGS  # imports no JAX (JAX is imported when a backend is built)

    return dict(SETTINGS if jit else NOJIT_SETTINGS)


register(BackendInfo(
    "scratchnet", convention="torch", factory="reference.scratchnet_backend:ScratchnetBackend",
    packages=("numpy", "scipy"),
    settings={"optimizer_conventions": "torch | keras | optax (scratchnet.optim, operation for operation)"},
    description="the NumPy network under test (follows the reference's optimizer convention)",
    jacobian="reference.scratchnet_backend:jacobian_provider",
))
register(BackendInfo(
    "torch", convention="torch", factory="reference.torch_backend:TorchBackend",
    packages=("torch",),
    settings={"torch_optimizer_path": "single-tensor (foreach=False)", "torch_dtype": "problem dtype (float64 exact)",
              "OMP_WAIT_POLICY": "PASSIVE before torch's first import unless set (idle OpenMP threads sleep)"},
    description="PyTorch nn.Linear stack, torch.optim, autograd",
    jacobian="reference.torch_jacobian:jacobian_provider",
))
register(BackendInfo(
    "torch_cuda", convention="torch", factory="reference.torch_backend:TorchCudaBackend",
    packages=("torch",),
    settings={"torch_optimizer_path": "single-tensor (foreach=False)", "torch_dtype": "problem dtype (float64 exact)",
              **CUDA_SETTINGS},
    description="the torch backend on an NVIDIA GPU (CUDA), TF32 off: a further reference where a GPU exists",
))
register(BackendInfo(
    "keras", convention="keras", factory="reference.keras_backend:KerasBackend",
    packages=("tensorflow-cpu", "tensorflow", "keras"),
    settings={"KERAS_BACKEND": "tensorflow", "TF_ENABLE_ONEDNN_OPTS": "0", "tf_op_determinism": True,
              "tf_threads": "intra/inter-op 1", "keras_hyperparameters": "np.float64",
              "keras_step": "tf.function (graph mode, no XLA)", "keras_l2": "float64-exact regularizer"},
    description="Keras 3 Sequential of Dense layers on TensorFlow, keras.optimizers",
))

register(BackendInfo(
    "jax", convention="optax", factory="reference.jax_backend:JaxBackend",
    packages=("jax", "jaxlib", "optax"), settings=_jax_settings(jit=True),
    description="JAX (jax.nn, optax.losses, jax.value_and_grad) with optax optimizers, float64, jit on",
    jacobian="reference.jax_backend:jacobian_provider",
))
register(BackendInfo(
    "jax_nojit", convention="optax", factory="reference.jax_backend:JaxNoJitBackend",
    packages=("jax", "jaxlib", "optax"), settings=_jax_settings(jit=False),
    description="the jax backend with jit off (op by op, jax.disable_jit): jit may reorder and fuse operations",
    jacobian="reference.jax_backend:jacobian_provider_nojit",
))

register(jax_cuda_backend_info("jax_cuda"))  # JAX on the GPU; a run without one says so for that lane only

__all__ = ["Backend", "BackendInfo", "MissingFramework", "OptimizerSpec", "Problem", "StepRecord",
           "create", "get", "names", "register", "twin_name", "unregister", "with_jacobian"]
