"""Suite-wide settings: the frameworks' environment and the thread pools of the test processes.

* The environment the harness sets before it imports a framework itself
  (`reference.torch_backend.import_torch`, `reference.keras_backend.import_keras`), set here
  before any test module is imported: test modules import torch and Keras at collection
  (``pytest.importorskip``), earlier than the harness would, and the suite should test what a
  user's run gets. OpenMP's idle threads sleep (``OMP_WAIT_POLICY=PASSIVE``) and TensorFlow's
  oneDNN rewrites stay off (``TF_ENABLE_ONEDNN_OPTS=0``).
* Under pytest-xdist (``make test`` runs ``pytest -n 2``) each worker gets its share of the cores
  for BLAS and OpenMP: ``cpu_count // workers`` threads, 1 each on 2 cores. The variables are set
  in the controller before it starts the workers, so NumPy's OpenBLAS (loaded with the parity
  plugin, before this file) starts with them in each worker. Two workers each running two
  threads on two cores made the parity catalog take twice the CPU time (benchmarks/README.md §5).
* JAX keeps what it compiles in pytest's cache folder (``.pytest_cache/d/jax-compilation-cache``,
  JAX's persistent compilation cache, every computation however quick to compile): a JAX backend
  jit-compiles a step function for every configuration a process meets (reused within the
  process: reference/jax_backend.py) and op-by-op ``jax_nojit`` compiles every primitive, so
  much of the JAX tests' time goes to compiling programs that an earlier run of the suite, or
  the other worker, compiled already (measured: the JAX test files take about half
  the CPU time once the cache is warm). An entry is found only for the same program, JAX version,
  device and compile options; the size bound makes JAX take a file lock, so two workers share
  the folder safely. Without pytest's cache (``-p no:cacheprovider``) nothing is kept.

A variable the environment already sets is left as it is.
"""
from __future__ import annotations

import os

from comparisons.sweeps.worker import THREAD_VARIABLES

#: as `reference.torch_backend.import_torch` and `reference.keras_backend.import_keras` set them
FRAMEWORK_ENVIRONMENT = {"OMP_WAIT_POLICY": "PASSIVE", "KERAS_BACKEND": "tensorflow", "TF_ENABLE_ONEDNN_OPTS": "0",
                         "TF_CPP_MIN_LOG_LEVEL": "2"}


def xdist_workers(config) -> int:
    """Number of pytest-xdist workers of this run (0 without xdist), in the controller and in a worker."""
    if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
        return int(os.environ["PYTEST_XDIST_WORKER_COUNT"])
    workers = getattr(config.option, "numprocesses", None)  # an int by now: xdist resolves "-n auto" first
    return workers if isinstance(workers, int) and getattr(config.option, "dist", "no") != "no" else 0


#: bytes; any bound makes JAX lock the folder while it reads or writes an entry (jax/_src/lru_cache.py)
JAX_CACHE_BOUND = 1 << 30


def jax_compilation_cache(config) -> dict[str, str]:
    """JAX's persistent compilation cache settings (its ``JAX_*`` configuration variables)."""
    cache = getattr(config, "cache", None)
    if cache is None:
        return {}
    return {"JAX_COMPILATION_CACHE_DIR": str(cache.mkdir("jax-compilation-cache")),
            "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0", "JAX_COMPILATION_CACHE_MAX_SIZE": str(JAX_CACHE_BOUND)}


def pytest_configure(config):
    for name, value in {**FRAMEWORK_ENVIRONMENT, **jax_compilation_cache(config)}.items():
        os.environ.setdefault(name, value)
    workers = xdist_workers(config)
    if workers:
        threads = str(max(1, (os.cpu_count() or 1) // workers))
        for name in THREAD_VARIABLES:
            os.environ.setdefault(name, threads)
