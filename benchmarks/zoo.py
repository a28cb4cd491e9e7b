"""The model-zoo comparison: every registered model, one shared training budget, the synthetic EPIC kitchen.

    python benchmarks/zoo.py                                  # every model, the default budget (hours on 2 cores)
    python benchmarks/zoo.py --models resnet50_pool resnet50_lstm tsm_resnet18 --epochs 8
    python benchmarks/zoo.py --models tsn_resnet18 --pretrain-epochs 0 --results /tmp/scratch.json  # from scratch
    python benchmarks/zoo.py --table-only                     # rewrite the table from benchmarks/results/zoo.json
    python benchmarks/zoo.py --models tsm_resnet18 --model-kwarg consensus=trn --results /tmp/trn.json  # a variant
    python benchmarks/zoo.py --models resnet18_transformer --lr-factor encoder=0.1  # the encoder at lr 1e-4

Each model is trained by egoaction's engine (``egoaction.engine.fit.train``) with the same data, recipe and number
of epochs, then its last checkpoint is evaluated on the validation split (1 view). The budget is set by the command
line and recorded with every result:

- data: the ``small`` synthetic kitchen (rendered with ``--no-flow`` if missing), 8 TSN segments per clip,
  48x84 pixels (the whole 128x228 frame shrunk), crops at scales 1 / 0.875 / 0.75, flips, colour jitter;
- start: the seeds fine-tune ImageNet backbones, which cannot be fetched offline, so models on a 2D ResNet-18,
  -34 or -50 start from a stand-in (``standin.py``): a TSN on that ResNet trained ``--pretrain-epochs`` epochs
  (24) on single frames of the kitchen's training split with ``configs/demo.yaml``'s recipe, trained once per
  budget and ResNet when a model first needs it and kept in ``--runs`` (R3D-18 and MC3-18 get the ResNet-18 one
  inflated to 3D kernels, as I3D inflates ImageNet). Other backbones start from scratch; ``--pretrain-epochs 0``
  starts every model from scratch. ``--motion-steps N`` then gives each model a motion stand-in, as the video
  papers start from Kinetics: N steps of telling which of 8 directions a rectangle moves in (``standin.py``),
  from which the kitchen run starts (its heads afresh);
- recipe: AdamW lr 1e-3, weight decay 0.05, 1 warmup epoch then cosine, batch 16, label smoothing 0.1,
  dropout 0.0 before the heads, bf16 autocast where the CPU has it, channels_last.

Reported per model: verb / noun / action top-1 (official EPIC action rule), top-1 on the segments whose verb
belongs to a time-reversal pair (take/put, open/close, turn-on/turn-off, push/pull: a model that pools frames
without order can at best guess within a pair), parameters with the kitchen's 12 + 28 heads, train clips/s
(a separate timing of ``--speed-steps`` optimiser steps on random input of the budget's shape, so data loading is
not what is compared) and the wall time of the whole run. Results accumulate in benchmarks/results/zoo.json
(one record per model and setting, replaced when re-run; a run with another recipe is named by what it changes,
e.g. ``swin3d_t[lr=0.0001]``) and the table in benchmarks/results/zoo.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import typing
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F

from egoaction.atomic import write_text_atomic
from egoaction.config import from_dict
from egoaction.data.synth import reversal_partners
from egoaction.engine.evaluate import evaluate
from egoaction.engine.fit import train
from egoaction.engine.module import ActionModule
from egoaction.engine.precision import cpu_bf16
from egoaction.models import count_parameters, create_model, list_models, model_parameters
from egoaction.models.backbones import strip_wrapper_prefixes
from egoaction.models.base import set_memory_format
from egoaction.models.video3d import INFLATABLE

sys.path.insert(0, str(Path(__file__).parent))  # the sibling modules, also when tests load this file by path
from machine import machine
from standin import (
    DIRECTIONS,
    ensure_kitchen,
    motion_standin_file,
    save_weights,
    standin_file,
    train_motion,
    train_standin,
    without_heads,
)

RESULTS = Path(__file__).parent / "results"
TASKS = {"verb": 12, "noun": 28}
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 1, 3, 1, 1)


STANDIN_ARCHS = ("resnet18", "resnet34", "resnet50")
# Ego-RNN's and LSTA's CAM is ImageNet's 1000-way fc, which a TSN stand-in has not (its heads are verb and noun);
# benchmarks/gtea61.py gives them a stand-in of their own
CAM_MODELS = ("egornn_resnet34", "lsta_resnet34")


def standin_arch(name: str) -> str | None:
    """The ResNet whose stand-in fits model ``name`` (2D, or inflated to 3D for R3D-18 and MC3-18), or None."""
    params = model_parameters(name)
    if "pretrained" not in params or name in CAM_MODELS:
        return None
    if name in INFLATABLE:
        return "resnet18"
    if params.get("arch") in STANDIN_ARCHS:
        return str(params["arch"])
    return next((arch for arch in STANDIN_ARCHS if arch in name), None)


def model_kwargs(
    name: str,
    frames: int,
    size: tuple[int, int],
    standins: dict[str, Path] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The budget's kwargs for ``name``: no dropout, the clip shape for models built for a fixed input, the
    stand-in of its ResNet (``standins``: arch -> weights file) when there is one, then ``extra``
    (``--model-kwarg``)."""
    params = model_parameters(name)
    kwargs: dict[str, Any] = {}
    arch = standin_arch(name)
    if standins and arch in standins:
        kwargs["pretrained"] = str(standins[arch])
    if "dropout" in params:
        kwargs["dropout"] = 0.0
    if "num_frames" in params:
        kwargs["num_frames"] = frames
    if "size" in params:
        kwargs["size"] = list(size)
    return {**kwargs, **(extra or {})}


