"""The contract every egoaction model follows: :class:`VideoModel`.

A model reads a batch dict (``batch["rgb"]`` float32, normalised, (B, T, 3, H, W); other modalities as the
data contract in DESIGN.md §3 describes) and returns a dict with one logits tensor (B, num_classes) per task
of its task spec, plus optional named auxiliary outputs. Backbone parameters live under ``backbone.`` so the
engine can give them their own learning rate; ``backbone_stages()`` lists the backbone's stages from the
stem to the last, for freezing the first N of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

import torch
from torch import Tensor, nn

from egoaction.models.backbones import split_stages
from egoaction.models.heads import TaskHeads

ModuleT = TypeVar("ModuleT", bound=nn.Module)

__all__ = ["InputSpec", "VideoModel", "check_task_spec", "set_memory_format"]


def set_memory_format(module: ModuleT, channels_last: bool = True) -> ModuleT:
    """Put 4-D weights in channels_last and 5-D (3D-conv) weights in channels_last_3d, or both back to contiguous.

    ``module.to(memory_format=torch.channels_last)`` raises on the 5-D weights of 3D CNNs; this handles both.
    Returns ``module``.
    """
    formats = {4: torch.channels_last, 5: torch.channels_last_3d} if channels_last else {}
    for tensor in list(module.parameters()) + list(module.buffers()):
        if tensor.dim() in (4, 5):
            tensor.data = tensor.data.contiguous(memory_format=formats.get(tensor.dim(), torch.contiguous_format))
    return module


@dataclass(frozen=True)
class InputSpec:
    """The input a model expects by default: frames per clip, (H, W) and the channels of each modality."""

    frames: int = 8
    size: tuple[int, int] = (224, 224)
    channels: tuple[tuple[str, int], ...] = (("rgb", 3),)
    # modalities whose length does not follow the clip's, e.g. the two-stream model's single flow stack
    fixed_frames: tuple[tuple[str, int], ...] = ()

    def frames_of(self, modality: str, frames: int | None = None) -> int:
        """Time steps of ``modality`` in a clip of ``frames`` (default: the spec's) frames."""
        return dict(self.fixed_frames).get(modality, frames or self.frames)

    def describe(self) -> str:
        """E.g. ``"8 x rgb(3) x 224x224"`` or ``"25 x rgb(3) + 1 x flow(10) x 224x224"``."""
        if not self.fixed_frames:
            mods = " + ".join(f"{m}({c})" for m, c in self.channels)
            return f"{self.frames} x {mods} x {self.size[0]}x{self.size[1]}"
        mods = " + ".join(f"{self.frames_of(m)} x {m}({c})" for m, c in self.channels)
        return f"{mods} x {self.size[0]}x{self.size[1]}"


def check_task_spec(task_spec: dict[str, int]) -> dict[str, int]:
    """A copy of ``task_spec`` after checking it maps identifier task names to class counts >= 1."""
    if not isinstance(task_spec, dict) or not task_spec:
        raise ValueError(f"task_spec must be a non-empty dict task -> number of classes, got {task_spec!r}")
    for task, classes in task_spec.items():
        # task names become module and output names, so they must be plain identifiers
        if not isinstance(task, str) or not task.isidentifier():
            raise ValueError(f"task_spec key {task!r} must be an identifier such as 'verb' or 'action'")
        if isinstance(classes, bool) or not isinstance(classes, int) or classes < 1:
            raise ValueError(f"task_spec[{task!r}] must be a number of classes >= 1, got {classes!r}")
    return dict(task_spec)


class VideoModel(nn.Module):
    """Base class of every registered model: ``forward(batch) -> {task: logits (B, C), aux_name: tensor}``.

    Subclasses call ``super().__init__(task_spec, modalities=...)``, assign ``self.backbone`` and implement
    ``forward``; they override ``backbone_stages`` when the backbone is not a torchvision ResNet.
    ``spec`` is filled by :func:`egoaction.models.create_model` with the name and kwargs that rebuild the model.
    """

    backbone: nn.Module
    heads: TaskHeads
    input_spec: InputSpec = InputSpec()
    # modalities read only as training targets (e.g. ("mmaps",)): the data must load them, prediction never needs them
    target_modalities: tuple[str, ...] = ()

    def __init__(self, task_spec: dict[str, int], *, modalities: tuple[str, ...] = ("rgb",)) -> None:
        super().__init__()
        self.task_spec: dict[str, int] = check_task_spec(task_spec)
        self.modalities: tuple[str, ...] = tuple(modalities)
        self.spec: dict[str, Any] = {}

    def reset_classifier(self, task_spec: dict[str, int]) -> None:
        """Replace the task heads with freshly initialised ones for ``task_spec`` (fine-tuning on a new dataset)."""
        old = self.heads
        self.task_spec = check_task_spec(task_spec)
        self.heads = TaskHeads(old.dim, self.task_spec, dropout=old.dropout).to(next(old.parameters()).device)

    def example_batch(self, batch_size: int = 1, *, frames: int | None = None) -> dict[str, Tensor]:
        """Random inputs of the expected shape per modality, e.g. rgb (B, T, 3, H, W), on the model's device."""
        spec = self.input_spec
        device = next(self.parameters()).device
        return {
            m: torch.randn(batch_size, spec.frames_of(m, frames), c, *spec.size, device=device)
            for m, c in spec.channels
        }

    def backbone_stages(self) -> list[nn.Module]:
        """The backbone's stages in order, stem first (ResNet: [conv1+bn1, layer1, ..., layer4])."""
        return split_stages(self.backbone)

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Logits per task, (B, num_classes), plus optional auxiliary outputs."""
        raise NotImplementedError(f"{type(self).__name__} must implement forward(batch)")

    def auxiliary_losses(self, outputs: dict[str, Tensor], targets: dict[str, Tensor]) -> dict[str, Tensor]:
        """Weighted scalar loss terms the engine adds to the task loss; none by default.

        ``outputs`` is this model's forward output; ``targets`` holds the batch's :attr:`target_modalities` as
        loaded (uint8, e.g. mmaps (B, T, 1, h, w)). Only called on single-view batches."""
        return {}

    def auxiliary_metrics(self, outputs: dict[str, Tensor], targets: dict[str, Tensor]) -> dict[str, Tensor]:
        """Scalar diagnostics (e.g. a discriminator's accuracy in percent) logged as epoch means; none by default."""
        return {}

    def read_input(self, batch: dict[str, Tensor], key: str, *, ndim: int = 5) -> Tensor:
        """``batch[key]`` after checking it is present with ``ndim`` dims, e.g. rgb (B, T, 3, H, W)."""
        if key not in batch:
            raise KeyError(f"{type(self).__name__} reads batch[{key!r}]; the batch has keys {sorted(batch)}")
        x = batch[key]
        if x.ndim != ndim:
            raise ValueError(f"{type(self).__name__}: batch[{key!r}] must have {ndim} dims, got {tuple(x.shape)}")
        return x

    def extra_repr(self) -> str:
        """Task spec and modalities, shown in ``print(model)``."""
        return f"task_spec={self.task_spec}, modalities={self.modalities}"
