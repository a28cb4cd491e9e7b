"""Data: format readers -> Segment records -> sampling -> decoding -> clip transforms -> batches."""

from egoaction.data.errors import DataError, FormatError, SampleError
from egoaction.data.segment import FlowSource, FrameSource, Segment, SegmentIndex

__all__ = ["DataError", "FlowSource", "FormatError", "FrameSource", "SampleError", "Segment", "SegmentIndex"]