# the budget's options besides the model: a run that changes one is named by it, so its result cannot replace the
# default budget's row of the same model in a results file
RECIPE = ("epochs", "frames", "size", "batch", "lr", "seed", "sampler", "label_smoothing", "augment", "weight_decay",
          "schedule", "task_weights", "pretrain_epochs", "motion_steps")  # fmt: skip


def recipe_changes(args: argparse.Namespace) -> list[tuple[str, Any]]:
    """The budget options of ``args`` that differ from the defaults, as (option, value) pairs, e.g. [("lr", 0.0001)]."""
    defaults = parse_args([])
    return [(k, getattr(args, k)) for k in RECIPE if getattr(args, k) != getattr(defaults, k)]


def _text(value: Any) -> str:
    """A setting's value in a name: a frame size as 96x168, task weights as noun@0, the rest as str()."""
    if isinstance(value, list) and value and all(isinstance(v, tuple) for v in value):
        return ",".join(f"{task}@{weight:g}" for task, weight in value)
    if isinstance(value, list | tuple):
        return "x".join(str(v) for v in value)
    return str(value)


def _settings(
    extra: dict[str, Any], lr_factors: dict[str, float] | None, recipe: list[tuple[str, Any]] | None
) -> list[tuple[str, str]]:
    """The run's model kwargs, its learning-rate factors as ``lr.PREFIX``, then its recipe changes, as (key, text)."""
    pairs = [*extra.items(), *((f"lr.{k}", v) for k, v in (lr_factors or {}).items()), *(recipe or [])]
    return [(k, _text(v)) for k, v in pairs]


def variant(
    name: str,
    extra: dict[str, Any],
    lr_factors: dict[str, float] | None = None,
    recipe: list[tuple[str, Any]] | None = None,
) -> str:
    """The result's name: ``name``, its ``--model-kwarg`` and ``--lr-factor`` settings and the budget options it
    changes, e.g. ``tsm_resnet18[consensus=trn]``, ``resnet18_transformer[lr.encoder=0.1]``, ``swin3d_t[lr=0.0001]``."""
    return name + "".join(f"[{k}={v}]" for k, v in _settings(extra, lr_factors, recipe))


def run_name(
    name: str,
    extra: dict[str, Any],
    lr_factors: dict[str, float] | None = None,
    recipe: list[tuple[str, Any]] | None = None,
) -> str:
    """The run directory's name, e.g. ``tsm_resnet18_consensus-trn`` or ``swin3d_t_lr-0.0001``."""
    return name + "".join(f"_{k}-{v}" for k, v in _settings(extra, lr_factors, recipe))


