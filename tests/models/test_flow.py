"""Ego-RNN's flow stream and two-stream model: cross-modality init, stack consensus, feature order, checkpoints."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import Tensor, nn
from torchvision import models as tvm

from egoaction.config import OptimConfig
from egoaction.engine.optim import param_groups
from egoaction.models import count_parameters, create_model
from egoaction.models.backbones import encode_frames
from egoaction.models.egornn import EgoRNN, attend_frames, convlstm_memory
from egoaction.models.flow import FlowResNet, TwoStreamEgoRNN, cross_modality_conv1

TASKS = {"verb": 3}
FLOW_LAYER4 = "backbone.flow.layer4."


def flow(b: int = 2, stacks: int = 2, channels: int = 10, size: int = 64, seed: int = 0) -> Tensor:
    return torch.randn(b, stacks, channels, size, size, generator=torch.Generator().manual_seed(seed))


def rgb(b: int = 2, t: int = 3, size: int = 64, seed: int = 1) -> Tensor:
    return torch.randn(b, t, 3, size, size, generator=torch.Generator().manual_seed(seed))


def two_stream(**kwargs: object) -> TwoStreamEgoRNN:
    torch.manual_seed(0)
    model = create_model("two_stream_egornn", TASKS, **{"memory": 16, **kwargs})
    assert isinstance(model, TwoStreamEgoRNN)
    return model


def save_ckpt(model: nn.Module, path: Path, name: str) -> Path:
    """A minimal egoaction checkpoint: Lightning's state_dict (``model.`` prefix) plus the egoaction entry."""
    state = {f"model.{k}": v for k, v in model.state_dict().items()}
    torch.save({"state_dict": state, "egoaction": {"model": {"name": name, "kwargs": {}}}}, path)
    return path


def test_cross_modality_conv1_is_the_colour_mean_replicated() -> None:
    weight = torch.randn(64, 3, 7, 7)
    out = cross_modality_conv1(weight, 10)
    assert out.shape == (64, 10, 7, 7)
    for c in range(10):
        torch.testing.assert_close(out[:, c], weight.mean(dim=1))
    torch.testing.assert_close(out[:, 0], (weight[:, 0] + weight[:, 1] + weight[:, 2]) / 3)


def test_pretrained_flow_stem_and_layers_come_from_the_rgb_weights(tmp_path: Path) -> None:
    torch.manual_seed(1)
    state = tvm.resnet34(weights=None).state_dict()
    path = tmp_path / "resnet34.pth"
    torch.save(state, path)
    model = create_model("flow_resnet34", TASKS, pretrained=str(path), stack_len=3)
    own = model.backbone.state_dict()
    torch.testing.assert_close(own["conv1.weight"], state["conv1.weight"].mean(1, keepdim=True).expand(-1, 6, -1, -1))
    assert all(torch.equal(v, state[k]) for k, v in own.items() if k != "conv1.weight")
    assert "fc.weight" not in own  # the ImageNet classifier is dropped
    # a file whose conv1 already has 2L channels loads unchanged
    torch.save({f"backbone.{k}": v for k, v in own.items()}, path)
    again = create_model("flow_resnet34", TASKS, pretrained=str(path), stack_len=3)
    assert all(torch.equal(v, own[k]) for k, v in again.backbone.state_dict().items())


def test_flow_parameter_count_and_input_spec() -> None:
    with torch.device("meta"):
        model = create_model("flow_resnet34", {"action": 61})
    assert count_parameters(model) == 21_337_917  # models.md §1.5: 21.34M
    assert model.input_spec.describe() == "1 x flow(10) x 224x224"
    assert model.modalities == ("flow",) and model.heads.dropout == 0.5


@torch.no_grad()
def test_flow_logits_are_the_mean_over_stacks() -> None:
    torch.manual_seed(0)
    model = create_model("flow_resnet34", TASKS).eval()
    assert isinstance(model, FlowResNet)
    x = flow(stacks=3)
    out = model({"flow": x})["verb"]
    per_stack = [model({"flow": x[:, s : s + 1]})["verb"] for s in range(3)]
    assert out.shape == (2, 3)
    torch.testing.assert_close(out, torch.stack(per_stack).mean(0))
    with pytest.raises(ValueError, match="10 channels"):
        model({"flow": flow(channels=6)})


@torch.no_grad()
def test_two_stream_concatenates_flow_then_rgb() -> None:
    model = two_stream().eval()
    seen: list[Tensor] = []
    model.heads.register_forward_pre_hook(lambda m, args: seen.append(args[0]))
    f, r = flow(), rgb()
    out = model({"rgb": r, "flow": f})
    assert out["verb"].shape == (2, 3) and out["attention"].shape == (2, 3, 2, 2)
    feature = seen[0]
    assert feature.shape == (2, 512 + 16) and model.heads.dim == 528
    torch.testing.assert_close(feature[:, :512], encode_frames(model._flow, f).mean(1))
    x, _, _ = attend_frames(model._rgb, r)
    torch.testing.assert_close(feature[:, 512:], convlstm_memory(model.convlstm, x))


