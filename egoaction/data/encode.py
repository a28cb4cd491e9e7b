"""Encoding videos with PyAV (bundled FFmpeg): H.264 MP4 as EPIC ships, MPEG-4 part 2 AVI as UCF101 ships."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from egoaction.atomic import atomic_path

# container suffix -> (codec, pixel format, extra options); XVID tag as in UCF101's .avi files
CODECS = {
    ".mp4": ("libx264", "yuv420p", {"preset": "veryfast", "crf": "20"}),
    ".avi": ("mpeg4", "yuv420p", {"qscale": "4"}),
}


def write_video(frames: np.ndarray, path: str | Path, *, fps: float, gop: int | None = None) -> None:
    """Encode (N, H, W, 3) uint8 RGB frames to ``path`` (.mp4 or .avi, case-insensitive), atomically."""
    import av

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in CODECS:
        raise ValueError(f"{path}: unsupported video suffix {path.suffix!r}; expected one of {sorted(CODECS)}")
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 (N, H, W, 3), got {frames.dtype} {frames.shape}")
    codec, pix_fmt, options = CODECS[suffix]
    container_format = "mp4" if suffix == ".mp4" else "avi"
    with atomic_path(path) as tmp, av.open(str(tmp), mode="w", format=container_format) as container:
        stream = container.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
        assert isinstance(stream, av.video.stream.VideoStream)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = pix_fmt
        stream.options = dict(options)
        if gop is not None:
            stream.codec_context.gop_size = gop
        if suffix == ".avi":
            stream.codec_context.codec_tag = "XVID"
        for rgb in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")))
        container.mux(stream.encode(None))
