"""`egoaction data inspect`: read every split of a dataset, count it, check its files and load one sample."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from egoaction.data.dataset import ClipDataset
from egoaction.data.errors import DataError, FormatError
from egoaction.data.formats import read_index
from egoaction.data.sampling import TSNSampler
from egoaction.data.segment import FrameSource, Segment, SegmentIndex

# Splits to look at per format; the optional ones are skipped quietly when their annotation file is absent.
SPLITS = {
    "epic100": ("train", "validation", "test"),
    "gtea61": ("train", "test"),
    "ucf101": ("train", "test"),
    "folder": ("train", "val", "test"),
}
OPTIONAL = {("epic100", "test"), ("folder", "val"), ("folder", "test")}
# The --annotations option goes to the reader under the name each format uses.
ANNOTATION_OPTION = {"epic100": "annotations", "ucf101": "splits_dir", "folder": "csv"}


@dataclass
class SplitReport:
    """What one split holds and what is wrong with it."""

    split: str
    num_segments: int = 0
    counts: dict[str, Counter[str]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


@dataclass
class InspectReport:
    """The result of inspecting one dataset root."""

    format: str
    root: Path
    splits: list[SplitReport] = field(default_factory=list)
    sample: dict[str, Any] = field(default_factory=dict)

    @property
    def num_problems(self) -> int:
        """Number of errors found over all splits."""
        return sum(len(s.problems) for s in self.splits)


def inspect_dataset(
    format: str,
    root: str | Path,
    *,
    annotations: str | Path | None = None,
    frames_per_segment: int = 8,
    check_all_files: bool = True,
    options: dict[str, Any] | None = None,
) -> InspectReport:
    """Read every split, count segments per class, check frame/flow files exist and decode
    ``frames_per_segment`` of each segment through the real loading path."""
    options = dict(options or {})
    if annotations is not None:
        if format not in ANNOTATION_OPTION:
            raise ValueError(f"--annotations is not used by format {format!r}")
        options[ANNOTATION_OPTION[format]] = Path(annotations)
    report = InspectReport(format, Path(root))
    _listing.cache_clear()  # folders may have changed since an earlier inspection in this process
    for label, variant in _variants(format, Path(root), options):
        for split in SPLITS.get(format, ("train",)):
            try:
                index = read_index(format, Path(root), split, **variant)
            except (FileNotFoundError, DataError) as exc:
                if (format, split) in OPTIONAL and _is_missing_file(exc):
                    continue
                report.splits.append(SplitReport(split + label, problems=[str(exc)]))
                continue
            rep, sample = _inspect_split(split + label, index, frames_per_segment, check_all_files)
            report.splits.append(rep)
            report.sample = report.sample or sample
    return report


def _variants(format: str, root: Path, options: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Reader option sets to check: flow wherever the dataset has it, and each GTEA61 layout present."""
    if format == "epic100" and "flow" not in options and any(root.glob("P*/flow_frames")):
        return [("", {**options, "flow": True})]
    if format == "gtea61" and "layout" not in options:
        found = []
        if (root / "frames").is_dir():
            found.append((" (egornn layout)", {**options, "layout": "egornn", "flow": (root / "flow_x").is_dir()}))
        if (root / "processed_frames2").is_dir():
            flow = (root / "flow_x_processed").is_dir()
            found.append((" (processed layout)", {**options, "layout": "processed", "flow": flow, "mmaps": True}))
        return found or [("", options)]
    return [("", options)]


def _is_missing_file(exc: Exception) -> bool:
    """True when a split could not be read only because its annotation file does not exist."""
    if isinstance(exc, FormatError):
        return not exc.path.exists()
    return isinstance(exc, FileNotFoundError)


def _inspect_split(
    split: str, index: SegmentIndex, num_frames: int, check_all: bool
) -> tuple[SplitReport, dict[str, Any]]:
    """Counts and problems of one split, and the shapes of its first readable sample."""
    rep = SplitReport(split, len(index.segments))
    for task, names in index.classes.items():
        rep.counts[task] = Counter(names[s.labels[task]] for s in index.segments if task in s.labels)
    if not index.segments:
        return rep, {}
    first = index.segments[0]
    modalities = ["rgb"] + [m for m, src in (("flow", first.flow), ("mmaps", first.mmaps)) if src is not None]
    # the loader's own path (sampler, decoder, nearest motion map), test-time sampling, errors raised
    ds = ClipDataset(index, sampler=TSNSampler(num_segments=num_frames), modalities=modalities, skip_bad=False)
    sample: dict[str, Any] = {}
    for i, seg in enumerate(index.segments):
        try:
            if check_all:
                _check_files(seg)
            item = ds[i]
        except DataError as exc:
            rep.problems.append(f"{seg.id}: {exc}")
            continue
        if not sample:
            shapes = {m: (tuple(item[m].shape), str(item[m].dtype).replace("torch.", "")) for m in modalities}
            sample = {"id": seg.id, "labels": dict(seg.labels), **shapes}
    return rep, sample


@lru_cache(maxsize=4096)
def _listing(directory: Path) -> frozenset[str]:
    """File names in a folder (one listdir per folder instead of one stat per frame)."""
    try:
        return frozenset(os.listdir(directory))
    except OSError:
        return frozenset()


def _check_source(source: FrameSource, first: int, last: int, what: str, known_gaps: str = "") -> None:
    names = _listing(source.directory)
    gaps = {int(n) for n in known_gaps.split(",") if n}
    missing = [n for n in range(first, last + 1) if n not in gaps and source.pattern.format(n) not in names]
    if missing:
        shown = ", ".join(str(source.path(n)) for n in missing[:3])
        raise DataError(f"{len(missing)} missing {what} file(s) in {first}..{last}, e.g. {shown}")


def _check_files(seg: Segment) -> None:
    """Every file the segment may need exists (frames, flow x/y, motion maps)."""
    if seg.rgb is not None:
        _check_source(seg.rgb, seg.start_frame, seg.stop_frame, "RGB frame")
    elif seg.video is not None and not seg.video.is_file():
        raise DataError(f"missing video file {seg.video}")
    if seg.flow is not None:
        _check_source(seg.flow.x, seg.flow.first, seg.flow.last, "x-flow")
        _check_source(seg.flow.y, seg.flow.first, seg.flow.last, "y-flow")
    if seg.mmaps is not None:  # maps the reader already knows are missing are filled from neighbours
        _check_source(seg.mmaps, seg.start_frame, seg.stop_frame, "motion map", seg.meta.get("missing_mmaps", ""))


def format_report(report: InspectReport, *, max_classes: int = 12) -> str:
    """Human-readable summary: segments and classes per split, problems, one sample's shapes."""
    lines = [f"dataset {report.format} at {report.root}"]
    for rep in report.splits:
        lines.append(f"\n[{rep.split}] {rep.num_segments} segments")
        for task, counts in rep.counts.items():
            common = ", ".join(f"{name} {n}" for name, n in counts.most_common(max_classes))
            more = f" (+{len(counts) - max_classes} more)" if len(counts) > max_classes else ""
            lines.append(f"  {task}: {len(counts)} classes present: {common}{more}")
        for problem in rep.problems[:20]:
            lines.append(f"  ERROR {problem}")
        if len(rep.problems) > 20:
            lines.append(f"  ... and {len(rep.problems) - 20} more errors")
    if report.sample:
        lines.append(f"\none sample: {report.sample}")
    lines.append(f"\n{report.num_problems} problem(s)")
    return "\n".join(lines)
