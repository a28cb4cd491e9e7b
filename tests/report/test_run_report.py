"""Run reports from fake run dirs: tables hold the logged numbers, figures match the report, bad input is named."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from egoaction.report import write_report
from egoaction.report.run_report import best_and_worst, class_stats, read_epochs

VERBS = [f"verb{i}" for i in range(8)]
NOUNS = [f"noun{i}" for i in range(12)]
FIGURES_EPIC = {
    "loss.png",
    "accuracy_verb.png",
    "accuracy_noun.png",
    "confusion_verb.png",
    "confusion_noun.png",
    "per_class_verb.png",
    "per_class_noun.png",
}


def _confusion(correct: list[int], support: list[int]) -> list[list[int]]:
    """A confusion matrix whose class i has ``support[i]`` samples, ``correct[i]`` of them right."""
    n = len(correct)
    matrix = np.zeros((n, n), dtype=int)
    for i, (c, s) in enumerate(zip(correct, support)):
        matrix[i, i] = c
        matrix[i, (i + 1) % n] = s - c
    return matrix.tolist()


def _task(names: list[str], top1: float, top5: float, correct: list[int], support: list[int]) -> dict:
    return {
        "num_samples": sum(support),
        "top1": top1,
        "top5": top5,
        "per_class_accuracy": None,
        "mean_class_precision": top1 - 5.0,
        "mean_class_recall": top1 - 3.0,
        "confusion": _confusion(correct, support),
        "class_names": names,
    }


def _write_eval(run: Path, split: str, record: dict) -> None:
    folder = run / "eval" / split
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps({"split": split, "views": "1x1", "skipped": 0, **record}))


def _write_metrics(run: Path, tasks: tuple[str, ...], *, epochs: int = 3, extra_lines: tuple[str, ...] = ()) -> None:
    lines = []
    for e in range(epochs):
        lines.append(json.dumps({"kind": "step", "epoch": e, "step": e * 10 + 5, "train/loss_step": 2.5}))
        record = {"kind": "epoch", "epoch": e, "step": (e + 1) * 10, "lr": 0.01, "train/loss": 2.0 - 0.5 * e}
        record["val/loss"] = 2.1 - 0.2 * e
        for task in tasks:
            record[f"train/{task}_top1"] = 30.0 + 20 * e
            record[f"val/{task}_top1"] = 25.0 + 10 * e
        lines.append(json.dumps(record))
    lines[1:1] = extra_lines
    (run / "metrics.jsonl").write_text("\n".join(lines) + "\n\n")


def _write_config(run: Path, fmt: str) -> None:
    config = {
        "name": "exp",
        "model": {"name": "tsn_resnet18", "kwargs": {}},
        "data": {"format": fmt, "root": "data/synth"},
        "optim": {"name": "adamw", "lr": 0.0003, "weight_decay": 0.05},
        "trainer": {"max_epochs": 3, "seed": 7},
    }
    (run / "config.yaml").write_text(yaml.safe_dump(config))


@pytest.fixture
def epic_run(tmp_path: Path) -> Path:
    """A run with verb/noun heads evaluated on train and validation, with the EPIC official keys."""
    return _make_epic_run(tmp_path / "epic_run")


@pytest.fixture(scope="module")
def epic_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The EPIC-like run and its report.md text, written once for the tests that only read it."""
    run = _make_epic_run(tmp_path_factory.mktemp("report") / "epic_run")
    return run, write_report(run).read_text()


def _make_epic_run(run: Path) -> Path:
    run.mkdir()
    _write_config(run, "epic100")
    _write_metrics(run, ("verb", "noun"))
    # verb accuracy on validation: 100, 90, 80, 70, 60, 50, 40, 0 (%) — verb7 has 0/5, verb6 2/5
    v_correct, v_support = [10, 9, 8, 7, 6, 5, 2, 0], [10, 10, 10, 10, 10, 10, 5, 5]
    n_correct, n_support = list(range(12)), [12] * 12
    for split, verb_top1, noun_top1 in (("train", 88.5, 77.25), ("validation", 61.0, 50.5)):
        tasks = {
            "verb": _task(VERBS, verb_top1, 95.0, v_correct, v_support),
            "noun": _task(NOUNS, noun_top1, 90.0, n_correct, n_support),
        }
        record = {"dataset": "epic100", "checkpoint": "ckpt/best.ckpt", "num_samples": 70, "tasks": tasks}
        if split == "validation":
            record["epic"] = {
                "all_verb_accuracy_at_1": 61.0,
                "all_noun_accuracy_at_1": 50.5,
                "all_action_accuracy_at_1": 33.3,
                "all_verb_accuracy_at_5": 95.0,
                "tail_action_accuracy_at_1": 12.5,
                "unseen_noun_accuracy_at_1": 44.4,
            }
        _write_eval(run, split, record)
    return run


