"""Official EPIC-100 semantics: action ids, top-100 action scores (logit sums, whole-array softmax), subsets."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from egoaction.metrics.classification import rank
from egoaction.metrics.epic import action_id, compute_action_scores, epic_metrics, metrics_to_json, rank_actions

# Six segments, 6 verbs x 8 nouns: (participant, true verb, true noun, predicted verb, predicted noun).
# The predicted class scores 2, the true class (when different) 1, every other class 0; in the last row the
# true classes score -1 (ranked last of all).
ROWS = [
    ("P01", 0, 0, 0, 0),  # all right
    ("P01", 1, 1, 1, 2),  # noun wrong; true noun 2nd -> true action (1,1) 2nd (sum 3 after (1,2) = 4)
    ("P02", 2, 2, 2, 2),  # all right
    ("P02", 3, 3, 0, 3),  # verb wrong; true verb 2nd -> true action (3,3) 2nd
    ("P03", 3, 4, 3, 4),  # all right
    ("P03", 0, 1, 1, 0),  # all wrong, true verb / noun / action ranked last
]


def six_segments() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Verb (6, 6) and noun (6, 8) scores, labels and participants of ROWS."""
    verb, noun = np.zeros((6, 6)), np.zeros((6, 8))
    for i, (_, v, n, pv, pn) in enumerate(ROWS):
        verb[i, v] = noun[i, n] = -1.0 if i == 5 else 1.0
        verb[i, pv] = noun[i, pn] = 2.0  # overwrites the true class when it is the prediction
    labels_v = np.array([r[1] for r in ROWS])
    labels_n = np.array([r[2] for r in ROWS])
    return verb, noun, labels_v, labels_n, [r[0] for r in ROWS]


def test_action_id_is_verb_times_1000_plus_noun():
    assert action_id(3, 12) == 3012
    np.testing.assert_array_equal(action_id(np.array([0, 1, 96]), np.array([0, 1, 299])), [0, 1001, 96299])


@pytest.mark.parametrize(("verbs", "nouns", "kept"), [(12, 28, 100), (3, 4, 12), (97, 300, 100), (120, 300, 100)])
def test_action_count_is_capped_by_the_classes(verbs, nouns, kept):
    rng = np.random.default_rng(1)
    ids, scores = compute_action_scores(rng.normal(size=(2, verbs)), rng.normal(size=(2, nouns)))
    assert ids.shape == scores.shape == (2, kept)
    assert ids.dtype == np.int64
    assert np.all(np.diff(scores, axis=1) <= 0)  # best first


def test_pairs_rank_by_logit_sum_so_probabilities_are_not_multiplied():
    # Given "probabilities" p_v = [0.9, 0.5], p_n = [0.5, 0.15] the official code treats them as logits:
    # sums (0,0)=1.4 > (0,1)=1.05 > (1,0)=1.0 > (1,1)=0.65, whereas products would put (1,0)=.25 before (0,1)=.135.
    pv, pn = np.array([[0.9, 0.5]]), np.array([[0.5, 0.15]])
    ids, scores = compute_action_scores(pv, pn)
    assert ids.tolist() == [[0, 1, 1000, 1001]]
    softmax_v, softmax_n = np.exp(pv) / np.exp(pv).sum(), np.exp(pn) / np.exp(pn).sum()
    np.testing.assert_allclose(scores[0], np.outer(softmax_v, softmax_n).ravel()[[0, 1, 2, 3]])
    ids_of_logs, _ = compute_action_scores(np.log(pv), np.log(pn))  # log-probabilities rank by the product
    assert ids_of_logs.tolist() == [[0, 1000, 1, 1001]]


