"""The synthetic kitchen's vocabulary: nouns (appearance), verbs (motion), kitchens (participants), actions.

Class ids are tuple indices. Nouns differ by shape, colour and texture; verbs differ only by how the hand and
the object move. Which (verb, noun) pairs exist follows the noun's category and affordances (you cannot open
a knife).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

CATEGORIES: tuple[str, ...] = ("container", "utensil", "food", "appliance")

RGB = tuple[int, int, int]


@dataclass(frozen=True)
class Noun:
    """An object class: its look (shape, colours, texture, size in frame heights) and what it affords."""

    name: str
    category: str
    shape: str  # body outline: ellipse, rect, round-rect, stick, wedge, blob, tall
    colour: RGB
    texture: str  # plain stripes hstripes dots checker speckle rings grain holes veins grid brushed
    size: tuple[float, float]  # (width, height) in units of the frame height
    accent: RGB = (60, 60, 60)  # lids, handles, details
    parts: tuple[str, ...] = ()  # drawn details: lid, handles, handle-long, handle-ring, rim, leaf, door, ...
    affords: frozenset[str] = frozenset()  # lid, door, switch, slide, holds, shake


@dataclass(frozen=True)
class Verb:
    """An action class defined by motion; ``reverse_of`` names the verb whose frames it plays backwards."""

    name: str
    motion: str
    reverse_of: str | None
    categories: tuple[str, ...]  # noun categories it applies to
    needs: tuple[str, ...]  # the noun must afford one of these (empty: any noun of those categories)
    duration: tuple[float, float]  # action length range in seconds (a reversal pair shares it)
    share: float  # fraction of all action samples that use this verb


@dataclass(frozen=True)
class Kitchen:
    """A participant: background, lighting, camera shake and the wearer's hands."""

    name: str
    wall: RGB
    wall_pattern: str  # tiles, stripes, plain, bricks
    counter: RGB
    counter_pattern: str  # wood, marble, plain, checker
    horizon: float  # wall/counter boundary, fraction of the frame height
    brightness: float
    tint: tuple[float, float, float]  # per-channel gain (R, G, B)
    gradient: tuple[float, float]  # (angle in radians, strength) of a linear light falloff across the frame
    shake: float  # high-frequency camera shake amplitude, fraction of the frame height
    skin: RGB
    sleeve: RGB


def _n(name: str, category: str, shape: str, colour: RGB, texture: str, size: tuple[float, float],
       accent: RGB = (60, 60, 60), parts: tuple[str, ...] = (), affords: str = "") -> Noun:  # fmt: skip
    return Noun(name, category, shape, colour, texture, size, accent, parts, frozenset(affords.split()))


