"""Early, late and slow fusion (Karpathy et al. 2014): which frames each model sees, inflation, parameter counts."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import Tensor
from torchvision import models as tvm

import egoaction.models.fusion  # noqa: F401  (registers the fusion models)
from egoaction.models import count_parameters, create_model
from egoaction.models.fusion import (
    EarlyFusion,
    LateFusion,
    SlowFusion,
    inflate_over_frames,
    inflate_over_time,
    same_time_padding,
    slow_fusion_time_steps,
)

TASKS = {"verb": 4, "noun": 6}
EPIC = {"verb": 97, "noun": 300}
RESNET18_BACKBONE, DIM = 11_176_512, 512  # torchvision resnet18 without its fc, reference/models.md §10
EPIC_HEADS = (DIM + 1) * (97 + 300)


def clip(t: int, seed: int = 0, b: int = 2, size: int = 32) -> Tensor:
    return torch.randn(b, t, 3, size, size, generator=torch.Generator().manual_seed(seed))


def build(name: str, **kwargs: object) -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model(name, TASKS, **kwargs).eval()


@pytest.fixture(scope="module")
def resnet18_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, tvm.ResNet]:
    """A random torchvision resnet18 saved as a state dict: the "pretrained" 2D network, and the network itself."""
    torch.manual_seed(1)
    net = tvm.resnet18(weights=None)
    # non-trivial BatchNorm statistics, so eval-mode comparisons exercise them
    for bn in net.modules():
        if isinstance(bn, torch.nn.BatchNorm2d):
            bn.running_mean.uniform_(-0.1, 0.1)
            bn.running_var.uniform_(0.5, 1.5)
    path = tmp_path_factory.mktemp("weights") / "resnet18.pth"
    torch.save(net.state_dict(), path)
    net.fc = torch.nn.Identity()
    return str(path), net.eval()


def differs(a: dict[str, Tensor], b: dict[str, Tensor]) -> bool:
    return not torch.allclose(a["verb"], b["verb"], rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------- late fusion


@torch.no_grad()
def test_late_fusion_sees_only_the_first_and_the_last_frame() -> None:
    model = build("late_fusion")
    x = clip(6)
    out = model({"rgb": x})
    middle = x.clone()
    middle[:, 1:-1] = torch.randn_like(middle[:, 1:-1])
    assert torch.equal(model({"rgb": middle})["verb"], out["verb"])
    last = x.clone()
    last[:, -1] += 1.0
    assert differs(model({"rgb": last}), out)
    swapped = x.clone()
    swapped[:, 0], swapped[:, -1] = x[:, -1], x[:, 0]
    assert differs(model({"rgb": swapped}), out), "late fusion keeps time order [first, last]"


@torch.no_grad()
def test_late_fusion_needs_two_frames_and_takes_any_longer_clip() -> None:
    model = build("late_fusion")
    with pytest.raises(ValueError, match=r"needs T >= 2, got T=1"):
        model({"rgb": clip(1)})
    assert model({"rgb": clip(2)})["noun"].shape == (2, 6)
    assert isinstance(model, LateFusion) and model.input_spec.frames == 16


# ---------------------------------------------------------------- early fusion


def test_early_fusion_rejects_another_clip_length_naming_both() -> None:
    model = build("early_fusion", num_frames=4)
    assert isinstance(model, EarlyFusion) and model.input_spec.frames == 4
    with pytest.raises(ValueError, match=r"num_frames=4 frames .* got a clip of 5 frames"):
        model({"rgb": clip(5)})
    assert create_model("early_fusion", TASKS).input_spec.frames == 10  # the paper's T


def test_early_fusion_gradient_reaches_every_frame() -> None:
    model = build("early_fusion", num_frames=5)
    x = clip(5).requires_grad_(True)
    model({"rgb": x})["verb"].sum().backward()
    assert x.grad is not None
    assert (x.grad.abs().sum(dim=(0, 2, 3, 4)) > 0).all()


def test_inflation_over_frames_keeps_the_response_to_a_static_clip() -> None:
    w = torch.randn(8, 3, 3, 3)
    big = inflate_over_frames(w, 4)
    assert big.shape == (8, 12, 3, 3)
    # channel 3t + c of the stack is colour c of frame t
    torch.testing.assert_close(big[:, 3 * 2 + 1], w[:, 1] / 4)


@torch.no_grad()
def test_early_fusion_inflated_weights_reproduce_the_2d_network_on_a_static_clip(
    resnet18_file: tuple[str, tvm.ResNet],
) -> None:
    path, net2d = resnet18_file
    model = build("early_fusion", num_frames=4, pretrained=path)
    frame = clip(1)[:, 0]
    static = frame.unsqueeze(1).expand(-1, 4, -1, -1, -1)
    torch.testing.assert_close(model.backbone.conv1(static.flatten(1, 2)), net2d.conv1(frame), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(model.backbone(static.flatten(1, 2)), net2d(frame), rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------- slow fusion


@torch.no_grad()
def test_slow_fusion_sees_every_frame_and_their_order() -> None:
    model = build("slow_fusion")
    t = 8
    base = clip(t, b=1)
    # one batch: the clip, then the clip with frame i replaced, for each i (eval mode: samples are independent)
    variants = base.repeat(t + 1, 1, 1, 1, 1)
    for i in range(t):
        variants[i + 1, i] = torch.randn(3, 32, 32, generator=torch.Generator().manual_seed(100 + i))
    logits = model({"rgb": variants})["verb"]
    for i in range(t):
        assert not torch.allclose(logits[i + 1], logits[0], rtol=1e-4, atol=1e-5), f"frame {i} is ignored"
    reversed_clip = model({"rgb": base.flip(1)})["verb"]
    assert not torch.allclose(reversed_clip[0], logits[0], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("frames", [2, 4, 8, 10])
@torch.no_grad()
def test_slow_fusion_time_steps_shrink_as_documented(frames: int) -> None:
    model = build("slow_fusion")
    assert isinstance(model, SlowFusion)
    seen: list[int] = []
    stages = [model.backbone.bn1, model.backbone.layer1, model.backbone.layer2, model.backbone.layer3]
    hooks = [s.register_forward_hook(lambda m, i, o: seen.append(o.shape[0])) for s in stages]
    try:
        out = model({"rgb": clip(frames)})
    finally:
        for h in hooks:
            h.remove()
    assert out["verb"].shape == (2, 4) and torch.isfinite(out["verb"]).all()
    assert [n // 2 for n in seen] == slow_fusion_time_steps(frames)
    assert slow_fusion_time_steps(frames)[-1] == 1  # by layer3 one step covers the whole clip


def test_slow_fusion_schedule_for_the_papers_ten_frames() -> None:
    assert slow_fusion_time_steps(10) == [5, 3, 2, 1]
    assert slow_fusion_time_steps(16) == [8, 4, 2, 1]
    assert slow_fusion_time_steps(20) == [10, 5, 3, 2]  # longer clips: the final pool averages the rest


def test_same_time_padding_repeats_the_end_frames() -> None:
    x = torch.arange(5.0).view(1, 1, 5, 1, 1)
    assert same_time_padding(x, 4, 2).flatten().tolist() == [0, 0, 1, 2, 3, 4, 4, 4]  # 3 windows of 4
    assert same_time_padding(x, 2, 2).flatten().tolist() == [0, 1, 2, 3, 4, 4]
    even = x[:, :, :4]
    assert same_time_padding(even, 2, 2) is even  # nothing to pad, no copy
    torch.testing.assert_close(inflate_over_time(torch.ones(2, 3, 1, 1), 4).sum(2), torch.ones(2, 3, 1, 1))


@torch.no_grad()
def test_slow_fusion_inflated_weights_reproduce_the_2d_network_on_a_static_clip(
    resnet18_file: tuple[str, tvm.ResNet],
) -> None:
    path, net2d = resnet18_file
    model = build("slow_fusion", pretrained=path)
    frame = clip(1, size=48)[:, 0]
    for frames in (3, 8):
        static = frame.unsqueeze(2).expand(-1, -1, frames, -1, -1)  # (B, 3, T, H, W)
        torch.testing.assert_close(model.backbone(static), net2d(frame), rtol=1e-4, atol=1e-4)


@torch.no_grad()
def test_slow_fusion_on_a_bottleneck_resnet() -> None:
    model = build("slow_fusion", arch="resnet50")
    assert model.backbone.layer1[0].conv1.weight.shape == (64, 64, 2, 1, 1)
    assert model({"rgb": clip(3)})["noun"].shape == (2, 6)


# ---------------------------------------------------------------- all three


@pytest.mark.parametrize("frames", [4, 10])
def test_parameter_counts_with_epic_heads(frames: int) -> None:
    with torch.device("meta"):
        early = create_model("early_fusion", EPIC, num_frames=frames)
        late = create_model("late_fusion", EPIC)
        slow = create_model("slow_fusion", EPIC)
    stem = 64 * 3 * 7 * 7
    assert count_parameters(early) == RESNET18_BACKBONE + (frames - 1) * stem + EPIC_HEADS
    assert count_parameters(late) == RESNET18_BACKBONE + (2 * DIM * DIM + DIM) + EPIC_HEADS
    # inflation adds (extent - 1) copies of each inflated 2D kernel: the stem (4) and layer1-3's first conv1 (2)
    first_convs = 64 * 64 * 9 + 128 * 64 * 9 + 256 * 128 * 9
    assert count_parameters(slow) == RESNET18_BACKBONE + 3 * stem + first_convs + EPIC_HEADS


@pytest.mark.parametrize("name", ["early_fusion", "late_fusion", "slow_fusion"])
def test_resnets_only_and_stages_cover_the_backbone(name: str) -> None:
    with pytest.raises(ValueError, match=r"2D ResNet; arch must be one of .*'resnet18'.*got 'efficientnet_b0'"):
        create_model(name, TASKS, arch="efficientnet_b0")
    with torch.device("meta"):
        model = create_model(name, TASKS)
    stages = model.backbone_stages()
    assert len(stages) == 5
    in_stages = {id(p) for s in stages for p in s.parameters()}
    assert in_stages == {id(p) for p in model.backbone.parameters()}
    assert all(not n.startswith("backbone.") for n, p in model.named_parameters() if id(p) not in in_stages)


def test_slow_fusion_keeps_the_2d_names_and_takes_only_2d_weights(tmp_path: Path) -> None:
    model = build("slow_fusion")
    net2d = tvm.resnet18(weights=None)
    expected = {k for k in net2d.state_dict() if not k.startswith("fc.")}
    assert set(model.backbone.state_dict()) == expected
    # the inflated kernels keep their names but not their shapes: a slow-fusion backbone is no "pretrained" file
    path = tmp_path / "slow.pth"
    torch.save(model.backbone.state_dict(), path)
    with pytest.raises(ValueError, match=r"wrong shapes \(4\): \['conv1.weight \(64, 3, 4, 7, 7\)"):
        create_model("slow_fusion", TASKS, pretrained=str(path))
