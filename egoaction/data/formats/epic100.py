"""EPIC-KITCHENS-100 annotations (CSV) and released frames / flow / videos -> Segment records.

Layout (as the official downloader leaves it): ``<root>/P01/rgb_frames/P01_01/frame_0000000001.jpg``,
``<root>/P01/flow_frames/P01_01/{u,v}/frame_0000000001.jpg``, ``<root>/P01/videos/P01_01.MP4``, and the
annotation CSVs (``EPIC_100_train.csv`` ...) in ``annotations`` (default: ``root``).

Frame numbers are the annotation's ``start_frame`` / ``stop_frame``: 1-based file numbers, stop inclusive. The
released frames were resampled to 60 fps (EPIC-55 ids ``PXX_YY``) or 50 fps (extension ids ``PXX_1YY``), and
every row must satisfy the official timestamp rule ``frame = max(1, int(seconds * fps))`` (true of all rows of
the released validation, test and UDA train files). Files on disk are not opened here; a missing frame
surfaces as a :class:`SampleError` naming the file when it is decoded.
"""

from __future__ import annotations

import ast
import csv
import re
import warnings
from pathlib import Path
from typing import Any, cast

import pandas as pd

from egoaction.data.errors import FormatError
from egoaction.data.formats import check_split, register_format
from egoaction.data.segment import FlowSource, FrameSource, Segment, SegmentIndex

FRAME_PATTERN = "frame_{:010d}.jpg"
SPLIT_FILES = {
    "train": "EPIC_100_train.csv",
    "validation": "EPIC_100_validation.csv",
    "test": "EPIC_100_test_timestamps.csv",
}
VERB_CLASSES = "EPIC_100_verb_classes.csv"
NOUN_CLASSES = "EPIC_100_noun_classes.csv"
TIMESTAMP_COLUMNS = (
    "narration_id",
    "participant_id",
    "video_id",
    "narration_timestamp",
    "start_timestamp",
    "stop_timestamp",
    "start_frame",
    "stop_frame",
)
LABEL_COLUMNS = ("narration", "verb", "verb_class", "noun", "noun_class", "all_nouns", "all_noun_classes")
_VIDEO_ID = re.compile(r"^([^_]+)_(\d+)$")
_TIMESTAMP = re.compile(r"^(\d+):(\d{1,2}):(\d{1,2}(?:\.\d*)?)$")


def epic_fps(video_id: str) -> int:
    """Frame rate of the released RGB frames: 50 for extension videos (``PXX_1YY``), else 60."""
    return 50 if len(video_id.split("_")[1]) == 3 else 60


def flow_stride(video_id: str) -> int:
    """RGB frames per flow frame: 2 for EPIC-55 videos (``PXX_YY``), 1 for extension videos (``PXX_1YY``)."""
    return 1 if len(video_id.split("_")[1]) == 3 else 2


def rgb_to_flow_index(rgb: int, video_id: str) -> int:
    """Flow file number of RGB file number ``rgb`` (both 1-based): the C1 rule ``(rgb-1)//stride+1``."""
    return (rgb - 1) // flow_stride(video_id) + 1


def timestamp_to_seconds(ts: str) -> float:
    """Seconds of an ``HH:MM:SS.ss`` timestamp; a malformed one raises ValueError."""
    match = _TIMESTAMP.match(ts.strip())
    if match is None:
        raise ValueError(f"timestamp {ts!r} is not HH:MM:SS.ss")
    hours, minutes, seconds = match.groups()
    # This exact float expression reproduces every frame number of the released annotations; a correctly
    # rounded decimal conversion (datetime.timedelta) disagrees on ~0.8% of the 50 fps rows.
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def timestamp_to_frame(ts: str, video_id: str) -> int:
    """Official frame number of a timestamp: ``max(1, int(seconds * fps))`` with fps = :func:`epic_fps`."""
    return max(1, int(timestamp_to_seconds(ts) * epic_fps(video_id)))


