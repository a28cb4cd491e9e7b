"""One Dataset = Segment records + a sampler + the decoder + a clip transform; and the Lightning DataModule.

Samples are dicts of uint8 tensors (``rgb`` (T, 3, H, W), ``flow`` (T', 2L, H, W), ``mmaps`` (T, 1, h, w)) plus
``labels`` (task -> class id), ``id`` and ``video_idx``. With more than one test view (clips x crops) every modality
gets a leading view dimension: ``rgb`` (V, T, 3, H, W). Float conversion and normalisation happen on the device.

A sample that cannot be read (missing frame, truncated JPEG, corrupt video) is skipped, not fatal: ``__getitem__``
returns a marker, ``collate`` drops it and lists it under ``batch["skipped"]``, and the DataModule counts the skips
in the main process and fails once they pass ``max_bad_fraction`` of the split.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from egoaction.data.decode import read_flow, read_mmaps, read_rgb
from egoaction.data.errors import DataError, SampleError
from egoaction.data.formats import read_index
from egoaction.data.sampling import (
    DenseSampler,
    FlowStackSampler,
    LinspaceSampler,
    Sampler,
    TSNSampler,
    make_generator,
)
from egoaction.data.segment import Segment, SegmentIndex
from egoaction.data.transforms import ClipTransform, TestTransform, TrainTransform

SKIPPED = "_skipped"
MODALITIES = ("rgb", "flow", "mmaps")


class ClipDataset(Dataset[dict[str, Any]]):
    """Clips of the segments of one split. Items are drawn reproducibly from (seed, epoch, index).

    An item key may be an ``int`` (epoch 0) or an ``(index, epoch)`` pair as yielded by :class:`EpochSampler`,
    so every worker process draws the same clip for the same sample and epoch.
    """

    def __init__(
        self,
        index: SegmentIndex,
        *,
        sampler: Sampler,
        transform: ClipTransform | None = None,
        train: bool = False,
        modalities: Sequence[str] = ("rgb",),
        flow_sampler: Sampler | None = None,
        num_clips: int = 1,
        seed: int = 0,
        skip_bad: bool = True,
    ) -> None:
        unknown = set(modalities) - set(MODALITIES)
        if unknown:
            raise ValueError(f"unknown modalities {sorted(unknown)}; expected some of {MODALITIES}")
        self.index = index
        self.sampler = sampler
        self.flow_sampler = flow_sampler or FlowStackSampler()
        self.transform = transform
        self.train = train
        self.modalities = tuple(modalities)
        self.num_clips = num_clips
        self.seed = seed
        self.skip_bad = skip_bad
        self._video_ids = {v: i for i, v in enumerate(dict.fromkeys(s.video_id for s in index.segments))}

    def __len__(self) -> int:
        return len(self.index.segments)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        i, epoch = (key, 0) if isinstance(key, int) else key
        seg = self.index.segments[i]
        rng = make_generator(self.seed, epoch, i)
        try:
            views = [self._load(seg, *numbers) for numbers in zip(*self._numbers(seg, rng))]
        except SampleError as exc:
            if not self.skip_bad:
                raise
            return {SKIPPED: (seg.id, str(exc)), "index": i}
        torch_gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
        if self.transform is not None:
            views = [self.transform(v, torch_gen) for v in views]
        crops = getattr(self.transform, "num_crops", 1)
        sample = _stack_views(views, crops) if len(views) * crops > 1 else views[0]
        sample.update(labels=dict(seg.labels), id=seg.id, video_idx=self._video_ids[seg.video_id], index=i)
        return sample

    def _numbers(self, seg: Segment, rng: np.random.Generator) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
        """Frame numbers (and flow numbers) of every temporal view: one random draw in training."""
        rgb = self._views(self.sampler, seg.start_frame, seg.stop_frame, rng)
        if "flow" not in self.modalities or seg.flow is None:
            return rgb, [None] * len(rgb)
        return rgb, list(self._views(self.flow_sampler, seg.flow.first, seg.flow.last, rng))

    def _views(self, sampler: Sampler, first: int, last: int, rng: np.random.Generator) -> list[np.ndarray]:
        if self.train or self.num_clips == 1:
            return [sampler(first, last, train=self.train, rng=rng)]
        return sampler.views(first, last, self.num_clips)

    def _load(self, seg: Segment, numbers: np.ndarray, flow_numbers: np.ndarray | None) -> dict[str, Any]:
        """Decode one temporal view of a segment: uint8 tensors per modality."""
        out: dict[str, Any] = {}
        if "rgb" in self.modalities:
            out["rgb"] = read_rgb(seg, numbers.tolist())
        if "mmaps" in self.modalities:
            if seg.mmaps is None:
                raise SampleError(seg.id, "no motion maps for this segment (modality 'mmaps' asked for)")
            out["mmaps"] = read_mmaps(seg.mmaps, nearest_maps(seg, numbers.tolist()))
        if "flow" in self.modalities:
            if seg.flow is None or flow_numbers is None:
                raise SampleError(seg.id, "no optical flow for this segment (modality 'flow' asked for)")
            pairs = read_flow(seg.flow, flow_numbers.tolist())  # (T'*L, 2, H, W)
            stack = getattr(self.flow_sampler, "stack_len", 1)
            out["flow"] = pairs.reshape(-1, 2 * stack, *pairs.shape[-2:])
        return out


def nearest_maps(seg: Segment, numbers: list[int]) -> list[int]:
    """Motion-map numbers to read: a frame whose map is missing (GTEA quirk) borrows the nearest existing one."""
    gaps = {int(n) for n in seg.meta.get("missing_mmaps", "").split(",") if n}
    if not gaps:
        return numbers
    have = np.array([n for n in range(seg.start_frame, seg.stop_frame + 1) if n not in gaps])
    return [int(have[np.abs(have - n).argmin()]) if n in gaps else n for n in numbers]


def _stack_views(views: list[dict[str, Any]], crops: int) -> dict[str, Any]:
    """Stack temporal views (each with a crop dim when crops > 1) into one view dim: (clips*crops, T, C, H, W)."""
    out: dict[str, Any] = {}
    for m in MODALITIES:
        if m in views[0]:
            parts = [v[m] if crops > 1 else v[m].unsqueeze(0) for v in views]
            out[m] = torch.cat(parts)
    return out


def _stack(tensors: list[torch.Tensor]) -> torch.Tensor:
    """Stack clips; in a loader worker straight into shared memory, saving the copy made when it is sent."""
    if torch.utils.data.get_worker_info() is None:
        return torch.stack(tensors)
    out = torch.empty((len(tensors), *tensors[0].shape), dtype=tensors[0].dtype).share_memory_()
    return torch.stack(tensors, out=out)


def collate(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Stack samples into a batch; unreadable samples are dropped and listed under ``skipped`` as (id, reason)."""
    skipped = [item[SKIPPED] for item in items if SKIPPED in item]
    good = [item for item in items if SKIPPED not in item]
    batch: dict[str, Any] = {"skipped": skipped, "size": len(good)}
    if not good:
        return batch
    for m in MODALITIES:
        if m in good[0]:
            batch[m] = _stack([item[m] for item in good])
    tasks = good[0]["labels"].keys()
    batch["labels"] = {t: torch.tensor([item["labels"][t] for item in good]) for t in tasks}
    batch["id"] = [item["id"] for item in good]
    batch["video_idx"] = torch.tensor([item["video_idx"] for item in good])
    batch["index"] = torch.tensor([item["index"] for item in good])
    return batch


