"""The benchmarks' stand-ins for pretrained weights: ImageNet's and Kinetics'.

Every seed experiment fine-tunes an ImageNet backbone, and ImageNet weights cannot be fetched offline. The
stand-in is the nearest thing the machine can make: ``configs/demo.yaml``'s recipe (one random frame per segment,
verb and noun heads, AdamW, cosine) for a chosen number of epochs, on the kitchen's training split. Its backbone
then initialises the benchmark's models the way ImageNet weights would.

The video models' papers go one step further and start from weights that have seen motion (Kinetics-400). The
motion stand-in is that step: a video model, already holding the image stand-in, learns for a few hundred steps
which of 8 directions a rectangle moves in (:func:`moving_shapes`), and the benchmark fine-tunes from its weights.

Not a script: ``zoo.py``, ``gtea61.py`` and ``order_learning.py`` import it.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from egoaction.atomic import atomic_path
from egoaction.config import load_config
from egoaction.data.transforms import IMAGENET_MEAN, IMAGENET_STD, normalize
from egoaction.engine.checkpoint import read_checkpoint
from egoaction.engine.fit import train
from egoaction.engine.precision import cpu_bf16

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


DIRECTIONS = 8
ClipSource = Callable[[int, torch.Generator], tuple[Tensor, Tensor]]  # (n, gen) -> clips, labels


def moving_shapes(
    n: int, gen: torch.Generator, frames: int = 8, size: tuple[int, int] = (48, 84)
) -> tuple[Tensor, Tensor]:
    """``n`` motion clips (n, T, 3, H, W) in 0..1 and their labels (n,): the direction a rectangle moves over
    noise, one of 8 (0 = right, counting 45 degrees anticlockwise), 1 to 4 pixels a frame, beside a still one.
    Label k + 4 is label k played backwards, as the kitchen's pair verbs are each other."""
    labels = torch.randint(0, DIRECTIONS, (n,), generator=gen)
    clips = 0.3 * torch.rand(n, frames, 3, *size, generator=gen)
    h, w = size
    for i in range(n):
        angle = 2 * math.pi * float(labels[i]) / DIRECTIONS
        speed = 1 + 3 * float(torch.rand(1, generator=gen))
        sy, sx = (int(v) for v in torch.randint(5, 15, (2,), generator=gen))
        dx, dy = speed * math.cos(angle), -speed * math.sin(angle)  # image rows grow downwards
        span_x, span_y = dx * (frames - 1), dy * (frames - 1)
        x0 = _uniform(max(0.0, -span_x), w - sx - max(0.0, span_x), gen)
        y0 = _uniform(max(0.0, -span_y), h - sy - max(0.0, span_y), gen)
        still = [int(torch.randint(0, lim, (1,), generator=gen)) for lim in (h - 8, w - 8)]
        clips[i, :, :, still[0] : still[0] + 8, still[1] : still[1] + 8] = torch.rand(3, 1, 1, generator=gen)
        colour = 0.5 + 0.5 * torch.rand(3, 1, 1, generator=gen)  # brighter than the noise in every channel
        for t in range(frames):
            x, y = round(x0 + dx * t), round(y0 + dy * t)
            clips[i, t, :, y : y + sy, x : x + sx] = colour
    return clips, labels


def _uniform(lo: float, hi: float, gen: torch.Generator) -> float:
    """A uniform draw from [lo, hi] (lo when the range is empty)."""
    return lo + max(hi - lo, 0.0) * float(torch.rand(1, generator=gen))


@torch.no_grad()
def predict(model: nn.Module, rgb: Tensor, batch: int = 64) -> Tensor:
    """Verb predictions (N,) of ``model`` in eval mode for uint8 or 0..1 float clips rgb (N, T, 3, H, W)."""
    model.eval()
    out = []
    use_bf16 = cpu_bf16()
    for i in range(0, len(rgb), batch):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=use_bf16):
            out.append(model({"rgb": normalise(rgb[i : i + batch])})["verb"].float().argmax(1))
    model.train()
    return torch.cat(out)


def normalise(rgb: Tensor) -> Tensor:
    """uint8 or 0..1 float clips (B, T, 3, H, W) -> ImageNet-normalised float, as the engine feeds rgb."""
    return normalize(rgb if rgb.dtype == torch.uint8 else rgb * 255, IMAGENET_MEAN, IMAGENET_STD)


def train_motion(
    model: nn.Module,
    steps: int,
    seed: int = 0,
    frames: int = 8,
    size: tuple[int, int] = (48, 84),
    draw: ClipSource | None = None,
) -> float:
    """Train ``model`` to tell motion directions (its ``verb`` head, one class per direction) for ``steps`` AdamW
    steps (batch 16, lr 1e-3, weight decay 0.05, bf16 autocast where the CPU has it); its top-1 (%) on 256 new
    clips. The clips come from ``draw(n, generator)``, by default :func:`moving_shapes` of ``frames`` x ``size``.
    A non-finite loss stops it with FloatingPointError rather than saving a broken stand-in."""
    draw = draw or (lambda n, gen: moving_shapes(n, gen, frames, size))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
    gen = torch.Generator().manual_seed(seed)
    use_bf16 = cpu_bf16()
    model.train()
    for step in range(steps):
        clips, labels = draw(16, gen)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=use_bf16):
            logits = model({"rgb": normalise(clips)})["verb"]
        loss = F.cross_entropy(logits.float(), labels)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"motion stand-in: the loss is {loss.item()} at step {step}")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    clips, labels = draw(256, gen)
    return float(100 * (predict(model, clips) == labels).float().mean())


def motion_standin_file(runs: Path, run_name: str) -> Path:
    """Where the motion stand-in of the zoo run ``run_name`` (which names its steps) is kept under ``runs``."""
    return runs / f"motion_{run_name}.pt"


def without_heads(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """A model's state dict without its task heads, so fine-tuning starts them afresh."""
    return {k: v for k, v in state.items() if not k.startswith("heads.")}
