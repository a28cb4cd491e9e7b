"""Preparation: frames from videos, optical flow, motion maps — as arrays, and over whole dataset folders.

Optical flow. TV-L1 (what EPIC and Ego-RNN used) needs ``cv2.optflow`` from opencv-contrib and costs ~1.5 s
per 456x256 pair on a CPU core; without it, ``auto`` uses OpenCV's DIS flow, preset MEDIUM. Measured on this
machine (one thread, random texture shifted by (+2, -1) px): MEDIUM has a mean end-point error of 0.012 px at
3.6 ms/pair (128x228) and 12 ms/pair (256x456); FAST is 4x faster but 10x less accurate (0.12 px), worse than
the 8-bit quantisation step itself (bound 20 -> 0.078 px), so MEDIUM it is.

Quantisation (EPIC / furnari-flow, dense_flow): ``q = round(255 * (f + b) / (2 b))`` clipped to [0, 255],
so 128 is (almost exactly) zero motion; dequantising gives ``|error| <= b / 255`` for ``|f| <= b`` (0.078 px
at the default b = 20).

Everything written goes into a hidden temporary folder beside the target and is renamed into place only when
complete, so an interrupted run never leaves a half-written folder and a re-run skips finished ones.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import shutil
import uuid
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from functools import partial
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from egoaction.data.decode import frame_slots, read_images
from egoaction.data.errors import DataError, FormatError, SampleError
from egoaction.data.formats.epic100 import flow_stride

FLOW_BOUND = 20.0  # px mapped to 0 / 255 (dense_flow's default; EPIC-55 used 25, the EPIC-100 extension 8)
MOTION_THRESHOLD = 1.0  # pixels of flow left after removing the camera's motion that count as "moving"
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")
READ_CHUNK = 32  # frames decoded per batch when streaming a folder


# ---------------------------------------------------------------------------------------------- optical flow


def flow_method(requested: str = "auto") -> str:
    """The flow method to use: 'tvl1' when cv2.optflow (opencv-contrib) exists and 'auto' or 'tvl1' was
    asked for, else 'dis' (OpenCV DIS, preset MEDIUM); 'tvl1' without opencv-contrib warns and falls back."""
    if requested not in ("auto", "tvl1", "dis"):
        raise ValueError(f"unknown optical flow method {requested!r}; expected 'auto', 'tvl1' or 'dis'")
    has_tvl1 = hasattr(cv2, "optflow")
    if requested == "tvl1" and not has_tvl1:
        warnings.warn("TV-L1 needs opencv-contrib-python-headless (cv2.optflow); using DIS", stacklevel=2)
    return "tvl1" if requested != "dis" and has_tvl1 else "dis"


def num_flow_pairs(num_frames: int, *, stride: int = 1, dilation: int = 1) -> int:
    """Number of flow fields from N = ``num_frames`` frames: the pairs (k*stride, k*stride+dilation) inside
    the video, ``(N - 1 - dilation) // stride + 1`` (0 if N <= dilation): N=10, stride 2 -> 5."""
    if stride < 1 or dilation < 1:
        raise ValueError(f"stride ({stride}) and dilation ({dilation}) must be >= 1")
    return max(0, (num_frames - 1 - dilation) // stride + 1)


def iter_flow(
    frames: Iterable[np.ndarray], *, stride: int = 1, dilation: int = 1, method: str = "dis"
) -> Iterator[np.ndarray]:
    """Stream (H, W, 3) RGB or (H, W) gray uint8 frames -> (H, W, 2) float32 flow k between frames k*stride
    and k*stride+dilation (furnari-flow semantics), holding only the frames still needed in memory."""
    num_flow_pairs(0, stride=stride, dilation=dilation)  # validates stride / dilation
    engine = _flow_engine(flow_method(method))
    firsts: dict[int, np.ndarray] = {}
    for i, frame in enumerate(frames):
        gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) if frame.ndim == 3 else frame
        if i % stride == 0:
            firsts[i] = gray
        if i >= dilation and (i - dilation) % stride == 0:
            start = i - dilation
            yield engine.calc(firsts.pop(start), gray, None)
            for done in [j for j in firsts if j < start]:
                del firsts[done]


