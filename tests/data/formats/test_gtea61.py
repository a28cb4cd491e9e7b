"""GTEA61 reader: both layouts, user splits, one global class list and the quirks of the distributed data."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import pytest

from egoaction.data.errors import FormatError
from egoaction.data.formats import read_index
from egoaction.data.formats.gtea61 import detect_layout, gtea61_folds, read_gtea61
from egoaction.data.segment import Segment, SegmentIndex

CLASSES = ["close_chocolate", "pour_water,cup", "take_bread"]


def touch(folder: Path, names: list[str]) -> None:
    """The reader only lists names, so empty files stand in for images."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).touch()


def egornn_instance(root: Path, rel: str, n: int, flow: int | None = None) -> None:
    touch(root / "frames" / rel, [f"image_{i:05d}.jpg" for i in range(1, n + 1)])
    k = n - 1 if flow is None else flow
    touch(root / "flow_x" / rel, [f"flow_x_{i:05d}.jpg" for i in range(1, k + 1)])
    touch(root / "flow_y" / rel, [f"flow_y_{i:05d}.jpg" for i in range(1, k + 1)])


def processed_instance(root: Path, rel: str, n: int, maps: list[int] | None = None) -> None:
    touch(root / "processed_frames2" / rel / "rgb", [f"rgb{i:04d}.png" for i in range(1, n + 1)])
    have = range(1, n + 1) if maps is None else maps
    touch(root / "processed_frames2" / rel / "mmaps", [f"map{i:04d}.png" for i in have])
    touch(root / "flow_x_processed" / rel, [f"flow_x_{i:05d}.png" for i in range(1, n)])
    touch(root / "flow_y_processed" / rel, [f"flow_y_{i:05d}.png" for i in range(1, n)])


@pytest.fixture
def egornn(tmp_path: Path) -> Path:
    """4 users x 3 classes x 2 instances of 8 frames (7 flow pairs)."""
    for user in ("S1", "S2", "S3", "S4"):
        for name in CLASSES:
            for inst in ("1", "2"):
                egornn_instance(tmp_path, f"{user}/{name}/{inst}", 8)
    return tmp_path


def by_id(index: SegmentIndex) -> dict[str, Segment]:
    return {s.id: s for s in index.segments}


def test_fixed_split_trains_on_s1_s3_s4_and_tests_on_s2(egornn: Path) -> None:
    train = read_index("gtea61", egornn, "train")
    test = read_index("gtea61", egornn, "test")
    assert {s.participant for s in train.segments} == {"S1", "S3", "S4"}
    assert {s.participant for s in test.segments} == {"S2"}
    assert len(train) == 18 and len(test) == 6
    assert train.classes == {"action": CLASSES} and train.task_spec == {"action": 3}


def test_segment_fields(egornn: Path) -> None:
    seg = by_id(read_gtea61(egornn, "test", flow=True))["S2/pour_water,cup/2"]
    assert seg.video_id == "S2/pour_water,cup/2" and seg.participant == "S2"
    assert dict(seg.labels) == {"action": 1}
    assert seg.meta["verb"] == "pour" and seg.meta["noun"] == "water,cup"
    assert (seg.start_frame, seg.stop_frame) == (1, 8)
    assert seg.fps == 24.0 and read_gtea61(egornn, "test", fps=15.0).segments[0].fps == 15.0
    assert seg.rgb.path(1) == egornn / "frames/S2/pour_water,cup/2/image_00001.jpg"
    assert (seg.flow.first, seg.flow.last) == (1, 7)
    assert seg.flow.x.path(7) == egornn / "flow_x/S2/pour_water,cup/2/flow_x_00007.jpg"
    assert seg.flow.y.path(7) == egornn / "flow_y/S2/pour_water,cup/2/flow_y_00007.jpg"
    assert seg.mmaps is None


