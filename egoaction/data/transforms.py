"""Clip-consistent transforms: one draw of parameters per clip, applied to every frame, the flow and the maps.

A sample is a dict with any of these uint8 tensors (other keys pass through unchanged):

- ``rgb``: (T, 3, H, W)
- ``flow``: (T', 2L, H', W'), channels interleaved x1, y1, x2, y2, ..., quantised as
  ``round(255 * (f + b) / (2b))`` (128 = no motion, ``255 - v`` negates a component)
- ``mmaps``: (T, 1, h, w) motion maps, possibly smaller than the frames

Crop boxes are drawn on the reference grid (``rgb``, else ``flow``, else ``mmaps``) and kept as fractions of
the frame, so every modality gets the same relative crop whatever its size. Flow is treated as an image when
it is resized (vectors are not rescaled, as in TSN and Ego-RNN) but its vectors follow flips and rotations.
Outputs stay uint8; :func:`normalize` converts to float on the device.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torchvision.transforms.v2 import functional as F

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
FLOW_MEAN = 0.5  # EPIC C1 flow normalisation, on the 0..1 scale
FLOW_STD = 0.226
FLOW_ZERO = 127.5  # continuous zero of the quantisation, so that 255 - v is the exact negation
MODALITIES = ("rgb", "flow", "mmaps")
BILINEAR = F.InterpolationMode.BILINEAR

Box = tuple[float, float, float, float]  # top, left, height, width as fractions of the frame
Size = int | tuple[int, int]  # an output side S (square) or (height, width)


def hw(size: Size | Sequence[int]) -> tuple[int, int]:
    """(height, width) of an output size given as S (square) or (height, width)."""
    pair = (size, size) if isinstance(size, int) else tuple(int(v) for v in size)
    if len(pair) != 2 or min(pair) < 1:
        raise ValueError(f"size must be a positive int or (height, width), got {size!r}")
    return pair[0], pair[1]


class ClipTransform(Protocol):
    """Transforms one clip's tensors with parameters drawn once from ``rng``."""

    def __call__(self, sample: dict[str, Any], rng: torch.Generator) -> dict[str, Any]: ...