def compute_flow(frames: np.ndarray, *, stride: int = 1, dilation: int = 1, method: str = "dis") -> np.ndarray:
    """(N, H, W, 3) uint8 RGB -> (M, H, W, 2) float32 flow in pixels, M = num_flow_pairs(N, stride, dilation);
    flow k runs from frame k*stride to k*stride+dilation (EPIC: stride 2 for PXX_YY ids, 1 for PXX_1YY)."""
    flows = list(iter_flow(frames, stride=stride, dilation=dilation, method=method))
    if not flows:
        return np.zeros((0, *frames.shape[1:3], 2), np.float32)
    return np.stack(flows)


def _flow_engine(method: str) -> Any:
    """An OpenCV dense optical flow object with ``calc(prev, next, None)``."""
    if method == "tvl1":
        return cv2.optflow.DualTVL1OpticalFlow_create()  # type: ignore[attr-defined]
    return cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)  # type: ignore[attr-defined]


def quantise_flow(flow: np.ndarray, bound: float) -> np.ndarray:
    """Flow in pixels -> uint8 ``round(255 * (f + b) / (2 b))`` clipped to [0, 255]; 128 is zero motion."""
    return np.clip(np.rint((flow + bound) * (255.0 / (2.0 * bound))), 0, 255).astype(np.uint8)


def dequantise_flow(q: np.ndarray, bound: float) -> np.ndarray:
    """uint8 flow images -> float32 pixels; inverts quantise_flow, ``|error| <= b / 255`` for ``|f| <= b``."""
    return (q.astype(np.float32) * np.float32(2.0 * bound / 255.0) - np.float32(bound)).astype(np.float32)


# ---------------------------------------------------------------------------------------------- motion maps


def motion_maps(flow: np.ndarray, *, threshold: float = MOTION_THRESHOLD, grid: int = 8) -> np.ndarray:
    """(M, H, W, 2) flow -> (M, H, W) uint8 {0, 255} masks of what moves on its own once the camera's motion
    is removed: a similarity transform fitted per frame (RANSAC) to flow vectors on a ``grid``-px lattice."""
    if flow.ndim != 4 or flow.shape[-1] != 2:
        raise ValueError(f"flow must be (M, H, W, 2), got {flow.shape}")
    if len(flow) == 0:
        return np.zeros(flow.shape[:3], np.uint8)
    return np.stack([motion_map(f, threshold=threshold, grid=grid) for f in flow])


def motion_map(flow: np.ndarray, *, threshold: float = MOTION_THRESHOLD, grid: int = 8) -> np.ndarray:
    """One (H, W, 2) flow field -> (H, W) uint8 {0, 255} camera-compensated motion mask."""
    h, w = flow.shape[:2]
    ys, xs = np.mgrid[grid // 2 : h : grid, grid // 2 : w : grid]
    src = np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float32)
    dst = src + flow[ys.ravel(), xs.ravel()]
    camera, _ = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=threshold)
    if camera is None:  # too few points to fit: assume a pure translation
        camera = np.array([[1, 0, 0], [0, 1, 0]], np.float64)
        camera[:, 2] = np.median(dst - src, axis=0)
    px, py = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    cam_u = camera[0, 0] * px + camera[0, 1] * py + camera[0, 2] - px
    cam_v = camera[1, 0] * px + camera[1, 1] * py + camera[1, 2] - py
    residual = np.hypot(flow[..., 0] - cam_u, flow[..., 1] - cam_v)
    mask = (residual > threshold).astype(np.uint8) * 255
    return cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))  # drop isolated flow noise


# ---------------------------------------------------------------------------------------------- writing


