"""TSN and the single-frame CNN: parameter counts, consensus semantics, input checks."""

from __future__ import annotations

import pytest
import torch

from egoaction.models import count_parameters, create_model
from egoaction.models.tsn import TSN, SingleFrameCNN, mean_probability_log

# torchvision's own counts (with the 1000-way ImageNet fc) and feature dims, reference/models.md §10
TORCHVISION = {18: (11_689_512, 512), 34: (21_797_672, 512), 50: (25_557_032, 2048)}


@pytest.mark.parametrize("depth", sorted(TORCHVISION))
def test_parameter_counts_match_torchvision(depth: int) -> None:
    full, dim = TORCHVISION[depth]
    imagenet = create_model(f"tsn_resnet{depth}", {"action": 1000})
    assert count_parameters(imagenet) == full
    epic = create_model(f"tsn_resnet{depth}", {"verb": 97, "noun": 300})
    assert count_parameters(epic) == full - (dim + 1) * 1000 + (dim + 1) * 397


@pytest.fixture(scope="module")
def tsn() -> TSN:
    torch.manual_seed(0)
    return TSN({"verb": 4, "noun": 6}, arch="resnet18").eval()


@pytest.fixture(scope="module")
def single() -> SingleFrameCNN:
    torch.manual_seed(0)
    return SingleFrameCNN({"verb": 4, "noun": 6}, arch="resnet18").eval()


def clip(t: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(2, t, 3, 48, 48, generator=torch.Generator().manual_seed(seed))


@torch.no_grad()
def test_tsn_consensus_is_the_mean_of_frame_logits(tsn: TSN) -> None:
    x = clip(4)
    out = tsn({"rgb": x})
    per_frame = [tsn({"rgb": x[:, i : i + 1]}) for i in range(4)]
    for task in ("verb", "noun"):
        expected = torch.stack([f[task] for f in per_frame], dim=1).mean(dim=1)
        torch.testing.assert_close(out[task], expected, rtol=1e-4, atol=1e-5)


@torch.no_grad()
def test_tsn_ignores_frame_order(tsn: TSN) -> None:
    x = clip(5)
    out = tsn({"rgb": x})
    shuffled = tsn({"rgb": x[:, torch.tensor([3, 0, 4, 2, 1])]})
    torch.testing.assert_close(shuffled["verb"], out["verb"], rtol=1e-4, atol=1e-5)
    assert set(out) == {"verb", "noun"}


@torch.no_grad()
def test_single_frame_equals_frame_logits_up_to_a_constant_at_t1(single: SingleFrameCNN) -> None:
    out = single({"rgb": clip(1)})
    diff = out["verb"] - out["verb_frames"][:, 0]
    torch.testing.assert_close(diff, diff[:, :1].expand_as(diff))
    assert torch.equal(out["verb"].argmax(1), out["verb_frames"][:, 0].argmax(1))


@torch.no_grad()
def test_single_frame_averages_probabilities(single: SingleFrameCNN) -> None:
    out = single({"rgb": clip(3)})
    assert out["noun_frames"].shape == (2, 3, 6)
    expected = out["noun_frames"].softmax(-1).mean(dim=1)
    torch.testing.assert_close(out["noun"].exp(), expected)
    torch.testing.assert_close(out["noun"].exp().sum(-1), torch.ones(2))


def test_mean_probability_log_is_stable_for_large_logits() -> None:
    logits = torch.tensor([[[1000.0, 0.0], [0.0, 1000.0]]])
    torch.testing.assert_close(mean_probability_log(logits), torch.log(torch.tensor([[0.5, 0.5]])))


def test_single_frame_registered_variants_are_single_frame_models() -> None:
    model = create_model("single_frame", {"action": 3})
    assert isinstance(model, SingleFrameCNN)
    out = model.eval()({"rgb": clip(2)})
    assert set(out) == {"action", "action_frames"}


def test_dropout_kwarg_reaches_the_model() -> None:
    assert create_model("tsn_resnet18", {"action": 3}, dropout=0.2).heads.dropout == 0.2


def test_missing_or_misshapen_input_names_the_key(tsn: TSN) -> None:
    with pytest.raises(KeyError, match=r"reads batch\['rgb'\]; the batch has keys \['flow'\]"):
        tsn({"flow": clip(2)})
    with pytest.raises(ValueError, match=r"batch\['rgb'\] must have 5 dims, got \(2, 3, 48, 48\)"):
        tsn({"rgb": clip(1)[:, 0]})


def test_head_init_is_small_only_over_pretrained_features(tmp_path) -> None:
    # TSN's std-0.001 head suits a pretrained backbone; from scratch it starves the backbone of gradient
    torch.manual_seed(0)
    scratch = create_model("tsn_resnet18", {"noun": 300})
    assert scratch.heads["noun"].weight.std() > 0.01  # PyTorch's default Linear init, bound 1/sqrt(512)
    path = tmp_path / "backbone.pth"
    torch.save(scratch.backbone.state_dict(), path)
    tuned = create_model("tsn_resnet18", {"noun": 300}, pretrained=str(path))
    assert tuned.heads["noun"].weight.std().item() == pytest.approx(0.001, rel=0.05)
    assert not tuned.heads["noun"].bias.any()
