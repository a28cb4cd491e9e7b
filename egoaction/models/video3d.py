"""Clip-level video backbones from torchvision: R(2+1)D, R3D, MC3, S3D, MViTv2-S and Video Swin-T.

Each model reads the clip as one tensor: rgb (B, T, 3, H, W) is transposed to (B, 3, T, H, W), the backbone
(torchvision's network with its classifier removed) maps it to one feature vector per clip, and dropout plus one
linear head per task classify it. Unlike the frame-level models, every one of them sees frame order.

- ``r3d_18``, ``mc3_18``, ``r2plus1d_18``: Tran et al., "A Closer Look at Spatiotemporal Convolutions for Action
  Recognition", CVPR 2018 (torchvision's video ResNets; 512-d features). R3D uses full 3x3x3 convolutions, MC3
  3D convolutions in the stem and layer1 only, R(2+1)D a 1x3x3 spatial then a 3x1x1 temporal convolution with
  BN-ReLU between them (reference/models.md §7.1).
- ``r2plus1d_34``: torchvision has no builder, so it is torchvision's ``VideoResNet`` with BasicBlocks,
  ``Conv2Plus1D`` in all four stages, [3, 4, 6, 3] blocks and the R(2+1)D stem (45 mid-channels). It keeps
  torchvision's midplane quirk: each BasicBlock computes its midplanes once from (inplanes, planes) and reuses
  them for conv2, so conv2 of the first block of layers 2-4 has 230 / 460 / 921 mid-channels where the paper's
  per-convolution formula gives 288 / 576 / 1152. The Caffe2 (VMZ / IG-65M) R(2+1)D-34 weights use the paper's
  numbers (pytorch/vision#1265, facebookresearch/VMZ#89), so they do not fit this layout: loading them raises a
  ValueError listing the wrong shapes. 61,626,461 backbone parameters.
- ``s3d``: Xie et al., "Rethinking Spatiotemporal Feature Learning", ECCV 2018 (1024-d). torchvision ends with a
  fixed AvgPool3d(2, 7, 7) that only fits 224-px clips; here it is adaptive average pooling over the whole
  (T', H', W') map, so any clip size works. At 16x224 the two are identical; on longer clips torchvision averages
  sliding 2-frame windows, which weights the inner frames slightly more than this plain mean. The last max pool
  (2x2x2, stride 2) gets ``ceil_mode=True`` so that clips of 4 frames or fewer (1 frame left at that point) still
  work; it only differs from torchvision where the size entering it is odd, never at 16x224 or 8x64. Its
  BatchNorm momentum is PyTorch's 0.1 (``bn_momentum``), not torchvision's 0.001 (see the factory).
- ``mvit_v2_s``: Li et al., "MViTv2", CVPR 2022 (768-d class token). Its relative position tables and the token
  grid it reshapes to are fixed by the input size, so the factory takes ``num_frames`` (even) and ``size``
  (a multiple of 4) and builds torchvision's ``MViT`` for exactly that clip; other clip shapes raise a ValueError.
  The block table (stage depths 1-2-11-2, widths 96-768, heads 1-8) is derived in :func:`mvit_v2_s_blocks` and
  matches torchvision's ``mvit_v2_s`` layer for layer at 16x224. Kinetics weights need that 16x224 build.
- ``swin3d_t``: Liu et al., "Video Swin Transformer", CVPR 2022 (768-d). Windows pad and shrink to the input,
  so any size works.

Stochastic depth (``drop_path``): for the video ResNets a forward hook on the last BatchNorm of each residual
branch drops it per sample, at a rate rising linearly from 0 at the first block to ``drop_path`` at the last, so
parameter names (and Kinetics weights) are unchanged. For MViT and Swin it is torchvision's own
``stochastic_depth_prob`` (also linear over the blocks). Every default is 0.0, like the rest of the zoo:
torchvision's recipe values, 0.2 for MViTv2-S and 0.1 for Swin-T, drop whole branches of a 2-clip batch often
enough that some parameters would get no gradient in a step; pass them explicitly to follow that recipe.
S3D has no residual blocks, hence no kwarg.

MViT reads out the class token only, so in its last block the patch-token queries are thrown away: that block's
query pooling conv and relative position tables cannot affect the output and are frozen (requires_grad False).

Consensus (video ResNets only): ``consensus="avg"`` is torchvision's, the mean of the last feature map over time
and space. ``consensus="trn"`` (not in the papers; as on TSM and GSF) averages over space only and reads the time
steps left after the network's temporal strides in order, with TRN's relation (``models/heads.py``), built for
``num_frames`` input frames: MC3 keeps all of them, R3D and R(2+1)D halve time in layers 2-4 (16 -> 2), so they
need at least 9 frames to leave two time steps.

Head dropout defaults follow each torchvision classifier: none for the video ResNets, 0.2 for S3D, 0.5 for MViT;
torchvision's Swin has none, so 0.5 from the Video Swin recipe. ``input_spec``: 16 frames at 112x112 for the
video ResNets (their Kinetics training clips), 16 at 224x224 for S3D, MViT and Swin.

Weights: ``pretrained=None`` (random), ``"kinetics"`` (torchvision's KINETICS400_V1 file from the local torch hub
cache; never downloaded) or a path to a state dict. The classifier (``fc`` / ``classifier`` / ``head``) is ignored.
``r3d_18`` and ``mc3_18`` also take 2D ResNet-18 weights (``"imagenet"`` from the cache, or a path to a 2D state
dict, e.g. a frame model's backbone) and inflate them as I3D does (Carreira & Zisserman 2017, MMAction2's
``pretrained2d``): every k x k kernel is repeated over the 3D kernel's t frames and divided by t, BatchNorm is
copied. The inflated network starts order-blind (each kernel is the same at every time offset); it is not the 2D
network exactly, since torchvision's video stem has no max pool and the temporal zero padding dims the first and
last frames. R(2+1)D factorises its kernels through a different width and cannot be inflated this way.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from itertools import pairwise
from pathlib import Path

import torch
from torch import Tensor, nn
from torchvision.models import ResNet18_Weights
from torchvision.models import video as tvv
from torchvision.models.video.mvit import MSBlockConfig
from torchvision.models.video.resnet import BasicBlock, Bottleneck, Conv2Plus1D, R2Plus1dStem, VideoResNet

from egoaction.models._registry import register_model
from egoaction.models.backbones import (
    DropPathHook,
    check_drop_path,
    imagenet_weights_path,
    load_backbone_weights,
    read_state_dict,
    strip_wrapper_prefixes,
)
from egoaction.models.base import InputSpec, VideoModel
from egoaction.models.heads import RelationConsensus, TaskHeads

__all__ = [
    "INFLATABLE",
    "Video3D",
    "add_video_resnet_drop_path",
    "inflate_resnet2d",
    "kinetics_weights_path",
    "load_video_state",
    "load_video_weights",
    "mvit_v2_s_blocks",
    "video_resnet_frames",
    "video_resnet_key",
    "video_stages",
]

KINETICS_URLS: dict[str, str] = {
    "r2plus1d_18": tvv.R2Plus1D_18_Weights.KINETICS400_V1.url,
    "r3d_18": tvv.R3D_18_Weights.KINETICS400_V1.url,
    "mc3_18": tvv.MC3_18_Weights.KINETICS400_V1.url,
    "s3d": tvv.S3D_Weights.KINETICS400_V1.url,
    "mvit_v2_s": tvv.MViT_V2_S_Weights.KINETICS400_V1.url,
    "swin3d_t": tvv.Swin3D_T_Weights.KINETICS400_V1.url,
}
_RESNET_BUILDERS: dict[str, Callable[[], VideoResNet]] = {
    "r2plus1d_18": tvv.r2plus1d_18,
    "r3d_18": tvv.r3d_18,
    "mc3_18": tvv.mc3_18,
    "r2plus1d_34": lambda: VideoResNet(BasicBlock, [Conv2Plus1D] * 4, [3, 4, 6, 3], R2Plus1dStem),
}
# video ResNets with ResNet-18's layout and kernels that are k x k in space: 2D ResNet-18 weights inflate into them
INFLATABLE = ("r3d_18", "mc3_18")
# MViTv2-S per stage: (blocks, channels, heads); key/value pooling stride 8, 4, 2, 1 spatially
_MVIT_V2_S_STAGES = ((1, 96, 1), (2, 192, 2), (11, 384, 4), (2, 768, 8))
_RESNET_CLIP = InputSpec(frames=16, size=(112, 112))
_LARGE_CLIP = InputSpec(frames=16, size=(224, 224))


class Video3D(VideoModel):
    """A clip backbone (B, 3, T, H, W) -> (B, D), then dropout and heads: rgb (B, T, 3, H, W) -> {task: (B, C)}.

    ``fixed_input``: the backbone only accepts clips of exactly ``input_spec`` (MViT); others raise ValueError.
    """

    input_spec = _RESNET_CLIP

    def __init__(
        self,
        task_spec: dict[str, int],
        backbone: nn.Module,
        dim: int,
        *,
        dropout: float,
        input_spec: InputSpec,
        fixed_input: bool = False,
        relation: RelationConsensus | None = None,
    ) -> None:
        super().__init__(task_spec, modalities=("rgb",))
        self.backbone = backbone
        self.relation = relation
        self.heads = TaskHeads(relation.out_dim if relation else dim, self.task_spec, dropout=dropout)
        self.input_spec = input_spec
        self.fixed_input = fixed_input

    def backbone_stages(self) -> list[nn.Module]:
        """The backbone's stages, stem first (see :func:`video_stages`)."""
        return video_stages(self.backbone)

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Logits per task, (B, C), from the clip feature of rgb (B, T, 3, H, W)."""
        rgb = self.read_input(batch, "rgb")
        if self.fixed_input:
            self._check_clip(rgb)
        if self.relation is not None:
            return self.heads(self.relation(video_resnet_frames(self.backbone, rgb.transpose(1, 2))))
        return self.heads(self.backbone(rgb.transpose(1, 2)))

    @property
    def consensus(self) -> str:
        """How the clip's time steps become one feature: "trn" when a relation reads them in order, else "avg"."""
        return "avg" if self.relation is None else "trn"

    def _check_clip(self, rgb: Tensor) -> None:
        """ValueError unless rgb (B, T, 3, H, W) has the T, H, W this model was built for."""
        spec = self.input_spec
        if rgb.shape[1] != spec.frames or tuple(rgb.shape[3:]) != spec.size:
            raise ValueError(
                f"{type(self.backbone).__name__} was built for {spec.frames}x{spec.size[0]}x{spec.size[1]} clips "
                f"(factory kwargs num_frames / size), got rgb of shape {tuple(rgb.shape)}"
            )


