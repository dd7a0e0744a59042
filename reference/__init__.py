"""Reference backends: PyTorch, Keras (TensorFlow) and scratchnet behind one protocol.

Frameworks are imported lazily, inside their own module only. `create(name, problem)` builds a
backend by name; a missing framework raises `MissingFramework` naming the extra to install.
"""
from __future__ import annotations

from reference.protocol import Backend, MissingFramework, OptimizerSpec, Problem, StepRecord

BACKENDS = ("scratchnet", "torch", "keras")


def create(name: str, problem: Problem, convention: str | None = None) -> Backend:
    """Build backend `name` for `problem`. `convention` only applies to scratchnet, which can
    follow either framework's optimizer formulas."""
    from scratchnet._checks import unknown_name

    if name == "scratchnet":
        from reference.scratchnet_backend import ScratchnetBackend

        return ScratchnetBackend(problem, convention or "torch")
    if name == "torch":
        from reference.torch_backend import TorchBackend

        return TorchBackend(problem)
    if name == "keras":
        from reference.keras_backend import KerasBackend

        return KerasBackend(problem)
    raise unknown_name("backend", name, BACKENDS)


__all__ = ["Backend", "MissingFramework", "OptimizerSpec", "Problem", "StepRecord", "create", "BACKENDS"]
