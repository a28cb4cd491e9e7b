"""Temporal samplers: which file numbers of an inclusive range ``[first, last]`` make one clip.

Every sampler returns ``np.ndarray[int64]`` numbers inside ``[first, last]`` (ranges shorter than the clip
repeat or clamp frames, never leave the range) and offers deterministic test-time ``views`` for multi-view
testing.

- :class:`TSNSampler`: TSN segments (one random frame, or snippet, per equal part; part centres at test).
- :class:`DenseSampler`: one contiguous clip with a stride (C3D, R(2+1)D, SlowFast style).
- :class:`LinspaceSampler`: Ego-RNN / LSTA evenly spaced frames, identical at train and test.
- :class:`FlowStackSampler`: stacks of consecutive flow frames (Ego-RNN's rule for a single stack).

Parts are continuous: part ``k`` of ``S`` covers ``[k*N/S, (k+1)*N/S)`` and a frame is picked by flooring a
point inside it, so every frame of the range can be drawn (TSN's integer parts drop the remainder at the end)
and ranges shorter than ``S`` repeat frames evenly. Views are distinct only when the range has room for
them; on short ranges they repeat rather than leave the range.
"""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np


class Sampler(Protocol):
    """Picks the file numbers of one clip from an inclusive range of file numbers."""

    def __call__(self, first: int, last: int, *, train: bool, rng: np.random.Generator) -> np.ndarray:
        """One clip's numbers, shape (T,), all within [first, last]; random when ``train``."""
        ...

    def views(self, first: int, last: int, num_views: int) -> list[np.ndarray]:
        """``num_views`` deterministic test-time clips, each shape (T,)."""
        ...


def make_generator(seed: int, epoch: int, index: int) -> np.random.Generator:
    """Per-sample RNG so that a (seed, epoch, index) triple always draws the same clip, in any worker."""
    return np.random.default_rng([seed, epoch, index])


def _check_range(first: int, last: int) -> int:
    """Length of the inclusive range; ValueError when it is empty."""
    if last < first:
        raise ValueError(f"empty frame range [{first}, {last}] (expected first <= last)")
    return last - first + 1


def _in_parts(num_starts: int, parts: int, where: np.ndarray) -> np.ndarray:
    """Offsets (parts,) in [0, num_starts) at relative positions ``where`` (in [0, 1)) of equal parts."""
    points = (np.arange(parts) + where) * (num_starts / parts)
    return np.minimum(np.floor(points).astype(np.int64), num_starts - 1)


def _snippets(first: int, last: int, starts: np.ndarray, length: int) -> np.ndarray:
    """Each start and the next ``length - 1`` numbers, clamped to ``last``: shape (len(starts) * length,)."""
    numbers = starts[:, None] + np.arange(length, dtype=np.int64)[None, :]
    return np.clip(numbers, first, last).reshape(-1).astype(np.int64)


def _check_views(num_views: int) -> None:
    if num_views < 1:
        raise ValueError(f"num_views must be >= 1, got {num_views}")


class TSNSampler:
    """TSN: ``num_segments`` equal parts, ``frames_per_segment`` consecutive numbers in each.

    Train: a uniformly random start in each part; test: the start at each part's centre. With
    ``frames_per_segment = L`` the parts split the ``N - L + 1`` valid starts, so a snippet never runs past
    ``last`` unless the range is shorter than ``L`` (then it is clamped to ``last``).
    """

    def __init__(self, num_segments: int = 8, frames_per_segment: int = 1) -> None:
        if num_segments < 1 or frames_per_segment < 1:
            raise ValueError("num_segments and frames_per_segment must be >= 1")
        self.num_segments = num_segments
        self.frames_per_segment = frames_per_segment

    def _at(self, first: int, last: int, where: np.ndarray) -> np.ndarray:
        num_starts = max(_check_range(first, last) - self.frames_per_segment + 1, 1)
        starts = first + _in_parts(num_starts, self.num_segments, where)
        return _snippets(first, last, starts, self.frames_per_segment)

    def __call__(self, first: int, last: int, *, train: bool, rng: np.random.Generator) -> np.ndarray:
        """(num_segments * frames_per_segment,) numbers: random in each part when ``train``, else centres."""
        where = rng.random(self.num_segments) if train else np.full(self.num_segments, 0.5)
        return self._at(first, last, where)

    def views(self, first: int, last: int, num_views: int) -> list[np.ndarray]:
        """View v takes position (v + 0.5) / num_views inside every part; one view equals the test clip."""
        _check_views(num_views)
        return [self._at(first, last, np.full(self.num_segments, (v + 0.5) / num_views)) for v in range(num_views)]


