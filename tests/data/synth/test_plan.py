"""Per-video scripts: ordered, non-overlapping actions with an approach before each and gaps between them."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from egoaction.data.synth.plan import ActionPlan, VideoPlan, plan_clip, plan_untrimmed, sample_actions
from egoaction.data.synth.world import NOUNS, VERBS, action_frequencies, noun_id, verb_id


def _untrimmed(seed: int, fps: float = 60.0, n: int = 12) -> VideoPlan:
    return plan_untrimmed(np.random.default_rng(seed), kitchen=seed % 8, fps=fps, num_actions=n)


@pytest.mark.parametrize("fps", [24.0, 50.0, 60.0])
def test_untrimmed_actions_are_ordered_with_approach_before_and_gaps_between(fps):
    for seed in range(5):
        plan = _untrimmed(seed, fps)
        assert len(plan.actions) == 12
        for a in plan.actions:
            assert 0 <= a.approach < a.start <= a.stop < plan.num_frames
            assert (a.verb, a.noun) in action_frequencies(0)
        for a, b in zip(plan.actions, plan.actions[1:]):
            assert b.approach - a.stop - 1 >= round(0.2 * fps)  # a real gap, not just a cut
        assert plan.num_frames - 1 - plan.actions[-1].stop >= round(0.15 * fps)  # room for the retreat


def test_durations_are_in_seconds_so_frame_counts_scale_with_fps():
    slow, fast = _untrimmed(7, fps=30.0), _untrimmed(7, fps=60.0)
    assert [(a.verb, a.noun) for a in slow.actions] == [(a.verb, a.noun) for a in fast.actions]
    for a, b in zip(slow.actions, fast.actions):
        assert abs((b.stop - b.start + 1) - 2 * (a.stop - a.start + 1)) <= 1
        assert 0.4 <= (a.stop - a.start + 1) / 30.0 <= 1.05
    assert fast.num_frames / slow.num_frames == pytest.approx(2.0, rel=0.05)


def test_plans_are_deterministic_for_a_seed():
    assert _untrimmed(11) == _untrimmed(11)
    assert _untrimmed(11) != _untrimmed(12)
    clip = {"kitchen": 1, "fps": 25.0, "verb": verb_id("cut"), "noun": noun_id("bread")}
    assert plan_clip(np.random.default_rng(3), **clip) == plan_clip(np.random.default_rng(3), **clip)


def test_given_actions_are_used_in_order_and_bad_ones_rejected():
    wanted = [(verb_id("open"), noun_id("fridge")), (verb_id("take"), noun_id("cup"))]
    plan = plan_untrimmed(np.random.default_rng(0), kitchen=0, fps=50, num_actions=2, actions=wanted)
    assert [(a.verb, a.noun) for a in plan.actions] == wanted
    with pytest.raises(ValueError, match="compatible"):
        plan_untrimmed(
            np.random.default_rng(0),
            kitchen=0,
            fps=50,
            num_actions=1,
            actions=[(verb_id("open"), noun_id("knife"))],
        )
    with pytest.raises(ValueError, match="num_actions"):
        plan_untrimmed(np.random.default_rng(0), kitchen=0, fps=50, num_actions=3, actions=wanted)
    with pytest.raises(ValueError, match="compatible"):
        plan_clip(np.random.default_rng(0), kitchen=0, fps=25, verb=verb_id("cut"), noun=noun_id("fridge"))


def test_clip_is_one_action_filling_almost_the_whole_clip():
    for seed in range(10):
        plan = plan_clip(np.random.default_rng(seed), kitchen=2, fps=25.0, verb=verb_id("stir"), noun=noun_id("pot"))
        (a,) = plan.actions
        assert 0 == a.approach < a.start <= a.stop < plan.num_frames
        assert (a.stop - a.start + 1) / plan.num_frames >= 0.6
    fixed = plan_clip(
        np.random.default_rng(0),
        kitchen=2,
        fps=25.0,
        verb=verb_id("stir"),
        noun=noun_id("pot"),
        num_frames=16,
    )
    assert fixed.num_frames == 16 and fixed.actions[0].stop <= 15
    with pytest.raises(ValueError, match="at least 3"):
        plan_clip(
            np.random.default_rng(0),
            kitchen=2,
            fps=25.0,
            verb=verb_id("stir"),
            noun=noun_id("pot"),
            num_frames=2,
        )


def test_reversal_partners_get_identical_timing_from_the_same_rng_state():
    for base, reverse, noun in [("take", "put", "cup"), ("open", "close", "jar"), ("push", "pull", "box")]:
        a = plan_clip(np.random.default_rng(5), kitchen=0, fps=30.0, verb=verb_id(base), noun=noun_id(noun))
        b = plan_clip(np.random.default_rng(5), kitchen=0, fps=30.0, verb=verb_id(reverse), noun=noun_id(noun))
        assert (a.seed, a.num_frames, a.actions[0].start, a.actions[0].stop) == (
            b.seed, b.num_frames, b.actions[0].start, b.actions[0].stop)  # fmt: skip


def test_video_plan_rejects_overlapping_or_unordered_actions():
    ok = ActionPlan(0, 2, approach=1, start=3, stop=5)
    VideoPlan(0, 30.0, 10, 0, (ok,))
    with pytest.raises(ValueError, match="approach"):
        VideoPlan(0, 30.0, 10, 0, (ok, ActionPlan(0, 2, approach=4, start=6, stop=7)))  # starts before ok stops
    with pytest.raises(ValueError):
        VideoPlan(0, 30.0, 10, 0, (ActionPlan(0, 2, approach=3, start=3, stop=5),))  # no approach frame
    with pytest.raises(ValueError):
        VideoPlan(0, 30.0, 5, 0, (ok,))  # runs past the end
    with pytest.raises(ValueError, match="kitchen"):
        VideoPlan(99, 30.0, 10, 0, (ok,))


def test_sampled_actions_follow_the_long_tailed_frequencies():
    freq = action_frequencies(0)
    counts = Counter(sample_actions(np.random.default_rng(0), 20000))
    head = max(freq, key=lambda k: freq[k])
    assert counts[head] / 20000 == pytest.approx(freq[head], rel=0.1)
    tail = sorted(freq, key=lambda k: freq[k])[:10]
    assert sum(counts[k] for k in tail) < counts[head] / 3
    verbs = Counter(VERBS[v].name for v, _ in counts.elements())
    assert min(verbs.values()) / 20000 >= 0.03
    assert len({n for _, n in counts}) == len(NOUNS)
