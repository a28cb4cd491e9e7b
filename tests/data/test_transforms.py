"""Clip transforms: one parameter draw per clip, flow vectors follow flips/rotations, maps follow crops."""

from __future__ import annotations

import math

import pytest
import torch
from torchvision.transforms.v2 import functional as F

from egoaction.data.transforms import (
    FLOW_MEAN,
    FLOW_STD,
    IMAGENET_MEAN,
    IMAGENET_STD,
    ClipParams,
    TestTransform,
    TrainTransform,
    erasing_box,
    multiscale_box,
    normalize,
    shift_hue,
)

FULL = (0.0, 0.0, 1.0, 1.0)
GEOMETRY_ONLY = {"jitter": (0, 0, 0, 0), "grayscale_p": 0.0, "erasing_p": 0.0}


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def rand_u8(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, shape, dtype=torch.uint8, generator=gen(seed))


def smooth_clip(t: int, h: int, w: int) -> torch.Tensor:
    """Frames with smooth gradients (so resampling is well-behaved), each frame different."""
    ys, xs = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    frames = [torch.stack([xs * 200 + 10 * i, ys * 200, (xs + ys) * 100 + 5 * i]) for i in range(t)]
    return torch.stack(frames).round().to(torch.uint8)


def flow_const(u: int, v: int, *, pairs: int = 5, t: int = 1, size: int = 32) -> torch.Tensor:
    flow = torch.empty(t, 2 * pairs, size, size, dtype=torch.uint8)
    flow[:, 0::2], flow[:, 1::2] = u, v
    return flow


def test_identical_frames_stay_identical_with_every_op_on():
    tf = TrainTransform(size=32, flip_p=0.5, jitter_p=1.0, grayscale_p=0.5, erasing_p=1.0)
    rgb = rand_u8(1, 3, 48, 64).expand(6, -1, -1, -1).contiguous()
    flow = rand_u8(1, 10, 48, 64, seed=1).expand(3, -1, -1, -1).contiguous()
    maps = rand_u8(1, 1, 12, 16, seed=2).expand(6, -1, -1, -1).contiguous()
    for seed in range(8):
        out = tf({"rgb": rgb, "flow": flow, "mmaps": maps}, gen(seed))
        for key in ("rgb", "flow", "mmaps"):
            assert (out[key] == out[key][:1]).all(), (seed, key)


def test_distinct_frames_get_the_same_params_as_a_single_frame():
    tf = TrainTransform(size=24, jitter_p=1.0, grayscale_p=0.3, erasing_p=0.5)
    clip = smooth_clip(4, 40, 56)
    for seed in range(6):
        out = tf({"rgb": clip}, gen(seed))["rgb"]
        for i in range(4):
            alone = tf({"rgb": clip[i : i + 1]}, gen(seed))["rgb"]
            assert torch.equal(out[i : i + 1], alone), (seed, i)


def test_outputs_are_uint8_with_expected_shapes_and_other_keys_pass_through():
    sample = {"rgb": rand_u8(8, 3, 60, 80), "flow": rand_u8(2, 10, 60, 80), "mmaps": rand_u8(8, 1, 15, 20)}
    sample |= {"id": "P01_01_3", "labels": {"verb": 2}}
    out = TrainTransform(size=32, mmaps_size=7)(sample, gen())
    assert {k: (tuple(v.shape), v.dtype) for k, v in out.items() if k in ("rgb", "flow", "mmaps")} == {
        "rgb": ((8, 3, 32, 32), torch.uint8),
        "flow": ((2, 10, 32, 32), torch.uint8),
        "mmaps": ((8, 1, 7, 7), torch.uint8),
    }
    assert out["id"] == "P01_01_3" and out["labels"] == {"verb": 2}
    assert sample["rgb"].shape == (8, 3, 60, 80)  # the input is not modified