@contextmanager
def atomic_dirs(*targets: Path) -> Iterator[list[Path]]:
    """Yield a temp folder beside each target; they replace the targets only if the block succeeds."""
    temps: list[Path] = []
    try:
        for target in targets:
            target.parent.mkdir(parents=True, exist_ok=True)
            temps.append(target.parent / f".{target.name}.partial-{os.getpid()}-{uuid.uuid4().hex[:8]}")
            temps[-1].mkdir()
        yield temps
        for target, temp in zip(targets, temps):
            _replace_dir(temp, target)
    finally:
        for temp in temps:
            shutil.rmtree(temp, ignore_errors=True)


def _replace_dir(temp: Path, target: Path) -> None:
    """Rename ``temp`` to ``target``, replacing an existing ``target`` folder."""
    if not target.exists():
        temp.rename(target)
        return
    old = target.parent / f".{target.name}.old-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    target.rename(old)
    temp.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def _encode(image: np.ndarray, suffix: str, quality: int) -> bytes:
    """(H, W, 3) RGB or (H, W) gray uint8 -> JPEG or PNG bytes."""
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    if suffix in (".jpg", ".jpeg"):
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    elif suffix == ".png":
        ok, buf = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 3])
    else:
        raise ValueError(f"cannot write {suffix!r} images; expected .jpg, .jpeg or .png")
    if not ok:
        raise RuntimeError(f"OpenCV failed to encode a {image.shape} image as {suffix}")
    return buf.tobytes()


def _write_numbered(images: Iterable[np.ndarray], folder: Path, pattern: str, start: int, quality: int) -> int:
    """Write images as ``folder / pattern.format(start + i)``; returns how many."""
    suffix = Path(pattern).suffix.lower()
    count = 0
    for count, image in enumerate(images, 1):
        (folder / pattern.format(start + count - 1)).write_bytes(_encode(image, suffix, quality))
    return count


def write_frames(
    frames: np.ndarray,
    out_dir: Path,
    *,
    pattern: str = "frame_{:010d}.jpg",
    start: int = 1,
    quality: int = 90,
) -> None:
    """Write (N, H, W, 3) RGB or (N, H, W) gray uint8 as numbered JPEG/PNG (by the suffix), atomically."""
    if frames.dtype != np.uint8 or frames.ndim not in (3, 4):
        raise ValueError(f"frames must be uint8 (N, H, W, 3) or (N, H, W), got {frames.dtype} {frames.shape}")
    with atomic_dirs(Path(out_dir)) as (temp,):
        _write_numbered(frames, temp, pattern, start, quality)


def _write_flow(
    flows: Iterable[np.ndarray], x_dir: Path, y_dir: Path, x_pattern: str, y_pattern: str, bound: float
) -> int:
    """Quantise a stream of (H, W, 2) flow fields and write x / y images numbered from 1; returns how many."""
    count = 0
    suffix = Path(x_pattern).suffix.lower()
    for count, flow in enumerate(flows, 1):
        q = quantise_flow(flow, bound)
        (x_dir / x_pattern.format(count)).write_bytes(_encode(q[..., 0], suffix, 95))
        (y_dir / y_pattern.format(count)).write_bytes(_encode(q[..., 1], suffix, 95))
    return count


def write_epic_flow(
    frames: np.ndarray,
    out_dir: Path,
    *,
    stride: int,
    dilation: int = 1,
    bound: float = FLOW_BOUND,
    method: str = "dis",
) -> int:
    """(N, H, W, 3) RGB -> EPIC layout ``out_dir/u/frame_%010d.jpg``, ``out_dir/v/...`` (gray JPEG, from 1);
    returns the number of flow frames, num_flow_pairs(N, stride, dilation)."""
    with atomic_dirs(Path(out_dir)) as (temp,):
        (temp / "u").mkdir()
        (temp / "v").mkdir()
        flows = iter_flow(frames, stride=stride, dilation=dilation, method=method)
        return _write_flow(flows, temp / "u", temp / "v", "frame_{:010d}.jpg", "frame_{:010d}.jpg", bound)


