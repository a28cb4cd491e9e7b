"""epic_score / epic_submission on a hand-written annotation folder (6 verbs, 8 nouns, 6 segments)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from egoaction.data.errors import FormatError
from egoaction.metrics.scoring import epic_score, epic_submission
from egoaction.metrics.submission import ScoreSet, SubmissionError, read_scores, write_submission

HEADER = (
    "narration_id,participant_id,video_id,narration_timestamp,start_timestamp,stop_timestamp,"
    "start_frame,stop_frame,narration,verb,verb_class,noun,noun_class,all_nouns,all_noun_classes"
)
# (narration id, participant, true verb, true noun, predicted verb, predicted noun); predictions score 2,
# true classes 1 (so a wrong one ranks 2nd), except the last row whose true classes score -1 (ranked last).
ROWS = [
    ("P01_01_0", "P01", 0, 0, 0, 0),
    ("P01_01_1", "P01", 1, 1, 1, 2),
    ("P02_01_0", "P02", 2, 2, 2, 2),
    ("P02_01_1", "P02", 3, 3, 0, 3),
    ("P03_01_0", "P03", 3, 4, 3, 4),
    ("P03_01_1", "P03", 0, 1, 1, 0),
]
IDS = [r[0] for r in ROWS]


def write_annotations(folder: Path, rows=ROWS, class_files: bool = True) -> Path:
    """EPIC-style CSVs in ``folder``: validation annotations, class lists, unseen participants, tail classes."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = [HEADER]
    for i, (nid, pid, v, n, _, _) in enumerate(rows):
        video = nid.rsplit("_", 1)[0]
        label = f"verb{v} noun{n},verb{v},{v},noun{n},{n},['noun{n}'],[{n}]"
        lines.append(f"{nid},{pid},{video},00:00:0{i}.000,00:00:0{i}.00,00:00:0{i}.50,1,30,{label}")
    (folder / "EPIC_100_validation.csv").write_text("\n".join(lines) + "\n")
    if class_files:
        for name, count in (("verb", 6), ("noun", 8)):
            body = "".join(f"{i},{name}{i},\"['{name}{i}']\",misc\n" for i in range(count))
            (folder / f"EPIC_100_{name}_classes.csv").write_text("id,key,instances,category\n" + body)
    (folder / "EPIC_100_unseen_participant_ids_validation.csv").write_text("participant_id\nP02\n")
    (folder / "EPIC_100_tail_verbs.csv").write_text("verb\n3\n")
    (folder / "EPIC_100_tail_nouns.csv").write_text("noun\n1\n")
    return folder / "EPIC_100_validation.csv"


def score_set(ids=IDS) -> ScoreSet:
    verb, noun = np.zeros((len(ids), 6)), np.zeros((len(ids), 8))
    for i, (_, _, v, n, pv, pn) in enumerate(ROWS[: len(ids)]):
        verb[i, v] = noun[i, n] = -1.0 if i == 5 else 1.0
        verb[i, pv] = noun[i, pn] = 2.0
    return ScoreSet(list(ids), verb, noun)


def _score(tmp_path: Path, scores_path: Path) -> dict[str, float]:
    return epic_score(
        scores_path,
        tmp_path / "ann" / "EPIC_100_validation.csv",
        unseen_csv=tmp_path / "ann" / "EPIC_100_unseen_participant_ids_validation.csv",
        tail_verbs_csv=tmp_path / "ann" / "EPIC_100_tail_verbs.csv",
        tail_nouns_csv=tmp_path / "ann" / "EPIC_100_tail_nouns.csv",
    )


# all: verb top-1 rows 0,1,2,4 = 4/6; noun rows 0,2,3,4 = 4/6; action rows 0,2,4 = 3/6; top-5 all but row 5.
# unseen P02 = rows 2, 3; tail verb 3 = rows 3, 4; tail noun 1 = rows 1, 5; tail action (OR) = rows 1, 3, 4, 5.
EXPECTED = {
    "all_verb_accuracy_at_1": 400 / 6,
    "all_verb_accuracy_at_5": 500 / 6,
    "all_noun_accuracy_at_1": 400 / 6,
    "all_noun_accuracy_at_5": 500 / 6,
    "all_action_accuracy_at_1": 50.0,
    "all_action_accuracy_at_5": 500 / 6,
    "unseen_verb_accuracy_at_1": 50.0,
    "unseen_noun_accuracy_at_1": 100.0,
    "unseen_action_accuracy_at_1": 50.0,
    "tail_verb_accuracy_at_1": 50.0,
    "tail_noun_accuracy_at_1": 0.0,
    "tail_action_accuracy_at_1": 25.0,
}


