"""The model contract, checked for every registered model (new families are covered by registering them)."""

from __future__ import annotations

import copy
import json
import re

import pytest
import torch
from torch import Tensor, nn

from egoaction.cli import main as cli_main
from egoaction.models import VideoModel, create_model, list_models, model_parameters
from egoaction.models.base import set_memory_format
from egoaction.models.info import DATASET_TASKS

TASKS = {"verb": 5, "noun": 7}
B, SIZE = 2, 64
FRAMES = (4, 8)


def build_kwargs(name: str, frames: int) -> dict[str, object]:
    """Factory kwargs for a clip of ``frames`` x SIZE x SIZE: models built for a fixed input get its shape."""
    params = model_parameters(name)
    kwargs: dict[str, object] = {}
    if "num_frames" in params:
        kwargs["num_frames"] = frames
    if "size" in params:
        kwargs["size"] = SIZE
    return kwargs


def make_batch(model: VideoModel, frames: int) -> dict[str, Tensor]:
    """A small normalised input for every modality the model reads: (B, T, C, SIZE, SIZE)."""
    channels = dict(model.input_spec.channels)
    missing = set(model.modalities) - set(channels)
    assert not missing, f"{type(model).__name__}.input_spec.channels lacks {missing}"
    gen = torch.Generator().manual_seed(frames)
    return {m: torch.randn((B, frames, channels[m], SIZE, SIZE), generator=gen) for m in model.modalities}