def write_gtea_flow(
    frames: np.ndarray,
    x_dir: Path,
    y_dir: Path,
    *,
    processed: bool = False,
    bound: float = FLOW_BOUND,
    method: str = "dis",
    flow: np.ndarray | None = None,
) -> int:
    """(N, H, W, 3) RGB -> GTEA flow ``flow_x_%05d.jpg`` / ``flow_y_%05d.jpg`` (Ego-RNN) or ``.png``
    (processed layout), numbered from 1, stride 1; returns the number of flow frames (N - 1).
    ``flow`` (N - 1, H, W, 2), when already computed from ``frames``, is written instead of computing it again."""
    ext = "png" if processed else "jpg"
    with atomic_dirs(Path(x_dir), Path(y_dir)) as (tx, ty):
        flows = iter(flow) if flow is not None else iter_flow(frames, method=method)
        return _write_flow(flows, tx, ty, f"flow_x_{{:05d}}.{ext}", f"flow_y_{{:05d}}.{ext}", bound)


# ---------------------------------------------------------------------------------------------- videos


def extract_frames(
    video: Path,
    out_dir: Path,
    *,
    fps: float | None = None,
    height: int | None = None,
    pattern: str = "frame_{:010d}.jpg",
    quality: int = 90,
) -> int:
    """Video -> numbered frames from 1 at ``fps`` (nearest frame, as ffmpeg ``-r``; None = native rate),
    resized to ``height`` keeping the aspect ratio with an even width (``scale=-2:h``); returns the count."""
    import av

    video = Path(video)
    try:
        with av.open(str(video)) as container, atomic_dirs(Path(out_dir)) as (temp,):
            if not container.streams.video:
                raise SampleError(video, "no video stream in the file (expected a video)")
            stream = container.streams.video[0]
            rate = Fraction(fps).limit_denominator(1001) if fps else Fraction(stream.average_rate or 0)
            if rate <= 0:
                raise SampleError(video, "the video stream has no frame rate (pass fps explicitly)")
            slots = frame_slots(container.decode(stream), rate, start=stream.start_time or 0)
            count = _write_numbered(_rgb_frames(slots, height), temp, pattern, 1, quality)
            if count == 0:
                raise SampleError(video, "no frames could be decoded (expected at least one video frame)")
            return count
    except av.error.FFmpegError as exc:
        raise SampleError(video, f"cannot decode video ({exc})") from exc


def _rgb_frames(slots: Iterable[tuple[int, Any]], height: int | None) -> Iterator[np.ndarray]:
    """(slot, av.VideoFrame) -> (H, W, 3) RGB arrays, resized; a frame repeated in slots is converted once."""
    last: Any = None
    array = np.empty(0)
    for _, frame in slots:
        if frame is not last:
            size: dict[str, Any] = {}
            if height:
                width = 2 * round(height * frame.width / (2 * frame.height))
                size = {"width": width, "height": height, "interpolation": "BICUBIC"}
            array, last = frame.to_ndarray(format="rgb24", **size), frame
        yield array


# ---------------------------------------------------------------------------------------------- folders


def prepare_frames(
    root_or_videos: Path,
    out_root: Path,
    *,
    fps: float | None,
    height: int | None,
    layout: str = "epic",
    workers: int = 2,
    overwrite: bool = False,
) -> int:
    """Extract the frames of every video: layout 'epic' maps ``<root>/P01/videos/P01_01.MP4`` to
    ``<out_root>/P01/rgb_frames/P01_01/frame_%010d.jpg``; 'plain' maps any video under root to
    ``<out_root>/<relative path without suffix>/``. Finished folders are skipped unless ``overwrite``;
    returns the number of videos extracted by this call."""
    jobs = [
        (video, out)
        for video, out in _video_jobs(Path(root_or_videos), Path(out_root), layout)
        if overwrite or not out.exists()
    ]
    fn = partial(_frames_job, fps=fps, height=height)
    return run_jobs(fn, jobs, workers=workers, desc="frames", name=lambda job: job[0])


