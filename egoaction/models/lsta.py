"""LSTA: Long Short-Term Attention, a recurrent attention + memory cell on ResNet-34 frame features.

Source: Sudhakaran, Escalera & Lanz, "LSTA: Long Short-Term Attention for Egocentric Action Recognition",
CVPR 2019 (arXiv 1811.10698), and its code (swathikirans/LSTA @ 46f3a2a: MyConvLSTACell.py, attentionModel.py,
resNetNew.py, main_rgb.py, train_rgb.sh); reference/models.md §3 (which shares §1's backbone, CAM and noBN
conventions with Ego-RNN). The paper's full text was not available here, so where it and the code might differ the
code (as recorded in models.md §3) is followed.

Architecture (``lsta_resnet34``): the ResNet-34 of Ego-RNN that keeps its 1000-way ImageNet fc (``backbone.fc.*``,
so torchvision weights load) as the attention dictionary W_s. Per frame t, the last layer4 block gives the post-BN
f_t and the pre-BN x_t (:func:`~egoaction.models.convlstm.resnet_nobn_features`); the saliency m_t is the CAM of the
top-1 ImageNet class of GAP(f_t), *not* softmaxed (:func:`attention_saliency`). :class:`LSTACell` then runs

- the attention recurrence on the 1-channel maps: gates i, f, o, a~ each from a 3x3 conv of s_{t-1} (with bias) plus
  a 3x3 conv of m_t (no bias); a_t = f * a_{t-1} + i * a~, s_t = o * tanh(a_t); the attention alpha_t is the
  softmax of s_t + m_t over the h*w cells, and x~_t = alpha_t * x_t;
- the memory recurrence (hidden ``memory`` = 512, 3x3 convs): i, f, c~ from W_x* x~_t (bias) + W_h* h_{t-1}
  (no bias), c_t = f * c_{t-1} + i * c~, with h_{t-1} = o_{t-1} * tanh(c_{t-1});
- output pooling: k* = argmax(W_c GAP(c_t) + W_cp GAP(x~_t)) with two ``pool_size`` x 512 dictionaries without
  bias, c^_t = W_c[k*] * c_t (channel reweighting), and the output gate o_t = sigmoid(W_ho h_{t-1} + W_co c^_t + b_o).

The clip feature is AvgPool of the final memory c_T -> dropout 0.7 -> TaskHeads (one head "action" or several,
e.g. "verb" + "noun"). Outputs: ``{task: (B, C), "attention": (B, T, h, w)}``, alpha_t per frame (float32, each map
sums to 1). Sizes: cell 18,978,892 = 18,876,416 (the ConvLSTM-like memory part) + 76 (attention convs) + 102,400
(two dictionaries); with ResNet-34 + ImageNet fc (21,797,672) and a 61-way head, 40,807,857 parameters.

Training stages (reference main_rgb.py), set at construction by ``stage``; names are identical in both, so stage 2
loads a stage-1 state dict strictly. Trainable parameters:

- stage 1: ``cell.*`` except ``cell.input_dictionary.weight``, and ``heads.*``;
- stage 2: the above plus ``backbone.layer4.{0,1,2}.conv1.weight``, ``backbone.layer4.{0,1,2}.conv2.weight`` and
  ``backbone.fc.weight`` (layer4's BatchNorm and downsample stay frozen).

Choices where the paper, the code and models.md differ, or where they are silent:

- Any grid: the reference hard-codes 7x7 (AvgPool2d(7), views to 7x7); here pooling is a spatial mean and the
  softmax runs over the h*w cells of layer4, so 64x64 inputs (2x2 grid) work too. Identical at 224x224.
- Fused convs (same function, same parameter count): the four attention s-convs are one ``Conv2d(1 -> 4)``
  (``attention_state_conv``), the four m-convs another (``attention_saliency_conv``); the memory's input convs of
  i, f, c~ are one ``Conv2d(C -> 3M)`` (``input_conv``), the four hidden convs one ``Conv2d(M -> 4M)`` without bias
  (``hidden_conv``, blocks i, f, c~, o), and W_co is ``pooled_conv``. The reference puts b_o on the conv it names
  ``conv_o_x``, which (despite the name) convolves h_{t-1}; here b_o is ``pooled_conv.bias``, the same sum.
  Each gate block is Xavier-normal initialised as its own conv would be, biases zero, as the reference; the
  dictionaries keep PyTorch's Linear init, as the reference. The output gate has no x~_t term (code and models.md).
- W_cp (``cell.input_dictionary``) is frozen: it only enters the argmax that picks k*, so no gradient ever reaches
  it, and the reference's Adam skips it (it stays at its random init there too). It is kept as a parameter so the
  parameter count and layout match the reference. Likewise ``backbone.fc.bias`` stays frozen in stage 2 although
  the reference lists the whole fc: it only moves the argmax that picks the CAM class (as in
  :mod:`egoaction.models.egornn`). So every trainable parameter receives a gradient.
- With a single frame, the output gate (``hidden_conv``'s use on h_0 = 0, ``pooled_conv``, W_c) cannot affect
  c_T and gets no gradient: the classifier reads c_T, not h_T (reference). Clips need T >= 2 to train them.
- Precision: the saliency, the attention recurrence (76 parameters on 1-channel maps), its softmax and the k*
  selection run in float32 with autocast off, so maps sum to 1 and argmaxes are stable under bf16 autocast; the
  memory c_t is kept in float32 so 25 steps of bf16 rounding do not accumulate. The 512-channel convs follow autocast.
- Zero initial states are materialised (a_0 = s_0 = 0 still let the s-conv biases act at t = 1, as in the reference).
- Not implemented: the paper's cross-modal (flow -> RGB) gate biases; the released code is RGB-only.
- BatchNorm: every backbone BN is frozen in both stages (the reference keeps the model in eval); the engine keeps
  such layers in eval (:func:`egoaction.models.freeze.set_batchnorm_mode`).
- Recipe (GTEA61, reference train_rgb.sh): Adam lr 1e-3, weight decay 5e-4, eps 1e-4, x0.1 at epochs 25/75/150,
  200 epochs, 25 frames (``np.linspace(..., endpoint=True)``), batch 32, outPoolSize 100, memSize 512. The code
  gives no stage-2 values; configs/gtea61/lsta_stage2.yaml uses Ego-RNN's (lr 1e-4, x0.1 at 25/75, 150 epochs).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn
from torchvision import models as tvm

from egoaction.models._registry import register_model
from egoaction.models.base import InputSpec, VideoModel
from egoaction.models.convlstm import class_activation_map, resnet_nobn_features
from egoaction.models.egornn import FEATURES, cam_resnet34, set_egornn_trainable
from egoaction.models.heads import TaskHeads

__all__ = [
    "ATTENTION_GATES",
    "LSTA",
    "MEMORY_GATES",
    "LSTACell",
    "LSTAState",
    "attention_saliency",
    "lsta_resnet34",
]

# gate order along the output channels of the fused convs
ATTENTION_GATES = ("i", "f", "a", "o")
MEMORY_GATES = ("i", "f", "c", "o")


class LSTAState(NamedTuple):
    """LSTA's recurrent state: attention (a, s) each (B, 1, h, w), memory c and output gate o each (B, M, h, w)."""

    a: Tensor
    s: Tensor
    c: Tensor
    o: Tensor

    @property
    def hidden(self) -> Tensor:
        """h = o * tanh(c), (B, M, h, w): the reference keeps (c, o) and rebuilds h when it is needed."""
        return self.o * torch.tanh(self.c)