class EpochSampler(torch.utils.data.Sampler[tuple[int, int]]):
    """Yields ``(index, epoch)``: a fresh, seeded order every epoch, so clips differ between epochs yet are
    reproducible, whichever worker loads them. ``set_epoch`` lets a resumed run continue the sequence."""

    def __init__(self, size: int, *, shuffle: bool, seed: int = 0) -> None:
        self.size = size
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Make the next iteration draw the order and clips of ``epoch``."""
        self.epoch = epoch

    def __iter__(self) -> Iterator[tuple[int, int]]:
        epoch = self.epoch
        self.epoch += 1
        order = np.arange(self.size)
        if self.shuffle:
            order = np.random.default_rng([self.seed, epoch]).permutation(self.size)
        return iter((int(i), epoch) for i in order)

    def __len__(self) -> int:
        return self.size


@dataclass
class BadSampleCounter:
    """Counts skipped samples in the main process; warns naming each, fails past ``max_fraction`` of ``total``."""

    total: int
    max_fraction: float = 0.05
    skipped: dict[str, str] = field(default_factory=dict)

    def update(self, batch: dict[str, Any]) -> None:
        """Record the batch's skipped samples; raise DataError when too many samples of the split are bad."""
        for sample_id, reason in batch.get("skipped", []):
            if sample_id not in self.skipped:
                warnings.warn(f"skipped unreadable sample {sample_id}: {reason}", stacklevel=2)
            self.skipped[sample_id] = reason
        limit = self.max_fraction * self.total
        if len(self.skipped) > limit:
            examples = "; ".join(f"{k}: {v}" for k, v in list(self.skipped.items())[:3])
            raise DataError(
                f"{len(self.skipped)} of {self.total} samples could not be read, more than the allowed "
                f"{self.max_fraction:.1%} (max_bad_fraction). First ones: {examples}"
            )


def make_sampler(kind: str = "tsn", *, num_frames: int = 8, stride: int = 2) -> Sampler:
    """Build a temporal sampler by name: 'tsn' (segments), 'dense' (clip with stride) or 'linspace' (Ego-RNN)."""
    if kind == "tsn":
        return TSNSampler(num_segments=num_frames)
    if kind == "dense":
        return DenseSampler(clip_len=num_frames, stride=stride)
    if kind == "linspace":
        return LinspaceSampler(num_frames=num_frames)
    raise ValueError(f"unknown sampler {kind!r}; expected 'tsn', 'dense' or 'linspace'")


