"""What each noun looks like at one render size: a textured body sprite, details (handles, rims, leaves, ...),
a separate lid, and fittings the hands act on (knob, light, door, tap spout), built once and cached."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from egoaction.data.synth.paint import (
    Box,
    Pt,
    Sprite,
    crop_sprite,
    draw_door,
    ellipse,
    line,
    poly,
    rect,
    shade,
)
from egoaction.data.synth.world import NOUNS, RGB, Noun

OBJECT_SCALE = 1.35  # world sizes x this = drawn size in frame heights (capped so nothing exceeds 0.7)


@dataclass(frozen=True)
class Fitting:
    """Where an appliance's working parts are: fractions of the body's (w, h) from its centre; radii in frame
    heights; ``window`` in fractions of the door."""

    knob: tuple[float, float, float] | None = None
    light: tuple[float, float, float] | None = None
    door: Box | None = None
    window: Box | None = None
    glows: tuple[tuple[str, Box], ...] = ()  # ("ring", (x, y, rx, ry)) or ("rect", (x0, y0, x1, y1))
    spout: Pt | None = None
    basin: Pt | None = None


_FITTINGS: dict[str, Fitting] = {
    "hob": Fitting(knob=(0.4, 0.22, 0.032), light=(0.4, -0.3, 0.018),
                   glows=(("ring", (-0.22, -0.05, 0.3, 0.3)), ("ring", (0.12, -0.05, 0.3, 0.3)))),
    "kettle": Fitting(knob=(0.18, 0.36, 0.022), light=(-0.18, 0.36, 0.016)),
    "microwave": Fitting(knob=(0.36, 0.15, 0.03), light=(0.36, -0.25, 0.016), door=(-0.47, -0.42, 0.22, 0.42),
                         window=(0.1, 0.15, 0.85, 0.85)),
    "tap": Fitting(knob=(0.2, -0.68, 0.026), spout=(-0.2, -0.95), basin=(-0.2, 0.1)),
    "toaster": Fitting(knob=(0.38, 0.18, 0.026), light=(0.38, -0.1, 0.015),
                       glows=(("rect", (-0.33, -0.38, -0.07, -0.22)), ("rect", (0.03, -0.38, 0.29, -0.22)))),
    "fridge": Fitting(door=(-0.46, -0.47, 0.46, 0.47)),
}  # fmt: skip


@dataclass(frozen=True)
class Art:
    """A noun at one render size: its sprites and where hands act on it (px relative to the body centre)."""

    noun: Noun
    w: float
    h: float
    body: Sprite
    lid: Sprite | None
    lid_at: Pt
    door: Box | None  # hinge at x0; the free edge (x1) swings towards the camera
    window: Box | None  # fractions of the door
    knob: tuple[float, float, float] | None  # dx, dy, radius
    light: tuple[float, float, float] | None
    glows: tuple[tuple[str, Box], ...]  # drawn hot when switched on
    spout: Pt | None  # tap water falls from here ...
    basin: Pt | None  # ... to here
    grasp: Pt
    mouth: tuple[float, float, float, float] | None  # dx, dy, rx, ry of a container's opening


# ---------------------------------------------------------------- textures

_Grid = tuple[np.ndarray, np.ndarray, float, np.random.Generator]  # x, y, period, rng


def _rings(g: _Grid) -> np.ndarray:
    x, y, p, _ = g
    h, w = x.shape
    return 1 + 0.15 * np.sign(np.sin(2 * np.pi * np.hypot(x - w / 2, (y - h / 2) * w / h) / p))


def _speckle(g: _Grid) -> np.ndarray:
    x, _, _, rng = g
    h, w = x.shape
    cells = rng.uniform(0.72, 1.18, size=(h // 2 + 1, w // 2 + 1)).astype(np.float32)
    return np.repeat(np.repeat(cells, 2, 0), 2, 1)[:h, :w]


def _spots(g: _Grid, period: float) -> np.ndarray:
    x, y, _, _ = g
    stagger = (y // period) % 2 * period / 2
    return ((x + stagger) % period - period / 2) ** 2 + (y % period - period / 2) ** 2 < (0.22 * period) ** 2


_SHADING: dict[str, Callable[[_Grid], np.ndarray]] = {
    "stripes": lambda g: 1 + 0.17 * np.sign(np.sin(2 * np.pi * g[0] / g[2])),
    "hstripes": lambda g: 1 + 0.17 * np.sign(np.sin(2 * np.pi * g[1] / g[2])),
    "checker": lambda g: np.where(((g[0] // g[2]) + (g[1] // g[2])) % 2 == 0, 1.1, 0.82),
    "rings": _rings,
    "grain": lambda g: 1 + 0.12 * np.sin(2 * np.pi * (g[1] + 0.08 * g[2] * np.sin(g[0] / g[2])) / (0.6 * g[2])),
    "brushed": lambda g: g[3].uniform(0.9, 1.1, size=(g[0].shape[0], 1)),
    "speckle": _speckle,
}
_ACCENTED: dict[str, Callable[[_Grid], np.ndarray]] = {  # where the accent colour replaces the body colour
    "dots": lambda g: _spots(g, 1.6 * g[2]),
    "holes": lambda g: _spots(g, 2.2 * g[2]),
    "grid": lambda g: (g[0] % (1.5 * g[2]) < 1) | (g[1] % (1.5 * g[2]) < 1),
    "veins": lambda g: np.abs(np.sin(5 * np.arctan2(g[1] - 0.8 * g[1].shape[0], g[0] - g[0].shape[1] / 2))) < 0.12,
}


def _texture(noun: Noun, m: np.ndarray, unit: float, seed: int) -> np.ndarray:
    """The body's pixels: its colour shaded by light from above and its texture, accent-coloured marks."""
    y, x = np.mgrid[0 : m.shape[0], 0 : m.shape[1]].astype(np.float32)
    grid = (x, y, max(3.0, 0.04 * unit), np.random.default_rng(seed))
    mult = 1.06 - 0.14 * y / m.shape[0]
    if noun.texture in _SHADING:
        mult = mult * _SHADING[noun.texture](grid)
    rgb = np.clip(np.array(noun.colour, np.float32) * mult[..., None], 0, 255).astype(np.uint8)
    if noun.texture in _ACCENTED:
        rgb[_ACCENTED[noun.texture](grid)] = noun.accent
    inner = cv2.erode(m, np.ones((3, 3), np.uint8))
    rgb[(m > 0) & (inner == 0)] = shade(noun.colour, 0.55)  # outline
    rgb[m == 0] = 0
    return rgb


