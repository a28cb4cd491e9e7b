"""Ego-RNN's optical-flow stream (stacked-flow ResNet-34) and its two-stream joint model.

Source: Sudhakaran & Lanz, BMVC 2018, code swathikirans/ego-rnn @ 5467276 (flow_resnet.py, twoStreamModel.py,
main-run-flow.py, main-run-twoStream.py); reference/models.md §1.5-1.6.

- **flow_resnet34**: a ResNet-34 whose conv1 takes 2L = 10 channels, L = ``stack_len`` consecutive flow frames
  with x and y interleaved (x1, y1, ..., x5, y5; the data side builds and normalises them). It reads
  ``batch["flow"]`` (B, T', 2L, H, W), T' stacks per clip; every stack runs through the ResNet -> AvgPool ->
  dropout 0.5 -> heads, and the per-stack logits are averaged (TSN consensus; the reference trains on one random
  stack, T' = 1, and tests on 5 spread stacks). With pretrained weights conv1 is the cross-modality init
  (:func:`cross_modality_conv1`: the ImageNet RGB kernel averaged over colour, replicated 2L times, not rescaled)
  and the ImageNet fc is dropped; from scratch conv1 gets torchvision's ResNet init at its new shape. A state-dict
  file whose conv1 already has 2L channels loads as it is. 21,337,917 parameters with 61 classes.
- **two_stream_egornn**: an Ego-RNN RGB stream and a flow stream; clip feature = concat(flow feature, RGB feature),
  flow first: the flow stream's 512-d pooled layer4 output (averaged over the T' stacks) and the RGB stream's
  pooled c_T -> dropout 0.5 -> new heads; the single-stream heads are not part of the model. Output
  ``{task: (B, C), "attention": (B, T, h, w)}``.

  Layout: the zoo contract keeps every backbone parameter under ``backbone.``, so the two ResNets are
  ``backbone.flow.*`` and ``backbone.rgb.*`` (the RGB one with its CAM fc); the RGB ConvLSTM is ``convlstm.*``
  and the heads ``heads.*``. ``backbone_stages()`` pairs the streams' stages (stem, layer1..layer4 of both).
  Trainable (reference main-run-twoStream.py lines 74-119): ``heads.*``; ``convlstm.*``;
  ``backbone.rgb.layer4.{0,1,2}.conv{1,2}.weight`` and ``backbone.rgb.fc.weight`` (Ego-RNN stage 2; the fc bias
  never gets a gradient, see :mod:`egoaction.models.egornn`); the whole ``backbone.flow.layer4.*`` (BatchNorm
  included). The reference gives the flow layer4 its own SGD group at lr 1e-4 against 1e-2 for the rest: with
  ``optim.lr: 0.01`` set ``optim.lr_factors: {"backbone.flow.layer4.": 0.01}``. The reference also keeps the flow
  layer4 in train mode (its BatchNorm statistics adapt) and everything else in eval: ``trainer.batchnorm: train``
  does that, since every other BatchNorm has frozen parameters and the engine holds those in eval.

  ``rgb_checkpoint`` / ``flow_checkpoint``: egoaction checkpoints (a ``.ckpt`` file or a run directory) of
  ``egornn_resnet34`` / ``egornn_ms`` and of ``flow_resnet34``. Their ``backbone.*`` (and the RGB ``convlstm.*``)
  weights are loaded under ``backbone.rgb.*`` / ``backbone.flow.*``; heads and auxiliary heads are dropped. Every
  stream weight must be present with the right shape, or ValueError names the missing ones. They are read when the
  model is built, after ``pretrained`` (which they override).
"""

from __future__ import annotations

import typing
from pathlib import Path

import torch
from torch import Tensor, nn
from torchvision import models as tvm

from egoaction.models._registry import register_model
from egoaction.models.backbones import (
    encode_frames,
    imagenet_weights_path,
    load_backbone_weights,
    read_state_dict,
    split_stages,
    strip_wrapper_prefixes,
)
from egoaction.models.base import InputSpec, VideoModel
from egoaction.models.convlstm import ConvLSTMCell
from egoaction.models.egornn import FEATURES, attend_frames, cam_resnet34, convlstm_memory, set_egornn_trainable
from egoaction.models.heads import TaskHeads

__all__ = ["FlowResNet", "TwoStreamEgoRNN", "cross_modality_conv1", "flow_resnet34_backbone", "load_stream"]


def cross_modality_conv1(weight: Tensor, channels: int) -> Tensor:
    """Cross-modality init: an RGB kernel (64, 3, k, k) averaged over colour, replicated -> (64, channels, k, k)."""
    return weight.mean(dim=1, keepdim=True).repeat(1, channels, 1, 1)


