"""Per-frame drawing: the acted-on object in a pose (moved, scaled, lid off, door open, knob turned, light on,
water running, cut), and hands with arm, fingers and an optional tool."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from egoaction.data.synth.paint import Box, Pt, draw_door, ellipse, line, paste, poly, rect, shade, union
from egoaction.data.synth.sprites import Art
from egoaction.data.synth.world import RGB

HAND_SCALE = 1.3  # hand and arm sizes relative to the proportions below (frame heights)
WATER = (165, 205, 255)
HOT = (255, 120, 30)


@dataclass(frozen=True)
class ObjectPose:
    """The acted-on object in one frame (offsets in px, relative to where it rests)."""

    visible: bool = True
    dx: float = 0.0
    dy: float = 0.0
    scale: float = 1.0
    lid: Pt = (0.0, 0.0)  # lid offset from its place on the body
    lidless: bool = False  # the lid is away (stirring a pot)
    door: float = 0.0  # 0 shut .. 1 open
    knob: float = 0.0  # radians, clockwise
    on: bool = False
    stream: float = 0.0  # tap water, 0..1
    slices: int = 0
    water: float = 0.0  # washing water, 0..1
    drops: tuple[Pt, ...] = ()
    held: bool = False  # carried by the hand during approach / retreat


@dataclass(frozen=True)
class HandPose:
    """A hand: palm centre (px), finger direction (radians; -pi/2 = up), grip (0 open .. 1 closed), side (+1 =
    right arm from the bottom-right, -1 = left) and an optional tool pointing along ``tool_angle``."""

    x: float
    y: float
    angle: float = -math.pi / 2
    grip: float = 0.0
    side: int = 1
    tool: str | None = None
    tool_angle: float = 0.0


def _switch(img: np.ndarray, art: Art, pose: ObjectPose, cx: float, cy: float, unit: float) -> None:
    """Knob (turned by ``pose.knob``), indicator light and hot parts of an appliance."""
    s = pose.scale
    for kind, (gx, gy, a, b) in art.glows if pose.on else ():
        if kind == "ring":
            ellipse(img, (cx + gx * s, cy + gy * s), (a * s, b * s), HOT, max(1.0, 0.025 * unit))
        else:
            rect(img, (cx + gx * s, cy + gy * s, cx + a * s, cy + b * s), HOT)
    if art.knob is not None:
        kx, ky, r = cx + art.knob[0] * s, cy + art.knob[1] * s, art.knob[2] * s
        ellipse(img, (kx, ky), (r, r), shade(art.noun.accent, 0.5))
        a = -math.pi / 2 + pose.knob
        line(img, (kx, ky), (kx + 0.9 * r * math.cos(a), ky + 0.9 * r * math.sin(a)), (245, 245, 245), 0.3 * r)
    if art.light is not None:
        lx, ly, r = cx + art.light[0] * s, cy + art.light[1] * s, art.light[2] * s
        blue = art.noun.name == "kettle"
        if pose.on:
            ellipse(img, (lx, ly), (2 * r, 2 * r), (150, 200, 255) if blue else (255, 150, 120))
        ellipse(img, (lx, ly), (r, r), ((60, 140, 255) if blue else (255, 40, 30)) if pose.on else (70, 30, 30))


def _door(img: np.ndarray, art: Art, pose: ObjectPose, cx: float, cy: float, unit: float) -> None:
    """An open door (or the lit window of a shut one); a shut, unlit door is already in the body sprite."""
    if art.door is None or (pose.door == 0 and not pose.on):
        return
    s = pose.scale
    box = (cx + art.door[0] * s, cy + art.door[1] * s, cx + art.door[2] * s, cy + art.door[3] * s)
    inside = (250, 246, 220) if art.noun.name == "fridge" else ((120, 100, 40) if pose.on else (35, 35, 38))
    draw_door(
        img,
        box,
        pose.door,
        art.noun.colour,
        art.noun.accent,
        unit,
        window=art.window,
        inside=inside,
        lit=pose.on,
    )


def draw_object(img: np.ndarray, art: Art, pose: ObjectPose, x: float, y: float, unit: float) -> Box | None:
    """Draw ``art`` in ``pose``, resting at (x, y) of ``img``; returns its box (None when not visible)."""
    if not pose.visible:
        return None
    s = pose.scale
    cx, cy = x + pose.dx, y + pose.dy
    box = paste(img, art.body, cx, cy, s)
    _door(img, art, pose, cx, cy, unit)
    _switch(img, art, pose, cx, cy, unit)
    if art.spout is not None and art.basin is not None and pose.stream > 0.02:
        spout, basin = (cx + art.spout[0], cy + art.spout[1]), (cx + art.basin[0], cy + art.basin[1])
        line(img, spout, basin, WATER, 0.045 * unit * pose.stream)
    for k in range(pose.slices):
        sx = cx + art.w * s * (0.3 - 0.12 * k)
        top, bottom = (sx, cy - 0.42 * art.h * s), (sx, cy + 0.42 * art.h * s)
        line(img, top, bottom, shade(art.noun.colour, 0.45), max(1.0, 0.012 * unit))
    if art.lid is not None and not pose.lidless:
        lx, ly = cx + (art.lid_at[0] + pose.lid[0]) * s, cy + (art.lid_at[1] + pose.lid[1]) * s
        box = union(box, paste(img, art.lid, lx, ly, s))
    return box


def draw_water(img: np.ndarray, art: Art, pose: ObjectPose, x: float, y: float, unit: float) -> None:
    """Running water and splashing drops of ``wash`` (drawn over the hands)."""
    if pose.water <= 0.02:
        return
    cx, cy = x + pose.dx, y + pose.dy
    line(img, (cx, -unit), (cx, cy - 0.1 * art.h), WATER, 0.045 * unit * pose.water)
    for dx, dy in pose.drops:
        ellipse(img, (cx + dx, cy + dy), (0.012 * unit, 0.016 * unit), (120, 175, 250))


def _tool(img: np.ndarray, hand: HandPose, px: float, py: float, unit: float) -> None:
    ux, uy = math.cos(hand.tool_angle), math.sin(hand.tool_angle)

    def along(d: float, side: float = 0.0) -> Pt:
        return (px + d * unit * ux - side * unit * uy, py + d * unit * uy + side * unit * ux)

    if hand.tool == "knife":
        line(img, along(-0.03), along(0.05), (25, 25, 30), 0.028 * unit)
        poly(img, [along(0.05, 0.022), along(0.22), along(0.05, -0.022)], (200, 204, 214), outline=(70, 70, 80))
    elif hand.tool == "spoon":
        line(img, (px, py), along(0.16), (170, 120, 65), 0.018 * unit)
        ellipse(
            img,
            along(0.16),
            (0.028 * unit, 0.018 * unit),
            (170, 120, 65),
            angle=math.degrees(hand.tool_angle),
        )


def draw_hand(
    img: np.ndarray, hand: HandPose, ox: float, oy: float, unit: float, skin: RGB, sleeve: RGB
) -> tuple[Box, Box]:
    """Draw ``hand`` (offset by (ox, oy)): tool, sleeve, forearm, palm, fingers; returns the boxes of the hand
    (with its tool) and of the arm."""
    unit = unit * HAND_SCALE
    px, py = hand.x + ox, hand.y + oy
    if hand.tool is not None:
        _tool(img, hand, px, py, unit)
    dx, dy = math.cos(hand.angle), math.sin(hand.angle)
    wrist = (px - 0.05 * unit * dx, py - 0.05 * unit * dy)
    norm = math.hypot(0.42, 1.0)  # the arm runs down and outwards, off the bottom edge
    elbow = (wrist[0] + 1.2 * unit * hand.side * 0.42 / norm, wrist[1] + 1.2 * unit / norm)
    cuff = (wrist[0] + (elbow[0] - wrist[0]) * 0.22, wrist[1] + (elbow[1] - wrist[1]) * 0.22)
    line(img, cuff, elbow, sleeve, 0.11 * unit)
    line(img, wrist, cuff, shade(skin, 0.9), 0.075 * unit)
    ellipse(img, (px, py), (0.047 * unit, 0.04 * unit), skin, angle=math.degrees(hand.angle))
    nx, ny = -dy, dx
    length = 0.06 * unit * (1 - 0.6 * hand.grip)
    finger = shade(skin, 0.93)
    for k in range(4):
        off = (k - 1.5) * 0.019 * unit
        bx, by = px + 0.03 * unit * dx + off * nx, py + 0.03 * unit * dy + off * ny
        spread = hand.angle + (k - 1.5) * 0.12 * (1 - hand.grip)
        line(
            img,
            (bx, by),
            (bx + length * math.cos(spread), by + length * math.sin(spread)),
            finger,
            0.017 * unit,
        )
    thumb = hand.angle - hand.side * (1.1 - 0.5 * hand.grip)
    base = (px - hand.side * 0.03 * unit * nx, py - hand.side * 0.03 * unit * ny)
    tip = (base[0] + 0.045 * unit * math.cos(thumb), base[1] + 0.045 * unit * math.sin(thumb))
    line(img, base, tip, finger, 0.019 * unit)
    r, t = (0.24 if hand.tool else 0.12) * unit, 0.06 * unit
    arm = (
        min(wrist[0], elbow[0]) - t,
        min(wrist[1], elbow[1]) - t,
        max(wrist[0], elbow[0]) + t,
        elbow[1] + t,
    )
    return (px - r, py - r, px + r, py + r), arm
