"""Temporal Segment Networks and the single-frame CNN baseline.

TSN: Wang et al., "Temporal Segment Networks: Towards Good Practices for Deep Action Recognition", ECCV 2016
(reference implementation yjxiong/tsn-pytorch; also the EPIC-KITCHENS-100 C1 TSN baseline). Every sampled
frame goes through a 2D ResNet, global average pooling, dropout and one linear head per task; the segmental
consensus averages the frame *logits*.

Single-frame CNN: frames are classified independently; the task output is log(mean over frames of softmax),
i.e. the averaged class probabilities at test time, and the frame logits themselves (up to a per-sample
constant) when trained on one frame per segment. Per-frame logits are returned as ``<task>_frames``.

Weights: random init, torchvision ImageNet (IMAGENET1K_V1, BSD-3-Clause) from the local torch cache, or a
``.pth`` file; see :mod:`egoaction.models.backbones`.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from egoaction.models._registry import register_model
from egoaction.models.backbones import resnet_backbone
from egoaction.models.base import VideoModel

__all__ = ["TSN", "SingleFrameCNN", "mean_probability_log"]


class TSN(VideoModel):
    """Per-frame ResNet -> pool -> dropout -> linear heads; logits averaged over frames.

    Reads ``batch["rgb"]`` (B, T, 3, H, W); returns ``{task: (B, C)}``.
    """

    def __init__(
        self, task_spec: dict[str, int], *, depth: int = 50, pretrained: str | None = None, dropout: float = 0.5
    ) -> None:
        super().__init__(task_spec, modalities=("rgb",))
        self.backbone, dim = resnet_backbone(depth, pretrained=pretrained)
        self.dropout = nn.Dropout(dropout)
        heads = {task: nn.Linear(dim, n) for task, n in self.task_spec.items()}
        if pretrained is not None:
            for head in heads.values():
                # TSN's small head init keeps the first updates from swamping pretrained features. From scratch
                # it starves the backbone of gradient: val noun top-1 63 % instead of 79 % after 40 synthetic-kitchen
                # epochs, so random backbones keep PyTorch's default Linear init.
                nn.init.normal_(head.weight, std=0.001)
                nn.init.zeros_(head.bias)
        self.heads = nn.ModuleDict(heads)

    def frame_logits(self, rgb: Tensor) -> dict[str, Tensor]:
        """Logits of every frame: rgb (B, T, 3, H, W) -> {task: (B, T, C)}."""
        b, t = rgb.shape[:2]
        # frames go through the 2D CNN as one (B*T) batch: no Python loop, channels_last applies
        features = self.dropout(self.backbone(rgb.flatten(0, 1)))
        return {task: head(features).unflatten(0, (b, t)) for task, head in self.heads.items()}

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Average consensus of frame logits: {task: (B, C)}."""
        frames = self.frame_logits(self.read_input(batch, "rgb"))
        return {task: logits.mean(dim=1) for task, logits in frames.items()}


def mean_probability_log(frame_logits: Tensor) -> Tensor:
    """log(mean over T of softmax): (B, T, C) -> (B, C), computed stably in float32."""
    log_probs = torch.log_softmax(frame_logits.float(), dim=-1)
    return torch.logsumexp(log_probs, dim=1) - math.log(frame_logits.shape[1])


class SingleFrameCNN(TSN):
    """Frames classified independently; returns ``{task: log mean prob (B, C), task_frames: (B, T, C)}``."""

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Log of the frame-averaged class probabilities per task, plus the per-frame logits."""
        out = {}
        for task, logits in self.frame_logits(self.read_input(batch, "rgb")).items():
            out[task] = mean_probability_log(logits)
            out[f"{task}_frames"] = logits
        return out


@register_model("tsn_resnet18")
def tsn_resnet18(task_spec: dict[str, int], *, pretrained: str | None = None, dropout: float = 0.5) -> TSN:
    """TSN on a ResNet-18 (512-d frame features)."""
    return TSN(task_spec, depth=18, pretrained=pretrained, dropout=dropout)


@register_model("tsn_resnet34")
def tsn_resnet34(task_spec: dict[str, int], *, pretrained: str | None = None, dropout: float = 0.5) -> TSN:
    """TSN on a ResNet-34 (512-d frame features)."""
    return TSN(task_spec, depth=34, pretrained=pretrained, dropout=dropout)


@register_model("tsn_resnet50")
def tsn_resnet50(task_spec: dict[str, int], *, pretrained: str | None = None, dropout: float = 0.5) -> TSN:
    """TSN on a ResNet-50 (2048-d frame features), the EPIC-KITCHENS-100 baseline backbone."""
    return TSN(task_spec, depth=50, pretrained=pretrained, dropout=dropout)


@register_model("single_frame_resnet18")
def single_frame_resnet18(
    task_spec: dict[str, int], *, pretrained: str | None = None, dropout: float = 0.5
) -> SingleFrameCNN:
    """Single-frame CNN on a ResNet-18."""
    return SingleFrameCNN(task_spec, depth=18, pretrained=pretrained, dropout=dropout)


@register_model("single_frame_resnet50")
def single_frame_resnet50(
    task_spec: dict[str, int], *, pretrained: str | None = None, dropout: float = 0.5
) -> SingleFrameCNN:
    """Single-frame CNN on a ResNet-50."""
    return SingleFrameCNN(task_spec, depth=50, pretrained=pretrained, dropout=dropout)
