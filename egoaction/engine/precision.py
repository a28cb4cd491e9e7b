"""The one place that decides whether this CPU trains and evaluates in bf16 autocast."""

from __future__ import annotations

import torch


def cpu_bf16() -> bool:
    """Whether this CPU runs bf16 autocast fast (AVX512-BF16 or AMX, as oneDNN reports); fp32 elsewhere."""
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