def _video_jobs(source: Path, out_root: Path, layout: str) -> list[tuple[Path, Path]]:
    """(video, output folder) pairs for prepare_frames."""
    if layout not in ("epic", "plain"):
        raise ValueError(f"unknown layout {layout!r}; expected 'epic' or 'plain'")
    if source.is_file():
        pid = source.stem.split("_")[0]
        out = out_root / pid / "rgb_frames" / source.stem if layout == "epic" else out_root / source.stem
        return [(source, out)]
    if layout == "epic":
        videos = sorted(v for v in source.glob("*/videos/*") if v.suffix.lower() in VIDEO_SUFFIXES)
        jobs = [(v, out_root / v.parent.parent.name / "rgb_frames" / v.stem) for v in videos]
    else:
        videos = sorted(v for v in source.rglob("*") if v.suffix.lower() in VIDEO_SUFFIXES and v.is_file())
        videos = [v for v in videos if not _hidden(v, source)]
        jobs = [(v, out_root / v.relative_to(source).with_suffix("")) for v in videos]
    if not jobs:
        expected = "<root>/P*/videos/*.MP4" if layout == "epic" else "video files (.mp4, .avi, ...) under it"
        raise FormatError(source, f"no videos found (expected {expected} for layout {layout!r})")
    return jobs


def _frames_job(job: tuple[Path, Path], *, fps: float | None, height: int | None) -> None:
    extract_frames(job[0], job[1], fps=fps, height=height)


def prepare_flow(
    root: Path,
    *,
    layout: str = "epic",
    bound: float = FLOW_BOUND,
    method: str = "auto",
    workers: int = 2,
    overwrite: bool = False,
) -> int:
    """Optical flow of every frame folder. 'epic': ``P*/rgb_frames/<vid>/`` -> ``P*/flow_frames/<vid>/{u,v}/``
    (stride 2 for ``PXX_YY`` ids, 1 for ``PXX_1YY``). 'gtea': ``frames/S*/<class>/<inst>/`` -> ``flow_x/...``,
    ``flow_y/...`` (JPEG) and ``processed_frames2/S*/<class>/<inst>/rgb/`` -> ``flow_x_processed/...`` (PNG).
    Finished folders are skipped unless ``overwrite``; returns the number of folders computed by this call."""
    root = Path(root)
    jobs = [job for job in _flow_jobs(root, layout) if overwrite or not all(d.exists() for d in job.outputs)]
    fn = partial(_flow_job, bound=bound, method=flow_method(method))
    return run_jobs(fn, jobs, workers=workers, desc="flow", name=lambda job: job.source)


@dataclass(frozen=True)
class FlowJob:
    """One frame folder to turn into flow: where the frames are, where x / y go and how they are named."""

    source: Path
    frame_re: str
    x_dir: Path
    y_dir: Path
    x_pattern: str
    y_pattern: str
    stride: int
    outputs: tuple[Path, ...]  # the folders replaced atomically (EPIC: the one holding u/ and v/)


