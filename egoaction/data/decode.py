"""Decoding: image files (JPEG/PNG via torchvision.io, libjpeg-turbo) and videos (PyAV), to uint8 tensors.

Frame numbers of a video follow ffmpeg's ``-r`` resampling (its ``fps`` filter, ``round=near``): a decoded
frame at time ``t`` lands in output slot ``round(t * fps)`` (halves rounded up), and slot ``k`` shows the last
frame that landed at or before it. So ``read_video_frames(mp4, [n], fps=60)`` returns the same picture that
``ffmpeg -r 60 frame_%010d.jpg`` wrote as file ``n`` — the way EPIC-KITCHENS made its released frames.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torchvision.io import ImageReadMode, decode_image, decode_jpeg, decode_png

from egoaction.data.errors import SampleError
from egoaction.data.segment import FlowSource, FrameSource, Segment

if TYPE_CHECKING:
    import av

JPEG_SOI = b"\xff\xd8"
JPEG_EOI = b"\xff\xd9"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
RESEEK_SECONDS = 2.0  # jump ahead with a new seek rather than decode more than this between wanted frames


@dataclass(frozen=True)
class VideoInfo:
    """What a video container says about its first video stream."""

    num_frames: int
    fps: float
    width: int
    height: int


def probe_video(path: str | Path) -> VideoInfo:
    """A video's frame count, frame rate and size from its header (decodes nothing if the header says)."""
    import av

    path = Path(path)
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise SampleError(path, "no video stream in the file")
            stream = container.streams.video[0]
            fps = float(stream.average_rate or stream.base_rate or 0)
            num_frames = int(stream.frames)
            if num_frames <= 0 and stream.duration is not None and stream.time_base is not None and fps > 0:
                num_frames = round(float(stream.duration * stream.time_base) * fps)
            if num_frames <= 0:  # no count in the header: count packets, still without decoding
                num_frames = sum(1 for p in container.demux(stream) if p.size)
            return VideoInfo(num_frames, fps, stream.codec_context.width, stream.codec_context.height)
    except av.error.FFmpegError as exc:
        raise SampleError(path, f"cannot open video ({exc})") from exc


# ---------------------------------------------------------------------------------------------- image files


def read_images(paths: Sequence[Path], *, gray: bool = False) -> torch.Tensor:
    """Decode JPEG/PNG files -> uint8 (T, C, H, W), C=3 RGB (1 if ``gray``); each distinct file read once."""
    paths = [Path(p) for p in paths]
    distinct = list(dict.fromkeys(paths))
    images = dict(zip(distinct, _decode_files(distinct, gray=gray)))
    first = images[distinct[0]] if distinct else None
    for path, image in images.items():
        if first is not None and image.shape != first.shape:
            raise SampleError(
                path,
                f"image size {tuple(image.shape[1:])} differs from {tuple(first.shape[1:])} "
                f"of {distinct[0].name} (expected all frames of a clip to have one size)",
            )
    if not paths:
        return torch.empty((0, 1 if gray else 3, 0, 0), dtype=torch.uint8)
    return torch.stack([images[p] for p in paths])


def _decode_files(paths: list[Path], *, gray: bool) -> list[torch.Tensor]:
    """Read and decode files -> list of uint8 (C, H, W); JPEGs go through one batched decode_jpeg call."""
    mode = ImageReadMode.GRAY if gray else ImageReadMode.RGB
    blobs = [_read_bytes(p) for p in paths]
    jpegs = [i for i, b in enumerate(blobs) if bytes(b[:2].numpy()) == JPEG_SOI]
    for i in jpegs:
        _check_jpeg_end(paths[i], blobs[i])
    out: list[torch.Tensor | None] = [None] * len(paths)
    try:
        for i, image in zip(jpegs, decode_jpeg([blobs[i] for i in jpegs], mode=mode) if jpegs else []):
            out[i] = image
    except RuntimeError:  # the batch does not say which file failed: find it one by one
        for i in jpegs:
            out[i] = _decode_one(paths[i], blobs[i], mode)
    for i, blob in enumerate(blobs):
        if out[i] is None:
            out[i] = _decode_one(paths[i], blob, mode)
    return [t for t in out if t is not None]


