"""`egoaction synth`: presets, the parallel render loop and the atomic output folder shared by every writer."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from tqdm import tqdm

from egoaction.data.prepare import process_pool
from egoaction.data.synth.world import KITCHENS

J = TypeVar("J")
R = TypeVar("R")


@dataclass(frozen=True)
class Preset:
    """Dataset size and resolution of one preset, per format."""

    name: str
    height: int
    width: int
    # EPIC-100: videos per seen kitchen for train and validation, unseen kitchens' validation videos, actions/video
    epic_train_videos: int
    epic_val_videos: int
    epic_unseen_videos: int
    epic_actions: int
    # GTEA61: number of action classes and instances per (user, class)
    gtea_classes: int
    gtea_instances: int
    # UCF101: number of classes and clips per (group, class); 25 groups as in the real set
    ucf_classes: int
    ucf_clips: int


PRESETS = {
    "tiny": Preset("tiny", 64, 112, 1, 1, 1, 4, 8, 1, 4, 1),
    "small": Preset("small", 128, 228, 6, 2, 2, 26, 61, 7, 101, 1),
    "medium": Preset("medium", 256, 456, 20, 4, 4, 36, 61, 20, 101, 3),
}


def get_preset(name: str) -> Preset:
    """The preset called ``name`` (tiny, small or medium)."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; expected one of {sorted(PRESETS)}")
    return PRESETS[name]


def video_seeds(seed: int, count: int) -> list[int]:
    """Independent per-video seeds derived from the dataset seed (stable whatever the worker count)."""
    children = np.random.SeedSequence(seed).spawn(count)
    return [int(c.generate_state(1, dtype=np.uint64)[0] >> 1) for c in children]


def unseen_kitchens() -> tuple[int, ...]:
    """Kitchens that appear only in validation (EPIC's 'unseen participants')."""
    return (len(KITCHENS) - 1,)


def run_jobs(fn: Callable[[J], R], jobs: Sequence[J], *, workers: int, desc: str) -> list[R]:
    """Run ``fn`` over ``jobs`` in ``workers`` processes (results in job order), with a progress bar."""
    if workers <= 1 or len(jobs) <= 1:
        return [fn(job) for job in tqdm(jobs, desc=desc, unit="video")]
    with process_pool(workers) as pool:
        results: Iterable[R] = pool.map(fn, jobs, chunksize=1)
        return list(tqdm(results, total=len(jobs), desc=desc, unit="video"))


@contextmanager
def atomic_directory(out_dir: Path, *, overwrite: bool) -> Iterator[Path]:
    """Yield a temporary folder beside ``out_dir`` that becomes ``out_dir`` only if the block succeeds."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not overwrite:
        raise FileExistsError(f"{out_dir} exists; pass --overwrite to replace it")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.parent / f".{out_dir.name}.partial-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
        if out_dir.exists():
            shutil.rmtree(out_dir)
        tmp.rename(out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def synthesize(
    format: str,
    out_dir: str | Path,
    *,
    preset: str | Preset = "tiny",
    seed: int = 0,
    workers: int = 2,
    videos: bool = False,
    flow: bool = True,
    camera_motion: bool = True,
    overwrite: bool = False,
) -> str:
    """Render the synthetic kitchen in ``format`` (epic100, gtea61, ucf101) into ``out_dir``; returns a summary.

    ``flow=False`` skips the optical flow (EPIC only: the GTEA61 layout needs its flow; UCF101 has none).
    ``camera_motion=False`` (EPIC only) holds the camera still: no ego-motion, shake or pans, for ablations that
    ask what the wearer's head motion does to a model.
    ``preset`` is a preset name or a :class:`Preset` (e.g. ``dataclasses.replace(PRESETS["tiny"], height=128)``)."""
    from egoaction.data.synth import write_epic100, write_gtea61, write_ucf101

    writers: dict[str, Callable[..., dict[str, Any]]] = {
        "epic100": write_epic100.write,
        "gtea61": write_gtea61.write,
        "ucf101": write_ucf101.write,
    }
    if format not in writers:
        raise ValueError(f"unknown format {format!r}; expected one of {sorted(writers)}")
    if not flow and format != "epic100":
        raise ValueError(f"flow=False applies to epic100 only; the {format} layout is written as the real one")
    if not camera_motion and format != "epic100":
        raise ValueError(f"camera_motion=False applies to epic100 only, not {format}")
    options: dict[str, Any] = {"videos": videos, "flow": flow, "camera_motion": camera_motion}
    options = options if format == "epic100" else {}
    start = time.perf_counter()
    with atomic_directory(Path(out_dir), overwrite=overwrite) as tmp:
        chosen = preset if isinstance(preset, Preset) else get_preset(preset)
        stats = writers[format](tmp, chosen, seed=seed, workers=workers, **options)
    took = time.perf_counter() - start
    parts = ", ".join(f"{k} {v}" for k, v in stats.items())
    name = preset.name if isinstance(preset, Preset) else preset
    still = "" if camera_motion else ", still camera"
    return f"synthetic {format} ({name}, seed {seed}{still}) in {out_dir}: {parts}; {took:.1f} s"
