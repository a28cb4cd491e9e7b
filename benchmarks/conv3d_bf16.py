"""How often CPU bf16 autocast gets a 3D convolution's weight gradient wrong, with and without egoaction's guard,
and what the guard costs in an R3D-18 training step (both measured side by side in one run).

    python benchmarks/conv3d_bf16.py                  # the shape grid, then R3D-18 at 8 x 48x84, batch 16
    python benchmarks/conv3d_bf16.py --reps 20 --steps 10

Part 1 runs ``--reps`` backward passes of one convolution (64 channels, batch 16, 6x11 maps) for each clip length
and temporal kernel, under bf16 autocast, and counts the passes whose weight gradient is off from the float32
gradient by more than 5 % of its largest value: once for a plain ``nn.Conv3d``, once guarded
(egoaction.models.conv3d_guard). Part 2 times R3D-18's AdamW training steps with the zoo's speed timing
(zoo.train_speed), its convolutions unguarded and guarded, alternating, and reports medians.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch
from torch import nn

from egoaction.models.conv3d_guard import ShortClipConv3d, guard_conv3d

sys.path.insert(0, str(Path(__file__).parent))  # the sibling modules, also when tests load this file by path
import zoo
from machine import machine

CASES = [(frames, k) for k in (3, 5) for frames in (1, 2, 3, 4, 6)]


def weight_grad(conv: nn.Conv3d, x: torch.Tensor, bf16: bool) -> torch.Tensor:
    """The weight gradient of mean(conv(x)^2) under CPU bf16 autocast or in float32."""
    conv.zero_grad()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        out = conv(x)
    out.float().square().mean().backward()
    assert conv.weight.grad is not None
    return conv.weight.grad.clone()


def wrong_passes(frames: int, k: int, guarded: bool, reps: int) -> int:
    """How many of ``reps`` bf16 passes give a weight gradient more than 5 % off the float32 one."""
    torch.manual_seed(0)
    conv = nn.Conv3d(64, 64, (k, 1, 1), padding=(k // 2, 0, 0), bias=False)
    if guarded:
        guard_conv3d(conv)
    x = torch.randn(16, 64, frames, 6, 11)
    reference = weight_grad(conv, x, bf16=False)
    scale = reference.abs().max()
    wrong = 0
    for _ in range(reps):
        err = (weight_grad(conv, x, bf16=True) - reference).abs().max()
        wrong += not bool(err <= 0.05 * scale)  # NaN counts as wrong
    return wrong


def unguard(model: nn.Module) -> nn.Module:
    """``model`` with its guarded convolutions back to plain ``nn.Conv3d`` (the unguarded baseline)."""
    for module in model.modules():
        if type(module) is ShortClipConv3d:
            module.__class__ = nn.Conv3d  # type: ignore[assignment]  # the same layer, unguarded
    return model


def main() -> None:
    """Print the gradient table and the step-time comparison."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--steps", type=int, default=6, help="timed training steps per side and round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--size", type=int, nargs=2, default=[48, 84])
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {machine()}")
    print(f"| clip frames | temporal kernel | wrong of {args.reps} passes, plain | guarded |")
    print("|---|---|---|---|")
    for frames, k in CASES:
        wrong = [wrong_passes(frames, k, g, args.reps) for g in (False, True)]
        print(f"| {frames} | {k} | {wrong[0]} | {wrong[1]} |", flush=True)
    budget = argparse.Namespace(batch=args.batch, frames=args.frames, size=args.size, speed_steps=args.steps)
    models = {"plain": unguard(zoo.budget_model("r3d_18", budget)), "guarded": zoo.budget_model("r3d_18", budget)}
    speeds: dict[str, list[float]] = {"plain": [], "guarded": []}
    for _ in range(args.rounds):
        for label, model in models.items():
            speeds[label].append(zoo.train_speed(model, budget))
    plain, guarded = (statistics.median(speeds[k]) for k in ("plain", "guarded"))
    print(
        f"r3d_18 training, batch {args.batch} x {args.frames} frames x {args.size[0]}x{args.size[1]}, bf16 "
        f"(zoo.train_speed): plain {plain:.1f} clips/s, guarded {guarded:.1f} clips/s (step x{plain / guarded:.2f})"
    )


if __name__ == "__main__":
    main()
