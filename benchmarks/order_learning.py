"""Can a model learn to read frame order, and what keeps the averaging models from it on the kitchen? Two probes.

    python benchmarks/order_learning.py toy --models tsn_resnet18 tsm_resnet18 mc3_18 --seeds 0 1 2
    python benchmarks/order_learning.py kitchen --model tsm_resnet18
    python benchmarks/order_learning.py kitchen --model tsm_resnet18 --reverse-p 0.5
    python benchmarks/order_learning.py kitchen --model tsm_resnet18 --still-camera
    python benchmarks/order_learning.py kitchen --model tsm_resnet18 --pair-verbs-only --noun-weight 0 \\
        --reverse-p 0.5 --epochs 40
    python benchmarks/order_learning.py kitchen --model tsm_resnet18 --motion-steps 600
    python benchmarks/order_learning.py table      # rewrite the table from benchmarks/results/order_learning.json

``toy``: clips of a square, brighter than the noise around it, moving left to right or right to left (8 frames of
48x84, 2 to 4 pixels a frame); the label is the direction, so a model blind to order stays near 50 % and one that
reads order reaches 100 %. ``--steps`` AdamW steps (150; batch 16, lr 1e-3) from the zoo's ResNet-18 stand-in,
then 256 new clips are scored, once per ``--seeds`` seed (the clips and the weights the stand-in does not give).

``kitchen``: the zoo's budget on the ``small`` kitchen (8 TSN segments of 48x84, its crops, flips and colour
jitter, AdamW lr 1e-3 with weight decay 0.05, 1 warmup epoch then cosine, batch 16, label smoothing 0.1, no
dropout, bf16 autocast where the CPU has it, the zoo's stand-in), in a plain loop over clips drawn once
(``--draws`` augmented draws of the training split, used in turn), so that variants the engine has no switch for
are quick: ``--reverse-p`` plays a pair-verb clip backwards with its partner's label (an exact "put" from a
"take": the renderer makes the pairs exact reversals), ``--pair-verbs-only`` keeps only the eight pair verbs,
``--noun-weight 0`` trains the verb alone, ``--still-camera`` renders the kitchen with no ego-motion or shake,
``--motion-steps N`` starts from the model's motion stand-in (``standin.py``: N steps of telling which of 8
directions a rectangle moves in, as the video papers start from Kinetics), with new heads for the kitchen.
After every epoch it scores verb top-1 and top-1 on the pair verbs, on the first draw of the training split and
on the validation split (centre frames, one view).

Records accumulate in benchmarks/results/order_learning.json (one per probe and setting, replaced when re-run)
and the table in benchmarks/results/order_learning.md.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from egoaction.atomic import write_text_atomic
from egoaction.data.dataset import ClipDataModule
from egoaction.data.synth import reversal_partners
from egoaction.engine.precision import cpu_bf16
from egoaction.models import create_model
from egoaction.models.base import VideoModel, set_memory_format

sys.path.insert(0, str(Path(__file__).parent))  # the sibling modules, also when tests load this file by path
import zoo
from machine import machine
from standin import DIRECTIONS, normalise, predict, train_motion

RESULTS = Path(__file__).parent / "results" / "order_learning.json"
FRAMES, SIZE = 8, (48, 84)
Clips = tuple[Tensor, Tensor, Tensor]  # rgb uint8 (N, T, 3, H, W), verb (N,), noun (N,)


def build(name: str, tasks: dict[str, int], runs: Path, root: Path, seed: int = 0) -> VideoModel:
    """``name`` as the zoo builds it, from the zoo's stand-in of its ResNet (trained on first use); ``seed`` draws
    the weights the stand-in does not give (the heads, a model's own layers)."""
    args = zoo.parse_args(["--runs", str(runs), "--root", str(root)])
    torch.manual_seed(seed)
    model = create_model(name, tasks, **zoo.model_kwargs(name, FRAMES, SIZE, zoo.standins(args, [name])))
    return set_memory_format(model)


def moving_squares(n: int, gen: torch.Generator) -> tuple[Tensor, Tensor]:
    """``n`` toy clips (n, T, 3, H, W) in 0..1 and their labels (n,): 0 = moving right, 1 = moving left."""
    labels = torch.randint(0, 2, (n,), generator=gen)
    clips = 0.3 * torch.rand(n, FRAMES, 3, *SIZE, generator=gen)
    for i in range(n):
        side, row, start, step = (int(torch.randint(lo, hi, (1,), generator=gen)) for lo, hi in _TOY_RANGES)
        colour = 0.5 + 0.5 * torch.rand(3, 1, 1, generator=gen)  # brighter than the noise in every channel
        for t in range(FRAMES):
            x = start + step * (t if labels[i] == 0 else FRAMES - 1 - t)
            clips[i, t, :, row : row + side, x : x + side] = colour
    return clips, labels


_TOY_RANGES = ((6, 12), (0, SIZE[0] - 12), (0, 20), (2, 5))  # side, top row, first left edge, pixels per frame


def toy(name: str, runs: Path, root: Path, steps: int = 150, seed: int = 0) -> dict[str, Any]:
    """Train ``name`` to tell a square's direction; its accuracy on 256 new clips. ``seed`` draws the clips and
    the new weights."""
    start = time.perf_counter()
    model = build(name, {"verb": 2}, runs, root, seed)
    top1 = train_motion(model, steps, seed, draw=moving_squares)
    return {
        "key": f"toy:{name}[seed={seed}][steps={steps}]",
        "probe": "toy",
        "model": name,
        "seed": seed,
        "steps": steps,
        "toy_top1": top1,
        "wall_s": time.perf_counter() - start,
        "machine": machine(),
    }


def draw_clips(root: Path, draws: int) -> tuple[list[Clips], Clips, dict[str, list[str]]]:
    """``draws`` augmented draws of the training split, the validation split, and the class names per task."""
    augmentation = zoo.experiment("tsn_resnet18", zoo.parse_args([]))["data"]["augmentation"]
    dm = ClipDataModule("epic100", root, size=SIZE, resize=SIZE[0], augmentation=augmentation, num_workers=0)

    def stack(items: list[dict[str, Any]]) -> Clips:
        rgb = torch.stack([s["rgb"] for s in items])
        return rgb, *(torch.tensor([s["labels"][t] for s in items]) for t in ("verb", "noun"))  # type: ignore[return-value]

    train, val = dm.dataset("train"), dm.dataset("val")
    draws_ = [stack([train[(i, epoch)] for i in range(len(train))]) for epoch in range(draws)]
    return draws_, stack([val[i] for i in range(len(val))]), dm.classes


def keep(clips: Clips, chosen: Tensor) -> Clips:
    """The clips whose mask ``chosen`` (N,) is set."""
    rgb, verb, noun = clips
    return rgb[chosen], verb[chosen], noun[chosen]


def reverse_some(rgb: Tensor, verb: Tensor, partner: Tensor, p: float, gen: torch.Generator) -> tuple[Tensor, Tensor]:
    """Each pair-verb clip, with probability ``p``, played backwards and labelled with its partner verb."""
    flip = (torch.rand(len(verb), generator=gen) < p) & (partner[verb] >= 0)
    rgb = torch.where(flip.view(-1, 1, 1, 1, 1), rgb.flip(1), rgb)
    return rgb, torch.where(flip, partner[verb], verb)


def scores(model: nn.Module, clips: Clips, pair_rows: Tensor) -> tuple[float, float]:
    """Verb top-1 (%) over all clips and over the pair-verb clips."""
    rgb, verb, _ = clips
    right = predict(model, rgb) == verb
    pair = torch.isin(verb, pair_rows)
    return float(100 * right.float().mean()), float(100 * right[pair].float().mean())


def kitchen(args: argparse.Namespace) -> dict[str, Any]:
    """Train on the kitchen in a plain loop with the chosen variant; per-epoch scores."""
    start = time.perf_counter()
    root = ensure_still_kitchen(args.still_root) if args.still_camera else zoo.ensure_kitchen(args.root)
    draws, val, classes = draw_clips(root, args.draws)
    verbs = classes["verb"]
    partner = torch.tensor(reversal_partners(verbs))
    pair_rows = (partner >= 0).nonzero().flatten()
    if args.pair_verbs_only:
        draws = [keep(d, torch.isin(d[1], pair_rows)) for d in draws]
        val = keep(val, torch.isin(val[1], pair_rows))
    tasks = {"verb": len(verbs), "noun": len(classes["noun"])}
    motion_top1 = None
    if args.motion_steps:  # the video stand-in: first learn motion direction, then the kitchen with new heads
        model = build(args.model, {"verb": DIRECTIONS}, args.runs, args.root)
        motion_top1 = train_motion(model, args.motion_steps)
        print(f"motion pretraining: {motion_top1:.1f} % of directions right", file=sys.stderr, flush=True)
        model.reset_classifier(tasks)
    else:
        model = build(args.model, tasks, args.runs, args.root)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.05)
    per_epoch = len(draws[0][0]) // 16
    total = args.epochs * per_epoch
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / per_epoch) * cosine(s, total))
    gen = torch.Generator().manual_seed(0)
    use_bf16 = cpu_bf16()
    history = []
    for epoch in range(args.epochs):
        rgb, verb, noun = draws[epoch % len(draws)]
        order = torch.randperm(len(verb), generator=gen)
        losses = []
        for i in range(per_epoch):
            idx = order[16 * i : 16 * (i + 1)]
            x, v = reverse_some(rgb[idx], verb[idx], partner, args.reverse_p, gen)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=use_bf16):
                out = model({"rgb": normalise(x)})
            loss = F.cross_entropy(out["verb"].float(), v, label_smoothing=0.1)
            if args.noun_weight:
                loss = loss + args.noun_weight * F.cross_entropy(out["noun"].float(), noun[idx], label_smoothing=0.1)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            losses.append(float(loss.detach()))
        train_verb, train_pair = scores(model, draws[0], pair_rows)
        val_verb, val_pair = scores(model, val, pair_rows)
        history.append(
            {"epoch": epoch, "loss": sum(losses) / len(losses), "train_verb_top1": train_verb,
             "train_pair_top1": train_pair, "val_verb_top1": val_verb, "val_pair_top1": val_pair}
        )  # fmt: skip
        print(json.dumps(history[-1]), file=sys.stderr, flush=True)
    return {
        "key": kitchen_key(args),
        "probe": "kitchen",
        "model": args.model,
        "settings": settings(args),
        "motion_top1": motion_top1,
        **{k: history[-1][k] for k in ("train_pair_top1", "val_verb_top1", "val_pair_top1")},
        "by_epoch": history,
        "wall_s": time.perf_counter() - start,
        "machine": machine(),
    }


