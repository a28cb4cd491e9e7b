"""Ego-RNN building blocks: the convolutional LSTM cell, CAM spatial attention and ResNet's "noBN" layer4 output.

Source: Sudhakaran & Lanz, "Attention is All We Need: Nailing Down Object-centric Attention for Egocentric
Activity Recognition", BMVC 2018 (arXiv 1807.11794), and its code (swathikirans/ego-rnn @ 5467276:
MyConvLSTMCell.py, objectAttentionModelConvLSTM.py, resnetMod.py); reference/models.md §1.1-1.2. LSTA
(:mod:`egoaction.models.lsta`) reuses the CAM and the noBN features.

- :class:`ConvLSTMCell`: per gate g in (i, f, c, o) an input conv W_xg (with bias) and a hidden conv W_hg (no
  bias), 3x3, stride 1, "same" padding; no peepholes. Adaptation: the four input convs are stored as one
  ``Conv2d(C -> 4H)`` (``input_conv``) and the four hidden convs as one ``Conv2d(H -> 4H)`` (``hidden_conv``), gate
  blocks in the order i, f, c, o along the output channels. This is the same function and parameter count as eight
  separate convs (two kernel launches per step instead of eight); each H-row block is Xavier-normal initialised as
  if it were its own conv (fan_out = 9H, not 36H), biases zero, as the reference. The zero initial state is not
  materialised: at the first step the hidden conv of h_0 = 0 is skipped.
- :func:`cam_attention`: top-1 class of the ImageNet fc on GAP(f), CAM from that class's weight row (bias unused),
  softmax over the h*w cells. It runs in float32 with autocast off, so the map sums to 1 and the argmax is stable
  under bf16 autocast too.
- :func:`resnet_nobn_features`: the reference changes the last BasicBlock of layer4 to also return its conv2
  output before bn2, plus the shortcut, without ReLU. Here that block is recomputed from its own submodules, so the
  torchvision ResNet (and its ImageNet parameter names) is untouched.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision import models as tvm

__all__ = [
    "GATES",
    "ConvLSTMCell",
    "cam_attention",
    "class_activation_map",
    "resnet_nobn_features",
    "uniform_attention",
]

# gate order along the 4H output channels of the fused convs
GATES = ("i", "f", "c", "o")


class ConvLSTMCell(nn.Module):
    """Convolutional LSTM cell: x (B, C, h, w) and state (h, c) each (B, H, h, w), or None for zeros -> (h, c)."""

    def __init__(self, input_channels: int, hidden: int = 512, kernel_size: int = 3) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd so the grid keeps its size, got {kernel_size}")
        self.input_channels = input_channels
        self.hidden = hidden
        padding = kernel_size // 2
        self.input_conv = nn.Conv2d(input_channels, 4 * hidden, kernel_size, padding=padding)
        self.hidden_conv = nn.Conv2d(hidden, 4 * hidden, kernel_size, padding=padding, bias=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier-normal weights per gate block (as four separate convs would get), zero biases."""
        with torch.no_grad():
            for conv in (self.input_conv, self.hidden_conv):
                for block in conv.weight.chunk(len(GATES)):
                    nn.init.xavier_normal_(block)
            assert self.input_conv.bias is not None
            nn.init.zeros_(self.input_conv.bias)

    def gate_weights(self, gate: str) -> tuple[Tensor, Tensor, Tensor]:
        """Views of one gate's (W_x (H, C, k, k), b_x (H,), W_h (H, H, k, k)); ``gate`` is "i", "f", "c" or "o"."""
        k = GATES.index(gate)
        rows = slice(k * self.hidden, (k + 1) * self.hidden)
        assert self.input_conv.bias is not None
        return self.input_conv.weight[rows], self.input_conv.bias[rows], self.hidden_conv.weight[rows]

    def zero_state(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(h_0, c_0): zeros (B, H, h, w) on x's device and dtype."""
        zeros = x.new_zeros(x.shape[0], self.hidden, *x.shape[2:])
        return zeros, zeros.clone()

    def forward(self, x: Tensor, state: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        """One step: x (B, C, h, w), state (h, c) or None (zeros) -> new (h, c), each (B, H, h, w)."""
        gates = self.input_conv(x)
        if state is not None:
            gates = gates + self.hidden_conv(state[0])
        i, f, g, o = gates.chunk(len(GATES), dim=1)
        cell = torch.sigmoid(i) * torch.tanh(g)
        if state is not None:
            cell = cell + torch.sigmoid(f) * state[1]
        return torch.sigmoid(o) * torch.tanh(cell), cell

    def extra_repr(self) -> str:
        """Input and hidden widths, shown in ``print(model)``."""
        return f"input_channels={self.input_channels}, hidden={self.hidden}, gates={''.join(GATES)}"


def class_activation_map(features: Tensor, weight: Tensor, bias: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """CAM of the top class: f (B, D, h, w), fc weight (K, D), bias (K,) -> (map (B, h, w) float32, class (B,)).

    The class is the top-1 of ``weight @ GAP(f) + bias``; the map is ``weight[class] . f`` per cell (no bias, no
    softmax). Gradients reach ``f`` and the selected weight rows.
    """
    # float32 with autocast off: bf16 would blur near-tied logits and the scale of the map
    with torch.autocast(features.device.type, enabled=False):
        f = features.float()
        logits = F.linear(f.mean(dim=(2, 3)), weight.float(), None if bias is None else bias.float())
        cls = logits.argmax(dim=1)
        return torch.einsum("bd,bdhw->bhw", weight.float()[cls], f), cls


def cam_attention(features: Tensor, weight: Tensor, bias: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """CAM softmax attention: f (B, D, h, w), fc weight (K, D), bias (K,) -> (attention (B, h, w), class (B,)).

    :func:`class_activation_map` softmaxed over the h*w cells, so each map sums to 1.
    """
    cam, cls = class_activation_map(features, weight, bias)
    with torch.autocast(features.device.type, enabled=False):
        return cam.flatten(1).softmax(dim=1).view_as(cam), cls


def uniform_attention(features: Tensor) -> Tensor:
    """The attention of a model without CAM: 1 / (h*w) everywhere, (B, h, w) float32 for f (B, D, h, w)."""
    b, _, h, w = features.shape
    return features.new_full((b, h, w), 1.0 / (h * w), dtype=torch.float32)


def resnet_nobn_features(net: tvm.ResNet, images: Tensor) -> tuple[Tensor, Tensor]:
    """layer4 outputs of a BasicBlock ResNet for images (N, 3, H, W): (f, x), each (N, 512, H/32, W/32).

    f is the ordinary output, relu(bn2(conv2) + shortcut); x is conv2's output before bn2 plus the shortcut, with
    no ReLU (Ego-RNN's "noBN" tensor). ``net.fc`` and ``net.avgpool`` are not used.
    """
    y = net.maxpool(net.relu(net.bn1(net.conv1(images))))
    y = net.layer3(net.layer2(net.layer1(y)))
    *blocks, last = net.layer4
    if not isinstance(last, tvm.resnet.BasicBlock):
        raise TypeError(f"the noBN output needs a BasicBlock ResNet (18/34), got {type(last).__name__}")
    for block in blocks:
        y = block(y)
    shortcut = y if last.downsample is None else last.downsample(y)
    pre_bn = last.conv2(last.relu(last.bn1(last.conv1(y))))
    f = F.relu(last.bn2(pre_bn) + shortcut)
    return f, pre_bn + shortcut