def video_stages(backbone: nn.Module) -> list[nn.Module]:
    """Disjoint stages of a torchvision video backbone, stem first, covering all its parameters.

    VideoResNet: stem, layer1-4. S3D: conv1-conv2 (up to the second pool), Mixed_3, Mixed_4, Mixed_5 (each with
    the pool before it). MViT: patch embedding + class token, then the blocks of each of the four resolutions
    (the last with the final norm). Swin: patch embedding, then each stage with the patch merging before it
    (the last with the final norm).
    """
    if isinstance(backbone, VideoResNet):
        return [backbone.stem, backbone.layer1, backbone.layer2, backbone.layer3, backbone.layer4]
    if isinstance(backbone, tvv.S3D):
        f = backbone.features
        return [f[:5], f[5:7], f[7:13], f[13:]]
    if isinstance(backbone, tvv.MViT):
        blocks = list(backbone.blocks)
        # a block that changes the width (its `project`) opens a new resolution stage
        starts = [0] + [i for i, b in enumerate(blocks) if getattr(b, "project", None) is not None] + [len(blocks)]
        groups = [nn.ModuleList(blocks[a:b]) for a, b in pairwise(starts)]
        groups[-1].append(backbone.norm)
        return [nn.ModuleList([backbone.conv_proj, backbone.pos_encoding]), *groups]
    if isinstance(backbone, tvv.SwinTransformer3d):
        f = backbone.features
        return [backbone.patch_embed, f[0], f[1:3], f[3:5], nn.ModuleList([*f[5:], backbone.norm])]
    raise NotImplementedError(f"no stage split known for a {type(backbone).__name__} backbone")


