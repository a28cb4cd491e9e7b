"""CNN-RNN: a 2D CNN encodes every frame, an LSTM models their order, its summary feeds the task heads.

Two sources:

- Seed 000 (EPIC-KITCHENS-100 architecture comparison): "ResNet-50 + 2-layer LSTM" and "EfficientNet-B3 +
  LSTM". Per-frame features (2048-d / 1536-d) go straight into ``nn.LSTM(D -> 512, 2 layers)``; the top layer's
  output at the last time step (``readout="last"``, or its mean over time with ``"mean"``) -> dropout -> heads.
  ``resnet18_lstm`` (not in the seed) is the same head on ResNet-18's 512-d features, so that the model zoo's
  comparison can start it from the ResNet-18 stand-in the other models share.
- Seed 003 (UCF101 CNN-BiLSTM): ResNet-18 (512-d) -> one bidirectional LSTM layer of 256 units per direction
  (512-d outputs) -> temporal dot-product self-attention -> average over time -> dropout 0.3 -> heads.
  The attention (:class:`TemporalAttention`) projects each time step to a query and a key of ``attention_dim``
  (256) and a value of the full width (512), softmaxes ``Q K^T / sqrt(attention_dim)`` over the keys (time) and
  returns the weighted values (B, T, 512) and the weights (B, T, T), exposed as the auxiliary output
  ``"attention"``. ``use_attention=False`` / ``bidirectional=False`` are the seed's ablations ("w/o Attention",
  "w/o Bidirectional"); ``finetune_layers=["layer3", "layer4"]`` (the seed's setting) freezes the other ResNet
  stages. ``input_spec`` is the seed's 16 frames at 144x144; the seed-000 models use 8 frames at 224x224.

Parameter counts: the seed's claimed sizes (ResNet-50 + temporal pool 25M, + 2-layer LSTM 27M, + Transformer 30M,
EfficientNet-B3 + LSTM 22M, + Transformer 24M) do not reproduce with the modules the seed names; with EPIC-100
heads (97 verbs + 300 nouns) the LSTM models here have 31.06M (ResNet-50) and 17.20M (EfficientNet-B3), because a
2-layer LSTM(2048 -> 512) alone is 7.35M and the EfficientNet-B3 trunk only 10.70M (reference/models.md §10.1;
the parameter table in docs/models.md lists every model's true count). Seed 003's model is 13.48M with EPIC heads
and 13.33M with its 101 classes (53 MB in float32, not the seed's "~45MB").

Choices where the seeds are silent:
- ``dropout`` acts once, before the heads (the zoo's contract); no dropout between LSTM layers.
- ``readout="last"`` is the top layer's final hidden state (= its output at the last time step); for a
  bidirectional LSTM without attention it concatenates both directions' final states (forward at t = T-1,
  backward at t = 0), the usual BiLSTM summary. With attention the attended sequence is averaged (the seed), so
  ``readout`` must be "mean" there.
- The attention softmax runs in float32 so that its rows sum to 1 under bf16 autocast too.
- LSTM, attention and heads keep PyTorch's default init; they are new layers whatever the backbone.
- ``finetune_layers`` only sets ``requires_grad``; BatchNorm layers of frozen stages are kept in eval by the
  engine (:func:`egoaction.models.freeze.set_batchnorm_mode`), not by ``model.train()``.
"""

from __future__ import annotations

import math

from torch import Tensor, nn
from torchvision import models as tvm

from egoaction.models._registry import register_model
from egoaction.models.backbones import encode_frames, frame_backbone, split_stages
from egoaction.models.base import InputSpec, VideoModel
from egoaction.models.heads import TaskHeads

__all__ = ["CNNRNN", "READOUTS", "RESNET_STAGES", "CNNBiLSTMAttention", "TemporalAttention", "freeze_all_but"]

READOUTS = ("last", "mean")
# names of split_stages(resnet), in order
RESNET_STAGES = ("stem", "layer1", "layer2", "layer3", "layer4")


