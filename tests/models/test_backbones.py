"""ResNet backbones and offline pretrained loading (fake torch hub cache, local .pth files)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torchvision import models as tvm

from egoaction.models import create_model, resnet_backbone
from egoaction.models.backbones import split_stages

R18_FILE = Path(tvm.ResNet18_Weights.IMAGENET1K_V1.url).name  # resnet18-f37072fd.pth


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty torch hub dir standing in for ~/.cache/torch/hub."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    return tmp_path / "hub"


@pytest.fixture(scope="module")
def reference() -> dict[str, torch.Tensor]:
    """The state dict of a random torchvision resnet18, fc included, as torchvision ships it."""
    torch.manual_seed(1)
    return tvm.resnet18(weights=None).state_dict()


def assert_loaded(net: torch.nn.Module, reference: dict[str, torch.Tensor]) -> None:
    state = net.state_dict()
    for key, value in reference.items():
        if not key.startswith("fc."):
            assert torch.equal(state[key], value), key


def test_resnet_backbone_drops_fc_and_reports_the_feature_dim() -> None:
    net, dim = resnet_backbone(18)
    assert dim == 512 and isinstance(net.fc, torch.nn.Identity)
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 512)
    assert resnet_backbone(50)[1] == 2048
    with pytest.raises(ValueError, match="depth must be one of"):
        resnet_backbone(20)


def test_imagenet_weights_come_from_the_hub_cache(hub: Path, reference: dict[str, torch.Tensor]) -> None:
    (hub / "checkpoints").mkdir(parents=True)
    torch.save(reference, hub / "checkpoints" / R18_FILE)
    net, _ = resnet_backbone(18, pretrained="imagenet")
    assert_loaded(net, reference)
    assert_loaded(create_model("tsn_resnet18", {"action": 3}, pretrained="imagenet").backbone, reference)


def test_imagenet_cache_miss_says_where_to_put_the_file(hub: Path) -> None:
    with pytest.raises(FileNotFoundError) as err:
        resnet_backbone(18, pretrained="imagenet")
    message = str(err.value)
    assert str(hub / "checkpoints" / R18_FILE) in message
    assert tvm.ResNet18_Weights.IMAGENET1K_V1.url in message


@pytest.mark.parametrize("wrap", ["plain", "state_dict", "model"])
@pytest.mark.parametrize("prefix", ["", "module.", "backbone.", "module.backbone."])
def test_local_file_with_wrappers_and_prefixes(
    tmp_path: Path, reference: dict[str, torch.Tensor], wrap: str, prefix: str
) -> None:
    state = {prefix + k: v for k, v in reference.items()}
    obj = state if wrap == "plain" else {wrap: state, "epoch": 3}
    path = tmp_path / "weights.pt"
    torch.save(obj, path)
    net, _ = resnet_backbone(18, pretrained=str(path))
    assert_loaded(net, reference)


def test_whole_model_checkpoint_loads_only_its_backbone(tmp_path: Path, reference: dict[str, torch.Tensor]) -> None:
    model = create_model("tsn_resnet18", {"verb": 4})
    model.backbone.load_state_dict({k: v for k, v in reference.items() if not k.startswith("fc.")})
    path = tmp_path / "run.ckpt"
    torch.save({"state_dict": {f"model.{k}": v for k, v in model.state_dict().items()}}, path)
    net, _ = resnet_backbone(18, pretrained=str(path))
    assert_loaded(net, reference)


def test_bad_keys_name_the_keys_and_the_file(tmp_path: Path, reference: dict[str, torch.Tensor]) -> None:
    state = dict(reference)
    del state["layer1.0.conv1.weight"]
    state["extra.weight"] = torch.zeros(1)
    path = tmp_path / "bad.pth"
    torch.save(state, path)
    with pytest.raises(ValueError) as err:
        resnet_backbone(18, pretrained=str(path))
    message = str(err.value)
    assert str(path) in message
    assert "missing keys (1): ['layer1.0.conv1.weight']" in message
    assert "unexpected keys (1): ['extra.weight']" in message


def test_wrong_depth_reports_shape_mismatches(tmp_path: Path, reference: dict[str, torch.Tensor]) -> None:
    path = tmp_path / "r18.pth"
    torch.save(reference, path)
    with pytest.raises(ValueError, match=r"r18\.pth: weights do not fit.*missing keys"):
        resnet_backbone(34, pretrained=str(path))


def test_missing_or_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope\.pth does not exist"):
        resnet_backbone(18, pretrained=str(tmp_path / "nope.pth"))
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=r"junk\.pth: cannot read it as a PyTorch state dict"):
        resnet_backbone(18, pretrained=str(junk))


def test_resnet_stages_run_from_stem_to_layer4() -> None:
    net, _ = resnet_backbone(18)
    stages = split_stages(net)
    assert [len(list(s.parameters())) > 0 for s in stages] == [True] * 5
    assert list(stages[0]) == [net.conv1, net.bn1] and stages[-1] is net.layer4
    with pytest.raises(NotImplementedError, match=r"override VideoModel\.backbone_stages"):
        split_stages(torch.nn.Linear(2, 2))


def test_old_checkpoints_without_batch_counters_load(tmp_path: Path, reference: dict[str, torch.Tensor]) -> None:
    path = tmp_path / "old.pth"
    torch.save({k: v for k, v in reference.items() if not k.endswith("num_batches_tracked")}, path)
    assert_loaded(resnet_backbone(18, pretrained=str(path))[0], {k: reference[k] for k in ("conv1.weight",)})
