"""Gate-Shift-Fuse (GSF) networks: a TSN whose ResNet learns, per block, which features to shift in time and how.

Sudhakaran, Escalera and Lanz, "Gate-Shift-Fuse for Video Action Recognition", TPAMI 2023 (arXiv 2203.08897),
extending GSM (CVPR 2020); reference implementation swathikirans/GSF (gsf.py, backbones/resnetGSFModels.py).
Facts used: reference/models.md §5.

A GSF module acts on the first C' = round(ratio * C) channels (made even) of a (B*T, C, H, W) map, viewed as
X (B, C', T, H, W) and split into two groups X_1, X_2 of C'/2 channels:

1. gate: G = tanh(Conv3d_{3x3x3, C'->2, groups 2}(ReLU(BN3d(X)))), one (T, H, W) map per group, in (-1, 1);
2. Y_k = g_k * X_k (the raw X, not BN(X)) and R_k = X_k - Y_k;
3. Y_1 is shifted backward (Y_1'[t] = Y_1[t+1], zero at the last frame), Y_2 forward (Y_2'[t] = Y_2[t-1]);
4. fuse: per group the spatial means of Y_k' and R_k form a 2-channel (channel x time) image, Conv2d 3x3 (2->1)
   and a sigmoid give w_k (C'/2, T), and Z_k = w_k * Y_k' + (1 - w_k) * R_k;
5. inside each group the two halves are interleaved (new channel 2j <- j, 2j+1 <- ceil(C'/4) + j), the groups
   are concatenated and the C - C' bypass channels appended, so the next module gates a different mix.

One module sits in every residual block, inside the residual branch after its last conv and before its last
BatchNorm (conv3 -> GSF -> bn3 in a Bottleneck); 29 * C' + 40 parameters each, 0.44M in all for ResNet-50 at
ratio 1. The head is TSN's (dropout 0.5 -> linear heads -> mean of the frame logits).

Choices and adaptations:
- The module is attached as ``<block>.gsf`` and run by a forward pre-hook on the block's last BatchNorm, so every
  ResNet parameter keeps torchvision's name and ImageNet weights load; the GSF parameters are the only new ones.
  Their names inside the module (``bn``, ``conv3D``, ``channel_conv1``, ``channel_conv2``) follow the authors'
  so their checkpoints map onto this backbone by renaming the ``base_model.`` prefix.
- GSF parameters live under ``backbone.`` (they sit inside its blocks): they take the backbone's learning rate and
  are frozen with their stage by ``freeze_stages``. The authors train everything with one learning rate.
- ``pretrained``: ImageNet (local cache) or a torchvision-layout / TSN checkpoint leaves the GSF modules at their
  initialisation; a state dict that has GSF keys (a GSF backbone) must then match completely.
- T is read from the input at each forward (the authors fix ``num_segments``), as in :mod:`egoaction.models.tsm`.
- ``channel_ratio`` is a fraction (1.0 = the training scripts' 100 %). C' uses ``round`` as reference §5 states
  (the authors truncate; the two differ only when ratio * C is not an integer); an odd C' becomes even by +1, or by
  -1 if that would exceed C. When C'/2 is odd (never in a ResNet at ratio 1 or 0.25) the interleave leaves the
  extra channel of the first half last; the authors' reshape would fail there.
- Initialisation as in the authors' ResNet: the two fuse convs are Kaiming-normal (fan_out) like every Conv2d of
  their network; the gate conv and BN3d keep PyTorch's defaults.
- ``gsf_resnet18`` puts the module before bn2 of each BasicBlock (C = 64..512); the authors define GSF for
  Bottleneck ResNets only.
- ``input_spec``: 8 frames at 224x224. The paper's EPIC-KITCHENS experiments use 8 or 16 frames; 8 matches TSM.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn
from torchvision import models as tvm
from torchvision.models.resnet import Bottleneck

from egoaction.models._registry import register_model
from egoaction.models.backbones import imagenet_weights_path, load_backbone_weights, read_state_dict, resnet_backbone
from egoaction.models.base import InputSpec
from egoaction.models.tsm import SegmentConsensus, SegmentCount, residual_blocks

__all__ = ["GSF", "GateShiftFuse", "add_gate_shift_fuse", "gsf_channels", "interleave_halves", "shift_frames"]

_IMAGENET_URLS = {18: tvm.ResNet18_Weights.IMAGENET1K_V1.url, 50: tvm.ResNet50_Weights.IMAGENET1K_V1.url}


def gsf_channels(channels: int, ratio: float) -> int:
    """C', the number of channels a GSF module gates: round(ratio * C), made even (and at most C)."""
    if not 0.0 < ratio <= 1.0:
        raise ValueError(f"channel_ratio must be in (0, 1], got {ratio!r}")
    c = round(ratio * channels)
    if c % 2:
        c = c + 1 if c < channels else c - 1
    if c < 2:
        raise ValueError(f"channel_ratio {ratio} leaves fewer than 2 of {channels} channels for GSF")
    return c


