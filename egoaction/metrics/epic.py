"""Official EPIC-KITCHENS-100 action recognition metrics (C1 ``evaluate.py`` semantics, quirks included).

- action id = ``verb * 1000 + noun``;
- action scores: the top-100 verbs and top-100 nouns of each segment, each passed through a softmax taken over
  the **whole** ``(N, 100)`` array (the official ``scipy.special.softmax`` call has no axis), their outer product,
  and the best 100 (verb, noun) pairs. Per row the whole-array softmax is only a constant factor, so pairs rank by
  the **logit sum** ``v + n``; scores are treated as logits (feeding probabilities ranks by ``p_v + p_n``);
- **underflow quirk**: ``exp(x - max)`` uses the maximum of the whole array, so a segment whose top scores lie far
  below another segment's (about 104 in float32, 745 in float64; for the verb-noun products already about half
  that) gets all-zero action scores, and its action ranking degenerates to numpy's tie order. The input dtype is
  kept (float32 ``.pt`` results stay float32, JSON scores are float64), as in the official scorers;
- a ground-truth action outside the 100 kept pairs is wrong at every k;
- subsets: ``all`` (top-1 and top-5), ``unseen`` participants and ``tail`` classes (top-1 only), where a tail
  action is a segment whose verb **or** noun is a tail class. Results are in percent.

An empty subset (no unseen segment, no tail segment) gives NaN for its keys and a warning; the official C1
code drops the unseen keys and fails on an empty tail. :func:`metrics_to_json` writes NaN as None.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np

from egoaction.metrics.classification import rank, ranked_topk_accuracy

ACTION_VERB_MULTIPLIER = 1000
TOP_N = 100
TASKS = ("verb", "noun", "action")
_CHUNK_PAIRS = 1 << 24


def action_id(verb: np.ndarray | int, noun: np.ndarray | int) -> np.ndarray:
    """Action ids ``verb * 1000 + noun`` (any matching shapes; int64)."""
    return np.asarray(verb, dtype=np.int64) * ACTION_VERB_MULTIPLIER + np.asarray(noun, dtype=np.int64)


def _as_float(scores: np.ndarray, name: str) -> np.ndarray:
    scores = np.asarray(scores)
    if scores.ndim != 2:
        raise ValueError(f"{name} must be (N, C), got shape {scores.shape}")
    return scores if np.issubdtype(scores.dtype, np.floating) else scores.astype(np.float64)


def _top(scores: np.ndarray, top_n: int) -> tuple[np.ndarray, np.ndarray]:
    """Ids ``(N, n)`` and values of the ``n = min(top_n, C)`` best classes per row, best first."""
    ids = rank(scores)[:, :top_n]
    return ids, np.take_along_axis(scores, ids, axis=1)


def _whole_array_softmax(x: np.ndarray) -> np.ndarray:
    # The official call normalises over all N*n entries at once (scipy's default axis=None), not per row.
    e = np.exp(x - x.max()) if x.size else x
    return e / e.sum()


def compute_action_scores(
    verb_scores: np.ndarray, noun_scores: np.ndarray, top_n: int = TOP_N
) -> tuple[np.ndarray, np.ndarray]:
    """Official action scores: ids ``(N, K)`` int64 and scores ``(N, K)``, best first, from verb (N, V) / noun (N, Nn).

    K = ``min(top_n, min(top_n, V) * min(top_n, Nn))``; e.g. 100 for EPIC's 97 x 300 and for 12 x 28.
    """
    verb_scores, noun_scores = _as_float(verb_scores, "verb_scores"), _as_float(noun_scores, "noun_scores")
    if len(verb_scores) != len(noun_scores):
        raise ValueError(f"{len(verb_scores)} verb rows but {len(noun_scores)} noun rows")
    verbs, verb_top = _top(verb_scores, top_n)
    nouns, noun_top = _top(noun_scores, top_n)
    verb_probs, noun_probs = _whole_array_softmax(verb_top), _whole_array_softmax(noun_top)
    keep = min(top_n, verbs.shape[1] * nouns.shape[1])
    ids = np.empty((len(verbs), keep), dtype=np.int64)
    scores = np.empty((len(verbs), keep), dtype=verb_probs.dtype)
    # The normalisation above is global; the pair ranking is per row, so rows go in chunks (~16M pairs each)
    # instead of holding EPIC's N x 10,000 products and their argsort at once.
    step = max(1, _CHUNK_PAIRS // max(1, verbs.shape[1] * nouns.shape[1]))
    for start in range(0, len(verbs), step):
        rows = slice(start, start + step)
        pairs = (verb_probs[rows, :, None] * noun_probs[rows, None, :]).reshape(len(verbs[rows]), -1)
        order = rank(pairs)[:, :keep]
        verb_pos, noun_pos = np.divmod(order, nouns.shape[1])
        ids[rows] = action_id(
            np.take_along_axis(verbs[rows], verb_pos, axis=1), np.take_along_axis(nouns[rows], noun_pos, axis=1)
        )
        scores[rows] = np.take_along_axis(pairs, order, axis=1)
    return ids, scores


def rank_actions(ids: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Action ids ``(N, K)`` re-ranked by their scores ``(N, K)``, best first, as the official dict ranking does."""
    ids, scores = np.asarray(ids), np.asarray(scores)
    if ids.shape != scores.shape or ids.ndim != 2:
        raise ValueError(f"action ids {ids.shape} and scores {scores.shape} must be the same (N, K) shape")
    return np.take_along_axis(ids, rank(scores), axis=1)


