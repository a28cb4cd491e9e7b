"""The model zoo: every model is built by name with ``create_model(name, task_spec, **kwargs)``.

Adding a family: write ``egoaction/models/<family>.py`` with a :class:`VideoModel` subclass (backbone under
``self.backbone``, ``forward(batch) -> {task: (B, C) logits, aux: ...}``, ``backbone_stages()`` if the backbone
is not a torchvision ResNet) and small factories ``fn(task_spec, *, kw: T = default) -> VideoModel`` decorated
with ``@register_model("<family>_<variant>")``; then import the module below. tests/models/test_all_models.py
checks every registered model against the contract automatically.
"""

from egoaction.models import (
    c3d,
    cnn_rnn,
    cnn_transformer,
    convlstm,
    egornn,
    flow,
    fusion,
    gsf,
    lsta,
    trn,
    tsm,
    tsn,
    video3d,
)
from egoaction.models._registry import create_model, list_models, model_parameters, register_model
from egoaction.models.backbones import resnet_backbone
from egoaction.models.base import VideoModel
from egoaction.models.freeze import BATCHNORM_MODES, count_parameters, freeze_stages, set_batchnorm_mode

__all__ = [
    "BATCHNORM_MODES",
    "VideoModel",
    "c3d",
    "cnn_rnn",
    "cnn_transformer",
    "convlstm",
    "count_parameters",
    "create_model",
    "egornn",
    "flow",
    "freeze_stages",
    "fusion",
    "gsf",
    "list_models",
    "lsta",
    "model_parameters",
    "register_model",
    "resnet_backbone",
    "set_batchnorm_mode",
    "trn",
    "tsm",
    "tsn",
    "video3d",
]
