"""`egoaction explain`: where a model with spatial attention looks, as heat maps over the frames it saw.

The frames are sampled and cropped exactly as ``predict`` does (one centre view of the checkpoint's test
transform). Models with spatial attention (Ego-RNN's CAM, LSTA) return ``"attention"`` (B, T, h, w), one map per
frame summing to 1 over space; each map is upsampled (bilinear) to the crop, rescaled to [0, 1] per frame (so
the hottest cell of every frame is red whatever the clip's overall spread) and alpha-blended as a colormap over
the uint8 frame. Output: ``attention.png`` (a grid of all frames, the top-1 class in the title) and
``attention.gif`` (one frame per sampled frame, the top-1 class in a banner above), both written atomically.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from egoaction.atomic import atomic_path
from egoaction.config import ExperimentConfig, from_dict
from egoaction.data.dataset import ClipDataset
from egoaction.data.segment import SegmentIndex
from egoaction.engine.checkpoint import load_model
from egoaction.engine.evaluate import pick_device
from egoaction.engine.fit import datamodule
from egoaction.engine.inputs import model_inputs
from egoaction.engine.predict import input_segment

BANNER = 16  # pixels of caption above each GIF frame
GIF_FRAME_MS = 400


def sample_clip(
    cfg: ExperimentConfig, classes: dict[str, list[str]], input_path: str | Path, frames: int | None = None
) -> tuple[torch.Tensor, list[int]]:
    """The uint8 clip (T, 3, H, W) predict would feed for ``input_path`` (one centre view) and its frame numbers."""
    changes: dict[str, Any] = {"test_clips": 1, "test_crops": 1}
    if frames is not None:
        if frames < 1:
            raise ValueError(f"--frames must be at least 1, got {frames}")
        changes["num_frames"] = frames
    dm = datamodule(cfg, **changes)
    segment = input_segment(input_path)
    index = SegmentIndex([segment], classes, source=str(input_path))
    ds = ClipDataset(index, sampler=dm.sampler, transform=dm.transforms["val"], num_clips=1, skip_bad=False)
    # in test mode the sampler is deterministic (part centres), so this repeats the draw ds[0] makes
    numbers = dm.sampler(segment.start_frame, segment.stop_frame, train=False, rng=np.random.default_rng(0))
    return ds[0]["rgb"], [int(n) for n in numbers]


def spatial_attention(outputs: dict[str, torch.Tensor], model_name: str, frames: int) -> torch.Tensor:
    """The model's spatial maps of the first clip, (T, h, w) float32; ValueError naming the model if it has none."""
    attention = outputs.get("attention")
    if attention is None:
        raise ValueError(
            f"model {model_name} has no spatial attention output: explain needs outputs['attention'] (B, T, h, w), "
            f"its outputs are {sorted(outputs)} (Ego-RNN and LSTA models have one)"
        )
    if attention.ndim != 4:
        raise ValueError(
            f"model {model_name}: outputs['attention'] has shape {tuple(attention.shape)}, not a spatial map per "
            "frame (B, T, h, w); temporal attention cannot be drawn over the frames"
        )
    if attention.shape[1] != frames:
        raise ValueError(f"model {model_name}: {attention.shape[1]} attention maps for {frames} input frames")
    return attention[0].float()


def upsample(maps: torch.Tensor, size: tuple[int, int]) -> np.ndarray:
    """(T, h, w) maps -> (T, H, W) float array, bilinear."""
    up = F.interpolate(maps[:, None], size=size, mode="bilinear", align_corners=False)
    return np.asarray(up[:, 0].cpu().numpy(), dtype=np.float64)


def overlay(frames: np.ndarray, maps: np.ndarray, *, alpha: float = 0.5, colormap: str = "jet") -> np.ndarray:
    """uint8 frames (T, H, W, 3) and maps (T, H, W) -> uint8 (T, H, W, 3): the colormapped map blended over each."""
    from matplotlib import colormaps

    low = maps.min(axis=(1, 2), keepdims=True)
    span = maps.max(axis=(1, 2), keepdims=True) - low
    # a flat map (e.g. Ego-RNN without CAM) stays at the colormap's bottom colour instead of dividing by zero
    scaled = np.divide(maps - low, span, out=np.zeros_like(maps), where=span > 0)
    heat = colormaps[colormap](scaled)[..., :3] * 255.0
    blended = (1.0 - alpha) * frames.astype(np.float64) + alpha * heat
    return np.asarray(np.clip(np.rint(blended), 0, 255).astype(np.uint8))


