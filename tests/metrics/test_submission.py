"""Submission JSON v0.2 and C1 results files: round trips, and each malformed file rejected with its reason."""

from __future__ import annotations

import copy
import json
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from egoaction.data.errors import DataError
from egoaction.metrics.epic import compute_action_scores, epic_metrics
from egoaction.metrics.submission import ScoreSet, SubmissionError, read_scores, write_submission

IDS = ["P01_101_0", "P01_101_1", "P02_103_7", "P02_103_8"]


def score_set(with_action: bool = False) -> ScoreSet:
    """Four segments, 12 verbs x 28 nouns (the synthetic kitchen's class counts)."""
    rng = np.random.default_rng(0)
    verb, noun = rng.normal(size=(4, 12)), rng.normal(size=(4, 28))
    action = None
    if with_action:
        ids, scores = compute_action_scores(verb, noun)
        action = {"ids": ids, "scores": scores}
    return ScoreSet(list(IDS), verb, noun, action)


def submission_dict(with_action: bool = False) -> dict:
    """A valid submission as parsed JSON, to corrupt one thing at a time."""
    s = score_set(with_action)
    results = {}
    for i, nid in enumerate(s.narration_ids):
        entry = {"verb": {str(c): float(x) for c, x in enumerate(s.verb[i])}}
        entry["noun"] = {str(c): float(x) for c, x in enumerate(s.noun[i])}
        if s.action is not None:
            pairs = zip(s.action["ids"][i].tolist(), s.action["scores"][i].tolist())
            entry["action"] = {f"{a // 1000},{a % 1000}": x for a, x in pairs}
        results[nid] = entry
    return {
        "version": "0.2",
        "challenge": "action_recognition",
        "sls_pt": 2,
        "sls_tl": 3,
        "sls_td": 4,
        "results": results,
    }


def test_zip_round_trip_keeps_every_score_and_the_header(tmp_path):
    scores = score_set()
    path = write_submission(tmp_path / "sub.zip", scores, sls_pt=1, sls_tl=2, sls_td=3)
    with zipfile.ZipFile(path) as zf:
        assert zf.namelist() == ["test.json"]
        assert zf.getinfo("test.json").compress_type == zipfile.ZIP_DEFLATED
        raw = json.loads(zf.read("test.json"))
    assert list(raw["results"]["P01_101_0"]["verb"]) == [str(i) for i in range(12)]
    assert len(raw["results"]["P01_101_0"]["noun"]) == 28
    back = read_scores(path)
    assert back.narration_ids == IDS
    np.testing.assert_array_equal(back.verb, scores.verb)  # JSON floats round-trip exactly
    np.testing.assert_array_equal(back.noun, scores.noun)
    assert back.action is None
    assert back.meta == {"version": "0.2", "challenge": "action_recognition", "sls_pt": 1, "sls_tl": 2, "sls_td": 3}
    assert [p.name for p in tmp_path.iterdir()] == ["sub.zip"]  # no temporary file left behind


def test_json_round_trip_with_action_entries_scores_the_same(tmp_path):
    scores = score_set(with_action=True)
    back = read_scores(write_submission(tmp_path / "sub.json", scores))
    assert back.action is not None
    np.testing.assert_array_equal(back.action["ids"], scores.action["ids"])
    np.testing.assert_array_equal(back.action["scores"], scores.action["scores"])
    labels_v, labels_n, who = np.array([0, 3, 5, 11]), np.array([1, 27, 4, 0]), ["P01", "P01", "P02", "P02"]
    direct = epic_metrics(scores.verb, scores.noun, labels_v, labels_n, who, unseen={"P02"})
    read = epic_metrics(back.verb, back.noun, labels_v, labels_n, who, unseen={"P02"})
    from_file_actions = epic_metrics(
        back.verb,
        back.noun,
        labels_v,
        labels_n,
        who,
        unseen={"P02"},
        action_scores=(back.action["ids"], back.action["scores"]),
    )
    assert direct == read == from_file_actions


def test_writing_is_atomic_and_refuses_bad_scores(tmp_path):
    path = tmp_path / "sub.zip"
    write_submission(path, score_set())
    before = path.read_bytes()
    bad = score_set()
    bad.noun[2, 5] = np.nan
    with pytest.raises(ValueError, match="P02_103_7"):
        write_submission(path, bad)
    with pytest.raises(ValueError, match="sls_td"):
        write_submission(path, score_set(), sls_td=6)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["sub.zip"]


