"""The records every format reader produces and every sampler consumes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class FrameSource:
    """A folder of numbered image files, e.g. ``P01/rgb_frames/P01_01`` + ``frame_{:010d}.jpg``."""

    directory: Path
    pattern: str

    def path(self, number: int) -> Path:
        """Path of the file numbered ``number`` (the number as written in the file name)."""
        return self.directory / self.pattern.format(number)


@dataclass(frozen=True)
class FlowSource:
    """Paired x / y flow files of one segment; ``first``..``last`` are inclusive flow file numbers.

    The reader that builds it has already applied its format's RGB→flow index rule, so samplers only
    ever pick numbers inside ``[first, last]``.
    """

    x: FrameSource
    y: FrameSource
    first: int
    last: int

    @property
    def num_frames(self) -> int:
        """Number of flow files available to the segment."""
        return self.last - self.first + 1


@dataclass(frozen=True)
class Segment:
    """One labelled interval of one video.

    ``start_frame`` and ``stop_frame`` are file numbers, inclusive (EPIC's convention: 1-based for EPIC).
    ``labels`` maps a task head to a class id, e.g. ``{"verb": 3, "noun": 12}`` or ``{"action": 5}``.
    Exactly one of ``rgb`` (image files) or ``video`` (a video file) says where the RGB frames are; for a video,
    frame number ``n`` is the frame shown at time ``(n - first_number) / fps``.
    """

    id: str
    video_id: str
    participant: str
    start_frame: int
    stop_frame: int
    fps: float
    labels: Mapping[str, int]
    rgb: FrameSource | None = None
    video: Path | None = None
    first_number: int = 1
    flow: FlowSource | None = None
    mmaps: FrameSource | None = None
    meta: Mapping[str, str] = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        """Number of RGB frames in the segment (inclusive range)."""
        return self.stop_frame - self.start_frame + 1


@dataclass
class SegmentIndex:
    """The segments of one split with the class names of every task head (names in class-id order)."""

    segments: list[Segment]
    classes: dict[str, list[str]]
    source: str = ""

    @property
    def task_spec(self) -> dict[str, int]:
        """Number of classes per task head, e.g. ``{"verb": 97, "noun": 300}``."""
        return {task: len(names) for task, names in self.classes.items()}

    def __len__(self) -> int:
        return len(self.segments)