def _flow_jobs(root: Path, layout: str) -> list[FlowJob]:
    """The flow jobs of a dataset root."""
    jobs: list[FlowJob] = []
    if layout == "epic":
        for src in _dirs(root, "*/rgb_frames/*"):
            out = src.parent.parent / "flow_frames" / src.name
            jobs.append(
                FlowJob(
                    src,
                    r"frame_(\d+)\.jpg",
                    out / "u",
                    out / "v",
                    "frame_{:010d}.jpg",
                    "frame_{:010d}.jpg",
                    flow_stride(src.name),
                    (out,),
                )
            )
        expected = "<root>/P*/rgb_frames/<video>/ folders"
    elif layout == "gtea":
        for src in _dirs(root, "frames/*/*/*"):
            x, y = (root / f"flow_{a}" / src.relative_to(root / "frames") for a in "xy")
            names = ("flow_x_{:05d}.jpg", "flow_y_{:05d}.jpg")
            jobs.append(FlowJob(src, r"image_(\d+)\.jpg", x, y, *names, 1, (x, y)))
        for src in _dirs(root, "processed_frames2/*/*/*/rgb"):
            rel = src.parent.relative_to(root / "processed_frames2")
            x, y = root / "flow_x_processed" / rel, root / "flow_y_processed" / rel
            names = ("flow_x_{:05d}.png", "flow_y_{:05d}.png")
            jobs.append(FlowJob(src, r"rgb(\d+)\.png", x, y, *names, 1, (x, y)))
        expected = "frames/S*/<class>/<instance>/ or processed_frames2/S*/<class>/<instance>/rgb/ folders"
    else:
        raise ValueError(f"unknown layout {layout!r}; expected 'epic' or 'gtea'")
    if not jobs:
        raise FormatError(root, f"no frame folders found (expected {expected})")
    return jobs


def _flow_job(job: FlowJob, *, bound: float, method: str) -> None:
    frames = _stream_frames(numbered_files(job.source, job.frame_re))
    flows = iter_flow(frames, stride=job.stride, method=method)
    if len(job.outputs) == 1:  # EPIC: u/ and v/ inside one folder, replaced as a whole
        with atomic_dirs(job.outputs[0]) as (temp,):
            tx, ty = temp / job.x_dir.name, temp / job.y_dir.name
            tx.mkdir()
            ty.mkdir()
            _write_flow(flows, tx, ty, job.x_pattern, job.y_pattern, bound)
    else:
        with atomic_dirs(job.x_dir, job.y_dir) as (tx, ty):
            _write_flow(flows, tx, ty, job.x_pattern, job.y_pattern, bound)


def prepare_mmaps(
    root: Path,
    *,
    workers: int = 2,
    bound: float = FLOW_BOUND,
    threshold: float = MOTION_THRESHOLD,
    method: str = "auto",
    overwrite: bool = False,
) -> int:
    """Motion maps of the GTEA processed layout, ``processed_frames2/S*/<class>/<inst>/mmaps/map%04d.png``,
    one per RGB frame (map i from the flow between frames i-1 and i; map 1 repeats map 2). The flow is read
    from ``flow_{x,y}_processed/`` (quantised with ``bound``) or, where absent, computed from ``rgb/``.
    Returns the number of instances computed by this call."""
    root = Path(root)
    instances = [d.parent for d in _dirs(root, "processed_frames2/*/*/*/rgb")]
    if not instances:
        raise FormatError(root, "no instances found (expected processed_frames2/S*/<class>/<instance>/rgb/)")
    jobs = [d for d in instances if overwrite or not (d / "mmaps").exists()]
    fn = partial(_mmaps_job, root=root, bound=bound, threshold=threshold, method=flow_method(method))
    return run_jobs(fn, jobs, workers=workers, desc="motion maps", name=lambda job: job)


def _mmaps_job(instance: Path, *, root: Path, bound: float, threshold: float, method: str) -> None:
    rel = instance.relative_to(root / "processed_frames2")
    x_dir, y_dir = root / "flow_x_processed" / rel, root / "flow_y_processed" / rel
    flows: Iterable[np.ndarray]
    if x_dir.is_dir() and y_dir.is_dir():
        x_files = numbered_files(x_dir, r"flow_x_(\d+)\.png")
        y_files = numbered_files(y_dir, r"flow_y_(\d+)\.png")
        if len(x_files) != len(y_files):
            message = f"{len(y_files)} flow_y files but {len(x_files)} in {x_dir} (expected one y per x)"
            raise SampleError(y_dir, message)
        xs, ys = _stream_frames(x_files), _stream_frames(y_files)
        flows = (dequantise_flow(np.stack([x, y], axis=-1), bound) for x, y in zip(xs, ys))
    else:
        flows = iter_flow(_stream_frames(numbered_files(instance / "rgb", r"rgb(\d+)\.png")), method=method)
    maps = (motion_map(f, threshold=threshold) for f in flows)
    with atomic_dirs(instance / "mmaps") as (temp,):
        first = next(maps, None)
        if first is None:
            raise SampleError(instance, "too few frames for a motion map (expected >= 2 frames)")
        _write_numbered(_prepend(first, maps), temp, "map{:04d}.png", 1, 0)


