"""The benchmarks' machine record tells CPUs of one ISA apart, since bf16 speed depends on the CPU, not the ISA."""

from __future__ import annotations

import platform
from collections.abc import Callable
from types import ModuleType

import pytest

SAPPHIRE_RAPIDS = """processor\t: 0
vendor_id\t: GenuineIntel
cpu family\t: 6
model\t\t: 143
flags\t\t: fpu avx512f avx512_bf16 amx_bf16 amx_tile amx_int8

processor\t: 1
vendor_id\t: GenuineIntel
"""
GENOA = "vendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 17\nflags\t\t: fpu avx512f avx512_bf16\n"


@pytest.fixture(scope="module")
def machine(benchmark_script: Callable[[str], ModuleType]) -> ModuleType:
    return benchmark_script("machine")


def test_cpu_identity_names_vendor_family_model_and_amx(machine: ModuleType) -> None:
    assert machine.cpu_identity(SAPPHIRE_RAPIDS) == "GenuineIntel family 6 model 143, AMX"
    assert machine.cpu_identity(GENOA) == "AuthenticAMD family 25 model 17, no AMX"


def test_a_cpu_without_x86_fields_falls_back_to_the_platform(machine: ModuleType) -> None:
    arm = "processor\t: 0\nBogoMIPS\t: 50.00\nCPU implementer\t: 0x41\nCPU part\t: 0xd0c\n"
    identity = machine.cpu_identity(arm)
    assert "family" not in identity and identity == (platform.processor() or "unknown CPU")


def test_the_record_ends_with_this_cpus_identity(machine: ModuleType) -> None:
    assert machine.machine().endswith(machine.cpu_identity())
