"""Engine fixtures: a tiny, fast training config on the tiny synthetic EPIC kitchen."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from egoaction.config import ExperimentConfig, load_config


def tiny_overrides(root: Path, out: Path, **extra: object) -> list[str]:
    """Overrides for a seconds-long CPU run: 2 frames of 32 px, TSN-R18, fp32, no workers."""
    values: dict[str, object] = {
        "data.root": str(root),
        "data.num_frames": 2,
        "data.size": 32,
        "data.resize": 36,
        "data.batch_size": 8,
        "data.num_workers": 0,
        "model.name": "tsn_resnet18",
        "optim.name": "adamw",
        "optim.lr": 0.001,
        "optim.weight_decay": 0.0,
        "schedule.warmup_epochs": 1,
        "trainer.max_epochs": 2,
        "trainer.precision": "32",
        "trainer.progress_bar": False,
        "trainer.log_every_n_steps": 1,
        "output_dir": str(out),
        "name": "run",
    }
    values.update(extra)
    return [f"{k}={v}" for k, v in values.items()]


@pytest.fixture()
def tiny_config(synth_root: Callable[[str], Path], tmp_path: Path) -> Callable[..., ExperimentConfig]:
    """A function (**overrides) -> ExperimentConfig of a tiny EPIC run writing under tmp_path."""

    def make(**extra: object) -> ExperimentConfig:
        return load_config(None, tiny_overrides(synth_root("epic100"), tmp_path / "runs", **extra))

    return make
