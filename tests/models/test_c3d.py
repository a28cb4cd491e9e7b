"""C3D (exact Caffe layout and counts, pool5, weight loading) and P3D (block variants, layout, counts)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import egoaction.models.c3d  # noqa: F401  (registers the models)
from egoaction.models import count_parameters, create_model
from egoaction.models.c3d import C3D, P3D, P3DBlock, _c3d_key, c3d_pool5


def clip(t: int = 4, size: int = 32, seed: int = 0) -> dict[str, torch.Tensor]:
    return {"rgb": torch.randn(2, t, 3, size, size, generator=torch.Generator().manual_seed(seed))}


@pytest.mark.parametrize(("classes", "params"), [(487, 79_991_015), (101, 78_409_573)])
def test_c3d_parameter_count_matches_the_paper_layout(classes: int, params: int) -> None:
    with torch.device("meta"):
        model = create_model("c3d", {"action": classes})
    assert count_parameters(model) == params
    assert count_parameters(model.fc) == 33_558_528 + 16_781_312  # fc6, fc7
    assert len(model.backbone_stages()) == 5


@torch.no_grad()
def test_c3d_at_16x112_equals_the_port_layout_and_gives_8192_features() -> None:
    torch.manual_seed(0)
    model: C3D = create_model("c3d", {"action": 487}).eval()  # type: ignore[assignment]
    x = torch.randn(1, 3, 16, 112, 112)
    net = model.backbone
    # the PyTorch ports: floor-mode pools and a 2x2x2 pool5 padded by 1 in H and W
    ref = F.max_pool3d(F.relu(net.conv1(x)), (1, 2, 2))
    for i, convs in enumerate((["conv2"], ["conv3a", "conv3b"], ["conv4a", "conv4b"], ["conv5a", "conv5b"])):
        for name in convs:
            ref = F.relu(getattr(net, name)(ref))
        ref = F.max_pool3d(ref, 2, 2, padding=(0, 1, 1) if i == 3 else 0)
    assert ref.shape == (1, 512, 1, 4, 4)
    feats = net(x)
    assert feats.shape == (1, 8192)
    assert torch.equal(feats, ref.flatten(1))


def test_c3d_pool5_is_the_padded_pool_at_2x7x7_and_adaptive_elsewhere() -> None:
    x = torch.randn(2, 3, 2, 7, 7)
    assert torch.equal(c3d_pool5(x), nn.MaxPool3d(2, 2, padding=(0, 1, 1))(x))
    for shape in ((1, 2, 2), (3, 9, 9), (4, 14, 14)):
        y = torch.randn(1, 3, *shape)
        out = c3d_pool5(y)
        assert out.shape == (1, 3, 1, 4, 4)
        assert torch.equal(out.amax(dim=(2, 3, 4)), y.amax(dim=(2, 3, 4)))  # every input value is in some window


def test_c3d_dropout_kwarg_is_drop7_in_front_of_the_heads() -> None:
    with torch.device("meta"):
        model = create_model("c3d", {"action": 5}, dropout=0.3)
    assert model.heads.dropout == 0.3
    assert [m.p for m in model.fc.modules() if isinstance(m, nn.Dropout)] == [0.5]  # drop6


def test_c3d_key_routing() -> None:
    assert _c3d_key("module.backbone.conv3a.weight") == "conv.conv3a.weight"
    assert _c3d_key("conv1.bias") == "conv.conv1.bias"
    assert _c3d_key("fc6.weight") == "mlp.fc6.weight"
    assert _c3d_key("fc.fc7.bias") == "mlp.fc7.bias"
    assert _c3d_key("fc8.weight") is None and _c3d_key("heads.action.weight") is None


def test_c3d_loads_a_ports_flat_state_dict(tmp_path: Path) -> None:
    torch.manual_seed(1)
    source = create_model("c3d", {"action": 487})
    # a port's names: conv1 ... conv5b, fc6, fc7, fc8 at the top level
    flat = {k.removeprefix("backbone.").removeprefix("fc."): v for k, v in source.state_dict().items()}
    flat = {k.replace("heads.action.", "fc8."): v for k, v in flat.items()}
    assert "conv5b.weight" in flat and "fc6.weight" in flat and "fc8.weight" in flat
    path = tmp_path / "c3d_sports1m.pth"
    torch.save(flat, path)
    del source
    model = create_model("c3d", {"verb": 3, "noun": 4}, pretrained=str(path))
    loaded = model.state_dict()
    assert all(torch.equal(loaded[f"backbone.{k}"], flat[k]) for k in flat if k.startswith("conv"))
    assert all(torch.equal(loaded[f"fc.{k}"], flat[k]) for k in flat if k.startswith(("fc6", "fc7")))


def test_c3d_batch_norm_adds_a_norm_per_conv_and_drops_the_conv_biases() -> None:
    with torch.device("meta"):
        plain = create_model("c3d", {"action": 487})
        model = create_model("c3d", {"action": 487}, batch_norm=True)
    convs = [m for m in model.backbone.modules() if isinstance(m, nn.Conv3d)]
    norms = [m for m in model.backbone.modules() if isinstance(m, nn.BatchNorm3d)]
    assert len(convs) == len(norms) == 8 and all(c.bias is None for c in convs)
    channels = sum(c.out_channels for c in convs)  # 2,752: one bias each before, a weight and a bias each now
    assert count_parameters(model) == count_parameters(plain) + channels == 79_993_767
    # freeze_stages freezes each stage's norms with its convolutions
    assert [len(stage) for stage in model.backbone_stages()] == [2, 2, 4, 4, 4]


def test_c3d_batch_norm_normalises_every_conv_output_before_its_relu() -> None:
    torch.manual_seed(0)
    model = create_model("c3d", {"action": 5}, batch_norm=True).train()
    seen: list[tuple[str, torch.Tensor]] = []
    for name, module in model.backbone.named_children():
        if name.endswith("_bn"):
            module.register_forward_hook(lambda m, i, o, n=name: seen.append((n, o.detach().clone())))
    model(clip(t=8, size=48))
    assert [n for n, _ in seen] == [
        f"{c}_bn" for c in ("conv1", "conv2", "conv3a", "conv3b", "conv4a", "conv4b", "conv5a", "conv5b")
    ]
    for name, out in seen:
        mean, var = out.mean(dim=(0, 2, 3, 4)), out.var(dim=(0, 2, 3, 4), unbiased=False)
        assert torch.allclose(mean, torch.zeros_like(mean), atol=1e-4), name
        assert torch.allclose(var, torch.ones_like(var), atol=0.05), name


def test_c3d_batch_norm_refuses_a_ports_weights_without_norms(tmp_path: Path) -> None:
    with torch.device("meta"):
        source = create_model("c3d", {"action": 487})
    flat = {k.removeprefix("backbone."): torch.zeros(v.shape) for k, v in source.backbone.state_dict().items()}
    torch.save(flat, tmp_path / "port.pth")
    with pytest.raises(ValueError, match=r"port\.pth.*missing keys.*conv1_bn"):
        create_model("c3d", {"action": 5}, pretrained=str(tmp_path / "port.pth"), batch_norm=True)


@pytest.mark.parametrize("name", ["c3d", "p3d"])
def test_weights_are_none_or_a_path(name: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no published kinetics weights"):
        create_model(name, {"a": 2}, pretrained="kinetics")
    with pytest.raises(FileNotFoundError, match=r"missing\.pth"):
        create_model(name, {"a": 2}, pretrained=str(tmp_path / "missing.pth"))


@torch.no_grad()
@pytest.mark.parametrize("name", ["c3d", "p3d"])
def test_reversing_the_frames_changes_the_output(name: str) -> None:
    torch.manual_seed(0)
    model = create_model(name, {"a": 3}).eval()
    x = clip()
    out = model(x)["a"]
    assert not torch.allclose(model({"rgb": x["rgb"].flip(1)})["a"], out, atol=1e-5)
    assert torch.equal(model(x)["a"], out)


def _hand_made_block(variant: str) -> P3DBlock:
    """A block whose S doubles each channel (1x3x3 centre tap 2) and T copies the previous frame (3x1x1 tap 1, 0, 0)."""
    block = P3DBlock(2, 2, variant).eval()
    spatial, temporal = block.spatial[0], block.temporal[0]
    assert isinstance(spatial, nn.Conv3d) and isinstance(temporal, nn.Conv3d)
    with torch.no_grad():
        spatial.weight.zero_()
        temporal.weight.zero_()
        for c in range(2):
            spatial.weight[c, c, 0, 1, 1] = 2.0
            temporal.weight[c, c, 0, 0, 0] = 1.0
    for bn in (block.spatial[1], block.temporal[1]):
        assert isinstance(bn, nn.BatchNorm3d)
        bn.eps = 0.0  # running mean 0, var 1, affine 1/0: the BatchNorm is exactly the identity
    return block


@torch.no_grad()
def test_p3d_variants_compute_their_formulas_on_a_hand_made_input() -> None:
    h = torch.arange(1.0, 1.0 + 2 * 3 * 2 * 2).reshape(1, 2, 3, 2, 2)  # positive, so every ReLU is the identity
    prev = F.pad(h, (0, 0, 0, 0, 1, 0))[:, :, :-1]  # frame t-1, zeros before the first
    s, t_of_h, t_of_s = 2 * h, prev, 2 * prev
    expected = {"A": t_of_s, "B": s + t_of_h, "C": s + t_of_s}
    for variant, want in expected.items():
        assert torch.equal(_hand_made_block(variant).mix(h), want), variant
    # B's temporal branch reads the block's reduced input itself, not S's output
    assert not torch.equal(expected["B"], s + t_of_s)


@torch.no_grad()
def test_p3d_block_is_a_residual_bottleneck_around_mix() -> None:
    torch.manual_seed(0)
    block = P3DBlock(8, 4, "C", stride=2).eval()
    x = torch.randn(2, 8, 3, 8, 8)
    assert block.shortcut is not None
    expected = F.relu(block.shortcut(x) + block.expand(block.mix(block.reduce(x))))
    out = block(x)
    assert out.shape == (2, 16, 3, 4, 4)
    torch.testing.assert_close(out, expected)


def test_p3d_cycles_the_variants_over_all_blocks() -> None:
    with torch.device("meta"):
        cycle: P3D = create_model("p3d", {"a": 2})  # type: ignore[assignment]
        only_b: P3D = create_model("p3d", {"a": 2}, variant="B", depth=101)  # type: ignore[assignment]
    variants = "".join(b.variant for b in cycle.backbone.modules() if isinstance(b, P3DBlock))
    assert variants == ("ABC" * 6)[:16]
    assert {b.variant for b in only_b.backbone.modules() if isinstance(b, P3DBlock)} == {"B"}
    with pytest.raises(ValueError, match="variant"):
        create_model("p3d", {"a": 2}, variant="D")
    with pytest.raises(ValueError, match="depth"):
        create_model("p3d", {"a": 2}, depth=34)


@pytest.mark.parametrize(("depth", "resnet"), [(50, 23_508_032), (101, 42_500_160)])
def test_p3d_is_the_2d_resnet_plus_one_temporal_conv_and_bn_per_block(depth: int, resnet: int) -> None:
    # torchvision ResNet-50/101 without fc (reference §10); each bottleneck adds T: 3p^2 weights + 2p BN
    layers = {50: [3, 4, 6, 3], 101: [3, 4, 23, 3]}[depth]
    extra = sum(n * (3 * p * p + 2 * p) for n, p in zip(layers, (64, 128, 256, 512)))
    with torch.device("meta"):
        model = create_model("p3d", {"verb": 97, "noun": 300}, depth=depth)
    assert count_parameters(model.backbone) == resnet + extra
    assert count_parameters(model) == resnet + extra + 2049 * 397


@torch.no_grad()
def test_p3d_keeps_every_frame_and_strides_space_only() -> None:
    torch.manual_seed(0)
    model: P3D = create_model("p3d", {"a": 2}).eval()  # type: ignore[assignment]
    x = clip(t=3, size=64)["rgb"].transpose(1, 2)
    shapes = []
    for stage in model.backbone_stages():
        x = stage(x)
        shapes.append(tuple(x.shape[1:]))
    assert shapes == [(64, 3, 16, 16), (256, 3, 16, 16), (512, 3, 8, 8), (1024, 3, 4, 4), (2048, 3, 2, 2)]
    assert model.input_spec.frames == 16 and model.input_spec.size == (160, 160)


def test_p3d_drop_path_grows_linearly_over_the_blocks() -> None:
    with torch.device("meta"):
        model = create_model("p3d", {"a": 2}, drop_path=0.3)
    rates = [b.drop_path for b in model.modules() if isinstance(b, P3DBlock)]
    assert rates == pytest.approx([0.3 * i / 15 for i in range(16)])
