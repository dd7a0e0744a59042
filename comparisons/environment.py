"""The environment record: what is needed to reproduce a float64 run on another machine.

float64 results agree bit for bit only on the same operations in the same order, and that order
depends on more than package versions: the CPU's vector extensions (SSE2 / AVX2 / AVX-512 / NEON
kernels sum in different orders, FMA rounds once instead of twice), the BLAS library and its
kernel ("architecture"), and the number of threads it splits a product over. `environment()`
records all of it, plus the exactness settings the backends of the run declare in the registry
(`reference.registry`). It reads files and loaded-library tables only (no subprocess), so it
costs milliseconds.
"""
from __future__ import annotations

import functools
import os
import platform
import re
import sys
from importlib import metadata
from typing import TYPE_CHECKING, Any, Iterable

import reference

if TYPE_CHECKING:  # pragma: no cover
    from comparisons.spec import Scenario

#: packages every run depends on, whatever its backends
CORE_PACKAGES = ("numpy", "scipy", "pandas", "scratchnet-parity")
#: /proc/cpuinfo flags that select floating-point kernels (x86 `flags`, ARM `Features`); Linux
#: names SSE3 "pni"
_SIMD_FLAG = re.compile(r"^(sse.*|pni|ssse3|avx.*|fma.*|f16c|amx.*|asimd.*|sve.*|neon)$")
_CPUINFO = "/proc/cpuinfo"


def environment(scenario: "Scenario", backends: Iterable[str]) -> dict[str, Any]:
    """Versions, CPU, BLAS/OpenMP libraries and settings needed to reproduce a run.

    Args:
        scenario: the scenario that ran (its dtype and seed are recorded).
        backends: the backend names the run used; convention twins such as
            ``"scratchnet[keras]"`` count as the registered backend (``"scratchnet"``).
            Names that are not registered are left out.

    Returns:
        A JSON-able dict: ``python`` and ``platform``; the installed version of numpy, scipy,
        pandas, scratchnet-parity and of every distribution the used backends declare (keyed by
        distribution name; distributions that are not installed are left out); ``cpu`` (model,
        machine, SIMD ``vector_extensions``); ``threadpools`` (one dict per BLAS/OpenMP library
        loaded in this process: user_api, internal_api, prefix, version, num_threads,
        threading_layer, architecture, filename); and ``settings``: the exactness settings each
        used backend declares, keyed by backend name, plus the scenario's ``dtype`` and ``seed``.

    Libraries are listed as loaded at call time: call it after the backends were built, so
    that torch's or TensorFlow's own OpenMP/BLAS runtimes are seen.
    """
    infos = _backend_infos(backends)
    record: dict[str, Any] = {"python": sys.version.split()[0], "platform": platform.platform()}
    packages = list(CORE_PACKAGES)
    for info in infos:
        packages += [p for p in info.packages if p not in packages]
    for package in packages:
        version = _version(package)
        if version is not None:
            record[package] = version
    record["cpu"] = _this_cpu()
    record["threadpools"] = threadpools()
    settings: dict[str, Any] = {info.name: dict(info.settings) for info in infos}
    settings["dtype"] = scenario.dtype
    settings["seed"] = scenario.run["seed"]
    record["settings"] = settings
    return record


def _backend_infos(backends: Iterable[str]) -> list[reference.BackendInfo]:
    """Registry entries of `backends` in order, twins mapped to their base name, each once."""
    infos: list[reference.BackendInfo] = []
    for name in backends:
        base = str(name).split("[", 1)[0]
        if base not in reference.names() or any(info.name == base for info in infos):
            continue
        infos.append(reference.get(base))
    return infos


@functools.lru_cache(maxsize=None)
def _version(package: str) -> str | None:
    """The installed version of `package` (None when absent), read once per process."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


@functools.lru_cache(maxsize=1)
def _this_cpu() -> dict[str, Any]:
    """`cpu()` of this machine, read once per process (it cannot change while it runs)."""
    return cpu()


def cpu(cpuinfo: str | None = None) -> dict[str, Any]:
    """The CPU model and its SIMD extensions.

    On Linux both come from ``/proc/cpuinfo`` (x86: ``model name`` and ``flags``; ARM:
    ``Features``, with ``CPU implementer``/``CPU part`` when there is no model name). `cpuinfo`
    is that file's text (read from disk when None). Elsewhere the model is
    ``platform.processor()`` and ``vector_extensions`` is empty.
    """
    if cpuinfo is None:
        try:
            with open(_CPUINFO, encoding="utf-8", errors="replace") as handle:
                cpuinfo = handle.read()
        except OSError:
            cpuinfo = ""
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        if not line.strip() and fields:
            break  # the first processor block describes the model; all cores share it here
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip().lower(), value.strip())
    model = fields.get("model name") or fields.get("hardware") or fields.get("cpu model") or ""
    if not model and "cpu implementer" in fields:
        model = f"implementer {fields['cpu implementer']} part {fields.get('cpu part', '?')}"
    flags = (fields.get("flags") or fields.get("features") or "").split()
    return {
        "model": model or platform.processor() or platform.machine(),
        "machine": platform.machine(),
        "vector_extensions": sorted({flag for flag in flags if _SIMD_FLAG.match(flag)}),
    }


def threadpools() -> list[dict[str, Any]]:
    """The BLAS and OpenMP libraries loaded in this process (numpy's and scipy's are loaded
    first), as `threadpoolctl.threadpool_info()` reports them."""
    import numpy  # noqa: F401  (loads numpy's BLAS)

    try:
        import scipy.linalg  # noqa: F401  (loads scipy's BLAS/LAPACK)
        from threadpoolctl import threadpool_info
    except ImportError as error:  # pragma: no cover - threadpoolctl is a dependency
        return [{"error": f"cannot list BLAS/OpenMP libraries: {error}"}]
    keys = ("user_api", "internal_api", "prefix", "version", "num_threads", "threading_layer", "architecture")
    pools = [{**{key: info.get(key) for key in keys}, "filename": os.path.basename(info.get("filepath") or "")}
             for info in threadpool_info()]
    return sorted(pools, key=lambda pool: (str(pool["user_api"]), str(pool["internal_api"]), pool["filename"]))