def test_action_ids_are_the_top_100_pairs_by_logit_sum():
    rng = np.random.default_rng(2)
    verb, noun = rng.normal(size=(20, 97)), rng.normal(size=(20, 300))
    ids, _ = compute_action_scores(verb, noun)
    sums = (verb[:, :, None] + noun[:, None, :]).reshape(20, -1)
    best = np.argsort(-sums, axis=1)[:, :100]
    np.testing.assert_array_equal(ids, action_id(best // 300, best % 300))


def test_softmax_is_taken_over_the_whole_array_not_per_row():
    # Two identical rows of 3 verbs x 2 nouns: each row's verb probabilities sum to 1/2 and its noun ones to 1/2,
    # so each row's 6 pair scores sum to 1/4 (a per-row softmax would give 1).
    verb, noun = np.tile([[1.0, 0.0, -1.0]], (2, 1)), np.tile([[0.5, 0.0]], (2, 1))
    _, scores = compute_action_scores(verb, noun)
    np.testing.assert_allclose(scores.sum(axis=1), [0.25, 0.25])


@pytest.mark.parametrize(("dtype", "gap"), [(np.float64, 800.0), (np.float32, 120.0)])
def test_whole_array_softmax_underflow_quirk(dtype, gap):
    # Row 1 lies `gap` below row 0: exp(x - max) underflows (float64 below -745, float32 below -104), so all of
    # row 1's action scores are 0 and its 3 x 2 pairs come out in numpy's tie order, not by logit sum.
    verb = np.array([[0.0, -1.0, -2.0], [-gap, -gap - 1, -gap - 2]], dtype=dtype)
    noun = np.array([[0.0, -1.0], [-gap, -gap - 1]], dtype=dtype)
    ids, scores = compute_action_scores(verb, noun)
    assert scores.dtype == dtype
    assert ids[0, 0] == 0 and scores[0, 0] > 0  # row 0 holds the global max: unaffected
    assert np.all(scores[1] == 0)
    tie_order = rank(np.zeros((1, 6), dtype=dtype))[0]  # grid position p = (verb rank p // 2, noun rank p % 2)
    np.testing.assert_array_equal(ids[1], action_id(tie_order // 2, tie_order % 2))
    alone_ids, alone_scores = compute_action_scores(verb[1:], noun[1:])
    assert alone_ids[0, 0] == 0 and np.all(alone_scores > 0)  # scored on its own, the best pair (0, 0) leads


def test_a_true_action_outside_the_kept_pairs_is_wrong_at_every_k():
    # 12 verbs x 28 nouns = 336 pairs, 100 kept. True verb 0 scores 5 (top-1), true noun 27 scores -10 (last):
    # 27 pairs (0, n) sum 5 and 297 pairs (v != 0, n != 27) sum 0 all beat (0, 27) = -5 -> it is not kept.
    verb, noun = np.zeros((1, 12)), np.zeros((1, 28))
    verb[0, 0], noun[0, 27] = 5.0, -10.0
    ids, _ = compute_action_scores(verb, noun)
    assert 27 not in ids[0]
    m = epic_metrics(verb, noun, np.array([0]), np.array([27]), ["P01"])
    assert m["all_verb_accuracy_at_1"] == 100.0
    assert m["all_action_accuracy_at_1"] == m["all_action_accuracy_at_5"] == 0.0


def test_a_verb_outside_the_top_100_verbs_is_never_paired():
    # 120 verbs all tied at 0, true noun 0 scores 5: every (v, 0) has the best logit sum 5, but only the 100
    # verbs that argsort keeps are paired; a true verb among the 20 dropped ones is wrong even at top-5.
    verb, noun = np.zeros((1, 120)), np.zeros((1, 300))
    noun[0, 0] = 5.0
    dropped = sorted(set(range(120)) - set(rank(verb)[0, :100].tolist()))
    assert len(dropped) == 20
    ids, _ = compute_action_scores(verb, noun)
    assert action_id(dropped[0], 0) not in ids[0]
    m = epic_metrics(verb, noun, np.array([dropped[0]]), np.array([0]), ["P01"])
    assert m["all_action_accuracy_at_5"] == 0.0
    assert set(ids[0].tolist()) == set(action_id(rank(verb)[0, :100], 0).tolist())  # the 100 kept verbs x noun 0


def test_all_subset_top1_and_top5_hand_computed():
    verb, noun, labels_v, labels_n, participants = six_segments()
    m = epic_metrics(verb, noun, labels_v, labels_n, participants)
    assert set(m) == {f"all_{t}_accuracy_at_{k}" for t in ("verb", "noun", "action") for k in (1, 5)}
    # top-1: verb rows 0,1,2,4 = 4/6; noun rows 0,2,3,4 = 4/6; action rows 0,2,4 = 3/6
    assert m["all_verb_accuracy_at_1"] == pytest.approx(400 / 6)
    assert m["all_noun_accuracy_at_1"] == pytest.approx(400 / 6)
    assert m["all_action_accuracy_at_1"] == pytest.approx(50.0)
    # top-5: everything but row 5 (true classes ranked last: verb 6th, noun 8th, action 48th) = 5/6
    for task in ("verb", "noun", "action"):
        assert m[f"all_{task}_accuracy_at_5"] == pytest.approx(500 / 6)


def test_unseen_subset_is_top1_over_unseen_participants():
    verb, noun, labels_v, labels_n, participants = six_segments()
    m = epic_metrics(verb, noun, labels_v, labels_n, participants, unseen={"P02"})
    # P02 = rows 2 (all right) and 3 (verb wrong): verb 1/2, noun 2/2, action 1/2; top-5 is not reported
    assert m["unseen_verb_accuracy_at_1"] == 50.0
    assert m["unseen_noun_accuracy_at_1"] == 100.0
    assert m["unseen_action_accuracy_at_1"] == 50.0
    assert "unseen_verb_accuracy_at_5" not in m and "tail_verb_accuracy_at_1" not in m


def test_tail_action_is_tail_verb_or_tail_noun():
    verb, noun, labels_v, labels_n, participants = six_segments()
    m = epic_metrics(verb, noun, labels_v, labels_n, participants, tail_verbs={3}, tail_nouns={1})
    # tail verb 3: rows 3 (wrong), 4 (right) -> 50; tail noun 1: rows 1, 5 (both wrong) -> 0
    # tail action = verb 3 OR noun 1: rows 1, 3, 4, 5 -> only row 4 right -> 25 (AND would leave no row)
    assert m["tail_verb_accuracy_at_1"] == 50.0
    assert m["tail_noun_accuracy_at_1"] == 0.0
    assert m["tail_action_accuracy_at_1"] == 25.0
    with pytest.raises(ValueError, match="both"):
        epic_metrics(verb, noun, labels_v, labels_n, participants, tail_verbs={3})


def test_empty_subset_gives_nan_with_a_warning_and_null_in_json():
    verb, noun, labels_v, labels_n, participants = six_segments()
    with pytest.warns(UserWarning, match="no unseen segments"):
        m = epic_metrics(verb, noun, labels_v, labels_n, participants, unseen={"P99"})
    assert math.isnan(m["unseen_action_accuracy_at_1"])
    text = json.dumps(metrics_to_json(m), allow_nan=False)
    assert json.loads(text)["unseen_verb_accuracy_at_1"] is None


def test_given_action_scores_replace_the_computed_ones():
    verb, noun, labels_v, labels_n, participants = six_segments()
    truth = action_id(labels_v, labels_n)[:, None]
    ids = np.hstack([truth + 1, truth])  # the true action second, by score, although first in file order
    scores = np.tile([0.2, 0.8], (6, 1))
    m = epic_metrics(verb, noun, labels_v, labels_n, participants, action_scores=(ids, scores))
    assert m["all_action_accuracy_at_1"] == 100.0


def test_rank_actions_orders_file_entries_by_score():
    assert rank_actions(np.array([[5, 7, 9]]), np.array([[0.1, 0.7, 0.2]])).tolist() == [[7, 9, 5]]


def test_labels_out_of_range_are_rejected():
    verb, noun, labels_v, labels_n, participants = six_segments()
    with pytest.raises(ValueError, match=r"verb_labels must be in 0\.\.5"):
        epic_metrics(verb, noun, labels_v + 6, labels_n, participants)


def test_row_chunking_does_not_change_the_scores(monkeypatch):
    rng = np.random.default_rng(3)
    verb, noun = rng.normal(size=(9, 12)).astype(np.float32), rng.normal(size=(9, 28)).astype(np.float32)
    whole_ids, whole_scores = compute_action_scores(verb, noun)
    monkeypatch.setattr("egoaction.metrics.epic._CHUNK_PAIRS", 2 * 12 * 28)  # two rows per chunk
    ids, scores = compute_action_scores(verb, noun)
    np.testing.assert_array_equal(ids, whole_ids)
    np.testing.assert_array_equal(scores, whole_scores)