def _read_bytes(path: Path) -> torch.Tensor:
    """The file's bytes as a uint8 tensor; SampleError when it is missing or empty."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        where = "" if path.parent.is_dir() else f"; its folder {path.parent} does not exist either"
        raise SampleError(path, f"missing frame (expected an image file at this path{where})") from None
    except OSError as exc:
        raise SampleError(path, f"cannot read frame ({exc})") from exc
    if not data:
        raise SampleError(path, "empty image file (expected a JPEG or PNG image)")
    return torch.frombuffer(bytearray(data), dtype=torch.uint8)


def _check_jpeg_end(path: Path, blob: torch.Tensor) -> None:
    """Reject a JPEG without its end-of-image marker (libjpeg may only warn and fill in grey)."""
    tail = bytes(blob[-64:].numpy()).rstrip(b"\x00\r\n ")  # some writers pad after the marker
    if not tail.endswith(JPEG_EOI):
        raise SampleError(path, "truncated JPEG (expected the end-of-image marker FFD9 at its end)")


def _decode_one(path: Path, blob: torch.Tensor, mode: ImageReadMode) -> torch.Tensor:
    """Decode one JPEG/PNG (or other torchvision format) -> uint8 (C, H, W); SampleError names the file."""
    head = bytes(blob[:8].numpy())
    try:
        if head.startswith(JPEG_SOI):
            return decode_jpeg(blob, mode=mode)
        if head == PNG_MAGIC:
            return decode_png(blob, mode=mode)
        return decode_image(blob, mode=mode)
    except RuntimeError as exc:
        reason = str(exc).rsplit(", ", 1)[-1]  # drop torchvision's C++ source location
        raise SampleError(path, f"corrupt image ({reason}; expected a complete JPEG or PNG file)") from None


# ---------------------------------------------------------------------------------------------- videos


def read_video_frames(
    path: Path, numbers: Sequence[int], *, fps: float | None = None, first_number: int = 1
) -> torch.Tensor:
    """Decode only the requested frames -> uint8 (T, 3, H, W) in the order asked (repeats allowed).

    Frame number ``n`` is the frame displayed at time ``(n - first_number) / fps`` (``fps`` None = the
    stream's rate), chosen as ffmpeg ``-r fps`` does (see the module docstring). Seeks to the keyframe before
    the first wanted frame and decodes forward, seeking again only when the next wanted one is > 2 s ahead.
    """
    import av

    path = Path(path)
    slots = [n - first_number for n in numbers]
    if min(slots, default=0) < 0:
        raise SampleError(path, f"frame number {min(numbers)} is before the first frame {first_number}")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise SampleError(path, "no video stream in the file (expected a video)")
            stream = container.streams.video[0]
            rate = _rate(stream, fps, path)
            arrays = _decode_slots(container, stream, sorted(set(slots)), rate, path, first_number)
    except av.error.FFmpegError as exc:
        raise SampleError(path, f"cannot decode video ({exc})") from exc
    if not slots:
        return torch.empty((0, 3, 0, 0), dtype=torch.uint8)
    return torch.from_numpy(np.stack([arrays[s] for s in slots])).permute(0, 3, 1, 2).contiguous()


def _rate(stream: av.video.stream.VideoStream, fps: float | None, path: Path) -> Fraction:
    """Frame-number rate as an exact fraction (the stream's own rate when ``fps`` is None)."""
    if fps is not None:
        if fps <= 0:
            raise SampleError(path, f"frame rate {fps} must be positive")
        return Fraction(fps).limit_denominator(1001)
    rate = stream.average_rate or stream.base_rate or stream.guessed_rate
    if not rate:
        raise SampleError(path, "the video stream has no frame rate (pass fps explicitly)")
    return Fraction(rate)


def _decode_slots(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    wanted: list[int],
    rate: Fraction,
    path: Path,
    first_number: int,
) -> dict[int, np.ndarray]:
    """Decode the frames of the sorted, distinct ``wanted`` slots -> slot -> (H, W, 3) uint8 RGB."""
    time_base = Fraction(stream.time_base or Fraction(1, 1))
    start = stream.start_time or 0
    far = RESEEK_SECONDS * rate
    found: dict[int, np.ndarray] = {}
    j = 0
    while j < len(wanted):
        target = wanted[j]
        container.seek(start + math.floor(target / rate / time_base), backward=True, stream=stream)
        last = None
        for slot, frame in frame_slots(container.decode(stream), rate, start=start, first_slot=target):
            last = slot
            if slot < wanted[j]:
                continue
            found[slot] = frame.to_ndarray(format="rgb24")
            j += 1
            if j == len(wanted) or wanted[j] - slot > far:
                break
        else:
            known = "" if last is None else f"; its last frame is number {last + first_number}"
            raise SampleError(
                path,
                f"frame {wanted[j] + first_number} is beyond the end of the video "
                f"(at {float(rate):g} fps, numbered from {first_number}{known})",
            )
    return found


def frame_slots(
    frames: Iterable[av.VideoFrame], rate: Fraction, *, start: int = 0, first_slot: int = 0
) -> Iterator[tuple[int, av.VideoFrame]]:
    """Resample decoded frames to ``rate`` as ffmpeg ``-r`` does: yield (slot, frame) for consecutive slots.

    ``start`` is the stream's first pts (slot 0). The first frame also fills the slots from ``first_slot`` up
    to its own. Frames are yielded as decoded (not converted): only those the caller keeps cost an RGB copy.
    """
    # Exact integer arithmetic: positions are counted in 1/den slots, where one pts tick is num/den slots.
    # (Fraction objects per frame cost ~25 % of a small clip's decode time.)
    prev: av.VideoFrame | None = None
    num, den = 0, 1  # known from the first frame that has a time base
    prev_end = 0  # where the previous frame's display ends, in 1/den slots
    next_slot = first_slot
    for frame in frames:
        if frame.time_base is not None and num == 0:
            scale = Fraction(frame.time_base) * rate
            prev_end *= scale.denominator
            num, den = scale.numerator, scale.denominator
        pos = prev_end if frame.pts is None or num == 0 else (frame.pts - start) * num
        slot = (2 * pos + den) // (2 * den)  # nearest slot, halves up (ffmpeg's round-to-nearest)
        if prev is None:
            next_slot = min(next_slot, slot)
        while prev is not None and next_slot < slot:
            yield next_slot, prev
            next_slot += 1
        # a frame lasts its duration, or one native frame when the container does not say
        prev, prev_end = frame, pos + (frame.duration * num if frame.duration and num else den)
    while prev is not None and next_slot * den < prev_end:  # the last frame lasts its duration
        yield next_slot, prev
        next_slot += 1


# ---------------------------------------------------------------------------------------------- sources


def read_rgb(segment: Segment, numbers: Sequence[int]) -> torch.Tensor:
    """RGB frames of a segment, from its image files (``segment.rgb``) or its video: uint8 (T, 3, H, W)."""
    if segment.rgb is not None:
        return read_images([segment.rgb.path(n) for n in numbers])
    if segment.video is not None:
        fps = segment.fps if segment.fps > 0 else None
        return read_video_frames(segment.video, numbers, fps=fps, first_number=segment.first_number)
    raise SampleError(segment.id, "segment has neither RGB frame files nor a video (expected one of them)")


def read_flow(flow: FlowSource, numbers: Sequence[int]) -> torch.Tensor:
    """Flow files -> uint8 (T, 2, H, W); channel 0 = x (u), 1 = y (v); 128 means zero motion."""
    paths = [flow.x.path(n) for n in numbers] + [flow.y.path(n) for n in numbers]
    xy = read_images(paths, gray=True)
    return torch.cat([xy[: len(numbers)], xy[len(numbers) :]], dim=1)


def read_mmaps(source: FrameSource, numbers: Sequence[int]) -> torch.Tensor:
    """Motion-map images -> uint8 (T, 1, H, W)."""
    return read_images([source.path(n) for n in numbers], gray=True)