def test_flip_mirrors_rgb_and_negates_x_flow_only():
    tf = TrainTransform(size=32, scales=(1.0,), flip_p=1.0, rotation=0.0, **GEOMETRY_ONLY)
    rgb = rand_u8(2, 3, 32, 32)
    out = tf({"rgb": rgb, "flow": flow_const(200, 90)}, gen())
    assert torch.equal(out["rgb"], rgb.flip(-1))
    assert (out["flow"][:, 0::2] == 55).all() and (out["flow"][:, 1::2] == 90).all()
    kept = TrainTransform(size=32, scales=(1.0,), flip_p=1.0, rotation=0.0, flip_flow=False, **GEOMETRY_ONLY)
    assert (kept({"flow": flow_const(200, 90)}, gen())["flow"][:, 0::2] == 200).all()


def arrow_right(size: int = 32) -> torch.Tensor:
    """A white bar from the centre to the right edge: an arrow pointing +x."""
    rgb = torch.zeros(1, 3, size, size, dtype=torch.uint8)
    rgb[..., size // 2 - 1 : size // 2 + 1, size // 2 :] = 255
    return rgb


@pytest.mark.parametrize("angle", [90.0, -90.0, 30.0])
def test_rotation_turns_flow_vectors_with_the_image(angle):
    tf = TrainTransform(size=32)
    out = tf.apply({"rgb": arrow_right(), "flow": flow_const(200, 128)}, ClipParams(FULL, angle=angle))
    # where the arrow went: the bright pixels' mean offset from the centre (y pointing down)
    ys, xs = torch.nonzero(out["rgb"][0, 0] > 127, as_tuple=True)
    arrow = torch.stack([xs.float().mean() - 15.5, ys.float().mean() - 15.5])
    centre = out["flow"][0, :, 12:20, 12:20].float() - 127.5
    flow = torch.stack([centre[0::2].mean(), centre[1::2].mean()])
    assert torch.cosine_similarity(arrow, flow, dim=0) > 0.99  # the vectors turned with the image
    a = math.radians(angle)
    assert abs(flow[0] - 72.5 * math.cos(a)) < 1.0 and abs(flow[1] + 72.5 * math.sin(a)) < 1.0
    if abs(angle) == 90:
        assert abs(arrow[0]) < 1 and (arrow[1] < -5) == (angle > 0)  # +90 is counter-clockwise: the arrow points up
    corner = out["flow"][0, :, 0, 0]  # outside the rotated field: zero motion
    assert angle in (90.0, -90.0) or (corner == 128).all()


@pytest.mark.parametrize("angle", [90.0, -90.0, 30.0, -12.0])
def test_rotation_moves_the_flow_field_with_the_image(angle):
    rgb = torch.zeros(1, 3, 32, 32, dtype=torch.uint8)
    rgb[..., 14:18, 16:] = 255  # a thick bar from the centre to the right edge
    flow = flow_const(128, 128)
    flow[..., 14:18, 16:] = torch.tensor([200, 128] * 5, dtype=torch.uint8).view(1, 10, 1, 1)  # the bar moves +x
    out = TrainTransform(size=32).apply({"rgb": rgb, "flow": flow}, ClipParams(FULL, angle=angle))
    bar = out["rgb"][0, 0] > 127
    vectors = out["flow"][0].float().view(5, 2, 32, 32).mean(0) - 127.5  # (2, H, W)
    moving = vectors.norm(dim=0) > 36
    assert (bar != moving).float().sum() <= 4  # the moving pixels are where the bar went
    ys, xs = torch.nonzero(bar, as_tuple=True)
    direction = torch.stack([xs.float().mean() - 15.5, ys.float().mean() - 15.5])
    assert torch.cosine_similarity(direction, vectors[:, moving].mean(1), dim=0) > 0.98


def test_rotation_fill_is_zero_for_rgb_and_maps():
    tf = TrainTransform(size=32)
    sample = {
        "rgb": torch.full((1, 3, 32, 32), 200, dtype=torch.uint8),
        "mmaps": torch.full((1, 1, 8, 8), 255),
    }
    sample["mmaps"] = sample["mmaps"].to(torch.uint8)
    out = tf.apply(sample, ClipParams(FULL, angle=45.0))
    assert out["rgb"][0, :, 0, 0].tolist() == [0, 0, 0] and out["mmaps"][0, 0, 0, 0] == 0
    assert (out["rgb"][0, :, 16, 16] == 200).all() and out["mmaps"][0, 0, 16, 16] == 255


def test_maps_get_the_same_relative_crop_as_rgb():
    rgb = torch.zeros(2, 3, 64, 96, dtype=torch.uint8)
    rgb[..., 20:44, 36:60] = 255  # inside every corner crop
    maps = torch.zeros(2, 1, 16, 24, dtype=torch.uint8)
    maps[..., 5:11, 9:15] = 255
    tf = TrainTransform(size=32, flip_p=0.5, rotation=15.0, **GEOMETRY_ONLY)
    for seed in range(10):
        out = tf({"rgb": rgb, "mmaps": maps}, gen(seed))
        a, b = out["rgb"][:, 0] > 127, out["mmaps"][:, 0] > 127
        assert a.any() or b.any()
        assert (a != b).float().mean() < 0.03, seed


def test_multiscale_crop_sizes_and_positions():
    scales = (1.0, 0.875, 0.75, 0.66)
    sides = [int(48 * s) for s in scales]
    rng, pairs, positions = gen(), set(), set()
    for _ in range(600):
        top, left, h, w = multiscale_box(48, 64, scales, rng)
        assert abs(sides.index(h) - sides.index(w)) <= 1
        dy, dx = 48 - h, 64 - w
        assert (top, left) in {(0, 0), (0, dx), (dy, 0), (dy, dx), (dy // 2, dx // 2)}
        pairs.add((h, w))
        if dy > 0:
            positions.add((top / dy, left / dx) if top in (0, dy) else "centre")
    assert len(pairs) == 10 and len(positions) == 5
    tf = TrainTransform(size=32, scales=scales)
    for seed in range(20):
        box = tf.draw(48, 64, gen(seed)).box
        assert round(box[2] * 48) in sides and round(box[3] * 64) in sides


def test_erasing_changes_only_rgb_with_one_rectangle_on_every_frame():
    kwargs = {"size": 32, "flip_p": 0.0, "rotation": 0.0, "jitter": (0, 0, 0, 0), "grayscale_p": 0.0}
    sample = {"rgb": smooth_clip(3, 40, 40), "flow": rand_u8(1, 10, 40, 40), "mmaps": rand_u8(3, 1, 40, 40)}
    for seed in range(5):
        plain = TrainTransform(erasing_p=0.0, **kwargs)(sample, gen(seed))
        erased = TrainTransform(erasing_p=1.0, **kwargs)(sample, gen(seed))
        assert torch.equal(plain["flow"], erased["flow"]) and torch.equal(plain["mmaps"], erased["mmaps"])
        changed = (plain["rgb"] != erased["rgb"]).any(dim=1)  # (T, H, W)
        assert changed.any() and (changed == changed[:1]).all()
        rows, cols = torch.nonzero(changed[0], as_tuple=True)
        box = erased["rgb"][:, :, rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
        assert (box == torch.tensor([124, 116, 104], dtype=torch.uint8).view(1, 3, 1, 1)).all()


def test_erasing_box_area_and_ratio():
    rng = gen()
    for _ in range(200):
        top, left, h, w = erasing_box(64, 64, rng)
        assert 0 <= top <= 64 - h and 0 <= left <= 64 - w
        assert 0.015 <= h * w / 64**2 <= 0.36 and 0.2 <= h / w <= 4.5


def test_photometric_ops_leave_flow_and_maps_alone():
    tf = TrainTransform(size=32, scales=(1.0,), flip_p=0.0, rotation=0.0, jitter_p=1.0, grayscale_p=1.0)
    sample = {"rgb": smooth_clip(2, 32, 32), "flow": rand_u8(1, 10, 32, 32), "mmaps": rand_u8(2, 1, 32, 32)}
    out = tf(sample, gen())
    assert torch.equal(out["flow"], sample["flow"]) and torch.equal(out["mmaps"], sample["mmaps"])
    assert (out["rgb"][:, 0] == out["rgb"][:, 1]).all()  # grayscale, replicated on 3 channels


def test_shift_hue_turns_colours_like_torchvision_and_keeps_grays():
    img = smooth_clip(1, 32, 32)
    assert torch.equal(shift_hue(img, 0.0), img)
    gray = torch.full((1, 3, 4, 4), 90, dtype=torch.uint8)
    assert torch.equal(shift_hue(gray, 0.3), gray)
    for hue in (0.05, -0.1):
        out = shift_hue(img, hue).float()
        same_way = (out - F.adjust_hue(img, hue).float()).abs().mean()
        other_way = (out - F.adjust_hue(img, -hue).float()).abs().mean()
        assert same_way < 0.6 * other_way
    muted = torch.tensor([120, 100, 80], dtype=torch.uint8).view(1, 3, 1, 1)
    back = shift_hue(shift_hue(shift_hue(muted, 1 / 3), 1 / 3), 1 / 3)
    assert (back.int() - muted.int()).abs().max() <= 2


def test_same_seed_same_clip_other_seeds_differ():
    tf = TrainTransform(size=24)
    sample = {"rgb": smooth_clip(3, 40, 56), "flow": rand_u8(1, 10, 40, 56)}
    a, b = tf(sample, gen(5)), tf(sample, gen(5))
    assert torch.equal(a["rgb"], b["rgb"]) and torch.equal(a["flow"], b["flow"])
    others = [tf(sample, gen(s))["rgb"] for s in range(6, 10)]
    assert not all(torch.equal(a["rgb"], o) for o in others)


def test_test_transform_centre_crop_is_hand_computed():
    x = rand_u8(2, 3, 40, 60)
    assert torch.equal(TestTransform(size=32, resize=40)({"rgb": x})["rgb"], x[..., 4:36, 14:46])
    # 80x120 -> resized 40x60 -> centre 32x32 at (4, 14) -> box (8, 28, 64, 64) in the original frame
    big = smooth_clip(2, 80, 120)
    tf = TestTransform(size=32, resize=40)
    assert tf.boxes(80, 120) == [(0.1, 14 / 60, 0.8, 32 / 60)]
    out = tf({"rgb": big})["rgb"]
    assert torch.equal(out, F.resized_crop(big, 8, 28, 64, 64, [32, 32], antialias=True))
    two_step = F.center_crop(F.resize(big, [40], antialias=True), [32, 32])
    assert (out.float() - two_step.float()).abs().mean() < 2


def test_test_transform_three_crops():
    x = rand_u8(4, 3, 40, 60)
    sample = {"rgb": x, "flow": rand_u8(2, 10, 40, 60), "mmaps": rand_u8(4, 1, 20, 30)}
    out = TestTransform(size=32, resize=40, num_crops=3)(sample)
    assert out["rgb"].shape == (3, 4, 3, 32, 32) and out["rgb"].dtype == torch.uint8
    assert out["flow"].shape == (3, 2, 10, 32, 32) and out["mmaps"].shape == (3, 4, 1, 32, 32)
    for view, left in enumerate((0, 14, 28)):  # left / centre / right
        assert torch.equal(out["rgb"][view], x[..., 4:36, left : left + 32])
    portrait = rand_u8(1, 3, 60, 40)
    crops = TestTransform(size=32, resize=40, num_crops=3)({"rgb": portrait})["rgb"]
    for view, top in enumerate((0, 14, 28)):  # top / centre / bottom
        assert torch.equal(crops[view], portrait[..., top : top + 32, 4:36])


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="sample\\['rgb'\\] must be a uint8"):
        TrainTransform(size=16)({"rgb": torch.zeros(2, 3, 20, 20)}, gen())
    with pytest.raises(ValueError, match="larger than"):
        TestTransform(size=256, resize=224)


def test_normalize_hand_computed_pixel():
    x = torch.tensor([255, 0, 128], dtype=torch.uint8).view(1, 3, 1, 1)
    out = normalize(x, IMAGENET_MEAN, IMAGENET_STD)
    expected = [(1 - 0.485) / 0.229, (0 - 0.456) / 0.224, (128 / 255 - 0.406) / 0.225]
    assert out.dtype == torch.float32
    assert torch.allclose(out.flatten(), torch.tensor(expected), atol=1e-6)
    flow = torch.full((2, 4, 10, 3, 3), 128, dtype=torch.uint8)  # (B, T, 2L, H, W)
    assert torch.allclose(normalize(flow, FLOW_MEAN, FLOW_STD), torch.tensor((128 / 255 - 0.5) / 0.226), atol=1e-6)
    bcthw = x.permute(1, 0, 2, 3).unsqueeze(0)  # (1, 3, 1, 1, 1), channels at dim 1
    assert torch.allclose(normalize(bcthw, IMAGENET_MEAN, IMAGENET_STD, channel_dim=1).flatten(), out.flatten())
    assert normalize(x, IMAGENET_MEAN, IMAGENET_STD, dtype=torch.bfloat16).dtype == torch.bfloat16
    with pytest.raises(ValueError, match="mean/std values"):
        normalize(x, (0.5, 0.5), (0.2, 0.2))


def test_rectangular_output_keeps_the_whole_wide_frame():
    # a 40x72 frame, output 20x36 (the same aspect): scale 1.0 boxes cover the full frame, no side is cut
    tf = TrainTransform(size=(20, 36), scales=(1.0,), flip_p=0.0, rotation=0.0, **GEOMETRY_ONLY)
    x = smooth_clip(2, 40, 72)
    out = tf({"rgb": x, "mmaps": rand_u8(2, 1, 20, 36)}, gen())
    assert out["rgb"].shape == (2, 3, 20, 36) and out["mmaps"].shape == (2, 1, 20, 36)
    assert torch.equal(out["rgb"], F.resize(x, [20, 36], antialias=True))
    # smaller scales keep the output aspect: crop sides are base (40, 72) times the scale
    scales = (1.0, 0.75, 0.5)
    for seed in range(30):
        top, left, h, w = multiscale_box(40, 72, scales, gen(seed), aspect=20 / 36)
        assert h in (40, 30, 20) and w in (72, 54, 36) and top + h <= 40 and left + w <= 72
    # a square output on the same frame is the TSN box on the short side, as before
    assert all(multiscale_box(40, 72, (1.0,), gen(s))[2:] == (40, 40) for s in range(5))


def test_rectangular_test_crop_is_hand_computed_and_must_fit():
    x = rand_u8(1, 3, 40, 80)
    # resize short side 40 (no-op) -> centre 32x64 at (4, 8)
    assert torch.equal(TestTransform(size=(32, 64), resize=40)({"rgb": x})["rgb"], x[..., 4:36, 8:72])
    three = TestTransform(size=(32, 64), resize=40, num_crops=3)({"rgb": x})["rgb"]
    for view, left in enumerate((0, 8, 16)):
        assert torch.equal(three[view], x[..., 4:36, left : left + 64])
    with pytest.raises(ValueError, match="does not fit a 40x80 frame resized to 40x80"):
        TestTransform(size=(32, 96), resize=40)({"rgb": x})
    with pytest.raises(ValueError, match="size must be a positive int or"):
        TestTransform(size=(32, 64, 3), resize=40)  # type: ignore[arg-type]
