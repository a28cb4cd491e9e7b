"""The reversal probe flips time and scores against the partner verb; an order-blind model never changes its mind."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from egoaction.config import load_config
from egoaction.engine.fit import train

VERBS = ["take", "put", "open", "close", "cut"]


@pytest.fixture(scope="module")
def probe(benchmark_script: Callable[[str], ModuleType]) -> ModuleType:
    return benchmark_script("reversal_probe")


class FirstFrame(nn.Module):
    """Logits = the first frame's mean pixel per channel, so the output says which frame came first."""

    modalities = ("rgb",)

    def forward(self, inputs: dict[str, Tensor]) -> dict[str, Tensor]:
        return {"verb": inputs["rgb"][:, 0].mean((2, 3))}


def test_reversed_model_sees_the_last_frame_first(probe: ModuleType) -> None:
    clip = torch.stack([torch.full((3, 2, 2), float(t)) for t in range(4)])[None]  # (1, T=4, 3, 2, 2)
    assert probe.Reversed(FirstFrame())({"rgb": clip})["verb"].tolist() == [[3.0, 3.0, 3.0]]


def test_scores_count_only_pair_verbs_and_judge_reversed_clips_by_the_partner(probe: ModuleType) -> None:
    labels = np.array([0, 2, 4, 1])  # take, open, cut (no partner: ignored), put
    forward = np.eye(5)[[0, 2, 4, 0]]  # take right, open right, cut, put read as take
    backward = np.eye(5)[[1, 2, 0, 0]]  # reversed: put (right), open (wrong: close), -, take (right)
    scores = probe.order_scores(forward, backward, labels, VERBS)
    assert scores == {
        "segments": 3,
        "forward_top1": pytest.approx(200 / 3),
        "reversed_top1": pytest.approx(200 / 3),
        "changed": pytest.approx(100 / 3),
    }


@pytest.mark.slow
def test_temporal_pooling_never_changes_its_verb_when_the_clip_is_reversed(
    probe: ModuleType, synth_root: Callable[[str], Path], tmp_path: Path
) -> None:
    sets = [f"data.root={synth_root('epic100')}", "data.num_frames=4", "data.size=32", "data.resize=36"]
    sets += ["data.num_workers=0", "trainer.max_epochs=1", "trainer.precision=32", "trainer.progress_bar=false"]
    sets += [f"output_dir={tmp_path}", "name=tsn", "model.name=tsn_resnet18"]
    scores = probe.probe(train(load_config(None, sets)), workers=0)
    assert scores["model"] == "tsn_resnet18" and scores["segments"] > 0
    assert scores["changed"] == 0 and scores["reversed_top1"] <= 100 - scores["forward_top1"] + 1e-9