class DenseSampler:
    """One contiguous clip: ``clip_len`` numbers ``stride`` apart (span ``(clip_len - 1) * stride + 1``).

    Train: a uniformly random start; test: the centred start. Ranges shorter than the span start at ``first``
    and clamp the numbers past ``last`` to ``last`` (repeating the last frame, as PySlowFast and MMAction2's
    ``repeat_last`` do).
    """

    def __init__(self, clip_len: int = 16, stride: int = 2) -> None:
        if clip_len < 1 or stride < 1:
            raise ValueError("clip_len and stride must be >= 1")
        self.clip_len = clip_len
        self.stride = stride

    @property
    def span(self) -> int:
        """Frames covered by one clip, first to last number inclusive."""
        return (self.clip_len - 1) * self.stride + 1

    def _from(self, first: int, last: int, start: int) -> np.ndarray:
        numbers = start + self.stride * np.arange(self.clip_len, dtype=np.int64)
        return np.minimum(numbers, last)

    def __call__(self, first: int, last: int, *, train: bool, rng: np.random.Generator) -> np.ndarray:
        """(clip_len,) numbers: random start when ``train``, else the centred one."""
        num_starts = max(_check_range(first, last) - self.span + 1, 1)
        offset = int(rng.integers(num_starts)) if train else num_starts // 2
        return self._from(first, last, first + offset)

    def views(self, first: int, last: int, num_views: int) -> list[np.ndarray]:
        """Starts at the centres of ``num_views`` equal parts of the valid starts (1 view: the test clip)."""
        _check_views(num_views)
        num_starts = max(_check_range(first, last) - self.span + 1, 1)
        offsets = _in_parts(num_starts, num_views, np.full(num_views, 0.5))
        return [self._from(first, last, first + int(o)) for o in offsets]


class LinspaceSampler:
    """Ego-RNN / LSTA: ``floor(np.linspace(first, last, num_frames, endpoint))``, the same at train and test.

    With files ``1..N`` this is Ego-RNN's ``np.linspace(1, N, seqLen, endpoint=False)`` (``endpoint=False``,
    the last file is never picked) or LSTA's ``endpoint=True``.
    """

    def __init__(self, num_frames: int = 25, endpoint: bool = False) -> None:
        if num_frames < 1:
            raise ValueError("num_frames must be >= 1")
        self.num_frames = num_frames
        self.endpoint = endpoint

    def _at(self, first: int, last: int, shift: float) -> np.ndarray:
        _check_range(first, last)
        points, step = np.linspace(first, last, self.num_frames, endpoint=self.endpoint, retstep=True)
        spacing = 0.0 if math.isnan(step) else float(step)  # NaN when num_frames == 1 with endpoint=True
        numbers = np.floor(points + shift * spacing).astype(np.int64)
        return np.clip(numbers, first, last)

    def __call__(self, first: int, last: int, *, train: bool, rng: np.random.Generator) -> np.ndarray:
        """(num_frames,) evenly spaced numbers; ``train`` and ``rng`` are ignored (a deterministic rule)."""
        return self._at(first, last, 0.0)

    def views(self, first: int, last: int, num_views: int) -> list[np.ndarray]:
        """View v shifts every point by v / num_views of the spacing; view 0 is the train/test clip."""
        _check_views(num_views)
        return [self._at(first, last, v / num_views) for v in range(num_views)]


class FlowStackSampler:
    """``num_stacks`` stacks of ``stack_len`` consecutive flow numbers: shape (num_stacks * stack_len,).

    One stack follows Ego-RNN (files ``1..N``, ``L = stack_len``): train start ``random.randint(1, N - L)``
    (both ends inclusive), test start ``ceil((N - L) / 2)``, start 1 when ``N <= L``; views are Ego-RNN's
    sequence mode, starts ``int(np.linspace(1, N - L + 1, V, endpoint=False))``. These rules are applied to
    ``first..last`` as if ``first`` were file 1. More stacks follow TSN over the valid starts
    (:class:`TSNSampler` with ``frames_per_segment = stack_len``). Numbers past ``last`` are clamped.
    """

    def __init__(self, num_stacks: int = 1, stack_len: int = 5) -> None:
        if num_stacks < 1 or stack_len < 1:
            raise ValueError("num_stacks and stack_len must be >= 1")
        self.num_stacks = num_stacks
        self.stack_len = stack_len
        self._tsn = TSNSampler(num_stacks, stack_len)

    def _stack(self, first: int, last: int, start: int) -> np.ndarray:
        return _snippets(first, last, np.array([start], dtype=np.int64), self.stack_len)

    def __call__(self, first: int, last: int, *, train: bool, rng: np.random.Generator) -> np.ndarray:
        """(num_stacks * stack_len,) numbers, each stack's numbers consecutive."""
        if self.num_stacks > 1:
            return self._tsn(first, last, train=train, rng=rng)
        n, length = _check_range(first, last), self.stack_len
        if n <= length:
            offset = 0
        elif train:
            offset = int(rng.integers(0, n - length))  # randint(1, N - L) inclusive, minus 1
        else:
            offset = math.ceil((n - length) / 2) - 1
        return self._stack(first, last, first + offset)

    def views(self, first: int, last: int, num_views: int) -> list[np.ndarray]:
        """Deterministic test stacks: Ego-RNN's sequence mode for one stack, TSN views for more."""
        _check_views(num_views)
        if self.num_stacks > 1:
            return self._tsn.views(first, last, num_views)
        n, length = _check_range(first, last), self.stack_len
        if n <= length:
            return [self._stack(first, last, first) for _ in range(num_views)]
        starts = np.linspace(1, n - length + 1, num_views, endpoint=False).astype(np.int64)
        return [self._stack(first, last, first - 1 + int(s)) for s in starts]
