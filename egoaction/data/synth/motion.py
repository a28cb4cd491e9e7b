"""How verbs move: the object's and hands' pose at any (fractional) frame of an action's approach, action
and retreat. A reversed verb (put, close, turn-off, pull) is its partner evaluated at the mirrored action
frame, so the two are exact time reversals of each other."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

from egoaction.data.synth.draw import HAND_SCALE, HandPose, ObjectPose
from egoaction.data.synth.paint import HANDLE_AT, door_quad, in_quad
from egoaction.data.synth.plan import ActionPlan
from egoaction.data.synth.sprites import Art
from egoaction.data.synth.world import VERBS

UP = -math.pi / 2
PALM = 0.055  # palm centre sits this far (frame heights) below the point it holds
KNIFE_MID = 0.135 * HAND_SCALE  # palm to the middle of the knife blade
SPOON = 0.16 * HAND_SCALE  # palm to the spoon's bowl


@dataclass(frozen=True)
class Pose:
    """The acted-on object and the hands in one frame (hand positions in station px)."""

    obj: ObjectPose
    hands: tuple[HandPose, ...]


@dataclass(frozen=True)
class Site:
    """Where an action happens: the object's art, its resting centre (station px), frame height and fps."""

    art: Art
    x: float
    y: float
    unit: float
    fps: float


@dataclass(frozen=True)
class Ctx:
    """What a verb's motion depends on: the object's art and resting place, the frame height, the time."""

    art: Art
    ox: float
    oy: float
    unit: float
    t: float  # seconds since the action started (for periodic motions)


def smooth(x: float) -> float:
    """Smoothstep of ``x`` clipped to [0, 1] (ease in and out)."""
    x = min(max(x, 0.0), 1.0)
    return x * x * (3 - 2 * x)


def _grip_hand(c: Ctx, dx: float, dy: float, scale: float, reach: float, grip: float, angle: float = UP) -> HandPose:
    """A hand at the object's grasp point; ``reach`` 0 = there, 1 = a little below it (not there yet)."""
    gx, gy = c.art.grasp
    u = c.unit
    return HandPose(c.ox + dx + gx * scale, c.oy + dy + gy * scale + PALM * u + 0.06 * u * reach, angle, grip)


def _take(c: Ctx, p: float) -> Pose:
    q1, q2 = smooth(p / 0.3), smooth((p - 0.3) / 0.7)
    u = c.unit
    end_dy = min(max(0.82 * u - c.oy, 0.12 * u), 0.4 * u)
    dx, dy = 0.06 * u * q2, end_dy * q2 - 0.06 * u * math.sin(math.pi * q2)
    s = 1.0 + 0.35 * q2
    hand = _grip_hand(c, dx, dy, s, 1 - q1, q1, angle=UP + 0.15)
    return Pose(ObjectPose(dx=dx, dy=dy, scale=s, held=p > 0.3), (hand,))


def _open(c: Ctx, p: float) -> Pose:
    u, art = c.unit, c.art
    if art.door is not None:
        q1, q2 = smooth(p / 0.2), smooth((p - 0.2) / 0.8)
        hx, hy = in_quad(door_quad(art.door, q2), *HANDLE_AT)
        hand = HandPose(c.ox + hx, c.oy + hy + PALM * u + 0.06 * u * (1 - q1), grip=q1, angle=UP - 0.2)
        return Pose(ObjectPose(door=q2), (hand,))
    assert art.lid is not None
    q1, q2, q3 = smooth(p / 0.25), smooth((p - 0.25) / 0.35), smooth((p - 0.6) / 0.4)
    lid_w = art.lid.rgb.shape[1]
    tx = 0.5 * art.w + 0.5 * lid_w + 0.03 * u
    ty = 0.25 * art.h - art.lid_at[1]
    lift = -0.12 * u * q2
    lid = (tx * q3, lift + (ty - lift) * q3 - 0.05 * u * math.sin(math.pi * q3))
    lx, ly = c.ox + art.lid_at[0] + lid[0], c.oy + art.lid_at[1] + lid[1]
    hand = HandPose(lx, ly + PALM * u + 0.06 * u * (1 - q1), grip=q1)
    holder = HandPose(c.ox - 0.5 * art.w - 0.01 * u, c.oy + 0.2 * art.h + 0.03 * u, UP + 0.5, 0.8, side=-1)
    return Pose(ObjectPose(lid=lid), (hand, holder))


