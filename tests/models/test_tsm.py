"""TSM: the shift itself on a hand-built tensor, T from the input, residual placement, weights and order."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision import models as tvm

import egoaction.models.tsm  # noqa: F401  (registers tsm_*)
from egoaction.models import count_parameters, create_model
from egoaction.models.tsm import TSM, temporal_shift


def frames(n: int, t: int, c: int, size: int = 2) -> Tensor:
    """(N*T, C, size, size) with value 1000*n + 100*t + c everywhere in frame t of clip n, channel c."""
    n_, t_, c_ = torch.meshgrid(torch.arange(n), torch.arange(t), torch.arange(c), indexing="ij")
    values = (1000 * n_ + 100 * t_ + c_).float()
    return values[..., None, None].expand(n, t, c, size, size).flatten(0, 1).contiguous()


def test_shift_moves_one_eighth_of_the_channels_each_way_with_zero_padding() -> None:
    # C = 16, fold_div 8 -> fold 2: channels 0-1 take frame t+1, channels 2-3 take frame t-1, 4-15 stay
    x = frames(2, 3, 16)
    out = temporal_shift(x, 3).unflatten(0, (2, 3))[..., 0, 0]  # (N, T, C)
    for n in range(2):
        base = 1000 * n
        for t in range(3):
            nxt = [base + 100 * (t + 1) + c for c in (0, 1)] if t < 2 else [0.0, 0.0]  # last frame: zeros
            prv = [base + 100 * (t - 1) + c for c in (2, 3)] if t > 0 else [0.0, 0.0]  # first frame: zeros
            same = [base + 100 * t + c for c in range(4, 16)]
            assert out[n, t].tolist() == [*nxt, *prv, *same]
    # the clip boundary is respected: clip 1's first frame never receives clip 0's last frame
    assert out[1, 0, 2:4].tolist() == [0.0, 0.0]


def test_shift_keeps_channels_last_and_bf16_and_is_differentiable() -> None:
    x = frames(1, 4, 16, size=3).to(memory_format=torch.channels_last).bfloat16().requires_grad_()
    out = temporal_shift(x, 4)
    assert out.dtype == torch.bfloat16 and out.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(out.float(), temporal_shift(x.detach().float().contiguous(), 4))
    out.sum().backward()
    # every input element reaches the output once, except the dropped ends: frame 0 of channels 0-1, frame 3 of 2-3
    grad = x.grad.float()[:, :, 0, 0]  # type: ignore[union-attr]
    assert grad[0, :2].tolist() == [0.0, 0.0] and grad[3, 2:4].tolist() == [0.0, 0.0]
    assert grad.sum().item() == 4 * 16 - 4


def test_shift_rejects_a_batch_that_is_not_whole_clips() -> None:
    with pytest.raises(ValueError, match="divisible by T=3"):
        temporal_shift(torch.zeros(4, 8, 2, 2), 3)


@pytest.fixture(scope="module")
def tsm18() -> TSM:
    torch.manual_seed(0)
    return TSM({"verb": 3, "noun": 4}, depth=18).eval()


def clip(b: int, t: int, seed: int = 0) -> Tensor:
    return torch.randn(b, t, 3, 32, 32, generator=torch.Generator().manual_seed(seed))


@torch.no_grad()
def test_segments_come_from_the_input_at_each_forward(tsm18: TSM) -> None:
    x8 = clip(2, 8)
    for t in (4, 8):
        assert tsm18({"rgb": x8[:, :t]})["verb"].shape == (2, 3)
    # clips of a batch do not leak into each other at either T
    both = tsm18({"rgb": x8})["noun"]
    alone = torch.cat([tsm18({"rgb": x8[i : i + 1]})["noun"] for i in range(2)])
    torch.testing.assert_close(both, alone, rtol=1e-4, atol=1e-5)
    # the same 8 frames read as two 4-frame clips shift differently at the clip boundary
    as_two = tsm18({"rgb": x8[:1].reshape(2, 4, 3, 32, 32)})["noun"].mean(0)
    assert not torch.allclose(as_two, tsm18({"rgb": x8[:1]})["noun"][0], atol=1e-4)
    assert tsm18.segments.value is None  # reset after the forward


def test_backbone_outside_the_model_asks_for_the_clip_length(tsm18: TSM) -> None:
    with pytest.raises(RuntimeError, match=r"segments.use\(T\)"):
        tsm18.backbone(torch.zeros(4, 3, 32, 32))
    with tsm18.segments.use(2), torch.no_grad():
        assert tsm18.backbone(torch.zeros(4, 3, 32, 32)).shape == (4, 512)


@torch.no_grad()
@pytest.mark.parametrize("placement", ["blockres", "block"])
def test_blockres_keeps_the_shortcut_unshifted(placement: str) -> None:
    model = TSM({"action": 2}, depth=18, placement=placement).eval()
    block = model.backbone.layer1[0]  # BasicBlock 64 -> 64, identity shortcut
    # a residual branch that outputs zero leaves relu(shortcut)
    block.bn2.weight.zero_()
    block.bn2.bias.zero_()
    x = torch.randn(2 * 4, 64, 5, 5)
    with model.segments.use(4):
        out = block(x)
    expected = F.relu(x) if placement == "blockres" else F.relu(temporal_shift(x, 4))
    torch.testing.assert_close(out, expected)


@torch.no_grad()
def test_blockres_block_equals_the_manual_computation(tsm18: TSM) -> None:
    block = tsm18.backbone.layer2[1]
    x = torch.randn(3 * 2, 128, 4, 4)
    with tsm18.segments.use(3):
        out = block(x)
    # functional conv1 so the hook does not shift a second time
    branch = F.conv2d(temporal_shift(x, 3), block.conv1.weight, padding=1)
    branch = block.bn2(block.conv2(F.relu(block.bn1(branch))))
    torch.testing.assert_close(out, F.relu(branch + x), rtol=1e-4, atol=1e-5)


def test_parameter_count_equals_tsn_resnet50() -> None:
    with torch.device("meta"):
        tsm = create_model("tsm_resnet50", {"verb": 97, "noun": 300})
        tsn = create_model("tsn_resnet50", {"verb": 97, "noun": 300})
    assert count_parameters(tsm) == count_parameters(tsn) == 24_321_485
    assert list(tsm.state_dict()) == list(tsn.state_dict())


def test_torchvision_resnet50_weights_load_strictly() -> None:
    with torch.device("meta"):
        model = create_model("tsm_resnet50", {"action": 3})
        state = {k: v for k, v in tvm.resnet50().state_dict().items() if not k.startswith("fc.")}
    model.backbone.load_state_dict(state, strict=True, assign=True)


def test_pretrained_path_loads_a_torchvision_state_dict(tmp_path) -> None:
    torch.manual_seed(1)
    state = tvm.resnet18().state_dict()
    torch.save(state, tmp_path / "r18.pth")
    model = create_model("tsm_resnet18", {"action": 3}, pretrained=str(tmp_path / "r18.pth"))
    loaded = model.backbone.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in state.items() if not k.startswith("fc."))
    assert model.heads["action"].weight.std().item() == pytest.approx(0.001, rel=0.2)


@torch.no_grad()
def test_tsm_is_order_sensitive_where_tsn_with_the_same_weights_is_not() -> None:
    torch.manual_seed(0)
    tsn = create_model("tsn_resnet18", {"action": 5}).eval()
    tsm = create_model("tsm_resnet18", {"action": 5}).eval()
    tsm.load_state_dict(tsn.state_dict())  # a TSN checkpoint loads as is
    x = clip(2, 4, seed=3)
    reverse = x.flip(1)
    torch.testing.assert_close(tsn({"rgb": reverse})["action"], tsn({"rgb": x})["action"], rtol=1e-4, atol=1e-5)
    assert not torch.allclose(tsm({"rgb": reverse})["action"], tsm({"rgb": x})["action"], atol=1e-3)
    # at T = 1 nothing arrives from other frames but the shifted channels are zeroed: not TSN either
    assert not torch.allclose(tsm({"rgb": x[:, :1]})["action"], tsn({"rgb": x[:, :1]})["action"], atol=1e-3)


def test_bad_placement_and_shift_div_are_rejected() -> None:
    with pytest.raises(ValueError, match="placement must be one of"):
        create_model("tsm_resnet18", {"action": 2}, placement="residual")
    with pytest.raises(ValueError, match="shift_div must be >= 2"):
        create_model("tsm_resnet18", {"action": 2}, shift_div=1)


def test_kwargs_reach_the_model() -> None:
    model = create_model("tsm_resnet18", {"action": 2}, dropout=0.2, shift_div=4, placement="block")
    assert model.heads.dropout == 0.2
    assert isinstance(model, TSM) and (model.shift_div, model.placement) == (4, "block")
    assert model.input_spec.frames == 8 and model.input_spec.size == (224, 224)


@torch.no_grad()
def test_relation_consensus_option_reads_order_with_the_shift_and_fixes_t() -> None:
    torch.manual_seed(0)
    avg = create_model("tsm_resnet18", {"action": 5}).eval()
    trn = create_model("tsm_resnet18", {"action": 5}, consensus="trn", num_frames=4).eval()
    trn.backbone.load_state_dict(avg.backbone.state_dict())  # the backbone is the same shifted ResNet
    x = clip(2, 4, seed=5)
    torch.testing.assert_close(trn.frame_features(x), avg.frame_features(x))
    assert trn({"rgb": x})["action"].shape == (2, 5)
    with pytest.raises(ValueError, match="num_frames=4"):
        trn({"rgb": clip(2, 8)})
    with pytest.raises(ValueError, match="consensus must be one of"):
        create_model("tsm_resnet18", {"action": 5}, consensus="max")


def test_gsf_takes_the_relation_consensus_too() -> None:
    gsf = create_model("gsf_resnet18", {"action": 5}, consensus="trn", num_frames=4)
    assert gsf.consensus == "trn" and gsf({"rgb": clip(1, 4)})["action"].shape == (1, 5)