def top1_text(logits: dict[str, torch.Tensor], classes: dict[str, list[str]]) -> str:
    """'verb: take (81%), noun: cup (64%)' from logits (1, C) per task."""
    parts = []
    for task, value in logits.items():
        probs = value[0].float().softmax(0)
        k = int(probs.argmax())
        parts.append(f"{task}: {classes[task][k]} ({float(probs[k]):.0%})")
    return ", ".join(parts)


def write_grid(images: np.ndarray, numbers: list[int], title: str, path: Path) -> Path:
    """All overlays (T, H, W, 3) in one PNG grid, each titled with its frame number; ``title`` above."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    cols = min(len(images), 4)
    rows = math.ceil(len(images) / cols)
    fig = Figure(figsize=(2.5 * cols, 2.5 * rows + 0.6), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    for i, (image, number) in enumerate(zip(images, numbers)):
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.imshow(image)
        ax.set_title(f"frame {number}", fontsize=8)
        ax.axis("off")
    fig.suptitle(f"top-1 {title}", fontsize=10)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return path


def write_gif(images: np.ndarray, numbers: list[int], title: str, path: Path) -> Path:
    """An animated GIF, one overlay (T, H, W, 3) per frame under a banner with its frame number and ``title``."""
    from PIL import Image, ImageDraw

    frames = []
    for image, number in zip(images, numbers):
        canvas = Image.new("RGB", (image.shape[1], image.shape[0] + BANNER), "black")
        canvas.paste(Image.fromarray(image), (0, BANNER))
        # the frame number also keeps every GIF frame distinct: Pillow merges identical consecutive frames
        ImageDraw.Draw(canvas).text((2, 2), f"{number}: {title}", fill="white")
        frames.append(canvas)
    with atomic_path(path) as tmp:
        frames[0].save(tmp, format="GIF", save_all=True, append_images=frames[1:], duration=GIF_FRAME_MS, loop=0)
    return path


@torch.inference_mode()
def explain_model(
    model: nn.Module,
    cfg: ExperimentConfig,
    classes: dict[str, list[str]],
    input_path: str | Path,
    out: str | Path,
    *,
    frames: int | None = None,
    device: str = "auto",
    model_name: str | None = None,
) -> dict[str, Any]:
    """Run ``model`` on one input, overlay its spatial attention (B, T, h, w) on the frames, write PNG + GIF."""
    name = model_name or type(model).__name__
    if tuple(getattr(model, "modalities", ("rgb",))) != ("rgb",):
        raise ValueError(f"explain reads RGB only; model {name} needs {model.modalities}")
    clip, numbers = sample_clip(cfg, classes, input_path, frames)
    dev = pick_device(device)
    model = model.to(dev).eval()
    inputs, _ = model_inputs({"rgb": clip[None].to(dev)}, ("rgb",))  # normalised on the device, as in evaluate
    outputs = model(inputs)
    size = (int(clip.shape[-2]), int(clip.shape[-1]))
    maps = upsample(spatial_attention(outputs, name, len(clip)), size)
    images = overlay(clip.permute(0, 2, 3, 1).numpy(), maps)
    title = top1_text({t: v for t, v in outputs.items() if t in classes}, classes)
    out = Path(out)
    return {
        "input": str(input_path),
        "frames": numbers,
        "top1": title,
        "size": list(clip.shape[-2:]),
        "attention_size": list(outputs["attention"].shape[-2:]),
        "png": str(write_grid(images, numbers, title, out / "attention.png")),
        "gif": str(write_gif(images, numbers, title, out / "attention.gif")),
    }


def explain(
    checkpoint: str | Path,
    input_path: str | Path,
    out: str | Path,
    *,
    frames: int | None = None,
    device: str = "auto",
) -> dict[str, Any]:
    """Attention heat maps of a checkpoint's model on one video or frame folder: ``out/attention.{png,gif}``."""
    model, info = load_model(checkpoint)
    cfg = from_dict(info["config"], source=info["path"])
    result = explain_model(
        model, cfg, info["classes"], input_path, out, frames=frames, device=device, model_name=info["model"]["name"]
    )
    return {"checkpoint": info["path"], **result}
