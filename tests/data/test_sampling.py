"""Temporal samplers: ranges, TSN parts, dense clips, Ego-RNN linspace, flow stacks, views, per-sample RNG."""

from __future__ import annotations

import math

import numpy as np
import pytest

from egoaction.data.sampling import (
    DenseSampler,
    FlowStackSampler,
    LinspaceSampler,
    TSNSampler,
    make_generator,
)

SAMPLERS = [
    TSNSampler(8),
    TSNSampler(3, frames_per_segment=5),
    DenseSampler(16, 2),
    DenseSampler(4, 5),
    LinspaceSampler(25),
    LinspaceSampler(16, endpoint=True),
    FlowStackSampler(1, 5),
    FlowStackSampler(3, 5),
]
RANGES = [(1, 1), (1, 2), (1, 5), (1, 7), (3, 9), (1, 30), (17, 200), (1000, 1003), (0, 63)]


def _length(sampler) -> int:
    for attr in ("clip_len", "num_frames"):
        if hasattr(sampler, attr):
            return getattr(sampler, attr)
    if isinstance(sampler, TSNSampler):
        return sampler.num_segments * sampler.frames_per_segment
    return sampler.num_stacks * sampler.stack_len


@pytest.mark.parametrize("sampler", SAMPLERS, ids=lambda s: type(s).__name__)
def test_every_sampler_stays_in_range_with_its_length(sampler):
    rng = np.random.default_rng(0)
    for first, last in RANGES:
        clips = [sampler(first, last, train=t, rng=rng) for t in (True, False) for _ in range(20)]
        clips += sampler.views(first, last, 4)
        for clip in clips:
            assert clip.dtype == np.int64 and clip.shape == (_length(sampler),)
            assert clip.min() >= first and clip.max() <= last, (first, last, clip)


@pytest.mark.parametrize("sampler", SAMPLERS, ids=lambda s: type(s).__name__)
def test_empty_range_is_rejected(sampler):
    with pytest.raises(ValueError, match="empty frame range"):
        sampler(5, 4, train=False, rng=np.random.default_rng(0))


def test_tsn_test_clip_is_the_part_centres():
    # 80 frames in 8 parts of 10: centres at offsets 5, 15, ... 75
    clip = TSNSampler(8)(1, 80, train=False, rng=np.random.default_rng(0))
    assert clip.tolist() == [6, 16, 26, 36, 46, 56, 66, 76]
    # 10 frames in 4 parts of 2.5: floor(1.25), floor(3.75), floor(6.25), floor(8.75)
    assert TSNSampler(4)(0, 9, train=False, rng=np.random.default_rng(0)).tolist() == [1, 3, 6, 8]


def test_tsn_short_range_repeats_frames_evenly():
    clip = TSNSampler(6)(10, 12, train=False, rng=np.random.default_rng(0))
    assert clip.tolist() == [10, 10, 11, 11, 12, 12]
    train = TSNSampler(6)(10, 12, train=True, rng=np.random.default_rng(1))
    assert np.all(np.diff(train) >= 0)


def test_tsn_train_draws_one_number_per_part_and_reaches_all_of_it():
    sampler, rng = TSNSampler(4), np.random.default_rng(0)
    seen: list[set[int]] = [set() for _ in range(4)]
    for _ in range(400):
        clip = sampler(1, 40, train=True, rng=rng)
        for k, number in enumerate(clip):
            seen[k].add(int(number))
    assert seen == [set(range(1 + 10 * k, 11 + 10 * k)) for k in range(4)]


def test_tsn_snippets_are_consecutive_within_valid_starts():
    sampler = TSNSampler(3, frames_per_segment=4)
    clip = sampler(1, 30, train=False, rng=np.random.default_rng(0))
    # 27 valid starts in 3 parts of 9: centre starts 1 + floor(4.5), 1 + floor(13.5), 1 + floor(22.5)
    assert clip.reshape(3, 4).tolist() == [[5, 6, 7, 8], [14, 15, 16, 17], [23, 24, 25, 26]]


def test_dense_clip_is_contiguous_with_stride_and_centred_at_test():
    sampler = DenseSampler(clip_len=16, stride=2)
    clip = sampler(1, 100, train=False, rng=np.random.default_rng(0))
    # span 31, 70 valid starts, centred offset 35
    assert clip.tolist() == list(range(36, 67, 2))
    rng = np.random.default_rng(0)
    starts = set()
    for _ in range(2000):
        clip = sampler(1, 100, train=True, rng=rng)
        assert np.all(np.diff(clip) == 2)
        starts.add(int(clip[0]))
    assert starts == set(range(1, 71))


def test_dense_short_range_clamps_to_last():
    clip = DenseSampler(clip_len=4, stride=3)(5, 10, train=True, rng=np.random.default_rng(0))
    assert clip.tolist() == [5, 8, 10, 10]


