"""Temporal Relation Network (TRN): TSN's per-frame 2D CNN with a relation over the frame features in time order.

Zhou, Andonian, Oliva and Torralba, "Temporal Relational Reasoning in Videos", ECCV 2018; reference
implementation zhoubolei/TRN-pytorch (models.py, TRNmodule.py). Every sampled frame goes through the 2D backbone
as in TSN; instead of averaging the frame logits, TRN concatenates the (reduced) frame features in order and an
MLP reads them (:class:`~egoaction.models.heads.RelationConsensus`), so the clip's order reaches the classifier
while the backbone stays a single-frame CNN. The same consensus is an option of TSM and GSF
(``consensus="trn"``), which mix frames inside the backbone as well.

Choices:
- Single-scale relation over all ``num_frames`` frames (the authors' "TRN" consensus); their multi-scale variant
  (relations of 2..T frames, each scale's subsets sampled) is not implemented.
- Feature reduction and bottleneck 256, dropout 0.5 on the frame features as in TSN and TSM here (the authors'
  scripts use 0.8 on Something-Something).
- ``num_frames`` is fixed at construction: another clip length raises ValueError naming it.
- ``input_spec``: 8 frames at 224x224, the authors' Something-Something setting.
"""

from __future__ import annotations

from egoaction.models._registry import register_model
from egoaction.models.backbones import resnet_backbone
from egoaction.models.base import InputSpec
from egoaction.models.tsm import SegmentConsensus, SegmentCount

__all__ = ["TRN"]


class TRN(SegmentConsensus):
    """ResNet frame features -> relation over the T frames in order -> heads: rgb (B, T, 3, H, W) -> {task: (B, C)}."""

    input_spec = InputSpec(frames=8, size=(224, 224))

    def __init__(
        self,
        task_spec: dict[str, int],
        *,
        depth: int = 50,
        pretrained: str | None = None,
        dropout: float = 0.5,
        drop_path: float = 0.0,
        num_frames: int = 8,
    ) -> None:
        backbone, dim = resnet_backbone(depth, pretrained=pretrained, drop_path=drop_path)
        super().__init__(
            task_spec,
            backbone=backbone,
            dim=dim,
            segments=SegmentCount(),  # nothing in a plain ResNet reads it
            dropout=dropout,
            pretrained=pretrained is not None,
            consensus="trn",
            num_frames=num_frames,
        )


@register_model("trn_resnet18")
def trn_resnet18(
    task_spec: dict[str, int],
    *,
    pretrained: str | None = None,
    dropout: float = 0.5,
    drop_path: float = 0.0,
    num_frames: int = 8,
) -> TRN:
    """TRN on a ResNet-18: 512-d frame features -> single-scale relation over ``num_frames`` ordered frames."""
    return TRN(task_spec, depth=18, pretrained=pretrained, dropout=dropout, drop_path=drop_path, num_frames=num_frames)


@register_model("trn_resnet50")
def trn_resnet50(
    task_spec: dict[str, int],
    *,
    pretrained: str | None = None,
    dropout: float = 0.5,
    drop_path: float = 0.0,
    num_frames: int = 8,
) -> TRN:
    """TRN on a ResNet-50: 2048-d frame features -> single-scale relation over ``num_frames`` ordered frames."""
    return TRN(task_spec, depth=50, pretrained=pretrained, dropout=dropout, drop_path=drop_path, num_frames=num_frames)