def standin_path(args: argparse.Namespace, arch: str = "resnet18") -> Path | None:
    """Where the budget's stand-in weights for ``arch`` go, or None when the budget starts from scratch."""
    return standin_file(args.runs, arch, args.pretrain_epochs) if args.pretrain_epochs else None


def standin(args: argparse.Namespace, arch: str = "resnet18") -> Path | None:
    """The stand-in's ``arch`` weights file (a TSN-``arch``, trained on first use), or None from scratch."""
    out = standin_path(args, arch)
    if out is not None and not out.is_file():
        state = train_standin(f"tsn_{arch}", args.root, args.runs, args.pretrain_epochs, args.workers)
        save_weights(strip_wrapper_prefixes(state), out)
    return out


def standins(args: argparse.Namespace, names: list[str]) -> dict[str, Path]:
    """arch -> stand-in weights file for every ResNet that the models ``names`` are built on (empty from scratch)."""
    archs = sorted({arch for name in names if (arch := standin_arch(name)) is not None})
    return {arch: path for arch in archs if (path := standin(args, arch)) is not None}


def motion_standin(name: str, args: argparse.Namespace) -> Path:
    """The motion stand-in of ``name`` on this budget: the model as the budget builds it (with its image
    stand-in), trained ``--motion-steps`` steps on moving shapes, its heads dropped; trained on first use."""
    out = motion_standin_file(args.runs, experiment_name(name, args))
    if not out.is_file():
        torch.manual_seed(args.seed)
        kwargs = model_kwargs(name, args.frames, tuple(args.size), args.standins, args.model_kwargs)
        model = set_memory_format(create_model(name, {"verb": DIRECTIONS}, **kwargs))
        top1 = train_motion(model, args.motion_steps, args.seed, args.frames, tuple(args.size))
        print(f"{name}: motion stand-in tells {top1:.1f} % of directions", file=sys.stderr, flush=True)
        # the score first: a run stopped between the two files retrains the stand-in and rewrites it
        write_text_atomic(motion_score_file(out), json.dumps({"directions_top1": top1}) + "\n")
        save_weights(without_heads(model.state_dict()), out)
    return out


def motion_score_file(weights: Path) -> Path:
    """Where the directions top-1 of the motion stand-in saved at ``weights`` is kept."""
    return weights.with_suffix(".json")


def motion_score(name: str, args: argparse.Namespace) -> float | None:
    """Top-1 (%) on the 8 directions of ``name``'s motion stand-in when it was trained (None if it was saved
    before the score was kept beside it)."""
    score = motion_score_file(motion_standin_file(args.runs, experiment_name(name, args)))
    return float(json.loads(score.read_text())["directions_top1"]) if score.is_file() else None


def experiment_name(name: str, args: argparse.Namespace) -> str:
    """The run directory's name of ``name`` on this budget."""
    return run_name(name, args.model_kwargs, args.lr_factors, recipe_changes(args))


def experiment(name: str, args: argparse.Namespace) -> dict[str, Any]:
    """The shared budget as an egoaction config for model ``name``."""
    init_from = motion_standin_file(args.runs, experiment_name(name, args))
    return {
        "name": experiment_name(name, args),
        "output_dir": str(args.runs),
        "data": {
            "format": "epic100",
            "root": str(args.root),
            "sampler": args.sampler,
            "num_frames": args.frames,
            "size": list(args.size),
            "resize": args.size[0],
            "augmentation": {
                "scales": [1.0, 0.875, 0.75] if args.augment else [1.0],
                "rotation": 0,
                "jitter": [0.25, 0.25, 0.25, 0.0] if args.augment else [0.0, 0.0, 0.0, 0.0],
                "grayscale_p": 0,
                "erasing_p": 0,
            },
            "batch_size": args.batch,
            "num_workers": args.workers,
        },
        "loss": {"label_smoothing": args.label_smoothing, "task_weights": dict(args.task_weights)},
        "model": {
            "name": name,
            "kwargs": model_kwargs(name, args.frames, tuple(args.size), args.standins, args.model_kwargs),
            "init_from": str(init_from) if args.motion_steps else None,
        },
        "optim": {
            "name": "adamw",
            "lr": args.lr,
            "weight_decay": args.weight_decay,
            "lr_factors": args.lr_factors,
        },
        "schedule": {"name": args.schedule, "warmup_epochs": 1},
        "trainer": {"max_epochs": args.epochs, "progress_bar": False, "seed": args.seed, "channels_last": True},
        "eval": {"views": "1x1"},
    }


