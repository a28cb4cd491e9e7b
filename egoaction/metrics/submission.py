"""EPIC-100 score files: the official submission JSON (v0.2, zipped as ``test.json``) and the C1 results files.

Submission layout (``create_submission.py`` of epic-kitchens/C1-Action-Recognition)::

    {"version": "0.2", "challenge": "action_recognition", "sls_pt": 2, "sls_tl": 3, "sls_td": 4,
     "results": {"P01_101_0": {"verb": {"0": 1.2, ..., "96": 0.1}, "noun": {"0": 0.8, ..., "299": 0.0},
                               "action": {"2,37": 0.85, ...}}}}   # "action" optional: 100 entries, all or none

C1 results files (``.pt`` / ``.pkl``) hold either a list of ``{"verb_output": (V,), "noun_output": (Nn,),
"narration_id": str}`` or a dict of arrays ``verb_output (N, V)``, ``noun_output (N, Nn)``, ``narration_id (N,)``.
They are unpickled (``torch.load(weights_only=False)``), which can run code: read only files you trust.
"""

from __future__ import annotations

import json
import math
import pickle
import zipfile
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from egoaction.atomic import atomic_path
from egoaction.data.errors import DataError
from egoaction.metrics.epic import ACTION_VERB_MULTIPLIER, TOP_N

VERSION = "0.2"
CHALLENGES = ("action_recognition", "action_anticipation")
SLS_KEYS = ("sls_pt", "sls_tl", "sls_td")
ZIP_MEMBER = "test.json"
RESULT_KEYS = ("verb_output", "noun_output", "narration_id")


class SubmissionError(DataError):
    """A score file cannot be used: the message names the file and the first offending narration id or key."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


@dataclass
class ScoreSet:
    """Scores of N segments: ``verb`` (N, V), ``noun`` (N, Nn); ``action`` optionally {"ids", "scores"}, both (N, K).

    ``action["ids"]`` are ``verb * 1000 + noun`` (int64) in file order; ``meta`` holds the submission header
    (version, challenge, sls_*) or ``{"format": "c1_results"}``.
    """

    narration_ids: list[str]
    verb: np.ndarray
    noun: np.ndarray
    action: dict[str, np.ndarray] | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.narration_ids)
        if self.verb.ndim != 2 or self.noun.ndim != 2 or len(self.verb) != n or len(self.noun) != n:
            raise ValueError(
                f"{n} narration ids need verb (N, V) and noun (N, Nn), got {self.verb.shape}, {self.noun.shape}"
            )
        if self.action is not None:
            ids, scores = self.action["ids"], self.action["scores"]
            if ids.ndim != 2 or ids.shape != scores.shape or len(ids) != n:
                raise ValueError(f"action ids {ids.shape} and scores {scores.shape} must both be ({n}, K)")


def _check_header(challenge: str, sls: dict[str, int]) -> None:
    if challenge not in CHALLENGES:
        raise ValueError(f"challenge must be one of {CHALLENGES}, got {challenge!r}")
    for key, level in sls.items():
        if isinstance(level, bool) or not isinstance(level, int) or not 0 <= level <= 5:
            raise ValueError(f"{key} must be an integer in 0..5, got {level!r}")


def _action_entries(ids: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    verbs, nouns = np.divmod(ids, ACTION_VERB_MULTIPLIER)
    entries = {f"{v},{n}": s for v, n, s in zip(verbs.tolist(), nouns.tolist(), scores.tolist())}
    if len(entries) != len(ids):
        raise ValueError(f"duplicate action ids in {ids.tolist()}")
    return entries


def _results(scores: ScoreSet) -> dict[str, dict[str, dict[str, float]]]:
    """The ``results`` object: every class id of every task, as strings, for every segment."""
    verb_keys = [str(i) for i in range(scores.verb.shape[1])]
    noun_keys = [str(i) for i in range(scores.noun.shape[1])]
    results = {}
    for i, nid in enumerate(scores.narration_ids):
        entry = {
            "verb": dict(zip(verb_keys, scores.verb[i].tolist())),
            "noun": dict(zip(noun_keys, scores.noun[i].tolist())),
        }
        if scores.action is not None:
            entry["action"] = _action_entries(scores.action["ids"][i], scores.action["scores"][i])
        results[nid] = entry
    return results


def _atomic_write(path: Path, text: str, as_zip: bool) -> None:
    """Write ``text`` (zipped as test.json if ``as_zip``) to a temporary file beside ``path``, then rename it."""
    with atomic_path(path) as tmp, tmp.open("wb") as f:
        if as_zip:
            with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=5) as zf:
                zf.writestr(ZIP_MEMBER, text)
        else:
            f.write(text.encode("utf-8"))


def write_submission(
    path: str | Path,
    scores: ScoreSet,
    *,
    challenge: str = "action_recognition",
    sls_pt: int = 2,
    sls_tl: int = 3,
    sls_td: int = 4,
    zip: bool | None = None,
) -> Path:
    """Write the official submission: a zip holding ``test.json`` (``.zip`` or ``zip=True``) or plain JSON.

    The sls_* levels (0..5) default to the official ``create_submission.py`` CLI defaults. Written atomically.
    """
    path = Path(path)
    sls = {"sls_pt": sls_pt, "sls_tl": sls_tl, "sls_td": sls_td}
    _check_header(challenge, sls)
    arrays = {"verb": scores.verb, "noun": scores.noun}
    if scores.action is not None:
        arrays["action"] = scores.action["scores"]
    for name, array in arrays.items():  # the builtin zip is shadowed by the argument here
        bad = ~np.isfinite(array).all(axis=1)
        if bad.any():
            nid = scores.narration_ids[int(np.argmax(bad))]
            raise ValueError(f"segment {nid!r} has non-finite {name} scores; JSON cannot hold them")
    submission = {"version": VERSION, "challenge": challenge, **sls, "results": _results(scores)}
    as_zip = path.suffix.lower() == ".zip" if zip is None else zip
    _atomic_write(path, json.dumps(submission), as_zip)
    return path


class _DuplicateKeyError(ValueError):
    """A JSON object repeats a key (json.loads would silently keep the last one)."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        duplicate = next(k for k, count in Counter(k for k, _ in pairs).items() if count > 1)
        raise _DuplicateKeyError(f"key {duplicate!r} appears twice in one JSON object")
    return obj


