"""`egoaction evaluate`: score a checkpoint on a split with multi-view test, the official EPIC metrics, per-class
views, and the overfitting gap (the same metrics on the training split in eval mode)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from egoaction.atomic import atomic_path, write_text_atomic
from egoaction.config import ExperimentConfig, from_dict
from egoaction.data.dataset import BadSampleCounter, ClipDataModule, ClipDataset, EpochSampler, collate
from egoaction.data.formats import read_index
from egoaction.data.segment import SegmentIndex
from egoaction.engine import precision
from egoaction.engine.checkpoint import load_model, resolve_checkpoint
from egoaction.engine.fit import datamodule
from egoaction.engine.inputs import model_inputs, to_channels_last
from egoaction.models.base import set_memory_format


def parse_views(text: str) -> tuple[int, int]:
    """'CLIPSxCROPS' (e.g. '2x3') -> (2, 3); crops must be 1 or 3."""
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not match or int(match[1]) < 1 or int(match[2]) not in (1, 3):
        raise ValueError(f"views {text!r}: expected CLIPSxCROPS with CLIPS >= 1 and CROPS 1 or 3, e.g. 1x1 or 2x3")
    return int(match[1]), int(match[2])


def pick_device(device: str = "auto") -> torch.device:
    """'auto' -> the first CUDA device when there is one, else the CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """bf16 autocast where the device runs it fast (AVX512-BF16 CPUs, Ampere+ GPUs), else None (fp32)."""
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if precision.cpu_bf16() else None


