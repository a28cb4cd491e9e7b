"""The benchmarks' ImageNet stand-in: a TSN trained on single frames of the synthetic EPIC kitchen.

Every seed experiment fine-tunes an ImageNet backbone, and ImageNet weights cannot be fetched offline. The
stand-in is the nearest thing the machine can make: ``configs/demo.yaml``'s recipe (one random frame per segment,
verb and noun heads, AdamW, cosine) for a chosen number of epochs, on the kitchen's training split. Its backbone
then initialises the benchmark's models the way ImageNet weights would. Not a script: ``zoo.py`` and
``gtea61.py`` import it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch import Tensor

from egoaction.atomic import atomic_path
from egoaction.config import load_config
from egoaction.engine.checkpoint import read_checkpoint
from egoaction.engine.fit import train

DEMO = Path(__file__).parent.parent / "configs" / "demo.yaml"


def standin_sets(
    model: str, epic_root: Path, runs: Path, epochs: int, workers: int, size: tuple[int, int] | None = None
) -> list[str]:
    """The demo config's overrides that make it the stand-in run ``standin_<model>`` under ``runs``.

    ``size`` (H, W) replaces the demo's 48x84 frames (short side H), for a benchmark whose clips are larger.
    """
    sets = [
        f"name=standin_{model}",
        f"output_dir={runs}",
        f"data.root={epic_root}",
        f"data.num_workers={workers}",
        f"model.name={model}",
        "schedule.warmup_epochs=1",
        f"trainer.max_epochs={epochs}",
    ]
    if size is not None:
        sets += [f"data.size=[{size[0]},{size[1]}]", f"data.resize={size[0]}"]
    return sets


def standin_file(runs: Path, arch: str, epochs: int, size: tuple[int, int] | None = None) -> Path:
    """Where a stand-in's weights are kept under ``runs``: its ResNet, epochs and frame size (when not the demo's)
    are in the name, so a new budget trains a new stand-in instead of reusing another's."""
    tag = f"_{size[0]}x{size[1]}" if size else ""
    return runs / f"standin_{arch}_{epochs}ep{tag}.pt"


def ensure_kitchen(epic_root: Path) -> Path:
    """The ``small`` synthetic EPIC kitchen (seed 0, no flow) at ``epic_root``, rendered on first use."""
    if not (epic_root / "EPIC_100_train.csv").is_file():
        from egoaction.data.synth.generate import synthesize

        print(synthesize("epic100", epic_root, preset="small", seed=0, flow=False), file=sys.stderr, flush=True)
    return epic_root


def train_standin(
    model: str, epic_root: Path, runs: Path, epochs: int, workers: int = 1, size: tuple[int, int] | None = None
) -> dict[str, Tensor]:
    """Train the TSN ``model`` as the stand-in (rendering the kitchen if missing); its weights, no 'model.'."""
    ensure_kitchen(epic_root)
    run = train(load_config(DEMO, standin_sets(model, epic_root, runs, epochs, workers, size)), overwrite=True)
    state = read_checkpoint(run / "checkpoints" / "last.ckpt")["state_dict"]
    return {k.removeprefix("model."): v for k, v in state.items() if k.startswith("model.")}


def save_weights(weights: dict[str, Tensor], path: Path) -> Path:
    """torch.save ``weights`` to ``path`` through a temporary file, so an interrupted run leaves no half file."""
    with atomic_path(path) as tmp:
        torch.save(weights, tmp)
    return path
