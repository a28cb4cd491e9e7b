"""GSF: gate, shift and fuse on a small module, hand-built cases, re-ordering, parameter overhead and weights."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor, nn
from torchvision import models as tvm
from torchvision.models.resnet import Bottleneck

import egoaction.models.gsf  # noqa: F401  (registers gsf_*)
from egoaction.models import count_parameters, create_model
from egoaction.models.gsf import GSF, GateShiftFuse, add_gate_shift_fuse, gsf_channels, interleave_halves, shift_frames
from egoaction.models.tsm import SegmentCount

B, C, T, S = 2, 8, 4, 6


def clips(seed: int = 0) -> Tensor:
    """Random X (B, C, T, S, S)."""
    return torch.randn(B, C, T, S, S, generator=torch.Generator().manual_seed(seed))


def coded() -> Tensor:
    """X (1, C, T, 2, 2) whose value is 100*t + c + 1 at channel c, frame t (never 0)."""
    c, t = torch.meshgrid(torch.arange(C), torch.arange(T), indexing="ij")
    return (100 * t + c + 1).float()[None, :, :, None, None].expand(1, C, T, 2, 2).contiguous()


@torch.no_grad()
def force(gsf: GateShiftFuse, gate_bias: float, fuse_bias: float) -> GateShiftFuse:
    """Constant gates tanh(gate_bias) and fuse weights sigmoid(fuse_bias): zero weights, chosen biases."""
    gsf.conv3D.weight.zero_()
    gsf.conv3D.bias.fill_(gate_bias)
    for conv in (gsf.channel_conv1, gsf.channel_conv2):
        conv.weight.zero_()
        conv.bias.fill_(fuse_bias)
    return gsf.eval()


@pytest.fixture
def gsf() -> GateShiftFuse:
    torch.manual_seed(0)
    return GateShiftFuse(C).eval()


@torch.no_grad()
def test_gate_shift_fuse_shapes_and_ranges(gsf: GateShiftFuse) -> None:
    x = clips()
    gate = gsf.gates(x)
    assert gate.shape == (B, 2, T, S, S)
    assert gate.abs().max() < 1
    x1 = x[:, :4]
    y = shift_frames(gate[:, :1] * x1, 1)
    w = gsf.fuse_weights(0, y, x1 - gate[:, :1] * x1)
    assert w.shape == (B, 4, T) and w.min() > 0 and w.max() < 1
    assert gsf.gate_shift_fuse(x).shape == (B, C, T, S, S)
    frames = x.transpose(1, 2).flatten(0, 1)  # (B*T, C, S, S)
    assert gsf(frames, T).shape == (B * T, C, S, S)


@torch.no_grad()
def test_each_gate_plane_sees_only_its_group_and_gates_the_raw_input(gsf: GateShiftFuse) -> None:
    x = clips()
    other = x.clone()
    other[:, 4:] += 5.0  # change group 2 only
    assert torch.equal(gsf.gates(other)[:, 0], gsf.gates(x)[:, 0])
    assert not torch.allclose(gsf.gates(other)[:, 1], gsf.gates(x)[:, 1])
    # with w forced to 1 the output is the shifted gated part: one gate map per group times the raw X
    gsf.channel_conv1.weight.zero_()
    gsf.channel_conv2.weight.zero_()
    gsf.channel_conv1.bias.fill_(30.0)
    gsf.channel_conv2.bias.fill_(30.0)
    gate = gsf.gates(x)
    expected = [
        interleave_halves(shift_frames(gate[:, :1] * x[:, :4], 1)),
        interleave_halves(shift_frames(gate[:, 1:] * x[:, 4:], -1)),
    ]
    torch.testing.assert_close(gsf.gate_shift_fuse(x), torch.cat(expected, dim=1))


@torch.no_grad()
def test_open_gates_shift_group_one_backward_and_group_two_forward(gsf: GateShiftFuse) -> None:
    force(gsf, gate_bias=20.0, fuse_bias=30.0)  # g = 1 and w = 1 in float32: Z_k = shifted X_k
    out = gsf.gate_shift_fuse(coded())[0, :, :, 0, 0]  # (C, T)
    # after re-ordering, output channel i holds input channel ORDER[i]
    order = [0, 2, 1, 3, 4, 6, 5, 7]
    for i, c in enumerate(order):
        for t in range(T):
            source = t + 1 if c < 4 else t - 1  # group 1 (channels 0-3) takes frame t+1, group 2 frame t-1
            expected = 100 * source + c + 1 if 0 <= source < T else 0  # zeros past the clip ends
            assert out[i, t].item() == expected, (i, t)


@torch.no_grad()
def test_closed_gates_leave_the_residual_unshifted_and_only_reorder(gsf: GateShiftFuse) -> None:
    force(gsf, gate_bias=0.0, fuse_bias=-30.0)  # g = 0: Y = 0, R = X; w ~ 0
    x = coded()
    assert torch.equal(gsf.gate_shift_fuse(x), x[:, [0, 2, 1, 3, 4, 6, 5, 7]])


@torch.no_grad()
def test_fuse_is_a_convex_combination_with_weight_w_on_the_shifted_part(gsf: GateShiftFuse) -> None:
    # g = 0.5 and w = 0.8: Z = 0.8 * shift(0.5 X) + 0.2 * 0.5 X
    force(gsf, gate_bias=math.atanh(0.5), fuse_bias=math.log(4.0))
    x = clips()
    back, fwd = shift_frames(x[:, :4], 1), shift_frames(x[:, 4:], -1)
    expected = torch.cat(
        [interleave_halves(0.4 * back + 0.1 * x[:, :4]), interleave_halves(0.4 * fwd + 0.1 * x[:, 4:])], dim=1
    )
    torch.testing.assert_close(gsf.gate_shift_fuse(x), expected)


def test_channel_reordering_permutation() -> None:
    idx = torch.arange(8.0)[None, :, None]
    assert interleave_halves(idx)[0, :, 0].tolist() == [0, 4, 1, 5, 2, 6, 3, 7]
    odd = torch.arange(5.0)[None, :, None]
    assert interleave_halves(odd)[0, :, 0].tolist() == [0, 3, 1, 4, 2]


@torch.no_grad()
def test_bypass_channels_are_appended_unchanged() -> None:
    torch.manual_seed(0)
    gsf = force(GateShiftFuse(16, channel_ratio=0.5), gate_bias=0.0, fuse_bias=-30.0)
    assert gsf.channels == 8
    x = torch.randn(B * T, 16, 3, 3).to(memory_format=torch.channels_last)
    out = gsf(x, T)
    assert torch.equal(out, x[:, [0, 2, 1, 3, 4, 6, 5, 7, *range(8, 16)]])
    assert out.is_contiguous(memory_format=torch.channels_last)


def test_gated_channel_count_rounds_and_stays_even() -> None:
    assert [gsf_channels(256, r) for r in (1.0, 0.25, 0.3)] == [256, 64, 78]  # 76.8 -> 77 -> 78
    assert gsf_channels(10, 0.5) == 6 and gsf_channels(6, 1.0) == 6
    for bad in (0.0, 1.5):
        with pytest.raises(ValueError, match="channel_ratio"):
            gsf_channels(256, bad)


@pytest.mark.parametrize(("ratio", "overhead"), [(1.0, 438_656), (0.25, 110_144)])
def test_parameter_overhead_in_resnet50_is_29_c_plus_40_per_module(ratio: float, overhead: int) -> None:
    with torch.device("meta"):
        model = create_model("gsf_resnet50", {"verb": 97, "noun": 300}, channel_ratio=ratio)
        tsn = create_model("tsn_resnet50", {"verb": 97, "noun": 300})
    modules = [m for m in model.modules() if isinstance(m, GateShiftFuse)]
    assert len(modules) == 16
    assert all(count_parameters(m) == 29 * m.channels + 40 for m in modules)
    # ratio 1: C' = 256 x3, 512 x4, 1024 x6, 2048 x3 -> 29 * 15104 + 16 * 40
    assert count_parameters(model) - count_parameters(tsn) == overhead


def test_module_sits_between_conv3_and_bn3() -> None:
    torch.manual_seed(0)
    block = Bottleneck(32, 8).eval()  # 32 -> 8 -> 32
    segments = SegmentCount()
    (gsf,) = add_gate_shift_fuse(nn.Sequential(block), segments)
    seen: dict[str, Tensor] = {}
    block.conv3.register_forward_hook(lambda m, i, o: seen.__setitem__("conv3", o))
    block.bn3.register_forward_pre_hook(lambda m, i: seen.__setitem__("bn3", i[0]))  # runs after the GSF hook
    x = torch.randn(2 * 3, 32, 4, 4)
    with segments.use(3), torch.no_grad():
        block(x)
        torch.testing.assert_close(seen["bn3"], gsf(seen["conv3"], 3))
    assert gsf.channels == 32


def test_imagenet_layout_resnet50_weights_load(tmp_path) -> None:
    torch.manual_seed(1)
    state = tvm.resnet50().state_dict()
    torch.save(state, tmp_path / "r50.pth")
    model = create_model("gsf_resnet50", {"action": 3}, pretrained=str(tmp_path / "r50.pth"))
    loaded = model.backbone.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in state.items() if not k.startswith("fc."))
    new = set(loaded) - set(state)
    # per module: bn (5 entries), conv3D (2), channel_conv1/2 (2 each)
    assert len(new) == 16 * 11 and all(".gsf." in k for k in new)


def test_a_gsf_backbone_state_loads_fully_and_must_be_complete(tmp_path) -> None:
    torch.manual_seed(2)
    trained = create_model("gsf_resnet18", {"action": 3})
    state = trained.backbone.state_dict()
    torch.save({f"backbone.{k}": v for k, v in state.items()}, tmp_path / "gsf.pth")
    model = create_model("gsf_resnet18", {"action": 3}, pretrained=str(tmp_path / "gsf.pth"))
    assert all(torch.equal(model.backbone.state_dict()[k], v) for k, v in state.items())
    del state["layer1.0.gsf.conv3D.bias"]
    torch.save(state, tmp_path / "broken.pth")
    with pytest.raises(ValueError, match=r"missing keys \(1\)"):
        create_model("gsf_resnet18", {"action": 3}, pretrained=str(tmp_path / "broken.pth"))


@pytest.fixture(scope="module")
def gsf18() -> GSF:
    torch.manual_seed(0)
    return GSF({"verb": 3, "noun": 4}, depth=18).eval()


@torch.no_grad()
def test_segments_come_from_the_input(gsf18: GSF) -> None:
    x = torch.randn(2, 8, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    for t in (4, 8):
        assert gsf18({"rgb": x[:, :t]})["noun"].shape == (2, 4)
    both = gsf18({"rgb": x})["verb"]
    alone = torch.cat([gsf18({"rgb": x[i : i + 1]})["verb"] for i in range(2)])
    torch.testing.assert_close(both, alone, rtol=1e-4, atol=1e-5)
    as_two = gsf18({"rgb": x[:1].reshape(2, 4, 3, 32, 32)})["verb"].mean(0)
    assert not torch.allclose(as_two, gsf18({"rgb": x[:1]})["verb"][0], atol=1e-4)
    # and the model reacts to frame order
    assert not torch.allclose(gsf18({"rgb": x.flip(1)})["verb"], both, atol=1e-4)


def test_kwargs_reach_the_model() -> None:
    model = create_model("gsf_resnet18", {"action": 2}, dropout=0.3, channel_ratio=0.25, drop_path=0.1)
    assert isinstance(model, GSF) and model.heads.dropout == 0.3
    assert [m.channels for m in model.modules() if isinstance(m, GateShiftFuse)] == [16, 16, 32, 32, 64, 64, 128, 128]
    model.train()({"rgb": torch.randn(2, 2, 3, 32, 32)})["action"].sum().backward()
    assert model.input_spec.frames == 8 and model.input_spec.size == (224, 224)