def normalize(
    x: torch.Tensor,
    mean: float | Sequence[float],
    std: float | Sequence[float],
    *,
    channel_dim: int = -3,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """uint8 (..., C, H, W) -> float on x's device: (x/255 - mean)/std per channel (or one for all)."""
    shape = [1] * x.ndim
    shape[channel_dim] = -1
    stats = []
    for value in (mean, std):
        t = torch.as_tensor(value, dtype=torch.float32, device=x.device).reshape(-1)
        if t.numel() not in (1, x.shape[channel_dim]):
            raise ValueError(f"{t.numel()} mean/std values for {x.shape[channel_dim]} channels (expected 1 or C)")
        stats.append(t.view(shape))
    return ((x.to(torch.float32) / 255.0 - stats[0]) / stats[1]).to(dtype)


def _reference_size(sample: dict[str, Any]) -> tuple[int, int] | None:
    """(H, W) of the grid crop boxes are drawn on: rgb, else flow, else mmaps; None when none is present."""
    for key in MODALITIES:
        x = sample.get(key)
        if x is not None:
            if not isinstance(x, torch.Tensor) or x.dtype != torch.uint8 or x.ndim < 4:
                got = f"{x.dtype} {tuple(x.shape)}" if isinstance(x, torch.Tensor) else type(x).__name__
                raise ValueError(f"sample[{key!r}] must be a uint8 tensor (T, C, H, W), got {got}")
            return int(x.shape[-2]), int(x.shape[-1])
    return None


def _resized_crop(x: torch.Tensor, box: Box, size: tuple[int, int]) -> torch.Tensor:
    """Crop the relative ``box`` of (..., C, h, w) frames and resize it to ``size`` (height, width)."""
    h, w = x.shape[-2:]
    top, left = round(box[0] * h), round(box[1] * w)
    height, width = max(1, round(box[2] * h)), max(1, round(box[3] * w))
    return F.resized_crop(x, top, left, height, width, list(size), interpolation=BILINEAR, antialias=True)


def _rotate(x: torch.Tensor, angle: float) -> torch.Tensor:
    """Rotate (..., C, H, W) by ``angle`` degrees counter-clockwise about the centre, filling 0."""
    # no fill argument: grid_sample's zero padding fills 0, at half the cost of torchvision's fill mask
    return F.rotate(x, angle, interpolation=BILINEAR) if angle else x


def _flip_flow(flow: torch.Tensor) -> torch.Tensor:
    """Mirror a flow clip (T', 2L, H, W): the field flips and every x component changes sign."""
    out = F.horizontal_flip(flow)
    out[:, 0::2] = 255 - out[:, 0::2]
    return out


def _rotate_flow(flow: torch.Tensor, angle: float) -> torch.Tensor:
    """Rotate a flow clip (T', 2L, H, W) by ``angle`` degrees counter-clockwise: the field and its vectors."""
    t, c, h, w = flow.shape
    f = (flow.to(torch.float32) - FLOW_ZERO).view(t, c // 2, 2, h, w)
    cos, sin = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    u, v = f[:, :, 0], f[:, :, 1]
    # image y points down, so a counter-clockwise turn on screen maps (u, v) to (u cos + v sin, v cos - u sin)
    f = torch.stack([u * cos + v * sin, v * cos - u * sin], dim=2).view(t, c, h, w)
    f = _rotate(f, angle)  # zero padding is zero motion
    return (f + FLOW_ZERO).round_().clamp_(0, 255).to(torch.uint8)


_RGB_TO_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
_YIQ_TO_RGB = torch.linalg.inv(_RGB_TO_YIQ)


def shift_hue(rgb: torch.Tensor, hue: float) -> torch.Tensor:
    """Shift the hue of uint8 (..., 3, H, W) by ``hue`` turns of the colour wheel (in [-0.5, 0.5]).

    A rotation of YIQ's chroma plane: one 3x3 matrix, about 10x faster on CPU than torchvision's HSV round
    trip, turning the same way (red -> yellow for hue > 0); it keeps luma where HSV keeps the maximum.
    """
    angle = -2 * math.pi * hue
    cos, sin = math.cos(angle), math.sin(angle)
    turn = torch.tensor([[1.0, 0.0, 0.0], [0.0, cos, -sin], [0.0, sin, cos]])
    matrix = (_YIQ_TO_RGB @ turn @ _RGB_TO_YIQ).to(rgb.device)
    out = torch.einsum("ij,...jhw->...ihw", matrix, rgb.to(torch.float32))
    return out.round_().clamp_(0, 255).to(torch.uint8)


def _uniform(rng: torch.Generator, low: float, high: float) -> float:
    return low + (high - low) * float(torch.rand((), generator=rng))


def _chance(rng: torch.Generator, p: float) -> bool:
    return p > 0 and float(torch.rand((), generator=rng)) < p


def _choice(rng: torch.Generator, n: int) -> int:
    return int(torch.randint(n, (), generator=rng))


def multiscale_box(
    height: int,
    width: int,
    scales: Sequence[float],
    rng: torch.Generator,
    *,
    max_distort: int = 1,
    aspect: float = 1.0,
) -> tuple[int, int, int, int]:
    """TSN's GroupMultiScaleCrop box (top, left, h, w): sides base*scale, scale indices at most
    ``max_distort`` apart, at one of 5 positions (4 corners, centre). The base is the largest box of the
    output's ``aspect`` (height / width) inside the frame: the short side squared for square outputs."""
    base_h, base_w = (width * aspect, width) if width * aspect <= height else (height, height / aspect)
    sides_h = [max(1, int(base_h * s)) for s in scales]
    sides_w = [max(1, int(base_w * s)) for s in scales]
    pairs = [(h, w) for i, h in enumerate(sides_h) for j, w in enumerate(sides_w) if abs(i - j) <= max_distort]
    crop_h, crop_w = pairs[_choice(rng, len(pairs))]
    dy, dx = height - crop_h, width - crop_w
    top, left = [(0, 0), (0, dx), (dy, 0), (dy, dx), (dy // 2, dx // 2)][_choice(rng, 5)]
    return top, left, crop_h, crop_w


def erasing_box(
    height: int,
    width: int,
    rng: torch.Generator,
    *,
    scale: tuple[float, float] = (0.02, 0.33),
    ratio: tuple[float, float] = (0.3, 3.3),
    attempts: int = 10,
) -> tuple[int, int, int, int] | None:
    """A random rectangle (top, left, h, w) drawn as torchvision's RandomErasing does; None if none fits."""
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(attempts):
        area = height * width * _uniform(rng, *scale)
        aspect = math.exp(_uniform(rng, *log_ratio))
        h, w = round(math.sqrt(area * aspect)), round(math.sqrt(area / aspect))
        if 0 < h < height and 0 < w < width:
            return _choice(rng, height - h + 1), _choice(rng, width - w + 1), h, w
    return None


@dataclass(frozen=True)
class ClipParams:
    """The parameters of one clip's augmentation (drawn once, applied to every frame and modality)."""

    box: Box
    flip: bool = False
    angle: float = 0.0
    jitter: tuple[tuple[int, ...], tuple[float, float, float, float]] | None = None  # order, (b, c, s, h)
    grayscale: bool = False
    erase: tuple[int, int, int, int] | None = None  # top, left, h, w in output pixels


_COLOUR_OPS: tuple[Callable[[torch.Tensor, float], torch.Tensor], ...] = (
    F.adjust_brightness,
    F.adjust_contrast,
    F.adjust_saturation,
    shift_hue,
)
_NEUTRAL = (1.0, 1.0, 1.0, 0.0)  # the factor of each colour op that changes nothing


class TrainTransform:
    """Training augmentation with one parameter draw per clip.

    Order: multi-scale corner crop resized to ``size`` (S or (H, W); TSN's GroupMultiScaleCrop), horizontal flip
    (x-flow negated when ``flip_flow``), rotation uniform in [-rotation, rotation] degrees (flow vectors
    rotate with the field; fill 128 for flow, 0 for rgb and maps), colour jitter with probability
    ``jitter_p`` (brightness, contrast, saturation, hue in a random order, as torchvision's ColorJitter;
    hue by :func:`shift_hue`), grayscale with ``grayscale_p``, random erasing with ``erasing_p`` (same
    rectangle on every frame, filled with ``erasing_fill``: the ImageNet mean, which normalises to 0).
    Photometric ops and erasing touch rgb only; a 0 disables an op. Motion maps come out ``mmaps_size``
    (default ``size``). ``draw`` and ``apply`` split the two steps for callers that need the params.
    """

    num_crops = 1

    def __init__(
        self,
        size: Size = 224,
        scales: Sequence[float] = (1.0, 0.875, 0.75, 0.66),
        flip_p: float = 0.5,
        rotation: float = 15.0,
        jitter: tuple[float, float, float, float] = (0.4, 0.4, 0.4, 0.1),
        jitter_p: float = 0.8,
        grayscale_p: float = 0.1,
        erasing_p: float = 0.15,
        flip_flow: bool = True,
        *,
        max_distort: int = 1,
        erasing_scale: tuple[float, float] = (0.02, 0.33),
        erasing_ratio: tuple[float, float] = (0.3, 3.3),
        erasing_fill: tuple[int, int, int] = (124, 116, 104),
        mmaps_size: Size | None = None,
    ) -> None:
        if not scales or not all(0 < s <= 1 for s in scales):
            raise ValueError(f"scales must be in (0, 1], got {tuple(scales)}")
        self.size = hw(size)
        self.scales = tuple(scales)
        self.flip_p = flip_p
        self.rotation = rotation
        self.jitter = tuple(jitter)
        self.jitter_p = jitter_p
        self.grayscale_p = grayscale_p
        self.erasing_p = erasing_p
        self.flip_flow = flip_flow
        self.max_distort = max_distort
        self.erasing_scale = erasing_scale
        self.erasing_ratio = erasing_ratio
        self.erasing_fill = erasing_fill
        self.mmaps_size = hw(mmaps_size or size)

    def draw(self, height: int, width: int, rng: torch.Generator) -> ClipParams:
        """Draw one clip's parameters for frames of (height, width) on the reference grid."""
        aspect = self.size[0] / self.size[1]
        top, left, h, w = multiscale_box(height, width, self.scales, rng, max_distort=self.max_distort, aspect=aspect)
        flip = _chance(rng, self.flip_p)
        angle = _uniform(rng, -self.rotation, self.rotation) if self.rotation > 0 else 0.0
        jitter = None
        if any(j > 0 for j in self.jitter) and _chance(rng, self.jitter_p):
            order = tuple(int(i) for i in torch.randperm(4, generator=rng))
            b, c, s, hue = self.jitter
            factors = (
                _uniform(rng, max(0.0, 1 - b), 1 + b),
                _uniform(rng, max(0.0, 1 - c), 1 + c),
                _uniform(rng, max(0.0, 1 - s), 1 + s),
                _uniform(rng, -hue, hue),
            )
            jitter = (order, factors)
        grayscale = _chance(rng, self.grayscale_p)
        erase = None
        if _chance(rng, self.erasing_p):
            erase = erasing_box(*self.size, rng, scale=self.erasing_scale, ratio=self.erasing_ratio)
        box = (top / height, left / width, h / height, w / width)
        return ClipParams(box, flip, angle, jitter, grayscale, erase)

    def apply(self, sample: dict[str, Any], params: ClipParams) -> dict[str, Any]:
        """Apply ``params`` to every modality of the sample: rgb (T, 3, H, W), flow (T', 2L, H, W), mmaps."""
        out = dict(sample)
        if "rgb" in sample:
            out["rgb"] = self._rgb(sample["rgb"], params)
        if "flow" in sample:
            flow = _resized_crop(sample["flow"], params.box, self.size)
            if params.flip:
                flow = _flip_flow(flow) if self.flip_flow else F.horizontal_flip(flow)
            out["flow"] = _rotate_flow(flow, params.angle) if params.angle else flow
        if "mmaps" in sample:
            maps = _resized_crop(sample["mmaps"], params.box, self.mmaps_size)
            maps = F.horizontal_flip(maps) if params.flip else maps
            out["mmaps"] = _rotate(maps, params.angle)
        return out

    def _rgb(self, rgb: torch.Tensor, params: ClipParams) -> torch.Tensor:
        x = _resized_crop(rgb, params.box, self.size)
        if params.flip:
            x = F.horizontal_flip(x)
        x = _rotate(x, params.angle)
        if params.jitter is not None:
            order, factors = params.jitter
            for i in order:
                if factors[i] != _NEUTRAL[i]:
                    x = _COLOUR_OPS[i](x, factors[i])
        if params.grayscale:
            x = F.rgb_to_grayscale(x, num_output_channels=3)
        if params.erase is not None:
            fill = torch.tensor(self.erasing_fill, dtype=x.dtype).view(3, 1, 1)
            x = F.erase(x, *params.erase, v=fill)
        return x

    def __call__(self, sample: dict[str, Any], rng: torch.Generator) -> dict[str, Any]:
        """Draw one set of parameters from ``rng`` and apply it to the whole clip."""
        size = _reference_size(sample)
        return sample if size is None else self.apply(sample, self.draw(*size, rng))


class TestTransform:
    """Resize the short side to ``resize`` and crop ``size`` (S x S, or (H, W)): the centre (``num_crops=1``)
    or left/centre/right (top/centre/bottom for portrait frames) with ``num_crops=3``, stacked on a new leading
    view dim: rgb (3, T, 3, H, W). The kept box is cut and resized in one resampling step (identical to
    resize-then-crop when ``resize`` equals the short side). Motion maps come out ``mmaps_size``.
    """

    __test__ = False  # not a pytest test class

    def __init__(
        self, size: Size = 224, resize: int = 256, num_crops: int = 1, *, mmaps_size: Size | None = None
    ) -> None:
        if num_crops not in (1, 3):
            raise ValueError(f"num_crops must be 1 or 3, got {num_crops}")
        self.size = hw(size)
        if min(self.size) > resize:
            raise ValueError(f"crop size {size} is larger than the resized short side {resize}")
        self.resize = resize
        self.num_crops = num_crops
        self.mmaps_size = hw(mmaps_size or size)

    def boxes(self, height: int, width: int) -> list[Box]:
        """Relative crop boxes of a (height, width) frame, as resize-then-crop (torchvision rounding) cuts."""
        short, long = min(height, width), max(height, width)
        resized_long = int(self.resize * long / short)
        rh, rw = (self.resize, resized_long) if height <= width else (resized_long, self.resize)
        sh, sw = self.size
        if sh > rh or sw > rw:
            raise ValueError(
                f"crop {sh}x{sw} does not fit a {height}x{width} frame resized to {rh}x{rw} (short side {self.resize})"
            )
        top, left = round((rh - sh) / 2), round((rw - sw) / 2)
        if self.num_crops == 1:
            corners = [(top, left)]
        elif rw - sw >= rh - sh:
            corners = [(top, 0), (top, left), (top, rw - sw)]
        else:
            corners = [(0, left), (top, left), (rh - sh, left)]
        return [(t / rh, lft / rw, sh / rh, sw / rw) for t, lft in corners]

    def __call__(self, sample: dict[str, Any], rng: torch.Generator | None = None) -> dict[str, Any]:
        """Crop every modality; ``rng`` is unused (test crops are deterministic)."""
        size = _reference_size(sample)
        if size is None:
            return sample
        boxes = self.boxes(*size)
        out = dict(sample)
        for key in MODALITIES:
            if key in sample:
                side = self.mmaps_size if key == "mmaps" else self.size
                crops = [_resized_crop(sample[key], box, side) for box in boxes]
                out[key] = crops[0] if self.num_crops == 1 else torch.stack(crops)
        return out
