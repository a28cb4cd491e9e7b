"""Render a VideoPlan to RGB frames: per frame, copy the canvas around the view, draw the acted-on objects
and the hands in their pose (fast hands blurred), then the camera (warpAffine), its motion blur, lighting."""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Literal, overload

import cv2
import numpy as np

from egoaction.data.synth.draw import ObjectPose, draw_hand, draw_object, draw_water
from egoaction.data.synth.motion import Site, pose_at, resting, segment
from egoaction.data.synth.paint import SHIFT, Box, pt, union
from egoaction.data.synth.plan import VideoPlan
from egoaction.data.synth.scene import Scene, build_scene
from egoaction.data.synth.sprites import noun_art

EXPOSURE = 0.5  # fraction of the frame interval the shutter is open: blur length = speed x exposure
MIN_BLUR = 1.5  # px; shorter blur is invisible


@lru_cache(maxsize=512)
def _blur_kernel(length: int, angle_bin: int) -> np.ndarray:
    """Normalised line kernel of ``length`` px along ``angle_bin`` x 11.25 degrees (direction-free)."""
    size = length | 1
    kernel = np.zeros((size, size), np.float32)
    a = angle_bin * math.pi / 16
    c, r = size // 2, (length - 1) / 2
    ends = pt(c - r * math.cos(a), c - r * math.sin(a)), pt(c + r * math.cos(a), c + r * math.sin(a))
    cv2.line(kernel, *ends, 1.0, 1, cv2.LINE_AA, SHIFT)
    return kernel / kernel.sum()


def _motion_blur(img: np.ndarray, vx: float, vy: float, max_len: float) -> None:
    """Blur ``img`` in place along the velocity (vx, vy) px/frame (an opposite velocity blurs the same)."""
    length = min(math.hypot(vx, vy) * EXPOSURE, max_len)
    if length < MIN_BLUR or img.size == 0:
        return
    angle_bin = round((math.atan2(vy, vx) % math.pi) / (math.pi / 16)) % 16
    img[:] = cv2.filter2D(img, -1, _blur_kernel(round(length), angle_bin), borderType=cv2.BORDER_REPLICATE)


def _active(plan: VideoPlan, retreats: tuple[int, ...]) -> np.ndarray:
    """Per frame, the index of the action whose hands are in view (approach .. retreat), else -1."""
    active = np.full(plan.num_frames, -1)
    for i, (a, r) in enumerate(zip(plan.actions, retreats)):
        active[a.approach : a.stop + r + 1] = i
    return active


