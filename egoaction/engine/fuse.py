"""`egoaction fuse`: late fusion of evaluated runs (two-stream RGB + flow, ensembles) from their score files.

Each run contributes the scores ``evaluate`` wrote to ``eval/<split>/``: ``scores.npz`` (``ids`` and
``logits_<task>`` (N, C), optionally ``labels_<task>`` (N,)) or the EPIC submission ``scores.json`` (verb and
noun). The runs must score the same ids with the same tasks and classes. Per task the fused score is the weighted
sum of the runs' softmax probabilities (or of their raw logits with ``softmax=False``); weights must be finite and
non-negative and are normalised to sum to 1. In softmax mode the file holds ``log(sum_i w_i p_i)``: its softmax
is the fused probability, and EPIC's action scoring (which treats scores as logits) then ranks (verb, noun) pairs by
``p_verb * p_noun``. The fused folder holds a score file in the inputs' format plus ``metrics.json``, and can itself
be fused again.
"""

from __future__ import annotations

import json
import math
import sys
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from egoaction.atomic import atomic_path, write_text_atomic
from egoaction.config import ExperimentConfig, load_config
from egoaction.data.segment import Segment
from egoaction.engine.predict import softmax

SCORE_FILES = ("scores.npz", "scores.json")
EPIC_TASKS = ("verb", "noun")


@dataclass
class RunScores:
    """The scores of one run on one split: ``scores[task]`` (N, C), aligned with ``ids``."""

    name: str
    path: Path
    ids: list[str]
    scores: dict[str, np.ndarray]
    labels: dict[str, np.ndarray] = field(default_factory=dict)  # (N,) per task, when the file carries them
    class_names: dict[str, list[str]] = field(default_factory=dict)  # from metrics.json beside the scores
    config: ExperimentConfig | None = None

    @property
    def epic(self) -> bool:
        """True for an EPIC submission JSON (verb + noun)."""
        return self.path.suffix == ".json"


def score_folder(run: str | Path, split: str) -> Path:
    """The folder holding a run's score file: ``run`` itself, ``run/eval/<split>``, or the split ``split`` names in
    the run's config (``val`` -> ``test`` for GTEA61 and UCF101, ``validation`` for EPIC)."""
    run = Path(run)
    if any((run / name).is_file() for name in SCORE_FILES):
        return run
    folder = run / "eval" / split
    if not folder.is_dir() and (run / "config.yaml").is_file():
        from egoaction.engine.fit import datamodule

        folder = run / "eval" / datamodule(_config(run)).splits.get(split, split)
    if not any((folder / name).is_file() for name in SCORE_FILES):
        raise FileNotFoundError(
            f"{run}: no scores.npz or scores.json in {folder} (run `egoaction evaluate {run} --split {split}` first)"
        )
    return folder


def _config(run_dir: Path) -> ExperimentConfig:
    return load_config(run_dir / "config.yaml")


def _run_config(folder: Path) -> ExperimentConfig | None:
    """The config of the run an ``eval/<split>`` folder belongs to, when there is one."""
    run_dir = folder.parent.parent
    if folder.parent.name == "eval" and (run_dir / "config.yaml").is_file():
        return _config(run_dir)
    return None


def read_run(run: str | Path, split: str) -> RunScores:
    """A run's scores of ``split`` (npz or EPIC JSON), the class names of its metrics.json and its config."""
    folder = score_folder(run, split)
    npz, jsn = folder / SCORE_FILES[0], folder / SCORE_FILES[1]
    if npz.is_file() and jsn.is_file():
        raise ValueError(f"{folder} holds both scores.npz and scores.json; remove the stale one")
    result = _read_npz(str(run), npz) if npz.is_file() else _read_epic(str(run), jsn)
    metrics = folder / "metrics.json"
    if metrics.is_file():
        tasks = json.loads(metrics.read_text()).get("tasks", {})
        result.class_names = {t: r["class_names"] for t, r in tasks.items() if "class_names" in r}
    result.config = _run_config(folder)
    _check_unique(result)
    return result


def _read_npz(name: str, path: Path) -> RunScores:
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError, zipfile.BadZipFile) as err:
        raise ValueError(f"{path}: not a readable .npz score file ({type(err).__name__}: {err})") from err
    if "ids" not in arrays:
        raise ValueError(f"{path}: no 'ids' array (expected ids and logits_<task>, as `evaluate` writes)")
    ids = [str(i) for i in arrays["ids"].tolist()]
    scores = {k[len("logits_") :]: v.astype(np.float64) for k, v in arrays.items() if k.startswith("logits_")}
    labels = {k[len("labels_") :]: v.astype(np.int64) for k, v in arrays.items() if k.startswith("labels_")}
    if not scores:
        raise ValueError(f"{path}: no logits_<task> array")
    for task, array in scores.items():
        if array.ndim != 2 or len(array) != len(ids):
            raise ValueError(f"{path}: logits_{task} has shape {array.shape}, expected ({len(ids)}, classes)")
    return RunScores(name, path, ids, scores, labels)


