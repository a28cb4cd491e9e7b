"""Command line, egocentric tools: ``fuse`` (late fusion of runs), ``explain`` (attention heat maps) and
``protocol gtea61-louo`` (GTEA61 leave-one-user-out)."""

from __future__ import annotations

import argparse
from pathlib import Path


def _fuse(args: argparse.Namespace) -> int:
    from egoaction.engine.fuse import format_fusion, fuse_runs

    result = fuse_runs(args.runs, args.weights, split=args.split, softmax=args.softmax, out=args.out)
    print(format_fusion(result))
    print(f"fused scores: {result['scores']} (metrics: {Path(args.out) / 'metrics.json'})")
    return 0


def _explain(args: argparse.Namespace) -> int:
    from egoaction.engine.explain import explain

    result = explain(args.checkpoint, args.input, args.out, frames=args.frames, device=args.device)
    print(f"top-1 {result['top1']}; frames {result['frames']}")
    print(f"wrote {result['png']} and {result['gif']}")
    return 0


def _louo(args: argparse.Namespace) -> int:
    from egoaction.engine.protocol import format_louo, gtea61_louo

    result = gtea61_louo(args.config, args.set, users=args.users, checkpoint=args.checkpoint, overwrite=args.overwrite)
    print(format_louo(result))
    print(f"summary: {result['path']}")
    return 0


def add_ego_commands(sub: argparse._SubParsersAction) -> None:
    """Register ``fuse``, ``explain`` and ``protocol`` on the top-level subparsers."""
    f = sub.add_parser("fuse", help="late fusion of evaluated runs (RGB + flow, ensembles): weighted scores")
    f.add_argument("runs", type=Path, nargs="+", metavar="RUN", help="run directories (or folders with scores)")
    f.add_argument("--weights", type=float, nargs="+", default=None, help="one per run (normalised; default equal)")
    f.add_argument("--split", default="val", help="evaluated split: val (default), train, or its name, e.g. test")
    f.add_argument(
        "--softmax",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="fuse softmax probabilities (default) or, with --no-softmax, raw logits",
    )
    f.add_argument("--out", type=Path, required=True, metavar="DIR", help="folder for the fused scores + metrics")
    f.set_defaults(func=_fuse)

    e = sub.add_parser("explain", help="spatial attention heat maps (Ego-RNN CAM, LSTA) over a video's frames")
    e.add_argument("checkpoint", type=Path, metavar="CHECKPOINT", help="a .ckpt or a run directory")
    e.add_argument("input", type=Path, metavar="VIDEO_OR_FRAME_DIR")
    e.add_argument("--out", type=Path, required=True, metavar="DIR", help="gets attention.png and attention.gif")
    e.add_argument("--frames", type=int, default=None, metavar="N", help="frames to sample (default: the config's)")
    e.add_argument("--device", default="auto")
    e.set_defaults(func=_explain)

    p = sub.add_parser("protocol", help="evaluation protocols made of several runs")
    protocols = p.add_subparsers(dest="protocol", metavar="PROTOCOL", required=True)
    g = protocols.add_parser("gtea61-louo", help="GTEA61 leave-one-user-out: one run per test user, mean and std")
    g.add_argument("config", type=Path, nargs="?", metavar="CONFIG")
    g.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override, e.g. optim.lr=1e-4")
    g.add_argument("--users", nargs="+", default=None, metavar="USER", help="test users (default: every user)")
    g.add_argument("--checkpoint", choices=("best", "last"), default="best", help="which checkpoint each fold reports")
    g.add_argument("--overwrite", action="store_true", help="retrain folds that already have a run")
    g.set_defaults(func=_louo)