def add_video_resnet_drop_path(net: VideoResNet, rate: float) -> None:
    """Stochastic depth on every residual branch of a torchvision VideoResNet, linear from 0 to ``rate``.

    A forward hook on the branch's last BatchNorm (``conv2[1]`` of a BasicBlock, ``conv3[1]`` of a Bottleneck)
    zeroes the branch of random samples and rescales the rest by 1/(1-p); parameter names stay unchanged.
    """
    check_drop_path(rate)
    if rate == 0.0:
        return
    blocks = [m for m in net.modules() if isinstance(m, BasicBlock | Bottleneck)]
    for i, block in enumerate(blocks):
        branch_end = block.conv3 if isinstance(block, Bottleneck) else block.conv2
        branch_end[-1].register_forward_hook(DropPathHook(rate * i / max(len(blocks) - 1, 1)))


def kinetics_weights_path(url: str) -> Path:
    """The locally cached torchvision Kinetics-400 file for ``url``; FileNotFoundError naming where it belongs."""
    try:
        return imagenet_weights_path(url)
    except FileNotFoundError as err:
        raise FileNotFoundError(str(err).replace("ImageNet weights", "Kinetics-400 weights", 1)) from None


def load_video_weights(net: nn.Module, pretrained: str | None, *, url: str | None, classifier: str) -> None:
    """Load ``"kinetics"`` (cache only) or a state-dict path into ``net``, skipping keys under ``classifier``.

    None leaves ``net`` random. ``url`` None means torchvision publishes no weights for this network.
    """
    if pretrained is None:
        return
    if pretrained == "imagenet" or (pretrained == "kinetics" and url is None):
        choices = "None or a path to a state dict" if url is None else "'kinetics', None or a path to a state dict"
        raise ValueError(f"{type(net).__name__}: torchvision has no {pretrained} weights for it; pass {choices}")
    path = kinetics_weights_path(url) if pretrained == "kinetics" and url else Path(pretrained)
    load_video_state(net, strip_wrapper_prefixes(read_state_dict(path)), source=path, classifier=classifier)


