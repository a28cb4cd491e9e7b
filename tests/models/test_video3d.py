"""torchvision video backbones: parameter counts against torchvision, pooling fixes, weights, drop path, order."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision import models as tvm
from torchvision.models import video as tvv

import egoaction.models.video3d  # noqa: F401  (registers the models)
from egoaction.models import count_parameters, create_model
from egoaction.models.backbones import DropPathHook
from egoaction.models.video3d import Video3D, video_resnet_frames, video_resnet_key

NAMES = ("r2plus1d_18", "r2plus1d_34", "r3d_18", "mc3_18", "s3d", "mvit_v2_s", "swin3d_t")
# torchvision's own counts with the 400-way Kinetics classifier, reference/models.md §7.1 and §10
TORCHVISION_COUNTS = {"r2plus1d_18": 31_505_325, "r3d_18": 33_371_472, "mc3_18": 11_695_440, "s3d": 8_320_048}
BUILDERS = {"r2plus1d_18": tvv.r2plus1d_18, "r3d_18": tvv.r3d_18, "mc3_18": tvv.mc3_18, "s3d": tvv.s3d}


def clip(t: int = 4, size: int = 32, seed: int = 0) -> dict[str, torch.Tensor]:
    return {"rgb": torch.randn(2, t, 3, size, size, generator=torch.Generator().manual_seed(seed))}


@pytest.mark.parametrize("name", sorted(TORCHVISION_COUNTS))
def test_parameter_counts_match_torchvision_with_a_400_class_head(name: str) -> None:
    with torch.device("meta"):
        ours = create_model(name, {"action": 400})
        theirs = BUILDERS[name]()
    assert count_parameters(ours) == count_parameters(theirs) == TORCHVISION_COUNTS[name]


def unguarded_repr(module: torch.nn.Module) -> str:
    """``repr(module)`` with create_model's CPU bf16 guard named as the plain ``Conv3d`` it subclasses."""
    return repr(module).replace("ShortClipConv3d(", "Conv3d(")


def test_transformers_match_torchvision_layer_for_layer() -> None:
    with torch.device("meta"):
        # torchvision's recipe drop-path rates, so that the block reprs compare equal
        mvit, tv_mvit = create_model("mvit_v2_s", {"action": 400}, drop_path=0.2), tvv.mvit_v2_s()
        swin, tv_swin = create_model("swin3d_t", {"action": 400}, drop_path=0.1), tvv.swin3d_t()
    assert count_parameters(mvit) == count_parameters(tv_mvit) == 34_537_744
    assert count_parameters(swin) == count_parameters(tv_swin) == 28_158_070
    # same strides, heads, pooling and drop-path rate in every block, and the same weight shapes: Kinetics weights fit
    assert unguarded_repr(mvit.backbone.blocks) == repr(tv_mvit.blocks)
    assert unguarded_repr(swin.backbone.features) == repr(tv_swin.features)
    for ours, theirs in ((mvit.backbone, tv_mvit), (swin.backbone, tv_swin)):
        expected = {k: v.shape for k, v in theirs.state_dict().items() if not k.startswith("head.")}
        assert {k: v.shape for k, v in ours.state_dict().items()} == expected


def test_r2plus1d_34_keeps_torchvision_midplanes() -> None:
    with torch.device("meta"):
        model = create_model("r2plus1d_34", {"action": 400})
    assert count_parameters(model) == 61_831_661
    net = model.backbone
    assert [len(layer) for layer in (net.layer1, net.layer2, net.layer3, net.layer4)] == [3, 4, 6, 3]
    # conv2 of each first block reuses the block's (inplanes, planes) midplanes: 230 / 460 / 921, not 288 / 576 / 1152
    firsts = (net.layer2[0], net.layer3[0], net.layer4[0])
    assert [b.conv2[0][0].out_channels for b in firsts] == [230, 460, 921]
    assert net.layer2[1].conv2[0][0].out_channels == 288


@pytest.mark.parametrize("name", NAMES)
def test_backbone_stages_split_the_whole_backbone(name: str) -> None:
    with torch.device("meta"):
        model = create_model(name, {"verb": 97, "noun": 300})
    stages = model.backbone_stages()
    ids = [id(p) for s in stages for p in s.parameters()]
    assert len(ids) == len(set(ids)) and set(ids) == {id(p) for p in model.backbone.parameters()}
    assert len(stages) in (4, 5)
    assert model.heads.dim == {"s3d": 1024, "mvit_v2_s": 768, "swin3d_t": 768}.get(name, 512)


