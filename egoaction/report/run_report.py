"""`egoaction report RUN_DIR`: read a run directory and write report.md + report.html + figures into RUN_DIR/report/.

The report is built once as a list of blocks (headings, paragraphs, tables, images) and rendered twice, so the
Markdown and the HTML always say the same thing.
"""

from __future__ import annotations

import html
import json
import math
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from egoaction.atomic import write_text_atomic
from egoaction.report import plots

CONFIG_KEYS = ("name", "model.name", "data.format", "data.root", "optim.", "schedule.name", "trainer.max_epochs")
# The held-out split the overfitting gap is measured against, first one present wins.
HELD_OUT_SPLITS = ("validation", "val", "test")
EVAL_METRICS = (
    ("top1", "top-1"),
    ("top5", "top-5"),
    ("mean_class_precision", "mean class precision"),
    ("mean_class_recall", "mean class recall"),
    ("video_top1", "video top-1"),
)
EPIC_KEY = re.compile(r"^(?P<subset>\w+?)_(?P<task>verb|noun|action)_accuracy_at_(?P<k>\d+)$")
# Names of every figure this module writes; older ones that a new report does not write again are removed.
FIGURE_PATTERNS = ("loss.png", "accuracy_*.png", "confusion_*.png", "per_class_*.png")
DASH = "—"


@dataclass
class Heading:
    """A section title; level 1 is the page title."""

    text: str
    level: int = 2


@dataclass
class Paragraph:
    """Plain text; `backticks` mark code."""

    text: str


@dataclass
class Table:
    """A table of already formatted cells."""

    headers: list[str]
    rows: list[list[str]]


@dataclass
class Image:
    """A figure, referenced by its file name relative to the report folder."""

    file: str
    alt: str


Block = Heading | Paragraph | Table | Image