def load_video_state(net: nn.Module, state: Mapping[str, Tensor], *, source: Path, classifier: str) -> None:
    """Load an already-read video state dict into ``net``, skipping keys under ``classifier``."""
    head = f"{classifier}."
    load_backbone_weights(net, {k: v for k, v in state.items() if not k.startswith(head)}, source=source)


def video_resnet_key(key: str) -> str:
    """A 2D torchvision ResNet parameter name as VideoResNet's: ``conv1`` -> ``stem.0``, ``layer1.0.bn2`` ->
    ``layer1.0.conv2.1`` (VideoResNet keeps each conv and its BatchNorm in one Sequential)."""
    key = re.sub(r"^conv1\.", "stem.0.", key)
    key = re.sub(r"^bn1\.", "stem.1.", key)
    return re.sub(r"^(layer\d\.\d+)\.(conv|bn)(\d)\.", lambda m: f"{m[1]}.conv{m[3]}.{int(m[2] == 'bn')}.", key)


def inflate_resnet2d(state: Mapping[str, Tensor], net: VideoResNet) -> dict[str, Tensor]:
    """A 2D ResNet state dict as ``net``'s: names mapped, each (O, I, k, k) kernel repeated over the target's t
    frames and divided by t -> (O, I, t, k, k); the classifier ``fc`` is dropped."""
    target = net.state_dict()
    out = {}
    for key, value in strip_wrapper_prefixes(state).items():
        if key.startswith("fc."):
            continue
        name = video_resnet_key(key)
        if value.ndim == 4 and name in target and target[name].ndim == 5:
            t = target[name].shape[2]
            value = value.unsqueeze(2).repeat(1, 1, t, 1, 1) / t
        out[name] = value
    return out