class _Renderer:
    """Per-video state: the scene, each action's site, and the resting poses already computed."""

    def __init__(self, plan: VideoPlan, scene: Scene) -> None:
        self.plan, self.scene = plan, scene
        unit = float(scene.height)
        self.sites = [
            Site(noun_art(a.noun, scene.height), st.x, st.y, unit, plan.fps)
            for a, st in zip(plan.actions, scene.stations)
        ]
        self.resting: dict[tuple[int, bool], ObjectPose] = {}

    def speeds(self, j: int, f: int) -> tuple[float, float, float, float]:
        """Velocity (px/frame) of the acting hand and of the object at frame ``f``: a central difference
        inside the frame's segment, so a reversed verb gets exactly the negated velocities."""
        a, r = self.plan.actions[j], self.scene.retreats[j]
        bounds = segment(a, r, f)
        assert bounds is not None
        f1, f2 = max(bounds[0], f - 0.5), min(bounds[1], f + 0.5)
        if f2 <= f1:
            return 0.0, 0.0, 0.0, 0.0
        p1, p2 = pose_at(a, self.sites[j], r, f1), pose_at(a, self.sites[j], r, f2)
        h1, h2, dt = p1.hands[0], p2.hands[0], f2 - f1
        return (
            (h2.x - h1.x) / dt,
            (h2.y - h1.y) / dt,
            (p2.obj.dx - p1.obj.dx) / dt,
            (p2.obj.dy - p1.obj.dy) / dt,
        )

    def draw_active(self, j: int, f: int, crop: np.ndarray, ox: float) -> Box | None:
        """Action ``j``'s object and hands; fast hands (and the object they move) are blurred on a layer of
        their own, so the background under them stays sharp."""
        site, m, k = self.sites[j], self.scene.margin, self.scene.kitchen
        pose = pose_at(self.plan.actions[j], site, self.scene.retreats[j], f)
        hvx, hvy, ovx, ovy = self.speeds(j, f)
        fast_hand = math.hypot(hvx, hvy) * EXPOSURE >= MIN_BLUR
        fast_obj = fast_hand and math.hypot(ovx, ovy) * EXPOSURE >= MIN_BLUR
        layer = np.zeros_like(crop) if fast_hand else crop
        box = draw_object(layer if fast_obj else crop, site.art, pose.obj, site.x + ox, site.y + m, site.unit)
        hands = [draw_hand(layer, h, ox, m, site.unit, k.skin, k.sleeve) for h in pose.hands]
        if fast_hand:
            region = union(hands[0][0], box) if fast_obj and box is not None else hands[0][0]
            drawn = region
            for hand_box, arm_box in hands:
                drawn = union(drawn, union(hand_box, arm_box))
            _composite(crop, layer, drawn, region, hvx, hvy, 0.15 * site.unit)
        draw_water(crop, site.art, pose.obj, site.x + ox, site.y + m, site.unit)
        return box

    def draw(self, f: int, active: int, crop: np.ndarray, x0: int) -> Box | None:
        """Draw the objects of the stations in view and the active action's hands; returns its object box."""
        scene, target = self.scene, None
        reach = crop.shape[1] + 0.5 * scene.height
        for j, (a, site, origin) in enumerate(zip(self.plan.actions, self.sites, scene.origins)):
            ox = origin - x0
            if ox > reach or ox + scene.width + 0.5 * scene.height < 0:
                continue
            if j == active:
                target = self.draw_active(j, f, crop, ox)
                continue
            key = (j, f < a.approach)
            if key not in self.resting:
                self.resting[key] = resting(a, site, before=key[1])
            draw_object(crop, site.art, self.resting[key], site.x + ox, site.y + scene.margin, site.unit)
        return target


def _composite(
    crop: np.ndarray, layer: np.ndarray, drawn: Box, region: Box, vx: float, vy: float, max_len: float
) -> None:
    """Put ``layer`` (black = empty, content inside ``drawn``) over ``crop``, motion-blurred inside ``region``
    with premultiplied alpha so that only the moving things smear."""
    h, w = crop.shape[:2]
    dx0, dy0, dx1, dy1 = (
        max(0, int(drawn[0])),
        max(0, int(drawn[1])),
        min(w, int(drawn[2]) + 1),
        min(h, int(drawn[3]) + 1),
    )
    if dx0 >= dx1 or dy0 >= dy1:
        return
    grow = min(math.hypot(vx, vy) * EXPOSURE, max_len)
    x0, y0 = max(0, int(region[0] - grow)), max(0, int(region[1] - grow))
    x1, y1 = min(w, int(region[2] + grow) + 1), min(h, int(region[3] + grow) + 1)
    blur = x0 < x1 and y0 < y1
    if blur:
        background = crop[y0:y1, x0:x1].astype(np.float32)
        colour = layer[y0:y1, x0:x1].astype(np.float32)
        alpha = (layer[y0:y1, x0:x1] != 0).any(axis=2).astype(np.float32)
    sub = layer[dy0:dy1, dx0:dx1]
    np.copyto(crop[dy0:dy1, dx0:dx1], sub, where=((sub[..., 0] | sub[..., 1] | sub[..., 2]) != 0)[..., None])
    if blur:
        _motion_blur(alpha, vx, vy, max_len)
        _motion_blur(colour, vx, vy, max_len)
        mixed = colour + background * (1 - alpha[..., None]) + 0.5
        crop[y0:y1, x0:x1] = np.clip(mixed, 0, 255).astype(np.uint8)


