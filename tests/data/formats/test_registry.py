"""The dataset-format registry: names, duplicate protection, dispatch and option checking."""

from __future__ import annotations

from pathlib import Path

import pytest

from egoaction.data import formats
from egoaction.data.formats import SPLITS, get_reader, list_formats, read_index, register_format
from egoaction.data.formats.epic100 import read_epic100
from egoaction.data.segment import Segment, SegmentIndex


def test_the_four_formats_are_registered_with_their_splits() -> None:
    assert list_formats() == ["epic100", "folder", "gtea61", "ucf101"]
    assert SPLITS["epic100"] == ("train", "validation", "test")
    assert SPLITS["gtea61"] == ("train", "test", "all")
    assert SPLITS["ucf101"] == ("train", "test")


def test_duplicate_registration_raises_and_keeps_the_original() -> None:
    with pytest.raises(ValueError, match="'epic100' is already registered"):
        register_format("epic100", splits=("train",))(lambda root, split: SegmentIndex([], {}))
    assert get_reader("epic100") is read_epic100
    assert SPLITS["epic100"] == ("train", "validation", "test")


def test_unknown_format_lists_the_valid_ones(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown dataset format 'epic55'; expected one of \['epic100', 'folder'"):
        read_index("epic55", tmp_path, "train")


def test_unknown_option_is_a_type_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match=r"format 'gtea61' has no option\(s\) \['fold'\]; its options are \["):
        read_index("gtea61", tmp_path, "train", fold=2)


def test_read_index_dispatches_with_path_root_and_options(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def read_dummy(root: Path, split: str = "train", *, size: int = 1) -> SegmentIndex:
        calls.append((root, split, size))
        segment = Segment("a", "a", "", 1, size, 30.0, {"action": 0})
        return SegmentIndex([segment], {"action": ["x"]})

    monkeypatch.setattr(formats, "_READERS", dict(formats._READERS))
    monkeypatch.setattr(formats, "SPLITS", dict(formats.SPLITS))
    register_format("dummy", splits=("train",))(read_dummy)
    index = read_index("dummy", "some/dir", "train", size=4)
    assert calls == [(Path("some/dir"), "train", 4)] and index.segments[0].num_frames == 4
    with pytest.raises(ValueError, match="already registered"):
        register_format("dummy", splits=("train",))(read_dummy)


def test_read_index_reaches_a_real_reader(tmp_path: Path) -> None:
    (tmp_path / "clap/b").mkdir(parents=True)
    for i in range(1, 4):
        (tmp_path / f"clap/b/{i:03d}.jpg").touch()
    index = read_index("folder", tmp_path, "train", fps=10.0)
    assert [(s.id, s.fps, s.num_frames) for s in index.segments] == [("clap/b", 10.0, 3)]


def test_bad_split_names_the_valid_ones(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"format 'ucf101' has no split 'val'; expected one of \['train', 'test'\]"):
        read_index("ucf101", tmp_path, "val")
