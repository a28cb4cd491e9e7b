"""The CPU bf16 guard for 3D convolutions on clips shorter than the kernel (egoaction.models.conv3d_guard)."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from egoaction.models import create_model
from egoaction.models.conv3d_guard import ShortClipConv3d, guard_conv3d

needs_bf16 = pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="CPU bf16 needs oneDNN")


def weight_grad(conv: nn.Conv3d, x: torch.Tensor, bf16: bool) -> torch.Tensor:
    """d mean(conv(x)^2) / d conv.weight, under CPU bf16 autocast or in float32."""
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        out = conv(x)
    (grad,) = torch.autograd.grad(out.float().square().mean(), conv.weight)
    return grad


@needs_bf16
@pytest.mark.parametrize(("frames", "kernel", "padding"), [(2, (3, 1, 1), (1, 0, 0)), (2, (3, 3, 3), 1)])
def test_short_clip_weight_gradient_matches_float32(frames: int, kernel: tuple[int, ...], padding: object) -> None:
    """The case torch 2.14.1 gets wrong on CPU (2 frames, 3-frame kernel) gives the float32 gradient once guarded."""
    torch.manual_seed(0)
    conv = nn.Conv3d(64, 64, kernel, padding=padding, bias=False)  # type: ignore[arg-type]
    guard_conv3d(conv)
    x = torch.randn(16, 64, frames, 6, 11)
    reference = weight_grad(conv, x, bf16=False)
    for _ in range(3):  # the unguarded failure is intermittent for some shapes, so look more than once
        torch.testing.assert_close(weight_grad(conv, x, bf16=True), reference, rtol=1e-4, atol=1e-6)


@needs_bf16
def test_only_the_wrong_cases_leave_bf16() -> None:
    """Clips as long as the kernel, and one frame with "same" padding (both right in bf16), stay in bf16."""
    same, wide = nn.Conv3d(8, 8, 3, padding=1), nn.Conv3d(8, 8, 3, padding=2)
    guard_conv3d(same), guard_conv3d(wide)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert same(torch.randn(2, 8, 3, 5, 5)).dtype == torch.bfloat16
        assert same(torch.randn(2, 8, 1, 5, 5)).dtype == torch.bfloat16
        assert same(torch.randn(2, 8, 2, 5, 5)).dtype == torch.float32
        assert wide(torch.randn(2, 8, 1, 5, 5)).dtype == torch.float32


def test_guard_keeps_weights_and_skips_custom_forward() -> None:
    """The switch keeps parameters and state-dict keys, counts what it switched, and leaves own forwards alone."""

    class OwnForward(nn.Conv3d):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return super().forward(x) * 2

    net = nn.Sequential(nn.Conv3d(3, 4, 3), nn.ReLU(), OwnForward(4, 4, 1))
    before = copy.deepcopy(net.state_dict())
    assert guard_conv3d(net) == 1
    assert type(net[0]) is ShortClipConv3d and type(net[2]) is OwnForward
    assert guard_conv3d(net) == 0
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


@pytest.mark.parametrize("name", ["r3d_18", "r2plus1d_18", "s3d", "c3d"])
def test_created_3d_cnns_are_guarded(name: str) -> None:
    """create_model guards every 3D convolution of the models whose deep layers see 1-2 frames."""
    model = create_model(name, {"verb": 3})
    convs = [m for m in model.modules() if isinstance(m, nn.Conv3d)]
    assert convs and all(isinstance(m, ShortClipConv3d) for m in convs)