class TemporalAttention(nn.Module):
    """Dot-product self-attention over time: (B, T, D) -> attended (B, T, D) and weights (B, T, T)."""

    def __init__(self, dim: int, attention_dim: int = 256) -> None:
        super().__init__()
        self.query = nn.Linear(dim, attention_dim)
        self.key = nn.Linear(dim, attention_dim)
        self.value = nn.Linear(dim, dim)
        self.scale = 1.0 / math.sqrt(attention_dim)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """x (B, T, D) -> (weights @ values (B, T, D), weights (B, T, T) whose rows sum to 1 over the keys)."""
        scores = self.query(x) @ self.key(x).transpose(1, 2) * self.scale
        weights = scores.float().softmax(dim=-1)
        values = self.value(x)
        return weights.to(values.dtype) @ values, weights

    def extra_repr(self) -> str:
        """The softmax temperature, shown in ``print(model)``."""
        return f"scale={self.scale:.4g}"


def freeze_all_but(backbone: nn.Module, finetune_layers: list[str]) -> None:
    """Turn off gradients of every ResNet stage ("stem", "layer1".."layer4") not named in ``finetune_layers``."""
    if not isinstance(backbone, tvm.ResNet):
        raise ValueError(f"finetune_layers needs a ResNet backbone, got {type(backbone).__name__}")
    unknown = [name for name in finetune_layers if name not in RESNET_STAGES]
    if unknown:
        raise ValueError(f"unknown finetune_layers {unknown}; valid stage names are {list(RESNET_STAGES)}")
    for name, stage in zip(RESNET_STAGES, split_stages(backbone), strict=True):
        stage.requires_grad_(name in finetune_layers)


class CNNRNN(VideoModel):
    """Per-frame 2D CNN -> LSTM (uni- or bidirectional) -> optional temporal attention -> readout -> heads.

    Reads ``batch["rgb"]`` (B, T, 3, H, W); returns ``{task: (B, C)}``, plus ``"attention"`` (B, T, T) when
    ``attention_dim`` is set.
    """

    input_spec = InputSpec(frames=8, size=(224, 224))

    def __init__(
        self,
        task_spec: dict[str, int],
        *,
        arch: str = "resnet50",
        pretrained: str | None = None,
        dropout: float = 0.5,
        drop_path: float = 0.0,
        lstm_hidden: int = 512,
        lstm_layers: int = 2,
        bidirectional: bool = False,
        readout: str = "last",
        attention_dim: int | None = None,
        finetune_layers: list[str] | None = None,
    ) -> None:
        super().__init__(task_spec, modalities=("rgb",))
        if readout not in READOUTS:
            raise ValueError(f"readout must be one of {READOUTS}, got {readout!r}")
        if attention_dim is not None and readout != "mean":
            raise ValueError("with temporal attention the attended sequence is averaged: use readout='mean'")
        self.readout = readout
        self.backbone, dim = frame_backbone(arch, pretrained=pretrained, drop_path=drop_path)
        if finetune_layers is not None:
            freeze_all_but(self.backbone, finetune_layers)
        self.lstm = nn.LSTM(dim, lstm_hidden, lstm_layers, batch_first=True, bidirectional=bidirectional)
        width = lstm_hidden * (2 if bidirectional else 1)
        self.attention = TemporalAttention(width, attention_dim) if attention_dim is not None else None
        self.heads = TaskHeads(width, self.task_spec, dropout=dropout)

    def sequence(self, rgb: Tensor) -> tuple[Tensor, Tensor]:
        """rgb (B, T, 3, H, W) -> LSTM outputs (B, T, W) and the top layer's final states (B, W)."""
        out, (h_n, _) = self.lstm(encode_frames(self.backbone, rgb))
        directions = 2 if self.lstm.bidirectional else 1
        # h_n is (layers * directions, B, H), the top layer's directions last
        final = h_n[-directions:].transpose(0, 1).flatten(1)
        return out, final

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """{task: logits (B, C)}, plus "attention" (B, T, T) with temporal attention."""
        seq, final = self.sequence(self.read_input(batch, "rgb"))
        aux = {}
        if self.attention is not None:
            seq, aux["attention"] = self.attention(seq)
        feature = final if self.readout == "last" else seq.mean(dim=1)
        return {**self.heads(feature), **aux}


class CNNBiLSTMAttention(CNNRNN):
    """Seed 003's CNN-BiLSTM with temporal attention; the seed's 16 x 144x144 input."""

    input_spec = InputSpec(frames=16, size=(144, 144))


