"""Dataset format readers: one function per on-disk format, each returning a :class:`SegmentIndex`.

``read_index("epic100", root, "train", flow=True)`` is the one entry point; every reader is a plain function
with typed keyword options, registered here under its format name together with the split names it accepts.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from egoaction.data.decode import VideoInfo, probe_video
from egoaction.data.errors import SampleError
from egoaction.data.segment import SegmentIndex

Reader = Callable[..., SegmentIndex]
R = TypeVar("R", bound=Reader)

_READERS: dict[str, Reader] = {}
SPLITS: dict[str, tuple[str, ...]] = {}


def register_format(name: str, *, splits: Sequence[str]) -> Callable[[R], R]:
    """Decorator registering a reader under ``name`` with its split names; a duplicate raises ValueError."""

    def add(reader: R) -> R:
        if name in _READERS:
            raise ValueError(f"dataset format {name!r} is already registered (by {_READERS[name].__module__})")
        _READERS[name] = reader
        SPLITS[name] = tuple(splits)
        return reader

    return add


def list_formats() -> list[str]:
    """Names of the registered dataset formats, sorted."""
    return sorted(_READERS)


def get_reader(format: str) -> Reader:
    """The reader function of a format; unknown name -> ValueError listing the valid ones."""
    try:
        return _READERS[format]
    except KeyError:
        raise ValueError(f"unknown dataset format {format!r}; expected one of {list_formats()}") from None


def read_index(format: str, root: str | Path, split: str, **options: Any) -> SegmentIndex:
    """Read one split of a dataset in the given format; an option the reader lacks -> TypeError naming it."""
    reader = get_reader(format)
    params = inspect.signature(reader).parameters
    accepted = {n for n, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY}
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise TypeError(f"format {format!r} has no option(s) {unknown}; its options are {sorted(accepted)}")
    return reader(Path(root), split, **options)


def check_split(format: str, split: str) -> None:
    """Raise ValueError when ``split`` is not one of the format's split names."""
    if split not in SPLITS[format]:
        raise ValueError(f"format {format!r} has no split {split!r}; expected one of {list(SPLITS[format])}")


def probe_videos(paths: Sequence[Path], *, workers: int = 8) -> list[VideoInfo | None]:
    """Header-probe videos in a thread pool; an unreadable or empty one gives None and a warning naming it."""

    def probe(path: Path) -> VideoInfo | SampleError:
        try:
            info = probe_video(path)
        except SampleError as exc:
            return exc
        return info if info.num_frames > 0 else SampleError(path, "the video has no frames")

    # Opening a container is mostly file I/O and FFmpeg C code, so threads overlap it well.
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        results = list(pool.map(probe, paths))
    out: list[VideoInfo | None] = []
    for result in results:
        if isinstance(result, SampleError):
            warnings.warn(f"skipping unreadable video: {result}", stacklevel=3)
            out.append(None)
        else:
            out.append(result)
    return out


# The readers register themselves on import; they need the names above, hence the late imports.
from egoaction.data.formats import epic100, folder, gtea61, ucf101  # noqa: E402

__all__ = [
    "SPLITS",
    "check_split",
    "epic100",
    "folder",
    "get_reader",
    "gtea61",
    "list_formats",
    "probe_videos",
    "read_index",
    "register_format",
    "ucf101",
]