def frame_to_timestamp(frame: int, video_id: str) -> str:
    """Earliest ``HH:MM:SS.ss`` whose official frame is ``frame`` (inverse of :func:`timestamp_to_frame`)."""
    if frame < 1:
        raise ValueError(f"frame numbers start at 1, got {frame}")
    centis = max(0, frame * 100 // epic_fps(video_id) - 2)  # at least half a frame early: search upwards
    while timestamp_to_frame(_centis_to_timestamp(centis), video_id) < frame:
        centis += 1
    ts = _centis_to_timestamp(centis)
    if timestamp_to_frame(ts, video_id) != frame:  # impossible at 50/60 fps: frames outlast 0.01 s
        raise ValueError(f"no 2-decimal timestamp maps to frame {frame} of {video_id}")
    return ts


def _centis_to_timestamp(centis: int) -> str:
    seconds, hundredths = divmod(centis, 100)
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}.{hundredths:02d}"


def _read_small_csv(path: Path, headers: tuple[str, ...]) -> tuple[str, list[tuple[int, str]]]:
    """Header and (line, value) pairs of a one-column CSV whose header must be one of ``headers``."""
    if not path.is_file():
        raise FormatError(path, "file not found")
    with path.open(newline="", encoding="utf-8-sig") as f:
        rows = list(csv.reader(f))
    header = rows[0][0].strip() if rows and rows[0] else ""
    if header not in headers:
        raise FormatError(path, f"expected the header {' or '.join(map(repr, headers))}, found {header!r}", 1)
    return header, [(i, row[0].strip()) for i, row in enumerate(rows[1:], start=2) if row and row[0].strip()]


def read_unseen_participants(path: str | Path) -> set[str]:
    """Participant ids of an ``EPIC_100_unseen_participant_ids_*.csv`` file (header ``participant_id``)."""
    return {value for _, value in _read_small_csv(Path(path), ("participant_id",))[1]}


def read_tail_classes(path: str | Path) -> set[int]:
    """Ids in ``EPIC_100_tail_verbs.csv`` (header ``verb``) or ``EPIC_100_tail_nouns.csv`` (``noun``)."""
    header, rows = _read_small_csv(Path(path), ("verb", "noun"))
    for line, value in rows:
        if not value.isdecimal():
            raise FormatError(path, f"{header} = {value!r} is not a class id (expected an integer >= 0)", line)
    return {int(value) for _, value in rows}


def read_class_names(path: str | Path) -> list[str]:
    """Class names (column ``key``) of ``EPIC_100_{verb,noun}_classes.csv`` in id order (ids 0..n-1)."""
    path = Path(path)
    if not path.is_file():
        raise FormatError(path, "file not found (expected the EPIC-100 class file)")
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        missing = {"id", "key"} - set(reader.fieldnames or ())
        if missing:
            raise FormatError(path, f"missing column(s) {sorted(missing)} (expected id,key,instances,category)", 1)
        names: dict[int, str] = {}
        for row in reader:
            line = reader.line_num
            value = (row["id"] or "").strip()
            if not value.isdecimal():
                raise FormatError(path, f"id = {value!r} is not an integer class id", line)
            if int(value) in names:
                raise FormatError(path, f"class id {value} appears twice", line)
            names[int(value)] = (row["key"] or "").strip()
    if sorted(names) != list(range(len(names))):
        gap = min(set(range(len(names))) - set(names))
        raise FormatError(path, f"class ids must be 0..{len(names) - 1} without gaps; id {gap} is missing")
    return [names[i] for i in range(len(names))]


