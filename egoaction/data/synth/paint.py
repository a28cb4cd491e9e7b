"""Drawing primitives of the synthetic kitchen: OpenCV shapes at fixed-point (sub-pixel) positions, masked
sprite pasting, and hinged doors."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from egoaction.data.synth.world import RGB

SHIFT = 4  # fixed-point bits of every cv2 drawing call: positions move by 1/16 px, so motion stays smooth
_F = 1 << SHIFT
Pt = tuple[float, float]
Box = tuple[float, float, float, float]  # x0, y0, x1, y1


def pt(x: float, y: float) -> tuple[int, int]:
    """A fixed-point cv2 point."""
    return round(x * _F), round(y * _F)


def line(img: np.ndarray, a: Pt, b: Pt, colour: RGB | int, thick: float) -> None:
    """A line of ``thick`` px (at least 1) from ``a`` to ``b``."""
    cv2.line(img, pt(*a), pt(*b), colour, max(1, round(thick)), cv2.LINE_8, SHIFT)


def ellipse(img: np.ndarray, c: Pt, axes: Pt, colour: RGB | int, thick: float = -1, angle: float = 0.0) -> None:
    """A filled (``thick`` < 0) or outlined ellipse with half-axes ``axes``; ``angle`` in degrees."""
    ax = pt(max(axes[0], 0.5), max(axes[1], 0.5))
    t = -1 if thick < 0 else max(1, round(thick))
    cv2.ellipse(img, pt(*c), ax, angle, 0, 360, colour, t, cv2.LINE_8, SHIFT)


def poly(img: np.ndarray, points: list[Pt], colour: RGB | int, outline: RGB | None = None) -> None:
    """A filled convex polygon, optionally outlined."""
    arr = np.array([pt(*p) for p in points], np.int32)
    cv2.fillConvexPoly(img, arr, colour, cv2.LINE_8, SHIFT)
    if outline is not None:
        cv2.polylines(img, [arr], True, outline, 1, cv2.LINE_8, SHIFT)


def rect(img: np.ndarray, box: Box, colour: RGB | int, thick: float = -1) -> None:
    """A filled (``thick`` < 0) or outlined axis-aligned rectangle."""
    x0, y0, x1, y1 = box
    if thick < 0:
        poly(img, [(x0, y0), (x1, y0), (x1, y1), (x0, y1)], colour)
    else:
        cv2.rectangle(img, pt(x0, y0), pt(x1, y1), colour, max(1, round(thick)), cv2.LINE_8, SHIFT)


def shade(colour: RGB, k: float) -> RGB:
    """``colour`` scaled by ``k`` (clipped to 0..255)."""
    return (min(255, int(colour[0] * k)), min(255, int(colour[1] * k)), min(255, int(colour[2] * k)))


def union(a: Box, b: Box) -> Box:
    """The smallest box holding both."""
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


@dataclass(frozen=True)
class Sprite:
    """RGB pixels, a binary mask, and where the object's body centre lies inside them."""

    rgb: np.ndarray  # (h, w, 3) uint8
    mask: np.ndarray  # (h, w) bool
    cx: float
    cy: float


def crop_sprite(rgb: np.ndarray, mask: np.ndarray, c: Pt) -> Sprite:
    """The tight sprite around the non-zero ``mask`` of a drawing centred at ``c``."""
    ys, xs = np.nonzero(mask)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    return Sprite(np.ascontiguousarray(rgb[y0:y1, x0:x1]), mask[y0:y1, x0:x1] > 0, c[0] - x0, c[1] - y0)


def paste(img: np.ndarray, sprite: Sprite, x: float, y: float, scale: float = 1.0) -> Box:
    """Copy ``sprite`` (scaled) so its body centre lands on (x, y), clipped to ``img``; returns its box."""
    rgb, mask = sprite.rgb, sprite.mask
    if scale != 1.0:
        size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_LINEAR)
        mask = cv2.resize(mask.view(np.uint8), size, interpolation=cv2.INTER_NEAREST).astype(bool)
    x0, y0 = round(x - sprite.cx * scale), round(y - sprite.cy * scale)
    h, w = mask.shape
    ax0, ay0 = max(x0, 0), max(y0, 0)
    ax1, ay1 = min(x0 + w, img.shape[1]), min(y0 + h, img.shape[0])
    if ax0 < ax1 and ay0 < ay1:
        sub = (slice(ay0 - y0, ay1 - y0), slice(ax0 - x0, ax1 - x0))
        np.copyto(img[ay0:ay1, ax0:ax1], rgb[sub], where=mask[sub][..., None])
    return (float(x0), float(y0), float(x0 + w), float(y0 + h))


def door_quad(door: Box, opening: float) -> list[Pt]:
    """Corners of a door hinged at its left edge, swung by ``opening`` (0 shut .. 1 = 80 degrees)."""
    x0, y0, x1, y1 = door
    theta = math.radians(80.0) * opening
    xe = x0 + (x1 - x0) * math.cos(theta)
    grow = 0.14 * (y1 - y0) * math.sin(theta)  # the free edge comes nearer, so it looks taller
    return [(x0, y0), (xe, y0 - grow), (xe, y1 + grow), (x0, y1)]


def in_quad(q: list[Pt], fx: float, fy: float) -> Pt:
    """The point at fractions (fx, fy) across and down the quad ``q`` (bilinear)."""
    top = (q[0][0] + (q[1][0] - q[0][0]) * fx, q[0][1] + (q[1][1] - q[0][1]) * fx)
    bot = (q[3][0] + (q[2][0] - q[3][0]) * fx, q[3][1] + (q[2][1] - q[3][1]) * fx)
    return (top[0] + (bot[0] - top[0]) * fy, top[1] + (bot[1] - top[1]) * fy)


HANDLE_AT = (0.9, 0.45)  # door handle, fractions across / down the door
GLOW = (255, 225, 120)  # a lit microwave window


def draw_door(
    img: np.ndarray,
    box: Box,
    opening: float,
    colour: RGB,
    accent: RGB,
    unit: float,
    *,
    window: Box | None = None,
    inside: RGB = (35, 35, 38),
    lit: bool = False,
    mask: np.ndarray | None = None,
) -> None:
    """The interior (when open), then the door panel swung by ``opening`` with its window and handle."""
    if opening > 0:
        rect(img, box, inside)
        for k in (1, 2, 3):  # shelves
            yk = box[1] + (box[3] - box[1]) * k / 4
            line(img, (box[0], yk), (box[2], yk), shade(inside, 0.7), max(1.0, 0.01 * unit))
    q = door_quad(box, opening)
    poly(img, q, shade(colour, 0.92), outline=shade(colour, 0.6))
    if mask is not None:
        poly(mask, q, 255)
    if window is not None:
        corners = [
            (window[0], window[1]),
            (window[2], window[1]),
            (window[2], window[3]),
            (window[0], window[3]),
        ]
        poly(img, [in_quad(q, fx, fy) for fx, fy in corners], GLOW if lit else (22, 22, 26))
    hx, hy = HANDLE_AT
    line(img, in_quad(q, hx, hy - 0.15), in_quad(q, hx, hy + 0.15), accent, max(1.0, 0.02 * unit))