def _table_rows(markdown: str, first_cells: tuple[str, ...]) -> list[list[str]]:
    """Rows of the Markdown tables starting with the given cells, split into cells."""
    rows = []
    for line in markdown.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and tuple(cells[: len(first_cells)]) == first_cells:
            rows.append(cells)
    return rows


def _section(markdown: str, heading: str) -> str:
    start = markdown.index(heading)
    end = markdown.find("\n#", start + len(heading))
    return markdown[start : end if end != -1 else None]


def test_epic_report_holds_the_numbers_and_the_overfitting_gap(epic_report: tuple[Path, str]) -> None:
    run, text = epic_report
    assert (run / "report" / "report.md").read_text() == text
    assert text.startswith("# Run report: exp (epic_run)")
    assert "| task | metric | train | validation | gap train − validation |" in text
    assert _table_rows(text, ("verb", "top-1")) == [["verb", "top-1", "88.50", "61.00", "+27.50"]]
    assert _table_rows(text, ("noun", "top-1")) == [["noun", "top-1", "77.25", "50.50", "+26.75"]]
    recall = [["noun", "mean class recall", "74.25", "47.50", "+26.75"]]
    assert _table_rows(text, ("noun", "mean class recall")) == recall
    for row in _table_rows(text, ("verb",)) + _table_rows(text, ("noun",)):
        train, val, gap = (float(c) for c in row[2:5])
        assert gap == pytest.approx(train - val)


def test_epic_report_shows_official_keys_and_config(epic_report: tuple[Path, str]) -> None:
    _, text = epic_report
    epic = _section(text, "### EPIC-KITCHENS-100 official metrics (validation)")
    assert "| all @1 | 61.00 | 50.50 | 33.30 |" in epic
    assert "| all @5 | 95.00 | — | — |" in epic
    assert "| tail @1 | — | — | 12.50 |" in epic
    assert "| unseen @1 | — | 44.40 | — |" in epic
    config = _section(text, "## Configuration")
    for key, value in (("model.name", "tsn_resnet18"), ("data.format", "epic100"), ("data.root", "data/synth")):
        assert f"| `{key}` | {value} |" in config
    assert "| `optim.lr` | 0.0003 |" in config and "| `optim.weight_decay` | 0.05 |" in config
    assert "| `trainer.max_epochs` | 3 |" in config
    assert "seed" not in config


def test_training_section_has_last_values_gap_and_best_epoch(epic_report: tuple[Path, str]) -> None:
    _, text = epic_report
    training = _section(text, "## Training")
    assert "3 epoch(s) logged; last epoch 2, step 30." in training
    assert _table_rows(training, ("verb_top1",)) == [["verb_top1", "70.00", "45.00", "+25.00", "45.00 (epoch 2)"]]
    assert _table_rows(training, ("loss",)) == [["loss", "1.00", "1.70", "-0.70", "1.70 (epoch 2)"]]


def test_figures_are_valid_pngs_and_html_references_exactly_them(epic_report: tuple[Path, str]) -> None:
    run, markdown = epic_report
    out = run / "report"
    written = {p.name for p in out.glob("*.png")}
    assert written == FIGURES_EPIC
    for name in written:
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5_000
    page = (out / "report.html").read_text()
    assert set(re.findall(r'<img src="([^"]+)"', page)) == written
    assert "<script" not in page and "http" not in page
    assert set(re.findall(r"!\[[^\]]*\]\(([^)]+)\)", markdown)) == written
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_best_and_worst_classes_with_accuracy_and_support(epic_report: tuple[Path, str]) -> None:
    _, text = epic_report
    verbs = _section(text, "### verb")
    rows = _table_rows(verbs, ("1",)) + [r for k in "2345" for r in _table_rows(verbs, (k,))]
    assert [r[1] for r in rows] == ["verb0", "verb1", "verb2", "verb3", "verb4"]
    assert [r[4] for r in rows] == ["verb7", "verb6", "verb5", "verb4", "verb3"]
    assert rows[0][1:4] == ["verb0", "100.00", "10"]
    assert rows[0][4:7] == ["verb7", "0.00", "5"]
    assert rows[1][4:7] == ["verb6", "40.00", "5"]