# ---------------------------------------------------------------- shapes and details


def _round_rect(m: np.ndarray, box: Box, r: float) -> None:
    x0, y0, x1, y1 = box
    rect(m, (x0, y0 + r, x1, y1 - r), 255)
    rect(m, (x0 + r, y0, x1 - r, y1), 255)
    for ex, ey in ((x0 + r, y0 + r), (x1 - r, y0 + r), (x0 + r, y1 - r), (x1 - r, y1 - r)):
        ellipse(m, (ex, ey), (r, r), 255)


def _body_mask(noun: Noun, m: np.ndarray, c: Pt, w: float, h: float) -> None:
    cx, cy = c
    box = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
    if noun.shape == "ellipse":
        ellipse(m, c, (w / 2, h / 2), 255)
    elif noun.shape == "rect":
        rect(m, box, 255)
    elif noun.shape == "round-rect":
        _round_rect(m, box, 0.22 * min(w, h))
    elif noun.shape == "tall":  # bottle: body plus a narrow neck
        _round_rect(m, (box[0], box[1] + 0.3 * h, box[2], box[3]), 0.22 * w)
        rect(m, (cx - 0.21 * w, cy - 0.42 * h, cx + 0.21 * w, cy - 0.18 * h), 255)
    elif noun.shape == "stick":  # the handle; the head is a detail
        rect(m, (box[0], cy - 0.22 * h, cx - 0.02 * w, cy + 0.22 * h), 255)
    elif noun.shape == "wedge":
        poly(m, [(box[0], box[1]), (box[0], box[3]), (box[2], cy + 0.3 * h)], 255)
    elif noun.shape == "blob":
        for dx, dy, r in (
            (0, 0.05, 0.42),
            (-0.27, 0.1, 0.3),
            (0.27, 0.08, 0.32),
            (0.0, -0.2, 0.32),
            (-0.2, -0.15, 0.25),
        ):
            ellipse(m, (cx + dx * w, cy + dy * h), (r * w, r * h * 1.3), 255)