DEFAULT_SPLITS = {
    "epic100": ("train", "validation"),
    "gtea61": ("train", "test"),
    "ucf101": ("train", "test"),
    "folder": ("train", "val"),
}


class ClipDataModule(L.LightningDataModule):
    """Train / validation loaders for any registered format, with uint8 clips and skip-and-count of bad samples."""

    def __init__(
        self,
        format: str,
        root: str | Path,
        *,
        reader_options: dict[str, Any] | None = None,
        train_split: str | None = None,
        val_split: str | None = None,
        modalities: Sequence[str] = ("rgb",),
        sampler: str = "tsn",
        num_frames: int = 8,
        frame_stride: int = 2,
        flow_stacks: int = 1,
        flow_stack_len: int = 5,
        size: int | tuple[int, int] = 224,
        resize: int = 256,
        augment: bool = True,
        augmentation: dict[str, Any] | None = None,
        test_clips: int = 1,
        test_crops: int = 1,
        batch_size: int = 8,
        num_workers: int = 2,
        seed: int = 0,
        max_bad_fraction: float = 0.05,
        pin_memory: bool = False,
    ) -> None:
        super().__init__()
        default_train, default_val = DEFAULT_SPLITS.get(format, ("train", "val"))
        self.format = format
        self.root = Path(root)
        self.reader_options = dict(reader_options or {})
        if "flow" in modalities and format in ("epic100", "gtea61"):
            self.reader_options.setdefault("flow", True)
        if "mmaps" in modalities and format == "gtea61":
            self.reader_options.setdefault("mmaps", True)
        self.splits = {"train": train_split or default_train, "val": val_split or default_val}
        self.modalities = tuple(modalities)
        self.sampler = make_sampler(sampler, num_frames=num_frames, stride=frame_stride)
        self.flow_sampler = FlowStackSampler(num_stacks=flow_stacks, stack_len=flow_stack_len)
        test_tf = TestTransform(size=size, resize=resize)
        train_tf = TrainTransform(size=size, **(augmentation or {})) if augment else test_tf
        self.transforms = {
            "train": train_tf,
            "val": TestTransform(size=size, resize=resize, num_crops=test_crops),
        }
        self.test_clips = test_clips
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.seed = seed
        self.max_bad_fraction = max_bad_fraction
        self.pin_memory = pin_memory
        self.indexes: dict[str, SegmentIndex] = {}
        self.datasets: dict[str, ClipDataset] = {}
        self.counters: dict[str, BadSampleCounter] = {}
        self._train_sampler: EpochSampler | None = None

    @property
    def classes(self) -> dict[str, list[str]]:
        """Class names per task head (from the training split)."""
        return self._index("train").classes

    @property
    def task_spec(self) -> dict[str, int]:
        """Number of classes per task head, e.g. {'verb': 97, 'noun': 300}."""
        return self._index("train").task_spec

    def _index(self, stage: str) -> SegmentIndex:
        if stage not in self.indexes:
            self.indexes[stage] = read_index(self.format, self.root, self.splits[stage], **self.reader_options)
        return self.indexes[stage]

    def dataset(self, stage: str) -> ClipDataset:
        """The ClipDataset of 'train' or 'val' (built once)."""
        if stage not in self.datasets:
            index = self._index(stage)
            train = stage == "train"
            self.datasets[stage] = ClipDataset(
                index,
                sampler=self.sampler,
                transform=self.transforms[stage],
                train=train,
                modalities=self.modalities,
                flow_sampler=self.flow_sampler,
                num_clips=1 if train else self.test_clips,
                seed=self.seed,
            )
            self.counters[stage] = BadSampleCounter(len(index), self.max_bad_fraction)
        return self.datasets[stage]

    def setup(self, stage: str | None = None) -> None:
        """Read the annotations of the splits this stage needs."""
        self.dataset("val")
        if stage in (None, "fit"):
            self.dataset("train")

    def _loader(self, stage: str, *, shuffle: bool) -> DataLoader[dict[str, Any]]:
        ds = self.dataset(stage)
        sampler = EpochSampler(len(ds), shuffle=shuffle, seed=self.seed)
        if stage == "train":
            self._train_sampler = sampler
        return DataLoader(
            ds,
            batch_size=self.batch_size,
            sampler=sampler,
            num_workers=self.num_workers,
            collate_fn=collate,
            pin_memory=self.pin_memory,
            persistent_workers=self.num_workers > 0,
            drop_last=False,
        )

    def train_dataloader(self) -> DataLoader[dict[str, Any]]:
        """Shuffled, augmented training clips."""
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader[dict[str, Any]]:
        """Validation clips in a fixed order (test transform, multi-view when asked)."""
        return self._loader("val", shuffle=False)

    def on_after_batch_transfer(self, batch: dict[str, Any], dataloader_idx: int) -> dict[str, Any]:
        """Count skipped samples in the main process (fails past the threshold)."""
        stage = "train" if self.trainer is not None and self.trainer.training else "val"
        if stage in self.counters:
            self.counters[stage].update(batch)
        return batch
