"""`egoaction protocol gtea61-louo`: GTEA61 leave-one-user-out, one training run per test user.

Fold ``u`` trains the config with ``data.reader_options.test_user = u`` into ``<output_dir>/<name>/test_<u>``,
evaluates it on that fold's ``test`` split (user ``u``'s instances) and records its top-1 / top-5. The summary,
``<output_dir>/<name>/louo.json``, holds every fold and the mean and population standard deviation (ddof 0) over
the folds; it is rewritten after each fold, so an interrupted protocol shows what is done. Running the protocol
again does not retrain a fold whose run finished (was evaluated) with the same resolved config; a fold with a
half-finished run is an error until ``overwrite`` is given.

A GTEA61 config validates on the ``test`` split by default (``DEFAULT_SPLITS`` in egoaction.data.dataset), i.e. on
the held-out user, so ``best.ckpt`` is the epoch with the best accuracy on the test user itself (optimistic model
selection; GTEA61 has no separate validation split); ``checkpoint="last"`` reports the last epoch instead. The
fixed split (test on S2) is simply the config as it is.
"""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from egoaction.atomic import write_text_atomic
from egoaction.config import ExperimentConfig, dump_yaml, load_config

CHECKPOINTS = ("best", "last")


def louo_users(cfg: ExperimentConfig, users: Sequence[str] | None = None) -> list[str]:
    """The test users of the protocol: ``users`` (checked against the dataset's) or every user folder."""
    from egoaction.data.formats.gtea61 import gtea61_folds

    if cfg.data.format != "gtea61":
        raise ValueError(f"data.format is {cfg.data.format!r}; the gtea61-louo protocol needs a gtea61 config")
    present = gtea61_folds(cfg.data.root, layout=cfg.data.reader_options.get("layout", "auto"))
    if not present:
        raise FileNotFoundError(f"no GTEA61 user folders under {cfg.data.root}")
    chosen = list(users) if users else present
    unknown = [u for u in chosen if u not in present]
    if unknown:
        raise ValueError(f"--users {unknown} not found in {cfg.data.root} (users: {present})")
    if len(set(chosen)) != len(chosen):
        raise ValueError(f"--users lists a user twice: {chosen}")
    return chosen


def fold_config(cfg: ExperimentConfig, user: str) -> ExperimentConfig:
    """``cfg`` with ``user`` as the test user, named ``<name>/test_<user>``."""
    fold = copy.deepcopy(cfg)
    fold.data.reader_options["test_user"] = user
    fold.name = f"{cfg.name}/test_{user}"
    return fold


def _trained(cfg: ExperimentConfig) -> Path | None:
    """The fold's test metrics.json when its run finished training (it is evaluated only then) with this very
    config, else None."""
    run_dir = Path(cfg.output_dir) / cfg.name
    metrics = run_dir / "eval" / "test" / "metrics.json"
    config = run_dir / "config.yaml"
    if metrics.is_file() and config.is_file() and config.read_text() == dump_yaml(cfg):
        return metrics
    return None


def run_fold(cfg: ExperimentConfig, *, checkpoint: str = "best", overwrite: bool = False) -> dict[str, Any]:
    """Train (unless already trained) and evaluate one fold; returns its record (run_dir, top1, top5, ...)."""
    from egoaction.engine.evaluate import evaluate
    from egoaction.engine.fit import train

    user = cfg.data.reader_options["test_user"]
    done = None if overwrite else _trained(cfg)
    metrics = json.loads(done.read_text()) if done is not None else None
    if done is not None:
        run_dir = done.parent.parent.parent
        print(f"louo: fold {user} is already trained ({run_dir}), not training it again", file=sys.stderr)
    else:
        run_dir = train(cfg, overwrite=overwrite)
    if metrics is None or Path(metrics.get("checkpoint", "")).name != f"{checkpoint}.ckpt":
        # a run directory resolves to best.ckpt (last.ckpt when no epoch was validated)
        target = run_dir if checkpoint == "best" else run_dir / "checkpoints" / "last.ckpt"
        metrics = evaluate(target, split="test")["test"]
    report = metrics["tasks"]["action"]
    return {
        "user": user,
        "run_dir": str(run_dir),
        "checkpoint": metrics.get("checkpoint"),
        "num_samples": report["num_samples"],
        "top1": report["top1"],
        "top5": report["top5"],
    }


def summarise(folds: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean and population std (ddof 0) of top1 / top5 over the fold records."""
    summary: dict[str, Any] = {"mean": {}, "std": {}}
    for key in ("top1", "top5"):
        values = np.array([f[key] for f in folds if f[key] is not None], dtype=np.float64)
        summary["mean"][key] = float(values.mean()) if len(values) else None
        summary["std"][key] = float(values.std()) if len(values) else None
    return summary


def gtea61_louo(
    config: str | Path | None,
    overrides: Sequence[str] = (),
    *,
    users: Sequence[str] | None = None,
    checkpoint: str = "best",
    overwrite: bool = False,
) -> dict[str, Any]:
    """Leave-one-user-out on GTEA61: train + evaluate one run per test user; writes and returns louo.json."""
    if checkpoint not in CHECKPOINTS:
        raise ValueError(f"checkpoint must be one of {CHECKPOINTS}, got {checkpoint!r}")
    cfg = load_config(config, list(overrides))
    chosen = louo_users(cfg, users)
    path = Path(cfg.output_dir) / cfg.name / "louo.json"
    result: dict[str, Any] = {
        "protocol": "gtea61-louo",
        "config": str(config) if config is not None else None,
        "overrides": list(overrides),
        "name": cfg.name,
        "users": chosen,
        "checkpoint": checkpoint,
        "folds": [],
        "complete": False,
    }
    for user in chosen:
        result["folds"].append(run_fold(fold_config(cfg, user), checkpoint=checkpoint, overwrite=overwrite))
        result.update(summarise(result["folds"]))
        result["complete"] = len(result["folds"]) == len(chosen)
        write_text_atomic(path, json.dumps(result, indent=1, allow_nan=False))
    result["path"] = str(path)
    return result


def format_louo(result: dict[str, Any]) -> str:
    """Per-user top-1 / top-5 and the mean and std over users, as a plain-text table."""

    def cell(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}"

    lines = [f"{'test user':<10} {'samples':>8} {'top1':>8} {'top5':>8}"]
    for fold in result["folds"]:
        lines.append(f"{fold['user']:<10} {fold['num_samples']:>8} {cell(fold['top1']):>8} {cell(fold['top5']):>8}")
    for key in ("mean", "std"):
        lines.append(f"{key:<10} {'':>8} {cell(result[key]['top1']):>8} {cell(result[key]['top5']):>8}")
    return "\n".join(lines)
