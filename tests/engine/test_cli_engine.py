"""The engine commands end to end on the tiny kitchen: train -> evaluate -> epic-score/submission -> predict -> report,
and the clear errors users get for a wrong config key, a missing checkpoint and an undecodable video."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from egoaction.cli import main

from .conftest import tiny_overrides


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, synth_root: Callable[[str], Path]) -> tuple[Path, Path]:
    """(run directory, dataset root) of one tiny training run made through the CLI."""
    root = synth_root("epic100")
    out = tmp_path_factory.mktemp("cli")
    args = ["train"]
    for item in tiny_overrides(root, out / "runs"):
        args += ["--set", item]
    assert main(args) == 0
    return out / "runs" / "run", root


def test_evaluate_scores_round_trip_through_epic_score(
    trained: tuple[Path, Path], capsys: pytest.CaptureFixture
) -> None:
    run, root = trained
    assert main(["evaluate", str(run), "--views", "2x1", "--workers", "0"]) == 0
    metrics = json.loads((run / "eval" / "validation" / "metrics.json").read_text())
    assert metrics["views"] == "2x1" and (run / "eval" / "train" / "metrics.json").is_file()
    assert {"all_action_accuracy_at_1", "unseen_noun_accuracy_at_1", "tail_action_accuracy_at_1"} <= set(
        metrics["epic"]
    )
    capsys.readouterr()
    scores = run / "eval" / "validation" / "scores.json"
    common = [
        "--annotations", str(root / "EPIC_100_validation.csv"),
        "--unseen", str(root / "EPIC_100_unseen_participant_ids_validation.csv"),
        "--tail-verbs", str(root / "EPIC_100_tail_verbs.csv"),
        "--tail-nouns", str(root / "EPIC_100_tail_nouns.csv"),
    ]  # fmt: skip
    assert main(["epic-score", "--scores", str(scores), *common]) == 0
    assert json.loads(capsys.readouterr().out) == pytest.approx(metrics["epic"])
    zipped = run / "submission.zip"
    assert main(["epic-submission", "--scores", str(scores), "--out", str(zipped)]) == 0
    capsys.readouterr()
    assert main(["epic-score", "--scores", str(zipped), *common]) == 0
    assert json.loads(capsys.readouterr().out) == pytest.approx(metrics["epic"])
    assert main(["report", str(run)]) == 0
    assert (run / "report" / "report.html").is_file()


def test_predict_on_frames_lists_top_k(trained: tuple[Path, Path], capsys: pytest.CaptureFixture) -> None:
    run, root = trained
    frames = next((root / "P01" / "rgb_frames").iterdir())
    assert main(["predict", str(frames), "--checkpoint", str(run), "--top-k", "3", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    nouns = result["tasks"]["noun"]
    assert len(nouns) == 3 and [r["probability"] for r in nouns] == sorted(
        (r["probability"] for r in nouns), reverse=True
    )
    action = result["actions"][0]
    verbs = result["tasks"]["verb"]
    assert action["action_id"] == verbs[0]["class"] * 1000 + nouns[0]["class"]


def test_undecodable_video_is_a_clear_error(trained: tuple[Path, Path], tmp_path: Path, capsys) -> None:
    run, _ = trained
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video at all" * 100)
    assert main(["predict", str(bad), "--checkpoint", str(run)]) == 1
    err = capsys.readouterr().err
    assert "broken.mp4" in err and "Traceback" not in err


def test_wrong_key_and_missing_checkpoint_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["train", "configs/demo.yaml", "--set", "optim.lrr=1"]) == 1
    assert "did you mean 'optim.lr'" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path / "missing_run")]) == 1
    assert "missing_run" in capsys.readouterr().err