@dataclass(frozen=True)
class _Canvas:
    """A sprite being drawn: pixels, mask, body centre and size, frame height."""

    rgb: np.ndarray
    mask: np.ndarray
    cx: float
    cy: float
    w: float
    h: float
    unit: float

    def at(self, fx: float, fy: float) -> Pt:
        """The point at fractions of the body size from its centre."""
        return (self.cx + fx * self.w, self.cy + fy * self.h)

    def solid(self, colour: RGB, draw: Callable[[np.ndarray, RGB | int], None]) -> None:
        """Draw a part that also extends the object's outline."""
        draw(self.rgb, colour)
        draw(self.mask, 255)


def _stick_head(n: Noun, k: _Canvas) -> None:
    col = n.colour
    if "blade" in n.parts:
        blade = [k.at(-0.05, -0.45), k.at(0.42, -0.3), k.at(0.5, 0.1), k.at(-0.05, 0.45)]
        k.solid(col, lambda img, c: poly(img, blade, c))
        line(k.rgb, k.at(-0.05, 0.35), k.at(0.47, 0.05), shade(col, 0.7), 0.12 * k.h)
    elif "head-oval" in n.parts:
        k.solid(col, lambda img, c: rect(img, (*k.at(-0.05, -0.18), *k.at(0.15, 0.18)), c))
        k.solid(col, lambda img, c: ellipse(img, k.at(0.32, 0), (0.18 * k.w, 0.5 * k.h), c))
        ellipse(k.rgb, k.at(0.32, 0), (0.12 * k.w, 0.32 * k.h), shade(col, 0.8))
    elif "tines" in n.parts:
        k.solid(col, lambda img, c: rect(img, (*k.at(-0.05, -0.45), *k.at(0.15, 0.45)), c))
        for fy in (-0.38, 0.0, 0.38):
            for img, c in ((k.rgb, col), (k.mask, 255)):
                line(img, k.at(0.1, fy), k.at(0.5, fy), c, 0.14 * k.h)
    else:  # head-flat
        k.solid(col, lambda img, c: rect(img, (*k.at(0.0, -0.5), *k.at(0.5, 0.5)), c))


def _rim(n: Noun, k: _Canvas) -> None:
    if n.shape == "ellipse":
        ellipse(k.rgb, k.at(0, -0.04), (0.4 * k.w, 0.36 * k.h), shade(n.colour, 0.72))
        ellipse(k.rgb, k.at(0, -0.04), (0.4 * k.w, 0.36 * k.h), shade(n.colour, 1.2), max(1.0, 0.018 * k.unit))
    else:
        ellipse(k.rgb, k.at(0, -0.36), (0.42 * k.w, 0.12 * k.h), shade(n.colour, 0.55))


def _handles(n: Noun, k: _Canvas) -> None:
    for sx in (-0.5, 0.5):
        for img, c in ((k.rgb, n.accent), (k.mask, 255)):
            rect(img, (*k.at(sx - 0.06, -0.1), *k.at(sx + 0.06, 0.06)), c)


def _leaf(n: Noun, k: _Canvas) -> None:
    u = k.unit
    lx, ly = k.at(-0.5, 0) if n.shape == "wedge" else k.at(0, -0.48)
    shift = 0.05 * u if n.shape == "wedge" else 0.0
    k.solid(n.accent, lambda img, c: ellipse(img, (lx - shift, ly), (0.035 * u, 0.018 * u), c))
    k.solid(n.accent, lambda img, c: ellipse(img, (lx, ly - 0.01 * u), (0.015 * u, 0.03 * u), c, angle=30))