class _RowChecker:
    """Validates and converts the cells of one annotation CSV; every error names the file, line and column."""

    def __init__(self, path: Path, num_verbs: int, num_nouns: int) -> None:
        self.path = path
        self.num_classes = {"verb_class": num_verbs, "noun_class": num_nouns}
        self._literals: dict[str, Any] = {}

    def fail(self, line: int, message: str) -> FormatError:
        return FormatError(self.path, message, line)

    def video_id(self, row: dict[str, str], line: int) -> str:
        vid = row["video_id"]
        match = _VIDEO_ID.match(vid)
        if match is None:
            raise self.fail(line, f"video_id = {vid!r} is not <participant>_<number> (e.g. P01_01 or P01_101)")
        if match.group(1) != row["participant_id"]:
            raise self.fail(line, f"participant_id = {row['participant_id']!r} does not match video_id {vid!r}")
        return vid

    def frame(self, row: dict[str, str], column: str, line: int) -> int:
        value = row[column].strip()
        if not value.isdecimal() or int(value) < 1:
            raise self.fail(line, f"{column} = {value!r} is not a frame number (expected an integer >= 1)")
        return int(value)

    def timestamp(self, row: dict[str, str], which: str, frame: int, video_id: str, line: int) -> None:
        ts = row[f"{which}_timestamp"]
        try:
            expected = timestamp_to_frame(ts, video_id)
        except ValueError:
            raise self.fail(line, f"{which}_timestamp = {ts!r} is not HH:MM:SS.ss") from None
        if expected != frame:
            fps = epic_fps(video_id)
            raise self.fail(
                line,
                f"{which}_frame = {frame} disagrees with {which}_timestamp {ts} (expected "
                f"{expected} = max(1, int(seconds * {fps})) for a {fps} fps video)",
            )

    def class_id(self, row: dict[str, str], column: str, line: int) -> int:
        value, n = row[column].strip(), self.num_classes[column]
        if not value.isdecimal() or int(value) >= n:
            raise self.fail(line, f"{column} = {value!r} is not a class id (expected an integer in 0..{n - 1})")
        return int(value)

    def literal_list(self, row: dict[str, str], column: str, line: int) -> str:
        value = row[column]
        if value not in self._literals:  # few distinct values; parse each once
            try:
                parsed = ast.literal_eval(value)
            except (ValueError, SyntaxError):
                parsed = None
            self._literals[value] = parsed
        if not isinstance(self._literals[value], list):
            raise self.fail(line, f"{column} = {value!r} is not a Python list literal (e.g. ['plate'] or [2])")
        return value


