"""Report figures: valid PNGs, row-normalised confusion, readable labels up to 100 classes, sorted per-class bars."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure

from egoaction.report import plots

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert len(data) > 5_000, f"{path} is suspiciously small ({len(data)} bytes)"


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> list[Figure]:
    """Figures drawn by the plot functions, kept for inspection after they are saved."""
    figures: list[Figure] = []
    save = plots._save

    def keep(fig: Figure, path: str | Path) -> Path:
        figures.append(fig)
        return save(fig, path)

    monkeypatch.setattr(plots, "_save", keep)
    return figures


def _epochs() -> list[dict]:
    return [
        {"kind": "epoch", "epoch": 0, "train/loss": 2.0, "val/loss": 2.2, "train/verb_top1": 20.0},
        {"kind": "epoch", "epoch": 1, "train/loss": 1.5, "train/verb_top1": 35.0, "val/verb_top1": 30.0},
        {"kind": "epoch", "epoch": 2, "train/loss": 1.1, "val/loss": 1.8, "train/verb_top1": 50.0, "val/verb_top1": 41},
    ]


def test_loss_plots_train_and_val_where_logged(tmp_path: Path, captured: list[Figure]) -> None:
    path = plots.plot_loss(_epochs(), tmp_path / "loss.png")
    assert path == tmp_path / "loss.png"
    _assert_png(path)
    lines = {line.get_label(): line for line in captured[0].axes[0].get_lines()}
    assert list(lines["train"].get_xdata()) == [0, 1, 2]
    assert list(lines["val"].get_xdata()) == [0, 2]  # epoch 1 logged no val/loss
    assert list(lines["val"].get_ydata()) == [2.2, 1.8]


def test_curves_without_data_give_no_figure(tmp_path: Path) -> None:
    assert plots.plot_loss([{"kind": "epoch", "epoch": 0}], tmp_path / "loss.png") is None
    assert plots.plot_accuracy(_epochs(), "noun", tmp_path / "accuracy_noun.png") is None
    assert not list(tmp_path.iterdir())


def test_accuracy_plots_top1_of_the_task(tmp_path: Path, captured: list[Figure]) -> None:
    path = plots.plot_accuracy(_epochs(), "verb", tmp_path / "accuracy_verb.png")
    assert path is not None
    _assert_png(path)
    lines = {line.get_label(): line for line in captured[0].axes[0].get_lines()}
    assert list(lines["val"].get_ydata()) == [30.0, 41.0]


def test_confusion_is_row_normalised_with_class_names(tmp_path: Path, captured: list[Figure]) -> None:
    confusion = np.array([[8, 2, 0], [1, 1, 2], [0, 0, 0]])
    names = ["take", "put", "open"]
    _assert_png(plots.plot_confusion(confusion, names, tmp_path / "c.png"))
    ax = captured[0].axes[0]
    shown = np.asarray(ax.images[0].get_array())
    np.testing.assert_allclose(shown, [[0.8, 0.2, 0.0], [0.25, 0.25, 0.5], [0, 0, 0]])  # empty row stays zero
    assert [t.get_text() for t in ax.get_xticklabels()] == names
    assert [t.get_text() for t in ax.get_yticklabels()] == names


def test_confusion_labels_up_to_100_classes_and_drops_them_for_300(tmp_path: Path, captured: list[Figure]) -> None:
    rng = np.random.default_rng(0)
    for n in (100, 300):
        names = [f"class{i}" for i in range(n)]
        _assert_png(plots.plot_confusion(rng.integers(0, 5, (n, n)), names, tmp_path / f"c{n}.png"))
    labelled, bare = captured[0].axes[0], captured[1].axes[0]
    assert len(labelled.get_xticklabels()) == 100
    assert min(t.get_fontsize() for t in labelled.get_xticklabels()) >= 5
    assert len(bare.get_xticks()) == 0 and len(bare.get_yticks()) == 0


def test_per_class_bars_sorted_with_best_and_worst_highlighted(tmp_path: Path, captured: list[Figure]) -> None:
    accuracy = [50.0, np.nan, 90.0, 10.0, 0.0, 70.0]
    names = ["a", "b", "c", "d", "e", "f"]
    _assert_png(plots.plot_per_class(accuracy, names, tmp_path / "p.png", best=[2], worst=[4, 3]))
    ax = captured[0].axes[0]
    bars = ax.patches
    assert [bar.get_height() for bar in bars] == [90.0, 70.0, 50.0, 10.0, 0.0]  # NaN class left out
    assert [t.get_text() for t in ax.get_xticklabels()] == ["c", "f", "a", "d", "e"]
    colors = [bar.get_facecolor() for bar in bars]
    assert colors[0] != colors[1] and colors[3] == colors[4] != colors[1]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["best: c", "worst: e, d"]
