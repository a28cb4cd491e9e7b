"""Where things are: the kitchen's background strip, one station per action (target + 1-4 distractors), the
camera path (ego-motion, shake, pans between stations) and the kitchen's lighting."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from egoaction.data.synth.paint import Sprite, line, paste, rect, shade
from egoaction.data.synth.plan import RETREAT_S, VideoPlan
from egoaction.data.synth.sprites import noun_art
from egoaction.data.synth.world import KITCHENS, NOUNS, Kitchen

MAX_DISTRACTOR_SIZE = 0.3  # frame heights; big appliances are never distractors
PAN_STRIDE = 1.25  # frame widths between neighbouring stations


@dataclass(frozen=True)
class Station:
    """One part of the counter: the acted-on object's resting centre and the distractors (noun, x, y).

    Positions are px in the frame when the camera looks straight at the station.
    """

    noun: int
    x: float
    y: float
    distractors: tuple[tuple[int, float, float], ...]


@dataclass(frozen=True)
class Scene:
    """Everything fixed for one video at one size: canvas (distractors baked in), stations and camera path."""

    kitchen: Kitchen
    height: int
    width: int
    margin: int  # canvas rows above and below the frame; columns kept around the view when cropping
    canvas: np.ndarray  # (height + 2 margin, ..., 3) uint8 background strip
    origins: tuple[int, ...]  # canvas column of each station's left frame edge
    stations: tuple[Station, ...]
    view_x: np.ndarray  # (N,) canvas column of the frame's left edge, per frame
    view_y: np.ndarray  # (N,) vertical camera offset in px
    roll: np.ndarray  # (N,) camera rotation in radians
    speed: np.ndarray  # (N, 2) camera motion in px per frame (for motion blur)
    retreats: tuple[int, ...]  # retreat frames after each action
    gain: np.ndarray  # (height, width, 3) uint8 lighting, 128 = 1.0


def _tile_noise(rng: np.random.Generator, h: int, w: int, cell: float, amount: float) -> np.ndarray:
    """Smooth multiplicative noise around 1 (h, w)."""
    small = rng.uniform(1 - amount, 1 + amount, size=(max(2, int(h / cell) + 2), max(2, int(w / cell) + 2)))
    return cv2.resize(small.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)


def _wall(k: Kitchen, h: int, w: int, unit: float, rng: np.random.Generator) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    mult = _tile_noise(rng, h, w, 0.2 * unit, 0.05)
    if k.wall_pattern == "tiles":
        p = 0.13 * unit
        mult = mult * np.where((x % p < 1.2) | (y % p < 1.2), 0.75, 1.0)
    elif k.wall_pattern == "stripes":
        mult = mult * np.where((x // (0.09 * unit)) % 2 == 0, 1.08, 0.92)
    elif k.wall_pattern == "bricks":
        row = 0.065 * unit
        shift = ((y // row) % 2) * 0.08 * unit
        mult = mult * np.where((y % row < 1.2) | ((x + shift) % (0.16 * unit) < 1.2), 0.7, 1.0)
    return mult[..., None] * np.array(k.wall, np.float32)


def _counter(k: Kitchen, h: int, w: int, unit: float, rng: np.random.Generator) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    mult = _tile_noise(rng, h, w, 0.25 * unit, 0.04)
    if k.counter_pattern == "wood":
        bands = rng.uniform(0.86, 1.1, size=int(h / (0.025 * unit)) + 2).astype(np.float32)
        mult = mult * bands[(y / (0.025 * unit)).astype(int)] * (1 + 0.04 * np.sin(x / (0.05 * unit) + y))
    elif k.counter_pattern == "marble":
        mult = mult * _tile_noise(rng, h, w, 0.02 * unit, 0.08)
    elif k.counter_pattern == "checker":
        p = 0.12 * unit
        mult = mult * np.where(((x // p) + (y // p)) % 2 == 0, 1.1, 0.86)
    return mult[..., None] * np.array(k.counter, np.float32)


def _background(k: Kitchen, height: int, width: int, margin: int, unit: float, rng: np.random.Generator) -> np.ndarray:
    horizon = margin + round(k.horizon * height)
    total = height + 2 * margin
    canvas = np.empty((total, width, 3), np.float32)
    canvas[:horizon] = _wall(k, horizon, width, unit, rng)
    canvas[horizon:] = _counter(k, total - horizon, width, unit, rng)
    img = np.clip(canvas, 0, 255).astype(np.uint8)
    if k.counter_pattern == "marble":
        for _ in range(int(width / unit * 3)):
            x0, y0 = rng.uniform(0, width), rng.uniform(horizon, total)
            x1, y1 = x0 + rng.uniform(-0.3, 0.3) * unit, y0 + rng.uniform(0, 0.2) * unit
            line(img, (x0, y0), (x1, y1), shade(k.counter, 0.8), 1)
    # wall furniture (cabinets, shelves, windows) gives pans and camera motion something to track
    for _ in range(int(width / unit * 1.2)):
        cw, ch = rng.uniform(0.15, 0.45) * unit, rng.uniform(0.08, 0.3) * unit
        x0 = rng.uniform(-cw, width)
        y0 = rng.uniform(0, max(1.0, horizon - ch - 0.04 * unit))
        kind = rng.integers(3)
        colour = (190, 215, 240) if kind == 2 else shade(k.wall, (0.7, 1.2)[kind])
        rect(img, (x0, y0, x0 + cw, y0 + ch), colour)
        rect(img, (x0, y0, x0 + cw, y0 + ch), shade(colour, 0.6), max(1.0, 0.01 * unit))
        if kind == 0:
            line(
                img,
                (x0 + 0.8 * cw, y0 + 0.3 * ch),
                (x0 + 0.8 * cw, y0 + 0.7 * ch),
                (60, 60, 60),
                0.015 * unit,
            )
    line(img, (0, horizon), (width, horizon), shade(k.wall, 0.55), max(1.0, 0.012 * unit))
    return img


def _box(sprite: Sprite, x: float, y: float, pad: float) -> tuple[float, float, float, float]:
    h, w = sprite.mask.shape
    return (x - sprite.cx - pad, y - sprite.cy - pad, x - sprite.cx + w + pad, y - sprite.cy + h + pad)


def _overlaps(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _layout(noun: int, k: Kitchen, height: int, width: int, rng: np.random.Generator) -> Station:
    """Place the acted-on object near the middle and 1-4 distractors clear of the hands' working area."""
    unit = float(height)
    art = noun_art(noun, height)
    h = art.h
    lo, hi = max(k.horizon * unit + 0.45 * h, 0.5 * unit), min(0.7 * unit, 0.92 * unit - 0.55 * h)
    x = width * rng.uniform(0.4, 0.6)
    y = rng.uniform(lo, hi) if lo < hi else (lo + hi) / 2
    tb = _box(art.body, x, y, 0.0)
    lid = art.lid.mask.shape[1] + 0.05 * unit if art.lid is not None else 0.0  # an opened lid goes right
    keep_out = [(tb[0] - 0.16 * unit, -unit, tb[2] + 0.16 * unit + lid, 2 * unit)]  # hands, lid, water
    wanted = int(rng.integers(1, 5))
    pool = [i for i, n in enumerate(NOUNS) if i != noun and max(n.size) <= MAX_DISTRACTOR_SIZE]
    placed: list[tuple[int, float, float]] = []
    for _ in range(60):
        if len(placed) == wanted:
            break
        d = int(rng.choice(pool))
        sprite = noun_art(d, height).body
        dx = rng.uniform(sprite.cx, width - sprite.mask.shape[1] + sprite.cx)
        dy = rng.uniform(k.horizon * unit + 0.5 * noun_art(d, height).h + 0.03 * unit, 0.95 * unit)
        box = _box(sprite, dx, dy, 0.02 * unit)
        if box[0] < 0 or box[2] > width or any(_overlaps(box, b) for b in keep_out):
            continue
        placed.append((d, dx, dy))
        keep_out.append(box)
    if not placed:  # the left strip is always free for the smallest noun
        egg = min(range(len(NOUNS)), key=lambda i: max(NOUNS[i].size))
        placed.append((egg, 0.06 * unit, 0.85 * unit))
    return Station(noun, x, y, tuple(placed))


