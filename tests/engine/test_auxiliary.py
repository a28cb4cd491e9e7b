"""Engine hooks the two-stage and self-supervised recipes need: auxiliary losses on target modalities, per-prefix
learning rates, and `model.init_from` in the config."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import Tensor, nn

import egoaction.engine.fit as fit
from egoaction.config import ConfigError, ExperimentConfig, OptimConfig, load_config
from egoaction.engine.fit import train
from egoaction.engine.optim import check_lr_factors, param_groups
from egoaction.models import create_model
from egoaction.models.backbones import encode_frames, resnet_backbone
from egoaction.models.base import VideoModel
from egoaction.models.heads import TaskHeads

from .conftest import tiny_overrides


class MotionGuess(VideoModel):
    """A tiny model that also guesses each frame's mean motion-map value: its loss is an auxiliary term."""

    target_modalities = ("mmaps",)

    def __init__(self, task_spec: dict[str, int]) -> None:
        super().__init__(task_spec)
        self.backbone, dim = resnet_backbone(18)
        self.guess = nn.Linear(dim, 1)
        self.heads = TaskHeads(dim, task_spec)

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Task logits (B, C) and the per-frame guess (B, T)."""
        feats = encode_frames(self.backbone, self.read_input(batch, "rgb"))
        return {**self.heads(feats.mean(1)), "motion": self.guess(feats).squeeze(-1)}

    def auxiliary_losses(self, outputs: dict[str, Tensor], targets: dict[str, Tensor]) -> dict[str, Tensor]:
        """10 x MSE to the mean of each frame's motion map (in [0, 1])."""
        truth = targets["mmaps"].float().div(255).mean((2, 3, 4))
        return {"motion_loss": 10 * (outputs["motion"].float() - truth).pow(2).mean()}

    def auxiliary_metrics(self, outputs: dict[str, Tensor], targets: dict[str, Tensor]) -> dict[str, Tensor]:
        """How many motion maps the batch held (to check the targets arrive)."""
        return {"maps_seen": torch.tensor(float(targets["mmaps"].shape[1]))}


def _gtea_config(root: Path, out: Path, **extra: object) -> ExperimentConfig:
    values: dict[str, object] = {"data.format": "gtea61", "data.modalities": "[rgb, mmaps]", "trainer.max_epochs": 2}
    values.update(extra)
    return load_config(None, tiny_overrides(root, out, **values))


def test_auxiliary_losses_are_trained_and_logged(
    synth_root: Callable[[str], Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[Tensor] = []

    def make(cfg: ExperimentConfig, spec: dict[str, int]) -> MotionGuess:
        model = MotionGuess(spec)
        built.append(model.guess.weight.detach().clone())
        return model

    monkeypatch.setattr(fit, "make_model", make)
    run_dir = train(_gtea_config(synth_root("gtea61"), tmp_path / "runs"))
    epochs = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    epochs = [e for e in epochs if e["kind"] == "epoch"]
    assert all("train/motion_loss" in e and "val/motion_loss" in e for e in epochs)
    assert epochs[0]["val/maps_seen"] == 2  # one map per sampled frame, data.num_frames = 2
    # only the auxiliary loss reaches the guess layer: it trained, so the term was part of the optimised loss
    state = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)["state_dict"]
    assert not torch.equal(state["model.guess.weight"], built[0])
    assert epochs[-1]["train/loss"] > epochs[-1]["train/motion_loss"] > 0


def test_a_missing_target_modality_names_data_modalities(
    synth_root: Callable[[str], Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fit, "make_model", lambda cfg, spec: MotionGuess(spec))
    cfg = _gtea_config(synth_root("gtea61"), tmp_path / "runs", **{"data.modalities": "[rgb]"})
    with pytest.raises(ConfigError, match=r"data.modalities.*add \['mmaps'\]"):
        train(cfg)


def test_lr_factors_pick_the_longest_prefix() -> None:
    model = create_model("tsn_resnet18", {"action": 5})
    cfg = OptimConfig(lr=0.1, backbone_lr_factor=0.5, lr_factors={"backbone.layer4.": 0.1, "backbone.layer4.1.": 0.01})
    groups = {g["name"]: g for g in param_groups(model, cfg)}
    assert groups["head"]["lr"] == 0.1 and groups["backbone"]["lr"] == pytest.approx(0.05)
    assert groups["backbone.layer4."]["lr"] == pytest.approx(0.01)
    assert groups["backbone.layer4.1."]["lr"] == pytest.approx(0.001)
    layer4_1 = {id(p) for p in model.backbone.layer4[1].parameters()}
    assert {id(p) for p in groups["backbone.layer4.1."]["params"]} == layer4_1  # type: ignore[attr-defined]
    total = sum(len(g["params"]) for g in groups.values())  # type: ignore[arg-type]
    assert total == len(list(model.parameters()))


def test_an_lr_factor_prefix_that_matches_nothing_is_a_config_error() -> None:
    model = create_model("tsn_resnet18", {"action": 5})
    with pytest.raises(ConfigError, match=r"optim.lr_factors.flow\."):
        check_lr_factors(model, OptimConfig(lr_factors={"flow.": 0.01}))


def test_model_init_from_in_the_config_starts_from_a_run(tiny_config: Callable[..., ExperimentConfig]) -> None:
    stage1 = train(tiny_config(**{"trainer.max_epochs": 1}))
    cfg = tiny_config(**{"name": "stage2", "trainer.max_epochs": 1, "optim.lr": 0.0, "model.init_from": str(stage1)})
    stage2 = train(cfg)
    first = torch.load(stage1 / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)["state_dict"]
    second = torch.load(stage2 / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)["state_dict"]
    assert torch.equal(first["model.heads.verb.weight"], second["model.heads.verb.weight"])  # lr 0: unchanged


def test_model_init_from_a_plain_state_dict_keeps_what_matches_and_starts_the_rest_afresh(
    tiny_config: Callable[..., ExperimentConfig], tmp_path: Path
) -> None:
    stage1 = train(tiny_config(**{"trainer.max_epochs": 1}))
    state = torch.load(stage1 / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)["state_dict"]
    weights = {k.removeprefix("model."): v for k, v in state.items() if not k.startswith("model.heads.")}
    torch.save(weights, tmp_path / "backbone.pt")  # weights trained elsewhere: no egoaction description
    overrides = {"name": "from_pt", "trainer.max_epochs": 1, "optim.lr": 0.0}
    cfg = tiny_config(**overrides, **{"model.init_from": str(tmp_path / "backbone.pt")})
    second = torch.load(train(cfg) / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)["state_dict"]
    conv = next(k for k in weights if k.endswith("conv1.weight"))
    assert torch.equal(second[f"model.{conv}"], weights[conv])
    assert not torch.equal(second["model.heads.verb.weight"], state["model.heads.verb.weight"])
