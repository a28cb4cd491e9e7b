"""Optimiser groups and lr schedules (hand-computed values), progressive unfreezing and --init-from in train()."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

import lightning as L
import pytest
import torch

from egoaction.config import ExperimentConfig, OptimConfig, ScheduleConfig
from egoaction.engine.fit import train
from egoaction.engine.optim import LrFactor, build_optimizer, build_schedule, param_groups
from egoaction.models import create_model


def test_warmup_then_cosine_per_step_is_hand_computed() -> None:
    f = LrFactor("cosine", total=10, units_per_epoch=2, warmup_epochs=1)  # warmup = 2 steps, cosine over 8
    assert [f(0), f(1)] == [0.5, 1.0]
    assert f(2) == 1.0 and f(6) == pytest.approx(0.5) and f(10) == pytest.approx(0.0)
    assert f(4) == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)))
    floor = LrFactor("cosine", total=10, units_per_epoch=2, warmup_epochs=1, min_factor=0.1)
    assert floor(6) == pytest.approx(0.55) and floor(10) == pytest.approx(0.1)


def test_multistep_per_epoch_and_per_step() -> None:
    per_epoch = LrFactor("multistep", total=8, units_per_epoch=1, milestones=(3, 5), gamma=0.1)
    assert [per_epoch(t) for t in (0, 2, 3, 4, 5, 7)] == pytest.approx([1, 1, 0.1, 0.1, 0.01, 0.01])
    per_step = LrFactor("multistep", total=40, units_per_epoch=5, milestones=(3,), gamma=0.5)
    assert per_step(14) == 1.0 and per_step(15) == 0.5  # milestone epoch 3 = step 15


def test_build_schedule_steps_the_optimiser_lr() -> None:
    w = torch.nn.Parameter(torch.zeros(2))
    opt = torch.optim.SGD([w], lr=0.2)
    cfg = ScheduleConfig(name="multistep", warmup_epochs=0, milestones=[1], gamma=0.1, interval="epoch")
    sched = build_schedule(opt, cfg, max_epochs=3, steps_per_epoch=7)
    assert sched["interval"] == "epoch"
    lr = []
    for _ in range(3):
        lr.append(opt.param_groups[0]["lr"])
        opt.step()
        sched["scheduler"].step()  # type: ignore[attr-defined]
    assert lr == pytest.approx([0.2, 0.02, 0.02])


def test_param_groups_scale_the_backbone_and_skip_frozen_weights() -> None:
    model = create_model("tsn_resnet18", {"verb": 3, "noun": 4})
    model.backbone.conv1.requires_grad_(False)
    cfg = OptimConfig(name="sgd", lr=0.01, backbone_lr_factor=0.1, momentum=0.9, nesterov=True)
    groups = {g["name"]: g for g in param_groups(model, cfg)}
    assert groups["head"]["lr"] == 0.01 and groups["backbone"]["lr"] == pytest.approx(0.001)
    head = groups["head"]["params"]
    assert len(head) == 4  # weight and bias of two heads
    assert all(p is not model.backbone.conv1.weight for p in groups["backbone"]["params"])
    opt = build_optimizer(groups.values(), cfg)
    assert isinstance(opt, torch.optim.SGD) and opt.defaults["nesterov"] and opt.defaults["momentum"] == 0.9


class BackboneSnapshots(L.Callback):
    """The backbone's conv1 weight at the end of each training epoch."""

    def __init__(self) -> None:
        self.weights: list[torch.Tensor] = []

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self.weights.append(module.model.backbone.conv1.weight.detach().clone())


def test_progressive_unfreezing_holds_the_backbone_until_its_epoch(
    tiny_config: Callable[..., ExperimentConfig],
) -> None:
    snaps = BackboneSnapshots()
    cfg = tiny_config(**{"trainer.unfreeze_epoch": 1, "optim.backbone_lr_factor": 0.5})
    torch.manual_seed(cfg.trainer.seed)
    initial = copy.deepcopy(create_model("tsn_resnet18", {"verb": 12, "noun": 28}).backbone.conv1.weight)
    train(cfg, callbacks=[snaps])
    assert torch.equal(snaps.weights[0], initial)  # epoch 0: backbone frozen
    assert not torch.equal(snaps.weights[1], snaps.weights[0])  # epoch 1: it trains


def test_init_from_starts_stage_two_from_stage_one(tiny_config: Callable[..., ExperimentConfig]) -> None:
    stage1 = train(tiny_config(**{"trainer.max_epochs": 1}))
    snaps = BackboneSnapshots()
    stage2_cfg = tiny_config(**{"name": "stage2", "trainer.max_epochs": 1, "optim.lr": 0.0})
    train(stage2_cfg, init_from_ckpt=stage1 / "checkpoints" / "last.ckpt", callbacks=[snaps])
    trained = torch.load(stage1 / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    # lr 0 in stage 2 (after warmup's first step too), so its weights are exactly stage 1's
    assert torch.equal(snaps.weights[0], trained["state_dict"]["model.backbone.conv1.weight"])


@pytest.mark.parametrize("name", ["adam", "adamw"])
def test_adam_eps_comes_from_the_config(name: str) -> None:
    model = create_model("tsn_resnet18", {"action": 3})
    cfg = OptimConfig(name=name, lr=1e-3, eps=1e-4)  # Ego-RNN's and LSTA's Adam
    assert build_optimizer(param_groups(model, cfg), cfg).defaults["eps"] == 1e-4


def test_step_schedule_decays_every_step_size_epochs() -> None:
    factor = LrFactor(name="step", total=50, units_per_epoch=10, step_size=2, gamma=0.5)
    # 10 steps per epoch, so the lr halves every 20 steps (Ego-RNN two-stream: every epoch by 0.99)
    assert [factor(t) for t in (0, 19, 20, 39, 40)] == [1.0, 1.0, 0.5, 0.5, 0.25]
