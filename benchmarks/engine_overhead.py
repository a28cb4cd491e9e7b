"""egoaction's training step vs a plain PyTorch loop: same model, same batches, same precision, one run.

    python benchmarks/engine_overhead.py                          # TSN-R18, 8 x 4 frames x 112x112, CPU
    python benchmarks/engine_overhead.py --model tsn_resnet50 --batch 4 --frames 8 --size 224 --steps 10

Both sides train a copy of one freshly initialised model on the same pre-built uint8 batches, served by the
same DataLoader (in memory, so decoding is not what is measured). The plain loop does by hand what egoaction's
ActionModule does: normalise on the device, channels_last, autocast (bf16 where the CPU or GPU has it),
per-task cross-entropy summed, backward, AdamW step, per-step cosine schedule. egoaction runs as ``train`` runs
it: ``ActionModule`` inside the Trainer from ``egoaction.engine.fit.build_trainer`` (its checkpoint, metrics-file,
lr-monitor and TensorBoard callbacks included).

Throughput is timed inside each epoch (first batch start to last batch end), so the epoch-boundary checkpoint
write, which a real epoch of thousands of steps amortises, is reported on its own line. The sides alternate
for ``--rounds`` rounds and the first epoch of each run is a warm-up; the ratio uses the medians.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import tempfile
import time
import typing
from pathlib import Path
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from egoaction.config import ExperimentConfig, from_dict
from egoaction.engine.fit import build_trainer, precision_for
from egoaction.engine.inputs import model_inputs, to_channels_last
from egoaction.engine.module import ActionModule
from egoaction.engine.optim import build_optimizer, build_schedule, param_groups
from egoaction.models import create_model
from egoaction.models.base import set_memory_format

TASKS = {"verb": 12, "noun": 28}


def make_batches(count: int, batch: int, frames: int, size: int, seed: int = 0) -> list[dict[str, Any]]:
    """``count`` collated batches of random uint8 clips (B, T, 3, S, S) with verb/noun labels."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for i in range(count):
        out.append(
            {
                "rgb": torch.randint(0, 256, (batch, frames, 3, size, size), dtype=torch.uint8, generator=gen),
                "labels": {t: torch.randint(0, n, (batch,), generator=gen) for t, n in TASKS.items()},
                "size": batch,
                "index": torch.arange(i * batch, (i + 1) * batch),
            }
        )
    return out


def loader(batches: list[dict[str, Any]]) -> DataLoader:
    """The pre-built batches as a DataLoader (no re-collation), identical for both sides."""
    return DataLoader(batches, batch_size=None, shuffle=False, num_workers=0)  # type: ignore[arg-type]


def bench_config(epochs: int, device: str, precision: str = "auto") -> ExperimentConfig:
    """The engine settings both sides share (AdamW, cosine per step, auto precision)."""
    return from_dict(
        {
            "optim": {"name": "adamw", "lr": 1e-3, "weight_decay": 0.05},
            "schedule": {"name": "cosine", "warmup_epochs": 0},
            "trainer": {
                "max_epochs": epochs,
                "accelerator": device,
                "devices": 1,
                "progress_bar": False,
                "precision": precision,
                "log_every_n_steps": 10,
                "limit_val_batches": 0,
                "monitor": "train/loss",
                "monitor_mode": "min",
            },
        },
        source="benchmark",
    )


def plain_loop(model: torch.nn.Module, cfg: ExperimentConfig, data: DataLoader, device: torch.device) -> list[float]:
    """Train with a hand-written loop; returns the seconds of each epoch's steps."""
    set_memory_format(model.to(device)).train()
    steps = len(data)
    optimizer = build_optimizer(param_groups(model, cfg.optim), cfg.optim)
    lightning_cfg = build_schedule(optimizer, cfg.schedule, max_epochs=cfg.trainer.max_epochs, steps_per_epoch=steps)
    scheduler = typing.cast(torch.optim.lr_scheduler.LRScheduler, lightning_cfg["scheduler"])
    dtype = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}.get(precision_for(cfg))
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    times = []
    for _ in range(cfg.trainer.max_epochs):
        start = time.perf_counter()
        for batch in data:
            inputs, _ = model_inputs({"rgb": batch["rgb"].to(device)}, ("rgb",))
            inputs = {k: to_channels_last(v) for k, v in inputs.items()}
            with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                logits = model(inputs)
            loss = sum(F.cross_entropy(logits[t].float(), batch["labels"][t].to(device)) for t in TASKS)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()  # type: ignore[arg-type]
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return times