def _is_resnet2d(state: Mapping[str, Tensor]) -> bool:
    """Whether ``state`` holds a 2D torchvision ResNet (a 4-D ``conv1`` kernel) rather than a video network."""
    conv1 = state.get("conv1.weight")
    return conv1 is not None and conv1.ndim == 4


def _load_video_resnet_weights(net: VideoResNet, arch: str, pretrained: str | None) -> None:
    """``load_video_weights``, plus 2D ResNet-18 weights (``"imagenet"`` or a 2D file) inflated into R3D / MC3."""
    if arch not in INFLATABLE or pretrained is None or pretrained == "kinetics":
        load_video_weights(net, pretrained, url=KINETICS_URLS.get(arch), classifier="fc")
        return
    path = imagenet_weights_path(ResNet18_Weights.IMAGENET1K_V1.url) if pretrained == "imagenet" else Path(pretrained)
    state = strip_wrapper_prefixes(read_state_dict(path))  # read once: a 3D file loads as it is
    if pretrained == "imagenet" or _is_resnet2d(state):
        state = inflate_resnet2d(state, net)
    load_video_state(net, state, source=path, classifier="fc")


def mvit_v2_s_blocks() -> list[MSBlockConfig]:
    """The 16 block configs of MViTv2-S: 3x3x3 pooling kernels, query pooling 2x in space where a stage starts."""
    blocks, width = [], _MVIT_V2_S_STAGES[0][1]
    for stage, (depth, channels, heads) in enumerate(_MVIT_V2_S_STAGES):
        kv = max(8 >> stage, 1)
        for i in range(depth):
            q = 2 if i == 0 and stage > 0 else 1
            blocks.append(
                MSBlockConfig(
                    num_heads=heads,
                    input_channels=width,
                    output_channels=channels,
                    kernel_q=[3, 3, 3],
                    kernel_kv=[3, 3, 3],
                    stride_q=[1, q, q],
                    stride_kv=[1, kv, kv],
                )
            )
            width = channels
    return blocks


def video_resnet_frames(net: VideoResNet, clip: Tensor) -> Tensor:
    """clip (B, 3, T, H, W) -> (B, T', D): the last stage's features averaged over space, one per time step left."""
    x = net.layer4(net.layer3(net.layer2(net.layer1(net.stem(clip)))))
    return x.mean(dim=(3, 4)).transpose(1, 2)


@torch.no_grad()
def _time_steps_left(net: VideoResNet, frames: int) -> int:
    """How many time steps of a ``frames``-frame clip reach the end of ``net`` (its temporal strides applied)."""
    was_training = net.training
    net.eval()  # BatchNorm must not learn statistics from the probe
    steps = video_resnet_frames(net, torch.zeros(1, 3, frames, 16, 16)).shape[1]
    net.train(was_training)
    return steps