def flow_resnet34_backbone(channels: int = 10, pretrained: str | None = None) -> tvm.ResNet:
    """ResNet-34 with a ``channels``-input conv1 and fc = Identity: (N, channels, H, W) -> (N, 512)."""
    net = tvm.resnet34(weights=None)
    net.fc = nn.Identity()
    net.conv1 = nn.Conv2d(channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
    # torchvision's ResNet init, at the new shape
    nn.init.kaiming_normal_(net.conv1.weight, mode="fan_out", nonlinearity="relu")
    if pretrained is not None:
        url = tvm.ResNet34_Weights.IMAGENET1K_V1.url
        path = imagenet_weights_path(url) if pretrained == "imagenet" else Path(pretrained)
        state = strip_wrapper_prefixes(read_state_dict(path))
        rgb_kernel = state.get("conv1.weight")
        if rgb_kernel is not None and rgb_kernel.shape[1] == 3 and channels != 3:
            state["conv1.weight"] = cross_modality_conv1(rgb_kernel, channels)
        load_backbone_weights(net, state, source=path)
    return net


def _stack_channels(flow: Tensor, channels: int, model: str) -> Tensor:
    """``flow`` (B, T', 2L, H, W) after checking 2L matches the model's conv1."""
    if flow.shape[2] != channels:
        raise ValueError(
            f"{model}: flow stacks must have {channels} channels (stack_len {channels // 2}, x/y interleaved), "
            f"got {tuple(flow.shape)}"
        )
    return flow


class FlowResNet(VideoModel):
    """Stacked-flow ResNet-34: flow (B, T', 2L, H, W) -> per-stack logits averaged over the T' stacks -> (B, C)."""

    def __init__(
        self, task_spec: dict[str, int], *, pretrained: str | None = None, stack_len: int = 5, dropout: float = 0.5
    ) -> None:
        super().__init__(task_spec, modalities=("flow",))
        if stack_len < 1:
            raise ValueError(f"stack_len must be >= 1, got {stack_len}")
        self.channels = 2 * stack_len
        # one stack per clip by default, as the reference trains
        self.input_spec = InputSpec(frames=1, size=(224, 224), channels=(("flow", self.channels),))
        self.backbone = flow_resnet34_backbone(self.channels, pretrained)
        self.heads = TaskHeads(FEATURES, self.task_spec, dropout=dropout)

    def features(self, flow: Tensor) -> Tensor:
        """Pooled layer4 features per stack: flow (B, T', 2L, H, W) -> (B, T', 512)."""
        return encode_frames(self.backbone, _stack_channels(flow, self.channels, type(self).__name__))

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """{task: (B, C)}: the mean over stacks of each stack's logits."""
        stacks = self.heads(self.features(self.read_input(batch, "flow")))
        return {task: logits.mean(dim=1) for task, logits in stacks.items()}


class TwoStreamEgoRNN(VideoModel):
    """Ego-RNN RGB stream + stacked-flow stream, features concatenated flow-first -> dropout -> heads.

    Reads ``batch["rgb"]`` (B, T, 3, H, W) and ``batch["flow"]`` (B, T', 2L, H, W); returns ``{task: (B, C),
    "attention": (B, T, h, w)}``.
    """

    def __init__(
        self,
        task_spec: dict[str, int],
        *,
        pretrained: str | None = None,
        rgb_checkpoint: str | None = None,
        flow_checkpoint: str | None = None,
        stack_len: int = 5,
        memory: int = 512,
        dropout: float = 0.5,
        cam: bool = True,
    ) -> None:
        super().__init__(task_spec, modalities=("rgb", "flow"))
        self.cam = cam
        self.channels = 2 * stack_len
        # the reference trains on one flow stack beside the RGB frames (configs: data.flow_stacks 1)
        self.input_spec = InputSpec(
            frames=25, size=(224, 224), channels=(("rgb", 3), ("flow", self.channels)), fixed_frames=(("flow", 1),)
        )
        self.backbone = nn.ModuleDict(
            {"flow": flow_resnet34_backbone(self.channels, pretrained), "rgb": cam_resnet34(pretrained)}
        )
        self.convlstm = ConvLSTMCell(FEATURES, memory)
        self.heads = TaskHeads(FEATURES + memory, self.task_spec, dropout=dropout)
        if rgb_checkpoint is not None:
            load_stream(self, rgb_checkpoint, {"backbone.": "backbone.rgb.", "convlstm.": "convlstm."})
        if flow_checkpoint is not None:
            load_stream(self, flow_checkpoint, {"backbone.": "backbone.flow."})
        self.backbone.requires_grad_(False)
        set_egornn_trainable(self._rgb, 2, cam=cam)
        self._flow.layer4.requires_grad_(True)

    @property
    def _rgb(self) -> tvm.ResNet:
        """The RGB stream's ResNet-34 (with its CAM fc)."""
        net = typing.cast(nn.ModuleDict, self.backbone)["rgb"]
        assert isinstance(net, tvm.ResNet)
        return net

    @property
    def _flow(self) -> tvm.ResNet:
        """The flow stream's ResNet-34 (fc = Identity)."""
        net = typing.cast(nn.ModuleDict, self.backbone)["flow"]
        assert isinstance(net, tvm.ResNet)
        return net

    def backbone_stages(self) -> list[nn.Module]:
        """Both streams' stages side by side: [flow+rgb stem, flow+rgb layer1, ..., flow+rgb layer4]."""
        return [nn.ModuleList(pair) for pair in zip(split_stages(self._flow), split_stages(self._rgb), strict=True)]

    def clip_features(self, rgb: Tensor, flow: Tensor) -> tuple[Tensor, Tensor]:
        """Clip feature concat(flow (512), rgb (memory)) (B, 512 + memory) and the CAM maps (B, T, h, w)."""
        flow = _stack_channels(flow, self.channels, type(self).__name__)
        flow_feature = encode_frames(self._flow, flow).mean(dim=1)
        x, attention, _ = attend_frames(self._rgb, rgb, self.cam)
        return torch.cat([flow_feature, convlstm_memory(self.convlstm, x)], dim=1), attention

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """{task: (B, C), "attention": (B, T, h, w)}."""
        feature, attention = self.clip_features(self.read_input(batch, "rgb"), self.read_input(batch, "flow"))
        return {**self.heads(feature), "attention": attention}


def _checkpoint_weights(target: str | Path) -> dict[str, Tensor]:
    """The network weights of an egoaction checkpoint file or run directory."""
    # imported here: the engine pulls in Lightning, which building a model must not need
    from egoaction.engine.checkpoint import model_state, read_checkpoint

    return model_state(read_checkpoint(target))


def load_stream(model: nn.Module, target: str | Path, prefixes: dict[str, str]) -> None:
    """Load one stream of ``model`` from a checkpoint, renaming its keys by ``prefixes`` (source -> model prefix).

    Keys under no source prefix (heads, auxiliary heads) are dropped. ValueError when a model weight under the
    target prefixes is missing from the checkpoint or has another shape.
    """
    renamed = {}
    for key, value in _checkpoint_weights(target).items():
        for src, dst in prefixes.items():
            if key.startswith(src):
                renamed[dst + key.removeprefix(src)] = value
    own = model.state_dict()
    wanted = [k for k in own if k.startswith(tuple(prefixes.values())) and not k.endswith("num_batches_tracked")]
    missing = [k for k in wanted if k not in renamed]
    wrong = [
        f"{k} {tuple(v.shape)} != {tuple(own[k].shape)}"
        for k, v in renamed.items()
        if k in own and v.shape != own[k].shape
    ]
    unknown = [k for k in renamed if k not in own]
    problems = [
        f"{what} ({len(keys)}): {keys[:3]}"
        for what, keys in (("missing", missing), ("wrong shapes", wrong), ("unexpected", unknown))
        if keys
    ]
    if problems:
        streams = ", ".join(prefixes.values())
        raise ValueError(f"{target}: not a checkpoint of this stream ({streams}): " + "; ".join(problems))
    model.load_state_dict(renamed, strict=False)


@register_model("flow_resnet34")
def flow_resnet34(
    task_spec: dict[str, int], *, pretrained: str | None = None, stack_len: int = 5, dropout: float = 0.5
) -> FlowResNet:
    """Ego-RNN's flow stream: ResNet-34 on stacks of ``stack_len`` x/y flow frames, logits averaged over stacks."""
    return FlowResNet(task_spec, pretrained=pretrained, stack_len=stack_len, dropout=dropout)


@register_model("two_stream_egornn")
def two_stream_egornn(
    task_spec: dict[str, int],
    *,
    pretrained: str | None = None,
    rgb_checkpoint: str | None = None,
    flow_checkpoint: str | None = None,
    stack_len: int = 5,
    memory: int = 512,
    dropout: float = 0.5,
    cam: bool = True,
) -> TwoStreamEgoRNN:
    """Ego-RNN two-stream joint model: concat(flow 512, RGB c_T 512) -> dropout -> heads; streams from checkpoints.

    Give the flow layer4 its own learning rate with ``optim.lr_factors: {"backbone.flow.layer4.": 0.01}``.
    """
    return TwoStreamEgoRNN(
        task_spec,
        pretrained=pretrained,
        rgb_checkpoint=rgb_checkpoint,
        flow_checkpoint=flow_checkpoint,
        stack_len=stack_len,
        memory=memory,
        dropout=dropout,
        cam=cam,
    )
