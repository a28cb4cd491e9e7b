"""Optimisers with a backbone learning-rate factor, and the learning-rate schedules of the seed recipes."""

from __future__ import annotations

import math
import typing
from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import nn

from egoaction.config import OptimConfig, ScheduleConfig


def param_groups(model: nn.Module, cfg: OptimConfig) -> list[dict[str, object]]:
    """Trainable parameters grouped by learning-rate factor: the longest matching prefix of ``cfg.lr_factors``,
    else ``backbone_lr_factor`` for ``backbone.*``, else 1 (heads, temporal modules).

    Parameters frozen for good (first N stages) are left out; parameters frozen only until a later epoch
    (progressive unfreezing) must still be trainable here, so build the optimiser before freezing them."""
    groups: dict[str, dict[str, object]] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        group, factor = _lr_group(name, cfg)
        entry = groups.setdefault(group, {"params": [], "lr": cfg.lr * factor, "name": group})
        typing.cast(list, entry["params"]).append(p)
    return list(groups.values())


def _lr_group(name: str, cfg: OptimConfig) -> tuple[str, float]:
    """(group name, lr factor) of one parameter name."""
    prefixes = [p for p in cfg.lr_factors if name.startswith(p)]
    if prefixes:
        prefix = max(prefixes, key=len)
        return prefix, cfg.lr_factors[prefix]
    if name.startswith("backbone."):
        return "backbone", cfg.backbone_lr_factor
    return "head", 1.0


def check_lr_factors(model: nn.Module, cfg: OptimConfig) -> None:
    """ConfigError naming ``optim.lr_factors.<prefix>`` when a prefix matches no parameter of the model."""
    from egoaction.config import ConfigError

    names = [n for n, _ in model.named_parameters()]
    for prefix in cfg.lr_factors:
        if not any(n.startswith(prefix) for n in names):
            raise ConfigError(
                f"optim.lr_factors.{prefix}: no parameter name of the model starts with {prefix!r} "
                f"(names look like {names[0]!r}, ..., {names[-1]!r})"
            )


def build_optimizer(groups: Iterable[dict[str, object]], cfg: OptimConfig) -> torch.optim.Optimizer:
    """SGD (momentum, optional Nesterov), Adam or AdamW with the config's weight decay."""
    groups = list(groups)
    if cfg.name == "sgd":
        return torch.optim.SGD(
            groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov, weight_decay=cfg.weight_decay
        )
    if cfg.name == "adam":
        return torch.optim.Adam(groups, lr=cfg.lr, betas=cfg.betas, eps=cfg.eps, weight_decay=cfg.weight_decay)
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.betas, eps=cfg.eps, weight_decay=cfg.weight_decay)


@dataclass
class LrFactor:
    """Multiplier of the base lr at scheduler step ``t`` (a step is a batch or an epoch, by ``interval``).

    ``units_per_epoch`` converts the config's epoch-based warmup and milestones into scheduler steps."""

    name: str
    total: int
    units_per_epoch: float
    warmup_epochs: float = 0.0
    milestones: tuple[int, ...] = ()
    gamma: float = 0.1
    min_factor: float = 0.0
    step_size: int = 1

    def __call__(self, t: int) -> float:
        """Linear warmup from 1/warmup to 1, then cosine to ``min_factor``, milestone or periodic decay, or constant."""
        warmup = round(self.warmup_epochs * self.units_per_epoch)
        if t < warmup:
            return (t + 1) / warmup
        if self.name == "cosine":
            span = max(1, self.total - warmup)
            progress = min(1.0, (t - warmup) / span)
            return self.min_factor + (1 - self.min_factor) * 0.5 * (1 + math.cos(math.pi * progress))
        if self.name == "multistep":
            passed = sum(t >= round(m * self.units_per_epoch) for m in self.milestones)
            return float(self.gamma**passed)
        if self.name == "step":
            return float(self.gamma ** (t // max(1, round(self.step_size * self.units_per_epoch))))
        return 1.0


def build_schedule(
    optimizer: torch.optim.Optimizer, cfg: ScheduleConfig, *, max_epochs: int, steps_per_epoch: int
) -> dict[str, object]:
    """A Lightning lr_scheduler config: LambdaLR over steps or epochs as ``cfg.interval`` says."""
    per_step = cfg.interval == "step"
    units = float(steps_per_epoch) if per_step else 1.0
    factor = LrFactor(
        name=cfg.name,
        total=int(max_epochs * units),
        units_per_epoch=units,
        warmup_epochs=cfg.warmup_epochs,
        milestones=tuple(cfg.milestones),
        step_size=cfg.step_size,
        gamma=cfg.gamma,
        min_factor=cfg.min_lr_factor,
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    return {"scheduler": scheduler, "interval": cfg.interval, "frequency": 1}