def test_leave_one_user_out(egornn: Path) -> None:
    folds = gtea61_folds(egornn)
    assert folds == ["S1", "S2", "S3", "S4"]
    everyone = {s.id for s in read_gtea61(egornn, "all").segments}
    for user in folds:
        train = {s.id for s in read_gtea61(egornn, "train", test_user=user).segments}
        test = {s.id for s in read_gtea61(egornn, "test", test_user=user).segments}
        assert all(i.startswith(f"{user}/") for i in test)
        assert not train & test and train | test == everyone


def test_one_global_sorted_class_list_even_when_users_differ(tmp_path: Path) -> None:
    egornn_instance(tmp_path, "S1/close_chocolate/1", 6)
    egornn_instance(tmp_path, "S1/take_bread/1", 6)
    egornn_instance(tmp_path, "S2/take_bread/1", 6)  # per-user numbering would give take_bread id 0 here
    egornn_instance(tmp_path, "S2/zip_bag/1", 6)
    with pytest.warns(UserWarning, match=r"different class sets.*S1 lacks \['zip_bag'\]"):
        test = read_gtea61(tmp_path, "test")
    assert test.classes["action"] == ["close_chocolate", "take_bread", "zip_bag"]
    assert dict(by_id(test)["S2/take_bread/1"].labels) == {"action": 1}
    with pytest.warns(UserWarning):
        train = read_gtea61(tmp_path, "train")
    assert dict(by_id(train)["S1/take_bread/1"].labels) == {"action": 1}


def test_ds_store_hidden_entries_and_duplicate_copies_are_ignored(egornn: Path) -> None:
    for folder in (egornn / "frames", egornn / "frames/S1", egornn / "frames/S1/take_bread"):
        (folder / ".DS_Store").write_bytes(b"\0")
    (egornn / "frames/S1/.hidden_class").mkdir()
    inst = egornn / "frames/S1/take_bread/1"
    touch(inst, [".DS_Store", "image_00003(1).jpg", "image_00009 (1).jpg", "Thumbs.db"])
    touch(egornn / "flow_x/S1/take_bread/1", ["flow_x_00007(1).jpg"])
    seg = by_id(read_gtea61(egornn, "all", flow=True))["S1/take_bread/1"]
    assert (seg.start_frame, seg.stop_frame, seg.flow.num_frames) == (1, 8, 7)
    assert read_gtea61(egornn, "all").classes["action"] == CLASSES


def test_instances_sort_numerically(egornn: Path) -> None:
    egornn_instance(egornn, "S2/take_bread/10", 6)
    ids = [s.id for s in read_gtea61(egornn, "test").segments if s.id.startswith("S2/take_bread/")]
    assert ids == ["S2/take_bread/1", "S2/take_bread/2", "S2/take_bread/10"]


def test_non_contiguous_frames_name_the_folder_and_number(egornn: Path) -> None:
    (egornn / "frames/S3/take_bread/2/image_00004.jpg").unlink()
    with pytest.raises(FormatError, match=r"image_00004.jpg is missing \(expected contiguous numbers 1..8\)") as e:
        read_gtea61(egornn, "train")
    assert e.value.path == egornn / "frames/S3/take_bread/2"


def test_min_frames_skips_short_instances_and_counts_them(egornn: Path) -> None:
    egornn_instance(egornn, "S2/take_bread/3", 4)
    with pytest.warns(UserWarning, match=r"skipped 1 GTEA61 instance\(s\) with fewer than 5 frames"):
        index = read_gtea61(egornn, "test")
    assert "S2/take_bread/3" not in by_id(index) and "skipped_short=1" in index.source
    assert "S2/take_bread/3" in by_id(read_gtea61(egornn, "test", min_frames=4))
    (egornn / "frames/S2/take_bread/4").mkdir()
    with pytest.warns(UserWarning, match="skipped 1"):
        assert "S2/take_bread/4" not in by_id(read_gtea61(egornn, "test", min_frames=0))