def make_targets(model: VideoModel, frames: int) -> dict[str, Tensor]:
    """Random uint8 training targets (B, T, 1, SIZE/4, SIZE/4) for every target modality (e.g. motion maps)."""
    gen = torch.Generator().manual_seed(frames + 1)
    size = (B, frames, 1, SIZE // 4, SIZE // 4)
    return {m: torch.randint(0, 256, size, generator=gen, dtype=torch.uint8) for m in model.target_modalities}


def full_loss(model: VideoModel, out: dict[str, Tensor], frames: int) -> Tensor:
    """Task cross-entropies plus the model's auxiliary loss terms, as the engine trains them."""
    aux = model.auxiliary_losses(out, make_targets(model, frames))
    return task_loss(out, TASKS) + sum((v.float() for v in aux.values()), torch.zeros(()))


def task_loss(out: dict[str, Tensor], tasks: dict[str, int]) -> Tensor:
    """Cross-entropy over every task head against fixed targets."""
    return torch.stack(
        [nn.functional.cross_entropy(out[t].float(), torch.arange(B) % n) for t, n in tasks.items()]
    ).sum()


@pytest.fixture(
    scope="module", params=[(name, t) for name in list_models() for t in FRAMES], ids=lambda p: f"{p[0]}-T{p[1]}"
)
def built(request: pytest.FixtureRequest) -> tuple[str, int, VideoModel]:
    """Each registered model at T = 4 and T = 8, built once per module with its defaults."""
    name, frames = request.param
    torch.manual_seed(0)
    return name, frames, create_model(name, TASKS, **build_kwargs(name, frames))


def test_registry_is_populated() -> None:
    assert {"tsn_resnet18", "tsn_resnet34", "tsn_resnet50", "single_frame", "resnet50_pool"} <= set(list_models())


def test_forward_gives_one_logits_tensor_per_task_also_channels_last(built: tuple[str, int, VideoModel]) -> None:
    _, frames, model = built
    model.eval()
    batch = make_batch(model, frames)
    with torch.no_grad():
        out = model(batch)
        again = model(batch)
        set_memory_format(model)
        try:
            out_cl = model(batch)
        finally:
            set_memory_format(model, channels_last=False)
    assert set(TASKS) <= set(out) and set(out) == set(out_cl)
    for task, n in TASKS.items():
        assert out[task].shape == (B, n) and out[task].dtype == torch.float32
        assert torch.isfinite(out[task]).all()
        assert torch.equal(again[task], out[task]), "eval mode must be deterministic"
        torch.testing.assert_close(out_cl[task], out[task], rtol=1e-3, atol=1e-3)
    for name, aux in out.items():
        assert aux.shape[0] == B, f"auxiliary output {name} must be batch-first"


def test_backward_reaches_every_trainable_parameter(built: tuple[str, int, VideoModel]) -> None:
    _, frames, model = built
    model.train()
    model.zero_grad(set_to_none=True)
    full_loss(model, model(make_batch(model, frames)), frames).backward()
    unreached = [
        n for n, p in model.named_parameters() if p.requires_grad and (p.grad is None or p.grad.abs().sum() == 0)
    ]
    assert not unreached


def test_bf16_autocast_on_cpu(built: tuple[str, int, VideoModel]) -> None:
    _, frames, model = built
    model.train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(make_batch(model, frames))
        loss = task_loss(out, TASKS)
    loss.backward()
    assert all(out[t].shape == (B, n) and torch.isfinite(out[t]).all() for t, n in TASKS.items())
    assert torch.isfinite(loss)


def test_reset_classifier_gives_one_fresh_head_and_keeps_the_backbone(built: tuple[str, int, VideoModel]) -> None:
    name, frames, model = built
    if frames != FRAMES[0]:
        pytest.skip("once per model")
    one = copy.deepcopy(model)
    one.reset_classifier({"action": 3})
    assert one.task_spec == {"action": 3}
    one.eval()
    with torch.no_grad():
        out = one(make_batch(one, frames))
    assert out["action"].shape == (B, 3) and not set(TASKS) & set(out)
    backbone, old = one.backbone.state_dict(), model.backbone.state_dict()
    assert all(torch.equal(backbone[k], old[k]) for k in old)
    # the same layout as a model built with one head from the start
    with torch.device("meta"):
        fresh = create_model(name, {"action": 3}, **build_kwargs(name, frames))
    assert {k: v.shape for k, v in one.state_dict().items()} == {k: v.shape for k, v in fresh.state_dict().items()}


def test_spec_rebuilds_the_same_state_dict_layout(built: tuple[str, int, VideoModel]) -> None:
    name, frames, model = built
    spec = json.loads(json.dumps(model.spec))  # what a checkpoint stores
    assert spec == {"name": name, "kwargs": build_kwargs(name, frames)}
    with torch.device("meta"):  # layout only: skip allocating and initialising the weights
        rebuilt = create_model(spec["name"], model.task_spec, **spec["kwargs"])
    old, new = model.state_dict(), rebuilt.state_dict()
    assert list(old) == list(new)
    assert all(old[k].shape == new[k].shape and old[k].dtype == new[k].dtype for k in old)


def test_backbone_parameters_live_under_backbone(built: tuple[str, int, VideoModel]) -> None:
    _, _, model = built
    stages = model.backbone_stages()
    assert stages, "backbone_stages() must list at least one stage"
    backbone_ids = {id(p) for p in model.backbone.parameters()}
    stage_params = [id(p) for s in stages for p in s.parameters()]
    assert set(stage_params) <= backbone_ids
    assert len(stage_params) == len(set(stage_params)), "stages must not share parameters"
    names = [n for n, p in model.named_parameters() if id(p) in backbone_ids]
    assert all(n.startswith("backbone.") for n in names)


@pytest.mark.parametrize("name", list_models())
def test_models_info_prints_the_parameter_count_with_epic_heads(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    json.dumps(model_parameters(name))  # factory defaults must fit in a checkpoint's JSON spec
    assert cli_main(["models", "info", name, "--no-flops"]) == 0
    printed = capsys.readouterr().out
    params = int(re.search(r"^parameters\s+([\d,]+)", printed, re.M).group(1).replace(",", ""))  # type: ignore[union-attr]
    with torch.device("meta"):
        model = create_model(name, DATASET_TASKS["epic100"])
    assert params == sum(p.numel() for p in model.parameters())
    assert re.search(r"^heads\s+verb 97, noun 300$", printed, re.M)
    spec = model.input_spec
    assert f"{spec.frames} x " in printed and f"{spec.size[0]}x{spec.size[1]}" in printed
