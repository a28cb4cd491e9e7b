"""Metrics: classification (top-k, per class, confusion, views / videos) and the official EPIC-100 scoring."""

from egoaction.metrics.classification import (
    aggregate_views,
    classification_report,
    confusion_matrix,
    mean_class_precision_recall,
    per_class_accuracy,
    rank,
    topk_accuracy,
    video_level,
)
from egoaction.metrics.epic import action_id, compute_action_scores, epic_metrics, metrics_to_json
from egoaction.metrics.scoring import epic_score, epic_submission
from egoaction.metrics.submission import ScoreSet, SubmissionError, read_scores, write_submission

__all__ = [
    "ScoreSet",
    "SubmissionError",
    "action_id",
    "aggregate_views",
    "classification_report",
    "compute_action_scores",
    "confusion_matrix",
    "epic_metrics",
    "epic_score",
    "epic_submission",
    "mean_class_precision_recall",
    "metrics_to_json",
    "per_class_accuracy",
    "rank",
    "read_scores",
    "topk_accuracy",
    "video_level",
    "write_submission",
]
