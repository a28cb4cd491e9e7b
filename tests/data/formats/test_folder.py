"""Folder / CSV reader for a user's own videos: CSV lists with and without ranges, label trees, bad rows."""

from __future__ import annotations

import shutil
from pathlib import Path

import av
import numpy as np
import pytest

from egoaction.data.errors import FormatError
from egoaction.data.formats import read_index
from egoaction.data.formats.folder import frame_folder, read_folder
from egoaction.data.segment import Segment, SegmentIndex


def write_avi(path: Path, num_frames: int = 10, fps: int = 30) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for i in range(num_frames):
            image = np.full((32, 32, 3), 20 * i % 256, np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())


def write_frames(folder: Path, names: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).touch()  # the reader lists names only


def by_id(index: SegmentIndex) -> dict[str, Segment]:
    return {s.id: s for s in index.segments}


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """Two videos and one frame folder under tmp_path/media."""
    write_avi(tmp_path / "media/chop_1.avi", num_frames=10, fps=30)
    shutil.copy(tmp_path / "media/chop_1.avi", tmp_path / "media/stir_1.avi")
    write_frames(tmp_path / "media/stir_2", [f"img_{i:05d}.jpg" for i in range(1, 13)])
    return tmp_path


def test_csv_without_ranges(data: Path) -> None:
    (data / "list.csv").write_text("path,label\nmedia/stir_1.avi,stir\nmedia/chop_1.avi,chop\nmedia/stir_2,stir\n")
    index = read_index("folder", data, "train", csv=data / "list.csv")
    assert index.classes == {"action": ["chop", "stir"]}
    segs = by_id(index)
    video, frames = segs["media/stir_1.avi"], segs["media/stir_2"]
    assert dict(video.labels) == {"action": 1} and video.video == data / "media/stir_1.avi"
    assert (video.start_frame, video.stop_frame, video.fps) == (1, 10, 30.0)
    assert frames.rgb is not None and frames.rgb.path(12) == data / "media/stir_2/img_00012.jpg"
    assert (frames.start_frame, frames.stop_frame, frames.fps) == (1, 12, 30.0)


def test_csv_with_ranges_and_no_header(data: Path) -> None:
    (data / "list.csv").write_text("media/chop_1.avi,chop,3,7\nmedia/stir_2,stir,2,5\nmedia/chop_1.avi,chop,,\n")
    segs = by_id(read_folder(data, "train", csv=data / "list.csv", fps=24.0))
    assert set(segs) == {"media/chop_1.avi#3-7", "media/stir_2#2-5", "media/chop_1.avi"}
    assert (segs["media/chop_1.avi#3-7"].start_frame, segs["media/chop_1.avi#3-7"].stop_frame) == (3, 7)
    assert segs["media/stir_2#2-5"].num_frames == 4 and segs["media/stir_2#2-5"].fps == 24.0


def test_split_csv_is_picked_by_name_and_classes_span_all_splits(data: Path) -> None:
    (data / "train.csv").write_text("path,label\nmedia/stir_1.avi,stir\n")
    (data / "val.csv").write_text("path,label\nmedia/chop_1.avi,chop\n")
    train, val = read_folder(data, "train"), read_folder(data, "val")
    assert train.classes == val.classes == {"action": ["chop", "stir"]}  # ids agree between splits
    assert [dict(s.labels) for s in val.segments] == [{"action": 0}]


def test_tree_with_split_folders(tmp_path: Path) -> None:
    write_avi(tmp_path / "train/wave/a.mp4", num_frames=5)
    write_frames(tmp_path / "train/clap/b", [f"{i:04d}.png" for i in range(1, 6)])
    write_avi(tmp_path / "val/jump/c.avi", num_frames=5)
    (tmp_path / "train/wave/notes.txt").write_text("ignored")
    (tmp_path / "train/.DS_Store").write_bytes(b"\0")
    train = read_folder(tmp_path, "train")
    assert train.classes == {"action": ["clap", "jump", "wave"]}
    assert {s.id: dict(s.labels)["action"] for s in train.segments} == {"clap/b": 0, "wave/a.mp4": 2}
    assert by_id(train)["clap/b"].rgb.pattern == "{:04d}.png"
    assert [s.id for s in read_folder(tmp_path, "val").segments] == ["jump/c.avi"]
    with pytest.raises(FormatError, match=r"no test/ folder \(found split folders \['train', 'val'\]"):
        read_folder(tmp_path, "test")


def test_flat_tree_reads_everything(tmp_path: Path) -> None:
    write_avi(tmp_path / "wave/a.avi", num_frames=4)
    write_frames(tmp_path / "clap/b", [f"frame{i}.jpg" for i in range(1, 12)])  # unpadded numbers
    index = read_folder(tmp_path, "val")
    segs = by_id(index)
    assert index.classes == {"action": ["clap", "wave"]}
    assert segs["clap/b"].rgb.pattern == "frame{:d}.jpg" and segs["clap/b"].stop_frame == 11


def test_frame_folder_pattern_detection_and_errors(tmp_path: Path) -> None:
    write_frames(tmp_path / "a", ["img_00003.jpg", "img_00004.jpg", "img_00004(1).jpg", ".DS_Store"])
    source, numbers = frame_folder(tmp_path / "a")
    assert source.pattern == "img_{:05d}.jpg" and numbers == [3, 4]
    write_frames(tmp_path / "b", ["img_001.jpg", "flow_001.jpg"])
    with pytest.raises(FormatError, match="mixed image name patterns"):
        frame_folder(tmp_path / "b")
    write_frames(tmp_path / "c", ["readme.txt"])
    with pytest.raises(FormatError, match="no numbered images"):
        frame_folder(tmp_path / "c")


@pytest.mark.parametrize(
    ("row", "match"),
    [
        ("media/chop_1.avi", "1 fields"),
        ("media/chop_1.avi,chop,3", "3 fields"),
        ("media/chop_1.avi,", "empty path or label"),
        ("media/chop_1.avi,chop,x,5", "start = 'x' is not a frame number"),
        ("media/chop_1.avi,chop,0,5", "start = '0' is not a frame number"),
        ("media/chop_1.avi,chop,6,5", "start 6 > stop 5"),
        ("media/missing.avi,chop", "does not exist"),
        ("media/chop_1.avi,chop,2,11", "stop 11 is past the last frame 10"),
        ("media/stir_2,stir,10,14", r"img_00013.jpg is missing \(frames 10..14 asked\)"),
    ],
)
def test_bad_rows_name_the_csv_and_line(data: Path, row: str, match: str) -> None:
    path = data / "list.csv"
    path.write_text(f"path,label,start,stop\nmedia/stir_1.avi,stir,,\n{row}\n")
    with pytest.raises(FormatError, match=match) as info:
        read_folder(data, "train", csv=path)
    assert info.value.path == path and info.value.line == 3


def test_missing_csv_and_unknown_split(data: Path) -> None:
    with pytest.raises(FormatError, match="file not found"):
        read_folder(data, "train", csv=data / "nope.csv")
    with pytest.raises(ValueError, match="split"):
        read_folder(data, "holdout")
