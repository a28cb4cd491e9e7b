"""Late fusion of evaluated runs: hand-computed weighted softmax / logit sums, id alignment, clear mismatch
errors, EPIC submission JSON in and out with labels from the annotations."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from egoaction.cli import main
from egoaction.config import dump_yaml, load_config
from egoaction.data.formats import read_index
from egoaction.engine.fuse import check_weights, fuse_runs
from egoaction.metrics.submission import ScoreSet, read_scores, write_submission

LABELS = np.array([0, 1, 2])
# run A is right on x and z, run B only on y; their fusion is right on all three (worked out in the tests)
A = {"x": [2.0, 0.0, 0.0], "y": [0.0, 0.0, 1.0], "z": [0.0, 0.0, 3.0]}
B = {"z": [1.0, 0.0, 0.0], "x": [0.0, 1.0, 0.0], "y": [0.0, 3.0, 0.0]}  # another id order


def write_npz(run: Path, rows: dict[str, list[float]], *, labels: dict[str, int] | None = None, split="test") -> Path:
    folder = run / "eval" / split
    folder.mkdir(parents=True)
    arrays = {"ids": np.array(list(rows)), "logits_action": np.array(list(rows.values()))}
    if labels is not None:
        arrays["labels_action"] = np.array([labels[i] for i in rows])
    np.savez(folder / "scores.npz", **arrays)
    return run


def hand_softmax(row: list[float]) -> np.ndarray:
    e = np.exp(np.array(row))
    return e / e.sum()


@pytest.fixture()
def runs(tmp_path: Path) -> tuple[Path, Path]:
    truth = dict(zip("xyz", LABELS.tolist()))
    return write_npz(tmp_path / "rgb", A, labels=truth), write_npz(tmp_path / "flow", B)


def test_softmax_fusion_is_the_weighted_mean_of_probabilities(runs: tuple[Path, Path], tmp_path: Path) -> None:
    out = tmp_path / "fused"
    result = fuse_runs(list(runs), [1.0, 3.0], split="test", softmax=True, out=out)
    expected = np.stack([0.25 * hand_softmax(A[i]) + 0.75 * hand_softmax(B[i]) for i in "xyz"])
    with np.load(out / "scores.npz") as data:
        assert data["ids"].tolist() == ["x", "y", "z"]  # the first run's order
        np.testing.assert_allclose(np.exp(data["logits_action"]), expected, rtol=1e-12)
        assert data["labels_action"].tolist() == LABELS.tolist()
    assert result["weights"] == [0.25, 0.75]  # normalised
    per_run = {Path(k).name: v["tasks"]["action"]["top1"] for k, v in result["per_run"].items()}
    assert per_run == pytest.approx({"rgb": 200 / 3, "flow": 100 / 3})
    assert result["tasks"]["action"]["top1"] == pytest.approx(100.0 * np.mean(expected.argmax(1) == LABELS))
    assert json.loads((out / "metrics.json").read_text()) == result


def test_equal_weight_fusion_fixes_both_runs_and_prints_a_table(
    runs: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    # x: mean(p_A, p_B) = (0.787 + 0.212) / 2 = 0.50 for class 0; y: 0.56 for class 1; z: 0.56 for class 2
    assert main(["fuse", *map(str, runs), "--split", "test", "--out", str(tmp_path / "f")]) == 0
    table = capsys.readouterr().out
    assert "action_top1" in table and "fused (0.50, 0.50)" in table
    assert [line.split()[-1] for line in table.splitlines()[1:4]] == ["66.67", "33.33", "100.00"]


def test_logit_fusion_and_normalised_weights(runs: tuple[Path, Path], tmp_path: Path) -> None:
    fuse_runs(list(runs), [2.0, 6.0], split="test", softmax=False, out=tmp_path / "a")
    fuse_runs(list(runs), [0.25, 0.75], split="test", softmax=False, out=tmp_path / "b")
    with np.load(tmp_path / "a" / "scores.npz") as a, np.load(tmp_path / "b" / "scores.npz") as b:
        expected = [0.25 * np.array(A[i]) + 0.75 * np.array(B[i]) for i in "xyz"]
        np.testing.assert_allclose(a["logits_action"], expected)
        np.testing.assert_array_equal(a["logits_action"], b["logits_action"])


def test_fused_folder_can_be_fused_again(runs: tuple[Path, Path], tmp_path: Path) -> None:
    first = fuse_runs(list(runs), None, split="test", out=tmp_path / "f1")
    again = fuse_runs([tmp_path / "f1", tmp_path / "f1"], None, split="test", out=tmp_path / "f2")
    with np.load(tmp_path / "f1" / "scores.npz") as a, np.load(tmp_path / "f2" / "scores.npz") as b:
        np.testing.assert_allclose(a["logits_action"], b["logits_action"], atol=1e-12)  # softmax(log p) = p
    assert again["tasks"] == first["tasks"]


@pytest.mark.parametrize(
    ("weights", "message"),
    [([1.0], "1 weight"), ([1.0, -1.0], "non-negative"), ([0.0, 0.0], "not all zero"), ([1.0, float("nan")], "finite")],
)
def test_bad_weights_are_rejected(weights: list[float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_weights(weights, 2)


def test_mismatched_runs_give_errors_naming_run_and_id(runs: tuple[Path, Path], tmp_path: Path) -> None:
    rgb, _ = runs
    short = write_npz(tmp_path / "short", {k: A[k] for k in "xy"})
    with pytest.raises(ValueError, match=r"short has no scores for id 'z' \(scored by .*rgb\)"):
        fuse_runs([rgb, short], split="test", out=tmp_path / "o")
    extra = write_npz(tmp_path / "extra", {**A, "w": [0.0, 0.0, 0.0]})
    with pytest.raises(ValueError, match=r"rgb has no scores for id 'w' \(scored by .*extra\)"):
        fuse_runs([rgb, extra], split="test", out=tmp_path / "o")
    wide = write_npz(tmp_path / "wide", {k: [*v, 0.0] for k, v in A.items()})
    with pytest.raises(ValueError, match=r"wide: task 'action' has 4 classes, .*rgb has 3"):
        fuse_runs([rgb, wide], split="test", out=tmp_path / "o")
    with pytest.raises(FileNotFoundError, match="egoaction evaluate"):
        fuse_runs([rgb, tmp_path / "nothing"], split="test", out=tmp_path / "o")
    with pytest.raises(ValueError, match="at least two runs"):
        fuse_runs([rgb], split="test", out=tmp_path / "o")
    assert not (tmp_path / "o").exists()  # nothing written on error


def test_cli_reports_mismatch_as_one_line_error(
    runs: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    short = write_npz(tmp_path / "short", {"x": A["x"]})
    assert main(["fuse", str(runs[0]), str(short), "--split", "test", "--out", str(tmp_path / "o")]) == 1
    assert "egoaction: error:" in capsys.readouterr().err


def write_epic_annotations(root: Path) -> list[tuple[str, int, int]]:
    """A three-segment EPIC-100 validation CSV with 3 verbs and 4 nouns; returns (id, verb, noun) per segment."""
    root.mkdir(parents=True)
    (root / "P01" / "rgb_frames" / "P01_01").mkdir(parents=True)
    for name, keys in (("verb", ["take", "put", "open"]), ("noun", ["cup", "pan", "lid", "tap"])):
        rows = "".join(f"{i},{k},['{k}'],c\n" for i, k in enumerate(keys))
        (root / f"EPIC_100_{name}_classes.csv").write_text("id,key,instances,category\n" + rows)
    segments = [("P01_01_0", 0, 1), ("P01_01_1", 2, 3), ("P01_01_2", 1, 0)]
    header = (
        "narration_id,participant_id,video_id,narration_timestamp,start_timestamp,stop_timestamp,start_frame,"
        "stop_frame,narration,verb,verb_class,noun,noun_class,all_nouns,all_noun_classes\n"
    )
    rows = "".join(
        f"{nid},P01,P01_01,00:00:00.00,00:00:00.00,00:00:01.00,1,60,v n,v,{v},n,{n},['n'],[{n}]\n"
        for nid, v, n in segments
    )
    (root / "EPIC_100_validation.csv").write_text(header + rows)
    return segments


def write_epic_run(run: Path, data_root: Path, ids: list[str], verb: np.ndarray, noun: np.ndarray) -> Path:
    cfg = load_config(None, ["data.format=epic100", f"data.root={data_root}"])
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(dump_yaml(cfg))
    write_submission(run / "eval" / "validation" / "scores.json", ScoreSet(ids, verb, noun))
    return run


def test_epic_json_runs_fuse_to_a_submission_scored_with_the_annotations(tmp_path: Path) -> None:
    segments = write_epic_annotations(tmp_path / "epic")
    ids = [s[0] for s in segments]
    rng = np.random.default_rng(0)
    verb_a, noun_a = rng.normal(size=(3, 3)), rng.normal(size=(3, 4))
    verb_b, noun_b = rng.normal(size=(3, 3)), rng.normal(size=(3, 4))
    a = write_epic_run(tmp_path / "a", tmp_path / "epic", ids, verb_a, noun_a)
    b = write_epic_run(tmp_path / "b", tmp_path / "epic", ids, verb_b, noun_b)
    result = fuse_runs([a, b], [1.0, 1.0], split="val", out=tmp_path / "fused")  # val -> 'validation'
    fused = read_scores(tmp_path / "fused" / "scores.json")
    assert fused.narration_ids == ids
    for got, (sa, sb) in ((fused.verb, (verb_a, verb_b)), (fused.noun, (noun_a, noun_b))):
        expected = np.stack([(hand_softmax(x.tolist()) + hand_softmax(y.tolist())) / 2 for x, y in zip(sa, sb)])
        np.testing.assert_allclose(np.exp(got), expected, rtol=1e-9)
    verbs = np.array([s[1] for s in segments])
    assert result["tasks"]["verb"]["top1"] == pytest.approx(100 * np.mean(fused.verb.argmax(1) == verbs))
    assert result["epic"]["all_action_accuracy_at_1"] is not None
    assert set(result["per_run"]) == {str(a), str(b)}


def test_labels_come_from_the_runs_dataset_when_scores_lack_them(
    synth_root: Callable[[str], Path], tmp_path: Path
) -> None:
    root = synth_root("gtea61")
    index = read_index("gtea61", root, "test")  # what `evaluate` scores for GTEA61's default val split
    ids = [s.id for s in index.segments]
    labels = np.array([s.labels["action"] for s in index.segments])
    cfg = load_config(None, ["data.format=gtea61", f"data.root={root}"])
    rng = np.random.default_rng(1)
    runs = []
    for name in ("rgb", "flow"):
        run = write_npz(tmp_path / name, dict(zip(ids, rng.normal(size=(len(ids), 8)).tolist())))
        (run / "config.yaml").write_text(dump_yaml(cfg))
        runs.append(run)
    result = fuse_runs(runs, split="val", out=tmp_path / "fused")  # 'val' resolves to eval/test
    with np.load(tmp_path / "fused" / "scores.npz") as data:
        assert data["labels_action"].tolist() == labels.tolist()
        expected = 100 * np.mean(data["logits_action"].argmax(1) == labels)
    assert result["tasks"]["action"]["top1"] == pytest.approx(expected)
