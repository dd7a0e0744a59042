"""What runs on a worker: set the process up once, then run batches of scenarios.

A worker process (local pool or Dask) is set up once, on its first batch (`setup_process`):
thread counts pinned (``OMP_NUM_THREADS`` and friends are in the environment it is started
with -- the pool and the embedded LocalCluster set them -- and `threadpoolctl.threadpool_limits`
applies the count again to every BLAS/OpenMP library loaded by then), the sweep's backend modules imported
(they register test or third-party backends, see below), and the frameworks of the sweep's
backends imported by one tiny warm-up run, so no scenario pays for ``import torch``. Then every
batch runs its scenarios one after the other (a process-wide lock keeps a multi-threaded Dask
worker to one scenario at a time, so thread pinning and the backend registry are never shared
between two runs) and returns one plain-data result per scenario: its rows (`classify`), its
files as bytes (the client writes them: workers need no shared file system) and the worker's
host, CPU and BLAS.

**Backend modules.** A backend registered in the parent process with `reference.register`
does not exist in a spawned worker process, nor on another machine. A sweep therefore takes
``backend_modules``: module names (imported on the worker, so they must be installed there) or
paths to ``.py`` files, whose *source* is shipped with every task and executed once per worker
process under a private module name. Such a module registers its backends at import, with
``register(..., replace=True)`` so that importing it again is harmless.

"""
from __future__ import annotations

import hashlib
import importlib
import os
import re
import socket
import sys
import tempfile
import threading
import time
import traceback
import types
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
                    "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")
SCENARIO_REPORTS = ("notable", "all", "none")
SPEC_FILE = "scenario.toml"
#: classes that need no report of their own with scenario_reports="notable" (expected results)
QUIET = ("within tolerance", "convention")


@dataclass(frozen=True)
class WorkOptions:
    """How a worker runs scenarios (plain data: it travels with every task).

    threads: BLAS/OpenMP threads per worker process.
    backend_modules: (module name, source or None) pairs; see the module docstring.
    scenario_reports: "notable" (a full report for every scenario with an unexplained, error,
        float32-noise or free-run-drift row), "all" or "none". Every scenario gets its
        ``scenario.toml`` anyway.
    formats: report formats of a scenario report (`comparisons.report.write_report`).
    files: False when the sweep keeps nothing on disk (no files are produced at all).
    explain: run the control runs that label float32 noise and activation conventions.
    warm_backends: backends the warm-up run builds (the sweep's), importing their frameworks.
    """

    threads: int = 1
    backend_modules: tuple[tuple[str, str | None], ...] = ()
    scenario_reports: str = "notable"
    formats: tuple[str, ...] = ("json", "csv", "md", "html")
    files: bool = True
    explain: bool = True
    warm_backends: tuple[str, ...] = ()


# ---------------------------------------------------------------------- backend modules
def backend_modules(specs: Sequence[str | os.PathLike]) -> tuple[tuple[str, str | None], ...]:
    """Module names stay names; a path to a .py file becomes (private module name, its source)."""
    out: list[tuple[str, str | None]] = []
    for spec in specs:
        text = os.fspath(spec)
        path = Path(text)
        if text.endswith(".py") or path.is_file():
            if not path.is_file():
                raise FileNotFoundError(f"backend module {text!r} does not exist")
            source = path.read_text(encoding="utf-8")
            digest = hashlib.sha1(source.encode()).hexdigest()[:10]
            stem = re.sub(r"\W", "_", path.stem)
            out.append((f"_parity_backends.{stem}_{digest}", source))
        else:
            out.append((text, None))
    return tuple(out)


def import_backend_modules(modules: Sequence[tuple[str, str | None]]) -> list[str]:
    """Import each module once per process; returns the names imported now."""
    imported = []
    for name, source in modules:
        if name in sys.modules:
            continue
        if source is None:
            importlib.import_module(name)
        else:
            package = name.rpartition(".")[0]
            if package and package not in sys.modules:
                sys.modules[package] = types.ModuleType(package)
            module = types.ModuleType(name)
            module.__file__ = f"<backend module {name}>"
            sys.modules[name] = module
            try:
                exec(compile(source, module.__file__, "exec"), module.__dict__)
            except BaseException:
                sys.modules.pop(name, None)
                raise
        imported.append(name)
    return imported