def _check_labels(labels: np.ndarray, scores: np.ndarray, name: str) -> np.ndarray:
    labels = np.asarray(labels, dtype=np.int64)
    if labels.shape != (len(scores),):
        raise ValueError(f"{name}_labels must be ({len(scores)},), got {labels.shape}")
    bad = (labels < 0) | (labels >= scores.shape[1])
    if bad.any():
        raise ValueError(f"{name}_labels must be in 0..{scores.shape[1] - 1}, found {labels[bad][0]}")
    return labels


def _subset(
    key: str, ranks: dict[str, np.ndarray], labels: dict[str, np.ndarray], masks: dict[str, np.ndarray]
) -> dict[str, float]:
    """Top-1 of each task over the segments of its mask; NaN (with a warning) when a mask is empty."""
    out = {}
    for task in TASKS:
        mask = masks[task]
        if not mask.any():
            warnings.warn(f"no {key} segments for {task}: {key}_{task}_accuracy_at_1 is NaN", stacklevel=3)
        out[f"{key}_{task}_accuracy_at_1"] = ranked_topk_accuracy(ranks[task][mask], labels[task][mask], (1,))[1]
    return out


def epic_metrics(
    verb_scores: np.ndarray,
    noun_scores: np.ndarray,
    verb_labels: np.ndarray,
    noun_labels: np.ndarray,
    participants: Sequence[str],
    *,
    unseen: set[str] | None = None,
    tail_verbs: set[int] | None = None,
    tail_nouns: set[int] | None = None,
    action_scores: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict[str, float]:
    """Official EPIC-100 accuracies in percent from verb (N, V) / noun (N, Nn) scores and labels (N,).

    Keys: ``all_{verb,noun,action}_accuracy_at_{1,5}``; ``unseen_*_accuracy_at_1`` when ``unseen`` is given;
    ``tail_*_accuracy_at_1`` when the tail classes are given (both sets or neither). ``action_scores``: ids and
    scores (N, K) taken from a submission's ``action`` entries; by default :func:`compute_action_scores`.
    """
    verb_scores, noun_scores = _as_float(verb_scores, "verb_scores"), _as_float(noun_scores, "noun_scores")
    labels = {
        "verb": _check_labels(verb_labels, verb_scores, "verb"),
        "noun": _check_labels(noun_labels, noun_scores, "noun"),
    }
    labels["action"] = action_id(labels["verb"], labels["noun"])
    who = np.asarray(list(participants), dtype=object)
    if who.shape != labels["verb"].shape:
        raise ValueError(f"{len(who)} participants for {len(labels['verb'])} segments")
    if (tail_verbs is None) != (tail_nouns is None):
        raise ValueError("give both tail_verbs and tail_nouns (the tail action subset needs both) or neither")
    ids, scores = action_scores if action_scores is not None else compute_action_scores(verb_scores, noun_scores)
    if len(ids) != len(who):
        raise ValueError(f"{len(ids)} action score rows for {len(who)} segments")
    ranks = {"verb": rank(verb_scores), "noun": rank(noun_scores), "action": rank_actions(ids, scores)}
    metrics: dict[str, float] = {}
    for task in TASKS:
        top = ranked_topk_accuracy(ranks[task], labels[task], (1, 5))
        metrics.update({f"all_{task}_accuracy_at_{k}": top[k] for k in (1, 5)})
    if unseen is not None:
        mask = np.isin(who, list(unseen))
        metrics.update(_subset("unseen", ranks, labels, dict.fromkeys(TASKS, mask)))
    if tail_verbs is not None and tail_nouns is not None:
        verb_tail = np.isin(labels["verb"], list(tail_verbs))
        noun_tail = np.isin(labels["noun"], list(tail_nouns))
        masks = {"verb": verb_tail, "noun": noun_tail, "action": verb_tail | noun_tail}
        metrics.update(_subset("tail", ranks, labels, masks))
    return metrics


def metrics_to_json(metrics: dict[str, float]) -> dict[str, float | None]:
    """The metrics with NaN replaced by None, so ``json.dumps`` writes valid JSON (``null``)."""
    return {key: None if math.isnan(value) else float(value) for key, value in metrics.items()}
