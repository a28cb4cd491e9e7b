"""UCF101 reader: the official split files (CRLF, 1-based labels, unlabelled test lists, HandstandPushups)."""

from __future__ import annotations

import shutil
from pathlib import Path

import av
import numpy as np
import pytest

from egoaction.data.errors import FormatError
from egoaction.data.formats import read_index
from egoaction.data.formats.ucf101 import read_class_index, read_ucf101
from egoaction.data.segment import Segment, SegmentIndex

CLASSES = ["ApplyEyeMakeup", "HandstandPushups", "YoYo"]
# one clip per class in groups 1, 8, 15 and 22: fold k tests on groups 7(k-1)+1 .. 7k, as the real splits do
GROUPS = (1, 8, 15, 22)


def write_avi(path: Path, num_frames: int = 6, size: int = 32, fps: int = 25) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = size, size, "yuv420p"
        for i in range(num_frames):
            image = np.full((size, size, 3), 40 * i % 256, np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())


def file_name(name: str, group: int) -> str:
    stem = "HandStandPushups" if name == "HandstandPushups" else name  # the real data's spelling quirk
    return f"{name}/v_{stem}_g{group:02d}_c01.avi"


def write_lines(path: Path, lines: list[str]) -> None:
    path.write_bytes("".join(f"{line}\r\n" for line in lines).encode())  # CRLF, as distributed


@pytest.fixture
def ucf(tmp_path: Path) -> Path:
    write_avi(tmp_path / "template.avi")
    for name in CLASSES:
        for group in GROUPS:
            target = tmp_path / "UCF-101" / file_name(name, group)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(tmp_path / "template.avi", target)
    lists = tmp_path / "ucfTrainTestlist"
    lists.mkdir()
    write_lines(lists / "classInd.txt", [f"{i} {name}" for i, name in enumerate(CLASSES, start=1)])
    for fold in (1, 2, 3):
        test_groups = range(7 * (fold - 1) + 1, 7 * fold + 1)
        train = [f"{file_name(n, g)} {i}" for i, n in enumerate(CLASSES, 1) for g in GROUPS if g not in test_groups]
        test = [file_name(n, g) for n in CLASSES for g in GROUPS if g in test_groups]
        write_lines(lists / f"trainlist0{fold}.txt", train)
        write_lines(lists / f"testlist0{fold}.txt", test)
    return tmp_path


def by_id(index: SegmentIndex) -> dict[str, Segment]:
    return {s.id: s for s in index.segments}


def test_class_index_is_one_based_with_crlf(ucf: Path) -> None:
    assert read_class_index(ucf / "ucfTrainTestlist/classInd.txt") == CLASSES


def test_train_labels_are_zero_based_and_segments_span_the_video(ucf: Path) -> None:
    index = read_index("ucf101", ucf, "train")
    assert index.classes == {"action": CLASSES} and len(index) == 9
    seg = by_id(index)["YoYo/v_YoYo_g08_c01.avi"]
    assert dict(seg.labels) == {"action": 2}
    assert seg.video == ucf / "UCF-101/YoYo/v_YoYo_g08_c01.avi" and seg.rgb is None
    assert (seg.start_frame, seg.stop_frame, seg.first_number, seg.fps) == (1, 6, 1, 25.0)
    assert seg.participant == "g08" and seg.video_id == "v_YoYo_g08_c01"


def test_test_list_without_labels_takes_the_class_from_the_folder(ucf: Path) -> None:
    segs = by_id(read_ucf101(ucf, "test"))
    assert set(segs) == {file_name(n, 1) for n in CLASSES}
    assert [dict(segs[file_name(n, 1)].labels)["action"] for n in CLASSES] == [0, 1, 2]


def test_handstand_pushups_paths_are_used_verbatim(ucf: Path) -> None:
    seg = by_id(read_ucf101(ucf, "test"))["HandstandPushups/v_HandStandPushups_g01_c01.avi"]
    assert seg.video is not None and seg.video.is_file()
    assert dict(seg.labels) == {"action": 1}


