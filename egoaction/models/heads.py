"""Classifier heads shared by every model: dropout, then one linear layer per task of the task spec; and TRN's
relation consensus, which reads the frame features in time order before the heads."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["RelationConsensus", "TaskHeads"]


class TaskHeads(nn.ModuleDict):
    """Dropout then ``Linear(dim, classes)`` per task: features (..., D) -> {task: logits (..., C)}.

    A ModuleDict, so the weights are named ``<attr>.<task>.weight`` (``heads.verb.weight``) whatever the model.
    ``init_std`` replaces PyTorch's default init with N(0, std) weights and zero biases (TSN's 0.001 over
    pretrained features).
    """

    def __init__(
        self, dim: int, task_spec: dict[str, int], *, dropout: float = 0.0, init_std: float | None = None
    ) -> None:
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        super().__init__({task: nn.Linear(dim, n) for task, n in task_spec.items()})
        self.dim = dim
        self.dropout = dropout
        if init_std is not None:
            for head in self.values():
                assert isinstance(head, nn.Linear)
                nn.init.normal_(head.weight, std=init_std)
                nn.init.zeros_(head.bias)

    def forward(self, features: Tensor) -> dict[str, Tensor]:
        """{task: logits (..., C)} from features (..., D)."""
        x = F.dropout(features, self.dropout, self.training)
        return {task: head(x) for task, head in self.items()}

    def extra_repr(self) -> str:
        """Dropout rate, shown in ``print(model)``."""
        return f"dropout={self.dropout}"


class RelationConsensus(nn.Module):
    """TRN's single-scale relation over the T frames in time order: features (B, T, D) -> (B, ``bottleneck``).

    Zhou, Andonian, Oliva and Torralba, "Temporal Relational Reasoning in Videos", ECCV 2018 (reference
    implementation zhoubolei/TRN-pytorch, TRNmodule.py): dropout and Linear(D -> ``reduce``) on each frame (the
    authors' ``new_fc``, img_feature_dim 256), the T results concatenated in order, ReLU, Linear(T * reduce ->
    ``bottleneck``) and ReLU (their bottleneck 256; MMAction2 uses 512). Their last Linear(bottleneck -> classes)
    is the model's :class:`TaskHeads`. Unlike an average, swapping two frames changes the output, and the layer
    is built for exactly ``frames`` frames.
    """

    def __init__(
        self, dim: int, frames: int, *, reduce: int = 256, bottleneck: int = 256, dropout: float = 0.0
    ) -> None:
        if frames < 1:
            raise ValueError(f"the relation needs at least one frame, got num_frames={frames}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        super().__init__()
        self.frames = frames
        self.dropout = dropout
        self.out_dim = bottleneck
        self.reduce = nn.Linear(dim, reduce)
        self.fuse = nn.Linear(frames * reduce, bottleneck)

    def forward(self, features: Tensor) -> Tensor:
        """(B, T, D) frame features in time order -> (B, bottleneck); ValueError unless T is ``frames``."""
        if features.ndim != 3 or features.shape[1] != self.frames:
            raise ValueError(
                f"the relation consensus was built for num_frames={self.frames}, got frame features of shape "
                f"{tuple(features.shape)}: build the model with the clip length it will see"
            )
        x = self.reduce(F.dropout(features, self.dropout, self.training))
        return F.relu(self.fuse(F.relu(x.flatten(1))))

    def extra_repr(self) -> str:
        """Frames and dropout, shown in ``print(model)``."""
        return f"frames={self.frames}, dropout={self.dropout}"