@contextmanager
def backend_modules_loaded(modules: Sequence[tuple[str, str | None]]) -> Iterator[None]:
    """Import backend modules for a `with` block in *this* process, then unregister what they
    registered (and forget the modules), so a sweep leaves the parent's registry as it found it."""
    import reference

    before = set(reference.names())
    imported = import_backend_modules(modules)
    try:
        yield
    finally:
        for name in set(reference.names()) - before:
            reference.unregister(name)
        for name in imported:
            sys.modules.pop(name, None)


# ---------------------------------------------------------------------- process set-up
_LOCK = threading.Lock()
_STATE: dict[str, Any] = {}


def pin_thread_variables(threads: int) -> None:
    for variable in THREAD_VARIABLES:
        os.environ[variable] = str(threads)


@contextmanager
def thread_environment(threads: int) -> Iterator[None]:
    """The thread variables set for a `with` block: a process started inside it (a pool worker)
    inherits them, so its BLAS and OpenMP start with that many threads."""
    saved = {name: os.environ.get(name) for name in THREAD_VARIABLES}
    pin_thread_variables(threads)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def init_pool_process(options: WorkOptions) -> None:
    """`ProcessPoolExecutor` initializer: Ctrl-C is the parent's to handle (it keeps every
    finished result and stops the pool); then the one-time set-up."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    pin_thread_variables(options.threads)
    setup_process(options)


def setup_process(options: WorkOptions) -> None:
    """Once per process (and again only if the options change): pin threads, import the backend
    modules, warm the frameworks up. A failure is kept and reported on every scenario."""
    key = (options.threads, options.backend_modules, options.warm_backends)
    if _STATE.get("key") == key:
        return
    started = time.perf_counter()
    _STATE.update(key=key, error=None)
    try:
        if "numpy" not in sys.modules:
            pin_thread_variables(options.threads)
        import_backend_modules(options.backend_modules)
        _quiet_frameworks()
        _warm_up(options.warm_backends)
        from threadpoolctl import threadpool_limits

        _STATE["limits"] = threadpool_limits(limits=options.threads)  # kept for the process's life
    except Exception as error:  # reported on each scenario instead of killing the pool
        _STATE["error"] = f"worker set-up failed: {type(error).__name__}: {error}"
    _STATE["setup_seconds"] = time.perf_counter() - started


#: framework loggers that warn once per scenario in a sweep (TensorFlow: "tf.function retracing",
#: every scenario traces its own Keras step); their warnings are not the sweep's findings
NOISY_LOGGERS = ("tensorflow", "absl")


def _quiet_frameworks() -> dict[str, int]:
    import logging

    levels = {}
    for name in NOISY_LOGGERS:
        logger = logging.getLogger(name)
        levels[name] = logger.level
        logger.setLevel(logging.ERROR)
    return levels


def _warm_up(backends: Sequence[str]) -> None:
    """One 1-step run with the sweep's backends: imports and initialises their frameworks."""
    if not backends:
        return
    import comparisons

    backends = list(dict.fromkeys(backends))
    spec = {"name": "sweep-warm-up", "network": {"sizes": [2, 2, 1], "activations": ["tanh", "sigmoid"]},
            "loss": {"name": "squared_error"}, "optimizer": {"name": "sgd", "lr": 0.1}, "data": {"name": "xor"},
            "run": {"steps": 1, "backends": backends, "reference": "torch" if "torch" in backends else backends[0]}}
    try:
        comparisons.run(comparisons.Scenario.from_dict(spec))
    except Exception:  # a backend that cannot run here fails in the scenarios, with its message
        pass


# ---------------------------------------------------------------------- batches
def run_batch(points: Sequence[Mapping[str, Any]], options: WorkOptions) -> list[dict[str, Any]]:
    """Run points (`Point.to_dict()`) one after the other in this worker process."""
    with _LOCK:
        setup_process(options)
        return [run_point(point, options, setup_error=_STATE.get("error")) for point in points]


@contextmanager
def in_process(options: WorkOptions) -> Iterator[None]:
    """The serial executor's set-up: the same thread limits and backend modules as a worker,
    for the duration of the sweep only."""
    import logging

    from threadpoolctl import threadpool_limits

    with backend_modules_loaded(options.backend_modules):
        levels = _quiet_frameworks()
        try:
            _warm_up(options.warm_backends)  # load the frameworks' thread pools, so that the limits reach them
            with threadpool_limits(limits=options.threads):
                yield
        finally:
            for name, level in levels.items():
                logging.getLogger(name).setLevel(level)


