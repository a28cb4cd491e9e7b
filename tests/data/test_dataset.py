"""The Dataset / DataModule: batches from every format, reproducible clips, multi-view, skip-and-count."""

from __future__ import annotations

import shutil
import warnings

import pytest
import torch

from egoaction.data.dataset import (
    BadSampleCounter,
    ClipDataModule,
    ClipDataset,
    EpochSampler,
    collate,
    make_sampler,
    nearest_maps,
)
from egoaction.data.errors import DataError, SampleError
from egoaction.data.formats import read_index
from egoaction.data.transforms import TestTransform, TrainTransform

SPLITS = {"epic100": "train", "gtea61": "train", "ucf101": "train"}


@pytest.mark.parametrize("fmt", ["epic100", "gtea61", "ucf101"])
def test_datamodule_loads_a_batch_of_uint8_clips(synth_root, fmt):
    dm = ClipDataModule(fmt, synth_root(fmt), num_frames=4, size=48, resize=56, batch_size=3, num_workers=0)
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert batch["rgb"].shape == (3, 4, 3, 48, 48)
    assert batch["rgb"].dtype == torch.uint8
    spec = dm.task_spec
    assert set(batch["labels"]) == set(spec)
    for task, labels in batch["labels"].items():
        assert labels.shape == (3,) and int(labels.max()) < spec[task]
    assert len(batch["id"]) == 3 and batch["skipped"] == []
    val = next(iter(dm.val_dataloader()))
    assert val["rgb"].shape[1:] == (4, 3, 48, 48)


def test_epic_task_spec_has_verb_and_noun_heads(synth_root):
    dm = ClipDataModule("epic100", synth_root("epic100"), num_workers=0)
    assert set(dm.task_spec) == {"verb", "noun"}
    assert len(dm.classes["noun"]) == dm.task_spec["noun"] >= 20


def test_flow_and_mmaps_modalities(synth_root):
    dm = ClipDataModule(
        "gtea61", synth_root("gtea61"), reader_options={"layout": "processed"},
        modalities=("rgb", "flow", "mmaps"), num_frames=3, flow_stacks=2, flow_stack_len=5,
        size=32, resize=40, batch_size=2, num_workers=0,
    )  # fmt: skip
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert batch["rgb"].shape == (2, 3, 3, 32, 32)
    assert batch["flow"].shape == (2, 2, 10, 32, 32), "2 stacks of 5 (x, y) pairs = 10 channels"
    assert batch["mmaps"].shape[:3] == (2, 3, 1)


def test_epic_flow_modality(synth_root):
    dm = ClipDataModule("epic100", synth_root("epic100"), modalities=("flow",), num_frames=4, size=32,
                        resize=40, batch_size=2, num_workers=0)  # fmt: skip
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert batch["flow"].shape == (2, 1, 10, 32, 32) and "rgb" not in batch


def test_epic_video_modality_matches_frames(synth_root):
    root = synth_root("epic100")
    frames = read_index("epic100", root, "validation")
    videos = read_index("epic100", root, "validation", modality="video")
    sampler = make_sampler("tsn", num_frames=4)
    a = ClipDataset(frames, sampler=sampler)[0]["rgb"].float()
    b = ClipDataset(videos, sampler=sampler)[0]["rgb"].float()
    assert a.shape == b.shape
    assert (a - b).abs().mean() < 8, "the MP4 and the JPEG frames show the same picture"


def test_clips_are_reproducible_per_epoch_and_differ_across_epochs(synth_root):
    index = read_index("epic100", synth_root("epic100"), "train")
    ds = ClipDataset(index, sampler=make_sampler("tsn", num_frames=4), transform=TrainTransform(size=32), train=True)
    first = ds[(0, 0)]["rgb"]
    assert torch.equal(first, ds[(0, 0)]["rgb"])
    assert any(not torch.equal(first, ds[(0, e)]["rgb"]) for e in range(1, 6))


def test_epoch_sampler_orders():
    s = EpochSampler(10, shuffle=True, seed=1)
    e0, e1 = list(s), list(s)
    assert [e for _, e in e0] == [0] * 10 and [e for _, e in e1] == [1] * 10
    assert sorted(i for i, _ in e0) == list(range(10)) and e0 != e1
    s.set_epoch(0)
    assert list(s) == e0, "set_epoch replays an epoch exactly (resume)"
    assert [i for i, _ in EpochSampler(4, shuffle=False)] == [0, 1, 2, 3]