@torch.inference_mode()
def predict_logits(
    model: torch.nn.Module,
    loader: DataLoader[dict[str, Any]],
    *,
    device: torch.device,
    counter: BadSampleCounter | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Run ``model`` over a loader: per-task logits (N, V, C) float32, labels (N,), dataset indices and ids."""
    modalities = tuple(getattr(model, "modalities", ("rgb",)))
    tasks = dict(getattr(model, "task_spec", {}))
    dtype = autocast_dtype(device)
    logits: dict[str, list[torch.Tensor]] = {}
    labels: dict[str, list[torch.Tensor]] = {}
    index: list[torch.Tensor] = []
    for batch in tqdm(loader, desc="evaluate", disable=not progress, leave=False):
        if counter is not None:
            counter.update(batch)
        if batch["size"] == 0:
            continue
        batch = {k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
        inputs, views = model_inputs(batch, modalities)
        inputs = {k: to_channels_last(v) for k, v in inputs.items()}
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            out = model(inputs)
        for task, value in out.items():
            if task in tasks:
                logits.setdefault(task, []).append(value.float().view(batch["size"], views, -1).cpu())
        for task, value in batch["labels"].items():
            labels.setdefault(task, []).append(value.cpu())
        index.append(batch["index"].cpu())
    return {
        "logits": {t: torch.cat(v).numpy() for t, v in logits.items()},
        "labels": {t: torch.cat(v).numpy() for t, v in labels.items()},
        "index": torch.cat(index).numpy() if index else np.zeros(0, dtype=np.int64),
    }


def eval_dataset(dm: ClipDataModule, split: str) -> tuple[ClipDataset, SegmentIndex]:
    """The test-mode ClipDataset of any split (train included, without augmentation), with the DataModule's views."""
    index = read_index(dm.format, dm.root, split, **dm.reader_options)
    ds = ClipDataset(
        index,
        sampler=dm.sampler,
        transform=dm.transforms["val"],
        train=False,
        modalities=dm.modalities,
        flow_sampler=dm.flow_sampler,
        num_clips=dm.test_clips,
        seed=dm.seed,
    )
    return ds, index


def evaluate(
    target: str | Path,
    *,
    split: str = "val",
    views: str | None = None,
    gap: bool | None = None,
    batch_size: int | None = None,
    num_workers: int | None = None,
    device: str = "auto",
    progress: bool = True,
) -> dict[str, Any]:
    """Evaluate a run directory or checkpoint on ``split`` (and on the training split for the overfitting gap).

    Writes ``eval/<split>/metrics.json`` and the score file into the run directory; returns the metrics."""
    ckpt = resolve_checkpoint(target)
    run_dir = ckpt.parent.parent if ckpt.parent.name == "checkpoints" else ckpt.parent
    model, info = load_model(ckpt)
    cfg = from_dict(info["config"], source=str(ckpt))
    clips, crops = parse_views(views or cfg.eval.views)
    dev = pick_device(device)
    set_memory_format(model.to(dev))
    dm = datamodule(cfg, test_clips=clips, test_crops=crops)
    names = [dm.splits.get(split, split)]
    if (cfg.eval.gap if gap is None else gap) and names[0] != dm.splits["train"]:
        names.append(dm.splits["train"])
    results = {}
    for name in names:
        ds, index = eval_dataset(dm, name)
        loader = DataLoader(
            ds,
            batch_size=batch_size or cfg.data.batch_size,
            sampler=EpochSampler(len(ds), shuffle=False),
            num_workers=cfg.data.num_workers if num_workers is None else num_workers,
            collate_fn=collate,
        )
        counter = BadSampleCounter(len(ds), cfg.data.max_bad_fraction)
        out = predict_logits(model, loader, device=dev, counter=counter, progress=progress)
        metrics = split_metrics(out, index, cfg, info, split=name)
        metrics.update({"checkpoint": str(ckpt), "views": f"{clips}x{crops}", "skipped": len(counter.skipped)})
        _write_json(run_dir / "eval" / name / "metrics.json", metrics)
        write_scores(run_dir / "eval" / name, out, index)
        results[name] = metrics
        print(f"evaluated {name}: {len(out['index'])} samples, {len(counter.skipped)} skipped", file=sys.stderr)
    return results


def split_metrics(
    out: dict[str, Any], index: SegmentIndex, cfg: ExperimentConfig, info: dict[str, Any], *, split: str
) -> dict[str, Any]:
    """Per-task classification report (aggregated views, per clip, per video) and the EPIC official keys."""
    from egoaction.metrics.classification import classification_report, topk_accuracy

    segments = [index.segments[i] for i in out["index"]]
    video_idx = np.array([s.video_id for s in segments])
    metrics: dict[str, Any] = {"split": split, "dataset": cfg.data.format, "num_samples": len(segments), "tasks": {}}
    for task, logits in out["logits"].items():
        if task not in out["labels"]:
            continue  # an unlabelled split (EPIC test): scores only
        labels = out["labels"][task]
        scores = logits.mean(1)  # multi-view aggregation: mean of pre-softmax scores
        per_video = _single_label_videos(video_idx, labels)
        report = classification_report(
            scores, labels, class_names=info["classes"][task], video_idx=_video_codes(video_idx) if per_video else None
        )
        views = logits.shape[1]
        clip_acc = topk_accuracy(logits.reshape(-1, logits.shape[-1]), np.repeat(labels, views), ks=(1,))
        report["clip_top1"] = clip_acc[1]
        report["class_names"] = info["classes"][task]
        metrics["tasks"][task] = report
    if cfg.data.format == "epic100" and {"verb", "noun"} <= set(out["labels"]):
        metrics["epic"] = epic_split_metrics(out, segments, cfg, split)
    return metrics


def _video_codes(video_ids: np.ndarray) -> np.ndarray:
    return np.unique(video_ids, return_inverse=True)[1]


def _single_label_videos(video_ids: np.ndarray, labels: np.ndarray) -> bool:
    """Video-level accuracy only makes sense when each video has one label (UCF101, GTEA61), not for EPIC."""
    pairs = set(zip(video_ids.tolist(), labels.tolist()))
    return len(pairs) == len(set(video_ids.tolist())) and len(pairs) < len(labels)


def epic_split_metrics(out: dict[str, Any], segments: list[Any], cfg: ExperimentConfig, split: str) -> dict[str, Any]:
    """The official EPIC-100 metrics of one split's logits and labels (unseen and tail subsets where available)."""
    from egoaction.data.formats.epic100 import read_tail_classes, read_unseen_participants
    from egoaction.metrics.epic import epic_metrics

    folder = Path(cfg.data.reader_options.get("annotations", cfg.data.root))
    e = cfg.eval
    unseen_path = Path(e.unseen_csv) if e.unseen_csv else folder / f"EPIC_100_unseen_participant_ids_{split}.csv"
    verbs_path = Path(e.tail_verbs_csv) if e.tail_verbs_csv else folder / "EPIC_100_tail_verbs.csv"
    nouns_path = Path(e.tail_nouns_csv) if e.tail_nouns_csv else folder / "EPIC_100_tail_nouns.csv"
    tails = verbs_path.is_file() and nouns_path.is_file()
    result = epic_metrics(
        out["logits"]["verb"].mean(1),
        out["logits"]["noun"].mean(1),
        out["labels"]["verb"],
        out["labels"]["noun"],
        participants=[s.participant for s in segments],
        unseen=read_unseen_participants(unseen_path) if unseen_path.is_file() else None,
        tail_verbs=read_tail_classes(verbs_path) if tails else None,
        tail_nouns=read_tail_classes(nouns_path) if tails else None,
    )
    return {k: (None if v is None or np.isnan(v) else float(v)) for k, v in result.items()}


def write_scores(folder: Path, out: dict[str, Any], index: SegmentIndex) -> Path:
    """EPIC verb/noun scores in the official submission JSON (``scores.json``); other tasks in ``scores.npz``."""
    ids = [index.segments[i].id for i in out["index"]]
    logits = {t: v.mean(1) for t, v in out["logits"].items()}
    folder.mkdir(parents=True, exist_ok=True)
    if {"verb", "noun"} <= set(logits):
        from egoaction.metrics.submission import ScoreSet, write_submission

        path = folder / "scores.json"
        write_submission(path, ScoreSet(ids, logits["verb"], logits["noun"], None, {}))
        return path
    path = folder / "scores.npz"
    with atomic_path(path) as tmp, tmp.open("wb") as f:
        np.savez(f, ids=np.array(ids), **{f"logits_{t}": v for t, v in logits.items()})
    return path


def _write_json(path: Path, data: dict[str, Any]) -> None:
    write_text_atomic(path, json.dumps(data, indent=1, allow_nan=False))
