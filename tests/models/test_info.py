"""`egoaction models list / info`: FLOPs, parameters with a dataset's heads, the expected input."""

from __future__ import annotations

import json

import pytest
import torch
import torchvision
from torch import nn

from egoaction.cli import main as cli_main
from egoaction.cli_models import DATASETS
from egoaction.models import list_models
from egoaction.models.base import VideoModel
from egoaction.models.heads import TaskHeads
from egoaction.models.info import DATASET_TASKS, count_flops, model_info

# torchvision's published cost of one 224x224 ResNet-18 forward, in GMACs (its weights' "_ops" metadata)
RESNET18_GMACS = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.meta["_ops"]


def test_cli_dataset_choices_are_the_known_datasets() -> None:
    assert set(DATASETS) == set(DATASET_TASKS)


def test_tsn_flops_are_frames_times_resnet18_plus_heads() -> None:
    info = model_info("tsn_resnet18", {"verb": 97, "noun": 300})
    frames = info.input.frames
    heads = 2 * 512 * (97 + 300) * frames  # one multiply-add per weight per frame
    expected = frames * 2 * RESNET18_GMACS * 1e9 + heads
    assert info.flops == pytest.approx(expected, rel=0.005)
    assert info.input.size == (224, 224) and info.input.channels == (("rgb", 3),)


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("trn_resnet18", {"num_frames": 4}),
        ("tsm_resnet18", {"consensus": "trn", "num_frames": 16}),
        ("mc3_18", {"consensus": "trn", "num_frames": 8}),
    ],
)
def test_a_model_built_for_a_clip_length_is_measured_at_it(name: str, kwargs: dict[str, object]) -> None:
    # a relation consensus accepts only num_frames frames: info must build its example clip at that length
    info = model_info(name, {"action": 5}, **kwargs)
    assert info.input.frames == kwargs["num_frames"]
    assert info.flops is not None and info.flops > 0


def test_trainable_parameters_leave_out_frozen_ones() -> None:
    info = model_info("tsn_resnet18", {"action": 61}, flops=False)
    assert info.trainable == info.params == 11_176_512 + 513 * 61


def test_info_json_and_gtea_heads(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["models", "info", "tsn_resnet34", "--dataset", "gtea61", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["task_spec"] == {"action": 61}
    assert record["params"] == 21_284_672 + 513 * 61
    assert record["flops"] > 0 and record["input"]["frames"] == 8


def test_info_passes_factory_kwargs(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["models", "info", "single_frame", "--kwarg", "arch=resnet34", "--no-flops"]) == 0
    assert "21,488,333" in capsys.readouterr().out  # ResNet-34 backbone + 97 + 300 heads on 512


def test_info_rejects_an_unknown_kwarg(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(TypeError, match="has no parameter 'dropot'; did you mean 'dropout'"):
        cli_main(["models", "info", "tsn_resnet18", "--kwarg", "dropot=0.1"])


def test_list_prints_every_model_with_its_description(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["models", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == list_models()
    assert all(len(line.split(maxsplit=1)) == 2 for line in lines), "every model needs a one-line docstring"
    assert cli_main(["models", "list", "tsn_*"]) == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()] == list_models("tsn_*")
    assert cli_main(["models", "list", "nothing_*"]) == 1


def test_markdown_table_row_per_model(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["models", "list", "tsn_resnet1*", "--markdown", "--dataset", "ucf101"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| `")]
    assert rows == ["| `tsn_resnet18` | 11,228,325 | 29.0 | 8 x rgb(3) x 224x224 |"]


class _LSTMOnly(VideoModel):
    """rgb (B, T, 3, 1, 1) -> 2-layer bidirectional LSTM -> heads, to count LSTM FLOPs by hand."""

    def __init__(self) -> None:
        super().__init__({"action": 4})
        self.backbone = nn.LSTM(3, 8, num_layers=2, bidirectional=True, batch_first=True)
        self.heads = TaskHeads(16, self.task_spec)

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        seq, _ = self.backbone(batch["rgb"].flatten(2))
        return self.heads(seq[:, -1])


def test_lstm_flops_are_counted_from_the_gate_matmuls() -> None:
    model = _LSTMOnly()
    b, t = 2, 5
    per_step = 2 * (2 * 4 * 8 * (3 + 8)) + 2 * (2 * 4 * 8 * (16 + 8))  # two directions per layer
    heads = 2 * 16 * 4 * b
    assert count_flops(model, {"rgb": torch.randn(b, t, 3, 1, 1)}) == b * t * per_step + heads