def _turn_on(c: Ctx, p: float) -> Pose:
    assert c.art.knob is not None
    u = c.unit
    q1, q2 = smooth(p / 0.25), smooth((p - 0.25) / 0.55)
    kx, ky, r = c.art.knob
    phi = -1.0 + 2.0 * q2  # the hand sweeps from below-left to below-right of the knob
    reach = r + (PALM + 0.02) * u
    hx, hy = c.ox + kx + reach * math.sin(phi), c.oy + ky + reach * math.cos(phi) + 0.06 * u * (1 - q1)
    hand = HandPose(hx, hy, angle=UP + 0.8 * phi, grip=0.5 * q1)
    obj = ObjectPose(knob=q2 * math.pi / 2, on=p >= 0.8, stream=smooth((p - 0.65) / 0.25))
    return Pose(obj, (hand,))


def _push(c: Ctx, p: float) -> Pose:
    u = c.unit
    q1, q2 = smooth(p / 0.2), smooth((p - 0.2) / 0.8)
    dy, s = -0.14 * u * q2, 1 - 0.15 * q2
    hand = HandPose(c.ox, c.oy + dy + 0.5 * c.art.h * s + PALM * u + 0.06 * u * (1 - q1), grip=0.1)
    return Pose(ObjectPose(dy=dy, scale=s), (hand,))


def _cut(c: Ctx, p: float) -> Pose:
    u, art = c.unit, c.art
    stroke = 0.5 - 0.5 * math.cos(2 * math.pi * 2.5 * c.t)  # 2.5 strokes a second
    a = math.pi + 0.35  # knife points left and a little up
    bx = c.ox + art.w * (0.3 - 0.5 * p)
    by = c.oy - 0.5 * art.h - 0.04 * u + (0.5 * art.h + 0.06 * u) * stroke
    hx, hy = bx - KNIFE_MID * u * math.cos(a), by - KNIFE_MID * u * math.sin(a)
    hand = HandPose(hx, hy, UP + 0.3, 1.0, tool="knife", tool_angle=a)
    holder = HandPose(c.ox - 0.5 * art.w, c.oy + 0.04 * u, UP + 0.4, 0.7, side=-1)
    return Pose(ObjectPose(slices=min(4, int(p * 5))), (hand, holder))


def _stir(c: Ctx, p: float) -> Pose:
    assert c.art.mouth is not None
    u = c.unit
    mx, my, rx, ry = c.art.mouth
    ang = 2 * math.pi * 1.6 * c.t
    ry = max(ry, 0.85 * rx)  # rounder than the rim in perspective: both axes move clearly
    tip = (c.ox + mx + 0.55 * rx * math.cos(ang), c.oy + my + 0.55 * ry * math.sin(ang))
    a = UP - 0.5
    hx, hy = tip[0] - SPOON * u * math.cos(a), tip[1] - SPOON * u * math.sin(a)
    hand = HandPose(hx, hy, UP + 0.2, 1.0, tool="spoon", tool_angle=a)
    return Pose(ObjectPose(lidless=True), (hand,))


def _shake(c: Ctx, p: float) -> Pose:
    u = c.unit
    q1, q3 = smooth(p / 0.15), smooth((p - 0.85) / 0.15)
    env = q1 * (1 - q3)
    w = 2 * math.pi * 5.5 * c.t  # 5.5 oscillations a second
    dx = 0.05 * u * env * math.sin(w)
    dy = -0.07 * u * env + 0.3 * dx  # along a line: oscillation, not a circle
    hand = _grip_hand(c, dx, dy, 1.0, 1 - q1 if p < 0.5 else q3, min(q1, 1 - q3))
    return Pose(ObjectPose(dx=dx, dy=dy), (hand,))


