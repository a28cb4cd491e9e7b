"""The synthetic kitchen's vocabulary: nouns are appearance, verbs motion, actions compatible pairs."""

from __future__ import annotations

from collections import defaultdict

from egoaction.data.synth.world import (
    CATEGORIES,
    KITCHENS,
    MOTION_PATTERN_VERBS,
    NOUNS,
    REVERSAL_PAIRS,
    VERBS,
    action_frequencies,
    compatible_actions,
    noun_id,
    reversal_partners,
    verb_id,
)


def test_enough_nouns_in_four_categories_each_looking_different():
    assert len(NOUNS) >= 20
    assert set(CATEGORIES) == {"container", "utensil", "food", "appliance"}
    assert {n.category for n in NOUNS} == set(CATEGORIES)
    names = [n.name for n in NOUNS]
    assert len(set(names)) == len(names) and all(n == n.lower() for n in names)
    looks = {(n.shape, n.colour, n.texture) for n in NOUNS}
    assert len(looks) == len(NOUNS)  # no two nouns share shape, colour and texture
    assert len({n.colour for n in NOUNS}) == len(NOUNS)
    assert len({n.shape for n in NOUNS}) >= 5 and len({n.texture for n in NOUNS}) >= 8


def test_verbs_include_the_four_reversal_pairs_and_motion_pattern_verbs():
    assert len(VERBS) >= 10
    names = [v.name for v in VERBS]
    assert len(set(names)) == len(names)
    expected = {("take", "put"), ("open", "close"), ("turn-on", "turn-off"), ("push", "pull")}
    assert set(REVERSAL_PAIRS) == expected
    for base, reverse in REVERSAL_PAIRS:
        a, b = VERBS[verb_id(base)], VERBS[verb_id(reverse)]
        assert b.reverse_of == base and a.reverse_of is None
        # same timing, same nouns: only the order of frames tells them apart
        assert (a.duration, a.categories, a.needs) == (b.duration, b.categories, b.needs)
    assert len(MOTION_PATTERN_VERBS) >= 3 and {"cut", "stir", "shake"} <= set(MOTION_PATTERN_VERBS)
    assert all(VERBS[verb_id(v)].reverse_of is None for v in MOTION_PATTERN_VERBS)


def test_compatible_actions_never_pair_a_verb_with_a_wrong_category():
    actions = compatible_actions()
    assert len(actions) == len(set(actions)) >= 101  # enough classes for a UCF101-sized label set
    for v, n in actions:
        verb, noun = VERBS[v], NOUNS[n]
        assert noun.category in verb.categories
        assert not verb.needs or noun.affords & set(verb.needs)
    pairs = {(VERBS[v].name, NOUNS[n].name) for v, n in actions}
    for impossible in [("open", "knife"), ("cut", "fridge"), ("turn-on", "tomato"), ("take", "fridge"),
                       ("stir", "knife"), ("shake", "hob"), ("push", "egg")]:  # fmt: skip
        assert impossible not in pairs
    for possible in [
        ("open", "fridge"),
        ("cut", "tomato"),
        ("turn-on", "hob"),
        ("stir", "pot"),
        ("take", "cup"),
    ]:
        assert possible in pairs


def test_every_noun_and_every_verb_appears_in_some_action():
    actions = compatible_actions()
    assert {n for _, n in actions} == set(range(len(NOUNS)))
    assert {v for v, _ in actions} == set(range(len(VERBS)))


def test_action_frequencies_are_long_tailed_and_keep_every_verb_learnable():
    freq = action_frequencies(0)
    assert set(freq) == set(compatible_actions())
    assert abs(sum(freq.values()) - 1) < 1e-9
    assert max(freq.values()) / min(freq.values()) >= 10
    per_verb: dict[int, float] = defaultdict(float)
    for (v, _), p in freq.items():
        per_verb[v] += p
    assert min(per_verb.values()) >= 0.03
    for base, reverse in REVERSAL_PAIRS:  # the noun never gives a reversed verb away
        for n in range(len(NOUNS)):
            a, b = (verb_id(base), n), (verb_id(reverse), n)
            assert freq.get(a) == freq.get(b)


def test_action_frequencies_are_deterministic_per_seed():
    assert action_frequencies(3) == action_frequencies(3)
    assert action_frequencies(3) != action_frequencies(4)
    assert sorted(action_frequencies(3).values()) == sorted(action_frequencies(4).values())


def test_at_least_six_kitchens_with_their_own_look_and_shake():
    assert len(KITCHENS) >= 6
    assert len({(k.wall, k.counter) for k in KITCHENS}) == len(KITCHENS)
    assert len({k.shake for k in KITCHENS}) == len(KITCHENS)
    assert len({(k.brightness, k.tint, k.gradient) for k in KITCHENS}) == len(KITCHENS)


def test_lookups_by_name():
    assert NOUNS[noun_id("fridge")].category == "appliance"
    assert VERBS[verb_id("turn-on")].name == "turn-on"


def test_reversal_partners_index_the_partner_in_the_given_class_list():
    names = ["cut", "put", "take", "open", "wash"]  # any order, and "close" missing
    assert reversal_partners(names) == [-1, 2, 1, -1, -1]