@pytest.mark.parametrize(("n", "seq_len"), [(30, 25), (7, 16), (100, 25), (25, 25), (5, 7)])
def test_linspace_equals_ego_rnn_formula(n, seq_len):
    expected = [int(np.floor(i)) for i in np.linspace(1, n, seq_len, endpoint=False)]
    for train in (True, False):
        assert LinspaceSampler(seq_len)(1, n, train=train, rng=np.random.default_rng(0)).tolist() == expected
    shifted = LinspaceSampler(seq_len)(101, 100 + n, train=False, rng=np.random.default_rng(0))
    assert shifted.tolist() == [e + 100 for e in expected]


def test_linspace_hand_computed_and_lsta_endpoint():
    clip = LinspaceSampler(16)(1, 7, train=False, rng=np.random.default_rng(0))
    assert clip.tolist() == [1, 1, 1, 2, 2, 2, 3, 3, 4, 4, 4, 5, 5, 5, 6, 6]
    lsta = LinspaceSampler(4, endpoint=True)(1, 10, train=False, rng=np.random.default_rng(0))
    assert lsta.tolist() == [1, 4, 7, 10]


def test_flow_stack_follows_ego_rnn():
    sampler, rng = FlowStackSampler(1, 5), np.random.default_rng(0)
    starts = set()
    for _ in range(1000):
        clip = sampler(1, 20, train=True, rng=rng)
        assert np.all(np.diff(clip) == 1)
        starts.add(int(clip[0]))
    assert starts == set(range(1, 16))  # random.randint(1, N - 5), inclusive
    assert sampler(1, 20, train=False, rng=rng).tolist() == list(range(8, 13))  # ceil(15 / 2) = 8
    assert sampler(1, 21, train=False, rng=rng).tolist() == list(range(8, 13))  # ceil(16 / 2) = 8
    assert sampler(1, 6, train=False, rng=rng).tolist() == [1, 2, 3, 4, 5]  # ceil(1 / 2) = 1
    assert sampler(1, 5, train=True, rng=rng).tolist() == [1, 2, 3, 4, 5]
    assert sampler(1, 3, train=True, rng=rng).tolist() == [1, 2, 3, 3, 3]
    assert sampler(41, 60, train=False, rng=rng).tolist() == list(range(48, 53))


def test_flow_stack_views_follow_ego_rnn_sequence_mode():
    views = FlowStackSampler(1, 5).views(1, 20, 5)
    # np.linspace(1, 16, 5, endpoint=False) = 1, 4, 7, 10, 13
    assert [int(v[0]) for v in views] == [1, 4, 7, 10, 13]
    assert all(v.tolist() == list(range(v[0], v[0] + 5)) for v in views)
    assert [int(v[0]) for v in FlowStackSampler(1, 5).views(101, 120, 5)] == [101, 104, 107, 110, 113]


def test_flow_multi_stack_is_tsn_over_valid_starts():
    clip = FlowStackSampler(3, 5)(1, 32, train=False, rng=np.random.default_rng(0))
    stacks = clip.reshape(3, 5)
    assert np.all(np.diff(stacks, axis=1) == 1)
    # 28 valid starts in 3 parts: centres 1 + floor(28/6 * (1, 3, 5))
    assert stacks[:, 0].tolist() == [1 + math.floor(28 / 6 * k) for k in (1, 3, 5)]


@pytest.mark.parametrize("sampler", SAMPLERS, ids=lambda s: type(s).__name__)
def test_views_are_deterministic_and_distinct(sampler):
    views = sampler.views(1, 400, 3)
    assert len(views) == 3
    assert all(np.array_equal(a, b) for a, b in zip(views, sampler.views(1, 400, 3)))
    assert len({tuple(v.tolist()) for v in views}) == 3


@pytest.mark.parametrize("sampler", [TSNSampler(8), DenseSampler(8, 4)], ids=lambda s: type(s).__name__)
def test_single_view_is_the_test_clip(sampler):
    test = sampler(1, 97, train=False, rng=np.random.default_rng(0))
    assert np.array_equal(sampler.views(1, 97, 1)[0], test)


def test_tsn_views_shift_every_segment_together():
    views = TSNSampler(4).views(1, 40, 2)
    # parts of 10, positions 0.25 and 0.75 of each part
    assert views[0].tolist() == [3, 13, 23, 33] and views[1].tolist() == [8, 18, 28, 38]


def test_make_generator_reproducible_and_distinct():
    draw = lambda *key: make_generator(*key).integers(1 << 30, size=4).tolist()  # noqa: E731
    assert draw(0, 1, 2) == draw(0, 1, 2)
    assert len({tuple(draw(*key)) for key in [(0, 1, 2), (0, 2, 1), (1, 1, 2), (0, 1, 3)]}) == 4
    sampler = TSNSampler(8)
    a = sampler(1, 500, train=True, rng=make_generator(7, 3, 11))
    b = sampler(1, 500, train=True, rng=make_generator(7, 3, 11))
    assert np.array_equal(a, b)