def test_input_specs() -> None:
    with torch.device("meta"):
        specs = {n: create_model(n, {"a": 2}).input_spec for n in ("r3d_18", "s3d")}
    assert (specs["r3d_18"].frames, specs["r3d_18"].size) == (16, (112, 112))
    assert (specs["s3d"].frames, specs["s3d"].size) == (16, (224, 224))


@torch.no_grad()
def test_s3d_matches_torchvision_features_and_also_runs_where_torchvision_cannot() -> None:
    torch.manual_seed(0)
    model = create_model("s3d", {"a": 3}).eval()
    reference = tvv.s3d().eval()
    reference.load_state_dict(model.backbone.state_dict(), strict=False)  # all but torchvision's classifier
    x = clip(t=8, size=32)["rgb"].transpose(1, 2)
    torch.testing.assert_close(model.backbone(x), reference.features(x).mean(dim=(2, 3, 4)))
    # 4 frames leave one frame before the last 2x2x2 pool and torchvision's fixed 2x7x7 pooling needs 224 px
    with pytest.raises(RuntimeError):
        reference(clip(t=4, size=32)["rgb"].transpose(1, 2))
    assert model(clip(t=4, size=64))["a"].shape == (2, 3)


@torch.no_grad()
def test_s3d_running_statistics_follow_the_data_it_trains_on() -> None:
    """torchvision's BatchNorm momentum (0.001) leaves the statistics near their start; the default 0.1 does not."""

    def share_of_batch_mean(**kwargs: float) -> float:
        torch.manual_seed(0)
        model = create_model("s3d", {"a": 3}, **kwargs).train()
        first = next(m for m in model.modules() if isinstance(m, nn.BatchNorm3d))
        seen: list[Tensor] = []
        first.register_forward_pre_hook(lambda _, args: seen.append(args[0].mean(dim=(0, 2, 3, 4))))
        x = {"rgb": clip(t=4, size=32)["rgb"] * 4 + 1}
        for _ in range(20):
            model(x)
        target = seen[-1]
        return float(first.running_mean @ target / (target @ target))  # type: ignore[operator]

    assert share_of_batch_mean() > 0.85  # momentum 0.1: 1 - 0.9**20 = 0.88 of the way
    assert share_of_batch_mean(bn_momentum=0.001) < 0.05  # torchvision's: 0.02


@pytest.fixture(scope="module")
def mvit() -> Video3D:
    torch.manual_seed(0)
    return create_model("mvit_v2_s", {"a": 3}, num_frames=4, size=32).eval()  # type: ignore[return-value]


@pytest.fixture(scope="module")
def swin() -> Video3D:
    torch.manual_seed(0)
    return create_model("swin3d_t", {"a": 3}).eval()  # type: ignore[return-value]


@torch.no_grad()
@pytest.mark.parametrize("name", ["r2plus1d_18", "r3d_18", "mc3_18", "s3d", "mvit", "swin"])
def test_reversing_the_frames_changes_the_output(name: str, request: pytest.FixtureRequest) -> None:
    if name in ("mvit", "swin"):
        model = request.getfixturevalue(name)
    else:
        # train-mode BatchNorm: at random init the running statistics would squash S3D's features to ~0
        torch.manual_seed(0)
        model = create_model(name, {"a": 3}, dropout=0.0).train()
    x = clip()
    out = model(x)["a"]
    assert not torch.allclose(model({"rgb": x["rgb"].flip(1)})["a"], out, atol=1e-4)
    assert torch.equal(model(x)["a"], out)


def test_mvit_is_built_for_its_clip_shape(mvit: Video3D) -> None:
    assert (mvit.input_spec.frames, mvit.input_spec.size) == (4, (32, 32))
    with pytest.raises(ValueError, match=r"built for 4x32x32 clips .* got rgb of shape \(2, 6, 3, 32, 32\)"):
        mvit(clip(t=6))
    with pytest.raises(ValueError, match="even num_frames"):
        create_model("mvit_v2_s", {"a": 3}, num_frames=5, size=32)


@torch.no_grad()
def test_mvit_frozen_parameters_cannot_change_the_output(mvit: Video3D) -> None:
    frozen = [n for n, p in mvit.named_parameters() if not p.requires_grad]
    assert len(frozen) == 4 and all(n.startswith("backbone.blocks.15.attn.") for n in frozen)
    x = clip()
    out = mvit(x)["a"]
    params = dict(mvit.named_parameters())
    saved = {n: params[n].clone() for n in frozen}
    try:
        for n in frozen:
            params[n].normal_()
        torch.testing.assert_close(mvit(x)["a"], out)
    finally:
        for n in frozen:
            params[n].copy_(saved[n])