def _read_epic(name: str, path: Path) -> RunScores:
    from egoaction.metrics.submission import read_scores

    scores = read_scores(path)  # its own "action" entries, if any, are not fused: actions come from verb x noun
    return RunScores(name, path, scores.narration_ids, {"verb": scores.verb, "noun": scores.noun})


def _check_unique(run: RunScores) -> None:
    counts = Counter(run.ids)
    if len(counts) != len(run.ids):
        duplicate = next(i for i, n in counts.items() if n > 1)
        raise ValueError(f"{run.name}: id {duplicate!r} is scored twice in {run.path}")


def check_compatible(runs: list[RunScores]) -> None:
    """ValueError naming the run and the first id / task / class where a run differs from the first one."""
    first = runs[0]
    known = set(first.ids)
    for run in runs[1:]:
        if run.epic != first.epic:
            raise ValueError(f"{run.name} ({run.path.name}) and {first.name} ({first.path.name}) mix score formats")
        have = set(run.ids)
        lacking = next((i for i in first.ids if i not in have), None)
        if lacking is not None:
            raise ValueError(f"{run.name} has no scores for id {lacking!r} (scored by {first.name})")
        extra = next((i for i in run.ids if i not in known), None)
        if extra is not None:
            raise ValueError(f"{first.name} has no scores for id {extra!r} (scored by {run.name})")
        if set(run.scores) != set(first.scores):
            raise ValueError(f"{run.name} scores tasks {sorted(run.scores)}, {first.name} {sorted(first.scores)}")
        for task, array in run.scores.items():
            _check_classes(run, first, task, array.shape[1])


def _check_classes(run: RunScores, first: RunScores, task: str, count: int) -> None:
    expected = first.scores[task].shape[1]
    if count != expected:
        raise ValueError(f"{run.name}: task {task!r} has {count} classes, {first.name} has {expected}")
    names, ref = run.class_names.get(task), first.class_names.get(task)
    if names is not None and ref is not None and names != ref:
        k = next(i for i, (a, b) in enumerate(zip(names, ref)) if a != b)
        raise ValueError(f"{run.name}: {task} class {k} is {names[k]!r}, in {first.name} it is {ref[k]!r}")


def align(runs: list[RunScores]) -> None:
    """Reorder every run's rows (scores and labels) to the first run's id order, in place."""
    order = runs[0].ids
    for run in runs[1:]:
        where = {i: n for n, i in enumerate(run.ids)}
        rows = np.array([where[i] for i in order], dtype=np.int64)
        run.scores = {t: v[rows] for t, v in run.scores.items()}
        run.labels = {t: v[rows] for t, v in run.labels.items()}
        run.ids = list(order)


def check_weights(weights: list[float] | None, count: int) -> np.ndarray:
    """One finite, non-negative weight per run (default equal), not all zero -> weights normalised to sum to 1."""
    w = np.ones(count) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (count,):
        raise ValueError(f"--weights: got {w.size} weight(s) for {count} runs (give one per run)")
    if not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"--weights must be finite, non-negative and not all zero, got {w.tolist()}")
    return np.asarray(w / w.sum())


def fuse_scores(scores: list[np.ndarray], weights: np.ndarray, *, use_softmax: bool = True) -> np.ndarray:
    """Weighted sum of (N, C) score arrays: log of the fused probabilities with ``use_softmax``, else of logits."""
    if not use_softmax:
        return np.asarray(sum(w * s for w, s in zip(weights, scores)))
    probs = sum(w * softmax(s) for w, s in zip(weights, scores))
    # the tiny floor keeps a probability that underflowed to 0 finite (JSON score files cannot hold -inf)
    return np.asarray(np.log(np.maximum(probs, np.finfo(np.float64).tiny)))


@dataclass
class Labels:
    """Ground truth of the fused ids: ``labels[task]`` (N,); the segments and config when read from the dataset."""

    labels: dict[str, np.ndarray]
    segments: list[Segment] | None = None
    config: ExperimentConfig | None = None
    split: str = ""


def find_labels(runs: list[RunScores]) -> Labels:
    """Labels from the score files when they carry them, else from the first run's dataset, read as ``evaluate``
    reads it (an EPIC run's annotation CSV); none (scores only) when neither exists or the split is unlabelled."""
    for run in runs:
        if run.labels:
            return Labels(run.labels)
    for run in runs:
        if run.config is not None:
            return _dataset_labels(run, run.config, run.path.parent.name)
    print("fuse: no labels (no labels_<task> arrays and no run config.yaml): writing scores only", file=sys.stderr)
    return Labels({})