def reversal_rows(names: list[str]) -> list[int]:
    """Indices of the verbs in ``names`` that belong to a time-reversal pair."""
    return [i for i, partner in enumerate(reversal_partners(names)) if partner >= 0]


def reversal_top1(report: dict[str, Any]) -> float:
    """Top-1 (%) over the segments whose true verb is one of a time-reversal pair, from the confusion matrix."""
    confusion = np.asarray(report["confusion"])
    rows = reversal_rows(report["class_names"])
    total = confusion[rows].sum()
    return float(100 * confusion[rows, rows].sum() / total) if total else float("nan")


class ReversalByEpoch(L.Callback):
    """Reversal-pair verb top-1 (%) after every training epoch, from the validation predictions the engine keeps."""

    def __init__(self) -> None:
        self.history: list[float] = []

    def on_validation_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        """Score the epoch's validation split (not the sanity check's two batches)."""
        if trainer.sanity_checking:
            return
        action = typing.cast(ActionModule, module)
        preds = action.val_predictions
        labels = preds["labels/verb"].numpy()
        chosen = np.isin(labels, reversal_rows(list(action.info["classes"]["verb"])))
        right = preds["logits/verb"].argmax(1).numpy() == labels
        self.history.append(float(100 * right[chosen].mean()) if chosen.any() else float("nan"))


def train_speed(model: torch.nn.Module, args: argparse.Namespace) -> float:
    """Median train clips/s of ``model`` over ``--speed-steps`` AdamW steps on random input of the budget's shape."""
    torch.manual_seed(0)
    model = set_memory_format(model)
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    rgb = (torch.rand(args.batch, args.frames, 3, *args.size) - MEAN) / STD
    labels = {t: torch.randint(0, n, (args.batch,)) for t, n in TASKS.items()}
    use_bf16, times = cpu_bf16(), []
    for step in range(args.speed_steps + 2):
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=use_bf16):
            out = model({"rgb": rgb})
        loss = sum(F.cross_entropy(out[t].float(), labels[t]) for t in TASKS)
        opt.zero_grad(set_to_none=True)
        torch.as_tensor(loss).backward()
        opt.step()
        if step >= 2:  # the first two steps allocate and pick kernels
            times.append(time.perf_counter() - start)
    return args.batch / statistics.median(times)


def budget_model(name: str, args: argparse.Namespace, extra: dict[str, Any] | None = None) -> torch.nn.Module:
    """``name`` as the budget builds it, from random weights (for its parameter count and speed)."""
    torch.manual_seed(0)
    return create_model(name, TASKS, **model_kwargs(name, args.frames, tuple(args.size), extra=extra))


def run_model(name: str, args: argparse.Namespace) -> dict[str, Any]:
    """Train ``name`` on the budget, evaluate its last checkpoint, time its training step; one result record."""
    start = time.perf_counter()
    by_epoch = ReversalByEpoch()
    if args.motion_steps:
        motion_standin(name, args)
    config = experiment(name, args)
    run_dir = train(from_dict(config, source=f"zoo:{name}"), overwrite=True, callbacks=[by_epoch])
    wall = time.perf_counter() - start
    metrics = evaluate(run_dir / "checkpoints" / "last.ckpt", views="1x1", gap=False, progress=False)
    val = next(iter(metrics.values()))
    epic = val["epic"]
    model = budget_model(name, args, args.model_kwargs)
    budget = {k: v for k, v in config.items() if k not in ("name", "output_dir", "model")}
    standin_file = args.standins.get(standin_arch(name) or "")
    if standin_file is not None:
        budget["standin"] = str(standin_file)
    return {
        "model": variant(name, args.model_kwargs, args.lr_factors, recipe_changes(args)),
        "name": name,
        "model_kwargs": args.model_kwargs,
        "verb_top1": epic["all_verb_accuracy_at_1"],
        "noun_top1": epic["all_noun_accuracy_at_1"],
        "action_top1": epic["all_action_accuracy_at_1"],
        "reversal_verb_top1": reversal_top1(val["tasks"]["verb"]),
        "reversal_verb_top1_by_epoch": by_epoch.history,
        "params": count_parameters(model),
        "train_clips_per_s": train_speed(model, args),
        "wall_s": wall,
        "pretrain_epochs": args.pretrain_epochs if standin_file is not None else 0,
        "motion_steps": args.motion_steps,
        "motion_directions_top1": motion_score(name, args) if args.motion_steps else None,
        "budget": budget,
        "machine": machine(),
    }