def _camera_matrix(scene: Scene, f: int, x0: int) -> np.ndarray:
    """Affine map from output pixels to crop pixels: rotation about the frame centre plus the view offset."""
    c, s = math.cos(scene.roll[f]), math.sin(scene.roll[f])
    cx, cy = scene.width / 2, scene.height / 2
    tx, ty = scene.view_x[f] - x0, scene.margin + scene.view_y[f]
    return np.array([[c, -s, cx + tx - c * cx + s * cy], [s, c, cy + ty - s * cx - c * cy]], np.float64)


def _to_frame(box: Box, m: np.ndarray, width: int, height: int) -> np.ndarray:
    """A crop-space box mapped into the output frame and clipped; NaN when nothing of it is in view."""
    c, s, tx, ty = (
        m[0, 0],
        m[1, 0],
        m[0, 2],
        m[1, 2],
    )  # m is a rotation plus shift: its inverse is the transpose
    corners = ((box[0], box[1]), (box[2], box[1]), (box[0], box[3]), (box[2], box[3]))
    xs = [c * (x - tx) + s * (y - ty) for x, y in corners]
    ys = [-s * (x - tx) + c * (y - ty) for x, y in corners]
    x0, x1 = max(0.0, min(xs)), min(float(width), max(xs))
    y0, y1 = max(0.0, min(ys)), min(float(height), max(ys))
    if x1 - x0 < 1 or y1 - y0 < 1:
        return np.full(4, np.nan, np.float32)
    return np.array([x0, y0, x1, y1], np.float32)


@overload
def render_video(
    plan: VideoPlan, height: int, width: int, *, camera_motion: bool = ..., return_boxes: Literal[False] = ...
) -> np.ndarray: ...


@overload
def render_video(
    plan: VideoPlan, height: int, width: int, *, camera_motion: bool = ..., return_boxes: Literal[True]
) -> tuple[np.ndarray, np.ndarray]: ...


def render_video(
    plan: VideoPlan, height: int, width: int, *, camera_motion: bool = True, return_boxes: bool = False
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """All frames of ``plan`` as uint8 RGB (N, H, W, 3); with ``return_boxes`` also the acted-on object's
    box per frame, (N, 4) float32 x0, y0, x1, y1 in px (NaN outside its action's approach..retreat, or when
    out of view).

    Deterministic: the same plan and size give byte-identical frames. ``camera_motion=False`` keeps the camera
    still (no ego-motion, shake or pans; the view cuts to the next counter spot in the middle of a gap).
    """
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)  # frames this small lose more to thread start-up than they gain
    try:
        frames, boxes = _render(plan, build_scene(plan, height, width, camera_motion=camera_motion))
    finally:
        cv2.setNumThreads(threads)
    return (frames, boxes) if return_boxes else frames


def _render(plan: VideoPlan, scene: Scene) -> tuple[np.ndarray, np.ndarray]:
    H, W, m = scene.height, scene.width, scene.margin
    frames = np.empty((plan.num_frames, H, W, 3), np.uint8)
    boxes = np.full((plan.num_frames, 4), np.nan, np.float32)
    renderer = _Renderer(plan, scene)
    active = _active(plan, scene.retreats)
    for f in range(plan.num_frames):
        x0 = math.floor(scene.view_x[f]) - m
        crop = scene.canvas[:, x0 : x0 + W + 2 * m].copy()
        target = renderer.draw(f, int(active[f]), crop, x0)
        mat = _camera_matrix(scene, f, x0)
        if scene.roll[f] == 0 and mat[0, 2] == m and mat[1, 2] == m:  # a still camera: a plain crop is exact
            frame = np.ascontiguousarray(crop[m : m + H, m : m + W])
        else:
            flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
            frame = cv2.warpAffine(crop, mat, (W, H), flags=flags, borderMode=cv2.BORDER_REPLICATE)
        _motion_blur(frame, scene.speed[f, 0], scene.speed[f, 1], 0.12 * H)
        cv2.multiply(frame, scene.gain, dst=frames[f], scale=1 / 128)
        if target is not None:
            boxes[f] = _to_frame(target, mat, W, H)
    return frames, boxes