def shift_frames(x: Tensor, offset: int, dim: int = 2) -> Tensor:
    """out[t] = x[t + offset] along the time axis ``dim``, zero where t + offset is outside the clip; same shape.

    offset +1: every frame takes the next frame's values (backward shift); -1: the previous frame's (forward).
    """
    out = torch.zeros_like(x)
    kept = x.shape[dim] - abs(offset)
    if kept > 0:
        out.narrow(dim, max(-offset, 0), kept).copy_(x.narrow(dim, max(offset, 0), kept))
    return out


def interleave_halves(x: Tensor) -> Tensor:
    """Channel re-ordering of one group: (B, G, ...) with new channel 2j <- j and 2j+1 <- ceil(G/2) + j.

    For odd G the middle channel (ceil(G/2) - 1) ends up last, where the rule puts it.
    """
    g = x.shape[1]
    half, first = g // 2, (g + 1) // 2
    pairs = torch.stack((x[:, :half], x[:, first:]), dim=2).flatten(1, 2)
    return torch.cat((pairs, x[:, half:first]), dim=1) if g % 2 else pairs


class GateShiftFuse(nn.Module):
    """GSF on the first C' channels of a frame batch: (B*T, C, H, W) and T -> (B*T, C, H, W).

    Adds 29 * C' + 40 parameters: BN3d 2C', gate conv 27C' + 2, two fuse convs 19 each.
    """

    def __init__(self, channels: int, channel_ratio: float = 1.0) -> None:
        super().__init__()
        self.channels = gsf_channels(channels, channel_ratio)
        self.bn = nn.BatchNorm3d(self.channels)
        # groups=2: gate plane k sees only channel group k and is shared by all of that group's channels
        self.conv3D = nn.Conv3d(self.channels, 2, kernel_size=3, padding=1, groups=2)
        self.channel_conv1 = nn.Conv2d(2, 1, kernel_size=3, padding=1)
        self.channel_conv2 = nn.Conv2d(2, 1, kernel_size=3, padding=1)
        for conv in (self.channel_conv1, self.channel_conv2):
            nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")

    def gates(self, clips: Tensor) -> Tensor:
        """Gate maps in (-1, 1): clips (B, C', T, H, W) -> (B, 2, T, H, W), plane k for channel group k."""
        return torch.tanh(self.conv3D(torch.relu(self.bn(clips))))

    def fuse_weights(self, group: int, shifted: Tensor, residual: Tensor) -> Tensor:
        """Weights of the shifted part in (0, 1): Y_k', R_k (B, C'/2, T, H, W) -> w_k (B, C'/2, T)."""
        conv = self.channel_conv1 if group == 0 else self.channel_conv2
        # a 2-channel image over the (channel, time) plane: the conv mixes neighbouring channels and frames
        summary = torch.stack((shifted.mean(dim=(3, 4)), residual.mean(dim=(3, 4))), dim=1)
        return torch.sigmoid(conv(summary))[:, 0]

    def gate_shift_fuse(self, clips: Tensor) -> Tensor:
        """Steps 1-5 on the gated channels: clips (B, C', T, H, W) -> Z re-ordered, (B, C', T, H, W)."""
        gate = self.gates(clips)
        fused = []
        # group 0 looks ahead (takes frame t+1), group 1 looks back (frame t-1)
        for group, (x, offset) in enumerate(zip(clips.chunk(2, dim=1), (1, -1))):
            gated = gate[:, group : group + 1] * x
            residual = x - gated
            shifted = shift_frames(gated, offset)
            w = self.fuse_weights(group, shifted, residual)[..., None, None]
            fused.append(interleave_halves(w * shifted + (1 - w) * residual))
        return torch.cat(fused, dim=1)

    def forward(self, x: Tensor, segments: int) -> Tensor:
        """(B*T, C, H, W) with clips of ``segments`` frames -> (B*T, C, H, W); the last C - C' channels bypass."""
        clips = x[:, : self.channels].unflatten(0, (-1, segments)).transpose(1, 2)
        out = self.gate_shift_fuse(clips).transpose(1, 2).flatten(0, 1)
        if self.channels < x.shape[1]:
            out = torch.cat((out, x[:, self.channels :]), dim=1)
        if not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
            out = out.contiguous(memory_format=torch.channels_last)
        return out

    def extra_repr(self) -> str:
        """Gated channels, shown in ``print(model)``."""
        return f"channels={self.channels}"


