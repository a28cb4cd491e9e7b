"""Command line: a thin dispatcher. Each subcommand parses its arguments and calls one library function."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from egoaction import __version__
from egoaction.cli_ego import add_ego_commands
from egoaction.cli_engine import add_engine_commands
from egoaction.cli_models import add_model_commands

FORMATS = ("epic100", "gtea61", "ucf101")


def _synth(args: argparse.Namespace) -> int:
    from egoaction.data.synth.generate import synthesize

    summary = synthesize(
        args.format,
        args.out_dir,
        preset=args.preset,
        seed=args.seed,
        workers=args.workers,
        videos=args.videos,
        flow=not args.no_flow,
        camera_motion=not args.still_camera,
        overwrite=args.overwrite,
    )
    print(summary)
    return 0


def _prepare_frames(args: argparse.Namespace) -> int:
    from egoaction.data.prepare import prepare_frames

    n = prepare_frames(args.input, args.out, fps=args.fps, height=args.height, layout=args.layout, workers=args.workers)
    print(f"extracted frames of {n} video(s) into {args.out}")
    return 0


def _prepare_flow(args: argparse.Namespace) -> int:
    from egoaction.data.prepare import flow_method, prepare_flow

    print(f"optical flow method: {flow_method(args.method)}")
    n = prepare_flow(args.root, layout=args.layout, bound=args.bound, method=args.method, workers=args.workers)
    print(f"computed flow for {n} frame folder(s) under {args.root}")
    return 0


def _prepare_mmaps(args: argparse.Namespace) -> int:
    from egoaction.data.prepare import prepare_mmaps

    n = prepare_mmaps(args.root, workers=args.workers)
    print(f"computed motion maps for {n} instance(s) under {args.root}")
    return 0


def _data_inspect(args: argparse.Namespace) -> int:
    from egoaction.data.inspect import format_report, inspect_dataset

    report = inspect_dataset(
        args.format,
        args.root,
        annotations=args.annotations,
        frames_per_segment=args.frames,
        check_all_files=not args.quick,
    )
    print(format_report(report))
    return 1 if report.num_problems else 0


def _add_synth(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("synth", help="render the synthetic egocentric kitchen in a real dataset format")
    p.add_argument("--format", choices=FORMATS, default="epic100")
    p.add_argument("--preset", choices=("tiny", "small", "medium"), default="tiny")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=2, help="render processes (default 2)")
    p.add_argument("--videos", action="store_true", help="also write the videos (EPIC MP4) beside the frames")
    p.add_argument(
        "--no-flow", action="store_true", help="EPIC only: skip the optical flow (RGB-only runs; about 2x faster)"
    )
    p.add_argument(
        "--still-camera",
        action="store_true",
        help="EPIC only: hold the camera still (no ego-motion, shake or pans), to ablate the wearer's head motion",
    )
    p.add_argument("--overwrite", action="store_true", help="replace OUT_DIR if it exists")
    p.add_argument("out_dir", type=Path, metavar="OUT_DIR")
    p.set_defaults(func=_synth)


def _add_prepare(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("prepare", help="extract frames, optical flow and motion maps")
    steps = p.add_subparsers(dest="step", metavar="STEP", required=True)
    f = steps.add_parser("frames", help="videos -> numbered JPEG frames (PyAV)")
    f.add_argument("input", type=Path, help="a video, a folder of videos, or an EPIC root with P*/videos/")
    f.add_argument("out", type=Path, help="output root")
    f.add_argument("--fps", type=float, default=None, help="resample to this rate (EPIC: 60, or 50 for P*_1**)")
    f.add_argument("--height", type=int, default=None, help="resize to this height, keeping the aspect ratio")
    f.add_argument("--layout", choices=("epic", "plain"), default="epic")
    f.add_argument("--workers", type=int, default=2)
    f.set_defaults(func=_prepare_frames)
    o = steps.add_parser("flow", help="frames -> optical flow images (OpenCV TV-L1 if available, else DIS)")
    o.add_argument("root", type=Path)
    o.add_argument("--layout", choices=("epic", "gtea"), default="epic")
    o.add_argument("--bound", type=float, default=20.0, help="flow magnitude mapped to 0/255 (pixels)")
    o.add_argument("--method", choices=("auto", "tvl1", "dis"), default="auto")
    o.add_argument("--workers", type=int, default=2)
    o.set_defaults(func=_prepare_flow)
    m = steps.add_parser("mmaps", help="GTEA processed layout: flow -> camera-compensated motion maps")
    m.add_argument("root", type=Path)
    m.add_argument("--workers", type=int, default=2)
    m.set_defaults(func=_prepare_mmaps)


def _add_data(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="look at a dataset")
    cmds = p.add_subparsers(dest="data_command", metavar="COMMAND", required=True)
    i = cmds.add_parser("inspect", help="counts per split and class, missing/corrupt files, one sample's shapes")
    i.add_argument("--format", required=True, choices=(*FORMATS, "folder"))
    i.add_argument("--root", required=True, type=Path)
    i.add_argument("--annotations", type=Path, default=None, help="annotation folder or file, if not under root")
    i.add_argument("--frames", type=int, default=8, help="frames decoded per segment (default 8)")
    i.add_argument("--quick", action="store_true", help="skip the check that every frame file exists")
    i.set_defaults(func=_data_inspect)


def build_parser() -> argparse.ArgumentParser:
    """The `egoaction` argument parser with every subcommand."""
    parser = argparse.ArgumentParser(prog="egoaction", description="Video action recognition, egocentric first.")
    parser.add_argument("--version", action="version", version=f"egoaction {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_synth(sub)
    _add_prepare(sub)
    _add_data(sub)
    add_engine_commands(sub)
    add_ego_commands(sub)
    add_model_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `egoaction` console script; returns the process exit code."""
    from egoaction.data.errors import DataError

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.func(args))
    except (DataError, FileNotFoundError, FileExistsError, ValueError) as exc:
        print(f"egoaction: error: {exc}", file=sys.stderr)
        return 1