def test_three_folds_have_disjoint_test_sets(ucf: Path) -> None:
    tests = [{s.id for s in read_ucf101(ucf, "test", fold=f).segments} for f in (1, 2, 3)]
    assert [sorted({i.split("_g")[1][:2] for i in t}) for t in tests] == [["01"], ["08"], ["15"]]
    for fold, test in enumerate(tests, start=1):
        train = {s.id for s in read_ucf101(ucf, "train", fold=fold).segments}
        assert not train & test and len(train | test) == 12
    with pytest.raises(ValueError, match="fold must be 1, 2 or 3"):
        read_ucf101(ucf, "train", fold=4)


def test_splits_dir_and_videos_dir_can_be_elsewhere(ucf: Path) -> None:
    moved = ucf / "elsewhere"
    shutil.move(ucf / "ucfTrainTestlist", moved)
    shutil.move(ucf / "UCF-101", ucf / "videos")
    index = read_ucf101(ucf, "test", splits_dir=moved, videos_dir=ucf / "videos")
    assert len(index) == 3


@pytest.mark.parametrize(
    ("line", "match"),
    [
        ("YoYo/v_YoYo_g08_c01.avi", "has 1 fields"),
        ("YoYo/v_YoYo_g08_c01.avi 3 extra", "has 3 fields"),
        ("YoYo/v_YoYo_g08_c01.avi three", "label 'three' is not a class id 1..3"),
        ("YoYo/v_YoYo_g08_c01.avi 0", "label '0' is not a class id 1..3"),
        ("YoYo/v_YoYo_g08_c01.avi 4", "label '4' is not a class id 1..3"),
        ("YoYo/v_YoYo_g08_c01.avi 1", r"label 1 is ApplyEyeMakeup but the folder is YoYo \(expected 3\)"),
        ("Juggling/v_Juggling_g08_c01.avi 3", "not '<Class>/<video>' with a class of classInd.txt"),
        ("YoYo/v_YoYo_08_01.avi 3", "not named v_<Class>_gGG_cCC"),
        ("YoYo/v_YoYo_g09_c01.avi 3", "does not exist"),
    ],
)
def test_malformed_train_lines_name_file_and_line(ucf: Path, line: str, match: str) -> None:
    path = ucf / "ucfTrainTestlist/trainlist01.txt"
    write_lines(path, ["ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1", line])
    with pytest.raises(FormatError, match=match) as info:
        read_ucf101(ucf, "train")
    assert info.value.path == path and info.value.line == 2


def test_test_list_line_with_a_wrong_label_is_rejected(ucf: Path) -> None:
    path = ucf / "ucfTrainTestlist/testlist01.txt"
    write_lines(path, ["", "YoYo/v_YoYo_g01_c01.avi 2"])  # blank lines are skipped but still counted
    with pytest.raises(FormatError, match="label 2 is HandstandPushups") as info:
        read_ucf101(ucf, "test")
    assert info.value.line == 2


def test_class_index_errors(ucf: Path) -> None:
    path = ucf / "ucfTrainTestlist/classInd.txt"
    write_lines(path, ["1 ApplyEyeMakeup", "3 YoYo"])
    with pytest.raises(FormatError, match="id 2 is missing"):
        read_ucf101(ucf, "train")
    write_lines(path, ["1 ApplyEyeMakeup", "YoYo"])
    with pytest.raises(FormatError, match="is not '<id> <ClassName>'") as info:
        read_ucf101(ucf, "train")
    assert info.value.line == 2
    path.unlink()
    with pytest.raises(FormatError, match="file not found"):
        read_ucf101(ucf, "train")


def test_unreadable_video_is_skipped_with_a_warning(ucf: Path) -> None:
    broken = ucf / "UCF-101" / file_name("YoYo", 1)
    broken.write_bytes(b"not a video")
    with pytest.warns(UserWarning, match="v_YoYo_g01_c01.avi"):
        index = read_ucf101(ucf, "test")
    assert file_name("YoYo", 1) not in by_id(index) and len(index) == 2
    assert "skipped_unreadable=1" in index.source
