"""GTEA61 as distributed for Ego-RNN (and its "processed" variant with motion maps) -> Segment records.

Two layouts, one instance per folder ``<user>/<class>/<instance>``:

- ``egornn``: ``frames/S1/close_chocolate/1/image_00001.jpg``, ``flow_x/S1/.../flow_x_00001.jpg``,
  ``flow_y/...``
- ``processed``: ``processed_frames2/S1/close_chocolate/1/rgb/rgb0001.png`` and ``.../mmaps/map0001.png``,
  ``flow_x_processed/S1/.../flow_x_00001.png``, ``flow_y_processed/...``

Class ids come from ONE sorted list of the class folders of all users (Ego-RNN numbers the classes per user
folder, which silently mislabels users with a different class set). Files are counted only when their name is
exactly the pattern, so copies like ``image_00003(1).jpg`` and ``.DS_Store`` are ignored; the numbers of an
instance must be contiguous. An instance with missing motion maps is kept, the missing map numbers listed in
``meta["missing_mmaps"]``; the instance's ``mmaps`` is None only when it has no map at all.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path

from egoaction.data.errors import FormatError
from egoaction.data.formats import check_split, register_format
from egoaction.data.segment import FlowSource, FrameSource, Segment, SegmentIndex

# Neither the frame folders nor the Ego-RNN code state a frame rate. 24 is the toolkit's convention (shared
# with the synthetic GTEA writer), not a verified property of the real recordings; only time-based samplers
# use it.
DEFAULT_FPS = 24.0


@dataclass(frozen=True)
class _Files:
    """Where one kind of numbered file lives: ``<root>/<top>/<user>/<class>/<instance>/<sub>/<pattern>``."""

    top: str
    sub: str
    pattern: str

    def folder(self, root: Path, rel: str) -> Path:
        return root / self.top / rel / self.sub if self.sub else root / self.top / rel


LAYOUTS: dict[str, dict[str, _Files]] = {
    "egornn": {
        "rgb": _Files("frames", "", "image_{:05d}.jpg"),
        "flow_x": _Files("flow_x", "", "flow_x_{:05d}.jpg"),
        "flow_y": _Files("flow_y", "", "flow_y_{:05d}.jpg"),
    },
    "processed": {
        "rgb": _Files("processed_frames2", "rgb", "rgb{:04d}.png"),
        "mmaps": _Files("processed_frames2", "mmaps", "map{:04d}.png"),
        "flow_x": _Files("flow_x_processed", "", "flow_x_{:05d}.png"),
        "flow_y": _Files("flow_y_processed", "", "flow_y_{:05d}.png"),
    },
}


def _subdirs(folder: Path) -> list[str]:
    """Visible sub-folder names, numbers in numeric order (``2`` before ``10``); files and ``.*`` ignored."""
    if not folder.is_dir():
        return []
    names = [p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")]
    return sorted(names, key=lambda n: (0, int(n), n) if n.isdecimal() else (1, 0, n))


def _numbers(folder: Path, pattern: str) -> list[int]:
    """Numbers of the names that are exactly ``pattern.format(n)`` (so ``(1)`` copies are ignored)."""
    if not folder.is_dir():
        return []
    head, tail = pattern.split("{", 1)[0], pattern.rsplit("}", 1)[1]
    regex = re.compile(re.escape(head) + r"(\d+)" + re.escape(tail))
    found = []
    for name in (p.name for p in folder.iterdir()):
        match = regex.fullmatch(name)
        if match and pattern.format(int(match.group(1))) == name:
            found.append(int(match.group(1)))
    return sorted(found)


def _check_contiguous(folder: Path, pattern: str, numbers: list[int]) -> None:
    if numbers and numbers[-1] - numbers[0] + 1 != len(numbers):
        gap = min(set(range(numbers[0], numbers[-1] + 1)) - set(numbers))
        raise FormatError(
            folder,
            f"{pattern.format(gap)} is missing (expected contiguous numbers {numbers[0]}..{numbers[-1]})",
        )


def detect_layout(root: str | Path, *, need: str | None = None) -> str:
    """'egornn' when ``root/frames`` exists, else 'processed' when ``root/processed_frames2`` exists; with
    ``need`` (e.g. "mmaps") only layouts that have that modality are considered."""
    root = Path(root)
    for name, files in LAYOUTS.items():
        if need is not None and need not in files:
            continue
        if (root / files["rgb"].top).is_dir():
            return name
    raise FormatError(root, "no GTEA61 data found (expected a 'frames/' or 'processed_frames2/' folder)")


def gtea61_folds(root: str | Path, *, layout: str = "auto") -> list[str]:
    """The users present (``['S1', 'S2', 'S3', 'S4']``): one leave-one-user-out fold per test user."""
    layout = detect_layout(root) if layout == "auto" else layout
    return _subdirs(Path(root) / LAYOUTS[layout]["rgb"].top)


def _global_classes(top: Path, users: list[str]) -> list[str]:
    """Sorted union of the class folders of all users; warns when users disagree."""
    per_user = {u: set(_subdirs(top / u)) for u in users}
    classes = sorted(set().union(*per_user.values()))
    lacking = {u: sorted(set(classes) - names) for u, names in per_user.items() if names != set(classes)}
    if lacking:
        detail = "; ".join(f"{top / u} lacks {names}" for u, names in lacking.items())
        warnings.warn(f"GTEA61 users have different class sets ({detail}); class ids use the union", stacklevel=3)
    return classes


def _flow(root: Path, files: dict[str, _Files], rel: str) -> FlowSource | None:
    """Flow x/y of one instance (numbers must agree), or None when it has no flow files."""
    fx, fy = files["flow_x"], files["flow_y"]
    dx, dy = fx.folder(root, rel), fy.folder(root, rel)
    nx, ny = _numbers(dx, fx.pattern), _numbers(dy, fy.pattern)
    if nx != ny:
        raise FormatError(dy, f"flow_y numbers {_span(ny)} differ from flow_x numbers {_span(nx)} in {dx}")
    if not nx:
        return None
    _check_contiguous(dx, fx.pattern, nx)
    return FlowSource(FrameSource(dx, fx.pattern), FrameSource(dy, fy.pattern), nx[0], nx[-1])


def _span(numbers: list[int]) -> str:
    return f"{numbers[0]}..{numbers[-1]} ({len(numbers)} files)" if numbers else "(none)"


def _mmaps(root: Path, files: dict[str, _Files], rel: str, first: int, last: int) -> tuple[FrameSource | None, str]:
    """Motion maps of one instance and the comma-separated numbers of the RGB frames lacking a map."""
    spec = files["mmaps"]
    folder = spec.folder(root, rel)
    have = set(_numbers(folder, spec.pattern))
    missing = [n for n in range(first, last + 1) if n not in have]
    return (FrameSource(folder, spec.pattern) if have else None), ",".join(map(str, missing))


@register_format("gtea61", splits=("train", "test", "all"))
def read_gtea61(
    root: Path,
    split: str = "train",
    *,
    test_user: str = "S2",
    layout: str = "auto",
    flow: bool = False,
    mmaps: bool = False,
    min_frames: int = 5,
    fps: float = DEFAULT_FPS,
) -> SegmentIndex:
    """Instances of a user split: 'test' = ``test_user``, 'train' = the other users, 'all' = everyone.

    The default (test S2) is the "GTEA61*" fixed split; for leave-one-user-out call once per user of
    :func:`gtea61_folds`. Labels are ``{"action": id}``; ``meta`` has ``verb`` / ``noun`` (class name split at
    the first ``_``). Instances with fewer than ``min_frames`` RGB (or, with ``flow``, flow) files are
    skipped.
    """
    check_split("gtea61", split)
    root = Path(root)
    layout = detect_layout(root, need="mmaps" if mmaps else None) if layout == "auto" else layout
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be 'auto', 'egornn' or 'processed', got {layout!r}")
    files = LAYOUTS[layout]
    if mmaps and "mmaps" not in files:
        raise ValueError(f"the {layout!r} layout has no motion maps (they come with the 'processed' layout)")
    top = root / files["rgb"].top
    users = _subdirs(top)
    if not users:
        raise FormatError(top, "no user folders (expected S1, S2, ...)")
    if test_user not in users:
        raise ValueError(f"test_user {test_user!r} is not one of the users {users} in {top}")
    classes = _global_classes(top, users)
    chosen = {"train": [u for u in users if u != test_user], "test": [test_user], "all": users}[split]
    segments: list[Segment] = []
    skipped: list[str] = []
    for user in chosen:
        for name in _subdirs(top / user):
            for inst in _subdirs(top / user / name):
                seg = _instance(root, files, f"{user}/{name}/{inst}", classes.index(name), flow, mmaps, fps)
                least = max(1, min_frames)  # an empty folder is never a segment
                short = seg.num_frames < least or (seg.flow is not None and seg.flow.num_frames < least)
                if short:
                    skipped.append(seg.id)
                else:
                    segments.append(seg)
    if skipped:
        warnings.warn(
            f"skipped {len(skipped)} GTEA61 instance(s) with fewer than {min_frames} frames (e.g. {skipped[0]})",
            stacklevel=2,
        )
    source = f"gtea61:{root} layout={layout} split={split} test_user={test_user} skipped_short={len(skipped)}"
    return SegmentIndex(segments, {"action": classes}, source=source)


def _instance(
    root: Path, files: dict[str, _Files], rel: str, label: int, flow: bool, mmaps: bool, fps: float
) -> Segment:
    """One instance folder as a Segment; an empty instance has start 1, stop 0 (0 frames) and is skipped."""
    spec = files["rgb"]
    folder = spec.folder(root, rel)
    numbers = _numbers(folder, spec.pattern)
    _check_contiguous(folder, spec.pattern, numbers)
    first, last = (numbers[0], numbers[-1]) if numbers else (1, 0)
    user, name, _ = rel.split("/")
    verb, _, noun = name.partition("_")
    meta = {"verb": verb, "noun": noun}
    flow_source = _flow(root, files, rel) if flow else None
    if flow and flow_source is None and numbers:
        raise FormatError(files["flow_x"].folder(root, rel), "no flow files (expected flow for every instance)")
    map_source = None
    if mmaps:
        map_source, meta["missing_mmaps"] = _mmaps(root, files, rel, first, last)
    return Segment(
        id=rel,
        video_id=rel,
        participant=user,
        start_frame=first,
        stop_frame=last,
        fps=fps,
        labels={"action": label},
        rgb=FrameSource(folder, spec.pattern),
        flow=flow_source,
        mmaps=map_source,
        meta=meta,
    )
