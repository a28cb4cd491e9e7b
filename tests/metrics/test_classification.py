"""Classification metrics: ranks and ties, top-k, confusion / per-class / precision-recall, views and videos."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from egoaction.metrics.classification import (
    aggregate_views,
    classification_report,
    confusion_matrix,
    mean_class_precision_recall,
    per_class_accuracy,
    rank,
    ranked_topk_accuracy,
    topk_accuracy,
    video_level,
)

SCORES = np.array(
    [
        [0.1, 0.5, 0.2, 0.0, 0.3, 0.4],  # label 1: ranked 1st
        [0.9, 0.1, 0.2, 0.3, 0.4, 0.5],  # label 5: ranked 2nd
        [0.0, 0.1, 0.2, 0.3, 0.4, 0.5],  # label 0: ranked 6th
        [0.3, 0.2, 0.9, 0.1, 0.0, 0.8],  # label 4: ranked 6th
    ]
)
LABELS = np.array([1, 5, 0, 4])


def test_rank_is_the_official_argsort_expression_even_with_ties():
    rng = np.random.default_rng(0)
    tied = rng.integers(0, 3, size=(50, 28)).astype(np.float32)  # many equal scores per row
    np.testing.assert_array_equal(rank(tied), tied.argsort(axis=-1)[:, ::-1])
    np.testing.assert_array_equal(rank(SCORES)[1], [0, 5, 4, 3, 2, 1])


def test_ties_count_at_top1_only_if_argsort_puts_the_label_first_but_always_once_k_covers_the_tie():
    # Every row has classes 2 and 5 tied for first; numpy's unstable argsort decides which is ranked first.
    scores = np.zeros((40, 8))
    scores[:, [2, 5]] = 1.0
    labels = np.full(40, 5)
    first = rank(scores)[:, 0]
    assert set(first.tolist()) <= {2, 5}
    top = topk_accuracy(scores, labels, ks=(1, 2))
    assert top[1] == pytest.approx(100.0 * np.mean(first == 5))
    assert top[2] == 100.0


def test_topk_accuracy_hand_computed():
    # top-1: only row 0 -> 1/4 = 25 %; top-5: rows 0 and 1 -> 2/4 = 50 % (rows 2, 3 have the label 6th of 6).
    assert topk_accuracy(SCORES, LABELS) == {1: 25.0, 5: 50.0}


def test_topk_caps_k_at_the_class_count_and_ignores_monotone_transforms():
    three = SCORES[:, :3]
    assert topk_accuracy(three, np.array([0, 1, 2, 0]), ks=(5,)) == {5: 100.0}  # k=5 > C=3: every label is in
    probs = np.exp(SCORES) / np.exp(SCORES).sum(1, keepdims=True)
    assert topk_accuracy(probs, LABELS) == topk_accuracy(SCORES, LABELS)


def test_ranked_topk_counts_a_label_missing_from_a_truncated_ranking_as_wrong_and_empty_as_nan():
    ranks = np.array([[3012, 5001, 7], [9, 8, 1]])
    assert ranked_topk_accuracy(ranks, np.array([3012, 2000]), ks=(1, 3)) == {1: 50.0, 3: 50.0}
    assert all(math.isnan(v) for v in ranked_topk_accuracy(ranks[:0], np.array([], int)).values())


# 3-class case: labels 0,0,0,1,1,2 predicted as 0,0,1,1,2,2.
TRUE = np.array([0, 0, 0, 1, 1, 2])
PRED = np.array([0, 0, 1, 1, 2, 2])


def test_confusion_matrix_rows_are_true_classes():
    expected = [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    cm = confusion_matrix(TRUE, PRED, 3)
    assert cm.dtype == np.int64
    np.testing.assert_array_equal(cm, expected)
    with pytest.raises(ValueError, match=r"0\.\.2"):
        confusion_matrix(TRUE, np.array([0, 0, 1, 1, 2, 3]), 3)


def test_per_class_accuracy_with_absent_class_nan():
    # class 0: 2/3, class 1: 1/2, class 2: 1/1, class 3 never occurs -> NaN
    acc = per_class_accuracy(TRUE, PRED, 4)
    np.testing.assert_allclose(acc[:3], [200 / 3, 50.0, 100.0])
    assert math.isnan(acc[3])


def test_mean_class_precision_recall_hand_computed():
    # precision: class 0 predicted 2x, both right = 1; class 1 predicted 2x, 1 right = 1/2; class 2: 1/2 -> mean 2/3
    # recall: 2/3, 1/2, 1 -> mean 13/18 = 72.22 %
    precision, recall = mean_class_precision_recall(TRUE, PRED)
    assert precision == pytest.approx(200 / 3)
    assert recall == pytest.approx(100 * 13 / 18)


def test_precision_of_a_never_predicted_class_is_zero_and_classes_restrict_the_mean():
    # labels 0,1,2 all predicted 0: precision 1/3, 0, 0 -> 11.1 %; recall 1, 0, 0 -> 33.3 %
    precision, recall = mean_class_precision_recall(np.array([0, 1, 2]), np.array([0, 0, 0]))
    assert (precision, recall) == (pytest.approx(100 / 9), pytest.approx(100 / 3))
    # many-shot style subset {0}: precision 1/3, recall 1
    assert mean_class_precision_recall(np.array([0, 1, 2]), np.array([0, 0, 0]), classes=[0]) == (
        pytest.approx(100 / 3),
        100.0,
    )


def test_aggregate_views_averages_logits_not_probabilities():
    # views of one clip: [3, 0], [0, 1.2], [0, 1.2]. Mean logits [1.0, 0.8] -> class 0; the mean of the softmaxes
    # would be [(0.953 + 2 * 0.231) / 3, ...] = [0.472, 0.528] -> class 1.
    views = np.array([[[3.0, 0.0], [0.0, 1.2], [0.0, 1.2]]])
    mean = aggregate_views(views)
    np.testing.assert_allclose(mean, [[1.0, 0.8]])
    assert mean.argmax(1)[0] == 0
    with pytest.raises(ValueError, match=r"\(N, V, C\)"):
        aggregate_views(views[0])


def test_video_level_means_scores_and_takes_the_majority_label():
    scores = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 3.0], [3.0, 0.0, 0.0], [0.0, 3.0, 0.0]])
    labels = np.array([1, 1, 0, 2, 2])
    video_idx = np.array([7, 7, 3, 3, 3])
    video_scores, video_labels = video_level(scores, labels, video_idx)
    # videos in ascending id order: 3 = rows 2..4 -> mean [1, 1, 1], majority label 2; 7 = rows 0, 1 -> [0.5, 0.5, 0]
    np.testing.assert_allclose(video_scores, [[1.0, 1.0, 1.0], [0.5, 0.5, 0.0]])
    np.testing.assert_array_equal(video_labels, [2, 1])
    _, tie = video_level(scores[:2], np.array([1, 0]), np.array([0, 0]))
    assert tie.tolist() == [0]  # one vote each: the smallest class id


def test_classification_report_is_json_ready():
    scores = np.array([[6.0, 0, 0, 0], [0, 5.0, 0, 0], [0, 5.0, 0, 0], [6.0, 0, 0, 0]])  # predictions 0, 1, 1, 0
    labels = np.array([0, 1, 0, 0])
    report = classification_report(scores, labels, class_names=["a", "b", "c", "d"], video_idx=np.array([0, 0, 1, 1]))
    json.dumps(report, allow_nan=False)
    assert report["num_samples"] == 4
    assert report["top1"] == 75.0
    assert report["top5"] == 100.0
    assert report["per_class_accuracy"] == [pytest.approx(200 / 3), 100.0, None, None]  # classes 2, 3 absent
    assert report["confusion"] == [[2, 1, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]
    # precision: class 0 2/2, class 1 1/2 -> 75 %; recall: 2/3, 1 -> 83.3 %
    assert report["mean_class_precision"] == pytest.approx(75.0)
    assert report["mean_class_recall"] == pytest.approx(250 / 3)
    # video 0 = rows 0, 1: mean [3, 2.5, 0, 0] -> 0, labels 0/1 tie -> 0, right; video 1 = rows 2, 3: same -> right
    assert report["num_videos"] == 2
    assert report["video_top1"] == 100.0
