"""Decoding image files and videos to uint8 tensors, and the errors bad files raise."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import torch

from egoaction.data import decode
from egoaction.data.decode import probe_video, read_flow, read_images, read_mmaps, read_rgb, read_video_frames
from egoaction.data.errors import SampleError
from egoaction.data.segment import FlowSource, FrameSource, Segment

BAR = 4  # frame i of a test video has a white bar at x = BAR*i .. BAR*i + BAR-1


def smooth_image(h: int = 48, w: int = 64, seed: int = 0) -> np.ndarray:
    """An (H, W, 3) uint8 RGB image that survives JPEG compression well."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (h // 8, w // 8, 3), dtype=np.uint8)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def save(path: Path, image: np.ndarray, quality: int = 95) -> Path:
    """Write an RGB or gray image with OpenCV (JPEG or PNG by suffix)."""
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image
    assert cv2.imwrite(str(path), bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return path


def bar_video(path: Path, num_frames: int, *, fps: int = 25, gop: int = 10, first_pts: int = 0) -> Path:
    """An H.264 MP4 whose frame i shows a white bar at x = BAR*i (so a decoded frame tells its index)."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = BAR * num_frames, 32, "yuv420p"
        stream.codec_context.gop_size = gop
        stream.codec_context.time_base = Fraction(1, fps)
        for i in range(num_frames):
            rgb = np.zeros((32, BAR * num_frames, 3), np.uint8)
            rgb[:, BAR * i : BAR * (i + 1)] = 255
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = first_pts + i
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def bar_index(frames: torch.Tensor) -> list[int]:
    """Index shown by each (3, H, W) frame of a bar video."""
    return [int(f.float().mean(dim=(0, 1)).argmax()) // BAR for f in frames]


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """150 frames (6 s at 25 fps), a keyframe every 10 frames."""
    return bar_video(tmp_path_factory.mktemp("video") / "bars.mp4", 150)


# ---------------------------------------------------------------------------------------------- images


def test_read_images_round_trips_jpeg_and_png(tmp_path: Path) -> None:
    images = [smooth_image(seed=s) for s in range(3)]
    paths = [save(tmp_path / f"frame_{i}.jpg", im) for i, im in enumerate(images[:2])]
    paths.append(save(tmp_path / "frame_2.png", images[2]))
    out = read_images(paths)
    assert out.shape == (3, 3, 48, 64) and out.dtype == torch.uint8
    expected = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2)
    assert (out[:2].float() - expected[:2].float()).abs().mean() < 3  # JPEG is lossy
    assert torch.equal(out[2], expected[2])  # PNG is exact


def test_read_images_gray_gives_luma(tmp_path: Path) -> None:
    image = smooth_image()
    out = read_images([save(tmp_path / "a.png", image)], gray=True)
    assert out.shape == (1, 1, 48, 64)
    luma = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    assert (out[0, 0].int() - torch.from_numpy(luma).int()).abs().max() <= 1


def test_read_images_repeats_reads_each_file_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a = save(tmp_path / "a.jpg", smooth_image(seed=1))
    b = save(tmp_path / "b.jpg", smooth_image(seed=2))
    reads: list[Path] = []
    original = decode._read_bytes
    monkeypatch.setattr(decode, "_read_bytes", lambda p: reads.append(p) or original(p))
    out = read_images([a, b, a, a])
    assert out.shape[0] == 4
    assert torch.equal(out[0], out[2]) and torch.equal(out[0], out[3]) and not torch.equal(out[0], out[1])
    assert sorted(reads) == [a, b]


def test_missing_frame_names_the_file(tmp_path: Path) -> None:
    a = save(tmp_path / "a.jpg", smooth_image())
    missing = tmp_path / "frame_0000000007.jpg"
    with pytest.raises(SampleError, match="missing frame") as info:
        read_images([a, missing])
    assert info.value.path == missing and str(missing) in str(info.value)


@pytest.mark.parametrize("keep", [0.5, 0.98])
def test_truncated_jpeg_is_rejected(tmp_path: Path, keep: float) -> None:
    good = save(tmp_path / "good.jpg", smooth_image())
    data = good.read_bytes()
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(SampleError, match="truncated JPEG") as info:
        read_images([good, bad])
    assert info.value.path == bad


def test_corrupt_jpeg_and_png_name_the_file(tmp_path: Path) -> None:
    good = save(tmp_path / "good.jpg", smooth_image())
    garbage = tmp_path / "garbage.jpg"
    garbage.write_bytes(b"\xff\xd8" + bytes(range(256)) * 4 + b"\xff\xd9")  # a JPEG start, then nonsense
    with pytest.raises(SampleError, match="corrupt image") as info:
        read_images([good, garbage])
    assert info.value.path == garbage
    png = save(tmp_path / "p.png", smooth_image())
    png.write_bytes(png.read_bytes()[:200])
    with pytest.raises(SampleError) as info:
        read_images([png])
    assert info.value.path == png


def test_images_of_different_sizes_are_rejected(tmp_path: Path) -> None:
    a = save(tmp_path / "a.png", smooth_image(48, 64))
    b = save(tmp_path / "b.png", smooth_image(32, 64))
    with pytest.raises(SampleError, match="differs") as info:
        read_images([a, b])
    assert info.value.path == b


# ---------------------------------------------------------------------------------------------- sources


def test_read_flow_puts_x_in_channel_0_and_y_in_channel_1(tmp_path: Path) -> None:
    for n in (1, 2, 3):
        save(tmp_path / f"flow_x_{n:05d}.png", np.full((8, 12), 10 * n, np.uint8))
        save(tmp_path / f"flow_y_{n:05d}.png", np.full((8, 12), 200 + n, np.uint8))
    source = FlowSource(FrameSource(tmp_path, "flow_x_{:05d}.png"), FrameSource(tmp_path, "flow_y_{:05d}.png"), 1, 3)
    out = read_flow(source, [3, 1, 1])
    assert out.shape == (3, 2, 8, 12) and out.dtype == torch.uint8
    assert out[:, 0, 0, 0].tolist() == [30, 10, 10] and out[:, 1, 0, 0].tolist() == [203, 201, 201]


def test_read_mmaps_gives_one_channel(tmp_path: Path) -> None:
    save(tmp_path / "map0001.png", np.full((7, 9), 255, np.uint8))
    out = read_mmaps(FrameSource(tmp_path, "map{:04d}.png"), [1, 1])
    assert out.shape == (2, 1, 7, 9) and int(out.min()) == 255


def segment(**where: object) -> Segment:
    return Segment("s", "v", "P01", 1, 10, 25.0, {"action": 0}, **where)  # type: ignore[arg-type]


def test_read_rgb_from_files_and_from_video(tmp_path: Path, video: Path) -> None:
    for n in (1, 2):
        save(tmp_path / f"frame_{n:010d}.jpg", smooth_image(seed=n))
    from_files = read_rgb(segment(rgb=FrameSource(tmp_path, "frame_{:010d}.jpg")), [2, 1])
    assert from_files.shape == (2, 3, 48, 64)
    from_video = read_rgb(segment(video=video), [5, 1])
    assert from_video.shape == (2, 3, 32, 600) and bar_index(from_video) == [4, 0]
    with pytest.raises(SampleError, match="neither"):
        read_rgb(segment(), [1])


# ---------------------------------------------------------------------------------------------- videos


def test_probe_video(video: Path) -> None:
    info = probe_video(video)
    assert (info.num_frames, info.fps, info.width, info.height) == (150, 25.0, 600, 32)


def test_read_video_frames_returns_exactly_the_requested_frames(video: Path) -> None:
    numbers = [141, 3, 3, 76, 1, 150, 2]  # unordered, repeated, > 2 s apart (re-seeks), first and last
    out = read_video_frames(video, numbers)
    assert out.shape == (7, 3, 32, 600) and out.dtype == torch.uint8 and out.is_contiguous()
    assert bar_index(out) == [n - 1 for n in numbers]
    assert torch.equal(out[1], out[2])


def test_read_video_frames_numbering_and_rate(video: Path) -> None:
    assert bar_index(read_video_frames(video, [0, 9], first_number=0)) == [0, 9]
    # numbers at 50 fps on a 25 fps video: each frame shows for two numbers (nearest frame, as ffmpeg -r)
    assert bar_index(read_video_frames(video, [1, 2, 3, 4, 300], fps=50)) == [0, 0, 1, 1, 149]
    assert bar_index(read_video_frames(video, [1, 2, 3, 75], fps=12.5)) == [0, 2, 4, 148]


def test_read_video_frames_handles_streams_not_starting_at_zero(tmp_path: Path) -> None:
    path = bar_video(tmp_path / "late.mp4", 30, first_pts=7)
    assert bar_index(read_video_frames(path, [1, 2, 30])) == [0, 1, 29]


def test_frame_beyond_the_end_is_an_error(video: Path) -> None:
    with pytest.raises(SampleError, match="beyond the end") as info:
        read_video_frames(video, [2, 151])
    assert info.value.path == video and "last frame is number 150" in str(info.value)
    with pytest.raises(SampleError, match="beyond the end"):
        read_video_frames(video, [301], fps=50)


def test_broken_videos_name_the_file(tmp_path: Path, video: Path) -> None:
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(video.read_bytes()[: video.stat().st_size // 2])
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"not a video at all" * 100)
    for path in (truncated, garbage, tmp_path / "absent.mp4"):
        with pytest.raises(SampleError) as info:
            read_video_frames(path, [1])
        assert info.value.path == path
    with pytest.raises(SampleError):
        probe_video(garbage)
