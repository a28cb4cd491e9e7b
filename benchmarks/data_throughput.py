"""Loader throughput vs the raw decoder, on the same files and frame numbers, measured side by side in one run.

    python benchmarks/data_throughput.py                       # renders a synthetic EPIC set (128x228) with MP4s
    python benchmarks/data_throughput.py --root data/synth-epic100 --clips 2000

Raw decoder = a bare loop that reads the JPEG bytes and calls torchvision.io.decode_jpeg on the clip's list
(frames), or opens the MP4 with PyAV, seeks and decodes up to the last wanted frame (video) — no sampler objects,
no transforms, no collate.
It runs in as many processes as the loader has workers and keeps its pixels where they were decoded, so the
2-worker ratio also prices what a loader must do and the raw loop does not: ship every batch to the main process.
The 0-worker row compares the loader's own per-clip code with one raw process.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torchvision.io as tio
from torch.utils.data import DataLoader

from egoaction.data.dataset import ClipDataset, EpochSampler, collate
from egoaction.data.formats import read_index
from egoaction.data.sampling import TSNSampler
from egoaction.data.segment import Segment
from egoaction.data.transforms import TestTransform, TrainTransform


def raw_frames(jobs: list[tuple[Segment, list[int]]]) -> int:
    """Decode the given JPEG frames with torchvision.io in a plain loop; returns the number of clips."""
    torch.set_num_threads(1)
    for seg, numbers in jobs:
        assert seg.rgb is not None
        data = [torch.frombuffer(bytearray(seg.rgb.path(n).read_bytes()), dtype=torch.uint8) for n in numbers]
        torch.stack(tio.decode_jpeg(data))
    return len(jobs)


def raw_video(jobs: list[tuple[Segment, list[int]]]) -> int:
    """Decode the given frames of each MP4 with a bare PyAV seek + decode loop; returns the number of clips."""
    import av

    for seg, numbers in jobs:
        assert seg.video is not None
        wanted = {n - seg.first_number for n in numbers}
        with av.open(str(seg.video)) as container:
            stream = container.streams.video[0]
            if stream.time_base is None:
                raise ValueError(f"{seg.video}: the video stream has no time base to seek by")
            tb = float(stream.time_base)
            container.seek(int(min(wanted) / seg.fps / tb), stream=stream, backward=True)
            got = []
            for frame in container.decode(stream):
                if frame.pts is None:  # this bare loop cannot place a frame without a timestamp
                    continue
                idx = round(float(frame.pts) * tb * seg.fps)
                if idx in wanted:
                    got.append(frame.to_ndarray(format="rgb24"))
                if idx >= max(wanted):
                    break
        np.stack(got)
    return len(jobs)


def time_raw(fn: Callable[[list[tuple[Segment, list[int]]]], int], jobs: list, workers: int) -> float:
    """Clips/s of ``fn`` over ``jobs`` split across ``workers`` processes."""
    chunks = [jobs[i::workers] for i in range(workers)]
    with mp.get_context("fork").Pool(workers) as pool:
        pool.map(fn, [c[:2] for c in chunks])  # warm the processes (imports, first open)
        start = time.perf_counter()
        done = sum(pool.map(fn, chunks))
        return done / (time.perf_counter() - start)


def time_loader(ds: ClipDataset, clips: int, workers: int, batch: int) -> float:
    """Clips/s of a DataLoader over ``ds`` (persistent workers, warmed by one batch)."""
    loader = DataLoader(ds, batch_size=batch, sampler=EpochSampler(len(ds), shuffle=False), num_workers=workers,
                        collate_fn=collate, persistent_workers=workers > 0)  # fmt: skip
    it = iter(loader)
    next(it)  # worker start-up is a one-off cost, excluded as for the raw pool
    done, start = 0, time.perf_counter()
    while done < clips:
        try:
            done += next(it)["size"]
        except StopIteration:
            it = iter(loader)
    return done / (time.perf_counter() - start)


def main() -> None:
    """Measure and print the table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", type=Path, default=None, help="EPIC-format root with videos (default: render tiny)")
    p.add_argument("--clips", type=int, default=600)
    p.add_argument("--frames", type=int, default=8)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--size", type=int, default=112)
    args = p.parse_args()
    root = args.root
    if root is None:
        from egoaction.data.synth.generate import PRESETS, synthesize

        root = Path(tempfile.mkdtemp()) / "epic"
        preset = replace(PRESETS["tiny"], name="bench", height=128, width=228, epic_actions=8)
        print(synthesize("epic100", root, preset=preset, seed=0, videos=True))
    sampler = TSNSampler(num_segments=args.frames)
    rows = []
    for modality, raw in (("frames", raw_frames), ("video", raw_video)):
        index = read_index("epic100", root, "train", modality=modality)
        segs = (index.segments * (args.clips // len(index.segments) + 1))[: args.clips]
        rng = np.random.default_rng(0)
        jobs = [(s, sampler(s.start_frame, s.stop_frame, train=False, rng=rng).tolist()) for s in segs]
        # in-process: the loader's own per-clip code against one raw process (no inter-process transfer)
        ds = ClipDataset(index, sampler=sampler, train=False)
        rows.append((modality, "none", 0, time_raw(raw, jobs, 1), time_loader(ds, args.clips, 0, args.batch)))
        raw_rate = time_raw(raw, jobs, args.workers)
        transforms = (
            ("none", None),
            ("test", TestTransform(size=args.size, resize=args.size)),
            ("train", TrainTransform(size=args.size)),
        )
        for name, tf in transforms:
            ds = ClipDataset(index, sampler=sampler, transform=tf, train=False)
            rows.append((modality, name, args.workers, raw_rate, time_loader(ds, args.clips, args.workers, args.batch)))
    print(f"\n{args.clips} clips of {args.frames} frames, batch {args.batch}, root {root}\n")
    print("| source | loader transform | workers (raw procs) | raw clips/s | loader clips/s | loader / raw |")
    print("|---|---|---|---|---|---|")
    for modality, name, workers, raw_rate, rate in rows:
        procs = f"{workers} ({max(workers, 1)})"
        print(f"| {modality} | {name} | {procs} | {raw_rate:.1f} | {rate:.1f} | {rate / raw_rate:.0%} |")


if __name__ == "__main__":
    main()
