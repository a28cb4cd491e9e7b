"""A user's own videos -> Segment records, from a CSV list or a folder tree.

- CSV (``csv=...``, or ``<root>/<split>.csv`` when it exists): rows ``path,label[,start,stop]``, header
  optional; ``path`` is relative to the CSV's folder and is a video file or a folder of numbered images;
  ``start``/``stop`` are optional 1-based inclusive frame numbers (default: the whole video / folder).
- Tree: ``<root>/<split>/<label>/<video or frame folder>`` when ``<root>/<split>`` exists, else
  ``<root>/<label>/...`` (then every split name reads everything).

Class ids index the sorted label names of every split (``train``/``val``/``test`` CSVs or folders side by
side), so ids agree between the splits. Unreadable videos are skipped with a warning naming them.
"""

from __future__ import annotations

import csv as csvlib
import re
from dataclasses import dataclass
from pathlib import Path

from egoaction.data.errors import FormatError
from egoaction.data.formats import check_split, probe_videos, register_format
from egoaction.data.segment import FrameSource, Segment, SegmentIndex

SPLIT_NAMES = ("train", "val", "test")
VIDEO_EXTENSIONS = frozenset({".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg"})
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png"})
_NUMBERED = re.compile(r"^(.*?)(\d+)(\.[A-Za-z]+)$")


@dataclass(frozen=True)
class _Item:
    """One row of the list before its frames are counted; ``where`` and ``line`` say whom to blame."""

    path: Path
    rel: str
    label: str
    start: int | None
    stop: int | None
    where: Path
    line: int | None


def frame_folder(folder: str | Path) -> tuple[FrameSource, list[int]]:
    """Numbering pattern of a folder of images (``img_00001.jpg``, ``0001.png``...) and its sorted numbers."""
    folder = Path(folder)
    digits: dict[tuple[str, str], set[int]] = {}  # (prefix, extension) -> digit counts seen
    for p in folder.iterdir():
        match = _NUMBERED.match(p.name)
        if match and not p.name.startswith(".") and match.group(3).lower() in IMAGE_EXTENSIONS:
            digits.setdefault((match.group(1), match.group(3)), set()).add(len(match.group(2)))
    if not digits:
        raise FormatError(folder, "no numbered images (expected e.g. img_00001.jpg or 000001.png)")
    if len(digits) > 1:
        raise FormatError(folder, f"mixed image name patterns {sorted(digits)} (expected one numbered sequence)")
    (head, ext), widths = next(iter(digits.items()))
    pattern = f"{head}{{:0{widths.pop()}d}}{ext}" if len(widths) == 1 else f"{head}{{:d}}{ext}"
    names = {p.name for p in folder.iterdir()}
    numbers = sorted(
        int(m.group(2)) for n in names if (m := _NUMBERED.match(n)) and pattern.format(int(m.group(2))) == n
    )
    if not numbers:
        raise FormatError(folder, f"no image name follows one zero-padding (pattern {pattern!r})")
    return FrameSource(folder, pattern), numbers


def _parse_int(value: str, column: str, path: Path, line: int) -> int:
    if not value.isdecimal() or int(value) < 1:
        raise FormatError(path, f"{column} = {value!r} is not a frame number (expected an integer >= 1)", line)
    return int(value)


def _csv_rows(path: Path) -> list[tuple[int, list[str]]]:
    """(line, stripped fields) of the data rows of a list CSV, without its optional ``path,label`` header."""
    if not path.is_file():
        raise FormatError(path, "file not found (expected a CSV with rows path,label[,start,stop])")
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csvlib.reader(f)
        rows = [(reader.line_num, [c.strip() for c in row]) for row in reader if any(c.strip() for c in row)]
    if rows and rows[0][1][0].lower() == "path":
        rows = rows[1:]
    return rows


def _read_csv(path: Path) -> list[_Item]:
    """Validated rows of a list CSV; every bad row is a FormatError with its line."""
    items = []
    for line, fields in _csv_rows(path):
        if len(fields) not in (2, 4):
            raise FormatError(path, f"{len(fields)} fields (expected path,label or path,label,start,stop)", line)
        rel, label = fields[0], fields[1]
        if not rel or not label:
            raise FormatError(path, "empty path or label (expected path,label[,start,stop])", line)
        start = stop = None
        if len(fields) == 4 and (fields[2] or fields[3]):
            start = _parse_int(fields[2], "start", path, line)
            stop = _parse_int(fields[3], "stop", path, line)
            if start > stop:
                raise FormatError(path, f"start {start} > stop {stop} (expected start <= stop)", line)
        target = path.parent / rel
        if not target.exists():
            raise FormatError(path, f"{target} does not exist (paths are relative to the CSV's folder)", line)
        items.append(_Item(target, rel, label, start, stop, path, line))
    return items


