"""The environment record: versions, CPU and vector extensions, BLAS/OpenMP libraries, settings."""
import json
import sys
from importlib import metadata

import pytest

import reference
from comparisons import catalog
from comparisons.environment import cpu, environment

X86_CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 9654 96-Core Processor
flags\t\t: fpu vme sse sse2 ht pni ssse3 fma cx16 sse4_1 sse4_2 avx f16c avx2 avx512f avx512_bf16 amx_tile aes

processor\t: 1
model name\t: Another CPU
flags\t\t: fpu sse
"""
ARM_CPUINFO = """processor\t: 0
BogoMIPS\t: 243.75
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp asimddp sve sve2 svebf16
CPU implementer\t: 0x41
CPU part\t: 0xd40
"""


@pytest.fixture
def scenario():
    return catalog.get("xor-sigmoid-sgd").with_overrides(seed=7)


def test_the_record_has_everything_the_old_one_had_and_more(scenario):
    record = environment(scenario, ["scratchnet", "torch", "keras"])
    assert record["python"] == sys.version.split()[0] and record["platform"]
    for package in ("numpy", "scipy", "pandas", "scratchnet-parity"):
        assert record[package] == metadata.version(package)
    assert {"model", "machine", "vector_extensions"} <= set(record["cpu"])
    assert isinstance(record["threadpools"], list)
    settings = record["settings"]
    assert settings["dtype"] == "float64" and settings["seed"] == 7
    for name in ("scratchnet", "torch", "keras"):
        assert settings[name] == dict(reference.get(name).settings)
    assert json.loads(json.dumps(record)) == record  # plain data for summary.json


def test_versions_of_the_used_backends_only(scenario):
    torch_packages = reference.get("torch").packages
    record = environment(scenario, ["scratchnet"])
    assert not set(torch_packages) & set(record) and set(record["settings"]) == {"scratchnet", "dtype", "seed"}
    installed = [p for p in torch_packages if _installed(p)]
    if not installed:
        pytest.skip("none of torch's declared distributions is installed")
    with_torch = environment(scenario, ["scratchnet", "torch"])
    assert all(with_torch[p] == metadata.version(p) for p in installed)


def _installed(package):
    try:
        metadata.version(package)
    except metadata.PackageNotFoundError:
        return False
    return True


def test_convention_twins_count_as_scratchnet(scenario):
    record = environment(scenario, ["scratchnet[keras]"])
    assert set(record["settings"]) == {"scratchnet", "dtype", "seed"}
    assert record["settings"]["scratchnet"] == dict(reference.get("scratchnet").settings)
    both = environment(scenario, ["scratchnet", "scratchnet[keras]", "scratchnet[torch]"])
    assert both["settings"] == record["settings"]


def test_declared_packages_that_are_not_installed_are_left_out(scenario):
    info = reference.BackendInfo("envtest", convention="torch", factory="reference.scratchnet_backend:ScratchnetBackend",
                                 packages=("numpy", "surely-not-an-installed-distribution"), settings={"exact": True})
    reference.register(info)
    try:
        record = environment(scenario, ["envtest", "not-registered"])
    finally:
        reference.unregister("envtest")
    assert "surely-not-an-installed-distribution" not in record and record["numpy"] == metadata.version("numpy")
    assert record["settings"] == {"envtest": {"exact": True}, "dtype": "float64", "seed": 7}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/cpuinfo is Linux-only")
def test_cpu_fields_are_filled_on_linux(scenario):
    record = environment(scenario, ["scratchnet"])["cpu"]
    assert record["model"].strip() and record["machine"].strip()
    if record["machine"] in ("x86_64", "aarch64", "arm64"):
        assert record["vector_extensions"], record  # every such CPU has SSE2 or ASIMD
    assert "fpu" not in record["vector_extensions"]


def test_cpuinfo_parsing_keeps_the_simd_flags_of_the_first_cpu():
    x86 = cpu(X86_CPUINFO)
    assert x86["model"] == "AMD EPYC 9654 96-Core Processor"
    assert x86["vector_extensions"] == ["amx_tile", "avx", "avx2", "avx512_bf16", "avx512f", "f16c", "fma",
                                        "pni", "sse", "sse2", "sse4_1", "sse4_2", "ssse3"]
    arm = cpu(ARM_CPUINFO)
    assert arm["model"] == "implementer 0x41 part 0xd40"
    assert arm["vector_extensions"] == ["asimd", "asimddp", "asimdhp", "sve", "sve2", "svebf16"]
    assert cpu("")["model"]  # no /proc/cpuinfo: platform.processor() or the machine


def test_blas_libraries_are_listed(scenario):
    pytest.importorskip("threadpoolctl")
    pools = environment(scenario, ["scratchnet"])["threadpools"]
    if sys.platform.startswith("linux"):  # (threadpoolctl does not see macOS Accelerate)
        assert any(pool["user_api"] == "blas" for pool in pools), pools  # numpy's BLAS at least
    for pool in pools:
        assert set(pool) == {"user_api", "internal_api", "prefix", "version", "num_threads", "threading_layer",
                             "architecture", "filename"}
        assert "/" not in pool["filename"] and pool["num_threads"] >= 1