def _relation(net: VideoResNet, arch: str, consensus: str, frames: int, dropout: float) -> RelationConsensus | None:
    """TRN's relation over the time steps ``net`` leaves of ``frames`` frames, or None for the average."""
    if consensus not in ("avg", "trn"):
        raise ValueError(f"consensus must be 'avg' or 'trn', got {consensus!r}")
    if consensus == "avg":
        return None
    steps = _time_steps_left(net, frames)
    if steps < 2:
        raise ValueError(
            f"{arch} reduces num_frames={frames} to {steps} time step by its temporal strides, and the relation "
            "needs at least 2 to read order: use more frames (9 or more) or mc3_18, which keeps them all"
        )
    return RelationConsensus(512, steps, dropout=dropout)


def _video_resnet(
    task_spec: dict[str, int],
    arch: str,
    pretrained: str | None,
    dropout: float,
    drop_path: float,
    consensus: str = "avg",
    num_frames: int = 16,
) -> Video3D:
    """A torchvision video ResNet without its fc (512-d), weights loaded, drop path hooked, and its consensus."""
    net = _RESNET_BUILDERS[arch]()
    net.fc = nn.Identity()
    _load_video_resnet_weights(net, arch, pretrained)
    add_video_resnet_drop_path(net, drop_path)
    relation = _relation(net, arch, consensus, num_frames, dropout)
    spec = replace(_RESNET_CLIP, frames=num_frames) if relation else _RESNET_CLIP  # the relation fixes the length
    return Video3D(task_spec, net, 512, dropout=dropout, input_spec=spec, relation=relation)


@register_model("r2plus1d_18")
def r2plus1d_18(
    task_spec: dict[str, int],
    *,
    pretrained: str | None = None,
    dropout: float = 0.0,
    drop_path: float = 0.0,
    consensus: str = "avg",
    num_frames: int = 16,
) -> Video3D:
    """R(2+1)D-18, torchvision's layout (31.3M backbone parameters); 16x112x112 clips."""
    return _video_resnet(task_spec, "r2plus1d_18", pretrained, dropout, drop_path, consensus, num_frames)


@register_model("r2plus1d_34")
def r2plus1d_34(
    task_spec: dict[str, int],
    *,
    pretrained: str | None = None,
    dropout: float = 0.0,
    drop_path: float = 0.0,
    consensus: str = "avg",
    num_frames: int = 16,
) -> Video3D:
    """R(2+1)D-34 in torchvision's VideoResNet convention (no torchvision weights: None or a path)."""
    return _video_resnet(task_spec, "r2plus1d_34", pretrained, dropout, drop_path, consensus, num_frames)


@register_model("r3d_18")
def r3d_18(
    task_spec: dict[str, int],
    *,
    pretrained: str | None = None,
    dropout: float = 0.0,
    drop_path: float = 0.0,
    consensus: str = "avg",
    num_frames: int = 16,
) -> Video3D:
    """R3D-18: a ResNet-18 with 3x3x3 convolutions (33.2M backbone parameters); 2D ResNet-18 weights inflate."""
    return _video_resnet(task_spec, "r3d_18", pretrained, dropout, drop_path, consensus, num_frames)


@register_model("mc3_18")
def mc3_18(
    task_spec: dict[str, int],
    *,
    pretrained: str | None = None,
    dropout: float = 0.0,
    drop_path: float = 0.0,
    consensus: str = "avg",
    num_frames: int = 16,
) -> Video3D:
    """MC3-18: 3D convolutions in the stem and layer1, 2D (1x3x3) after (11.5M backbone parameters); 2D ResNet-18
    weights inflate."""
    return _video_resnet(task_spec, "mc3_18", pretrained, dropout, drop_path, consensus, num_frames)