def _lstm_model(
    task_spec: dict[str, int],
    arch: str,
    *,
    pretrained: str | None,
    dropout: float,
    drop_path: float,
    lstm_hidden: int,
    lstm_layers: int,
    readout: str,
) -> CNNRNN:
    """Seed 000's CNN + unidirectional LSTM on ``arch`` frame features."""
    return CNNRNN(
        task_spec,
        arch=arch,
        pretrained=pretrained,
        dropout=dropout,
        drop_path=drop_path,
        lstm_hidden=lstm_hidden,
        lstm_layers=lstm_layers,
        readout=readout,
    )


@register_model("resnet50_lstm")
def resnet50_lstm(
    task_spec: dict[str, int],
    *,
    pretrained: str | None = None,
    dropout: float = 0.5,
    drop_path: float = 0.0,
    lstm_hidden: int = 512,
    lstm_layers: int = 2,
    readout: str = "last",
) -> CNNRNN:
    """Seed 000: ResNet-50 frame features (2048-d) -> 2-layer LSTM(512) -> last step -> heads (31.06M on EPIC)."""
    return _lstm_model(
        task_spec,
        "resnet50",
        pretrained=pretrained,
        dropout=dropout,
        drop_path=drop_path,
        lstm_hidden=lstm_hidden,
        lstm_layers=lstm_layers,
        readout=readout,
    )


@register_model("resnet18_lstm")
def resnet18_lstm(
    task_spec: dict[str, int],
    *,
    pretrained: str | None = None,
    dropout: float = 0.5,
    drop_path: float = 0.0,
    lstm_hidden: int = 512,
    lstm_layers: int = 2,
    readout: str = "last",
) -> CNNRNN:
    """Seed 000's 2-layer LSTM(512) head on ResNet-18 frame features (512-d) -> last step -> heads."""
    return _lstm_model(
        task_spec,
        "resnet18",
        pretrained=pretrained,
        dropout=dropout,
        drop_path=drop_path,
        lstm_hidden=lstm_hidden,
        lstm_layers=lstm_layers,
        readout=readout,
    )


@register_model("efficientnet_b3_lstm")
def efficientnet_b3_lstm(
    task_spec: dict[str, int],
    *,
    pretrained: str | None = None,
    dropout: float = 0.5,
    drop_path: float = 0.2,
    lstm_hidden: int = 512,
    lstm_layers: int = 2,
    readout: str = "last",
) -> CNNRNN:
    """Seed 000: EfficientNet-B3 features (1536-d) -> 2-layer LSTM(512) -> last step -> heads (17.20M on EPIC).

    ``drop_path`` is torchvision's ``stochastic_depth_prob`` (0.2 by default, as torchvision).
    """
    return _lstm_model(
        task_spec,
        "efficientnet_b3",
        pretrained=pretrained,
        dropout=dropout,
        drop_path=drop_path,
        lstm_hidden=lstm_hidden,
        lstm_layers=lstm_layers,
        readout=readout,
    )


@register_model("resnet18_bilstm_attn")
def resnet18_bilstm_attn(
    task_spec: dict[str, int],
    *,
    pretrained: str | None = None,
    dropout: float = 0.3,
    drop_path: float = 0.0,
    lstm_hidden: int = 256,
    attention_dim: int = 256,
    use_attention: bool = True,
    bidirectional: bool = True,
    finetune_layers: list[str] | None = None,
) -> CNNBiLSTMAttention:
    """Seed 003: ResNet-18 (512-d) -> BiLSTM(256 per direction) -> temporal attention -> time mean -> heads.

    ``use_attention=False`` averages the LSTM outputs directly (no attention parameters); ``bidirectional=False``
    is a unidirectional LSTM of ``lstm_hidden`` units; ``finetune_layers`` (e.g. ``["layer3", "layer4"]``) trains
    only the named ResNet stages ("stem", "layer1".."layer4"), None trains the whole backbone.
    """
    return CNNBiLSTMAttention(
        task_spec,
        arch="resnet18",
        pretrained=pretrained,
        dropout=dropout,
        drop_path=drop_path,
        lstm_hidden=lstm_hidden,
        lstm_layers=1,
        bidirectional=bidirectional,
        readout="mean",
        attention_dim=attention_dim if use_attention else None,
        finetune_layers=finetune_layers,
    )