def read_table(path: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    """Read an annotation CSV as strings (empty cells stay ''), checking that every needed column is there."""
    if not path.is_file():
        raise FormatError(path, "annotation file not found (pass annotations=<folder with the EPIC_100_*.csv>)")
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise FormatError(path, f"missing column(s) {missing} (expected {','.join(columns)})", line=1)
    return table


def _labels_and_meta(check: _RowChecker, row: dict[str, str], line: int) -> tuple[dict[str, int], dict[str, str]]:
    labels = {
        "verb": check.class_id(row, "verb_class", line),
        "noun": check.class_id(row, "noun_class", line),
    }
    meta = {
        "narration": row["narration"],
        "verb": row["verb"],
        "noun": row["noun"],
        "all_nouns": check.literal_list(row, "all_nouns", line),
        "all_noun_classes": check.literal_list(row, "all_noun_classes", line),
    }
    return labels, meta


class _Sources:
    """Per-video frame / flow folders, built once per video (Path joins dominate otherwise)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._rgb: dict[str, FrameSource] = {}
        self._video: dict[str, Path] = {}
        self._flow: dict[str, tuple[FrameSource, FrameSource]] = {}

    def rgb(self, participant: str, video_id: str) -> FrameSource:
        if video_id not in self._rgb:
            self._rgb[video_id] = FrameSource(self.root / participant / "rgb_frames" / video_id, FRAME_PATTERN)
        return self._rgb[video_id]

    def video(self, participant: str, video_id: str) -> Path:
        if video_id not in self._video:
            self._video[video_id] = self.root / participant / "videos" / f"{video_id}.MP4"
        return self._video[video_id]

    def flow(self, participant: str, video_id: str, start: int, stop: int) -> FlowSource:
        """Flow files of RGB frames start..stop: C1's mapping, with its exclusive stop (never empty)."""
        if video_id not in self._flow:
            folder = self.root / participant / "flow_frames" / video_id
            self._flow[video_id] = (
                FrameSource(folder / "u", FRAME_PATTERN),
                FrameSource(folder / "v", FRAME_PATTERN),
            )
        first = rgb_to_flow_index(start, video_id)
        last = max(first, rgb_to_flow_index(stop, video_id) - 1)
        return FlowSource(*self._flow[video_id], first, last)


@register_format("epic100", splits=tuple(SPLIT_FILES))
def read_epic100(
    root: Path,
    split: str = "train",
    *,
    annotations: Path | None = None,
    modality: str = "frames",
    flow: bool = False,
) -> SegmentIndex:
    """Segments of one EPIC-100 split ('train', 'validation', 'test'); labels {'verb', 'noun'}, none for test.

    ``modality='frames'`` points each segment at ``P01/rgb_frames/P01_01``, ``'video'`` at
    ``P01/videos/P01_01.MP4``; ``flow=True`` adds the ``u``/``v`` flow files, mapped to flow numbers.
    """
    check_split("epic100", split)
    if modality not in ("frames", "video"):
        raise ValueError(f"modality must be 'frames' or 'video', got {modality!r}")
    root = Path(root)
    ann = Path(annotations) if annotations is not None else root
    verbs, nouns = read_class_names(ann / VERB_CLASSES), read_class_names(ann / NOUN_CLASSES)
    path = ann / SPLIT_FILES[split]
    labelled = split != "test"
    table = read_table(path, TIMESTAMP_COLUMNS + (LABEL_COLUMNS if labelled else ()))
    check = _RowChecker(path, len(verbs), len(nouns))
    sources = _Sources(root)
    segments: list[Segment] = []
    seen: set[str] = set()
    rows = cast(list[dict[str, str]], table.to_dict("records"))
    for line, row in enumerate(rows, start=2):
        vid = check.video_id(row, line)
        start, stop = check.frame(row, "start_frame", line), check.frame(row, "stop_frame", line)
        if start > stop:
            raise check.fail(line, f"start_frame {start} > stop_frame {stop} (expected start <= stop)")
        check.timestamp(row, "start", start, vid, line)
        check.timestamp(row, "stop", stop, vid, line)
        nid = row["narration_id"]
        if nid in seen:
            raise check.fail(line, f"narration_id {nid!r} appears twice (expected unique ids)")
        seen.add(nid)
        labels, meta = _labels_and_meta(check, row, line) if labelled else ({}, {})
        meta.update({k: row[k] for k in ("narration_timestamp", "start_timestamp", "stop_timestamp")})
        pid = row["participant_id"]
        segments.append(
            Segment(
                id=nid,
                video_id=vid,
                participant=pid,
                start_frame=start,
                stop_frame=stop,
                fps=float(epic_fps(vid)),
                labels=labels,
                rgb=sources.rgb(pid, vid) if modality == "frames" else None,
                video=sources.video(pid, vid) if modality == "video" else None,
                flow=sources.flow(pid, vid, start, stop) if flow else None,
                meta=meta,
            )
        )
    _warn_missing_videos(segments, modality)
    return SegmentIndex(segments, {"verb": verbs, "noun": nouns}, source=f"epic100:{path}")


def _warn_missing_videos(segments: list[Segment], modality: str) -> None:
    """One warning about videos whose frame folder / file is absent (a stat per video, not per frame)."""
    where = {s.video_id: (s.rgb.directory if s.rgb is not None else s.video) for s in segments}
    missing = [vid for vid, p in where.items() if p is not None and not p.exists()]
    if missing:
        example = where[missing[0]]
        warnings.warn(
            f"{len(missing)} of {len(where)} videos have no {modality} on disk (e.g. {example}); "
            "their segments will fail to load",
            stacklevel=3,
        )
