"""Command line, engine half: train, evaluate, epic-score, epic-submission, predict, report."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _train(args: argparse.Namespace) -> int:
    from egoaction.config import load_config
    from egoaction.engine.fit import train

    config = args.config
    if config is None and args.resume is not None:
        config = args.resume / "config.yaml"
    cfg = load_config(config, args.set)
    run_dir = train(cfg, resume=args.resume, init_from_ckpt=args.init_from, overwrite=args.overwrite)
    print(f"run directory: {run_dir}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from egoaction.engine.evaluate import evaluate

    results = evaluate(
        args.target,
        split=args.split,
        views=args.views,
        gap=not args.no_gap,
        batch_size=args.batch_size,
        num_workers=args.workers,
        device=args.device,
    )
    print(format_results(results))
    return 0


def format_results(results: dict[str, dict]) -> str:
    """A plain-text table: one row per metric, one column per evaluated split."""
    splits = list(results)
    rows: dict[str, list[str]] = {}
    for i, split in enumerate(splits):
        metrics = results[split]
        values = {f"{t}_{k}": r.get(k) for t, r in metrics.get("tasks", {}).items() for k in ("top1", "top5")}
        values.update(metrics.get("epic", {}))
        for key, value in values.items():
            rows.setdefault(key, ["-"] * len(splits))[i] = "-" if value is None else f"{value:.2f}"
    width = max([len(k) for k in rows] + [6])
    lines = [f"{'metric':<{width}}  " + "  ".join(f"{s:>10}" for s in splits)]
    lines += [f"{k:<{width}}  " + "  ".join(f"{v:>10}" for v in vals) for k, vals in rows.items()]
    return "\n".join(lines)


def _epic_score(args: argparse.Namespace) -> int:
    from egoaction.metrics.scoring import epic_score

    result = epic_score(
        args.scores,
        args.annotations,
        unseen_csv=args.unseen,
        tail_verbs_csv=args.tail_verbs,
        tail_nouns_csv=args.tail_nouns,
    )
    print(json.dumps(result, indent=2))
    return 0


def _epic_submission(args: argparse.Namespace) -> int:
    from egoaction.metrics.scoring import epic_submission

    path = epic_submission(
        args.scores, args.out, sls_pt=args.sls_pt, sls_tl=args.sls_tl, sls_td=args.sls_td, challenge=args.challenge
    )
    print(f"wrote {path}")
    return 0


def _predict(args: argparse.Namespace) -> int:
    from egoaction.engine.predict import format_prediction, predict

    result = predict(args.input, args.checkpoint, top_k=args.top_k, device=args.device)
    print(json.dumps(result, indent=2) if args.json else format_prediction(result))
    return 0


def _report(args: argparse.Namespace) -> int:
    from egoaction.report import write_report

    path = write_report(args.run_dir)
    print(f"report: {path} (and {path.with_suffix('.html')})")
    return 0


def add_engine_commands(sub: argparse._SubParsersAction) -> None:
    """Register the engine subcommands on the `egoaction` parser."""
    p = sub.add_parser("train", help="train a model from a YAML experiment config")
    p.add_argument("config", type=Path, nargs="?", metavar="CONFIG")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override, e.g. optim.lr=1e-4")
    p.add_argument("--resume", type=Path, default=None, metavar="RUN_DIR", help="continue a run from its last.ckpt")
    p.add_argument("--init-from", type=Path, default=None, metavar="CKPT", help="start from these weights (stage 2)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run of the same name")
    p.set_defaults(func=_train)

    e = sub.add_parser("evaluate", help="score a run or checkpoint: EPIC metrics, per class, overfitting gap")
    e.add_argument("target", type=Path, metavar="RUN_DIR_OR_CKPT")
    e.add_argument("--split", default="val", help="val (default), train, or a split name of the format")
    e.add_argument("--views", default=None, metavar="CLIPSxCROPS", help="test views, e.g. 2x3 (default: config)")
    e.add_argument("--no-gap", action="store_true", help="skip the training-split evaluation")
    e.add_argument("--batch-size", type=int, default=None)
    e.add_argument("--workers", type=int, default=None)
    e.add_argument("--device", default="auto")
    e.set_defaults(func=_evaluate)

    s = sub.add_parser("epic-score", help="official EPIC-KITCHENS-100 action recognition metrics of a score file")
    s.add_argument("--scores", type=Path, required=True, help="submission .zip/.json, or C1 results .pt/.pkl")
    s.add_argument("--annotations", type=Path, required=True, help="EPIC_100_validation.csv")
    s.add_argument("--unseen", type=Path, default=None, help="EPIC_100_unseen_participant_ids_validation.csv")
    s.add_argument("--tail-verbs", type=Path, default=None, help="EPIC_100_tail_verbs.csv")
    s.add_argument("--tail-nouns", type=Path, default=None, help="EPIC_100_tail_nouns.csv")
    s.set_defaults(func=_epic_score)

    z = sub.add_parser("epic-submission", help="write the official challenge zip (test.json, version 0.2)")
    z.add_argument("--scores", type=Path, required=True, help="egoaction scores.json or any readable score file")
    z.add_argument("--out", type=Path, required=True, help="output .zip")
    z.add_argument("--challenge", default="action_recognition", choices=("action_recognition", "action_anticipation"))
    z.add_argument("--sls-pt", type=int, default=2, help="pre-training level 0-5 (default 2)")
    z.add_argument("--sls-tl", type=int, default=3, help="training-labels level 0-5 (default 3)")
    z.add_argument("--sls-td", type=int, default=4, help="training-data level 0-5 (default 4)")
    z.set_defaults(func=_epic_submission)

    r = sub.add_parser("predict", help="top-k verbs, nouns and actions for a video file or a folder of frames")
    r.add_argument("input", type=Path, metavar="VIDEO_OR_FRAME_DIR")
    r.add_argument("--checkpoint", type=Path, required=True, metavar="CKPT", help="a .ckpt or a run directory")
    r.add_argument("--top-k", type=int, default=5)
    r.add_argument("--json", action="store_true", help="print JSON")
    r.add_argument("--device", default="auto")
    r.set_defaults(func=_predict)

    o = sub.add_parser("report", help="Markdown + HTML report with plots of a run directory")
    o.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    o.set_defaults(func=_report)