def _dataset_labels(run: RunScores, cfg: ExperimentConfig, split: str) -> Labels:
    from egoaction.data.formats import read_index
    from egoaction.engine.fit import datamodule

    dm = datamodule(cfg)
    index = read_index(dm.format, dm.root, split, **dm.reader_options)
    by_id = {s.id: s for s in index.segments}
    missing = next((i for i in run.ids if i not in by_id), None)
    if missing is not None:
        raise ValueError(f"{run.name}: id {missing!r} is not in the {split!r} split of {dm.root}")
    segments = [by_id[i] for i in run.ids]
    tasks = [t for t in run.scores if all(t in s.labels for s in segments)]
    labels = {t: np.array([s.labels[t] for s in segments], dtype=np.int64) for t in tasks}
    return Labels(labels, segments, cfg, split)


def score_metrics(scores: dict[str, np.ndarray], truth: Labels) -> dict[str, Any]:
    """Top-1/top-5 (percent) per labelled task of scores (N, C); EPIC's official keys when verb and noun are
    labelled and the segments are known."""
    from egoaction.metrics.classification import topk_accuracy

    out: dict[str, Any] = {"tasks": {}}
    for task, y in truth.labels.items():
        top = topk_accuracy(scores[task], y, (1, 5))
        out["tasks"][task] = {"num_samples": len(y), "top1": _finite(top[1]), "top5": _finite(top[5])}
    if truth.segments is not None and truth.config is not None and set(EPIC_TASKS) <= set(truth.labels):
        from egoaction.engine.evaluate import epic_split_metrics

        logits = {t: scores[t][:, None] for t in EPIC_TASKS}  # (N, 1 view, C), as evaluate passes them
        out["epic"] = epic_split_metrics(
            {"logits": logits, "labels": truth.labels}, truth.segments, truth.config, truth.split
        )
    return out


def _finite(value: float) -> float | None:
    return None if math.isnan(value) else value


def write_fused(folder: Path, first: RunScores, fused: dict[str, np.ndarray], labels: dict[str, np.ndarray]) -> Path:
    """The fused score file, in the inputs' format, written atomically; npz files keep the labels."""
    if first.epic:
        from egoaction.metrics.submission import ScoreSet, write_submission

        path = folder / SCORE_FILES[1]
        return write_submission(path, ScoreSet(first.ids, fused["verb"], fused["noun"], None, {}))
    path = folder / SCORE_FILES[0]
    arrays: dict[str, Any] = {"ids": np.array(first.ids)}
    arrays |= {f"logits_{t}": v for t, v in fused.items()} | {f"labels_{t}": v for t, v in labels.items()}
    with atomic_path(path) as tmp, tmp.open("wb") as f:
        np.savez(f, **arrays)
    return path


def fuse_runs(
    runs: list[str | Path],
    weights: list[float] | None = None,
    split: str = "val",
    softmax: bool = True,
    out: str | Path = "fused",
) -> dict[str, Any]:
    """Fuse the ``split`` scores of ``runs`` into ``out`` (score file + metrics.json); returns the metrics."""
    if len(runs) < 2:
        raise ValueError(f"fuse needs at least two runs, got {len(runs)}")
    w = check_weights(weights, len(runs))
    loaded = [read_run(run, split) for run in runs]
    check_compatible(loaded)
    align(loaded)
    fused = {t: fuse_scores([r.scores[t] for r in loaded], w, use_softmax=softmax) for t in loaded[0].scores}
    truth = find_labels(loaded)
    result: dict[str, Any] = {
        "split": split,
        "runs": [r.name for r in loaded],
        "weights": w.tolist(),
        "softmax": softmax,
        "num_samples": len(loaded[0].ids),
        **score_metrics(fused, truth),
        "per_run": {r.name: score_metrics(r.scores, truth) for r in loaded},
    }
    # written only once everything is computed, so a failure leaves no fused folder behind
    out = Path(out)
    result["scores"] = str(write_fused(out, loaded[0], fused, truth.labels))
    write_text_atomic(out / "metrics.json", json.dumps(result, indent=1, allow_nan=False))
    return result


def format_fusion(result: dict[str, Any]) -> str:
    """A table: top-1 per task (and EPIC action) of each run and of the fusion."""
    rows = list(result["per_run"].items())
    weights = ", ".join(f"{w:.2f}" for w in result["weights"])
    rows.append((f"fused ({weights})", result))
    columns: list[tuple[str, tuple[str, ...]]] = [(f"{t}_top1", ("tasks", t, "top1")) for t in result["tasks"]]
    if "epic" in result:
        columns.append(("action_top1", ("epic", "all_action_accuracy_at_1")))
    if not columns:
        return f"fused {len(rows) - 1} runs into {result['scores']} (no labels: no accuracy)"
    width = max(len(name) for name, _ in rows)
    lines = [f"{'run':<{width}}  " + "  ".join(f"{header:>12}" for header, _ in columns)]
    for name, metrics in rows:
        values = [_lookup(metrics, keys) for _, keys in columns]
        lines.append(f"{name:<{width}}  " + "  ".join(f"{v:>12}" for v in values))
    return "\n".join(lines)


def _lookup(metrics: dict[str, Any], keys: tuple[str, ...]) -> str:
    value: Any = metrics
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return "-" if value is None else f"{value:.2f}"
