"""GTEA61 leave-one-user-out: one run per test user, each tested on exactly that user's instances, mean and std
over the folds, finished folds reused; plus the clear errors for a wrong config or user."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from egoaction.cli import main
from egoaction.config import load_config
from egoaction.engine.fit import datamodule
from egoaction.engine.protocol import fold_config, gtea61_louo, louo_users, summarise

from .conftest import tiny_overrides

USERS = ["S1", "S3"]  # two of the four users keep the test short


def gtea_overrides(root: Path, out: Path) -> list[str]:
    return tiny_overrides(root, out, **{"data.format": "gtea61", "trainer.max_epochs": 1, "eval.gap": False})


def test_louo_trains_and_tests_one_run_per_user(
    synth_root: Callable[[str], Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    root = synth_root("gtea61")
    overrides = gtea_overrides(root, tmp_path / "runs")
    args = ["protocol", "gtea61-louo", "--users", *USERS]
    for item in overrides:
        args += ["--set", item]
    assert main(args) == 0
    table = capsys.readouterr().out
    summary = json.loads((tmp_path / "runs" / "run" / "louo.json").read_text())
    assert summary["users"] == USERS and summary["complete"] and [f["user"] for f in summary["folds"]] == USERS
    for fold in summary["folds"]:
        run = tmp_path / "runs" / "run" / f"test_{fold['user']}"
        assert Path(fold["run_dir"]) == run and (run / "checkpoints" / "best.ckpt").is_file()
        with np.load(run / "eval" / "test" / "scores.npz") as scores:
            tested = set(scores["ids"].tolist())
        user_dir = root / "frames" / fold["user"]
        instances = {f"{fold['user']}/{c.name}/{i.name}" for c in user_dir.iterdir() for i in c.iterdir()}
        assert tested == instances and fold["num_samples"] == len(instances)
    top1 = [f["top1"] for f in summary["folds"]]
    assert summary["mean"]["top1"] == pytest.approx(np.mean(top1))
    assert summary["std"]["top1"] == pytest.approx(np.std(top1))
    assert f"{summary['mean']['top1']:.2f}" in table and "test user" in table

    # a second call reuses the evaluated folds instead of training again
    stamp = (tmp_path / "runs" / "run" / "test_S1" / "checkpoints" / "best.ckpt").stat().st_mtime_ns
    again = gtea61_louo(None, overrides, users=USERS)
    assert again["folds"] == summary["folds"]
    assert (tmp_path / "runs" / "run" / "test_S1" / "checkpoints" / "best.ckpt").stat().st_mtime_ns == stamp
    # another checkpoint choice re-evaluates the trained run, still without training
    last = gtea61_louo(None, overrides, users=["S1"], checkpoint="last")
    assert Path(last["folds"][0]["checkpoint"]).name == "last.ckpt"
    assert (tmp_path / "runs" / "run" / "test_S1" / "checkpoints" / "best.ckpt").stat().st_mtime_ns == stamp


def test_fold_validates_and_tests_on_the_test_user(synth_root: Callable[[str], Path], tmp_path: Path) -> None:
    cfg = load_config(None, gtea_overrides(synth_root("gtea61"), tmp_path))
    fold = fold_config(cfg, "S3")
    assert fold.name == "run/test_S3" and cfg.data.reader_options == {}  # the base config is left alone
    dm = datamodule(fold)
    assert dm.splits == {"train": "train", "val": "test"}  # val = the held-out user
    dm.setup("fit")
    assert {s.participant for s in dm.indexes["val"].segments} == {"S3"}
    assert "S3" not in {s.participant for s in dm.indexes["train"].segments}


def test_wrong_format_or_user_is_a_clear_error(synth_root: Callable[[str], Path], tmp_path: Path) -> None:
    cfg = load_config(None, gtea_overrides(synth_root("gtea61"), tmp_path))
    assert louo_users(cfg) == ["S1", "S2", "S3", "S4"]
    with pytest.raises(ValueError, match=r"\['S9'\] not found"):
        louo_users(cfg, ["S1", "S9"])
    cfg.data.format = "ucf101"
    with pytest.raises(ValueError, match="needs a gtea61 config"):
        louo_users(cfg)


def test_summary_is_mean_and_population_std() -> None:
    folds = [{"top1": 50.0, "top5": 100.0}, {"top1": 70.0, "top5": 90.0}, {"top1": 60.0, "top5": None}]
    summary = summarise(folds)
    assert summary["mean"] == {"top1": 60.0, "top5": 95.0}
    assert summary["std"]["top1"] == pytest.approx(np.sqrt(200 / 3)) and summary["std"]["top5"] == 5.0