def load_results(path: Path) -> dict[str, dict[str, Any]]:
    """model name -> record from the results JSON (empty if there is none yet)."""
    return {r["model"]: r for r in json.loads(path.read_text())} if path.is_file() else {}


def start(record: dict[str, Any]) -> str:
    """How a result's model was initialised, for the table: "resnet50 stand-in (N ep)" or "scratch"."""
    epochs = record.get("pretrain_epochs", 0)  # records from before the stand-in trained from scratch
    arch = standin_arch(record["name"]) if "name" in record else None
    text = "scratch" if not epochs else f"{arch} stand-in ({epochs} ep)" if arch else f"stand-in ({epochs} ep)"
    steps, top1 = record.get("motion_steps", 0), record.get("motion_directions_top1")
    score = f", {top1:.1f} % of directions" if top1 is not None else ""
    return f"{text} + motion ({steps} steps{score})" if steps else text


def table(results: dict[str, dict[str, Any]]) -> str:
    """The markdown comparison table, best verb top-1 first."""
    rows = sorted(results.values(), key=lambda r: -r["verb_top1"])
    lines = [
        "| model | start | verb top-1 | noun top-1 | action top-1 | reversal-pair verbs top-1 | params (M) |"
        " train clips/s | run time (min) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {start(r)} | {r['verb_top1']:.1f} | {r['noun_top1']:.1f} | {r['action_top1']:.1f} | "
            f"{r['reversal_verb_top1']:.1f} | {r['params'] / 1e6:.2f} | {r['train_clips_per_s']:.1f} | "
            f"{r['wall_s'] / 60:.1f} |"
        )
    return "\n".join(lines) + "\n"


def _model_kwarg(text: str) -> tuple[str, Any]:
    """'consensus=trn' -> ("consensus", "trn"); values are read as JSON when they parse (numbers, lists)."""
    key, sep, value = text.partition("=")
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE with KEY a factory keyword, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def _task_weight(text: str) -> tuple[str, float]:
    """'noun=0' -> ("noun", 0.0) for --task-weight."""
    task, sep, weight = text.partition("=")
    if not sep or task not in TASKS:
        raise argparse.ArgumentTypeError(f"expected TASK=WEIGHT with TASK one of {sorted(TASKS)}, got {text!r}")
    return task, float(weight)