def attention_saliency(features: Tensor, weight: Tensor, bias: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Attention pooling: f (N, D, h, w), fc weight (K, D), bias (K,) -> (saliency m (N, 1, h, w), class (N,)).

    The class is the top-1 of ``weight @ GAP(f) + bias``; m is that class's weight row summed over the channels of
    f at every cell (the CAM, no bias, no softmax). Gradients reach f and the selected weight rows.
    """
    cam, cls = class_activation_map(features, weight, bias)
    return cam.unsqueeze(1), cls


def _xavier_per_block(weight: Tensor, blocks: int) -> None:
    """Xavier-normal init of each of ``blocks`` row blocks of a fused conv weight, as if it were its own conv."""
    for block in weight.chunk(blocks):
        nn.init.xavier_normal_(block)


class LSTACell(nn.Module):
    """One LSTA step: x (B, C, h, w), saliency m (B, 1, h, w), state or None -> (new state, alpha (B, h, w))."""

    def __init__(
        self, input_channels: int = FEATURES, memory: int = 512, pool_size: int = 100, kernel_size: int = 3
    ) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd so the grid keeps its size, got {kernel_size}")
        if min(input_channels, memory, pool_size) < 1:
            raise ValueError(
                f"input_channels, memory and pool_size must be >= 1, got {input_channels, memory, pool_size}"
            )
        self.input_channels, self.memory, self.pool_size = input_channels, memory, pool_size
        pad = kernel_size // 2
        # attention recurrence: per gate K_*s on s_{t-1} (with bias) + K_*m on m_t (no bias), 1 -> 1 channel
        self.attention_state_conv = nn.Conv2d(1, 4, kernel_size, padding=pad)
        self.attention_saliency_conv = nn.Conv2d(1, 4, kernel_size, padding=pad, bias=False)
        # memory recurrence: W_x{i,f,c} on x~_t (bias), W_h{i,f,c,o} on h_{t-1} (no bias), W_co on c^_t (bias b_o)
        self.input_conv = nn.Conv2d(input_channels, 3 * memory, kernel_size, padding=pad)
        self.hidden_conv = nn.Conv2d(memory, 4 * memory, kernel_size, padding=pad, bias=False)
        self.pooled_conv = nn.Conv2d(memory, memory, kernel_size, padding=pad)
        # output pooling dictionaries W_c (memory) and W_cp (attended input)
        self.memory_dictionary = nn.Linear(memory, pool_size, bias=False)
        self.input_dictionary = nn.Linear(input_channels, pool_size, bias=False)
        # W_cp only feeds an argmax, so it can never get a gradient (the reference's Adam skips it too)
        self.input_dictionary.requires_grad_(False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier-normal conv weights per gate block, zero biases (reference); dictionaries keep Linear's init."""
        with torch.no_grad():
            for conv, blocks in (
                (self.attention_state_conv, 4),
                (self.attention_saliency_conv, 4),
                (self.input_conv, 3),
                (self.hidden_conv, 4),
                (self.pooled_conv, 1),
            ):
                _xavier_per_block(conv.weight, blocks)
                if conv.bias is not None:
                    nn.init.zeros_(conv.bias)

    def initial_state(self, x: Tensor) -> LSTAState:
        """Zero state for inputs x (B, C, h, w): a, s (B, 1, h, w) and c (B, M, h, w) float32, o in x's dtype."""
        b, _, h, w = x.shape
        zeros = x.new_zeros(b, 1, h, w, dtype=torch.float32)
        memory = x.new_zeros(b, self.memory, h, w, dtype=torch.float32)
        return LSTAState(zeros, zeros.clone(), memory, torch.zeros_like(memory, dtype=x.dtype))

    def attention_gates(self, saliency: Tensor, s: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Pre-activations of the attention gates (i, f, a~, o), each (B, 1, h, w), from m_t and s_{t-1}."""
        pre = self.attention_state_conv(s) + self.attention_saliency_conv(saliency)
        i, f, a, o = pre.chunk(len(ATTENTION_GATES), dim=1)
        return i, f, a, o

    def attend(self, saliency: Tensor, a: Tensor, s: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Attention recurrence: m_t, a_{t-1}, s_{t-1} (B, 1, h, w) -> a_t, s_t and alpha_t (B, 1, h, w), float32."""
        # 76 parameters on 1-channel maps: float32 costs nothing and keeps the softmax summing to 1
        with torch.autocast(saliency.device.type, enabled=False):
            saliency, a, s = saliency.float(), a.float(), s.float()
            i, f, a_new, o = self.attention_gates(saliency, s)
            a = torch.sigmoid(f) * a + torch.sigmoid(i) * torch.tanh(a_new)
            s = torch.sigmoid(o) * torch.tanh(a)
            alpha = (s + saliency).flatten(1).softmax(dim=1).view_as(s)
        return a, s, alpha

    def memory_gates(self, attended: Tensor, hidden: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Pre-activations (i, f, c~, W_ho h_{t-1}), each (B, M, h, w), from x~_t (B, C, h, w) and h_{t-1}."""
        xi, xf, xc = self.input_conv(attended).chunk(3, dim=1)
        hi, hf, hc, ho = self.hidden_conv(hidden).chunk(len(MEMORY_GATES), dim=1)
        return xi + hi, xf + hf, xc + hc, ho

    def output_pool(self, memory: Tensor, attended: Tensor) -> tuple[Tensor, Tensor]:
        """c_t (B, M, h, w), x~_t (B, C, h, w) -> c^_t = W_c[k*] * c_t (B, M, h, w) and k* (B,)."""
        with torch.autocast(memory.device.type, enabled=False):
            scores = self.memory_dictionary(memory.float().mean(dim=(2, 3)))
            scores = scores + self.input_dictionary(attended.float().mean(dim=(2, 3)))
            k = scores.argmax(dim=1)
        # indexing keeps W_c differentiable: the selected rows get the output gate's gradient
        return self.memory_dictionary.weight[k][:, :, None, None] * memory, k

    def forward(self, x: Tensor, saliency: Tensor, state: LSTAState | None = None) -> tuple[LSTAState, Tensor]:
        """One step: x_t (B, C, h, w), m_t (B, 1, h, w), state or None (zeros) -> (new state, alpha_t (B, h, w))."""
        if state is None:
            state = self.initial_state(x)
        a, s, alpha = self.attend(saliency, state.a, state.s)
        attended = x * alpha.to(x.dtype)
        i, f, g, ho = self.memory_gates(attended, state.hidden.to(x.dtype))
        # state.c is float32, so c_t stays float32 under bf16 autocast
        c = torch.sigmoid(f) * state.c + torch.sigmoid(i) * torch.tanh(g)
        pooled, _ = self.output_pool(c, attended)
        o = torch.sigmoid(ho + self.pooled_conv(pooled))
        return LSTAState(a, s, c, o), alpha.squeeze(1)

    def extra_repr(self) -> str:
        """Widths, shown in ``print(model)``."""
        return f"input_channels={self.input_channels}, memory={self.memory}, pool_size={self.pool_size}"


class LSTA(VideoModel):
    """LSTA on ResNet-34: noBN layer4 + CAM saliency -> LSTA cell over time -> AvgPool(c_T) -> heads.

    Reads ``batch["rgb"]`` (B, T, 3, H, W); returns ``{task: (B, C), "attention": (B, T, h, w)}``.
    """

    backbone: tvm.ResNet
    input_spec = InputSpec(frames=25, size=(224, 224))

    def __init__(
        self,
        task_spec: dict[str, int],
        *,
        pretrained: str | None = None,
        stage: int = 1,
        memory: int = 512,
        pool_size: int = 100,
        dropout: float = 0.7,
    ) -> None:
        super().__init__(task_spec, modalities=("rgb",))
        self.stage = stage
        self.backbone = cam_resnet34(pretrained)
        # stage 1: backbone frozen; stage 2: + layer4 conv1/conv2 weights and the fc weight (W_s)
        set_egornn_trainable(self.backbone, stage, cam=True)
        self.cell = LSTACell(FEATURES, memory, pool_size)
        self.heads = TaskHeads(memory, self.task_spec, dropout=dropout)

    def frame_features(self, rgb: Tensor) -> tuple[Tensor, Tensor]:
        """rgb (B, T, 3, H, W) -> pre-BN layer4 x (B, T, 512, h, w) and saliency m (B, T, 1, h, w) float32."""
        b, t = rgb.shape[:2]
        f, x = resnet_nobn_features(self.backbone, rgb.flatten(0, 1))
        saliency, _ = attention_saliency(f, self.backbone.fc.weight, self.backbone.fc.bias)
        return x.unflatten(0, (b, t)), saliency.unflatten(0, (b, t))

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """{task: logits (B, C), "attention": alpha (B, T, h, w)}."""
        x, saliency = self.frame_features(self.read_input(batch, "rgb"))
        state: LSTAState | None = None
        maps = []
        for t in range(x.shape[1]):
            state, alpha = self.cell(x[:, t], saliency[:, t], state)
            maps.append(alpha)
        assert state is not None, "a clip needs at least one frame"
        # the clip feature pools the memory c_T, not h_T (reference)
        feature = state.c.mean(dim=(2, 3))
        return {**self.heads(feature), "attention": torch.stack(maps, dim=1)}

    def extra_repr(self) -> str:
        """Stage, shown in ``print(model)``."""
        return f"{super().extra_repr()}, stage={self.stage}"


@register_model("lsta_resnet34")
def lsta_resnet34(
    task_spec: dict[str, int],
    *,
    pretrained: str | None = None,
    stage: int = 1,
    memory: int = 512,
    pool_size: int = 100,
    dropout: float = 0.7,
) -> LSTA:
    """LSTA on ResNet-34 (40.81M with 61 classes); ``stage`` 1 or 2 picks the trainable set; 25 x 224x224 clips.

    ``pretrained``: None, "imagenet" (local torch hub cache, fc kept) or a path; ``memory``: the cell's width;
    ``pool_size``: rows of the output-pooling dictionaries W_c and W_cp; ``dropout``: before the heads.
    """
    return LSTA(task_spec, pretrained=pretrained, stage=stage, memory=memory, pool_size=pool_size, dropout=dropout)
