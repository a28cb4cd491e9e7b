"""Every experiment config under configs/ loads, builds its model and trains two steps on tiny synthetic data."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from egoaction.config import load_config
from egoaction.engine.fit import train
from egoaction.models import create_model, model_parameters

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
# shared bases (``_*.yaml``) are not experiments of their own; each is covered through the configs using it
EXPERIMENTS = sorted(p for p in CONFIGS.rglob("*.yaml") if not p.name.startswith("_"))
SIZE = 32


def test_every_config_directory_has_experiments() -> None:
    assert {p.parent.name for p in EXPERIMENTS} >= {"configs", "seed000", "seed003", "lecture", "video", "gtea61"}


def offline_kwargs(kwargs: dict[str, object]) -> dict[str, str]:
    """Overrides that drop weight files a config starts from (ImageNet, other runs' checkpoints): none exist here."""
    files = [k for k, v in kwargs.items() if v is not None and (k == "pretrained" or k.endswith("_checkpoint"))]
    return {f"model.kwargs.{k}": "null" for k in files}


def shrink(path: Path, root: Path, out: Path) -> list[str]:
    """Overrides keeping the config's model, frames and recipe but with tiny data: 32 px, batch 2, 2 steps."""
    cfg = load_config(path)
    overrides = {
        "data.root": str(root),
        "data.size": SIZE,
        "data.resize": SIZE + 4,
        "data.batch_size": 2,
        "data.num_workers": 0,
        "trainer.max_epochs": 1,
        "trainer.limit_train_batches": 2,
        "trainer.limit_val_batches": 1,
        "trainer.accumulate_grad_batches": 1,
        "trainer.precision": "32",
        "trainer.progress_bar": False,
        "trainer.unfreeze_epoch": "null",
        "model.init_from": "null",  # the earlier stage's run; starting from it is tested in tests/engine
        "output_dir": str(out),
    }
    params = model_parameters(cfg.model.name)
    overrides.update(offline_kwargs(cfg.model.kwargs))  # loading them is tested per family
    if "size" in params:
        overrides["model.kwargs.size"] = SIZE
    return [f"{k}={v}" for k, v in overrides.items()]


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: str(p.relative_to(CONFIGS)))
def test_config_trains_two_steps(path: Path, synth_root: Callable[[str], Path], tmp_path: Path) -> None:
    full = load_config(path)  # as written: every key valid, the model's kwargs accepted
    with torch.device("meta"):
        offline = {k.split(".")[-1]: None for k in offline_kwargs(full.model.kwargs)}
        create_model(full.model.name, {"verb": 97, "noun": 300}, **{**full.model.kwargs, **offline})
    cfg = load_config(path, shrink(path, synth_root(full.data.format), tmp_path))
    run_dir = train(cfg)
    ckpt = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert ckpt["global_step"] == 2
    assert cfg.model.name == full.model.name and cfg.data.num_frames == full.data.num_frames
