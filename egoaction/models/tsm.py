"""Temporal Shift Module (TSM): a TSN whose ResNet exchanges channels between neighbouring frames, at zero cost.

Lin, Gan and Han, "TSM: Temporal Shift Module for Efficient Video Understanding", ICCV 2019 (arXiv 1811.08383);
reference implementation mit-han-lab/temporal-shift-module (ops/temporal_shift.py, ops/models.py). Facts used:
reference/models.md §4.

The backbone sees the (B*T, C, H, W) batch of all frames. In every residual block 1/8 of the channels take the
next frame's values and 1/8 the previous frame's (zero padded at the clip ends, not circular), the rest stay.
"blockres" (the default, and the paper's best) shifts only the residual branch's input, so the identity
shortcut keeps the unshifted frame features learned in ImageNet pretraining; "block" shifts the whole block
input, shortcut included. The head is TSN's: frame features -> dropout -> linear heads -> mean of the frame logits.

Choices and adaptations:
- The shift is a forward pre-hook (on each block's conv1 for "blockres", on the block for "block"), so every
  parameter keeps torchvision's name: ImageNet weights and TSN checkpoints load as they are, and TSM-ResNet-50 has
  exactly TSN-ResNet-50's parameters. The authors instead wrap conv1, which renames it (``conv1.net.weight``).
- T is read from the input at each forward (the authors fix ``n_segment`` at construction): the model puts it in
  a :class:`SegmentCount` that the hooks read, so one model runs 8-frame training clips and 16-frame test clips.
  Calling ``model.backbone`` directly therefore needs ``with model.segments.use(T):`` around it.
- Dropout 0.5 as in the authors' Kinetics 8-frame script (their constructor default is 0.8). The heads get TSN's
  N(0, 0.001) init over pretrained weights and PyTorch's default from scratch, as in :mod:`egoaction.models.tsn`.
- Not implemented: the temporal max-pool after layer1 (an option that halves T, off in the released models),
  the online (uni-directional) variant, and ResNet-101's "shift every other block" rule (no ResNet-101 here).
- ``input_spec``: the authors' 8-frame 224x224 Kinetics / Something-Something setting.
- ``consensus="trn"`` (not in the paper): TRN's relation over the frame features in time order replaces the
  average, so the head itself reads order (:mod:`egoaction.models.trn`); it fixes the clip length at
  ``num_frames``, which the average does not use. The zoo's reversal-pair measurement is why it is here
  (docs/models.md, "Comparison").
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

import torch
from torch import Tensor, nn
from torchvision.models.resnet import BasicBlock, Bottleneck

from egoaction.models._registry import register_model
from egoaction.models.backbones import encode_frames, resnet_backbone
from egoaction.models.base import InputSpec, VideoModel
from egoaction.models.heads import RelationConsensus, TaskHeads

__all__ = [
    "CONSENSUS",
    "PLACEMENTS",
    "TSM",
    "SegmentConsensus",
    "SegmentCount",
    "add_temporal_shift",
    "residual_blocks",
    "temporal_shift",
]

PLACEMENTS = ("blockres", "block")
CONSENSUS = ("avg", "trn")


def temporal_shift(x: Tensor, segments: int, fold_div: int = 8) -> Tensor:
    """Bi-directional zero-padded shift of ``C // fold_div`` channels each way: (N*T, C, H, W) -> same shape.

    With ``fold = C // fold_div`` and t the frame index within each clip of ``segments`` frames:
    channels [0, fold) take frame t+1 (zero at the last frame), channels [fold, 2*fold) take frame t-1 (zero at
    the first frame), the other channels are unchanged. Keeps the input's dtype and memory format.
    """
    if x.ndim != 4 or segments < 1 or x.shape[0] % segments:
        raise ValueError(f"temporal_shift needs (N*T, C, H, W) with N*T divisible by T={segments}, got {x.shape}")
    if fold_div < 2:
        raise ValueError(f"fold_div must be >= 2 (1/fold_div of the channels moves each way), got {fold_div}")
    fold = x.shape[1] // fold_div
    clips = x.unflatten(0, (-1, segments))  # (N, T, C, H, W), a view whatever the memory format
    # zeros_like keeps the strides of a dense input, so a channels_last batch stays channels_last
    out = torch.zeros_like(clips)
    out[:, :-1, :fold] = clips[:, 1:, :fold]  # from the future; the last frame gets zeros
    out[:, 1:, fold : 2 * fold] = clips[:, :-1, fold : 2 * fold]  # from the past; the first frame gets zeros
    out[:, :, 2 * fold :] = clips[:, :, 2 * fold :]
    return out.flatten(0, 1)


class SegmentCount:
    """Frames per clip (T) of the (B*T, C, H, W) batch the backbone is running; the model sets it around forward.

    Not a module: it adds nothing to the state dict. Hooks call :meth:`of` to learn T.
    """

    def __init__(self) -> None:
        self.value: int | None = None

    @contextmanager
    def use(self, segments: int) -> Iterator[None]:
        """Within the block, the backbone's batches hold clips of ``segments`` frames."""
        previous, self.value = self.value, segments
        try:
            yield
        finally:
            self.value = previous

    def of(self, x: Tensor) -> int:
        """T for ``x`` (N*T, ...); RuntimeError outside :meth:`use`, ValueError if N*T is not a multiple of T."""
        if self.value is None:
            raise RuntimeError(
                "this backbone mixes frames of a clip and must know T: call the model, or run the backbone inside "
                "`with model.segments.use(T):`"
            )
        if x.shape[0] % self.value:
            raise ValueError(f"batch of {x.shape[0]} frames is not a whole number of clips of T={self.value}")
        return self.value


