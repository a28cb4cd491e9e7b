"""Early, late and slow fusion: the time-fusion families of Karpathy et al. 2014, on a modern 2D ResNet.

Karpathy, Toderici, Shetty, Leung, Sukthankar and Fei-Fei, "Large-scale Video Classification with Convolutional
Neural Networks", CVPR 2014 (Sports-1M); the lecture's (seed 002) single-frame / late / early / slow fusion
comparison. Facts used: reference/models.md §8. The single-frame model is ``single_frame`` in
:mod:`egoaction.models.tsn`.

The paper's tower is an AlexNet-like network on 170x170 frames. Here every family is built on a torchvision
ResNet (any ResNet of :data:`~egoaction.models.backbones.FRAME_BACKBONES`; other backbones raise ValueError) so
that ImageNet weights can initialise it, and ``input_spec`` is 224x224, the resolution those weights were
trained at. The ResNet's global average pool replaces the paper's FC(4096) stack: features are D = 512
(ResNet-18/34) or 2048 (ResNet-50/101) wide, then dropout and one linear head per task.

- **early_fusion**: the first convolution sees all T frames. The clip is stacked along channels in time order
  (input channel 3t + c is colour c of frame t), so ``conv1`` takes 3T channels (the paper's 11x11x3xT filter
  becomes the ResNet stem's 7x7x3T); everything after it is the unchanged 2D ResNet. T is fixed by construction
  (factory kwarg ``num_frames``, 10 as in the paper); another clip length raises ValueError.
- **late_fusion**: the first and the last frame of the clip go through one shared 2D tower up to global
  pooling (the paper: up to the last conv layer; pooling keeps the fusion layer at 2D inputs instead of
  2 x 6 x 6 x 256). The two features are concatenated in time order [first, last] and merged by a fully
  connected layer Linear(2D -> D) + ReLU, the paper's first FC layer, under ``self.fusion``; then the heads.
  The middle frames are never computed, so they cannot change the output. Any T >= 2 works. ``input_spec`` is
  16 frames so that, with dense stride-1 sampling (configs/lecture/late_fusion.yaml), the two frames are 15
  frames apart as in the paper.
- **slow_fusion**: temporal connectivity grows through the network. The paper uses valid 3D convolutions on 10
  frames: conv1 (temporal extent 4, stride 2) -> 4 steps, conv2 and conv3 (extent 2, stride 2) -> 2 -> 1. Here the
  ResNet stem conv becomes a 3D conv of temporal extent 4, stride 2, and the first conv of the first block of
  layer1, layer2 and layer3 a 3D conv of extent 2, stride 2 (in a Bottleneck that conv is 1x1, so its kernel is
  2x1x1). Choices:

  * "same" temporal padding (ceil(T / 2) outputs, the padding split evenly, any odd one at the end) instead of
    valid convolutions, so that any T >= 1 works and every frame reaches the output; valid convolutions would
    drop the last frames of e.g. an 8-frame clip. Time steps per stage: 10 frames -> 5, 3, 2, 1;
    8 -> 4, 2, 1, 1; 4 -> 2, 1, 1, 1 (see :func:`slow_fusion_time_steps`). Clips longer than 16 frames
    still have several steps after layer3; the final global pool averages over them with space.
  * The padding repeats the end frames (replicate) rather than adding zeros, so a static clip (all frames
    equal) stays static after padding and the inflated network reproduces the 2D network's features (up to
    float rounding).
  * A fused block's main branch halves time, so its shortcut must too: the shortcut takes the parameter-free
    mean of the same pair of time steps the inflated conv reads (identity on a static clip), before the
    block's own 1x1 downsample conv when it has one. The first block of layer1-3 is a :class:`FusedBlock` that
    keeps the 2D block's child names, reads the stage input as a clip (B, C, T, H, W) and returns the
    time-folded batch (B * T', C, H, W) the stage's other blocks expect.
  * layer4 and every other block stay 2D and run on the (B * T', C, H, W) batch of the remaining time steps;
    parameter names are the 2D ResNet's (``conv1.weight``, ``layer1.0.conv1.weight`` hold 5-D kernels).

Pretrained weights (``"imagenet"`` from the local torch hub cache, or a path to a 2D ResNet state dict) are
loaded into the 2D ResNet and then adapted by inflation: a 2D kernel is replicated over the T frames (early
fusion) or over the temporal extent (slow fusion) and divided by that count, so a static clip gives exactly the
2D network's response. Late fusion needs no adaptation. From scratch the new kernels are drawn with torchvision's
ResNet rule (Kaiming normal, fan_out) at their new shape rather than inflated: an inflated random kernel has
identical taps over time, which would start the model blind to frame order within each window.

The heads (and late fusion's FC layer) keep PyTorch's default init: they are new layers whatever the backbone.
``drop_path`` (stochastic depth) drops a residual branch per row of the batch the block sees: per clip in early
fusion, per frame in late fusion's tower, per (clip, time step) in slow fusion's blocks that still have time.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torchvision import models as tvm
from torchvision.models.resnet import BasicBlock, Bottleneck

from egoaction.models._registry import register_model
from egoaction.models.backbones import FRAME_BACKBONES, encode_frames, frame_backbone
from egoaction.models.base import InputSpec, VideoModel
from egoaction.models.heads import TaskHeads

__all__ = [
    "RESNET_ARCHS",
    "EarlyFusion",
    "FusedBlock",
    "LateFusion",
    "SlowFusion",
    "SlowFusionResNet",
    "inflate_over_frames",
    "inflate_over_time",
    "same_time_padding",
    "slow_fusion_time_steps",
]

RESNET_ARCHS = tuple(a for a in FRAME_BACKBONES if a.startswith("resnet"))
# slow fusion's temporal (extent, stride): the stem conv, then the first conv of each fused stage's first block
STEM_TIME = (4, 2)
STAGE_TIME = (2, 2)
FUSED_STAGES = ("layer1", "layer2", "layer3")
STAGES = ("layer1", "layer2", "layer3", "layer4")


def _resnet(arch: str, pretrained: str | None, drop_path: float) -> tuple[tvm.ResNet, int]:
    """The 2D ResNet ``arch`` with pretrained weights loaded and fc removed: (N, 3, H, W) -> (N, D), and D."""
    if arch not in RESNET_ARCHS:
        raise ValueError(
            f"fusion models are built on a 2D ResNet; arch must be one of {list(RESNET_ARCHS)}, got {arch!r}"
        )
    net, dim = frame_backbone(arch, pretrained=pretrained, drop_path=drop_path)
    assert isinstance(net, tvm.ResNet)
    return net, dim


def _resnet_init(weight: Tensor) -> None:
    """torchvision's ResNet conv init (Kaiming normal, fan_out, ReLU gain), in place, for a kernel of any rank."""
    nn.init.kaiming_normal_(weight, mode="fan_out", nonlinearity="relu")


