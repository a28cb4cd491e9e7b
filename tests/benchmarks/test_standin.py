"""The motion stand-in's clips: a rectangle moving in the labelled direction, k + 4 the reverse of k."""

from __future__ import annotations

import math
from collections.abc import Callable
from types import ModuleType

import pytest
import torch


@pytest.fixture(scope="module")
def standin(benchmark_script: Callable[[str], ModuleType]) -> ModuleType:
    return benchmark_script("standin")


def _moving_centre(clip: torch.Tensor, t: int) -> tuple[float, float]:
    """(x, y) of the pixels that differ between the first and last frames and are bright in frame ``t``."""
    changed = (clip[0] - clip[-1]).abs().amax(0) > 0
    bright = clip[t].amin(0) >= 0.5
    ys, xs = (changed & bright).nonzero(as_tuple=True)
    return float(xs.float().mean()), float(ys.float().mean())


def test_the_rectangle_moves_in_the_labelled_direction_and_stays_in_frame(standin: ModuleType) -> None:
    clips, labels = standin.moving_shapes(64, torch.Generator().manual_seed(3), frames=8, size=(48, 84))
    assert clips.shape == (64, 8, 3, 48, 84) and set(labels.tolist()) == set(range(8))
    for clip, label in zip(clips, labels, strict=True):
        (x0, y0), (x1, y1) = _moving_centre(clip, 0), _moving_centre(clip, 7)
        angle = math.degrees(math.atan2(y0 - y1, x1 - x0)) % 360  # rows grow downwards
        error = min(abs(angle - 45 * int(label)), 360 - abs(angle - 45 * int(label)))
        assert error < 10, (int(label), angle)
        assert (clip.amin(1) >= 0.5).flatten(1).any(1).all()  # every frame still shows a bright rectangle


def test_motion_clips_depend_on_the_generator_only(standin: ModuleType) -> None:
    a, la = standin.moving_shapes(4, torch.Generator().manual_seed(1), frames=4, size=(32, 40))
    b, lb = standin.moving_shapes(4, torch.Generator().manual_seed(1), frames=4, size=(32, 40))
    assert torch.equal(a, b) and torch.equal(la, lb)
