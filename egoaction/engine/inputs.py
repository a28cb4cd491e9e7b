"""Device-side input preparation: uint8 clips become normalised float tensors, multi-view batches are flattened."""

from __future__ import annotations

from typing import Any

import torch

from egoaction.data.transforms import FLOW_MEAN, FLOW_STD, IMAGENET_MEAN, IMAGENET_STD, normalize

_STATS: dict[str, tuple[float | tuple[float, ...], float | tuple[float, ...]]] = {
    "rgb": (IMAGENET_MEAN, IMAGENET_STD),
    "flow": (FLOW_MEAN, FLOW_STD),
    "mmaps": (0.0, 1.0),
}


def has_views(batch: dict[str, Any], modalities: tuple[str, ...]) -> bool:
    """True when clips carry a leading view dimension: rgb (B, V, T, 3, H, W) instead of (B, T, 3, H, W).

    Every modality is 5-D per view batch (rgb (B, T, 3, H, W), flow (B, T', 2L, H, W), mmaps (B, T, 1, h, w))."""
    return bool(batch[modalities[0]].dim() == 6)


def model_inputs(batch: dict[str, Any], modalities: tuple[str, ...]) -> tuple[dict[str, torch.Tensor], int]:
    """Normalised float inputs for the model, views folded into the batch: (B*V, T, C, H, W); returns V too."""
    views = 1
    out: dict[str, torch.Tensor] = {}
    multi = has_views(batch, modalities)
    for m in modalities:
        x = batch[m]
        if multi:
            views = x.shape[1]
            x = x.flatten(0, 1)
        mean, std = _STATS[m]
        out[m] = normalize(x, mean, std)
    return out, views


def to_channels_last(x: torch.Tensor) -> torch.Tensor:
    """4-D tensors in channels_last memory format (faster convolutions on CPU and GPU); others unchanged."""
    return x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x


def average_views(logits: torch.Tensor, views: int) -> torch.Tensor:
    """(B*V, C) -> (B, C): mean of the pre-softmax scores over the views of each sample."""
    if views == 1:
        return logits
    return logits.view(-1, views, *logits.shape[1:]).mean(1)