class _ShiftHook:
    """Forward pre-hook replacing a module's input (N*T, C, H, W) by its temporal shift."""

    def __init__(self, segments: SegmentCount, fold_div: int) -> None:
        self.segments = segments
        self.fold_div = fold_div

    def __call__(self, module: nn.Module, args: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        x = args[0]
        return (temporal_shift(x, self.segments.of(x), self.fold_div), *args[1:])


def residual_blocks(net: nn.Module) -> list[BasicBlock | Bottleneck]:
    """The residual blocks of a torchvision ResNet, input to output; ValueError if it has none."""
    blocks = [m for m in net.modules() if isinstance(m, BasicBlock | Bottleneck)]
    if not blocks:
        raise ValueError(f"expected a torchvision ResNet with BasicBlock/Bottleneck blocks, got {type(net).__name__}")
    return blocks


def add_temporal_shift(
    net: nn.Module, segments: SegmentCount, *, fold_div: int = 8, placement: str = "blockres"
) -> None:
    """Shift frames in every residual block of a torchvision ResNet; adds no parameters, renames nothing.

    "blockres": the residual branch's input (before conv1) is shifted, the shortcut is not; "block": the block's
    input, shortcut included.
    """
    if placement not in PLACEMENTS:
        raise ValueError(f"placement must be one of {PLACEMENTS}, got {placement!r}")
    if fold_div < 2:
        raise ValueError(f"shift_div must be >= 2, got {fold_div}")
    hook = _ShiftHook(segments, fold_div)
    for block in residual_blocks(net):
        # the downsample shortcut reads the block's own input, so hooking conv1 leaves the whole shortcut unshifted
        (block.conv1 if placement == "blockres" else block).register_forward_pre_hook(hook)


class SegmentConsensus(VideoModel):
    """A head over a backbone that mixes the T frames of a clip: rgb (B, T, 3, H, W) -> {task: (B, C)}.

    The backbone maps (B*T, 3, H, W) -> (B*T, D) and reads T from ``segments``. ``consensus`` "avg" (TSN's, the
    TSM and GSF papers'): linear heads on every frame, logits averaged over frames. "trn": TRN's relation over
    the ``num_frames`` frame features in order (:class:`~egoaction.models.heads.RelationConsensus`), then the heads.
    """

    def __init__(
        self,
        task_spec: dict[str, int],
        *,
        backbone: nn.Module,
        dim: int,
        segments: SegmentCount,
        dropout: float,
        pretrained: bool,
        consensus: str = "avg",
        num_frames: int = 8,
    ) -> None:
        if consensus not in CONSENSUS:
            raise ValueError(f"consensus must be one of {CONSENSUS}, got {consensus!r}")
        super().__init__(task_spec, modalities=("rgb",))
        self.backbone = backbone
        self.segments = segments
        self.relation = RelationConsensus(dim, num_frames, dropout=dropout) if consensus == "trn" else None
        if self.relation is not None:
            self.input_spec = replace(self.input_spec, frames=num_frames)  # the only clip length it accepts
            # heads over a new relation layer: PyTorch's default init, dropout already applied to the frames
            self.heads = TaskHeads(self.relation.out_dim, self.task_spec)
        else:
            # TSN's small head init suits pretrained features; from scratch it starves the backbone (see tsn.py)
            self.heads = TaskHeads(dim, self.task_spec, dropout=dropout, init_std=0.001 if pretrained else None)

    def frame_features(self, rgb: Tensor) -> Tensor:
        """Backbone features of every frame, frames mixed by the backbone: rgb (B, T, 3, H, W) -> (B, T, D)."""
        with self.segments.use(rgb.shape[1]):
            return encode_frames(self.backbone, rgb)

    def frame_logits(self, rgb: Tensor) -> dict[str, Tensor]:
        """Logits of every frame (average consensus only): rgb (B, T, 3, H, W) -> {task: (B, T, C)}."""
        if self.relation is not None:
            raise ValueError("a model with consensus='trn' classifies the clip, not each frame")
        return self.heads(self.frame_features(rgb))

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """The consensus of the clip's frames: {task: (B, C)}."""
        features = self.frame_features(self.read_input(batch, "rgb"))
        if self.relation is not None:
            return self.heads(self.relation(features))
        return {task: logits.mean(dim=1) for task, logits in self.heads(features).items()}

    @property
    def consensus(self) -> str:
        """Which consensus the model uses: "trn" when a relation reads the frames in order, else "avg"."""
        return "avg" if self.relation is None else "trn"

    def extra_repr(self) -> str:
        """Task spec and consensus, shown in ``print(model)``."""
        return f"{super().extra_repr()}, consensus={self.consensus!r}"


class TSM(SegmentConsensus):
    """TSN on a ResNet with temporal shift in every residual block: rgb (B, T, 3, H, W) -> {task: (B, C)}."""

    input_spec = InputSpec(frames=8, size=(224, 224))

    def __init__(
        self,
        task_spec: dict[str, int],
        *,
        depth: int = 50,
        pretrained: str | None = None,
        dropout: float = 0.5,
        drop_path: float = 0.0,
        consensus: str = "avg",
        num_frames: int = 8,
        shift_div: int = 8,
        placement: str = "blockres",
    ) -> None:
        backbone, dim = resnet_backbone(depth, pretrained=pretrained, drop_path=drop_path)
        segments = SegmentCount()
        add_temporal_shift(backbone, segments, fold_div=shift_div, placement=placement)
        super().__init__(
            task_spec,
            backbone=backbone,
            dim=dim,
            segments=segments,
            dropout=dropout,
            pretrained=pretrained is not None,
            consensus=consensus,
            num_frames=num_frames,
        )
        self.shift_div = shift_div
        self.placement = placement

    def extra_repr(self) -> str:
        """Task spec, shift fraction and placement, shown in ``print(model)``."""
        return f"{super().extra_repr()}, shift_div={self.shift_div}, placement={self.placement!r}"


@register_model("tsm_resnet18")
def tsm_resnet18(
    task_spec: dict[str, int],
    *,
    pretrained: str | None = None,
    dropout: float = 0.5,
    drop_path: float = 0.0,
    consensus: str = "avg",
    num_frames: int = 8,
    shift_div: int = 8,
    placement: str = "blockres",
) -> TSM:
    """TSM on a ResNet-18 (512-d frame features); ``placement`` "blockres" or "block"; ``consensus`` "avg" or "trn"."""
    return TSM(
        task_spec,
        depth=18,
        pretrained=pretrained,
        dropout=dropout,
        drop_path=drop_path,
        consensus=consensus,
        num_frames=num_frames,
        shift_div=shift_div,
        placement=placement,
    )


@register_model("tsm_resnet50")
def tsm_resnet50(
    task_spec: dict[str, int],
    *,
    pretrained: str | None = None,
    dropout: float = 0.5,
    drop_path: float = 0.0,
    consensus: str = "avg",
    num_frames: int = 8,
    shift_div: int = 8,
    placement: str = "blockres",
) -> TSM:
    """TSM on a ResNet-50 (2048-d frame features), the paper's main model; same parameters as TSN-ResNet-50."""
    return TSM(
        task_spec,
        depth=50,
        pretrained=pretrained,
        dropout=dropout,
        drop_path=drop_path,
        consensus=consensus,
        num_frames=num_frames,
        shift_div=shift_div,
        placement=placement,
    )