def _parse_json(path: Path, data: bytes) -> Any:
    try:
        return json.loads(data.decode("utf-8"), object_pairs_hook=_unique_keys)
    except UnicodeDecodeError as e:
        raise SubmissionError(path, f"not UTF-8 text ({e.reason} at byte {e.start})") from None
    except json.JSONDecodeError as e:
        raise SubmissionError(path, f"not valid JSON ({e.msg} at line {e.lineno} column {e.colno})") from None
    except _DuplicateKeyError as e:
        raise SubmissionError(path, str(e)) from None


def _zip_member(path: Path) -> bytes:
    """Bytes of ``test.json`` (or the only ``.json``) in the zip at ``path``."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            jsons = [n for n in names if n.endswith(".json")]
            if ZIP_MEMBER not in names and len(jsons) != 1:
                raise SubmissionError(path, f"expected {ZIP_MEMBER} in the zip, found {names}")
            return zf.read(ZIP_MEMBER if ZIP_MEMBER in names else jsons[0])
    except (zipfile.BadZipFile, zlib.error, EOFError) as e:
        raise SubmissionError(path, f"not a readable zip archive, truncated or corrupt? ({e})") from None


def _finite_number(value: Any) -> bool:
    try:
        return type(value) in (int, float) and math.isfinite(value)
    except OverflowError:  # an integer beyond float range
        return False


def _number_array(path: Path, nid: str, task: str, keys: Sequence[str], scores: dict[str, Any]) -> np.ndarray:
    """The scores of ``keys`` as float64, checking each is a finite JSON number (not a string or bool)."""
    values = [scores[k] for k in keys]
    try:
        array = np.array(values, dtype=np.float64) if all(type(v) in (int, float) for v in values) else None
    except OverflowError:
        array = None
    if array is None or not np.isfinite(array).all():
        key = next(k for k, v in zip(keys, values) if not _finite_number(v))
        raise SubmissionError(
            path, f"segment {nid!r}: {task} score of {key!r} is {scores[key]!r} (expected a finite number)"
        )
    return array


def _class_scores(path: Path, nid: str, entry: Any, task: str, keys: list[str], keyset: set[str]) -> np.ndarray:
    """Scores of all classes of one task of one segment: keys (``keyset`` = set(keys)) must be exactly '0'..'C-1'."""
    if not isinstance(entry, dict) or not isinstance(entry.get(task), dict):
        raise SubmissionError(path, f"segment {nid!r}: missing {task!r} scores (expected an object of class scores)")
    scores = entry[task]
    if scores.keys() != keyset:
        missing = [k for k in keys if k not in scores]
        extra = sorted(set(scores) - keyset)
        what = f"no score for class(es) {missing[:5]}" if missing else f"unexpected class key(s) {extra[:5]}"
        raise SubmissionError(path, f"segment {nid!r}: {task} has {what} (expected keys '0'..'{len(keys) - 1}')")
    return _number_array(path, nid, task, keys, scores)


def _action_scores(
    path: Path, nid: str, entry: dict[str, Any], shape: tuple[int, int, int]
) -> tuple[list[int], np.ndarray]:
    """Action ids and scores of one segment; ``shape`` = (verbs, nouns, expected entry count)."""
    num_verbs, num_nouns, count = shape
    actions = entry["action"]
    if not isinstance(actions, dict) or len(actions) != count:
        size = len(actions) if isinstance(actions, dict) else type(actions).__name__
        raise SubmissionError(
            path, f"segment {nid!r}: {size} action scores (expected exactly {count} 'verb,noun' keys)"
        )
    ids = []
    for key in actions:
        parts = key.split(",")
        if len(parts) != 2 or not all(p.strip().isdecimal() for p in parts):
            raise SubmissionError(path, f"segment {nid!r}: action key {key!r} is not 'verb,noun'")
        verb, noun = int(parts[0]), int(parts[1])
        if verb >= num_verbs or noun >= num_nouns:
            raise SubmissionError(
                path, f"segment {nid!r}: action {key!r} is outside {num_verbs} verbs x {num_nouns} nouns"
            )
        ids.append(verb * ACTION_VERB_MULTIPLIER + noun)
    return ids, _number_array(path, nid, "action", list(actions), actions)


def _check_submission_header(path: Path, obj: Any) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise SubmissionError(path, f"the top level is a JSON {type(obj).__name__}, expected an object")
    for key in ("version", "challenge", *SLS_KEYS, "results"):
        if key not in obj:
            raise SubmissionError(path, f"missing key {key!r} (expected version, challenge, sls_pt/tl/td, results)")
    if obj["version"] != VERSION:
        raise SubmissionError(path, f"version {obj['version']!r} is not supported (expected {VERSION!r})")
    if obj["challenge"] not in CHALLENGES:
        raise SubmissionError(path, f"challenge {obj['challenge']!r} is not one of {CHALLENGES}")
    for key in SLS_KEYS:
        level = obj[key]
        if type(level) is not int or not 0 <= level <= 5:
            raise SubmissionError(path, f"{key} = {level!r} must be an integer in 0..5")
    if not isinstance(obj["results"], dict) or not obj["results"]:
        raise SubmissionError(path, "'results' must be a non-empty object keyed by narration id")
    return {key: obj[key] for key in ("version", "challenge", *SLS_KEYS)}


def _infer_count(path: Path, nid: str, entry: Any, task: str, given: int | None) -> int:
    if given is not None:
        return given
    if not isinstance(entry, dict) or not isinstance(entry.get(task), dict) or not entry[task]:
        raise SubmissionError(path, f"segment {nid!r}: missing {task!r} scores (expected an object of class scores)")
    return len(entry[task])


def _from_submission(path: Path, obj: Any, num_verbs: int | None, num_nouns: int | None) -> ScoreSet:
    """Validate a parsed submission like the official validator and collect its scores."""
    meta = _check_submission_header(path, obj)
    results: dict[str, Any] = obj["results"]
    first_id, first = next(iter(results.items()))
    num_verbs = _infer_count(path, first_id, first, "verb", num_verbs)
    num_nouns = _infer_count(path, first_id, first, "noun", num_nouns)
    verb_keys, noun_keys = [str(i) for i in range(num_verbs)], [str(i) for i in range(num_nouns)]
    verb_set, noun_set = set(verb_keys), set(noun_keys)
    has_action = isinstance(first, dict) and "action" in first
    action_shape = (num_verbs, num_nouns, min(TOP_N, num_verbs * num_nouns))
    verbs, nouns, action_ids, action_scores = [], [], [], []
    for nid, entry in results.items():
        verbs.append(_class_scores(path, nid, entry, "verb", verb_keys, verb_set))
        nouns.append(_class_scores(path, nid, entry, "noun", noun_keys, noun_set))
        if ("action" in entry) != has_action:
            where = "has" if has_action else "lacks"
            raise SubmissionError(
                path,
                f"segment {nid!r}: action scores must be given for all segments or none ({first_id!r} {where} them)",
            )
        if has_action:
            ids, scores = _action_scores(path, nid, entry, action_shape)
            action_ids.append(ids)
            action_scores.append(scores)
    action = {"ids": np.array(action_ids, dtype=np.int64), "scores": np.stack(action_scores)} if has_action else None
    return ScoreSet(list(results), np.stack(verbs), np.stack(nouns), action, meta)


def _to_numpy(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor, possibly on a GPU
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def _collate(path: Path, obj: Any) -> dict[str, Any]:
    """C1 results (list of per-segment dicts or dict of arrays) -> dict of stacked arrays."""
    if isinstance(obj, dict):
        rows = obj
    elif isinstance(obj, (list, tuple)) and obj and all(isinstance(r, dict) for r in obj):
        for i, r in enumerate(obj):
            missing = [k for k in RESULT_KEYS if k not in r]
            if missing:
                raise SubmissionError(path, f"result {i} ({r.get('narration_id', '?')!r}) lacks {missing}")
        rows = {k: [r[k] for r in obj] for k in RESULT_KEYS}
        rows = {k: (v if k == "narration_id" else np.stack([_to_numpy(x) for x in v])) for k, v in rows.items()}
    else:
        raise SubmissionError(path, f"expected a list of result dicts or a dict of arrays, got {type(obj).__name__}")
    missing = [k for k in RESULT_KEYS if k not in rows]
    if missing:
        raise SubmissionError(path, f"missing {missing} (expected keys {list(RESULT_KEYS)})")
    return rows


def _from_results(path: Path, obj: Any, num_verbs: int | None, num_nouns: int | None) -> ScoreSet:
    """Validate C1 results (``verb_output``, ``noun_output``, ``narration_id``) and wrap them."""
    rows = _collate(path, obj)
    ids = [str(n) for n in _to_numpy(rows["narration_id"]).reshape(-1).tolist()]
    arrays = {}
    for task, expected in (("verb", num_verbs), ("noun", num_nouns)):
        array = _to_numpy(rows[f"{task}_output"])
        if array.ndim != 2 or len(array) != len(ids) or not np.issubdtype(array.dtype, np.number):
            raise SubmissionError(
                path, f"{task}_output must be a numeric ({len(ids)}, C) array, got {array.dtype} {array.shape}"
            )
        if expected is not None and array.shape[1] != expected:
            raise SubmissionError(path, f"{task}_output has {array.shape[1]} classes (expected {expected})")
        bad = ~np.isfinite(array).all(axis=1)
        if bad.any():
            raise SubmissionError(path, f"segment {ids[int(np.argmax(bad))]!r}: non-finite {task} scores")
        arrays[task] = array
    if len(set(ids)) != len(ids):
        duplicate = next(n for n, count in Counter(ids).items() if count > 1)
        raise SubmissionError(path, f"narration id {duplicate!r} appears twice")
    return ScoreSet(ids, arrays["verb"], arrays["noun"], None, {"format": "c1_results"})


def _unpickle(path: Path) -> Any:
    try:
        if path.suffix.lower() == ".pkl":
            with path.open("rb") as f:
                return pickle.load(f)
        import torch

        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # any unpickling failure means the same to the user: unreadable file
        raise SubmissionError(path, f"cannot load the results file ({type(e).__name__}: {e})") from None


def read_scores(path: str | Path, *, num_verbs: int | None = None, num_nouns: int | None = None) -> ScoreSet:
    """Read and validate a score file: submission ``.zip`` / ``.json``, or C1 results ``.pt`` / ``.pth`` / ``.pkl``.

    ``num_verbs`` / ``num_nouns`` fix the class counts; by default the first segment's counts are required of all.
    """
    path = Path(path)
    if not path.is_file():
        raise SubmissionError(path, "score file not found")
    suffix = path.suffix.lower()
    if suffix in (".zip", ".json"):
        data = _zip_member(path) if suffix == ".zip" else path.read_bytes()
        return _from_submission(path, _parse_json(path, data), num_verbs, num_nouns)
    if suffix in (".pt", ".pth", ".pkl"):
        return _from_results(path, _unpickle(path), num_verbs, num_nouns)
    raise SubmissionError(path, f"unknown score file type {suffix!r} (expected .zip, .json, .pt, .pth or .pkl)")
