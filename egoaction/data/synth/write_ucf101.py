"""Write the synthetic kitchen as UCF101: ``UCF-101/<Class>/v_<Class>_gGG_cCC.avi`` and ``ucfTrainTestlist/``.

25 groups as in UCF101 (a group = one kitchen set-up); the three official splits test on groups g01–g07, g08–g14
and g15–g21. Split files have CRLF line endings and 1-based labels, test lists carry no label, and one class
repeats UCF's ``HandstandPushups`` quirk: its files spell the class differently from its folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from egoaction.data.encode import write_video
from egoaction.data.synth.generate import Preset, run_jobs, video_seeds
from egoaction.data.synth.plan import VideoPlan, plan_clip
from egoaction.data.synth.render import render_video
from egoaction.data.synth.world import KITCHENS, NOUNS, VERBS, action_frequencies

GROUPS = 25
FPS = 25.0
TEST_GROUPS = {1: range(1, 8), 2: range(8, 15), 3: range(15, 22)}


@dataclass(frozen=True)
class ClipJob:
    """One UCF clip to render and encode."""

    path: Path
    plan: VideoPlan
    height: int
    width: int


def class_name(verb: int, noun: int) -> str:
    """CamelCase UCF-style class name, e.g. ``TurnOnTap``."""
    words = f"{VERBS[verb].name} {NOUNS[noun].name}".replace("-", " ").split()
    return "".join(w[:1].upper() + w[1:] for w in words)


def file_stem(name: str, quirk: bool) -> str:
    """The class spelling used in file names: the quirky class capitalises its third letter, as UCF's folder
    ``HandstandPushups`` holds ``v_HandStandPushups_*`` files."""
    if not quirk or len(name) < 3:
        return name
    return name[:2] + name[2].swapcase() + name[3:]


def choose_classes(num_classes: int, seed: int) -> list[tuple[int, int]]:
    """Up to ``num_classes`` compatible actions, most frequent first, ordered by class name as classInd is."""
    freq = action_frequencies(seed)
    ranked = sorted(freq, key=lambda a: (-freq[a], a))[:num_classes]
    return sorted(ranked, key=lambda a: class_name(*a))


def plan_clips(root: Path, preset: Preset, seed: int) -> tuple[list[str], list[ClipJob]]:
    """Class names (classInd order) and every clip to render."""
    actions = choose_classes(preset.ucf_classes, seed)
    names = [class_name(*a) for a in actions]
    keys = [
        (c, g, k) for c in range(len(actions)) for g in range(1, GROUPS + 1) for k in range(1, preset.ucf_clips + 1)
    ]
    jobs = []
    for (c, g, k), clip_seed in zip(keys, video_seeds(seed, len(keys))):
        verb, noun = actions[c]
        plan = plan_clip(
            np.random.default_rng(clip_seed), kitchen=(g - 1) % len(KITCHENS), fps=FPS, verb=verb, noun=noun
        )
        stem = file_stem(names[c], quirk=c == 0)
        path = root / "UCF-101" / names[c] / f"v_{stem}_g{g:02d}_c{k:02d}.avi"
        jobs.append(ClipJob(path, plan, preset.height, preset.width))
    return names, jobs


def render_job(job: ClipJob) -> int:
    """Render one clip and encode it as MPEG-4 AVI; returns the frame count."""
    frames = render_video(job.plan, job.height, job.width)
    write_video(frames, job.path, fps=job.plan.fps, gop=12)
    return len(frames)


def write_split_files(root: Path, names: list[str], jobs: list[ClipJob]) -> None:
    """classInd.txt, trainlist0N.txt (with 1-based labels) and testlist0N.txt (no labels), CRLF."""
    out = root / "ucfTrainTestlist"
    out.mkdir(parents=True, exist_ok=True)
    label = {n: i + 1 for i, n in enumerate(names)}
    _write_crlf(out / "classInd.txt", [f"{i} {n}" for n, i in label.items()])
    rel = sorted(str(j.path.relative_to(root / "UCF-101")) for j in jobs)
    for fold, test_groups in TEST_GROUPS.items():
        is_test = {r for r in rel if int(r.rsplit("_g", 1)[1][:2]) in test_groups}
        _write_crlf(out / f"trainlist0{fold}.txt", [f"{r} {label[r.split('/')[0]]}" for r in rel if r not in is_test])
        _write_crlf(out / f"testlist0{fold}.txt", [r for r in rel if r in is_test])


def _write_crlf(path: Path, lines: list[str]) -> None:
    path.write_bytes("".join(f"{line}\r\n" for line in lines).encode())


def write(root: Path, preset: Preset, *, seed: int = 0, workers: int = 2) -> dict[str, Any]:
    """Render and write the whole UCF101-format dataset into ``root``; returns counts."""
    names, jobs = plan_clips(root, preset, seed)
    write_split_files(root, names, jobs)
    frames = run_jobs(render_job, jobs, workers=workers, desc="ucf101 clips")
    return {"classes": len(names), "clips": len(jobs), "frames": sum(frames)}