class EpochTimer(L.Callback):
    """Seconds from each epoch's first batch start to its last batch end, and of each epoch-end phase."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.boundaries: list[float] = []
        self._start = 0.0
        self._last_end = 0.0

    def on_train_batch_start(self, trainer: L.Trainer, module: L.LightningModule, batch: Any, idx: int) -> None:
        if idx == 0:
            if self._last_end:
                self.boundaries.append(time.perf_counter() - self._last_end)
            self._start = time.perf_counter()

    def on_train_batch_end(self, trainer: L.Trainer, module: L.LightningModule, out: Any, batch: Any, idx: int) -> None:
        if idx == trainer.num_training_batches - 1:
            if module.device.type == "cuda":
                torch.cuda.synchronize()
            self._last_end = time.perf_counter()
            self.times.append(self._last_end - self._start)


def egoaction_loop(
    model: torch.nn.Module, cfg: ExperimentConfig, data: DataLoader, run_dir: Path
) -> tuple[list[float], list[float]]:
    """Train with egoaction's ActionModule and Trainer; returns per-epoch step seconds and boundary seconds."""
    info = {"task_spec": TASKS, "classes": {}, "model": {"name": "bench", "kwargs": {}}}
    module = ActionModule(
        model, info=info, loss=cfg.loss, optim=cfg.optim, schedule=cfg.schedule, channels_last=True, seed=0
    )
    timer = EpochTimer()
    trainer = build_trainer(cfg, run_dir, [timer])
    trainer.fit(module, train_dataloaders=data)
    return timer.times, timer.boundaries


def main() -> None:
    """Alternate the two loops for a few rounds and print step throughput and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="tsn_resnet18")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--frames", type=int, default=4)
    parser.add_argument("--size", type=int, default=112)
    parser.add_argument("--steps", type=int, default=12, help="steps per epoch")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per run; the first is a warm-up")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--precision", default="auto", choices=["auto", "32", "bf16", "16"])
    args = parser.parse_args()

    device = torch.device(args.device)
    cfg = bench_config(args.epochs, "gpu" if device.type == "cuda" else "cpu", args.precision)
    torch.manual_seed(0)
    base = create_model(args.model, task_spec=TASKS, dropout=0.0)  # no dropout: both sides draw no random masks
    data = loader(make_batches(args.steps, args.batch, args.frames, args.size))
    clips = args.steps * args.batch
    plain: list[float] = []
    ego: list[float] = []
    bounds: list[float] = []
    print(
        f"{args.model}, batch {args.batch} x {args.frames} frames x {args.size}^2, {args.steps} steps/epoch, "
        f"{args.epochs} epochs/run (first = warm-up), {args.rounds} rounds, {device}, precision {precision_for(cfg)}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            p = plain_loop(copy.deepcopy(base), cfg, data, device)[1:]
            e, b = egoaction_loop(copy.deepcopy(base), cfg, data, Path(tmp) / f"run{r}")
            plain += p
            ego += e[1:]
            bounds += b
            rates = [f"{clips / t:.2f}" for t in p], [f"{clips / t:.2f}" for t in e[1:]]
            print(f"round {r}: plain {rates[0]} clips/s, egoaction {rates[1]} clips/s")
    p_rate, e_rate = clips / statistics.median(plain), clips / statistics.median(ego)
    print(f"plain loop        {p_rate:8.2f} clips/s")
    print(f"egoaction         {e_rate:8.2f} clips/s")
    print(f"ratio             {100 * e_rate / p_rate:8.1f} % of the plain loop")
    if bounds:
        print(f"epoch boundary    {statistics.median(bounds):8.2f} s median (checkpoint writes, metrics file)")


if __name__ == "__main__":
    main()