def run_point(point: Mapping[str, Any], options: WorkOptions, setup_error: str | None = None) -> dict[str, Any]:
    """One scenario: run, classify, produce its files. Never raises for the scenario's own
    errors (an invalid spec, data that do not fit, a crash inside the runner): they become an
    ``error`` row. Only Ctrl-C in a serial sweep interrupts (status ``interrupted``)."""
    import comparisons
    from comparisons.sweeps import classify

    started, cpu_started = time.perf_counter(), time.process_time()
    result: dict[str, Any] = {"id": point["id"], "index": point["index"], "name": point["name"], "status": "ok",
                              "rows": [], "files": {}, "worker": {"host": socket.gethostname(), "pid": os.getpid()}}
    spec = point["spec"]
    comparison = None
    if options.files:
        result["files"][SPEC_FILE] = spec_toml(spec, point.get("problems") or ()).encode()
    if setup_error:
        result.update(status="error", rows=[classify.error_row(setup_error)])
    elif point.get("problems"):
        result.update(status="invalid", rows=[classify.error_row("invalid spec: " + "; ".join(point["problems"]))])
    else:
        try:
            scenario = comparisons.Scenario.from_dict(spec)
            comparison = comparisons.run(scenario)
        except Exception as error:
            result.update(status="error", rows=[classify.error_row(f"{type(error).__name__}: {error}")],
                          traceback=traceback.format_exc())
        else:
            if comparison.interrupted:
                result["status"] = "interrupted"
            else:
                result["rows"] = classify.classify(comparison, explain=options.explain)
    result["worker"].update(worker_environment(comparison))
    if comparison is not None and result["status"] == "ok" and options.files and _wants_report(result, options):
        result["files"].update(report_files(comparison, options.formats))
    result["seconds"] = time.perf_counter() - started
    result["cpu_seconds"] = time.process_time() - cpu_started  # this process's CPU (not the machine's load)
    return result


def _wants_report(result: Mapping[str, Any], options: WorkOptions) -> bool:
    if options.scenario_reports == "all":
        return True
    if options.scenario_reports == "none":
        return False
    return any(row["classification"] not in QUIET for row in result["rows"])


def report_files(comparison: Any, formats: Sequence[str]) -> dict[str, bytes]:
    """A scenario's report (`write_report`) as file name -> bytes."""
    from comparisons.report import write_report

    with tempfile.TemporaryDirectory(prefix="parity-sweep-") as folder:
        written = write_report(comparison, folder, formats=formats)
        return {name: Path(path).read_bytes() for name, path in written.items()}


def spec_toml(spec: Mapping[str, Any], problems: Sequence[str] = ()) -> str:
    """The spec as a TOML file that `parity run` reads (problems of an invalid spec as comments)."""
    from comparisons.report.content import _toml_table

    head = "".join(f"# invalid: {problem}\n" for problem in problems)
    return head + _toml_table(spec, []).strip() + "\n"


_ENVIRONMENT: dict[str, Any] = {}


def worker_environment(comparison: Any = None) -> dict[str, str]:
    """The CPU model, its SIMD extensions and the BLAS/OpenMP libraries with their thread counts,
    from the run's environment record (`comparisons.environment`), or read here when there was
    no run."""
    if comparison is not None:
        record = comparison.environment
        cpu, pools = record.get("cpu", {}), record.get("threadpools", [])
    else:
        from comparisons.environment import cpu as read_cpu, threadpools

        cpu, pools = read_cpu(), threadpools()
    return {"cpu": str(cpu.get("model", "")), "simd": " ".join(cpu.get("vector_extensions", [])),
            "blas": blas_text(pools)}


def blas_text(pools: Sequence[Mapping[str, Any]]) -> str:
    """"openblas 0.3.30 Haswell x1; openmp libgomp x1" from threadpoolctl records."""
    parts = []
    for pool in pools:
        if "error" in pool:
            parts.append(str(pool["error"]))
            continue
        words = [str(pool.get("internal_api") or pool.get("user_api") or "?")]
        if pool.get("version"):
            words.append(str(pool["version"]))
        if pool.get("architecture"):
            words.append(str(pool["architecture"]))
        if pool.get("internal_api") in ("openmp",) and pool.get("filename"):
            words.append(str(pool["filename"]).split(".so")[0])
        words.append(f"x{pool.get('num_threads')}")
        parts.append(" ".join(words))
    return "; ".join(parts)
