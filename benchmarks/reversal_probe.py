"""How much a trained model's verb depends on frame order: its validation clips played forwards and backwards.

    python benchmarks/reversal_probe.py runs/zoo/tsm_resnet18 runs/zoo/tsn_resnet18

Only the segments whose verb belongs to a time-reversal pair count. Each is scored as the engine samples it
(centre frames, one view) and with the same frames in reverse order. The synthetic renderer makes each pair
exact reversals, so a reversed "take" clip is a "put" clip: a model that reads order predicts the partner verb.
Per run it prints top-1 forwards, top-1 reversed (against the partner verb) and the share of clips whose verb
prediction changes when reversed, which is 0 for any model blind to order (TSN's average over frames).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from egoaction.config import from_dict
from egoaction.data.dataset import EpochSampler, collate
from egoaction.data.synth import reversal_partners
from egoaction.engine.checkpoint import load_model, resolve_checkpoint
from egoaction.engine.evaluate import eval_dataset, predict_logits
from egoaction.engine.fit import datamodule


class Reversed(nn.Module):
    """``model`` seeing every clip with its frames in reverse order."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.modalities = getattr(model, "modalities", ("rgb",))
        self.task_spec = getattr(model, "task_spec", {})

    def forward(self, inputs: dict[str, Tensor]) -> dict[str, Tensor]:
        """inputs: modality -> (B, T, C, H, W); the wrapped model's output for the time-flipped clips."""
        return self.model({m: x.flip(1) for m, x in inputs.items()})


def order_scores(forward: np.ndarray, backward: np.ndarray, labels: np.ndarray, names: list[str]) -> dict[str, float]:
    """Percent scores over the reversal-pair segments from verb logits (N, C) forwards and reversed, labels (N,)."""
    partner = np.array(reversal_partners(names))[labels]
    chosen = partner >= 0
    fwd, bwd = forward.argmax(1)[chosen], backward.argmax(1)[chosen]
    return {
        "segments": int(chosen.sum()),
        "forward_top1": float(100 * np.mean(fwd == labels[chosen])),
        "reversed_top1": float(100 * np.mean(bwd == partner[chosen])),
        "changed": float(100 * np.mean(fwd != bwd)),
    }


def probe(run: str | Path, batch_size: int = 16, workers: int = 1) -> dict[str, Any]:
    """The order scores of run (directory or checkpoint) ``run`` on its validation split."""
    ckpt = resolve_checkpoint(run)
    model, info = load_model(ckpt)
    model.eval()
    if tuple(getattr(model, "modalities", ("rgb",))) != ("rgb",):
        raise ValueError(f"{ckpt}: the probe reverses RGB clips; this model takes {model.modalities}")
    cfg = from_dict(info["config"], source=str(ckpt))
    dm = datamodule(cfg, test_clips=1, test_crops=1)
    ds, _ = eval_dataset(dm, dm.splits["val"])
    loader = DataLoader(
        ds, batch_size=batch_size, sampler=EpochSampler(len(ds), shuffle=False), num_workers=workers, collate_fn=collate
    )
    cpu = torch.device("cpu")
    fwd = predict_logits(model, loader, device=cpu, progress=False)
    bwd = predict_logits(Reversed(model), loader, device=cpu, progress=False)
    assert np.array_equal(fwd["index"], bwd["index"]), "the two passes must score the same segments in order"
    names = list(info["classes"]["verb"])
    scores = order_scores(fwd["logits"]["verb"][:, 0], bwd["logits"]["verb"][:, 0], fwd["labels"]["verb"], names)
    return {"run": str(ckpt), "model": info["model"]["name"], **scores}


def main(argv: list[str] | None = None) -> int:
    """Probe each run given and print one JSON line per run."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", type=Path, help="run directories or checkpoints")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--workers", type=int, default=1)
    args = p.parse_args(argv)
    for run in args.runs:
        print(json.dumps(probe(run, args.batch, args.workers)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
