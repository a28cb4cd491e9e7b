"""Ego-RNN: size, the two training stages, CAM output, motion segmentation and the static-dynamic discriminator."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import Tensor, nn
from torchvision import models as tvm

from egoaction.models import count_parameters, create_model, set_batchnorm_mode
from egoaction.models.egornn import (
    EgoRNN,
    attend_frames,
    cam_resnet34,
    convlstm_memory,
    motion_targets,
    static_copy,
    static_indices,
)

TASKS = {"verb": 3, "noun": 4}
CONVLSTM = ["convlstm.input_conv.weight", "convlstm.input_conv.bias", "convlstm.hidden_conv.weight"]
HEADS = [f"heads.{t}.{p}" for t in TASKS for p in ("weight", "bias")]
STAGE1 = set(CONVLSTM + HEADS)
LAYER4 = {f"backbone.layer4.{i}.conv{j}.weight" for i in range(3) for j in (1, 2)}
STAGE2 = STAGE1 | LAYER4 | {"backbone.fc.weight"}
MS = {"ms.conv.weight", "ms.fc.weight", "ms.fc.bias"}
SD = {"sd_head.1.weight", "sd_head.1.bias"}


def egornn(**kwargs: object) -> EgoRNN:
    """A small-memory Ego-RNN (ConvLSTM 512 -> 16) with seed 0; the backbone is the real ResNet-34."""
    torch.manual_seed(0)
    model = create_model("egornn_resnet34", TASKS, **{"memory": 16, **kwargs})
    assert isinstance(model, EgoRNN)
    return model


def clip(b: int = 2, t: int = 3, size: int = 64, seed: int = 0) -> Tensor:
    return torch.randn(b, t, 3, size, size, generator=torch.Generator().manual_seed(seed))


def trainable(model: nn.Module) -> set[str]:
    return {n for n, p in model.named_parameters() if p.requires_grad}


def test_parameter_count_with_61_classes_matches_the_reference() -> None:
    with torch.device("meta"):
        model = create_model("egornn_resnet34", {"action": 61})
        ms = create_model("egornn_ms", {"action": 61})
    # models.md §1.3: ResNet-34 with its ImageNet fc 21.80M + ConvLSTM 18.88M + fc61 = 40.7M
    assert count_parameters(model) == 21_797_672 + 18_876_416 + 512 * 61 + 61 == 40_705_381
    # models.md §2: the classification MS head is 512*100 + 4900*98 + 98
    assert count_parameters(ms) - count_parameters(model) == 512 * 100 + 4900 * 98 + 98


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"stage": 1}, STAGE1),
        ({"stage": 2}, STAGE2),
        ({"stage": 2, "cam": False}, STAGE2 - {"backbone.fc.weight"}),
        ({"stage": 1, "ms_head": "classification", "static_dynamic": True}, STAGE1 | MS | SD),
    ],
)
def test_trainable_parameter_names_per_stage(kwargs: dict[str, object], expected: set[str]) -> None:
    with torch.device("meta"):
        model = create_model("egornn_resnet34", TASKS, **kwargs)
    assert trainable(model) == expected


def test_egornn_ms_defaults_to_stage_2_with_the_classification_head() -> None:
    with torch.device("meta"):
        model = create_model("egornn_ms", TASKS)
    assert isinstance(model, EgoRNN) and model.ms is not None and model.ms.mode == "classification"
    assert trainable(model) == STAGE2 | MS
    assert model.target_modalities == ("mmaps",)
    with torch.device("meta"):
        assert create_model("egornn_resnet34", TASKS).target_modalities == ()


@pytest.mark.parametrize("stage", [1, 2])
def test_one_adam_step_changes_exactly_the_trainable_parameters(stage: int) -> None:
    model = egornn(stage=stage)
    model.train()
    set_batchnorm_mode(model, "train")  # what the engine does: BatchNorm with frozen parameters stays in eval
    before = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    out = model({"rgb": clip()})
    torch.stack([nn.functional.cross_entropy(out[t], torch.tensor([0, 1])) for t in TASKS]).sum().backward()
    optimizer.step()
    changed = {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    assert changed == (STAGE1 if stage == 1 else STAGE2)


def test_stage_2_loads_a_stage_1_state_dict_strictly() -> None:
    stage1 = egornn(stage=1).state_dict()
    with torch.device("meta"):
        stage2 = create_model("egornn_resnet34", TASKS, stage=2, memory=16)
    assert list(stage2.state_dict()) == list(stage1)
    stage2.load_state_dict(stage1, strict=True, assign=True)


@torch.no_grad()
def test_forward_outputs_and_attention_maps() -> None:
    model = egornn().eval()
    rgb = clip(t=4)
    out = model({"rgb": rgb})
    assert out["verb"].shape == (2, 3) and out["noun"].shape == (2, 4)
    assert out["attention"].shape == (2, 4, 2, 2)  # 64x64 frames -> 2x2 layer4 grid
    torch.testing.assert_close(out["attention"].sum(dim=(2, 3)), torch.ones(2, 4))
    # the clip feature is the pooled final cell state
    x, _, _ = attend_frames(model.backbone, rgb)
    torch.testing.assert_close(out["noun"], model.heads(convlstm_memory(model.convlstm, x))["noun"])


@torch.no_grad()
def test_without_cam_the_features_enter_unweighted() -> None:
    model = egornn(cam=False).eval()
    rgb = clip()
    _, attention, _ = attend_frames(model.backbone, rgb, cam=False)
    torch.testing.assert_close(attention, torch.full((2, 3, 2, 2), 0.25))
    with_cam, _, _ = attend_frames(model.backbone, rgb, cam=True)
    without, _, _ = attend_frames(model.backbone, rgb, cam=False)
    assert not torch.allclose(with_cam, without)
    torch.testing.assert_close(model({"rgb": rgb})["attention"], attention)


def test_pretrained_file_loads_the_imagenet_fc(tmp_path: Path) -> None:
    torch.manual_seed(1)
    state = tvm.resnet34(weights=None).state_dict()
    path = tmp_path / "resnet34.pth"
    torch.save(state, path)
    net = cam_resnet34(str(path))
    assert all(torch.equal(v, state[k]) for k, v in net.state_dict().items())
    torch.save({k: v for k, v in state.items() if not k.startswith("fc.")}, path)
    with pytest.raises(ValueError, match="ImageNet fc"):
        cam_resnet34(str(path))


def test_static_copies_repeat_one_frame_of_their_clip() -> None:
    rgb = clip(b=3, t=5)
    index = static_indices(3, 5, random=True)
    assert ((index >= 0) & (index < 5)).all()
    static = static_copy(rgb, index)
    assert static.shape == rgb.shape
    for b in range(3):
        assert all(torch.equal(static[b, t], rgb[b, index[b]]) for t in range(5))
    assert static_indices(3, 5, random=False).tolist() == [2, 2, 2]
    draws = torch.stack([static_indices(64, 5, random=True) for _ in range(4)])
    assert len(draws.unique()) == 5, "training picks every frame sometimes"


@torch.no_grad()
def test_static_dynamic_head_scores_real_and_static_clips() -> None:
    model = egornn(static_dynamic=True).eval()
    rgb = clip(t=4)
    out = model({"rgb": rgb})
    assert out["verb"].shape == (2, 3) and out["attention"].shape == (2, 4, 2, 2)
    assert out["static_dynamic"].shape == (2, 2, 2)
    # task logits are the real clips' alone; the static copy in eval repeats the centre frame
    x, _, _ = attend_frames(model.backbone, rgb)
    real = convlstm_memory(model.convlstm, x)
    torch.testing.assert_close(out["verb"], model.heads(real)["verb"])
    static_rgb = static_copy(rgb, torch.tensor([2, 2]))
    xs, _, _ = attend_frames(model.backbone, static_rgb)
    assert model.sd_head is not None
    torch.testing.assert_close(out["static_dynamic"][:, 0], model.sd_head(real))
    torch.testing.assert_close(out["static_dynamic"][:, 1], model.sd_head(convlstm_memory(model.convlstm, xs)))
    torch.testing.assert_close(model({"rgb": rgb})["static_dynamic"], out["static_dynamic"])


def test_static_dynamic_loss_and_accuracy() -> None:
    model = egornn(static_dynamic=True, sd_weight=2.0)
    right = torch.tensor([[[0.0, 5.0], [5.0, 0.0]]] * 3)  # real -> 1 (dynamic), static -> 0
    metrics = model.auxiliary_metrics({"static_dynamic": right}, {})
    assert metrics["sd_acc"].item() == 100.0
    assert model.auxiliary_metrics({"static_dynamic": right.flip(-1)}, {})["sd_acc"].item() == 0.0
    loss = model.auxiliary_losses({"static_dynamic": right}, {})["sd_loss"]
    expected = 2.0 * nn.functional.cross_entropy(torch.tensor([[0.0, 5.0]]), torch.tensor([1]))
    torch.testing.assert_close(loss, expected)


def test_motion_targets_area_downsample_and_binarise() -> None:
    maps = torch.zeros(1, 1, 1, 14, 14, dtype=torch.uint8)  # 7x7 cells of 2x2 pixels
    maps[..., 0:2, 0:2] = 255  # cell (0, 0): all moving
    maps[..., 2:4, 2:4] = 255
    maps[..., 2, 2] = 0  # cell (1, 1): 3 of 4 pixels
    maps[..., 4, 4] = 255  # cell (2, 2): 1 of 4
    maps[..., 6, 6:8] = 255  # cell (3, 3): exactly half -> moving
    binary = motion_targets(maps, 7)
    assert binary.shape == (1, 1, 7, 7) and binary.dtype == torch.long
    assert binary[0, 0].nonzero().tolist() == [[0, 0], [1, 1], [3, 3]]
    values = motion_targets(maps, 7, binary=False)
    assert [values[0, 0, i, i].item() for i in range(4)] == [1.0, 0.75, 0.25, 0.5]


def moving_squares(b: int = 4, t: int = 3, size: int = 64, maps: int = 28) -> tuple[Tensor, Tensor]:
    """Clips with one bright square moving right, and the motion maps (B, T, 1, maps, maps) marking it."""
    rgb = torch.zeros(b, t, 3, size, size)
    mmaps = torch.zeros(b, t, 1, maps, maps, dtype=torch.uint8)
    for i in range(b):
        for j in range(t):
            y, x = 8 * i, 4 + 12 * j + 4 * i
            rgb[i, j, :, y : y + 16, x : x + 16] = 2.0
            mmaps[i, j, 0, y * maps // size : (y + 16) * maps // size, x * maps // size : (x + 16) * maps // size] = 255
    return rgb, mmaps


def test_motion_segmentation_loss_falls_on_a_tiny_fixed_set() -> None:
    model = egornn(ms_head="classification", ms_weight=1.0)
    model.train()
    set_batchnorm_mode(model, "train")
    rgb, mmaps = moving_squares()
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    losses = []
    for _ in range(20):
        out = model({"rgb": rgb})
        assert out["ms"].shape == (4, 3, 2, 7, 7)
        loss = model.auxiliary_losses(out, {"mmaps": mmaps})["ms_loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.3 * losses[0]
    assert model.auxiliary_metrics(out, {"mmaps": mmaps})["ms_acc"].item() > 90


def test_motion_segmentation_regression_and_missing_maps() -> None:
    model = egornn(ms_head="regression", ms_weight=3.0, ms_grid=4).eval()
    rgb, mmaps = moving_squares(b=2)
    with torch.no_grad():
        out = model({"rgb": rgb})
    assert out["ms"].shape == (2, 3, 4, 4)
    expected = 3.0 * nn.functional.mse_loss(out["ms"], motion_targets(mmaps, 4, binary=False))
    torch.testing.assert_close(model.auxiliary_losses(out, {"mmaps": mmaps})["ms_loss"], expected)
    assert "ms_acc" not in model.auxiliary_metrics(out, {"mmaps": mmaps})
    with pytest.raises(KeyError, match=r"data\.modalities"):
        model.auxiliary_losses(out, {})


def test_bad_arguments_raise() -> None:
    with pytest.raises(ValueError, match="stage must be 1 or 2"), torch.device("meta"):
        create_model("egornn_resnet34", TASKS, stage=3)
    with pytest.raises(ValueError, match="ms_head must be one of"), torch.device("meta"):
        create_model("egornn_resnet34", TASKS, ms_head="segmentation")
