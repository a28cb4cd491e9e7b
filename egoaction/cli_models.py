"""Command line, model half: ``egoaction models list`` and ``egoaction models info NAME``."""

from __future__ import annotations

import argparse
import inspect
import json

import yaml

# the keys of egoaction.models.info.DATASET_TASKS, spelled out so that building the parser does not import torch
DATASETS = ("epic100", "gtea61", "ucf101")


def _list(args: argparse.Namespace) -> int:
    from egoaction.models import list_models
    from egoaction.models._registry import model_factory

    names = list_models(args.pattern)
    if not names:
        print(f"no registered model matches {args.pattern!r}")
        return 1
    if args.markdown:
        print(_markdown(names, args.dataset))
        return 0
    width = max(len(n) for n in names)
    for name in names:
        doc = inspect.getdoc(model_factory(name)) or ""
        print(f"{name:<{width}}  {doc.splitlines()[0] if doc else ''}")
    return 0


def _markdown(names: list[str], dataset: str) -> str:
    """A markdown table of every model in ``names``: parameters with ``dataset``'s heads, FLOPs, default input."""
    from egoaction.models.info import DATASET_TASKS, model_info

    lines = [
        f"| model | parameters ({dataset} heads) | GFLOPs per clip | default input (T x modality x HxW) |",
        "|---|---|---|---|",
    ]
    for name in names:
        info = model_info(name, DATASET_TASKS[dataset])
        flops = f"{info.flops / 1e9:.1f}" if info.flops is not None else "-"
        lines.append(f"| `{name}` | {info.params:,} | {flops} | {info.input.describe()} |")
    return "\n".join(lines)


def _parse_kwargs(pairs: list[str]) -> dict[str, object]:
    """``["dropout=0.3", "arch=resnet18"]`` -> {"dropout": 0.3, "arch": "resnet18"} (values parsed as YAML)."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--kwarg expects KEY=VALUE, got {pair!r}")
        out[key] = yaml.safe_load(value)
    return out


def _info(args: argparse.Namespace) -> int:
    from egoaction.models.info import DATASET_TASKS, format_info, model_info

    info = model_info(args.name, DATASET_TASKS[args.dataset], flops=not args.no_flops, **_parse_kwargs(args.kwarg))
    if args.json:
        record = {
            "name": info.name,
            "task_spec": info.task_spec,
            "params": info.params,
            "trainable": info.trainable,
            "flops": info.flops,
            "input": {
                "frames": info.input.frames,
                "size": list(info.input.size),
                "channels": dict(info.input.channels),
                "frames_per_modality": {m: info.input.frames_of(m) for m, _ in info.input.channels},
            },
        }
        print(json.dumps(record, indent=2))
    else:
        print(format_info(info))
    return 0


def add_model_commands(sub: argparse._SubParsersAction) -> None:
    """Register ``models list`` and ``models info`` on the top-level subparsers."""
    p = sub.add_parser("models", help="list the registered models, or show one's size and expected input")
    cmds = p.add_subparsers(dest="models_command", metavar="COMMAND", required=True)
    ls = cmds.add_parser("list", help="every registered model name with a one-line description")
    ls.add_argument("pattern", nargs="?", default="*", help="shell-style filter, e.g. 'tsm_*'")
    ls.add_argument("--markdown", action="store_true", help="a table with parameters, FLOPs and input (slower)")
    ls.add_argument("--dataset", choices=DATASETS, default="epic100", help="whose heads --markdown counts")
    ls.set_defaults(func=_list)
    info = cmds.add_parser("info", help="parameters with a dataset's heads, FLOPs per clip, expected input")
    info.add_argument("name", help="a registered model name (see `egoaction models list`)")
    info.add_argument("--dataset", choices=DATASETS, default="epic100", help="whose heads to attach")
    info.add_argument("--kwarg", action="append", default=[], metavar="KEY=VALUE", help="a factory argument")
    info.add_argument("--no-flops", action="store_true", help="skip the FLOP count (one forward pass)")
    info.add_argument("--json", action="store_true", help="print a JSON record instead of text")
    info.set_defaults(func=_info)
