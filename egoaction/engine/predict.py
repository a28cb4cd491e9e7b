"""`egoaction predict`: top-k verbs, nouns and actions for one video file or folder of frames."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from egoaction.config import from_dict
from egoaction.data.dataset import ClipDataset, collate
from egoaction.data.decode import probe_video
from egoaction.data.errors import SampleError
from egoaction.data.formats.folder import frame_folder
from egoaction.data.segment import Segment, SegmentIndex
from egoaction.engine.checkpoint import load_model
from egoaction.engine.evaluate import parse_views, pick_device, predict_logits
from egoaction.engine.fit import datamodule
from egoaction.models.base import set_memory_format


def input_segment(path: str | Path) -> Segment:
    """A one-segment record covering a whole video file or a folder of numbered frames."""
    path = Path(path)
    if path.is_dir():
        source, numbers = frame_folder(path)
        if not numbers:
            raise FileNotFoundError(f"{path} holds no numbered image frames")
        return Segment(path.name, path.name, "", numbers[0], numbers[-1], 30.0, {}, rgb=source)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist (expected a video file or a folder of frames)")
    try:
        info = probe_video(path)
    except SampleError as err:
        raise SampleError(path, f"cannot be decoded as a video: {err}") from err
    return Segment(path.stem, path.stem, "", 1, info.num_frames, info.fps, {}, video=path)


def softmax(x: np.ndarray) -> np.ndarray:
    """Softmax over the last axis of scores (C,) or (N, C)."""
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return np.asarray(e / e.sum(axis=-1, keepdims=True))


def _top(probs: np.ndarray, names: list[str], k: int) -> list[dict[str, Any]]:
    order = np.argsort(-probs, kind="stable")[:k]
    return [{"class": int(i), "name": names[i], "probability": float(probs[i])} for i in order]


def predict(
    input_path: str | Path, checkpoint: str | Path, *, top_k: int = 5, views: str = "1x1", device: str = "auto"
) -> dict[str, Any]:
    """Class probabilities of a trained model for one input: top-k per task, plus (verb, noun) actions for EPIC."""
    if top_k < 1:
        raise ValueError(f"--top-k must be at least 1, got {top_k}")
    model, info = load_model(checkpoint)
    cfg = from_dict(info["config"], source=info["path"])
    if tuple(getattr(model, "modalities", ("rgb",))) != ("rgb",):
        raise ValueError(f"predict reads RGB only; model {info['model']['name']} needs {model.modalities}")
    clips, crops = parse_views(views)
    dm = datamodule(cfg, test_clips=clips, test_crops=crops)
    segment = input_segment(input_path)
    index = SegmentIndex([segment], info["classes"], source=str(input_path))
    ds = ClipDataset(index, sampler=dm.sampler, transform=dm.transforms["val"], num_clips=clips, skip_bad=False)
    dev = pick_device(device)
    set_memory_format(model.to(dev))
    out = predict_logits(model, [collate([ds[0]])], device=dev, progress=False)  # type: ignore[arg-type]
    probs = {t: softmax(v[0].mean(0)) for t, v in out["logits"].items()}
    result: dict[str, Any] = {"input": str(input_path), "checkpoint": info["path"], "frames": segment.num_frames}
    result["tasks"] = {t: _top(p, info["classes"][t], top_k) for t, p in probs.items()}
    if "verb" in probs and "noun" in probs:
        joint = np.outer(probs["verb"], probs["noun"]).ravel()
        order = np.argsort(-joint, kind="stable")[:top_k]
        n_nouns = len(probs["noun"])
        result["actions"] = [
            {
                "verb": info["classes"]["verb"][i // n_nouns],
                "noun": info["classes"]["noun"][i % n_nouns],
                "action_id": int((i // n_nouns) * 1000 + i % n_nouns),
                "probability": float(joint[i]),
            }
            for i in order
        ]
    return result


def format_prediction(result: dict[str, Any]) -> str:
    """Human-readable top-k lists."""
    lines = [f"{result['input']} ({result['frames']} frames)"]
    for task, rows in result["tasks"].items():
        lines.append(f"  {task}: " + ", ".join(f"{r['name']} {r['probability']:.1%}" for r in rows))
    for row in result.get("actions", []):
        lines.append(f"  action: {row['verb']} {row['noun']} {row['probability']:.1%}")
    return "\n".join(lines)
