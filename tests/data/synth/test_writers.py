"""The synthetic kitchen written in each real format follows that format's rules (reference §5 checklist)."""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from egoaction.data.decode import read_images
from egoaction.data.formats.epic100 import flow_stride, frame_to_timestamp, timestamp_to_frame
from egoaction.data.synth.generate import atomic_directory, synthesize
from egoaction.data.synth.write_epic100 import TRAIN_COLUMNS, tail_classes

OFFICIAL_COLUMNS = (
    "narration_id,participant_id,video_id,narration_timestamp,start_timestamp,stop_timestamp,start_frame,"
    "stop_frame,narration,verb,verb_class,noun,noun_class,all_nouns,all_noun_classes"
)


def _epic(root: Path, split: str) -> pd.DataFrame:
    return pd.read_csv(root / f"EPIC_100_{split}.csv", dtype=str, keep_default_na=False)


def test_epic_csv_has_the_15_official_columns_in_order(synth_root):
    root = synth_root("epic100")
    for split in ("train", "validation"):
        header = (root / f"EPIC_100_{split}.csv").read_text().splitlines()[0]
        assert header == OFFICIAL_COLUMNS
    assert ",".join(TRAIN_COLUMNS) == OFFICIAL_COLUMNS


def test_epic_timestamps_and_frames_agree_by_the_official_rule(synth_root):
    df = pd.concat([_epic(synth_root("epic100"), s) for s in ("train", "validation")])
    assert len(df) > 0
    for row in df.itertuples():
        assert timestamp_to_frame(row.start_timestamp, row.video_id) == int(row.start_frame)
        assert timestamp_to_frame(row.stop_timestamp, row.video_id) == int(row.stop_frame)
        assert 1 <= int(row.start_frame) <= int(row.stop_frame)
        assert ast.literal_eval(row.all_noun_classes) == [int(row.noun_class)]
        assert ast.literal_eval(row.all_nouns) == [row.noun]


def test_frame_to_timestamp_inverts_the_rule_at_both_rates():
    for video_id in ("P01_01", "P01_101"):
        for frame in [1, 2, 3, 59, 60, 61, 119, 3118, 100_000]:
            assert timestamp_to_frame(frame_to_timestamp(frame, video_id), video_id) == frame


def test_epic_frames_are_one_based_and_cover_every_segment(synth_root):
    root = synth_root("epic100")
    df = _epic(root, "train")
    for row in df.itertuples():
        frames = root / row.participant_id / "rgb_frames" / row.video_id
        assert (frames / f"frame_{int(row.stop_frame):010d}.jpg").is_file()
    any_video = next((root / "P01" / "rgb_frames").iterdir())
    assert (any_video / "frame_0000000001.jpg").is_file()
    assert not (any_video / "frame_0000000000.jpg").exists()


def test_epic_flow_has_stride_2_for_epic55_ids_and_1_for_extension_ids(synth_root):
    root = synth_root("epic100")
    kinds = set()
    for rgb_dir in root.glob("P*/rgb_frames/*"):
        video_id = rgb_dir.name
        n_rgb = len(list(rgb_dir.glob("frame_*.jpg")))
        flow_dir = root / video_id.split("_")[0] / "flow_frames" / video_id
        n_u = len(list((flow_dir / "u").glob("frame_*.jpg")))
        n_v = len(list((flow_dir / "v").glob("frame_*.jpg")))
        assert n_u == n_v > 0
        stride = flow_stride(video_id)
        kinds.add(stride)
        # the official mapping must find flow for every RGB frame but the very last one(s)
        assert (n_rgb - 1) // stride <= n_u <= (n_rgb - 1) // stride + 1
        assert (flow_dir / "u" / "frame_0000000001.jpg").is_file()
    assert kinds == {1, 2}, "both kinds of video (PXX_YY and PXX_1YY) must be written"


