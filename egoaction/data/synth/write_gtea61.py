"""Write the synthetic kitchen as GTEA61: the Ego-RNN layout and the 'processed' layout with motion maps.

Users S1..S4 are the first four kitchens. Class names follow GTEA's ``verb_noun,noun`` style (``cut_tomato,knife``,
``stir_spoon,pot``, ``take_cup``). Like the real release, the tree carries a ``.DS_Store`` and a duplicated
``(1)`` flow file, which readers must ignore.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from egoaction.data.prepare import compute_flow, motion_maps, write_frames, write_gtea_flow
from egoaction.data.synth.generate import Preset, run_jobs, video_seeds
from egoaction.data.synth.plan import VideoPlan, plan_clip
from egoaction.data.synth.render import render_video
from egoaction.data.synth.world import NOUNS, VERBS, action_frequencies

USERS = ("S1", "S2", "S3", "S4")
FPS = 24.0
TOOLS = {"cut": "{noun},knife", "stir": "spoon,{noun}", "pour": "{noun},cup"}


@dataclass(frozen=True)
class ClipJob:
    """One GTEA instance to render and write in both layouts."""

    root: Path
    user: str
    name: str
    instance: int
    plan: VideoPlan
    height: int
    width: int


def class_name(verb: int, noun: int) -> str:
    """GTEA-style class folder name of a (verb, noun) action."""
    v, n = VERBS[verb].name, NOUNS[noun].name.replace(" ", "-")
    return f"{v}_{TOOLS.get(v, '{noun}').format(noun=n)}"


def choose_actions(num_classes: int, seed: int) -> list[tuple[int, int]]:
    """The ``num_classes`` most frequent compatible actions (GTEA's classes are common kitchen actions)."""
    freq = action_frequencies(seed)
    ranked = sorted(freq, key=lambda a: (-freq[a], a))
    return sorted(ranked[:num_classes])


def plan_clips(root: Path, preset: Preset, seed: int) -> list[ClipJob]:
    """Every (user, class, instance) clip with its own seed."""
    keys = [
        (u, a, i)
        for u in range(len(USERS))
        for a in choose_actions(preset.gtea_classes, seed)
        for i in range(1, preset.gtea_instances + 1)
    ]
    jobs = []
    for (user, (verb, noun), inst), clip_seed in zip(keys, video_seeds(seed, len(keys))):
        plan = plan_clip(np.random.default_rng(clip_seed), kitchen=user, fps=FPS, verb=verb, noun=noun)
        jobs.append(ClipJob(root, USERS[user], class_name(verb, noun), inst, plan, preset.height, preset.width))
    return jobs


def render_job(job: ClipJob) -> int:
    """Render one instance and write frames, flow and motion maps in both layouts; returns the frame count."""
    frames = render_video(job.plan, job.height, job.width)
    rel = Path(job.user) / job.name / str(job.instance)
    flow = compute_flow(frames)  # once: both layouts and the motion maps come from the same flow
    write_frames(frames, job.root / "frames" / rel, pattern="image_{:05d}.jpg", start=1)
    write_gtea_flow(frames, job.root / "flow_x" / rel, job.root / "flow_y" / rel, flow=flow)
    processed = job.root / "processed_frames2" / rel
    write_frames(frames, processed / "rgb", pattern="rgb{:04d}.png", start=1)
    write_gtea_flow(
        frames, job.root / "flow_x_processed" / rel, job.root / "flow_y_processed" / rel, processed=True, flow=flow
    )
    maps = motion_maps(flow)
    # one map per RGB frame: frame i uses the flow from i-1 to i; the first frame repeats the second's map
    write_frames(np.concatenate([maps[:1], maps]), processed / "mmaps", pattern="map{:04d}.png", start=1)
    return len(frames)


def add_quirks(root: Path, jobs: list[ClipJob]) -> None:
    """The real release's debris: a macOS .DS_Store, a duplicated '(1)' flow file, a missing first motion map."""
    (root / "frames" / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    first = jobs[0]
    flow_dir = root / "flow_x_processed" / first.user / first.name / str(first.instance)
    original = flow_dir / "flow_x_00001.png"
    (flow_dir / "flow_x_00001(1).png").write_bytes(original.read_bytes())
    last = jobs[-1]
    (root / "processed_frames2" / last.user / last.name / str(last.instance) / "mmaps" / "map0001.png").unlink()


def write(root: Path, preset: Preset, *, seed: int = 0, workers: int = 2) -> dict[str, Any]:
    """Render and write the whole GTEA61-format dataset into ``root``; returns counts."""
    jobs = plan_clips(root, preset, seed)
    frames = run_jobs(render_job, jobs, workers=workers, desc="gtea61 clips")
    add_quirks(root, jobs)
    return {
        "users": len(USERS),
        "classes": len({j.name for j in jobs}),
        "instances": len(jobs),
        "frames": sum(frames),
    }