def _pans(plan: VideoPlan, retreats: tuple[int, ...], origins: tuple[int, ...], smooth_pan: bool) -> np.ndarray:
    """Canvas column of the view's left edge per frame: still at a station, panning (or cutting) in gaps."""
    x = np.full(plan.num_frames, float(origins[0]))
    for i, a in enumerate(plan.actions):
        x[a.approach :] = origins[i]
        if i + 1 < len(plan.actions):
            first, nxt = a.stop + retreats[i] + 1, plan.actions[i + 1].approach
            n = nxt - first
            if smooth_pan and n > 0:
                q = (np.arange(1, n + 1) / (n + 1)) ** 2 * (3 - 2 * np.arange(1, n + 1) / (n + 1))
                x[first:nxt] = origins[i] + (origins[i + 1] - origins[i]) * q
            else:
                x[(first + nxt) // 2 :] = origins[i + 1]
    return x


def _waves(rng: np.random.Generator, t: np.ndarray, freqs: tuple[float, float], count: int) -> np.ndarray:
    """A sum of ``count`` random sinusoids with frequencies in ``freqs`` (Hz), peak about 1."""
    out = np.zeros_like(t)
    for _ in range(count):
        out += np.sin(2 * np.pi * rng.uniform(*freqs) * t + rng.uniform(0, 2 * np.pi))
    return out / count


def _camera(
    plan: VideoPlan, k: Kitchen, unit: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(dx, dy, roll) per frame: slow ego-motion plus this kitchen's high-frequency shake."""
    t = np.arange(plan.num_frames) / plan.fps
    shake = k.shake * unit
    dx = 0.035 * unit * _waves(rng, t, (0.15, 0.5), 2) + shake * _waves(rng, t, (5.0, 11.0), 3)
    dy = 0.025 * unit * _waves(rng, t, (0.15, 0.5), 2) + shake * _waves(rng, t, (5.0, 11.0), 3)
    tremor = (k.shake / 0.01) * 0.004 * _waves(rng, t, (5.0, 11.0), 2)
    return dx, dy, math.radians(1.3) * _waves(rng, t, (0.1, 0.4), 2) + tremor


@lru_cache(maxsize=32)
def lighting(kitchen: int, height: int, width: int) -> np.ndarray:
    """Per-pixel gain (height, width, 3) uint8, 128 = 1.0: brightness, tint, a light gradient, vignette."""
    k = KITCHENS[kitchen]
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    xn, yn = (x - width / 2) / (width / 2), (y - height / 2) / (height / 2)
    angle, strength = k.gradient
    ramp = 1 + strength * 0.5 * (xn * math.cos(angle) + yn * math.sin(angle))
    vignette = 1 - 0.12 * (xn**2 + yn**2)
    gain = k.brightness * (ramp * vignette)[..., None] * np.array(k.tint, np.float32)
    return np.clip(gain * 128, 0, 255).astype(np.uint8)


def build_scene(plan: VideoPlan, height: int, width: int, *, camera_motion: bool = True) -> Scene:
    """Lay out one video at ``height`` x ``width``: deterministic from ``plan.seed``, never from the verbs."""
    k = KITCHENS[plan.kitchen]
    unit = float(height)
    margin = math.ceil(0.12 * unit) + 2
    stride = round(PAN_STRIDE * width)
    n = max(1, len(plan.actions))
    origins = tuple(2 * margin + i * stride for i in range(n))
    length = 4 * margin + width + (n - 1) * stride
    canvas = _background(k, height, length, margin, unit, np.random.default_rng([plan.seed, 1]))
    stations = tuple(
        _layout(a.noun, k, height, width, np.random.default_rng([plan.seed, 2, i])) for i, a in enumerate(plan.actions)
    )
    for origin, st in zip(origins, stations):
        for d, x, y in st.distractors:
            paste(canvas, noun_art(d, height).body, origin + x, margin + y)
    retreat = max(1, round(RETREAT_S * plan.fps))
    ends = [b.approach - 1 for b in plan.actions[1:]] + [plan.num_frames - 1]
    retreats = tuple(max(0, min(retreat, end - a.stop)) for a, end in zip(plan.actions, ends))
    view_x = _pans(plan, retreats, origins, smooth_pan=camera_motion)
    if camera_motion:
        dx, dy, roll = _camera(plan, k, unit, np.random.default_rng([plan.seed, 3]))
    else:
        dx, dy, roll = (np.zeros(plan.num_frames) for _ in range(3))
    view_x = view_x + dx
    speed = np.stack([np.gradient(view_x), np.gradient(dy)], 1) if plan.num_frames > 1 else np.zeros((1, 2))
    gain = lighting(plan.kitchen, height, width)
    return Scene(k, height, width, margin, canvas, origins, stations, view_x, dy, roll, speed, retreats, gain)