def test_epic_side_files(synth_root):
    root = synth_root("epic100")
    train, val = _epic(root, "train"), _epic(root, "validation")
    unseen = pd.read_csv(root / "EPIC_100_unseen_participant_ids_validation.csv", dtype=str)
    assert list(unseen.columns) == ["participant_id"] and len(unseen) >= 1
    assert set(unseen.participant_id) <= set(val.participant_id)
    assert not set(unseen.participant_id) & set(train.participant_id), "unseen kitchens must not be in train"
    assert train.participant_id.nunique() >= 6
    verbs = pd.read_csv(root / "EPIC_100_verb_classes.csv")
    nouns = pd.read_csv(root / "EPIC_100_noun_classes.csv")
    assert list(verbs.columns) == ["id", "key", "instances", "category"]
    assert list(verbs.id) == list(range(len(verbs))) and len(nouns) >= 20 and len(verbs) >= 10
    assert pd.read_csv(root / "EPIC_100_tail_verbs.csv").columns.tolist() == ["verb"]
    assert pd.read_csv(root / "EPIC_100_tail_nouns.csv").columns.tolist() == ["noun"]
    info = pd.read_csv(root / "EPIC_100_video_info.csv", dtype={"video_id": str})
    assert list(info.columns) == ["video_id", "duration", "fps", "resolution"]
    assert set(info.video_id) == set(train.video_id) | set(val.video_id)
    assert set(info.fps) <= {50.0, 60.0}
    assert list(train.narration_id) == sorted(train.narration_id), "rows sorted by narration_id as strings"
    assert (root / "P01" / "videos").is_dir() and any((root / "P01" / "videos").glob("*.MP4"))


def test_tail_rule_takes_the_classes_beyond_80_percent():
    from collections import Counter

    counts = Counter({0: 50, 1: 30, 2: 10, 3: 6, 4: 4})  # head 0+1 = 80 % exactly
    assert tail_classes(counts, 6) == [2, 3, 4, 5]
    counts = Counter({0: 50, 1: 29, 2: 21})  # 0+1 = 79 % < 80 %, so 2 joins the head
    assert tail_classes(counts, 3) == []


def test_same_seed_gives_byte_identical_annotations(tmp_path):
    def digest(root: Path) -> dict[str, str]:
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.glob("*.csv"))}

    synthesize("epic100", tmp_path / "a", preset="tiny", seed=3, workers=1)
    synthesize("epic100", tmp_path / "b", preset="tiny", seed=3, workers=2)
    synthesize("epic100", tmp_path / "c", preset="tiny", seed=4, workers=2)
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    assert digest(tmp_path / "a") != digest(tmp_path / "c")
    frame = "P01/rgb_frames/P01_01/frame_0000000005.jpg"
    assert (tmp_path / "a" / frame).read_bytes() == (tmp_path / "b" / frame).read_bytes()


def test_gtea_layouts(synth_root):
    root = synth_root("gtea61")
    users = sorted(p.name for p in (root / "frames").iterdir() if p.is_dir())
    assert users == ["S1", "S2", "S3", "S4"]
    classes = {p.name for p in (root / "frames" / "S1").iterdir()}
    assert {c.split("_", 1)[0] for c in classes} >= {"take"} or len(classes) > 0
    inst = next((root / "frames" / "S1").iterdir()) / "1"
    n = len(list(inst.glob("image_*.jpg")))
    assert (inst / "image_00001.jpg").is_file() and n >= 5
    rel = inst.relative_to(root / "frames")
    assert len(list((root / "flow_x" / rel).glob("flow_x_*.jpg"))) == n - 1
    assert len(list((root / "flow_y" / rel).glob("flow_y_*.jpg"))) == n - 1
    processed = root / "processed_frames2" / rel
    assert len(list((processed / "rgb").glob("rgb*.png"))) == n
    assert len(list((processed / "mmaps").glob("map*.png"))) == n
    assert (processed / "rgb" / "rgb0001.png").is_file() and (processed / "mmaps" / "map0001.png").is_file()
    assert (root / "flow_x_processed" / rel / "flow_x_00001.png").is_file()
    assert (root / "frames" / ".DS_Store").is_file()


