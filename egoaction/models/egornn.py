"""Ego-RNN (CAM attention + ConvLSTM), with SparNet's motion-segmentation head and seed 001's static-dynamic head.

Sources: Sudhakaran & Lanz, BMVC 2018 (arXiv 1807.11794; code swathikirans/ego-rnn @ 5467276), reference/models.md
§1.1-1.4; Planamente, Bottino & Caputo 2020 (SparNet, arXiv 2002.03982), reference/models.md §2; seed 001 (a
course report replicating both and adding a static-dynamic discriminator).

Architecture (``egornn_resnet34``): a ResNet-34 that keeps its 1000-way ImageNet fc (``backbone.fc.*``, so
torchvision weights load) as the CAM dictionary. Per frame: the top-1 ImageNet class of GAP(f_t) selects a fc row,
its CAM softmaxed over the h*w cells (:func:`~egoaction.models.convlstm.cam_attention`) multiplies the pre-BN
layer4 tensor x_t (:func:`~egoaction.models.convlstm.resnet_nobn_features`), and a ConvLSTM(512 -> ``memory``)
runs over time. The clip feature is AvgPool of the final *cell* state c_T -> dropout 0.7 -> TaskHeads. Outputs:
``{task: (B, C)}`` and ``"attention"`` (B, T, h, w), the CAM maps (uniform 1/(h*w) with ``cam=False``).
ResNet-34 with the ImageNet fc 21.80M + ConvLSTM 18.88M + a 61-way head = 40,705,381 parameters.

Training stages (reference main-run-rgb.py), set at construction by ``stage``; parameter names are the same in both,
so stage 2 loads a stage-1 checkpoint strictly. Trainable parameters:

- stage 1: ``convlstm.input_conv.weight``, ``convlstm.input_conv.bias``, ``convlstm.hidden_conv.weight``,
  ``heads.<task>.weight``, ``heads.<task>.bias`` (the whole backbone, its fc included, is frozen);
- stage 2: the above plus ``backbone.layer4.{0,1,2}.conv1.weight``, ``backbone.layer4.{0,1,2}.conv2.weight`` and
  ``backbone.fc.weight`` (layer4's BatchNorm and downsample stay frozen);
- any stage: the auxiliary heads ``ms.*`` and ``sd_head.*`` when present.

Choices where the references are silent or where this code differs:

- ``backbone.fc.bias`` stays frozen in stage 2, although the reference lists the whole fc as trainable: the bias
  only shifts the logits whose argmax picks the CAM row, so it never receives a gradient (the reference's Adam
  skips it). Freezing it changes nothing and keeps "every trainable parameter gets a gradient" true. With
  ``cam=False`` the fc is unused and stays frozen in stage 2 as well.
- BatchNorm: the reference keeps the whole backbone in eval mode. No ``train()`` override here: every backbone
  BatchNorm has frozen affine parameters in both stages, and the engine keeps such layers in eval in every
  ``trainer.batchnorm`` mode (:func:`egoaction.models.freeze.set_batchnorm_mode`). Outside the engine, call that
  function after ``model.train()``.
- ``cam=False`` ("without CAM", seed 001) feeds the pre-BN x_t unweighted (not scaled by 1/(h*w)).
- Motion segmentation (``ms_head``, SparNet): on the post-BN layer4 f_t of each real frame, ReLU -> (adaptive
  average pool to ``ms_grid`` x ``ms_grid`` when layer4's grid differs, e.g. 2x2 for 64x64 inputs; the identity at
  224x224 and grid 7) -> 1x1 conv 512 -> 100 (no bias) -> flatten -> Linear(100 g^2 -> 2 g^2) ("classification",
  output ``"ms"`` (B, T, 2, g, g) logits, class 1 = moving) or -> g^2 ("regression", ``"ms"`` (B, T, g, g)).
  Targets (:func:`motion_targets`): the uint8 maps / 255, area-downsampled to g x g, binarised at >= 0.5 (a cell
  at least half moving is moving) for classification, kept continuous for regression (MSE). The loss is the
  *mean* per-cell cross-entropy (or MSE) over cells, frames and clips, times ``ms_weight``. The authors sum over
  the 49 cells and T frames; that makes the term T*g^2 (1225 for T = 25) times larger than the action loss and
  ties its scale to the clip length, so the mean is the default and ``ms_weight = T * g * g`` reproduces the sum.
  The reimplementations the seed follows use nearest-neighbour downsampling; area is used here so a cell's label
  reflects how much of it moves. Diagnostic ``ms_acc``: per-cell accuracy in percent.
- Static-dynamic discriminator (``static_dynamic``, seed 001 §2.5): every clip gets a "static" copy, one of its
  frames repeated T times (a random frame per clip in training, the centre frame T // 2 in eval so validation is
  deterministic). Because the backbone sees every frame on its own and its BatchNorm is frozen, the static clips'
  frame features are gathered from the real clips' instead of running the backbone again; only the ConvLSTM runs
  on the 2B clips. ``sd_head`` = Dropout(``dropout``) + Linear(memory -> 2) on the pooled c_T, parallel to the
  task classifier (the seed's "binary classifier after the convLSTM"); it is a plain auxiliary classifier, not
  adversarial. Task logits and ``"attention"`` are for the real clips only. Output ``"static_dynamic"`` is
  (B, 2, 2): ``[:, 0]`` the logits of the real clip (target 1, dynamic), ``[:, 1]`` those of its static copy
  (target 0); batch-first like every auxiliary output (the zoo contract) rather than (2B, 2). Loss: mean
  cross-entropy over the 2B clips times ``sd_weight``; diagnostic ``sd_acc`` in percent.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision import models as tvm

from egoaction.models._registry import register_model
from egoaction.models.backbones import (
    imagenet_weights_path,
    load_backbone_weights,
    read_state_dict,
    strip_wrapper_prefixes,
)
from egoaction.models.base import InputSpec, VideoModel
from egoaction.models.convlstm import ConvLSTMCell, cam_attention, resnet_nobn_features, uniform_attention
from egoaction.models.heads import TaskHeads

__all__ = [
    "FEATURES",
    "MS_HEADS",
    "EgoRNN",
    "MotionSegmentationHead",
    "attend_frames",
    "cam_resnet34",
    "convlstm_memory",
    "motion_targets",
    "set_egornn_trainable",
    "static_copy",
    "static_indices",
]

MS_HEADS = ("classification", "regression")
FEATURES = 512  # ResNet-34 layer4 width
MS_CHANNELS = 100  # SparNet's 1x1 conv width


def cam_resnet34(pretrained: str | None = None) -> tvm.ResNet:
    """ResNet-34 that keeps its 1000-way fc (the CAM dictionary); ``pretrained``: None, "imagenet" or a path."""
    net = tvm.resnet34(weights=None)
    if pretrained is None:
        return net
    url = tvm.ResNet34_Weights.IMAGENET1K_V1.url
    path = imagenet_weights_path(url) if pretrained == "imagenet" else Path(pretrained)
    state = read_state_dict(path)
    # load_backbone_weights checks every key but the classifier; the fc is copied after it
    fc, net.fc = net.fc, nn.Identity()
    load_backbone_weights(net, state, source=path)
    net.fc = fc
    fc_state = {k.removeprefix("fc."): v for k, v in strip_wrapper_prefixes(state).items() if k.startswith("fc.")}
    if set(fc_state) != {"weight", "bias"} or fc_state["weight"].shape != fc.weight.shape:
        raise ValueError(f"{path}: Ego-RNN's CAM needs the 1000-way ImageNet fc (fc.weight, fc.bias) in the weights")
    fc.load_state_dict(fc_state)
    return net


def attend_frames(backbone: tvm.ResNet, rgb: Tensor, cam: bool = True) -> tuple[Tensor, Tensor, Tensor]:
    """rgb (B, T, 3, H, W) -> CAM-attended pre-BN x, attention (B, T, h, w), post-BN f; x and f (B, T, 512, h, w)."""
    b, t = rgb.shape[:2]
    f, x = resnet_nobn_features(backbone, rgb.flatten(0, 1))
    if cam:
        attention, _ = cam_attention(f, backbone.fc.weight, backbone.fc.bias)
        x = x * attention.unsqueeze(1).to(x.dtype)
    else:
        attention = uniform_attention(f)
    return x.unflatten(0, (b, t)), attention.unflatten(0, (b, t)), f.unflatten(0, (b, t))


def convlstm_memory(cell: ConvLSTMCell, x: Tensor) -> Tensor:
    """Run the cell over x (B, T, C, h, w) from a zero state; the clip feature AvgPool(c_T) (B, H)."""
    state = None
    for t in range(x.shape[1]):
        state = cell(x[:, t], state)
    assert state is not None, "a clip needs at least one frame"
    return state[1].mean(dim=(2, 3))


def static_indices(batch: int, frames: int, *, random: bool, device: torch.device | None = None) -> Tensor:
    """The frame each static copy repeats, (B,) long: uniform at random, or the centre frame T // 2."""
    if random:
        return torch.randint(frames, (batch,), device=device)
    return torch.full((batch,), frames // 2, dtype=torch.long, device=device)


def static_copy(clips: Tensor, index: Tensor) -> Tensor:
    """Static clips: clips (B, T, ...) with frame ``index[b]`` (B,) of clip b repeated T times -> (B, T, ...)."""
    frames = clips[torch.arange(clips.shape[0], device=clips.device), index]
    return frames.unsqueeze(1).expand_as(clips)


def motion_targets(mmaps: Tensor, grid: int, *, binary: bool = True) -> Tensor:
    """uint8 maps (B, T, 1, h, w) -> per-cell targets (B, T, g, g): long {0, 1} if ``binary``, else float in [0, 1]."""
    b, t = mmaps.shape[:2]
    maps = mmaps.flatten(0, 1).float().div(255)
    # area = mean over each cell's pixels: the fraction of the cell that moves
    cells = F.interpolate(maps, size=(grid, grid), mode="area").squeeze(1).unflatten(0, (b, t))
    return (cells >= 0.5).long() if binary else cells


class MotionSegmentationHead(nn.Module):
    """SparNet's MS block: f (N, 512, h, w) -> (N, 2, g, g) moving/static logits, or (N, g, g) regression values."""

    def __init__(self, channels: int = FEATURES, grid: int = 7, mode: str = "classification") -> None:
        super().__init__()
        if mode not in MS_HEADS:
            raise ValueError(f"ms_head must be one of {MS_HEADS} or None, got {mode!r}")
        if grid < 1:
            raise ValueError(f"ms_grid must be >= 1, got {grid}")
        self.grid, self.mode = grid, mode
        self.outputs = 2 if mode == "classification" else 1
        self.conv = nn.Conv2d(channels, MS_CHANNELS, 1, bias=False)
        self.fc = nn.Linear(MS_CHANNELS * grid * grid, self.outputs * grid * grid)

    def forward(self, f: Tensor) -> Tensor:
        """Per-cell predictions for f (N, 512, h, w); h x w is pooled to g x g first when it differs."""
        y = F.relu(f)
        if y.shape[-2:] != (self.grid, self.grid):
            y = F.adaptive_avg_pool2d(y, self.grid)
        y = self.fc(self.conv(y).flatten(1)).unflatten(1, (self.outputs, self.grid, self.grid))
        return y if self.mode == "classification" else y.squeeze(1)


def set_egornn_trainable(backbone: tvm.ResNet, stage: int, *, cam: bool = True) -> None:
    """Freeze the backbone; in stage 2 train layer4's conv1/conv2 weights and (with CAM) the fc weight."""
    if stage not in (1, 2):
        raise ValueError(f"stage must be 1 or 2, got {stage!r}")
    backbone.requires_grad_(False)
    if stage == 2:
        for block in backbone.layer4:
            assert isinstance(block, tvm.resnet.BasicBlock)
            block.conv1.weight.requires_grad_(True)
            block.conv2.weight.requires_grad_(True)
        # the fc bias never gets a gradient (it only moves the argmax), so it is left frozen
        backbone.fc.weight.requires_grad_(cam)


class EgoRNN(VideoModel):
    """Ego-RNN: CAM-attended ResNet-34 layer4 -> ConvLSTM -> AvgPool(c_T) -> heads; optional MS and SD heads.

    Reads ``batch["rgb"]`` (B, T, 3, H, W); returns ``{task: (B, C), "attention": (B, T, h, w)}`` plus ``"ms"``
    and ``"static_dynamic"`` when those heads exist (see the module docstring).
    """

    input_spec = InputSpec(frames=25, size=(224, 224))

    def __init__(
        self,
        task_spec: dict[str, int],
        *,
        pretrained: str | None = None,
        cam: bool = True,
        stage: int = 1,
        memory: int = 512,
        dropout: float = 0.7,
        ms_head: str | None = None,
        ms_weight: float = 1.0,
        ms_grid: int = 7,
        static_dynamic: bool = False,
        sd_weight: float = 1.0,
    ) -> None:
        super().__init__(task_spec, modalities=("rgb",))
        self.cam, self.stage = cam, stage
        self.backbone = cam_resnet34(pretrained)
        set_egornn_trainable(self.backbone, stage, cam=cam)
        self.convlstm = ConvLSTMCell(FEATURES, memory)
        self.heads = TaskHeads(memory, self.task_spec, dropout=dropout)
        self.ms = MotionSegmentationHead(FEATURES, ms_grid, ms_head) if ms_head is not None else None
        self.ms_weight = ms_weight
        # an instance attribute: only the MS variant needs the motion maps loaded
        self.target_modalities = ("mmaps",) if ms_head is not None else ()
        self.sd_head = nn.Sequential(nn.Dropout(dropout), nn.Linear(memory, 2)) if static_dynamic else None
        self.sd_weight = sd_weight

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """{task: (B, C), "attention": (B, T, h, w)}, plus "ms" and "static_dynamic" when enabled."""
        rgb = self.read_input(batch, "rgb")
        b, t = rgb.shape[:2]
        x, attention, f = attend_frames(self.backbone, rgb, self.cam)
        if self.sd_head is not None:
            index = static_indices(b, t, random=self.training, device=rgb.device)
            x = torch.cat([x, static_copy(x, index)])
        memory = convlstm_memory(self.convlstm, x)
        out = {**self.heads(memory[:b]), "attention": attention}
        if self.ms is not None:
            out["ms"] = self.ms(f.flatten(0, 1)).unflatten(0, (b, t))
        if self.sd_head is not None:
            # (2B, 2) -> (B, 2 clips [real, static], 2 logits)
            out["static_dynamic"] = self.sd_head(memory).unflatten(0, (2, b)).transpose(0, 1)
        return out

    def auxiliary_losses(self, outputs: dict[str, Tensor], targets: dict[str, Tensor]) -> dict[str, Tensor]:
        """``ms_loss`` (mean per-cell CE or MSE x ms_weight) and ``sd_loss`` (mean CE x sd_weight) when enabled."""
        losses = {}
        if self.ms is not None and "ms" in outputs:
            pred, truth = outputs["ms"].float(), self._ms_truth(targets)
            if self.ms.mode == "classification":
                losses["ms_loss"] = self.ms_weight * F.cross_entropy(pred.flatten(0, 1), truth.flatten(0, 1))
            else:
                losses["ms_loss"] = self.ms_weight * F.mse_loss(pred, truth)
        if self.sd_head is not None and "static_dynamic" in outputs:
            logits = outputs["static_dynamic"].float()
            losses["sd_loss"] = self.sd_weight * F.cross_entropy(logits.flatten(0, 1), _sd_targets(logits))
        return losses

    def auxiliary_metrics(self, outputs: dict[str, Tensor], targets: dict[str, Tensor]) -> dict[str, Tensor]:
        """``ms_acc`` (per-cell accuracy, %) for the classification MS head, ``sd_acc`` (%) for the discriminator."""
        metrics = {}
        if self.ms is not None and self.ms.mode == "classification" and "ms" in outputs:
            hits = outputs["ms"].argmax(dim=2) == self._ms_truth(targets)
            metrics["ms_acc"] = hits.float().mean() * 100
        if self.sd_head is not None and "static_dynamic" in outputs:
            logits = outputs["static_dynamic"]
            hits = logits.argmax(dim=-1).flatten() == _sd_targets(logits)
            metrics["sd_acc"] = hits.float().mean() * 100
        return metrics

    def _ms_truth(self, targets: dict[str, Tensor]) -> Tensor:
        """The MS targets (B, T, g, g) of ``targets["mmaps"]``; KeyError saying the data must load motion maps."""
        assert self.ms is not None
        if "mmaps" not in targets:
            raise KeyError("the motion-segmentation head needs targets['mmaps']: add 'mmaps' to data.modalities")
        return motion_targets(targets["mmaps"], self.ms.grid, binary=self.ms.mode == "classification")

    def extra_repr(self) -> str:
        """Stage and switches, shown in ``print(model)``."""
        return f"{super().extra_repr()}, stage={self.stage}, cam={self.cam}"


def _sd_targets(logits: Tensor) -> Tensor:
    """Targets (2B,) for static-dynamic logits (B, 2, 2) flattened clip-major: 1 (real), 0 (static) per clip."""
    return torch.tensor([1, 0], device=logits.device).repeat(logits.shape[0])


@register_model("egornn_resnet34")
def egornn_resnet34(
    task_spec: dict[str, int],
    *,
    pretrained: str | None = None,
    cam: bool = True,
    stage: int = 1,
    memory: int = 512,
    dropout: float = 0.7,
    ms_head: str | None = None,
    ms_weight: float = 1.0,
    ms_grid: int = 7,
    static_dynamic: bool = False,
    sd_weight: float = 1.0,
) -> EgoRNN:
    """Ego-RNN on ResNet-34 (40.71M with 61 classes); ``stage`` 1 or 2 picks the trainable set; 25 x 224x224 clips.

    ``cam=False`` is the "without CAM" ablation; ``ms_head`` ("classification" | "regression") adds SparNet's
    motion-segmentation head (targets ``mmaps``), ``static_dynamic`` seed 001's static-dynamic discriminator.
    """
    return EgoRNN(
        task_spec,
        pretrained=pretrained,
        cam=cam,
        stage=stage,
        memory=memory,
        dropout=dropout,
        ms_head=ms_head,
        ms_weight=ms_weight,
        ms_grid=ms_grid,
        static_dynamic=static_dynamic,
        sd_weight=sd_weight,
    )


@register_model("egornn_ms")
def egornn_ms(
    task_spec: dict[str, int],
    *,
    pretrained: str | None = None,
    cam: bool = True,
    stage: int = 2,
    memory: int = 512,
    dropout: float = 0.7,
    ms_head: str | None = "classification",
    ms_weight: float = 1.0,
    ms_grid: int = 7,
    static_dynamic: bool = False,
    sd_weight: float = 1.0,
) -> EgoRNN:
    """Seed 001's Ego-RNN + motion segmentation (SparNet-style): the MS head trains with stage 2 by default."""
    return egornn_resnet34(
        task_spec,
        pretrained=pretrained,
        cam=cam,
        stage=stage,
        memory=memory,
        dropout=dropout,
        ms_head=ms_head,
        ms_weight=ms_weight,
        ms_grid=ms_grid,
        static_dynamic=static_dynamic,
        sd_weight=sd_weight,
    )
