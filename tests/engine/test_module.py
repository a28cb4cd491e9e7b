"""The engine's LightningModule (egoaction.engine.module)."""

from __future__ import annotations

import copy

import torch
from torch import nn

from egoaction.engine.module import ActionModule
from egoaction.models.conv3d_guard import ShortClipConv3d


def test_a_model_built_by_hand_is_guarded_against_the_cpu_bf16_conv3d_bug() -> None:
    """A model that did not come through create_model gets the short-clip Conv3d guard, its weights untouched."""
    net = nn.Sequential(nn.Conv3d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv3d(4, 4, (3, 1, 1), padding=(1, 0, 0)))
    before = copy.deepcopy(net.state_dict())
    module = ActionModule(net, info={"task_spec": {"verb": 3}})
    assert all(type(m) is ShortClipConv3d for m in module.model.modules() if isinstance(m, nn.Conv3d))
    assert all(torch.equal(before[k], v) for k, v in module.model.state_dict().items())