def _faucet(n: Noun, k: _Canvas) -> None:
    rect(k.rgb, (*k.at(-0.38, -0.3), *k.at(0.38, 0.32)), (70, 76, 84))  # the sink
    t = 0.09 * k.h
    for a, b in (((0, -0.5), (0, -1.1)), ((0, -1.1), (-0.2, -1.1)), ((-0.2, -1.1), (-0.2, -0.95))):
        for img, c in ((k.rgb, n.accent), (k.mask, 255)):
            line(img, k.at(*a), k.at(*b), c, t)


def _handle_long(n: Noun, k: _Canvas) -> None:
    k.solid(n.accent, lambda img, c: line(img, k.at(0.45, 0.05), k.at(1.05, 0.15), c, 0.16 * k.h))


def _handle_ring(n: Noun, k: _Canvas) -> None:
    ring = (0.16 * k.w, 0.25 * k.h)
    k.solid(shade(n.colour, 0.8), lambda img, c: ellipse(img, k.at(0.55, 0), ring, c, max(1.0, 0.16 * k.w)))


def _scores(n: Noun, k: _Canvas) -> None:
    for f in (-0.28, 0, 0.28):
        line(k.rgb, k.at(f - 0.08, -0.35), k.at(f + 0.08, 0.1), n.accent, max(1.0, 0.018 * k.unit))


def _burners(n: Noun, k: _Canvas) -> None:
    for f in (-0.22, 0.12):
        ellipse(k.rgb, k.at(f, -0.05), (0.3 * k.h, 0.3 * k.h), n.accent, max(1.0, 0.07 * k.h))


def _slots(n: Noun, k: _Canvas) -> None:
    for f in (-0.2, 0.16):
        rect(k.rgb, (*k.at(f - 0.13, -0.38), *k.at(f + 0.13, -0.22)), n.accent)


def _spout(n: Noun, k: _Canvas) -> None:
    k.solid(n.colour, lambda img, c: poly(img, [k.at(-0.45, -0.2), k.at(-0.45, 0.15), k.at(-0.8, -0.38)], c))


_DETAILS: dict[str, Callable[[Noun, _Canvas], None]] = {
    "rim": _rim,
    "handles": _handles,
    "handle-long": _handle_long,
    "handle-ring": _handle_ring,
    "leaf": _leaf,
    "scores": _scores,
    "hole": lambda n, k: ellipse(k.rgb, k.at(0.38, 0), (0.04 * k.w, 0.07 * k.h), shade(n.accent, 0.5)),
    "layer": lambda n, k: rect(k.rgb, (*k.at(-0.5, 0.15), *k.at(0.5, 0.5)), n.accent),
    "burners": _burners,
    "slots": _slots,
    "spout": _spout,
    "faucet": _faucet,
    "blade": _stick_head,
    "head-oval": _stick_head,
    "tines": _stick_head,
    "head-flat": _stick_head,
}


def _lid(noun: Noun, w: float, h: float, unit: float) -> tuple[Sprite, Pt]:
    """The lid as its own sprite, and where its centre sits relative to the body centre."""
    if noun.shape == "ellipse":
        lw, lh, at = 0.94 * w, 0.8 * h, (0.0, -0.06 * h)
    elif noun.shape == "tall":
        lw, lh, at = 0.5 * w, 0.11 * h, (0.0, -0.44 * h)
    else:
        lw, lh, at = 1.06 * w, 0.24 * h, (0.0, -0.4 * h)
    size = (round(lh + 0.1 * unit) + 2, round(lw + 0.1 * unit) + 2)
    k = _Canvas(np.zeros((*size, 3), np.uint8), np.zeros(size, np.uint8), size[1] / 2, size[0] / 2, lw, lh, unit)
    acc = noun.accent
    if noun.shape == "ellipse":
        knob = (k.cx, k.cy - 0.05 * unit)
        k.solid(acc, lambda img, c: ellipse(img, (k.cx, k.cy), (lw / 2, lh / 2), c))
        k.solid(acc, lambda img, c: ellipse(img, knob, (0.025 * unit, 0.03 * unit), c))
        ellipse(k.rgb, (k.cx, k.cy), (0.35 * lw, 0.35 * lh), shade(acc, 1.25), max(1.0, 0.012 * unit))
        ellipse(k.rgb, knob, (0.025 * unit, 0.03 * unit), shade(acc, 0.6))
    else:
        k.solid(acc, lambda img, c: rect(img, (*k.at(-0.5, -0.5), *k.at(0.5, 0.5)), c))
        line(k.rgb, k.at(-0.5, 0), k.at(0.5, 0), shade(acc, 0.7), max(1.0, 0.01 * unit))
    return crop_sprite(k.rgb, k.mask, (k.cx, k.cy)), at


