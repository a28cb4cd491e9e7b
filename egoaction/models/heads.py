"""Classifier heads shared by every model: dropout, then one linear layer per task of the task spec."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["TaskHeads"]


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
