"""Device-side inputs: a flow-only batch is not mistaken for a multi-view one."""

from __future__ import annotations

import torch

from egoaction.engine.inputs import has_views, model_inputs


def test_flow_only_batches_with_and_without_views() -> None:
    one = {"flow": torch.randint(0, 256, (2, 3, 10, 8, 8), dtype=torch.uint8)}  # (B, T', 2L, H, W)
    assert not has_views(one, ("flow",))
    inputs, views = model_inputs(one, ("flow",))
    assert views == 1 and inputs["flow"].shape == (2, 3, 10, 8, 8) and inputs["flow"].dtype == torch.float32
    five = {"flow": torch.randint(0, 256, (2, 5, 1, 10, 8, 8), dtype=torch.uint8)}  # 5 test views of 1 stack
    inputs, views = model_inputs(five, ("flow",))
    assert views == 5 and inputs["flow"].shape == (10, 1, 10, 8, 8)


def test_rgb_views_fold_into_the_batch() -> None:
    batch = {"rgb": torch.zeros(2, 3, 4, 3, 8, 8, dtype=torch.uint8)}  # (B, V, T, 3, H, W)
    inputs, views = model_inputs(batch, ("rgb",))
    assert views == 3 and inputs["rgb"].shape == (6, 4, 3, 8, 8)
