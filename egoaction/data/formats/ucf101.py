"""UCF101 videos and the official split lists -> Segment records (one segment per video).

Layout: ``<root>/UCF-101/<Class>/v_<Class>_gGG_cCC.avi`` and ``<root>/ucfTrainTestlist/`` with
``classInd.txt`` (``1 ApplyEyeMakeup``), ``trainlist0N.txt`` (``<Class>/<file>.avi <label>``) and
``testlist0N.txt`` (no label).
Ids and labels in these files are 1-based (we subtract 1), lines end in CRLF, and list paths are used verbatim
(class folder ``HandstandPushups`` holds ``v_HandStandPushups_*`` files). A listed video missing on disk is a
FormatError naming the list line; a video that exists but cannot be opened is skipped with a warning.

Frame counts come from the container headers (no decoding), probed in a thread pool: the full dataset's
13,320 headers take seconds, once per split read.
"""

from __future__ import annotations

import re
from pathlib import Path

from egoaction.data.errors import FormatError
from egoaction.data.formats import check_split, probe_videos, register_format
from egoaction.data.segment import Segment, SegmentIndex

FOLDS = (1, 2, 3)
_GROUP_CLIP = re.compile(r"_g(\d+)_c(\d+)\.\w+$")


def _lines(path: Path) -> list[tuple[int, str]]:
    """(1-based line number, stripped text) of the non-blank lines; CRLF and a UTF-8 BOM are fine."""
    if not path.is_file():
        raise FormatError(path, "file not found (expected the UCF101 split files, see splits_dir)")
    text = path.read_text(encoding="utf-8-sig")
    return [(i, line.strip()) for i, line in enumerate(text.splitlines(), start=1) if line.strip()]


def read_class_index(path: str | Path) -> list[str]:
    """Class names of ``classInd.txt`` in id order (file ids 1..N become 0..N-1)."""
    path = Path(path)
    names: dict[int, str] = {}
    for line, text in _lines(path):
        fields = text.split()
        if len(fields) != 2 or not fields[0].isdecimal():
            raise FormatError(path, f"{text!r} is not '<id> <ClassName>'", line)
        cid = int(fields[0])
        if cid in names:
            raise FormatError(path, f"class id {cid} appears twice", line)
        names[cid] = fields[1]
    if sorted(names) != list(range(1, len(names) + 1)):
        gap = min(set(range(1, len(names) + 1)) - set(names))
        raise FormatError(path, f"class ids must be 1..{len(names)} without gaps; id {gap} is missing")
    return [names[i] for i in range(1, len(names) + 1)]


def read_split_list(path: str | Path, classes: list[str], *, labelled: bool) -> list[tuple[int, str, int]]:
    """(line, relative path, 0-based class id) of a train list (``path label``) or test list (``path``)."""
    path = Path(path)
    ids = {name: i for i, name in enumerate(classes)}
    out = []
    for line, text in _lines(path):
        fields = text.split()
        if len(fields) not in ((2,) if labelled else (1, 2)):  # some test-list copies carry labels too
            expected = "'<Class>/<video>.avi <label>'" if labelled else "'<Class>/<video>.avi'"
            raise FormatError(path, f"{text!r} has {len(fields)} fields (expected {expected})", line)
        rel = fields[0]
        folder = rel.split("/")[0]
        if "/" not in rel or folder not in ids:
            raise FormatError(path, f"{rel!r} is not '<Class>/<video>' with a class of classInd.txt", line)
        if _GROUP_CLIP.search(rel) is None:
            raise FormatError(path, f"{rel!r} is not named v_<Class>_gGG_cCC.<ext>", line)
        if len(fields) == 2:
            label = fields[1]
            if not label.isdecimal() or not 1 <= int(label) <= len(classes):
                raise FormatError(path, f"label {label!r} is not a class id 1..{len(classes)}", line)
            if int(label) - 1 != ids[folder]:
                raise FormatError(
                    path,
                    f"label {label} is {classes[int(label) - 1]} but the folder is {folder} "
                    f"(expected {ids[folder] + 1})",
                    line,
                )
        out.append((line, rel, ids[folder]))
    return out


@register_format("ucf101", splits=("train", "test"))
def read_ucf101(
    root: Path,
    split: str = "train",
    *,
    fold: int = 1,
    splits_dir: Path | None = None,
    videos_dir: Path | None = None,
    workers: int = 8,
) -> SegmentIndex:
    """Videos of one UCF101 split ('train' or 'test') of fold 1, 2 or 3; labels ``{"action": id}``.

    ``splits_dir`` defaults to ``root/ucfTrainTestlist``, ``videos_dir`` to ``root/UCF-101``; ``workers``
    threads probe the video headers. Each segment is the whole video: frames 1..num_frames at the container's
    fps.
    """
    check_split("ucf101", split)
    if fold not in FOLDS:
        raise ValueError(f"fold must be 1, 2 or 3, got {fold!r}")
    root = Path(root)
    lists = Path(splits_dir) if splits_dir is not None else root / "ucfTrainTestlist"
    videos = Path(videos_dir) if videos_dir is not None else root / "UCF-101"
    classes = read_class_index(lists / "classInd.txt")
    list_path = lists / f"{split}list{fold:02d}.txt"
    entries = read_split_list(list_path, classes, labelled=split == "train")
    for line, rel, _ in entries:
        if not (videos / rel).is_file():
            raise FormatError(list_path, f"video {videos / rel} does not exist", line)
    infos = probe_videos([videos / rel for _, rel, _ in entries], workers=workers)
    segments = []
    for (_, rel, label), info in zip(entries, infos):
        if info is None:
            continue
        group = _GROUP_CLIP.search(rel)
        assert group is not None  # checked by read_split_list
        segments.append(
            Segment(
                id=rel,
                video_id=Path(rel).stem,
                participant=f"g{group.group(1)}",
                start_frame=1,
                stop_frame=info.num_frames,
                fps=info.fps,
                labels={"action": label},
                video=videos / rel,
                first_number=1,
            )
        )
    skipped = len(entries) - len(segments)
    source = f"ucf101:{list_path} skipped_unreadable={skipped}"
    return SegmentIndex(segments, {"action": classes}, source=source)
