"""TRN and the relation consensus: order reaches the head, the clip length is fixed, weights load from a TSN."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

import egoaction.models.trn  # noqa: F401  (registers trn_*)
from egoaction.models import count_parameters, create_model
from egoaction.models.heads import RelationConsensus
from egoaction.models.trn import TRN


def clip(b: int, t: int, seed: int = 0, size: int = 32) -> Tensor:
    """A random normalised clip (B, T, 3, size, size)."""
    return torch.randn((b, t, 3, size, size), generator=torch.Generator().manual_seed(seed))


def test_relation_is_the_mlp_over_the_ordered_concatenation() -> None:
    torch.manual_seed(0)
    rel = RelationConsensus(6, 3, reduce=4, bottleneck=5).eval()
    x = torch.randn(2, 3, 6)
    reduced = x @ rel.reduce.weight.T + rel.reduce.bias  # (2, 3, 4), frame by frame
    by_hand = torch.relu(torch.relu(reduced.reshape(2, 12)) @ rel.fuse.weight.T + rel.fuse.bias)
    torch.testing.assert_close(rel(x), by_hand)
    assert rel(x).shape == (2, 5) and rel.out_dim == 5


def test_relation_rejects_another_clip_length_naming_num_frames() -> None:
    rel = RelationConsensus(6, 3)
    with pytest.raises(ValueError, match="num_frames=3"):
        rel(torch.randn(2, 4, 6))
    with pytest.raises(ValueError, match="at least one frame"):
        RelationConsensus(6, 0)


@torch.no_grad()
def test_trn_reads_order_where_tsn_with_the_same_backbone_does_not() -> None:
    torch.manual_seed(0)
    tsn = create_model("tsn_resnet18", {"action": 5}).eval()
    trn = create_model("trn_resnet18", {"action": 5}, num_frames=4).eval()
    trn.backbone.load_state_dict(tsn.backbone.state_dict())  # a TSN backbone loads as is: no renamed weights
    x = clip(2, 4, seed=3)
    reverse = x.flip(1)
    torch.testing.assert_close(tsn({"rgb": reverse})["action"], tsn({"rgb": x})["action"], rtol=1e-4, atol=1e-5)
    assert not torch.allclose(trn({"rgb": reverse})["action"], trn({"rgb": x})["action"], atol=1e-4)
    # swapping only the two middle frames is enough: every position has its own weights in the relation
    swapped = x[:, [0, 2, 1, 3]]
    assert not torch.allclose(trn({"rgb": swapped})["action"], trn({"rgb": x})["action"], atol=1e-4)


def test_trn_is_tsn_plus_the_relation_and_rejects_another_clip_length() -> None:
    trn = create_model("trn_resnet18", {"verb": 4, "noun": 6}, num_frames=4)
    tsn = create_model("tsn_resnet18", {"verb": 4, "noun": 6})
    relation = 512 * 256 + 256 + 4 * 256 * 256 + 256
    heads_diff = (256 - 512) * (4 + 6)
    assert count_parameters(trn) == count_parameters(tsn) + relation + heads_diff
    out = trn({"rgb": clip(2, 4)})
    assert {k: tuple(v.shape) for k, v in out.items()} == {"verb": (2, 4), "noun": (2, 6)}
    with pytest.raises(ValueError, match="num_frames=4"):
        trn({"rgb": clip(2, 8)})
    with pytest.raises(ValueError, match="classifies the clip"):
        trn.frame_logits(clip(1, 4))


def test_trn_trains_the_backbone_through_the_relation() -> None:
    torch.manual_seed(0)
    trn = create_model("trn_resnet18", {"action": 3}, num_frames=4, dropout=0.0)
    loss = torch.nn.functional.cross_entropy(trn({"rgb": clip(2, 4)})["action"], torch.tensor([0, 2]))
    loss.backward()
    grads = {n: p.grad for n, p in trn.named_parameters()}
    assert all(g is not None and g.abs().sum() > 0 for n, g in grads.items() if not n.startswith("backbone.fc"))


def test_pretrained_heads_are_new_layers_and_kwargs_reach_the_model(tmp_path) -> None:
    from torchvision import models as tvm

    torch.save(tvm.resnet18().state_dict(), tmp_path / "r18.pth")
    model = create_model("trn_resnet18", {"action": 3}, pretrained=str(tmp_path / "r18.pth"), dropout=0.3)
    assert isinstance(model, TRN) and model.consensus == "trn"
    assert model.relation is not None and model.relation.dropout == 0.3 and model.heads.dropout == 0.0
    # TSN's N(0, 0.001) head init is for heads on pretrained features; these sit on a new relation layer
    assert model.heads["action"].weight.std().item() > 0.01