def test_two_stream_trainable_set_and_flow_learning_rate_prefix() -> None:
    with torch.device("meta"):
        model = create_model("two_stream_egornn", TASKS)
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    flow_layer4 = {n for n, _ in model.named_parameters() if n.startswith(FLOW_LAYER4)}
    rgb_stage2 = {f"backbone.rgb.layer4.{i}.conv{j}.weight" for i in range(3) for j in (1, 2)}
    convlstm = {"convlstm.input_conv.weight", "convlstm.input_conv.bias", "convlstm.hidden_conv.weight"}
    heads = {"heads.verb.weight", "heads.verb.bias"}
    assert len(flow_layer4) == 21  # BatchNorm and the downsample included
    assert any(".bn2." in n for n in flow_layer4) and any(".downsample." in n for n in flow_layer4)
    assert names == flow_layer4 | rgb_stage2 | {"backbone.rgb.fc.weight"} | convlstm | heads
    groups = {g["name"]: g for g in param_groups(model, OptimConfig(lr=0.01, lr_factors={FLOW_LAYER4: 0.01}))}
    assert groups[FLOW_LAYER4]["lr"] == pytest.approx(1e-4)
    assert len(groups[FLOW_LAYER4]["params"]) == 21  # type: ignore[arg-type]
    assert model.modalities == ("rgb", "flow")
    assert len(model.backbone_stages()) == 5


def test_two_stream_loads_both_streams_from_checkpoints(tmp_path: Path) -> None:
    torch.manual_seed(3)
    rgb_model = create_model("egornn_ms", {"action": 5}, memory=16)
    flow_model = create_model("flow_resnet34", {"action": 5})
    assert isinstance(rgb_model, EgoRNN)
    rgb_ckpt = save_ckpt(rgb_model, tmp_path / "rgb.ckpt", "egornn_ms")
    flow_ckpt = save_ckpt(flow_model, tmp_path / "flow.ckpt", "flow_resnet34")
    model = two_stream(rgb_checkpoint=str(rgb_ckpt), flow_checkpoint=str(flow_ckpt))
    own = model.state_dict()
    for k, v in rgb_model.backbone.state_dict().items():
        assert torch.equal(own[f"backbone.rgb.{k}"], v), k
    for k, v in rgb_model.convlstm.state_dict().items():
        assert torch.equal(own[f"convlstm.{k}"], v), k
    for k, v in flow_model.backbone.state_dict().items():
        assert torch.equal(own[f"backbone.flow.{k}"], v), k
    assert not any(k.startswith(("ms.", "backbone.rgb.ms")) for k in own)
    # the loaded weights keep the joint model's trainable set
    assert not model._rgb.conv1.weight.requires_grad and model._flow.layer4[0].conv1.weight.requires_grad


def test_a_checkpoint_of_the_wrong_stream_is_refused(tmp_path: Path) -> None:
    torch.manual_seed(3)
    flow_ckpt = save_ckpt(create_model("flow_resnet34", TASKS), tmp_path / "flow.ckpt", "flow_resnet34")
    with pytest.raises(ValueError, match=r"not a checkpoint of this stream.*missing \(5\).*convlstm"):
        two_stream(rgb_checkpoint=str(flow_ckpt))  # no CAM fc, no ConvLSTM, a 10-channel conv1
    with pytest.raises(ValueError, match=r"wrong shapes \(1\): \['backbone.flow.conv1.weight \(64, 10, 7, 7\)"):
        two_stream(flow_checkpoint=str(flow_ckpt), stack_len=2)


def test_a_two_stream_checkpoint_rebuilds_without_its_stream_files(tmp_path: Path) -> None:
    from egoaction.engine.checkpoint import build_model

    torch.manual_seed(3)
    rgb_ckpt = save_ckpt(create_model("egornn_resnet34", {"action": 5}, memory=16), tmp_path / "rgb.ckpt", "egornn")
    kwargs = {"rgb_checkpoint": str(rgb_ckpt), "memory": 16, "pretrained": "imagenet"}
    rgb_ckpt.unlink()  # the stream files may be gone once the joint model is trained: its checkpoint has the weights
    model = build_model({"model": {"name": "two_stream_egornn", "kwargs": kwargs}, "task_spec": {"action": 5}})
    assert isinstance(model, TwoStreamEgoRNN)


def test_two_stream_default_input_is_rgb_frames_beside_one_flow_stack() -> None:
    model = two_stream()
    assert model.input_spec.describe() == "25 x rgb(3) + 1 x flow(10) x 224x224"
    batch = model.example_batch(2, frames=4)
    # the clip length sets the RGB frames; the flow stays one stack, as the configs load it (data.flow_stacks 1)
    assert batch["rgb"].shape == (2, 4, 3, 224, 224) and batch["flow"].shape == (2, 1, 10, 224, 224)