def _wash(c: Ctx, p: float) -> Pose:
    u, art = c.unit, c.art
    water = min(1.0, p / 0.1, (1 - p) / 0.1)
    w = 2 * math.pi * 3.0 * c.t  # small quick circles
    hand = _grip_hand(c, 0.025 * u * math.cos(w), 0.018 * u * math.sin(w), 1.0, 0.0, 0.4)
    drops = []
    for k in range(8):
        ph = (c.t * 2.2 + k / 8) % 1.0
        side = 1 if k % 2 else -1
        drops.append((side * (0.1 * art.w + 0.15 * u * ph), -0.1 * art.h - 0.08 * u * ph + 0.25 * u * ph * ph))
    return Pose(ObjectPose(water=water, drops=tuple(drops) if water > 0.3 else ()), (hand,))


_MOTIONS: dict[str, Callable[[Ctx, float], Pose]] = {
    "take": _take, "open": _open, "turn-on": _turn_on, "push": _push,
    "cut": _cut, "stir": _stir, "shake": _shake, "wash": _wash,
}  # fmt: skip


def action_pose(verb: int, site: Site, i: float, length: int) -> Pose:
    """Pose at action frame ``i`` (0 .. length-1, may be fractional) of ``verb`` at ``site``."""
    v = VERBS[verb]
    if v.reverse_of is not None:  # play the partner backwards
        i = (length - 1) - i
    p = i / (length - 1) if length > 1 else 0.0
    ctx = Ctx(site.art, site.x, site.y, site.unit, i / site.fps)
    return _MOTIONS[v.reverse_of or v.name](ctx, p)


def _travel(pose: Pose, q: float, unit: float, extra: float) -> Pose:
    """``pose`` with each hand (and a held object) moved a fraction ``q`` of the way off the bottom edge."""
    hands, shift = [], (0.0, 0.0)
    for k, h in enumerate(pose.hands):
        exit_x, exit_y = h.x + h.side * 0.12 * unit, unit * 1.3 + extra
        d = ((exit_x - h.x) * q, (exit_y - h.y) * q)
        if k == 0:
            shift = d
        grip = h.grip if pose.obj.held else h.grip * (1 - q)
        hands.append(replace(h, x=h.x + d[0], y=h.y + d[1], grip=grip))
    obj = pose.obj
    if obj.held:
        obj = replace(obj, dx=obj.dx + shift[0], dy=obj.dy + shift[1])
    return Pose(obj, tuple(hands))


def segment(a: ActionPlan, retreat: int, f: int) -> tuple[float, float] | None:
    """The inclusive frame range (approach, action or retreat) of action ``a`` holding frame ``f``."""
    if a.approach <= f < a.start:
        return (a.approach, a.start - 1)
    if a.start <= f <= a.stop:
        return (a.start, a.stop)
    if a.stop < f <= a.stop + retreat:
        return (a.stop + 1, a.stop + retreat)
    return None


def pose_at(a: ActionPlan, site: Site, retreat: int, f: float) -> Pose:
    """Pose of action ``a`` at video frame ``f`` in [approach, stop + retreat] (fractional allowed)."""
    length = a.stop - a.start + 1
    if f < a.start:
        first = action_pose(a.verb, site, 0, length)
        q = 1 - smooth((f - a.approach + 1) / (a.start - a.approach + 1))
        return _travel(first, q, site.unit, site.art.h * first.obj.scale)
    if f <= a.stop:
        return action_pose(a.verb, site, f - a.start, length)
    last = action_pose(a.verb, site, length - 1, length)
    return _travel(last, smooth((f - a.stop) / max(retreat, 1)), site.unit, site.art.h * last.obj.scale)


def resting(a: ActionPlan, site: Site, before: bool) -> ObjectPose:
    """The object outside the action's window: as at its first (``before``) or last frame; gone if carried."""
    length = a.stop - a.start + 1
    obj = action_pose(a.verb, site, 0 if before else length - 1, length).obj
    return replace(obj, visible=not obj.held, drops=(), water=0.0)
