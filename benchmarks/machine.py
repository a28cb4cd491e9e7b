"""The record of which CPU a benchmark ran on. Not a script: the benchmarks import it."""

from __future__ import annotations

import platform

import torch


def machine() -> str:
    """Architecture, threads and the vector ISA torch's CPU kernels use (an AVX2-only CPU trains the zoo's models
    several times slower than an AVX-512 one), e.g. "x86_64, 2 threads, AVX2"."""
    return f"{platform.machine()}, {torch.get_num_threads()} threads, {torch.backends.cpu.get_cpu_capability()}"