def test_gtea_like_single_action_task_uses_test_as_held_out(tmp_path: Path) -> None:
    run = tmp_path / "gtea"
    run.mkdir()
    _write_config(run, "gtea61")
    _write_metrics(run, ("action",))
    names = [f"close_c{i}" for i in range(6)]
    for split, top1 in (("train", 90.0), ("test", 62.5)):
        tasks = {"action": _task(names, top1, 99.0, [4, 3, 2, 1, 0, 4], [4] * 6)}
        tasks["action"]["video_top1"] = top1 + 1.0
        _write_eval(run, split, {"dataset": "gtea61", "num_samples": 24, "tasks": tasks})
    text = write_report(run).read_text()
    assert "| task | metric | train | test | gap train − test |" in text
    assert _table_rows(text, ("action", "top-1")) == [["action", "top-1", "90.00", "62.50", "+27.50"]]
    assert _table_rows(text, ("action", "video top-1")) == [["action", "video top-1", "91.00", "63.50", "+27.50"]]
    assert "verb" not in text and "EPIC" not in text
    written = {p.name for p in (run / "report").glob("*.png")}
    assert written == {"loss.png", "accuracy_action.png", "confusion_action.png", "per_class_action.png"}
    assert "Best and worst classes (test)" in text


def test_run_without_eval_says_how_to_evaluate(tmp_path: Path) -> None:
    run = tmp_path / "fresh"
    run.mkdir()
    _write_metrics(run, ("verb", "noun"))
    text = write_report(run).read_text()
    assert f"not evaluated yet: run `egoaction evaluate {run}`" in text
    assert "config.yaml missing" in text
    page = (run / "report" / "report.html").read_text()
    assert f"not evaluated yet: run <code>egoaction evaluate {run}</code>" in page
    written = {p.name for p in (run / "report").glob("*.png")}
    assert written == {"loss.png", "accuracy_verb.png", "accuracy_noun.png"}
    assert set(re.findall(r'<img src="([^"]+)"', page)) == written


def test_figures_of_an_earlier_report_are_removed(epic_run: Path) -> None:
    write_report(epic_run)
    for split in ("train", "validation"):
        (epic_run / "eval" / split / "metrics.json").unlink()
    write_report(epic_run)
    written = {p.name for p in (epic_run / "report").glob("*.png")}
    assert written == {"loss.png", "accuracy_verb.png", "accuracy_noun.png"}


def test_malformed_jsonl_line_is_skipped_with_a_warning(tmp_path: Path) -> None:
    run = tmp_path / "bad"
    run.mkdir()
    _write_metrics(run, ("action",), extra_lines=('{"kind": "epoch", "epoch": 1, "train/loss": ',))
    with pytest.warns(UserWarning, match=r"metrics\.jsonl:2: skipped malformed line"):
        text = write_report(run).read_text()
    assert "## Problems found while reading the run" in text
    assert f"{run / 'metrics.jsonl'}:2" in text
    assert "3 epoch(s) logged" in text


def test_bad_eval_file_is_reported_not_fatal(epic_run: Path) -> None:
    (epic_run / "eval" / "train" / "metrics.json").write_text("{not json")
    with pytest.warns(UserWarning, match=r"eval/train/metrics\.json: not valid JSON"):
        text = write_report(epic_run).read_text()
    assert "| task | metric | validation |" in text  # no train column, so no gap column


def test_missing_metrics_jsonl_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "metrics.jsonl"))):
        write_report(tmp_path)
    assert not (tmp_path / "report").exists()


def test_read_epochs_keeps_epoch_records_only_and_last_of_a_repeated_epoch(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    lines = [
        {"kind": "epoch", "epoch": 1, "train/loss": 1.0},
        {"kind": "step", "epoch": 0, "step": 3, "train/loss_step": 9.0},
        {"kind": "epoch", "epoch": 0, "train/loss": 2.0},
        {"kind": "hparams", "lr": 0.1},
        {"kind": "epoch", "epoch": 1, "train/loss": 0.5},  # a resumed run logs epoch 1 again
    ]
    path.write_text("\r\n".join(json.dumps(line) for line in lines) + "\r\n\r\n")
    assert read_epochs(path) == [lines[2], lines[4]]


def test_class_stats_from_per_class_fractions_without_confusion() -> None:
    stats = class_stats({"per_class_accuracy": [0.5, None, 1.0, 0.25], "class_names": ["a", "b", "c", "d"]})
    assert stats is not None and stats.support is None
    np.testing.assert_allclose(stats.accuracy, [50.0, np.nan, 100.0, 25.0])
    assert best_and_worst(stats, k=2) == ([2, 0], [3, 0])
    assert class_stats({"per_class_accuracy": None}) is None


def test_ties_rank_the_class_with_more_support_first() -> None:
    stats = class_stats({"confusion": _confusion([0, 0, 3, 1], [2, 6, 3, 1]), "class_names": list("abcd")})
    assert stats is not None
    best, worst = best_and_worst(stats, k=2)
    assert best == [2, 3]  # both 100 %, c has 3 samples
    assert worst == [1, 0]  # both 0 %, b has 6 samples