def test_min_frames_also_applies_to_flow_when_flow_is_read(egornn: Path) -> None:
    egornn_instance(egornn, "S2/take_bread/3", 8, flow=3)
    assert "S2/take_bread/3" in by_id(read_gtea61(egornn, "test"))
    with pytest.warns(UserWarning, match="skipped 1"):
        assert "S2/take_bread/3" not in by_id(read_gtea61(egornn, "test", flow=True))


def test_flow_x_and_y_must_agree(egornn: Path) -> None:
    (egornn / "flow_y/S2/take_bread/1/flow_y_00007.jpg").unlink()
    with pytest.raises(FormatError, match=r"flow_y numbers 1\.\.6 .* differ from flow_x numbers 1\.\.7"):
        read_gtea61(egornn, "test", flow=True)


def test_processed_layout_with_motion_maps(tmp_path: Path) -> None:
    for user in ("S1", "S2"):
        processed_instance(tmp_path, f"{user}/close_chocolate/1", 7)
    processed_instance(tmp_path, "S2/take_bread/1", 7, maps=[1, 2, 4, 5, 6, 7])
    assert detect_layout(tmp_path) == "processed"
    with pytest.warns(UserWarning, match="different class sets"):
        index = read_gtea61(tmp_path, "test", flow=True, mmaps=True)
    segs = by_id(index)
    full, holes = segs["S2/close_chocolate/1"], segs["S2/take_bread/1"]
    assert full.rgb.path(7) == tmp_path / "processed_frames2/S2/close_chocolate/1/rgb/rgb0007.png"
    assert full.mmaps.path(7) == tmp_path / "processed_frames2/S2/close_chocolate/1/mmaps/map0007.png"
    assert full.flow.x.path(6) == tmp_path / "flow_x_processed/S2/close_chocolate/1/flow_x_00006.png"
    assert (full.flow.first, full.flow.last) == (1, 6) and full.meta["missing_mmaps"] == ""
    assert holes.mmaps is not None and holes.meta["missing_mmaps"] == "3"  # kept, the gap recorded


def test_instance_without_any_motion_map_has_no_mmaps(tmp_path: Path) -> None:
    processed_instance(tmp_path, "S2/close_chocolate/1", 6, maps=[])
    seg = read_gtea61(tmp_path, "test", mmaps=True).segments[0]
    assert seg.mmaps is None and seg.meta["missing_mmaps"] == "1,2,3,4,5,6"


def test_auto_layout_prefers_egornn_and_layouts_can_be_forced(egornn: Path) -> None:
    processed_instance(egornn, "S2/close_chocolate/1", 6)
    assert detect_layout(egornn) == "egornn"
    assert len(read_gtea61(egornn, "test", layout="processed")) == 1
    # motion maps exist only in the processed layout: asking for them makes 'auto' pick it
    assert detect_layout(egornn, need="mmaps") == "processed"
    assert len(read_gtea61(egornn, "test", mmaps=True)) == 1
    with pytest.raises(ValueError, match="no motion maps"):
        read_gtea61(egornn, "test", layout="egornn", mmaps=True)


def test_bad_arguments_and_empty_root(egornn: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"test_user 'S9' is not one of the users \['S1', 'S2', 'S3', 'S4'\]"):
        read_gtea61(egornn, "test", test_user="S9")
    with pytest.raises(ValueError, match="split"):
        read_gtea61(egornn, "val")
    with pytest.raises(FormatError, match="expected a 'frames/' or 'processed_frames2/' folder"):
        read_gtea61(tmp_path / "nothing", "train")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a consistent dataset reads without warnings
        read_gtea61(egornn, "train")


def test_missing_flow_folder_is_an_error_only_when_flow_is_asked(egornn: Path) -> None:
    shutil.rmtree(egornn / "flow_x/S2/take_bread/2")
    shutil.rmtree(egornn / "flow_y/S2/take_bread/2")
    assert len(read_gtea61(egornn, "test")) == 6
    with pytest.raises(FormatError, match="no flow files") as info:
        read_gtea61(egornn, "test", flow=True)
    assert info.value.path == egornn / "flow_x/S2/take_bread/2"