def test_multiview_test_sample_has_clips_times_crops_views(synth_root):
    index = read_index("epic100", synth_root("epic100"), "validation")
    ds = ClipDataset(index, sampler=make_sampler("tsn", num_frames=4), num_clips=2,
                     transform=TestTransform(size=32, resize=40, num_crops=3))  # fmt: skip
    assert ds[0]["rgb"].shape == (6, 4, 3, 32, 32)
    batch = collate([ds[0], ds[1]])
    assert batch["rgb"].shape == (2, 6, 4, 3, 32, 32)


def _broken_copy(src, tmp_path):
    root = tmp_path / "epic"
    shutil.copytree(src, root)
    index = read_index("epic100", root, "train")
    seg = index.segments[0]
    assert seg.rgb is not None
    for n in range(seg.start_frame, seg.stop_frame + 1):
        seg.rgb.path(n).unlink()  # every frame of the first segment is gone
    return root, index


def test_missing_frames_skip_the_sample_and_are_counted(synth_root, tmp_path):
    _, index = _broken_copy(synth_root("epic100"), tmp_path)
    ds = ClipDataset(index, sampler=make_sampler("tsn", num_frames=4))
    batch = collate([ds[0], ds[1], ds[2]])
    assert batch["size"] == 2 and batch["rgb"].shape[0] == 2
    ((sample_id, reason),) = batch["skipped"]
    assert sample_id == index.segments[0].id and "frame_" in reason
    counter = BadSampleCounter(total=len(index), max_fraction=0.5)
    with pytest.warns(UserWarning, match=sample_id):
        counter.update(batch)
    strict = BadSampleCounter(total=len(index), max_fraction=0.0)
    with warnings.catch_warnings(), pytest.raises(DataError, match="max_bad_fraction"):
        warnings.simplefilter("ignore")
        strict.update(batch)
    with pytest.raises(SampleError, match="frame_"):
        ClipDataset(index, sampler=make_sampler("tsn", num_frames=4), skip_bad=False)[0]


def test_datamodule_fails_past_the_bad_sample_threshold(synth_root, tmp_path):
    root, _ = _broken_copy(synth_root("epic100"), tmp_path)
    dm = ClipDataModule("epic100", root, num_frames=4, size=32, resize=40, batch_size=64, num_workers=0,
                        max_bad_fraction=0.0, augment=False)  # fmt: skip
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    with warnings.catch_warnings(), pytest.raises(DataError, match="could not be read"):
        warnings.simplefilter("ignore")
        dm.on_after_batch_transfer(batch, 0)


def test_unknown_modality_and_sampler_are_rejected(synth_root):
    index = read_index("epic100", synth_root("epic100"), "train")
    with pytest.raises(ValueError, match="modalities"):
        ClipDataset(index, sampler=make_sampler(), modalities=("depth",))
    with pytest.raises(ValueError, match="sampler"):
        make_sampler("random")


def test_two_worker_loader_gives_the_same_batch_as_in_process(synth_root):
    kwargs = dict(num_frames=4, size=32, resize=40, batch_size=4, seed=5)
    a = ClipDataModule("epic100", synth_root("epic100"), num_workers=0, **kwargs)
    b = ClipDataModule("epic100", synth_root("epic100"), num_workers=2, **kwargs)
    a.setup("fit")
    b.setup("fit")
    ba, bb = next(iter(a.train_dataloader())), next(iter(b.train_dataloader()))
    assert ba["id"] == bb["id"] and torch.equal(ba["rgb"], bb["rgb"])


def test_missing_motion_map_borrows_the_nearest_one(synth_root):
    index = read_index("gtea61", synth_root("gtea61"), "all", layout="processed", mmaps=True)
    gappy = [s for s in index.segments if s.meta.get("missing_mmaps")]
    assert len(gappy) == 1 and gappy[0].meta["missing_mmaps"] == "1", "the synthetic set drops one first map"
    seg = gappy[0]
    assert nearest_maps(seg, [1, 2, 3]) == [2, 2, 3]
    ds = ClipDataset(index, sampler=make_sampler("linspace", num_frames=4), modalities=("rgb", "mmaps"))
    sample = ds[index.segments.index(seg)]
    assert sample["mmaps"].shape[:2] == (4, 1)