class _GSFHook:
    """Forward pre-hook on a block's last BatchNorm: runs the block's GSF module on the BatchNorm's input."""

    def __init__(self, module: GateShiftFuse, segments: SegmentCount) -> None:
        self.module = module
        self.segments = segments

    def __call__(self, bn: nn.Module, args: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        x = args[0]
        return (self.module(x, self.segments.of(x)), *args[1:])


def add_gate_shift_fuse(net: nn.Module, segments: SegmentCount, channel_ratio: float = 1.0) -> list[GateShiftFuse]:
    """Put a GSF module in every residual block of a torchvision ResNet (as ``block.gsf``, before its last BN)."""
    modules = []
    for block in residual_blocks(net):
        last_bn = block.bn3 if isinstance(block, Bottleneck) else block.bn2
        gsf = GateShiftFuse(last_bn.num_features, channel_ratio)
        block.add_module("gsf", gsf)
        last_bn.register_forward_pre_hook(_GSFHook(gsf, segments))
        modules.append(gsf)
    return modules


class GSF(SegmentConsensus):
    """TSN on a ResNet with a Gate-Shift-Fuse module in every residual block: rgb (B, T, 3, H, W) -> {task: (B, C)}."""

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
        channel_ratio: float = 1.0,
    ) -> None:
        if depth not in _IMAGENET_URLS:
            raise ValueError(f"GSF ResNet depth must be one of {sorted(_IMAGENET_URLS)}, got {depth!r}")
        backbone, dim = resnet_backbone(depth, drop_path=drop_path)
        segments = SegmentCount()
        state: dict[str, Tensor] = {}
        source: str | Path = ""
        if pretrained is not None:
            source = imagenet_weights_path(_IMAGENET_URLS[depth]) if pretrained == "imagenet" else pretrained
            state = read_state_dict(source)
        gsf_layout = any(".gsf." in key for key in state)
        # a plain ResNet / TSN state must fit the ResNet exactly, so it loads before the GSF modules exist
        if state and not gsf_layout:
            load_backbone_weights(backbone, state, source=source)
        add_gate_shift_fuse(backbone, segments, channel_ratio)
        if gsf_layout:
            load_backbone_weights(backbone, state, source=source)
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
        self.channel_ratio = channel_ratio

    def extra_repr(self) -> str:
        """Task spec and gated channel fraction, shown in ``print(model)``."""
        return f"{super().extra_repr()}, channel_ratio={self.channel_ratio}"


@register_model("gsf_resnet18")
def gsf_resnet18(
    task_spec: dict[str, int],
    *,
    pretrained: str | None = None,
    dropout: float = 0.5,
    drop_path: float = 0.0,
    consensus: str = "avg",
    num_frames: int = 8,
    channel_ratio: float = 1.0,
) -> GSF:
    """GSF on a ResNet-18 (GSF before bn2 of each BasicBlock; 512-d frame features)."""
    return GSF(
        task_spec,
        depth=18,
        pretrained=pretrained,
        dropout=dropout,
        drop_path=drop_path,
        consensus=consensus,
        num_frames=num_frames,
        channel_ratio=channel_ratio,
    )


@register_model("gsf_resnet50")
def gsf_resnet50(
    task_spec: dict[str, int],
    *,
    pretrained: str | None = None,
    dropout: float = 0.5,
    drop_path: float = 0.0,
    consensus: str = "avg",
    num_frames: int = 8,
    channel_ratio: float = 1.0,
) -> GSF:
    """GSF on a ResNet-50, one module per Bottleneck between conv3 and bn3 (2048-d frame features)."""
    return GSF(
        task_spec,
        depth=50,
        pretrained=pretrained,
        dropout=dropout,
        drop_path=drop_path,
        consensus=consensus,
        num_frames=num_frames,
        channel_ratio=channel_ratio,
    )
