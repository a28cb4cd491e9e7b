"""Library entry points of the ``epic-score`` and ``epic-submission`` commands."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from egoaction.data.errors import FormatError
from egoaction.data.formats.epic100 import (
    NOUN_CLASSES,
    VERB_CLASSES,
    read_class_names,
    read_table,
    read_tail_classes,
    read_unseen_participants,
)
from egoaction.metrics.epic import epic_metrics
from egoaction.metrics.submission import SubmissionError, read_scores, write_submission

EPIC_NUM_VERBS = 97
EPIC_NUM_NOUNS = 300
NEEDED_COLUMNS = ("narration_id", "participant_id", "verb_class", "noun_class")


def class_counts(folder: Path) -> tuple[int, int]:
    """Verb and noun class counts from the EPIC_100_{verb,noun}_classes.csv in ``folder``, else 97 and 300."""
    verbs, nouns = folder / VERB_CLASSES, folder / NOUN_CLASSES
    num_verbs = len(read_class_names(verbs)) if verbs.is_file() else EPIC_NUM_VERBS
    num_nouns = len(read_class_names(nouns)) if nouns.is_file() else EPIC_NUM_NOUNS
    return num_verbs, num_nouns


def _class_column(path: Path, table: pd.DataFrame, column: str, num_classes: int) -> np.ndarray:
    values = table[column].str.strip()
    ok = values.str.isdecimal()
    ok[ok] = values[ok].astype(int) < num_classes
    if not ok.all():
        row = int(np.argmin(ok.to_numpy()))
        raise FormatError(
            path,
            f"{column} = {values.iloc[row]!r} is not a class id (expected an integer in 0..{num_classes - 1})",
            row + 2,
        )
    return values.astype(np.int64).to_numpy()


def read_labels(path: str | Path, num_verbs: int, num_nouns: int) -> pd.DataFrame:
    """narration_id, participant_id (str) and verb_class, noun_class (int) of an EPIC annotation CSV."""
    path = Path(path)
    table = read_table(path, NEEDED_COLUMNS)
    if table.empty:
        raise FormatError(path, "no segments (expected at least one labelled row)")
    duplicated = table["narration_id"].duplicated()
    if duplicated.any():
        row = int(np.argmax(duplicated.to_numpy()))
        raise FormatError(path, f"narration_id {table['narration_id'].iloc[row]!r} appears twice", row + 2)
    return pd.DataFrame(
        {
            "narration_id": table["narration_id"],
            "participant_id": table["participant_id"],
            "verb_class": _class_column(path, table, "verb_class", num_verbs),
            "noun_class": _class_column(path, table, "noun_class", num_nouns),
        }
    )


def _align(scores_path: Path, annotations: Path, scored: list[str], annotated: list[str]) -> np.ndarray:
    """Row of each annotated segment in the score file; every id must be scored and no other id present."""
    where = {nid: i for i, nid in enumerate(scored)}
    missing = [nid for nid in annotated if nid not in where]
    if missing:
        raise SubmissionError(
            scores_path, f"{len(missing)} narration id(s) of {annotations.name} have no scores (first: {missing[:3]})"
        )
    known = set(annotated)
    extra = [nid for nid in scored if nid not in known]
    if extra:
        raise SubmissionError(
            scores_path, f"{len(extra)} narration id(s) are not in {annotations.name} (first: {extra[:3]})"
        )
    return np.array([where[nid] for nid in annotated], dtype=np.int64)


def epic_score(
    scores_path: str | Path,
    annotations_csv: str | Path,
    *,
    unseen_csv: str | Path | None = None,
    tail_verbs_csv: str | Path | None = None,
    tail_nouns_csv: str | Path | None = None,
) -> dict[str, float]:
    """Official EPIC-100 accuracies (percent) of a score file against an annotation CSV with labels.

    Class counts come from the class CSVs beside the annotations (97 / 300 without them). The file's own
    ``action`` entries are used when present, else the official top-100 x top-100 action scores.
    """
    scores_path, annotations_csv = Path(scores_path), Path(annotations_csv)
    if (tail_verbs_csv is None) != (tail_nouns_csv is None):
        raise ValueError("give both tail_verbs_csv and tail_nouns_csv (tail actions need both) or neither")
    num_verbs, num_nouns = class_counts(annotations_csv.parent)
    labels = read_labels(annotations_csv, num_verbs, num_nouns)
    scores = read_scores(scores_path, num_verbs=num_verbs, num_nouns=num_nouns)
    rows = _align(scores_path, annotations_csv, scores.narration_ids, labels["narration_id"].tolist())
    action = None if scores.action is None else (scores.action["ids"][rows], scores.action["scores"][rows])
    return epic_metrics(
        scores.verb[rows],
        scores.noun[rows],
        labels["verb_class"].to_numpy(),
        labels["noun_class"].to_numpy(),
        labels["participant_id"].tolist(),
        unseen=read_unseen_participants(unseen_csv) if unseen_csv is not None else None,
        tail_verbs=read_tail_classes(tail_verbs_csv) if tail_verbs_csv is not None else None,
        tail_nouns=read_tail_classes(tail_nouns_csv) if tail_nouns_csv is not None else None,
        action_scores=action,
    )


def epic_submission(
    scores_path: str | Path,
    out_zip: str | Path,
    *,
    sls_pt: int = 2,
    sls_tl: int = 3,
    sls_td: int = 4,
    challenge: str = "action_recognition",
) -> Path:
    """Convert any readable score file (.zip, .json, .pt, .pkl) to the official submission zip; returns its path.

    An ``out_zip`` ending in ``.json`` gets the plain JSON instead.
    """
    scores = read_scores(scores_path)
    return write_submission(out_zip, scores, challenge=challenge, sls_pt=sls_pt, sls_tl=sls_tl, sls_td=sls_td)