def _lr_factor(text: str) -> tuple[str, float]:
    """'encoder=0.1' -> ("encoder", 0.1) for --lr-factor."""
    prefix, _, factor = text.partition("=")
    try:
        value = float(factor)
    except ValueError:
        value = None
    if not prefix or value is None:
        raise argparse.ArgumentTypeError(f"expected PARAMETER_PREFIX=FACTOR, e.g. encoder=0.1, got {text!r}")
    return prefix, value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options: which models and the shared budget."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="*", default=None, help="registered names (default: every model)")
    p.add_argument("--root", type=Path, default=Path("data/synth-epic100"), help="the synthetic EPIC kitchen")
    p.add_argument("--runs", type=Path, default=Path("runs/zoo"), help="where the run directories go")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--frames", type=int, default=8)
    p.add_argument("--size", type=int, nargs=2, default=[48, 84], metavar=("H", "W"))
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    # recipe ablations: a run that changes one is named by it (recipe_changes), e.g. tsm_resnet18[sampler=dense]
    p.add_argument(
        "--sampler",
        choices=("tsn", "linspace", "dense"),
        default="tsn",
        help="linspace: fixed frames, no offsets; dense: consecutive frames (stride 2)",
    )
    p.add_argument("--label-smoothing", type=float, default=0.1)
    p.add_argument("--no-augment", dest="augment", action="store_false", help="flips only: no crops, no jitter")
    p.add_argument("--weight-decay", type=float, default=0.05)
    p.add_argument("--schedule", choices=("cosine", "constant"), default="cosine", help="after 1 warmup epoch")
    p.add_argument(
        "--task-weight",
        dest="task_weights",
        type=_task_weight,
        action="append",
        default=[],
        metavar="TASK=W",
        help="loss weight of one task head, e.g. noun=0 (repeatable; default 1 each)",
    )
    p.add_argument(
        "--lr-factor",
        dest="lr_factors",
        type=_lr_factor,
        action="append",
        default=[],
        metavar="PREFIX=F",
        help="learning rate x F for the parameters whose names start with PREFIX, e.g. encoder=0.1 (repeatable;"
        " optim.lr_factors)",
    )
    p.add_argument(
        "--model-kwarg",
        dest="model_kwargs",
        type=_model_kwarg,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="factory keyword for every model of the run, e.g. consensus=trn (repeatable); the result is named"
        " tsm_resnet18[consensus=trn] and its run directory tsm_resnet18_consensus-trn",
    )
    p.add_argument(
        "--pretrain-epochs",
        type=int,
        default=24,
        help="train the stand-ins (a TSN on single frames per ResNet: 18, 34, 50) this long and start the models on"
        " that ResNet from them; 0: from scratch",
    )
    p.add_argument(
        "--motion-steps",
        type=int,
        default=0,
        help="first train each model this many steps to tell moving shapes' direction (a motion stand-in, as the"
        " video papers start from Kinetics), then fine-tune on the kitchen from it; 0: no motion stand-in",
    )
    p.add_argument("--speed-steps", type=int, default=5)
    p.add_argument("--results", type=Path, default=RESULTS / "zoo.json")
    p.add_argument("--table-only", action="store_true", help="only rewrite the markdown table from the JSON")
    p.add_argument(
        "--speed-only",
        action="store_true",
        help="re-time train clips/s of the models in the JSON (or --models), one after another in this run",
    )
    p.set_defaults(standins={})  # main() fills it in once the stand-ins exist
    args = p.parse_args(argv)
    args.model_kwargs = dict(args.model_kwargs)
    args.lr_factors = dict(args.lr_factors)
    return args


def rgb_models() -> list[str]:
    """The registered models that train on RGB alone (flow and motion-map models need data the budget lacks)."""
    names = []
    for name in list_models():
        model = create_model(name, TASKS)
        if tuple(model.modalities) == ("rgb",) and not model.target_modalities:
            names.append(name)
    return names


def main(argv: list[str] | None = None) -> int:
    """Run the comparison (or rebuild its table) and print the table."""
    args = parse_args(argv)
    results = load_results(args.results)
    if args.speed_only:
        for key in args.models or list(results):
            record = results[key]
            model = budget_model(record.get("name", key), args, record.get("model_kwargs"))
            record["train_clips_per_s"] = train_speed(model, args)
            record["machine"] = machine()
            print(f"{key}: {record['train_clips_per_s']:.1f} clips/s", file=sys.stderr, flush=True)
        write_text_atomic(args.results, json.dumps(list(results.values()), indent=1) + "\n")
    elif not args.table_only:
        ensure_kitchen(args.root)
        names = args.models or rgb_models()
        args.standins = standins(args, names)
        for name in names:
            print(f"== {name}", file=sys.stderr, flush=True)
            record = run_model(name, args)
            results[record["model"]] = record
            # after every model, so an interrupted sweep keeps what it measured
            write_text_atomic(args.results, json.dumps(list(results.values()), indent=1) + "\n")
    text = table(results)
    write_text_atomic(args.results.with_suffix(".md"), text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