def _write_json(tmp_path: Path, obj: dict, name: str = "bad.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(obj))
    return path


def _corrupt(change) -> dict:
    obj = copy.deepcopy(submission_dict(with_action=True))
    change(obj)
    return obj


def _drop_noun_5(obj):
    del obj["results"]["P01_101_1"]["noun"]["5"]


def _set(key, value):
    return lambda obj: obj.__setitem__(key, value)


def _nan_score(obj):
    obj["results"]["P02_103_7"]["verb"]["3"] = float("nan")


def _string_score(obj):
    obj["results"]["P02_103_7"]["verb"]["3"] = "0.5"


def _drop_one_action(obj):
    actions = obj["results"]["P02_103_8"]["action"]
    del actions[next(iter(actions))]


def _action_only_first(obj):
    del obj["results"]["P01_101_1"]["action"]


def _extra_verb(obj):
    obj["results"]["P01_101_1"]["verb"]["12"] = 0.0  # the first segment fixes 12 verbs


def _drop_version(obj):
    del obj["version"]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (_drop_noun_5, r"'P01_101_1': noun has no score for class\(es\) \['5'\]"),
        (_set("version", "0.1"), r"version '0.1' is not supported \(expected '0.2'\)"),
        (_drop_version, r"missing key 'version'"),
        (_set("challenge", "action_detection"), "challenge 'action_detection'"),
        (_set("sls_pt", 6), r"sls_pt = 6 must be an integer in 0\.\.5"),
        (_set("sls_tl", True), "sls_tl = True"),
        (_nan_score, r"'P02_103_7': verb score of '3' is nan \(expected a finite number\)"),
        (_string_score, r"'P02_103_7': verb score of '3' is '0.5'"),
        (_drop_one_action, r"'P02_103_8': 99 action scores \(expected exactly 100"),
        (_action_only_first, r"'P01_101_1': action scores must be given for all segments or none"),
        (_extra_verb, r"'P01_101_1': verb has unexpected class key\(s\) \['12'\]"),
        (_set("results", {}), "non-empty"),
    ],
)
def test_malformed_submissions_are_rejected_with_the_reason(tmp_path, change, reason):
    path = _write_json(tmp_path, _corrupt(change))
    with pytest.raises(SubmissionError, match=reason) as info:
        read_scores(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, DataError)


def test_fixed_class_counts_are_required_of_every_segment(tmp_path):
    path = _write_json(tmp_path, submission_dict())
    with pytest.raises(SubmissionError, match=r"'P01_101_0': verb has no score for class\(es\) \['12', '13'"):
        read_scores(path, num_verbs=97, num_nouns=300)


def test_truncated_zip_invalid_json_and_duplicate_ids_are_rejected(tmp_path):
    good = write_submission(tmp_path / "good.zip", score_set())
    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(SubmissionError, match="not a readable zip archive"):
        read_scores(truncated)
    cut = tmp_path / "cut.json"
    cut.write_text(json.dumps(submission_dict())[:500])
    with pytest.raises(SubmissionError, match="not valid JSON"):
        read_scores(cut)
    text = json.dumps(submission_dict())
    duplicated = text.replace('"P01_101_1"', '"P01_101_0"')
    dup = tmp_path / "dup.json"
    dup.write_text(duplicated)
    with pytest.raises(SubmissionError, match="'P01_101_0' appears twice"):
        read_scores(dup)
    with pytest.raises(SubmissionError, match="unknown score file type"):
        read_scores(good.rename(tmp_path / "good.txt"))


def test_c1_results_files_pt_list_and_pkl_dict(tmp_path):
    scores = score_set()
    rows = [
        {
            "verb_output": torch.tensor(v, dtype=torch.float32),
            "noun_output": torch.tensor(n, dtype=torch.float32),
            "narration_id": i,
        }
        for v, n, i in zip(scores.verb, scores.noun, IDS)
    ]
    torch.save(rows, tmp_path / "results.pt")
    from_pt = read_scores(tmp_path / "results.pt", num_verbs=12, num_nouns=28)
    assert from_pt.narration_ids == IDS
    assert from_pt.verb.dtype == np.float32  # kept as stored, as the official loader does
    np.testing.assert_allclose(from_pt.noun, scores.noun, rtol=1e-6)
    with (tmp_path / "results.pkl").open("wb") as f:
        pickle.dump({"verb_output": scores.verb, "noun_output": scores.noun, "narration_id": np.array(IDS)}, f)
    from_pkl = read_scores(tmp_path / "results.pkl")
    np.testing.assert_array_equal(from_pkl.verb, scores.verb)
    assert from_pkl.meta == {"format": "c1_results"}
    with pytest.raises(SubmissionError, match=r"verb_output has 12 classes \(expected 97\)"):
        read_scores(tmp_path / "results.pkl", num_verbs=97)
    rows[2]["noun_output"][0] = float("inf")
    torch.save(rows, tmp_path / "bad.pt")
    with pytest.raises(SubmissionError, match="'P02_103_7': non-finite noun scores"):
        read_scores(tmp_path / "bad.pt")
    torch.save([{"verb_output": rows[0]["verb_output"]}], tmp_path / "short.pt")
    with pytest.raises(SubmissionError, match="lacks"):
        read_scores(tmp_path / "short.pt")
