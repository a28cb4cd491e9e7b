"""benchmarks/conv3d_bf16.py: its counts and its unguarded baseline."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

import pytest
import torch
from torch import nn


@pytest.fixture(scope="module")
def bench(benchmark_script: Callable[[str], ModuleType]) -> ModuleType:
    return benchmark_script("conv3d_bf16")


@pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="CPU bf16 needs oneDNN")
def test_guarded_short_clips_count_no_wrong_gradients(bench: ModuleType) -> None:
    """The guarded convolution's bf16 gradient is never counted wrong, on the clip length torch gets wrong."""
    assert bench.wrong_passes(2, 3, guarded=True, reps=2) == 0


def test_unguard_restores_plain_convolutions(bench: ModuleType) -> None:
    """The baseline model really runs plain nn.Conv3d (else the timing compares the guard with itself)."""
    from egoaction.models import create_model

    model = bench.unguard(create_model("r3d_18", {"verb": 8}))
    convs = [m for m in model.modules() if isinstance(m, nn.Conv3d)]
    assert convs and all(type(m) is nn.Conv3d for m in convs)
