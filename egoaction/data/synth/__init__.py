"""The synthetic egocentric kitchen: vocabulary (world), per-video scripts (plan) and the renderer (render).

Nouns are appearance, verbs are motion of hands entering from the bottom edge, kitchens are participants.
``render_video(plan_untrimmed(rng, kitchen=0, fps=60, num_actions=5), 128, 228)`` gives uint8 RGB frames.
"""

from egoaction.data.synth.plan import ActionPlan, VideoPlan, plan_clip, plan_untrimmed, sample_actions
from egoaction.data.synth.render import render_video
from egoaction.data.synth.world import (
    CATEGORIES,
    KITCHENS,
    MOTION_PATTERN_VERBS,
    NOUNS,
    REVERSAL_PAIRS,
    VERBS,
    Kitchen,
    Noun,
    Verb,
    action_frequencies,
    compatible_actions,
    reversal_partners,
)

__all__ = [
    "CATEGORIES",
    "KITCHENS",
    "MOTION_PATTERN_VERBS",
    "NOUNS",
    "REVERSAL_PAIRS",
    "VERBS",
    "ActionPlan",
    "Kitchen",
    "Noun",
    "Verb",
    "VideoPlan",
    "action_frequencies",
    "compatible_actions",
    "plan_clip",
    "plan_untrimmed",
    "render_video",
    "reversal_partners",
    "sample_actions",
]
