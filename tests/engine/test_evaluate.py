"""Evaluation of single-label datasets (UCF101, GTEA61): views, per-class report, confusion, overfitting gap."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from egoaction.config import load_config
from egoaction.engine.evaluate import evaluate
from egoaction.engine.fit import train

from .conftest import tiny_overrides


@pytest.mark.parametrize("fmt", ["ucf101", "gtea61"])
def test_single_label_datasets_train_and_evaluate_with_views(
    fmt: str, synth_root: Callable[[str], Path], tmp_path: Path
) -> None:
    overrides = tiny_overrides(synth_root(fmt), tmp_path / "runs", **{"data.format": fmt, "trainer.max_epochs": 1})
    run_dir = train(load_config(None, overrides))
    results = evaluate(run_dir, views="2x3", progress=False)
    test, train_split = results["test"], results["train"]  # the test split, then the overfitting gap
    assert "epic" not in test and set(test["tasks"]) == {"action"}
    report = test["tasks"]["action"]
    classes = len(report["class_names"])
    assert test["views"] == "2x3" and report["num_samples"] == test["num_samples"] > 0
    assert np.array(report["confusion"]).shape == (classes, classes)
    assert np.array(report["confusion"]).sum() == report["num_samples"]
    assert len(report["per_class_accuracy"]) == classes and 0 <= report["clip_top1"] <= 100
    assert train_split["split"] == "train" and (run_dir / "eval" / "test" / "metrics.json").is_file()