def test_ucf_split_files(synth_root):
    root = synth_root("ucf101")
    lists = root / "ucfTrainTestlist"
    raw = (lists / "classInd.txt").read_bytes()
    assert raw.endswith(b"\r\n") and b"\n" not in raw.replace(b"\r\n", b"")
    classes = [line.split() for line in raw.decode().splitlines()]
    assert [int(i) for i, _ in classes] == list(range(1, len(classes) + 1))
    for fold, groups in {1: range(1, 8), 2: range(8, 15), 3: range(15, 22)}.items():
        test = (lists / f"testlist0{fold}.txt").read_text().split()
        train = [line.split() for line in (lists / f"trainlist0{fold}.txt").read_text().splitlines()]
        assert all(int(t.rsplit("_g", 1)[1][:2]) in groups for t in test)
        assert all(int(p.rsplit("_g", 1)[1][:2]) not in groups for p, _ in train)
        assert all(1 <= int(label) <= len(classes) for _, label in train)
        for rel in test + [p for p, _ in train]:
            assert (root / "UCF-101" / rel).is_file(), rel
    quirky = [p for p in (root / "UCF-101").glob("*/*.avi") if f"v_{p.parent.name}_" not in p.name]
    assert quirky, "one class repeats UCF's HandstandPushups file-name quirk"


def test_atomic_directory_leaves_nothing_on_failure(tmp_path):
    out = tmp_path / "ds"
    with pytest.raises(RuntimeError), atomic_directory(out, overwrite=False) as tmp:
        (tmp / "half.csv").write_text("x")
        raise RuntimeError("interrupted")
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_existing_output_is_not_overwritten_silently(tmp_path):
    (tmp_path / "ds").mkdir()
    with pytest.raises(FileExistsError, match="--overwrite"):
        synthesize("epic100", tmp_path / "ds", preset="tiny")


def test_epic_without_flow_has_the_same_frames_and_annotations_and_no_flow(tmp_path):
    synthesize("epic100", tmp_path / "full", preset="tiny", seed=2, workers=1)
    synthesize("epic100", tmp_path / "rgb", preset="tiny", seed=2, workers=1, flow=False)
    assert not list((tmp_path / "rgb").glob("P*/flow_frames"))
    assert list((tmp_path / "full").glob("P*/flow_frames/*/u/frame_*.jpg"))
    for csv in ("EPIC_100_train.csv", "EPIC_100_validation.csv"):
        assert (tmp_path / "rgb" / csv).read_bytes() == (tmp_path / "full" / csv).read_bytes()
    frames = sorted(p.relative_to(tmp_path / "full") for p in (tmp_path / "full").glob("P*/rgb_frames/*/*.jpg"))
    assert frames == sorted(p.relative_to(tmp_path / "rgb") for p in (tmp_path / "rgb").glob("P*/rgb_frames/*/*.jpg"))
    with pytest.raises(ValueError, match="epic100 only"):
        synthesize("gtea61", tmp_path / "g", preset="tiny", flow=False)


def test_epic_with_a_still_camera_keeps_the_background_still_and_the_annotations(tmp_path):
    synthesize("epic100", tmp_path / "moving", preset="tiny", seed=2, workers=1, flow=False)
    synthesize("epic100", tmp_path / "still", preset="tiny", seed=2, workers=1, flow=False, camera_motion=False)
    for csv in ("EPIC_100_train.csv", "EPIC_100_validation.csv"):
        assert (tmp_path / "still" / csv).read_bytes() == (tmp_path / "moving" / csv).read_bytes()

    def wall(root: Path, frame: int) -> np.ndarray:
        """The top 8 rows (wall, above where hands reach) of one frame of the first video."""
        path = sorted(root.glob("P01/rgb_frames/*"))[0] / f"frame_{frame:010d}.jpg"
        return read_images([path])[0, :, :8].numpy().astype(int)  # (3, 8, W)

    assert np.array_equal(wall(tmp_path / "still", 1), wall(tmp_path / "still", 6))
    assert np.abs(wall(tmp_path / "moving", 1) - wall(tmp_path / "moving", 6)).max() > 2
    with pytest.raises(ValueError, match="epic100 only"):
        synthesize("ucf101", tmp_path / "u", preset="tiny", camera_motion=False)