def _visible(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if not p.name.startswith("."))


def _read_tree(base: Path) -> list[_Item]:
    """``<base>/<label>/<video or frame folder>`` entries; other files are ignored."""
    items = []
    for label_dir in (p for p in _visible(base) if p.is_dir()):
        for entry in _visible(label_dir):
            if entry.is_dir() or entry.suffix.lower() in VIDEO_EXTENSIONS:
                rel = entry.relative_to(base).as_posix()
                items.append(_Item(entry, rel, label_dir.name, None, None, entry, None))
    return items


def _labels_of_splits(root: Path, csv_folder: Path | None) -> set[str]:
    """Labels of every split next to the one being read (so class ids agree between splits)."""
    if csv_folder is not None:
        files = [csv_folder / f"{s}.csv" for s in SPLIT_NAMES if (csv_folder / f"{s}.csv").is_file()]
        return {fields[1] for f in files for _, fields in _csv_rows(f) if len(fields) > 1}
    bases = [root / s for s in SPLIT_NAMES if (root / s).is_dir()] or [root]
    return {p.name for base in bases for p in _visible(base) if p.is_dir()}


def _tree_base(root: Path, split: str) -> Path:
    if (root / split).is_dir():
        return root / split
    present = [s for s in SPLIT_NAMES if (root / s).is_dir()]
    if present:
        raise FormatError(root, f"no {split}/ folder (found split folders {present}; expected {split}/<label>/...)")
    return root


def _segment(item: _Item, label: int, fps: float, num_frames: int | None) -> Segment:
    """A Segment over frames start..stop of a video (``num_frames`` known) or of a frame folder."""
    rgb, video = None, None
    if num_frames is None:
        rgb, numbers = frame_folder(item.path)
        lo, hi = item.start or numbers[0], item.stop or numbers[-1]
        missing = sorted(set(range(lo, hi + 1)) - set(numbers))
        if missing:
            raise FormatError(item.where, f"{rgb.path(missing[0])} is missing (frames {lo}..{hi} asked)", item.line)
    else:
        video = item.path
        lo, hi = item.start or 1, item.stop or num_frames
        if hi > num_frames:
            raise FormatError(item.where, f"stop {hi} is past the last frame {num_frames} of {video}", item.line)
    ranged = item.start is not None
    return Segment(
        id=f"{item.rel}#{lo}-{hi}" if ranged else item.rel,
        video_id=item.rel,
        participant="",
        start_frame=lo,
        stop_frame=hi,
        fps=fps,
        labels={"action": label},
        rgb=rgb,
        video=video,
        meta={"label": item.label},
    )


@register_format("folder", splits=SPLIT_NAMES)
def read_folder(
    root: Path,
    split: str = "train",
    *,
    csv: Path | None = None,
    fps: float = 30.0,
    workers: int = 8,
) -> SegmentIndex:
    """Segments of a user's own data (CSV list or label folders); labels ``{"action": id}``, sorted names.

    ``fps`` is the frame rate of image folders (videos use their own); ``workers`` threads probe videos.
    """
    check_split("folder", split)
    root = Path(root)
    list_csv = Path(csv) if csv is not None else root / f"{split}.csv"
    if csv is not None or list_csv.is_file():
        items = _read_csv(list_csv)
        names = _labels_of_splits(root, list_csv.parent) | {i.label for i in items}
    else:
        items = _read_tree(_tree_base(root, split))
        names = _labels_of_splits(root, None)
    classes = sorted(names)
    ids = {name: i for i, name in enumerate(classes)}
    video_items = [i for i in items if not i.path.is_dir()]
    infos = dict(zip((i.path for i in video_items), probe_videos([i.path for i in video_items], workers=workers)))
    segments = []
    for item in items:
        if item.path.is_dir():
            segments.append(_segment(item, ids[item.label], fps, None))
        elif (info := infos[item.path]) is not None:
            segments.append(_segment(item, ids[item.label], info.fps, info.num_frames))
    skipped = len(items) - len(segments)
    source = f"folder:{list_csv if csv is not None or list_csv.is_file() else root} skipped_unreadable={skipped}"
    return SegmentIndex(segments, {"action": classes}, source=source)