def cosine(step: int, total: int) -> float:
    """The cosine factor from 1 at step 0 to 0 at ``total``."""
    return 0.5 * (1 + math.cos(math.pi * min(step, total) / total))


KITCHEN_DEFAULTS = {"epochs": 8, "lr": 1e-3, "reverse_p": 0.0, "pair_verbs_only": False, "noun_weight": 1.0,
                    "still_camera": False, "draws": 4, "motion_steps": 0}  # fmt: skip


def settings(args: argparse.Namespace) -> dict[str, Any]:
    """The kitchen probe's options that differ from the zoo's budget."""
    return {k: getattr(args, k) for k, default in KITCHEN_DEFAULTS.items() if getattr(args, k) != default}


def kitchen_key(args: argparse.Namespace) -> str:
    """The record's name, e.g. ``kitchen:tsm_resnet18[reverse_p=0.5]``."""
    return f"kitchen:{args.model}" + "".join(f"[{k}={v}]" for k, v in settings(args).items())


def ensure_still_kitchen(root: Path) -> Path:
    """The ``small`` kitchen rendered with a still camera (seed 0, no flow) at ``root``, rendered on first use."""
    if not (root / "EPIC_100_train.csv").is_file():
        from egoaction.data.synth.generate import synthesize

        print(synthesize("epic100", root, preset="small", flow=False, camera_motion=False), file=sys.stderr)
    return root