NOUNS: tuple[Noun, ...] = (
    _n("pot", "container", "ellipse", (150, 152, 165), "brushed", (0.30, 0.20), (95, 95, 110),
       ("handles", "rim", "lid"), "lid holds slide"),
    _n("pan", "container", "ellipse", (45, 45, 50), "speckle", (0.24, 0.20), (25, 25, 25),
       ("handle-long", "rim"), "holds slide shake"),
    _n("bowl", "container", "ellipse", (238, 226, 196), "dots", (0.24, 0.14), (60, 90, 190),
       ("rim",), "holds slide"),
    _n("jar", "container", "round-rect", (205, 135, 45), "stripes", (0.12, 0.20), (200, 40, 40),
       ("lid",), "lid slide shake"),
    _n("cup", "container", "round-rect", (205, 40, 45), "plain", (0.10, 0.12), (150, 25, 30),
       ("handle-ring", "rim"), "holds slide"),
    _n("bottle", "container", "tall", (40, 150, 75), "hstripes", (0.08, 0.27), (240, 240, 240),
       ("neck", "lid"), "lid shake"),
    _n("box", "container", "rect", (185, 145, 95), "grid", (0.20, 0.16), (150, 110, 65),
       ("lid",), "lid slide shake"),
    _n("plate", "container", "ellipse", (150, 195, 235), "rings", (0.27, 0.12), (80, 130, 200),
       ("rim",), "slide"),
    _n("knife", "utensil", "stick", (205, 208, 215), "plain", (0.30, 0.05), (25, 25, 30), ("blade",)),
    _n("spoon", "utensil", "stick", (190, 140, 80), "grain", (0.27, 0.07), (150, 105, 55), ("head-oval",)),
    _n("fork", "utensil", "stick", (175, 180, 195), "brushed", (0.25, 0.06), (40, 90, 160), ("tines",)),
    _n("spatula", "utensil", "stick", (245, 125, 30), "plain", (0.27, 0.08), (40, 40, 40), ("head-flat",)),
    _n("board", "utensil", "round-rect", (205, 165, 105), "grain", (0.36, 0.20), (150, 110, 60),
       ("hole",), "slide"),
    _n("sponge", "utensil", "rect", (245, 225, 60), "dots", (0.13, 0.08), (50, 160, 70), ("layer",)),
    _n("tomato", "food", "ellipse", (222, 50, 40), "plain", (0.11, 0.10), (40, 140, 40), ("leaf",)),
    _n("carrot", "food", "wedge", (245, 130, 30), "hstripes", (0.24, 0.07), (60, 160, 50), ("leaf",)),
    _n("cheese", "food", "wedge", (248, 212, 80), "holes", (0.16, 0.11), (215, 170, 40)),
    _n("bread", "food", "round-rect", (175, 110, 50), "speckle", (0.22, 0.12), (120, 70, 30), ("scores",)),
    _n("egg", "food", "ellipse", (242, 232, 212), "plain", (0.07, 0.09), (200, 190, 170)),
    _n("lettuce", "food", "blob", (95, 185, 65), "veins", (0.18, 0.15), (190, 235, 150)),
    _n("potato", "food", "ellipse", (185, 150, 90), "dots", (0.13, 0.09), (110, 80, 40)),
    _n("onion", "food", "ellipse", (150, 65, 120), "stripes", (0.12, 0.12), (230, 200, 220), ("leaf",)),
    _n("hob", "appliance", "rect", (35, 35, 40), "plain", (0.40, 0.17), (120, 120, 125),
       ("burners", "knob", "light"), "switch"),
    _n("kettle", "appliance", "round-rect", (215, 215, 225), "brushed", (0.16, 0.21), (40, 40, 45),
       ("spout", "handle-ring", "knob", "light"), "switch slide"),
    _n("microwave", "appliance", "rect", (70, 70, 78), "plain", (0.38, 0.25), (25, 25, 28),
       ("door", "window", "knob", "light"), "door switch"),
    _n("tap", "appliance", "rect", (120, 130, 140), "brushed", (0.34, 0.16), (215, 215, 225),
       ("faucet", "knob"), "switch"),
    _n("toaster", "appliance", "round-rect", (195, 45, 55), "checker", (0.21, 0.15), (40, 40, 40),
       ("slots", "knob", "light"), "switch slide"),
    _n("fridge", "appliance", "rect", (236, 238, 242), "plain", (0.30, 0.52), (150, 150, 160),
       ("door",), "door"),
)  # fmt: skip


def _v(name: str, motion: str, reverse_of: str | None, categories: str, needs: str,
       duration: tuple[float, float], share: float) -> Verb:  # fmt: skip
    return Verb(name, motion, reverse_of, tuple(categories.split()), tuple(needs.split()), duration, share)


_HANDHELD = "container utensil food"
VERBS: tuple[Verb, ...] = (
    _v("take", "lift off the counter towards the camera", None, _HANDHELD, "", (0.45, 0.75), 0.13),
    _v("put", "lower from the camera onto the counter", "take", _HANDHELD, "", (0.45, 0.75), 0.13),
    _v("open", "lid lifts off and aside / door swings open", None, "container appliance", "lid door",
       (0.5, 0.85), 0.08),
    _v("close", "lid back on / door swings shut", "open", "container appliance", "lid door",
       (0.5, 0.85), 0.08),
    _v("turn-on", "knob turns clockwise, light comes on", None, "appliance", "switch", (0.4, 0.7), 0.06),
    _v("turn-off", "light goes off, knob turns back", "turn-on", "appliance", "switch", (0.4, 0.7), 0.06),
    _v("push", "object slides away (up, smaller)", None, "container utensil appliance", "slide",
       (0.45, 0.75), 0.05),
    _v("pull", "object slides nearer (down, larger)", "push", "container utensil appliance", "slide",
       (0.45, 0.75), 0.05),
    _v("cut", "knife goes down and up (back-and-forth) over the food", None, "food", "", (0.6, 1.0), 0.10),
    _v("stir", "spoon circles inside the container", None, "container", "holds", (0.6, 1.0), 0.07),
    _v("shake", "held object oscillates fast", None, "container", "shake", (0.5, 0.8), 0.06),
    _v("wash", "small circles under running water", None, _HANDHELD, "", (0.6, 1.0), 0.13),
)  # fmt: skip

REVERSAL_PAIRS: tuple[tuple[str, str], ...] = tuple((v.reverse_of, v.name) for v in VERBS if v.reverse_of is not None)
MOTION_PATTERN_VERBS: tuple[str, ...] = ("cut", "stir", "shake", "wash")