def test_transformer_drop_path_is_torchvision_stochastic_depth() -> None:
    with torch.device("meta"):
        mvit = create_model("mvit_v2_s", {"a": 3}, drop_path=0.3)
        swin = create_model("swin3d_t", {"a": 3}, drop_path=0.3)
    assert mvit.backbone.blocks[-1].stochastic_depth.p == pytest.approx(0.3)
    assert swin.backbone.features[-1][-1].stochastic_depth.p == pytest.approx(0.3)


def test_video_resnet_drop_path_hooks_every_branch_linearly_and_keeps_names() -> None:
    torch.manual_seed(0)
    plain = create_model("r3d_18", {"a": 3})
    torch.manual_seed(0)
    dropped = create_model("r3d_18", {"a": 3}, drop_path=0.4)
    hooks = [h for m in dropped.modules() for h in m._forward_hooks.values() if isinstance(h, DropPathHook)]
    assert [h.rate for h in hooks] == pytest.approx([0.4 * i / 7 for i in range(8)])
    assert list(dropped.state_dict()) == list(plain.state_dict())
    x = clip()
    with torch.no_grad():
        torch.testing.assert_close(dropped.eval()(x)["a"], plain.eval()(x)["a"])  # identity at eval
        dropped.train()
        assert not torch.allclose(dropped(x)["a"], dropped(x)["a"])


def test_missing_kinetics_weights_name_the_expected_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    expected = tmp_path / "hub" / "checkpoints" / Path(tvv.R3D_18_Weights.KINETICS400_V1.url).name
    with pytest.raises(FileNotFoundError, match="Kinetics-400 weights") as err:
        create_model("r3d_18", {"a": 3}, pretrained="kinetics")
    assert str(expected) in str(err.value)
    with pytest.raises(ValueError, match="no kinetics weights"):
        create_model("r2plus1d_34", {"a": 3}, pretrained="kinetics")
    with pytest.raises(FileNotFoundError, match=r"nope\.pth"):
        create_model("r3d_18", {"a": 3}, pretrained=str(tmp_path / "nope.pth"))


@pytest.mark.parametrize(("name", "builder"), [("r3d_18", tvv.r3d_18), ("s3d", tvv.s3d)])
def test_torchvision_state_dict_round_trip_ignores_the_classifier(name: str, builder: object, tmp_path: Path) -> None:
    torch.manual_seed(1)
    source: nn.Module = builder()  # type: ignore[operator]
    path = tmp_path / f"{name}.pth"
    torch.save(source.state_dict(), path)
    model = create_model(name, {"verb": 4, "noun": 5}, pretrained=str(path))
    loaded, saved = model.backbone.state_dict(), source.state_dict()
    assert set(saved) - set(loaded) <= {"fc.weight", "fc.bias", "classifier.1.weight", "classifier.1.bias"}
    assert all(torch.equal(loaded[k], saved[k]) for k in loaded)


def test_2d_resnet_names_map_to_video_resnet_names() -> None:
    assert video_resnet_key("conv1.weight") == "stem.0.weight"
    assert video_resnet_key("bn1.running_mean") == "stem.1.running_mean"
    assert video_resnet_key("layer2.1.conv2.weight") == "layer2.1.conv2.0.weight"
    assert video_resnet_key("layer4.0.bn1.bias") == "layer4.0.conv1.1.bias"
    assert video_resnet_key("layer3.0.downsample.1.weight") == "layer3.0.downsample.1.weight"


@pytest.fixture(scope="module")
def resnet18_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Tensor]]:
    """A random 2D ResNet-18 state dict saved as a frame model's would be (with its fc)."""
    torch.manual_seed(3)
    net = tvm.resnet18()
    for bn in net.modules():  # non-trivial statistics, so copying BatchNorm is tested too
        if isinstance(bn, nn.BatchNorm2d):
            bn.running_mean.uniform_(-0.1, 0.1)
            bn.running_var.uniform_(0.5, 1.5)
    path = tmp_path_factory.mktemp("resnet18") / "frames.pt"
    torch.save(net.state_dict(), path)
    return path, net.state_dict()


