"""Write the synthetic kitchen in the EPIC-KITCHENS-100 layout: the official CSVs, RGB frames, u/v flow, MP4s.

Kitchens are participants P01, P02, ...; the last kitchen only appears in validation (the 'unseen' subset).
Videos alternate between EPIC-55 style ids (``P01_01``: frames at 60 fps, flow stride 2) and extension ids
(``P01_101``: 50 fps, flow stride 1), so both RGB->flow index rules are exercised.
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from egoaction.data.encode import write_video
from egoaction.data.formats.epic100 import epic_fps, flow_stride, frame_to_timestamp
from egoaction.data.prepare import write_epic_flow, write_frames
from egoaction.data.synth.generate import Preset, run_jobs, unseen_kitchens, video_seeds
from egoaction.data.synth.plan import VideoPlan, plan_untrimmed
from egoaction.data.synth.render import render_video
from egoaction.data.synth.world import KITCHENS, NOUNS, VERBS

TRAIN_COLUMNS = (
    "narration_id", "participant_id", "video_id", "narration_timestamp", "start_timestamp", "stop_timestamp",
    "start_frame", "stop_frame", "narration", "verb", "verb_class", "noun", "noun_class", "all_nouns",
    "all_noun_classes",
)  # fmt: skip
# EPIC groups verb classes into categories (take: retrieve, open: access, ...); ours, in the same spirit
VERB_CATEGORY = {"take": "retrieve", "put": "leave", "open": "access", "close": "block", "turn-on": "manipulate",
                 "turn-off": "manipulate", "push": "leave", "pull": "retrieve", "cut": "divide", "stir": "mix",
                 "shake": "mix", "wash": "clean", "pour": "distribute"}  # fmt: skip
FLOW_BOUND = 8.0  # pixels; synthetic motion at 60 fps and <= 456 px wide stays well inside it


@dataclass(frozen=True)
class VideoJob:
    """Everything a worker needs to render and write one video."""

    root: Path
    participant: str
    video_id: str
    split: str
    plan: VideoPlan
    height: int
    width: int
    videos: bool
    flow: bool = True
    camera_motion: bool = True


def format_timestamp(seconds: float, decimals: int = 2) -> str:
    """Seconds -> ``HH:MM:SS.ss`` (EPIC's start/stop format; 3 decimals for narration timestamps)."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{int(hours):02d}:{int(minutes):02d}:{secs:0{3 + decimals}.{decimals}f}"


def plan_videos(
    root: Path, preset: Preset, seed: int, videos: bool, flow: bool = True, camera_motion: bool = True
) -> list[VideoJob]:
    """Decide every video: participant, id, split and its script of actions."""
    layout: list[tuple[int, str]] = []
    for k in range(len(KITCHENS)):
        if k in unseen_kitchens():
            layout += [(k, "validation")] * preset.epic_unseen_videos
        else:
            layout += [(k, "train")] * preset.epic_train_videos + [(k, "validation")] * preset.epic_val_videos
    seeds = video_seeds(seed, len(layout))
    jobs, counters = [], Counter[int]()
    for (kitchen, split), video_seed in zip(layout, seeds):
        participant = f"P{kitchen + 1:02d}"
        n = counters[kitchen]
        counters[kitchen] += 1
        # every third video (the 2nd, 5th, ...) is an extension video: 3-digit id, 50 fps frames, stride-1 flow
        video_id = f"{participant}_{101 + n // 3}" if n % 3 == 1 else f"{participant}_{n - (n + 2) // 3 + 1:02d}"
        rng = np.random.default_rng(video_seed)
        plan = plan_untrimmed(rng, kitchen=kitchen, fps=epic_fps(video_id), num_actions=preset.epic_actions)
        jobs.append(
            VideoJob(root, participant, video_id, split, plan, preset.height, preset.width, videos, flow, camera_motion)
        )
    return jobs


def render_job(job: VideoJob) -> int:
    """Render one video and write its frames, flow (unless ``job.flow`` is off) and MP4; returns the frame count."""
    frames = render_video(job.plan, job.height, job.width, camera_motion=job.camera_motion)
    base = job.root / job.participant
    write_frames(frames, base / "rgb_frames" / job.video_id, pattern="frame_{:010d}.jpg", start=1)
    if job.flow:
        write_epic_flow(frames, base / "flow_frames" / job.video_id, stride=flow_stride(job.video_id), bound=FLOW_BOUND)
    if job.videos:
        write_video(frames, base / "videos" / f"{job.video_id}.MP4", fps=job.plan.fps)
    return len(frames)


def annotation_rows(job: VideoJob, rng: np.random.Generator) -> list[dict[str, Any]]:
    """The CSV rows of one video's actions (official 15 columns)."""
    rows = []
    for k, action in enumerate(job.plan.actions):
        verb, noun = VERBS[action.verb].name, NOUNS[action.noun].name
        start, stop = action.start + 1, action.stop + 1  # files are numbered from 1
        spoken = max(0.0, start / job.plan.fps + float(rng.uniform(-0.3, 0.4)))
        rows.append({
            "narration_id": f"{job.video_id}_{k}",
            "participant_id": job.participant,
            "video_id": job.video_id,
            # EPIC has narrations without a timestamp; keep a few so readers must cope
            "narration_timestamp": "" if rng.random() < 0.02 else format_timestamp(spoken, 3),
            "start_timestamp": frame_to_timestamp(start, job.video_id),
            "stop_timestamp": frame_to_timestamp(stop, job.video_id),
            "start_frame": start,
            "stop_frame": stop,
            "narration": f"{verb.replace('-', ' ')} {noun}",
            "verb": verb,
            "verb_class": action.verb,
            "noun": noun,
            "noun_class": action.noun,
            "all_nouns": repr([noun]),
            "all_noun_classes": repr([action.noun]),
        })  # fmt: skip
    return rows


def tail_classes(counts: Counter[int], num_classes: int) -> list[int]:
    """The official tail rule: classes outside the most frequent ones that cover 80 % of training instances."""
    total = sum(counts.values())
    head, covered = set(), 0
    for cls, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        if covered >= 0.8 * total:
            break
        head.add(cls)
        covered += n
    return [c for c in range(num_classes) if c not in head]


def _write_csv(path: Path, header: tuple[str, ...], rows: list[dict[str, Any]] | list[tuple[Any, ...]]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        for row in rows:
            writer.writerow([row[c] for c in header] if isinstance(row, dict) else row)


def write_annotations(root: Path, jobs: list[VideoJob], seed: int) -> dict[str, int]:
    """All EPIC_100_*.csv files; returns segment counts per split."""
    rng = np.random.default_rng([seed, 100])
    rows: dict[str, list[dict[str, Any]]] = {"train": [], "validation": []}
    for job in jobs:
        rows[job.split] += annotation_rows(job, rng)
    for split, split_rows in rows.items():
        split_rows.sort(key=lambda r: r["narration_id"])  # the official files sort ids as strings
        _write_csv(root / f"EPIC_100_{split}.csv", TRAIN_COLUMNS, split_rows)
    class_header = ("id", "key", "instances", "category")
    verb_rows = [(i, v.name, repr([v.name]), VERB_CATEGORY.get(v.name, "other")) for i, v in enumerate(VERBS)]
    _write_csv(root / "EPIC_100_verb_classes.csv", class_header, verb_rows)
    noun_rows = [(i, n.name, repr([n.name]), n.category) for i, n in enumerate(NOUNS)]
    _write_csv(root / "EPIC_100_noun_classes.csv", class_header, noun_rows)
    unseen = sorted({j.participant for j in jobs if j.plan.kitchen in unseen_kitchens()})
    _write_csv(root / "EPIC_100_unseen_participant_ids_validation.csv", ("participant_id",), [(p,) for p in unseen])
    verbs = Counter[int](r["verb_class"] for r in rows["train"])
    nouns = Counter[int](r["noun_class"] for r in rows["train"])
    _write_csv(root / "EPIC_100_tail_verbs.csv", ("verb",), [(c,) for c in tail_classes(verbs, len(VERBS))])
    _write_csv(root / "EPIC_100_tail_nouns.csv", ("noun",), [(c,) for c in tail_classes(nouns, len(NOUNS))])
    info = sorted(
        (j.video_id, f"{j.plan.num_frames / j.plan.fps:.6f}", float(j.plan.fps), f"{j.width}x{j.height}") for j in jobs
    )
    _write_csv(root / "EPIC_100_video_info.csv", ("video_id", "duration", "fps", "resolution"), info)
    return {split: len(r) for split, r in rows.items()}


def write(
    root: Path,
    preset: Preset,
    *,
    seed: int = 0,
    workers: int = 2,
    videos: bool = False,
    flow: bool = True,
    camera_motion: bool = True,
) -> dict[str, Any]:
    """Render and write the whole EPIC-format dataset into ``root`` (``flow=False``: RGB only;
    ``camera_motion=False``: a still camera, no ego-motion, shake or pans); returns counts."""
    jobs = plan_videos(root, preset, seed, videos, flow, camera_motion)
    counts = write_annotations(root, jobs, seed)
    frames = run_jobs(render_job, jobs, workers=workers, desc="epic100 videos")
    return {"videos": len(jobs), **{f"{k} segments": v for k, v in counts.items()}, "frames": sum(frames)}
