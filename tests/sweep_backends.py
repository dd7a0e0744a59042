"""Test backends for the sweep and fuzz tests, registered at import (a *backend module*).

Worker processes do not share the parent's registry: sweeps ship this file's source to every
worker (``backend_modules=["tests/sweep_backends.py"]``), which executes it once per process.
Registration uses ``replace=True`` so that importing it twice is harmless.

* ``buggy_tanh``: scratchnet with a deliberate relative error of 1e-6 in tanh's derivative
  (float64 tolerances catch it, float32 ones do not).
* ``sleepy``: scratchnet that sleeps 50 ms per step when its learning rate is >= 0.7 and
  ``SLEEPY_STEPS`` is set in the environment, so a test can interrupt a sweep while its slow
  scenarios run, whatever the machine's speed (and resume it without the wait).
* ``crashy``: scratchnet that kills its own process (``os._exit``) while being built, for a
  scenario whose optimizer has ``lr == 0.123``; with ``lr == 0.321`` only the first time per
  marker file (``CRASHY_MARKER`` in the environment names a folder).
"""
import os
import time
from pathlib import Path

from reference import BackendInfo, register
from reference.scratchnet_backend import ScratchnetBackend
from scratchnet.activations import Tanh

TANH_ERROR = 1e-6


class BuggyTanh(Tanh):
    def derivative(self, z, a):
        return (1.0 - a * a) * (1.0 + TANH_ERROR)


class BuggyTanhBackend(ScratchnetBackend):
    def __init__(self, problem, convention="torch"):
        super().__init__(problem, convention)
        for layer in self.net.layers:
            if getattr(layer, "activation", None) is not None and layer.activation.name == "tanh":
                layer.activation = BuggyTanh()
        self.net.activations = [layer.activation if getattr(layer, "activation", None) is not None else a
                                for layer, a in zip(self.net.layers, self.net.activations)]


class CrashyBackend(ScratchnetBackend):
    def __init__(self, problem, convention="torch"):
        lr = problem.optimizer.options.get("lr")
        if lr == 0.123:
            os._exit(3)
        if lr == 0.321:
            marker = Path(os.environ.get("CRASHY_MARKER", "."), "crashed-once")
            if not marker.exists():
                marker.write_text("crashed")
                os._exit(3)
        super().__init__(problem, convention)


class SleepyBackend(ScratchnetBackend):
    def step(self, X, y):
        if self.optimizer.lr >= 0.7 and os.environ.get("SLEEPY_STEPS"):
            time.sleep(0.05)
        return super().step(X, y)


register(BackendInfo("sleepy", "torch", SleepyBackend, description="scratchnet that takes its time on cue"),
         replace=True)
register(BackendInfo("buggy_tanh", "torch", BuggyTanhBackend, description="scratchnet with a wrong tanh derivative"),
         replace=True)
register(BackendInfo("crashy", "torch", CrashyBackend, description="scratchnet that kills its worker on cue"),
         replace=True)


class ReorderedTanh(Tanh):
    def derivative(self, z, a):
        return (1.0 - a) * (1.0 + a)  # the same number, rounded differently


class ReorderedTanhBackend(BuggyTanhBackend):
    """scratchnet computing tanh' as (1 - a)(1 + a): exact arithmetic agrees, rounding does not."""

    def __init__(self, problem, convention="torch"):
        ScratchnetBackend.__init__(self, problem, convention)
        for layer in self.net.layers:
            if getattr(layer, "activation", None) is not None and layer.activation.name == "tanh":
                layer.activation = ReorderedTanh()
        self.net.activations = [layer.activation if getattr(layer, "activation", None) is not None else a
                                for layer, a in zip(self.net.layers, self.net.activations)]


register(BackendInfo("reordered_tanh", "torch", ReorderedTanhBackend,
                     description="scratchnet with tanh' rounded differently"), replace=True)
