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


class _Brightening(torch.nn.Module):
    """Tells a clip that brightens (class 0) from one that darkens (class 1) by its last frame minus its first."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(1, 2)
        torch.nn.init.zeros_(self.fc.weight)  # no preference: the test sees what training adds
        torch.nn.init.zeros_(self.fc.bias)

    def forward(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        rgb = inputs["rgb"]
        return {"verb": self.fc((rgb[:, -1] - rgb[:, 0]).mean(dim=(1, 2, 3))[:, None])}


def _ramps(n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    labels = torch.randint(0, 2, (n,), generator=gen)
    ramp = torch.linspace(0.2, 0.8, 4).expand(n, 4)
    ramp = torch.where(labels[:, None] == 0, ramp, ramp.flip(1))
    return ramp[:, :, None, None, None].expand(n, 4, 3, 2, 2).clone(), labels


def test_train_motion_learns_the_clips_it_is_given(standin: ModuleType) -> None:
    model = _Brightening()
    assert standin.train_motion(model, 0, draw=_ramps) < 90  # untrained: every clip gets class 0
    assert standin.train_motion(model, 100, draw=_ramps) > 95


def test_train_motion_stops_on_a_non_finite_loss(standin: ModuleType) -> None:
    model = _Brightening()
    with torch.no_grad():
        model.fc.weight.fill_(float("nan"))
    with pytest.raises(FloatingPointError, match="step 0"):
        standin.train_motion(model, 5, draw=_ramps)