def _grasp(noun: Noun, w: float, h: float) -> Pt:
    if noun.shape == "stick":
        return (-0.28 * w, 0.0)
    if "handle-long" in noun.parts:
        return (0.85 * w, 0.12 * h)
    return (0.12 * w, 0.22 * h)


def _mouth(noun: Noun, w: float, h: float) -> tuple[float, float, float, float] | None:
    if "holds" not in noun.affords:
        return None
    if noun.shape == "ellipse":
        return (0.0, -0.04 * h, 0.4 * w, 0.36 * h)
    return (0.0, -0.36 * h, 0.42 * w, 0.12 * h)


def _scaled(fit: Fitting, w: float, h: float, unit: float) -> dict[str, object]:
    """Fitting fractions -> px relative to the body centre."""

    def radial(v: tuple[float, float, float] | None) -> tuple[float, float, float] | None:
        return None if v is None else (v[0] * w, v[1] * h, v[2] * unit)

    def point(v: Pt | None) -> Pt | None:
        return None if v is None else (v[0] * w, v[1] * h)

    glows = tuple((kind, (b[0] * w, b[1] * h, b[2] * (w if kind == "rect" else h), b[3] * h)) for kind, b in fit.glows)
    door = None if fit.door is None else (fit.door[0] * w, fit.door[1] * h, fit.door[2] * w, fit.door[3] * h)
    return {
        "knob": radial(fit.knob),
        "light": radial(fit.light),
        "door": door,
        "window": fit.window,
        "glows": glows,
        "spout": point(fit.spout),
        "basin": point(fit.basin),
    }


@lru_cache(maxsize=256)
def noun_art(noun_id: int, unit: int) -> Art:
    """The sprites and fittings of noun ``noun_id`` when the frame is ``unit`` px high (cached)."""
    noun = NOUNS[noun_id]
    scale = min(OBJECT_SCALE, 0.7 / noun.size[1]) * unit
    w, h = noun.size[0] * scale, noun.size[1] * scale
    pad = round(0.6 * max(w, h) + 0.1 * unit) + 2
    hs, ws = round(h) + 2 * pad, round(w) + 2 * pad
    mask = np.zeros((hs, ws), np.uint8)
    _body_mask(noun, mask, (ws / 2, hs / 2), w, h)
    k = _Canvas(_texture(noun, mask, unit, seed=1000 + noun_id), mask, ws / 2, hs / 2, w, h, unit)
    if noun.shape == "stick":  # the handle is plain accent colour
        edge = round(k.cx - 0.02 * w)
        k.rgb[:, :edge][mask[:, :edge] > 0] = noun.accent
    for part in noun.parts:
        if part in _DETAILS:
            _DETAILS[part](noun, k)
    fit = _scaled(_FITTINGS.get(noun.name, Fitting()), w, h, unit)
    door = fit["door"]
    if isinstance(door, tuple):  # bake the shut door into the body
        box = (k.cx + door[0], k.cy + door[1], k.cx + door[2], k.cy + door[3])
        draw_door(k.rgb, box, 0.0, noun.colour, noun.accent, unit, window=fit["window"], mask=k.mask)  # type: ignore[arg-type]
    lid, lid_at = _lid(noun, w, h, unit) if "lid" in noun.parts else (None, (0.0, 0.0))
    body = crop_sprite(k.rgb, k.mask, (k.cx, k.cy))
    return Art(noun, w, h, body, lid, lid_at, grasp=_grasp(noun, w, h), mouth=_mouth(noun, w, h), **fit)  # type: ignore[arg-type]