KITCHENS: tuple[Kitchen, ...] = (
    Kitchen("white tiles, wood counter", (225, 225, 215), "tiles", (165, 120, 75), "wood", 0.36, 1.0,
            (1.0, 1.0, 1.0), (0.3, 0.25), 0.004, (230, 180, 150), (40, 60, 120)),
    Kitchen("green stripes, marble", (120, 165, 120), "stripes", (215, 215, 220), "marble", 0.40, 0.9,
            (0.95, 1.03, 0.95), (2.6, 0.30), 0.008, (190, 140, 105), (150, 40, 40)),
    Kitchen("dark bricks, slate", (120, 70, 55), "bricks", (70, 75, 85), "plain", 0.33, 0.78,
            (1.08, 0.98, 0.88), (1.2, 0.40), 0.012, (235, 195, 170), (200, 200, 200)),
    Kitchen("blue plain, white counter", (110, 150, 200), "plain", (240, 240, 235), "plain", 0.42, 1.12,
            (0.92, 0.98, 1.1), (4.0, 0.20), 0.002, (140, 95, 70), (230, 160, 40)),
    Kitchen("yellow tiles, checker floor-like counter", (230, 205, 120), "tiles", (120, 110, 100), "checker",
            0.38, 1.05, (1.1, 1.02, 0.9), (0.0, 0.35), 0.006, (215, 160, 125), (60, 120, 70)),
    Kitchen("grey wood", (150, 150, 150), "plain", (130, 85, 50), "wood", 0.30, 0.85,
            (1.0, 1.0, 1.0), (5.2, 0.25), 0.010, (200, 150, 120), (90, 40, 130)),
    Kitchen("pink stripes, marble", (210, 160, 175), "stripes", (190, 185, 170), "marble", 0.44, 1.08,
            (1.05, 0.95, 1.0), (3.5, 0.30), 0.005, (170, 120, 90), (30, 30, 30)),
    Kitchen("teal bricks, light wood", (70, 140, 140), "bricks", (205, 170, 120), "wood", 0.35, 0.95,
            (0.95, 1.05, 1.05), (1.9, 0.35), 0.007, (225, 185, 160), (180, 90, 30)),
)  # fmt: skip


def noun_id(name: str) -> int:
    """Class id of the noun called ``name``."""
    return next(i for i, n in enumerate(NOUNS) if n.name == name)


def verb_id(name: str) -> int:
    """Class id of the verb called ``name``."""
    return next(i for i, v in enumerate(VERBS) if v.name == name)


def reversal_partners(names: Sequence[str]) -> list[int]:
    """For each verb in ``names`` (a dataset's class list), the index in ``names`` of its time-reversal partner,
    or -1 for verbs without one (or whose partner is not in the list)."""
    other = {a: b for pair in REVERSAL_PAIRS for a, b in (pair, pair[::-1])}
    return [names.index(other[n]) if other.get(n) in names else -1 for n in names]


def _allowed(verb: Verb, noun: Noun) -> bool:
    return noun.category in verb.categories and (not verb.needs or bool(noun.affords & set(verb.needs)))


def compatible_actions() -> list[tuple[int, int]]:
    """(verb_id, noun_id) pairs allowed by the noun's category and affordances, sorted."""
    return [(v, n) for v, verb in enumerate(VERBS) for n, noun in enumerate(NOUNS) if _allowed(verb, noun)]


def action_frequencies(seed: int = 0, *, exponent: float = 1.2) -> dict[tuple[int, int], float]:
    """Long-tailed sampling weights (sum 1): each verb keeps its ``share``; its nouns follow a Zipf law.

    A reversal pair shares its noun ranking so that the noun never gives the verb away.
    """
    by_verb: dict[int, list[int]] = {}
    for v, n in compatible_actions():
        by_verb.setdefault(v, []).append(n)
    names = [v.name for v in VERBS]
    total = sum(v.share for v in VERBS)
    weights: dict[tuple[int, int], float] = {}
    for v, nouns in by_verb.items():
        base = VERBS[v].reverse_of or VERBS[v].name
        order = np.random.default_rng([seed, names.index(base)]).permutation(len(nouns))
        zipf = 1.0 / (np.arange(1, len(nouns) + 1) ** exponent)
        zipf = zipf / zipf.sum() * VERBS[v].share / total
        for rank, k in enumerate(order):
            weights[(v, nouns[k])] = float(zipf[rank])
    return dict(sorted(weights.items()))
