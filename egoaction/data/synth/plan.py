"""One synthetic video's script: which actions happen at which frames (durations in seconds x fps)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from egoaction.data.synth.world import KITCHENS, NOUNS, VERBS, action_frequencies, compatible_actions

LEAD_IN_S = (0.1, 0.3)  # idle time before the first hand appears
APPROACH_S = (0.2, 0.3)  # hand enters from the bottom edge and reaches the object
CLIP_APPROACH_S = (0.12, 0.25)  # shorter approach in trimmed clips
GAP_S = (0.25, 0.5)  # from one action's last frame to the next approach (retreat, then pan)
RETREAT_S = 0.15  # hand leaves through the bottom edge
TAIL_S = (0.1, 0.2)  # idle time after the last retreat


@dataclass(frozen=True)
class ActionPlan:
    """One action of a video: frames are 0-based and inclusive; the hand starts entering at ``approach``."""

    verb: int
    noun: int
    approach: int
    start: int
    stop: int


@dataclass(frozen=True)
class VideoPlan:
    """A whole video: kitchen (participant), frame rate, length, render seed and its ordered actions."""

    kitchen: int
    fps: float
    num_frames: int
    seed: int
    actions: tuple[ActionPlan, ...]

    def __post_init__(self) -> None:
        if not 0 <= self.kitchen < len(KITCHENS):
            raise ValueError(f"kitchen {self.kitchen} out of range; expected 0..{len(KITCHENS) - 1}")
        last = -1
        for a in self.actions:
            if not last < a.approach < a.start <= a.stop < self.num_frames:
                raise ValueError(
                    f"action {a} breaks previous stop ({last}) < approach < start <= stop < {self.num_frames}"
                )
            last = a.stop


def _frames(seconds: float, fps: float) -> int:
    return max(1, round(seconds * fps))


def _check_action(verb: int, noun: int) -> None:
    if (verb, noun) not in set(compatible_actions()):
        v = VERBS[verb].name if 0 <= verb < len(VERBS) else verb
        n = NOUNS[noun].name if 0 <= noun < len(NOUNS) else noun
        raise ValueError(f"({v!r}, {n!r}) is not a compatible action; see world.compatible_actions()")


def sample_actions(rng: np.random.Generator, n: int, *, frequency_seed: int = 0) -> list[tuple[int, int]]:
    """``n`` (verb, noun) actions drawn from the long-tailed ``action_frequencies(frequency_seed)``."""
    freq = action_frequencies(frequency_seed)
    keys = list(freq)
    picks = rng.choice(len(keys), size=n, p=np.array([freq[k] for k in keys]))
    return [keys[int(i)] for i in picks]


def plan_untrimmed(
    rng: np.random.Generator,
    *,
    kitchen: int,
    fps: float,
    num_actions: int,
    actions: Sequence[tuple[int, int]] | None = None,
    frequency_seed: int = 0,
    gap_s: tuple[float, float] = GAP_S,
) -> VideoPlan:
    """Untrimmed video: approach -> action -> retreat -> gap, repeated (actions sampled unless given).

    ``gap_s`` is the range of seconds from one action's end to the next approach (the hand retreats, then the
    view pans to another part of the counter); shorter gaps mean fewer frames per action.
    """
    seed = int(rng.integers(0, 2**62))
    if actions is None:
        actions = sample_actions(rng, num_actions, frequency_seed=frequency_seed)
    elif len(actions) != num_actions:
        raise ValueError(f"got {len(actions)} actions but num_actions={num_actions}")
    t = _frames(rng.uniform(*LEAD_IN_S), fps)
    planned = []
    for verb, noun in actions:
        _check_action(verb, noun)
        start = t + _frames(rng.uniform(*APPROACH_S), fps)
        stop = start + _frames(rng.uniform(*VERBS[verb].duration), fps) - 1
        planned.append(ActionPlan(verb, noun, t, start, stop))
        t = stop + 1 + max(_frames(rng.uniform(*gap_s), fps), _frames(RETREAT_S, fps) + 1)
    end = planned[-1].stop + 1 + _frames(RETREAT_S, fps) + _frames(rng.uniform(*TAIL_S), fps) if planned else t
    return VideoPlan(kitchen, float(fps), end, seed, tuple(planned))


def plan_clip(
    rng: np.random.Generator,
    *,
    kitchen: int,
    fps: float,
    verb: int,
    noun: int,
    num_frames: int | None = None,
) -> VideoPlan:
    """Trimmed clip (GTEA / UCF style): a short approach, then one action filling the rest but a frame or two.

    The random draws do not depend on the verb, so a reversal pair with the same rng state gets the same
    timing and scene (its action frames are each other's reversal).
    """
    _check_action(verb, noun)
    seed = int(rng.integers(0, 2**62))
    approach = _frames(rng.uniform(*CLIP_APPROACH_S), fps)
    lo, hi = VERBS[verb].duration
    length = _frames(lo + (hi - lo) * rng.uniform(), fps)
    tail = _frames(0.05, fps)
    if num_frames is not None:
        if num_frames < 3:
            raise ValueError(f"num_frames={num_frames}: a clip needs at least 3 frames (approach, action, tail)")
        approach = min(approach, max(1, num_frames // 4))
        tail = min(tail, max(1, num_frames // 8))
        length = num_frames - approach - tail
    action = ActionPlan(verb, noun, 0, approach, approach + length - 1)
    return VideoPlan(kitchen, float(fps), approach + length + tail, seed, (action,))
