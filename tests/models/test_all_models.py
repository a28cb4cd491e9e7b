"""The model contract, checked for every registered model (new families are covered by registering them)."""

from __future__ import annotations

import json

import pytest
import torch
from torch import Tensor, nn

from egoaction.models import VideoModel, create_model, list_models, model_parameters
from egoaction.models.base import set_memory_format

TASKS = {"verb": 5, "noun": 7}
B, T, SIZE = 2, 3, 64


def make_batch(model: VideoModel) -> dict[str, Tensor]:
    """A small normalised input for every modality the model reads: (B, T, C, H, W)."""
    # a family reading another modality adds its dummy input here, e.g. "flow": (B, T, 2L, H, W)
    shapes = {"rgb": (B, T, 3, SIZE, SIZE)}
    unknown = set(model.modalities) - set(shapes)
    assert not unknown, f"add a dummy input for modalities {unknown} to make_batch"
    gen = torch.Generator().manual_seed(0)
    return {key: torch.randn(shapes[key], generator=gen) for key in model.modalities}


def task_loss(out: dict[str, Tensor]) -> Tensor:
    """Cross-entropy over every task head against fixed targets."""
    return sum(nn.functional.cross_entropy(out[t].float(), torch.arange(B) % n) for t, n in TASKS.items())


@pytest.fixture(scope="module", params=list_models())
def built(request: pytest.FixtureRequest) -> tuple[str, VideoModel]:
    """Each registered model, built once per module with its defaults."""
    torch.manual_seed(0)
    return request.param, create_model(request.param, TASKS)


def test_registry_is_populated() -> None:
    assert {"tsn_resnet18", "tsn_resnet34", "tsn_resnet50", "single_frame", "resnet50_pool"} <= set(list_models())


def test_forward_gives_one_logits_tensor_per_task_also_channels_last(built: tuple[str, VideoModel]) -> None:
    _, model = built
    model.eval()
    batch = make_batch(model)
    with torch.no_grad():
        out = model(batch)
        set_memory_format(model)
        try:
            out_cl = model(batch)
        finally:
            set_memory_format(model, channels_last=False)
    assert set(TASKS) <= set(out) and set(out) == set(out_cl)
    for task, n in TASKS.items():
        assert out[task].shape == (B, n) and out[task].dtype == torch.float32
        assert torch.isfinite(out[task]).all()
        torch.testing.assert_close(out_cl[task], out[task], rtol=1e-4, atol=1e-4)
    for name, aux in out.items():
        assert aux.shape[0] == B, f"auxiliary output {name} must be batch-first"


def test_backward_reaches_every_trainable_parameter(built: tuple[str, VideoModel]) -> None:
    _, model = built
    model.train()
    model.zero_grad(set_to_none=True)
    task_loss(model(make_batch(model))).backward()
    unreached = [
        n for n, p in model.named_parameters() if p.requires_grad and (p.grad is None or p.grad.abs().sum() == 0)
    ]
    assert not unreached


def test_bf16_autocast_on_cpu(built: tuple[str, VideoModel]) -> None:
    _, model = built
    model.train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(make_batch(model))
        loss = task_loss(out)
    loss.backward()
    assert all(out[t].shape == (B, n) and torch.isfinite(out[t]).all() for t, n in TASKS.items())
    assert torch.isfinite(loss)


def test_spec_rebuilds_the_same_state_dict_layout(built: tuple[str, VideoModel]) -> None:
    name, model = built
    spec = json.loads(json.dumps(model.spec))  # what a checkpoint stores
    assert spec == {"name": name, "kwargs": {}}
    with torch.device("meta"):  # layout only: skip allocating and initialising the weights
        rebuilt = create_model(spec["name"], model.task_spec, **spec["kwargs"])
    old, new = model.state_dict(), rebuilt.state_dict()
    assert list(old) == list(new)
    assert all(old[k].shape == new[k].shape and old[k].dtype == new[k].dtype for k in old)


def test_backbone_parameters_live_under_backbone(built: tuple[str, VideoModel]) -> None:
    _, model = built
    stages = model.backbone_stages()
    assert stages, "backbone_stages() must list at least one stage"
    backbone_ids = {id(p) for p in model.backbone.parameters()}
    stage_params = [id(p) for s in stages for p in s.parameters()]
    assert set(stage_params) <= backbone_ids
    assert len(stage_params) == len(set(stage_params)), "stages must not share parameters"
    names = [n for n, p in model.named_parameters() if id(p) in backbone_ids]
    assert all(n.startswith("backbone.") for n in names)


def test_factory_defaults_are_json_serialisable(built: tuple[str, VideoModel]) -> None:
    name, _ = built
    json.dumps(model_parameters(name))
