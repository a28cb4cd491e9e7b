"""EPIC-KITCHENS-100 reader: official frame / timestamp / flow rules, real-file quirks, each malformed CSV."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from egoaction.data.errors import FormatError
from egoaction.data.formats import read_index
from egoaction.data.formats.epic100 import (
    epic_fps,
    flow_stride,
    frame_to_timestamp,
    read_class_names,
    read_epic100,
    read_tail_classes,
    read_unseen_participants,
    rgb_to_flow_index,
    timestamp_to_frame,
)
from egoaction.data.segment import Segment, SegmentIndex

HEADER = (
    "narration_id,participant_id,video_id,narration_timestamp,start_timestamp,stop_timestamp,"
    "start_frame,stop_frame,narration,verb,verb_class,noun,noun_class,all_nouns,all_noun_classes"
)
# Rows 1-3 are verbatim from EPIC_100_validation.csv; row 4 is the first test row (an extension video, 50 fps)
# with labels added; row 5 has an empty narration_timestamp, as 70 validation rows do.
ROWS = [
    "P01_11_0,P01,P01_11,00:00:00.560,00:00:00.00,00:00:01.89,1,113,take plate,take,0,plate,2,['plate'],[2]",
    "P01_11_1,P01,P01_11,00:00:01.700,00:00:01.56,00:00:02.45,93,147,put down plate,put-down,1,plate,2,['plate'],[2]",
    "P01_11_12,P01,P01_11,00:00:52.620,00:00:51.98,00:00:53.03,3118,3181,throw paper into bin,throw-into,13,"
    "paper,49,\"['paper', 'bin']\",\"[49, 36]\"",
    "P01_101_0,P01,P01_101,00:00:02.851,00:00:02.86,00:00:03.87,143,193,open tap,open,3,tap,0,['tap'],[0]",
    "P02_03_7,P02,P02_03,,00:00:00.09,00:00:00.10,5,6,wash tap,wash,2,tap,0,['tap'],[0]",
]
TEST_HEADER = HEADER.split(",start_frame")[0] + ",start_frame,stop_frame"
TEST_ROWS = [
    "P01_101_0,P01,P01_101,00:00:02.851,00:00:02.86,00:00:03.87,143,193",
    "P01_101_1,P01,P01_101,00:00:05.102,00:00:04.97,00:00:05.75,248,287",
]


def write_classes(folder: Path, num_verbs: int = 14, num_nouns: int = 50) -> None:
    for kind, n in (("verb", num_verbs), ("noun", num_nouns)):
        lines = ["id,key,instances,category"]
        lines += [f"{i},{kind}{i},\"['{kind}{i}', 'alt:{kind}{i}']\",cat" for i in range(n)]
        (folder / f"EPIC_100_{kind}_classes.csv").write_text("\n".join(lines) + "\n")


def write_split(folder: Path, name: str, rows: list[str], header: str = HEADER) -> Path:
    path = folder / name
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


@pytest.fixture
def epic(tmp_path: Path) -> Path:
    write_classes(tmp_path)
    write_split(tmp_path, "EPIC_100_train.csv", ROWS)
    write_split(tmp_path, "EPIC_100_validation.csv", ROWS[:2])
    write_split(tmp_path, "EPIC_100_test_timestamps.csv", TEST_ROWS, TEST_HEADER)
    return tmp_path


def read(root: Path, split: str = "train", **options: object) -> tuple[SegmentIndex, dict[str, Segment]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # frames are not on disk in these fixtures
        index = read_index("epic100", root, split, **options)
    return index, {s.id: s for s in index.segments}


@pytest.mark.parametrize(
    ("ts", "video_id", "frame"),
    [
        ("00:00:51.98", "P01_11", 3118),
        ("00:00:53.03", "P01_11", 3181),
        ("00:00:01.89", "P01_11", 113),
        ("00:00:02.86", "P01_101", 143),  # 2.86 * 50 must not truncate to 142
        ("00:00:03.87", "P01_101", 193),
        ("00:00:00.00", "P01_11", 1),  # frame files start at 1
        ("00:00:00.01", "P01_11", 1),  # int(0.6) = 0 -> clamped to 1
        ("00:00:00.99", "P01_11", 59),  # truncation, not rounding (59.4)
        ("01:02:03.04", "P03_04", 223382),
    ],
)
def test_timestamp_to_frame_follows_the_official_rule(ts: str, video_id: str, frame: int) -> None:
    assert timestamp_to_frame(ts, video_id) == frame


@pytest.mark.parametrize("video_id", ["P01_11", "P01_101"])
def test_frame_to_timestamp_inverts_the_rule(video_id: str) -> None:
    for frame in [*range(1, 3000), 223382, 1_000_000]:
        ts = frame_to_timestamp(frame, video_id)
        assert timestamp_to_frame(ts, video_id) == frame, ts
    assert frame_to_timestamp(1, video_id) == "00:00:00.00"
    assert frame_to_timestamp(3118, "P01_11") == "00:00:51.97"  # earliest; the annotation used .98
    with pytest.raises(ValueError, match="start at 1"):
        frame_to_timestamp(0, video_id)


def test_fps_and_flow_stride_come_from_the_video_id() -> None:
    assert (epic_fps("P01_01"), flow_stride("P01_01")) == (60, 2)
    assert (epic_fps("P01_101"), flow_stride("P01_101")) == (50, 1)
    assert (epic_fps("P37_103"), flow_stride("P37_103")) == (50, 1)


@pytest.mark.parametrize(
    ("rgb", "video_id", "flow"),
    [(1, "P01_11", 1), (2, "P01_11", 1), (3, "P01_11", 2), (113, "P01_11", 57), (143, "P01_101", 143)],
)
def test_rgb_to_flow_index(rgb: int, video_id: str, flow: int) -> None:
    assert rgb_to_flow_index(rgb, video_id) == flow


def test_frames_are_one_based_inclusive_file_numbers(epic: Path) -> None:
    seg = read(epic)[1]["P01_11_0"]
    assert (seg.start_frame, seg.stop_frame, seg.num_frames) == (1, 113, 113)
    assert seg.rgb.path(seg.start_frame) == epic / "P01/rgb_frames/P01_11/frame_0000000001.jpg"
    assert seg.rgb.path(seg.stop_frame).name == "frame_0000000113.jpg"
    assert seg.video is None and seg.flow is None


def test_labels_classes_and_meta(epic: Path) -> None:
    index, segs = read(epic)
    assert index.task_spec == {"verb": 14, "noun": 50}
    assert index.classes["verb"][13] == "verb13"
    seg = segs["P01_11_12"]
    assert dict(seg.labels) == {"verb": 13, "noun": 49}
    assert seg.participant == "P01" and seg.video_id == "P01_11"
    assert seg.meta["narration"] == "throw paper into bin" and seg.meta["verb"] == "throw-into"
    assert seg.meta["all_nouns"] == "['paper', 'bin']" and seg.meta["all_noun_classes"] == "[49, 36]"
    assert seg.meta["start_timestamp"] == "00:00:51.98"


def test_fps_is_the_released_frame_rate_by_video_id(epic: Path) -> None:
    segs = read(epic)[1]
    assert segs["P01_11_0"].fps == 60.0
    assert segs["P01_101_0"].fps == 50.0


def test_empty_narration_timestamp_is_allowed(epic: Path) -> None:
    assert read(epic)[1]["P02_03_7"].meta["narration_timestamp"] == ""


def test_flow_uses_the_c1_mapping_for_both_video_kinds(epic: Path) -> None:
    segs = read(epic, flow=True)[1]
    half = segs["P01_11_0"].flow  # stride 2: rgb 1..113 -> flow 1..57, stop exclusive -> 1..56
    assert (half.first, half.last) == (1, 56)
    assert half.x.path(1) == epic / "P01/flow_frames/P01_11/u/frame_0000000001.jpg"
    assert half.y.path(1) == epic / "P01/flow_frames/P01_11/v/frame_0000000001.jpg"
    full = segs["P01_101_0"].flow  # stride 1: rgb 143..193 -> flow 143..192
    assert (full.first, full.last) == (143, 192)
    tiny = segs["P02_03_7"].flow  # rgb 5..6 -> flow 3..(4-1): never empty
    assert (tiny.first, tiny.last) == (3, 3)


def test_video_modality_points_at_the_mp4(epic: Path) -> None:
    seg = read(epic, modality="video")[1]["P01_101_0"]
    assert seg.video == epic / "P01/videos/P01_101.MP4"
    assert seg.rgb is None and seg.first_number == 1 and seg.fps == 50.0


def test_test_split_has_no_labels(epic: Path) -> None:
    index, segs = read(epic, "test")
    assert len(index) == 2 and index.task_spec == {"verb": 14, "noun": 50}
    seg = segs["P01_101_1"]
    assert dict(seg.labels) == {} and (seg.start_frame, seg.stop_frame) == (248, 287)


def test_annotations_may_live_in_another_folder(tmp_path: Path) -> None:
    ann = tmp_path / "annotations"
    ann.mkdir()
    write_classes(ann)
    write_split(ann, "EPIC_100_validation.csv", ROWS[:2])
    seg = read(tmp_path / "data", "validation", annotations=ann)[1]["P01_11_1"]
    assert seg.rgb.directory == tmp_path / "data/P01/rgb_frames/P01_11"


def test_missing_frame_folders_are_warned_about_once(epic: Path) -> None:
    with pytest.warns(UserWarning, match=r"1 of 1 videos have no frames"):
        read_epic100(epic, "test")
    (epic / "P01/rgb_frames/P01_101").mkdir(parents=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_epic100(epic, "test")


def test_unknown_split_and_modality(epic: Path) -> None:
    with pytest.raises(ValueError, match="validation"):
        read_epic100(epic, "val")
    with pytest.raises(ValueError, match="modality"):
        read_epic100(epic, "train", modality="flow")


def _replace(row: str, index: int, value: str) -> str:
    cells = row.split(",")
    cells[index] = value
    return ",".join(cells)


@pytest.mark.parametrize(
    ("bad_row", "match"),
    [
        (_replace(ROWS[1], 6, "9x"), "start_frame = '9x' is not a frame number"),
        (_replace(ROWS[1], 7, ""), "stop_frame = '' is not a frame number"),
        (_replace(_replace(ROWS[1], 6, "150"), 4, "00:00:02.50"), "start_frame 150 > stop_frame 147"),
        (
            _replace(ROWS[1], 10, "14"),
            r"verb_class = '14' is not a class id \(expected an integer in 0..13\)",
        ),
        (_replace(ROWS[1], 12, "-1"), "noun_class = '-1' is not a class id"),
        (
            _replace(ROWS[1], 7, "148"),
            r"stop_frame = 148 disagrees with stop_timestamp 00:00:02.45 \(expected 147",
        ),
        (_replace(ROWS[1], 4, "1.56"), "start_timestamp = '1.56' is not HH:MM:SS.ss"),
        (_replace(ROWS[1], 13, "[plate"), "all_nouns = '\\[plate' is not a Python list literal"),
        (_replace(ROWS[1], 14, "2"), "all_noun_classes = '2' is not a Python list literal"),
        (_replace(ROWS[1], 2, "P01-11"), "video_id = 'P01-11' is not <participant>_<number>"),
        (_replace(ROWS[1], 1, "P02"), "participant_id = 'P02' does not match video_id 'P01_11'"),
        (_replace(ROWS[1], 0, "P01_11_0"), "narration_id 'P01_11_0' appears twice"),
    ],
)
def test_malformed_rows_name_file_line_and_expectation(epic: Path, bad_row: str, match: str) -> None:
    path = write_split(epic, "EPIC_100_train.csv", [ROWS[0], bad_row, ROWS[2]])
    with pytest.raises(FormatError, match=match) as info:
        read_epic100(epic, "train")
    assert info.value.path == path and info.value.line == 3
    assert str(info.value).startswith(f"{path}:3: ")


def test_missing_column_is_reported_on_the_header_line(epic: Path) -> None:
    header = HEADER.replace(",noun_class", "")
    rows = [",".join(c for i, c in enumerate(r.split(",")) if i != 12) for r in ROWS[:2]]
    path = write_split(epic, "EPIC_100_validation.csv", rows, header)
    with pytest.raises(FormatError, match=r"missing column\(s\) \['noun_class'\]") as info:
        read_epic100(epic, "validation")
    assert info.value.path == path and info.value.line == 1


def test_missing_annotation_file(tmp_path: Path) -> None:
    write_classes(tmp_path)
    with pytest.raises(FormatError, match="annotation file not found") as info:
        read_epic100(tmp_path, "validation")
    assert info.value.path.name == "EPIC_100_validation.csv"


def test_class_files_need_contiguous_ids(tmp_path: Path) -> None:
    path = tmp_path / "EPIC_100_verb_classes.csv"
    path.write_text("id,key,instances,category\n0,take,[],retrieve\n2,open,[],access\n")
    with pytest.raises(FormatError, match="id 1 is missing"):
        read_class_names(path)
    path.write_text("id,key,instances,category\n1,open,[],access\n0,take,[],retrieve\n")
    assert read_class_names(path) == ["take", "open"]  # id order, not file order
    path.write_text("id,key,instances,category\nx,take,[],retrieve\n")
    with pytest.raises(FormatError, match="id = 'x'") as info:
        read_class_names(path)
    assert info.value.line == 2


def test_unseen_participants_and_tail_classes(tmp_path: Path) -> None:
    unseen = tmp_path / "EPIC_100_unseen_participant_ids_validation.csv"
    unseen.write_text("participant_id\nP18\nP32\n")
    assert read_unseen_participants(unseen) == {"P18", "P32"}
    tail = tmp_path / "EPIC_100_tail_nouns.csv"
    tail.write_text("noun\n56\n299\n")
    assert read_tail_classes(tail) == {56, 299}
    tail.write_text("verb\n10\nten\n")
    with pytest.raises(FormatError, match="verb = 'ten'") as info:
        read_tail_classes(tail)
    assert info.value.line == 3
    unseen.write_text("participant\nP18\n")
    with pytest.raises(FormatError, match="expected the header 'participant_id'"):
        read_unseen_participants(unseen)