@dataclass
class RunData:
    """Everything the report shows, as read from the run directory."""

    run_dir: Path
    config: dict[str, Any] = field(default_factory=dict)
    epochs: list[dict[str, Any]] = field(default_factory=list)
    evals: dict[str, dict[str, Any]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


@dataclass
class ClassStats:
    """Per-class accuracy (%) and support of one task on one split; NaN accuracy = no samples."""

    names: list[str]
    accuracy: np.ndarray
    support: np.ndarray | None


def write_report(run_dir: str | Path) -> Path:
    """Write RUN_DIR/report/{report.md, report.html, *.png} and return the path of report.md."""
    run = read_run(run_dir)
    out = run.run_dir / "report"
    out.mkdir(exist_ok=True)
    figures = _write_figures(run, out)
    _remove_stale_figures(out, keep={p.name for p in figures.values()})
    blocks = build_report(run, {key: p.name for key, p in figures.items()})
    write_text_atomic(out / "report.html", render_html(blocks))
    return write_text_atomic(out / "report.md", render_markdown(blocks))


def read_run(run_dir: str | Path) -> RunData:
    """Read config.yaml, the epoch records of metrics.jsonl and every eval/<split>/metrics.json of a run."""
    run_dir = Path(run_dir)
    metrics = run_dir / "metrics.jsonl"
    if not metrics.is_file():
        raise FileNotFoundError(f"{metrics}: no such file (expected the metrics.jsonl of a training run)")
    run = RunData(run_dir)
    run.epochs = read_epochs(metrics, problems=run.problems)
    run.config = _read_config(run_dir / "config.yaml", run.problems)
    for path in sorted((run_dir / "eval").glob("*/metrics.json")):
        record = _read_eval(path, run.problems)
        if record is not None:
            run.evals[path.parent.name] = record
    return run


def read_epochs(path: str | Path, *, problems: list[str] | None = None) -> list[dict[str, Any]]:
    """Epoch records of a metrics.jsonl, sorted by epoch (a repeated epoch keeps its last record).

    Malformed lines are skipped with a warning naming file and line; other kinds and blank lines are ignored.
    """
    path = Path(path)
    by_epoch: dict[int, dict[str, Any]] = {}
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                if not isinstance(record, dict):
                    raise ValueError("expected a JSON object")
                if record.get("kind") == "epoch" and not isinstance(record.get("epoch"), int):
                    raise ValueError("epoch record without an integer 'epoch'")
            except ValueError as exc:
                message = f"{path}:{lineno}: skipped malformed line ({exc})"
                warnings.warn(message, stacklevel=2)
                if problems is not None:
                    problems.append(message)
                continue
            if record.get("kind") == "epoch":
                by_epoch[record["epoch"]] = record
    return [by_epoch[e] for e in sorted(by_epoch)]


def build_report(run: RunData, figures: Mapping[str, str]) -> list[Block]:
    """The report as blocks; ``figures`` maps figure keys (``loss``, ``confusion_verb``…) to written file names."""
    name = run.config.get("name") if isinstance(run.config.get("name"), str) else None
    title = f"Run report: {name} ({run.run_dir.name})" if name and name != run.run_dir.name else None
    blocks: list[Block] = [Heading(title or f"Run report: {run.run_dir.name}", level=1)]
    blocks.append(Paragraph(f"Run directory: `{run.run_dir}`"))
    if run.problems:
        blocks += [Heading("Problems found while reading the run"), *(Paragraph(p) for p in run.problems)]
    blocks += _config_section(run.config)
    blocks += _training_section(run.epochs)
    blocks += _eval_section(run)
    blocks += _figures_section(figures)
    blocks += _classes_section(run)
    return blocks


def task_names(run: RunData) -> list[str]:
    """Task heads of a run in first-seen order: from eval files, then from ``*/<task>_top1`` epoch keys."""
    tasks: dict[str, None] = {}
    for record in run.evals.values():
        tasks.update(dict.fromkeys(record.get("tasks", {})))
    for epoch in run.epochs:
        for key in epoch:
            match = re.fullmatch(r"(?:train|val)/(\w+)_top1", key)
            if match:
                tasks[match.group(1)] = None
    return list(tasks)


def class_stats(task: Mapping[str, Any]) -> ClassStats | None:
    """Per-class accuracy (%) and support of one task entry of an eval file: from the confusion matrix
    (rows = true class) when present, else from ``per_class_accuracy``; None when neither is there."""
    confusion = _confusion(task)
    if confusion is not None:
        support = confusion.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            accuracy = np.where(support > 0, 100.0 * np.diag(confusion) / support, np.nan)
        return ClassStats(_class_names(task, len(accuracy)), accuracy, support)
    values = task.get("per_class_accuracy")
    if not isinstance(values, list) or not values:
        return None
    accuracy = np.array([v if isinstance(v, int | float) else np.nan for v in values], dtype=np.float64)
    if np.nanmax(accuracy, initial=0.0) <= 1.0:  # fractions, not percent
        accuracy = accuracy * 100.0
    return ClassStats(_class_names(task, len(accuracy)), accuracy, None)


def best_and_worst(stats: ClassStats, k: int = 5) -> tuple[list[int], list[int]]:
    """Indices of the ``k`` most and least accurate classes with samples; ties go to the larger support."""
    support = stats.support if stats.support is not None else np.zeros(len(stats.accuracy))
    have = [i for i in range(len(stats.accuracy)) if not math.isnan(stats.accuracy[i])]
    best = sorted(have, key=lambda i: (-stats.accuracy[i], -support[i], i))[:k]
    worst = sorted(have, key=lambda i: (stats.accuracy[i], -support[i], i))[:k]
    return best, worst


def render_markdown(blocks: Sequence[Block]) -> str:
    """The blocks as GitHub-flavoured Markdown."""
    parts = []
    for block in blocks:
        if isinstance(block, Heading):
            parts.append(f"{'#' * block.level} {block.text}")
        elif isinstance(block, Paragraph):
            parts.append(block.text)
        elif isinstance(block, Table):
            lines = [_md_row(block.headers), _md_row(["---"] * len(block.headers))]
            lines += [_md_row(row) for row in block.rows]
            parts.append("\n".join(lines))
        else:
            parts.append(f"![{block.alt}]({block.file})")
    return "\n\n".join(parts) + "\n"


def render_html(blocks: Sequence[Block]) -> str:
    """The blocks as one self-contained HTML page (inline CSS, images by relative path, no scripts)."""
    title = next((b.text for b in blocks if isinstance(b, Heading)), "Run report")
    body = []
    for block in blocks:
        if isinstance(block, Heading):
            body.append(f"<h{block.level}>{_inline_html(block.text)}</h{block.level}>")
        elif isinstance(block, Paragraph):
            body.append(f"<p>{_inline_html(block.text)}</p>")
        elif isinstance(block, Table):
            head = "".join(f"<th>{_inline_html(h)}</th>" for h in block.headers)
            rows = "".join("<tr>" + "".join(f"<td>{_inline_html(c)}</td>" for c in row) + "</tr>" for row in block.rows)
            body.append(f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>{rows}</tbody>\n</table>")
        else:
            src, alt = html.escape(block.file), html.escape(block.alt)
            body.append(f'<figure><img src="{src}" alt="{alt}"><figcaption>{alt}</figcaption></figure>')
    return _HTML_PAGE.format(title=html.escape(title), body="\n".join(body))


_HTML_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
th, td {{ border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; }}
th {{ background: #f3f3f3; }}
code {{ background: #f3f3f3; padding: 0 0.2em; }}
img {{ max-width: 100%; }}
figure {{ margin: 1em 0; }}
</style>
</head>
<body>
{body}
</body>
</html>
"""


def _config_section(config: Mapping[str, Any]) -> list[Block]:
    """The config keys a reader needs to place the run."""
    blocks: list[Block] = [Heading("Configuration")]
    flat = dict(_flatten(config))
    # config values are shown as written (a learning rate of 3e-4 must not round to 0.00)
    rows = [[f"`{k}`", _cell(v, raw=True)] for p in CONFIG_KEYS for k, v in flat.items() if _matches(k, p)]
    if rows:
        blocks.append(Table(["key", "value"], rows))
    else:
        blocks.append(Paragraph("No configuration found (config.yaml missing or empty)."))
    return blocks


def _training_section(epochs: Sequence[Mapping[str, Any]]) -> list[Block]:
    """Last-epoch train/val values, their gap and the best val value with its epoch."""
    blocks: list[Block] = [Heading("Training")]
    if not epochs:
        return [*blocks, Paragraph("metrics.jsonl holds no epoch records yet.")]
    last = epochs[-1]
    step = last.get("step", DASH)
    blocks.append(Paragraph(f"{len(epochs)} epoch(s) logged; last epoch {last['epoch']}, step {step}."))
    metrics = dict.fromkeys(k.split("/", 1)[1] for e in epochs for k in e if k.startswith(("train/", "val/")))
    rows = []
    for metric in metrics:
        train, val = _last(epochs, f"train/{metric}"), _last(epochs, f"val/{metric}")
        best = _best(epochs, f"val/{metric}", lower_is_better="loss" in metric)
        gap = train - val if train is not None and val is not None else None
        best_cell = f"{_cell(best[1])} (epoch {best[0]})" if best else DASH
        rows.append([metric, _cell(train), _cell(val), _cell(gap, signed=True), best_cell])
    headers = ["metric", "train (last)", "val (last)", "gap train − val", "best val (epoch)"]
    return [*blocks, Table(headers, rows)]


def _eval_section(run: RunData) -> list[Block]:
    """Final metrics per task and split side by side, the overfitting gap, and the EPIC official keys."""
    blocks: list[Block] = [Heading("Final metrics")]
    if not run.evals:
        return [*blocks, Paragraph(f"not evaluated yet: run `egoaction evaluate {run.run_dir}`")]
    splits = sorted(run.evals, key=lambda s: (s != "train", s))
    held_out = _held_out(splits)
    gap = "train" in run.evals and held_out is not None
    info_keys = ("dataset", "checkpoint", "views", "num_samples", "skipped")
    info = [[s, *(_cell(run.evals[s].get(k)) for k in info_keys)] for s in splits]
    blocks.append(Table(["split", "dataset", "checkpoint", "views", "samples", "skipped"], info))
    headers = ["task", "metric", *splits, *([f"gap train − {held_out}"] if gap else [])]
    rows = []
    for task in task_names(run):
        entries = {s: run.evals[s].get("tasks", {}).get(task, {}) for s in splits}
        for key, label in EVAL_METRICS:
            values = {s: _number(entries[s].get(key)) for s in splits}
            if all(v is None for v in values.values()):
                continue
            row = [task, label, *(_cell(values[s]) for s in splits)]
            if gap:
                train, val = values["train"], values[held_out or ""]
                row.append(_cell(train - val if train is not None and val is not None else None, signed=True))
            rows.append(row)
    blocks.append(Table(headers, rows))
    for split in splits:
        blocks += _epic_section(split, run.evals[split].get("epic"))
    return blocks


def _epic_section(split: str, epic: Any) -> list[Block]:
    """The official EPIC-100 keys of one split as a subset x task table."""
    if not isinstance(epic, Mapping) or not epic:
        return []
    cells: dict[str, dict[str, str]] = {}
    others = []
    for key, value in epic.items():
        match = EPIC_KEY.match(key)
        if match:
            cells.setdefault(f"{match['subset']} @{match['k']}", {})[match["task"]] = _cell(value)
        else:
            others.append([f"`{key}`", _cell(value)])
    rows = [[row, *(by_task.get(t, DASH) for t in ("verb", "noun", "action"))] for row, by_task in cells.items()]
    blocks: list[Block] = [Heading(f"EPIC-KITCHENS-100 official metrics ({split})", level=3)]
    blocks.append(Table(["subset @k", "verb", "noun", "action"], rows))
    if others:
        blocks.append(Table(["other key", "value"], others))
    return blocks


def _figures_section(figures: Mapping[str, str]) -> list[Block]:
    """Every written figure, curves first."""
    if not figures:
        return []
    blocks: list[Block] = [Heading("Figures")]
    for key, file in figures.items():
        blocks.append(Image(file, key.replace("_", " ")))
    return blocks


def _classes_section(run: RunData) -> list[Block]:
    """The five best and worst classes per task on the split the figures show."""
    split = _figure_split(run)
    if split is None:
        return []
    blocks: list[Block] = [Heading(f"Best and worst classes ({split})")]
    for task, entry in run.evals[split].get("tasks", {}).items():
        stats = class_stats(entry)
        if stats is None:
            continue
        best, worst = best_and_worst(stats)
        rows = []
        for rank in range(max(len(best), len(worst))):
            rows.append([str(rank + 1), *_class_cells(stats, best, rank), *_class_cells(stats, worst, rank)])
        headers = ["#", "best class", "accuracy", "support", "worst class", "accuracy", "support"]
        blocks += [Heading(task, level=3), Table(headers, rows)]
    return blocks


def _write_figures(run: RunData, out: Path) -> dict[str, Path]:
    """Draw every figure the run has data for; keys name the figures in report order."""
    written: dict[str, Path | None] = {"loss": plots.plot_loss(run.epochs, out / "loss.png")}
    for task in task_names(run):
        written[f"accuracy_{task}"] = plots.plot_accuracy(run.epochs, task, out / f"accuracy_{task}.png")
    split = _figure_split(run)
    for task, entry in run.evals[split].get("tasks", {}).items() if split else ():
        confusion = _confusion(entry)
        title = f"{task} ({split})"
        if confusion is not None:
            names, path = _class_names(entry, len(confusion)), out / f"confusion_{task}.png"
            written[f"confusion_{task}"] = plots.plot_confusion(confusion, names, path, title=title)
        stats = class_stats(entry)
        if stats is not None:
            best, worst = best_and_worst(stats)
            path = out / f"per_class_{task}.png"
            written[f"per_class_{task}"] = plots.plot_per_class(
                stats.accuracy, stats.names, path, best=best, worst=worst, title=title
            )
    return {key: path for key, path in written.items() if path is not None}


def _remove_stale_figures(out: Path, keep: set[str]) -> None:
    """Delete figures of an earlier report that this one did not draw, so the folder matches the report."""
    for pattern in FIGURE_PATTERNS:
        for path in out.glob(pattern):
            if path.name not in keep:
                path.unlink()


def _read_config(path: Path, problems: list[str]) -> dict[str, Any]:
    """The resolved config as a mapping; a missing file gives {}, a bad one a recorded problem."""
    if not path.is_file():
        return {}
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        _problem(problems, f"{path}: not valid YAML ({exc})")
        return {}
    if config is None:
        return {}
    if not isinstance(config, dict):
        _problem(problems, f"{path}: expected a YAML mapping, got {type(config).__name__}")
        return {}
    return config


def _read_eval(path: Path, problems: list[str]) -> dict[str, Any] | None:
    """One eval/<split>/metrics.json, or None (with a recorded problem) when it is not a JSON object with tasks."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        _problem(problems, f"{path}: not valid JSON ({exc})")
        return None
    if not isinstance(record, dict) or not isinstance(record.get("tasks", {}), dict):
        _problem(problems, f"{path}: expected a JSON object with a 'tasks' mapping")
        return None
    return record


def _problem(problems: list[str], message: str) -> None:
    """Record a problem for the report and warn about it."""
    warnings.warn(message, stacklevel=3)
    problems.append(message)


def _confusion(task: Mapping[str, Any]) -> np.ndarray | None:
    """The task's confusion matrix as a square float array, or None when absent or not square."""
    value = task.get("confusion")
    if not value:
        return None
    try:
        matrix = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return matrix if matrix.ndim == 2 and matrix.shape[0] == matrix.shape[1] else None


def _class_names(task: Mapping[str, Any], n: int) -> list[str]:
    """The task's class names, or the class ids when names are missing or the count does not match."""
    names = task.get("class_names")
    if isinstance(names, list) and len(names) == n:
        return [str(name) for name in names]
    return [str(i) for i in range(n)]


def _class_cells(stats: ClassStats, indices: Sequence[int], rank: int) -> list[str]:
    """Name, accuracy and support cells of the ``rank``-th class in ``indices``; dashes past the end."""
    if rank >= len(indices):
        return [DASH] * 3
    i = indices[rank]
    support = _cell(int(stats.support[i])) if stats.support is not None else DASH
    return [stats.names[i], _cell(float(stats.accuracy[i])), support]


def _figure_split(run: RunData) -> str | None:
    """The split whose confusion and per-class figures are drawn: the held-out one, else any."""
    return _held_out(list(run.evals)) or next(iter(sorted(run.evals)), None)


def _held_out(splits: Iterable[str]) -> str | None:
    """The first held-out split name present."""
    present = set(splits)
    return next((s for s in HELD_OUT_SPLITS if s in present), None)


def _last(epochs: Sequence[Mapping[str, Any]], key: str) -> float | None:
    """The value of ``key`` in the last epoch that logged it."""
    for epoch in reversed(epochs):
        value = _number(epoch.get(key))
        if value is not None:
            return value
    return None


def _best(epochs: Sequence[Mapping[str, Any]], key: str, *, lower_is_better: bool) -> tuple[int, float] | None:
    """(epoch, value) of the best value of ``key``; the earliest epoch wins ties."""
    found = [(e["epoch"], v) for e in epochs if (v := _number(e.get(key))) is not None]
    if not found:
        return None
    sign = 1.0 if lower_is_better else -1.0
    return min(found, key=lambda ev: (sign * ev[1], ev[0]))


def _number(value: Any) -> float | None:
    """A finite int/float as float, else None (bools and strings are not metrics)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _cell(value: Any, *, signed: bool = False, raw: bool = False) -> str:
    """A table cell: floats with two decimals unless ``raw``, None as a dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return DASH
    if isinstance(value, float) and not raw:
        return f"{value:+.2f}" if signed else f"{value:.2f}"
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


def _flatten(mapping: Mapping[str, Any], prefix: str = "") -> Iterable[tuple[str, Any]]:
    """(dotted key, value) pairs of a nested mapping; leaves only."""
    for key, value in mapping.items():
        if isinstance(value, Mapping) and value:
            yield from _flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def _matches(key: str, pattern: str) -> bool:
    """Whether a dotted key is ``pattern`` or, for patterns ending in '.', lies under it."""
    return key.startswith(pattern) if pattern.endswith(".") else key == pattern


def _md_row(cells: Sequence[str]) -> str:
    """One Markdown table row; pipes inside cells are escaped."""
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def _inline_html(text: str) -> str:
    """Escaped text with `backtick` spans as <code>."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text, quote=False))
