"""What ``egoaction models info`` prints: parameters with a dataset's heads, FLOPs per clip, expected input."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from egoaction.models._registry import create_model
from egoaction.models.base import InputSpec, VideoModel
from egoaction.models.freeze import count_parameters

__all__ = ["DATASET_TASKS", "ModelInfo", "count_flops", "format_info", "model_info"]

# the task heads of each supported dataset's full label set (EPIC-100: 97 verbs, 300 nouns)
DATASET_TASKS: dict[str, dict[str, int]] = {
    "epic100": {"verb": 97, "noun": 300},
    "gtea61": {"action": 61},
    "ucf101": {"action": 101},
}


@dataclass(frozen=True)
class ModelInfo:
    """Sizes of one model built with a given task spec."""

    name: str
    task_spec: dict[str, int]
    params: int
    trainable: int
    flops: int | None  # forward FLOPs (2 per multiply-add) of one clip of ``input``
    input: InputSpec


def _lstm_flops(lstm: nn.LSTM, inputs: tuple[torch.Tensor, ...]) -> int:
    """Multiply-add FLOPs of an LSTM's gate matmuls, 2 * 4h(i + h) per step, layer and direction."""
    x = inputs[0]
    steps = x.shape[0] * x.shape[1]  # batch x time, whichever comes first
    dirs = 2 if lstm.bidirectional else 1
    total = 0
    for layer in range(lstm.num_layers):
        width_in = lstm.input_size if layer == 0 else lstm.hidden_size * dirs
        total += dirs * 2 * 4 * lstm.hidden_size * (width_in + lstm.hidden_size)
    return steps * total


def count_flops(model: VideoModel, batch: dict[str, torch.Tensor]) -> int:
    """Forward FLOPs of ``model`` on ``batch`` (matmuls, convolutions, attention, LSTMs; 1 multiply-add = 2 FLOPs).

    FlopCounterMode sees the matmuls inside PyTorch ops but not those of the fused CPU LSTM kernel, so LSTMs are
    counted from their shapes by a forward hook.
    """
    was_training = model.training
    model.eval()
    lstm_flops: list[int] = []
    hooks = [
        m.register_forward_hook(lambda mod, inp, out: lstm_flops.append(_lstm_flops(mod, inp)))
        for m in model.modules()
        if isinstance(m, nn.LSTM)
    ]
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(batch)
    finally:
        model.train(was_training)
        for hook in hooks:
            hook.remove()
    return int(counter.get_total_flops()) + sum(lstm_flops)


def model_info(name: str, task_spec: dict[str, int], *, flops: bool = True, **kwargs: Any) -> ModelInfo:
    """Build ``name`` with ``task_spec`` (and factory ``kwargs``) and measure it on one clip of its default input."""
    torch.manual_seed(0)
    model = create_model(name, task_spec, **kwargs)
    n_flops = count_flops(model, model.example_batch(1)) if flops else None
    return ModelInfo(
        name=name,
        task_spec=dict(task_spec),
        params=count_parameters(model),
        trainable=count_parameters(model, trainable_only=True),
        flops=n_flops,
        input=model.input_spec,
    )


def format_info(info: ModelInfo) -> str:
    """Human-readable lines for ``egoaction models info``."""
    heads = ", ".join(f"{t} {n}" for t, n in info.task_spec.items())
    lines = [
        f"model       {info.name}",
        f"heads       {heads}",
        f"parameters  {info.params:,} ({info.params / 1e6:.2f} M)",
        f"trainable   {info.trainable:,} ({info.trainable / 1e6:.2f} M)",
        f"input       {info.input.describe()} (frames x modality(channels) x HxW)",
    ]
    if info.flops is not None:
        lines.append(f"FLOPs/clip  {info.flops / 1e9:.2f} G (forward, 2 FLOPs per multiply-add)")
    return "\n".join(lines)
