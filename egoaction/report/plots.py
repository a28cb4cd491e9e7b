"""Report figures, one function per figure; each writes a PNG atomically and returns its path.

Figures are drawn on a bare ``Figure`` with the Agg canvas (no pyplot), so nothing touches global backend state
and no figure outlives its function.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from egoaction.atomic import atomic_path

# Above this many classes tick labels overlap even at the largest figure size, so they are dropped.
MAX_LABELLED_CLASSES = 100
BEST_COLOR, WORST_COLOR, OTHER_COLOR = "tab:green", "tab:red", "tab:gray"


def plot_loss(epochs: Sequence[Mapping[str, Any]], path: str | Path) -> Path | None:
    """Train vs val loss per epoch from epoch records (``train/loss``, ``val/loss``); None when neither is logged."""
    series = {name: _series(epochs, f"{name}/loss") for name in ("train", "val")}
    return _curves(series, path, ylabel="loss", title="Loss per epoch")


def plot_accuracy(epochs: Sequence[Mapping[str, Any]], task: str, path: str | Path) -> Path | None:
    """Train vs val top-1 (%) of one task per epoch (``train/<task>_top1``, ``val/<task>_top1``); None if not logged."""
    series = {name: _series(epochs, f"{name}/{task}_top1") for name in ("train", "val")}
    return _curves(series, path, ylabel="top-1 accuracy (%)", title=f"{task} top-1 per epoch")


def plot_confusion(
    confusion: Sequence[Sequence[float]] | np.ndarray, class_names: Sequence[str], path: str | Path, *, title: str = ""
) -> Path:
    """Row-normalised confusion matrix (C, C), rows = true class, columns = predicted; names on axes up to 100."""
    counts = np.asarray(confusion, dtype=np.float64)
    support = counts.sum(axis=1, keepdims=True)
    rates = np.divide(counts, support, out=np.zeros_like(counts), where=support > 0)
    n = len(rates)
    labelled = n <= MAX_LABELLED_CLASSES
    fontsize = float(np.clip(600.0 / max(n, 1), 5.0, 9.0))
    # about 0.15 inch per class keeps 6 pt names legible up to 100 classes
    side = float(np.clip(2.0 + 0.15 * n, 4.0, 16.0)) if labelled else 9.0
    margin = 0.6 + (_label_inches(class_names, fontsize) if labelled else 0.0)
    fig, ax = _axes(side, side, left=margin, bottom=margin, right=1.3, top=0.5)
    image = ax.imshow(rates, cmap="Blues", vmin=0.0, vmax=1.0, interpolation="nearest", aspect="auto")
    width, height = fig.get_size_inches()
    cax = fig.add_axes(((margin + side + 0.2) / width, margin / height, 0.2 / width, side / height))
    fig.colorbar(image, cax=cax, label="fraction of true class")
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title or f"Confusion matrix ({n} classes, row-normalised)")
    if labelled:
        ticks = np.arange(n)
        ax.set_xticks(ticks, labels=list(class_names), rotation=90, fontsize=fontsize)
        ax.set_yticks(ticks, labels=list(class_names), fontsize=fontsize)
    else:
        ax.set_xticks([])
        ax.set_yticks([])
    return _save(fig, path)


def plot_per_class(
    accuracy: Sequence[float] | np.ndarray,
    class_names: Sequence[str],
    path: str | Path,
    *,
    best: Sequence[int] = (),
    worst: Sequence[int] = (),
    title: str = "",
) -> Path:
    """Per-class accuracy (%) as bars sorted best to worst, ``best`` class indices in green and ``worst`` in red.

    NaN entries (classes without samples) are left out; highlighted classes get a marker so 0 % stays visible.
    """
    values = np.asarray(accuracy, dtype=np.float64)
    marked = set(best) | set(worst)
    rest = [i for i in np.argsort(-values, kind="stable").tolist() if i not in marked and not np.isnan(values[i])]
    # best is ranked high-to-low and worst low-to-high, so this order never breaks the descending sort
    order = [*best, *rest, *reversed([i for i in worst if i not in set(best)])]
    colors = [BEST_COLOR if i in best else WORST_COLOR if i in worst else OTHER_COLOR for i in order]
    n = len(order)
    labelled = n <= MAX_LABELLED_CLASSES
    fontsize = float(np.clip(600.0 / max(n, 1), 5.0, 9.0))
    bottom = 0.2 + (_label_inches([class_names[i] for i in order], fontsize) if labelled else 0.3)
    fig, ax = _axes(float(np.clip(0.15 * n, 5.0, 15.0)), 3.5, left=0.8, bottom=bottom, right=0.2, top=0.4)
    xs = np.arange(n)
    ax.bar(xs, values[order], color=colors, width=0.85)
    for x, i, color in zip(xs, order, colors):
        if i in marked:
            ax.plot(x, values[i], marker="o", markersize=4, color=color)
    ax.set_ylim(-3, 103)
    ax.set_ylabel("accuracy (%)")
    ax.set_xlim(-0.6, n - 0.4)
    ax.set_title(title or f"Per-class accuracy ({n} classes with samples)")
    if labelled:
        ax.set_xticks(xs, labels=[class_names[i] for i in order], rotation=90, fontsize=fontsize)
    else:
        ax.set_xticks([])
        ax.set_xlabel("classes, sorted by accuracy")
    _legend_names(ax, [class_names[i] for i in best], [class_names[i] for i in worst])
    return _save(fig, path)


def _series(epochs: Sequence[Mapping[str, Any]], key: str) -> tuple[list[float], list[float]]:
    """(epoch numbers, values) of one key over the epochs that logged it."""
    xs, ys = [], []
    for record in epochs:
        value = record.get(key)
        if isinstance(value, int | float) and "epoch" in record:
            xs.append(float(record["epoch"]))
            ys.append(float(value))
    return xs, ys


def _curves(
    series: Mapping[str, tuple[list[float], list[float]]], path: str | Path, *, ylabel: str, title: str
) -> Path | None:
    """Line plot of named (x, y) series against epoch; None when every series is empty."""
    if not any(xs for xs, _ in series.values()):
        return None
    fig = _figure(6.4, 4.0)
    ax = fig.add_subplot()
    for name, (xs, ys) in series.items():
        if xs:
            ax.plot(xs, ys, marker="o", markersize=3, label=name)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return _save(fig, path)


def _legend_names(ax: Any, best: Sequence[str], worst: Sequence[str]) -> None:
    """Legend naming the best and worst classes, readable even when tick labels are dropped."""
    from matplotlib.patches import Patch

    handles = [Patch(color=BEST_COLOR, label=f"best: {', '.join(best)}")] if best else []
    if worst:
        handles.append(Patch(color=WORST_COLOR, label=f"worst: {', '.join(worst)}"))
    if handles:
        ax.legend(handles=handles, loc="upper right", fontsize=7)


def _figure(width: float, height: float) -> Figure:
    """A figure attached to the Agg canvas, laid out by matplotlib (fine for few labels)."""
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _axes(width: float, height: float, *, left: float, bottom: float, right: float, top: float) -> tuple[Figure, Any]:
    """A figure with one axes of ``width`` x ``height`` inches inside fixed margins (inches).

    Fixed margins instead of a layout engine: with 100 rotated class names, constrained layout doubles the drawing time.
    """
    fig_w, fig_h = left + width + right, bottom + height + top
    fig = Figure(figsize=(fig_w, fig_h), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((left / fig_w, bottom / fig_h, width / fig_w, height / fig_h))
    return fig, ax


def _label_inches(names: Sequence[str], fontsize: float) -> float:
    """Rough length in inches of the longest class name at ``fontsize`` points (axis label room included)."""
    longest = max((len(name) for name in names), default=0)
    return 0.6 * fontsize / 72.0 * longest + 0.3


def _save(fig: Figure, path: str | Path) -> Path:
    """Write the figure as PNG through a temporary file, so a reader never sees half a PNG."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return path
