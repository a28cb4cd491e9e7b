"""Preparation: optical flow, quantisation, motion maps, atomic writes, frame extraction, folder runs."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from egoaction.data import prepare
from egoaction.data.decode import read_flow, read_images
from egoaction.data.errors import DataError, SampleError
from egoaction.data.prepare import (
    compute_flow,
    dequantise_flow,
    extract_frames,
    flow_method,
    motion_maps,
    num_flow_pairs,
    numbered_files,
    prepare_flow,
    prepare_frames,
    prepare_mmaps,
    quantise_flow,
    write_epic_flow,
    write_frames,
    write_gtea_flow,
)
from egoaction.data.segment import FlowSource, FrameSource


def texture(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A smooth random (H, W, 3) uint8 texture that optical flow can lock onto."""
    rng = np.random.default_rng(seed)
    noise = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), 1.5)
    gray = cv2.normalize(noise, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    return np.stack([gray, 255 - gray, gray // 2 + 64], axis=-1)


def shifted(base: np.ndarray, xs: list[int], ys: list[int], h: int, w: int) -> np.ndarray:
    """Frames showing ``base`` moved by (xs[i], ys[i]) px: crops of a larger texture at a margin of 16."""
    return np.stack([base[16 - y : 16 - y + h, 16 - x : 16 - x + w] for x, y in zip(xs, ys)])


def frames_moving(n: int, dx: int = 0, dy: int = 0, h: int = 64, w: int = 96) -> np.ndarray:
    """(n, h, w, 3) frames whose content moves by (dx, dy) px per frame."""
    return shifted(texture(h + 32, w + 32), [dx * i for i in range(n)], [dy * i for i in range(n)], h, w)


def inner_mean(flow: np.ndarray, margin: int = 8) -> np.ndarray:
    return flow[..., margin:-margin, margin:-margin, :].reshape(-1, 2).mean(axis=0)


# ---------------------------------------------------------------------------------------------- flow


def test_flow_of_a_translation_is_the_translation() -> None:
    flow = compute_flow(frames_moving(3, dx=2, dy=-1))
    assert flow.shape == (2, 64, 96, 2) and flow.dtype == np.float32
    assert np.allclose(inner_mean(flow), [2, -1], atol=0.05)


@pytest.mark.parametrize(
    ("n", "stride", "dilation", "pairs"),
    [(10, 2, 1, 5), (9, 2, 1, 4), (11, 2, 1, 5), (10, 1, 1, 9), (10, 2, 3, 4), (1, 1, 1, 0), (3, 1, 3, 0)],
)
def test_number_of_flow_pairs(n: int, stride: int, dilation: int, pairs: int) -> None:
    assert num_flow_pairs(n, stride=stride, dilation=dilation) == pairs
    frames = np.zeros((n, 16, 16, 3), np.uint8)
    assert len(compute_flow(frames, stride=stride, dilation=dilation)) == pairs


def test_flow_pairs_frames_k_stride_and_k_stride_plus_dilation() -> None:
    # x positions 0, 1, -1, 0, -2, -1, ...: even -> odd steps move +1 px, odd -> even steps move -2 px
    xs = [0]
    for i in range(1, 8):
        xs.append(xs[-1] + (1 if i % 2 else -2))
    frames = shifted(texture(96, 128), xs, [0] * 8, 64, 96)
    stride2 = compute_flow(frames, stride=2)
    assert [round(float(inner_mean(f[None])[0])) for f in stride2] == [1, 1, 1, 1]
    stride1 = compute_flow(frames, stride=1)
    assert [round(float(inner_mean(f[None])[0])) for f in stride1] == [1, -2, 1, -2, 1, -2, 1]
    dilated = compute_flow(frames, stride=1, dilation=3)  # pairs (0, 3), (1, 4), ...: +1-2+1 or -2+1-2 px
    assert [round(float(inner_mean(f[None])[0])) for f in dilated] == [0, -3, 0, -3, 0]


def test_quantisation_round_trip_is_within_one_level() -> None:
    bound = 20.0
    flow = np.random.default_rng(0).uniform(-bound, bound, (1000, 2)).astype(np.float32)
    q = quantise_flow(flow, bound)
    assert q.dtype == np.uint8
    assert np.abs(dequantise_flow(q, bound) - flow).max() <= bound / 255 + 1e-5
    assert quantise_flow(np.array([0.0, -bound, bound, -3 * bound, 3 * bound]), bound).tolist() == [
        128,
        0,
        255,
        0,
        255,
    ]


def test_flow_method_falls_back_to_dis_without_opencv_contrib() -> None:
    assert flow_method("dis") == "dis"
    if hasattr(cv2, "optflow"):
        assert flow_method("auto") == "tvl1"
    else:
        assert flow_method("auto") == "dis"
        with pytest.warns(UserWarning, match="opencv-contrib"):
            assert flow_method("tvl1") == "dis"
    with pytest.raises(ValueError, match="farneback"):
        flow_method("farneback")


# ---------------------------------------------------------------------------------------------- motion maps


def test_motion_map_marks_the_moving_square_not_the_camera_motion() -> None:
    h, w, size = 64, 96, 16
    frames = frames_moving(2, dx=3, dy=1, h=h, w=w)  # the camera pans: everything moves by (3, 1)
    square = texture(size, size, seed=7)
    frames[0, 20 : 20 + size, 30 : 30 + size] = square  # ... but the square moves by (-4, +2)
    frames[1, 22 : 22 + size, 26 : 26 + size] = square
    maps = motion_maps(compute_flow(frames))
    assert maps.shape == (1, h, w) and maps.dtype == np.uint8 and set(np.unique(maps)) <= {0, 255}
    inside = maps[0, 23 : 17 + size, 33 : 27 + size]
    outside = maps[0].copy()
    outside[12 : 20 + size + 8, 22 : 30 + size + 8] = 0
    assert inside.mean() / 255 > 0.8
    assert outside.mean() / 255 < 0.03


# ---------------------------------------------------------------------------------------------- writing


def test_write_frames_round_trips_and_replaces(tmp_path: Path) -> None:
    out = tmp_path / "P01_01"
    write_frames(frames_moving(3), out)
    assert sorted(p.name for p in out.iterdir()) == [f"frame_{n:010d}.jpg" for n in (1, 2, 3)]
    maps = np.zeros((2, 8, 8), np.uint8)
    maps[1] = 255
    write_frames(maps, out, pattern="map{:04d}.png")
    assert sorted(p.name for p in out.iterdir()) == ["map0001.png", "map0002.png"]
    assert read_images([out / "map0002.png"], gray=True).min() == 255


def test_write_frames_never_leaves_a_half_written_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    original = prepare._encode

    def failing(image: np.ndarray, suffix: str, quality: int) -> bytes:
        calls.append(1)
        if len(calls) == 3:
            raise OSError("disk full")
        return original(image, suffix, quality)

    monkeypatch.setattr(prepare, "_encode", failing)
    with pytest.raises(OSError, match="disk full"):
        write_frames(frames_moving(5), tmp_path / "out")
    assert list(tmp_path.iterdir()) == []  # neither the folder nor a temporary


def test_write_epic_flow_layout_and_values(tmp_path: Path) -> None:
    out = tmp_path / "flow_frames" / "P01_01"
    count = write_epic_flow(frames_moving(10, dx=1), out, stride=2, bound=8.0)
    assert count == 5
    for axis in ("u", "v"):
        assert sorted(p.name for p in (out / axis).iterdir()) == [f"frame_{n:010d}.jpg" for n in range(1, 6)]
    source = FlowSource(FrameSource(out / "u", "frame_{:010d}.jpg"), FrameSource(out / "v", "frame_{:010d}.jpg"), 1, 5)
    flow = dequantise_flow(read_flow(source, [1, 5]).permute(0, 2, 3, 1).numpy(), 8.0)
    assert np.allclose(inner_mean(flow), [1, 0], atol=0.1)


def test_write_gtea_flow_names(tmp_path: Path) -> None:
    frames = frames_moving(4)
    assert write_gtea_flow(frames, tmp_path / "x", tmp_path / "y") == 3
    assert sorted(p.name for p in (tmp_path / "y").iterdir()) == [f"flow_y_{n:05d}.jpg" for n in (1, 2, 3)]
    write_gtea_flow(frames, tmp_path / "xp", tmp_path / "yp", processed=True)
    assert sorted(p.name for p in (tmp_path / "xp").iterdir()) == [f"flow_x_{n:05d}.png" for n in (1, 2, 3)]


# ---------------------------------------------------------------------------------------------- videos


def counting_video(path: Path, num_frames: int, fps: int = 25) -> Path:
    """An MPEG-4 video (256x32) whose frame i shows a white bar at x = 8*i."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 256, 32, "yuv420p"
        for i in range(num_frames):
            rgb = np.zeros((32, 256, 3), np.uint8)
            rgb[:, 8 * i : 8 * i + 8] = 255
            container.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        container.mux(stream.encode(None))
    return path


def test_extract_frames_resamples_like_ffmpeg(tmp_path: Path) -> None:
    video = counting_video(tmp_path / "v.avi", 20)
    assert extract_frames(video, tmp_path / "native") == 20
    assert extract_frames(video, tmp_path / "fast", fps=50) == 40
    names = sorted(p.name for p in (tmp_path / "fast").iterdir())
    assert names[0] == "frame_0000000001.jpg" and names[-1] == "frame_0000000040.jpg" and len(names) == 40
    frames = read_images([tmp_path / "fast" / f"frame_{n:010d}.jpg" for n in (1, 2, 3, 4, 40)])
    assert [int(f.float().mean(dim=(0, 1)).argmax()) // 8 for f in frames] == [0, 0, 1, 1, 19]


def test_extract_frames_resizes_to_height_with_even_width(tmp_path: Path) -> None:
    video = counting_video(tmp_path / "v.avi", 3)
    extract_frames(video, tmp_path / "small", height=15)
    assert read_images([tmp_path / "small" / "frame_0000000001.jpg"]).shape == (1, 3, 15, 120)


def test_prepare_frames_epic_layout_and_rerun(tmp_path: Path) -> None:
    for vid in ("P01_01", "P01_101"):
        (tmp_path / "in" / "P01" / "videos").mkdir(parents=True, exist_ok=True)
        counting_video(tmp_path / "in" / "P01" / "videos" / f"{vid}.MP4", 6)
    out = tmp_path / "out"
    assert prepare_frames(tmp_path / "in", out, fps=None, height=None, workers=2) == 2
    assert len(list((out / "P01" / "rgb_frames" / "P01_101").glob("frame_*.jpg"))) == 6
    assert prepare_frames(tmp_path / "in", out, fps=None, height=None, workers=1) == 0  # finished ones skipped


def test_prepare_frames_reports_a_broken_video_and_keeps_the_others(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    counting_video(tmp_path / "in" / "good.avi", 4)
    (tmp_path / "in" / "bad.avi").write_bytes(b"garbage" * 50)
    with pytest.raises(DataError, match="1 of 2") as info:
        prepare_frames(tmp_path / "in", tmp_path / "out", fps=None, height=None, layout="plain", workers=1)
    assert "bad.avi" in str(info.value)
    assert len(list((tmp_path / "out" / "good").iterdir())) == 4
    assert not (tmp_path / "out" / "bad").exists()


# ---------------------------------------------------------------------------------------------- folders


def test_prepare_flow_epic_strides(tmp_path: Path) -> None:
    for vid in ("P01_01", "P01_101"):
        write_frames(frames_moving(10, dx=1), tmp_path / "P01" / "rgb_frames" / vid)
    assert prepare_flow(tmp_path, layout="epic", workers=1) == 2
    flow = tmp_path / "P01" / "flow_frames"
    for vid, count in (("P01_01", 5), ("P01_101", 9)):
        for axis in ("u", "v"):
            names = sorted(p.name for p in (flow / vid / axis).iterdir())
            assert names == [f"frame_{n:010d}.jpg" for n in range(1, count + 1)], (vid, axis)
    assert prepare_flow(tmp_path, layout="epic", workers=1) == 0


def test_prepare_flow_and_mmaps_gtea_layouts(tmp_path: Path) -> None:
    frames = frames_moving(5, dx=1)
    write_frames(frames, tmp_path / "frames" / "S1" / "take_cup" / "1", pattern="image_{:05d}.jpg")
    inst = tmp_path / "processed_frames2" / "S1" / "take_cup" / "1"
    write_frames(frames, inst / "rgb", pattern="rgb{:04d}.png")
    (tmp_path / "frames" / ".DS_Store").write_bytes(b"\x00")
    assert prepare_flow(tmp_path, layout="gtea", workers=1) == 2
    assert len(list((tmp_path / "flow_y" / "S1" / "take_cup" / "1").glob("flow_y_*.jpg"))) == 4
    assert len(list((tmp_path / "flow_x_processed" / "S1" / "take_cup" / "1").glob("flow_x_*.png"))) == 4
    assert prepare_mmaps(tmp_path, workers=1) == 1
    names = sorted(p.name for p in (inst / "mmaps").iterdir())
    assert names == [f"map{n:04d}.png" for n in range(1, 6)]  # one map per RGB frame


def test_missing_frame_in_a_folder_is_named(tmp_path: Path) -> None:
    write_frames(frames_moving(4), tmp_path / "v")
    (tmp_path / "v" / "frame_0000000003.jpg").unlink()
    with pytest.raises(SampleError, match="missing frame") as info:
        numbered_files(tmp_path / "v", r"frame_(\d+)\.jpg")
    assert info.value.path == tmp_path / "v" / "frame_0000000003.jpg"
