"""Stage freezing and BatchNorm modes: what an optimiser step in train mode may and may not change."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from egoaction.models import count_parameters, create_model, freeze_stages, set_batchnorm_mode
from egoaction.models.base import VideoModel


@pytest.fixture
def model() -> VideoModel:
    torch.manual_seed(0)
    return create_model("tsn_resnet18", {"verb": 3, "noun": 4})


def snapshot(module: nn.Module) -> dict[str, torch.Tensor]:
    """Parameters and buffers (running stats included), copied."""
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def train_step(model: VideoModel, bn_mode: str) -> None:
    """One SGD step the way the engine runs it: train(), then the BatchNorm mode, then forward/backward."""
    model.train()
    set_batchnorm_mode(model, bn_mode)
    optimiser = torch.optim.SGD(model.parameters(), lr=0.1)
    x = torch.randn(2, 2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    out = model({"rgb": x})
    (out["verb"].logsumexp(1) + out["noun"].logsumexp(1)).sum().backward()
    optimiser.step()


def changed(before: dict[str, torch.Tensor], after: dict[str, torch.Tensor]) -> set[str]:
    return {k for k, v in before.items() if v.is_floating_point() and not torch.equal(v, after[k])}


def bn_names(model: nn.Module) -> list[str]:
    return [n for n, m in model.named_modules() if isinstance(m, nn.BatchNorm2d)]


def test_frozen_stages_keep_weights_and_running_stats(model: VideoModel) -> None:
    freeze_stages(model, 2)  # stem + layer1
    before = snapshot(model)
    train_step(model, "train")
    moved = changed(before, snapshot(model))
    frozen = [k for k in before if k.startswith(("backbone.conv1", "backbone.bn1", "backbone.layer1."))]
    assert frozen and not moved & set(frozen)
    assert "backbone.layer2.0.bn1.running_mean" in moved and "backbone.layer2.0.conv1.weight" in moved
    assert "heads.verb.weight" in moved
    assert not model.backbone.bn1.training and model.backbone.layer2[0].bn1.training


def test_freeze_stages_counts_and_bounds(model: VideoModel) -> None:
    total = count_parameters(model)
    stages = model.backbone_stages()
    freeze_stages(model, 3)
    assert count_parameters(model, trainable_only=True) == total - sum(count_parameters(s) for s in stages[:3])
    assert count_parameters(model) == total
    with pytest.raises(ValueError, match="has 5 backbone stages; cannot freeze 6"):
        freeze_stages(model, 6)


def test_partial_bn_trains_only_the_first_batchnorm(model: VideoModel) -> None:
    before = snapshot(model)
    train_step(model, "partial")
    moved = changed(before, snapshot(model))
    first, *rest = bn_names(model)
    assert first == "backbone.bn1"
    assert {f"{first}.{p}" for p in ("weight", "bias", "running_mean", "running_var")} <= moved
    assert not any(k.startswith(tuple(f"{n}." for n in rest)) for k in moved)
    assert "backbone.layer4.1.conv2.weight" in moved


def test_frozen_bn_keeps_every_batchnorm(model: VideoModel) -> None:
    before = snapshot(model)
    train_step(model, "frozen")
    moved = changed(before, snapshot(model))
    assert not any(k.startswith(tuple(f"{n}." for n in bn_names(model))) for k in moved)
    assert "backbone.conv1.weight" in moved


def test_mode_survives_train_and_is_idempotent(model: VideoModel) -> None:
    freeze_stages(model, 1)
    for _ in range(2):  # Lightning calls model.train() every epoch; the engine re-applies the mode after it
        model.train()
        set_batchnorm_mode(model, "partial")
        set_batchnorm_mode(model, "partial")
        modes = {n: m.training for n, m in model.named_modules() if isinstance(m, nn.BatchNorm2d)}
        # the first BatchNorm is in the frozen stem, so it stays in eval too
        assert not any(modes.values())
    model.train()
    set_batchnorm_mode(model, "train")
    assert not model.backbone.bn1.training, "a frozen stage stays in eval in every mode"


def test_train_mode_leaves_batchnorm_training(model: VideoModel) -> None:
    model.train()
    set_batchnorm_mode(model, "train")
    assert all(m.training for m in model.modules())
    with pytest.raises(ValueError, match="BatchNorm mode must be one of"):
        set_batchnorm_mode(model, "partial_bn")
