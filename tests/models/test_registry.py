"""The model registry: registration rules, the create_model front door and its error messages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from torch import Tensor, nn

from egoaction.models import VideoModel, _registry, create_model, list_models, model_parameters, register_model


class Tiny(VideoModel):
    """A minimal model honouring the contract."""

    def __init__(self, task_spec: dict[str, int], width: int, note: str) -> None:
        super().__init__(task_spec)
        self.backbone = nn.Linear(3, width)
        self.heads = nn.ModuleDict({t: nn.Linear(width, n) for t, n in task_spec.items()})
        self.note = note

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        x = self.backbone(batch["rgb"].mean(dim=(1, 3, 4)))
        return {t: h(x) for t, h in self.heads.items()}


@pytest.fixture(autouse=True)
def scratch_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Register test models in a copy of the registry so they do not leak into other tests."""
    monkeypatch.setattr(_registry, "_MODELS", dict(_registry._MODELS))

    @register_model("tiny_net")
    def tiny_net(task_spec: dict[str, int], *, width: int = 4, note: str = "") -> Tiny:
        return Tiny(task_spec, width, note)


def test_duplicate_registration_raises() -> None:
    with pytest.raises(ValueError, match=r"tiny_net.*already registered"):

        @register_model("tiny_net")
        def again(task_spec: dict[str, int]) -> Tiny:
            return Tiny(task_spec, 4, "")


def test_factory_kwargs_must_be_keyword_only_with_defaults() -> None:
    with pytest.raises(TypeError, match="'width' must be keyword-only with a default"):

        @register_model("bad_net")
        def bad(task_spec: dict[str, int], width: int) -> Tiny:
            return Tiny(task_spec, width, "")

    assert "bad_net" not in list_models()


def test_list_models_is_sorted_and_filters() -> None:
    names = list_models()
    assert names == sorted(names) and "tiny_net" in names
    assert list_models("tsn_*") == ["tsn_resnet18", "tsn_resnet34", "tsn_resnet50"]


def test_model_parameters_lists_defaults() -> None:
    assert model_parameters("tiny_net") == {"width": 4, "note": ""}
    assert model_parameters("tsn_resnet18") == {"pretrained": None, "dropout": 0.5, "drop_path": 0.0}


def test_unknown_model_names_the_nearest() -> None:
    with pytest.raises(ValueError, match=r"unknown model 'tsn_resnet5'.*'tsn_resnet50'"):
        create_model("tsn_resnet5", {"action": 3})


def test_unknown_kwarg_names_the_key_and_nearest_parameter() -> None:
    with pytest.raises(TypeError, match=r"no parameter 'widht'; did you mean 'width'\?"):
        create_model("tiny_net", {"action": 3}, widht=8)
    with pytest.raises(TypeError, match=r"'drop_out'.*'dropout'"):
        create_model("tsn_resnet18", {"action": 3}, drop_out=0.3)


def test_create_model_records_a_json_spec_that_rebuilds_it(tmp_path: Path) -> None:
    model = create_model("tiny_net", {"verb": 2, "noun": 3}, width=6, note=str(tmp_path))
    assert model.spec == {"name": "tiny_net", "kwargs": {"width": 6, "note": str(tmp_path)}}
    spec = json.loads(json.dumps(model.spec))
    again = create_model(spec["name"], model.task_spec, **spec["kwargs"])
    again.load_state_dict(model.state_dict())
    assert again.backbone.out_features == 6


def test_path_kwargs_are_stored_as_strings(tmp_path: Path) -> None:
    model = create_model("tiny_net", {"action": 2}, note=tmp_path)
    assert model.spec["kwargs"] == {"note": str(tmp_path)}


def test_non_json_kwarg_is_rejected() -> None:
    with pytest.raises(TypeError, match=r"note=.*not JSON-serialisable"):
        create_model("tiny_net", {"action": 2}, note=object())


@pytest.mark.parametrize("spec", [{}, {"verb": 0}, {"verb": 2.5}, {"two words": 3}, {"verb": True}])
def test_bad_task_spec_is_rejected(spec: dict) -> None:
    with pytest.raises(ValueError, match="task_spec"):
        create_model("tiny_net", spec)


def test_factory_must_return_a_video_model() -> None:
    @register_model("not_a_model")
    def plain(task_spec: dict[str, int]) -> nn.Module:
        return nn.Linear(2, 2)

    with pytest.raises(TypeError, match="returned Linear, expected a VideoModel"):
        create_model("not_a_model", {"action": 2})