def table(results: dict[str, dict[str, Any]]) -> str:
    """Markdown tables of the toy and the kitchen records."""
    lines = ["| toy probe | seed | steps | direction top-1 |", "|---|---|---|---|"]
    lines += [
        f"| {r['model']} | {r['seed']} | {r['steps']} | {r['toy_top1']:.1f} |"
        for r in results.values()
        if r["probe"] == "toy"
    ]
    lines += [
        "",
        "| kitchen probe | validation pair-verb top-1 | validation verb top-1 | training pair-verb top-1 |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {r['key'].removeprefix('kitchen:')} | {r['val_pair_top1']:.1f} | {r['val_verb_top1']:.1f} | "
        f"{r['train_pair_top1']:.1f} |"
        for r in results.values()
        if r["probe"] == "kitchen"
    ]
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options of the two probes."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", type=Path, default=Path("data/synth-epic100"), help="the synthetic EPIC kitchen")
    p.add_argument("--runs", type=Path, default=Path("runs/zoo"), help="where the zoo keeps its stand-ins")
    p.add_argument("--results", type=Path, default=RESULTS)
    sub = p.add_subparsers(dest="probe", required=True)
    t = sub.add_parser("toy", help="a moving square's direction")
    t.add_argument("--models", nargs="+", default=["tsn_resnet18", "tsm_resnet18", "mc3_18"])
    t.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    t.add_argument("--steps", type=int, default=150)
    sub.add_parser("table", help="only rewrite the markdown table from the JSON")
    k = sub.add_parser("kitchen", help="the zoo's budget in a plain loop, with variants")
    k.add_argument("--model", default="tsm_resnet18")
    k.add_argument("--epochs", type=int, default=KITCHEN_DEFAULTS["epochs"])
    k.add_argument("--lr", type=float, default=KITCHEN_DEFAULTS["lr"])
    k.add_argument("--reverse-p", type=float, default=KITCHEN_DEFAULTS["reverse_p"])
    k.add_argument("--pair-verbs-only", action="store_true")
    k.add_argument("--noun-weight", type=float, default=KITCHEN_DEFAULTS["noun_weight"])
    k.add_argument("--still-camera", action="store_true")
    k.add_argument("--still-root", type=Path, default=Path("data/synth-epic100-still"))
    k.add_argument("--motion-steps", type=int, default=0, help="first learn moving shapes' direction this long")
    k.add_argument("--draws", type=int, default=KITCHEN_DEFAULTS["draws"], help="augmented draws of the split")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run a probe, keep its records, print the table."""
    args = parse_args(argv)
    results = {r["key"]: r for r in json.loads(args.results.read_text())} if args.results.is_file() else {}
    records = []
    if args.probe == "toy":
        records = [toy(m, args.runs, args.root, args.steps, seed) for m in args.models for seed in args.seeds]
    elif args.probe == "kitchen":
        records = [kitchen(args)]
    for record in records:
        results[record["key"]] = record
    write_text_atomic(args.results, json.dumps(list(results.values()), indent=1) + "\n")
    text = table(results)
    write_text_atomic(args.results.with_suffix(".md"), text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
