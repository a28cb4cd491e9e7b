"""Ego-RNN building blocks: the ConvLSTM cell, CAM attention and the noBN layer4 output."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision import models as tvm

from egoaction.models.convlstm import GATES, ConvLSTMCell, cam_attention, resnet_nobn_features, uniform_attention


def reference_step(cell: ConvLSTMCell, x: Tensor, h: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
    """The models.md §1.2 equations with one input conv (bias) and one hidden conv (no bias) per gate."""
    pre = {}
    for gate in GATES:
        wx, bx, wh = cell.gate_weights(gate)
        pre[gate] = F.conv2d(x, wx, bx, padding=1) + F.conv2d(h, wh, padding=1)
    c_new = torch.sigmoid(pre["f"]) * c + torch.sigmoid(pre["i"]) * torch.tanh(pre["c"])
    return torch.sigmoid(pre["o"]) * torch.tanh(c_new), c_new


def test_gate_shapes_and_parameter_count() -> None:
    cell = ConvLSTMCell(5, 6)
    for gate in GATES:
        wx, bx, wh = cell.gate_weights(gate)
        assert wx.shape == (6, 5, 3, 3) and bx.shape == (6,) and wh.shape == (6, 6, 3, 3)
    assert cell.hidden_conv.bias is None
    h, c = cell(torch.randn(2, 5, 7, 7))
    assert h.shape == c.shape == (2, 6, 7, 7)
    # models.md §1.2: 8 convs 512 -> 512 (3x3) plus 4 x 512 biases
    with torch.device("meta"):
        big = ConvLSTMCell(512, 512)
    assert sum(p.numel() for p in big.parameters()) == 18_876_416


def test_step_matches_the_per_gate_equations() -> None:
    torch.manual_seed(0)
    cell = ConvLSTMCell(4, 3)
    torch.nn.init.normal_(cell.input_conv.bias)  # non-zero biases, so a gate-order mix-up would show
    x, h, c = torch.randn(2, 4, 5, 5), torch.randn(2, 3, 5, 5), torch.randn(2, 3, 5, 5)
    got = cell(x, (h, c))
    want = reference_step(cell, x, h, c)
    torch.testing.assert_close(got[0], want[0])
    torch.testing.assert_close(got[1], want[1])


def test_no_state_is_the_zero_state() -> None:
    torch.manual_seed(0)
    cell = ConvLSTMCell(4, 3)
    x = torch.randn(2, 4, 5, 5)
    h0, c0 = cell.zero_state(x)
    assert h0.shape == (2, 3, 5, 5) and not h0.any() and not c0.any()
    for got, want in zip(cell(x), cell(x, (h0, c0)), strict=True):
        torch.testing.assert_close(got, want)


def test_gradients_reach_every_gate_conv() -> None:
    torch.manual_seed(0)
    cell = ConvLSTMCell(4, 3)
    state = None
    for _ in range(3):  # the hidden convs and the forget gate only act from the second step on
        state = cell(torch.randn(2, 4, 5, 5), state)
    assert state is not None
    (state[0].sum() + state[1].sum()).backward()
    assert cell.input_conv.bias is not None and cell.input_conv.bias.grad is not None
    for k, gate in enumerate(GATES):
        rows = slice(3 * k, 3 * (k + 1))
        for grad in (cell.input_conv.weight.grad, cell.input_conv.bias.grad, cell.hidden_conv.weight.grad):
            assert grad is not None and grad[rows].abs().sum() > 0, gate


def test_xavier_normal_per_gate_and_zero_biases() -> None:
    torch.manual_seed(0)
    cell = ConvLSTMCell(32, 64)
    assert cell.input_conv.bias is not None and not cell.input_conv.bias.any()
    for gate in GATES:
        wx, _, wh = cell.gate_weights(gate)
        # Xavier std of one gate's own conv: sqrt(2 / (fan_in + fan_out)), fan = channels x 9
        for w, fan_in in ((wx, 32 * 9), (wh, 64 * 9)):
            want = math.sqrt(2.0 / (fan_in + 64 * 9))
            assert w.std().item() == pytest.approx(want, rel=0.05)
            assert abs(w.mean().item()) < 0.1 * want


def hand_built_features() -> tuple[Tensor, Tensor]:
    """f (2, 3, 2, 2) whose channel k is large in cell k for sample 0; an fc (3, 3) that reads channel k as class k."""
    f = torch.zeros(2, 3, 2, 2)
    f[0, 1] = torch.tensor([[4.0, 0.0], [0.0, 0.0]])  # sample 0: channel 1 has the largest mean -> class 1
    f[0, 2, 1, 1] = 1.0
    f[1, 2] = torch.tensor([[0.0, 1.0], [2.0, 3.0]])  # sample 1: class 2
    return f, torch.eye(3)


def test_cam_picks_the_top_imagenet_class_and_softmaxes_its_map() -> None:
    f, weight = hand_built_features()
    attention, cls = cam_attention(f, weight, torch.zeros(3))
    assert cls.tolist() == [1, 2]
    torch.testing.assert_close(attention[0], torch.tensor([4.0, 0, 0, 0]).softmax(0).view(2, 2))
    torch.testing.assert_close(attention[1], torch.tensor([0.0, 1, 2, 3]).softmax(0).view(2, 2))
    # the bias takes part in choosing the class but not in the map
    attention, cls = cam_attention(f, weight, torch.tensor([10.0, 0.0, 0.0]))
    assert cls.tolist() == [0, 0]
    torch.testing.assert_close(attention, torch.full((2, 2, 2), 0.25))


def test_cam_sums_to_one_under_bf16_autocast() -> None:
    torch.manual_seed(0)
    f = torch.randn(6, 16, 7, 7, requires_grad=True)
    fc = torch.nn.Linear(16, 10)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        attention, cls = cam_attention(f.bfloat16(), fc.weight, fc.bias)
    assert attention.dtype == torch.float32 and attention.shape == (6, 7, 7)
    torch.testing.assert_close(attention.sum(dim=(1, 2)), torch.ones(6))
    attention[:, 0, 0].sum().backward()
    assert f.grad is not None and fc.weight.grad is not None
    assert fc.weight.grad[cls].abs().sum() > 0  # the selected rows learn
    torch.testing.assert_close(uniform_attention(f).sum(dim=(1, 2)), torch.ones(6))


@torch.no_grad()
def test_nobn_tensor_is_conv2_before_bn2_plus_the_shortcut() -> None:
    torch.manual_seed(0)
    net = tvm.resnet18(weights=None).eval()
    for bn in net.modules():  # non-trivial BatchNorm so "before bn2" differs from "after"
        if isinstance(bn, torch.nn.BatchNorm2d):
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
    last = net.layer4[-1]
    seen: dict[str, Tensor] = {}
    last.register_forward_hook(lambda m, inputs, out: seen.update(block_in=inputs[0], block_out=out))
    last.conv2.register_forward_hook(lambda m, inputs, out: seen.update(conv2=out))
    images = torch.randn(2, 3, 64, 64)
    net(images)
    f, x = resnet_nobn_features(net, images)
    assert f.shape == x.shape == (2, 512, 2, 2)
    torch.testing.assert_close(f, seen["block_out"])
    torch.testing.assert_close(x, seen["conv2"] + seen["block_in"])  # identity shortcut in the last block
    assert (x < 0).any(), "no ReLU on the noBN tensor"