@register_model("s3d")
def s3d(
    task_spec: dict[str, int], *, pretrained: str | None = None, dropout: float = 0.2, bn_momentum: float = 0.1
) -> Video3D:
    """S3D (separable Inception-3D, 1024-d) with adaptive final pooling, so any clip size works."""
    net = tvv.s3d()
    # torchvision keeps the TensorFlow port's BatchNorm momentum of 0.001, so the running statistics need thousands
    # of steps to leave their initial values: trained from scratch for 8 zoo epochs (~550 steps) S3D gave the same
    # prediction for every validation clip. PyTorch's default 0.1 lets them follow the data being trained on.
    for module in net.modules():
        if isinstance(module, nn.BatchNorm3d):
            module.momentum = bn_momentum
    net.avgpool = nn.AdaptiveAvgPool3d(1)
    net.classifier = nn.Identity()
    last_pool = max(i for i, m in enumerate(net.features) if isinstance(m, nn.MaxPool3d))
    net.features[last_pool] = nn.MaxPool3d(kernel_size=2, stride=2, ceil_mode=True)
    load_video_weights(net, pretrained, url=KINETICS_URLS["s3d"], classifier="classifier")
    return Video3D(task_spec, net, 1024, dropout=dropout, input_spec=_LARGE_CLIP)


@register_model("mvit_v2_s")
def mvit_v2_s(
    task_spec: dict[str, int],
    *,
    num_frames: int = 16,
    size: int | list[int] = 224,
    pretrained: str | None = None,
    dropout: float = 0.5,
    drop_path: float = 0.0,
) -> Video3D:
    """MViTv2-S built for num_frames x size clips (size S or [H, W]; 768-d class token); Kinetics needs 16x224."""
    height, width = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    if num_frames < 2 or num_frames % 2 or min(height, width) < 4 or height % 4 or width % 4:
        # the 3x7x7 patch embedding strides (2, 4, 4); the token grid must divide evenly
        raise ValueError(f"mvit_v2_s needs an even num_frames and sides divisible by 4, got {num_frames}, {size}")
    if pretrained == "kinetics" and (num_frames, height, width) != (16, 224, 224):
        raise ValueError(f"mvit_v2_s Kinetics weights fit 16x224x224 clips only, not {num_frames}x{height}x{width}")
    check_drop_path(drop_path)
    net = tvv.MViT(
        spatial_size=(height, width),
        temporal_size=num_frames,
        block_setting=mvit_v2_s_blocks(),
        residual_pool=True,
        residual_with_cls_embed=False,
        rel_pos_embed=True,
        proj_after_attn=True,
        stochastic_depth_prob=drop_path,
    )
    net.head = nn.Identity()
    # only the class token is read out, so the last block's patch queries are discarded: their query pooling
    # and relative positions can never change the output. Frozen rather than trained on zero gradients.
    last = f"blocks.{len(net.blocks) - 1}.attn."
    for name in ("rel_pos_h", "rel_pos_w", "rel_pos_t", "pool_q.pool.weight"):
        net.get_parameter(last + name).requires_grad_(False)
    load_video_weights(net, pretrained, url=KINETICS_URLS["mvit_v2_s"], classifier="head")
    clip = InputSpec(frames=num_frames, size=(height, width))
    return Video3D(task_spec, net, 768, dropout=dropout, input_spec=clip, fixed_input=True)


@register_model("swin3d_t")
def swin3d_t(
    task_spec: dict[str, int], *, pretrained: str | None = None, dropout: float = 0.5, drop_path: float = 0.0
) -> Video3D:
    """Video Swin-T: patches 2x4x4, windows 8x7x7, depths 2-2-6-2, 768-d features."""
    check_drop_path(drop_path)
    net = tvv.SwinTransformer3d(
        patch_size=[2, 4, 4],
        embed_dim=96,
        depths=[2, 2, 6, 2],
        num_heads=[3, 6, 12, 24],
        window_size=[8, 7, 7],
        stochastic_depth_prob=drop_path,
    )
    net.head = nn.Identity()
    load_video_weights(net, pretrained, url=KINETICS_URLS["swin3d_t"], classifier="head")
    return Video3D(task_spec, net, 768, dropout=dropout, input_spec=_LARGE_CLIP)