def test_epic_score_of_a_written_submission(tmp_path):
    write_annotations(tmp_path / "ann")
    shuffled = score_set()
    order = [3, 0, 5, 1, 4, 2]  # the file's segment order must not matter
    shuffled = ScoreSet([IDS[i] for i in order], shuffled.verb[order], shuffled.noun[order])
    metrics = _score(tmp_path, write_submission(tmp_path / "sub.zip", shuffled))
    assert metrics == pytest.approx(EXPECTED)


def test_epic_submission_converts_c1_results_to_the_same_scores(tmp_path):
    write_annotations(tmp_path / "ann")
    scores = score_set()
    rows = [
        {"verb_output": torch.tensor(v), "noun_output": torch.tensor(n), "narration_id": i}
        for v, n, i in zip(scores.verb, scores.noun, IDS)
    ]
    torch.save(rows, tmp_path / "results.pt")
    out = epic_submission(tmp_path / "results.pt", tmp_path / "out" / "test.zip", sls_pt=0)
    assert read_scores(out).meta["sls_pt"] == 0
    assert _score(tmp_path, tmp_path / "results.pt") == _score(tmp_path, out) == pytest.approx(EXPECTED)


def test_action_entries_in_the_file_are_used(tmp_path):
    write_annotations(tmp_path / "ann")
    scores = score_set()
    grid = np.arange(6)[:, None] * 1000 + np.arange(8)[None, :]  # all 48 pairs = min(100, 6 * 8) entries
    ids = np.tile(grid.ravel(), (6, 1))
    truth = np.array([r[2] * 1000 + r[3] for r in ROWS])
    scores.action = {"ids": ids, "scores": (ids == truth[:, None]).astype(float)}  # the true action scores 1, others 0
    metrics = _score(tmp_path, write_submission(tmp_path / "sub.json", scores))
    assert metrics["all_action_accuracy_at_1"] == metrics["tail_action_accuracy_at_1"] == 100.0
    assert metrics["all_verb_accuracy_at_1"] == pytest.approx(400 / 6)


def test_extra_and_missing_narration_ids_are_rejected(tmp_path):
    write_annotations(tmp_path / "ann")
    extra = score_set()
    extra.narration_ids[5] = "P09_01_9"
    with pytest.raises(
        SubmissionError,
        match=r"1 narration id\(s\) of EPIC_100_validation.csv have no scores \(first: \['P03_01_1'\]\)",
    ):
        _score(tmp_path, write_submission(tmp_path / "extra.zip", extra))
    write_annotations(tmp_path / "ann", rows=ROWS[:5])
    with pytest.raises(
        SubmissionError, match=r"1 narration id\(s\) are not in EPIC_100_validation.csv \(first: \['P03_01_1'\]\)"
    ):
        _score(tmp_path, write_submission(tmp_path / "all.zip", score_set()))


def test_without_class_files_the_epic_class_counts_are_required(tmp_path):
    write_annotations(tmp_path / "ann", class_files=False)
    with pytest.raises(SubmissionError, match=r"verb has no score for class\(es\) \['6', '7'"):
        _score(tmp_path, write_submission(tmp_path / "sub.zip", score_set()))


def test_bad_annotation_files_name_the_file_column_and_line(tmp_path):
    csv = write_annotations(tmp_path / "ann")
    sub = write_submission(tmp_path / "sub.zip", score_set())
    lines = csv.read_text().splitlines()
    csv.write_text("\n".join([lines[0].replace("noun_class", "noun_cls"), *lines[1:]]) + "\n")
    with pytest.raises(FormatError, match=r"EPIC_100_validation.csv:1: missing column\(s\) \['noun_class'\]"):
        _score(tmp_path, sub)
    csv.write_text("\n".join([lines[0], lines[1], lines[2].replace(",1,noun1,", ",x,noun1,"), *lines[3:]]) + "\n")
    with pytest.raises(FormatError, match=r"EPIC_100_validation.csv:3: verb_class = 'x' is not a class id"):
        _score(tmp_path, sub)
    with pytest.raises(ValueError, match="both"):
        epic_score(sub, csv, tail_verbs_csv=tmp_path / "ann" / "EPIC_100_tail_verbs.csv")
