"""The LightningModule: inputs on the device, multi-task losses, optimiser groups, freezing, epoch metrics."""

from __future__ import annotations

import typing
from typing import Any

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from egoaction.config import LossConfig, OptimConfig, ScheduleConfig
from egoaction.engine.checkpoint import INFO_KEY
from egoaction.engine.inputs import average_views, model_inputs, to_channels_last
from egoaction.engine.optim import build_optimizer, build_schedule, param_groups
from egoaction.models.base import VideoModel, set_memory_format
from egoaction.models.conv3d_guard import guard_conv3d
from egoaction.models.freeze import freeze_stages, set_batchnorm_mode


class ActionModule(L.LightningModule):
    """Trains any registered model on the task heads of its task spec; validation gathers logits for metrics."""

    def __init__(
        self,
        model: nn.Module,
        *,
        info: dict[str, Any],
        loss: LossConfig | None = None,
        optim: OptimConfig | None = None,
        schedule: ScheduleConfig | None = None,
        frozen_stages: int = 0,
        batchnorm: str = "train",
        unfreeze_epoch: int | None = None,
        channels_last: bool = False,
        seed: int = 0,
    ) -> None:
        super().__init__()
        # create_model guards its models already; a model built by hand reaches training here, so guard it too
        guard_conv3d(model)
        self.model = model
        self.info = info
        self.loss_cfg = loss or LossConfig()
        self.optim_cfg = optim or OptimConfig()
        self.schedule_cfg = schedule or ScheduleConfig()
        self.tasks = tuple(info["task_spec"])
        self.modalities = tuple(getattr(model, "modalities", ("rgb",)))
        self.target_modalities = tuple(getattr(model, "target_modalities", ()))
        self.frozen_stages = frozen_stages
        self.batchnorm = batchnorm
        self.unfreeze_epoch = unfreeze_epoch
        self.channels_last = channels_last
        self.seed = seed
        if frozen_stages:
            freeze_stages(
                typing.cast(VideoModel, model), frozen_stages
            )  # before the optimiser is built: these never train
        if channels_last:
            set_memory_format(self.model)
        self._val_outputs: list[dict[str, torch.Tensor]] = []
        # the last validation epoch's "logits/<task>", "labels/<task>" and "index" over the whole split, for
        # callbacks that score it their own way (a class subset, a confusion matrix) in on_validation_end
        self.val_predictions: dict[str, torch.Tensor] = {}

    # ---- forward and loss -------------------------------------------------------------------------------------
    def forward(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """Logits per task (B, C) for a uint8 batch; multi-view batches are averaged over views."""
        out, views = self._run(batch)
        return {t: average_views(out[t], views) for t in self.tasks}

    def _run(self, batch: dict[str, Any]) -> tuple[dict[str, torch.Tensor], int]:
        """The model's whole output (task logits and auxiliary outputs, views folded into the batch) and V."""
        inputs, views = model_inputs(batch, self.modalities)
        if self.channels_last:
            inputs = {k: to_channels_last(v) for k, v in inputs.items()}
        return self.model(inputs), views

    def _auxiliary(
        self, out: dict[str, torch.Tensor], batch: dict[str, Any]
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """The model's auxiliary loss terms and diagnostics for a single-view batch (none for plain models)."""
        if not isinstance(self.model, VideoModel):
            return {}, {}
        targets = {m: batch[m] for m in self.target_modalities}
        return self.model.auxiliary_losses(out, targets), self.model.auxiliary_metrics(out, targets)

    def _step(self, batch: dict[str, Any], stage: str) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Task logits (B, C) and the loss: task cross-entropies plus the model's auxiliary terms, all logged."""
        out, views = self._run(batch)
        logits = {t: average_views(out[t], views) for t in self.tasks}
        loss, _ = self.compute_loss(logits, batch["labels"])
        if views == 1:
            aux_losses, aux_metrics = self._auxiliary(out, batch)
            size = batch["size"]
            for name, value in {**aux_losses, **aux_metrics}.items():
                self.log(
                    f"{stage}/{name}", value.float(), on_step=False, on_epoch=True, batch_size=size, sync_dist=True
                )
            if aux_losses:
                loss = loss + sum(v.float() for v in aux_losses.values())
        return logits, loss

    def compute_loss(
        self, logits: dict[str, torch.Tensor], labels: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Weighted sum of the per-task cross-entropies (with label smoothing); also returns each term."""
        parts = {
            t: F.cross_entropy(logits[t].float(), labels[t], label_smoothing=self.loss_cfg.label_smoothing)
            for t in self.tasks
        }
        weights = self.loss_cfg.task_weights
        total = sum(weights.get(t, 1.0) * parts[t] for t in self.tasks)
        return torch.as_tensor(total), parts

    # ---- training -----------------------------------------------------------------------------------------------
    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor | None:
        """One optimisation step on a batch; a batch whose samples were all unreadable is skipped."""
        if batch["size"] == 0:
            return None
        logits, loss = self._step(batch, "train")
        size = batch["size"]
        self.log("train/loss_step", loss, on_step=True, on_epoch=False, prog_bar=True, batch_size=size)
        self.log("train/loss", loss, on_step=False, on_epoch=True, batch_size=size, sync_dist=True)
        for t in self.tasks:
            acc = (logits[t].argmax(-1) == batch["labels"][t]).float().mean() * 100
            self.log(f"train/{t}_top1", acc, on_step=False, on_epoch=True, batch_size=size, sync_dist=True)
        return loss

    def on_train_epoch_start(self) -> None:
        """Apply the freezing rules that Lightning's train() undid."""
        self._apply_freezing()

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        """Seed the global RNG (dropout, drop path) from (seed, epoch, batch), so a resumed run draws exactly what
        the uninterrupted one drew, whatever consumed random numbers in between (e.g. DataLoader start-up)."""
        state = np.random.SeedSequence([self.seed, self.current_epoch, batch_idx]).generate_state(1)[0]
        torch.manual_seed(int(state))

    def on_validation_model_train(self) -> None:
        """Back to train mode after validation, keeping frozen BatchNorm and stages in eval."""
        super().on_validation_model_train()
        self._apply_freezing()

    def _apply_freezing(self) -> None:
        if self.unfreeze_epoch is not None:
            backbone = typing.cast(nn.Module, self.model.backbone)
            frozen = self.current_epoch < self.unfreeze_epoch
            backbone.requires_grad_(not frozen)
            if frozen:
                backbone.eval()
        if self.frozen_stages:
            freeze_stages(typing.cast(VideoModel, self.model), self.frozen_stages)
        set_batchnorm_mode(self.model, self.batchnorm)

    # ---- validation ---------------------------------------------------------------------------------------------
    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        """Collect the logits and labels of a validation batch."""
        if batch["size"] == 0:
            return
        logits, loss = self._step(batch, "val")
        self.log("val/loss", loss, on_epoch=True, batch_size=batch["size"], sync_dist=True)
        row = {f"logits/{t}": logits[t].float() for t in self.tasks}
        row.update({f"labels/{t}": batch["labels"][t] for t in self.tasks})
        row["index"] = batch["index"]
        self._val_outputs.append(row)

    def on_validation_epoch_end(self) -> None:
        """Top-1/top-5 per task over the whole split (EPIC action accuracy too), gathered over all processes."""
        if not self._val_outputs:
            return
        merged = {k: torch.cat([o[k] for o in self._val_outputs]) for k in self._val_outputs[0]}
        self._val_outputs.clear()
        self.val_predictions = {k: _gather(self, v).detach().cpu() for k, v in merged.items()}
        for name, value in epoch_metrics(self.val_predictions, self.tasks).items():
            self.log(f"val/{name}", value, rank_zero_only=True)

    # ---- optimisers and checkpoints -------------------------------------------------------------------------
    def configure_optimizers(self) -> Any:
        """Optimiser over the trainable parameter groups and its per-step or per-epoch lr schedule."""
        optimizer = build_optimizer(param_groups(self.model, self.optim_cfg), self.optim_cfg)
        max_epochs = max(1, self.trainer.max_epochs or 1)
        steps_per_epoch = max(1, int(self.trainer.estimated_stepping_batches) // max_epochs)
        schedule = build_schedule(optimizer, self.schedule_cfg, max_epochs=max_epochs, steps_per_epoch=steps_per_epoch)
        return {"optimizer": optimizer, "lr_scheduler": schedule}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Make the checkpoint self-describing (model, task spec, classes, data settings, config, version)."""
        checkpoint[INFO_KEY] = {**self.info, "epoch": self.current_epoch, "global_step": self.global_step}


def _gather(module: L.LightningModule, value: torch.Tensor) -> torch.Tensor:
    """Concatenate a per-process tensor over all processes (unchanged on a single device)."""
    out = typing.cast(torch.Tensor, module.all_gather(value))
    return out.flatten(0, 1) if out.dim() > value.dim() else out


def epoch_metrics(gathered: dict[str, torch.Tensor], tasks: tuple[str, ...]) -> dict[str, float]:
    """Top-1/5 (percent) per task, their mean as ``top1``, and EPIC action top-1/5 when verb and noun exist."""
    from egoaction.metrics.classification import topk_accuracy
    from egoaction.metrics.epic import epic_metrics

    out: dict[str, float] = {}
    for t in tasks:
        acc = topk_accuracy(gathered[f"logits/{t}"].cpu().numpy(), gathered[f"labels/{t}"].cpu().numpy(), ks=(1, 5))
        out[f"{t}_top1"], out[f"{t}_top5"] = acc[1], acc[5]
    out["top1"] = float(np.mean([out[f"{t}_top1"] for t in tasks]))
    if "verb" in tasks and "noun" in tasks:
        n = len(gathered["labels/verb"])
        epic = epic_metrics(
            gathered["logits/verb"].cpu().numpy(),
            gathered["logits/noun"].cpu().numpy(),
            gathered["labels/verb"].cpu().numpy(),
            gathered["labels/noun"].cpu().numpy(),
            participants=[""] * n,
        )
        out["action_top1"] = epic["all_action_accuracy_at_1"]
        out["action_top5"] = epic["all_action_accuracy_at_5"]
    return out
