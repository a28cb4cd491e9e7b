"""Freezing backbone stages and BatchNorm layers, and counting parameters.

One rule ties it together: a BatchNorm layer whose affine parameters do not train does not update its running
statistics either. ``set_batchnorm_mode`` re-applies that rule, so the engine calls it after every
``model.train()`` (Lightning switches the whole model to train mode each epoch).
"""

from __future__ import annotations

from torch import nn

from egoaction.models.base import VideoModel

__all__ = ["BATCHNORM_MODES", "count_parameters", "freeze_stages", "set_batchnorm_mode"]

BATCHNORM_MODES = ("train", "frozen", "partial")


def _batchnorms(module: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    """Every BatchNorm layer (1d/2d/3d/Sync) of ``module``, in registration order."""
    return [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def _hold(bn: nn.modules.batchnorm._BatchNorm) -> None:
    """Freeze one BatchNorm: no gradient for its affine parameters, running statistics fixed (eval)."""
    bn.requires_grad_(False)
    bn.eval()


def freeze_stages(model: VideoModel, n: int) -> None:
    """Stop training the first ``n`` of ``model.backbone_stages()``: no gradients, BatchNorm in eval."""
    stages = model.backbone_stages()
    if not 0 <= n <= len(stages):
        raise ValueError(f"{type(model).__name__} has {len(stages)} backbone stages; cannot freeze {n}")
    for stage in stages[:n]:
        stage.requires_grad_(False)
        for bn in _batchnorms(stage):
            bn.eval()


def set_batchnorm_mode(model: nn.Module, mode: str) -> None:
    """Apply a BatchNorm mode after ``model.train()``: "train", "frozen" (all BN) or "partial" (all but the first).

    "partial" is TSN's partial BN: only the first BatchNorm keeps adapting to the new data. In every mode a
    BatchNorm whose parameters are frozen (e.g. in a stage frozen by ``freeze_stages``) stays in eval.
    Idempotent; "frozen"/"partial" turn gradients off, which "train" does not turn back on.
    """
    if mode not in BATCHNORM_MODES:
        raise ValueError(f"BatchNorm mode must be one of {BATCHNORM_MODES}, got {mode!r}")
    for i, bn in enumerate(_batchnorms(model)):
        params = list(bn.parameters())
        if mode == "frozen" or (mode == "partial" and i > 0) or (params and not any(p.requires_grad for p in params)):
            _hold(bn)


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameter elements of ``model`` (shared tensors once); only trainable ones if asked."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