def inflate_over_frames(weight: Tensor, frames: int) -> Tensor:
    """A 2D kernel (O, C, kh, kw) for frames stacked along channels: (O, C * frames, kh, kw), divided by frames."""
    return weight.repeat(1, frames, 1, 1) / frames


def inflate_over_time(weight: Tensor, extent: int) -> Tensor:
    """A 2D kernel (O, C, kh, kw) as a 3D one: (O, C, extent, kh, kw), each tap the 2D kernel / extent."""
    return weight.unsqueeze(2).repeat(1, 1, extent, 1, 1) / extent


def same_time_padding(x: Tensor, extent: int, stride: int) -> Tensor:
    """Pad time by repeating the end steps so a valid conv of (extent, stride) gives ceil(T / stride) steps.

    (B, C, T, H, W) -> (B, C, T + p, H, W); the padding p is split evenly, an odd step going at the end.
    """
    t = x.shape[2]
    steps = -(-t // stride)
    total = max((steps - 1) * stride + extent - t, 0)
    if total == 0:
        return x
    front = total // 2
    index = torch.arange(-front, t + total - front, device=x.device).clamp_(0, t - 1)
    return x.index_select(2, index)


def slow_fusion_time_steps(frames: int) -> list[int]:
    """Time steps slow fusion leaves after the stem, layer1, layer2 and layer3 for a clip of ``frames``."""
    steps = [-(-frames // STEM_TIME[1])]
    for _ in FUSED_STAGES:
        steps.append(-(-steps[-1] // STAGE_TIME[1]))
    return steps


def _fold(x: Tensor) -> Tensor:
    """Time into the batch: (B, C, T, H, W) -> (B * T, C, H, W), clip-major."""
    return x.transpose(1, 2).flatten(0, 1)


def _unfold(x: Tensor, clips: int) -> Tensor:
    """Time out of the batch: (B * T, C, H, W) -> (B, C, T, H, W)."""
    return x.unflatten(0, (clips, -1)).transpose(1, 2)


def _conv3d_from(conv: nn.Conv2d, extent: int, stride: int, *, inflate: bool) -> nn.Conv3d:
    """``conv`` with a temporal (extent, stride): its kernel inflated, or freshly initialised if not ``inflate``."""
    assert conv.bias is None and conv.groups == 1, "torchvision ResNet convs have no bias and no groups"
    kh, kw = conv.kernel_size
    sh, sw = conv.stride
    assert not isinstance(conv.padding, str), "a ResNet conv's padding is a pair of ints"
    ph, pw = conv.padding
    new = nn.Conv3d(
        conv.in_channels, conv.out_channels, (extent, kh, kw), stride=(stride, sh, sw), padding=(0, ph, pw), bias=False
    )
    with torch.no_grad():
        if inflate:
            new.weight.copy_(inflate_over_time(conv.weight, extent))
        else:
            _resnet_init(new.weight)
    return new


def _early_conv1(conv: nn.Conv2d, frames: int, *, inflate: bool) -> nn.Conv2d:
    """The stem conv for ``frames`` stacked RGB frames: 3 * frames input channels."""
    new = nn.Conv2d(
        conv.in_channels * frames,
        conv.out_channels,
        conv.kernel_size,  # type: ignore[arg-type]
        stride=conv.stride,  # type: ignore[arg-type]
        padding=conv.padding,  # type: ignore[arg-type]
        bias=False,
    )
    with torch.no_grad():
        if inflate:
            new.weight.copy_(inflate_over_frames(conv.weight, frames))
        else:
            _resnet_init(new.weight)
    return new


class EarlyFusion(VideoModel):
    """2D ResNet whose stem conv sees all T frames stacked along channels: rgb (B, T, 3, H, W) -> {task: (B, C)}."""

    input_spec = InputSpec(frames=10, size=(224, 224))

    def __init__(
        self,
        task_spec: dict[str, int],
        *,
        arch: str = "resnet18",
        num_frames: int = 10,
        pretrained: str | None = None,
        dropout: float = 0.5,
        drop_path: float = 0.0,
    ) -> None:
        super().__init__(task_spec, modalities=("rgb",))
        if num_frames < 1:
            raise ValueError(f"early_fusion needs num_frames >= 1, got {num_frames}")
        net, dim = _resnet(arch, pretrained, drop_path)
        net.conv1 = _early_conv1(net.conv1, num_frames, inflate=pretrained is not None)
        self.backbone = net
        self.num_frames = num_frames
        if num_frames != self.input_spec.frames:
            self.input_spec = InputSpec(frames=num_frames, size=self.input_spec.size)
        self.heads = TaskHeads(dim, self.task_spec, dropout=dropout)

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Logits per task (B, C) from the (B, 3T, H, W) stack of the clip's frames in time order."""
        rgb = self.read_input(batch, "rgb")
        if rgb.shape[1] != self.num_frames:
            raise ValueError(
                f"early_fusion was built for clips of num_frames={self.num_frames} frames (its first conv takes "
                f"{3 * self.num_frames} channels) but got a clip of {rgb.shape[1]} frames; sample "
                f"{self.num_frames} frames or build the model with num_frames={rgb.shape[1]}"
            )
        return self.heads(self.backbone(rgb.flatten(1, 2)))

    def extra_repr(self) -> str:
        """Task spec and clip length, shown in ``print(model)``."""
        return f"{super().extra_repr()}, num_frames={self.num_frames}"


class LateFusion(VideoModel):
    """First and last frame through one 2D tower, concatenated, FC + ReLU, heads: rgb (B, T, 3, H, W) -> (B, C)."""

    input_spec = InputSpec(frames=16, size=(224, 224))

    def __init__(
        self,
        task_spec: dict[str, int],
        *,
        arch: str = "resnet18",
        pretrained: str | None = None,
        dropout: float = 0.5,
        drop_path: float = 0.0,
    ) -> None:
        super().__init__(task_spec, modalities=("rgb",))
        self.backbone, dim = _resnet(arch, pretrained, drop_path)
        self.fusion = nn.Sequential(nn.Linear(2 * dim, dim), nn.ReLU())
        self.heads = TaskHeads(dim, self.task_spec, dropout=dropout)

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Logits per task (B, C) from the fused [first, last] frame features (B, 2D) -> (B, D)."""
        rgb = self.read_input(batch, "rgb")
        if rgb.shape[1] < 2:
            raise ValueError(f"late_fusion merges the first and the last frame and needs T >= 2, got T={rgb.shape[1]}")
        pair = torch.stack((rgb[:, 0], rgb[:, -1]), dim=1)  # (B, 2, 3, H, W), time order kept
        return self.heads(self.fusion(encode_frames(self.backbone, pair).flatten(1)))


class FusedBlock(nn.Module):
    """A residual block whose conv1 merges pairs of time steps: (B, C, T, H, W) -> (B * ceil(T / 2), C', H', W').

    Takes over the children of a torchvision BasicBlock / Bottleneck under their names, conv1 inflated to a 3D conv
    of temporal (extent, stride) = (2, 2). It reads the stage input as a clip and returns the time-folded batch
    that the stage's remaining 2D blocks expect.
    """

    def __init__(self, block: BasicBlock | Bottleneck, *, inflate: bool) -> None:
        super().__init__()
        self.conv1 = _conv3d_from(block.conv1, *STAGE_TIME, inflate=inflate)
        self.bn1, self.relu, self.conv2, self.bn2 = block.bn1, block.relu, block.conv2, block.bn2
        # a Bottleneck's third conv; None for a BasicBlock (torchvision's blocks have no such children)
        self.conv3: nn.Module | None = block.conv3 if isinstance(block, Bottleneck) else None
        self.bn3: nn.Module | None = block.bn3 if isinstance(block, Bottleneck) else None
        self.downsample: nn.Module | None = block.downsample

    def forward(self, clip: Tensor) -> Tensor:
        """(B, C, T, H, W) -> (B * T', C', H', W') with T' = ceil(T / 2), clip-major."""
        extent, stride = STAGE_TIME
        out = self.relu(self.bn1(_fold(self.conv1(same_time_padding(clip, extent, stride)))))
        out = self.bn2(self.conv2(out))
        if self.conv3 is not None and self.bn3 is not None:
            out = self.bn3(self.conv3(self.relu(out)))
        # the shortcut averages the same pair of time steps that conv1 reads: shapes match, statics pass through
        paired = same_time_padding(clip, stride, stride)
        shortcut = _fold(paired.unflatten(2, (-1, stride)).mean(dim=3))
        if self.downsample is not None:
            shortcut = self.downsample(shortcut)
        return self.relu(out + shortcut)


class SlowFusionResNet(nn.Module):
    """A 2D ResNet whose stem and layer1-3 first convs are strided 3D convs: (B, 3, T, H, W) -> (B, D).

    Children and parameter names are the 2D ResNet's (``conv1``, ``bn1``, ``layer1`` ... ``layer4``). layer1-3
    take the clip (B, C, T, H, W) and return the time-folded batch (B * T', C', H', W'); layer4 is plain 2D.
    """

    def __init__(self, net: tvm.ResNet, *, inflate: bool) -> None:
        super().__init__()
        self.conv1 = _conv3d_from(net.conv1, *STEM_TIME, inflate=inflate)
        self.bn1, self.relu, self.maxpool = net.bn1, net.relu, net.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = net.layer1, net.layer2, net.layer3, net.layer4
        for name in FUSED_STAGES:
            stage = getattr(self, name)
            stage[0] = FusedBlock(stage[0], inflate=inflate)

    def stages(self) -> list[nn.Module]:
        """[stem (conv1 + bn1), layer1, layer2, layer3, layer4], disjoint."""
        return [nn.ModuleList([self.conv1, self.bn1]), self.layer1, self.layer2, self.layer3, self.layer4]

    def forward(self, x: Tensor) -> Tensor:
        """Clip features: (B, 3, T, H, W) -> (B, D), the mean over the remaining time steps and space."""
        clips = x.shape[0]
        x = self.conv1(same_time_padding(x, *STEM_TIME))
        x = self.maxpool(self.relu(self.bn1(_fold(x))))
        for name in STAGES:
            x = getattr(self, name)(_unfold(x, clips) if name in FUSED_STAGES else x)
        return _unfold(x, clips).mean(dim=(2, 3, 4))


class SlowFusion(VideoModel):
    """Slow fusion on an inflated 2D ResNet: rgb (B, T, 3, H, W) -> {task: (B, C)}; any T >= 1."""

    backbone: SlowFusionResNet
    input_spec = InputSpec(frames=10, size=(224, 224))

    def __init__(
        self,
        task_spec: dict[str, int],
        *,
        arch: str = "resnet18",
        pretrained: str | None = None,
        dropout: float = 0.5,
        drop_path: float = 0.0,
    ) -> None:
        super().__init__(task_spec, modalities=("rgb",))
        net, dim = _resnet(arch, pretrained, drop_path)
        self.backbone = SlowFusionResNet(net, inflate=pretrained is not None)
        self.heads = TaskHeads(dim, self.task_spec, dropout=dropout)

    def backbone_stages(self) -> list[nn.Module]:
        """[stem, layer1, layer2, layer3, layer4] of the inflated ResNet."""
        return self.backbone.stages()

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Logits per task (B, C) from the clip feature (B, D)."""
        return self.heads(self.backbone(self.read_input(batch, "rgb").transpose(1, 2)))


@register_model("early_fusion")
def early_fusion(
    task_spec: dict[str, int],
    *,
    arch: str = "resnet18",
    num_frames: int = 10,
    pretrained: str | None = None,
    dropout: float = 0.5,
    drop_path: float = 0.0,
) -> EarlyFusion:
    """Early fusion: a 2D ResNet whose first conv takes the ``num_frames`` frames stacked along channels."""
    return EarlyFusion(
        task_spec, arch=arch, num_frames=num_frames, pretrained=pretrained, dropout=dropout, drop_path=drop_path
    )


@register_model("late_fusion")
def late_fusion(
    task_spec: dict[str, int],
    *,
    arch: str = "resnet18",
    pretrained: str | None = None,
    dropout: float = 0.5,
    drop_path: float = 0.0,
) -> LateFusion:
    """Late fusion: first and last frame through a shared 2D ResNet, merged by an FC layer."""
    return LateFusion(task_spec, arch=arch, pretrained=pretrained, dropout=dropout, drop_path=drop_path)


@register_model("slow_fusion")
def slow_fusion(
    task_spec: dict[str, int],
    *,
    arch: str = "resnet18",
    pretrained: str | None = None,
    dropout: float = 0.5,
    drop_path: float = 0.0,
) -> SlowFusion:
    """Slow fusion: a 2D ResNet with strided 3D convs in the stem and layer1-3 that merge time step by step."""
    return SlowFusion(task_spec, arch=arch, pretrained=pretrained, dropout=dropout, drop_path=drop_path)