def _prepend(first: np.ndarray, rest: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    yield first  # map 1 repeats map 2: the first frame has no flow into it
    yield first
    yield from rest


# ---------------------------------------------------------------------------------------------- helpers


def numbered_files(folder: Path, pattern: str) -> list[Path]:
    """Files of ``folder`` whose names match regex ``pattern`` (one number group), sorted by that number;
    SampleError when the numbers have a gap (names the first missing file) or none match."""
    regex = re.compile(pattern)
    found = sorted((int(m.group(1)), m) for p in folder.iterdir() if (m := regex.fullmatch(p.name)))
    if not found:
        raise SampleError(folder, f"no frame files matching {pattern!r} in the folder")
    first, last = found[0][0], found[-1][0]
    for expected, (number, match) in enumerate(found, first):
        if number != expected:  # name the missing file the way its neighbour is named
            a, b = match.span(1)
            missing = f"{match.string[:a]}{expected:0{b - a}d}{match.string[b:]}"
            raise SampleError(folder / missing, f"missing frame (expected {first}..{last}, no gaps)")
    return [folder / m.string for _, m in found]


def _stream_frames(paths: Sequence[Path]) -> Iterator[np.ndarray]:
    """Decode files in batches -> (H, W) gray uint8 arrays, one at a time (never a whole video in memory)."""
    for i in range(0, len(paths), READ_CHUNK):
        yield from read_images(paths[i : i + READ_CHUNK], gray=True)[:, 0].numpy()


def _dirs(root: Path, pattern: str) -> list[Path]:
    """Sorted visible folders matching a glob under root (skips .DS_Store and our .partial temporaries)."""
    return sorted(p for p in root.glob(pattern) if p.is_dir() and not _hidden(p, root))


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def run_jobs(
    fn: Callable[[Any], None], jobs: Sequence[Any], *, workers: int, desc: str, name: Callable[[Any], Path]
) -> int:
    """Run ``fn`` on every job (``workers`` processes, progress bar); a job failing with a DataError does not
    stop the others; a DataError naming every failed input is raised at the end. Returns the number done."""
    failures: list[tuple[Path, Exception]] = []
    bar = tqdm(total=len(jobs), desc=desc, unit="folder")
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            try:
                fn(job)
            except DataError as exc:
                failures.append((name(job), exc))
            bar.update()
    else:
        with process_pool(workers) as pool:
            futures: dict[Future[None], Any] = {pool.submit(fn, job): job for job in jobs}
            for future in as_completed(futures):
                error = future.exception()
                if isinstance(error, DataError):
                    failures.append((name(futures[future]), error))
                elif error is not None:
                    raise error
                bar.update()
    bar.close()
    if failures:
        lines = "\n".join(f"  {exc}" for _, exc in failures[:20])
        more = f"\n  ... and {len(failures) - 20} more" if len(failures) > 20 else ""
        total = f"{len(failures)} of {len(jobs)} {desc} job(s) failed; nothing was written for them"
        raise DataError(f"{total}:\n{lines}{more}")
    return len(jobs)


def process_pool(workers: int) -> ProcessPoolExecutor:
    """Worker processes for per-video jobs, one compute thread each.

    forkserver, not fork: forking after OpenCV (or torch, or FFmpeg) has started threads in the parent
    deadlocks the children; the server imports this module once, so workers start without re-importing torch.
    """
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    return ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_init_worker)


def _init_worker() -> None:
    import torch

    cv2.setNumThreads(1)  # one process per core: threads inside each would only contend
    torch.set_num_threads(1)