@pytest.mark.parametrize("name", ["r3d_18", "mc3_18"])
def test_2d_resnet18_weights_inflate_over_time(name: str, resnet18_file: tuple[Path, dict[str, Tensor]]) -> None:
    path, state2d = resnet18_file
    model = create_model(name, {"a": 3}, pretrained=str(path))
    loaded = model.backbone.state_dict()
    conv1 = loaded["stem.0.weight"]  # (64, 3, 3, 7, 7): the 2D kernel / 3 at each of 3 time offsets
    assert conv1.shape == (64, 3, 3, 7, 7)
    for dt in range(3):
        torch.testing.assert_close(conv1[:, :, dt], state2d["conv1.weight"] / 3)
    torch.testing.assert_close(loaded["layer1.0.conv1.0.weight"].sum(2), state2d["layer1.0.conv1.weight"])
    torch.testing.assert_close(loaded["layer4.1.conv2.0.weight"].sum(2), state2d["layer4.1.conv2.weight"])
    assert torch.equal(loaded["layer2.0.conv1.1.running_var"], state2d["layer2.0.bn1.running_var"])
    assert torch.equal(loaded["stem.1.weight"], state2d["bn1.weight"])


@torch.no_grad()
def test_inflated_stem_gives_a_static_clip_the_2d_response(resnet18_file: tuple[Path, dict[str, Tensor]]) -> None:
    path, state2d = resnet18_file
    stem = create_model("r3d_18", {"a": 3}, pretrained=str(path)).backbone.stem[0]
    frame = torch.randn(1, 3, 32, 32)
    static = frame[:, :, None].expand(-1, -1, 5, -1, -1)  # (1, 3, T=5, 32, 32), the same frame 5 times
    response = F.conv2d(frame, state2d["conv1.weight"], stride=2, padding=3)
    out = stem(static)
    for t in (1, 2, 3):  # away from the zero padding in time
        torch.testing.assert_close(out[:, :, t], response)


@torch.no_grad()
def test_inflated_mc3_starts_blind_to_frame_order(resnet18_file: tuple[Path, dict[str, Tensor]]) -> None:
    # MC3 never strides in time and every inflated kernel is the same at each offset: reversal cannot matter
    model = create_model("mc3_18", {"a": 3}, pretrained=str(resnet18_file[0])).eval()
    x = clip()
    torch.testing.assert_close(model(x)["a"], model({"rgb": x["rgb"].flip(1)})["a"])


def test_2d_weights_do_not_fit_r2plus1d_or_missing_imagenet(
    resnet18_file: tuple[Path, dict[str, Tensor]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = resnet18_file[0]
    with pytest.raises(ValueError, match=rf"{path.name}.*do not fit"):
        create_model("r2plus1d_18", {"a": 3}, pretrained=str(path))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=Path(tvm.ResNet18_Weights.IMAGENET1K_V1.url).name):
        create_model("mc3_18", {"a": 3}, pretrained="imagenet")


@torch.no_grad()
def test_trn_consensus_reads_order_that_the_inflated_average_cannot(
    resnet18_file: tuple[Path, dict[str, Tensor]],
) -> None:
    torch.manual_seed(0)
    model = create_model("mc3_18", {"a": 3}, pretrained=str(resnet18_file[0]), consensus="trn", num_frames=4).eval()
    assert model.consensus == "trn" and model.relation is not None and model.relation.frames == 4  # MC3 keeps T
    x = clip()
    out = model(x)["a"]
    assert out.shape == (2, 3)
    assert not torch.allclose(out, model({"rgb": x["rgb"].flip(1)})["a"], atol=1e-5)
    # the relation reads the last stage's features, one per time step, averaged over space only
    frames = video_resnet_frames(model.backbone, x["rgb"].transpose(1, 2))
    assert frames.shape == (2, 4, 512)
    torch.testing.assert_close(out, model.heads(model.relation(frames))["a"])


def test_trn_consensus_needs_two_time_steps_after_the_strides() -> None:
    # R3D halves time in layers 2, 3 and 4: 16 frames leave 2 steps, 8 frames leave 1
    assert create_model("r3d_18", {"a": 3}, consensus="trn", num_frames=16).relation.frames == 2
    with pytest.raises(ValueError, match="num_frames=8 to 1 time step"):
        create_model("r3d_18", {"a": 3}, consensus="trn", num_frames=8)
    with pytest.raises(ValueError, match="consensus must be"):
        create_model("mc3_18", {"a": 3}, consensus="max")
    assert create_model("mc3_18", {"a": 3}).consensus == "avg"


def test_mvit_builds_for_a_rectangular_clip() -> None:
    model = create_model("mvit_v2_s", {"action": 3}, num_frames=4, size=[32, 56]).eval()
    assert model.input_spec.size == (32, 56)
    with torch.no_grad():
        assert model({"rgb": torch.randn(1, 4, 3, 32, 56)})["action"].shape == (1, 3)
    with pytest.raises(ValueError, match="sides divisible by 4"):
        create_model("mvit_v2_s", {"action": 3}, num_frames=4, size=[30, 56])
