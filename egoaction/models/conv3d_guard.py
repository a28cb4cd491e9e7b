"""A guard against wrong bf16 weight gradients of CPU 3D convolutions on clips shorter than the kernel.

On CPU, torch 2.14.1's oneDNN path returns garbage weight gradients (values up to ~1e33, some runs inf or NaN) for
an ``nn.Conv3d`` under bf16 autocast whose input has fewer frames than the kernel's temporal size, e.g. a (3, 1, 1)
or (3, 3, 3) kernel with padding 1 on 2 frames (on 1 frame it is right unless padded by 2). The forward output and
the input gradient are right, so nothing fails: AdamW swallows the huge gradient (its second moment overflows and
freezes the weight) or a NaN spreads through the model a few steps later. 3D CNNs reach such layers whenever they
halve time: R3D-18, R(2+1)D and S3D at 8 frames (layers 3 and 4), C3D (conv5). The same layer in float32 is right.

:func:`guard_conv3d` switches every ``nn.Conv3d`` of a model to :class:`ShortClipConv3d`, which runs exactly those
calls in float32 and every other call as before (R3D-18's bf16 training step: 1.21x, measured by the script below).
``create_model`` applies it to every model, and the engine's training module to any model it is given (one built by
hand included). See benchmarks/conv3d_bf16.py for the measurement.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["ShortClipConv3d", "guard_conv3d", "needs_float32"]


def needs_float32(x: Tensor, kernel_frames: int, padding_frames: int) -> bool:
    """Whether a 3D convolution with ``kernel_frames`` frames and ``padding_frames`` of temporal padding on
    x (B, C, T, H, W) meets the CPU bf16 bug: a clip shorter than the kernel, except a single frame with at most
    "same" padding, which measured right (benchmarks/conv3d_bf16.py) and is where R3D's layer 4 costs most."""
    frames = x.shape[2]
    short = frames < kernel_frames and (frames > 1 or padding_frames > kernel_frames // 2)
    return short and x.device.type == "cpu" and torch.is_autocast_enabled("cpu")


class ShortClipConv3d(nn.Conv3d):
    """``nn.Conv3d`` that computes in float32 under CPU bf16 autocast where :func:`needs_float32` says so."""

    def forward(self, x: Tensor) -> Tensor:
        """(B, C_in, T, H, W) -> (B, C_out, T', H', W'); float32 output where :func:`needs_float32`."""
        padding = 0 if isinstance(self.padding, str) else self.padding[0]  # "same"/"valid" never pad past k // 2
        if needs_float32(x, self.kernel_size[0], padding):
            with torch.autocast("cpu", enabled=False):
                return super().forward(x.float())
        return super().forward(x)


def guard_conv3d(model: nn.Module) -> int:
    """Switch every ``nn.Conv3d`` in ``model`` to :class:`ShortClipConv3d` in place; how many were switched.

    Only the class changes (same parameters, same state-dict keys), so weights and checkpoints are unaffected.
    Subclasses that keep ``nn.Conv3d.forward`` (torchvision's ``Conv3DSimple``, ``Conv3DNoTemporal``) switch too:
    they add nothing but construction helpers. One that overrides ``forward`` is left alone.
    """
    switched = 0
    for module in model.modules():
        if isinstance(module, nn.Conv3d) and type(module) is not ShortClipConv3d and _plain_forward(module):
            module.__class__ = ShortClipConv3d
            switched += 1
    return switched


def _plain_forward(module: nn.Conv3d) -> bool:
    """Whether ``module`` computes with ``nn.Conv3d.forward`` itself."""
    return type(module).forward is nn.Conv3d.forward
