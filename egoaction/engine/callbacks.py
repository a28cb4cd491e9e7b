"""Callbacks Lightning lacks: the JSON-lines metrics file (one line per logged step and per epoch)."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch

from egoaction.atomic import write_text_atomic


def _number(value: Any) -> float | None:
    v = float(value.item() if isinstance(value, torch.Tensor) else value)
    return None if math.isnan(v) or math.isinf(v) else round(v, 6)


class MetricsFile(L.Callback):
    """Appends ``{"kind": "step", …}`` every ``every_n_steps`` optimiser steps and ``{"kind": "epoch", …}`` after
    each epoch's validation to ``path``. On resume, lines of epochs not yet finished in the checkpoint are dropped,
    so the file reads as one uninterrupted run."""

    def __init__(self, path: str | Path, every_n_steps: int = 10) -> None:
        self.path = Path(path)
        self.every_n_steps = max(1, every_n_steps)
        self._start = time.monotonic()

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Drop lines from epochs the resumed checkpoint had not completed."""
        if trainer.global_rank != 0 or not self.path.exists():
            return
        keep = [line for line in self.path.read_text().splitlines() if _epoch_of(line) < trainer.current_epoch]
        write_text_atomic(self.path, "".join(line + "\n" for line in keep))

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        """A step line with the step loss and learning rate."""
        step = trainer.global_step
        if trainer.global_rank != 0 or step % self.every_n_steps or "train/loss_step" not in trainer.callback_metrics:
            return
        row = {"kind": "step", "epoch": trainer.current_epoch, "step": step, "lr": _lr(trainer)}
        row["train/loss_step"] = _number(trainer.callback_metrics["train/loss_step"])
        self._write(row)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """An epoch line with every train/ and val/ metric logged this epoch."""
        if trainer.global_rank != 0 or trainer.sanity_checking:
            return
        row: dict[str, Any] = {"kind": "epoch", "epoch": trainer.current_epoch, "step": trainer.global_step}
        row["time"] = round(time.monotonic() - self._start, 2)
        row["lr"] = _lr(trainer)
        for key, value in sorted(trainer.callback_metrics.items()):
            if key.startswith(("train/", "val/")) and key != "train/loss_step":
                row[key] = _number(value)
        self._write(row)

    def _write(self, row: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as f:
            f.write(json.dumps(row) + "\n")


def _lr(trainer: L.Trainer) -> float | None:
    if not trainer.optimizers:
        return None
    return _number(trainer.optimizers[0].param_groups[0]["lr"])


def _epoch_of(line: str) -> int:
    try:
        return int(json.loads(line).get("epoch", 0))
    except (ValueError, AttributeError):
        return 0
