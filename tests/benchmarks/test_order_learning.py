"""The order-learning probes: the toy's label is the square's direction, reversal swaps in the partner verb, and a
variant's record is named by what it changes."""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise
from types import ModuleType

import pytest
import torch

VERBS = ["take", "put", "open", "close", "cut"]


@pytest.fixture(scope="module")
def order(benchmark_script: Callable[[str], ModuleType]) -> ModuleType:
    return benchmark_script("order_learning")


def test_toy_label_is_the_direction_the_square_moves(order: ModuleType) -> None:
    clips, labels = order.moving_squares(6, torch.Generator().manual_seed(1))
    assert clips.shape == (6, 8, 3, 48, 84) and set(labels.tolist()) <= {0, 1}
    for clip, label in zip(clips, labels):
        square = (clip > 0.3).all(1)  # (T, H, W): the square is the only place brighter than the noise everywhere
        columns = torch.arange(84, dtype=torch.float)
        centre = [(columns * frame.float()).sum() / frame.sum() for frame in square]
        moves_right = all(b > a for a, b in pairwise(centre))
        moves_left = all(b < a for a, b in pairwise(centre))
        assert (moves_right, moves_left) == ((True, False) if label == 0 else (False, True))


def test_reversal_plays_only_pair_verbs_backwards_and_gives_them_the_partner_label(order: ModuleType) -> None:
    partner = torch.tensor([1, 0, 3, 2, -1])  # take<->put, open<->close, cut has none
    rgb = torch.arange(5 * 4).view(5, 4, 1, 1, 1).expand(5, 4, 3, 2, 2)  # frame t of clip i holds 4*i + t
    verb = torch.tensor([0, 1, 2, 3, 4])
    out, labels = order.reverse_some(rgb, verb, partner, 1.0, torch.Generator().manual_seed(0))
    assert labels.tolist() == [1, 0, 3, 2, 4]
    assert out[:4, :, 0, 0, 0].tolist() == rgb[:4, :, 0, 0, 0].flip(1).tolist()
    assert out[4, :, 0, 0, 0].tolist() == [16, 17, 18, 19]  # cut keeps its order
    same, labels = order.reverse_some(rgb, verb, partner, 0.0, torch.Generator().manual_seed(0))
    assert torch.equal(same, rgb) and labels.tolist() == verb.tolist()


def test_a_variant_is_named_by_the_options_it_changes(order: ModuleType) -> None:
    assert order.kitchen_key(order.parse_args(["kitchen"])) == "kitchen:tsm_resnet18"
    args = order.parse_args(["kitchen", "--model", "mc3_18", "--reverse-p", "0.5", "--pair-verbs-only"])
    assert order.kitchen_key(args) == "kitchen:mc3_18[reverse_p=0.5][pair_verbs_only=True]"
    motion = order.parse_args(["kitchen", "--motion-steps", "600"])
    assert order.kitchen_key(motion) == "kitchen:tsm_resnet18[motion_steps=600]"


def test_scores_count_pair_verbs_apart(order: ModuleType) -> None:
    class Says(torch.nn.Module):
        """Predicts verb 0 (take) for every clip."""

        def forward(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
            return {"verb": torch.eye(5)[[0] * len(inputs["rgb"])]}

    clips = (torch.zeros(4, 8, 3, 2, 2, dtype=torch.uint8), torch.tensor([0, 1, 4, 4]), torch.zeros(4))
    assert order.scores(Says(), clips, torch.tensor([0, 1, 2, 3])) == (25.0, 50.0)
