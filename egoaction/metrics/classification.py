"""Classification metrics on score arrays: ranks, top-k, per-class accuracy, confusion, view / video aggregation.

Scores are float arrays ``(N, C)`` (logits or probabilities; only their order matters here), labels int arrays
``(N,)`` in ``0..C-1``. Accuracies, precision and recall are in percent (0-100), like the official EPIC printout.

Ties follow the official EPIC code, which ranks with ``scores.argsort(axis=-1)[:, ::-1]``. numpy's default
argsort is not stable: the order of equal scores depends on the numpy version and on the CPU's SIMD sort (on
AVX-512 machines even 12-class rows come out shuffled), so a ground truth tied for first place may or may not
count at top-1. egoaction calls that same expression, so it agrees with the official scorer run on the same
machine; a class tied within the first k places always counts at top-k once k covers the whole tie.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np


def _check_scores(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scores, labels = np.asarray(scores), np.asarray(labels)
    if scores.ndim != 2:
        raise ValueError(f"scores must be (N, C), got shape {scores.shape}")
    if labels.shape != (scores.shape[0],):
        raise ValueError(f"labels must be ({scores.shape[0]},) to match scores {scores.shape}, got {labels.shape}")
    return scores, labels.astype(np.int64, copy=False)


def _check_labels(labels: np.ndarray, num_classes: int, name: str = "labels") -> np.ndarray:
    labels = np.asarray(labels, dtype=np.int64)
    if labels.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {labels.shape}")
    bad = (labels < 0) | (labels >= num_classes)
    if bad.any():
        raise ValueError(f"{name} must be class ids in 0..{num_classes - 1}, found {labels[bad][0]}")
    return labels


def rank(scores: np.ndarray) -> np.ndarray:
    """Class ids best first, ``(N, C) -> (N, C)``: exactly the official ``scores.argsort(axis=-1)[:, ::-1]``."""
    scores = np.asarray(scores)
    if scores.ndim != 2:
        raise ValueError(f"scores must be (N, C), got shape {scores.shape}")
    return scores.argsort(axis=-1)[:, ::-1]


def ranked_topk_accuracy(ranks: np.ndarray, labels: np.ndarray, ks: Iterable[int] = (1, 5)) -> dict[int, float]:
    """Percent of rows whose label is among the first k of ``ranks`` ``(N, R)`` (ids best first); NaN if N = 0.

    A label absent from a row (a truncated ranking such as EPIC's top-100 actions) counts as wrong for every k.
    """
    ranks, labels = np.asarray(ranks), np.asarray(labels)
    if ranks.ndim != 2 or labels.shape != (ranks.shape[0],):
        raise ValueError(f"ranks must be (N, R) and labels (N,), got {ranks.shape} and {labels.shape}")
    ks = tuple(ks)
    if any(k < 1 for k in ks):
        raise ValueError(f"k must be >= 1, got {ks}")
    if len(labels) == 0:
        return {k: float("nan") for k in ks}
    hits = ranks[:, : max(ks)] == labels[:, None]
    return {k: 100.0 * float(hits[:, :k].any(axis=1).mean()) for k in ks}


def topk_accuracy(scores: np.ndarray, labels: np.ndarray, ks: Iterable[int] = (1, 5)) -> dict[int, float]:
    """Micro-averaged top-k accuracy in percent of ``scores`` (N, C) against ``labels`` (N,); k is capped at C."""
    scores, labels = _check_scores(scores, labels)
    return ranked_topk_accuracy(rank(scores), labels, ks)


def confusion_matrix(labels: np.ndarray, preds: np.ndarray, num_classes: int) -> np.ndarray:
    """``(C, C)`` int64 counts: row = true class, column = predicted class."""
    labels = _check_labels(labels, num_classes)
    preds = _check_labels(preds, num_classes, "preds")
    if labels.shape != preds.shape:
        raise ValueError(f"labels {labels.shape} and preds {preds.shape} differ in length")
    counts = np.bincount(labels * num_classes + preds, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes).astype(np.int64)


def per_class_accuracy(labels: np.ndarray, preds: np.ndarray, num_classes: int) -> np.ndarray:
    """``(C,)`` percent of each class's samples predicted correctly (recall); NaN for classes absent from labels."""
    confusion = confusion_matrix(labels, preds, num_classes)
    support = confusion.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(support > 0, 100.0 * np.diag(confusion) / support, np.nan)


def mean_class_precision_recall(
    labels: np.ndarray, preds: np.ndarray, classes: Sequence[int] | None = None
) -> tuple[float, float]:
    """EPIC-55 macro precision and recall in percent over ``classes`` (default: classes present in labels).

    As sklearn's ``precision_recall_fscore_support(..., zero_division=0)``: a class never predicted has
    precision 0, a listed class absent from labels has recall 0. NaN if there are no classes to average.
    """
    labels, preds = np.asarray(labels, dtype=np.int64), np.asarray(preds, dtype=np.int64)
    if labels.shape != preds.shape or labels.ndim != 1:
        raise ValueError(f"labels {labels.shape} and preds {preds.shape} must be equal-length 1-D arrays")
    chosen = np.unique(labels) if classes is None else np.asarray(list(classes), dtype=np.int64)
    if len(chosen) == 0:
        return float("nan"), float("nan")
    correct = labels == preds
    true_pos = np.array([np.sum(correct & (labels == c)) for c in chosen], dtype=np.float64)
    predicted = np.array([np.sum(preds == c) for c in chosen], dtype=np.float64)
    actual = np.array([np.sum(labels == c) for c in chosen], dtype=np.float64)
    precision = np.divide(true_pos, predicted, out=np.zeros_like(true_pos), where=predicted > 0)
    recall = np.divide(true_pos, actual, out=np.zeros_like(true_pos), where=actual > 0)
    return 100.0 * float(precision.mean()), 100.0 * float(recall.mean())


def aggregate_views(scores: np.ndarray) -> np.ndarray:
    """Multi-view test scores ``(N, V, C) -> (N, C)``: mean of the pre-softmax scores over the V views."""
    scores = np.asarray(scores)
    if scores.ndim != 3:
        raise ValueError(f"scores must be (N, V, C), got shape {scores.shape}")
    return scores.mean(axis=1)


def video_level(scores: np.ndarray, labels: np.ndarray, video_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean scores per video ``(N, C) -> (Nv, C)`` and each video's label ``(Nv,)``, videos in ascending id order.

    A video's label is the majority label of its clips (ties: the smallest class id); clips of one video
    normally share their label, so this only matters for untrimmed videos.
    """
    scores, labels = _check_scores(scores, labels)
    video_idx = np.asarray(video_idx)
    if video_idx.shape != labels.shape:
        raise ValueError(f"video_idx must be ({len(labels)},), got {video_idx.shape}")
    videos, inverse = np.unique(video_idx, return_inverse=True)
    sums = np.zeros((len(videos), scores.shape[1]), dtype=np.float64)
    np.add.at(sums, inverse, scores)
    counts = np.bincount(inverse, minlength=len(videos))
    num_labels = int(labels.max()) + 1 if len(labels) else 1
    votes = np.zeros((len(videos), num_labels), dtype=np.int64)
    np.add.at(votes, (inverse, labels), 1)
    return sums / counts[:, None], votes.argmax(axis=1)  # argmax takes the first (smallest) id on ties


def _none_for_nan(values: Iterable[float]) -> list[float | None]:
    return [None if np.isnan(v) else float(v) for v in values]


def classification_report(
    scores: np.ndarray,
    labels: np.ndarray,
    *,
    class_names: list[str] | None = None,
    video_idx: np.ndarray | None = None,
) -> dict[str, Any]:
    """One JSON-ready dict of the metrics of ``scores`` (N, C) vs ``labels`` (N,); NaN is written as None.

    Keys: num_samples, top1, top5, per_class_accuracy, mean_class_precision, mean_class_recall, confusion,
    plus class_names when given and video_top1 / num_videos when ``video_idx`` (N,) is given.
    """
    scores, labels = _check_scores(scores, labels)
    num_classes = scores.shape[1]
    if class_names is not None and len(class_names) != num_classes:
        raise ValueError(f"{len(class_names)} class names for {num_classes} classes")
    _check_labels(labels, num_classes)
    preds = rank(scores)[:, 0] if len(labels) else labels
    top = topk_accuracy(scores, labels, (1, 5))
    precision, recall = mean_class_precision_recall(labels, preds)
    report: dict[str, Any] = {
        "num_samples": len(labels),
        "top1": _none_for_nan([top[1]])[0],
        "top5": _none_for_nan([top[5]])[0],
        "per_class_accuracy": _none_for_nan(per_class_accuracy(labels, preds, num_classes)),
        "mean_class_precision": _none_for_nan([precision])[0],
        "mean_class_recall": _none_for_nan([recall])[0],
        "confusion": confusion_matrix(labels, preds, num_classes).tolist(),
    }
    if class_names is not None:
        report["class_names"] = list(class_names)
    if video_idx is not None:
        video_scores, video_labels = video_level(scores, labels, video_idx)
        report["video_top1"] = _none_for_nan([topk_accuracy(video_scores, video_labels, (1,))[1]])[0]
        report["num_videos"] = len(video_labels)
    return report
