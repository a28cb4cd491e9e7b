"""The record of which CPU a benchmark ran on. Not a script: the benchmarks import it."""

from __future__ import annotations

import platform
from pathlib import Path

import torch

CPUINFO = Path("/proc/cpuinfo")


def cpu_identity(cpuinfo: str | None = None) -> str:
    """Vendor, family and model of the CPU, and whether it has AMX, from /proc/cpuinfo's text (``cpuinfo``, read
    when None), e.g. "AuthenticAMD family 25 model 17, no AMX"; the platform's processor string elsewhere.

    The same ISA can train several times faster or slower: bf16 convolutions run on AMX tiles on recent Intel
    CPUs and on AVX-512 alone on AMD ones, so two results are comparable only on the same identity."""
    if cpuinfo is None:
        if not CPUINFO.is_file():
            return platform.processor() or "unknown CPU"
        cpuinfo = CPUINFO.read_text()
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        if not line.strip():
            break  # the first processor's block describes them all
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip()
    if "vendor_id" not in fields:  # not x86 (ARM's cpuinfo names implementer and part instead)
        return platform.processor() or "unknown CPU"
    amx = "AMX" if "amx_tile" in fields.get("flags", "").split() else "no AMX"
    return f"{fields['vendor_id']} family {fields.get('cpu family', '?')} model {fields.get('model', '?')}, {amx}"


def machine() -> str:
    """Architecture, threads, the vector ISA torch's CPU kernels use (an AVX2-only CPU trains the zoo's models
    several times slower than an AVX-512 one) and the CPU's identity, e.g.
    "x86_64, 2 threads, AVX512, AuthenticAMD family 25 model 17, no AMX"."""
    isa = torch.backends.cpu.get_cpu_capability()
    return f"{platform.machine()}, {torch.get_num_threads()} threads, {isa}, {cpu_identity()}"
