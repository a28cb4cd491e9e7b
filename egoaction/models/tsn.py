"""Temporal Segment Networks, temporal feature pooling and the single-frame CNN: 2D CNNs that ignore frame order.

TSN: Wang et al., "Temporal Segment Networks: Towards Good Practices for Deep Action Recognition", ECCV 2016
(reference implementation yjxiong/tsn-pytorch; also the EPIC-KITCHENS-100 C1 TSN baseline). Every sampled
frame goes through a 2D backbone, global average pooling, dropout and one linear head per task; the segmental
consensus averages the frame *logits*.

Temporal pooling (seed 000's "ResNet-50 + Temporal Pool" baseline): the frame *features* are averaged over time
and one set of heads classifies the pooled feature. With linear heads and no dropout this equals TSN's
consensus; the two differ in where dropout acts and in what a user reads out (one clip feature).

Single-frame CNN (the lecture's baseline, Karpathy et al. 2014): frames are classified independently; the task
output is log(mean over frames of softmax), i.e. the averaged class probabilities at test time, and the frame
logits themselves (up to a per-sample constant) when trained on one frame per segment. Per-frame logits are
returned as ``<task>_frames``.

Weights: random init, torchvision ImageNet from the local torch cache, or a ``.pth`` file; see
:mod:`egoaction.models.backbones`.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from egoaction.models._registry import register_model
from egoaction.models.backbones import encode_frames, frame_backbone
from egoaction.models.base import VideoModel
from egoaction.models.heads import TaskHeads

__all__ = ["TSN", "SingleFrameCNN", "TemporalPool", "mean_probability_log"]


class TSN(VideoModel):
    """Per-frame 2D CNN -> pool -> dropout -> linear heads; logits averaged over frames.

    Reads ``batch["rgb"]`` (B, T, 3, H, W); returns ``{task: (B, C)}``.
    """

    def __init__(
        self,
        task_spec: dict[str, int],
        *,
        arch: str = "resnet50",
        pretrained: str | None = None,
        dropout: float = 0.5,
        drop_path: float = 0.0,
    ) -> None:
        super().__init__(task_spec, modalities=("rgb",))
        self.backbone, dim = frame_backbone(arch, pretrained=pretrained, drop_path=drop_path)
        # TSN's small head init keeps the first updates from swamping pretrained features. From scratch it starves
        # the backbone of gradient: val noun top-1 63 % instead of 79 % after 40 synthetic-kitchen epochs, so
        # random backbones keep PyTorch's default Linear init.
        init_std = 0.001 if pretrained is not None else None
        self.heads = TaskHeads(dim, self.task_spec, dropout=dropout, init_std=init_std)

    def frame_logits(self, rgb: Tensor) -> dict[str, Tensor]:
        """Logits of every frame: rgb (B, T, 3, H, W) -> {task: (B, T, C)}."""
        return self.heads(encode_frames(self.backbone, rgb))

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Average consensus of frame logits: {task: (B, C)}."""
        frames = self.frame_logits(self.read_input(batch, "rgb"))
        return {task: logits.mean(dim=1) for task, logits in frames.items()}


class TemporalPool(TSN):
    """Frame features averaged over time, then dropout and the heads: {task: (B, C)}."""

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Heads on the time-averaged frame feature (B, D)."""
        return self.heads(encode_frames(self.backbone, self.read_input(batch, "rgb")).mean(dim=1))


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
def tsn_resnet18(
    task_spec: dict[str, int], *, pretrained: str | None = None, dropout: float = 0.5, drop_path: float = 0.0
) -> TSN:
    """TSN on a ResNet-18 (512-d frame features)."""
    return TSN(task_spec, arch="resnet18", pretrained=pretrained, dropout=dropout, drop_path=drop_path)


@register_model("tsn_resnet34")
def tsn_resnet34(
    task_spec: dict[str, int], *, pretrained: str | None = None, dropout: float = 0.5, drop_path: float = 0.0
) -> TSN:
    """TSN on a ResNet-34 (512-d frame features)."""
    return TSN(task_spec, arch="resnet34", pretrained=pretrained, dropout=dropout, drop_path=drop_path)


@register_model("tsn_resnet50")
def tsn_resnet50(
    task_spec: dict[str, int], *, pretrained: str | None = None, dropout: float = 0.5, drop_path: float = 0.0
) -> TSN:
    """TSN on a ResNet-50 (2048-d frame features), the EPIC-KITCHENS-100 baseline backbone."""
    return TSN(task_spec, arch="resnet50", pretrained=pretrained, dropout=dropout, drop_path=drop_path)


@register_model("resnet50_pool")
def resnet50_pool(
    task_spec: dict[str, int], *, pretrained: str | None = None, dropout: float = 0.5, drop_path: float = 0.0
) -> TemporalPool:
    """Seed 000's baseline: ResNet-50 frame features averaged over time -> heads (order-blind)."""
    return TemporalPool(task_spec, arch="resnet50", pretrained=pretrained, dropout=dropout, drop_path=drop_path)


@register_model("single_frame")
def single_frame(
    task_spec: dict[str, int],
    *,
    arch: str = "resnet18",
    pretrained: str | None = None,
    dropout: float = 0.5,
    drop_path: float = 0.0,
) -> SingleFrameCNN:
    """Single-frame CNN: each frame classified alone, class probabilities averaged over the frames."""
    return SingleFrameCNN(task_spec, arch=arch, pretrained=pretrained, dropout=dropout, drop_path=drop_path)
