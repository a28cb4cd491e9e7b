"""Command line: a thin dispatcher. Each subcommand parses its arguments and calls one library function."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from egoaction import __version__


def build_parser() -> argparse.ArgumentParser:
    """The `egoaction` argument parser with every subcommand."""
    parser = argparse.ArgumentParser(prog="egoaction", description=__doc__)
    parser.add_argument("--version", action="version", version=f"egoaction {__version__}")
    parser.add_subparsers(dest="command", metavar="COMMAND")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `egoaction` console script; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    return int(args.func(args))
