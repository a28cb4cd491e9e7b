"""Seed 001's Figure 5 on the synthetic GTEA61, with the MS, static-dynamic and LSTA variants, 3 seeds per row.

    python benchmarks/gtea61.py                          # every row, seeds 0 1 2 (46 min a seed on 2 cores)
    python benchmarks/gtea61.py --rows s1_cam_7 s2_cam_7 --seeds 0
    python benchmarks/gtea61.py --table-only             # rewrite the table from benchmarks/results/gtea61.json
    python benchmarks/gtea61.py --size 96 168 --pretrain-size 96 168 --pretrain-epochs 62 --rows s2_cam_7 --seeds 0
        --runs runs/gtea61-96 --results benchmarks/results/gtea61_96x168.json   # (one line) the explain model

Every row runs the config under ``configs/gtea61/`` that reproduces it, through egoaction's engine, with only
the budget changed on the command line (``--set`` overrides, recorded with each result):

- data: a reduced synthetic GTEA61 (``--classes`` classes x ``--instances`` instances x users S1-S4 at 128x228,
  rendered into ``--root`` if missing); train on S1, S3, S4 and test on S2 (the fixed split);
- clips: the whole frame shrunk to ``--size`` (64x112: short side 64, the seed's multi-scale corner crops keeping
  the frame's aspect), so the ResNet-34 grid is 2x4, not 7x7, and the motion-segmentation head works on 2x2 cells;
- epochs: ``--stage1-epochs`` / ``--stage2-epochs`` / ``--flow-epochs`` / ``--two-stream-epochs`` instead of
  200 / 150 / 750 / 250, with every milestone scaled by the same factor; batch ``--batch``;
- pretraining: ImageNet weights cannot be fetched offline, so the stand-in is a TSN-ResNet-34 trained here on the
  synthetic EPIC kitchen (``--epic-root``: other videos of the same rendered world, ``configs/demo.yaml``'s recipe
  for ``--pretrain-epochs`` epochs). Ego-RNN's CAM needs the backbone's own object classifier, so the stand-in's
  28-way noun head becomes the first rows of the 1000-way fc; the other rows are zero with bias -100, which can
  never be the top class. The flow stream takes the same weights (cross-modality conv1);
- LSTA runs at the Ego-RNN frame count (7), not its paper's 25.

Each row's accuracy is the top-1 on S2 of the run's last checkpoint (one central view; 5 flow stacks for the flow
network), averaged over the seeds. Stage 2, MS and static-dynamic start from the same seed's stage 1; two-stream
from the same seed's stage 2 (CAM) and flow runs, as the configs chain them. The static-dynamic row also reports
the discriminator's accuracy, and the MS row its per-cell motion-map accuracy, both from the last validation epoch.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from egoaction.atomic import write_text_atomic
from egoaction.config import load_config
from egoaction.engine.evaluate import evaluate
from egoaction.engine.fit import train
from egoaction.models.backbones import strip_wrapper_prefixes
from egoaction.report.run_report import read_epochs

sys.path.insert(0, str(Path(__file__).parent))  # the sibling modules, also when tests load this file by path
from machine import machine
from standin import save_weights, standin_file, train_standin

RESULTS = Path(__file__).parent / "results"
CONFIGS = Path(__file__).parent.parent / "configs" / "gtea61"
FC_ROWS = 1000


@dataclass(frozen=True)
class Row:
    """One line of the table: the config, its budget kind, extra overrides and the runs it starts from."""

    key: str
    label: str
    frames: int
    config: str
    kind: str  # stage1 | stage2 | flow | two_stream
    sets: tuple[str, ...] = ()
    init: str | None = None  # row key whose run initialises this one (model.init_from)
    streams: tuple[str, str] | None = None  # (rgb row, flow row) for two-stream


ROWS = [
    Row("s1_nocam_7", "Ego-RNN without CAM - stage 1", 7, "egornn_stage1", "stage1", ("model.kwargs.cam=false",)),
    Row("s1_nocam_16", "Ego-RNN without CAM - stage 1", 16, "egornn_stage1_16f", "stage1", ("model.kwargs.cam=false",)),
    Row(
        "s2_nocam_7",
        "Ego-RNN without CAM - stage 2",
        7,
        "egornn_stage2",
        "stage2",
        ("model.kwargs.cam=false",),
        "s1_nocam_7",
    ),
    Row(
        "s2_nocam_16",
        "Ego-RNN without CAM - stage 2",
        16,
        "egornn_stage2_16f",
        "stage2",
        ("model.kwargs.cam=false",),
        "s1_nocam_16",
    ),
    Row("s1_cam_7", "Ego-RNN - stage 1", 7, "egornn_stage1", "stage1"),
    Row("s1_cam_16", "Ego-RNN - stage 1", 16, "egornn_stage1_16f", "stage1"),
    Row("s2_cam_7", "Ego-RNN - stage 2", 7, "egornn_stage2", "stage2", (), "s1_cam_7"),
    Row("s2_cam_16", "Ego-RNN - stage 2", 16, "egornn_stage2_16f", "stage2", (), "s1_cam_16"),
    Row("flow_5", "flow_resnet34", 5, "flow_resnet34", "flow"),
    Row("two_stream_7", "two-stream (joint train)", 7, "two_stream", "two_stream", streams=("s2_cam_7", "flow_5")),
    Row(
        "two_stream_16", "two-stream (joint train)", 16, "two_stream_16f", "two_stream", streams=("s2_cam_16", "flow_5")
    ),
    Row(
        "ms_7",
        "Ego-RNN + motion segmentation (stage 2)",
        7,
        "egornn_ms",
        "stage2",
        ("model.kwargs.ms_grid=2",),
        "s1_cam_7",
    ),
    Row("sd_7", "Ego-RNN + static-dynamic discriminator (stage 2)", 7, "egornn_sd", "stage2", (), "s1_cam_7"),
    Row("lsta_s1_7", "LSTA - stage 1", 7, "lsta_stage1", "stage1", ("data.num_frames=7",)),
    Row("lsta_s2_7", "LSTA - stage 2", 7, "lsta_stage2", "stage2", ("data.num_frames=7",), "lsta_s1_7"),
]
BY_KEY = {r.key: r for r in ROWS}
# the seed's epoch counts, which the reduced budget scales milestones from
FULL_EPOCHS = {"stage1": 200, "stage2": 150, "flow": 750, "two_stream": 250}


def dataset(args: argparse.Namespace) -> Path:
    """The reduced synthetic GTEA61 at ``args.root``, rendered on first use."""
    if not (args.root / "processed_frames2").is_dir():
        from egoaction.data.synth.generate import PRESETS, synthesize

        preset = replace(
            PRESETS["small"], name="gtea61-bench", gtea_classes=args.classes, gtea_instances=args.instances
        )
        print(synthesize("gtea61", args.root, preset=preset, seed=0), file=sys.stderr, flush=True)
    return args.root


def common_sets(args: argparse.Namespace, seed: int) -> list[str]:
    """Overrides every row shares: data, clip size, batch, workers, seed, where runs go."""
    return [
        f"data.root={args.root}",
        f"data.size=[{args.size[0]},{args.size[1]}]",
        f"data.resize={args.size[0]}",
        f"data.batch_size={args.batch}",
        f"data.num_workers={args.workers}",
        f"trainer.seed={seed}",
        f"output_dir={args.runs}/seed{seed}",
    ]


def standin_size(args: argparse.Namespace) -> tuple[int, int] | None:
    """The stand-in's frame size (H, W), or None for the demo's."""
    return (args.pretrain_size[0], args.pretrain_size[1]) if args.pretrain_size else None


def standin_path(args: argparse.Namespace) -> Path:
    """Where the stand-in of this budget is kept (its epochs and frame size are in the name)."""
    return standin_file(args.runs, "resnet34", args.pretrain_epochs, standin_size(args))


def pretrain(args: argparse.Namespace) -> Path:
    """Train the ImageNet stand-in (a TSN-ResNet-34 on the synthetic EPIC kitchen) and write it for Ego-RNN."""
    out = standin_path(args)
    if out.is_file():
        return out
    size = standin_size(args)
    state = train_standin("tsn_resnet34", args.epic_root, args.runs, args.pretrain_epochs, args.workers, size)
    weights = strip_wrapper_prefixes(state)
    # the noun classifier plays ImageNet's object classifier: its rows are the CAM dictionary
    head_w, head_b = state["heads.noun.weight"], state["heads.noun.bias"]
    fc_w = torch.zeros(FC_ROWS, head_w.shape[1])
    fc_b = torch.full((FC_ROWS,), -100.0)
    fc_w[: len(head_w)], fc_b[: len(head_b)] = head_w, head_b
    weights.update({"fc.weight": fc_w, "fc.bias": fc_b})
    return save_weights(weights, out)


def scaled(values: list[int], epochs: int, full: int) -> str:
    """Milestones scaled from the seed's epoch count to the budget's, as an override value."""
    return "[" + ",".join(str(max(1, round(v * epochs / full))) for v in values) + "]"


def row_sets(row: Row, args: argparse.Namespace, seed: int, weights: Path) -> list[str]:
    """Every override of ``row`` at ``seed``: shared budget, epochs and milestones, weights and chained runs."""
    epochs = {
        "stage1": args.stage1_epochs,
        "stage2": args.stage2_epochs,
        "flow": args.flow_epochs,
        "two_stream": args.two_stream_epochs,
    }[row.kind]
    cfg = load_config(CONFIGS / f"{row.config}.yaml")
    sets = [*common_sets(args, seed), f"name={row.key}", f"trainer.max_epochs={epochs}"]
    sets.append(f"model.kwargs.pretrained={weights}")
    if cfg.schedule.name == "multistep":
        sets.append(f"schedule.milestones={scaled(list(cfg.schedule.milestones), epochs, FULL_EPOCHS[row.kind])}")
    runs = args.runs / f"seed{seed}"
    sets.append(f"model.init_from={runs / row.init}" if row.init else "model.init_from=null")
    if row.streams:
        rgb, flow = row.streams
        sets.append(f"model.kwargs.rgb_checkpoint={runs / rgb / 'checkpoints' / 'last.ckpt'}")
        sets.append(f"model.kwargs.flow_checkpoint={runs / flow / 'checkpoints' / 'last.ckpt'}")
    return sets + list(row.sets)


def last_val(run: Path, name: str) -> float | None:
    """The last validation value of metric ``name`` that the run logged, if any."""
    values = [r[f"val/{name}"] for r in read_epochs(run / "metrics.jsonl") if f"val/{name}" in r]
    return float(values[-1]) if values else None


def run_row(row: Row, args: argparse.Namespace, seed: int, weights: Path) -> dict[str, Any]:
    """Train and evaluate one row at one seed; returns its record."""
    sets = row_sets(row, args, seed, weights)
    start = time.perf_counter()
    run = train(load_config(CONFIGS / f"{row.config}.yaml", sets), overwrite=True)
    # one split is evaluated (the test user); its name depends on the reader
    (metrics,) = evaluate(run / "checkpoints" / "last.ckpt", gap=False, progress=False).values()
    record = {
        "row": row.key,
        "seed": seed,
        "top1": metrics["tasks"]["action"]["top1"],
        "wall_s": time.perf_counter() - start,
        "sets": sets,
        "torch": torch.__version__,
        "machine": machine(),
    }
    for extra in ("sd_acc", "ms_acc", "ms_loss"):
        value = last_val(run, extra)
        if value is not None:
            record[extra] = value
    return record


def table(results: dict[str, dict[str, Any]]) -> str:
    """The markdown table: one line per row, mean and spread over its seeds."""
    lines = [
        "| configuration | frames | top-1 mean (%) | seeds (%) | extra | run time per seed (min) |",
        "|---|---|---|---|---|---|",
    ]
    for row in ROWS:
        runs = sorted((r for r in results.values() if r["row"] == row.key), key=lambda r: r["seed"])
        if not runs:
            continue
        accs = [r["top1"] for r in runs]
        extra = ""
        if "sd_acc" in runs[0]:
            extra = f"discriminator {statistics.mean(r['sd_acc'] for r in runs):.1f} %"
        if "ms_acc" in runs[0]:
            extra = f"MS per-cell accuracy {statistics.mean(r['ms_acc'] for r in runs):.1f} %"
        wall = statistics.mean(r["wall_s"] for r in runs) / 60
        seeds = " / ".join(f"{a:.1f}" for a in accs)
        lines.append(f"| {row.label} | {row.frames} | {statistics.mean(accs):.1f} | {seeds} | {extra} | {wall:.1f} |")
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options: which rows and seeds, and the reduced budget."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", nargs="*", default=None, choices=list(BY_KEY), help="row keys (default: all)")
    p.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    p.add_argument("--root", type=Path, default=Path("data/synth-gtea61-bench"))
    p.add_argument("--runs", type=Path, default=Path("runs/gtea61-bench"))
    p.add_argument("--epic-root", type=Path, default=Path("data/synth-epic100"), help="the stand-in's data")
    p.add_argument("--size", type=int, nargs=2, default=[64, 112], metavar=("H", "W"))
    p.add_argument("--classes", type=int, default=8)
    p.add_argument("--instances", type=int, default=3)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--pretrain-epochs", type=int, default=24)
    p.add_argument(
        "--pretrain-size", type=int, nargs=2, default=None, metavar=("H", "W"), help="stand-in frames (default 48x84)"
    )
    p.add_argument("--stage1-epochs", type=int, default=15)
    p.add_argument("--stage2-epochs", type=int, default=15)
    p.add_argument("--flow-epochs", type=int, default=30)
    p.add_argument("--two-stream-epochs", type=int, default=8)
    p.add_argument("--results", type=Path, default=RESULTS / "gtea61.json")
    p.add_argument("--table-only", action="store_true", help="only rewrite the markdown table from the JSON")
    return p.parse_args(argv)


def needed(rows: list[Row]) -> list[Row]:
    """``rows`` plus the rows they start from, in table order (dependencies come first in ROWS)."""
    keys = {r.key for r in rows}
    changed = True
    while changed:
        before = len(keys)
        for r in list(keys):
            row = BY_KEY[r]
            keys |= {row.init} if row.init else set()
            keys |= set(row.streams or ())
        changed = len(keys) != before
    # ROWS lists every row after the rows it starts from
    return [r for r in ROWS if r.key in keys]


def main(argv: list[str] | None = None) -> int:
    """Run the rows (or rebuild the table) and print the table."""
    args = parse_args(argv)
    results: dict[str, dict[str, Any]] = {}
    if args.results.is_file():
        results = {f"{r['row']}@{r['seed']}": r for r in json.loads(args.results.read_text())}
    if not args.table_only:
        dataset(args)
        weights = pretrain(args)
        rows = needed([BY_KEY[k] for k in args.rows] if args.rows else ROWS)
        for seed in args.seeds:
            for row in rows:
                print(f"== {row.key} seed {seed}", file=sys.stderr, flush=True)
                results[f"{row.key}@{seed}"] = run_row(row, args, seed, weights)
                # after every run, so an interrupted sweep keeps what it measured
                write_text_atomic(args.results, json.dumps(list(results.values()), indent=1) + "\n")
    markdown = args.results.with_suffix(".md")
    write_text_atomic(markdown, table(results))
    print(markdown.read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
