"""Training: the run directory, self-describing checkpoints, exact resume after a kill, freezing, errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import lightning as L
import pytest
import torch
import yaml

from egoaction.config import ConfigError, ExperimentConfig, from_dict, load_config
from egoaction.engine.checkpoint import load_model, read_checkpoint
from egoaction.engine.fit import train

from .conftest import tiny_overrides


def epoch_lines(run_dir: Path) -> list[dict]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [r for r in rows if r["kind"] == "epoch"]


def test_run_directory_is_complete_and_self_describing(tiny_config: Callable[..., ExperimentConfig]) -> None:
    cfg = tiny_config()
    run_dir = train(cfg)
    assert from_dict(yaml.safe_load((run_dir / "config.yaml").read_text())) == cfg
    assert {p.name for p in (run_dir / "checkpoints").iterdir()} == {"best.ckpt", "last.ckpt"}
    assert list((run_dir / "tensorboard").glob("events.out.tfevents.*"))
    epochs = epoch_lines(run_dir)
    assert [r["epoch"] for r in epochs] == [0, 1]
    assert {"train/loss", "val/loss", "val/verb_top1", "val/noun_top5", "val/action_top1"} <= set(epochs[-1])
    info = read_checkpoint(run_dir / "checkpoints" / "last.ckpt")["egoaction"]
    assert info["model"] == {"name": "tsn_resnet18", "kwargs": {}}
    assert info["task_spec"] == {"verb": 12, "noun": 28}
    assert len(info["classes"]["noun"]) == 28 and info["data"]["num_frames"] == 2
    assert info["epoch"] == 1 and info["config"]["data"]["size"] == 32 and info["code_version"]
    # The checkpoint alone rebuilds the trained network.
    model, _ = load_model(run_dir)
    state = read_checkpoint(run_dir / "checkpoints" / "best.ckpt")["state_dict"]
    assert torch.equal(model.state_dict()["heads.noun.weight"], state["model.heads.noun.weight"])


class KeepPredictions(L.Callback):
    """Copies what the module exposes after each validation epoch, with the metrics it logged."""

    def __init__(self) -> None:
        self.seen: list[tuple[dict[str, torch.Tensor], float]] = []

    def on_validation_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        top1 = float(trainer.callback_metrics["val/verb_top1"])
        self.seen.append((dict(module.val_predictions), top1))


def test_callbacks_see_the_whole_validation_split_the_metrics_came_from(
    tiny_config: Callable[..., ExperimentConfig],
) -> None:
    keep = KeepPredictions()
    train(tiny_config(**{"trainer.max_epochs": 1}), callbacks=[keep])
    preds, logged = keep.seen[-1]  # the sanity check's two batches come first
    n = len(preds["labels/verb"])
    assert preds["logits/verb"].shape == (n, 12) and preds["logits/noun"].shape == (n, 28)
    assert sorted(preds["index"].tolist()) == list(range(n))  # every validation segment once
    top1 = 100 * (preds["logits/verb"].argmax(1) == preds["labels/verb"]).float().mean().item()
    assert top1 == pytest.approx(logged, abs=1e-4)


def test_existing_run_is_not_overwritten_silently(tiny_config: Callable[..., ExperimentConfig]) -> None:
    cfg = tiny_config(**{"trainer.max_epochs": 1})
    train(cfg)
    with pytest.raises(FileExistsError, match="--resume"):
        train(cfg)


def test_bad_model_kwarg_names_the_key(tiny_config: Callable[..., ExperimentConfig]) -> None:
    with pytest.raises(ConfigError, match="dropuot"):
        train(tiny_config(**{"model.kwargs": "{dropuot: 0.1}"}))


def test_resume_without_checkpoint_is_a_clear_error(
    tmp_path: Path, tiny_config: Callable[..., ExperimentConfig]
) -> None:
    with pytest.raises(FileNotFoundError, match=r"last\.ckpt"):
        train(tiny_config(), resume=tmp_path / "nothing")


KILLED_RUN = textwrap.dedent(
    """
    import os, signal, sys
    import lightning as L
    from egoaction.config import load_config
    from egoaction.engine.fit import train

    class KillAt(L.Callback):
        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
            if trainer.global_step == int(os.environ["KILL_AT_STEP"]):
                os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, as when a node dies

    train(load_config(None, sys.argv[1:]), callbacks=[KillAt()])
    """
)


@pytest.mark.slow
def test_resume_after_kill_mid_epoch_is_exact(synth_root: Callable[[str], Path], tmp_path: Path) -> None:
    """A run SIGKILLed mid-epoch and resumed from last.ckpt ends with the weights and metrics of an uninterrupted
    run."""
    root = synth_root("epic100")
    common = {"trainer.max_epochs": 3, "trainer.deterministic": True, "model.kwargs": "{dropout: 0.5}"}
    full = train(load_config(None, tiny_overrides(root, tmp_path / "a", **common)))

    args = tiny_overrides(root, tmp_path / "b", **common)
    env = {**os.environ, "KILL_AT_STEP": "6"}  # 4 steps per epoch: step 6 is inside the second epoch
    proc = subprocess.run([sys.executable, "-c", KILLED_RUN, *args], env=env, capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    killed = tmp_path / "b" / "run"
    assert read_checkpoint(killed / "checkpoints" / "last.ckpt")["egoaction"]["epoch"] == 0
    assert any(r.get("epoch") == 1 for r in map(json.loads, (killed / "metrics.jsonl").read_text().splitlines()))

    resumed = train(load_config(killed / "config.yaml"), resume=killed)

    a = read_checkpoint(full / "checkpoints" / "last.ckpt")
    b = read_checkpoint(resumed / "checkpoints" / "last.ckpt")
    assert a["global_step"] == b["global_step"] == 12
    for key, value in a["state_dict"].items():
        assert torch.equal(value, b["state_dict"][key]), key
    strip = [{k: v for k, v in r.items() if k != "time"} for r in epoch_lines(full)]
    assert strip == [{k: v for k, v in r.items() if k != "time"} for r in epoch_lines(resumed)]
